"""Upscale image files and folders with a super-resolution model.

    python -m srgan.upscale photo.jpg photo_x4.png
    python -m srgan.upscale photos/ upscaled/                  # recursive, mirrors the tree
    python -m srgan.upscale photos/ upscaled/ --model quality --format webp --quality 90
    python -m srgan.upscale photos/ upscaled/ --model RealESRGAN_x4plus.pth --tile 256
    srgan-upscale --help                                       # every option, with defaults

Safe by construction: inputs are only read; every output is written to a temporary file in
its folder and renamed into place, so an interrupted run leaves no truncated image;
finished outputs are skipped on a re-run (``--overwrite`` redoes them); an output that
would replace an input is refused. A file that cannot be read is reported by name with
the reason and the rest carry on. Exit status: 0 all done, 1 some images failed, 2 usage
error (bad option, missing input or model), 130 interrupted.

Decoding and encoding run in background threads and pixels go to the accelerator as
8/16-bit integers (converted and quantised there), so throughput is bound by the model.

The Python API is ``srgan.upscale_image(image, model="default")`` (a numpy array or PIL
image in, the same kind out); build one ``srgan.Upscaler(srgan.load_model(...))`` and pass
it as ``model`` to upscale many images without reloading.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from PIL import Image
from torch import nn

from srgan.images import (
    DEFAULT_MAX_PIXELS,
    FORMATS,
    IMAGE_SUFFIXES,
    SIXTEEN_BIT_FORMATS,
    SUFFIX_FORMATS,
    ImageError,
    Picture,
    decode_pil,
    read_image,
    write_image,
)
from srgan.inference import Upscaler, resolve_device
from srgan.weights import DEFAULT_MODEL, load_model, packaged_models

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
AlphaMode = Literal["bicubic", "model"]


# Decoding and encoding threads each: half the cores, at least 2, at most 8.
DEFAULT_WORKERS = max(2, min(8, (os.cpu_count() or 2) // 2))


class UsageError(Exception):
    """A problem with the command line itself (exit status 2); the message says what to do."""


# --- one image ----------------------------------------------------------------------


def to_batch(pixels: np.ndarray) -> torch.Tensor:
    """``(H, W, 1 or 3)`` uint8/uint16 -> ``(1, 3, H, W)`` of the same dtype (gray repeated)."""
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))[None]


def from_batch(sr: torch.Tensor, *, grayscale: bool) -> np.ndarray:
    """``(3, H, W)`` integer output -> ``(H, W, 3)``, or ``(H, W, 1)`` (mean) for gray input."""
    array = sr.permute(1, 2, 0).numpy()
    if grayscale:
        total = array.astype(np.uint32).sum(axis=2, keepdims=True)
        return ((total + 1) // 3).astype(array.dtype)
    return np.ascontiguousarray(array)


def resize(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize ``(H, W[, C])`` uint8/uint16 with OpenCV: area when shrinking, bicubic else."""
    if array.shape[:2] == (height, width):
        return array
    shrink = height < array.shape[0]
    out = cv2.resize(
        array, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    )
    return out.reshape(height, width, *array.shape[2:])


def output_size(picture: Picture, upscaler: Upscaler, scale: float | None) -> tuple[int, int]:
    h, w = picture.pixels.shape[:2]
    factor = scale or upscaler.scale
    return max(1, round(h * factor)), max(1, round(w * factor))


def finish_picture(
    picture: Picture,
    sr: torch.Tensor,
    size: tuple[int, int],
    alpha: np.ndarray | None,
) -> Picture:
    """Model output ``(3, H, W)`` -> a ``Picture`` at ``size``, alpha re-attached."""
    pixels = resize(from_batch(sr, grayscale=picture.grayscale), *size)
    if alpha is not None:
        alpha = resize(alpha, *size)
    return Picture(pixels, alpha, picture.icc_profile, picture.format)


def upscale_alpha(
    upscaler: Upscaler, picture: Picture, out_dtype: torch.dtype, mode: AlphaMode
) -> np.ndarray | None:
    """The alpha channel at the model's scale: bicubic, or through the model like gray."""
    if picture.alpha is None:
        return None
    if mode == "model":
        sr = upscaler(to_batch(picture.alpha[..., None]), out_dtype=out_dtype)[0]
        return from_batch(sr, grayscale=True)[..., 0]
    h, w = picture.alpha.shape
    alpha = picture.alpha if out_dtype != torch.uint8 else _as_uint8(picture.alpha)
    return resize(alpha, h * upscaler.scale, w * upscaler.scale)


