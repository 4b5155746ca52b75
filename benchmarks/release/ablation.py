"""The objective ablation: table, training curves and stability of GAN runs across seeds.

    python -m benchmarks.release --data T91 BSD200 SunHays80 --gan-budget 300 \\
        --gan-init quality.safetensors --runs runs/release --out results/release
    python -m benchmarks.quality --data Set5 Set14 --scale 4 \\
        --models results/release/gan_ragan_s0.safetensors ... --out results/ablation-quality
    python -m benchmarks.release.ablation --runs runs/release \\
        --quality-json results/ablation-quality/quality.json --out benchmarks/results

Runs are the folders ``gan_<objective>_s<seed>`` that ``benchmarks.release.plan`` writes (each
holds Lightning's ``metrics.csv``); quality figures are matched to runs by the weight
file's stem. For each objective the table gives the mean and the spread (min..max) over
seeds of every data set's mean PSNR / SSIM, worst-image PSNR, 10th-percentile PSNR and
LPIPS and detail ratio, so that a difference can be told from seed noise. The curves show the
discriminator's mean logit on real and generated crops over training, and validation
PSNR (from the starting model's score when the runs validated first); a run counts as
diverged when a loss becomes NaN/Inf or the validation PSNR falls more than
``--divergence-db`` below its best during training.

An objective's adversarial weight trades PSNR for detail, so objectives are also compared
at matched detail: runs whose names differ only by an ``adv<...>`` suffix
(``maxsurprise``, ``maxsurpriseadv2x``, ...) form a family; for a family trained at two or
more weights a least-squares line of PSNR against detail ratio gives the PSNR it would
reach at the detail of the ``--reference`` objective's runs (with its standard error).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from benchmarks.plots import pyplot, save_figure
from benchmarks.report import markdown_table, out_folder_problem, write_json

RUN_NAME = re.compile(r"^gan_(?P<objective>[a-z0-9_]+?)_s(?P<seed>\d+)$")
GAP = "logit gap (real - fake mean)"
CURVES = ("train/d_real_mean", "train/d_fake_mean", GAP, "val/psnr")
METRICS = (
    "psnr",
    "ssim",
    "worst_psnr",
    "p10_psnr",
    "lpips",
    "worst_lpips",
    "p90_lpips",
    "dists",
    "detail",
)
# The factorial's decision rule: a smooth-max arm helps only where it beats its own
# mean-pooling control (same form) beyond the 95% interval over paired seeds.
CONTROLS = {"maxsurprise": "nonsat", "maxsurpriserel": "ragan"}
ADVERSARIAL_SUFFIX = re.compile(r"adv(?:half|\d+x)$")


def family(objective: str) -> str:
    """The objective without its adversarial-weight suffix (``maxsurpriseadv2x`` ->
    ``maxsurprise``): the runs of one family differ only in that weight."""
    return ADVERSARIAL_SUFFIX.sub("", objective)


def adversarial_weight(metrics_csv: Path) -> float | None:
    """The run's ``adversarial_weight`` from the ``hparams.yaml`` beside its metrics."""
    hparams = metrics_csv.parent / "hparams.yaml"
    if not hparams.is_file():
        return None
    weight = (yaml.safe_load(hparams.read_text()) or {}).get("adversarial_weight")
    return None if weight is None else float(weight)


