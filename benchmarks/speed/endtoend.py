"""End-to-end throughput of ``srgan.upscale``, per backend: images per second on a folder
and frames per second on a video, decoding, inference and encoding together.

    from benchmarks.speed.endtoend import folder_throughput, video_throughput
    rows = folder_throughput("photos/", backends=["torch", "onnx"], model="fast", device="cpu")
    rows = video_throughput("clip.mp4", backends=["torch", "onnx"], model="fast", device="cpu")

Each run is the command itself (``srgan.upscale.main``) in a fresh process, so its peak
memory is its own, writing into a temporary folder (``--overwrite --no-progress``). Before
the timed runs each backend runs once on one file, so that the ONNX model is exported and
checked (or calibrated, for int8) into the cache beforehand: that first use is reported
apart (``first_use_s``). With ``repeats`` > 1 the backends take turns (one run each per
round), so a machine shared with other work slows them alike, and the median is reported.
``seconds`` is measured inside the process around the command (model loading included,
the interpreter's start and imports not). These are the rows ``benchmarks.speed`` reports
beside its model-only timings.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Runs the command in the child: wall time around main(), exit status, peak memory.
_CHILD = """
import json, sys, time
args = json.loads(sys.argv[1])
from srgan.upscale import main
from benchmarks.speed.timing import peak_rss_mb
start = time.perf_counter()
code = main(args)
seconds = time.perf_counter() - start
record = {"code": code, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}
import torch
if torch.cuda.is_initialized():
    record["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
print("THROUGHPUT " + json.dumps(record))
"""


def _run_child(args: list[str], timeout: float | None) -> dict[str, Any]:
    """``python -m srgan.upscale ARGS`` in a fresh process; its own record of the run."""
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    for line in done.stdout.splitlines():
        if line.startswith("THROUGHPUT "):
            record = json.loads(line[len("THROUGHPUT ") :])
            if record["code"] == 0:
                return record
    reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    raise RuntimeError(reason[:300])


def _progress(message: str) -> None:
    print(f"{message} ...", file=sys.stderr, flush=True)


def _unavailable(backend: str, device: str) -> str | None:
    """Why ``backend`` cannot run on ``device`` here (``None`` if it can)."""
    from srgan.backends import BackendError, resolve_backend
    from srgan.inference import resolve_device

    try:
        resolve_backend(backend, resolve_device(device))
    except (BackendError, RuntimeError) as error:
        return str(error)
    return None


def _measure(
    source: Path,
    sample: Path,
    *,
    backends: Sequence[str],
    model: str,
    device: str,
    repeats: int,
    extra_args: Sequence[str],
    timeout: float | None,
    compare: bool = False,
) -> dict[str, dict[str, Any]]:
    """Per backend: the first use on ``sample``, then ``repeats`` timed runs on ``source``
    in turns; with ``compare``, each backend's first outputs against PyTorch's."""
    results: dict[str, dict[str, Any]] = {}
    common = ["--model", model, "--device", device, "--overwrite", "--no-progress", *extra_args]
    with tempfile.TemporaryDirectory(prefix="srgan-throughput-") as tmp:
        runnable = []
        for backend in backends:
            reason = _unavailable(backend, device)
            if reason is not None:
                results[backend] = {"status": "not available", "reason": reason}
                continue
            args = [str(sample), str(Path(tmp) / "first" / backend), "--backend", backend]
            _progress(f"srgan.upscale --backend {backend}: first use on {sample.name}")
            try:
                first = _run_child([*args, *common], timeout)
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                results[backend] = {"status": "error", "reason": str(error)[:300]}
                continue
            results[backend] = {"status": "ok", "first_use_s": first["seconds"], "runs": []}
            runnable.append(backend)
        for round_ in range(repeats):
            for backend in runnable:
                if results[backend]["status"] != "ok":
                    continue
                out = Path(tmp) / f"{backend}-{round_}"
                args = [str(source), str(out), "--backend", backend, *common]
                _progress(
                    f"srgan.upscale --backend {backend} on {source.name}: "
                    f"round {round_ + 1} of {repeats}"
                )
                try:
                    results[backend]["runs"].append(_run_child(args, timeout))
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    results[backend] = {"status": "error", "reason": str(error)[:300]}
        if compare and "torch" in runnable and repeats > 0:
            for backend in runnable:
                if backend != "torch" and results[backend]["status"] == "ok":
                    results[backend]["max_diff_vs_torch"] = _largest_difference(
                        Path(tmp) / f"{backend}-0", Path(tmp) / "torch-0"
                    )
    for record in results.values():
        runs = record.pop("runs", None)
        if runs:
            record["seconds"] = statistics.median(r["seconds"] for r in runs)
            record["seconds_runs"] = [r["seconds"] for r in runs]
            record["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
            if any("peak_cuda_mb" in r for r in runs):
                record["peak_cuda_mb"] = max(r.get("peak_cuda_mb", 0.0) for r in runs)
    return results


def folder_throughput(
    folder: str | os.PathLike[str],
    *,
    backends: Sequence[str] = ("torch", "onnx", "onnx-int8"),
    model: str = "default",
    device: str = "auto",
    repeats: int = 1,
    extra_args: Sequence[str] = (),
    timeout: float | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Images per second of ``srgan.upscale FOLDER OUT`` on each backend (with ``limit``,
    on a copy of the first ``limit`` images of ``folder`` in name order).

    Returns one record per backend: ``backend``, ``status`` (``ok``, ``not available`` or
    ``error`` with ``reason``), ``images``, ``megapixels`` (input), ``seconds`` (median),
    ``seconds_runs``, ``images_per_s``, ``megapixels_per_s``, ``peak_rss_mb`` (the
    process's peak; ``peak_cuda_mb`` on a GPU) and ``first_use_s`` (the run on one image
    that exported / calibrated the model, when it was not cached yet); when ``torch`` is
    among the backends, the others also have ``max_diff_vs_torch``: the largest difference
    of any output pixel from PyTorch's, in 8-bit steps (1 = 1/255).
    """
    from srgan.jobs import header_megapixels, plan_jobs

    folder = Path(folder)
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [j for j in plan_jobs(folder, Path(tmp) / "out").jobs if not j.video]
        if not jobs:
            raise ValueError(f"no images in {folder}")
        source = folder
        if limit is not None:
            source = Path(tmp) / folder.name
            source.mkdir()
            jobs = sorted(jobs, key=lambda job: job.source.name)[:limit]
            for job in jobs:
                shutil.copy2(job.source, source / job.source.name)
        megapixels = sum(header_megapixels(job.source) for job in jobs)
        smallest = min((job.source for job in jobs), key=header_megapixels)
        results = _measure(
            source,
            smallest,
            backends=backends,
            model=model,
            device=device,
            repeats=repeats,
            extra_args=extra_args,
            timeout=timeout,
            compare=True,
        )
    rows = []
    for backend in backends:
        record = {
            "backend": backend,
            "model": model,
            "device": device,
            "input": folder.name if limit is None else f"{folder.name} (first {len(jobs)})",
            "images": len(jobs),
            "megapixels": megapixels,
            "what": "srgan.upscale on a folder: decode + infer + encode",
        } | results[backend]
        if record["status"] == "ok":
            record["images_per_s"] = len(jobs) / record["seconds"]
            record["megapixels_per_s"] = megapixels / record["seconds"]
        rows.append(record)
    return rows


def video_throughput(
    video: str | os.PathLike[str],
    *,
    backends: Sequence[str] = ("torch", "onnx", "onnx-int8"),
    model: str = "default",
    device: str = "auto",
    repeats: int = 1,
    extra_args: Sequence[str] = (),
    timeout: float | None = None,
) -> list[dict[str, Any]]:
    """Frames per second of ``srgan.upscale VIDEO OUT`` (same container) on each backend.

    Records as ``folder_throughput``'s, with ``frames``, ``input_size`` and ``fps`` (frames
    decoded, upscaled and encoded per second, audio copied) instead of images.
    """
    from srgan.video import probe

    video = Path(video)
    info = probe(video)
    with tempfile.TemporaryDirectory() as tmp:
        # The first use upscales one frame: enough to export and check the model.
        sample = Path(tmp) / "first.png"
        _first_frame(video, sample)
        results = _measure(
            video,
            sample,
            backends=backends,
            model=model,
            device=device,
            repeats=repeats,
            extra_args=extra_args,
            timeout=timeout,
        )
    frames = _count_frames(video)
    rows = []
    for backend in backends:
        record = {
            "backend": backend,
            "model": model,
            "device": device,
            "input": video.name,
            "input_size": f"{info['width']}x{info['height']}",
            "frames": frames,
            "what": "srgan.upscale on a video: decode + infer + encode, audio copied",
        } | results[backend]
        if record["status"] == "ok":
            record["fps"] = frames / record["seconds"]
        rows.append(record)
    return rows


def _largest_difference(outputs: Path, reference: Path) -> float:
    """The largest difference of any sample (colour or alpha) between the images of two
    output folders (same names), in steps of the 8-bit scale: a 16-bit image's differences
    are divided by 257, so that 1 is 1/255 at any depth."""
    import numpy as np

    from srgan.images import read_image

    def samples(path: Path) -> list[np.ndarray]:
        picture = read_image(path, max_pixels=None)
        arrays = [picture.pixels] + ([] if picture.alpha is None else [picture.alpha])
        return [a.astype(np.float64) * (255 / np.iinfo(a.dtype).max) for a in arrays]

    largest = 0.0
    for path in sorted(p for p in outputs.rglob("*") if p.is_file()):
        ours, theirs = samples(path), samples(reference / path.relative_to(outputs))
        shapes = [a.shape for a in ours], [b.shape for b in theirs]
        if shapes[0] != shapes[1]:  # sizes, channels, or alpha in one only
            raise ValueError(f"{path.name}: {shapes[0]} vs {shapes[1]} (colour, then alpha)")
        for a, b in zip(ours, theirs):
            largest = max(largest, float(np.abs(a - b).max()))
    value = round(largest, 2)
    return int(value) if value.is_integer() else value


def _count_frames(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _first_frame(source: Path, target: Path) -> None:
    """The video's first frame as a PNG (what the first use of a backend upscales)."""
    import av

    with av.open(str(source)) as reader:
        next(reader.decode(video=0)).to_image().save(target)
