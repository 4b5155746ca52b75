"""Upscale image and video files, and folders of them, with a super-resolution model.

    python -m srgan.upscale photo.jpg photo_x4.png
    python -m srgan.upscale photos/ upscaled/                  # recursive, mirrors the tree
    python -m srgan.upscale photos/ upscaled/ --format webp --quality 90 --suffix _x4
    python -m srgan.upscale photos/ upscaled/ --model RealESRGAN_x4plus.pth --tile 256
    python -m srgan.upscale clip.mp4 clip_x4.mp4 --crf 20     # video: frames, timing, audio
    python -m srgan.upscale --help                             # every option, with defaults

(``srgan-upscale`` is the same command, installed with the package.)

Safe by construction: inputs are only read; every output is written to a temporary file in
its folder and renamed into place, so an interrupted run leaves no truncated image or
video; finished outputs are skipped on a re-run (``--overwrite`` redoes them); an output
that would replace an input is refused, and a file at an output's path that srgan did not
write is left alone (replaced with ``--overwrite`` only when named as OUTPUT). A file that
cannot be read is reported by name with the reason and the rest carry on. Exit status: 0 all done, 1 some files failed, 2
usage error (bad option, missing input or model), 130 interrupted.

The model runs on ``--backend auto`` (PyTorch on CUDA, ONNX Runtime on the CPU; see
``srgan.backends``). Decoding and encoding run in background threads and pixels go to the
accelerator as 8/16-bit integers (converted and quantised there), so throughput is bound
by the model.

This file is the command line only: the in-memory API is ``srgan.pictures``
(``srgan.upscale_image``), planning and running files and folders is ``srgan.jobs``,
videos ``srgan.video``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from srgan.backends import (
    BACKENDS,
    ONNX_CPU_TILE,
    available_backends,
    build_upscaler,
    pixel_settings,
    sha256_file,
)
from srgan.images import (
    DEFAULT_MAX_PIXELS,
    FORMAT_ALIASES,
    FORMATS,
    OTHER_IMAGE_SUFFIXES,
    available_memory,
    jpeg_quality,
    opencv_errors_only,
)
from srgan.inference import DEFAULT_TILE, MIN_TILE, Upscaler, resolve_device
from srgan.jobs import (
    DEFAULT_WORKERS,
    EARLIER_OUTPUTS,
    INPUT_SUFFIXES,
    Job,
    Options,
    Summary,
    UsageError,
    other_video,
    plan_jobs,
    run_jobs,
)
from srgan.pictures import MAX_OUTSCALE
from srgan.video import DEFAULT_PRESET, MAX_CRF, PRESETS, check_encoding, output_codec
from srgan.weights import DEFAULT_MODEL, packaged_models, resolve_model

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


EPILOG = """\
examples:
  python -m srgan.upscale photo.jpg photo_x4.png
  python -m srgan.upscale web_photos/ upscaled/ --model fast-real   # JPEG-compressed, noisy
  python -m srgan.upscale photos/ upscaled/ --format webp --quality 90 --suffix _x4
  python -m srgan.upscale photos/ upscaled/ --model RealESRGAN_x4plus.pth --tile 256
  python -m srgan.upscale clip.mp4 clip_x4.mp4 --crf 20
  python -m srgan.upscale photos/ upscaled/ --backend torch

