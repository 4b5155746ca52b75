"""MATLAB-compatible bicubic against a scalar re-implementation of imresize.m."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from srgan.resize import cubic, imresize, imresize_array, weight_matrix


def reference_cubic(x: float) -> float:
    ax = abs(x)
    if ax <= 1:
        return 1.5 * ax**3 - 2.5 * ax**2 + 1
    if ax <= 2:
        return -0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2
    return 0.0


def reference_resize_1d(
    values: list[float], scale: float, out_length: int | None = None
) -> list[float]:
    """One pass of MATLAB's imresize, written from imresize.m one output pixel at a time."""
    n = len(values)
    kernel_width = 4 / scale if scale < 1 else 4.0
    out = []
    for x in range(1, (out_length or math.ceil(n * scale)) + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - kernel_width / 2)
        taps = [left + j for j in range(math.ceil(kernel_width) + 2)]
        weights = [
            scale * reference_cubic(scale * (u - i)) if scale < 1 else reference_cubic(u - i)
            for i in taps
        ]
        total = sum(weights)
        acc = 0.0
        for i, w in zip(taps, weights):
            k = i
            while k < 1 or k > n:  # symmetric padding, edge pixel repeated
                k = 1 - k if k < 1 else 2 * n + 1 - k
            acc += w / total * values[k - 1]
        out.append(acc)
    return out


def reference_imresize(image: np.ndarray, scale: float, *, uint8: bool) -> np.ndarray:
    def rnd(a: np.ndarray) -> np.ndarray:
        return np.clip(np.floor(a + 0.5), 0, 255) if uint8 else a

    rows = rnd(
        np.stack([reference_resize_1d(list(col), scale) for col in image.T.astype(float)], 1)
    )
    return rnd(np.stack([reference_resize_1d(list(row), scale) for row in rows], 0))


def reference_imresize_to(
    image: np.ndarray, out_h: int, out_w: int, *, uint8: bool, rows_first: bool | None = None
) -> np.ndarray:
    """MATLAB's imresize(image, [out_h out_w]) on a 2-D image.

    Each dimension has its own scale (output / input length). imresize.m sorts the scales
    and resizes the dimension with the smaller one first (a stable sort: rows on a tie);
    ``rows_first`` overrides that order, to show that it matters.
    """
    scale_h, scale_w = out_h / image.shape[0], out_w / image.shape[1]

    def rnd(a: np.ndarray) -> np.ndarray:
        return np.clip(np.floor(a + 0.5), 0, 255) if uint8 else a

    def along_rows(a: np.ndarray) -> np.ndarray:
        return rnd(np.stack([reference_resize_1d(list(c), scale_h, out_h) for c in a.T], 1))

    def along_cols(a: np.ndarray) -> np.ndarray:
        return rnd(np.stack([reference_resize_1d(list(r), scale_w, out_w) for r in a], 0))

    if rows_first is None:
        rows_first = scale_h <= scale_w
    a = image.astype(float)
    return along_cols(along_rows(a)) if rows_first else along_rows(along_cols(a))


def test_kernel_values() -> None:
    xs = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, -0.5], dtype=torch.float64)
    assert cubic(xs).tolist() == pytest.approx([1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0, 0.5625])


@pytest.mark.parametrize("scale", [0.25, 1 / 3, 0.5, 2.0, 3.0, 4.0])
def test_matches_reference_on_float_images(scale: float) -> None:
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (13, 10))
    out = imresize(torch.from_numpy(image), scale)
    assert out.shape == (math.ceil(13 * scale), math.ceil(10 * scale))
    np.testing.assert_allclose(
        out.numpy(), reference_imresize(image, scale, uint8=False), atol=1e-9
    )


@pytest.mark.parametrize("scale", [0.25, 0.5, 4.0])
def test_uint8_rounds_after_each_pass(scale: float) -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (16, 12), dtype=np.uint8)
    out = imresize(torch.from_numpy(image), scale)
    assert out.dtype == torch.uint8
    np.testing.assert_array_equal(out.numpy(), reference_imresize(image, scale, uint8=True))
    # Rounding once at the end instead differs somewhere: the per-pass rounding matters.
    once = np.clip(np.floor(reference_imresize(image, scale, uint8=False) + 0.5), 0, 255)
    assert (once != out.numpy()).any()


def test_float_quantize_reproduces_uint8_pipeline_and_batches() -> None:
    rng = np.random.default_rng(2)
    batch = torch.from_numpy(rng.integers(0, 256, (2, 3, 16, 20), dtype=np.uint8))
    as_uint8 = imresize(batch, 0.25)
    as_float = imresize(batch.double() / 255, 0.25, quantize=True)
    assert torch.equal(torch.round(as_float * 255).to(torch.uint8), as_uint8)
    assert torch.equal(as_uint8[1, 2], imresize(batch[1, 2], 0.25))