def read_metrics(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Lightning CSV metrics -> ``{column: [(batch, value), ...]}`` (empty cells skipped).

    Lightning's ``step`` column counts training batches (in the GAN stage each batch is one
    discriminator step and, every ``n_critic`` batches, one generator step).
    """
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            step = int(float(row.get("step") or 0))
            for key, value in row.items():
                if key not in ("step", "epoch") and value not in (None, ""):
                    series[key].append((step, float(value)))
    return dict(series)


def find_runs(root: Path) -> dict[str, tuple[str, int, Path]]:
    """``{run name: (objective, seed, metrics.csv)}`` for every GAN run folder under ``root``."""
    runs = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        match = RUN_NAME.match(folder.name)
        csvs = sorted(folder.rglob("metrics.csv"), key=lambda p: p.stat().st_mtime)
        if match and csvs:
            runs[folder.name] = (match["objective"], int(match["seed"]), csvs[-1])
    if not runs:
        raise FileNotFoundError(
            f"no GAN runs in {root}: expected folders named gan_<objective>_s<seed> "
            "holding a Lightning metrics.csv (as benchmarks.release.plan writes them)"
        )
    return runs


def logit_gap(series: dict[str, list[tuple[int, float]]]) -> list[tuple[int, float]]:
    """``[(batch, real mean - fake mean)]`` where both logit means were logged."""
    fake = dict(series.get("train/d_fake_mean", []))
    return [(b, v - fake[b]) for b, v in series.get("train/d_real_mean", []) if b in fake]


def stability(series: dict[str, list[tuple[int, float]]], divergence_db: float) -> dict[str, Any]:
    """Final logit means, how far they drifted, the largest gap between them, the validation
    PSNR, and whether (and at which batch) the run diverged."""
    real = dict(series.get("train/d_real_mean", []))
    fake = dict(series.get("train/d_fake_mean", []))
    diverged_at = None
    for key, values in series.items():
        if key.startswith("train/") and key.endswith(("loss", "mean", "adv", "pixel")):
            bad = [s for s, v in values if not math.isfinite(v)]
            if bad:
                diverged_at = min(bad) if diverged_at is None else min(diverged_at, min(bad))
    val = series.get("val/psnr", [])
    # A point at batch 0 (srgan.fit --validate_first) is the starting model's score: kept
    # apart, since a GAN fine-tune is expected to fall below it, which is no divergence.
    start = val[0][1] if val and val[0][0] == 0 else None
    val = [(step, value) for step, value in val if step > 0]
    best = -math.inf
    for step, value in val:
        best = max(best, value)
        if value < best - divergence_db and (diverged_at is None or step < diverged_at):
            diverged_at = step
            break
    last = lambda s: s[-1][1] if s else None  # noqa: E731
    return {
        "final_d_real_mean": last(series.get("train/d_real_mean", [])),
        "final_d_fake_mean": last(series.get("train/d_fake_mean", [])),
        "max_abs_logit_mean": max((abs(v) for v in [*real.values(), *fake.values()]), default=None),
        "max_abs_logit_gap": max((abs(g) for _, g in logit_gap(series)), default=None),
        "start_val_psnr": start,
        "final_val_psnr": last(val),
        "best_val_psnr": best if val else None,
        "batches": max((s for v in series.values() for s, _ in v), default=0),
        "diverged_at_batch": diverged_at,
    }


def quality_records(paths: list[Path]) -> list[dict[str, Any]]:
    """The records of one or more ``benchmarks.quality`` JSONs (runs scored in batches), in
    order: where two files score the same model, the later file's records come last."""
    return [record for path in paths for record in json.loads(path.read_text())["records"]]


