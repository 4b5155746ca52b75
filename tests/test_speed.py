"""The speed benchmark: timing, MACs, energy fallbacks, Pareto front, reports, training mode."""

from __future__ import annotations

import json
import mmap
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from benchmarks.report import cpu_description
from benchmarks.speed.backends import (
    ONNX_BACKENDS,
    Variant,
    allow_recompiles,
    tiled_unavailable,
    unavailable,
)
from benchmarks.speed.cli import build_parser, main, ratios
from benchmarks.speed.energy import EnergyMeter, read_rapl
from benchmarks.speed.macs import count_macs, macs_per_output_pixel
from benchmarks.speed.plots import (
    pareto_front,
    plot_quality_speed,
    quality_axis_label,
    quality_speed_points,
    quality_summary,
)
from benchmarks.speed.suites import SUITES, parse_size
from benchmarks.speed.timing import measure
from benchmarks.training.throughput import training_throughput
from srgan.discriminators import VGGStyle
from srgan.generators import VARIANTS, CompactNet
from srgan.weights import load_model, save_generator


def test_macs_of_known_layers():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert count_macs(conv, torch.rand(1, 3, 10, 10)) == 10 * 10 * 8 * 3 * 9
    grouped = nn.Conv2d(8, 8, 3, padding=1, groups=4)
    assert count_macs(grouped, torch.rand(2, 8, 5, 5)) == 2 * 5 * 5 * 8 * 2 * 9
    strided = nn.Conv2d(4, 6, 4, stride=2, padding=1)
    assert count_macs(strided, torch.rand(1, 4, 8, 8)) == 4 * 4 * 6 * 4 * 16
    linear = nn.Linear(5, 7)
    assert count_macs(linear, torch.rand(3, 5)) == 3 * 7 * 5
    assert count_macs(nn.Sequential(conv, nn.ReLU()), torch.rand(1, 3, 10, 10)) == 21600


def test_macs_per_output_pixel_of_compactnet():
    model = CompactNet(num_features=64, num_convs=16, scale=4)
    per_lr_pixel = 9 * (3 * 64 + 16 * 64 * 64 + 64 * 3 * 16)
    assert macs_per_output_pixel(model, size=8) == pytest.approx(per_lr_pixel / 16)


def test_pareto_front():
    points = [(10, 30.0), (100, 28.0), (50, 27.0), (5, 29.0), (100, 27.5), (1, 31.0)]
    # (50, 27) is beaten by (100, 28); (5, 29) by (10, 30); (100, 27.5) by (100, 28).
    assert pareto_front(points) == [5, 0, 1]
    assert pareto_front([(1, 1)]) == [0]
    assert pareto_front([(2, 2), (2, 2)]) == [0, 1]  # ties do not dominate each other


def fake_records() -> list[dict]:
    def record(model, label, fps):
        return {"model": model, "label": label, "fps": fps, "status": "ok"}

    return [
        record("fast", "onnx fp32", 5.0),
        record("fast", "onnx-int8 int8", 15.0),
        record("quality", "eager fp32", 0.5),
        record("quality", "eager fp32", 0.7),
        record("unknown", "eager fp32", 99.0),
        {"model": "fast", "label": "onnx-cuda fp32", "status": "not available"},
    ]


