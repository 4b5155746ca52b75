"""Degradations: how an LR image is made from an HR one, for training and for benchmarks.

Every LR here is ``(B, C, H / scale, W / scale)`` float in [0, 1] on the 8-bit grid (a real
LR image is an 8-bit file), made from an HR batch ``(B, C, H, W)`` float in [0, 1] (C = 3,
or 1 for gray images) on any device:

* ``Bicubic``: MATLAB-compatible bicubic (``srgan.resize``), the benchmark convention and
  ``SRDataModule``'s default.
* ``RealisticDegradation``: Real-ESRGAN's second-order model (Wang et al. 2021,
  "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data") for
  models meant for real photos: blur -> resize -> noise -> JPEG (the ``first`` ``Order``),
  blur -> resize -> noise (the ``second``), then the second order's JPEG and the final
  resize to the LR size with a sinc (ringing) filter, in random order. Kernels, noise and
  JPEG qualities are drawn per image, the intermediate resizes per batch (they set the
  batch's size). The defaults are Real-ESRGAN's ``train_realesrgan_x4plus`` options.
* ``ClassicDegradation``: the classical first-order chain (blur, MATLAB bicubic, noise,
  JPEG) with its parameters drawn per image from ranges.
* ``Mixture``: one of several degradations per image, drawn with given weights.
* ``SEVERITIES``: fixed chains (blur, then MATLAB bicubic, noise, JPEG) at named severities
  (``light``, ``medium``, ``heavy``) and ``degraded_pair``, the LR the quality benchmark and
  validation score a profile with, seeded by the image's name.

Randomness comes from a ``torch.Generator`` when one is given (the same seed gives the same
LR, on the same device), else from torch's global generator. kornia does the filtering,
the Gaussian blurs and the colour conversion. JPEG is a real codec round trip through
Pillow (libjpeg, standard tables, 4:2:0 chroma), so the blocks and ringing are the ones
photos carry; on a GPU that moves the small LR batch to the host and back once per JPEG.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from srgan.resize import benchmark_pair, imresize, mod_crop

# Real-ESRGAN's blur kernel families, in the order of ``Order.kernel_probs``: Gaussian,
# generalized Gaussian (exp(-q^beta / 2): flatter top or heavier tails) and plateau
# (1 / (1 + q^beta)), each isotropic or anisotropic (two sigmas, rotated).
KERNELS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
ResizeMode = Literal["area", "bilinear", "bicubic"]
RESIZE_MODES: tuple[ResizeMode, ...] = ("area", "bilinear", "bicubic")
MAX_KERNEL = 21  # Real-ESRGAN's largest kernel; smaller ones are zero-padded to it


# -- random draws (on the generator's device, then moved) ------------------------------------
def _where(generator: torch.Generator | None, device: torch.device) -> torch.device:
    return generator.device if generator is not None else device


def _uniform(
    bounds: Sequence[float], n: int, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    low, high = bounds
    u = torch.rand(n, generator=generator, device=_where(generator, device))
    return (low + (high - low) * u).to(device)


def _choice(
    probs: Sequence[float], n: int, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    weights = torch.tensor(probs, dtype=torch.float32, device=_where(generator, device))
    return torch.multinomial(weights, n, replacement=True, generator=generator).to(device)


def check_kernel_sizes(name: str, bounds: Sequence[int]) -> None:
    """Kernel sizes are odd (a centre pixel) and at most ``MAX_KERNEL``: ``(low, high)``,
    both odd, ``1 <= low <= high <= MAX_KERNEL``; else ``ValueError``."""
    low, high = bounds
    if not (1 <= low <= high <= MAX_KERNEL and low % 2 and high % 2):
        raise ValueError(
            f"{name} must be odd sizes (low, high) with 1 <= low <= high <= {MAX_KERNEL}, "
            f"got {tuple(bounds)}"
        )


def _odd_sizes(
    bounds: Sequence[int], n: int, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """Odd kernel sizes drawn uniformly from ``bounds`` (inclusive), as Real-ESRGAN's."""
    low, high = bounds[0] // 2, bounds[1] // 2
    half = torch.randint(low, high + 1, (n,), generator=generator, device=_where(generator, device))
    return (2 * half + 1).to(device)