def quality_by_run(
    paths: list[Path], runs: dict[str, Any]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Summary records of ``benchmarks.quality`` JSONs -> ``{(run, dataset): record}``."""
    found = {}
    for record in quality_records(paths):
        if record.get("image") is not None:
            continue
        run = Path(str(record["model"])).stem
        if run in runs:
            found[(run, record["dataset"])] = record
    return found


def spread(values: list[float | None]) -> str:
    """``mean (min..max)`` over seeds, or ``n/a`` when nothing was measured."""
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    digits = 4 if max(abs(v) for v in values) < 1 else 2
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({min(values):.{digits}f}..{max(values):.{digits}f})"


def summarise(
    runs: dict[str, tuple[str, int, Path]],
    quality: dict[tuple[str, str], dict[str, Any]],
    divergence_db: float,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per-run records and per-(objective, data set) table rows."""
    records = []
    for name, (objective, seed, csv_path) in runs.items():
        record = {"run": name, "objective": objective, "seed": seed}
        record["adversarial_weight"] = adversarial_weight(csv_path)
        series = read_metrics(csv_path)
        record |= stability(series, divergence_db)
        record["mean_adv_share"] = adversarial_share(series)
        record["quality"] = {
            dataset: {m: q.get(m) for m in METRICS}
            for (run, dataset), q in quality.items()
            if run == name
        }
        records.append(record)
    rows = []
    datasets = sorted({dataset for _, dataset in quality})
    for objective in sorted({r["objective"] for r in records}):
        mine = [r for r in records if r["objective"] == objective]
        for dataset in datasets or [None]:
            row: dict[str, Any] = {"objective": objective, "seeds": len(mine), "dataset": dataset}
            for metric in METRICS:
                row[metric] = spread([r["quality"].get(dataset, {}).get(metric) for r in mine])
            row["diverged"] = sum(r["diverged_at_batch"] is not None for r in mine)
            rows.append(row)
    return records, rows


def _scored(records: list[dict[str, Any]], dataset: str) -> list[dict[str, Any]]:
    """The ``records`` with both a PSNR and a detail ratio on ``dataset``."""
    return [
        r
        for r in records
        if r["quality"].get(dataset, {}).get("detail") is not None
        and r["quality"][dataset].get("psnr") is not None
    ]


def _detail_psnr(records: list[dict[str, Any]], dataset: str) -> list[tuple[float, float]]:
    """``(detail, psnr)`` of each of ``records`` scored on ``dataset``."""
    return [(r["quality"][dataset]["detail"], r["quality"][dataset]["psnr"]) for r in records]


def line_fit(points: list[tuple[float, float]], x: float) -> tuple[float, float, float]:
    """Least-squares line through ``points``: its slope, its value at ``x`` and the standard
    error of that value, s * sqrt(1/n + (x - mean)^2 / Sxx) with n - 2 degrees of freedom."""
    n = len(points)
    mean_x = sum(p[0] for p in points) / n
    mean_y = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mean_x) ** 2 for p in points)
    if n < 3 or sxx == 0:
        raise ValueError(f"a line with an error needs 3+ points at 2+ distinct x, got {points}")
    slope = sum((p[0] - mean_x) * (p[1] - mean_y) for p in points) / sxx
    value = mean_y + slope * (x - mean_x)
    residual = sum((p[1] - mean_y - slope * (p[0] - mean_x)) ** 2 for p in points) / (n - 2)
    return slope, value, math.sqrt(residual * (1 / n + (x - mean_x) ** 2 / sxx))


def matched_detail(records: list[dict[str, Any]], reference: str) -> list[dict[str, Any]]:
    """Per data set and family trained at two or more adversarial weights: the PSNR that the
    family's line of PSNR against detail gives at the mean detail of ``reference``'s runs,
    beside the mean PSNR (and its standard error over seeds) those runs measured."""
    rows = []
    datasets = sorted({dataset for r in records for dataset in r["quality"]})
    for dataset in datasets:
        anchor = _detail_psnr(
            _scored([r for r in records if r["objective"] == reference], dataset), dataset
        )
        if not anchor:
            continue
        target = sum(d for d, _ in anchor) / len(anchor)
        psnrs = [p for _, p in anchor]
        measured = sum(psnrs) / len(psnrs)
        measured_error = (
            math.sqrt(sum((p - measured) ** 2 for p in psnrs) / (len(psnrs) - 1) / len(psnrs))
            if len(psnrs) > 1
            else None
        )
        for name in sorted({family(r["objective"]) for r in records}):
            # Weights and points from the same runs: those scored on this data set.
            mine = _scored([r for r in records if family(r["objective"]) == name], dataset)
            points = _detail_psnr(mine, dataset)
            weights = sorted({r["adversarial_weight"] for r in mine} - {None})
            if len(weights) < 2 or len(points) < 3 or len({d for d, _ in points}) < 2:
                continue
            slope, value, error = line_fit(points, target)
            details = [d for d, _ in points]
            rows.append(
                {
                    "dataset": dataset,
                    "family": name,
                    "runs": len(points),
                    "adversarial_weights": weights,
                    "detail": round(target, 3),
                    "reference_psnr": round(measured, 3),
                    "reference_error": None if measured_error is None else round(measured_error, 3),
                    "psnr_at_detail": round(value, 3),
                    "standard_error": round(error, 3),
                    "dof": len(points) - 2,
                    "slope_db_per_detail": round(slope, 2),
                    "interpolated": min(details) <= target <= max(details),
                }
            )
    return rows


def _lpips_psnr(records: list[dict[str, Any]], dataset: str) -> list[tuple[float, float]]:
    """``(psnr, lpips)`` of each of ``records`` with both measured on ``dataset``."""
    points = []
    for r in records:
        q = r["quality"].get(dataset, {})
        if q.get("psnr") is not None and q.get("lpips") is not None:
            points.append((q["psnr"], q["lpips"]))
    return points