def _as_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    return ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def out_dtype_for(picture: Picture, fmt: str) -> torch.dtype:
    """16-bit output for 16-bit input when the format stores it, 8-bit otherwise."""
    return torch.uint16 if picture.bits == 16 and fmt in SIXTEEN_BIT_FORMATS else torch.uint8


def upscale_picture(
    upscaler: Upscaler,
    picture: Picture,
    *,
    scale: float | None = None,
    alpha: AlphaMode = "bicubic",
    bits: int | None = None,
) -> Picture:
    """Upscale one decoded ``Picture`` (colour through the model, alpha apart)."""
    out_dtype = torch.uint16 if (bits or picture.bits) == 16 else torch.uint8
    sr = upscaler(to_batch(picture.pixels), out_dtype=out_dtype)[0]
    size = output_size(picture, upscaler, scale)
    return finish_picture(picture, sr, size, upscale_alpha(upscaler, picture, out_dtype, alpha))


@functools.lru_cache(maxsize=4)
def _cached_upscaler(spec: str, device: str, precision: str, tile: int | None) -> Upscaler:
    return Upscaler(load_model(spec), device=device, precision=precision, tile=tile)


def upscale_image(
    image: np.ndarray | Image.Image,
    model: str | os.PathLike[str] | nn.Module | Upscaler = "default",
    *,
    scale: float | None = None,
    alpha: AlphaMode = "bicubic",
    device: str = "auto",
    precision: str = "fp32",
    tile: int | None = 512,
) -> np.ndarray | Image.Image:
    """Upscale one image in memory; the same kind of image comes back.

    Args:
        image: a PIL image (any mode Pillow opens: L, LA, RGB, RGBA, P, CMYK, I;16, ...),
            or a numpy array ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)``
            (RGBA) of uint8, uint16 or float in [0, 1].
        model: a shipped model's name (``"default"``, ``"fast"``, ...), a weights file,
            a generator (``nn.Module`` with ``scale``) or a ready ``Upscaler`` (fastest for
            many images: the model is not rebuilt).
        scale: output size factor; default the model's own scale (other factors resize
            the model's output, area-averaged when shrinking).
        alpha: ``"bicubic"`` (default) or ``"model"`` for the alpha channel.
        device, precision, tile: as for ``Upscaler`` when ``model`` is not one.

    Returns:
        a PIL image of the input's mode family, or an array of the input's dtype and layout.
    """
    if isinstance(model, Upscaler):
        upscaler = model
    elif isinstance(model, nn.Module):
        upscaler = Upscaler(model, device=device, precision=precision, tile=tile)  # type: ignore[arg-type]
    else:
        upscaler = _cached_upscaler(str(model), device, precision, tile)
    if isinstance(image, Image.Image):
        picture = picture_from_pil(image)
        result = upscale_picture(upscaler, picture, scale=scale, alpha=alpha)
        return picture_to_pil(result)
    array = np.asarray(image)
    floating = np.issubdtype(array.dtype, np.floating)
    if floating:
        array = (np.clip(array, 0, 1) * 65535).round().astype(np.uint16)
    if array.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"expected uint8, uint16 or float pixels, got {array.dtype}")
    squeeze = array.ndim == 2
    if squeeze:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"expected an (H, W[, 1|2|3|4]) image, got shape {image.shape}")
    has_alpha = array.shape[2] in (2, 4)
    picture = Picture(
        np.ascontiguousarray(array[..., :-1] if has_alpha else array),
        np.ascontiguousarray(array[..., -1]) if has_alpha else None,
    )
    result = upscale_picture(upscaler, picture, scale=scale, alpha=alpha)
    out = result.pixels
    if result.alpha is not None:
        out = np.dstack([out, result.alpha])
    if squeeze:
        out = out[..., 0]
    if floating:
        return out.astype(np.float32) / 65535
    return out


