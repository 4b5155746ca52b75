"""GAN-stage training throughput: generator + discriminator steps per second.

One step is what ``srgan.module.SRGAN`` does per batch in the GAN stage with
``n_critic = 1``: a generator step (``srgan.gan.generator_loss``, discriminator frozen),
then a discriminator step (``srgan.gan.discriminator_loss``) on the detached SR image.
Written with plain PyTorch (benchmarks do not import Lightning), so it times the
networks, losses and optimizers, not the trainer.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from benchmarks.speed.backends import strict_fp32
from benchmarks.speed.timing import measure
from srgan.discriminators import VGGStyle
from srgan.gan import LossWeights, discriminator_loss, generator_loss
from srgan.objectives import AdversarialObjective, RelativisticAverage


def gan_step(
    generator: nn.Module,
    discriminator: nn.Module,
    objective: AdversarialObjective,
    *,
    batch: int,
    crop: int,
    device: torch.device,
    precision: str = "fp32",
    compile: bool = False,
    weights: LossWeights = LossWeights(),
) -> Any:
    """A closure running one GAN training step on a fixed random batch."""
    scale = generator.scale
    if crop % scale:
        raise ValueError(f"crop {crop} must be a multiple of the scale {scale}")
    generator.train().to(device)
    discriminator.train().to(device)
    g_opt = torch.optim.Adam(generator.parameters(), lr=1e-4, betas=(0.9, 0.99))
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=1e-4, betas=(0.9, 0.99))
    g_forward = torch.compile(generator) if compile else generator
    d_forward = torch.compile(discriminator) if compile else discriminator
    hr = torch.rand(batch, 3, crop, crop, device=device)
    lr = torch.rand(batch, 3, crop // scale, crop // scale, device=device)

    def autocast() -> Any:
        if precision == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        if precision == "fp16":
            return torch.autocast(device.type, dtype=torch.float16)
        return contextlib.nullcontext()

    # fp16 trains with loss scaling (as Lightning's 16-mixed does); one scaler, two optimizers.
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def step() -> None:
        with strict_fp32(precision == "fp32-strict"):  # TF32 off for fp32-strict
            discriminator.requires_grad_(False)
            with autocast():
                sr = g_forward(lr)
                g_loss, _ = generator_loss(d_forward, objective, sr, hr, weights=weights)
            g_opt.zero_grad(set_to_none=True)
            scaler.scale(g_loss).backward()
            scaler.step(g_opt)
            discriminator.requires_grad_(True)
            with autocast():
                d_loss, _ = discriminator_loss(d_forward, objective, sr, hr)
            d_opt.zero_grad(set_to_none=True)
            scaler.scale(d_loss).backward()
            scaler.step(d_opt)
            scaler.update()

    return step


def training_throughput(
    generator: nn.Module,
    *,
    discriminator: nn.Module | None = None,
    batch: int = 16,
    crop: int = 128,
    objective: AdversarialObjective | None = None,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    compile: bool = False,
    warmup: int = 2,
    repeats: int = 10,
) -> dict[str, Any]:
    """Batches per second (each one generator and one discriminator step) and HR pixels
    per second of the GAN stage (default objective:
    RaGAN, ESRGAN's; the cost of the others differs only in a few elementwise ops)."""
    device = torch.device(device)
    discriminator = discriminator if discriminator is not None else VGGStyle()
    step = gan_step(
        generator,
        discriminator,
        objective or RelativisticAverage(),
        batch=batch,
        crop=crop,
        device=device,
        precision=precision,
        compile=compile,
    )
    timing = measure(step, device=device, warmup=warmup, repeats=repeats)
    batches_per_s = 1000.0 / timing.median_ms
    return {
        "mode": "train",
        "backend": "compile" if compile else "eager",
        "precision": precision,
        "batch": batch,
        "crop": crop,
        "discriminator": type(discriminator).__name__,
        "repeats": repeats,
        "median_ms": timing.median_ms,
        "p90_ms": timing.p90_ms,
        "batches_per_s": batches_per_s,
        "hr_megapixels_per_s": batches_per_s * batch * crop * crop / 1e6,
    }


if __name__ == "__main__":
    raise SystemExit(
        "benchmarks.training.throughput has no command line: python -m benchmarks.speed "
        "--train times GAN training steps with it (python -m benchmarks.speed --help)"
    )
