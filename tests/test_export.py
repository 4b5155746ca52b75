"""``python -m srgan.export``: every model written and checked, the int8 PSNR report, errors;
int8 quantization and its calibration methods."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from srgan.export import main, run
from srgan.generators import CompactNet
from srgan.int8 import calibration_crops, entropy_ranges, quantize_int8
from srgan.onnx import ExportError, export_onnx, onnx_session, run_session
from srgan.weights import save_generator


@pytest.mark.parametrize("method", ["minmax", "percentile", "entropy"])
def test_int8_calibration_methods(compact_onnx, image_dir: Path, tmp_path: Path, method: str):
    model, path = compact_onnx
    crops = calibration_crops(image_dir, count=4, crop=16, downscale=4)
    assert len(crops) == 4 and crops[0].shape == (1, 3, 16, 16)
    # Files of the user's with the names of ORT's and earlier versions' intermediates.
    mine = ["augmented_model.onnx", f"{method}.preprocessed.onnx", f".{method}.quantized.onnx"]
    for name in mine:
        (tmp_path / name).write_text("mine")
    int8 = quantize_int8(path, tmp_path / f"{method}.onnx", crops, method=method)
    assert all((tmp_path / name).read_text() == "mine" for name in mine)
    written = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert written == sorted([*mine, f"{method}.onnx"])
    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    lr = torch.from_numpy(crops[0])
    out = run_session(onnx_session(int8), lr)
    with torch.no_grad():
        expected = model(lr).clamp(0, 1)
    assert out.shape == expected.shape
    assert (out - expected).abs().mean() < 0.05


def test_calibration_skips_images_too_small_to_say_anything(image_dir: Path) -> None:
    from PIL import Image

    Image.new("RGB", (28, 28)).save(image_dir / "tiny.png")  # 7 px after 1/4: skipped
    with pytest.warns(UserWarning, match=r"skipping 1 calibration image\(s\) smaller than 8 px"):
        crops = calibration_crops(image_dir, count=12, crop=16, downscale=4)
    assert len(crops) == 12 and not any(float(c.max()) == 0 for c in crops)  # none from it
    only_tiny = image_dir.parent / "tiny"
    only_tiny.mkdir()
    Image.new("RGB", (1, 1)).save(only_tiny / "dot.png")
    with pytest.raises(ValueError, match="no larger one"):
        calibration_crops(only_tiny, count=4, crop=16, downscale=4)
    assert len(calibration_crops(image_dir, count=2, crop=16)) == 2  # as LR: 28 px is enough
    one = image_dir.parent / "one"
    one.mkdir()
    Image.new("RGB", (8, 8)).save(one / "crop.png")
    with pytest.warns(UserWarning, match=r"sees 64 LR pixels in all \(1 image"):
        assert len(calibration_crops(one, count=32, crop=64)) == 32


def test_entropy_calibration_tightens_some_ranges(compact_onnx, image_dir: Path):
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

    crops = calibration_crops(image_dir, count=4, crop=16, downscale=4)

    def reader():
        items = iter(crops)

        class Reader:
            def get_next(self):
                item = next(items, None)
                return None if item is None else {"lr": item}

        return Reader()

    entropy = entropy_ranges(compact_onnx[1], reader())
    calibrator = create_calibrator(
        compact_onnx[1],
        augmented_model_path=str(image_dir.parent / "aug.onnx"),
        calibrate_method=CalibrationMethod.MinMax,
    )
    calibrator.collect_data(reader())
    minmax = calibrator.compute_data().data
    assert set(entropy) == set(minmax)

    def width(low, high) -> float:
        return float(np.max(high)) - float(np.min(low))

    widths = {
        name: (width(o[0]["rmin"], o[0]["rmax"]), width(*minmax[name].range_value))
        for name, o in entropy.items()
    }
    assert all(e <= m + 1e-6 for e, m in widths.values())
    assert any(e < 0.99 * m for e, m in widths.values())


def test_a_failed_write_leaves_the_earlier_files_as_they_were(
    compact_onnx, image_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The final write fails halfway (a full disk, Ctrl-C): the files of those names keep
    # their earlier content, and nothing is left beside them.
    model, source = compact_onnx
    earlier = {name: f"earlier {name}".encode() for name in ("m.onnx", "m.int8.onnx")}
    for name, data in earlier.items():
        (tmp_path / name).write_bytes(data)
    crops = calibration_crops(image_dir, count=2, crop=16)

    real_save = onnx.save

    def fail(model, path, *args, **kwargs):  # the final write, cut short by a full disk
        if "partial" in str(path) or "quantized" in str(path):  # the steps before it
            return real_save(model, path, *args, **kwargs)
        Path(path).write_bytes(b"the first bytes")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(onnx, "save", fail)
    with pytest.raises(OSError, match="No space left"):
        export_onnx(model, tmp_path / "m.onnx")
    with pytest.raises(OSError, match="No space left"):
        quantize_int8(source, tmp_path / "m.int8.onnx", crops)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == earlier


def test_unknown_calibration_method(compact_onnx, tmp_path: Path):
    with pytest.raises(ValueError, match="calibration method"):
        quantize_int8(compact_onnx[1], tmp_path / "x.onnx", [np.zeros((1, 3, 8, 8))], method="kl")


def test_cli_writes_all_models_and_the_psnr_drop_report(image_dir: Path, tmp_path: Path):
    weights = save_generator(CompactNet(num_features=4, num_convs=1), tmp_path / "tiny.safetensors")
    out = tmp_path / "out"
    report = run(
        [
            "--model",
            str(weights),
            "--output",
            str(out / "tiny.onnx"),
            "--fp16",
            str(out / "tiny.fp16.onnx"),
            "--int8",
            str(out / "tiny.int8.onnx"),
            "--calibration-dir",
            str(image_dir),
            "--calibration-downscale",
            "4",
            "--calibration-crops",
            "6",
            "--calibration-crop-size",
            "16",
            "--calibration-method",
            "percentile",
            "--hr-dir",
            str(image_dir),
        ]
    )
    for name in ("tiny.onnx", "tiny.fp16.onnx", "tiny.int8.onnx", "tiny.export.json"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "tiny.export.json").read_text())
    assert saved == json.loads(json.dumps(report))
    assert saved["fp32"]["passed"] and saved["int8"]["calibration"]["method"] == "percentile"
    quality = saved["quality"]
    assert len(quality["images"]) == 6
    means = quality["mean_psnr"]
    assert quality["int8_psnr_drop_db"] == pytest.approx(means["fp32"] - means["int8"])
    assert abs(means["fp32"] - means["fp16"]) < 0.05
    assert 10 < means["fp32"] < 60
    # Paths as seen from the report's folder; the source named with its sha256.
    assert saved["fp32"]["path"] == "tiny.onnx" and saved["source"]["path"] == "../tiny.safetensors"
    assert saved["int8"]["calibration"]["folder"] == os.path.relpath(image_dir, out)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert saved["source"]["sha256"] == digest
    for name in ("tiny.onnx", "tiny.fp16.onnx", "tiny.int8.onnx"):
        graph = onnx.load(str(out / name))
        # Valid for any tool: onnx's full check with shape inference (the fp16 converter's
        # float16 hints on float32 tensors failed it), and no operator domain it does not use.
        onnx.checker.check_model(graph, full_check=True)
        assert [o.domain for o in graph.opset_import] in ([""], ["ai.onnx"]), name
        meta = {p.key: p.value for p in graph.metadata_props}
        assert meta["srgan.source_sha256"] == digest and "RGB, in [0, 1]" in meta["srgan.input"]


def test_int8_without_a_folder_calibrates_on_the_built_in_images(tmp_path: Path, capsys) -> None:
    # As srgan.upscale --backend onnx-int8 does: the sample photos' crops, downscaled.
    weights = save_generator(CompactNet(num_features=4, num_convs=1), tmp_path / "tiny.safetensors")
    argv = ["--model", str(weights), "--output", str(tmp_path / "tiny.onnx"), "--int8"]
    report = run([*argv, "--calibration-crops", "4", "--calibration-crop-size", "16"])
    assert (tmp_path / "tiny.int8.onnx").is_file()
    calibration = report["int8"]["calibration"]
    assert calibration["folder"].startswith("built-in") and calibration["downscale"] == 4
    assert calibration["crops"] == 4 and calibration["crop_size"] == 16
    assert "4 crops of the built-in images" in capsys.readouterr().out
    # Checked on real crops too without a folder of one's own: the built-in images'.
    checked = report["fp32"]["max_abs_diff"]
    assert len(checked) == 4 and sum(name.startswith("real ") for name in checked) == 2
    # And measured there, as srgan.upscale measures its int8 model.
    quality = report["quality"]
    assert quality["folder"] == "built-in" and quality["measured_on_calibration_images"]
    assert len(quality["images"]) == 7 and set(quality["mean_psnr"]) == {"fp32", "int8"}


def test_a_large_int8_cost_is_warned_of_and_gates_without_hr_dir(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = save_generator(CompactNet(num_features=4, num_convs=1), tmp_path / "tiny.safetensors")
    cost = {"images": [], "mean_psnr": {"fp32": 30.0, "int8": 29.0}}
    monkeypatch.setattr("srgan.export.psnr_report", lambda *args: dict(cost))
    argv = ["--model", str(weights), "--output", str(tmp_path / "t.onnx"), "--int8"]
    argv += ["--calibration-crops", "2", "--calibration-crop-size", "16"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "Y-PSNR on the built-in images (srgan/calibration): fp32 30.000 dB" in captured.out
    assert "warning: int8 loses 1.000 dB" in captured.err and "--hr-dir measures" in captured.err
    assert main([*argv, "--max-psnr-drop", "0.9"]) == 1  # the gate, on the same images
    err = capsys.readouterr().err
    assert "int8 loses 1.000 dB Y-PSNR on the built-in images (srgan/calibration) (the " in err
    assert "images it was calibrated on: others may lose more) (allowed 0.9 dB)" in err
    cost["mean_psnr"] = {"fp32": 30.0, "int8": 29.6}
    assert main(argv) == 0
    assert "warning" not in capsys.readouterr().err  # 0.4 dB: under the bar


def test_int8_measured_on_the_photos_of_the_built_in_crops_says_so(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The built-in calibration crops are cut from samples/: a drop measured there is
    measured on the calibration images, and said to be."""
    weights = save_generator(CompactNet(num_features=4, num_convs=1), tmp_path / "tiny.safetensors")
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("coffee.png", "mine.png"):  # one of the photos the crops come from
        Image.fromarray(np.full((40, 48, 3), 90, np.uint8)).save(photos / name)
    cost = {"images": [], "mean_psnr": {"fp32": 30.0, "int8": 29.9}}
    monkeypatch.setattr("srgan.export.psnr_report", lambda *args: dict(cost))
    argv = ["--model", str(weights), "--output", str(tmp_path / "t.onnx"), "--int8"]
    argv += ["--calibration-crops", "2", "--calibration-crop-size", "16"]
    report = run([*argv, "--hr-dir", str(photos)])
    assert report["quality"]["measured_on_calibration_images"] is True
    assert "(on its calibration images; other images may lose more)" in capsys.readouterr().out
    (photos / "coffee.png").rename(photos / "tea.png")
    report = run([*argv, "--hr-dir", str(photos)])
    assert report["quality"]["measured_on_calibration_images"] is False


