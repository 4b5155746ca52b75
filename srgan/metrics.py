"""PSNR, SSIM, LPIPS and DISTS the way published SR tables (and the metrics' authors) compute them.

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

The perceptual distances ``LPIPS`` (v0.1; AlexNet, or VGG16 with ``net="vgg"``) and
``DISTS`` (VGG16) have no border or channel convention of their own in SR tables; here they
are computed as their reference code does: on the full RGB image (no border crop; gray
images as three equal channels), 8-bit quantised like PSNR, LPIPS on inputs mapped to
[-1, 1], DISTS on [0, 1]. Lower is better for both. Their ImageNet backbones come from
``srgan.assets`` (``python -m srgan.assets fetch``); nothing is downloaded at run time, and
``MissingWeightsError`` says how to get what is missing.

Inputs are ``(B, C, H, W)`` float tensors in [0, 1]; outputs are ``(B,)`` float64.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.functional.image import peak_signal_noise_ratio

from srgan.assets import backbone_state, dists_weights, pretrained_features

# MATLAB rgb2ycbcr's luma row, for RGB in [0, 1] and Y in [16, 235].
Y_WEIGHTS = (65.481, 128.553, 24.966)

# LPIPS network names -> the torchvision backbones they use.
LPIPS_BACKBONES = {"alex": "alexnet", "vgg": "vgg16"}
# ImageNet normalisation of torchvision's backbones (DISTS applies it itself).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
    for name, x in (("sr", sr), ("hr", hr)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"{name}: need a (B, C, H, W) torch tensor of floats in [0, 1], got "
                f"{type(x).__name__} (an (H, W, C) uint8 array a: "
                "torch.from_numpy(a).permute(2, 0, 1)[None] / 255)"
            )
        if not x.is_floating_point():
            raise ValueError(
                f"{name}: need float pixels in [0, 1], got {x.dtype}: divide 8-bit images by 255"
            )
        if x.numel() and bool(torch.isnan(x.detach()).any()):
            raise ValueError(f"{name}: holds NaN pixels, which no score can be made of")
        if x.numel() and float(x.detach().max()) > 1.5:
            raise ValueError(
                f"{name}: pixels are taken in [0, 1], and these reach "
                f"{float(x.detach().max()):g}: divide 8-bit images by 255"
            )
    if sr.shape != hr.shape or sr.dim() != 4:
        raise ValueError(
            f"need two (B, C, H, W) tensors of one shape, got {tuple(sr.shape)} and {tuple(hr.shape)}"
        )
    if sr.shape[1] not in (1, 3):
        raise ValueError(
            f"need gray (1 channel) or RGB (3) images, got {sr.shape[1]} channels: score the "
            "colour alone (x[:, :3] of RGBA)"
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


def _perceptual_input(images: torch.Tensor, crop_border: int, device: torch.device) -> torch.Tensor:
    """8-bit-quantised float32 RGB in [0, 1] on ``device``; gray repeated to three channels."""
    x = crop(quantize(images) / 255.0, crop_border).to(device, torch.float32)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


# The smallest side each LPIPS backbone's pooling takes.
LPIPS_MIN_SIDE = {"alex": 31, "vgg": 16}


class LPIPS(nn.Module):
    """Learned perceptual distance (Zhang et al. 2018), version 0.1; lower is better.

    ``net="alex"`` (AlexNet, the usual LPIPS) or ``"vgg"`` (VGG16). Computed by the
    ``lpips`` package: its own linear calibration layers, and the ImageNet backbone from
    ``srgan.assets`` (srgan's cache or torchvision's file; ``MissingWeightsError`` says how
    to fetch it), never downloaded. Inputs are mapped to [-1, 1] as the reference code
    expects.
    """

    def __init__(self, net: Literal["alex", "vgg"] = "alex") -> None:
        super().__init__()
        if net not in LPIPS_BACKBONES:
            raise ValueError(f"unknown LPIPS network {net!r}: use alex or vgg")
        self.net = net
        state = backbone_state(LPIPS_BACKBONES[net], what=f"LPIPS ({net})")
        import lpips

        with warnings.catch_warnings():
            # lpips builds torchvision's network with the deprecated ``pretrained=False``.
            warnings.simplefilter("ignore", UserWarning)
            # pnet_rand: a randomly initialised backbone, so lpips downloads nothing; its
            # own linear layers (pretrained=True) load from the package.
            self.model = lpips.LPIPS(
                net=net, version="0.1", pretrained=True, pnet_rand=True, verbose=False
            )
        # lpips' ``slice<k>.<i>.*`` keys are torchvision's ``features.<i>.*``.
        self.model.net.load_state_dict(
            {key: state["features." + key.split(".", 1)[1]] for key in self.model.net.state_dict()}
        )
        self.model.eval().requires_grad_(False)
        self.eval()  # a metric, not a network to train

    @torch.inference_mode()
    def forward(self, sr: torch.Tensor, hr: torch.Tensor, *, crop_border: int = 0) -> torch.Tensor:
        """``(B,)`` float64 distances of 8-bit RGB images (gray: three equal channels)."""
        _check(sr, hr)
        device = next(self.model.parameters()).device
        a, b = (_perceptual_input(x, crop_border, device) for x in (sr, hr))
        if min(a.shape[-2:]) < (least := LPIPS_MIN_SIDE[self.net]):
            raise ValueError(
                f"LPIPS ({self.net}) needs images of at least {least} pixels a side (after "
                f"the border crop), got {a.shape[-2]} x {a.shape[-1]}"
            )
        return self.model(a * 2 - 1, b * 2 - 1).flatten(1).mean(1).to("cpu", torch.float64)


class L2Pooling(nn.Module):
    """DISTS's anti-aliased downsampling: ``sqrt(hanning_3x3 * x^2 + 1e-12)``, stride 2.

    In place of VGG's max pooling; the filter is ``np.hanning(5)[1:-1]``'s outer product,
    normalised, with padding 1, exactly as the reference code.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        taps = torch.tensor([0.5, 1.0, 0.5])
        window = taps[:, None] * taps[None, :]
        window = window / window.sum()
        self.register_buffer("filter", window.expand(channels, 1, 3, 3).contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(x**2, self.filter, stride=2, padding=1, groups=x.shape[1])
        return (out + 1e-12).sqrt()


class DISTS(nn.Module):
    """Deep Image Structure and Texture Similarity (Ding et al. 2020); lower is better.

    The reference implementation (PyPI ``DISTS_pytorch`` 0.1), written out because it and
    torchmetrics' copy build VGG16 with ``pretrained=True`` (a download). VGG16's five
    ReLU stages with L2 pooling in place of max pooling; per stage and channel a texture
    term (means) and a structure term (covariance), weighted by the learnt alpha / beta
    (from ``srgan.assets``). Inputs are RGB in [0, 1].
    """

    # torchvision VGG16 ``features`` indices ending each stage (relu1_2 ... relu5_3); the
    # max pooling before stages 2-5 (indices 4, 9, 16, 23) becomes L2 pooling.
    STAGE_ENDS = (4, 9, 16, 23, 30)
    CHANNELS = (3, 64, 128, 256, 512, 512)

    def __init__(self) -> None:
        super().__init__()
        weights = dists_weights()
        features = pretrained_features("vgg16", what="DISTS")
        stages, start = [], 0
        for end, previous in zip(self.STAGE_ENDS, self.CHANNELS):
            layers = list(features[start:end])
            if start:  # the max pooling that opens stages 2-5, on the previous stage's output
                layers[0] = L2Pooling(previous)
            stages.append(nn.Sequential(*layers))
            start = end
        self.stages = nn.ModuleList(stages)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.register_buffer("alpha", weights["alpha"].clone())
        self.register_buffer("beta", weights["beta"].clone())
        self.eval().requires_grad_(False)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The image itself, then the five stages' outputs."""
        out = [x]
        h = (x - self.mean) / self.std
        for stage in self.stages:
            h = stage(h)
            out.append(h)
        return out

    def distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``(B,)`` DISTS of float RGB batches in [0, 1] (differentiable)."""
        c1 = c2 = 1e-6
        total = self.alpha.sum() + self.beta.sum()
        alphas = torch.split(self.alpha / total, self.CHANNELS, dim=1)
        betas = torch.split(self.beta / total, self.CHANNELS, dim=1)
        texture = structure = 0.0
        for fx, fy, alpha, beta in zip(self.features(x), self.features(y), alphas, betas):
            mx, my = fx.mean((2, 3), keepdim=True), fy.mean((2, 3), keepdim=True)
            s1 = (2 * mx * my + c1) / (mx**2 + my**2 + c1)
            vx = ((fx - mx) ** 2).mean((2, 3), keepdim=True)
            vy = ((fy - my) ** 2).mean((2, 3), keepdim=True)
            cov = (fx * fy).mean((2, 3), keepdim=True) - mx * my
            s2 = (2 * cov + c2) / (vx + vy + c2)
            texture = texture + (alpha * s1).sum(1, keepdim=True)
            structure = structure + (beta * s2).sum(1, keepdim=True)
        return 1 - (texture + structure).flatten()

    @torch.inference_mode()
    def forward(self, sr: torch.Tensor, hr: torch.Tensor, *, crop_border: int = 0) -> torch.Tensor:
        """``(B,)`` float64 DISTS of 8-bit RGB images (gray: three equal channels)."""
        _check(sr, hr)
        device = self.alpha.device
        a, b = (_perceptual_input(x, crop_border, device) for x in (sr, hr))
        # Not below 0 (an image against itself gives -1e-7 in float32).
        return self.distance(a, b).clamp_min(0).to("cpu", torch.float64)
