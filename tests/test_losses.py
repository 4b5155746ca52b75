from __future__ import annotations

from pathlib import Path

import pytest
import torch

from srgan.losses import PerceptualLoss, PixelLoss, feature_matching_loss


def test_pixel_losses_hand_values() -> None:
    sr = torch.tensor([0.0, 0.5, 1.0])
    hr = torch.tensor([0.0, 0.0, 0.0])
    assert PixelLoss(kind="l1")(sr, hr).item() == pytest.approx(0.5)
    assert PixelLoss(kind="mse")(sr, hr).item() == pytest.approx((0.25 + 1) / 3)
    charbonnier = PixelLoss(kind="charbonnier", eps=1e-3)(sr, hr).item()
    assert charbonnier == pytest.approx((1e-3 + (0.25 + 1e-6) ** 0.5 + (1 + 1e-6) ** 0.5) / 3)
    with pytest.raises(ValueError):
        PixelLoss(kind="l3")


def test_perceptual_loss_is_lazy_and_names_the_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "vgg19.pth"
    loss = PerceptualLoss(weights_path=str(missing))  # constructing needs no file
    with pytest.raises(FileNotFoundError, match="vgg19.pth") as info:
        loss(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))
    assert "perceptual_weight" in str(info.value)


def test_perceptual_loss_with_weights_file(tmp_path: Path) -> None:
    # Random VGG19 weights stand in for ImageNet's: enough to test the plumbing offline.
    from torchvision.models import vgg19

    path = tmp_path / "vgg19.pth"
    torch.save(vgg19().state_dict(), path)
    loss = PerceptualLoss(layer_weights={"conv1_2": 1.0, "relu2_1": 0.5}, weights_path=str(path))
    x = torch.rand(1, 3, 32, 32)
    assert loss(x, x).item() == pytest.approx(0.0, abs=1e-6)
    sr = x.clone().requires_grad_()
    value = loss(sr, torch.rand(1, 3, 32, 32))
    value.backward()
    assert value.item() > 0 and sr.grad is not None
    assert not list(loss.parameters())  # frozen network kept out of the optimizer


def test_perceptual_loss_rejects_unknown_layers() -> None:
    with pytest.raises(ValueError, match="conv9_9"):
        PerceptualLoss(layer_weights={"conv9_9": 1.0})


def test_feature_matching_loss() -> None:
    a = [torch.zeros(2, 4, 8, 8), torch.zeros(2, 8, 4, 4)]
    b = [torch.ones(2, 4, 8, 8), torch.full((2, 8, 4, 4), 3.0)]
    assert feature_matching_loss(a, b).item() == pytest.approx(2.0)
