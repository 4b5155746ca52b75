"""Robust image reading and writing, for training data and for ``srgan.upscale``.

``read_image`` decodes an image file as found in the wild (8- or 16-bit, grayscale, RGB,
alpha, palette, CMYK, EXIF-rotated, with an ICC profile) to a ``Picture``: the colour
pixels, the alpha channel kept apart, and what is needed to write the result back in
kind (EXIF with the orientation reset, ICC profile, DPI). Every problem (empty,
truncated, corrupt, not an image, absurdly large) is raised as an ``ImageError`` whose
message says what is wrong.

``write_image`` encodes in memory, then writes atomically: a temporary file in the
destination folder, flushed to disk, then ``os.replace`` onto the final name, so an
interrupted run never leaves a truncated image behind.

``list_images`` and ``read_rgb`` serve the training data (plain RGB uint8).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import html
import io
import os
import re
import secrets
import shlex
import socket
import struct
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
from PIL import (
    Image,
    ImageCms,
    ImageOps,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
    features,
)

# Output formats by name -> (Pillow format, file suffix).
FORMATS: dict[str, tuple[str, str]] = {
    "png": ("PNG", ".png"),
    "jpg": ("JPEG", ".jpg"),
    "webp": ("WEBP", ".webp"),
    "bmp": ("BMP", ".bmp"),
    "tiff": ("TIFF", ".tif"),
}
# Other names accepted for a format (``--format jpeg``).
FORMAT_ALIASES = {"jpeg": "jpg", "tif": "tiff"}
SUFFIX_FORMATS = {
    ".png": "png",
    ".jpg": "jpg",
    ".jpeg": "jpg",
    ".webp": "webp",
    ".bmp": "bmp",
    ".tif": "tiff",
    ".tiff": "tiff",
}
HEIF_SUFFIXES = frozenset({".heic", ".heif"})


def _heif_opener() -> bool:
    """Let Pillow open HEIC / HEIF photos through pillow-heif, where it is installed (the
    ``heif`` extra); libheif applies the photo's rotation, so its EXIF orientation is 1."""
    try:
        import pillow_heif
    except ImportError:
        return False
    pillow_heif.register_heif_opener()
    return True


# Formats read but not written: GIF (still images; animated ones are refused, as all
# are), AVIF where this Pillow decodes it (recent Pillow wheels do) and HEIC / HEIF with
# pillow-heif. Their outputs take --format (PNG by default; --format same gives PNG too).
READ_ONLY_SUFFIXES = frozenset(
    {".gif"}
    # (features.check would warn of an unknown feature on a Pillow without the plugin)
    | ({".avif"} if "avif" in features.modules and features.check_module("avif") else set())
    | (HEIF_SUFFIXES if _heif_opener() else set())
)
IMAGE_SUFFIXES = frozenset(SUFFIX_FORMATS) | READ_ONLY_SUFFIXES
# Image files not read here, and what to do with them.
OTHER_IMAGE_SUFFIXES = frozenset(
    {".jxl", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".orf", ".rw2", ".raf"}
    | ({".avif"} | HEIF_SUFFIXES) - READ_ONLY_SUFFIXES
)
# The largest side each format can store, where it has one (libjpeg's, WebP's).
MAX_SIDE = {"jpg": 65500, "webp": 16383}
# Formats that store 16 bits per channel; the others get 8-bit output.
SIXTEEN_BIT_FORMATS = frozenset({"png", "tiff"})
ALPHA_FORMATS = frozenset({"png", "webp", "tiff"})

# Refuse images above this many pixels by default (a decompression bomb guard: a tiny
# file can declare a huge canvas). 64 MP is well above any camera photo.
DEFAULT_MAX_PIXELS = 64_000_000


class ImageError(Exception):
    """An image that cannot be read or written; the message says why."""


@dataclass
class Picture:
    """A decoded image: colour pixels, alpha apart, and what is needed to write it back.

    ``pixels`` is ``(H, W, 3)`` (RGB) or ``(H, W, 1)`` (grayscale), uint8 or uint16;
    ``alpha`` is ``(H, W)`` of the same dtype, or ``None``. ``exif`` is the file's EXIF
    block without its orientation (the pixels are already upright); ``dpi`` its
    resolution in dots per inch, when it declares one.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    icc_profile: bytes | None = None
    format: str = "png"  # the name in FORMATS the file was read as
    exif: bytes | None = None
    dpi: tuple[float, float] | None = None

    @property
    def bits(self) -> int:
        return 16 if self.pixels.dtype == np.uint16 else 8

    @property
    def grayscale(self) -> bool:
        return self.pixels.shape[2] == 1

    @property
    def megapixels(self) -> float:
        return self.pixels.shape[0] * self.pixels.shape[1] / 1e6


def list_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted); a clear error if there are none."""
    root = Path(folder).expanduser()
    if root.is_file():
        raise FileNotFoundError(f"{root} is a file: give the folder of images it is in")
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(
            f"no images in {root} (looked for {', '.join(sorted(IMAGE_SUFFIXES))}, recursively)"
        )
    return files


def image_name(path: str | Path, root: str | Path) -> str:
    """An image's name: its path in the folder ``root`` without the suffix (``baby``;
    ``sub/baby`` in a subfolder). The quality benchmark and validation both seed an
    image's degraded LR by it (``srgan.degradations.degraded_pair``)."""
    return Path(path).relative_to(Path(root).expanduser()).with_suffix("").as_posix()


