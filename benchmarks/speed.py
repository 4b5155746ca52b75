"""Speed and energy benchmark: PyTorch (eager, compiled; fp32/fp16/bf16; channels-last)
and ONNX Runtime (fp32, int8; CPU and CUDA providers) on the same model and inputs.

Run ``python -m benchmarks.speed --help``. Examples::

    # The CPU bar: int8 vs fp32 ONNX Runtime, CompactNet (64 features, 16 convs, x4)
    python -m benchmarks.speed --suite cpu
    # The GPU bar: RRDBNet (23 blocks, 64 features, x4), 960x540 -> 4K, best vs eager fp32
    python -m benchmarks.speed --suite gpu
    # The real-time bar: the shipped `fast` model, 960x540 -> 4K, frames per second
    python -m benchmarks.speed --suite realtime
    # Anything else
    python -m benchmarks.speed --arch compact --backends onnx onnx-int8 --size 320x180
    python -m benchmarks.speed --model default --backends eager compile --precisions fp32 bf16 \\
        --size 270p 540p --batch 1 4 --tile 128 --quality-json runs/quality/quality.json
    # GAN-stage training throughput (generator + discriminator steps per second)
    python -m benchmarks.speed --train --arch compact --batch 16 --crop 128 --precisions fp32 bf16

What it measures, honestly: warm-up calls are excluded; GPU work is synchronised around
the timers (CUDA events); latency is the median and p90 over ``--repeats`` calls; frames
per second is ``batch / median``; peak memory is the CUDA allocator's peak on GPU and
the process's peak RSS on CPU; energy is NVML's total-energy counter (GPU) or RAPL
(CPU) around the timed loop, or "not measured" with the reason. The work is counted as
MACs per output pixel from the model's conv and linear layers, which gives TFLOP/s.
With ``--interleave`` the backends are timed round-robin (one call each per round), so
a shared or throttling machine slows them all alike and their ratios stay meaningful.

Outputs in ``--out``: ``speed.json`` (records with the environment), ``speed.md``,
``speed.png`` and, with ``--quality-json`` from ``benchmarks.quality``,
``quality_speed.png`` (Y-PSNR against FPS, one point per model/backend, Pareto front).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from benchmarks.backends import (
    BACKENDS,
    ONNX_BACKENDS,
    Variant,
    allow_recompiles,
    onnx_runner,
    precisions_for,
    tiled_unavailable,
    torch_runner,
    unavailable,
)
from benchmarks.energy import EnergyMeter
from benchmarks.macs import macs_per_output_pixel
from benchmarks.plots import pyplot, save_figure
from benchmarks.report import cpu_description, environment, markdown_table, write_json
from benchmarks.timing import Timing, measure, peak_rss_mb, synchronize
from benchmarks.training import training_throughput
from srgan.discriminators import UNet, VGGStyle
from srgan.generators import VARIANTS, Generator, build_variant
from srgan.inference import resolve_device
from srgan.weights import load_model

# Named workloads: LR input sizes (width, height); at x4 they give the named output.
WORKLOADS: dict[str, tuple[int, int]] = {
    "180p": (320, 180),
    "270p": (480, 270),  # -> 1920x1080 at x4
    "540p": (960, 540),  # -> 3840x2160 (4K UHD) at x4
}

# The named suites: what the performance bars in benchmarks/README.md are measured with.
SUITES: dict[str, dict[str, Any]] = {
    "gpu": dict(
        arch=["rrdb"],
        device="cuda",
        size=["540p"],
        batch=[1],
        variants=[
            ("eager", "fp32", False),
            ("eager", "fp32-strict", False),
            ("eager", "fp16", True),
            ("eager", "bf16", True),
            ("compile", "bf16", True),
            ("compile-cudagraphs", "fp16", True),
            ("onnx-cuda", "fp32", False),
            ("onnx-cuda", "fp16", False),
        ],
        warmup=3,
        repeats=10,
        interleave=False,
        baseline=("eager", "fp32", False),
    ),
    "realtime": dict(
        arch=[],
        model=["fast"],
        device="cuda",
        size=["540p"],
        batch=[1],
        variants=[
            ("eager", "fp32", False),
            ("eager", "fp16", True),
            ("eager", "bf16", True),
            ("compile", "fp16", True),
            ("compile-cudagraphs", "fp16", True),
        ],
        warmup=10,
        repeats=300,
        interleave=False,
        baseline=("eager", "fp32", False),
    ),
    "cpu": dict(
        arch=["compact"],
        device="cpu",
        size=["180p"],
        batch=[1],
        variants=[
            ("eager", "fp32", False),
            ("onnx", "fp32", False),
            ("onnx-int8", "int8", False),
        ],
        warmup=2,
        repeats=15,
        interleave=True,
        baseline=("onnx", "fp32", False),
    ),
}


def parse_size(text: str) -> tuple[str, int, int]:
    """``540p`` or ``960x540`` -> ``(name, width, height)``."""
    if text in WORKLOADS:
        return (text, *WORKLOADS[text])
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size must be WxH or one of {', '.join(WORKLOADS)}, got {text!r}"
        ) from None
    return (f"{width}x{height}", width, height)


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


def quality_summary(quality: dict[str, Any], dataset: str | None = None) -> dict[str, float]:
    """Mean PSNR per model from ``benchmarks.quality`` records (summary records only)."""
    records = [r for r in quality["records"] if r.get("image") is None]
    datasets = sorted({r["dataset"] for r in records})
    if not datasets:
        return {}
    chosen = dataset or ("Set5" if "Set5" in datasets else datasets[0])
    return {r["model"]: float(r["psnr"]) for r in records if r["dataset"] == chosen}


def quality_speed_points(
    records: Sequence[dict[str, Any]], psnr_by_model: dict[str, float]
) -> list[dict[str, Any]]:
    """One point per model/backend/precision: its best FPS and the model's PSNR."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        if record.get("status") != "ok" or record["model"] not in psnr_by_model:
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
    points: Sequence[dict[str, Any]], path: str | Path, *, dataset: str = ""
) -> Path:
    """PSNR against FPS (log scale), one point per model/backend, the Pareto front marked."""
    plt = pyplot()
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
    if front:
        ax.plot([xy[i][0] for i in front], [xy[i][1] for i in front], "r--", label="Pareto front")
        ax.legend(loc="best")
    ax.set_xscale("log")
    ax.set_xlabel("frames per second")
    ax.set_ylabel(f"Y-PSNR (dB){' on ' + dataset if dataset else ''}")
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