exit status: 0 all done (or already there), 1 some files failed (each is reported
with its reason; the others are done), 2 usage error (nothing done), 130 interrupted
(finished outputs are complete, no partial files are left).
"""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show ``(default: ...)`` only where there is a value to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, "") or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


# What each shipped model is for, in a word (README.md, "Which model?", says more).
MODEL_USES = {
    "fast-any": "clean images however they were made smaller (renders, screenshots, scans)",
    "fast": "clean images made smaller by MATLAB's or Pillow's bicubic (benchmark LR)",
    "fast-real": "photos from phones and the web (blur, noise, JPEG)",
    "fast-gan": "sharper textures to look at, less pixel fidelity",
}


def which_model(shipped: Iterable[str]) -> str:
    """The ``--model`` help's guide to the shipped models that are installed."""
    installed = set(shipped)
    uses = [f"{name}: {use}" for name, use in MODEL_USES.items() if name in installed]
    return f". Which one: {'; '.join(uses)}" if uses else ""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m srgan.upscale",
        # Wrapped here: the raw formatter (for the epilog's examples) keeps it as given.
        description=textwrap.fill(
            "Upscale an image or video file, or every image and video in a folder "
            "(recursively; the output folder mirrors the tree). Videos (.mp4, .m4v, .mkv, "
            ".mov, .webm, .avi) keep their frame count, timing and audio. Inputs are never "
            "modified; outputs are written atomically and skipped when already there.",
            79,
        ),
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("input", type=Path, help="an image or video file, or a folder of them")
    parser.add_argument(
        "output",
        help=(
            "the output file (when INPUT is a file and OUTPUT has an image or video suffix) "
            "or folder (a name ending in / is a folder)"
        ),
    )
    parser.add_argument(
        "--model",
        default="default",
        help=(
            f"'default' (the shipped default model, now {DEFAULT_MODEL!r}), a shipped model's "
            f"name (installed: {', '.join(packaged_models()) or 'none'}), or a weights file: "
            ".safetensors, an srgan.fit .ckpt, "
            "ESRGAN / Real-ESRGAN RRDBNet .pth (loaded without running any code in it), or an "
            ".onnx model (python -m srgan.export) for the ONNX backends"
            + which_model(packaged_models())
        ),
    )
    parser.add_argument(
        "--outscale",
        "--scale",
        dest="outscale",
        type=float,
        default=None,
        help=(
            "output size factor (--scale is an alias); default the model's scale (other "
            "factors resize the model's output, area-averaged when shrinking)"
        ),
    )
    parser.add_argument(
        "--format",
        choices=[*FORMATS, *FORMAT_ALIASES, "same"],
        default=None,
        help=(
            "output format (jpeg is jpg, tif is tiff); 'same' keeps each input's format "
            "(GIF and AVIF inputs, which srgan reads but does not write, give PNG); "
            "default png, or the output file's suffix when OUTPUT is a file. EXIF (upright), "
            "ICC profile and DPI (scaled) are kept where the format has room"
        ),
    )
    parser.add_argument("--quality", type=int, default=95, help="JPEG / WebP quality (1-100)")
    parser.add_argument(
        "--crf",
        type=int,
        default=None,
        help=(
            "video quality, lower is better and bigger: H.264 0-51 (default 18, near "
            "transparent; 0 is lossless, a profile many players cannot play), VP9 for .webm "
            "0-63 (default 31), MPEG-4 Part 2's quantizer for .avi 1-31 (default 3)"
        ),
    )
    parser.add_argument(
        "--preset",
        choices=PRESETS,
        default=DEFAULT_PRESET,
        help="H.264 encoder speed: faster presets make bigger files at the same --crf "
        "(.webm and .avi have no presets)",
    )
    parser.add_argument(
        "--suffix",
        default="",
        help="added to each output name, e.g. '_x4' (photo_x4.png); default none",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="redo outputs that already exist (else skipped); a file srgan did not write is "
        "replaced only when named as OUTPUT",
    )
    parser.add_argument(
        "--include-outputs",
        action="store_true",
        help="in a folder, also upscale the files an earlier srgan run wrote (left aside by "
        "default, so that a second output folder inside the input does not upscale the first)",
    )
    parser.add_argument(
        "--alpha",
        choices=["bicubic", "model"],
        default="bicubic",
        help="how the alpha channel of RGBA / LA images is upscaled",
    )
    parser.add_argument(
        "--max-pixels",
        type=float,
        default=DEFAULT_MAX_PIXELS / 1e6,
        help="refuse input images above this many megapixels (decompression-bomb guard); 0: no limit",
    )
    parser.add_argument(
        "--max-memory",
        type=float,
        default=None,
        metavar="GIB",
        help=(
            "refuse an image whose upscaling would need more memory than this (GiB); "
            "default 80%% of the memory available when the run starts; 0: no limit"
        ),
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help=(
            "what runs the model. auto: PyTorch on CUDA, ONNX Runtime fp32 on the CPU (about "
            "twice as fast there; exported once into the cache folder and checked against "
            "PyTorch, outputs within 1/255), PyTorch there for --precision bf16. onnx-int8: faster still, changes the pixels "
            "(calibrated once; the first run prints its PSNR cost). onnx-cuda: needs "
            f"onnxruntime-gpu. Here: {', '.join(available_backends())}"
        ),
    )
    parser.add_argument(
        "--calibration-dir",
        metavar="DIR",
        default=None,
        help=(
            "--backend onnx-int8: calibrate on these images (as they will be upscaled) "
            "instead of the built-in crops"
        ),
    )
    parser.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: CUDA if available"
    )
    parser.add_argument(
        "--precision",
        choices=["auto", "fp32", "fp16", "bf16"],
        default="auto",
        help="auto: fp16 on CUDA, fp32 on CPU; half-precision tiles with NaN/Inf are redone in fp32",
    )
    parser.add_argument(
        "--tile",
        type=int,
        default=None,
        help=(
            f"tile size in input pixels (memory bound); 0: whole images. Default {ONNX_CPU_TILE} "
            f"on ONNX Runtime's CPU backends (as fast per pixel as small tiles, fewer overlaps "
            f"to recompute), {DEFAULT_TILE} otherwise. Halved on out-of-memory"
        ),
    )
    parser.add_argument(
        "--tile-overlap",
        type=int,
        default=24,
        help="context pixels around each tile (seamless once it covers the receptive field)",
    )
    parser.add_argument(
        "--self-ensemble",
        action="store_true",
        help=(
            "average the model over the 8 flips and quarter turns of each input (geometric "
            "self-ensemble): 8 times the time for a little more PSNR and smoother texture"
        ),
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=4,
        help="small images of the same size, and a video's frames, are upscaled together, this "
        "many at a time",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help="threads decoding ahead, and as many encoding behind (PNG encoding is costly)",
    )
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the model (GPU; slow first image)"
    )
    parser.add_argument(
        "--devices",
        type=int,
        default=None,
        help=(
            "run through Lightning on N devices (one process each, the files sharded by "
            "rank so each image is done once); default: one device, no Lightning"
        ),
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar (the summary still prints)"
    )
    return parser


