"""benchmarks.quality on tiny generated folders (no data sets, CPU): protocol, methods, report."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.quality.cli import main
from benchmarks.quality.evaluate import (
    calibration,
    float64_batch,
    load_dataset,
    perceptual_convention,
    read_hr,
    summarize,
)
from benchmarks.quality.methods import BASELINES, build_method
from srgan.degradations import degraded_pair
from srgan.generators import CompactNet
from srgan.metrics import psnr
from srgan.resize import imresize_array, mod_crop
from srgan.weights import save_generator
from tests.conftest import smooth_image

REPO = Path(__file__).resolve().parent.parent
PERCEPTUAL = ("lpips", "lpips_vgg", "dists")
IMAGE_FIELDS = {"dataset", "model", "image", "psnr", "ssim", *PERCEPTUAL, "seconds"}
SUMMARY_FIELDS = IMAGE_FIELDS | {"worst_image", "worst_psnr", "p10_psnr", "images"}
SUMMARY_FIELDS |= {f"{p}_{k}" for k in PERCEPTUAL for p in ("worst", "p90")}
SUMMARY_FIELDS |= {f"worst_{k}_image" for k in PERCEPTUAL}


@pytest.fixture
def hr_dir(tmp_path: Path) -> Path:
    """Three small RGB PNGs and one single-channel one (like Set14's bridge)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "TinySet"
    folder.mkdir()
    for i, (h, w) in enumerate([(40, 48), (44, 40), (48, 52)]):  # 44, 52: not multiples of 8
        Image.fromarray(smooth_image(rng, h, w)).save(folder / f"rgb{i}.png")
    Image.fromarray(smooth_image(rng, 40, 40)[..., 1]).save(folder / "gray.png")
    return folder


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return save_generator(
        CompactNet(num_convs=2, num_features=8, scale=4), tmp_path / "tiny.safetensors"
    )


def run(tmp_path: Path, *args: str) -> dict:
    """``main(args)`` into tmp_path/out, on the CPU, without the perceptual metrics unless
    ``args`` asks for them (they have their own tests)."""
    out = tmp_path / "out"
    metrics = [] if "--metrics" in args else ["--metrics", "none"]
    code = main([*args, *metrics, "--out", str(out), "--device", "cpu", "--no-progress"])
    assert code == 0
    return json.loads((out / "quality.json").read_text())


def test_report_schema_and_files(
    hr_dir: Path, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    models = ["bicubic", "nearest", "lanczos", str(tiny_model)]
    report = run(tmp_path, "--data", str(hr_dir), "--models", *models, "--crops", "2")
    env = report["environment"]
    assert env["device"] == "cpu" and env["precision"] == "fp32" and "torch" in env
    import PIL  # the JPEG of a degraded LR is Pillow's codec's
    from PIL import features

    assert env["pillow"] == PIL.__version__
    assert env["libjpeg_turbo"] == features.version("libjpeg_turbo")
    assert env["perceptual_metrics"] == [] and env["perceptual_convention"] is None
    # Which file each model is, for a report read later.
    assert env["models"]["bicubic"] == {"given": "bicubic"}
    assert env["models"]["tiny"]["file"] == str(tiny_model)
    assert env["models"]["tiny"]["sha256"] == hashlib.sha256(tiny_model.read_bytes()).hexdigest()
    # From the working folder when inside it: no machine's own folders in a shared report.
    from benchmarks.quality.cli import model_source

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tiny_model.parent.parent)
        inside = f"{tiny_model.parent.name}/{tiny_model.name}"
        assert model_source(str(tiny_model))["file"] == inside

    records = report["records"]
    assert len(records) == 4 * (4 + 1)  # per model: 4 images and a summary
    names = {"rgb0", "rgb1", "rgb2", "gray"}
    for record in records:
        assert record["dataset"] == "TinySet"
        assert all(record[key] is None for key in PERCEPTUAL)
        if record["image"] is None:
            assert SUMMARY_FIELDS <= set(record)
        else:
            assert IMAGE_FIELDS <= set(record)
            assert record["image"] in names
        assert math.isfinite(record["psnr"]) and 0 < record["ssim"] <= 1
        assert record["seconds"] >= 0
    summaries = {r["model"]: r for r in records if r["image"] is None}
    assert list(summaries) == ["bicubic", "nearest", "lanczos", "tiny"]
    for model, summary in summaries.items():
        rows = [r for r in records if r["model"] == model and r["image"] is not None]
        psnrs = [r["psnr"] for r in rows]
        assert summary["images"] == 4
        assert summary["psnr"] == pytest.approx(np.mean(psnrs))
        assert summary["worst_psnr"] == min(psnrs)
        assert summary["worst_image"] == rows[int(np.argmin(psnrs))]["image"]
        assert min(psnrs) <= summary["p10_psnr"] <= summary["psnr"]
    # Bicubic beats nearest on smooth images.
    assert summaries["bicubic"]["psnr"] > summaries["nearest"]["psnr"]

    out = tmp_path / "out"
    markdown = (out / "quality.md").read_text()
    assert "| TinySet | bicubic |" in markdown and "not requested (--metrics none)" in markdown
    assert "LPIPS" not in markdown.split("## Tails")[0].split("\n")[4]  # no empty columns
    assert "rgb0" in markdown  # the per-image table
    for picture in ("psnr_per_image.png", "crops_TinySet.png"):
        assert (out / picture).stat().st_size > 1000
    assert not (out / "psnr_lpips.png").exists()
    printed = capsys.readouterr().out
    assert "| TinySet | tiny |" in printed and "not requested" in printed


@pytest.mark.usefixtures("random_backbones")
def test_perceptual_distances_in_records_tables_and_plots(
    hr_dir: Path, tiny_model: Path, tmp_path: Path
) -> None:
    # Random backbones: the plumbing, not the values (tests/test_metrics.py has those).
    models = ["--models", "bicubic", str(tiny_model)]
    report = run(tmp_path, "--data", str(hr_dir), *models, "--metrics", *PERCEPTUAL)
    env = report["environment"]
    assert env["perceptual_metrics"] == list(PERCEPTUAL)
    assert "no border crop" in env["perceptual_convention"]
    records = report["records"]
    for record in records:
        assert (
            SUMMARY_FIELDS <= set(record)
            if record["image"] is None
            else IMAGE_FIELDS <= set(record)
        )
        for key in PERCEPTUAL:
            assert isinstance(record[key], float) and record[key] > 0, (key, record)
    for model in ("bicubic", "tiny"):
        rows = [r for r in records if r["model"] == model and r["image"] is not None]
        (summary,) = [r for r in records if r["model"] == model and r["image"] is None]
        for key in PERCEPTUAL:
            values = [r[key] for r in rows]
            assert summary[key] == pytest.approx(np.mean(values))
            assert summary[f"worst_{key}"] == max(values)  # higher is worse
            assert summary[f"worst_{key}_image"] == rows[int(np.argmax(values))]["image"]
            assert summary[f"p90_{key}"] == pytest.approx(np.percentile(values, 90))
    out = tmp_path / "out"
    markdown = (out / "quality.md").read_text()
    header = "| data set | model | PSNR (dB) | SSIM | LPIPS | LPIPS-VGG | DISTS | detail |"
    assert header in markdown
    assert "| worst PSNR | p10 PSNR | worst LPIPS | p90 LPIPS | worst LPIPS-VGG |" in markdown
    assert "PSNR (dB) / SSIM / LPIPS / LPIPS-VGG / DISTS per image" in markdown
    assert "no border crop" in markdown
    assert (out / "psnr_lpips.png").stat().st_size > 1000

    # --metrics chooses.
    only = run(tmp_path, "--data", str(hr_dir), "--models", "bicubic", "--metrics", "dists")
    assert only["environment"]["perceptual_metrics"] == ["dists"]
    assert all(r["lpips"] is None and r["dists"] is not None for r in only["records"])


@pytest.mark.usefixtures("empty_caches")
def test_missing_backbones_stop_the_run_naming_the_fetch_command(
    hr_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--data", str(hr_dir), "--models", "bicubic", "--out", str(tmp_path / "out")]
    err = usage_error([*argv, "--no-progress"], capsys)
    assert "nothing was measured" in err
    for key in PERCEPTUAL:
        assert f"--metrics {key}: " in err
    assert "python -m srgan.assets fetch" in err
    # None of them can run: the hint is the metrics that can (none), not other missing ones.
    assert err.count("(or leave it out: --metrics none)") == len(PERCEPTUAL)
    assert not (tmp_path / "out").exists()
    # A cached file that is not the pinned one: the same one line, not a traceback.
    from srgan import assets

    assets.cache_path("dists").parent.mkdir(parents=True)
    assets.cache_path("dists").write_bytes(b"not a safetensors file")
    err = usage_error([*argv, "--no-progress", "--metrics", "dists"], capsys)
    assert "--metrics dists: " in err and "which replaces it" in err, err


def test_gray_hr_is_scored_on_gray_values(hr_dir: Path, tmp_path: Path) -> None:
    hr = read_hr(hr_dir / "gray.png")
    assert hr.shape == (40, 40, 1)
    assert read_hr(hr_dir / "rgb0.png").shape == (40, 48, 3)
    report = run(tmp_path, "--data", str(hr_dir), "--models", "bicubic")
    (gray,) = [r for r in report["records"] if r["image"] == "gray"]
    sr = build_method("bicubic", 4)(imresize_array(hr, 1 / 4))
    assert sr.shape == (40, 40, 1)
    expected = psnr(float64_batch(sr), float64_batch(hr), crop_border=4, y_channel=False).item()
    assert gray["psnr"] == pytest.approx(expected)


def test_scoring_options_rgb_and_no_crop(hr_dir: Path, tmp_path: Path, capsys) -> None:
    y = run(tmp_path, "--data", str(hr_dir), "--models", "bicubic", "--crops", "0")
    assert "crops_" not in capsys.readouterr().out  # none drawn, none said to be
    rgb = run(tmp_path, "--data", str(hr_dir), "--models", "bicubic", "--channels", "rgb")
    uncropped = run(tmp_path, "--data", str(hr_dir), "--models", "bicubic", "--crop-border", "0")
    assert rgb["environment"]["channels"] == "RGB"
    assert uncropped["environment"]["crop_border"] == 0
    values = [r["records"][1]["psnr"] for r in (y, rgb, uncropped)]  # rgb0
    assert report_image(y, 1) == "rgb0" and len(set(values)) == 3


def test_a_rerun_into_the_same_folder_leaves_no_plot_of_the_first(
    hr_dir: Path, tmp_path: Path
) -> None:
    run(tmp_path, "--data", str(hr_dir), "--models", "bicubic")
    assert (tmp_path / "out" / "crops_TinySet.png").is_file()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    run(tmp_path, "--data", str(hr_dir), "--models", "nearest", "--crops", "0")
    # The crops showed bicubic, which the new numbers do not have; other files stay.
    assert not (tmp_path / "out" / "crops_TinySet.png").exists()
    assert (tmp_path / "out" / "notes.txt").is_file()
    assert (tmp_path / "out" / "psnr_per_image.png").is_file()


def test_an_out_file_and_a_folder_of_unscorable_images_are_named_before_any_work(
    hr_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").write_text("x")
    err = usage_error(["--data", str(hr_dir), "--out", str(tmp_path / "taken")], capsys)
    assert f"--out {tmp_path / 'taken'} is a file" in err
    # A folder that cannot be written (here under a file): before the scoring, not after.
    err = usage_error(["--data", str(hr_dir), "--out", str(tmp_path / "taken" / "q")], capsys)
    assert f"--out: cannot write into {tmp_path / 'taken' / 'q'}" in err
    small = tmp_path / "small"
    small.mkdir()
    Image.new("RGB", (8, 8)).save(small / "dot.png")
    err = usage_error(["--data", str(small), "--out", str(tmp_path / "out")], capsys)
    assert "no image could be scored (dot.png: " in err and "too small" in err


def report_image(report: dict, index: int) -> str:
    return report["records"][index]["image"]


@pytest.mark.parametrize("channels", [1, 3])
def test_methods_keep_size_and_channels(tiny_model: Path, channels: int) -> None:
    lr = np.random.default_rng(0).integers(0, 256, (9, 11, channels), dtype=np.uint8)
    for spec in [*BASELINES, str(tiny_model)]:
        sr = build_method(spec, 4, device="cpu")(lr)
        assert sr.shape == (36, 44, channels) and sr.dtype == np.uint8, spec


def test_nearest_repeats_pixels() -> None:
    lr = np.arange(6, dtype=np.uint8).reshape(2, 3, 1) * 40
    sr = build_method("nearest", 2)(lr)
    assert np.array_equal(sr, lr.repeat(2, 0).repeat(2, 1))


def test_model_scale_must_match(tiny_model: Path) -> None:
    with pytest.raises(ValueError, match="x4"):
        build_method(str(tiny_model), 2, device="cpu")
    with pytest.raises(FileNotFoundError, match="neither a shipped model") as error:
        build_method("no-such-model", 4)
    assert "or a baseline: bicubic, nearest, lanczos" in str(error.value)
    with pytest.raises(FileNotFoundError, match="did you mean 'bicubic'"):
        build_method("bicubc", 4)


def test_opencv_needs_contrib_or_the_file(tmp_path: Path) -> None:
    try:
        import cv2

        has_superres = hasattr(cv2, "dnn_superres")
    except ImportError:
        has_superres = False
    if has_superres:
        with pytest.raises(FileNotFoundError, match="OpenCV model not found"):
            build_method("opencv:ESPCN_x4.pb", 4, opencv_dir=tmp_path)
    else:
        with pytest.raises(ImportError, match=r"srgan\[baselines\]"):
            build_method("opencv:ESPCN_x4.pb", 4, opencv_dir=tmp_path)


def test_given_lr_folder_matches_by_stem(hr_dir: Path, tmp_path: Path) -> None:
    lr_dir = tmp_path / "lr"
    lr_dir.mkdir()
    for path in hr_dir.iterdir():
        lr = imresize_array(mod_crop(read_hr(path), 4), 1 / 4)
        Image.fromarray(lr[..., 0] if lr.shape[2] == 1 else lr).save(lr_dir / f"{path.stem}.bmp")
    made = run(tmp_path, "--data", str(hr_dir), "--models", "bicubic", "--crops", "0")
    given = run(tmp_path, "--data", str(hr_dir), "--lr-dir", str(lr_dir), "--models", "bicubic")
    assert [r["psnr"] for r in made["records"]] == [r["psnr"] for r in given["records"]]
    assert given["environment"]["lr"] == "given (--lr-dir)"

    (lr_dir / "rgb0.bmp").unlink()
    with pytest.raises(FileNotFoundError, match="no LR image named rgb0"):
        load_dataset(hr_dir, 4, lr_dir)
    Image.new("RGB", (7, 7)).save(lr_dir / "rgb0.png")
    with pytest.raises(ValueError, match="expected 12x10"):
        load_dataset(hr_dir, 4, lr_dir)
    # DIV2K's names (0801x4.png), as data.train_lr_dir takes them.
    for path in lr_dir.iterdir():
        path.unlink()
    for path in hr_dir.iterdir():
        lr = imresize_array(mod_crop(read_hr(path), 4), 1 / 4)
        Image.fromarray(lr[..., 0] if lr.shape[2] == 1 else lr).save(lr_dir / f"{path.stem}x4.bmp")
    given = run(tmp_path, "--data", str(hr_dir), "--lr-dir", str(lr_dir), "--models", "bicubic")
    assert [r["psnr"] for r in made["records"]] == [r["psnr"] for r in given["records"]]
    # The LR folder's parent, as DIV2K's X4/ inside DIV2K_valid_LR_bicubic/: found by stem.
    (tmp_path / "parent").mkdir()
    lr_dir.rename(tmp_path / "parent" / "X4")
    lr_dir = tmp_path / "parent" / "X4"
    assert len(load_dataset(hr_dir, 4, tmp_path / "parent")[1]) == 4
    # A wrong size under the x4 name: the one-line error, not a KeyError.
    Image.new("RGB", (7, 7)).save(lr_dir / "rgb0x4.bmp")
    with pytest.raises(ValueError, match="LR rgb0x4.bmp is 7x7, expected 12x10"):
        load_dataset(hr_dir, 4, lr_dir)
    # An LR that cannot be read: its image is left out and named, as a bad HR is.
    (lr_dir / "rgb0x4.bmp").write_bytes(b"not a bmp")
    _, items, skipped = load_dataset(hr_dir, 4, lr_dir)
    assert len(items) == 3 and skipped[0][0].name == "rgb0.png"
    assert "its LR" in skipped[0][1] and "rgb0x4.bmp" in skipped[0][1]


def test_images_and_folders_of_one_name_are_kept_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(3)
    for folder in ("a/hr", "a/hr/sub", "b/hr"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(smooth_image(rng, 40, 40)).save(tmp_path / folder / "x.png")
    flat = np.full((40, 40, 3), 128, np.uint8)  # bicubic gives it back exactly
    Image.fromarray(flat).save(tmp_path / "b" / "hr" / "flat.png")
    result = run(
        tmp_path, "--data", str(tmp_path / "a" / "hr"), str(tmp_path / "b" / "hr"), "--crops", "0"
    )
    rows = {(r["dataset"], r["image"]): r["psnr"] for r in result["records"]}
    assert {"x", "sub/x"} <= {image for dataset, image in rows if dataset == "hr"}
    assert ("hr#2", "x") in rows and ("hr#2", "flat") in rows
    # Identical images: capped, so that the means are numbers and the JSON strict JSON.
    assert rows["hr#2", "flat"] == 100.0 and rows["hr#2", None] < 100.0
    text = (tmp_path / "out" / "quality.json").read_text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))


def test_options_that_cannot_work_are_refused_before_any_work(
    hr_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gray = save_generator(
        CompactNet(num_convs=1, num_features=4, in_channels=1, out_channels=1),
        tmp_path / "gray.safetensors",
    )
    data = ["--data", str(hr_dir)]
    out = ["--out", str(tmp_path / "q")]
    for argv, message in [
        ([*data, *out, "--models", str(gray)], "takes 1 channel(s)"),
        ([*data, *out, "--device", "nonesuch"], "--device nonesuch: "),
        ([*data, "--out", str(hr_dir / "results")], "lies inside --data"),
        ([*data, *out, "--scale", "1"], "--scale must be a whole number of at least 2"),
        ([*data, *out, "--crops", "-2"], "--crops must be 0 or more"),
        ([*data, *out, "--metrics", "none", "lpips"], "--metrics none is PSNR and SSIM alone"),
        ([*data, "--self-test", "--scale", "2"], "--self-test checks bicubic x4 alone"),
        ([*data, *out, "--lr-dir", str(tmp_path / "none")], "--lr-dir /"),
    ]:
        err = usage_error(argv, capsys)
        assert message in err and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "q").exists() and not (hr_dir / "results").exists()


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """``main(argv)``'s message, after checking that it exits 2 (usage) without a traceback."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_missing_or_empty_folder_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ["--out", str(tmp_path / "out")]
    assert "image folder not found" in usage_error(
        ["--data", str(tmp_path / "absent"), *out], capsys
    )
    (tmp_path / "empty").mkdir()
    assert "no images in" in usage_error(["--data", str(tmp_path / "empty"), *out], capsys)
    assert not (tmp_path / "out").exists()


def test_models_that_cannot_load_are_named_before_any_work(
    hr_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    absent = tmp_path / "absent"
    argv = ["--data", str(hr_dir), str(absent), "--out", str(tmp_path / "out"), "--no-progress"]
    err = usage_error([*argv, "--models", "bicubic", "quality", "missing.pth"], capsys)
    assert "nothing was measured" in err
    assert f"--data {absent}: image folder not found" in err
    assert "--models quality: model 'quality'" in err and "not shipped" in err
    assert "--models missing.pth: model 'missing.pth' is neither" in err
    assert not (tmp_path / "out").exists()


def test_the_perceptual_convention_names_the_distances_measured_only() -> None:
    every = perceptual_convention(["lpips", "lpips_vgg", "dists"])
    assert every.startswith("LPIPS v0.1 (lpips: AlexNet, lpips_vgg: VGG16) and DISTS (VGG16)")
    assert "LPIPS inputs in [-1, 1], DISTS in [0, 1]" in every
    alex = perceptual_convention(["lpips"])
    assert alex.startswith("LPIPS v0.1 (lpips: AlexNet), as its reference code")
    assert "VGG16" not in alex and "DISTS" not in alex
    dists = perceptual_convention(["dists"])
    assert dists.startswith("DISTS (VGG16), as its") and "LPIPS" not in dists


def test_summary_tail_statistics() -> None:
    rows = [
        {"image": f"i{k}", "psnr": float(p), "ssim": 0.5, "lpips": None, "seconds": 0.1, "scale": 4}
        | {"detail": 0.5 + k / 10, "dists": 0.01 * p}
        for k, p in enumerate([30, 20, 25, 35, 28, 31, 29, 27, 33, 26])
    ]
    summary = summarize("D", "m", rows)
    assert summary["image"] is None and summary["images"] == 10
    assert summary["worst_image"] == "i1" and summary["worst_psnr"] == 20
    assert summary["p10_psnr"] == pytest.approx(np.percentile([r["psnr"] for r in rows], 10))
    assert summary["p10_psnr"] == pytest.approx(24.5)  # between the two lowest: 20 and 25
    assert summary["psnr"] == pytest.approx(28.4) and summary["lpips"] is None
    assert summary["worst_lpips"] is None and summary["p90_lpips"] is None
    assert summary["detail"] == pytest.approx(0.95)  # the mean of 0.5 .. 1.4
    # A distance's worst is its highest, and its tail the 90th percentile.
    assert summary["worst_dists_image"] == "i3" and summary["worst_dists"] == pytest.approx(0.35)
    assert summary["p90_dists"] == pytest.approx(0.332)  # between the two highest: 0.33, 0.35
    assert summary["dists"] == pytest.approx(0.284)


def test_calibration_lines() -> None:
    record = {"dataset": "Set5", "model": "bicubic", "image": None, "scale": 4, "images": 5}
    ok = calibration([{**record, "psnr": 28.429, "ssim": 0.8111}], 4, True)
    bad = calibration([{**record, "psnr": 28.0, "ssim": 0.8111}], 4, True)
    assert ok[0].startswith("OK") and bad[0].startswith("FAIL")
    assert calibration([{**record, "psnr": 28.0, "ssim": 0.8}], 0, True) == []
    # A folder of one's own named Set5: not the benchmark set, not compared with it.
    assert calibration([{**record, "images": 2, "psnr": 31.0, "ssim": 0.9}], 4, True) == []


def test_module_help_runs_from_any_directory(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.quality", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for option in ("--data", "--models", "--lr-dir", "--metrics", "--self-test"):
        assert option in result.stdout


def test_float64_batch_is_exact_on_the_8_bit_grid() -> None:
    image = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
    tensor = float64_batch(image)
    assert tensor.shape == (1, 1, 16, 16)
    assert torch.equal(
        torch.floor(tensor * 255 + 0.5).to(torch.uint8)[0, 0], torch.from_numpy(image[..., 0])
    )


def test_srgan_method_runs_the_generator_on_0_1_rgb(tiny_model: Path) -> None:
    from srgan.weights import load_generator

    lr = np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    sr = build_method(str(tiny_model), 4, device="cpu")(lr)
    generator = load_generator(tiny_model)
    with torch.no_grad():
        direct = generator(torch.tensor(lr).permute(2, 0, 1)[None].float() / 255).clamp(0, 1)
    expected = torch.floor(direct * 255 + 0.5)[0].permute(1, 2, 0).numpy()
    assert np.abs(sr.astype(np.float64) - expected).max() <= 1  # float rounding only


def test_self_test_fails_loudly_on_other_data(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    rng = np.random.default_rng(0)
    for name in ("Set5", "Set14"):
        (tmp_path / name).mkdir()
        Image.fromarray(smooth_image(rng, 32, 32)).save(tmp_path / name / "a.png")
    data = ["--data", str(tmp_path / "Set5"), str(tmp_path / "Set14")]
    assert main(["--self-test", *data, "--no-progress"]) == 1
    printed = capsys.readouterr().out
    assert "FAIL Set5 bicubic x4" in printed and "published 26.00 / 0.7027" in printed
    assert "FAIL Set14: 1 image(s) scored, the published set has 14" in printed


def test_bad_images_are_named_and_skipped_and_the_rest_scored(
    hr_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Image.new("RGB", (1, 1)).save(hr_dir / "dot.png")
    Image.new("RGB", (16, 16)).save(hr_dir / "tiny.png")  # smaller than SSIM's window
    (hr_dir / "text.png").write_text("not an image")
    out = tmp_path / "out"
    args = ["--data", str(hr_dir), "--models", "bicubic", "--metrics", "none", "--crops", "0"]
    assert main([*args, "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    for name in ("dot.png", "tiny.png", "text.png"):
        assert f"skipped: {hr_dir / name}" in err, err
    assert "too small to score" in err and "not an image" in err
    saved = json.loads((out / "quality.json").read_text())
    records = saved["records"]
    assert sorted(r["image"] for r in records if r["image"]) == ["gray", "rgb0", "rgb1", "rgb2"]
    # The report says what it left out, as stderr did.
    assert sorted(Path(i["file"]).name for i in saved["skipped"]) == [
        "dot.png",
        "text.png",
        "tiny.png",
    ]
    assert f"- {hr_dir / 'tiny.png'}: too small to score" in (out / "quality.md").read_text()
    assert saved["environment"]["data"] == [str(hr_dir)]


@pytest.mark.parametrize("scale", ["0", "-1"])
def test_a_bad_scale_is_a_usage_error(
    hr_dir: Path, scale: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "--scale" in usage_error(["--data", str(hr_dir), "--scale", scale], capsys)


def test_degradation_profiles_make_one_lr_per_image_and_score_against_clean_hr(
    hr_dir: Path, tiny_model: Path, tmp_path: Path
) -> None:
    models = ["bicubic", str(tiny_model)]
    clean = run(tmp_path, "--data", str(hr_dir), "--models", *models, "--crops", "0")
    medium = run(tmp_path, "--data", str(hr_dir), "--models", *models, "--degradation", "medium")
    env = medium["environment"]
    assert env["degradation"] == "medium"
    assert env["degradation_chain"] == {"blur_sigma": 1.5, "noise_sigma": 5.0, "jpeg_quality": 75}
    assert env["lr"].startswith("medium: Gaussian blur sigma 1.5")
    assert clean["environment"]["degradation"] == "bicubic"
    assert clean["environment"]["degradation_chain"] is None
    protocol = (tmp_path / "out" / "quality.md").read_text().splitlines()[2]
    assert "LR: medium: Gaussian blur sigma 1.5" in protocol and "clean HR" in protocol

    def psnrs(report: dict, model: str) -> dict[str, float]:
        return {r["image"]: r["psnr"] for r in report["records"] if r["model"] == model}

    # Degraded LR scores lower against the same clean HR, every image (gray included).
    for image, value in psnrs(medium, "bicubic").items():
        assert value < psnrs(clean, "bicubic")[image]
    # Identical across runs ...
    again = run(tmp_path, "--data", str(hr_dir), "--models", "bicubic", "--degradation", "medium")
    assert psnrs(again, "bicubic") == psnrs(medium, "bicubic")
    # ... and the LR each model sees is the profile's, made once per image from its name.
    _, items, _ = load_dataset(hr_dir, 4, degradation="medium")
    for image, hr, lr in items:
        expected, _ = degraded_pair(read_hr(hr_dir / f"{image}.png"), 4, "medium", name=image)
        np.testing.assert_array_equal(lr, expected)
        assert lr.shape[2] == hr.shape[2]


def test_degradation_excludes_ready_made_lr_and_the_self_test(
    hr_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--data", str(hr_dir), "--out", str(tmp_path / "out"), "--degradation", "heavy"]
    assert "--lr-dir" in usage_error([*base, "--lr-dir", str(hr_dir)], capsys)
    assert "--self-test" in usage_error([*base, "--self-test"], capsys)
    assert "invalid choice" in usage_error([*base[:-1], "extreme"], capsys)
    with pytest.raises(ValueError, match="exclude each other"):
        load_dataset(hr_dir, 4, hr_dir, degradation="light")


def test_photo_crops_show_each_method_on_the_busiest_window(
    tmp_path: Path,
    model_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks.quality import photos

    rng = np.random.default_rng(0)
    files = []
    for i, size in enumerate([(40, 56), (30, 30)]):
        pixels = np.full((*size, 3), 128, np.uint8)
        pixels[5:15, 20:30] = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)  # the texture
        files.append(tmp_path / f"photo{i}.jpg")
        Image.fromarray(pixels).save(files[-1], quality=90)
    out = tmp_path / "crops.png"
    shown = []
    real = photos.build_method

    def recording(spec: str, scale: int, **kwargs: object) -> object:
        method = real(spec, scale, **kwargs)
        run = method.run
        method.run = lambda lr: shown.append((spec, lr.shape)) or run(lr)
        return method

    monkeypatch.setattr(photos, "build_method", recording)
    models = ["--models", "bicubic", str(model_file)]
    code = photos.main([*map(str, files), *models, "--size", "12", "--out", str(out)])
    assert code == 0 and f"wrote {out}" in capsys.readouterr().out
    assert Image.open(out).size[0] > 200
    # Each method saw each photo's window (12 px plus an 8-px margin, clipped by the border).
    assert [s for s, _ in shown] == ["bicubic", str(model_file)] * 2
    assert shown[0][1] == shown[1][1] and shown[0][1][0] <= 12 + 16
    with pytest.raises(SystemExit):
        photos.main([str(tmp_path / "missing.jpg")])
    # A figure that could not be saved: said before any model runs.
    shown.clear()
    with pytest.raises(SystemExit) as stop:
        photos.main([*map(str, files), *models, "--out", str(files[0] / "crops.png")])
    assert stop.value.code == 2 and "is a file, not a folder" in capsys.readouterr().err
    assert not shown
    # A folder: its images, in name order (its other files aside).
    folder = tmp_path / "folder"
    folder.mkdir()
    for file in files:
        file.rename(folder / file.name)
    (folder / "notes.txt").write_text("not a photo")
    shown.clear()
    code = photos.main([str(folder), *models, "--size", "12", "--out", str(out)])
    assert code == 0 and len(shown) == 4


def test_an_exported_onnx_model_scores_as_its_weights_do(
    hr_dir: Path, tiny_model: Path, tmp_path: Path
) -> None:
    from srgan.onnx import export_onnx
    from srgan.weights import load_generator

    onnx = export_onnx(load_generator(tiny_model), tmp_path / "tiny.onnx")
    report = run(tmp_path, "--data", str(hr_dir), "--models", str(tiny_model), str(onnx))
    means = {r["model"]: (r["psnr"], r["ssim"]) for r in report["records"] if r["image"] is None}
    assert len(means) == 2
    (torch_psnr, torch_ssim), (onnx_psnr, onnx_ssim) = means.values()
    assert abs(torch_psnr - onnx_psnr) < 0.01 and abs(torch_ssim - onnx_ssim) < 1e-3
    # Its precision is its own: another asked for is refused, not ignored.
    with pytest.raises(ValueError, match="runs in its own precision"):
        build_method(str(onnx), 4, device="cpu", precision="bf16")


def test_a_problem_with_the_inputs_is_said_without_the_usage_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = usage_error(["--data", str(tmp_path / "absent"), "--out", str(tmp_path / "o")], capsys)
    assert err.startswith("python -m benchmarks.quality: error: nothing was measured:"), err
    assert "usage:" not in err
    err = usage_error(["--data", str(tmp_path), "--scale", "1"], capsys)  # how it was written
    assert err.startswith("usage:"), err


def test_self_ensembled_models_are_scored_under_their_own_label(
    hr_dir: Path, tiny_model: Path, tmp_path: Path
) -> None:
    from srgan.onnx import export_onnx
    from srgan.weights import load_generator

    onnx = export_onnx(load_generator(tiny_model), tmp_path / "tiny.onnx")
    args = ["--data", str(hr_dir), "--models", "bicubic", str(tiny_model), str(onnx)]
    report = run(tmp_path, *args, "--self-ensemble")
    means = {r["model"]: r["psnr"] for r in report["records"] if r["image"] is None}
    names = list(means)
    assert len(names) == 3 and names[0] == "bicubic", names  # baselines are not ensembled
    assert all(name.endswith("+") for name in names[1:]), names
    assert report["environment"]["self_ensemble"] is True
    assert "NAME+: self-ensembled" in (tmp_path / "out" / "quality.md").read_text()
    plain = run(tmp_path, "--data", str(hr_dir), "--models", str(tiny_model))
    plain_psnr = next(r["psnr"] for r in plain["records"] if r["image"] is None)
    torch_psnr, onnx_psnr = means[names[1]], means[names[2]]
    assert abs(torch_psnr - onnx_psnr) < 0.01  # the same mean on either backend
    assert abs(torch_psnr - plain_psnr) > 1e-3  # and not the plain model's
