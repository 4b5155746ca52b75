"""What the VGG perceptual loss costs per GAN training step, with and without it, interleaved.

    python -m benchmarks.training.loss_cost                      # the CPU GAN recipe's networks, batch, crop
    python -m benchmarks.training.loss_cost --device cuda --batch 16 --crop 128 --generator rrdb \
        --discriminator-features 64                              # gan_x4.yaml's, in fp32

One step is one batch of ``configs/release/gan_fast_x4_cpu.yaml`` (by default): a generator
step (pixel + adversarial loss, plus the VGG16 perceptual loss in the second variant, the
discriminator frozen) then a discriminator step, on a fixed random batch. The two variants
alternate step by step, so a machine whose load changes (a shared CPU) slows both alike;
the medians and their difference are reported. Plain PyTorch, like ``benchmarks.training.throughput``:
it times the networks, losses and optimizers, not the trainer, always in fp32 (the GPU
recipe trains in bf16-mixed). The VGG16 weights come from ``python -m srgan.assets fetch``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmarks.report import environment, write_json
from benchmarks.speed.timing import measure
from srgan.arguments import at_least
from srgan.assets import AssetError, MissingWeightsError
from srgan.discriminators import VGGStyle
from srgan.generators import CompactNet, RRDBNet
from srgan.images import check_writable
from srgan.inference import resolve_device
from srgan.losses import PerceptualLoss, PixelLoss
from srgan.objectives import RelativisticAverage

# The generators of the CPU and GPU GAN recipes (configs/release/gan_*x4*.yaml).
GENERATORS: dict[str, Callable[[], nn.Module]] = {
    "compact": lambda: CompactNet(num_features=48, num_convs=12, scale=4, activation="relu"),
    "rrdb": lambda: RRDBNet(num_blocks=8, num_features=64, growth_channels=32, scale=4),
}


def training_step(
    generator: nn.Module,
    discriminator: nn.Module,
    *,
    perceptual: PerceptualLoss | None,
    batch: int,
    crop: int,
    device: torch.device,
) -> Callable[[], None]:
    """One GAN batch as ``srgan.module.SRGAN`` runs it, with ESRGAN's loss weights."""
    objective, pixel_loss = RelativisticAverage(), PixelLoss()
    g_opt = torch.optim.Adam(generator.parameters(), lr=1e-4, betas=(0.9, 0.99))
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=1e-4, betas=(0.9, 0.99))
    scale = generator.scale
    generator_rng = torch.Generator().manual_seed(0)
    hr = torch.rand(batch, 3, crop, crop, generator=generator_rng).to(device)
    lr = torch.rand(batch, 3, crop // scale, crop // scale, generator=generator_rng).to(device)

    def step() -> None:
        discriminator.requires_grad_(False)
        sr = generator(lr)
        fake_logits = discriminator(sr)
        with torch.no_grad():
            real_logits = discriminator(hr)
        loss = 1e-2 * pixel_loss(sr, hr) + 5e-3 * objective.g_loss(real_logits, fake_logits)
        if perceptual is not None:
            loss = loss + perceptual(sr, hr)
        g_opt.zero_grad(set_to_none=True)
        loss.backward()
        g_opt.step()
        discriminator.requires_grad_(True)
        d_loss = objective.d_loss(discriminator(hr), discriminator(sr.detach()))
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()

    return step


def loss_cost(
    *,
    generator: str = "compact",
    discriminator_features: int = 32,
    batch: int = 8,
    crop: int = 64,
    network: str = "vgg16",
    device: torch.device | str = "cpu",
    warmup: int = 2,
    repeats: int = 10,
) -> dict[str, Any]:
    """Median seconds per training step without and with the perceptual loss."""
    device = torch.device(device)
    loss = PerceptualLoss(network=network)  # its default layers: ESRGAN's equivalent
    steps = {}
    for name, perceptual in (("without", None), ("with", loss)):
        torch.manual_seed(0)  # the same networks in both variants
        g = GENERATORS[generator]().to(device).train()
        d = VGGStyle(num_features=discriminator_features, normalization="batch").to(device)
        steps[name] = training_step(
            g, d.train(), perceptual=perceptual, batch=batch, crop=crop, device=device
        )
    times: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():
        for _ in range(warmup):
            step()
    for _ in range(repeats):  # interleaved: load changes hit both variants alike
        for name, step in steps.items():
            times[name] += measure(step, device=device, warmup=0, repeats=1).latencies_ms
    without, with_ = (float(np.median(times[k])) / 1000 for k in ("without", "with"))
    # The fastest step of each: the least disturbed by other jobs on a shared machine.
    fastest = {k: float(np.min(v)) / 1000 for k, v in times.items()}
    return {
        "generator": generator,
        "discriminator_features": discriminator_features,
        "batch": batch,
        "crop": crop,
        "network": network,
        "layers": loss.layer_weights,
        "device": str(device),
        "repeats": repeats,
        "seconds_without": without,
        "seconds_with": with_,
        "seconds_added": with_ - without,
        "ratio": with_ / without,
        "fastest_without": fastest["without"],
        "fastest_with": fastest["with"],
        "times_ms": times,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.training.loss_cost", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--generator",
        choices=list(GENERATORS),
        default="compact",
        help="the CPU recipe's CompactNet (default) or the GPU recipe's RRDBNet",
    )
    parser.add_argument(
        "--discriminator-features",
        type=at_least(1),
        default=32,
        help="VGGStyle critic width (default 32, the CPU recipe's)",
    )
    parser.add_argument("--batch", type=at_least(1), default=8, help="crops per step (default 8)")
    parser.add_argument(
        "--crop", type=at_least(32), default=64, help="HR crop side, a multiple of 32 (default 64)"
    )
    parser.add_argument(
        "--network",
        choices=("vgg16", "vgg19"),
        default="vgg16",
        help="the perceptual loss's backbone (default vgg16)",
    )
    parser.add_argument("--device", default="cpu", help="cpu | cuda[:N] | auto (default cpu)")
    parser.add_argument(
        "--warmup", type=at_least(0), default=2, help="untimed steps per variant (default 2)"
    )
    parser.add_argument(
        "--repeats", type=at_least(1), default=10, help="timed steps per variant (default 10)"
    )
    parser.add_argument("--out", help="also write the result and the environment as JSON")
    args = parser.parse_args(argv)
    # Everything that can fail is tried before the timing, which takes minutes.
    if args.crop % VGGStyle.size_multiple:
        parser.error(f"--crop {args.crop}: the VGGStyle critic needs a multiple of 32")
    problem = VGGStyle(num_features=1).batch_problem(args.batch, args.crop, args.crop)
    if problem:
        parser.error(
            f"--batch {args.batch} --crop {args.crop}: {problem}; use --batch 2 or more or "
            "--crop 64 or more"
        )
    if args.out and Path(args.out).is_dir():
        parser.error(f"--out {args.out} is a folder: give the JSON file to write")
    if args.out:
        try:
            check_writable(Path(args.out).parent)
        except PermissionError as error:
            parser.error(f"--out {args.out}: {error}")
    try:
        device = resolve_device(args.device)
        PerceptualLoss(network=args.network).load()
    except (RuntimeError, MissingWeightsError, AssetError) as error:
        parser.error(str(error))
    steps = 2 * (args.warmup + args.repeats)
    print(f"timing {steps} steps on {device} (a few seconds each on a CPU)...", file=sys.stderr)
    result = loss_cost(
        generator=args.generator,
        discriminator_features=args.discriminator_features,
        batch=args.batch,
        crop=args.crop,
        network=args.network,
        device=device,
        warmup=args.warmup,
        repeats=args.repeats,
    )
    layers = ", ".join(result["layers"])
    print(
        f"{args.generator} generator, VGGStyle {args.discriminator_features}, batch {args.batch}, "
        f"crop {args.crop}, {device}, fp32; median of {args.repeats} interleaved steps:\n"
        f"  without the perceptual loss: {result['seconds_without']:.3f} s per step\n"
        f"  with {args.network} ({layers}): {result['seconds_with']:.3f} s per step "
        f"({result['seconds_added']:+.3f} s, x{result['ratio']:.2f})\n"
        f"  fastest step: {result['fastest_without']:.3f} s without, "
        f"{result['fastest_with']:.3f} s with "
        f"(x{result['fastest_with'] / result['fastest_without']:.2f})"
    )
    if result["seconds_added"] < 0:
        why = (
            "the first steps were timed (give --warmup 1 or more)"
            if not args.warmup
            else ("the machine's load changed (give more --repeats)")
        )
        print(
            f"note: the steps without the perceptual loss timed slower than those with it: {why}",
            file=sys.stderr,
        )
    if args.out:
        path = write_json({"environment": environment(device), "result": result}, args.out)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