def test_quality_versus_speed_chart_from_a_quality_json(tmp_path: Path):
    quality = {
        "records": [
            {"dataset": "Set5", "model": "fast", "image": None, "psnr": 30.1, "ssim": 0.86},
            {"dataset": "Set5", "model": "quality", "image": None, "psnr": 31.5, "ssim": 0.88},
            {"dataset": "Set5", "model": "fast", "image": "baby.png", "psnr": 33.0, "ssim": 0.9},
            {"dataset": "Set14", "model": "fast", "image": None, "psnr": 27.0, "ssim": 0.7},
        ]
    }
    dataset, psnr = quality_summary(quality)
    assert dataset == "Set5" and psnr == {"fast": 30.1, "quality": 31.5}
    assert quality_summary(quality, "Set14") == ("Set14", {"fast": 27.0})
    assert quality_summary(quality, "Urban100") == ("Urban100", {})
    assert quality_axis_label(quality, "Set5") == "PSNR (dB, Y) on Set5"
    chain = "medium: Gaussian blur sigma 1.5 px, MATLAB bicubic x1/4, JPEG quality 75 (Pillow)"
    rgb_degraded = {"environment": {"channels": "RGB", "lr": chain, "degradation": "medium"}}
    # The profile's name: its whole chain ran off the figure.
    assert quality_axis_label(rgb_degraded, "Set14") == "PSNR (dB, RGB) on Set14\nLR: medium"
    points = quality_speed_points(fake_records(), psnr)
    # int8 computes other pixels than the fp32 PSNR was measured on: left out.
    assert {(p["model"], p["backend"], p["fps"]) for p in points} == {
        ("fast", "onnx fp32", 5.0),
        ("quality", "eager fp32", 0.7),
    }
    path = plot_quality_speed(points, tmp_path / "q.png", ylabel="PSNR (dB, Y) on Set5")
    assert path.stat().st_size > 1000


def test_rapl_not_measured_with_reason(tmp_path: Path):
    with EnergyMeter("cpu", powercap=tmp_path / "missing") as meter:
        pass
    record = meter.record(10)
    assert record["energy"] == "not measured" and "RAPL" in record["energy_reason"]


def test_rapl_reads_and_handles_wraparound(tmp_path: Path):
    domain = tmp_path / "intel-rapl:0"
    (tmp_path / "intel-rapl:0:0").mkdir(parents=True)  # a sub-domain: not counted twice
    domain.mkdir()
    (domain / "max_energy_range_uj").write_text("1000000\n")
    (domain / "energy_uj").write_text("999000\n")
    values, reason = read_rapl(tmp_path)
    assert reason is None and list(values) == [domain]
    with EnergyMeter("cpu", powercap=tmp_path) as meter:
        (domain / "energy_uj").write_text("1000\n")  # wrapped: 2000 uJ used
    assert meter.joules == pytest.approx(0.002)
    meter.seconds = 0.5  # watts are over the meter's own wall-clock window
    assert meter.record(4) == {
        "energy_source": "rapl",
        "joules_per_frame": pytest.approx(0.0005),
        "watts": pytest.approx(0.004),
    }


def test_nvml_missing_is_reported(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # as if nvidia-ml-py were not installed
    meter = EnergyMeter("cuda:0")
    meter.__enter__()
    meter.__exit__(None, None, None)
    assert meter.joules is None
    assert meter.record(1)["energy"] == "not measured"


class FakeNVML:
    """The few pynvml calls EnergyMeter makes, with a counter the test sets (mJ)."""

    def __init__(self, readings: list[int]) -> None:
        self.readings = readings
        self.index = None

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:
        self.index = index
        return "handle"

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> str:
        self.index = uuid
        return "handle"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: str) -> int:
        assert handle == "handle"
        return self.readings.pop(0)


def test_nvml_energy_over_the_meter_window(monkeypatch: pytest.MonkeyPatch):
    nvml = FakeNVML([1_000_000, 1_003_000])  # 3 J
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    with EnergyMeter("cuda:1") as meter:
        pass
    assert nvml.index == 1 and meter.joules == pytest.approx(3.0)
    meter.seconds = 1.5
    assert meter.record(300) == {
        "energy_source": "nvml",
        "joules_per_frame": pytest.approx(0.01),
        "watts": pytest.approx(2.0),
    }


def test_nvml_finds_the_gpu_by_uuid_when_torch_knows_it(monkeypatch: pytest.MonkeyPatch):
    # With CUDA_VISIBLE_DEVICES=3, torch's cuda:0 is NVML's GPU 3: the UUID tells.
    nvml = FakeNVML([0, 1000])
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    properties = lambda index: SimpleNamespace(uuid="1234-abcd")  # noqa: E731
    monkeypatch.setattr(torch.cuda, "get_device_properties", properties)
    with EnergyMeter("cuda:0") as meter:
        pass
    assert nvml.index == "GPU-1234-abcd" and meter.joules == pytest.approx(1.0)