def _png_exif_after_pixels(path: str | Path) -> bytes | None:
    """A PNG's eXIf chunk where Pillow's header read misses it (after the pixels): the
    chunks are walked by their lengths, nothing is decompressed."""
    with open(path, "rb") as file:
        if file.read(8) != b"\x89PNG\r\n\x1a\n":
            return None
        while len(head := file.read(8)) == 8:
            length, kind = struct.unpack(">I4s", head)
            if kind == b"eXIf":
                return file.read(length)
            if kind == b"IEND":
                return None
            file.seek(length + 4, os.SEEK_CUR)  # the data and its CRC
    return None


def oriented_size(path: str | Path) -> tuple[int, int]:
    """``(height, width)`` of ``path`` once decoded by ``read_rgb`` (EXIF orientation
    applied), from its header: nothing is decoded."""
    with open_header(path) as image:
        width, height = image.size
        if image.format == "TIFF":  # Pillow reports a TIFF's size already oriented
            return height, width
        raw = image.info.get("exif")  # JPEG, WebP, a PNG's eXIf before its pixels
        if raw is None and image.format == "PNG":
            raw = _png_exif_after_pixels(path)
    orientation = 1
    if raw:
        exif = Image.Exif()
        exif.load(raw)
        orientation = exif.get(EXIF_ORIENTATION, 1)
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file to an ``(H, W, 3)`` uint8 RGB array, EXIF orientation applied.

    Grayscale, palette, CMYK and alpha images are converted to RGB (alpha dropped).
    """
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            # 16-bit grayscale: keep the top 8 bits rather than clipping.
            array = np.asarray(image, dtype=np.uint32) >> 8
            return np.repeat(array.astype(np.uint8)[..., None], 3, axis=2)
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


# --- reading ------------------------------------------------------------------------


def opencv_logging() -> SimpleNamespace:
    """``cv2.utils.logging`` (OpenCV 4.9 has its functions on ``cv2`` itself)."""
    logging = getattr(cv2.utils, "logging", None)
    if logging is None:
        logging = SimpleNamespace(
            getLogLevel=cv2.getLogLevel, setLogLevel=cv2.setLogLevel, LOG_LEVEL_ERROR=2
        )
    return logging


@contextlib.contextmanager
def opencv_errors_only() -> Iterator[None]:
    """OpenCV's warnings kept off stderr for a while (libtiff's notes on files it then
    reads well, e.g. an RGBA TIFF OpenCV wrote itself): srgan says what matters."""
    logging = opencv_logging()
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(previous)


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an ``(H, W, ...)`` array, as exif_transpose does."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(ops[orientation](array)) if orientation in ops else array


EXIF_ORIENTATION = 0x0112
# Tags of a TIFF's first directory that describe its pixels' layout, which Pillow's EXIF
# of a TIFF holds: width, length, bits per sample, compression, photometric, strip
# offsets, samples per pixel, rows per strip, strip byte counts, planar configuration,
# predictor, colour map, tile width / length / offsets / byte counts, extra samples,
# sample format, JPEG tables, YCbCr sub-sampling and positioning, and the ICC profile
# (written apart). The resolution stays: it is scaled with the DPI.
TIFF_LAYOUT_TAGS = (
    *(256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 317, 320),
    *(322, 323, 324, 325, 338, 339, 347, 530, 531, 34675),
)
TIFF_X_RESOLUTION, TIFF_Y_RESOLUTION = 282, 283  # also EXIF's main directory's
TIFF_RESOLUTION_UNIT = 296  # 1: none, 2: inch, 3: centimetre
EXIF_IFD = 0x8769
EXIF_PIXEL_X, EXIF_PIXEL_Y = 0xA002, 0xA003
EXIF_MAKER_NOTE = 0x927C
# JPEG keeps EXIF in one APP1 segment of at most 64 KiB.
JPEG_EXIF_LIMIT = 65_000


def _exif_of(image: Image.Image, orientation: int = 1) -> bytes | None:
    """The image's EXIF without the orientation tag (the decoded pixels are upright; a
    quarter turn, ``orientation`` 5 to 8, swaps the stated resolutions too), or ``None``
    when it has none left (or an unreadable one: the pixels matter more)."""
    try:
        source = image.getexif()  # Pillow's own copy, which exif_transpose reads: not changed
        if not len(source):
            return None
        source.get_ifd(EXIF_IFD)  # loaded, so that it is written out
        exif = Image.Exif()
        exif.load(source.tobytes())
        exif.get_ifd(EXIF_IFD)
        # The orientation (the pixels are upright), and a TIFF's layout tags (its size,
        # strips, compression: of the input's pixels, not the output's).
        for key in (EXIF_ORIENTATION, *TIFF_LAYOUT_TAGS):
            exif.pop(key, None)
        if orientation >= 5 and TIFF_X_RESOLUTION in exif and TIFF_Y_RESOLUTION in exif:
            exif[TIFF_X_RESOLUTION], exif[TIFF_Y_RESOLUTION] = (
                exif[TIFF_Y_RESOLUTION],
                exif[TIFF_X_RESOLUTION],
            )
        if EXIF_IFD in exif and not exif.get_ifd(EXIF_IFD):
            # An empty sub-directory: written out, it would make readers assume 72 dpi.
            del exif[EXIF_IFD]
        return exif.tobytes() if len(exif) else None
    except Exception:  # noqa: BLE001 - broken EXIF (struct.error, ValueError, ...): dropped
        return None


def _dpi_of(image: Image.Image, orientation: int = 1) -> tuple[float, float] | None:
    """The resolution the file states, in dots per inch, of the upright pixels (a quarter
    turn, ``orientation`` 5 to 8, swaps the axes); not Pillow's defaults: (1, 1) for a
    TIFF without resolution tags, 72 for a JPEG whose EXIF states none."""
    if image.format == "TIFF" and TIFF_X_RESOLUTION not in image.tag_v2:
        return None
    dpi = image.info.get("dpi")
    if image.format in ("JPEG", "MPO") and not image.info.get("jfif_unit"):
        # No unit in JFIF: what EXIF states (its unit inches unless said otherwise), if any.
        exif = image.getexif()
        unit = {2: 1.0, 3: 2.54}.get(exif.get(TIFF_RESOLUTION_UNIT, 2))
        x = exif.get(TIFF_X_RESOLUTION)
        y = exif.get(TIFF_Y_RESOLUTION, x)
        dpi = (float(x) * unit, float(y) * unit) if unit and x is not None else None
    try:
        x, y = (float(v) for v in dpi)
    except (TypeError, ValueError):
        return None
    if orientation >= 5:
        x, y = y, x
    return (x, y) if x > 0 and y > 0 else None


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 to 8) the image states; 1 when none (or unreadable EXIF)."""
    try:
        orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 - broken EXIF: taken as upright, as exif_transpose does
        return 1
    return orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1