def test_constant_image_stays_constant_and_weights_sum_to_one() -> None:
    image = torch.full((1, 3, 20, 24), 0.3, dtype=torch.float64)
    assert torch.allclose(imresize(image, 0.25), torch.full((1, 3, 5, 6), 0.3, dtype=torch.float64))
    for scale in (0.25, 4.0):
        matrix = weight_matrix(20, math.ceil(20 * scale), scale)
        assert torch.allclose(matrix.sum(1), torch.ones(matrix.shape[0], dtype=torch.float64))


def test_size_argument_and_errors() -> None:
    x = torch.rand(1, 3, 10, 10)
    assert imresize(x, size=(40, 20)).shape == (1, 3, 40, 20)
    with pytest.raises(ValueError):
        imresize(x)
    with pytest.raises(ValueError):
        imresize(x, 2.0, size=(20, 20))


def test_differs_from_torch_bicubic() -> None:
    # The reason this module exists: torch's antialiased bicubic is a different filter.
    x = torch.rand(1, 3, 32, 32, dtype=torch.float64)
    ours = imresize(x, 0.25)
    theirs = torch.nn.functional.interpolate(x, scale_factor=0.25, mode="bicubic", antialias=True)
    assert (ours - theirs).abs().max() > 1e-3


def test_imresize_array_is_imresize_on_hwc_arrays() -> None:
    image = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    out = imresize_array(image, 1 / 4)
    assert out.dtype == np.uint8 and out.shape == (3, 4, 3)
    expected = imresize(torch.from_numpy(image).permute(2, 0, 1), 1 / 4).permute(1, 2, 0)
    np.testing.assert_array_equal(out, expected.numpy())


def test_imresize_array_accepts_read_only_arrays_silently() -> None:
    # Decoded images can be read-only arrays; torch warns (once per process) when it wraps
    # one. This one is planar in memory, so its CHW view needs no copy to be contiguous.
    planar = np.arange(3 * 8 * 8, dtype=np.uint8).reshape(3, 8, 8)
    planar.flags.writeable = False
    image = planar.transpose(1, 2, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = imresize_array(image, 1 / 2)
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8


# Output sizes of a 13 x 10 image with unequal vertical and horizontal scales, both orders.
UNEQUAL = [(5, 7), (4, 30), (9, 3), (26, 5), (39, 20)]


@pytest.mark.parametrize(("out_h", "out_w"), UNEQUAL)
def test_unequal_scales_match_reference_with_the_smaller_scale_first(out_h: int, out_w: int):
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (13, 10), dtype=np.uint8)
    out = imresize(torch.from_numpy(image), size=(out_h, out_w))
    assert out.dtype == torch.uint8 and out.shape == (out_h, out_w)
    expected = reference_imresize_to(image, out_h, out_w, uint8=True)
    np.testing.assert_array_equal(out.numpy(), expected)
    # The order is visible in uint8 (each pass is rounded): the other one differs.
    other = reference_imresize_to(
        image, out_h, out_w, uint8=True, rows_first=not out_h / 13 <= out_w / 10
    )
    assert (other != expected).any()
    # In float the passes commute, and both match the reference.
    floats = rng.uniform(0, 255, (13, 10))
    np.testing.assert_allclose(
        imresize(torch.from_numpy(floats), size=(out_h, out_w)).numpy(),
        reference_imresize_to(floats, out_h, out_w, uint8=False),
        atol=1e-9,
    )


def test_uint8_rounds_halves_away_from_zero() -> None:
    # Upscaling by 2 has weights in 1/256ths, so some outputs are exactly k + 0.5: find a
    # column with one whose k is even (round half to even would give k, MATLAB gives k + 1).
    rng = np.random.default_rng(0)
    basis = np.array([reference_resize_1d(list(np.eye(6)[i]), 2.0) for i in range(6)]).T
    for _ in range(10_000):
        column = rng.integers(0, 256, 6)
        exact = basis @ column
        ties = (exact % 1 == 0.5) & (np.floor(exact) % 2 == 0) & (exact > 0) & (exact < 255)
        if ties.any():
            break
    else:
        pytest.fail("no exact half found")
    image = column.astype(np.uint8)[:, None]  # (6, 1): the width pass copies the column
    out = imresize(torch.from_numpy(image), 2.0).numpy()
    np.testing.assert_array_equal(out[:, 0], np.clip(np.floor(exact + 0.5), 0, 255))
    assert (out[ties, 0] == exact[ties] + 0.5).all()


def test_a_scale_or_size_that_gives_no_image_is_refused() -> None:
    image = torch.rand(1, 3, 8, 8)
    for scale in (0, -2, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="scale must be a positive finite number"):
            imresize(image, scale)
    with pytest.raises(ValueError, match="size must be at least 1 x 1"):
        imresize(image, size=(0, 4))