def make_upscaler(
    args: argparse.Namespace, device: str | torch.device, *, backend: str | None = None
) -> Upscaler:
    resolved = resolve_device(device) if isinstance(device, str) else device
    if args.compile and resolved.type != "cuda":
        print("note: --compile is for GPUs; running the model uncompiled on CPU", file=sys.stderr)
    return build_upscaler(
        args.model,
        backend=backend or args.backend,
        device=resolved,
        precision=args.precision,
        tile="auto" if args.tile is None else (args.tile or None),
        tile_overlap=args.tile_overlap,
        compile=args.compile and resolved.type == "cuda",
        calibration_dir=args.calibration_dir,
        self_ensemble=args.self_ensemble,
    )


def settings_tag(args: argparse.Namespace, upscaler: Upscaler | None = None) -> str:
    """What each output records of how it was made (and a re-run compares): the model
    file's name and sha256, the output factor, the alpha mode, and the backend when it
    changes the pixels (``onnx-int8`` and its calibration)."""
    path = resolve_model(args.model)
    digest = sha256_file(path)[:16]
    # An outscale equal to the model's scale is no outscale: the same outputs, one tag.
    scale = upscaler.scale if upscaler is not None else None
    outscale = None if args.outscale is not None and args.outscale == scale else args.outscale
    settings = {"model": path.name, "sha256": digest, "outscale": outscale}
    settings |= pixel_settings(upscaler) if upscaler is not None else {}
    return json.dumps(settings | {"alpha": args.alpha}, sort_keys=True)