def _keyed_alpha(image: Image.Image, array: np.ndarray) -> np.ndarray | None:
    """The alpha a colour key stands for (a PNG's ``tRNS`` of a gray or RGB image, in the
    file's own sample values): 0 where a pixel of ``(H, W, C)`` equals the key, opaque
    elsewhere. ``None`` when there is no key or no pixel matches it."""
    key = image.info.get("transparency")
    if isinstance(key, int):
        key = (key,)
    if not isinstance(key, tuple) or len(key) != array.shape[2]:
        return None  # a palette's table (bytes) or a key of another shape
    clear = np.all(array == np.asarray(key).reshape(1, 1, -1), axis=-1)
    if not clear.any():
        return None
    return np.where(clear, 0, np.iinfo(array.dtype).max).astype(array.dtype)


def resized_metadata(
    picture: Picture, height: int, width: int
) -> tuple[bytes | None, tuple[float, float] | None]:
    """``picture``'s EXIF and DPI for a copy resized to ``height x width``: the EXIF pixel
    dimensions updated, the DPI scaled so that the print size stays the same."""
    dpi = picture.dpi
    if dpi is not None:
        h, w = picture.pixels.shape[:2]
        dpi = (dpi[0] * width / w, dpi[1] * height / h)
    exif = picture.exif
    if exif is not None:
        try:
            parsed = Image.Exif()
            parsed.load(exif)
            ifd = parsed.get_ifd(EXIF_IFD)
            if EXIF_PIXEL_X in ifd or EXIF_PIXEL_Y in ifd:
                ifd[EXIF_PIXEL_X], ifd[EXIF_PIXEL_Y] = width, height
            h, w = picture.pixels.shape[:2]
            # The resolution EXIF states, scaled as the DPI (viewers read it before JFIF's).
            for key, factor in ((TIFF_X_RESOLUTION, width / w), (TIFF_Y_RESOLUTION, height / h)):
                if key in parsed:
                    parsed[key] = TiffImagePlugin.IFDRational(float(parsed[key]) * factor)
            exif = parsed.tobytes()
        except Exception:  # noqa: BLE001 - unparsable after all: keep it as it was read
            pass
    return exif, dpi


def _rawmode(image: Image.Image) -> str:
    """How the file stores its samples, as Pillow's decoder is told ("RGB;16B", "LA;16B")."""
    tile = getattr(image, "tile", None)  # a GIF between frames has none
    if not tile:
        return ""
    args = tile[0][3]  # (decoder, extents, offset, args), a plain tuple in older Pillow
    rawmode = args[0] if isinstance(args, tuple) else args
    return rawmode if isinstance(rawmode, str) else ""


# Gray PNG sample depths below 8 bits, by Pillow's raw mode: the factor to 8 bits.
LOW_BIT_GRAY = {"L;2": 85, "L;4": 17}


def _is_16bit_colour(image: Image.Image) -> bool:
    """Pillow decodes 16-bit-per-channel RGB(A) to 8 bits (and 16-bit gray with alpha to
    8-bit RGBA); detect it to decode with OpenCV."""
    return image.mode in ("RGB", "RGBA") and ";16" in _rawmode(image)


def sample_bits(image: Image.Image) -> int:
    """16 for an opened image with 16-bit samples, else 8 (from the header: nothing is
    decoded)."""
    return 16 if image.mode.startswith("I") or _is_16bit_colour(image) else 8


def _decode_16bit_colour(image: Image.Image, source: Path | bytes, fmt: str) -> Picture:
    """16-bit RGB(A) through OpenCV (Pillow would keep 8 bits) from the file ``source`` or
    its bytes; EXIF orientation by hand."""
    gray = _rawmode(image).startswith("LA")  # first: reading the EXIF loads, and drops it
    icc = image.info.get("icc_profile") or None
    orientation = _orientation(image)
    exif, dpi = _exif_of(image, orientation), _dpi_of(image, orientation)
    if isinstance(source, bytes):
        array = cv2.imdecode(np.frombuffer(source, np.uint8), cv2.IMREAD_UNCHANGED)
    else:
        array = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16 or array.ndim != 3:
        raise ImageError("corrupt or unreadable: cannot decode its 16-bit colour data")
    array = _orient(array, orientation)
    code = cv2.COLOR_BGRA2RGBA if array.shape[2] == 4 else cv2.COLOR_BGR2RGB
    array = cv2.cvtColor(array, code)
    alpha = np.ascontiguousarray(array[..., 3]) if array.shape[2] == 4 else None
    # Gray with alpha, which OpenCV expands to three equal channels: gray again, so that it
    # is upscaled (and written) as gray, not as colour the model could tint.
    colour = array[..., :1] if gray else array[..., :3]
    return Picture(np.ascontiguousarray(colour), alpha, icc, fmt, exif, dpi)