def picture_from_pil(image: Image.Image) -> Picture:
    """A ``Picture`` from an in-memory PIL image (same conversions as ``read_image``)."""
    return decode_pil(image)


def picture_to_pil(picture: Picture) -> Image.Image:
    pixels, alpha = picture.pixels, picture.alpha
    if pixels.dtype == np.uint16 and alpha is None and picture.grayscale:
        return Image.fromarray(np.ascontiguousarray(pixels[..., 0]))  # mode I;16
    pixels = _as_uint8(pixels)
    if alpha is not None:
        pixels = np.dstack([pixels, _as_uint8(alpha)])
    # uint8 (H, W) -> L, (H, W, 2) -> LA, (H, W, 3) -> RGB, (H, W, 4) -> RGBA
    return Image.fromarray(np.ascontiguousarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels))


# --- files and folders --------------------------------------------------------------


@dataclass
class Job:
    source: Path
    target: Path
    fmt: str
    # Set when an earlier input already has this output (photo.png and photo.jpg -> photo.png).
    clash: Path | None = None


def output_name(source: Path, fmt: str, suffix: str) -> str:
    return f"{source.stem}{suffix}{FORMATS[fmt][1] if fmt != 'same' else source.suffix}"


def format_for(source: Path, fmt: str) -> str:
    return SUFFIX_FORMATS.get(source.suffix.lower(), "png") if fmt == "same" else fmt


