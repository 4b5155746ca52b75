"""The backends: ONNX Runtime behind the one ``Upscaler``, exported once, checked, reused;
the same inputs through PyTorch and ONNX Runtime give the same images."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srgan import backends, onnx
from srgan.backends import (
    PARITY_TOLERANCE,
    BackendError,
    OnnxGenerator,
    build_upscaler,
    resolve_backend,
)
from srgan.images import read_image, read_tag
from srgan.inference import DEFAULT_TILE, Upscaler
from srgan.jobs import Summary
from srgan.pictures import upscale_image
from srgan.upscale import EXIT_OK, EXIT_USAGE
from tests.conftest import run_upscale as run
from tests.conftest import tiny_compact

CPU = torch.device("cpu")


def rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setattr(backends, "onnx_cache_dir", lambda: folder)
    return folder


def test_auto_is_onnx_on_the_cpu_and_torch_on_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_backend("auto", CPU) == "onnx"
    assert resolve_backend("auto", torch.device("cuda")) == "torch"
    assert resolve_backend("torch", CPU) == "torch"
    with pytest.raises(BackendError, match="--device cpu"):
        resolve_backend("onnx", torch.device("cuda"))
    # onnx-cuda on the CPU: what to do, with a GPU (asked for the CPU) or without one.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(BackendError, match="not --device cpu: use --device cuda, or --backend"):
        resolve_backend("onnx-cuda", CPU)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BackendError, match="CUDA GPU .and onnxruntime-gpu.: PyTorch sees none"):
        resolve_backend("onnx-cuda", CPU)


def test_the_tile_follows_the_backend_unless_given(model_file: Path, fresh_cache: Path) -> None:
    assert backends.ONNX_CPU_TILE > DEFAULT_TILE
    for backend, tile in (("torch", DEFAULT_TILE), ("onnx", backends.ONNX_CPU_TILE)):
        assert build_upscaler(model_file, backend=backend, device="cpu").tile == tile
        assert build_upscaler(model_file, backend=backend, device="cpu", tile=64).tile == 64
        assert build_upscaler(model_file, backend=backend, device="cpu", tile=None).tile is None
    # The command line: no --tile is "auto", --tile 0 whole images.
    from srgan.upscale import build_parser, make_upscaler

    def cli(*flags: str) -> Upscaler:
        args = build_parser().parse_args(["in", "out", "--model", str(model_file), *flags])
        return make_upscaler(args, "cpu")

    assert cli().tile == backends.ONNX_CPU_TILE
    assert cli("--backend", "torch").tile == DEFAULT_TILE
    assert cli("--tile", "0").tile is None and cli("--tile", "32").tile == 32


def test_onnx_is_exported_once_checked_and_reused(
    model_file: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upscaler = build_upscaler(model_file, backend="auto", device="cpu")
    assert upscaler.backend == "onnx" and isinstance(upscaler.model, OnnxGenerator)
    assert upscaler.tile == backends.ONNX_CPU_TILE  # tile="auto" on ONNX Runtime's CPU
    (record_path,) = fresh_cache.glob("*.json")
    record = json.loads(record_path.read_text())
    assert record["ok"] and record["max_abs_diff"] <= PARITY_TOLERANCE
    assert record["weights_sha256"] == backends.sha256_file(model_file)
    import onnxruntime as ort

    assert f"-opset{record['opset']}-ort{ort.__version__}" in record_path.name
    assert [p.name for p in fresh_cache.glob("*.onnx")] == [record_path.stem + ".onnx"]
    assert not [p for p in fresh_cache.iterdir() if p.name.startswith(".")]  # no leftovers

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx, "export_onnx", no_export)
    again = build_upscaler(model_file, backend="onnx", device="cpu")
    assert again.backend == "onnx"
    # A damaged cached model is made again, not used.
    model_path = record_path.with_suffix(".onnx")
    model_path.write_bytes(model_path.read_bytes()[:100])
    monkeypatch.undo()
    monkeypatch.setattr(backends, "onnx_cache_dir", lambda: fresh_cache)
    assert build_upscaler(model_file, backend="onnx", device="cpu").backend == "onnx"
    assert backends.sha256_file(model_path) == json.loads(record_path.read_text())["onnx_sha256"]


def test_the_first_use_export_is_said_once_with_its_time(
    model_file: Path, fresh_cache: Path
) -> None:
    notes: list[str] = []
    build_upscaler(model_file, backend="onnx", device="cpu", say=notes.append)
    assert len(notes) == 1 and notes[0].startswith("first use of tiny.safetensors")
    assert "checked against PyTorch" in notes[0] and str(fresh_cache) in notes[0]
    record = json.loads(next(fresh_cache.glob("*.json")).read_text())
    assert f"in {record['seconds']:.1f} s" in notes[0] and record["seconds"] > 0
    build_upscaler(model_file, backend="onnx", device="cpu", say=notes.append)
    assert len(notes) == 1  # cached: nothing to say


def test_the_summary_rates_leave_the_setup_out() -> None:
    summary = Summary(done=4, megapixels=2.0, seconds=6.0, setup_seconds=4.0)
    line = summary.line()
    assert "6.0 s (4.0 s setting up the model, then 2.00 images/s, 1.00 input MP/s)" in line
    summary.setup_seconds = 0.5  # the usual model loading: not worth a word
    assert "6.0 s (0.73 images/s, 0.36 input MP/s)" in summary.line()


def test_the_cached_fp16_model_is_made_once_and_remade_when_damaged(
    model_file: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # onnx-cuda's half-precision graph: cached as the fp32 one is, checked by its sha256.
    from srgan.weights import load_generator

    fp32, record, _ = backends.exported_model(
        load_generator(model_file), backends.sha256_file(model_file), folder=fresh_cache
    )
    half = backends.fp16_model(fp32, record)
    saved = json.loads(Path(record["record"]).read_text())
    assert (
        saved["fp16_sha256"] == backends.sha256_file(half) and onnx.graph_precision(half) == "fp16"
    )
    made = []
    real = onnx.convert_fp16
    monkeypatch.setattr(onnx, "convert_fp16", lambda *a: made.append(1) or real(*a))
    assert backends.fp16_model(fp32, saved) == half and not made  # reused
    half.write_bytes(half.read_bytes()[:100])  # damaged: made again
    assert backends.fp16_model(fp32, saved) == half and made == [1]
    assert onnx.graph_precision(half) == "fp16"
    # A cache moved elsewhere: its own record is updated, not the one it was made in.
    import shutil

    moved = shutil.copytree(fresh_cache, fresh_cache.with_name("moved"))
    shutil.rmtree(fresh_cache)
    copy = moved / fp32.name
    record_copy = json.loads(copy.with_suffix(".json").read_text())
    (moved / half.name).write_bytes(b"damaged")
    assert backends.fp16_model(copy, record_copy).parent == moved and made == [1, 1]
    assert not fresh_cache.exists()
    assert json.loads(copy.with_suffix(".json").read_text())["fp16_sha256"] == (
        backends.sha256_file(moved / half.name)
    )


def test_a_model_that_does_not_match_falls_back_to_torch_with_the_reason(
    model_file: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notes: list[str] = []
    monkeypatch.setattr(onnx, "check_parity", lambda *a: {"random": 0.5})
    upscaler = build_upscaler(model_file, backend="auto", device="cpu", say=notes.append)
    assert upscaler.backend == "torch" and upscaler.tile == DEFAULT_TILE  # PyTorch's tile
    assert "differ from PyTorch's by up to 0.5" in notes[0] and "PyTorch" in notes[0]
    assert not list(fresh_cache.glob("*.onnx"))  # never used
    # Remembered: the next run falls back at once, without exporting again.
    monkeypatch.setattr(onnx, "export_onnx", lambda *a, **k: pytest.fail("exported again"))
    assert build_upscaler(model_file, device="cpu", say=notes.append).backend == "torch"
    assert len(notes) == 2


def test_a_model_that_cannot_be_exported_falls_back_to_torch(
    model_file: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args, **kwargs):
        raise onnx.ExportError("body.0", "Conv2d", "no such operator")

    monkeypatch.setattr(onnx, "export_onnx", fail)
    notes: list[str] = []
    upscaler = build_upscaler(model_file, device="cpu", say=notes.append)
    assert upscaler.backend == "torch" and "no such operator" in notes[0]


def test_a_cache_that_cannot_be_written_falls_back_or_fails_in_one_line(
    model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache under a file (a read-only home acts alike): auto runs PyTorch and says why;
    an explicit ONNX backend fails with what to do."""
    (tmp_path / "file").write_text("")
    monkeypatch.setattr(backends, "onnx_cache_dir", lambda: tmp_path / "file" / "onnx")
    notes: list[str] = []
    upscaler = build_upscaler(model_file, device="cpu", say=notes.append)
    assert upscaler.backend == "torch"
    assert "cannot be written: Not a directory" in notes[0] and "SRGAN_CACHE" in notes[0]
    for backend in ("onnx", "onnx-int8"):
        with pytest.raises(BackendError, match="SRGAN_CACHE to a writable folder or use"):
            build_upscaler(model_file, backend=backend, device="cpu")
    # The fp32 model cached, the int8 one cannot be written beside it.
    monkeypatch.setattr(backends, "onnx_cache_dir", lambda: tmp_path / "cache")

    def refused(fp32_path: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(fp32_path.parent))

    monkeypatch.setattr(backends, "int8_model", refused)
    with pytest.raises(BackendError, match="Permission denied.*or use --backend onnx$"):
        build_upscaler(model_file, backend="onnx-int8", device="cpu")