def _lpips_at(records: list[dict[str, Any]], dataset: str, psnr: float) -> float | None:
    """The family's LPIPS at ``psnr`` from its least-squares LPIPS-against-PSNR line."""
    points = _lpips_psnr(records, dataset)
    xs = {x for x, _ in points}
    if len(points) < 2 or len(xs) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    return mean_y + slope * (psnr - mean_x)


def _paired_difference(
    ours: list[dict[str, Any]], theirs: list[dict[str, Any]], seeds: list[int], dataset: str
) -> tuple[float, float, float] | None:
    """``(control's mean PSNR, arm's LPIPS there, control's LPIPS there)`` from the runs of
    ``seeds`` (a seed drawn twice counts twice), or None when either arm's runs have fewer
    than two distinct PSNR values (no line)."""
    a = [r for s in seeds for r in ours if r["seed"] == s]
    b = [r for s in seeds for r in theirs if r["seed"] == s]
    anchor = [x for x, _ in _lpips_psnr(b, dataset)]
    if not anchor:
        return None
    target = sum(anchor) / len(anchor)
    arm, control = _lpips_at(a, dataset, target), _lpips_at(b, dataset, target)
    return None if arm is None or control is None else (target, arm, control)


def matched_psnr(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The factorial's primary comparison: for each smooth-max arm and its mean-pooling
    control (``CONTROLS``) trained at two or more adversarial weights, and for each seed
    both have scored runs of (same discriminator start and data order), the LPIPS each
    family's line of LPIPS against PSNR (that seed's runs) gives at the control's mean
    PSNR, and their difference. Reported: the means over seeds, and a 95% Student-t
    interval for the mean difference over the seeds (n - 1 degrees of freedom; with a
    handful of seeds a bootstrap could return little more than their range). The verdict
    follows the decision rule: ``helps`` only when the interval lies below zero (lower
    LPIPS is better), ``hurts`` above it, else ``no difference``."""
    from scipy import stats

    rows = []
    datasets = sorted({dataset for r in records for dataset in r["quality"]})
    for arm, control in CONTROLS.items():
        weights = {r["adversarial_weight"] for r in records if family(r["objective"]) == arm}
        weights &= {r["adversarial_weight"] for r in records if family(r["objective"]) == control}
        if len(weights - {None}) < 2:
            continue
        for dataset in datasets:
            # Only runs scored on this data set count, and only seeds both arms have
            # scored runs of (runs still training or unscored would leave a seed one-sided).
            ours = [
                r for r in records if family(r["objective"]) == arm and _lpips_psnr([r], dataset)
            ]
            theirs = [
                r
                for r in records
                if family(r["objective"]) == control and _lpips_psnr([r], dataset)
            ]
            seeds = sorted({r["seed"] for r in ours} & {r["seed"] for r in theirs})
            per_seed = [_paired_difference(ours, theirs, [s], dataset) for s in seeds]
            per_seed = [value for value in per_seed if value is not None]
            if len(per_seed) < 2:
                continue
            differences = [a - c for _, a, c in per_seed]
            n, mean = len(differences), statistics.fmean(differences)
            half = stats.t.ppf(0.975, n - 1) * statistics.stdev(differences) / math.sqrt(n)
            low, high = mean - half, mean + half
            verdict = "helps" if high < 0 else "hurts" if low > 0 else "no difference"
            rows.append(
                {
                    "dataset": dataset,
                    "arm": arm,
                    "control": control,
                    "seeds": n,
                    "weights": len(weights - {None}),
                    "psnr": round(statistics.fmean(t for t, _, _ in per_seed), 3),
                    "arm_lpips": round(statistics.fmean(a for _, a, _ in per_seed), 4),
                    "control_lpips": round(statistics.fmean(c for _, _, c in per_seed), 4),
                    "difference": round(mean, 4),
                    "ci95_low": round(low, 4),
                    "ci95_high": round(high, 4),
                    "per_seed": " ".join(f"{d:+.4f}" for d in differences),
                    "verdict": verdict,
                }
            )
    return rows


def best_runs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each arm's run (any weight and seed) with the lowest LPIPS averaged over the data
    sets, among the runs scored on all of them: the weights worth sharing per arm."""
    datasets = sorted({dataset for r in records for dataset in r["quality"]})
    rows = []
    for arm in sorted({family(r["objective"]) for r in records}):
        scored = [
            r
            for r in records
            if family(r["objective"]) == arm and all(_lpips_psnr([r], d) for d in datasets)
        ]
        if not scored:
            continue
        best = min(scored, key=lambda r: sum(r["quality"][d]["lpips"] for d in datasets))
        row = {"arm": arm, "run": best["run"], "adversarial_weight": best["adversarial_weight"]}
        for dataset in datasets:
            row[f"{dataset} psnr"] = round(best["quality"][dataset]["psnr"], 2)
            row[f"{dataset} lpips"] = round(best["quality"][dataset]["lpips"], 4)
        rows.append(row)
    return rows