def options_from(
    args: argparse.Namespace, upscaler: Upscaler | None = None, *, progress: bool = True
) -> Options:
    if args.max_memory is None:
        available = available_memory()
        max_memory = int(0.8 * available) if available else None
    else:
        # 0 is no limit; any positive limit stays one (at least a byte).
        max_memory = max(1, int(args.max_memory * 2**30)) if args.max_memory else None
    return Options(
        outscale=args.outscale,
        alpha=args.alpha,
        quality=args.quality,
        overwrite=args.overwrite,
        max_pixels=max(1, int(args.max_pixels * 1e6)) if args.max_pixels else None,
        crf=args.crf,
        preset=args.preset,
        max_memory=max_memory,
        batch_size=args.batch_size,
        workers=args.workers,
        progress=progress and not args.no_progress,
        tag=settings_tag(args, upscaler),
    )


def check_options(args: argparse.Namespace) -> None:
    """Every option checked before any work; ``UsageError`` says which and what to give."""
    if not 1 <= args.quality <= 100:
        raise UsageError(f"--quality must be 1..100, got {args.quality}")
    if args.crf is not None and not 0 <= args.crf <= max(MAX_CRF.values()):
        raise UsageError(
            f"--crf must be 0..51 (H.264), 0..63 (VP9) or 1..31 (.avi), got {args.crf}"
        )
    if args.outscale is not None and not (0 < args.outscale <= MAX_OUTSCALE):
        raise UsageError(
            f"--outscale must be a number above 0 and at most {MAX_OUTSCALE:g}, got {args.outscale}"
        )
    if args.tile and args.tile < MIN_TILE:
        raise UsageError(f"--tile must be 0 (whole images) or at least {MIN_TILE}, got {args.tile}")
    for name in ("tile", "tile_overlap"):
        if (getattr(args, name) or 0) < 0:
            raise UsageError(
                f"--{name.replace('_', '-')} must be 0 or more, got {getattr(args, name)}"
            )
    for name in ("max_pixels", "max_memory"):
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            flag = name.replace("_", "-")
            raise UsageError(f"--{flag} must be 0 (no limit) or a positive number, got {value}")
    for name in ("batch_size", "workers"):
        if getattr(args, name) < 1:
            raise UsageError(
                f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}"
            )
    if args.devices is not None and args.devices < 1:
        raise UsageError(f"--devices must be at least 1, got {args.devices}")
    if args.devices is not None and args.backend not in ("auto", "torch"):
        raise UsageError(f"--devices runs PyTorch on each device; --backend {args.backend} cannot")
    if args.devices is not None and Path(args.model).suffix.lower() == ".onnx":
        raise UsageError(
            "--devices runs PyTorch on each device: give a weights file (.safetensors, .pth, "
            f".ckpt), not the ONNX model {Path(args.model).name}"
        )
    if args.calibration_dir is not None:
        if Path(args.model).suffix.lower() == ".onnx":
            raise UsageError(
                f"--calibration-dir: {Path(args.model).name} is an ONNX model, made already; "
                "the folder calibrates the int8 model srgan makes from a weights file "
                "(.safetensors, .pth, .ckpt or a shipped model's name) with --backend onnx-int8"
            )
        if args.backend != "onnx-int8":
            raise UsageError("--calibration-dir is for --backend onnx-int8")
        if not Path(args.calibration_dir).is_dir():
            raise UsageError(f"--calibration-dir: not a folder: {args.calibration_dir}")


