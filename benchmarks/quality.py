"""Quality benchmark: PSNR / SSIM / LPIPS / DISTS of upscalers the way published SR tables measure them.

    python -m benchmarks.quality --data ../shared/data/Set5 ../shared/data/Set14 \\
        --models bicubic default opencv:ESPCN_x4.pb --scale 4
    python -m benchmarks.quality --self-test     # bicubic x4 vs the published Set5/Set14 figures

For each HR folder, LR images are made with MATLAB-compatible bicubic (``srgan.resize``,
uint8 rounding like MATLAB) after cropping the HR image to a multiple of the scale, or read
from ``--lr-dir`` (matched by file stem). Each method upscales them; PSNR and SSIM follow
the published convention (``srgan.metrics``: Y channel, ``scale`` pixels of border cropped,
8-bit, float64), and ``detail`` is the high-frequency energy of the output relative to HR
(``srgan.metrics.detail_ratio``: below 1 smoother, above 1 sharper than the original). The
perceptual distances (``--metrics``, all by default) follow their reference code: ``lpips``
(v0.1, AlexNet), ``lpips_vgg`` (v0.1, VGG16) and ``dists`` on the full RGB image, no border
crop, LPIPS inputs in [-1, 1], DISTS in [0, 1]; lower is better. Their backbones come from
``python -m srgan.assets fetch``; a missing one stops the run before any work, naming the
command.

Writes ``--out`` (default ``results/quality/``): ``quality.json`` (environment and one
record per image and per data set), ``quality.md`` (the summary table, the tails, then
per-image tables), ``psnr_per_image.png``, ``psnr_lpips.png`` and ``crops_<dataset>.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from benchmarks.methods import BASELINES, DEFAULT_OPENCV_DIR, Method, build_method
from benchmarks.plots import pyplot, save_figure
from benchmarks.report import environment, markdown_table, write_json
from srgan.assets import MissingWeightsError
from srgan.images import list_images, read_image
from srgan.inference import resolve_device
from srgan.metrics import DISTS, LPIPS, detail_ratio, psnr, ssim
from srgan.resize import imresize_array, mod_crop

REPO = Path(__file__).resolve().parent.parent
# Bicubic x4 on the standard protocol, as published (SRCNN, VDSR, ... tables).
PUBLISHED_BICUBIC_X4 = {"Set5": (28.42, 0.8104), "Set14": (26.00, 0.7027)}
TOLERANCE = (0.02, 0.002)  # dB, SSIM

# The perceptual distances: record key -> (label, constructor). Lower is better for all.
PERCEPTUAL: dict[str, tuple[str, Callable[[], torch.nn.Module]]] = {
    "lpips": ("LPIPS", lambda: LPIPS("alex")),
    "lpips_vgg": ("LPIPS-VGG", lambda: LPIPS("vgg")),
    "dists": ("DISTS", DISTS),
}
PERCEPTUAL_CONVENTION = (
    "LPIPS v0.1 (lpips: AlexNet, lpips_vgg: VGG16) and DISTS (VGG16), as their reference "
    "code: full RGB image, no border crop (gray images as three equal channels), 8-bit; "
    "LPIPS inputs in [-1, 1], DISTS in [0, 1]; lower is better"
)


# --- images ---------------------------------------------------------------------------------


def read_hr(path: str | Path) -> np.ndarray:
    """An ``(H, W, C)`` uint8 array; single-channel images stay single-channel (C = 1).

    Unlike ``srgan.images.read_rgb`` (training wants RGB), gray images are kept gray: the
    published tables score them on their own gray values. Alpha is dropped; 16-bit images
    keep their top 8 bits.
    """
    pixels = read_image(path, max_pixels=None).pixels
    return (pixels >> 8).astype(np.uint8) if pixels.dtype == np.uint16 else pixels


def match_channels(image: np.ndarray, channels: int) -> np.ndarray:
    if image.shape[2] == channels:
        return image
    if channels == 1:  # RGB -> gray with BT.601 weights, as Pillow's convert("L")
        return np.asarray(Image.fromarray(image).convert("L"))[..., None]
    return np.repeat(image, 3, axis=2)


def load_dataset(
    folder: str | Path, scale: int, lr_dir: str | Path | None = None
) -> tuple[str, list[tuple[str, np.ndarray, np.ndarray]]]:
    """``(name, [(image stem, HR, LR), ...])``; HR cropped to a multiple of ``scale``."""
    files = list_images(folder)
    lr_files = {p.stem: p for p in list_images(lr_dir)} if lr_dir is not None else None
    items = []
    for path in files:
        hr = mod_crop(read_hr(path), scale)
        if lr_files is None:
            lr = imresize_array(hr, 1 / scale)
        else:
            if path.stem not in lr_files:
                raise FileNotFoundError(f"no LR image named {path.stem}.* in {lr_dir}")
            lr = match_channels(read_hr(lr_files[path.stem]), hr.shape[2])
            expected = (hr.shape[0] // scale, hr.shape[1] // scale)
            if lr.shape[:2] != expected:
                raise ValueError(
                    f"LR {lr_files[path.stem].name} is {lr.shape[1]}x{lr.shape[0]}, expected "
                    f"{expected[1]}x{expected[0]} for HR {path.name} at x{scale}"
                )
        items.append((path.stem, hr, lr))
    return Path(folder).expanduser().resolve().name, items


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, C)`` uint8 -> ``(1, C, H, W)`` float64 in [0, 1] (exact on the 8-bit grid)."""
    return torch.tensor(image).permute(2, 0, 1)[None].to(torch.float64) / 255.0


