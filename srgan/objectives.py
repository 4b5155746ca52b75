"""Adversarial objectives: one small class per GAN game, chosen in YAML by ``class_path``.

Every objective maps discriminator logits to two scalars:

* ``d_loss(real_logits, fake_logits)``: what the discriminator minimises;
* ``g_loss(real_logits, fake_logits)``: what the generator minimises. Non-relativistic
  objectives ignore ``real_logits`` here; relativistic ones use both.

Logits may be ``(B,)``, ``(B, 1)`` or per-pixel ``(B, 1, H, W)``; means run over every
element unless an objective says otherwise. ``penalty`` is where an objective that needs
the discriminator itself (WGAN-GP) gets it explicitly; the others return ``None``.
The weight of the adversarial term lives on the training module, not here.
"""

from __future__ import annotations

import math
import numbers
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F


def surprise(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Elementwise binary cross-entropy of ``sigmoid(logits)`` against a constant target.

    With target 1 this is ``-log D``, with target 0 ``-log(1 - D)``: the "surprise" of the
    discriminator's answer. Computed from logits (softplus), so it never overflows.
    """
    return F.binary_cross_entropy_with_logits(
        logits, torch.full_like(logits, target), reduction="none"
    )


def smooth_max(values: torch.Tensor, tau: float) -> torch.Tensor:
    """``tau * log(mean(exp(values / tau)))`` over all elements, computed stably.

    tau -> infinity gives the mean, tau -> 0 the maximum; always between the two.
    """
    # In float64: in float32 the difference of the two logarithms loses the mean to
    # cancellation at a large tau (0.95 for 0.75 at tau = 1e6).
    flat = values.flatten().double()
    smooth = tau * (torch.logsumexp(flat / tau, dim=0) - math.log(flat.numel()))
    return smooth.to(values.dtype)


def paired(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``real - fake`` of logits paired by position: ``ValueError`` for two shapes, which
    would broadcast to every pair ((B,) against (B, 1) gives B x B of them)."""
    if real_logits.shape != fake_logits.shape:
        raise ValueError(
            f"real and fake logits are paired by position, so their shapes must match: got "
            f"{tuple(real_logits.shape)} and {tuple(fake_logits.shape)}"
        )
    return real_logits - fake_logits


class AdversarialObjective(nn.Module):
    """Base class: a GAN game given by its two losses on raw discriminator logits."""

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def penalty(
        self,
        discriminator: nn.Module,
        real: torch.Tensor,
        fake: torch.Tensor,
        *,
        grad_scaler: torch.amp.GradScaler | None = None,
    ) -> torch.Tensor | None:
        """An extra discriminator-loss term that needs the discriminator; ``None`` if none.
        ``grad_scaler``: fp16 mixed precision's loss scaler, for a term that takes gradients
        itself."""
        return None


def number(name: str, value: object) -> float:
    """``value`` if it is a real number (not a bool, a string or ``None``); a one-line
    ``TypeError`` naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    return value


def label_in_range(real_label: float) -> float:
    """A real label for the cross-entropy objectives: above 0, at most 1 (below 1 is
    one-sided label smoothing); ``ValueError`` otherwise."""
    if not 0 < number("real_label", real_label) <= 1:  # NaN fails this too
        raise ValueError(f"real_label must be above 0 and at most 1, got {real_label}")
    return real_label


class Minimax(AdversarialObjective):
    """The original saturating game (Goodfellow et al. 2014).

    D maximises ``log D(x) + log(1 - D(G(z)))``; G minimises ``log(1 - D(G(z)))``, whose
    gradient vanishes when D confidently rejects the fakes (hence "saturating").
    ``real_label`` below 1 is one-sided label smoothing (0.9 is the usual choice).
    """

    def __init__(self, *, real_label: float = 1.0) -> None:
        super().__init__()
        self.real_label = label_in_range(real_label)

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return surprise(real_logits, self.real_label).mean() + surprise(fake_logits, 0.0).mean()

    def g_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        # log(1 - sigmoid(l)) = -softplus(l); ignores real_logits.
        return -F.softplus(fake_logits).mean()


class NonSaturating(Minimax):
    """NS-GAN: Minimax's discriminator, but G maximises ``log D(G(z))``. Ignores real logits in G."""

    def g_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return surprise(fake_logits, 1.0).mean()


class LeastSquares(AdversarialObjective):
    """LSGAN (Mao et al. 2017) with targets a=0 (fake), b=1 (real), c=1 (G's aim).

    ``L_D = 1/2 E[(D(x) - b)^2] + 1/2 E[D(G(z))^2]``, ``L_G = 1/2 E[(D(G(z)) - c)^2]``.
    G ignores real logits.
    """

    def __init__(self, *, real_label: float = 1.0) -> None:
        super().__init__()
        if not math.isfinite(real_label):  # a squared distance: any finite target
            raise ValueError(f"real_label must be a finite number, got {real_label}")
        self.real_label = real_label

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((real_logits - self.real_label) ** 2).mean() + 0.5 * (fake_logits**2).mean()

    def g_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((fake_logits - 1.0) ** 2).mean()


class Hinge(AdversarialObjective):
    """Hinge loss (Lim & Ye 2017; SAGAN, BigGAN). G ignores real logits."""

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()

    def g_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.mean()


class WassersteinGP(AdversarialObjective):
    """WGAN-GP (Gulrajani et al. 2017): critic ``E[f(fake)] - E[f(real)]`` plus a gradient penalty.

    The penalty ``gradient_penalty * E[(||grad f(x_hat)|| - 1)^2]`` is taken on random
    interpolates ``x_hat`` of real and fake images. The paper's other defaults (5 critic
    steps per generator step, Adam 1e-4 with betas (0, 0.9)) live on the training module
    and in ``configs/objective/wgan_gp.yaml``. Needs a discriminator without batch
    statistics (``normalization: none`` or ``spectral``): ``srgan.module.SRGAN`` warns
    when given one with batch norm. G ignores real logits.
    """

    def __init__(self, *, gradient_penalty: float = 10.0) -> None:
        super().__init__()
        if not 0 <= number("gradient_penalty", gradient_penalty) < math.inf:  # NaN too
            raise ValueError(f"gradient_penalty must be 0 or more, got {gradient_penalty}")
        self.gradient_penalty = gradient_penalty

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return fake_logits.mean() - real_logits.mean()

    def g_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.mean()

    def penalty(
        self,
        discriminator: nn.Module,
        real: torch.Tensor,
        fake: torch.Tensor,
        *,
        grad_scaler: torch.amp.GradScaler | None = None,
    ) -> torch.Tensor:
        """The gradient penalty at random points between real and fake samples (their
        mixing weights drawn from torch's global random state, as in a training step).

        Under fp16 mixed precision pass the run's ``grad_scaler``: the critic's gradient
        is then taken of its loss-scaled output and divided back, as PyTorch's AMP recipe
        for gradient penalties does, so that the small gradients inside the critic's fp16
        backward (a per-pixel critic's ``1 / (H * W)`` first of all) do not flush to zero.
        A scale too large for fp16 gives an infinite penalty, and the scaler then skips
        the step and lowers its scale, as it does for any overflow."""
        alpha = torch.rand(
            real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype
        )
        interpolates = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
        logits = discriminator(interpolates)
        # The critic's value for an image is its mean logit (what d_loss averages), so the
        # penalty is on the gradient of that per-sample mean: for a per-pixel critic
        # (UNet), differentiating the sum would ask for a Lipschitz constant 1/(H*W).
        logits = logits.float()  # fp16's gradients start from fp32 ones (65504 is its max)
        per_sample = logits.flatten(1).mean(1) if logits.dim() > 1 else logits
        scaled = grad_scaler is not None and grad_scaler.is_enabled()
        scale = grad_scaler.get_scale() if scaled else 1.0
        # Of the batch mean, as the losses are taken (the samples' gradients are apart: the
        # critic keeps no batch statistics), so the scaled gradients match the backward's.
        (grad,) = torch.autograd.grad(per_sample.mean() * scale, interpolates, create_graph=True)
        grad = grad * (per_sample.numel() / scale)
        norms = grad.flatten(1).norm(2, dim=1)  # one gradient norm per sample
        return self.gradient_penalty * ((norms - 1.0) ** 2).mean()


class Relativistic(AdversarialObjective):
    """RSGAN (Jolicoeur-Martineau 2018): D judges whether a real sample is more real than its paired fake.

    ``L_D = E[-log sigmoid(C(x_r) - C(x_f))]``, ``L_G = E[-log sigmoid(C(x_f) - C(x_r))]``,
    with real and fake samples paired by batch position.
    """

    def __init__(self, *, real_label: float = 1.0) -> None:
        super().__init__()
        self.real_label = label_in_range(real_label)

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return surprise(paired(real_logits, fake_logits), self.real_label).mean()

    def g_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return surprise(-paired(real_logits, fake_logits), 1.0).mean()


class RelativisticAverage(AdversarialObjective):
    """RaGAN, the ESRGAN default: ``D_Ra(x_r, x_f) = sigmoid(C(x_r) - E[C(x_f)])``.

    ``L_D = 1/2 (E[-log D_Ra(x_r, x_f)] + E[-log(1 - D_Ra(x_f, x_r))])`` and the symmetric
    ``L_G = 1/2 (E[-log(1 - D_Ra(x_r, x_f))] + E[-log D_Ra(x_f, x_r)])``: the generator
    also learns from the real images' logits. The 1/2 is ESRGAN's, so its adversarial
    weight (5e-3) carries over. ``E`` is the mean over the whole other batch.

    ``detach_mean``: whether the discriminator's loss treats the other batch's mean as a
    constant. The loss depends on logit differences only, so adding one constant to every
    logit changes nothing: with its exact gradient (``False``, the default, as ESRGAN's
    original code) the gradient along that common level is exactly zero, and the level
    is free to wander (the logged logit means drift, harmlessly for the loss). BasicSR
    detaches the mean (``True``): the update then pushes real logits up and fake ones down
    about a fixed level, which keeps them near it. The default stays the exact gradient
    of the published loss, which also reproduces this project's earlier runs.
    """

    def __init__(self, *, real_label: float = 1.0, detach_mean: bool = False) -> None:
        super().__init__()
        self.real_label = label_in_range(real_label)
        self.detach_mean = detach_mean

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        real_mean, fake_mean = real_logits.mean(), fake_logits.mean()
        if self.detach_mean:
            real_mean, fake_mean = real_mean.detach(), fake_mean.detach()
        real_rel = real_logits - fake_mean
        fake_rel = fake_logits - real_mean
        return 0.5 * (surprise(real_rel, self.real_label).mean() + surprise(fake_rel, 0.0).mean())

    def g_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        real_rel = real_logits - fake_logits.mean()
        fake_rel = fake_logits - real_logits.mean()
        return 0.5 * (surprise(real_rel, 0.0).mean() + surprise(fake_rel, 1.0).mean())


class MaxSurprise(AdversarialObjective):
    """The worst-case objective: pool each side's surprise by a smooth maximum, not a mean.

    Standard losses average each sample's surprise (``-log D(x)`` for a real sample,
    ``-log(1 - D(G(z)))`` for a fake). Here each average becomes
    ``smooth_max_tau(s) = tau * log(mean(exp(s / tau)))``, so D trains hardest on the real
    image it is most wrong about and on the fake that fools it most, and G is pushed
    hardest on the outputs D catches most easily; minority content cannot be ignored to
    please the majority.

    * plain form: ``L_D = smax(-log D(x_r)) + alpha * smax(-log(1 - D(x_f)))``,
      ``L_G = smax(-log D(x_f))``. As tau -> infinity these equal ``NonSaturating``'s
      losses (and ``Minimax``'s D loss); as tau -> 0 they approach the worst sample's.
    * relativistic form (``relativistic=True``): every logit is first taken relative to
      the plain mean of the other batch's logits, as in RaGAN, and each of RaGAN's terms
      (for G both the real and the fake term) is pooled by the smooth max over its own
      samples; with RaGAN's 1/2 this equals ``RelativisticAverage`` as tau -> infinity.
      ``detach_mean`` as in ``RelativisticAverage`` (the discriminator's loss only).

    ``pool`` sets the unit the maximum runs over:

    * ``"sample"``: per image. Logits with spatial dimensions are first averaged per
      image. The tau -> infinity limits above hold exactly for ``(B,)`` / ``(B, 1)``
      logits; for spatial logits the limit is the mean-based loss on the per-image
      mean logits.
    * ``"element"``: every logit element (each pixel or patch of a U-Net
      discriminator) is a unit. The limits hold for logits of any shape.

    Args:
        tau: the temperature of the smooth maximum (positive): large is the mean (the
            standard loss), small the worst sample's surprise.
        alpha: weight of the fake samples' term in the discriminator's loss.
        pool: ``"sample"`` (per image) or ``"element"`` (per logit element).
        relativistic: take each logit relative to the other batch's mean logit (RaGAN).
        real_label: the real target of D (below 1: one-sided label smoothing).
        detach_mean: with ``relativistic``, the other batch's mean is a constant in D's
            loss, as in ``RelativisticAverage``.
    """

    def __init__(
        self,
        *,
        tau: float = 1.0,
        alpha: float = 1.0,
        relativistic: bool = False,
        pool: Literal["sample", "element"] = "sample",
        real_label: float = 1.0,
        detach_mean: bool = False,
    ) -> None:
        super().__init__()
        if not 0 < number("tau", tau) < math.inf:  # NaN fails this too
            raise ValueError(f"tau must be a positive finite number, got {tau}")
        if not 0 <= number("alpha", alpha) < math.inf:
            raise ValueError(
                f"alpha must be 0 or more (a negative weight rewards surprise), got {alpha}"
            )
        if pool not in ("sample", "element"):
            raise ValueError(f"pool must be 'sample' or 'element', got {pool!r}")
        if detach_mean and not relativistic:
            raise ValueError(
                "detach_mean applies to the relativistic form only (relativistic: true)"
            )
        self.tau = tau
        self.alpha = alpha
        self.relativistic = relativistic
        self.pool = pool
        self.real_label = label_in_range(real_label)
        self.detach_mean = detach_mean

    def _units(self, logits: torch.Tensor) -> torch.Tensor:
        if self.pool == "sample" and logits.dim() > 1:
            return logits.flatten(1).mean(1)  # (B,)
        return logits

    def _relative(
        self, real_logits: torch.Tensor, fake_logits: torch.Tensor, *, detach: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        real, fake = self._units(real_logits), self._units(fake_logits)
        if self.relativistic:
            real_mean, fake_mean = real.mean(), fake.mean()
            if detach:
                real_mean, fake_mean = real_mean.detach(), fake_mean.detach()
            return real - fake_mean, fake - real_mean
        return real, fake

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        real, fake = self._relative(real_logits, fake_logits, detach=self.detach_mean)
        loss = smooth_max(surprise(real, self.real_label), self.tau) + self.alpha * smooth_max(
            surprise(fake, 0.0), self.tau
        )
        return 0.5 * loss if self.relativistic else loss

    def g_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        real, fake = self._relative(real_logits, fake_logits)
        fake_term = smooth_max(surprise(fake, 1.0), self.tau)
        if not self.relativistic:
            return fake_term
        return 0.5 * (smooth_max(surprise(real, 0.0), self.tau) + fake_term)
