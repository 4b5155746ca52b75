"""PSNR, SSIM and LPIPS the way published SR tables compute them.

The convention (Set5/Set14 tables since SRCNN, and BasicSR's ``calculate_psnr`` /
``calculate_ssim`` with ``test_y_channel``):

* images are quantised to 8 bits first (``x * 255`` rounded half away from zero, as
  MATLAB's ``im2uint8``), then computed in float64 on the [0, 255] scale;
* colour images are scored on the Y channel of YCbCr, ITU-R BT.601 as MATLAB's
  ``rgb2ycbcr``: ``Y = 16 + (65.481 R + 128.553 G + 24.966 B)`` with RGB in [0, 1]
  (``y_channel=False`` scores all RGB channels instead);
* single-channel images (Set14's ``bridge``) are scored on their own gray values, with no
  ``rgb2ycbcr``, as the MATLAB scripts behind the published tables do;
* ``crop_border`` pixels (the scale, by convention; 0 for none) are removed from every side;
* SSIM uses Wang et al.'s 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, over
  the valid region only (no padding), averaged over the map (and over channels).

``detail_ratio`` (high-frequency energy of SR relative to HR) is no published-table
metric: it tells smooth from sharpened output where no perceptual metric is at hand.

LPIPS (``LPIPS``: AlexNet, version 0.1) needs the ImageNet AlexNet backbone, which the
``lpips`` package downloads on first use. Here nothing downloads: the backbone is read from
the torch hub cache or a given file, and ``MissingWeightsError`` says how to provide it.

Inputs are ``(B, C, H, W)`` float tensors in [0, 1]; outputs are ``(B,)`` float64.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.functional.image import peak_signal_noise_ratio

# MATLAB rgb2ycbcr's luma row, for RGB in [0, 1] and Y in [16, 235].
Y_WEIGHTS = (65.481, 128.553, 24.966)

# torchvision's ImageNet AlexNet, the LPIPS v0.1 'alex' backbone, as torch.hub caches it.
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_URL = f"https://download.pytorch.org/models/{ALEXNET_FILE}"


class MissingWeightsError(FileNotFoundError):
    """A metric's pretrained weights are not on this machine (nothing is downloaded)."""


