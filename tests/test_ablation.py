"""The objective-ablation report, on synthetic training logs and quality records."""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import pytest

from benchmarks.release.ablation import family, line_fit, main, read_metrics, spread, stability


def write_run(
    root: Path, name: str, rows: list[dict[str, float | str]], weight: float | None = None
) -> None:
    folder = root / name / "lightning_logs" / "version_0"
    folder.mkdir(parents=True)
    if weight is not None:
        (folder / "hparams.yaml").write_text(f"adversarial_weight: {weight}\nstage: gan\n")
    keys = ["epoch", "step", "train/d_real_mean", "train/d_fake_mean", "train/d_loss", "val/psnr"]
    with (folder / "metrics.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, keys)
        writer.writeheader()
        for row in rows:
            writer.writerow({"epoch": 0} | row)


def healthy(offset: float) -> list[dict[str, float | str]]:
    rows = [
        {
            "step": s,
            "train/d_real_mean": 1.0 + offset,
            "train/d_fake_mean": -1.0,
            "train/d_loss": 0.5,
        }
        for s in (10, 20, 30)
    ]
    rows.append({"step": 30, "val/psnr": 29.0 + offset})
    return rows


def test_stability_flags_nan_and_psnr_collapse() -> None:
    ok = {"train/d_loss": [(1, 0.5), (2, 0.4)], "val/psnr": [(1, 29.0), (2, 28.5)]}
    assert stability(ok, 3.0)["diverged_at_batch"] is None
    nan = {"train/d_loss": [(1, 0.5), (2, float("nan"))]}
    assert stability(nan, 3.0)["diverged_at_batch"] == 2
    collapse = {"val/psnr": [(1, 29.0), (5, 30.0), (9, 26.5)]}
    assert stability(collapse, 3.0)["diverged_at_batch"] == 9
    # A starting score (batch 0, --validate_first) is reported, not a reference for divergence.
    fine_tune = {"val/psnr": [(0, 31.0), (250, 27.9), (500, 27.5)]}
    record = stability(fine_tune, 3.0)
    assert record["diverged_at_batch"] is None and record["start_val_psnr"] == 31.0
    assert record["best_val_psnr"] == 27.9 and record["final_val_psnr"] == 27.5
    assert stability(collapse, 3.0)["start_val_psnr"] is None


def test_stability_reports_logit_drift_and_gap() -> None:
    # RaGAN's losses ignore a common shift of all logits, so their means can drift together.
    drifting = {
        "train/d_real_mean": [(1, 0.5), (2, 40.0)],
        "train/d_fake_mean": [(1, -0.5), (2, 38.0)],
    }
    record = stability(drifting, 3.0)
    assert record["max_abs_logit_mean"] == 40.0 and record["max_abs_logit_gap"] == 2.0
    assert record["final_d_real_mean"] == 40.0 and record["batches"] == 2


def test_spread_is_mean_and_range_over_seeds() -> None:
    assert spread([28.0, 29.0]) == "28.50 (28.00..29.00)"
    assert spread([0.8, None]) == "0.8000"
    assert spread([None]) == "n/a"


def test_report_groups_seeds_by_objective(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_run(runs, "gan_ragan_s0", healthy(0.0))
    write_run(runs, "gan_ragan_s1", healthy(0.2))
    write_run(runs, "gan_maxsurprise_s0", healthy(0.4))
    write_run(runs, "not_a_gan_run", healthy(0.0))
    assert read_metrics(next((runs / "gan_ragan_s0").rglob("metrics.csv")))["val/psnr"] == [
        (30, 29.0)
    ]
    summary = lambda model, psnr: {  # noqa: E731
        "dataset": "Set5",
        "model": f"weights/{model}.safetensors",
        "image": None,
        "psnr": psnr,
        "ssim": 0.8,
        "worst_psnr": psnr - 3,
        "p10_psnr": psnr - 2,
        "lpips": None,
    }
    records = [summary("gan_ragan_s0", 28.0), summary("gan_ragan_s1", 29.0)]
    records += [summary("gan_maxsurprise_s0", 27.0), summary("bicubic", 20.0)]
    records.append(records[0] | {"image": "baby.png"})
    quality = tmp_path / "quality.json"
    quality.write_text(json.dumps({"records": records}))
    out = tmp_path / "out"
    main(["--runs", str(runs), "--quality-json", str(quality), "--out", str(out)])
    report = json.loads((out / "ablation.json").read_text())
    # Scored in two batches: the same report from both files.
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps({"records": records[:2]}))
    second.write_text(json.dumps({"records": records[2:]}))
    main(["--runs", str(runs), "--quality-json", str(first), str(second), "--out", str(out)])
    assert json.loads((out / "ablation.json").read_text()) == report
    assert sorted(r["run"] for r in report["runs"]) == [
        "gan_maxsurprise_s0",
        "gan_ragan_s0",
        "gan_ragan_s1",
    ]
    ragan = next(row for row in report["table"] if row["objective"] == "ragan")
    assert ragan["seeds"] == 2 and ragan["psnr"] == "28.50 (28.00..29.00)"
    assert ragan["lpips"] == "n/a" and ragan["diverged"] == 0
    assert (out / "ablation_curves.png").stat().st_size > 0
    markdown = (out / "ablation.md").read_text()
    assert (
        "maxsurprise" in markdown and "| gan_ragan_s1 | ragan | 1 | - | 1.20 | -1.00 |" in markdown
    )
    # One adversarial weight per family: nothing to compare at matched detail, and it says so.
    assert report["matched_detail"] == [] and not (out / "ablation_tradeoff.png").exists()
    assert "No comparison at matched detail" in markdown


def test_family_strips_the_adversarial_weight_suffix() -> None:
    assert family("maxsurpriseadv2x") == family("maxsurpriseadv4x") == "maxsurprise"
    assert family("raganadvhalf") == "ragan" and family("maxsurprisetau025") == "maxsurprisetau025"


def test_line_fit_slope_value_and_standard_error() -> None:
    slope, value, error = line_fit([(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)], 1.5)
    assert (slope, value, error) == pytest.approx((2.0, 4.0, 0.0))
    _, _, noisy = line_fit([(0.0, 1.0), (1.0, 3.5), (2.0, 5.0)], 1.0)
    # residuals -1/6, 1/3, -1/6: variance 1/6 over 1 degree of freedom; at the mean x, s^2 / n
    assert noisy == pytest.approx(math.sqrt(1 / 6 / 3))


def test_families_are_compared_at_the_reference_detail(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    # name -> (adversarial weight, detail, PSNR); both families on PSNR = c - 4 * detail.
    # Set14 figures are missing for raganadvhalf: on Set14 ragan has one weight, no line.
    plan = {
        "gan_ragan_s0": (5e-3, 0.80, 29.5),
        "gan_ragan_s1": (5e-3, 0.90, 29.1),
        "gan_raganadvhalf_s0": (2.5e-3, 0.70, 29.9),
        "gan_maxsurprise_s0": (5e-3, 0.70, 30.2),
        "gan_maxsurprise_s1": (5e-3, 0.75, 30.0),
        "gan_maxsurpriseadv2x_s0": (1e-2, 0.80, 29.8),
        "gan_maxsurpriserel_s0": (5e-3, 0.85, 29.0),  # one weight only: no line
    }
    records = []
    for name, (weight, detail, psnr) in plan.items():
        write_run(runs, name, healthy(0.0), weight)
        for dataset in ["Set5"] if name == "gan_raganadvhalf_s0" else ["Set5", "Set14"]:
            records.append(
                {"dataset": dataset, "model": f"{name}.safetensors", "image": None}
                | {"psnr": psnr, "detail": detail}
            )
    quality = tmp_path / "quality.json"
    quality.write_text(json.dumps({"records": records}))
    out = tmp_path / "out"
    main(["--runs", str(runs), "--quality-json", str(quality), "--out", str(out)])
    report = json.loads((out / "ablation.json").read_text())
    weights = {r["run"]: r["adversarial_weight"] for r in report["runs"]}
    assert weights["gan_raganadvhalf_s0"] == 2.5e-3
    matched = {(row["dataset"], row["family"]): row for row in report["matched_detail"]}
    assert sorted(matched) == [("Set14", "maxsurprise"), ("Set5", "maxsurprise"), ("Set5", "ragan")]
    ragan, maxsurprise = matched["Set5", "ragan"], matched["Set5", "maxsurprise"]
    # at the mean detail of the two ragan runs, 0.85, where they measured 29.3 +- 0.2
    assert ragan["detail"] == pytest.approx(0.85)
    assert ragan["psnr_at_detail"] == pytest.approx(29.3) and ragan["interpolated"] is True
    assert ragan["adversarial_weights"] == [2.5e-3, 5e-3] and ragan["dof"] == 1
    assert maxsurprise["reference_psnr"] == pytest.approx(29.3)
    assert maxsurprise["reference_error"] == pytest.approx(0.2)
    assert maxsurprise["psnr_at_detail"] == pytest.approx(29.6)
    assert maxsurprise["standard_error"] == pytest.approx(0.0, abs=1e-6)  # an exact line
    assert maxsurprise["interpolated"] is False  # its runs reach 0.80 at most
    assert maxsurprise["slope_db_per_detail"] == pytest.approx(-4.0)
    markdown = (out / "ablation.md").read_text()
    assert "At matched detail" in markdown and "| 0.0025, 0.005 |" in markdown
    assert "| gan_raganadvhalf_s0 | raganadvhalf | 0 | 0.0025 |" in markdown  # not 0.00
    assert (out / "ablation_tradeoff.png").stat().st_size > 0
    # A reference objective with no runs: no comparison, and the report says why.
    other = tmp_path / "other"
    main(
        [
            "--runs",
            str(runs),
            "--quality-json",
            str(quality),
            "--out",
            str(other),
            "--reference",
            "nonesuch",
        ]
    )
    assert "'nonesuch' (--reference)" in (other / "ablation.md").read_text()


def test_line_fit_refuses_what_it_cannot_fit() -> None:
    with pytest.raises(ValueError, match="3\\+ points"):
        line_fit([(0.0, 1.0), (1.0, 2.0)], 0.5)
    with pytest.raises(ValueError, match="distinct x"):
        line_fit([(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)], 1.0)


def test_missing_runs_and_bad_paths_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    write_run(runs, "gan_ragan_s0", healthy(0.0))
    (tmp_path / "file").write_text("x")
    for argv, message in [
        (["--runs", str(tmp_path / "file")], "no such folder"),
        (["--runs", str(tmp_path / "absent")], "no such folder"),
        (["--runs", str(tmp_path)], "gan_<objective>_s<seed>"),  # no run folders in it
        (["--runs", str(runs), "--quality-json", str(tmp_path / "q.json")], "no such file"),
        (["--runs", str(runs), "--out", str(tmp_path / "file")], "is a file"),
        (["--runs", str(runs), "--out", str(tmp_path / "file" / "a")], "--out: cannot write"),
    ]:
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2 and message in capsys.readouterr().err, argv
    # Quality figures of other models only: the run goes on, and says so.
    other = {"dataset": "Set5", "model": "w/other.safetensors", "image": None, "psnr": 20.0}
    (tmp_path / "q.json").write_text(json.dumps({"records": [other]}))
    main(
        ["--runs", str(runs), "--quality-json", str(tmp_path / "q.json")]
        + ["--out", str(tmp_path / "o")]
    )
    assert "scores none of the 1 runs" in capsys.readouterr().err


def factorial_records(offset: float, noise: float = 0.001, seed_effect: float = 0.0) -> list[dict]:
    """NonSaturating and MaxSurprise runs at three weights and three seeds whose LPIPS lies
    on one line of PSNR, MaxSurprise's ``offset`` above (negative: better); with
    ``seed_effect`` MaxSurprise's seeds 0 and 1 sit that much above and below."""
    import random

    rng = random.Random(1)
    records = []
    for arm, shift in (("nonsat", 0.0), ("maxsurprise", offset)):
        for suffix, weight, psnr in (
            ("advhalf", 2.5e-3, 28.0),
            ("", 5e-3, 27.5),
            ("adv2x", 1e-2, 27.0),
        ):
            for seed in (0, 1, 2):
                p = psnr + rng.uniform(-0.05, 0.05)
                lpips = 0.30 - 0.05 * (p - 27.0) + shift + rng.uniform(-noise, noise)
                if arm == "maxsurprise":
                    lpips += seed_effect * {0: 1, 1: -1, 2: 0}[seed]
                records.append(
                    {
                        "run": f"gan_{arm}{suffix}_s{seed}",
                        "objective": f"{arm}{suffix}",
                        "seed": seed,
                        "adversarial_weight": weight,
                        "quality": {"Set5": {"psnr": p, "lpips": lpips}},
                    }
                )
    return records


def test_matched_psnr_follows_the_decision_rule() -> None:
    from benchmarks.release.ablation import matched_psnr

    (better,) = matched_psnr(factorial_records(-0.02))
    assert better["arm"] == "maxsurprise" and better["control"] == "nonsat"
    assert better["difference"] == pytest.approx(-0.02, abs=0.003)
    assert better["ci95_high"] < 0 and better["verdict"] == "helps"
    (same,) = matched_psnr(factorial_records(0.0, seed_effect=0.02))
    assert same["ci95_low"] < 0 < same["ci95_high"] and same["verdict"] == "no difference"
    # Student's t over the three seeds' differences (t 0.975 at 2 dof: 4.303).
    differences = [float(d) for d in same["per_seed"].split()]
    assert len(differences) == 3 and differences[0] > 0.01 > -0.01 > differences[1]
    half = 4.3027 * statistics.stdev(differences) / math.sqrt(3)
    assert same["difference"] == pytest.approx(statistics.fmean(differences), abs=1e-4)
    assert same["ci95_high"] - same["ci95_low"] == pytest.approx(2 * half, abs=2e-4)
    (worse,) = matched_psnr(factorial_records(0.02))
    assert worse["verdict"] == "hurts"
    # A seed whose runs of one arm are not scored yet is left out, not counted one-sided.
    partial = factorial_records(-0.02)
    for r in partial:
        if r["objective"].startswith("maxsurprise") and r["seed"] == 2:
            r["quality"] = {}
    (two,) = matched_psnr(partial)
    assert two["seeds"] == 2 and two["ci95_low"] < two["ci95_high"] < 0


def test_per_image_changes_against_the_control() -> None:
    from benchmarks.release.ablation import image_changes

    records = [r for r in factorial_records(0.0) if r["seed"] == 0 and "adv" not in r["objective"]]
    per_image = {
        ("gan_nonsat_s0", "Set5"): {"a": 0.30, "b": 0.20},
        ("gan_maxsurprise_s0", "Set5"): {"a": 0.25, "b": 0.26},
    }
    (row,) = image_changes(records, per_image)
    assert row["arm"] == "maxsurprise" and row["image_runs"] == 2
    assert row["mean_change"] == pytest.approx(0.005)
    assert row["largest_rise"] == pytest.approx(0.06) and row["improved"] == 0.5
    # The relativistic pair: maxsurpriserel against nonsat and against ragan, its own control.
    for arm in ("ragan", "maxsurpriserel"):
        records.append(records[0] | {"run": f"gan_{arm}_s0", "objective": arm})
    per_image[("gan_ragan_s0", "Set5")] = {"a": 0.20, "b": 0.20}
    per_image[("gan_maxsurpriserel_s0", "Set5")] = {"a": 0.22, "b": 0.19}
    rows = {(r["arm"], r["against"]): r for r in image_changes(records, per_image)}
    assert sorted(rows) == [
        ("maxsurprise", "nonsat"),
        ("maxsurpriserel", "nonsat"),
        ("maxsurpriserel", "ragan"),
        ("ragan", "nonsat"),
    ]
    own = rows["maxsurpriserel", "ragan"]
    assert own["mean_change"] == pytest.approx(0.005) and own["largest_rise"] == pytest.approx(0.02)
    assert rows["maxsurpriserel", "nonsat"]["mean_change"] == pytest.approx(-0.045)


def test_best_run_of_each_arm_is_its_lowest_mean_lpips() -> None:
    from benchmarks.release.ablation import best_runs

    records = factorial_records(0.01)
    for r in records:
        r["quality"]["Set14"] = {"psnr": r["quality"]["Set5"]["psnr"] - 2, "lpips": 0.2}
    # The lowest-LPIPS run on Set5, unscored on Set14, cannot be the best.
    unscored = min(records, key=lambda r: r["quality"]["Set5"]["lpips"])
    del unscored["quality"]["Set14"]
    rows = {row["arm"]: row for row in best_runs(records)}
    assert sorted(rows) == ["maxsurprise", "nonsat"]
    for arm, row in rows.items():
        mine = [r for r in records if r["objective"].startswith(arm) and r is not unscored]
        expected = min(mine, key=lambda r: r["quality"]["Set5"]["lpips"])
        assert row["run"] == expected["run"] != unscored["run"]
        assert row["Set5 lpips"] == round(expected["quality"]["Set5"]["lpips"], 4)
        assert row["Set14 psnr"] == round(expected["quality"]["Set14"]["psnr"], 2)