def test_a_large_calibration_folder_is_not_decoded_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import srgan.int8

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(12):
        side = 4 if i % 3 == 0 else 24  # a third too small to calibrate on: passed over
        Image.fromarray(np.full((side, side, 3), 10 * i, np.uint8)).save(folder / f"{i:02}.png")
    decoded: list[str] = []
    real = srgan.int8.read_rgb
    monkeypatch.setattr(
        srgan.int8, "read_rgb", lambda path: decoded.append(path.name) or real(path)
    )
    with pytest.warns(UserWarning, match="skipping"):
        crops = calibration_crops(folder, count=3, crop=8)
    used = [name for name in decoded if int(name[:2]) % 3]
    assert len(crops) == 3 and len(used) == 3 and len(decoded) < 12
    assert {round(float(c[0, 0, 0, 0]) * 255) for c in crops} == {int(n[:2]) * 10 for n in used}
    # Seeded: the same draw again.
    decoded.clear()
    with pytest.warns(UserWarning, match="skipping"):
        again = calibration_crops(folder, count=3, crop=8)
    assert all(np.array_equal(a, b) for a, b in zip(crops, again))


def test_report_paths_keep_links_as_given(tmp_path: Path) -> None:
    from srgan.export import relative

    (tmp_path / "elsewhere" / "T91").mkdir(parents=True)
    (tmp_path / "shared").symlink_to(tmp_path / "elsewhere")
    report = tmp_path / "out" / "m.export.json"
    (tmp_path / "out").mkdir()
    assert relative(tmp_path / "shared" / "T91", report) == "../shared/T91"
    # A report whose folder is reached through a link: the path still leads there from it.
    (tmp_path / "scratch" / "big").mkdir(parents=True)
    (tmp_path / "runs").symlink_to(tmp_path / "scratch" / "big")
    found = relative(tmp_path / "shared" / "T91", tmp_path / "runs" / "m.export.json")
    assert (tmp_path / "runs" / found).resolve() == (tmp_path / "elsewhere" / "T91").resolve()


