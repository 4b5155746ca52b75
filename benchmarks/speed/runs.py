"""Timing one model under many variants: the inputs, the ONNX exports the ONNX backends
need, interleaved or sequential timing, energy, memory and the work done."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from benchmarks.speed.backends import (
    ONNX_BACKENDS,
    Variant,
    onnx_runner,
    tiled_unavailable,
    torch_runner,
    unavailable,
)
from benchmarks.speed.energy import EnergyMeter
from benchmarks.speed.macs import macs_per_output_pixel
from benchmarks.speed.timing import Timing, measure, peak_rss_mb, reset_peak_rss, synchronize
from srgan.generators import Generator

# -- the benchmark ---------------------------------------------------------------------------
# What ``peak_memory_mb`` is on the CPU, depending on whether the peak could be reset.
RSS_OWN = "process peak RSS while this backend ran (the process's baseline included)"
RSS_SO_FAR = "process peak RSS so far (this system cannot reset it per backend)"


def measure_interleaved(
    calls: dict[str, Callable[[], Any]], *, device: torch.device, warmup: int, repeats: int
) -> tuple[dict[str, Timing], dict[str, float]]:
    """Time several calls round-robin: one call of each per round, after warm-up of each.
    Also the process's peak RSS (MiB) during each call's warm-up, where only it ran."""
    peaks = {}
    for name, call in calls.items():
        reset_peak_rss()
        for _ in range(max(warmup, 1)):
            call()
        peaks[name] = peak_rss_mb()
    timings = {name: Timing() for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            synchronize(device)
            start = time.perf_counter()
            call()
            synchronize(device)
            timings[name].latencies_ms.append((time.perf_counter() - start) * 1000.0)
    return timings, peaks


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
    """The ONNX files the ONNX backends need (fp32, fp16, int8), exported once per model;
    ``ParityError`` when the fp32 graph does not give PyTorch's outputs (within
    ``srgan.backends.PARITY_TOLERANCE``, as ``srgan.upscale`` checks it): its rows would time
    another computation."""
    import warnings

    from srgan.backends import PARITY_TOLERANCE, parity_cases
    from srgan.int8 import quantize_int8
    from srgan.onnx import ParityError, check_parity, convert_fp16, export_onnx, onnx_session

    paths = {"fp32": export_onnx(model, folder / "model.onnx")}
    with warnings.catch_warnings():  # "is the model trained?": timed networks may not be
        warnings.simplefilter("ignore")
        diffs = check_parity(model, onnx_session(paths["fp32"]), parity_cases(model))
    if max(diffs.values()) > PARITY_TOLERANCE:
        raise ParityError(
            f"its outputs differ from PyTorch's by up to {max(diffs.values()):.2g} (over "
            f"{PARITY_TOLERANCE:.2g}): not timed"
        )
    if "onnx-int8" in backends:
        paths["int8"] = quantize_int8(
            paths["fp32"], folder / "model.int8.onnx", calibration_inputs(calibration_dir)
        )
    if "onnx-cuda" in backends:
        paths["fp16"] = convert_fp16(paths["fp32"], folder / "model.fp16.onnx")
    return paths


def progress(message: str) -> None:
    """What the benchmark is doing now, on stderr (the tables come at the end)."""
    print(f"{message} ...", file=sys.stderr, flush=True)


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
    scale = model.scale
    in_channels = model.config.get("in_channels", 3)
    macs_px = macs_per_output_pixel(model, in_channels=in_channels)
    runnable = [v for v in variants if unavailable(v, device) is None]
    onnx_backends = {v.backend for v in runnable if v.backend in ONNX_BACKENDS}
    onnx_paths: dict[str, Path] = {}
    onnx_error = None
    if onnx_backends:
        progress(f"{name}: exporting to ONNX ({', '.join(sorted(onnx_backends))})")
        try:
            onnx_paths = export_variants(model, onnx_dir, onnx_backends, calibration_dir)
        except Exception as error:  # noqa: BLE001 - the ONNX rows say why, the rest still run
            from srgan.onnx import ParityError

            checked = isinstance(error, ParityError)  # exported, but not PyTorch's outputs
            onnx_error = f"{'ONNX model' if checked else 'ONNX export failed'}: {error}"
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
                        progress(f"{name}: timing {variant.label} at {size_name}, batch {batch}")
                        records.append(record | time_one(call, device, batch, warmup, repeats))
                except Exception as error:  # noqa: BLE001 - record and carry on
                    calls.pop(variant, None)
                    records.append(record | {"status": "error", "reason": str(error)[:300]})
                finally:
                    if device.type == "cuda" and not interleave:
                        call = None
                        torch.cuda.empty_cache()
            if interleave and calls:
                labels = ", ".join(v.label for v in calls)
                progress(f"{name}: timing {labels} in turns at {size_name}, batch {batch}")
                timings, peaks = measure_interleaved(
                    {v.label: c for v, c in calls.items()},
                    device=device,
                    warmup=warmup,
                    repeats=repeats,
                )
                # Resetting once more only says whether the peaks above are each backend's own.
                memory = RSS_OWN if reset_peak_rss() else RSS_SO_FAR
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
                            "peak_memory_mb": peaks[variant.label],
                            "memory": memory,
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
    own_peak = reset_peak_rss()
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
        record["memory"] = RSS_OWN if own_peak else RSS_SO_FAR
    record |= meter.record(batch * repeats)
    return record


def output_is_finite(output: Any) -> bool | None:
    """Whether a runner's output (tensor or ONNX Runtime's list of arrays) is all finite."""
    if isinstance(output, torch.Tensor):
        return bool(torch.isfinite(output).all())
    if isinstance(output, (list, tuple)) and output:
        return bool(np.isfinite(output[0]).all())
    return None