def _opened_file_bytes(image: Image.Image) -> bytes | None:
    """The bytes of the file an image was opened from, while it is still open."""
    fp = getattr(image, "fp", None)
    if fp is None:
        return None
    try:
        position = fp.tell()
        fp.seek(0)
        data = fp.read()
        fp.seek(position)
    except (OSError, ValueError, AttributeError):  # closed, or not seekable
        return None
    return data if isinstance(data, bytes) else None


def decode_pil(image: Image.Image, fmt: str = "png", *, orientation: int | None = None) -> Picture:
    """A Pillow image (8-bit colour, any gray, palette, CMYK, ...) to a ``Picture``.

    EXIF orientation is applied (and removed from the EXIF kept); alpha is split off (a
    colour key, PNG's ``tRNS`` of a gray or RGB image, becomes alpha); ICC profiles are
    kept when they still describe the pixels; DPI is kept (its axes swapped by a quarter
    turn). ``orientation``: the one the file stated when Pillow has already applied it
    on loading (it does for TIFF), else read from the image. A 16-bit colour (or gray and
    alpha) file that Pillow has opened but not loaded is decoded from its file, with its
    16 bits: Pillow's own pixels would have 8 (and gray would be colour).
    """
    # OpenCV decodes a file's first frame: only a file of one is read that way.
    single = getattr(image, "n_frames", 1) == 1
    if single and _is_16bit_colour(image) and (data := _opened_file_bytes(image)) is not None:
        return _decode_16bit_colour(image, data, fmt)
    icc = image.info.get("icc_profile") or None
    orientation = _orientation(image) if orientation is None else orientation
    exif, dpi = _exif_of(image, orientation), _dpi_of(image, orientation)
    image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        array = np.asarray(image)
        if mode == "I" and (array.min() < 0 or array.max() > 65535):
            raise ImageError(f"32-bit integer pixels outside 0..65535 (mode {mode})")
        array = array.astype(np.uint16)[..., None]
        return Picture(array, _keyed_alpha(image, array), icc, fmt, exif, dpi)
    if mode == "F":
        raise ImageError("floating-point pixels (mode F) are not supported")
    if mode == "CMYK":
        converted = None
        if icc:
            # Convert with the embedded profile to sRGB; the CMYK profile cannot be kept.
            try:
                source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                target = ImageCms.createProfile("sRGB")
                converted = ImageCms.profileToProfile(image, source, target, outputMode="RGB")
            except (ImageCms.PyCMSError, OSError, ValueError):
                converted = None  # a broken profile: fall back to the naive conversion
        image = converted if converted is not None else image.convert("RGB")
        return Picture(np.asarray(image).copy(), None, None, fmt, exif, dpi)
    if mode in ("P", "PA"):
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    elif mode == "1":
        image = image.convert("L")
    elif mode == "La":
        image = image.convert("LA")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        # YCbCr, LAB, HSV, RGBX, RGBa, ...: to RGB(A); the ICC profile no longer applies.
        icc = icc if mode in ("RGBX",) else None
        # LAB's "A" is a colour axis, not alpha.
        alpha = mode != "LAB" and ("A" in mode or "a" in mode)
        image = image.convert("RGBA" if alpha else "RGB")
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    alpha = None
    if image.mode in ("LA", "RGBA"):
        alpha = array[..., -1].copy()
        array = array[..., :-1]
    elif image.mode in ("L", "RGB"):
        alpha = _keyed_alpha(image, array)
    return Picture(np.ascontiguousarray(array), alpha, icc, fmt, exif, dpi)


def read_image(
    path: str | Path,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    check: Callable[[int, int, int], None] | None = None,
) -> Picture:
    """Decode ``path`` (never modified) to a ``Picture``; ``ImageError`` says what is wrong.

    ``max_pixels`` refuses larger images before decoding them (``None``: no limit).
    ``check(width, height, bits)`` runs on the header before decoding; it refuses an image
    by raising ``ImageError`` (e.g. one whose upscaling would not fit in memory).
    Animated images (GIF, APNG, WebP with several frames) are refused: frames are not
    still images to upscale one by one here.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise ImageError(f"cannot read: {error.strerror or error}") from None
    if size == 0:
        raise ImageError("empty file (0 bytes)")
    try:
        # srgan's limit, checked next, is the guard (Pillow's would warn and refuse by its own).
        with open_header(path) as image:
            width, height = image.size
            if max_pixels and width * height > max_pixels:
                raise ImageError(
                    f"too large: {width} x {height} = {width * height / 1e6:.3g} MP is above "
                    f"the {max_pixels / 1e6:.3g} MP limit (a decompression-bomb guard); "
                    f"raise it with --max-pixels if the image is genuine"
                )
            frames = getattr(image, "n_frames", 1)
            # A camera's MPO JPEG holds the photo first (then previews or a second view):
            # the photo is upscaled. Pages and animation frames would be lost: refused.
            if frames > 1 and image.format == "TIFF":
                raise ImageError(
                    f"a multi-page TIFF ({frames} pages): only its first page would be "
                    "upscaled; split the pages into files first and upscale those"
                )
            if frames > 1 and image.format != "MPO":
                raise ImageError(
                    f"animated ({frames} frames): only still images are upscaled as images; "
                    f"convert it to a video (e.g. ffmpeg -i {shlex.quote(path.name)} "
                    f"{shlex.quote(path.stem + '.mp4')}) and upscale that, or extract its frames"
                )
            if check is not None:
                check(width, height, sample_bits(image))
            fmt = SUFFIX_FORMATS.get(f".{(image.format or 'png').lower()}", None)
            fmt = fmt or SUFFIX_FORMATS.get(path.suffix.lower(), "png")
            if _is_16bit_colour(image):  # checked before load(), which drops the tile info
                return _decode_16bit_colour(image, path, fmt)
            # A 2- or 4-bit gray PNG's colour key is in its own sample scale, which Pillow's
            # pixels are not (2 bits: 0, 85, 170, 255): scaled alike (first: reading the
            # EXIF of a PNG loads it, and the raw mode goes).
            key, raw = image.info.get("transparency"), _rawmode(image)
            if isinstance(key, int) and raw in LOW_BIT_GRAY:
                image.info["transparency"] = key * LOW_BIT_GRAY[raw]
            # Before load(), which applies a TIFF's orientation and drops it from its EXIF.
            orientation = _orientation(image)
            image.load()
            return decode_pil(image, fmt, orientation=orientation)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("not an image, or a format Pillow cannot read") from None
    except PermissionError as error:
        raise ImageError(f"cannot read: {error.strerror or error}") from None
    except Image.DecompressionBombError as error:
        raise ImageError(
            f"too large: {error} Raise the limit with --max-pixels if the image is genuine"
        ) from None
    except Exception as error:  # noqa: BLE001 - decoders raise OSError, SyntaxError, struct.error, ...
        raise unreadable(error) from None


def unreadable(error: Exception) -> ImageError:
    """What a decoder's own error (OSError, SyntaxError, struct.error, ...) says of the file."""
    reason = str(error) or type(error).__name__
    if "truncated" in reason.lower():  # "image file is truncated", "Truncated File Read"
        reason = f"truncated file ({reason})"
    return ImageError(f"corrupt or unreadable: {reason}")