# -- the benchmark ---------------------------------------------------------------------------
def measure_interleaved(
    calls: dict[str, Callable[[], Any]], *, device: torch.device, warmup: int, repeats: int
) -> dict[str, Timing]:
    """Time several calls round-robin: one call of each per round, after warm-up of each."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    timings = {name: Timing() for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            synchronize(device)
            start = time.perf_counter()
            call()
            synchronize(device)
            timings[name].latencies_ms.append((time.perf_counter() - start) * 1000.0)
    return timings


def calibration_inputs(calibration_dir: str | None, count: int = 16) -> list[np.ndarray]:
    """Real LR crops for int8 calibration, or smooth synthetic ones if no folder is given.

    int8 speed does not depend on the calibration data; its quality does (measure that
    with ``srgan.export --hr-dir``).
    """
    from srgan.int8 import calibration_crops

    if calibration_dir:
        return calibration_crops(calibration_dir, count=count, crop=64)
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(count, 3, 8, 8, generator=generator)
    smooth = F.interpolate(coarse, size=(64, 64), mode="bicubic", align_corners=False)
    return [smooth[i : i + 1].clamp(0, 1).numpy() for i in range(count)]


def export_variants(
    model: Generator, folder: Path, backends: set[str], calibration_dir: str | None
) -> dict[str, Path]:
    """The ONNX files the ONNX backends need (fp32, fp16, int8), exported once per model."""
    from srgan.int8 import quantize_int8
    from srgan.onnx import convert_fp16, export_onnx

    paths = {"fp32": export_onnx(model, folder / "model.onnx")}
    if "onnx-int8" in backends:
        paths["int8"] = quantize_int8(
            paths["fp32"], folder / "model.int8.onnx", calibration_inputs(calibration_dir)
        )
    if "onnx-cuda" in backends:
        paths["fp16"] = convert_fp16(paths["fp32"], folder / "model.fp16.onnx")
    return paths


def model_label(spec: str) -> str:
    return Path(spec).stem if spec.endswith((".safetensors", ".ckpt")) else spec


def benchmark_model(
    name: str,
    model: Generator,
    variants: Sequence[Variant],
    *,
    device: torch.device,
    sizes: Sequence[tuple[str, int, int]],
    batches: Sequence[int],
    tile: int | None,
    warmup: int,
    repeats: int,
    interleave: bool,
    threads: int | None,
    calibration_dir: str | None,
    onnx_dir: Path,
) -> list[dict[str, Any]]:
    """Records for every variant x size x batch of one model."""
    model = model.eval()
    macs_px = macs_per_output_pixel(model)
    scale = model.scale
    in_channels = model.config.get("in_channels", 3)
    runnable = [v for v in variants if unavailable(v, device) is None]
    onnx_backends = {v.backend for v in runnable if v.backend in ONNX_BACKENDS}
    onnx_paths: dict[str, Path] = {}
    onnx_error = None
    if onnx_backends:
        try:
            onnx_paths = export_variants(model, onnx_dir, onnx_backends, calibration_dir)
        except Exception as error:  # noqa: BLE001 - the ONNX rows say why, the rest still run
            onnx_error = f"ONNX export failed: {error}"
    records = []
    for size_name, width, height in sizes:
        for batch in batches:
            base = {
                "model": name,
                "architecture": type(model).__name__,
                "size": size_name,
                "input": f"{width}x{height}",
                "output": f"{width * scale}x{height * scale}",
                "batch": batch,
                "tile": tile,
                "macs_per_output_pixel": macs_px,
                "gmacs_per_frame": macs_px * width * height * scale**2 / 1e9,
            }
            generator = torch.Generator().manual_seed(0)
            sample = torch.rand(batch, in_channels, height, width, generator=generator).to(device)
            calls: dict[Variant, Callable[[], Any]] = {}
            for variant in variants:
                record = base | {
                    "backend": variant.backend,
                    "precision": variant.precision,
                    "channels_last": variant.channels_last,
                    "label": variant.label,
                }
                reason = unavailable(variant, device)
                if reason is None and tile is not None:
                    reason = tiled_unavailable(variant)
                if reason is not None:
                    records.append(record | {"status": "not available", "reason": reason})
                    continue
                if onnx_error and variant.backend in ONNX_BACKENDS:
                    records.append(record | {"status": "error", "reason": onnx_error[:300]})
                    continue
                try:
                    calls[variant] = make_call(
                        model, variant, sample, device, tile, onnx_paths, scale, threads
                    )
                    if not interleave:
                        call = calls.pop(variant)
                        records.append(record | time_one(call, device, batch, warmup, repeats))
                except Exception as error:  # noqa: BLE001 - record and carry on
                    calls.pop(variant, None)
                    records.append(record | {"status": "error", "reason": str(error)[:300]})
                finally:
                    if device.type == "cuda" and not interleave:
                        call = None
                        torch.cuda.empty_cache()
            if interleave and calls:
                timings = measure_interleaved(
                    {v.label: c for v, c in calls.items()},
                    device=device,
                    warmup=warmup,
                    repeats=repeats,
                )
                for variant in calls:
                    timing = timings[variant.label]
                    records.append(
                        base
                        | {
                            "backend": variant.backend,
                            "precision": variant.precision,
                            "channels_last": variant.channels_last,
                            "label": variant.label,
                            "status": "ok",
                            "timing": "interleaved",
                            **timing.summary(batch),
                            "peak_memory_mb": peak_rss_mb(),
                            "memory": "process peak RSS",
                            "energy": "not measured",
                            "energy_reason": "interleaved timing: energy is per backend loop",
                        }
                    )
    for record in records:
        if record.get("status") == "ok":
            out_pixels = record["batch"] * math.prod(int(v) for v in record["output"].split("x"))
            flops = 2 * record["macs_per_output_pixel"] * out_pixels
            record["tflops"] = flops / (record["median_ms"] / 1000.0) / 1e12
    return records


def make_call(
    model: Generator,
    variant: Variant,
    sample: torch.Tensor,
    device: torch.device,
    tile: int | None,
    onnx_paths: dict[str, Path],
    scale: int,
    threads: int | None,
) -> Callable[[], Any]:
    if variant.backend == "onnx":
        return onnx_runner(onnx_paths["fp32"], sample, device=device, scale=scale, threads=threads)
    if variant.backend == "onnx-int8":
        return onnx_runner(onnx_paths["int8"], sample, device=device, scale=scale, threads=threads)
    if variant.backend == "onnx-cuda":
        path = onnx_paths["fp16" if variant.precision == "fp16" else "fp32"]
        return onnx_runner(path, sample, device=device, scale=scale)
    return torch_runner(model, variant, sample, device=device, tile=tile)


def time_one(
    call: Callable[[], Any], device: torch.device, batch: int, warmup: int, repeats: int
) -> dict[str, Any]:
    """Warm up, then time ``call`` inside an energy meter; peak memory alongside.

    The last warm-up output is checked for NaN/Inf (half precision can overflow).
    """
    output = None
    for _ in range(warmup):
        output = call()
    synchronize(device)
    finite = output_is_finite(output)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with EnergyMeter(device) as meter:
        timing = measure(call, device=device, warmup=0, repeats=repeats)
    record: dict[str, Any] = {"status": "ok", "timing": "sequential", **timing.summary(batch)}
    record["output_finite"] = finite
    if device.type == "cuda":
        record["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        record["memory"] = "CUDA allocator peak (PyTorch backends only)"
    else:
        record["peak_memory_mb"] = peak_rss_mb()
        record["memory"] = "process peak RSS"
    record |= meter.record(batch * repeats)
    return record


def output_is_finite(output: Any) -> bool | None:
    """Whether a runner's output (tensor or ONNX Runtime's list of arrays) is all finite."""
    if isinstance(output, torch.Tensor):
        return bool(torch.isfinite(output).all())
    if isinstance(output, (list, tuple)) and output:
        return bool(np.isfinite(output[0]).all())
    return None


TABLE_COLUMNS = [
    "model",
    "label",
    "input",
    "output",
    "batch",
    "tile",
    "median_ms",
    "p90_ms",
    "fps",
    "tflops",
    "peak_memory_mb",
    "joules_per_frame",
    "watts",
    "status",
]


def ratios(records: Sequence[dict[str, Any]], baseline: tuple[str, str, bool]) -> list[str]:
    """Lines "X is N.NNx the baseline's frame rate" per model/size/batch."""
    lines = []
    ok = [r for r in records if r.get("status") == "ok"]
    for key in sorted({(r["model"], r["size"], r["batch"]) for r in ok}, key=str):
        group = [r for r in ok if (r["model"], r["size"], r["batch"]) == key]
        base = [
            r
            for r in group
            if (r["backend"], r["precision"], r["channels_last"]) == tuple(baseline)
        ]
        if not base:
            continue
        others = [r for r in group if r is not base[0]]
        for r in sorted(others, key=lambda r: -r["fps"]):
            lines.append(
                f"{key[0]} {key[1]} batch {key[2]}: {r['label']} = "
                f"{r['fps'] / base[0]['fps']:.2f}x {base[0]['label']} "
                f"({r['fps']:.2f} vs {base[0]['fps']:.2f} FPS)"
            )
    return lines


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.speed",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "suites:\n"
            "  gpu  RRDBNet (23 blocks, 64 features, x4, random init) at 960x540 -> 4K, batch 1:\n"
            "       eager fp32 (PyTorch defaults, cuDNN TF32 allowed) as the baseline, strict\n"
            "       fp32, fp16/bf16 channels-last, torch.compile, CUDA graphs, ONNX Runtime CUDA.\n"
            "  realtime  the shipped `fast` model at 960x540 -> 4K, batch 1, 300 timed calls:\n"
            "       eager fp32 as the baseline; fp16/bf16 channels-last eager, torch.compile\n"
            "       and CUDA graphs (the bar: the best at least 120 FPS on an H100).\n"
            "  cpu  CompactNet (64 features, 16 convs, x4, random init) at 320x180, batch 1:\n"
            "       eager fp32, ONNX Runtime fp32 and int8, timed interleaved.\n"
            f"workloads: {', '.join(f'{k}={w}x{h}' for k, (w, h) in WORKLOADS.items())}, or WxH.\n"
            "backends: " + ", ".join(BACKENDS)
        ),
    )
    parser.add_argument("--suite", choices=sorted(SUITES), help="a named suite (see below)")
    parser.add_argument("--model", nargs="+", default=[], help="shipped model names or files")
    parser.add_argument(
        "--arch",
        nargs="+",
        default=[],
        choices=sorted(VARIANTS),
        help="random-init network variants (srgan.generators.VARIANTS)",
    )
    parser.add_argument("--scale", type=int, default=4, help="scale for --arch")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument(
        "--backends",
        nargs="+",
        default=["eager", "onnx", "onnx-int8"],
        choices=[*BACKENDS, "torch"],
        help="what to time (default: eager onnx onnx-int8; torch is another name for eager)",
    )
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=["fp32"],
        choices=["fp32", "fp32-strict", "fp16", "bf16"],
        help="precisions for the PyTorch backends (and fp16 for onnx-cuda)",
    )
    parser.add_argument("--channels-last", action="store_true", help="also channels-last")
    parser.add_argument(
        "--size",
        nargs="+",
        type=parse_size,
        default=[parse_size("180p")],
        help="LR input sizes: workload names or WxH (default 180p = 320x180)",
    )
    parser.add_argument("--batch", nargs="+", type=int, default=[1], help="batch sizes")
    parser.add_argument("--tile", type=int, help="tiled inference with this LR tile side")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls (median, p90)")
    parser.add_argument("--interleave", action="store_true", help="time backends round-robin")
    parser.add_argument("--threads", type=int, help="CPU threads for PyTorch and ONNX Runtime")
    parser.add_argument("--calibration-dir", help="real images for the int8 calibration")
    parser.add_argument("--quality-json", help="benchmarks.quality JSON: plot PSNR vs FPS")
    parser.add_argument("--quality-dataset", help="dataset of --quality-json (default Set5)")
    parser.add_argument("--train", action="store_true", help="GAN training throughput mode")
    parser.add_argument("--crop", type=int, default=128, help="HR crop side (--train)")
    parser.add_argument(
        "--discriminator", choices=["vgg", "unet"], default="vgg", help="critic for --train"
    )
    parser.add_argument(
        "--discriminator-features", type=int, default=64, help="critic width for --train"
    )
    parser.add_argument("--out", default="runs/speed", help="output folder")
    return parser


def resolve_models(args: argparse.Namespace) -> list[tuple[str, Generator]]:
    models = [(a, build_variant(a, scale=args.scale, seed=0)) for a in args.arch]
    models += [(model_label(m), load_model(m).eval()) for m in args.model]
    return models or [("default", load_model("default").eval())]


def run_training(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    records = []
    for name, model in resolve_models(args):
        for batch in args.batch:
            for backend in [b for b in args.backends if b in ("eager", "compile")] or ["eager"]:
                for precision in args.precisions:
                    record = {"model": name, "architecture": type(model).__name__}
                    try:
                        critic = {"vgg": VGGStyle, "unet": UNet}[args.discriminator]
                        record |= training_throughput(
                            model,
                            discriminator=critic(num_features=args.discriminator_features),
                            batch=batch,
                            crop=args.crop,
                            device=device,
                            precision=precision,
                            compile=backend == "compile",
                            warmup=args.warmup,
                            repeats=args.repeats,
                        )
                        record["status"] = "ok"
                    except Exception as error:  # noqa: BLE001 - record and carry on
                        record |= {
                            "backend": backend,
                            "precision": precision,
                            "batch": batch,
                            "status": "error",
                            "reason": str(error)[:300],
                        }
                    records.append(record)
    return records


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    with allow_recompiles():  # torch's compile settings come back afterwards
        return run(argv)


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.backends = list(dict.fromkeys("eager" if b == "torch" else b for b in args.backends))
    baseline = None
    variants: list[Variant]
    if args.suite:
        suite = SUITES[args.suite]
        if suite["device"] == "cuda" and not torch.cuda.is_available():
            parser.error(f"--suite {args.suite} measures a CUDA GPU, and none is available here")
        args.arch, args.model = suite["arch"], suite.get("model", [])
        args.device, args.size = suite["device"], [parse_size(s) for s in suite["size"]]
        args.batch, args.warmup, args.repeats = suite["batch"], suite["warmup"], suite["repeats"]
        args.interleave = suite["interleave"]
        variants = [Variant(*v) for v in suite["variants"]]
        baseline = suite["baseline"]
    else:
        variants = [
            Variant(b, p, cl)
            for b in args.backends
            for p in precisions_for(b, args.precisions, torch.device("cpu"))
            for cl in ([False, True] if args.channels_last and b not in ONNX_BACKENDS else [False])
        ]
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    env = environment(device) | cpu_description()
    import onnxruntime as ort

    env["onnxruntime"] = ort.__version__
    env["onnxruntime_providers"] = ort.get_available_providers()
    env["onnxruntime_threads"] = args.threads or "onnxruntime default (physical cores)"
    if args.train:
        records = run_training(args, device)
        columns = ["model", "backend", "precision", "batch", "crop", "median_ms", "steps_per_s"]
        columns += ["hr_megapixels_per_s", "status"]
    else:
        # ONNX backends need a CUDA device for onnx-cuda, the CPU otherwise.
        records = []
        with tempfile.TemporaryDirectory() as tmp:
            for name, model in resolve_models(args):
                records += benchmark_model(
                    name,
                    model,
                    variants,
                    device=device,
                    sizes=args.size,
                    batches=args.batch,
                    tile=args.tile,
                    warmup=args.warmup,
                    repeats=args.repeats,
                    interleave=args.interleave,
                    threads=args.threads,
                    calibration_dir=args.calibration_dir,
                    onnx_dir=Path(tmp) / name,
                )
        columns = TABLE_COLUMNS
    payload: dict[str, Any] = {"environment": env, "records": records}
    lines = [markdown_table(records, columns, floats=".3g" if args.train else ".2f")]
    if baseline is None and not args.train:
        baseline = ("onnx", "fp32", False) if device.type == "cpu" else ("eager", "fp32", False)
    if baseline is not None and not args.train:
        payload["ratios"] = ratios(records, baseline)
        lines += ["", *(f"- {line}" for line in payload["ratios"])]
    vectors = env.get("vector_extensions")
    lines += [
        "",
        f"Device: {env.get('gpu') or env.get('cpu_model')}; CPU vector extensions: "
        f"{', '.join(vectors) if vectors else 'unknown'}; torch {env['torch']}, "
        f"onnxruntime {env['onnxruntime']}, {env['cpu_threads']} threads.",
    ]
    write_json(payload, out / "speed.json")
    (out / "speed.md").write_text("\n".join(lines) + "\n")
    if not args.train:
        plot_speed(records, out / "speed.png")
    if args.quality_json and not args.train:
        import json

        quality = json.loads(Path(args.quality_json).read_text())
        psnr_by_model = quality_summary(quality, args.quality_dataset)
        points = quality_speed_points(records, psnr_by_model)
        payload["quality_speed"] = points
        if points:
            plot_quality_speed(
                points, out / "quality_speed.png", dataset=args.quality_dataset or ""
            )
        write_json(payload, out / "speed.json")
    print("\n".join(lines))
    return payload


if __name__ == "__main__":
    main()
