"""Image file reading for training and evaluation: decode to RGB uint8 arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})


def list_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted); a clear error if there are none."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(
            f"no images in {root} (looked for {', '.join(sorted(IMAGE_SUFFIXES))}, recursively)"
        )
    return files


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
