"""Side-by-side crops of real photos upscaled by several methods, where there is no ground
truth to score against (JPEGs as people have them): one row per photo, one column per
method, the same window of each output.

    python -m benchmarks.quality.photos PHOTO... --models bicubic fast fast-real \\
        --out benchmarks/results/fast-real/photos.png

Each photo is upscaled as it is (its own pixels are the LR), by the same methods as
``python -m benchmarks.quality`` (``--models``: baselines, shipped models, weights files).
The window is the photo's ``--size``-pixel square with the most gradient energy (edges
and texture, where methods differ), upscaled, so each crop shows ``--size`` x scale
output pixels.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from benchmarks.plots import pyplot, save_figure
from benchmarks.quality.methods import Method, build_method
from benchmarks.quality.report import busiest_window
from srgan.arguments import at_least
from srgan.images import ImageError, check_writable, list_images, read_rgb

FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")


def plot_photo_crops(
    photos: Sequence[Path], methods: Sequence[Method], *, scale: int, size: int, out: Path
) -> Path:
    """The figure described in the module docstring, written to ``out``."""
    plt = pyplot()
    figure, axes = plt.subplots(
        len(photos),
        len(methods),
        figsize=(2.6 * len(methods), 2.7 * len(photos)),
        squeeze=False,
    )
    for row, photo in enumerate(photos):
        pixels = read_rgb(photo)
        side = min(size, *pixels.shape[:2])
        top, left = busiest_window(pixels, side)
        # A margin around the window, so tiles and borders do not decide what is shown.
        margin = 8
        y0, x0 = max(0, top - margin), max(0, left - margin)
        lr = pixels[y0 : top + side + margin, x0 : left + side + margin]
        for col, method in enumerate(methods):
            sr = method(lr)
            y, x = (top - y0) * scale, (left - x0) * scale
            ax = axes[row][col]
            ax.imshow(sr[y : y + side * scale, x : x + side * scale], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(method.name, fontsize=9)
            if col == 0:
                ax.set_ylabel(photo.name, fontsize=8)
    return save_figure(figure, out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.quality.photos",
        description="Side-by-side crops of real photos (no ground truth) upscaled by each model.",
    )
    parser.add_argument(
        "photos", nargs="+", type=Path, help="image files or folders of them, used as the LR"
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=["bicubic", "fast"],
        help="as benchmarks.quality's: the baselines bicubic, nearest and lanczos, shipped "
        "models (default or fast-any, fast, fast-real, fast-gan), weights files (default: "
        "bicubic fast); give the photos before --models, or end the list with --",
    )
    parser.add_argument(
        "--scale", type=at_least(1), default=4, help="the models' scale (default 4)"
    )
    parser.add_argument(
        "--size", type=at_least(8), default=64, help="LR window side in pixels (default 64)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs/photos.png"),
        help="the figure: a .png, .jpg, .pdf or .svg file, or an existing folder to hold photos.png "
        "(default: runs/photos.png)",
    )
    args = parser.parse_args(argv)
    out = args.out / "photos.png" if args.out.is_dir() else args.out
    if out.suffix.lower() not in FIGURE_SUFFIXES:
        parser.error(f"--out {out}: give a file ending in {', '.join(FIGURE_SUFFIXES)}")
    try:  # before the models run
        check_writable(out.parent)
    except PermissionError as error:
        parser.error(f"--out {out}: {error}")
    problems, photos = [], []
    for given in args.photos:
        try:  # a folder: its images, in name order
            photos += list_images(given) if given.is_dir() else [given]
        except FileNotFoundError as error:
            problems.append(str(error))
    args.photos = photos
    for photo in args.photos:
        try:
            read_rgb(photo)  # the whole image: a truncated file fails here, not midway
        except (OSError, ValueError, ImageError) as error:
            problems.append(f"{photo}: {error}")
    methods = []
    for spec in args.models:
        try:
            methods.append(build_method(spec, args.scale, device="cpu"))
        except (FileNotFoundError, ValueError, ImportError) as error:
            problems.append(f"--models {spec}: {error}")
    if problems:
        parser.error("\n  ".join(["nothing was drawn:", *problems]))
    path = plot_photo_crops(args.photos, methods, scale=args.scale, size=args.size, out=out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
