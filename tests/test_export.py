"""ONNX export: round trip and parity, fp16, int8 with its PSNR report, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from srgan.export import (
    ExportError,
    calibration_crops,
    check_parity,
    convert_fp16,
    entropy_ranges,
    export_onnx,
    main,
    onnx_session,
    parity_inputs,
    quantize_int8,
    resolve_model,
    run,
    run_session,
)
from srgan.generators import CompactNet, Generator
from srgan.weights import save_generator
from tests.conftest import TINY_GENERATORS


@pytest.fixture(scope="module")
def compact_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[CompactNet, Path]:
    torch.manual_seed(0)
    model = CompactNet(num_features=4, num_convs=1).eval()
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "compact.onnx")
    return model, path


@pytest.mark.parametrize("name", sorted(TINY_GENERATORS))
def test_round_trip_parity_at_two_sizes_and_batches(name: str, tmp_path: Path, image_dir: Path):
    model = TINY_GENERATORS[name]().eval()
    path = export_onnx(model, tmp_path / f"{name}.onnx")
    onnx.checker.check_model(str(path), full_check=True)
    graph = onnx.load(str(path)).graph
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims[1] == 3 and all(isinstance(d, str) for d in (dims[0], dims[2], dims[3]))
    cases = parity_inputs(image_dir, model.scale)
    assert {lr.shape[0] for _, lr in cases} == {1, 2}  # dynamic batch
    assert len({tuple(lr.shape[-2:]) for _, lr in cases}) == 2  # dynamic height and width
    assert any(name.startswith("real") for name, _ in cases)
    diffs = check_parity(model, onnx_session(path), cases)
    assert max(diffs.values()) <= 1e-4, diffs


def test_output_is_clamped(compact_onnx):
    _, path = compact_onnx
    out = run_session(onnx_session(path), torch.rand(1, 3, 9, 7) * 3 - 1)
    assert out.shape == (1, 3, 36, 28)
    assert out.min() >= 0 and out.max() <= 1


def test_fp16_export_loads_and_runs(compact_onnx, tmp_path: Path):
    model, path = compact_onnx
    fp16 = convert_fp16(path, tmp_path / "compact.fp16.onnx")
    proto = onnx.load(str(fp16))
    onnx.checker.check_model(proto)
    initializers = {t.data_type for t in proto.graph.initializer if len(t.dims) == 4}
    assert initializers == {onnx.TensorProto.FLOAT16}
    diffs = check_parity(model, onnx_session(fp16), [("r", torch.rand(2, 3, 10, 12))])
    assert max(diffs.values()) < 1e-2


@pytest.mark.parametrize("method", ["minmax", "percentile", "entropy"])
def test_int8_calibration_methods(compact_onnx, image_dir: Path, tmp_path: Path, method: str):
    model, path = compact_onnx
    crops = calibration_crops(image_dir, count=4, crop=16, downscale=4)
    assert len(crops) == 4 and crops[0].shape == (1, 3, 16, 16)
    int8 = quantize_int8(path, tmp_path / f"{method}.onnx", crops, method=method)
    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    lr = torch.from_numpy(crops[0])
    out = run_session(onnx_session(int8), lr)
    with torch.no_grad():
        expected = model(lr).clamp(0, 1)
    assert out.shape == expected.shape
    assert (out - expected).abs().mean() < 0.05
    assert not list(tmp_path.glob("augmented_model*")) and not list(tmp_path.glob("*preprocessed*"))


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


def test_cli_fails_when_int8_loses_too_much(image_dir: Path, tmp_path: Path, capsys):
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
    assert main([*args, "--max-psnr-drop", "-100"]) == 1
    assert "int8 loses" in capsys.readouterr().err
    assert (tmp_path / "t.export.json").is_file()  # the report is written anyway


def test_cli_int8_needs_calibration(tmp_path: Path):
    with pytest.raises(SystemExit, match="calibration-dir"):
        run(["--arch", "compact", "--output", str(tmp_path / "x.onnx"), "--int8", "y.onnx"])


def test_main_returns_an_exit_code(monkeypatch, tmp_path: Path, capsys):
    def failing(argv):
        raise ExportError("body.1", "Wobble", "no ONNX function")

    monkeypatch.setattr("srgan.export.run", failing)
    assert main(["--arch", "compact", "--output", str(tmp_path / "x.onnx")]) == 1
    assert "body.1" in capsys.readouterr().err


@torch.library.custom_op("srgan_tests::wobble", mutates_args=())
def wobble(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


@wobble.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


class Wobble(nn.Module):
    """A custom op with no ONNX translation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return wobble(x)


class WobblyNet(Generator):
    def __init__(self) -> None:
        super().__init__()
        self.scale = 2
        self.config = {"in_channels": 3}
        self.head = nn.Conv2d(3, 12, 3, padding=1)
        self.body = nn.Sequential(nn.ReLU(), Wobble())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.body(self.head(x)), 2)


def test_export_error_names_the_layer(tmp_path: Path):
    with pytest.raises(ExportError) as info:
        export_onnx(WobblyNet(), tmp_path / "bad.onnx")
    error = info.value
    assert error.module == "body.1" and error.module_type == "Wobble"
    assert "body.1" in str(error) and "wobble" in str(error).lower()


class Blocky(Generator):
    """A generator that needs inputs with sides multiple of 2 (pixel unshuffle)."""

    size_multiple = 2

    def __init__(self) -> None:
        super().__init__()
        self.scale = 2
        self.config = {"in_channels": 3}
        self.conv = nn.Conv2d(12, 48, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(F.pixel_unshuffle(x, 2)), 4)


def test_size_multiple_exports_with_constrained_dims(tmp_path: Path):
    model = Blocky().eval()
    path = export_onnx(model, tmp_path / "blocky.onnx")
    cases = parity_inputs(None, 2, size_multiple=2)
    assert all(lr.shape[-2] % 2 == 0 and lr.shape[-1] % 2 == 0 for _, lr in cases)
    assert max(check_parity(model, onnx_session(path), cases).values()) <= 1e-4


def test_resolve_model_arch_and_errors():
    assert type(resolve_model(arch="compact")).__name__ == "CompactNet"
    assert resolve_model(arch="rrdb", scale=2).scale == 2
    with pytest.raises(ValueError, match="unknown --arch"):
        resolve_model(arch="vit")
    with pytest.raises(ValueError, match="at least 17"):
        export_onnx(CompactNet(num_features=4, num_convs=1), "x.onnx", opset=13)


def test_onnx_is_another_name_for_output() -> None:
    from srgan.export import build_parser

    assert build_parser().parse_args(["--onnx", "model.onnx"]).output == "model.onnx"