def test_a_calibration_folder_without_images_is_its_own_error(
    model_file: Path, fresh_cache: Path, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackendError, match="--calibration-dir .*empty: no images in") as error:
        build_upscaler(
            model_file, backend="onnx-int8", device="cpu", calibration_dir=tmp_path / "empty"
        )
    assert "cache" not in str(error.value)


def test_an_interrupted_export_leaves_nothing_in_the_cache(
    model_file: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = onnx.export_onnx

    def interrupted(generator, path, **kwargs):
        real(generator, path, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx, "export_onnx", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_upscaler(model_file, device="cpu")
    assert list(fresh_cache.iterdir()) == []


def test_concurrent_first_uses_share_one_model(model_file: Path, fresh_cache: Path) -> None:
    results: list[str] = []

    def first_use() -> None:
        results.append(build_upscaler(model_file, device="cpu").backend)

    threads = [threading.Thread(target=first_use) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["onnx"] * 3
    assert len(list(fresh_cache.glob("*.onnx"))) == 1
    assert not [p for p in fresh_cache.iterdir() if p.name.startswith(".")]


# The same inputs through both backends: tiling, batching, alpha, gray, 16-bit.
@pytest.fixture
def both(model_file: Path) -> dict[str, Upscaler]:
    return {
        backend: build_upscaler(model_file, backend=backend, device="cpu", tile=None)
        for backend in ("torch", "onnx")
    }


@pytest.mark.parametrize(
    "case",
    ["rgb", "rgba", "gray", "16-bit", "tiled", "odd-tiles"],
)
def test_torch_and_onnx_give_the_same_pictures(both: dict[str, Upscaler], case: str) -> None:
    image: np.ndarray = rgb(21, 34)
    tile = None
    if case == "rgba":
        image = np.dstack([image, rgb(21, 34, 1)[..., 0]])
    elif case == "gray":
        image = image[..., 0]
    elif case == "16-bit":
        image = np.random.default_rng(2).integers(0, 65536, (21, 34, 3), dtype=np.uint16)
    elif case == "tiled":
        tile = 8
    elif case == "odd-tiles":
        tile = 13
    results = {}
    for backend, upscaler in both.items():
        upscaler.tile = tile
        results[backend] = upscale_image(image, upscaler, alpha="model").astype(np.int64)
    assert results["torch"].shape == results["onnx"].shape
    level = 257 if image.dtype == np.uint16 else 1  # 1/255 of the range
    assert np.abs(results["torch"] - results["onnx"]).max() <= level


def test_batches_and_tiles_give_the_same_batch(both: dict[str, Upscaler]) -> None:
    lr = torch.from_numpy(np.stack([rgb(19, 26, i) for i in range(3)]).transpose(0, 3, 1, 2))
    outputs = {}
    for backend, upscaler in both.items():
        for tile in (None, 8):
            upscaler.tile = tile
            outputs[backend, tile] = upscaler(lr, out_dtype=torch.uint8).to(torch.int64)
    reference = outputs["torch", None]
    for key, out in outputs.items():
        assert (out - reference).abs().max() <= 1, key


class Exploding(torch.nn.Module):
    scale = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.interpolate(x, scale_factor=2) * float("inf")


def test_non_finite_outputs_on_onnx_fall_back_or_fail_as_on_torch(tmp_path: Path) -> None:
    broken = OnnxGenerator(onnx.export_onnx(Exploding(), tmp_path / "inf.onnx", clamp=False))
    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        Upscaler(broken)(torch.rand(1, 3, 8, 8))

    class Doubling(torch.nn.Module):
        scale = 2

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.interpolate(x, scale_factor=2)

    good = OnnxGenerator(onnx.export_onnx(Doubling(), tmp_path / "ok.onnx", clamp=False))
    # A half-precision model whose output overflows, with its fp32 version beside it.
    half = OnnxGenerator(tmp_path / "inf.onnx", precision="fp16", fallback=good)
    upscaler = Upscaler(half, tile=8)
    out = upscaler(torch.rand(1, 3, 12, 12))
    assert torch.isfinite(out).all() and upscaler.fp32_fallbacks == 4  # every tile redone


def test_an_onnx_file_is_a_model(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnx as onnx_lib

    exported = onnx.export_onnx(tiny_compact(), tmp_path / "tiny.onnx")
    Image.fromarray(rgb(6, 8)).save(tmp_path / "in.png")
    code, out, err = run([tmp_path / "in.png", tmp_path / "out.png", "--model", exported], capsys)
    assert code == EXIT_OK, err
    assert read_image(tmp_path / "out.png").pixels.shape == (24, 32, 3)
    assert json.loads(read_tag(tmp_path / "out.png"))["model"] == "tiny.onnx"
    # --backend onnx is ONNX Runtime on the CPU, a GPU being there or not.
    cpu_run = build_upscaler(str(exported), backend="onnx", device=torch.device("cuda"))
    assert cpu_run.backend == "onnx" and cpu_run.device.type == "cpu"
    # A file made elsewhere, without srgan's metadata: the scale is found by running it.
    foreign = onnx_lib.load(str(exported))
    del foreign.metadata_props[:]
    onnx_lib.save(foreign, str(tmp_path / "foreign.onnx"))
    assert OnnxGenerator(tmp_path / "foreign.onnx").scale == 4
    # Half-float inputs and outputs (as other tools convert to fp16): fed and read as such.
    from onnxruntime.transformers.float16 import convert_float_to_float16

    half = convert_float_to_float16(onnx_lib.load(str(exported)), keep_io_types=False)
    onnx_lib.save(half, str(tmp_path / "half_io.onnx"))
    code, _, err = run(
        [tmp_path / "in.png", tmp_path / "half.png", "--model", tmp_path / "half_io.onnx"], capsys
    )
    assert code == EXIT_OK, err
    difference = read_image(tmp_path / "half.png").pixels.astype(int) - read_image(
        tmp_path / "out.png"
    ).pixels.astype(int)
    assert np.abs(difference).max() <= 2
    code, _, err = run(
        [tmp_path / "in.png", tmp_path / "o2.png", "--model", exported, "--backend", "torch"],
        capsys,
    )
    assert code == EXIT_USAGE and "is an ONNX model" in err
    # What the file fixes cannot be asked of it otherwise: one line each, nothing written.
    for args, says in [
        (["--backend", "onnx-int8"], "is an fp32 ONNX model, not int8"),
        (["--calibration-dir", tmp_path], "is an ONNX model, made already"),
        (["--precision", "bf16"], "runs in fp32, the precision of its graph"),
        # Not run on the CPU in silence, as a weights file would not be.
        (
            ["--backend", "onnx-cuda", "--device", "cpu"],
            "--backend onnx for ONNX Runtime on the CPU",
        ),
        (["--devices", "2"], "--devices runs PyTorch on each device"),
    ]:
        target = tmp_path / "refused.png"
        code, _, err = run([tmp_path / "in.png", target, "--model", exported, *args], capsys)
        assert code == EXIT_USAGE and says in err and not target.exists(), (args, err)
    code, _, err = run(
        [tmp_path / "in.png", tmp_path / "fp32.png", "--model", exported, "--precision", "fp32"],
        capsys,
    )
    assert code == EXIT_OK, err
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    code, _, err = run([tmp_path / "in.png", tmp_path / "o3.png", "--model", "junk.onnx"], capsys)
    assert code == EXIT_USAGE and "error:" in err and "Traceback" not in err


def test_an_onnx_file_is_named_by_what_it_runs(tmp_path: Path) -> None:
    from srgan.backends import build_upscaler
    from srgan.int8 import quantize_int8

    fp32 = onnx.export_onnx(tiny_compact(), tmp_path / "tiny.onnx")
    fp16 = onnx.convert_fp16(fp32, tmp_path / "tiny.fp16.onnx")
    crops = [np.random.default_rng(0).random((1, 3, 16, 16), np.float32) for _ in range(2)]
    int8 = quantize_int8(fp32, tmp_path / "tiny.int8.onnx", crops)
    found = {}
    for path in (fp32, fp16, int8):
        upscaler = build_upscaler(path, device="cpu")
        found[path.name] = (upscaler.backend, upscaler.precision, backends.pixel_settings(upscaler))
    assert found == {
        "tiny.onnx": ("onnx", "fp32", {}),
        "tiny.fp16.onnx": ("onnx", "fp16", {}),
        # Tagged as srgan's own int8 models are (their outputs differ from fp32's).
        "tiny.int8.onnx": ("onnx-int8", "int8", {"backend": "onnx-int8"}),
    }
    # --backend onnx is float: an int8 file is not run under its name (as float is not
    # under onnx-int8's).
    with pytest.raises(backends.BackendError, match="is an int8 ONNX model"):
        build_upscaler(int8, backend="onnx", device="cpu")


def test_int8_is_opt_in_calibrated_once_with_its_cost_and_tagged(
    tmp_path: Path,
    model_file: Path,
    capsys: pytest.CaptureFixture[str],
    srgan_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    Image.fromarray(rgb(12, 16)).save(source / "a.png")
    args = [source, tmp_path / "out", "--model", model_file]
    code, _, err = run([*args, "--backend", "onnx-int8"], capsys)
    assert code == EXIT_OK, err
    assert "int8 model calibrated on 32 crops (built-in)" in err and "Y-PSNR cost" in err
    assert "(those it was calibrated on: others may lose more)" in err
    settings = json.loads(read_tag(tmp_path / "out" / "a.png"))
    assert settings["backend"] == "onnx-int8" and len(settings["calibration"]) == 16
    code, out, err = run([*args, "--backend", "onnx-int8", "--overwrite"], capsys)
    assert code == EXIT_OK and "calibrated" not in err  # cached
    assert "warning" not in err  # its cost is small: said once
    assert out.rstrip().endswith("backend onnx-int8"), out  # its precision not said twice
    # A cost over the bar is said on every run that uses the model.
    bar = backends.INT8_COST_WARNING_DB
    monkeypatch.setattr(backends, "INT8_COST_WARNING_DB", -1.0)
    code, out, err = run([*args, "--backend", "onnx-int8", "--overwrite"], capsys)
    assert code == EXIT_OK and "calibrated on the built-in crops) loses" in err, err
    assert "--calibration-dir" in err and "--backend onnx" in err
    monkeypatch.setattr(backends, "INT8_COST_WARNING_DB", bar)
    # The cached model runs without the calibration's imports (seconds of every run).
    import subprocess
    import sys

    check = (
        "import sys; from srgan.backends import build_upscaler; "
        f"build_upscaler({str(model_file)!r}, backend='onnx-int8', device='cpu'); "
        "print(sorted(m for m in ('torchmetrics', 'torch._dynamo') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "SRGAN_CACHE": str(srgan_cache)}  # the cache this test filled
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, cwd=root, env=env
    )
    assert done.stdout.strip() == "[]" and "calibrated" not in done.stderr, done.stderr
    # Outputs of the default backend differ from int8's: a re-run says so.
    code, out, err = run(args, capsys)
    assert code == EXIT_OK and "1 made with other settings" in out
    # Calibrating on one's own images makes another model.
    code, _, err = run(
        [*args, "--backend", "onnx-int8", "--calibration-dir", source, "--overwrite"], capsys
    )
    assert code == EXIT_OK and f"({source})" in err


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--backend", "onnx-cuda"], "CUDA"),
        (["--backend", "onnx", "--precision", "bf16"], "--precision bf16 is for --backend torch"),
        (["--calibration-dir", "."], "--calibration-dir is for --backend onnx-int8"),
        (["--backend", "onnx-int8", "--calibration-dir", "nowhere"], "not a folder"),
        (["--backend", "onnx", "--devices", "1"], "--devices runs PyTorch"),
    ],
)
def test_backend_options_are_checked_before_any_work(
    tmp_path: Path,
    model_file: Path,
    capsys: pytest.CaptureFixture[str],
    option: list[str],
    message: str,
) -> None:
    Image.fromarray(rgb(6, 8)).save(tmp_path / "in.png")
    code, out, err = run(
        [tmp_path / "in.png", tmp_path / "out", "--model", model_file, *option], capsys
    )
    assert code == EXIT_USAGE and message in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()
