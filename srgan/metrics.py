"""PSNR and SSIM the way published SR tables compute them.

The convention (Set5/Set14 tables since SRCNN, and BasicSR's ``calculate_psnr`` /
``calculate_ssim`` with ``test_y_channel``):

* images are quantised to 8 bits first (``round(x * 255)``), then computed in float64 on
  the [0, 255] scale;
* colour images are scored on the Y channel of YCbCr, ITU-R BT.601 as MATLAB's
  ``rgb2ycbcr``: ``Y = 16 + (65.481 R + 128.553 G + 24.966 B)`` with RGB in [0, 1];
  single-channel images are scored on their own gray values;
* ``crop_border`` pixels (the scale, by convention) are removed from every side;
* SSIM uses Wang et al.'s 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, over
  the valid region only (no padding), averaged over the map.

Inputs are ``(B, C, H, W)`` float tensors in [0, 1]; outputs are ``(B,)`` float64.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

# MATLAB rgb2ycbcr's luma row, for RGB in [0, 1] and Y in [16, 235].
Y_WEIGHTS = (65.481, 128.553, 24.966)


def rgb_to_y(images: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB on [0, 255] -> ``(B, 1, H, W)`` BT.601 luma on [16, 235]."""
    weights = images.new_tensor(Y_WEIGHTS).view(1, 3, 1, 1)
    return 16.0 + (images * weights).sum(1, keepdim=True) / 255.0


def _prepare(images: torch.Tensor, crop_border: int, y_channel: bool) -> torch.Tensor:
    x = torch.round(images.detach().to(torch.float64).clamp(0, 1) * 255.0)
    if y_channel and x.shape[1] == 3:
        x = rgb_to_y(x)
    if crop_border:
        x = x[..., crop_border:-crop_border, crop_border:-crop_border]
    return x


def _check(sr: torch.Tensor, hr: torch.Tensor) -> None:
    if sr.shape != hr.shape or sr.dim() != 4:
        raise ValueError(
            f"need two (B, C, H, W) tensors of one shape, got {tuple(sr.shape)} and {tuple(hr.shape)}"
        )


def psnr(
    sr: torch.Tensor, hr: torch.Tensor, *, crop_border: int = 0, y_channel: bool = True
) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image; ``inf`` for identical images."""
    _check(sr, hr)
    a, b = _prepare(sr, crop_border, y_channel), _prepare(hr, crop_border, y_channel)
    mse = ((a - b) ** 2).flatten(1).mean(1)
    return 10.0 * torch.log10(255.0**2 / mse)


def _gaussian_window(
    size: int = 11, sigma: float = 1.5, *, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    coords = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]  # (1, 1, size, size)


def ssim(
    sr: torch.Tensor, hr: torch.Tensor, *, crop_border: int = 0, y_channel: bool = True
) -> torch.Tensor:
    """Structural similarity per image (mean over channels of the mean SSIM map).

    Written out rather than taken from torchmetrics: torchmetrics pads the image
    (reflection) before filtering, while the published tables filter the valid region
    only; the two differ in the third decimal on Set5/Set14.
    """
    _check(sr, hr)
    a, b = _prepare(sr, crop_border, y_channel), _prepare(hr, crop_border, y_channel)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    channels = a.shape[1]
    window = _gaussian_window(dtype=a.dtype, device=a.device).expand(channels, 1, 11, 11)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=channels)  # valid region only

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return ssim_map.flatten(1).mean(1)
