"""Pack training image folders small, without changing a pixel, to send them to a GPU machine.

    python -m benchmarks.release.pack --data T91 BSD200 SunHays80 --out runs/pack

Each folder becomes ``OUT/<folder name>/`` with the same relative paths and stems. Images
stored without loss (PNG, BMP, TIFF) are re-encoded as lossless WebP, which keeps every
pixel in about two thirds of PNG's bytes (half of BMP's); JPEG and WebP files are copied as
they are (a JPEG cannot shrink without a new loss). Each WebP is decoded again and compared
with its source as training reads them (``srgan.images.read_rgb``: RGB, EXIF orientation
applied); a difference stops the pack. The sizes printed per folder tell which folders fit
one transfer: ``srgan.fit`` and ``benchmarks.release`` read the packed folders as they are
(``--data OUT/T91 OUT/BSD200 ...``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from srgan.images import list_images, read_rgb

COPIED = frozenset({".jpg", ".jpeg", ".webp"})


def packed_suffix(source: Path) -> str:
    """The suffix ``source`` gets in the pack: its own (lower case) when copied, else .webp."""
    suffix = source.suffix.lower()
    return suffix if suffix in COPIED else ".webp"


def pack_file(source: Path, target_stem: Path) -> Path:
    """One image -> ``target_stem`` plus its packed suffix; the path written."""
    target = target_stem.with_name(target_stem.name + packed_suffix(source))
    if source.suffix.lower() in COPIED:
        shutil.copyfile(source, target)
        return target
    pixels = read_rgb(source)
    Image.fromarray(pixels).save(target, "WEBP", lossless=True, quality=100, method=4, exact=True)
    if not np.array_equal(read_rgb(target), pixels):
        raise RuntimeError(f"{target}: the lossless WebP does not decode to {source}'s pixels")
    return target


def pack_folder(folder: Path, out: Path, *, threads: int = 2) -> tuple[int, int]:
    """Pack every image under ``folder`` into ``out``: ``(files, bytes written)``. Two
    images that would get one packed name (``a.png`` and ``a.bmp`` both become ``a.webp``)
    stop the pack before anything is written."""
    files = list_images(folder)
    # Stems as they are ("0001.x4" of 0001.x4.png), whatever dots they hold.
    stems = [(out / source.relative_to(folder)).with_name(source.stem) for source in files]
    first: dict[str, Path] = {}
    for source, stem in zip(files, stems):
        target = stem.with_name(stem.name + packed_suffix(source))
        # Case folded: on macOS's and Windows' file systems A.webp and a.webp are one file.
        key = str(target).casefold()
        if key in first:
            raise ValueError(
                f"{first[key]} and {source} would both be packed as {target.name}: "
                "rename one of them"
            )
        first[key] = source
    for stem in stems:
        stem.parent.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(threads) as pool:  # Pillow's codecs release the GIL
        written = list(pool.map(pack_file, files, stems))
    return len(written), sum(p.stat().st_size for p in written)


# Marks a folder this command wrote: the only kind a later pack replaces.
MARKER = ".srgan-pack"


def overlap(a: Path, b: Path) -> bool:
    """``a`` and ``b`` are one folder, or one holds the other."""
    a, b = a.resolve(), b.resolve()
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.release.pack",
        description=__doc__.split("\n\n")[0],
        epilog="Lossless sources become lossless WebP (checked pixel for pixel); JPEG and "
        "WebP are copied. Training reads the packed folders directly.",
    )
    parser.add_argument("--data", nargs="+", required=True, help="image folders to pack")
    parser.add_argument("--out", default="runs/pack", help="output folder (default: runs/pack)")
    parser.add_argument("--threads", type=int, default=2, help="encoding threads (default 2)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    names = [Path(d).expanduser().resolve().name for d in args.data]
    if len(set(names)) != len(names):
        parser.error(f"two folders have the same name ({', '.join(names)}): they would collide")
    folders = [Path(d).expanduser() for d in args.data]
    for name in names:
        target = out / name
        for source in folders:
            if overlap(target, source):
                parser.error(
                    f"{target} would overlap the input folder {source}: pick another --out"
                )
        if target.exists() and not (target / MARKER).is_file():
            parser.error(
                f"{target} exists and was not written by this command: remove it or pick "
                "another --out"
            )
    total = 0
    for folder, name in zip(folders, names):
        target = out / name
        # Packed beside the target in a folder of its own, then swapped in: a failed pack
        # leaves the old one.
        out.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out))
        try:
            count, size = pack_folder(folder, partial, threads=args.threads)
        except BaseException as error:
            shutil.rmtree(partial, ignore_errors=True)
            if isinstance(error, (FileNotFoundError, ValueError)):
                parser.error(str(error))
            raise
        (partial / MARKER).touch()
        partial.chmod(0o755)  # mkdtemp's folder is the owner's alone
        if target.exists():
            shutil.rmtree(target)
        partial.rename(target)
        total += size
        print(f"{target}: {count} images, {size / 2**20:.1f} MiB", flush=True)
    print(f"{out}: {total / 2**20:.1f} MiB in all", flush=True)


if __name__ == "__main__":
    main()
