"""The quality benchmark's report: Markdown tables (summary, tails, per image) and plots
(per-image PSNR, PSNR against LPIPS, zoomed crops)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.plots import pyplot, save_figure
from benchmarks.quality.evaluate import PERCEPTUAL
from benchmarks.report import markdown_table, psnr_axis_label
from srgan.resize import imresize_array


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


def plot_psnr(records: Sequence[dict[str, Any]], path: Path, *, channels: str = "Y") -> Path:
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
        ax.set_ylabel(psnr_axis_label(channels))
        ax.grid(axis="y", alpha=0.3)
    return save_figure(figure, path)


def plot_psnr_lpips(records: Sequence[dict[str, Any]], path: Path, *, channels: str = "Y") -> Path:
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
        ax.set_ylabel(psnr_axis_label(channels))
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
    """Zoomed crops, one row per image: bicubic | each method | HR; under each, the whole
    image's PSNR (and LPIPS, when measured), as the title says."""
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
    figure.suptitle(
        f"{dataset}: each image's busiest window; the scores are the whole image's", fontsize=9
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
