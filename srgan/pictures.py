"""The in-memory upscaling API: a decoded picture in, the upscaled picture out.

    import srgan
    big = srgan.upscale_image(Image.open("photo.jpg"))          # PIL in, PIL out
    big = srgan.upscale_image(array, model="fast", outscale=2)  # numpy in, numpy out

Colour goes through the model (gray is repeated to RGB and averaged back; the colour under
fully transparent pixels is first filled from the nearest visible ones); alpha is
upscaled apart (bicubic, or through the model with ``alpha="model"``); 16-bit pictures stay
16-bit (as PIL images only gray: Pillow has no 16-bit colour mode). Build one ``srgan.Upscaler(srgan.load_model(...))`` and pass it as ``model`` to
upscale many images without reloading. Files and folders are ``srgan.jobs``' business.
"""

from __future__ import annotations

import functools
import math
import numbers
import os
import warnings
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from PIL import Image
from torch import nn

from srgan.backends import build_upscaler, resolve_tile
from srgan.images import (
    SIXTEEN_BIT_FORMATS,
    ImageError,
    Picture,
    decode_pil,
    picture_to_pil,
    resized_metadata,
    to_8bit,
    unreadable,
)
from srgan.inference import Upscaler, to_batch

AlphaMode = Literal["bicubic", "model"]


