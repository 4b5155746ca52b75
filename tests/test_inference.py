from __future__ import annotations

import pytest
import torch

from srgan.generators import CompactNet
from srgan.inference import Upscaler, tile_spans, upscale
from tests.conftest import TINY_GENERATORS


@pytest.mark.parametrize("name", sorted(TINY_GENERATORS))
def test_tiled_equals_untiled(name: str) -> None:
    model = TINY_GENERATORS[name]().eval()
    lr = torch.rand(1, 3, 37, 29)
    whole = Upscaler(model, device="cpu")(lr)
    tiled = Upscaler(model, device="cpu", tile=12, tile_overlap=24)(lr)
    assert whole.shape == (1, 3, 148, 116)
    assert (whole - tiled).abs().max() < 1 / 255 / 2  # within rounding of 8-bit output


def test_overlap_covering_receptive_field_is_exact() -> None:
    model = CompactNet(num_features=8, num_convs=2).eval()  # receptive field radius 4 LR pixels
    lr = torch.rand(2, 3, 20, 23)
    assert torch.allclose(
        Upscaler(model, device="cpu")(lr),
        Upscaler(model, device="cpu", tile=8, tile_overlap=4)(lr),
        atol=1e-6,
    )


def test_output_is_clamped_and_quantised() -> None:
    model = CompactNet(num_features=8, num_convs=1).eval()
    with torch.no_grad():
        model.body[-2].bias.fill_(5.0)
    out = Upscaler(model, device="cpu")(torch.rand(1, 3, 8, 8))
    assert out.max() <= 1 and out.min() >= 0
    as_uint8 = Upscaler(model, device="cpu", tile=8)(
        torch.rand(1, 3, 16, 16), out_dtype=torch.uint8
    )
    assert as_uint8.dtype == torch.uint8


def test_tile_spans_cover_everything_once() -> None:
    spans = tile_spans(50, 16, 5)
    covered = [i for start, end, _, _ in spans for i in range(start, end)]
    assert covered == list(range(50))
    assert all(ws <= s and we >= e for s, e, ws, we in spans)


def test_functional_upscale_and_bad_shapes() -> None:
    model = CompactNet(num_features=8, num_convs=1, scale=2).eval()
    assert upscale(model, torch.rand(1, 3, 5, 6)).shape == (1, 3, 10, 12)
    with pytest.raises(ValueError, match="B, C, H, W"):
        Upscaler(model, device="cpu")(torch.rand(3, 5, 6))
    with pytest.raises(ValueError, match="fp16"):
        Upscaler(model, device="cpu", precision="fp16")
