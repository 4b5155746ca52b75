"""Nested fractions of a training set, for measuring what more images of the same kind buy,
and its multi-scale copies, for what denser detail buys.

    python -m benchmarks.training.subsets --data T91 BSD200 SunHays80 --fractions 0.5 0.25 \
        --scales 1 0.75 0.5 --out runs/subsets

writes ``OUT/val/``, the images a run on the whole set holds out for validation
(``srgan.fit``'s ``data.val_holdout``, 10 by default), and ``OUT/train-<percent>/<folder>/``
for each fraction: that share of every folder's remaining images, drawn by a seeded
permutation, so that each fraction holds the smaller ones (25% of them within the 50%) and
the mix of folders stays the whole set's. Train on a fraction with
``--data.train_dir=OUT/train-50 --data.val_dir=OUT/val``: its validation then scores the
same images, named alike (their degraded LR seeded alike), as the whole set's run did.
Files are copied, not linked, so the folders also travel.

With ``--scales``, ``OUT/multiscale/<folder>/`` holds every image of the whole set but the
held-out ones at each factor, Lanczos-resized with Pillow from the pixels training reads
(``<stem>_s<percent>.png``; factor 1 is the image itself): Real-ESRGAN's multi-scale DF2K,
where a photo made smaller packs more detail into each crop. ``srgan.fit`` skips the
copies smaller than its crop.
"""

from __future__ import annotations

import argparse
import math
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.release.pack import overlap
from srgan.data import SRDataModule
from srgan.images import image_name, list_images, read_rgb
from srgan.progress import progress_bar

# Marks a folder this command wrote: the only kind a later run replaces.
MARKER = ".srgan-subsets"


def split(
    folders: Sequence[Path], fractions: Sequence[float], *, holdout: int = 10, seed: int = 0
) -> tuple[list[Path], dict[float, list[Path]]]:
    """``(held out, {fraction: training images})``: the validation images a run on all of
    ``folders`` holds out, and each fraction's share of every folder's other images."""
    # srgan.fit's own split, so that the held-out images are the ones its runs hold out.
    train, held = SRDataModule([str(f) for f in folders], val_holdout=holdout)._split()
    kept = set(train)
    chosen: dict[float, list[Path]] = {fraction: [] for fraction in fractions}
    for folder in folders:
        files = [f for f in list_images(folder) if f in kept]
        if not files:  # all held out
            continue
        order = np.random.default_rng(seed).permutation(len(files))
        for fraction in fractions:
            count = max(1, math.ceil(fraction * len(files)))
            chosen[fraction] += [files[i] for i in sorted(order[:count])]
    return held, chosen


def percent(fraction: float) -> str:
    return f"{100 * fraction:g}"


def rescaled(image: np.ndarray, factor: float) -> np.ndarray:
    """``(H, W, 3)`` uint8 ``image`` resized by ``factor`` with Pillow's Lanczos filter (each
    side rounded, at least 1 px); factor 1 returns it as it is."""
    if factor == 1:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.training.subsets",
        description=__doc__.split("\n\n")[0],
        epilog="Each fraction is rounded up per folder. The held-out images are the ones "
        "srgan.fit holds out of the whole set with the same --holdout. Multi-scale copies are "
        "PNGs resized with Pillow's Lanczos filter, named <stem>_s<percent>.png (factor 1 "
        "is the image itself); srgan.fit skips those smaller than its crop.",
    )
    parser.add_argument("--data", nargs="+", required=True, help="training image folders")
    parser.add_argument(
        "--fractions", nargs="+", type=float, default=[], help="shares to keep, in (0, 1)"
    )
    parser.add_argument(
        "--scales",
        nargs="+",
        type=float,
        default=[],
        help="factors in (0, 1] for OUT/multiscale/: every training image at each of them",
    )
    parser.add_argument(
        "--out", default="runs/subsets", help="output folder (default runs/subsets)"
    )
    parser.add_argument(
        "--holdout", type=int, default=10, help="images held out for validation (default 10)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    args = parser.parse_args(argv)
    if bad := [f for f in args.fractions if not 0 < f < 1]:
        parser.error(f"fractions must lie between 0 and 1, got {bad[0]:g}")
    if bad := [f for f in args.scales if not 0 < f <= 1]:
        parser.error(f"scales must lie in (0, 1], got {bad[0]:g}")
    if not args.fractions and not args.scales:
        parser.error("give --fractions, --scales or both")
    if len({percent(f) for f in args.scales}) != len(args.scales):
        parser.error("--scales repeats a factor")
    folders = [Path(d).expanduser() for d in args.data]
    names = [f.resolve().name for f in folders]
    if len(set(names)) != len(names):
        parser.error(f"two folders have the same name ({', '.join(names)}): they would collide")
    out = Path(args.out)
    for folder in folders:
        if overlap(out, folder):
            parser.error(f"{out} would overlap the input folder {folder}: pick another --out")
    if out.exists() and not (out / MARKER).is_file():
        parser.error(f"{out} exists and was not written by this command: pick another --out")
    try:
        held, chosen = split(folders, args.fractions, holdout=args.holdout, seed=args.seed)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    # Held-out images go into val/ by the names validation gives them in their folder.
    roots = {f: folder for folder in folders for f in list_images(folder)}
    flat = [image_name(f, roots[f]) + f.suffix for f in held]
    # Validation names images without suffix; two alike but for case would clash too.
    if len({Path(name).with_suffix("").as_posix().casefold() for name in flat}) != len(flat):
        parser.error("two held-out images have the same name in different folders")
    if out.exists():
        shutil.rmtree(out)
    (out / "val").mkdir(parents=True)
    (out / MARKER).touch()
    for source, name in zip(held, flat):
        (out / "val" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, out / "val" / name)
    print(f"{out / 'val'}: {len(held)} images held out", flush=True)
    for fraction, files in chosen.items():
        target = out / f"train-{percent(fraction)}"
        for source in files:
            copy = target / roots[source].resolve().name / source.relative_to(roots[source])
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, copy)
        print(f"{target}: {len(files)} images", flush=True)
    if args.scales:
        target, count = out / "multiscale", 0
        sources = sorted(set(roots) - set(held))
        bar = progress_bar(True, desc="multiscale", total=len(sources), unit="img")
        for source in sources:
            bar.update(1)
            try:
                image = read_rgb(source)
            except (OSError, ValueError) as error:  # as training, which skips it
                print(f"skipping {source}: {error}", flush=True)
                continue
            stem = target / roots[source].resolve().name / source.relative_to(roots[source])
            stem.parent.mkdir(parents=True, exist_ok=True)
            for factor in args.scales:
                copy = stem.with_name(f"{stem.stem}_s{percent(factor)}.png")
                if copy.exists():  # a.jpg beside a.png
                    parser.error(f"{source} and another image share the name {copy.name}")
                Image.fromarray(rescaled(image, factor)).save(copy)
                count += 1
        bar.close()
        print(f"{target}: {count} images", flush=True)


if __name__ == "__main__":
    main()