def per_image_lpips(paths: list[Path]) -> dict[tuple[str, str], dict[str, float]]:
    """Per-image LPIPS of ``benchmarks.quality`` JSONs: ``{(run, dataset): {image: lpips}}``."""
    found: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for record in quality_records(paths):
        if record.get("image") is not None and record.get("lpips") is not None:
            run = Path(str(record["model"])).stem
            found[(run, record["dataset"])][record["image"]] = record["lpips"]
    return dict(found)


def image_changes(
    records: list[dict[str, Any]],
    per_image: dict[tuple[str, str], dict[str, float]],
    control: str = "nonsat",
) -> list[dict[str, Any]]:
    """Each arm's per-image LPIPS change against ``control``'s run of the same adversarial
    weight and seed (negative: better than the control on that image), and each smooth-max
    arm's against its own mean-pooling control (``CONTROLS``) where that is another arm;
    summarised per pair and data set: the mean change, the largest rise (the image hurt
    most) and the share of images that improved. The worst cases are what a mean hides."""
    by_key = {(r["objective"], r["seed"]): r["run"] for r in records}
    rows = []
    datasets = sorted({d for _, d in per_image})
    families = {family(r["objective"]) for r in records}
    pairs = [(arm, control) for arm in sorted(families - {control})]
    pairs += [
        (arm, own) for arm, own in CONTROLS.items() if own != control and {arm, own} <= families
    ]
    for arm, against in pairs:
        for dataset in datasets:
            changes = []
            for r in records:
                if family(r["objective"]) != arm:
                    continue
                suffix = r["objective"][len(arm) :]
                twin = by_key.get((against + suffix, r["seed"]))
                ours, theirs = per_image.get((r["run"], dataset)), per_image.get((twin, dataset))
                if ours and theirs:
                    changes += [ours[i] - theirs[i] for i in ours if i in theirs]
            if changes:
                rows.append(
                    {
                        "dataset": dataset,
                        "arm": arm,
                        "against": against,
                        "image_runs": len(changes),
                        "mean_change": round(sum(changes) / len(changes), 4),
                        "largest_rise": round(max(changes), 4),
                        "improved": round(sum(c < 0 for c in changes) / len(changes), 3),
                    }
                )
    return rows


def adversarial_share(series: dict[str, list[tuple[int, float]]]) -> float | None:
    """The mean over training of the adversarial term's share of the generator's gradient."""
    values = [v for _, v in series.get("train/g_adv_share", [])]
    return sum(values) / len(values) if values else None


def plot_lpips_psnr(records: list[dict[str, Any]], path: Path) -> Path:
    """LPIPS against PSNR, one point per run, one panel per data set, each arm's line."""
    plt = pyplot()
    datasets = sorted({dataset for r in records for dataset in r["quality"]})
    figure, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.2))
    axes = [axes] if len(datasets) == 1 else list(axes)
    arms = sorted({family(r["objective"]) for r in records})
    colours = {a: f"C{i % 10}" for i, a in enumerate(arms)}
    for axis, dataset in zip(axes, datasets):
        for arm in arms:
            mine = [r for r in records if family(r["objective"]) == arm]
            points = _lpips_psnr(mine, dataset)
            if not points:
                continue
            axis.scatter(*zip(*points), color=colours[arm], label=arm, s=22)
            ends = [min(x for x, _ in points), max(x for x, _ in points)]
            line = [_lpips_at(mine, dataset, x) for x in ends]
            if None not in line and ends[0] < ends[1]:
                axis.plot(ends, line, "--", linewidth=1, color=colours[arm])
        axis.set_title(f"{dataset}: LPIPS against PSNR (lower right is better)")
        axis.set_xlabel("Y-PSNR (dB)")
        axis.set_ylabel("LPIPS (alex)")
    axes[0].legend(fontsize=7)
    return save_figure(figure, path)


