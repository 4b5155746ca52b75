"""MATLAB-compatible bicubic resizing, the convention behind published SR numbers.

Benchmark LR images are made with MATLAB's ``imresize(hr, 1/scale, 'bicubic')``, which
antialiases when downscaling. torch, kornia, OpenCV and Pillow all differ from it (no
antialiasing, other kernels or other boundary rules), enough to move PSNR by tenths of a
dB, so it is written out here. The algorithm is MATLAB's ``imresize.m``:

* cubic kernel with ``a = -0.5`` (Keys 1981);
* when downscaling by ``s < 1`` the kernel is stretched to width ``4 / s`` and scaled by
  ``s`` (antialiasing);
* output pixel ``x`` (1-based) samples input position ``u = x / s + 0.5 * (1 - 1 / s)``;
* borders are handled by symmetric padding (mirror including the edge pixel);
* each dimension is a separate pass, rows (height) first when both scales are equal,
  otherwise the dimension with the smaller scale first; uint8 images are rounded to uint8
  after each pass, as MATLAB keeps the intermediate image in the input's class.

Each pass is one matrix product with a dense ``(out, in)`` weight matrix, so batches and
any device work, and the result is differentiable.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch


def cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = x.abs()
    ax2, ax3 = ax**2, ax**3
    near = (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return near + far


@functools.lru_cache(maxsize=64)
def _device_matrix(
    in_length: int,
    out_length: int,
    scale: float,
    antialias: bool,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    # Cached per device: building the matrix and copying it to a GPU on every call would
    # cost two host-device synchronisations per training batch.
    return weight_matrix(in_length, out_length, scale, antialias=antialias, dtype=dtype).to(device)


def weight_matrix(
    in_length: int,
    out_length: int,
    scale: float,
    *,
    antialias: bool = True,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """The ``(out_length, in_length)`` matrix of one MATLAB bicubic pass."""
    kernel_width = 4.0
    stretch = scale < 1 and antialias
    if stretch:
        kernel_width /= scale
    x = torch.arange(1, out_length + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # input position (1-based) each output samples
    left = torch.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + torch.arange(taps, dtype=torch.float64)[None]  # (out, taps)
    distance = u[:, None] - indices
    weights = scale * cubic(scale * distance) if stretch else cubic(distance)
    weights = weights / weights.sum(1, keepdim=True)
    # Symmetric padding: index i (1-based) outside [1, n] is mirrored, edge included.
    mirror = torch.cat((torch.arange(in_length), torch.arange(in_length - 1, -1, -1)))
    source = mirror[(indices.long() - 1) % (2 * in_length)]
    matrix = torch.zeros(out_length, in_length, dtype=torch.float64)
    matrix.scatter_add_(1, source, weights)
    return matrix.to(dtype)


def imresize(
    image: torch.Tensor,
    scale: float | None = None,
    *,
    size: tuple[int, int] | None = None,
    antialias: bool = True,
    quantize: bool | None = None,
) -> torch.Tensor:
    """Resize ``(..., H, W)`` images like MATLAB's ``imresize(image, scale, 'bicubic')``.

    Give ``scale`` (output size ``ceil(H * scale)``, as MATLAB) or ``size=(h, w)``.
    ``uint8`` input is computed in float64, rounded to uint8 after each pass and returned
    as uint8. Float input (any range) stays float; ``quantize=True`` rounds float images
    in [0, 1] to the 8-bit grid after each pass, reproducing the uint8 pipeline on
    tensors that are already float.
    """
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale and size")
    if scale is not None and not 0 < scale < math.inf:
        raise ValueError(f"scale must be a positive finite number, got {scale}")
    if size is not None and min(size) < 1:
        raise ValueError(f"size must be at least 1 x 1, got {size}")
    height, width = image.shape[-2:]
    if size is None:
        out_h, out_w = math.ceil(height * scale), math.ceil(width * scale)
        scales = (scale, scale)
    else:
        out_h, out_w = size
        scales = (out_h / height, out_w / width)
    is_uint8 = image.dtype == torch.uint8
    if quantize is None:
        quantize = is_uint8
    work_dtype = torch.float64 if is_uint8 or image.dtype == torch.float64 else torch.float32
    levels = 1.0 if is_uint8 else 255.0
    x = image.to(work_dtype)

    def pass_rows(t: torch.Tensor) -> torch.Tensor:
        matrix = _device_matrix(height, out_h, scales[0], antialias, work_dtype, t.device)
        return matrix @ t  # (out_h, H) @ (..., H, W')

    def pass_cols(t: torch.Tensor) -> torch.Tensor:
        matrix = _device_matrix(width, out_w, scales[1], antialias, work_dtype, t.device)
        return t @ matrix.T  # (..., H', W) @ (W, out_w)

    def rounded(t: torch.Tensor) -> torch.Tensor:
        if not quantize:
            return t
        # MATLAB rounds half away from zero, then saturates to [0, 255].
        return (torch.floor(t * levels + 0.5).clamp(0, 255)) / levels

    # MATLAB resizes the dimension with the smaller scale first; rows on a tie.
    passes = (pass_rows, pass_cols) if scales[0] <= scales[1] else (pass_cols, pass_rows)
    for resize_pass in passes:
        x = rounded(resize_pass(x))
    if is_uint8:
        return x.to(torch.uint8)
    return x.to(image.dtype)


def benchmark_pair(hr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """The benchmark convention, ``(lr, hr)`` from an ``(H, W, C)`` uint8 HR image: the HR
    mod-cropped to the scale, the LR its MATLAB bicubic ``1 / scale`` rounded to uint8."""
    hr = mod_crop(hr, scale)
    return imresize_array(hr, 1 / scale), hr


def mod_crop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop height and width down to multiples of ``scale`` (the benchmark convention)."""
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]


def imresize_array(image: np.ndarray, scale: float) -> np.ndarray:
    """``imresize`` of an ``(H, W, C)`` array (uint8 stays uint8, rounded like MATLAB)."""
    chw = torch.from_numpy(np.array(image.transpose(2, 0, 1), order="C"))  # a writable copy
    return imresize(chw, scale).numpy().transpose(1, 2, 0)