def run_distributed(args: argparse.Namespace, jobs: Sequence[Job]) -> tuple[Summary, int]:
    """``--devices N``: Lightning Fabric launches one process per device; each upscales the
    files ``rank::world_size`` of the shared sorted list, so every image is done once (the
    list is split before any skip check, so ranks agree even while outputs appear)."""
    import lightning as L

    # As the single-process run: CUDA or the CPU (Fabric's auto would take an Apple GPU).
    accelerator = resolve_device(args.device).type
    strategy = "ddp" if args.devices > 1 else "auto"
    fabric = L.Fabric(accelerator=accelerator, devices=args.devices, strategy=strategy)
    fabric.launch()
    try:
        return _upscale_share(fabric, args, jobs)
    finally:
        # Leaving the process group to the interpreter's exit can abort it (a gloo thread
        # still joinable when its owner is destroyed: "terminate called ..."); close it here.
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def _upscale_share(
    fabric: Any, args: argparse.Namespace, jobs: Sequence[Job]
) -> tuple[Summary, int]:
    """One process's part of :func:`run_distributed`: its share of the files, then the sums."""
    share = list(jobs)[fabric.global_rank :: fabric.world_size]
    error: Exception | None = None
    try:
        upscaler = make_upscaler(args, fabric.device, backend="torch")
        options = options_from(args, upscaler, progress=fabric.global_rank == 0)
        summary = run_jobs(share, upscaler, options)
    except Exception as caught:  # noqa: BLE001 - raised after the processes meet, not before
        error, summary = caught, Summary()
    # Every process reaches the sums, even one that failed (the others would wait forever).
    counts = torch.tensor(summary.counts(), dtype=torch.float64, device=fabric.device)
    total = fabric.all_reduce(counts, reduce_op="sum")
    done, skipped, other, failed, fallbacks, retries, megapixels, videos, frames = total.tolist()
    errors = [None if error is None else (str(error) or type(error).__name__)]
    if fabric.world_size > 1:
        import torch.distributed as dist

        parts: list[Any] = [None] * fabric.world_size
        own = [(str(p), reason) for p, reason in summary.failures]
        dist.all_gather_object(parts, (own, errors[0]))
        summary.failures = [(Path(p), reason) for part, _ in parts for p, reason in part]
        errors = [text for _, text in parts]
    if all(errors):  # no process could start: nothing was done
        raise error if error is not None else RuntimeError(errors[0])
    # A process that failed: its share of the files is named as failed, with its error; the
    # others' outputs are written (exit status 1, not "nothing done").
    for rank, text in enumerate(errors):
        if text:
            lost = list(jobs)[rank :: fabric.world_size]
            reason = f"its device process ({rank}) failed: {text}"
            summary.failures += [(job.source, reason) for job in lost]
            failed += len(lost)
    summary.videos, summary.frames = int(videos), int(frames)
    summary.done, summary.skipped, summary.failed = int(done), int(skipped), int(failed)
    summary.other_settings = int(other)
    summary.fp32_fallbacks, summary.oom_retries = int(fallbacks), int(retries)
    summary.megapixels = megapixels
    return summary, fabric.global_rank