def test_default_names_of_exports() -> None:
    from srgan.export import export_name, report_path

    run = Path("runs/psnr_x4/lightning_logs/version_3/checkpoints")
    assert export_name(run / "last.ckpt") == "psnr_x4-version_3-last"
    assert export_name(Path("mine/version_0/checkpoints/best.ckpt")) == "version_0-best"
    assert export_name(Path("srgan/weights/fast.safetensors")) == "fast"
    assert export_name(Path("/home/bob/checkpoints/x.safetensors")) == "x"  # a folder's name
    assert report_path(Path("out/d.ONNX")) == Path("out/d.export.json")
    assert report_path(Path("out/d.onnx")) == Path("out/d.export.json")


def test_folder_problems_name_their_option(tmp_path: Path, capsys) -> None:
    weights = save_generator(CompactNet(num_features=4, num_convs=1), tmp_path / "tiny.safetensors")
    (tmp_path / "empty").mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"not a png")
    image = tmp_path / "one.png"
    Image.new("RGB", (32, 32)).save(image)
    base = ["--model", str(weights), "--output", str(tmp_path / "o" / "m.onnx")]
    for extra, message in [
        (["--hr-dir", str(tmp_path / "empty")], "error: --hr-dir: no images in"),
        (["--hr-dir", str(bad)], "error: --hr-dir: cannot identify image file"),
        (["--int8", "--calibration-dir", str(image)], "error: --calibration-dir: "),
    ]:
        assert exit_status([*base, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert message in err, err
    assert "one.png is a file: give the folder of images it is in" in err
    assert not (tmp_path / "o").exists()


def test_an_fp16_model_far_from_pytorch_gets_a_note(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import srgan.export

    real = srgan.export.check_parity
    calls: list[int] = []

    def parity(generator, session, cases):  # the second check is the fp16 model's
        calls.append(1)
        diffs = real(generator, session, cases)
        return {k: 0.2 for k in diffs} if len(calls) == 2 else diffs

    monkeypatch.setattr(srgan.export, "check_parity", parity)
    weights = save_generator(CompactNet(num_features=4, num_convs=1), tmp_path / "tiny.safetensors")
    argv = ["--model", str(weights), "--output", str(tmp_path / "t.onnx"), "--fp16"]
    assert main(argv) == 0
    assert "fp16 model's outputs differ from PyTorch's by up to 51/255" in capsys.readouterr().err
    monkeypatch.setattr(srgan.export, "check_parity", real)
    assert main(argv) == 0
    assert "fp16 model's" not in capsys.readouterr().err


def test_cli_fails_when_int8_loses_too_much(
    image_dir: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = save_generator(CompactNet(num_features=4, num_convs=1), tmp_path / "tiny.safetensors")
    args = ["--model", str(weights), "--output", str(tmp_path / "t.onnx")]
    args += ["--int8", str(tmp_path / "t.int8.onnx"), "--calibration-dir", str(image_dir)]
    args += [
        "--calibration-crops",
        "2",
        "--calibration-crop-size",
        "16",
        "--hr-dir",
        str(image_dir),
    ]
    cost = {"images": [], "mean_psnr": {"fp32": 30.0, "int8": 29.8}}
    monkeypatch.setattr("srgan.export.psnr_report", lambda *args: dict(cost))
    assert main([*args, "--max-psnr-drop", "0.3"]) == 0  # passes: written
    earlier = {p.name: p.read_bytes() for p in tmp_path.glob("t.*")}
    assert sorted(earlier) == ["t.export.json", "t.int8.onnx", "t.onnx"]
    capsys.readouterr()
    # Calibrated otherwise, it fails the gate: the models and report that passed stay as
    # they were, and the failed checks go beside them.
    cost["mean_psnr"] = {"fp32": 30.0, "int8": 29.5}
    assert main([*args, "--max-psnr-drop", "0.3", "--calibration-method", "entropy"]) == 1
    err = capsys.readouterr().err
    assert "int8 loses 0.500 dB" in err and "nothing was written" in err
    assert {p.name: p.read_bytes() for p in tmp_path.glob("t.*")} == earlier | {
        "t.export.failed.json": (tmp_path / "t.export.failed.json").read_bytes()
    }
    failed = json.loads((tmp_path / "t.export.failed.json").read_text())
    assert failed["quality"]["int8_psnr_drop_db"] == 0.5
    assert failed["int8"]["calibration"]["method"] == "entropy"
    assert failed["fp32"]["written"] is failed["int8"]["written"] is False  # named, not there
    assert "written" not in json.loads(earlier["t.export.json"])["int8"]
    assert not list(tmp_path.glob(".*.part"))
    # A later export that passes removes the failed one's report (not of these files).
    assert main([*args, "--max-psnr-drop", "0.6"]) == 0
    assert not (tmp_path / "t.export.failed.json").exists()


def exit_status(argv: list[str]) -> int:
    """``main``'s status, or argparse's (its errors exit through ``SystemExit``)."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code)


def test_usage_errors_exit_2_before_any_work(tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "x.onnx")
    cases = {
        "--calibration-downscale goes with --calibration-dir": [
            *["--output", out, "--int8", "--calibration-downscale", "4"]
        ],
        "ends in .onnx": ["--output", str(tmp_path / "x.png")],
        "--fp16 y.png": ["--output", out, "--fp16", "y.png"],
        "neither a shipped model": ["--model", "no-such-model", "--output", out],
        "not a weights file": ["--model", "README.md", "--output", out],
        "is also --output's file": ["--output", out, "--fp16", out],
        "--report": ["--output", out, "--report", out],
        "is a folder": ["--output", str(tmp_path / "folder.onnx")],
        "--calibration-crop-size: must be at least 8": [
            *["--output", out, "--int8", "--calibration-dir", "samples"],
            *["--calibration-crop-size", "0"],
        ],
        "--calibration-crops: must be at least 1": ["--output", out, "--calibration-crops", "0"],
        "--calibration-downscale: must be at least 1": [
            *["--output", out, "--calibration-downscale", "0"]
        ],
        "--tolerance: must be above 0": ["--output", out, "--tolerance", "-1"],
        "--max-psnr-drop: must be 0 or more": ["--output", out, "--max-psnr-drop", "-1"],
        "--opset: must be 17 to": ["--output", str(tmp_path / "new" / "x.onnx"), "--opset", "99"],
        "--calibration-method and --activation-type set up the int8 model: add --int8": [
            *["--output", out, "--calibration-method", "entropy", "--activation-type", "int8"]
        ],
    }
    (tmp_path / "folder.onnx").mkdir()
    for message, argv in cases.items():
        assert exit_status(argv) == 2, message
        assert message in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["folder.onnx"]


def test_main_returns_an_exit_code(monkeypatch, tmp_path: Path, capsys):
    def failing(argv):
        raise ExportError("body.1", "Wobble", "no ONNX function")

    monkeypatch.setattr("srgan.export.run", failing)
    assert main(["--output", str(tmp_path / "x.onnx")]) == 1
    assert "body.1" in capsys.readouterr().err


def test_onnx_is_another_name_for_output() -> None:
    from srgan.export import build_parser

    assert build_parser().parse_args(["--onnx", "model.onnx"]).output == "model.onnx"


def test_outputs_default_to_runs_export(
    image_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    model = save_generator(CompactNet(num_features=4, num_convs=1), tmp_path / "tiny.safetensors")
    monkeypatch.chdir(tmp_path)
    args = ["--model", str(model), "--fp16", "--int8", "--calibration-dir", str(image_dir)]
    report = run([*args, "--calibration-crops", "4"])
    folder = tmp_path / "runs" / "export"
    assert sorted(p.name for p in folder.iterdir()) == [
        "tiny.export.json",
        "tiny.fp16.onnx",
        "tiny.int8.onnx",
        "tiny.onnx",
    ]
    assert report["int8"]["path"] == "tiny.int8.onnx"
    run(["--model", str(model)])  # again: the file there is replaced, and said to be
    printed = capsys.readouterr()
    assert "tiny.onnx, replacing an earlier file" in printed.out
    # The fp16 and int8 models beside it were not made again: said, so that no one takes
    # them for this export's.
    for flag in ("fp16", "int8"):
        assert f"tiny.{flag}.onnx is from an earlier export and was not made again" in printed.err


def test_bad_inputs_and_a_failed_parity_check_write_no_model(
    image_dir: Path, tmp_path: Path, capsys
) -> None:
    weights = save_generator(CompactNet(num_features=4, num_convs=1), tmp_path / "tiny.safetensors")
    out = tmp_path / "out" / "m.onnx"
    small = tmp_path / "small"
    small.mkdir()
    Image.new("RGB", (8, 8)).save(small / "dot.png")
    base = ["--model", str(weights), "--output", str(out)]
    for extra, message in [
        (["--hr-dir", str(tmp_path / "absent")], "not found"),
        (["--hr-dir", str(small)], "dot.png"),
    ]:
        assert exit_status([*base, *extra]) == 2, extra
        assert message in capsys.readouterr().err, extra
        assert not out.exists()
    gray = save_generator(
        CompactNet(num_features=4, num_convs=1, in_channels=1, out_channels=1),
        tmp_path / "g.safetensors",
    )
    assert exit_status(["--model", str(gray), "--output", str(out), "--int8"]) == 2
    assert "read RGB images: this model takes 1 channel" in capsys.readouterr().err
    # A model that fails the parity check does not replace an earlier file.
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(b"an earlier, checked export")
    half = tmp_path / "new" / "deeper" / "m.fp16.onnx"
    assert exit_status([*base, "--tolerance", "1e-12", "--fp16", str(half)]) == 1
    assert "nothing was written" in capsys.readouterr().err
    assert out.read_bytes() == b"an earlier, checked export"
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.export.failed.json", "m.onnx"]
    assert not (tmp_path / "new").exists()  # made for the fp16 model, removed with it


def test_a_model_onnx_runtime_cannot_run_is_one_line_and_replaces_nothing(
    image_dir: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import srgan.export

    real = srgan.export.onnx_session

    def unsupported(path, **kwargs):  # as ORT 1.x says of DequantizeLinear at opset 28
        if ".int8.onnx" in Path(path).name:  # the model, or the temporary it is written to
            raise RuntimeError("[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : DequantizeLinear(28)")
        return real(path, **kwargs)

    monkeypatch.setattr(srgan.export, "onnx_session", unsupported)
    weights = save_generator(CompactNet(num_features=4, num_convs=1), tmp_path / "tiny.safetensors")
    out = tmp_path / "out"
    out.mkdir()
    (out / "m.int8.onnx").write_bytes(b"an earlier int8 model")
    argv = ["--model", str(weights), "--output", str(out / "m.onnx"), "--int8"]
    assert exit_status([*argv, "--calibration-dir", str(image_dir)]) == 2
    err = capsys.readouterr().err
    assert "cannot run the int8 model at opset" in err and "DequantizeLinear(28)" in err
    assert "give a lower --opset" in err
    assert (out / "m.int8.onnx").read_bytes() == b"an earlier int8 model"
    # Nothing else either: the fp32 model that passed waits for the int8 one.
    assert sorted(p.name for p in out.iterdir()) == ["m.int8.onnx"]


def test_a_calibration_folder_without_int8_is_said_to_check_parity_only(
    tmp_path: Path, image_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = save_generator(CompactNet(num_features=4, num_convs=1), tmp_path / "tiny.safetensors")
    args = ["--model", str(weights), "--output", str(tmp_path / "t.onnx")]
    assert main([*args, "--calibration-dir", str(image_dir)]) == 0
    assert (
        "without --int8, --calibration-dir only gives the parity check" in capsys.readouterr().err
    )
    assert sorted(p.name for p in tmp_path.glob("t.*")) == ["t.export.json", "t.onnx"]
    assert main([*args, "--calibration-dir", str(image_dir), "--hr-dir", str(image_dir)]) == 0
    err = capsys.readouterr().err
    assert "--calibration-dir is not used (the parity check takes --hr-dir's images)" in err