def plan_jobs(
    source: Path, target: Path, *, fmt: str | None = None, suffix: str = ""
) -> tuple[list[Job], list[Path]]:
    """The ``(input, output)`` pairs for a file or a folder, and the files left aside.

    A folder is searched recursively for image suffixes (other files are listed as left
    aside); the output folder mirrors its tree. A file's output is ``target`` itself when
    it has an image suffix (its format then follows that suffix), else a file inside the
    folder ``target``. ``fmt`` ``None`` means PNG.
    Raises ``UsageError`` for a missing input or an output that would replace an input.
    """
    source = source.expanduser()
    target = target.expanduser()
    if source.is_file():
        if target.suffix.lower() in IMAGE_SUFFIXES and not target.is_dir():
            out = target
            if fmt not in (None, "same") and SUFFIX_FORMATS[target.suffix.lower()] != fmt:
                raise UsageError(
                    f"output {target.name} does not match --format {fmt}; change one of them"
                )
            fmt = SUFFIX_FORMATS[target.suffix.lower()]
        else:
            fmt = fmt or "png"
            out = target / output_name(source, fmt, suffix)
            fmt = format_for(source, fmt)
        jobs, ignored = [Job(source, out, fmt)], []
    elif source.is_dir():
        if target.suffix.lower() in IMAGE_SUFFIXES and not target.is_dir():
            raise UsageError(
                f"INPUT {source} is a folder, so OUTPUT must be a folder, not {target.name}"
            )
        fmt = fmt or "png"
        outside = target.resolve()
        if outside == source.resolve():
            # Outputs beside the inputs would be read back as inputs on the next run.
            raise UsageError(
                f"refusing to write into the input folder {source} itself: give another "
                f"output folder (a subfolder such as {source / 'upscaled'} works)"
            )
        files = sorted(p for p in source.rglob("*") if p.is_file())
        if source.resolve() in outside.parents:
            # An output folder inside the input folder is not read back as input.
            files = [p for p in files if outside not in p.resolve().parents]
        images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        ignored = [p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
        jobs = [
            Job(
                p,
                target / p.relative_to(source).parent / output_name(p, fmt, suffix),
                format_for(p, fmt),
            )
            for p in images
        ]
    else:
        raise UsageError(f"input not found: {source} (give an image file or a folder)")
    inputs = {j.source.resolve() for j in jobs}
    for job in jobs:
        if job.target.resolve() in inputs or (
            job.target.exists() and job.target.resolve() == job.source.resolve()
        ):
            raise UsageError(
                f"refusing to overwrite the input {job.source}: choose another output "
                f"folder, a --suffix or a --format"
            )
    claimed: dict[Path, Path] = {}
    for job in jobs:
        first = claimed.setdefault(job.target.resolve(), job.source)
        job.clash = first if first != job.source else None
    return jobs, ignored


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    fp32_fallbacks: int = 0
    oom_retries: int = 0
    megapixels: float = 0.0
    seconds: float = 0.0
    failures: list[tuple[Path, str]] = field(default_factory=list)

    def counts(self) -> list[float]:
        return [
            self.done,
            self.skipped,
            self.failed,
            self.fp32_fallbacks,
            self.oom_retries,
            self.megapixels,
        ]

    def line(self) -> str:
        rate = self.done / self.seconds if self.seconds else 0.0
        mp_rate = self.megapixels / self.seconds if self.seconds else 0.0
        return (
            f"done {self.done}, skipped {self.skipped} (already there), failed {self.failed}, "
            f"fp32 fallbacks {self.fp32_fallbacks}, OOM retries {self.oom_retries}, "
            f"{self.seconds:.1f} s ({rate:.2f} images/s, {mp_rate:.2f} input MP/s)"
        )


@dataclass
class Options:
    scale: float | None = None
    alpha: AlphaMode = "bicubic"
    quality: int = 95
    overwrite: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    batch_size: int = 4
    workers: int = DEFAULT_WORKERS
    progress: bool = True


# Images up to this many pixels are batched together when they have the same size.
BATCH_MAX_PIXELS = 512 * 512


def run_jobs(
    jobs: Sequence[Job],
    upscaler: Upscaler,
    options: Options,
    *,
    report: Callable[[str], None] | None = None,
) -> Summary:
    """Upscale ``jobs``: decode ahead and encode behind in threads, the model in this one."""
    from tqdm.auto import tqdm

    summary = Summary()
    start = time.perf_counter()
    bar = tqdm(
        total=len(jobs),
        unit="img",
        disable=not options.progress,
        dynamic_ncols=True,
        file=sys.stderr,
    )
    say = report or bar.write
    pin = upscaler.device.type == "cuda"

    def fail(job: Job, reason: str) -> None:
        summary.failed += 1
        summary.failures.append((job.source, reason))
        say(f"FAILED {job.source}: {reason}")
        bar.update()

    def decode(job: Job) -> tuple[Picture, torch.Tensor]:
        picture = read_image(job.source, max_pixels=options.max_pixels)
        lr = to_batch(picture.pixels)
        return picture, (lr.pin_memory() if pin else lr)

    def encode(job: Job, picture: Picture) -> None:
        write_image(job.target, picture, fmt=job.fmt, quality=options.quality)

    todo = []
    for job in jobs:
        if job.clash is not None:
            # Never let one input's output replace another's.
            fail(job, f"its output {job.target} is {job.clash}'s; use --format same or --suffix")
        elif job.target.exists() and not options.overwrite:
            summary.skipped += 1
            bar.update()
        else:
            todo.append(job)

    workers = max(1, options.workers)
    with (
        ThreadPoolExecutor(workers, thread_name_prefix="decode") as decoder,
        ThreadPoolExecutor(workers, thread_name_prefix="encode") as encoder,
    ):
        decoding: deque[tuple[Job, Future]] = deque()
        writing: deque[tuple[Job, Future, float]] = deque()
        queue = iter(todo)

        def feed() -> None:
            while len(decoding) < 2 * workers + options.batch_size:
                job = next(queue, None)
                if job is None:
                    return
                decoding.append((job, decoder.submit(decode, job)))

        def collect(block: bool) -> None:
            while writing and (block or writing[0][1].done() or len(writing) > 2 * workers):
                job, future, megapixels = writing.popleft()
                try:
                    future.result()
                except Exception as error:  # one image's problem, the run goes on
                    fail(job, f"cannot write {job.target}: {error}")
                    continue
                summary.done += 1
                summary.megapixels += megapixels
                bar.update()
                elapsed = time.perf_counter() - start
                bar.set_postfix_str(f"{summary.megapixels / max(elapsed, 1e-9):.2f} MP/s")

        def process(batch: list[tuple[Job, Picture, torch.Tensor]]) -> None:
            out_dtype = out_dtype_for(batch[0][1], batch[0][0].fmt)
            try:
                lr = torch.cat([t for _, _, t in batch]) if len(batch) > 1 else batch[0][2]
                sr = upscaler(lr, out_dtype=out_dtype)
            except Exception as error:  # a model failure is one batch's problem
                if len(batch) > 1:  # retry alone, so only the culprit fails
                    for item in batch:
                        process([item])
                    return
                fail(batch[0][0], f"upscaling failed: {type(error).__name__}: {error}")
                return
            for (job, picture, _), image_sr in zip(batch, sr):
                try:
                    alpha = upscale_alpha(upscaler, picture, out_dtype, options.alpha)
                except Exception as error:
                    fail(job, f"upscaling its alpha failed: {error}")
                    continue
                size = output_size(picture, upscaler, options.scale)
                future = encoder.submit(
                    lambda j=job, p=picture, s=image_sr, a=alpha, z=size: encode(
                        j, finish_picture(p, s, z, a)
                    )
                )
                writing.append((job, future, picture.megapixels))
            collect(block=False)

        def key(item: tuple[Job, Picture, torch.Tensor]) -> tuple:
            job, picture, lr = item
            return (lr.shape, lr.dtype, out_dtype_for(picture, job.fmt))

        def drive() -> None:
            batch: list[tuple[Job, Picture, torch.Tensor]] = []
            feed()
            while decoding:
                job, future = decoding.popleft()
                feed()
                try:
                    picture, lr = future.result()
                except ImageError as error:
                    fail(job, str(error))
                    continue
                except Exception as error:
                    fail(job, f"cannot read: {type(error).__name__}: {error}")
                    continue
                item = (job, picture, lr)
                small = lr.shape[-2] * lr.shape[-1] <= BATCH_MAX_PIXELS
                if batch and (
                    not small or key(item) != key(batch[0]) or len(batch) >= options.batch_size
                ):
                    process(batch)
                    batch = []
                batch.append(item)
                if not small:
                    process(batch)
                    batch = []
            if batch:
                process(batch)
            collect(block=True)

        try:
            drive()
        except BaseException:
            # Interrupted: drop queued work; writes already running finish (atomically).
            decoder.shutdown(wait=False, cancel_futures=True)
            encoder.shutdown(wait=False, cancel_futures=True)
            raise
    bar.close()
    summary.fp32_fallbacks = upscaler.fp32_fallbacks
    summary.oom_retries = upscaler.oom_retries
    summary.seconds = time.perf_counter() - start
    return summary


# --- command line -------------------------------------------------------------------


EPILOG = """\
examples:
  python -m srgan.upscale photo.jpg photo_x4.png
  python -m srgan.upscale photos/ upscaled/ --format webp --quality 90 --suffix _x4
  python -m srgan.upscale photos/ upscaled/ --model RealESRGAN_x4plus.pth --tile 256

exit status: 0 all done (or already there), 1 some images failed (each is reported
with its reason; the others are done), 2 usage error (nothing done), 130 interrupted
(finished outputs are complete, no partial files are left).
"""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show ``(default: ...)`` only where there is a value to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, "") or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m srgan.upscale",
        description=(
            "Upscale an image file, or every image in a folder (recursively; the output "
            "folder mirrors the tree). Inputs are never modified; outputs are written "
            "atomically and skipped when already there."
        ),
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("input", type=Path, help="an image file or a folder of images")
    parser.add_argument(
        "output",
        type=Path,
        help="the output file (when INPUT is a file and OUTPUT has an image suffix) or folder",
    )
    parser.add_argument(
        "--model",
        default="default",
        help=(
            f"'default' (the shipped default model, now {DEFAULT_MODEL!r}), a shipped model's "
            f"name (installed: {', '.join(packaged_models()) or 'none'}), or a weights file: "
            ".safetensors, an srgan.fit .ckpt, "
            "or ESRGAN / Real-ESRGAN RRDBNet .pth (loaded without running any code in it)"
        ),
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=None,
        help="output size factor; default the model's scale (others resize its output)",
    )
    parser.add_argument(
        "--format",
        choices=[*FORMATS, "same"],
        default=None,
        help=(
            "output format; 'same' keeps each input's format; default png, or the output "
            "file's suffix when OUTPUT is a file"
        ),
    )
    parser.add_argument("--quality", type=int, default=95, help="JPEG / WebP quality (1-100)")
    parser.add_argument(
        "--suffix",
        default="",
        help="added to each output name, e.g. '_x4' (photo_x4.png); default none",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="redo outputs that already exist (else skipped)"
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
        default=512,
        help="tile size in input pixels (memory bound); 0: whole images. Halved on out-of-memory",
    )
    parser.add_argument(
        "--tile-overlap",
        type=int,
        default=24,
        help="context pixels around each tile (seamless once it covers the receptive field)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=4,
        help="small images of the same size are upscaled together, this many at a time",
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


def make_upscaler(args: argparse.Namespace, device: str | torch.device) -> Upscaler:
    resolved = resolve_device(device) if isinstance(device, str) else device
    precision = args.precision
    if precision == "auto":
        precision = "fp16" if resolved.type == "cuda" else "fp32"
    compile = args.compile and resolved.type == "cuda"
    if args.compile and not compile:
        print("note: --compile is for GPUs; running the model uncompiled on CPU", file=sys.stderr)
    return Upscaler(
        load_model(args.model),
        device=resolved,
        precision=precision,  # type: ignore[arg-type]
        tile=args.tile or None,
        tile_overlap=args.tile_overlap,
        compile=compile,
    )


def options_from(args: argparse.Namespace, *, progress: bool = True) -> Options:
    return Options(
        scale=args.scale,
        alpha=args.alpha,
        quality=args.quality,
        overwrite=args.overwrite,
        max_pixels=int(args.max_pixels * 1e6) or None,
        batch_size=max(1, args.batch_size),
        workers=max(1, args.workers),
        progress=progress and not args.no_progress,
    )


def run_distributed(args: argparse.Namespace, jobs: Sequence[Job]) -> tuple[Summary, int]:
    """``--devices N``: Lightning Fabric launches one process per device; each upscales the
    files ``rank::world_size`` of the shared sorted list, so every image is done once (the
    list is split before any skip check, so ranks agree even while outputs appear)."""
    import lightning as L

    accelerator = {"auto": "auto", "cpu": "cpu", "cuda": "cuda"}[args.device]
    strategy = "ddp" if args.devices > 1 else "auto"
    fabric = L.Fabric(accelerator=accelerator, devices=args.devices, strategy=strategy)
    fabric.launch()
    share = list(jobs)[fabric.global_rank :: fabric.world_size]
    upscaler = make_upscaler(args, fabric.device)
    summary = run_jobs(share, upscaler, options_from(args, progress=fabric.global_rank == 0))
    counts = torch.tensor(summary.counts(), dtype=torch.float64, device=fabric.device)
    total = fabric.all_reduce(counts, reduce_op="sum")
    done, skipped, failed, fallbacks, retries, megapixels = total.tolist()
    summary.done, summary.skipped, summary.failed = int(done), int(skipped), int(failed)
    summary.fp32_fallbacks, summary.oom_retries = int(fallbacks), int(retries)
    summary.megapixels = megapixels
    return summary, fabric.global_rank


def main(argv: Iterable[str] | None = None) -> int:
    """The ``srgan-upscale`` / ``python -m srgan.upscale`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        if not 1 <= args.quality <= 100:
            raise UsageError(f"--quality must be 1..100, got {args.quality}")
        if args.scale is not None and args.scale <= 0:
            raise UsageError(f"--scale must be positive, got {args.scale}")
        if args.tile and args.tile < 8:
            raise UsageError(f"--tile must be 0 (off) or at least 8, got {args.tile}")
        if args.devices is not None and args.devices < 1:
            raise UsageError(f"--devices must be at least 1, got {args.devices}")
        jobs, ignored = plan_jobs(args.input, args.output, fmt=args.format, suffix=args.suffix)
        if not jobs:
            raise UsageError(
                f"no images in {args.input} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        start = time.perf_counter()
        if args.devices is not None:
            summary, rank = run_distributed(args, jobs)
        else:
            summary, rank = run_jobs(jobs, make_upscaler(args, args.device), options_from(args)), 0
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
    if rank == 0:
        if ignored:
            print(f"left aside {len(ignored)} file(s) without an image suffix", file=sys.stderr)
        for path, reason in summary.failures:
            print(f"failed: {path}: {reason}", file=sys.stderr)
        print(summary.line())
    return EXIT_FAILED if summary.failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