def fill_hidden(pixels: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """``pixels`` with each fully transparent pixel's colour replaced by the nearest visible
    pixel's. The model sees colour without alpha: the colour hidden under alpha 0 (often
    black) would otherwise bleed into the visible edges as a dark halo."""
    if alpha is None:
        return pixels
    hidden = alpha == 0
    if not hidden.any() or hidden.all():
        return pixels
    from scipy import ndimage

    # For every pixel, the coordinates of the nearest visible one (itself if visible).
    rows, cols = ndimage.distance_transform_edt(hidden, return_distances=False, return_indices=True)
    return pixels[rows, cols]


def model_input(picture: Picture) -> torch.Tensor:
    """The batch of one the model upscales: ``picture``'s colour (hidden colour filled)."""
    return to_batch(fill_hidden(picture.pixels, picture.alpha))


def from_batch(sr: torch.Tensor, *, grayscale: bool) -> np.ndarray:
    """``(3, H, W)`` integer output -> ``(H, W, 3)``, or ``(H, W, 1)`` (mean) for gray input.

    No copy when ``sr`` is channels-last in memory (as ``Upscaler``'s tiled output is);
    the gray mean is taken a band of rows at a time, so no wide full-size temporary.
    """
    array = sr.permute(1, 2, 0).numpy()
    if not grayscale:
        return np.ascontiguousarray(array)
    out = np.empty((*array.shape[:2], 1), array.dtype)
    rows = max(1, 2**18 // array.shape[1])  # bands of about 256 K pixels
    for top in range(0, array.shape[0], rows):
        band = array[top : top + rows].sum(axis=2, dtype=np.uint32)
        band += 1
        band //= 3
        out[top : top + rows, :, 0] = band
    return out


def half_up(value: float) -> int:
    """``value`` rounded half up (Python's ``round`` halves to even: 152.5 would give 152
    and 117.5 118), after rounding away float error (25 x 2.3 is 57.49999...)."""
    return math.floor(round(value, 6) + 0.5)


def scaled_side(side: int, factor: float) -> int:
    """``side * factor`` rounded half up, at least 1."""
    return max(1, half_up(side * factor))


def peak_memory(
    width: int, height: int, bits: int, *, scale: int, outscale: float | None = None
) -> int:
    """About how many bytes upscaling one ``width x height`` image takes at its peak.

    Per pixel: the decoded input and its batch (LR); the model's 3-channel output (SR);
    the resized output, Pillow's copy for encoding (4 channels for RGB) and the encoded
    file (final size). An estimate, on the high side, to refuse what cannot fit.
    """
    depth = 2 if bits == 16 else 1
    factor = outscale or scale
    lr_pixels = width * height
    sr_pixels = lr_pixels * scale * scale
    final_pixels = scaled_side(width, factor) * scaled_side(height, factor)
    return depth * (8 * lr_pixels + 3 * sr_pixels + 9 * final_pixels)


def resize(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize ``(H, W[, C])`` uint8/uint16 with OpenCV: area when shrinking, bicubic else."""
    if array.shape[:2] == (height, width):
        return array
    shrink = height < array.shape[0]
    out = cv2.resize(
        array, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    )
    return out.reshape(height, width, *array.shape[2:])


def output_size(picture: Picture, upscaler: Upscaler, outscale: float | None) -> tuple[int, int]:
    """The output's ``(height, width)``: the input's times ``outscale`` (default the model's)."""
    h, w = picture.pixels.shape[:2]
    factor = outscale or upscaler.scale
    return scaled_side(h, factor), scaled_side(w, factor)


def finish_picture(
    picture: Picture,
    sr: torch.Tensor,
    size: tuple[int, int],
    alpha: np.ndarray | None,
) -> Picture:
    """Model output ``(3, H, W)`` -> a ``Picture`` at ``size``, alpha re-attached, the
    metadata carried over (EXIF pixel dimensions updated, DPI scaled with the size)."""
    pixels = resize(from_batch(sr, grayscale=picture.grayscale), *size)
    if alpha is not None:
        alpha = resize(alpha, *size)
    exif, dpi = resized_metadata(picture, *size)
    return Picture(pixels, alpha, picture.icc_profile, picture.format, exif, dpi)


def upscale_alpha(
    upscaler: Upscaler, picture: Picture, out_dtype: torch.dtype, mode: AlphaMode
) -> np.ndarray | None:
    """The alpha channel at the model's scale: bicubic, or through the model like gray."""
    if picture.alpha is None:
        return None
    if mode == "model":
        sr = upscaler(to_batch(picture.alpha[..., None]), out_dtype=out_dtype)[0]
        return from_batch(sr, grayscale=True)[..., 0]
    h, w = picture.alpha.shape
    alpha = picture.alpha if out_dtype != torch.uint8 else to_8bit(picture.alpha)
    return resize(alpha, h * upscaler.scale, w * upscaler.scale)


def out_dtype_for(picture: Picture, fmt: str) -> torch.dtype:
    """16-bit output for 16-bit input when the format stores it, 8-bit otherwise."""
    return torch.uint16 if picture.bits == 16 and fmt in SIXTEEN_BIT_FORMATS else torch.uint8


def upscale_picture(
    upscaler: Upscaler,
    picture: Picture,
    *,
    outscale: float | None = None,
    alpha: AlphaMode = "bicubic",
    bits: int | None = None,
) -> Picture:
    """Upscale one decoded ``Picture`` (colour through the model, alpha apart)."""
    check_outscale(outscale)
    if alpha not in ("bicubic", "model"):
        raise ValueError(f"alpha must be 'bicubic' or 'model', got {alpha!r}")
    out_dtype = torch.uint16 if (bits or picture.bits) == 16 else torch.uint8
    sr = upscaler(model_input(picture), out_dtype=out_dtype)[0]
    size = output_size(picture, upscaler, outscale)
    return finish_picture(picture, sr, size, upscale_alpha(upscaler, picture, out_dtype, alpha))


def module_upscaler(
    network: nn.Module,
    *,
    device: str = "auto",
    precision: str = "auto",
    tile: int | None | Literal["auto"] = "auto",
) -> Upscaler:
    """An ``Upscaler`` of a network in memory, with ``upscale_image``'s defaults:
    ``precision`` auto is fp16 on CUDA and fp32 on the CPU, ``tile`` auto ``DEFAULT_TILE``."""
    side = resolve_tile(tile, onnx_cpu=False)
    return Upscaler(network, device=device, precision=precision, tile=side)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=4)
def cached_upscaler(
    spec: str,
    device: str,
    precision: str,
    tile: int | None | str,
    backend: str = "auto",
    stamp: tuple[int, int] | None = None,
) -> Upscaler:
    """One ``Upscaler`` per (model, device, precision, tile, backend), reused by
    ``upscale_image`` (built by ``srgan.backends.build_upscaler``). ``stamp``: the model
    file's ``file_stamp``, so that a file written again is loaded again."""
    return build_upscaler(spec, backend=backend, device=device, precision=precision, tile=tile)


def file_stamp(spec: str) -> tuple[int, int] | None:
    """(modification time, size) of the file ``spec`` names, ``None`` for a shipped name."""
    path = Path(spec).expanduser()
    if not path.is_file():
        return None
    status = path.stat()
    return status.st_mtime_ns, status.st_size


# The largest output factor accepted: beyond it the output is the model's, blown up (and
# a 16x upscale of a 1000 x 1000 photo is already 256 MP).
MAX_OUTSCALE = 16.0


def check_outscale(outscale: float | None) -> None:
    """``ValueError`` (``TypeError`` for a non-number) unless ``outscale`` is ``None`` or a
    finite factor in (0, ``MAX_OUTSCALE``]."""
    if outscale is None:
        return
    if isinstance(outscale, bool) or not isinstance(outscale, numbers.Real):
        raise TypeError(f"outscale must be a number, got {type(outscale).__name__}")
    if not 0 < outscale <= MAX_OUTSCALE:  # NaN fails this too
        raise ValueError(
            f"outscale must be above 0 and at most {MAX_OUTSCALE:g} (None: the model's "
            f"scale), got {outscale}"
        )


def upscale_image(
    image: np.ndarray | Image.Image,
    model: str | os.PathLike[str] | nn.Module | Upscaler = "default",
    *,
    outscale: float | None = None,
    alpha: AlphaMode = "bicubic",
    device: str = "auto",
    precision: str = "auto",
    tile: int | None | Literal["auto"] = "auto",
    backend: str = "auto",
) -> np.ndarray | Image.Image:
    """Upscale one image in memory; the same kind of image comes back.

    Args:
        image: a PIL image (any mode Pillow opens: L, LA, RGB, RGBA, P, CMYK, I;16, ...;
            a 16-bit colour PNG is read with its 16 bits when passed as ``Image.open``
            returns it, before anything loads its pixels, but comes back as 8-bit RGB(A),
            Pillow having no 16-bit colour mode: a warning says so), or a numpy array ``(H, W)``, ``(H, W, 1)``,
            ``(H, W, 2)`` (gray and alpha), ``(H, W, 3)`` (RGB order: convert OpenCV's BGR
            first) or ``(H, W, 4)`` (RGBA) of uint8, uint16 or float in [0, 1] (a float
            image is clipped to [0, 1]; one that reaches above 1.5 is refused).
        model: a shipped model's name (``"default"``, ``"fast"``, ...), a weights file,
            a generator (``nn.Module`` with ``scale``) or a ready ``Upscaler`` (fastest for
            many images: the model is not rebuilt).
        outscale: output size factor; default the model's own scale (other factors resize
            the model's output, area-averaged when shrinking).
        alpha: ``"bicubic"`` (default) or ``"model"`` for the alpha channel.
        device, precision, tile: as for ``Upscaler`` when ``model`` is not one (an
            ``Upscaler`` runs as it was built: giving them with one is an error);
            ``precision`` ``"auto"`` is fp16 on CUDA and fp32 on the CPU (an ``.onnx`` file
            runs in its own precision), ``tile`` ``"auto"`` as in
            ``srgan.backends.build_upscaler`` (1024 on ONNX Runtime's CPU backends, else 512).
        backend: for a model given by name or file, what runs it (``srgan.backends``):
            ``auto`` (PyTorch on CUDA, ONNX Runtime on the CPU), ``torch``, ``onnx``,
            ``onnx-int8`` or ``onnx-cuda``. The last four upscalers built from names or
            files are kept for the next calls (``srgan.pictures.cached_upscaler
            .cache_clear()`` frees them).

    Returns:
        a PIL image of the input's mode family (its ``info`` holds the ICC profile, the
        EXIF without orientation and the scaled DPI, as Pillow's own images do), or an
        array of the input's dtype and layout.
    """
    if isinstance(image, torch.Tensor):
        raise TypeError(
            "upscale_image takes a PIL image or a numpy array (H, W[, C]); for (B, C, H, W) "
            "tensors call an Upscaler, e.g. srgan.build_upscaler('default')(batch)"
        )
    if isinstance(image, (str, os.PathLike)):
        raise TypeError(
            f"upscale_image takes pixels (a PIL image or an array), not a file name: "
            f"open it first, e.g. upscale_image(PIL.Image.open({str(image)!r}))"
        )
    if isinstance(model, Upscaler):
        given = {"device": device, "precision": precision, "tile": tile, "backend": backend}
        if ignored := [name for name, value in given.items() if value != "auto"]:
            raise ValueError(
                f"{' and '.join(ignored)}: an Upscaler runs as it was built; build one with "
                f"them (srgan.build_upscaler(model, {ignored[0]}=...) or srgan.Upscaler"
                "(network, ...)), or pass the model's name or file here"
            )
        upscaler = model
    elif isinstance(model, nn.Module):
        if backend not in ("auto", "torch"):
            raise ValueError(
                f"backend {backend!r} needs the model's name or weights file (a network in "
                "memory runs with PyTorch; srgan.save_generator writes its file)"
            )
        upscaler = module_upscaler(model, device=device, precision=precision, tile=tile)
    else:
        upscaler = cached_upscaler(
            str(model), device, precision, tile, backend, file_stamp(str(model))
        )
    if isinstance(image, Image.Image):
        frames = getattr(image, "n_frames", 1)
        if frames > 1 and image.format != "MPO":  # a camera's MPO: the photo, then previews
            what = "a multi-page TIFF" if image.format == "TIFF" else "animated"
            unit = "page" if image.format == "TIFF" else "frame"
            warnings.warn(
                f"the image is {what} ({frames} {unit}s): only its current {unit} "
                f"({image.tell()}) is upscaled; upscale each of PIL.ImageSequence.Iterator"
                "(image) for all of them",
                stacklevel=2,
            )
        try:
            picture = decode_pil(image)
        except ImageError:
            raise
        except Exception as error:  # noqa: BLE001 - Pillow's decoders: as for files
            raise unreadable(error) from None
        result = upscale_picture(upscaler, picture, outscale=outscale, alpha=alpha)
        if result.bits == 16 and (not result.grayscale or result.alpha is not None):
            warnings.warn(
                "16-bit colour (or gray with alpha) comes back as an 8-bit PIL image "
                "(Pillow has no 16-bit mode for it); for 16 bits pass a uint16 array, e.g. "
                "cv2.imread(path, cv2.IMREAD_UNCHANGED)[..., ::-1] (RGB order)",
                stacklevel=2,
            )
        upscaled = picture_to_pil(result)
        # As Pillow reports them on open (save them with e.g. exif=upscaled.info["exif"]).
        metadata = {"icc_profile": result.icc_profile, "exif": result.exif, "dpi": result.dpi}
        upscaled.info.update({k: v for k, v in metadata.items() if v})
        return upscaled
    array = np.asarray(image)
    if not array.dtype.isnative:  # big-endian samples (">u2"): the same values, native
        array = array.astype(array.dtype.newbyteorder("="))
    shape, dtype = array.shape, array.dtype
    if array.size == 0:
        raise ValueError(f"no pixels: shape {shape}")
    floating = np.issubdtype(dtype, np.floating)
    if floating:
        if not np.isfinite(array).all():
            raise ValueError("the image holds NaN or infinite values; pixels are 0..1 floats")
        if array.max() > 1.5:
            raise ValueError(
                f"float pixels are taken in [0, 1], and these reach {array.max():g}: divide "
                "by 255 (or 65535), or pass the integer array"
            )
        # In float32 at least: 65535 overflows float16.
        wide = np.promote_types(dtype, np.float32)
        array = (np.clip(array.astype(wide), 0, 1) * 65535).round().astype(np.uint16)
    if array.dtype not in (np.uint8, np.uint16):
        hint = ""
        if np.issubdtype(array.dtype, np.integer):  # e.g. nested lists of ints: int64
            hint = " (for 0..255 values: np.asarray(image, np.uint8))"
        raise TypeError(f"expected uint8, uint16 or float pixels, got {array.dtype}{hint}")
    squeeze = array.ndim == 2
    if squeeze:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"expected an (H, W[, 1|2|3|4]) image, got shape {shape}")
    has_alpha = array.shape[2] in (2, 4)
    picture = Picture(
        np.ascontiguousarray(array[..., :-1] if has_alpha else array),
        np.ascontiguousarray(array[..., -1]) if has_alpha else None,
    )
    result = upscale_picture(upscaler, picture, outscale=outscale, alpha=alpha)
    out = result.pixels
    if result.alpha is not None:
        out = np.dstack([out, result.alpha])
    if squeeze:
        out = out[..., 0]
    if floating:
        return (out.astype(np.float32) / 65535).astype(dtype)
    return out