def plot_tradeoff(records: list[dict[str, Any]], matched: list[dict[str, Any]], path: Path) -> Path:
    """PSNR against detail ratio, one point per run and one panel per data set, with each
    family's fitted line and the reference detail level."""
    plt = pyplot()
    datasets = sorted({dataset for r in records for dataset in r["quality"]})
    figure, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.2))
    axes = [axes] if len(datasets) == 1 else list(axes)
    objectives = sorted({r["objective"] for r in records})
    colours = {o: f"C{i % 10}" for i, o in enumerate(objectives)}
    for axis, dataset in zip(axes, datasets):
        for objective in objectives:
            mine = [r for r in records if r["objective"] == objective]
            points = _detail_psnr(_scored(mine, dataset), dataset)
            if points:
                axis.scatter(*zip(*points), color=colours[objective], label=objective, s=22)
        for row in (m for m in matched if m["dataset"] == dataset):
            mine = [r for r in records if family(r["objective"]) == row["family"]]
            points = _detail_psnr(_scored(mine, dataset), dataset)
            ends = [min(d for d, _ in points), max(d for d, _ in points)]
            axis.plot(
                ends,
                [line_fit(points, x)[1] for x in ends],
                "--",
                linewidth=1,
                color=colours.get(row["family"], "grey"),
            )
            axis.axvline(row["detail"], color="grey", linestyle=":", linewidth=0.8)
        axis.set_title(f"{dataset}: PSNR against detail (dashed: family fits)")
        axis.set_xlabel("detail ratio (1 = as much as the original)")
        axis.set_ylabel("PSNR (dB)")
    axes[0].legend(fontsize=7)
    return save_figure(figure, path)


