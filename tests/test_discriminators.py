from __future__ import annotations

import pytest
import torch

from srgan.discriminators import UNet, VGGStyle


@pytest.mark.parametrize("size", [(32, 32), (64, 64), (128, 128), (96, 160)])
@pytest.mark.parametrize("normalization", ["batch", "spectral", "none"])
def test_vggstyle_takes_any_multiple_of_32(size: tuple[int, int], normalization: str) -> None:
    d = VGGStyle(num_features=4, normalization=normalization)
    logits = d(torch.rand(2, 3, *size))
    assert logits.shape == (2, 1)


def test_vggstyle_says_why_batch_norm_cannot_train_on_one_value_per_channel() -> None:
    network = VGGStyle(num_features=4)
    with pytest.raises(ValueError, match="a batch of 2 or more, crops of 64 px or more"):
        network(torch.rand(1, 3, 32, 32))  # one value per channel at the last stage
    assert network(torch.rand(2, 3, 32, 32)).shape == (2, 1)
    assert network(torch.rand(1, 3, 64, 32)).shape == (1, 1)
    assert network.eval()(torch.rand(1, 3, 32, 32)).shape == (1, 1)  # running statistics
    spectral = VGGStyle(num_features=4, normalization="spectral")
    assert spectral(torch.rand(1, 3, 32, 32)).shape == (1, 1)


def test_vggstyle_rejects_other_sizes_clearly() -> None:
    with pytest.raises(ValueError, match="multiples of 32"):
        VGGStyle(num_features=4)(torch.rand(1, 3, 48, 48))


@pytest.mark.parametrize("normalization", ["spectral", "none", "batch"])
def test_unet_gives_per_pixel_logits(normalization: str) -> None:
    d = UNet(num_features=4, normalization=normalization)
    logits, features = d.forward_features(torch.rand(2, 3, 24, 40))
    assert logits.shape == (2, 1, 24, 40)
    assert len(features) == 6


def test_unet_uses_spectral_norm_by_default() -> None:
    d = UNet(num_features=4)
    assert any("parametrizations.weight.original" in name for name, _ in d.named_parameters())


@pytest.mark.parametrize("cls", [VGGStyle, UNet])
def test_state_dict_round_trip(cls: type) -> None:
    a = cls(num_features=4).eval()
    b = cls(num_features=4).eval()
    a(torch.rand(1, 3, 32, 32))  # spectral norm's power iteration updates its vectors
    b.load_state_dict(a.state_dict())
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(a(x), b(x), atol=1e-6)


def test_logits_are_raw_not_probabilities() -> None:
    d = VGGStyle(num_features=4, normalization="none")
    with torch.no_grad():
        for p in d.head[-1].parameters():
            p.fill_(5.0)
    assert d(torch.rand(2, 3, 32, 32)).abs().max() > 1
