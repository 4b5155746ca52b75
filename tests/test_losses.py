from __future__ import annotations

import pytest
import torch

from srgan.assets import MissingWeightsError
from srgan.losses import PerceptualLoss, PixelLoss, feature_matching_loss, vgg_layer_names
from tests.conftest import random_features, require_assets


def test_pixel_losses_hand_values() -> None:
    sr = torch.tensor([0.0, 0.5, 1.0])
    hr = torch.tensor([0.0, 0.0, 0.0])
    assert PixelLoss(kind="l1")(sr, hr).item() == pytest.approx(0.5)
    assert PixelLoss(kind="mse")(sr, hr).item() == pytest.approx((0.25 + 1) / 3)
    charbonnier = PixelLoss(kind="charbonnier", eps=1e-3)(sr, hr).item()
    assert charbonnier == pytest.approx((1e-3 + (0.25 + 1e-6) ** 0.5 + (1 + 1e-6) ** 0.5) / 3)
    with pytest.raises(ValueError):
        PixelLoss(kind="l3")


@pytest.mark.usefixtures("empty_caches")
def test_perceptual_loss_is_lazy_and_names_the_fetch_command() -> None:
    loss = PerceptualLoss()  # constructing needs no file
    with pytest.raises(MissingWeightsError, match="python -m srgan.assets fetch") as info:
        loss(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))
    assert str(info.value).startswith("the perceptual loss needs the ImageNet vgg16 backbone")
    with pytest.raises(MissingWeightsError, match="vgg19-dcbb9e9d.pth, which srgan cannot fetch"):
        PerceptualLoss(network="vgg19")(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))


def test_default_layers_are_esrgans_pre_activation_ones() -> None:
    assert PerceptualLoss().layer_weights == {"conv5_3": 1.0}
    assert PerceptualLoss(network="vgg19").layer_weights == {"conv5_4": 1.0}
    assert vgg_layer_names("vgg16")[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert len(vgg_layer_names("vgg16")) == 31 and len(vgg_layer_names("vgg19")) == 37
    assert vgg_layer_names("vgg19").index("conv5_4") == 34
    with pytest.raises(ValueError, match="conv5_4"):
        PerceptualLoss(network="vgg16", layer_weights={"conv5_4": 1.0})
    with pytest.raises(ValueError, match="vgg16 or vgg19"):
        PerceptualLoss(network="vgg11")


@pytest.fixture
def random_vgg(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random VGG weights stand in for ImageNet's: enough to test the plumbing offline."""
    import srgan.assets

    monkeypatch.setattr(
        srgan.assets, "backbone_state", lambda network, what=None: random_features(network)
    )


@pytest.mark.usefixtures("random_vgg")
@pytest.mark.parametrize("network", ["vgg16", "vgg19"])
def test_perceptual_loss_plumbing(network: str) -> None:
    loss = PerceptualLoss(network=network, layer_weights={"conv1_2": 1.0, "relu2_1": 0.5})
    x = torch.rand(1, 3, 32, 32)
    assert loss(x, x).item() == pytest.approx(0.0, abs=1e-6)
    sr = x.clone().requires_grad_()
    value = loss(sr, torch.rand(1, 3, 32, 32))
    value.backward()
    assert value.item() > 0 and sr.grad is not None
    assert not list(loss.parameters())  # frozen network kept out of the optimizer
    assert not loss.state_dict()  # and out of checkpoints
    (network_module,) = loss._features
    assert len(network_module) == 7  # truncated after relu2_1
    assert not network_module.training


@pytest.mark.usefixtures("random_vgg")
def test_conv_layers_are_taken_before_the_relu() -> None:
    loss = PerceptualLoss(layer_weights={"conv1_2": 1.0, "relu1_2": 2.0})
    sr, hr = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    value = loss(sr, hr)
    network = loss._features[0]
    mean, std = loss.mean, loss.std

    def conv1_2(x: torch.Tensor) -> torch.Tensor:
        return network[2](torch.relu(network[0]((x - mean) / std)))

    pre = torch.nn.functional.l1_loss(conv1_2(sr), conv1_2(hr))
    post = torch.nn.functional.l1_loss(torch.relu(conv1_2(sr)), torch.relu(conv1_2(hr)))
    assert value.item() == pytest.approx((pre + 2 * post).item(), rel=1e-5)
    assert pre > post  # negative responses count before the ReLU


@pytest.mark.usefixtures("random_vgg")
def test_perceptual_loss_runs_under_the_training_precision() -> None:
    loss = PerceptualLoss(layer_weights={"conv2_2": 1.0})
    sr, hr = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    full = loss(sr, hr)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = loss(sr.requires_grad_(), hr)
    assert loss._features[0][0].weight.dtype == torch.float32  # autocast casts per operation
    mixed.backward()
    assert mixed.dtype == torch.float32 and mixed.item() == pytest.approx(full.item(), rel=0.05)
    half = loss(sr.detach().bfloat16(), hr.bfloat16())  # a true bf16 run
    assert loss._features[0][0].weight.dtype == torch.bfloat16
    assert half.item() == pytest.approx(full.item(), rel=0.05)


def test_perceptual_loss_with_the_imagenet_vgg16() -> None:
    require_assets("vgg16")
    loss = PerceptualLoss()
    hr = torch.rand(1, 3, 64, 64)
    blurred = torch.nn.functional.avg_pool2d(hr, 3, stride=1, padding=1)
    assert loss(hr, hr).item() == 0.0
    assert loss(blurred, hr).item() > 0
    assert len(loss._features[0]) == 29  # conv5_3 is the 29th layer: its ReLU is not run


def test_feature_matching_loss() -> None:
    a = [torch.zeros(2, 4, 8, 8), torch.zeros(2, 8, 4, 4)]
    b = [torch.ones(2, 4, 8, 8), torch.full((2, 8, 4, 4), 3.0)]
    assert feature_matching_loss(a, b).item() == pytest.approx(2.0)