# --- writing ------------------------------------------------------------------------


def to_8bit(array: np.ndarray) -> np.ndarray:
    """uint8 as is; uint16 rounded to the nearest 8-bit value (``v * 255 / 65535``)."""
    if array.dtype == np.uint8:
        return array
    return ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def to_16bit(array: np.ndarray) -> np.ndarray:
    """uint16 as is; uint8 widened exactly (``v * 257``)."""
    return array if array.dtype == np.uint16 else array.astype(np.uint16) * 257


def picture_to_pil(picture: Picture, *, sixteen: bool = True) -> Image.Image:
    """A Pillow image of ``picture``: mode ``I;16`` for 16-bit gray without alpha (when
    ``sixteen``), else 8-bit ``L``, ``LA``, ``RGB`` or ``RGBA`` (Pillow has no 16-bit colour)."""
    pixels, alpha = picture.pixels, picture.alpha
    if sixteen and pixels.dtype == np.uint16 and alpha is None and picture.grayscale:
        return Image.fromarray(np.ascontiguousarray(pixels[..., 0]))  # mode I;16
    pixels = to_8bit(pixels)
    if alpha is not None:
        pixels = np.dstack([pixels, to_8bit(alpha)])
    # uint8 (H, W) -> L, (H, W, 2) -> LA, (H, W, 3) -> RGB, (H, W, 4) -> RGBA
    return Image.fromarray(np.ascontiguousarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels))


