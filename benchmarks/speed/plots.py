"""The speed benchmark's charts: latency per variant, and quality against speed with
its Pareto front."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.plots import pyplot, save_figure
from benchmarks.report import psnr_axis_label


# -- Pareto front and the quality-versus-speed chart ----------------------------------------
def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (both maximised), by x."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(
            (ox >= x and oy >= y) and (ox > x or oy > y)
            for j, (ox, oy) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def quality_summary(
    quality: dict[str, Any], dataset: str | None = None
) -> tuple[str | None, dict[str, float]]:
    """The data set chosen (``dataset``, else Set5 when there, else the first) and the mean
    PSNR per model on it, from ``benchmarks.quality`` records (summary records only)."""
    records = [r for r in quality.get("records", []) if r.get("image") is None]
    datasets = sorted({r["dataset"] for r in records})
    if not datasets:
        return dataset, {}
    chosen = dataset or ("Set5" if "Set5" in datasets else datasets[0])
    return chosen, {r["model"]: float(r["psnr"]) for r in records if r["dataset"] == chosen}


def quality_axis_label(quality: dict[str, Any], dataset: str | None) -> str:
    """The PSNR axis of ``quality_speed.png``: channels, data set and LR of the quality run."""
    env = quality.get("environment", {})
    label = psnr_axis_label(env.get("channels")) + (f" on {dataset}" if dataset else "")
    lr = env.get("lr")
    if lr and not str(lr).startswith("MATLAB-compatible bicubic"):
        # The profile's name (its chain is in the quality run's report): a whole chain ran
        # off the figure's edge.
        label += f"\nLR: {env.get('degradation') or str(lr).split(':')[0][:30]}"
    return label


def quality_speed_points(
    records: Sequence[dict[str, Any]], psnr_by_model: dict[str, float]
) -> list[dict[str, Any]]:
    """One point per model and fp32 backend: its best FPS and the model's PSNR. Other
    precisions (int8, fp16, bf16) compute other pixels, whose PSNR the quality records
    do not hold: they are left out rather than drawn at the fp32 PSNR."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        if record.get("status") != "ok" or record["model"] not in psnr_by_model:
            continue
        if not record["label"].split()[-1].startswith("fp32"):
            continue
        key = (record["model"], record["label"])
        if key not in best or record["fps"] > best[key]["fps"]:
            best[key] = {
                "model": record["model"],
                "backend": record["label"],
                "fps": record["fps"],
                "psnr": psnr_by_model[record["model"]],
            }
    return list(best.values())


def plot_quality_speed(
    points: Sequence[dict[str, Any]], path: str | Path, *, ylabel: str = "PSNR (dB, Y)"
) -> Path:
    """PSNR against FPS (log scale), one point per model/backend, the Pareto front marked."""
    plt = pyplot()
    from matplotlib import ticker

    figure, ax = plt.subplots(figsize=(7, 4.5))
    xy = [(p["fps"], p["psnr"]) for p in points]
    front = pareto_front(xy)
    for i, point in enumerate(points):
        on_front = i in front
        ax.scatter(
            point["fps"],
            point["psnr"],
            s=50 if on_front else 25,
            c="tab:red" if on_front else "tab:blue",
            zorder=3,
        )
        ax.annotate(
            f"{point['model']} / {point['backend']}",
            (point["fps"], point["psnr"]),
            fontsize=7,
            xytext=(4, 3),
            textcoords="offset points",
        )
    if len(front) > 1:
        ax.plot([xy[i][0] for i in front], [xy[i][1] for i in front], "r--", label="Pareto front")
        ax.legend(loc="best")
    elif front:
        ax.scatter([], [], c="tab:red", s=50, label="the fastest at the best PSNR")
        ax.legend(loc="best")
    ax.text(
        0.01,
        0.01,
        "fp32 backends (the PSNR measured); int8 and half precision: see the export report",
        transform=ax.transAxes,
        fontsize=7,
        color="0.4",
    )
    fps = [p["fps"] for p in points]
    if max(fps) >= 10 * min(fps):  # a log axis for a decade or more, with plain numbers
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel("frames per second")
    ax.set_ylabel(ylabel)
    ax.set_title("Quality versus speed")
    ax.grid(True, which="both", alpha=0.3)
    return save_figure(figure, path)


def plot_speed(records: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Frames per second per backend/precision, one bar group per model x size x batch."""
    plt = pyplot()
    ok = [r for r in records if r.get("status") == "ok"]
    groups = sorted({(r["model"], r["size"], r["batch"], r.get("tile")) for r in ok}, key=str)
    labels = sorted({r["label"] for r in ok})
    figure, ax = plt.subplots(figsize=(max(6, 1.2 * len(labels) * max(1, len(groups))), 4))
    width = 0.8 / max(1, len(labels))
    for j, label in enumerate(labels):
        values = []
        for group in groups:
            match = [
                r
                for r in ok
                if (r["model"], r["size"], r["batch"], r.get("tile")) == group
                and r["label"] == label
            ]
            values.append(match[0]["fps"] if match else 0.0)
        ax.bar(np.arange(len(groups)) + j * width, values, width, label=label)
    ax.set_xticks(np.arange(len(groups)) + width * (len(labels) - 1) / 2)
    ax.set_xticklabels(
        [f"{m}\n{s} b{b}" + (f" tile {t}" if t else "") for m, s, b, t in groups], fontsize=8
    )
    ax.set_ylabel("frames per second")
    ax.set_title("Inference speed per backend and precision")
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)
    return save_figure(figure, path)