# --- evaluation -----------------------------------------------------------------------------


def summarize(dataset: str, model: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A data set's summary record: the means and the tails the mean hides.

    PSNR: the worst (lowest) image and the 10th percentile. Each perceptual distance: the
    worst (highest) image and the 90th percentile, the same 10% tail seen from the other
    side (``None`` throughout when the distance was not measured).
    """
    psnrs = np.array([r["psnr"] for r in rows])
    worst = rows[int(np.argmin(psnrs))]
    summary = {
        "dataset": dataset,
        "model": model,
        "image": None,
        "scale": rows[0]["scale"],
        "psnr": float(psnrs.mean()),
        "ssim": float(np.mean([r["ssim"] for r in rows])),
        "detail": float(np.mean([r["detail"] for r in rows])),
        "seconds": float(np.mean([r["seconds"] for r in rows])),
        "worst_image": worst["image"],
        "worst_psnr": worst["psnr"],
        "p10_psnr": float(np.percentile(psnrs, 10)),
        "images": len(rows),
    }
    for key in PERCEPTUAL:
        values = [r.get(key) for r in rows]
        if None in values:
            summary |= {key: None, f"worst_{key}_image": None, f"worst_{key}": None}
            summary[f"p90_{key}"] = None
            continue
        array = np.array(values, dtype=np.float64)
        index = int(np.argmax(array))
        summary |= {key: float(array.mean()), f"worst_{key}_image": rows[index]["image"]}
        summary[f"worst_{key}"] = float(array[index])
        summary[f"p90_{key}"] = float(np.percentile(array, 90))
    return summary


def evaluate(
    datasets: Sequence[tuple[str, list[tuple[str, np.ndarray, np.ndarray]]]],
    methods: Sequence[Method],
    *,
    scale: int,
    crop_border: int,
    y_channel: bool = True,
    perceptual: Mapping[str, Callable[..., torch.Tensor]] | None = None,
    keep: int = 0,
    progress: bool = True,
) -> tuple[list[dict[str, Any]], dict[tuple[str, str, str], np.ndarray]]:
    """Records (per image, then one summary per data set and method) and the SR images of
    the first ``keep`` images of each data set, keyed ``(dataset, method, image)``.

    ``perceptual`` maps keys of ``PERCEPTUAL`` to built metrics; the others are ``None``.
    """
    perceptual = perceptual or {}
    records: list[dict[str, Any]] = []
    kept: dict[tuple[str, str, str], np.ndarray] = {}
    for method in methods:
        warmed = False
        for dataset, items in datasets:
            rows = []
            bar = tqdm(items, desc=f"{dataset} {method.name}", unit="img", disable=not progress)
            for index, (image, hr, lr) in enumerate(bar):
                if not warmed and method.kind != "baseline":
                    method(lr)  # first call: lazy initialisation, kernel selection, caches
                    warmed = True
                start = time.perf_counter()
                sr = method(lr)
                seconds = time.perf_counter() - start
                a, b = to_tensor(sr), to_tensor(hr)
                row = {
                    "dataset": dataset,
                    "model": method.name,
                    "image": image,
                    "scale": scale,
                    "psnr": psnr(a, b, crop_border=crop_border, y_channel=y_channel).item(),
                    "ssim": ssim(a, b, crop_border=crop_border, y_channel=y_channel).item(),
                    "detail": detail_ratio(
                        a, b, crop_border=crop_border, y_channel=y_channel
                    ).item(),
                    # Full image, no border crop: the metrics' own convention.
                    **{
                        key: perceptual[key](a, b).item() if key in perceptual else None
                        for key in PERCEPTUAL
                    },
                    "seconds": seconds,
                    "height": hr.shape[0],
                    "width": hr.shape[1],
                }
                rows.append(row)
                if index < keep:
                    kept[dataset, method.name, image] = sr
            records += rows
            records.append(summarize(dataset, method.name, rows))
    return records, kept


def calibration(records: Sequence[dict[str, Any]], crop_border: int, y_channel: bool) -> list[str]:
    """Lines comparing bicubic x4 with the published figures, when this run measured them."""
    lines = []
    for r in records:
        published = PUBLISHED_BICUBIC_X4.get(r["dataset"])
        standard = r["scale"] == 4 and crop_border == 4 and y_channel
        if r["image"] is None and r["model"] == "bicubic" and published and standard:
            dp, ds = r["psnr"] - published[0], r["ssim"] - published[1]
            ok = abs(dp) <= TOLERANCE[0] and abs(ds) <= TOLERANCE[1]
            lines.append(
                f"{'OK  ' if ok else 'FAIL'} {r['dataset']} bicubic x4: {r['psnr']:.3f} dB / "
                f"{r['ssim']:.4f} vs published {published[0]:.2f} / {published[1]:.4f} "
                f"(diff {dp:+.3f} dB, {ds:+.4f}; tolerance {TOLERANCE[0]} dB, {TOLERANCE[1]})"
            )
    return lines


# --- report ---------------------------------------------------------------------------------


def measured(records: Sequence[dict[str, Any]]) -> list[str]:
    """The perceptual keys this run measured."""
    return [key for key in PERCEPTUAL if any(r.get(key) is not None for r in records)]


def _fmt(value: float | None, spec: str) -> str | None:
    return None if value is None else format(value, spec)


def _summaries(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    order = list(dict.fromkeys(r["dataset"] for r in records))
    return sorted(
        (r for r in records if r["image"] is None), key=lambda r: order.index(r["dataset"])
    )


def summary_table(records: Sequence[dict[str, Any]]) -> str:
    """The summary records' means as a Markdown table, grouped by data set."""
    keys = measured(records)
    rows = [
        {
            "data set": r["dataset"],
            "model": r["model"],
            "PSNR (dB)": _fmt(r["psnr"], ".2f"),
            "SSIM": _fmt(r["ssim"], ".4f"),
            **{PERCEPTUAL[k][0]: _fmt(r[k], ".4f") for k in keys},
            "detail": _fmt(r.get("detail"), ".3f"),
            "images": r["images"],
            "ms / image": _fmt(1000 * r["seconds"], ".1f"),
        }
        for r in _summaries(records)
    ]
    return markdown_table(rows, list(rows[0]))


def tail_table(records: Sequence[dict[str, Any]]) -> str:
    """The tails of every metric: worst image (value) and the 10% tail (PSNR's 10th
    percentile; the 90th for the distances, where higher is worse)."""
    keys = measured(records)
    rows = []
    for r in _summaries(records):
        row = {
            "data set": r["dataset"],
            "model": r["model"],
            "worst PSNR": f"{r['worst_image']} ({r['worst_psnr']:.2f})",
            "p10 PSNR": _fmt(r["p10_psnr"], ".2f"),
        }
        for key in keys:
            label = PERCEPTUAL[key][0]
            row[f"worst {label}"] = f"{r[f'worst_{key}_image']} ({r[f'worst_{key}']:.4f})"
            row[f"p90 {label}"] = _fmt(r[f"p90_{key}"], ".4f")
        rows.append(row)
    return markdown_table(rows, list(rows[0]))


def per_image_tables(records: Sequence[dict[str, Any]]) -> str:
    """One table per data set: an image per row, ``PSNR / SSIM [/ distances]`` per method."""
    keys = measured(records)
    heading = " / ".join(["PSNR (dB)", "SSIM", *(PERCEPTUAL[k][0] for k in keys)])
    parts = []
    for dataset in dict.fromkeys(r["dataset"] for r in records):
        rows: dict[str, dict[str, Any]] = {}
        for r in records:
            if r["dataset"] == dataset and r["image"] is not None:
                cell = " / ".join(
                    [f"{r['psnr']:.2f}", f"{r['ssim']:.4f}", *(f"{r[k]:.4f}" for k in keys)]
                )
                rows.setdefault(r["image"], {"image": r["image"]})[r["model"]] = cell
        models = list(dict.fromkeys(r["model"] for r in records if r["dataset"] == dataset))
        parts.append(
            f"### {dataset}: {heading} per image\n\n"
            + markdown_table(list(rows.values()), ["image", *models])
        )
    return "\n\n".join(parts)


def plot_psnr(records: Sequence[dict[str, Any]], path: Path) -> Path:
    """Per-image PSNR per method (box plot plus the points), one panel per data set."""
    plt = pyplot()
    datasets = list(dict.fromkeys(r["dataset"] for r in records))
    models = list(dict.fromkeys(r["model"] for r in records))
    figure, axes = plt.subplots(
        1, len(datasets), figsize=(1.2 + 1.1 * len(models) * len(datasets), 4), squeeze=False
    )
    rng = np.random.default_rng(0)
    for ax, dataset in zip(axes[0], datasets):
        values = [
            [
                r["psnr"]
                for r in records
                if r["dataset"] == dataset and r["model"] == m and r["image"] is not None
            ]
            for m in models
        ]
        ax.boxplot(values, showfliers=False)
        for i, v in enumerate(values, start=1):
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(v)), v, s=10, alpha=0.6, zorder=3)
        ax.set_xticks(range(1, len(models) + 1), models, rotation=30, ha="right")
        ax.set_title(dataset)
        ax.set_ylabel("PSNR (dB, Y)")
        ax.grid(axis="y", alpha=0.3)
    return save_figure(figure, path)