def encode_image(
    picture: Picture,
    fmt: str,
    *,
    quality: int = 95,
    flatten: tuple[int, int, int] = (255,) * 3,
    tag: str | None = None,
) -> bytes:
    """The bytes of ``picture`` in ``fmt`` (a key of ``FORMATS``).

    16-bit pixels stay 16-bit in PNG and TIFF and become 8-bit elsewhere. Formats without
    alpha (JPEG, BMP) get the image composited over ``flatten`` (white). The ICC profile
    is embedded where the format allows. ``tag`` (ASCII text, e.g. the settings an output
    was made with) is stored where the format has room for it (see ``read_tag``).
    """
    if fmt not in FORMATS:
        raise ImageError(f"unknown output format {fmt!r}; use one of {', '.join(FORMATS)}")
    pil_format = FORMATS[fmt][0]
    pixels, alpha = picture.pixels, picture.alpha
    sixteen = pixels.dtype == np.uint16 and fmt in SIXTEEN_BIT_FORMATS
    if alpha is not None and fmt not in ALPHA_FORMATS:
        # JPEG and BMP have no alpha: composite over the background colour.
        top = np.iinfo(pixels.dtype).max
        a = alpha.astype(np.float32)[..., None] / top
        background = np.asarray(flatten[: pixels.shape[2]], np.float32) * (top / 255)
        pixels = (pixels * a + background * (1 - a)).round().astype(pixels.dtype)
        alpha = None
    if fmt == "webp" and picture.grayscale:
        pixels = np.repeat(pixels, 3, axis=2)  # WebP stores RGB(A) only
    if sixteen and pixels.shape[2] == 1 and alpha is not None:
        # No writer here takes 16-bit gray with alpha: 16-bit RGBA, three equal channels.
        pixels = np.repeat(pixels, 3, axis=2)
    if fmt == "png" and pixels.shape[2] + (alpha is not None) != 2:
        return _encode_png(pixels if sixteen else to_8bit(pixels), alpha, picture, tag)
    if sixteen and pixels.shape[2] == 3:
        # Pillow cannot write 16-bit colour; OpenCV can (BGR order).
        array = pixels if alpha is None else np.dstack([pixels, to_16bit(alpha)])
        code = cv2.COLOR_RGBA2BGRA if alpha is not None else cv2.COLOR_RGB2BGR
        options = []
        if picture.dpi:
            options = [cv2.IMWRITE_TIFF_RESUNIT, 2]  # 2: inch
            options += [cv2.IMWRITE_TIFF_XDPI, round(picture.dpi[0])]
            options += [cv2.IMWRITE_TIFF_YDPI, round(picture.dpi[1])]
        ok, data = cv2.imencode(FORMATS[fmt][1], cv2.cvtColor(array, code), options)
        if not ok:
            raise ImageError(f"OpenCV could not encode a 16-bit {fmt.upper()}")
        # OpenCV writes no description or ICC profile: added to the TIFF's directory. (Nor
        # EXIF, whose directory of its own is not worth rebuilding here: it is left out.)
        tags: dict[int, tuple[int, bytes | int]] = {}
        if tag is not None:
            tags[TIFF_DESCRIPTION] = (2, f"{TAG_KEY} {tag}".encode("ascii") + b"\0")
        if picture.icc_profile:
            tags[TIFF_ICC_PROFILE] = (7, picture.icc_profile)
        if alpha is not None:
            # Nor that the fourth sample is alpha (2: unassociated), which readers need.
            tags[TIFF_EXTRA_SAMPLES] = (3, 2)
        return _tiff_with_tags(data.tobytes(), tags) if tags else data.tobytes()
    image = picture_to_pil(Picture(pixels, alpha), sixteen=sixteen)
    options: dict[str, object] = {}
    # A gray profile (its header's colour space, bytes 16-19) cannot describe the RGB a
    # gray image becomes in WebP: left out there.
    gray_profile = picture.icc_profile is not None and picture.icc_profile[16:20] == b"GRAY"
    if picture.icc_profile and fmt in ("png", "jpg", "tiff", "webp"):
        if not (fmt == "webp" and gray_profile and pixels.shape[2] >= 3):
            options["icc_profile"] = picture.icc_profile
    exif = picture.exif if fmt in ("png", "jpg", "webp", "tiff") else None
    if exif and fmt == "jpg":
        exif = _fit_exif(exif)
    if exif:
        options["exif"] = exif
    if picture.dpi and fmt in ("png", "jpg", "tiff", "bmp"):
        options["dpi"] = picture.dpi
    if fmt in ("jpg", "webp"):
        options["quality"] = quality
    if fmt == "png":
        options["compress_level"] = 4  # 8-bit gray with alpha only (the rest: _encode_png)
    if tag is not None:
        tag_text = f"{TAG_KEY} {tag}"
        if fmt == "png":
            info = PngImagePlugin.PngInfo()
            info.add_text(TAG_KEY, tag)
            options["pnginfo"] = info
        elif fmt == "jpg":
            options["comment"] = tag_text  # a COM segment
        elif fmt == "webp":
            options["xmp"] = _xmp_packet(tag)
        elif fmt == "tiff":
            # Pillow writes either tiffinfo or exif into a TIFF, not both: one directory.
            info = Image.Exif()
            if exif:
                info.load(options.pop("exif"))
            info[TIFF_DESCRIPTION] = tag_text
            options["tiffinfo"] = info
    buffer = io.BytesIO()
    image.save(buffer, format=pil_format, **options)
    return buffer.getvalue()


def _tiff_with_tags(data: bytes, tags: dict[int, tuple[int, bytes | int]]) -> bytes:
    """A classic TIFF with ``tags`` (tag -> (TIFF type, value): 2 ASCII and 7 UNDEFINED
    take bytes, 3 SHORT one integer) in its first image's directory: a copy of the
    directory, with the entries added (or replaced), appended and pointed to by the header
    (the old directory stays, unused; no data moves)."""
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or struct.unpack(order + "H", data[2:4])[0] != 42:
        raise ImageError("not a classic TIFF: cannot add its tags")
    (directory,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[directory : directory + 2])
    entries = [data[directory + 2 + 12 * i : directory + 14 + 12 * i] for i in range(count)]
    following = data[directory + 2 + 12 * count : directory + 6 + 12 * count]
    entries = [e for e in entries if struct.unpack(order + "H", e[:2])[0] not in tags]
    out = bytearray(data) + b"\0" * (len(data) % 2)  # directories and values on even offsets
    for tag, (kind, value) in tags.items():
        if isinstance(value, int):  # a SHORT, in the file's byte order
            body, count = struct.pack(order + "H", value), 1
        else:
            body, count = value, len(value)
        entry = struct.pack(order + "HHI", tag, kind, count)
        if len(body) > 4:
            entry += struct.pack(order + "I", len(out))
            out += body + b"\0" * (len(body) % 2)
        else:
            entry += body.ljust(4, b"\0")
        entries.append(entry)
    entries.sort(key=lambda e: struct.unpack(order + "H", e[:2])[0])
    start = len(out)
    out += struct.pack(order + "H", len(entries)) + b"".join(entries) + following
    out[4:8] = struct.pack(order + "I", start)
    return bytes(out)