def plot_curves(runs: dict[str, tuple[str, int, Path]], path: Path) -> Path:
    """Logit means, their gap (all that relativistic losses see) and validation PSNR over
    batches, one colour per objective, one style per seed."""
    plt = pyplot()
    figure, axes = plt.subplots(1, len(CURVES), figsize=(4.5 * len(CURVES), 3.6))
    objectives = sorted({objective for objective, _, _ in runs.values()})
    colours = {o: f"C{i}" for i, o in enumerate(objectives)}
    styles = ["-", "--", ":", "-."]
    for name, (objective, seed, csv_path) in runs.items():
        series = read_metrics(csv_path)
        series[GAP] = logit_gap(series)
        for axis, key in zip(axes, CURVES):
            points = series.get(key, [])
            if points:
                steps, values = zip(*points)
                axis.plot(
                    steps,
                    values,
                    styles[seed % len(styles)],
                    color=colours[objective],
                    label=name,
                    linewidth=1,
                )
    for axis, key in zip(axes, CURVES):
        axis.set_title(key)
        axis.set_xlabel("training batch")
    axes[0].legend(fontsize=7)
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.release.ablation",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--runs",
        required=True,
        default=argparse.SUPPRESS,
        help="folder holding the gan_* run folders",
    )
    parser.add_argument(
        "--quality-json",
        nargs="+",
        help="benchmarks.quality output(s) for the runs' weight files (several when the "
        "runs were scored in batches)",
    )
    parser.add_argument("--out", default="results/ablation", help="where the report goes")
    parser.add_argument(
        "--divergence-db",
        type=float,
        default=3.0,
        help="a validation PSNR this far below the run's best counts as divergence",
    )
    parser.add_argument(
        "--reference",
        default="ragan",
        help="the objective whose runs' mean detail ratio families are compared at",
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    if (problem := out_folder_problem(out)) is not None:
        parser.error(problem)
    if not Path(args.runs).is_dir():
        parser.error(f"--runs {args.runs}: no such folder")
    try:
        runs = find_runs(Path(args.runs))
    except FileNotFoundError as error:
        parser.error(str(error))
    scores = [Path(p) for p in args.quality_json or []]
    for path in scores:
        if not path.is_file():
            parser.error(f"--quality-json {path}: no such file")
    try:
        quality = quality_by_run(scores, runs) if scores else {}
    except (ValueError, KeyError) as error:
        parser.error(f"--quality-json: not a benchmarks.quality output ({error})")
    if scores and not quality:
        print(
            f"note: --quality-json scores none of the {len(runs)} runs in {args.runs} (their "
            "records' models are other files): the quality columns are n/a",
            file=sys.stderr,
        )
    records, rows = summarise(runs, quality, args.divergence_db)
    matched = matched_detail(records, args.reference)
    factorial = matched_psnr(records)
    best = best_runs(records) if scores else []
    changes = image_changes(records, per_image_lpips(scores)) if scores else []
    write_json(
        {
            "runs": records,
            "table": rows,
            "matched_detail": matched,
            "matched_psnr": factorial,
            "image_changes": changes,
            "best_runs": best,
        },
        out / "ablation.json",
    )
    table = markdown_table(rows, ["objective", "dataset", "seeds", *METRICS, "diverged"])
    weight = lambda w: None if w is None else f"{w:g}"  # noqa: E731 - 0.0025, not 0.00
    shown = [r | {"adversarial_weight": weight(r["adversarial_weight"])} for r in records]
    runs_table = markdown_table(shown, [c for c in records[0] if c != "quality"])
    report = f"{table}\n\nPer run (stability):\n\n{runs_table}\n"
    written = [out / "ablation.json", out / "ablation.md", out / "ablation_curves.png"]
    if matched:
        listed = [
            m | {"adversarial_weights": ", ".join(map(weight, m["adversarial_weights"]))}
            for m in matched
        ]
        matched_table = markdown_table(listed, list(matched[0]), floats=".3f")
        note = (
            f"At matched detail: each family's least-squares line of PSNR against detail, "
            f"read at the mean detail of the {args.reference} runs, beside their mean PSNR "
            "(standard error over seeds). The line's standard error has `dof` degrees of "
            "freedom and leaves out the seed noise of the reference detail; detail is itself "
            "noisy, which flattens the fitted slope."
        )
        report += f"\n{note}\n\n{matched_table}\n"
        written.append(plot_tradeoff(records, matched, out / "ablation_tradeoff.png"))
    else:
        note = (
            f"No comparison at matched detail: it needs runs of the reference objective "
            f"{args.reference!r} (--reference) with quality figures, and a family trained at "
            "two or more adversarial weights (read from each run's hparams.yaml), 3+ runs."
        )
        report += f"\n{note}\n"
    if factorial:
        report += (
            "\nAt matched PSNR (the factorial's primary comparison): for each seed, each "
            "arm's line of LPIPS against PSNR over its adversarial weights, read at its "
            "control's mean PSNR; the difference arm - control per seed (`per_seed`), its mean "
            "with a 95% Student-t interval over the seeds (n - 1 degrees of freedom); the "
            "verdict follows the decision rule (helps only below zero beyond the "
            "interval).\n\n" + markdown_table(factorial, list(factorial[0]), floats=".4f") + "\n"
        )
        written.append(plot_lpips_psnr(records, out / "ablation_lpips_psnr.png"))
    if changes:
        report += (
            "\nPer image, against the run of the arm named in `against` of the same weight and "
            "seed (LPIPS change; negative is better):\n\n"
            + markdown_table(changes, list(changes[0]), floats=".4f")
            + "\n"
        )
    if best:
        shown_best = [r | {"adversarial_weight": weight(r["adversarial_weight"])} for r in best]
        report += (
            "\nEach arm's best run (lowest LPIPS averaged over the data sets):\n\n"
            + markdown_table(shown_best, list(best[0]), floats=".4f")
            + "\n"
        )
    (out / "ablation.md").write_text(report)
    plot_curves(runs, out / "ablation_curves.png")
    print(table)
    print(matched_table if matched else note)
    print("wrote " + ", ".join(str(p) for p in written))


if __name__ == "__main__":
    main()