def plot_psnr_lpips(records: Sequence[dict[str, Any]], path: Path) -> Path:
    """PSNR against LPIPS, a point per image and a cross per model mean, one panel per data
    set: up and to the left is better on both."""
    plt = pyplot()
    datasets = list(dict.fromkeys(r["dataset"] for r in records))
    models = list(dict.fromkeys(r["model"] for r in records))
    figure, axes = plt.subplots(1, len(datasets), figsize=(4.6 * len(datasets), 4), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, dataset in zip(axes[0], datasets):
        for index, model in enumerate(models):
            colour = colours[index % len(colours)]
            rows = [r for r in records if r["dataset"] == dataset and r["model"] == model]
            points = [(r["lpips"], r["psnr"]) for r in rows if r["image"] is not None]
            if not points:
                continue
            ax.scatter(*zip(*points), s=14, alpha=0.6, color=colour, label=model)
            for r in rows:
                if r["image"] is None:
                    ax.scatter(r["lpips"], r["psnr"], s=90, marker="X", color=colour, zorder=3)
        ax.set_title(f"{dataset} (crosses: means)")
        ax.set_xlabel("LPIPS (AlexNet), lower is better")
        ax.set_ylabel("PSNR (dB, Y)")
        ax.grid(alpha=0.3)
    # One legend, beside the last panel, where it hides no point.
    axes[0][-1].legend(fontsize=8, bbox_to_anchor=(1.02, 1), loc="upper left")
    return save_figure(figure, path)


def busiest_window(hr: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size`` square with the most gradient energy in ``hr``."""
    gray = hr.astype(np.float64).mean(2)
    energy = np.zeros_like(gray)
    energy[:, 1:] += np.abs(np.diff(gray, axis=1))
    energy[1:, :] += np.abs(np.diff(gray, axis=0))
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = (
        integral[size:, size:]
        - integral[:-size, size:]
        - integral[size:, :-size]
        + integral[:-size, :-size]
    )
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(top), int(left)


def plot_crops(
    dataset: str,
    items: Sequence[tuple[str, np.ndarray, np.ndarray]],
    kept: dict[tuple[str, str, str], np.ndarray],
    models: Sequence[str],
    records: Sequence[dict[str, Any]],
    scale: int,
    path: Path,
) -> Path:
    """Zoomed crops, one row per image: bicubic | each method | HR; PSNR (and LPIPS, when
    measured) under each."""
    plt = pyplot()
    images = [item for item in items if (dataset, models[0], item[0]) in kept]
    columns = ["bicubic", *(m for m in models if m != "bicubic"), "HR"]
    score = {
        (r["model"], r["image"]): f"{r['psnr']:.2f} dB"
        + (f", LPIPS {r['lpips']:.3f}" if r.get("lpips") is not None else "")
        for r in records
        if r["dataset"] == dataset
    }
    figure, axes = plt.subplots(
        len(images), len(columns), figsize=(2.2 * len(columns), 2.4 * len(images)), squeeze=False
    )
    for row, (image, hr, lr) in enumerate(images):
        size = max(16, min(hr.shape[:2]) // 4)
        top, left = busiest_window(hr, size)
        for col, name in enumerate(columns):
            if name == "HR":
                picture = hr
            elif name == "bicubic" and (dataset, name, image) not in kept:
                picture = imresize_array(lr, scale)
            else:
                picture = kept[dataset, name, image]
            patch = picture[top : top + size, left : left + size]
            ax = axes[row][col]
            if patch.shape[2] == 1:
                ax.imshow(patch[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            else:
                ax.imshow(patch, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(name, fontsize=9)
            if col == 0:
                ax.set_ylabel(image, fontsize=9)
            if (name, image) in score:
                ax.set_xlabel(score[name, image], fontsize=8)
    return save_figure(figure, path)


# --- command line ---------------------------------------------------------------------------


def default_data_root() -> Path:
    """``../shared/data`` next to the repository that holds this package."""
    return REPO.parent / "shared" / "data"


def default_opencv_dir() -> Path:
    """``../shared/baselines/opencv-dnn-superres`` from the cwd, else next to the repository."""
    if DEFAULT_OPENCV_DIR.is_dir():
        return DEFAULT_OPENCV_DIR
    return REPO / DEFAULT_OPENCV_DIR


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.quality",
        description=(
            "PSNR / SSIM / LPIPS / DISTS of upscalers on HR image folders, measured like published SR\n"
            "tables: LR made from HR with MATLAB-compatible bicubic; PSNR and SSIM on the Y\n"
            "channel (BT.601), `scale` border pixels cropped, 8-bit, float64; gray images on\n"
            "their gray values. Reports the mean, the worst image and the 10th-percentile PSNR,\n"
            "the detail ratio (high-frequency energy of the output over HR's: < 1 smoother),\n"
            "LPIPS (AlexNet and VGG16) and DISTS on the full RGB image with their worst image\n"
            "and 90th percentile, per-image rows and inference time; writes JSON, Markdown and\n"
            "plots to --out."
        ),
        epilog=(
            "examples:\n"
            "  python -m benchmarks.quality --data ../shared/data/Set5 ../shared/data/Set14 "
            "--models bicubic --scale 4\n"
            "  python -m benchmarks.quality --data DIR --models bicubic default "
            "runs/x/last.ckpt opencv:ESPCN_x4.pb\n"
            "  python -m benchmarks.quality --self-test --data-root ../shared/data"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", nargs="+", metavar="DIR", help="HR image folders")
    parser.add_argument(
        "--models",
        nargs="+",
        default=["bicubic"],
        metavar="SPEC",
        help=(
            "methods to compare (default: bicubic): shipped srgan models by name (default, "
            "fast, quality, gan), a .safetensors or srgan.fit .ckpt path, the baselines "
            f"{', '.join(BASELINES)}, or opencv:FILE.pb (OpenCV dnn_superres; needs "
            "pip install 'srgan[baselines]'; those models were trained on non-antialiased LR, "
            "so under this protocol they barely beat bicubic)"
        ),
    )
    parser.add_argument("--scale", type=int, default=4, help="upscaling factor (default 4)")
    parser.add_argument(
        "--lr-dir",
        nargs="+",
        metavar="DIR",
        help="ready-made LR folders, one per --data folder in order, matched by file stem "
        "(default: make LR from HR with MATLAB-compatible bicubic)",
    )
    parser.add_argument(
        "--crop-border",
        type=int,
        default=None,
        help="pixels removed from every border before scoring (default: the scale; 0 for none)",
    )
    parser.add_argument(
        "--channels",
        choices=("y", "rgb"),
        default="y",
        help="score PSNR/SSIM on the Y channel (default, the published convention) or on RGB",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("results/quality"),
        help="output folder (default results/quality)",
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto)")
    parser.add_argument(
        "--precision", choices=("fp32", "fp16", "bf16"), default="fp32", help="srgan models only"
    )
    parser.add_argument("--tile", type=int, default=None, help="tile size in LR pixels (srgan)")
    parser.add_argument(
        "--opencv-dir",
        type=Path,
        default=None,
        help=f"where opencv:NAME.pb files are looked up (default {DEFAULT_OPENCV_DIR})",
    )
    parser.add_argument(
        "--metrics",
        nargs="+",
        choices=[*PERCEPTUAL, "none"],
        default=list(PERCEPTUAL),
        metavar="NAME",
        help="perceptual distances to add to PSNR / SSIM / detail: lpips (AlexNet), lpips_vgg "
        "(VGG16), dists, or none (default: all three). Their ImageNet backbones come from "
        "`python -m srgan.assets fetch` (run by make install); nothing is downloaded here",
    )
    parser.add_argument(
        "--crops", type=int, default=3, help="images per data set in the crop strip (0: none)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check bicubic x4 against the published Set5 28.42 dB / 0.8104 and Set14 "
        "26.00 dB / 0.7027 (within 0.02 dB, 0.002) and exit; reads --data-root",
    )
    parser.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="folder holding Set5/ and Set14/ for --self-test (default ../shared/data next "
        "to the repository)",
    )
    return parser


def self_test(data_root: Path, *, progress: bool = True) -> int:
    datasets = [load_dataset(data_root / name, 4) for name in PUBLISHED_BICUBIC_X4]
    records, _ = evaluate(
        datasets, [build_method("bicubic", 4)], scale=4, crop_border=4, progress=progress
    )
    lines = calibration(records, 4, True)
    print("\n".join(lines))
    return 0 if all(line.startswith("OK") for line in lines) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.self_test:
        return self_test(args.data_root or default_data_root(), progress=not args.no_progress)
    if not args.data:
        parser.error("--data DIR [DIR ...] is required (or --self-test)")
    if args.lr_dir is not None and len(args.lr_dir) != len(args.data):
        parser.error(f"--lr-dir needs one folder per --data folder ({len(args.data)})")
    scale = args.scale
    crop_border = scale if args.crop_border is None else args.crop_border
    y_channel = args.channels == "y"
    device = resolve_device(args.device)

    # Every input is checked before any work, and everything that fails is named at once:
    # the data first (cheap), then the models.
    problems = []
    datasets = []
    for folder, lr_dir in zip(args.data, args.lr_dir or [None] * len(args.data)):
        try:
            datasets.append(load_dataset(folder, scale, lr_dir))
        except (FileNotFoundError, ValueError) as error:
            problems.append(f"--data {folder}: {error}")
    opencv_dir = args.opencv_dir or default_opencv_dir()
    methods = []
    for spec in args.models:
        try:
            methods.append(
                build_method(
                    spec,
                    scale,
                    opencv_dir=opencv_dir,
                    device=device,
                    precision=args.precision,
                    tile=args.tile,
                )
            )
        except (FileNotFoundError, ValueError, ImportError) as error:
            problems.append(f"--models {spec}: {error}")
    wanted = [] if "none" in args.metrics else list(dict.fromkeys(args.metrics))
    perceptual = {}
    for name in wanted:
        try:
            perceptual[name] = PERCEPTUAL[name][1]().to(device)
        except MissingWeightsError as error:
            others = [n for n in wanted if n != name] or ["none"]
            problems.append(
                f"--metrics {name}: {error} (or leave it out: --metrics {' '.join(others)})"
            )
    if problems:
        parser.error("nothing was measured:\n  " + "\n  ".join(problems))
    seen: set[str] = set()
    for index, method in enumerate(methods, start=1):
        if method.name in seen:  # e.g. two runs' last.ckpt: keep the records apart
            method.name = f"{method.name}#{index}"
        seen.add(method.name)
    perceptual_note = (
        f"Perceptual distances: {PERCEPTUAL_CONVENTION}."
        if perceptual
        else "Perceptual distances: not requested (--metrics none)."
    )
    records, kept = evaluate(
        datasets,
        methods,
        scale=scale,
        crop_border=crop_border,
        y_channel=y_channel,
        perceptual=perceptual,
        keep=args.crops,
        progress=not args.no_progress,
    )

    env = environment(device)
    env.update(
        device=str(device),
        precision=args.precision,
        scale=scale,
        crop_border=crop_border,
        channels="Y (BT.601)" if y_channel else "RGB",
        lr="given (--lr-dir)" if args.lr_dir else "MATLAB-compatible bicubic from HR",
        perceptual_metrics=list(perceptual),
        perceptual_convention=PERCEPTUAL_CONVENTION if perceptual else None,
    )
    out: Path = args.out
    write_json({"environment": env, "records": records}, out / "quality.json")
    protocol = (
        f"x{scale}, PSNR/SSIM on {env['channels']}, {crop_border} px border cropped, "
        f"LR: {env['lr']}; device {device}, {args.precision}"
    )
    table = summary_table(records)
    checks = calibration(records, crop_border, y_channel)
    markdown = [
        "# Quality benchmark",
        "",
        protocol,
        "",
        table,
        "",
        perceptual_note,
        *(
            ["", "Calibration against published bicubic figures:", ""]
            + [f"- {line}" for line in checks]
            if checks
            else []
        ),
        "",
        "## Tails",
        "",
        "The worst image (its value) and the 10% tail: PSNR's 10th percentile, the 90th for "
        "the distances (higher is worse).",
        "",
        tail_table(records),
        "",
        "## Per image",
        "",
        per_image_tables(records),
        "",
    ]
    (out / "quality.md").write_text("\n".join(markdown))
    plot_psnr(records, out / "psnr_per_image.png")
    if "lpips" in perceptual:
        plot_psnr_lpips(records, out / "psnr_lpips.png")
    if args.crops > 0:
        names = [m.name for m in methods]
        for dataset, items in datasets:
            plot_crops(dataset, items, kept, names, records, scale, out / f"crops_{dataset}.png")
    print(protocol)
    print(table)
    print(perceptual_note)
    if checks:
        print("\n".join(checks))
    plots = "psnr_per_image.png" + (", psnr_lpips.png" if "lpips" in perceptual else "")
    print(f"wrote {out}/quality.json, quality.md, {plots}, crops_*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
