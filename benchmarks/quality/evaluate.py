"""The quality benchmark's protocol: data sets, scoring, summaries, the bicubic calibration.

For each HR folder, LR images are made with the benchmark convention
(``srgan.resize.benchmark_pair``: HR cropped to a multiple of the scale, MATLAB-compatible
bicubic rounded to 8 bits), with one of the fixed degradation chains of
``srgan.degradations.SEVERITIES`` (``degraded_pair``: blur, that bicubic, noise seeded by
the image's name, JPEG), or read from a ready-made LR folder. Each LR is made once and
scored against the clean HR. PSNR and SSIM follow the published convention
(``srgan.metrics``), the perceptual distances their reference code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from benchmarks.quality.methods import Method
from srgan.degradations import degraded_pair
from srgan.images import ImageError, image_name, list_images, read_image
from srgan.metrics import DISTS, LPIPS, detail_ratio, psnr, ssim
from srgan.progress import progress_bar
from srgan.resize import mod_crop

# Bicubic x4 on the standard protocol, as published (SRCNN, VDSR, ... tables).
PUBLISHED_BICUBIC_X4 = {"Set5": (28.42, 0.8104), "Set14": (26.00, 0.7027)}
# Their image counts: another folder of one of these names is not the benchmark set.
PUBLISHED_IMAGES = {"Set5": 5, "Set14": 14}


TOLERANCE = (0.02, 0.002)  # dB, SSIM


# The perceptual distances: record key -> (label, constructor). Lower is better for all.
PERCEPTUAL: dict[str, tuple[str, Callable[[], torch.nn.Module]]] = {
    "lpips": ("LPIPS", lambda: LPIPS("alex")),
    "lpips_vgg": ("LPIPS-VGG", lambda: LPIPS("vgg")),
    "dists": ("DISTS", DISTS),
}


def perceptual_convention(names: Sequence[str]) -> str:
    """How the perceptual distances ``names`` (keys of ``PERCEPTUAL``) were computed."""
    lpips = [n for n in PERCEPTUAL if n.startswith("lpips") and n in names]
    nets = ", ".join(f"{n}: {'AlexNet' if n == 'lpips' else 'VGG16'}" for n in lpips)
    metrics = [f"LPIPS v0.1 ({nets})"] if lpips else []
    metrics += ["DISTS (VGG16)"] if "dists" in names else []
    inputs = ["LPIPS inputs in [-1, 1]"] if lpips else []
    inputs += ["DISTS in [0, 1]"] if "dists" in names else []
    return (
        f"{' and '.join(metrics)}, as {'their' if len(metrics) > 1 else 'its'} reference "
        "code: full RGB image, no border crop (gray images as three equal channels), 8-bit; "
        f"{', '.join(inputs)}; lower is better"
    )


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


# The smallest HR side scored: SSIM's 11 x 11 window inside the border crop, and LPIPS's
# AlexNet, whose pooling needs at least 32 pixels.
SSIM_WINDOW = 11
LPIPS_MIN_SIDE = 32
# Identical images (a flat one that bicubic reproduces) have an infinite PSNR: scored at
# this instead, so that means stay numbers and the JSON stays JSON.
PSNR_CAP = 100.0


def load_dataset(
    folder: str | Path,
    scale: int,
    lr_dir: str | Path | None = None,
    *,
    crop_border: int = 0,
    degradation: str = "bicubic",
) -> tuple[str, list[tuple[str, np.ndarray, np.ndarray]], list[tuple[Path, str]]]:
    """``(name, [(image name, HR, LR), ...], skipped)``; HR cropped to a multiple of
    ``scale``. An image is named by its path in ``folder`` without the suffix (its stem in
    a flat folder: ``baby``; ``sub/baby`` in a subfolder, apart from another ``baby``).

    Without ``lr_dir`` the LR is made by the ``degradation`` profile (``bicubic``, or a
    severity of ``srgan.degradations.SEVERITIES``, its noise seeded by the image name): the
    same LR for every model and every run. An image that cannot be read (or whose LR
    cannot), or is too small to score (see ``LPIPS_MIN_SIDE``), is left out and listed in
    ``skipped`` with the reason; the others are scored.
    """
    if lr_dir is not None and degradation != "bicubic":
        raise ValueError("ready-made LR images and a degradation profile exclude each other")
    root = Path(folder).expanduser()
    files = list_images(root)
    lr_files = None
    if lr_dir is not None:
        lr_root = Path(lr_dir).expanduser()
        lr_files = {}
        for lr_path in list_images(lr_root):
            # By its path in the folder (sub/baby for an HR sub/baby), else by its stem (an
            # LR folder that holds its images in a subfolder, as DIV2K's X4/).
            lr_files.setdefault(image_name(lr_path, lr_root), lr_path)
            lr_files.setdefault(lr_path.stem, lr_path)
    items, skipped = [], []
    smallest = max(SSIM_WINDOW + 2 * crop_border, LPIPS_MIN_SIDE)
    for path in files:
        name = image_name(path, root)
        try:
            hr = read_hr(path)
        except ImageError as error:
            skipped.append((path, str(error)))
            continue
        if min(hr.shape[:2]) < max(smallest, scale):
            skipped.append(
                (
                    path,
                    f"too small to score: {hr.shape[1]} x {hr.shape[0]}, the protocol needs "
                    f"at least {max(smallest, scale)} px a side",
                )
            )
            continue
        if lr_files is None:
            lr, hr = degraded_pair(hr, scale, degradation, name=name)
        else:
            hr = mod_crop(hr, scale)
            # As data.train_lr_dir pairs them: the same name, or with x{scale} (0801x4.png).
            key = next((k for k in (name, f"{name}x{scale}") if k in lr_files), None)
            if key is None:
                raise FileNotFoundError(
                    f"no LR image named {name}.* or {name}x{scale}.* in {lr_dir}"
                )
            try:
                lr = match_channels(read_hr(lr_files[key]), hr.shape[2])
            except ImageError as error:
                skipped.append((path, f"its LR {lr_files[key]}: {error}"))
                continue
            expected = (hr.shape[0] // scale, hr.shape[1] // scale)
            if lr.shape[:2] != expected:
                raise ValueError(
                    f"LR {lr_files[key].name} is {lr.shape[1]}x{lr.shape[0]}, expected "
                    f"{expected[1]}x{expected[0]} for HR {path.name} at x{scale}"
                )
        items.append((name, hr, lr))
    return root.resolve().name, items, skipped


def float64_batch(image: np.ndarray) -> torch.Tensor:
    """``(H, W, C)`` uint8 -> ``(1, C, H, W)`` float64 in [0, 1] (exact on the 8-bit grid)."""
    return torch.tensor(image).permute(2, 0, 1)[None].to(torch.float64) / 255.0


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
            # A bar on a terminal, a line now and then in a log file or pipe.
            bar = progress_bar(
                progress, desc=f"{dataset} {method.name}", total=len(items), unit="img"
            )
            for index, (image, hr, lr) in enumerate(items):
                if not warmed and method.kind != "baseline":
                    method(lr)  # first call: lazy initialisation, kernel selection, caches
                    warmed = True
                start = time.perf_counter()
                sr = method(lr)
                seconds = time.perf_counter() - start
                a, b = float64_batch(sr), float64_batch(hr)
                row = {
                    "dataset": dataset,
                    "model": method.name,
                    "image": image,
                    "scale": scale,
                    "psnr": min(
                        psnr(a, b, crop_border=crop_border, y_channel=y_channel).item(), PSNR_CAP
                    ),
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
                bar.update(1)
            bar.close()
            records += rows
            records.append(summarize(dataset, method.name, rows))
    return records, kept


def calibration(
    records: Sequence[dict[str, Any]], crop_border: int, y_channel: bool, *, counted: bool = True
) -> list[str]:
    """Lines comparing bicubic x4 with the published figures, when this run measured them
    (on folders of those names with the sets' image counts, unless ``counted`` is false)."""
    lines = []
    for r in records:
        published = PUBLISHED_BICUBIC_X4.get(r["dataset"])
        standard = r["scale"] == 4 and crop_border == 4 and y_channel
        whole = not counted or r.get("images") == PUBLISHED_IMAGES.get(r["dataset"])
        if r["image"] is None and r["model"] == "bicubic" and published and standard and whole:
            dp, ds = r["psnr"] - published[0], r["ssim"] - published[1]
            ok = abs(dp) <= TOLERANCE[0] and abs(ds) <= TOLERANCE[1]
            lines.append(
                f"{'OK  ' if ok else 'FAIL'} {r['dataset']} bicubic x4: {r['psnr']:.3f} dB / "
                f"{r['ssim']:.4f} vs published {published[0]:.2f} / {published[1]:.4f} "
                f"(diff {dp:+.3f} dB, {ds:+.4f}; tolerance {TOLERANCE[0]} dB, {TOLERANCE[1]})"
            )
    return lines