def _encode_png(
    pixels: np.ndarray, alpha: np.ndarray | None, picture: Picture, tag: str | None
) -> bytes:
    """Gray, RGB or RGBA, 8 or 16 bits, as PNG through OpenCV's libpng with zlib's
    run-length strategy: on photos about twice as fast as Pillow's level-4 deflate, and no
    bigger (PNG's row filters leave mostly runs to compress). Every row takes the Paeth
    filter (where OpenCV has ``IMWRITE_PNG_FILTER``) instead of libpng's per-row trial of
    all five: the filter that trial picks on upscaled photos and graphics, so the same
    size in less time. The ICC profile, the tag, the EXIF data and the DPI go in as chunks
    after the header."""
    array = pixels
    if alpha is not None:
        alpha = to_16bit(alpha) if pixels.dtype == np.uint16 else to_8bit(alpha)
        array = np.dstack([pixels, alpha])
    code = {3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGRA}.get(array.shape[2])
    array = cv2.cvtColor(array, code) if code is not None else array[..., 0]
    options = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY]
    options.append(cv2.IMWRITE_PNG_STRATEGY_RLE)
    if hasattr(cv2, "IMWRITE_PNG_FILTER"):
        options += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_PAETH]
    ok, data = cv2.imencode(".png", array, options)
    if not ok:
        raise ImageError("OpenCV could not encode the PNG")
    png = data.tobytes()
    if picture.icc_profile:
        png = _png_insert_chunk(png, b"iCCP", b"icc\0\0" + zlib.compress(picture.icc_profile))
    if tag is not None:
        png = _png_insert_chunk(png, b"tEXt", TAG_KEY.encode() + b"\0" + tag.encode("ascii"))
    if picture.exif:
        png = _png_insert_chunk(png, b"eXIf", _exif_body(picture.exif))
    if picture.dpi:
        per_metre = (round(d / 0.0254) for d in picture.dpi)
        png = _png_insert_chunk(png, b"pHYs", struct.pack(">IIB", *per_metre, 1))
    return png


def _exif_body(exif: bytes) -> bytes:
    """The TIFF-structured EXIF data, without the ``Exif\\0\\0`` header JPEG uses."""
    return exif[6:] if exif.startswith(b"Exif\0\0") else exif


def _fit_exif(exif: bytes) -> bytes | None:
    """EXIF that fits a JPEG segment: without the maker note when too long, else none."""
    if len(exif) <= JPEG_EXIF_LIMIT:
        return exif
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        parsed.get_ifd(EXIF_IFD).pop(EXIF_MAKER_NOTE, None)
        smaller = parsed.tobytes()
    except Exception:  # noqa: BLE001 - unparsable: dropped below
        return None
    return smaller if len(smaller) <= JPEG_EXIF_LIMIT else None


def _png_insert_chunk(png: bytes, kind: bytes, body: bytes) -> bytes:
    """Insert a chunk right after a PNG's ``IHDR`` (``iCCP``: name, NUL, method 0, zlib
    data; ``tEXt``: keyword, NUL, Latin-1 text)."""
    chunk = struct.pack(">I", len(body)) + kind + body
    chunk += struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    end_of_ihdr = 8 + 4 + 4 + 13 + 4  # signature, length, type, IHDR data, CRC
    return png[:end_of_ihdr] + chunk + png[end_of_ihdr:]


# --- the srgan tag: which outputs srgan wrote, and with what settings --------------------
TAG_KEY = "srgan"
TIFF_DESCRIPTION = 270  # the ImageDescription tag
TIFF_EXTRA_SAMPLES = 338  # what samples beyond the colour ones are (2: unassociated alpha)
TIFF_ICC_PROFILE = 34675  # InterColorProfile
_XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    'xmlns:srgan="urn:srgan:settings" srgan:settings="{}"/></rdf:RDF></x:xmpmeta>'
)


def _xmp_packet(tag: str) -> bytes:
    return _XMP.format(html.escape(tag, quote=True)).encode()


def read_tag(path: str | Path) -> str | None:
    """The tag ``encode_image`` stored in a file (PNG text chunk, JPEG comment, WebP XMP,
    TIFF description), or ``None``: no tag (BMP, or not written by srgan)."""
    try:
        with open_header(path) as image:
            info = image.info
            if isinstance(info.get(TAG_KEY), str):
                return info[TAG_KEY]
            texts = [info.get("comment"), getattr(image, "tag_v2", {}).get(TIFF_DESCRIPTION)]
            for text in texts:
                if isinstance(text, bytes):
                    text = text.decode("latin-1")
                if isinstance(text, str) and text.startswith(f"{TAG_KEY} "):
                    return text[len(TAG_KEY) + 1 :]
            xmp = info.get("xmp")
            if isinstance(xmp, bytes):
                found = re.search(rb'srgan:settings="([^"]*)"', xmp)
                if found:
                    return html.unescape(found.group(1).decode())
    except Exception:  # noqa: BLE001 - unreadable, or a bomb's header: not an output of ours
        return None
    return None


# Pillow's decompression-bomb limit is a module global: it is lifted for one open at a time.
_PILLOW_LIMIT = threading.Lock()


@contextlib.contextmanager
def open_header(path: str | Path) -> Iterator[Image.Image]:
    """``Image.open(path)`` without Pillow's decompression-bomb warning or error (its limit
    lifted for the open only, then restored): the caller checks the size itself
    (``read_image``'s ``max_pixels``), or reads only the header and metadata (a tag, the
    size), so that an output of over 179 MP (a 4x of an 11 MP photo) is still read."""
    with _PILLOW_LIMIT:
        limit = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            image = Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = limit
    with image:
        yield image


# The JPEG standard's example luminance table (Annex K), which libjpeg, Pillow and most
# encoders scale by their quality setting.
_JPEG_LUMA = (
    *(16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55),
    *(14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62),
    *(18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92),
    *(49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99),
)


def jpeg_quality(path: str | Path) -> float | None:
    """The quality (1-100) a JPEG file was saved at, estimated from its luminance
    quantization table as libjpeg scales it (within a unit for libjpeg and Pillow from
    quality 15 up, below which their tables are clipped; close for other encoders);
    ``None`` for other files and files that cannot be read."""
    try:
        with open_header(path) as image:
            if image.format != "JPEG" or 0 not in getattr(image, "quantization", {}):
                return None
            table = image.quantization[0]
    except (OSError, ValueError, SyntaxError):
        return None
    scale = 100 * sum(table) / sum(_JPEG_LUMA)  # libjpeg's: 200 - 2q from 50 up, 5000 / q below
    return (200 - scale) / 2 if scale <= 100 else 5000 / scale