def test_nvml_index_fallback_under_masking_warns(monkeypatch: pytest.MonkeyPatch):
    nvml = FakeNVML([0, 1000, 0, 1000])
    monkeypatch.setitem(sys.modules, "pynvml", nvml)

    def no_uuid(index: int) -> SimpleNamespace:
        raise RuntimeError("no uuid")

    monkeypatch.setattr(torch.cuda, "get_device_properties", no_uuid)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # unmasked: the index is right, nothing to say
        with EnergyMeter("cuda:0"):
            pass
    assert nvml.index == 0
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    with pytest.warns(UserWarning, match="CUDA_VISIBLE_DEVICES=3 .*another GPU"):
        with EnergyMeter("cuda:0") as meter:
            pass
    assert nvml.index == 0 and meter.joules == pytest.approx(1.0)


def test_nvml_counter_that_did_not_advance_is_no_reading(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pynvml", FakeNVML([5_000, 5_000]))
    with EnergyMeter("cuda") as meter:
        pass
    record = meter.record(10)
    assert meter.joules is None and record["energy"] == "not measured"
    assert "did not advance" in record["energy_reason"]


def test_cpu_description_parses_flags(tmp_path: Path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("model name\t: Test CPU\nflags\t\t: fpu sse4_2 avx2 avx512f amx_int8\n")
    info = cpu_description(cpuinfo)
    assert info["cpu_model"] == "Test CPU"
    assert info["vector_extensions"] == ["sse4_2", "avx2", "avx512f", "amx_int8"]


def test_measure_counts_repeats_only():
    calls = []
    timing = measure(lambda: calls.append(1), warmup=2, repeats=3)
    assert len(calls) == 5 and len(timing.latencies_ms) == 3
    summary = timing.summary(frames_per_call=2)
    assert summary["fps"] == pytest.approx(2000.0 / summary["median_ms"])


def test_parse_size_and_availability():
    assert parse_size("540p") == ("540p", 960, 540)
    assert parse_size("64x48") == ("64x48", 64, 48)
    cpu = torch.device("cpu")
    assert "GPU" in unavailable(Variant("eager", "fp16"), cpu)
    assert unavailable(Variant("onnx-int8", "int8"), cpu) is None
    assert unavailable(Variant("onnx-cuda", "fp32"), cpu) is not None


def test_ratios_against_a_baseline():
    records = [
        {"model": "m", "size": "s", "batch": 1, "backend": b, "precision": p}
        | {"channels_last": False, "label": f"{b} {p}", "fps": fps, "status": "ok"}
        for b, p, fps in [("onnx", "fp32", 2.0), ("onnx-int8", "int8", 6.0)]
    ]
    (line,) = ratios(records, ("onnx", "fp32", False))
    assert "3.00x" in line


def test_speed_benchmark_cpu_tiny_writes_json_markdown_and_plots(tmp_path: Path):
    weights = save_generator(CompactNet(num_features=4, num_convs=1), tmp_path / "tiny.safetensors")
    quality = tmp_path / "quality.json"
    quality.write_text(
        json.dumps(
            {
                "records": [
                    {"dataset": "Set5", "model": "tiny", "image": None, "psnr": 28.0, "ssim": 0.8}
                ]
            }
        )
    )
    out = tmp_path / "speed"
    payload = main(
        [
            "--model",
            str(weights),
            "--device",
            "cpu",
            "--backends",
            "torch",  # another name for eager
            "onnx",
            "onnx-int8",
            "onnx-cuda",
            "--precisions",
            "fp32",
            "fp16",
            "--size",
            "16x12",
            "--batch",
            "1",
            "2",
            "--warmup",
            "1",
            "--repeats",
            "2",
            "--interleave",
            "--quality-json",
            str(quality),
            "--out",
            str(out),
        ]
    )
    for name in ("speed.json", "speed.md", "speed.png", "quality_speed.png"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "speed.json").read_text())
    assert saved["environment"]["onnxruntime"] and "vector_extensions" in saved["environment"]
    ok = [r for r in saved["records"] if r["status"] == "ok"]
    assert {r["label"] for r in ok} == {"eager fp32", "onnx fp32", "onnx-int8 int8"}
    assert {r["batch"] for r in ok} == {1, 2}
    for record in ok:
        assert record["repeats"] == 2 and record["fps"] > 0 and record["tflops"] > 0
        assert record["output"] == "64x48" and record["energy"] == "not measured"
    missing = {r["label"]: r["reason"] for r in saved["records"] if r["status"] != "ok"}
    assert "GPU" in missing["eager fp16"] and "onnx-cuda fp32" in missing
    assert {p["backend"] for p in payload["quality_speed"]} == {"eager fp32", "onnx fp32"}
    table = (out / "speed.md").read_text()
    assert "| tiny | onnx-int8 int8 | 16x12 | 64x48 |" in table and "x onnx fp32" in table


def test_a_timed_model_without_a_quality_figure_is_said_to_be_left_off_the_chart(
    tmp_path: Path,
) -> None:
    for name in ("tiny", "other"):
        save_generator(CompactNet(num_features=4, num_convs=1), tmp_path / f"{name}.safetensors")
    record = {"dataset": "Set5", "model": "tiny", "image": None, "psnr": 28.0, "ssim": 0.8}
    (tmp_path / "quality.json").write_text(json.dumps({"records": [record]}))
    main(
        ["--model", str(tmp_path / "tiny.safetensors"), str(tmp_path / "other.safetensors")]
        + ["--device", "cpu", "--backends", "eager", "--size", "16x12"]
        + ["--warmup", "1", "--repeats", "1", "--quality-json", str(tmp_path / "quality.json")]
        + ["--out", str(tmp_path / "s")]
    )
    assert (tmp_path / "s" / "quality_speed.png").is_file()
    report = (tmp_path / "s" / "speed.md").read_text()
    assert "quality_speed.png leaves out other: --quality-json has no Set5 PSNR of it." in report


def test_models_are_told_apart_and_one_channel_models_are_timed(tmp_path: Path) -> None:
    from benchmarks.speed.cli import build_parser, resolve_models

    runs = [tmp_path / name / "lightning_logs" / "version_0" / "checkpoints" for name in "ab"]
    for folder in runs:
        folder.mkdir(parents=True)
        save_generator(CompactNet(num_features=4, num_convs=1), folder / "w.safetensors")
    twin = tmp_path / "w.safetensors"
    save_generator(CompactNet(num_features=4, num_convs=1), twin)
    args = build_parser().parse_args(
        ["--arch", "fast", "--model", "fast", str(twin), str(runs[0] / "w.safetensors")]
        + [str(runs[0] / "w.safetensors")]
    )
    labels = [label for label, _ in resolve_models(args)]
    # A random network is not the shipped model of its name (nor takes its PSNR).
    assert labels == ["fast (random weights)", "fast", "w", "a/version_0/w", "a/version_0/w#2"]
    gray = save_generator(
        CompactNet(num_features=4, num_convs=1, in_channels=1, out_channels=1),
        tmp_path / "gray.safetensors",
    )
    payload = main(
        ["--model", str(gray), "--device", "cpu", "--backends", "eager", "--size", "16x12"]
        + ["--warmup", "1", "--repeats", "1", "--out", str(tmp_path / "s")]
    )
    (record,) = payload["records"]
    assert record["status"] == "ok" and record["macs_per_output_pixel"] > 0


@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32-strict"])
def test_training_throughput_tiny(precision: str):
    generator = CompactNet(num_features=4, num_convs=1)
    before = [p.clone() for p in generator.parameters()]
    record = training_throughput(
        generator,
        discriminator=VGGStyle(num_features=4),
        batch=2,
        crop=32,
        precision=precision,
        warmup=1,
        repeats=2,
    )
    assert record["batches_per_s"] > 0 and record["precision"] == precision
    # the steps train (fp16 through the loss scaler): finite, changed weights
    after = list(generator.parameters())
    assert all(torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(after, before))
    assert record["hr_megapixels_per_s"] == pytest.approx(
        record["batches_per_s"] * 2 * 32 * 32 / 1e6
    )


def test_training_mode_cli(tmp_path: Path):
    weights = save_generator(CompactNet(num_features=4, num_convs=1), tmp_path / "tiny.safetensors")
    payload = main(
        ["--train", "--model", str(weights), "--device", "cpu", "--batch", "2", "--crop", "32"]
        + ["--discriminator", "unet", "--discriminator-features", "4"]
        + ["--warmup", "1", "--repeats", "1", "--out", str(tmp_path / "train")]
    )
    (record,) = payload["records"]
    assert record["status"] == "ok" and record["batches_per_s"] > 0
    assert record["discriminator"] == "unet 4"
    table = (tmp_path / "train" / "speed.md").read_text().splitlines()
    assert "| discriminator |" in table[0] and "| unet 4 |" in table[2]


def test_training_mode_refuses_what_it_cannot_time(tmp_path: Path, capsys) -> None:
    weights = save_generator(CompactNet(num_features=4, num_convs=1), tmp_path / "tiny.safetensors")
    x3 = save_generator(
        CompactNet(num_features=4, num_convs=1, scale=3), tmp_path / "x3.safetensors"
    )
    base = ["--train", "--model", str(weights), "--device", "cpu", "--warmup", "1"]
    base += ["--repeats", "1", "--out", str(tmp_path / "train")]
    for extra, says in [
        # Inference options would be ignored: said, not run without them.
        (
            ["--backends", "onnx-int8", "--crop", "32"],
            "--backends onnx-int8: --train times the eager",
        ),
        (["--tile", "4", "--folder", "x", "--crop", "32"], "--tile, --folder apply to"),
        # A crop the generator cannot take (x3 of a crop of 32), before any timing.
        (["--model", str(x3), "--discriminator", "unet", "--crop", "32"], "multiple of 3"),
        (
            ["--crop", "32", "--batch", "1"],
            "leaves one at its last stage (1/32 of the crop); use --batch 2",
        ),
    ]:
        with pytest.raises(SystemExit) as stop:
            main([*base, *extra])
        assert stop.value.code == 2, extra
        assert says in capsys.readouterr().err, extra
    assert not (tmp_path / "train").exists()


def test_tiled_inference_is_benchmarked_with_pytorch(tmp_path: Path):
    weights = save_generator(CompactNet(num_features=4, num_convs=1), tmp_path / "tiny.safetensors")
    payload = main(
        ["--model", str(weights), "--device", "cpu", "--backends", "eager", "onnx"]
        + ["--size", "20x12", "--tile", "8", "--warmup", "1", "--repeats", "1"]
        + ["--out", str(tmp_path / "tiled")]
    )
    by_label = {r["label"]: r for r in payload["records"]}
    assert by_label["eager fp32"]["status"] == "ok" and by_label["eager fp32"]["tile"] == 8
    assert by_label["onnx fp32"]["status"] == "not available"
    # Tiled inference runs NCHW and compiles without CUDA graphs: those rows would mislabel.
    assert "NCHW" in tiled_unavailable(Variant("eager", "fp16", channels_last=True))
    assert "CUDA graphs" in tiled_unavailable(Variant("compile-cudagraphs", "fp16"))
    assert tiled_unavailable(Variant("compile", "bf16")) is None


def test_compiled_rows_fail_loudly_past_the_recompile_limit():
    config = torch._dynamo.config
    before = config.recompile_limit, config.fail_on_recompile_limit_hit
    with allow_recompiles(limit=64):
        assert config.recompile_limit >= 64 and config.fail_on_recompile_limit_hit
        # Past the limit torch would run eagerly under a "compile" label; now it raises.
        with config.patch(recompile_limit=1):
            torch._dynamo.reset()
            double = torch.compile(lambda x: x * 2, backend="eager")
            double(torch.ones(2))
            with pytest.raises(Exception, match="(?i)recompil"):
                double(torch.ones(2, dtype=torch.float64))
    torch._dynamo.reset()
    assert (config.recompile_limit, config.fail_on_recompile_limit_hit) == before  # restored


def test_a_failing_backend_is_recorded_and_the_rest_run(tmp_path: Path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("boom: out of memory")

    monkeypatch.setattr("benchmarks.speed.runs.torch_runner", broken)
    weights = save_generator(CompactNet(num_features=4, num_convs=1), tmp_path / "tiny.safetensors")
    payload = main(
        ["--model", str(weights), "--device", "cpu", "--backends", "eager", "onnx"]
        + ["--size", "16x12", "--warmup", "1", "--repeats", "1", "--out", str(tmp_path / "s")]
    )
    by_label = {r["label"]: r for r in payload["records"]}
    assert (
        by_label["eager fp32"]["status"] == "error" and "boom" in by_label["eager fp32"]["reason"]
    )
    assert by_label["onnx fp32"]["status"] == "ok" and by_label["onnx fp32"]["output_finite"]
    # The table has no room for the reason: a line under it says why.
    markdown = (tmp_path / "s" / "speed.md").read_text()
    assert "- eager fp32 (input 16x12, batch 1): error: boom: out of memory" in markdown
    # Nothing measured at all: the report printed, an exit status that says so, and the
    # earlier results in that folder left as they were.
    earlier = (tmp_path / "s" / "speed.json").read_bytes()
    with pytest.raises(SystemExit, match="nothing was measured .*; nothing was written"):
        main(
            ["--model", str(weights), "--device", "cpu", "--backends", "eager"]
            + ["--size", "16x12", "--warmup", "1", "--repeats", "1", "--out", str(tmp_path / "s")]
        )
    assert "error: boom" in capsys.readouterr().out
    assert (tmp_path / "s" / "speed.json").read_bytes() == earlier


def test_an_onnx_graph_that_does_not_match_pytorch_is_not_timed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("srgan.onnx.check_parity", lambda *args: {"random": 0.5})
    weights = save_generator(CompactNet(num_features=4, num_convs=1), tmp_path / "tiny.safetensors")
    payload = main(
        ["--model", str(weights), "--device", "cpu", "--backends", "eager", "onnx"]
        + ["--size", "16x12", "--warmup", "1", "--repeats", "1", "--out", str(tmp_path / "s")]
    )
    by_label = {r["label"]: r for r in payload["records"]}
    assert by_label["eager fp32"]["status"] == "ok"
    assert by_label["onnx fp32"]["status"] == "error"
    assert "differ from PyTorch's by up to 0.5" in by_label["onnx fp32"]["reason"]


def test_each_backend_has_its_own_peak_memory() -> None:
    from benchmarks.speed.runs import measure_interleaved
    from benchmarks.speed.timing import reset_peak_rss

    if not reset_peak_rss():
        pytest.skip("this system cannot reset the peak RSS")

    def big() -> None:
        # 64 MiB of fresh pages, touched (memory from an allocator may be resident already).
        with mmap.mmap(-1, 64 * 2**20) as block:
            for offset in range(0, len(block), mmap.PAGESIZE):
                block[offset] = 1

    timings, peaks = measure_interleaved(
        {"big": big, "small": lambda: None}, device=torch.device("cpu"), warmup=1, repeats=1
    )
    assert set(timings) == set(peaks) == {"big", "small"}
    # The small call's peak is not the big one's (a process peak never comes down by itself).
    assert peaks["small"] < peaks["big"] - 48


def test_inputs_are_checked_before_any_timing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "a file").write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken.ckpt").write_bytes(b"not a checkpoint")
    common = ["--arch", "tiny-compact", "--backends", "eager", "--repeats", "1"]
    for args, message in [
        (["--out", str(tmp_path / "a file")], "is a file"),
        (["--out", str(tmp_path / "a file" / "s")], "--out: cannot write into"),
        (["--device", "nonesuch"], "--device nonesuch: "),
        (["--calibration-dir", str(tmp_path / "empty")], "--calibration-dir"),
        (["--quality-json", str(tmp_path / "none.json")], "--quality-json"),
        (["--quality-json", str(tmp_path / "a file")], "--quality-json"),
        (["--folder", str(tmp_path / "empty")], "no images in it"),
        (["--folder", str(tmp_path / "none")], "not found"),
        (["--video", str(tmp_path / "a file")], "--video"),
        (["--train", "--crop", "40"], "multiples of 32"),
        (["--model", str(tmp_path / "broken.ckpt")], "cannot load"),
        (["--repeats", "0"], "at least 1"),
        (["--batch", "0"], "at least 1"),
        (["--size", "0x9"], "at least 1"),
    ]:
        with pytest.raises(SystemExit) as stop:
            main(
                [*common, *args, "--out", str(tmp_path / "out")]
                if "--out" not in args
                else [*common, *args]
            )
        assert stop.value.code == 2, args
        assert message in capsys.readouterr().err, args
    assert not (tmp_path / "out").exists()


def test_every_suite_names_runnable_variants_and_models():
    for name, suite in SUITES.items():
        device = torch.device(suite["device"])
        for variant in (Variant(*v) for v in suite["variants"]):
            if variant.backend not in ONNX_BACKENDS:
                assert unavailable(variant, device) is None, (name, variant)
        assert Variant(*suite["baseline"]) in {Variant(*v) for v in suite["variants"]}
        for model in suite.get("model", []):
            assert load_model(model).scale == 4  # a shipped model
        for arch in suite.get("arch", []):
            assert arch in VARIANTS
        if suite["device"] == "cuda" and not torch.cuda.is_available():
            with pytest.raises(SystemExit):  # a clear usage error, not a traceback
                main(["--suite", name])


def test_an_unknown_model_is_one_line_before_any_timing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from benchmarks.speed.cli import main as speed

    for spec, message in [
        ("quality", "is not shipped"),
        ("nowhere.safetensors", "neither"),
        ("fast.int8.onnx", "makes their ONNX models itself"),
    ]:
        with pytest.raises(SystemExit) as stop:
            speed(["--model", "fast", spec, "--out", str(tmp_path / "out")])
        assert stop.value.code == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_help_names_choices_once():
    """The usage line names each list option by a word; its choices are in the help."""
    text = build_parser().format_help()
    usage = text.split("\n\n")[0]
    assert "{compact" not in usage and "{eager" not in usage and "[BACKEND ...]" in usage
    assert "tiny-rrdb" in text and "onnx-int8" in text and "bf16" in text


def test_tables_give_significant_digits_without_exponents() -> None:
    from benchmarks.report import markdown_table

    values = [1063.4, 0.012345, 9.996, 0.0009996, 999.5, -2.5, 0.0, 1e-12, float("nan")]
    rows = [{"v": v} for v in values]
    cells = [line.strip("| ") for line in markdown_table(rows, ["v"], significant=3).splitlines()]
    assert cells[2:] == [
        "1060",
        "0.0123",
        "10.0",
        "0.00100",
        "1000",
        "-2.50",
        "0",
        "0.000000",
        "nan",
    ]
    assert markdown_table(rows[:1], ["v"]).splitlines()[2] == "| 1063.40 |"  # floats=".2f"


def test_a_suite_is_not_timed_as_training_nor_with_settings_it_makes(
    tmp_path: Path, capsys
) -> None:
    with pytest.raises(SystemExit):
        main(["--suite", "cpu", "--train", "--out", str(tmp_path / "s")])
    assert "--suite cpu times inference: leave it out with --train" in capsys.readouterr().err
    # Options the suite sets itself are refused, not silently replaced (abbreviated too).
    with pytest.raises(SystemExit):
        main(["--suite", "cpu", "--size", "96x64", "--rep", "2", "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert "--suite cpu sets --size, --repeats itself: leave them out" in err, err
    assert not (tmp_path / "s").exists()


def test_a_problem_with_the_inputs_is_said_without_the_usage_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks.speed.cli import main as speed

    with pytest.raises(SystemExit) as exit_info:
        speed(["--model", str(tmp_path / "absent.safetensors"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("python -m benchmarks.speed: error:"), err
    assert "usage:" not in err