# -- kernels ---------------------------------------------------------------------------------
# kornia makes axis-aligned Gaussians only; the rotated, generalized, plateau and sinc
# kernels of Real-ESRGAN are written out here, batched (one kernel per image).
def _grid(size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    r = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    return x, y


def _support(sizes: torch.Tensor, grid: int) -> torch.Tensor:
    """``(B, grid, grid)`` masks of each kernel's square support (its odd size, centred)."""
    x, y = _grid(grid, sizes.device)
    radius = ((sizes - 1) / 2)[:, None, None]
    return (x.abs() <= radius) & (y.abs() <= radius)


def _normalized(kernels: torch.Tensor) -> torch.Tensor:
    return kernels / kernels.sum((-2, -1), keepdim=True)


def blur_kernels(
    *,
    sigma_x: torch.Tensor,
    sigma_y: torch.Tensor,
    angle: torch.Tensor,
    beta: torch.Tensor,
    shape: torch.Tensor,
    sizes: torch.Tensor,
    grid: int = MAX_KERNEL,
) -> torch.Tensor:
    """``(B, grid, grid)`` kernels summing to 1, one per image.

    ``q = x^T Sigma^-1 x`` with ``Sigma = R(angle) diag(sigma_x^2, sigma_y^2) R(angle)^T``;
    ``shape`` 0: Gaussian ``exp(-q / 2)``, 1: generalized ``exp(-q^beta / 2)``, 2: plateau
    ``1 / (1 + q^beta)``. Each is cut to its odd ``sizes`` (zero outside, centred).
    """
    x, y = _grid(grid, sigma_x.device)
    cos, sin = angle.cos()[:, None, None], angle.sin()[:, None, None]
    along = (cos * x + sin * y) / sigma_x[:, None, None]  # coordinates on the rotated axes
    across = (-sin * x + cos * y) / sigma_y[:, None, None]
    q = along**2 + across**2
    q_beta = q ** beta[:, None, None]
    shape = shape[:, None, None]
    kernels = torch.where(
        shape == 0,
        torch.exp(-0.5 * q),
        torch.where(shape == 1, torch.exp(-0.5 * q_beta), 1 / (1 + q_beta)),
    )
    return _normalized(kernels * _support(sizes, grid))


def sinc_kernels(cutoff: torch.Tensor, sizes: torch.Tensor, grid: int = MAX_KERNEL) -> torch.Tensor:
    """``(B, grid, grid)`` circular low-pass (2-D sinc) kernels with angular cutoff
    ``cutoff`` (radians per pixel, at most pi), summing to 1: the ringing and overshoot
    of sharpened or resampled photos (Real-ESRGAN's ``circular_lowpass_kernel``)."""
    x, y = _grid(grid, cutoff.device)
    radius = torch.sqrt(x**2 + y**2)[None]
    w = cutoff[:, None, None]
    safe = radius.clamp_min(1e-12)
    kernels = w * torch.special.bessel_j1(w * safe) / (2 * math.pi * safe)
    kernels = torch.where(radius == 0, w**2 / (4 * math.pi), kernels)  # the limit at 0
    return _normalized(kernels * _support(sizes, grid))


def _identity(n: int, grid: int, device: torch.device) -> torch.Tensor:
    kernels = torch.zeros(n, grid, grid, device=device)
    kernels[:, grid // 2, grid // 2] = 1
    return kernels


def _border(image: torch.Tensor, kernel_size: int) -> str:
    # Reflect padding (Real-ESRGAN's and OpenCV's) needs the image larger than the pad; the
    # tiny intermediate images of a strong downscale use the nearest edge pixel instead.
    return "reflect" if kernel_size // 2 < min(image.shape[-2:]) else "replicate"


def filter_images(images: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Each image of ``(B, C, H, W)`` convolved with its kernel of ``(B, K, K)``."""
    size = kernels.shape[-1]
    # Zero rings around every kernel cost time and change nothing: cut them off. A ring is
    # zero when both its rows and its columns are (a kernel thin along y, long along x,
    # has zero rows and weighted columns far out: the rows alone would cut its ends off).
    nonzero = kernels.abs().sum(0) > 0
    used = torch.nonzero(nonzero.any(1) | nonzero.any(0)).flatten()
    half = int(max(size // 2 - int(used.min()), int(used.max()) - size // 2)) if len(used) else 0
    kernels = kernels[
        :, size // 2 - half : size // 2 + half + 1, size // 2 - half : size // 2 + half + 1
    ]
    import kornia  # here, not at the top: 1-2 s to import, needed by no clean-bicubic run

    # Contiguous: kornia 0.7 views the (unpadded, for a 1x1 kernel) input.
    images = images.contiguous()
    return kornia.filters.filter2d(images, kernels, border_type=_border(images, 2 * half + 1))


def gaussian_blur(
    images: torch.Tensor, sigma: float, kernel_size: int | None = None
) -> torch.Tensor:
    """Isotropic Gaussian blur (kornia), ``kernel_size`` by default ``2 * ceil(3 sigma) + 1``."""
    size = kernel_size or 2 * math.ceil(3 * sigma) + 1
    import kornia

    return kornia.filters.gaussian_blur2d(
        images, (size, size), (sigma, sigma), border_type=_border(images, size)
    )


# -- resize, noise, JPEG, quantisation ---------------------------------------------------------
def quantize(images: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] and round to the 8-bit grid, as writing an 8-bit file does."""
    return (images.clamp(0, 1) * 255).round() / 255


def resize(images: torch.Tensor, size: tuple[int, int], mode: ResizeMode) -> torch.Tensor:
    """``torch.nn.functional.interpolate`` without antialiasing, as Real-ESRGAN (its aliasing
    is one of the artefacts to learn)."""
    size = (max(1, int(size[0])), max(1, int(size[1])))
    if mode == "area":
        return F.interpolate(images, size=size, mode="area")
    return F.interpolate(images, size=size, mode=mode, align_corners=False)


def gaussian_noise(
    images: torch.Tensor,
    sigma: torch.Tensor,
    gray: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The noise field (not yet added): N(0, sigma^2) per pixel, ``sigma`` ``(B,)`` in [0, 1]
    units; where ``gray`` is true, one field shared by the channels (luminance noise)."""
    b, c, h, w = images.shape
    where = _where(generator, images.device)
    color = torch.randn((b, c, h, w), generator=generator, device=where).to(images.device)
    mono = torch.randn((b, 1, h, w), generator=generator, device=where).to(images.device)
    field = torch.where(gray[:, None, None, None], mono.expand_as(color), color)
    return field * sigma[:, None, None, None]


# Photon counts per unit of intensity behind the Poisson noise. Real-ESRGAN takes the next
# power of two above the number of distinct levels in the image: 256 for any 8-bit photo.
POISSON_LEVELS = 256


def poisson_noise(
    images: torch.Tensor,
    scale: torch.Tensor,
    gray: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Shot noise (not yet added): ``Poisson(256 x) / 256 - x``, times ``scale`` ``(B,)``;
    where ``gray`` is true, drawn on the luminance and shared by the channels."""
    where = _where(generator, images.device)
    x = images.clamp(0, 1)

    def shot(t: torch.Tensor) -> torch.Tensor:
        rates = (t * POISSON_LEVELS).to(where)
        return torch.poisson(rates, generator=generator).to(t.device) / POISSON_LEVELS - t

    field = torch.empty_like(x)
    # Poisson draws are slow on a CPU: each image gets only the field it uses.
    for mono in (False, True):
        index = torch.nonzero(gray == mono).flatten()
        if len(index) == 0:
            continue
        subset = x[index]
        if mono and x.shape[1] == 3:
            import kornia

            field[index] = shot(kornia.color.rgb_to_grayscale(subset)).expand_as(subset)
        else:
            field[index] = shot(subset)
    return field * scale[:, None, None, None]


def jpeg(images: torch.Tensor, quality: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Each image through Pillow's JPEG encoder and decoder at its own ``quality`` (1-95).

    A real codec round trip: the result is exactly what saving the 8-bit image as a JPEG
    with Pillow (``Image.save(..., quality=q)``, default 4:2:0 chroma subsampling) and
    reading it back gives. Gray images (C = 1) are coded as gray JPEGs.
    """
    qualities = [int(q) for q in torch.as_tensor(quality).round().tolist()]
    pixels = (images.detach().clamp(0, 1) * 255).round().to(torch.uint8)
    pixels = pixels.permute(0, 2, 3, 1).cpu().numpy()
    decoded = []
    for image, q in zip(pixels, qualities, strict=True):
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
            buffer, format="JPEG", quality=q
        )
        array = np.asarray(Image.open(buffer))
        decoded.append(array[..., None] if array.ndim == 2 else array)
    out = torch.from_numpy(np.stack(decoded)).permute(0, 3, 1, 2)
    return out.to(images.device, images.dtype) / 255


# -- the degradations ---------------------------------------------------------------------------
def check_hr(hr: torch.Tensor, scale: int) -> None:
    """``ValueError`` unless ``hr`` is a ``(B, C, H, W)`` float batch whose sides are
    multiples of ``scale`` (a whole number of at least 1) and, on the CPU, in [0, 1]."""
    if not isinstance(hr, torch.Tensor) or hr.dim() != 4:
        shape = tuple(hr.shape) if isinstance(hr, torch.Tensor) else type(hr).__name__
        raise ValueError(f"a degradation takes a (B, C, H, W) HR tensor, got {shape}")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a whole number of at least 1, got {scale!r}")
    if not hr.is_floating_point():
        raise ValueError(f"HR pixels are floats in [0, 1], got {hr.dtype}: divide by 255")
    height, width = hr.shape[-2:]
    if height % scale or width % scale:
        raise ValueError(
            f"HR sides ({height}, {width}) must be multiples of scale {scale}: crop them "
            "first (srgan.resize.mod_crop)"
        )
    # On the CPU only: on a GPU the check would wait for the device at every training batch
    # (whose HR, 8-bit / 255, cannot fail it).
    if hr.device.type == "cpu" and hr.numel() and float(hr.detach().max()) > 1.5:
        raise ValueError(
            f"HR pixels are taken in [0, 1], and these reach {float(hr.detach().max()):g}: "
            "divide by 255"
        )


class Degradation(nn.Module):
    """HR batch -> LR batch: ``degradation(hr, scale=4, generator=None)``.

    ``hr`` is ``(B, C, H, W)`` float in [0, 1] with ``H`` and ``W`` multiples of ``scale``;
    the LR is ``(B, C, H / scale, W / scale)`` float in [0, 1] on the 8-bit grid.
    """

    def forward(
        self, hr: torch.Tensor, *, scale: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        raise NotImplementedError


class Bicubic(Degradation):
    """MATLAB-compatible bicubic, rounded to 8 bits: the benchmark LR (deterministic)."""

    def forward(
        self, hr: torch.Tensor, *, scale: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        check_hr(hr, scale)
        with torch.autocast(hr.device.type, enabled=False):
            return imresize(hr.float(), 1 / scale, quantize=True)


class Interpolated(Degradation):
    """The HR resized to the LR size by ``mode`` without antialiasing, rounded to 8 bits:
    the LR of ``cv2.resize`` (``bicubic``: INTER_CUBIC, ``bilinear``: INTER_LINEAR,
    ``area``: INTER_AREA, a box average at whole scales), which quick scripts use to make
    LR where MATLAB's and Pillow's resizes filter first. Without the filter, detail finer
    than the LR grid folds into jagged edges (aliasing) that a model trained on MATLAB
    bicubic alone sharpens further (deterministic)."""

    def __init__(self, mode: ResizeMode = "bicubic") -> None:
        super().__init__()
        if mode not in ("area", "bilinear", "bicubic"):
            raise ValueError(f"mode must be area, bilinear or bicubic, got {mode!r}")
        self.mode = mode

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"

    def forward(
        self, hr: torch.Tensor, *, scale: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        check_hr(hr, scale)
        size = (hr.shape[-2] // scale, hr.shape[-1] // scale)
        with torch.autocast(hr.device.type, enabled=False):
            return quantize(resize(hr.float(), size, self.mode))


def low_high(name: str, pair: Any) -> tuple[float, float]:
    """``pair`` as ``(low, high)`` numbers; ``ValueError`` naming ``name`` for anything else
    (a single number, a string, three values)."""
    try:
        low, high = pair
        if isinstance(low, (bool, str)) or isinstance(high, (bool, str)):
            raise TypeError
        return float(low), float(high)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (low, high) pair of numbers, got {pair!r}") from None


@dataclass(frozen=True, kw_only=True)
class Order:
    """One order of Real-ESRGAN's model: blur -> resize -> noise -> JPEG, with each stage's
    probability and ranges. Ranges are ``(low, high)``, drawn uniformly.

    Args:
        blur_prob: probability that an image is blurred at all.
        kernel_probs: probabilities of the kernel families of ``KERNELS``, in that order.
        kernel_size: odd kernel sizes drawn from this range.
        blur_sigma: the Gaussian sigmas, in pixels of the image being blurred.
        generalized_beta, plateau_beta: shape exponents ``(low, high)``, as Real-ESRGAN
            draws them: half the draws in ``[low, 1]`` and half in ``[1, high]``
            (generalized: flat-topped above 1, heavy-tailed below), so 1 is always within
            reach, whatever the bounds.
        sinc_prob: probability that a sinc (ringing) kernel replaces the blur kernel.
        resize_probs: probabilities of resizing up, down, or keeping the size.
        resize_range: ``(low, high)``, as Real-ESRGAN draws it: a resize down takes a
            factor in ``[min(low, 1), 1]``, one up in ``[1, max(high, 1)]`` (and "keep" 1):
            the bounds are the extremes, not a band the factor stays in. The first
            order's is relative to the image, the second's to the LR size.
        resize_modes: interpolations drawn from (uniformly).
        gaussian_noise_prob: probability of Gaussian noise (else Poisson noise).
        noise_sigma: Gaussian noise sigma, in 8-bit levels (0-255).
        poisson_scale: multiplier of the Poisson noise.
        gray_noise_prob: probability that the noise is the same in every channel.
        jpeg_quality: JPEG quality range (Pillow's scale, 1-95).
    """

    blur_prob: float = 1.0
    kernel_probs: tuple[float, float, float, float, float, float] = (
        0.45,
        0.25,
        0.12,
        0.03,
        0.12,
        0.03,
    )
    kernel_size: tuple[int, int] = (7, 21)
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    generalized_beta: tuple[float, float] = (0.5, 4.0)
    plateau_beta: tuple[float, float] = (1.0, 2.0)
    sinc_prob: float = 0.1
    resize_probs: tuple[float, float, float] = (0.2, 0.7, 0.1)
    resize_range: tuple[float, float] = (0.15, 1.5)
    resize_modes: tuple[ResizeMode, ...] = RESIZE_MODES
    gaussian_noise_prob: float = 0.5
    noise_sigma: tuple[float, float] = (1.0, 30.0)
    poisson_scale: tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_quality: tuple[int, int] = (30, 95)

    def __post_init__(self) -> None:
        for name in ("blur_prob", "sinc_prob", "gaussian_noise_prob", "gray_noise_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a probability, got {getattr(self, name)}")
        if len(self.kernel_probs) != len(KERNELS):
            raise ValueError(f"kernel_probs needs one probability per family of {KERNELS}")
        for name in ("kernel_probs", "resize_probs"):
            probs = getattr(self, name)
            if min(probs) < 0 or not math.isclose(sum(probs), 1, abs_tol=1e-6):
                raise ValueError(f"{name} must be probabilities summing to 1, got {probs}")
        ranges = ("kernel_size", "blur_sigma", "generalized_beta", "plateau_beta")
        ranges += ("resize_range", "noise_sigma", "poisson_scale", "jpeg_quality")
        for name in ranges:
            low, high = low_high(name, getattr(self, name))
            if not 0 <= low <= high:
                raise ValueError(
                    f"{name} must be (low, high) with 0 <= low <= high, got {low, high}"
                )
        if self.blur_sigma[0] <= 0 or self.resize_range[0] <= 0:
            raise ValueError("blur_sigma and resize_range must be above 0")
        check_kernel_sizes("kernel_size", self.kernel_size)
        if not (1 <= self.jpeg_quality[0] and self.jpeg_quality[1] <= 95):
            raise ValueError(f"jpeg_quality must lie in [1, 95], got {self.jpeg_quality}")
        if not self.resize_modes or set(self.resize_modes) - set(RESIZE_MODES):
            raise ValueError(
                f"resize_modes must be some of {RESIZE_MODES}, got {self.resize_modes}"
            )


# Real-ESRGAN's second order: milder blur, a resize around the LR size, less noise.
SECOND_ORDER = Order(
    blur_prob=0.8,
    blur_sigma=(0.2, 1.5),
    resize_probs=(0.3, 0.4, 0.3),
    resize_range=(0.3, 1.2),
    noise_sigma=(1.0, 25.0),
    poisson_scale=(0.05, 2.5),
)


class RealisticDegradation(Degradation):
    """Real-ESRGAN's second-order degradation model, batched (the LR for real photos).

    ``first`` (blur -> resize -> noise -> JPEG) on the HR image, ``second`` (blur -> resize
    around the LR size -> noise), then, in random order, the second order's JPEG and the
    final resize to the LR size followed by a sinc filter (drawn with ``final_sinc_prob``,
    sizes ``final_kernel_size``, cutoff in [pi/3, pi]). Defaults: Real-ESRGAN x4plus.
    ``bicubic_prob`` (not in Real-ESRGAN, 0 by default) gives that fraction of the images
    today's clean MATLAB-bicubic LR instead, for a model that must stay good on clean LR.
    Blur and sinc kernels are drawn per image as in Real-ESRGAN (sinc cutoffs: [pi/3, pi]
    for kernels under 13 pixels, [pi/5, pi] above); so are noise and JPEG quality. Resize
    factors and modes are drawn per batch, whose images must keep one size.
    """

    def __init__(
        self,
        *,
        first: Order = Order(),
        second: Order = SECOND_ORDER,
        final_sinc_prob: float = 0.8,
        final_kernel_size: tuple[int, int] = (7, 21),
        final_resize_modes: tuple[ResizeMode, ...] = RESIZE_MODES,
        bicubic_prob: float = 0.0,
    ) -> None:
        super().__init__()
        for name, value in (("final_sinc_prob", final_sinc_prob), ("bicubic_prob", bicubic_prob)):
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be a probability, got {value}")
        check_kernel_sizes("final_kernel_size", final_kernel_size)
        unknown = [m for m in final_resize_modes if m not in RESIZE_MODES]
        if unknown or not final_resize_modes:
            raise ValueError(
                f"final_resize_modes must be some of {RESIZE_MODES}, got {final_resize_modes}"
            )
        # An Order, or its fields as a mapping (as a config file gives them).
        orders = {"first": first, "second": second}
        for name, order in orders.items():
            if isinstance(order, dict):
                orders[name] = Order(**order)
            elif not isinstance(order, Order):
                raise TypeError(f"{name} must be an Order (or a dict of its fields), got {order!r}")
        self.first, self.second = orders["first"], orders["second"]
        self.final_sinc_prob = final_sinc_prob
        self.final_kernel_size = final_kernel_size
        self.final_resize_modes = final_resize_modes
        self.bicubic_prob = bicubic_prob

    def extra_repr(self) -> str:
        return (
            f"first={self.first}, second={self.second}, "
            f"final_sinc_prob={self.final_sinc_prob}, bicubic_prob={self.bicubic_prob}"
        )

    def _kernels(self, order: Order, n: int, g: torch.Generator | None, device) -> torch.Tensor:
        sizes = _odd_sizes(order.kernel_size, n, g, device)
        family = _choice(order.kernel_probs, n, g, device)
        isotropic = family % 2 == 0
        sigma_x = _uniform(order.blur_sigma, n, g, device)
        sigma_y = torch.where(isotropic, sigma_x, _uniform(order.blur_sigma, n, g, device))
        angle = torch.where(isotropic, 0.0, _uniform((-math.pi, math.pi), n, g, device))
        below = _uniform((0, 1), n, g, device) < 0.5

        def beta(bounds: tuple[float, float]) -> torch.Tensor:
            low = _uniform((bounds[0], min(1.0, bounds[1])), n, g, device)
            high = _uniform((max(1.0, bounds[0]), bounds[1]), n, g, device)
            return torch.where(below, low, high)

        shape = family // 2  # 0 Gaussian, 1 generalized, 2 plateau
        betas = torch.where(
            shape == 1, beta(order.generalized_beta), beta(order.plateau_beta)
        ).where(shape > 0, torch.ones(n, device=device))
        kernels = blur_kernels(
            sigma_x=sigma_x, sigma_y=sigma_y, angle=angle, beta=betas, shape=shape, sizes=sizes
        )
        cutoff = torch.where(
            sizes < 13,
            _uniform((math.pi / 3, math.pi), n, g, device),
            _uniform((math.pi / 5, math.pi), n, g, device),
        )
        use_sinc = _uniform((0, 1), n, g, device) < order.sinc_prob
        kernels = torch.where(use_sinc[:, None, None], sinc_kernels(cutoff, sizes), kernels)
        blurred = _uniform((0, 1), n, g, device) < order.blur_prob
        return torch.where(blurred[:, None, None], kernels, _identity(n, MAX_KERNEL, device))

    def _resize_draw(self, order: Order, g: torch.Generator | None) -> tuple[float, ResizeMode]:
        cpu = torch.device("cpu")
        direction = int(_choice(order.resize_probs, 1, g, cpu).item())  # up, down, keep
        up = float(_uniform((1.0, max(1.0, order.resize_range[1])), 1, g, cpu).item())
        down = float(_uniform((min(1.0, order.resize_range[0]), 1.0), 1, g, cpu).item())
        mode = int(torch.randint(len(order.resize_modes), (1,), generator=g, device=_where(g, cpu)))
        return (up, down, 1.0)[direction], order.resize_modes[mode]

    def _noise(self, order: Order, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        n, device = x.shape[0], x.device
        gaussian = _uniform((0, 1), n, g, device) < order.gaussian_noise_prob
        gray = _uniform((0, 1), n, g, device) < order.gray_noise_prob
        sigma = _uniform(order.noise_sigma, n, g, device) / 255
        poisson_scale = _uniform(order.poisson_scale, n, g, device)
        noise = gaussian_noise(x, sigma, gray, g)
        poisson = torch.nonzero(~gaussian).flatten()
        if len(poisson):
            noise[poisson] = poisson_noise(x[poisson], poisson_scale[poisson], gray[poisson], g)
        return (x + noise).clamp(0, 1)

    def _jpeg(self, order: Order, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        low, high = order.jpeg_quality
        quality = _uniform((low - 0.5, high + 0.5), x.shape[0], g, torch.device("cpu"))
        return jpeg(x, quality.round().clamp(low, high))

    def forward(
        self, hr: torch.Tensor, *, scale: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        check_hr(hr, scale)
        g, device = generator, hr.device
        n, (height, width) = hr.shape[0], hr.shape[-2:]
        lr_size = (height // scale, width // scale)
        with torch.autocast(device.type, enabled=False):
            x = hr.float()
            # The first order: blur, resize (relative to the image), noise, JPEG.
            x = filter_images(x, self._kernels(self.first, n, g, device))
            factor, mode = self._resize_draw(self.first, g)
            x = resize(x, (height * factor, width * factor), mode)
            x = self._noise(self.first, x, g)
            x = self._jpeg(self.first, x, g)
            # The second order: blur, resize (relative to the LR size), noise.
            x = filter_images(x, self._kernels(self.second, n, g, device))
            factor, mode = self._resize_draw(self.second, g)
            x = resize(x, (lr_size[0] * factor, lr_size[1] * factor), mode)
            x = self._noise(self.second, x, g)
            # Then the second JPEG and the final resize + sinc filter, in random order.
            sizes = _odd_sizes(self.final_kernel_size, n, g, device)
            cutoff = _uniform((math.pi / 3, math.pi), n, g, device)
            use_sinc = _uniform((0, 1), n, g, device) < self.final_sinc_prob
            sinc = torch.where(
                use_sinc[:, None, None],
                sinc_kernels(cutoff, sizes),
                _identity(n, MAX_KERNEL, device),
            )
            where = _where(g, device)
            mode_index = int(
                torch.randint(len(self.final_resize_modes), (1,), generator=g, device=where)
            )
            mode = self.final_resize_modes[mode_index]
            jpeg_last = bool(_uniform((0, 1), 1, g, torch.device("cpu")).item() < 0.5)
            if jpeg_last:
                x = filter_images(resize(x, lr_size, mode), sinc)
                x = self._jpeg(self.second, x, g)
            else:
                x = self._jpeg(self.second, x, g)
                x = filter_images(resize(x, lr_size, mode), sinc)
            lr = quantize(x)
            if self.bicubic_prob > 0:
                clean = _uniform((0, 1), n, g, device) < self.bicubic_prob
                bicubic = imresize(hr.float(), 1 / scale, quantize=True)
                lr = torch.where(clean[:, None, None, None], bicubic, lr)
            return lr


class ClassicDegradation(Degradation):
    """The classical first-order model with ranges: an isotropic Gaussian blur of the HR
    image (sigma in HR pixels, drawn per image; skipped with probability ``1 - blur_prob``),
    MATLAB bicubic to the LR size, Gaussian noise (sigma in 8-bit levels, the same field in
    every channel with probability ``gray_noise_prob``) and a JPEG round trip, the image
    rounded to 8 bits after the resize, the noise and the JPEG (not after the blur, as in
    ``degrade_fixed``). It is the family of the benchmark's fixed chains
    (``SEVERITIES``): how most web photos were made smaller and saved, where
    ``RealisticDegradation`` covers rarer, rougher histories.

    With probability ``opencv_resize_prob`` an image is resized as ``cv2.resize`` does
    (``Interpolated``: no antialiasing, the mode drawn uniformly from
    ``opencv_resize_modes``) instead of by MATLAB's bicubic: photos made smaller by quick
    scripts, whose aliasing a model must not sharpen. At 0 (the default) nothing more is
    drawn, so the chain and its random draws are unchanged."""

    def __init__(
        self,
        *,
        blur_prob: float = 0.8,
        blur_sigma: tuple[float, float] = (0.2, 3.0),
        noise_sigma: tuple[float, float] = (0.0, 15.0),
        gray_noise_prob: float = 0.4,
        jpeg_quality: tuple[int, int] = (40, 95),
        opencv_resize_prob: float = 0.0,
        opencv_resize_modes: tuple[ResizeMode, ...] = ("bicubic", "bilinear", "area"),
    ) -> None:
        super().__init__()
        for name, value in (
            ("blur_prob", blur_prob),
            ("gray_noise_prob", gray_noise_prob),
            ("opencv_resize_prob", opencv_resize_prob),
        ):
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be a probability, got {value}")
        modes = tuple(opencv_resize_modes)
        if not modes or not set(modes) <= {"area", "bilinear", "bicubic"}:
            raise ValueError(
                "opencv_resize_modes must name one or more of area, bilinear and bicubic, "
                f"got {opencv_resize_modes!r}"
            )
        for name, pair in (
            ("blur_sigma", blur_sigma),
            ("noise_sigma", noise_sigma),
            ("jpeg_quality", jpeg_quality),
        ):
            low_high(name, pair)
        limit = (MAX_KERNEL - 1) / 6  # the widest blur whose 3-sigma kernel fits MAX_KERNEL
        if not 0 < blur_sigma[0] <= blur_sigma[1] <= limit:
            raise ValueError(
                f"blur_sigma must be (low, high) in (0, {limit:.2f}], got {blur_sigma}"
            )
        if not 0 <= noise_sigma[0] <= noise_sigma[1]:
            raise ValueError(
                f"noise_sigma must be (low, high) with 0 <= low <= high, got {noise_sigma}"
            )
        if not 1 <= jpeg_quality[0] <= jpeg_quality[1] <= 95:
            raise ValueError(f"jpeg_quality must be (low, high) in [1, 95], got {jpeg_quality}")
        self.blur_prob = blur_prob
        self.blur_sigma = blur_sigma
        self.noise_sigma = noise_sigma
        self.gray_noise_prob = gray_noise_prob
        self.jpeg_quality = jpeg_quality
        self.opencv_resize_prob = opencv_resize_prob
        self.opencv_resize_modes = modes

    def extra_repr(self) -> str:
        return (
            f"blur_prob={self.blur_prob}, blur_sigma={self.blur_sigma}, "
            f"noise_sigma={self.noise_sigma}, jpeg_quality={self.jpeg_quality}, "
            f"opencv_resize_prob={self.opencv_resize_prob}"
        )

    def _downscale(self, x: torch.Tensor, scale: int, g: torch.Generator | None) -> torch.Tensor:
        """MATLAB's bicubic, or for a share of the images ``cv2.resize``'s (8-bit)."""
        lr = imresize(x, 1 / scale, quantize=True)
        if self.opencv_resize_prob == 0:
            return lr
        n, device = x.shape[0], x.device
        opencv = _uniform((0, 1), n, g, device) < self.opencv_resize_prob
        modes = _choice([1.0] * len(self.opencv_resize_modes), n, g, device)
        for index, mode in enumerate(self.opencv_resize_modes):
            chosen = torch.nonzero(opencv & (modes == index)).flatten()
            if len(chosen):
                lr[chosen] = quantize(resize(x[chosen], lr.shape[-2:], mode))
        return lr

    def forward(
        self, hr: torch.Tensor, *, scale: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        check_hr(hr, scale)
        g, device, n = generator, hr.device, hr.shape[0]
        with torch.autocast(device.type, enabled=False):
            sigma = _uniform(self.blur_sigma, n, g, device)
            sizes = 2 * torch.ceil(3 * sigma).long() + 1
            zeros = torch.zeros(n, device=device)
            kernels = blur_kernels(
                sigma_x=sigma, sigma_y=sigma, angle=zeros, beta=zeros + 1, shape=zeros, sizes=sizes
            )
            blurred = _uniform((0, 1), n, g, device) < self.blur_prob
            kernels = torch.where(blurred[:, None, None], kernels, _identity(n, MAX_KERNEL, device))
            x = self._downscale(filter_images(hr.float(), kernels), scale, g)
            noise_sigma = _uniform(self.noise_sigma, n, g, device) / 255
            gray = _uniform((0, 1), n, g, device) < self.gray_noise_prob
            x = quantize(x + gaussian_noise(x, noise_sigma, gray, g))
            low, high = self.jpeg_quality
            quality = _uniform((low - 0.5, high + 0.5), n, g, torch.device("cpu"))
            return jpeg(x, quality.round().clamp(low, high))


class Mixture(Degradation):
    """Each image degraded by one of ``components``, drawn per image with probabilities
    ``weights`` (normalised), e.g. ``RealisticDegradation``, ``ClassicDegradation`` and
    ``Bicubic`` for a model that must handle rough, ordinary and clean LR alike."""

    def __init__(self, components: list[Degradation], weights: list[float]) -> None:
        super().__init__()
        if not components or len(weights) != len(components):
            raise ValueError(
                f"Mixture needs one weight per component, got {len(components)} components "
                f"and {len(weights)} weights"
            )
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"Mixture weights must be >= 0 with a positive sum, got {weights}")
        self.components = nn.ModuleList(components)
        self.weights = [w / sum(weights) for w in weights]

    def forward(
        self, hr: torch.Tensor, *, scale: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        check_hr(hr, scale)
        n, (height, width) = hr.shape[0], hr.shape[-2:]
        which = _choice(self.weights, n, generator, hr.device)
        lr = hr.new_empty(n, hr.shape[1], height // scale, width // scale)
        for index, component in enumerate(self.components):
            chosen = torch.nonzero(which == index).flatten()
            if len(chosen):
                lr[chosen] = component(hr[chosen], scale=scale, generator=generator).to(lr.dtype)
        return lr


# -- unsharp masking of the HR targets ------------------------------------------------------------
def usm_sharpen(
    images: torch.Tensor, *, weight: float = 0.5, radius: int = 50, threshold: float = 10
) -> torch.Tensor:
    """Real-ESRGAN's unsharp masking of the HR targets (``USMSharp``): ``x + weight (x -
    blur(x))`` where the detail exceeds ``threshold`` 8-bit levels, faded in by a blurred
    mask. The blur is OpenCV's Gaussian of side ``radius + 1`` (odd) with its default
    sigma for that side (8.0 for 51 px)."""
    size = radius + 1 if radius % 2 == 0 else radius
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8  # OpenCV's sigma for a kernel side, sigma=0
    residual = images - gaussian_blur(images, sigma, size)
    mask = (residual.abs() * 255 > threshold).to(images.dtype)
    soft_mask = gaussian_blur(mask, sigma, size)
    sharp = (images + weight * residual).clamp(0, 1)
    return soft_mask * sharp + (1 - soft_mask) * images


# -- the benchmark's fixed chains ------------------------------------------------------------------
@dataclass(frozen=True)
class Severity:
    """A fixed degradation chain, in this order: an isotropic Gaussian blur of the HR image
    (sigma in HR pixels), the benchmark's MATLAB bicubic to the LR size, Gaussian colour
    noise (sigma in 8-bit levels), and a JPEG round trip through Pillow at a quality; the
    image is rounded to 8 bits after the resize, the noise and the JPEG (the blurred HR is
    not rounded). Zero blur or noise skips that stage."""

    blur_sigma: float
    noise_sigma: float
    jpeg_quality: int

    def describe(self, scale: int) -> str:
        return (
            f"Gaussian blur sigma {self.blur_sigma:g} px, MATLAB bicubic x1/{scale}, "
            f"Gaussian noise sigma {self.noise_sigma:g}/255, JPEG quality {self.jpeg_quality} "
            "(Pillow)"
        )


# From a downscaled phone photo with mild web compression (light: Pillow's JPEG at 90) to a
# soft, noisy, heavily compressed picture (heavy); `medium` is a web photo saved at the
# JPEG quality most tools default to (75). All lie inside RealisticDegradation's ranges.
SEVERITIES: dict[str, Severity] = {
    "light": Severity(blur_sigma=1.0, noise_sigma=2.0, jpeg_quality=90),
    "medium": Severity(blur_sigma=1.5, noise_sigma=5.0, jpeg_quality=75),
    "heavy": Severity(blur_sigma=2.5, noise_sigma=15.0, jpeg_quality=40),
}
# LR made by OpenCV's cv2.resize, without antialiasing (Interpolated trains for it): what
# a model meets when its LR comes from a quick script rather than MATLAB or Pillow.
DOWNSCALERS = {
    "opencv-cubic": "INTER_CUBIC",
    "opencv-linear": "INTER_LINEAR",
    "opencv-area": "INTER_AREA",
}
# LR made by Pillow's Image.resize with its other filters (each filters before it samples,
# with its own sharpness): what a model meets from image editors and web tools. Pillow's
# bicubic is the `bicubic` profile's MATLAB-compatible kernel, and at integer factors its
# box filter makes OpenCV's INTER_AREA LR (`opencv-area`) to within a level.
PILLOW_DOWNSCALERS = {
    "pillow-lanczos": "LANCZOS",
    "pillow-bilinear": "BILINEAR",
}
PROFILES = ("bicubic", *SEVERITIES, *DOWNSCALERS, *PILLOW_DOWNSCALERS)


def degrade_fixed(
    hr: torch.Tensor, *, scale: int, severity: Severity, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``severity``'s chain on ``(B, C, H, W)`` HR in [0, 1] (computed in float64, so that the
    8-bit result does not depend on the machine's float32 kernels)."""
    x = hr.to(torch.float64)
    if severity.blur_sigma > 0:
        x = gaussian_blur(x, severity.blur_sigma)
    x = imresize(x, 1 / scale, quantize=True)
    if severity.noise_sigma > 0:
        where = _where(generator, x.device)
        noise = torch.randn(x.shape, generator=generator, device=where, dtype=torch.float64)
        x = quantize(x + noise.to(x.device) * severity.noise_sigma / 255)
    return jpeg(x, [severity.jpeg_quality] * x.shape[0])


def name_seed(name: str) -> int:
    """A seed from an image's name (stable across runs, machines and Python versions)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little") >> 1


def degraded_pair(
    hr: np.ndarray, scale: int, profile: str = "bicubic", *, name: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """``(lr, hr)`` from an ``(H, W, C)`` uint8 HR image under a named ``profile``: the HR
    cropped to a multiple of the scale; ``bicubic`` is ``srgan.resize.benchmark_pair``,
    ``opencv-*`` and ``pillow-*`` those libraries' resize (``DOWNSCALERS``,
    ``PILLOW_DOWNSCALERS``), the others ``SEVERITIES``' chains with the noise seeded by
    ``name``, so each image has one LR per profile, the same in every run and for every
    model."""
    if profile == "bicubic":
        return benchmark_pair(hr, scale)
    if profile in DOWNSCALERS:
        import cv2

        hr = mod_crop(hr, scale)
        size = (hr.shape[1] // scale, hr.shape[0] // scale)
        lr = cv2.resize(hr, size, interpolation=getattr(cv2, DOWNSCALERS[profile]))
        return np.ascontiguousarray(lr.reshape(size[1], size[0], hr.shape[2])), hr
    if profile in PILLOW_DOWNSCALERS:
        from PIL import Image

        hr = mod_crop(hr, scale)
        size = (hr.shape[1] // scale, hr.shape[0] // scale)
        planes = [
            np.asarray(
                Image.fromarray(np.ascontiguousarray(hr[..., k])).resize(
                    size, getattr(Image.Resampling, PILLOW_DOWNSCALERS[profile])
                )
            )
            for k in range(hr.shape[2])
        ]
        return np.ascontiguousarray(np.stack(planes, axis=-1)), hr
    if profile not in SEVERITIES:
        raise ValueError(f"unknown degradation profile {profile!r}: use one of {PROFILES}")
    hr = mod_crop(hr, scale)
    batch = torch.tensor(hr).permute(2, 0, 1)[None].double() / 255  # a copy: hr may be read-only
    generator = torch.Generator().manual_seed(name_seed(name))
    lr = degrade_fixed(batch, scale=scale, severity=SEVERITIES[profile], generator=generator)
    lr = (lr[0] * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return np.ascontiguousarray(lr), hr


def describe_profile(profile: str, scale: int) -> str:
    """One line saying how a profile's LR is made (for reports)."""
    if profile == "bicubic":
        return "MATLAB-compatible bicubic from HR"
    if profile in DOWNSCALERS:
        return f"{profile}: OpenCV cv2.resize {DOWNSCALERS[profile]} x1/{scale} (no antialiasing)"
    if profile in PILLOW_DOWNSCALERS:
        return f"{profile}: Pillow Image.resize {PILLOW_DOWNSCALERS[profile]} x1/{scale}"
    return f"{profile}: {SEVERITIES[profile].describe(scale)}, noise seeded by image name"


def profile_record(profile: str) -> dict[str, float | int | str] | None:
    """A profile's chain as plain values (``None`` for bicubic), for JSON reports."""
    if profile in DOWNSCALERS:
        return {"opencv_interpolation": DOWNSCALERS[profile]}
    if profile in PILLOW_DOWNSCALERS:
        return {"pillow_filter": PILLOW_DOWNSCALERS[profile]}
    return asdict(SEVERITIES[profile]) if profile in SEVERITIES else None