def main(argv: Iterable[str] | None = None) -> int:
    """The ``srgan-upscale`` / ``python -m srgan.upscale`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(None if argv is None else list(argv))
    # With --devices, the other processes hear Ctrl-C (the terminal's whole process group)
    # but not a `kill` of this one: SIGTERM keeps its default there.
    with second_interrupt_exits(terminate=args.devices is None), opencv_errors_only():
        return run(args)


@contextlib.contextmanager
def second_interrupt_exits(*, terminate: bool = True) -> Iterator[None]:
    """The first Ctrl-C stops the run cleanly (finished outputs stay, no partial files);
    a second one, while that clean-up runs, exits at once without a traceback (a killed
    write leaves only a temporary file, which the next run removes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_interrupt(signum: int, frame: object) -> None:
        if interrupted:
            print("interrupted again: exiting now", file=sys.stderr)
            os._exit(EXIT_INTERRUPTED)
        interrupted.append(True)
        raise KeyboardInterrupt

    interrupted: list[bool] = []
    # SIGTERM (a plain `kill`, a job scheduler's stop) ends the run as Ctrl-C does, so
    # that it too leaves no temporary file behind.
    # An ignored signal (a job a script started in the background) stays ignored.
    signals = (signal.SIGINT, signal.SIGTERM) if terminate else (signal.SIGINT,)
    signals = tuple(sig for sig in signals if signal.getsignal(sig) is not signal.SIG_IGN)
    previous = {sig: signal.signal(sig, on_interrupt) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def unused_options(args: argparse.Namespace, jobs: list[Job]) -> list[str]:
    """What each option given that no job of this run uses would have done (no word was
    said of them: --crf with images alone, --quality with PNG outputs, ...), and tile
    settings that multiply the work or leave seams."""
    images = [job for job in jobs if not job.video]
    if not jobs:
        return []
    defaults = build_parser()

    def given(*names: str) -> str:
        """The options of ``names`` given other than their defaults, as "--a and --b
        apply" (or "--a applies")."""
        flags = [n for n in names if getattr(args, n) != defaults.get_default(n)]
        said = " and ".join(f"--{n}" for n in flags)
        return f"{said} {'applies' if len(flags) == 1 else 'apply'}" if flags else ""

    notes = []
    if args.tile and args.tile_overlap > args.tile / 2:
        work = ((args.tile + 2 * args.tile_overlap) / args.tile) ** 2
        notes.append(
            f"--tile {args.tile} with --tile-overlap {args.tile_overlap}: in images (and "
            f"frames) larger than a tile, each tile is computed with its {args.tile_overlap}-px "
            f"context, up to about {work:.0f} times the work of whole images; larger tiles "
            "(the default) are faster"
        )
    if args.tile != 0 and args.tile_overlap == 0:
        notes.append(
            "--tile-overlap 0: tiles are computed without the pixels around them, and their "
            "seams can show in images (and frames) larger than a tile (the default, "
            f"{defaults.get_default('tile_overlap')}, gives them context)"
        )
    if not images and (flags := given("format", "quality", "alpha")):
        notes.append(f"{flags} to images, and these inputs are videos (each keeps its container)")
    elif images and not any(job.fmt in ("jpg", "webp") for job in images):
        if flags := given("quality"):
            notes.append(f"{flags} to JPEG and WebP outputs, and there are none here")
    if len(images) == len(jobs) and (flags := given("crf", "preset")):
        notes.append(f"{flags} to videos, and there are none here")
    return notes


# The default model learned clean downscales: on photos saved below this JPEG quality it
# sharpens the compression's blocks and ringing, which fast-real smooths (its card).
COMPRESSED_JPEG = 88
JPEG_LOOKS = 32  # JPEG headers read for that note at most: a large folder is not scanned


def compressed_jpegs(args: argparse.Namespace, jobs: Sequence[Job]) -> str | None:
    """A note when the default model (not one asked for by name) meets JPEG inputs saved at
    a quality below ``COMPRESSED_JPEG``: which model is made for them."""
    if args.model != "default" or DEFAULT_MODEL == "fast-real":
        return None
    jpegs = [job.source for job in jobs if job.source.suffix.lower() in (".jpg", ".jpeg")]
    looked = jpegs[:JPEG_LOOKS]
    low = [q for path in looked if (q := jpeg_quality(path)) is not None and q < COMPRESSED_JPEG]
    if not low:
        return None
    if len(jpegs) > len(looked):
        among = f"{len(low)} of the first {len(looked)} JPEG inputs were"
    else:
        among = f"{len(low)} JPEG input{'s were' if len(low) > 1 else ' was'}"
    qualities = f"{min(low):.0f}"
    if round(max(low)) > round(min(low)):
        qualities += f"-{max(low):.0f}"
    return (
        f"{among} saved at quality about {qualities}: the default model ({DEFAULT_MODEL}) "
        "sharpens compression artefacts along with edges; --model fast-real is made for "
        f"compressed or noisy photos (--model {DEFAULT_MODEL} keeps this model without this note)"
    )


def run(args: argparse.Namespace) -> int:
    """Check the options, plan, upscale and report; the exit status."""
    try:
        check_options(args)
        plan = plan_jobs(
            args.input,
            args.output,
            fmt=args.format,
            suffix=args.suffix,
            include_outputs=args.include_outputs,
        )
        jobs = plan.jobs
        if not jobs and not plan.failed:
            outputs = sum(int(r.split()[0]) for _, r in plan.aside if EARLIER_OUTPUTS in r)
            if outputs:
                raise UsageError(
                    f"nothing to upscale in {args.input}: its {outputs} image(s) are outputs "
                    "of an earlier srgan run, left aside; --include-outputs upscales them again"
                )
            others = [
                f"{path.name}: {why}"
                for path, why in plan.aside
                if other_video(path) or path.suffix.lower() in OTHER_IMAGE_SUFFIXES
            ]
            raise UsageError(
                f"no images or videos in {args.input} (looked for "
                f"{', '.join(sorted(INPUT_SUFFIXES))})"
                + (f"; left aside: {'; '.join(others[:3])}" if others else "")
            )
        if args.devices is not None and any(job.video for job in jobs):
            raise UsageError("--devices shares image files between devices; give videos alone")
        for suffix in sorted({job.target.suffix.lower() for job in jobs if job.video}):
            try:  # the output codec's --crf range (H.264 0-51, VP9 0-63), before any work
                check_encoding(suffix, args.crf, args.preset)
            except ValueError as error:
                raise UsageError(f"{error} (for the {suffix} outputs)") from None
            codec = output_codec(suffix)
            if args.preset != DEFAULT_PRESET and codec != "libx264":
                print(
                    f"note: --preset is H.264's: the {suffix} outputs ({codec}) have none",
                    file=sys.stderr,
                )
        # Said once: with --devices, every process runs this (the launcher starts them).
        if os.environ.get("LOCAL_RANK", "0") == "0":
            for note in [*unused_options(args, jobs), compressed_jpegs(args, jobs)]:
                if note:
                    print(f"note: {note}", file=sys.stderr)
        start = time.perf_counter()
        if not jobs:  # every input failed before it could be read: reported below
            summary, rank = Summary(), 0
        elif args.devices is not None:
            summary, rank = run_distributed(args, jobs)
        else:
            upscaler = make_upscaler(args, args.device)
            setup = time.perf_counter() - start
            summary, rank = run_jobs(jobs, upscaler, options_from(args, upscaler)), 0
            summary.setup_seconds = setup
        summary.seconds = time.perf_counter() - start
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        # A missing or unusable model, an unavailable device: nothing was done.
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: finished outputs are complete, no partial files left", file=sys.stderr)
        return EXIT_INTERRUPTED
    summary.failed += len(plan.failed)
    summary.failures = [*plan.failed, *summary.failures]
    if rank == 0:
        for path, reason in plan.aside:
            print(f"left aside: {path}: {reason}", file=sys.stderr)
        # The list to look back on, for a folder: one file's failure was said as it happened.
        said = set() if Path(args.input).is_dir() else set(summary.failures) - set(plan.failed)
        for path, reason in summary.failures:
            if (path, reason) not in said:
                print(f"failed: {path}: {reason}", file=sys.stderr)
        if summary.other_settings:
            print(
                f"note: {summary.other_settings} existing output(s) were made with other "
                "settings (model, --outscale or --alpha; --crf or --preset for videos) and were "
                "kept; --overwrite redoes them",
                file=sys.stderr,
            )
        print(summary.line())
    return EXIT_FAILED if summary.failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
