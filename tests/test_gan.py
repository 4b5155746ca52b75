"""The GAN stage's loss composition: each term, its weight, and what reaches which network."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from srgan.discriminators import Discriminator, VGGStyle
from srgan.gan import LossWeights, discriminator_loss, generator_loss
from srgan.losses import feature_matching_loss
from srgan.objectives import Hinge, RelativisticAverage, WassersteinGP


class Doubler(nn.Module):
    """A perceptual loss stand-in with a known value: twice the L1 distance."""

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        return 2 * F.l1_loss(sr, hr)


def test_generator_loss_is_the_weighted_sum_of_its_terms() -> None:
    discriminator = VGGStyle(num_features=4)
    objective = RelativisticAverage()
    sr, hr = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    weights = LossWeights(pixel=0.5, perceptual=3.0, adversarial=0.25, feature_matching=2.0)
    loss, logs = generator_loss(
        discriminator, objective, sr, hr, weights=weights, perceptual_loss=Doubler()
    )
    fake_logits, fake_features = discriminator.forward_features(sr)
    real_logits, real_features = discriminator.forward_features(hr)
    terms = {
        "g_pixel": F.l1_loss(sr, hr),
        "g_perceptual": 2 * F.l1_loss(sr, hr),
        "g_adv": objective.g_loss(real_logits, fake_logits),
        "g_feature_matching": feature_matching_loss(fake_features, real_features),
    }
    expected = (
        0.5 * terms["g_pixel"]
        + 3.0 * terms["g_perceptual"]
        + 0.25 * terms["g_adv"]
        + 2.0 * terms["g_feature_matching"]
    )
    assert torch.allclose(loss, expected)
    assert torch.allclose(logs["g_loss"], expected)
    for name, value in terms.items():
        assert torch.allclose(logs[name], value), name
    assert all(not v.requires_grad for v in logs.values())


def test_unweighted_terms_are_left_out_and_a_missing_perceptual_loss_is_an_error() -> None:
    discriminator = VGGStyle(num_features=4)
    sr, hr = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    _, logs = generator_loss(discriminator, Hinge(), sr, hr, weights=LossWeights())
    assert set(logs) == {"g_pixel", "g_adv", "g_loss"}
    with pytest.raises(ValueError, match="perceptual loss"):
        generator_loss(discriminator, Hinge(), sr, hr, weights=LossWeights(perceptual=1.0))


def test_the_generator_loss_reaches_sr_and_not_the_real_branch() -> None:
    discriminator = VGGStyle(num_features=4)
    sr = torch.rand(2, 3, 32, 32, requires_grad=True)
    hr = torch.rand(2, 3, 32, 32, requires_grad=True)
    loss, _ = generator_loss(
        discriminator, RelativisticAverage(), sr, hr, weights=LossWeights(pixel=0.0)
    )
    loss.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    # The real logits are computed without a graph: nothing flows back to hr (the pixel
    # term, weighted 0, contributes zeros).
    assert hr.grad is None or not hr.grad.any()


def test_discriminator_loss_detaches_the_fakes_and_adds_the_penalty() -> None:
    torch.manual_seed(0)
    discriminator = VGGStyle(num_features=4)
    sr = torch.rand(2, 3, 32, 32, requires_grad=True)
    hr = torch.rand(2, 3, 32, 32)
    objective = WassersteinGP(gradient_penalty=10.0)
    loss, logs = discriminator_loss(discriminator, objective, sr, hr)
    real, fake = discriminator(hr), discriminator(sr)
    assert torch.allclose(logs["d_adv"], objective.d_loss(real, fake))
    assert torch.allclose(loss, logs["d_adv"] + logs["d_penalty"])
    assert logs["d_penalty"] > 0
    assert torch.allclose(logs["d_real_mean"], real.mean())
    assert torch.allclose(logs["d_fake_mean"], fake.mean())
    loss.backward()
    assert sr.grad is None  # the generator is not trained by the discriminator's loss
    assert all(p.grad is not None for p in discriminator.parameters())


def test_a_discriminator_of_ones_own_with_only_forward_trains() -> None:
    # The base class's forward_features gives the logits and no feature maps.
    class Mine(Discriminator):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 1, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x).mean(dim=(2, 3))

    sr = torch.rand(2, 3, 8, 8, requires_grad=True)
    hr = torch.rand(2, 3, 8, 8)
    loss, _ = generator_loss(Mine(), Hinge(), sr, hr, weights=LossWeights(adversarial=1.0))
    loss.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="feature matching needs the discriminator's feature"):
        generator_loss(Mine(), Hinge(), sr, hr, weights=LossWeights(feature_matching=1.0))
