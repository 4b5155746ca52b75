"""The GAN stage's losses, composed once and free of Lightning.

``generator_loss`` is the generator's objective for one batch: a weighted sum of the pixel
loss, the VGG perceptual loss, discriminator feature matching and the adversarial term of
the chosen ``srgan.objectives`` game (the discriminator is only read, never trained here).
``discriminator_loss`` is the discriminator's: the game's loss on real and (detached) fake
images plus any penalty the objective needs (WGAN-GP's gradient penalty). Both return the
loss to back-propagate and the detached terms to log.

``srgan.module.SRGAN`` schedules these (optimizers, ``n_critic``, EMA);
``benchmarks.training.throughput`` times them with plain PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from srgan.losses import PerceptualLoss, PixelLoss, feature_matching_loss
from srgan.objectives import AdversarialObjective


@dataclass(frozen=True)
class LossWeights:
    """Weights of the generator's loss terms (ESRGAN's GAN stage: 1e-2, 1, 5e-3, 0)."""

    pixel: float = 1.0
    perceptual: float = 0.0
    adversarial: float = 5e-3
    feature_matching: float = 0.0


def logits_and_features(
    discriminator: nn.Module, images: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The discriminator's logits, and its feature maps when it exposes them."""
    if hasattr(discriminator, "forward_features"):
        return discriminator.forward_features(images)
    return discriminator(images), []


def generator_loss(
    discriminator: nn.Module,
    objective: AdversarialObjective,
    sr: torch.Tensor,
    hr: torch.Tensor,
    *,
    weights: LossWeights,
    pixel_loss: nn.Module | None = None,
    perceptual_loss: PerceptualLoss | None = None,
    adversarial_share: bool = False,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The generator's loss on one batch and its detached terms (``g_pixel``, ``g_adv``, ...).

    Gradients reach the generator through ``sr`` (and pass through the discriminator, whose
    own parameters the caller keeps frozen); the real images' logits need no graph.
    Logits are scored in float32, whatever the autocast precision.

    ``adversarial_share`` adds ``g_adv_share``: the norm of the weighted adversarial term's
    gradient with respect to ``sr`` over that of the whole loss, i.e. how much of what the
    generator is told comes from the discriminator (two extra backward passes to ``sr``:
    ask for it on logging steps only).
    """
    pixel_loss = pixel_loss or PixelLoss()
    fake_logits, fake_features = logits_and_features(discriminator, sr)
    with torch.no_grad():
        real_logits, real_features = logits_and_features(discriminator, hr)
    terms = {
        "g_pixel": pixel_loss(sr, hr),
        "g_adv": objective.g_loss(real_logits.float(), fake_logits.float()),
    }
    loss = weights.pixel * terms["g_pixel"] + weights.adversarial * terms["g_adv"]
    if weights.perceptual > 0:
        if perceptual_loss is None:
            raise ValueError("a perceptual weight above 0 needs a perceptual loss")
        terms["g_perceptual"] = perceptual_loss(sr, hr)
        loss = loss + weights.perceptual * terms["g_perceptual"]
    if weights.feature_matching > 0:
        terms["g_feature_matching"] = feature_matching_loss(fake_features, real_features)
        loss = loss + weights.feature_matching * terms["g_feature_matching"]
    logs = {k: v.detach() for k, v in terms.items()}
    if adversarial_share and sr.requires_grad:
        (adv_grad,) = torch.autograd.grad(
            weights.adversarial * terms["g_adv"], sr, retain_graph=True
        )
        (total_grad,) = torch.autograd.grad(loss, sr, retain_graph=True)
        logs["g_adv_share"] = adv_grad.norm() / total_grad.norm().clamp_min(1e-12)
    return loss, logs | {"g_loss": loss.detach()}


def discriminator_loss(
    discriminator: nn.Module,
    objective: AdversarialObjective,
    sr: torch.Tensor,
    hr: torch.Tensor,
    *,
    grad_scaler: torch.amp.GradScaler | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The discriminator's loss on real ``hr`` and fake ``sr`` (detached here), and its logs;
    ``grad_scaler`` (fp16 mixed precision's) goes to the objective's penalty.

    The logs carry the logits' means (a collapsing discriminator shows there first) and an
    accuracy in the relativistic sense (real above the mean fake logit, fake below the mean
    real logit), meaningful whatever the objective's logit scale.
    """
    sr = sr.detach()
    real_logits = discriminator(hr)
    fake_logits = discriminator(sr)
    loss = objective.d_loss(real_logits.float(), fake_logits.float())
    logs = {"d_adv": loss.detach()}
    penalty = objective.penalty(discriminator, hr, sr, grad_scaler=grad_scaler)
    if penalty is not None:
        loss = loss + penalty
        logs["d_penalty"] = penalty.detach()
    real, fake = real_logits.detach().float(), fake_logits.detach().float()
    accuracy = 0.5 * ((real > fake.mean()).float().mean() + (fake < real.mean()).float().mean())
    return loss, logs | {
        "d_loss": loss.detach(),
        "d_real_mean": real.mean(),
        "d_fake_mean": fake.mean(),
        "d_accuracy": accuracy,
    }