def _process_alive(pid: int) -> bool:
    if os.name == "nt":  # there os.kill(pid, 0) sends Ctrl-C: every process is alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by someone else
    return True


# Temporaries are named ".<name>.<host>-<pid>.<8 hex>.part": the host, so that runs on
# several machines writing one network folder never judge each other's process ids.
HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"


def _temporary_key(name: str) -> str:
    """The part of a temporary's name that stands for the file's: the name itself, or for a
    long one (file names have at most 255 bytes, and the temporary adds up to 60) a digest."""
    if len(os.fsencode(name)) <= 160:
        return name
    return f"{name[:40]}~{hashlib.sha256(os.fsencode(name)).hexdigest()[:16]}"


def _temporary_pattern(name: str) -> re.Pattern[str]:
    key = re.escape(_temporary_key(name))
    return re.compile(rf"\.{key}\.(?:(?P<host>[A-Za-z0-9]+)-)?(?P<pid>\d+)\.[0-9a-f]{{8}}\.part")


def remove_stale_temporaries(path: Path) -> None:
    """Delete the temporary files of ``path`` left by killed runs (SIGKILL, power loss);
    on Windows none (whether a process lives is not asked there: see ``_process_alive``).

    A temporary's name carries the host and id of the process writing it; those of live
    processes (another run writing the same folder) and of other hosts are left alone, as
    is any file whose name is not exactly a temporary's.
    """
    pattern = _temporary_pattern(path.name)
    for stale in path.parent.glob(f".{glob.escape(_temporary_key(path.name))}.*.part"):
        found = pattern.fullmatch(stale.name)
        if found is None or found["host"] not in (None, HOST):
            continue
        pid = int(found["pid"])
        if pid != os.getpid() and not _process_alive(pid):
            stale.unlink(missing_ok=True)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (Linux's MemAvailable), or None."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_writable(folder: str | Path) -> None:
    """Prove, before any work, that files can be written in ``folder`` (created if need
    be): a probe file in it, or in its nearest existing parent; nothing is left behind.
    ``PermissionError`` says what is in the way."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise PermissionError(f"cannot write into {folder}: {existing} is a file, not a folder")
    try:  # a unique name: runs (or threads) probing one folder at once never collide
        descriptor, probe = tempfile.mkstemp(prefix=".srgan-write-test.", dir=existing)
        os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        raise PermissionError(
            f"cannot write into {folder}: {error.strerror or error} in {existing}"
        ) from None


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to (in the same folder, named with
    this host and process id); when the block ends it is flushed to disk and renamed onto ``path``,
    and if the block fails (or is interrupted) it is removed. Readers see the old file or
    the complete new one, never a part; a killed writer's temporary is removed by the
    next writer of ``path`` (``remove_stale_temporaries``; not on Windows)."""
    with atomic_paths([path]) as (temporary,):
        yield temporary


@contextlib.contextmanager
def atomic_paths(paths: Sequence[str | Path]) -> Iterator[list[Path]]:
    """``atomic_path`` for several files that go together: their temporaries are all
    flushed to disk, then renamed onto ``paths`` one after the other, in order (the last
    one last: e.g. the report of the others). If the block fails, none is renamed, the
    temporaries are removed, and so are the folders made for them that are left empty."""
    targets = [Path(path) for path in paths]
    made = [(target.parent, existing_ancestor(target.parent)) for target in targets]
    temporaries: list[Path] = []
    try:
        for path in targets:
            temporaries.append(_new_temporary(path))
        yield temporaries
        for temporary in temporaries:
            fd = os.open(temporary, os.O_RDWR)  # Windows syncs only a writable handle
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for temporary, path in zip(temporaries, targets):
            os.replace(temporary, path)
    except BaseException:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
        for folder, existed in made:
            remove_empty_folders(folder, existed)
        raise


def _new_temporary(path: Path, attempts: int = 5) -> Path:
    """Create an empty temporary for ``path`` in its folder, making the folder if need be.

    Another writer whose write failed may remove that folder, left empty, between its
    making and the temporary's creation (two outputs in one new folder, written at once):
    then it is made again."""
    key = _temporary_key(path.name)
    failures = 0
    while True:
        temporary = path.parent / f".{key}.{HOST}-{os.getpid()}.{secrets.token_hex(4)}.part"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(path)
            # Created with mode 0o666, so the process umask applies as for a plain open().
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return temporary
        except (FileNotFoundError, FileExistsError):  # FileExists: mkdir saw it, then not
            failures += 1
            if failures == attempts:
                raise


def existing_ancestor(folder: Path) -> Path:
    """``folder`` if it exists, else its nearest parent that does."""
    return next(f for f in [folder, *folder.parents] if f.exists())


def remove_empty_folders(folder: Path, until: Path) -> None:
    """``folder`` and its parents below ``until``, as long as they are empty. Asked of
    the file system, not looked at first: another writer may be filling one meanwhile."""
    while folder != until and folder.is_relative_to(until):
        try:
            folder.rmdir()
        except OSError:  # not empty (or not a folder, or already gone)
            break
        folder = folder.parent


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see ``atomic_path``)."""
    with atomic_path(path) as temporary, open(temporary, "wb") as file:
        file.write(data)


def write_image(
    path: str | Path,
    picture: Picture,
    *,
    fmt: str | None = None,
    quality: int = 95,
    tag: str | None = None,
) -> None:
    """Encode ``picture`` (format from ``fmt`` or the suffix) and write it atomically."""
    path = Path(path)
    fmt = fmt or SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"cannot tell the output format from {path.name}; give fmt")
    atomic_write(path, encode_image(picture, fmt, quality=quality, tag=tag))