def rgb_to_y(images: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB on [0, 255] -> ``(B, 1, H, W)`` BT.601 luma on [16, 235]."""
    weights = images.new_tensor(Y_WEIGHTS).view(1, 3, 1, 1)
    return 16.0 + (images * weights).sum(1, keepdim=True) / 255.0


def quantize(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] images -> float64 on the 8-bit grid [0, 255], rounding half away from zero."""
    return torch.floor(images.detach().to(torch.float64).clamp(0, 1) * 255.0 + 0.5)


def crop(images: torch.Tensor, border: int) -> torch.Tensor:
    """Remove ``border`` pixels from every side of ``(..., H, W)`` images."""
    if border < 0:
        raise ValueError(f"crop_border must be >= 0, got {border}")
    if not border:
        return images
    if min(images.shape[-2:]) <= 2 * border:
        raise ValueError(f"image {tuple(images.shape[-2:])} too small to crop {border} px")
    return images[..., border:-border, border:-border]


def _prepare(images: torch.Tensor, crop_border: int, y_channel: bool) -> torch.Tensor:
    x = quantize(images)
    if y_channel and x.shape[1] == 3:
        x = rgb_to_y(x)
    return crop(x, crop_border)


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
    # torchmetrics matches the convention once given 8-bit float64 images and data_range 255.
    return peak_signal_noise_ratio(a, b, data_range=255.0, reduction="none", dim=(1, 2, 3))


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
    (reflection) before filtering and keeps the border pixels' SSIM, while Wang et al.'s
    ``ssim_index.m`` behind the published tables filters the valid region only
    (``filter2(..., 'valid')``); the two differ in the third decimal on Set5/Set14.
    """
    _check(sr, hr)
    a, b = _prepare(sr, crop_border, y_channel), _prepare(hr, crop_border, y_channel)
    if min(a.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs at least 11x11 pixels after cropping, got {a.shape[-2:]}")
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


# The 4-neighbour Laplacian: what is left of an image after its smooth part.
LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


def detail_ratio(
    sr: torch.Tensor, hr: torch.Tensor, *, crop_border: int = 0, y_channel: bool = True
) -> torch.Tensor:
    """How much fine detail SR has next to HR, per image: the mean absolute Laplacian of SR
    over that of HR (same quantisation, channel and border as ``psnr``).

    1 means as much high-frequency energy as the original; below 1 is smoother (bicubic,
    PSNR-oriented models), above 1 is more (over-sharpening, invented texture, noise). It
    says how much detail there is, not whether it is right: read it beside PSNR and LPIPS,
    e.g. to tell a GAN's higher PSNR from weaker adversarial pressure.
    """
    _check(sr, hr)
    a, b = _prepare(sr, crop_border, y_channel), _prepare(hr, crop_border, y_channel)
    channels = a.shape[1]
    kernel = a.new_tensor(LAPLACIAN).view(1, 1, 3, 3).expand(channels, 1, 3, 3)

    def energy(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, kernel, groups=channels).abs().flatten(1).mean(1)

    return energy(a) / energy(b).clamp_min(1e-12)


def _home_relative(path: Path) -> str:
    """``path`` with the home folder written as ``~`` (reports are shared; homes differ)."""
    try:
        return str(Path("~") / path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def alexnet_weights_path() -> Path:
    """Where torch.hub caches the AlexNet backbone (``torch.hub.get_dir()/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE


class LPIPS(nn.Module):
    """Learned perceptual distance (Zhang et al. 2018), AlexNet, version 0.1; lower is better.

    The linear calibration layers ship inside the ``lpips`` package; the AlexNet backbone
    is read from ``weights`` or the torch hub cache, never downloaded. Scored on RGB (a
    single-channel image is repeated to three channels), on the same 8-bit grid and border
    crop as PSNR and SSIM.
    """

    def __init__(self, weights: str | Path | None = None) -> None:
        super().__init__()
        path = Path(weights).expanduser() if weights is not None else alexnet_weights_path()
        if not path.is_file():
            raise MissingWeightsError(
                f"LPIPS: not measured (missing {_home_relative(path)}; download {ALEXNET_URL} "
                f"and put it in {_home_relative(alexnet_weights_path().parent)}, or pass its "
                "path with --lpips-weights)"
            )
        import lpips

        with warnings.catch_warnings():
            # lpips builds torchvision's alexnet with the deprecated ``pretrained=False``.
            warnings.simplefilter("ignore", UserWarning)
            # pnet_rand: a randomly initialised backbone, so lpips downloads nothing; its
            # own linear layers (pretrained=True) load from the package.
            self.model = lpips.LPIPS(
                net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False
            )
        self.model.net.load_state_dict(self._backbone_state(path))
        self.model.eval().requires_grad_(False)

    def _backbone_state(self, path: Path) -> dict[str, torch.Tensor]:
        """torchvision's ``features.<i>.*`` keys -> lpips' ``slice<k>.<i>.*`` keys."""
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
        mapped = {}
        for key in self.model.net.state_dict():
            source = "features." + key.split(".", 1)[1]
            if source not in state:
                raise ValueError(f"{path} is not torchvision's AlexNet: no {source!r} in it")
            mapped[key] = state[source]
        return mapped

    @torch.inference_mode()
    def forward(self, sr: torch.Tensor, hr: torch.Tensor, *, crop_border: int = 0) -> torch.Tensor:
        _check(sr, hr)
        device = next(self.model.parameters()).device
        a, b = (crop(quantize(x) / 255.0, crop_border).float().to(device) for x in (sr, hr))
        if a.shape[1] == 1:
            a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
        return self.model(a, b, normalize=True).flatten(1).mean(1).to("cpu", torch.float64)
