"""The inference contract: tiling, padding, integer pixels, precision fallback, OOM retry."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from srgan.generators import CompactNet
from srgan.inference import (
    Upscaler,
    resolve_device,
    tile_spans,
    to_levels_,
    to_uint8_channels_last,
)
from tests.conftest import TINY_GENERATORS, tiny_compact


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


def test_upscaler_shapes_and_bad_shapes() -> None:
    model = CompactNet(num_features=8, num_convs=1, scale=2).eval()
    assert Upscaler(model, device="cpu")(torch.rand(1, 3, 5, 6)).shape == (1, 3, 10, 12)
    with pytest.raises(ValueError, match="B, C, H, W"):
        Upscaler(model, device="cpu")(torch.rand(3, 5, 6))
    with pytest.raises(ValueError, match="fp16"):
        Upscaler(model, device="cpu", precision="fp16")


def test_integer_input_is_converted_on_the_device() -> None:
    model = CompactNet(num_features=4, num_convs=1).eval()
    pixels = torch.randint(0, 256, (2, 3, 9, 11), dtype=torch.uint8)
    upscaler = Upscaler(model, device="cpu", tile=8, tile_overlap=4)
    as_float = upscaler(pixels.float() / 255)
    assert torch.allclose(upscaler(pixels), as_float, atol=1e-6)
    deep = (pixels.to(torch.int32) * 257).to(torch.uint16)
    assert torch.allclose(upscaler(deep), as_float, atol=1e-6)
    out16 = upscaler(deep, out_dtype=torch.uint16)
    assert out16.dtype == torch.uint16 and out16.shape == (2, 3, 36, 44)
    with pytest.raises(ValueError, match="uint8 or uint16"):
        upscaler(pixels.to(torch.int64))


def test_tiled_uint8_output_equals_untiled_within_rounding() -> None:
    model = CompactNet(num_features=4, num_convs=1).eval()
    lr = torch.randint(0, 256, (1, 3, 30, 41), dtype=torch.uint8)
    whole = Upscaler(model, device="cpu")(lr, out_dtype=torch.uint8).int()
    tiled = Upscaler(model, device="cpu", tile=8, tile_overlap=4)(lr, out_dtype=torch.uint8).int()
    assert (whole - tiled).abs().max() <= 1


class _HalfBreaks(torch.nn.Module):
    """A bilinear x2 'model' whose half-precision output overflows to Inf."""

    scale = 2

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(x, scale_factor=2, mode="bilinear") * self.weight
        if x.dtype != torch.float32:
            out = out + torch.tensor(float("inf"), dtype=x.dtype)
        return out


@pytest.mark.parametrize("self_ensemble", [False, True])
def test_non_finite_half_precision_tiles_are_redone_in_fp32(self_ensemble: bool) -> None:
    lr = torch.rand(1, 3, 16, 16)
    upscaler = Upscaler(
        _HalfBreaks(),
        device="cpu",
        precision="bf16",
        tile=8,
        tile_overlap=2,
        self_ensemble=self_ensemble,
    )
    out = upscaler(lr)
    assert torch.isfinite(out).all()
    assert upscaler.fp32_fallbacks == 4  # every tile, counted
    fp32 = Upscaler(_HalfBreaks(), device="cpu", self_ensemble=self_ensemble)
    assert torch.allclose(out, fp32(lr), atol=1e-6)


class _SmallMemory(torch.nn.Module):
    """Raises CUDA out-of-memory for inputs above ``limit`` pixels, like a small GPU."""

    scale = 2

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.weight = torch.nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] * x.shape[-1] > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return F.interpolate(x, scale_factor=2, mode="nearest") * self.weight


def test_out_of_memory_retries_with_smaller_tiles() -> None:
    lr = torch.rand(1, 3, 100, 100)
    upscaler = Upscaler(_SmallMemory(limit=64 * 64), device="cpu", tile_overlap=4)
    out = upscaler(lr)
    assert upscaler.oom_retries >= 1
    assert torch.equal(out, F.interpolate(lr, scale_factor=2, mode="nearest"))
    # The smaller tile served that call only: the (possibly shared) upscaler keeps its own,
    # and a small image later runs whole again, without a retry.
    assert upscaler.tile is None
    retries = upscaler.oom_retries
    upscaler(torch.rand(1, 3, 40, 40))
    assert upscaler.oom_retries == retries
    with pytest.raises(torch.cuda.OutOfMemoryError):
        Upscaler(_SmallMemory(limit=16), device="cpu")(lr)
    # A tile larger than the image halves from the image's side: one retry, not four.
    large_tile = Upscaler(_SmallMemory(limit=64 * 64), device="cpu", tile=1024, tile_overlap=4)
    large_tile(torch.rand(1, 3, 80, 80))
    assert large_tile.oom_retries == 1


def test_batches_match_single_images() -> None:
    model = CompactNet(num_features=4, num_convs=1).eval()
    lr = torch.rand(3, 3, 10, 12)
    upscaler = Upscaler(model, device="cpu")
    together = upscaler(lr)
    for i in range(3):
        assert torch.allclose(together[i : i + 1], upscaler(lr[i : i + 1]), atol=1e-6)


def test_device_resolution() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="--device cpu"):
            resolve_device("cuda")


class _Nearest(torch.nn.Module):
    """Nearest-neighbour x2 that, like pixel-unshuffle networks, takes only sides that are
    multiples of 4 (it fails on others rather than guess)."""

    scale = 2
    size_multiple = 4

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2] % 4 == 0 and x.shape[-1] % 4 == 0, x.shape
        return F.interpolate(x, scale_factor=2, mode="nearest") * self.weight


@pytest.mark.parametrize("tile", [None, 8])
def test_padding_to_the_size_multiple_is_cropped_back_exactly(tile: int | None) -> None:
    lr = torch.rand(2, 3, 10, 13)
    out = Upscaler(_Nearest(), device="cpu", tile=tile, tile_overlap=3)(lr)
    assert torch.equal(out, F.interpolate(lr, scale_factor=2, mode="nearest"))


def test_integer_input_is_scaled_exactly() -> None:
    pixels = torch.randint(0, 256, (1, 3, 8, 12), dtype=torch.uint8)
    deep = torch.randint(0, 65536, (1, 3, 8, 12), dtype=torch.int32).to(torch.uint16)
    upscaler = Upscaler(_Nearest(), device="cpu")
    expected = F.interpolate(pixels.float() / 255, scale_factor=2, mode="nearest")
    assert torch.equal(upscaler(pixels), expected)
    expected16 = F.interpolate(deep.to(torch.int32).float() / 65535, scale_factor=2)
    assert torch.equal(upscaler(deep), expected16)


def test_levels_off_the_cpu_fast_path_are_rounded_to_nearest() -> None:
    # The path a GPU's 8-bit output and every 16-bit output take.
    x = torch.tensor([0.0, 0.4, 0.6, 2.5, 3.5, 127.51, 254.49, 254.6, 255.0])
    assert to_levels_(x / 255, torch.uint8).tolist() == [0, 0, 1, 2, 4, 128, 254, 255, 255]
    deep = to_levels_(torch.tensor([0.4, 0.6, 65534.6]) / 65535, torch.uint16)
    assert deep.dtype == torch.uint16 and deep.to(torch.int32).tolist() == [0, 1, 65535]
    with pytest.raises(ValueError, match="uint8 or uint16"):
        to_levels_(x, torch.int8)


@pytest.mark.parametrize("tile", [None, 8])
def test_integer_output_is_rounded_to_nearest(tile: int | None) -> None:
    model = CompactNet(num_features=4, num_convs=1).eval()
    lr = torch.rand(1, 3, 12, 10)
    upscaler = Upscaler(model, device="cpu", tile=tile, tile_overlap=4)
    as_float = upscaler(lr)
    as_uint8 = upscaler(lr, out_dtype=torch.uint8)
    as_uint16 = upscaler(lr, out_dtype=torch.uint16)
    assert torch.equal(as_uint8, (as_float * 255).round().to(torch.uint8))
    assert torch.equal(as_uint16.to(torch.int32), (as_float * 65535).round().to(torch.int32))
    # Truncation would lower about half of the values by one level.
    assert ((as_float * 255) % 1 > 0.5).any()


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_uint8_conversion_matches_torch_rounding_and_is_laid_out_as_image_files(
    channels: int,
) -> None:
    # Every level, its exact ties (k + 0.5) / 255 and the 64 steps between levels, plus
    # random values: the fast CPU path gives the bytes torch's round-half-to-even gives.
    steps = torch.arange(255 * 64 + 1, dtype=torch.float32) / (255 * 64)
    ties = (torch.arange(255, dtype=torch.float32) + 0.5) / 255
    values = torch.cat([steps, ties, torch.rand(4000), torch.tensor([0.0, 1.0])])
    values = values[: len(values) // (2 * channels * 10) * (2 * channels * 10)]
    whole = values.reshape(2, channels, 10, -1)
    window = torch.rand(2, channels, 30, 40)[..., 3:25, 7:33]  # a tile's core: a view
    for x in (whole, window, whole.contiguous(memory_format=torch.channels_last)):
        expected = x.mul(255).round().to(torch.uint8)
        got = to_uint8_channels_last(x)
        assert torch.equal(got, expected)
        assert got.is_contiguous(memory_format=torch.channels_last)
    assert (whole * 255 % 1 == 0.5).any()  # the ties are there


@pytest.mark.parametrize("tile", [None, 8, 13])
def test_progress_counts_every_input_pixel_once(tile: int | None) -> None:
    upscaler = Upscaler(tiny_compact(), device="cpu", tile=tile)
    reported: list[int] = []
    upscaler.progress = reported.append
    upscaler(torch.rand(2, 3, 21, 30))
    assert sum(reported) == 2 * 21 * 30
    assert len(reported) == (1 if tile is None else -(-21 // tile) * -(-30 // tile))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_all_finite_sees_one_bad_value(value: float, dtype: torch.dtype) -> None:
    from srgan.inference import all_finite

    x = torch.rand(2, 3, 17, 9).to(dtype)
    assert all_finite(x)
    x[1, 2, 16, 8] = value
    assert not all_finite(x)


def test_a_shared_network_always_runs_in_eval_mode() -> None:
    """A network ready to run is used, not copied: switched to train mode by its owner
    afterwards, it still upscales with its running statistics, never updating them."""
    from srgan.generators import SRResNet

    torch.manual_seed(0)
    network = SRResNet(num_features=8, num_blocks=1, scale=2).eval()
    upscaler = Upscaler(network, device="cpu")
    assert upscaler.fp32_model is network
    lr = torch.rand(2, 3, 8, 8)
    before = upscaler(lr)
    network.train()
    frozen = next(m for m in network.modules() if isinstance(m, torch.nn.BatchNorm2d)).eval()
    stats = {k: v.clone() for k, v in network.state_dict().items() if "running" in k}
    torch.testing.assert_close(upscaler(lr), before, rtol=0, atol=0)
    assert network.training and not frozen.training  # each module's own mode, put back
    for key, value in stats.items():
        assert torch.equal(network.state_dict()[key], value), key
    with torch.no_grad():  # and later weight changes do show
        next(network.parameters()).mul_(3)
    assert not torch.equal(upscaler(lr), before)


def test_upscaler_arguments_are_checked_in_one_line() -> None:
    network = tiny_compact()
    for overlap in (-1, 2.5, None):
        with pytest.raises(ValueError, match="tile_overlap must be a whole number"):
            Upscaler(network, device="cpu", tile=16, tile_overlap=overlap)
    with pytest.raises(TypeError, match=r"srgan.build_upscaler\('fast'\)"):
        Upscaler("fast")
    assert Upscaler(network, device="cpu", precision="auto").precision == "fp32"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            Upscaler(network, device=torch.device("cuda"))


def test_self_ensemble_is_the_mean_over_the_eight_flips_and_quarter_turns() -> None:
    model = CompactNet(num_features=8, num_convs=2).eval()  # random: not equivariant
    lr = torch.rand(2, 3, 9, 13)
    # The dihedral group written another way: transposed or not, then flipped in H, W.
    views = []
    for transposed in (False, True):
        for dims in ((), (-2,), (-1,), (-2, -1)):
            x = lr.transpose(-2, -1) if transposed else lr
            x = x.flip(dims) if dims else x
            with torch.no_grad():
                y = model(x)
            y = y.flip(dims) if dims else y
            views.append(y.transpose(-2, -1) if transposed else y)
    expected = torch.stack(views).clamp(0, 1).mean(0)  # each view in [0, 1], then the mean
    plain = Upscaler(model, device="cpu")(lr)
    ensembled = Upscaler(model, device="cpu", self_ensemble=True)(lr)
    assert torch.allclose(ensembled, expected, atol=1e-6)
    assert (ensembled - plain).abs().max() > 1e-3


def test_self_ensemble_tiles_as_whole_images_do() -> None:
    model = CompactNet(num_features=8, num_convs=2).eval()  # receptive field radius 4 LR pixels
    lr = torch.rand(1, 3, 21, 18)
    whole = Upscaler(model, device="cpu", self_ensemble=True)(lr)
    tiled = Upscaler(model, device="cpu", tile=8, tile_overlap=4, self_ensemble=True)(lr)
    assert torch.allclose(whole, tiled, atol=1e-6)
