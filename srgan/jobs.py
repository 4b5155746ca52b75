"""Planning and running a folder of image and video files: what to do, doing it, the report.

``plan_jobs`` turns an input file or folder and an output path into ``(input, output)``
jobs (the output folder mirrors the input tree) and refuses layouts that would write over
an input. ``run_jobs`` upscales them with an ``Upscaler``: image files are decoded ahead
and encoded behind in thread pools while the model runs in the calling thread, small
images of one size are batched; videos are streamed frame batch by frame batch
(``srgan.video``), keeping their container. Finished outputs are skipped unless
``overwrite``, and every file that fails is reported by name with the reason while the
rest carry on. Outputs are written atomically (``srgan.images.atomic_path``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch

from srgan.images import (
    DEFAULT_MAX_PIXELS,
    FORMAT_ALIASES,
    FORMATS,
    HEIF_SUFFIXES,
    IMAGE_SUFFIXES,
    MAX_SIDE,
    OTHER_IMAGE_SUFFIXES,
    SUFFIX_FORMATS,
    ImageError,
    Picture,
    check_writable,
    existing_ancestor,
    open_header,
    read_image,
    read_tag,
    sample_bits,
    write_image,
)
from srgan.inference import Upscaler
from srgan.pictures import (
    AlphaMode,
    finish_picture,
    model_input,
    out_dtype_for,
    output_size,
    peak_memory,
    scaled_side,
    upscale_alpha,
)
from srgan.progress import progress_bar
from srgan.video import (
    CONTAINERS,
    DEFAULT_CRF,
    OTHER_VIDEO_SUFFIXES,
    VIDEO_CODECS,
    VIDEO_SUFFIXES,
    VideoError,
    read_video_tag,
    upscale_video,
)

INPUT_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES
# What srgan writes: an output file named on the command line has one of these suffixes.
OUTPUT_SUFFIXES = frozenset(SUFFIX_FORMATS) | VIDEO_SUFFIXES
# Decoding and encoding threads each: half the cores, at least 2, at most 8.
DEFAULT_WORKERS = max(2, min(8, (os.cpu_count() or 2) // 2))


class UsageError(Exception):
    """A problem with the command line itself (exit status 2); the message says what to do."""


@dataclass
class Job:
    source: Path
    target: Path
    fmt: str
    # Set when an earlier input already has this output (photo.png and photo.jpg -> photo.png).
    clash: Path | None = None
    # Why its output cannot be written, found by the planner (a name too long, a folder
    # in the way): the job fails before any work.
    problem: str | None = None
    # The output file was named on the command line (not made from the input's name).
    named: bool = False

    @property
    def video(self) -> bool:
        return is_video(self.source)


def other_video(path: Path) -> bool:
    """A video srgan does not read, by its suffix; a .ts or .mts file only when it starts as
    an MPEG transport stream (a sync byte every 188 bytes), not TypeScript source."""
    suffix = path.suffix.lower()
    if suffix not in OTHER_VIDEO_SUFFIXES:
        return False
    if suffix not in (".ts", ".mts"):
        return True
    try:
        with open(path, "rb") as file:
            head = file.read(189)
    except OSError:
        return False
    return head[:1] == b"\x47" and (len(head) < 189 or head[188:189] == b"\x47")


def unread_video(path: Path) -> str:
    """Why a video of another container is not read, and what to do."""
    known = " ".join(sorted(VIDEO_SUFFIXES))
    return (
        f"a {path.suffix.lower()} video, which srgan does not read ({known}): remux or "
        "convert it to one of these"
    )


def unread_image(path: Path) -> str:
    """Why an image of a format Pillow does not read here is left aside, and what to do."""
    suffix = path.suffix.lower()
    heif = " (or install pillow-heif, srgan's heif extra, to read it)"
    return (
        f"a {suffix} image, which srgan does not read here: convert it to PNG, JPEG or TIFF "
        f"first{heif if suffix in HEIF_SUFFIXES else ''}"
    )


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def output_name(source: Path, fmt: str, suffix: str) -> str:
    """The output file's name: a video keeps its container, an image takes ``fmt`` (with
    ``same``, its own suffix where srgan writes that format)."""
    if is_video(source) or (fmt == "same" and source.suffix.lower() in SUFFIX_FORMATS):
        return f"{source.stem}{suffix}{source.suffix}"
    return f"{source.stem}{suffix}{FORMATS[format_for(source, fmt)][1]}"


def output_tag(path: Path) -> str | None:
    """The settings tag of an output file (image or video), ``None`` if it has none."""
    return read_video_tag(path) if is_video(path) else read_tag(path)


def format_for(source: Path, fmt: str) -> str:
    return SUFFIX_FORMATS.get(source.suffix.lower(), "png") if fmt == "same" else fmt


@dataclass
class Plan:
    """What a run will do: the jobs, and every file it will not process, with the reason.

    ``aside`` are files that were never meant as inputs (no image suffix, images of the
    output folder's own); ``failed`` are would-be inputs that cannot be read (an unreadable
    folder, a broken or looping link): they count as failures of the run.
    """

    jobs: list[Job]
    aside: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def _walk(root: Path, skip: Path | None) -> Plan:
    """Every file under ``root`` (links to folders followed once; ``skip`` not entered),
    sorted, as a plan without jobs: images in ``jobs`` (targets unset), the rest named."""
    plan = Plan([])
    images: list[Path] = []
    seen: set[tuple[int, int]] = set()

    again = "another path to a folder already searched (a link): not searched again"

    def unreadable(error: OSError) -> None:
        plan.failed.append((Path(error.filename or root), f"cannot list folder: {error.strerror}"))

    # The real folders of the tree: a link to one of them is a second path to it, whichever
    # is met first (the real folder keeps its place in the output tree).
    real: set[tuple[int, int]] = set()
    for folder, subfolders, _ in os.walk(root, onerror=lambda error: None):
        if skip is not None:
            subfolders[:] = [d for d in subfolders if (Path(folder) / d).resolve() != skip]
        with contextlib.suppress(OSError):
            status = os.stat(folder)
            real.add((status.st_dev, status.st_ino))

    def second_path(link: Path) -> bool:
        try:
            status = link.stat()
        except OSError:
            return False
        return link.is_symlink() and (status.st_dev, status.st_ino) in real

    top = root.resolve()

    def encloses_root(link: Path) -> bool:
        """A link to the input folder's own parent (or further up): following it would
        search outside the input folder, up to the whole disk for a link to /."""
        if not link.is_symlink():
            return False
        try:
            target = link.resolve(strict=True)
        except (OSError, RuntimeError):  # broken, or a loop
            return False
        return target in top.parents

    for folder, subfolders, files in os.walk(root, onerror=unreadable, followlinks=True):
        here = Path(folder)
        try:
            status = here.stat()
        except OSError as error:
            plan.failed.append((here, f"cannot enter folder: {error.strerror}"))
            subfolders[:] = []
            continue
        if (status.st_dev, status.st_ino) in seen:  # reached again, through a link
            plan.aside.append((here, again))
            subfolders[:] = []
            continue
        seen.add((status.st_dev, status.st_ino))
        if skip is not None:
            subfolders[:] = [d for d in subfolders if (here / d).resolve() != skip]
        for name in [d for d in subfolders if second_path(here / d)]:
            plan.aside.append((here / name, again))
            subfolders.remove(name)
        for name in [d for d in subfolders if encloses_root(here / d)]:
            plan.aside.append((here / name, f"a link to a folder that holds {root}: not searched"))
            subfolders.remove(name)
        subfolders.sort()
        for name in files:
            path = here / name
            image = path.suffix.lower() in INPUT_SUFFIXES
            if name in SYSTEM_FILES or _folder_note(name):
                continue  # a folder's notes (its README, its licence) or an OS's index files
            try:
                exists, regular = path.exists(), path.is_file()
            except OSError as error:  # e.g. a folder that can be listed but not entered
                reason = f"cannot read: {error.strerror}"
                (plan.failed if image else plan.aside).append((path, reason))
                continue
            if name.startswith("._") and _apple_double(path):
                plan.aside.append((path, "macOS metadata (AppleDouble), not an image"))
            elif not exists:
                reason = "a broken or looping link"
                (plan.failed if image else plan.aside).append((path, reason))
            elif not regular:
                plan.aside.append((path, "not a regular file"))
            elif image:
                images.append(path)
            elif other_video(path):
                plan.aside.append((path, unread_video(path)))
            elif path.suffix.lower() in OTHER_IMAGE_SUFFIXES:
                plan.aside.append((path, unread_image(path)))
            else:
                suffix = path.suffix or "none"
                plan.aside.append((path, f"not an image or video suffix ({suffix})"))
    plan.jobs = [Job(p, p, "png") for p in sorted(images)]
    plan.aside.sort()
    plan.failed.sort()
    return plan


# Files that describe a folder (by name, as text) or index it, passed over without a note
# (any other file that is neither an image nor a video is named as left aside).
FOLDER_NOTES = {"README", "LICENSE", "LICENCE", "COPYING", "CREDITS"}
NOTE_SUFFIXES = {"", ".md", ".txt", ".rst"}
SYSTEM_FILES = {".DS_Store", "Thumbs.db", "desktop.ini", ".directory"}


def _folder_note(name: str) -> bool:
    """``README``, ``LICENSE.md``, ``credits.txt``: not ``README.gif`` or ``credits_x.ts``."""
    stem, _, suffix = name.partition(".")
    return stem.upper() in FOLDER_NOTES and ("." + suffix if suffix else "") in NOTE_SUFFIXES


def _apple_double(path: Path) -> bool:
    """Whether ``path`` is a macOS AppleDouble file (``._name``: another file's metadata,
    left on folders copied from a Mac), by its magic number."""
    try:
        with open(path, "rb") as file:
            return file.read(4) == b"\x00\x05\x16\x07"
    except OSError:
        return False


def check_suffix(suffix: str) -> str:
    """``--suffix`` goes into file names: no folder separators, no ``..`` tricks."""
    if any(sep in suffix for sep in ("/", "\\", os.sep)) or suffix in (".", ".."):
        raise UsageError(f"--suffix must not contain a path separator, got {suffix!r}")
    return suffix


EARLIER_OUTPUTS = "srgan wrote (an earlier run's outputs)"


def _file_key(path: Path) -> tuple[int, int] | Path:
    """What makes two paths one file: its device and inode (the other case of a name on a
    file system that ignores case; a hard link too, which an atomic write would not harm
    but is refused all the same), or its resolved path where the file system numbers no
    inodes (0) or the file cannot be read."""
    try:
        status = path.stat()
    except OSError:
        return path.resolve()
    return (status.st_dev, status.st_ino) if status.st_ino else path.resolve()


def _name_key(path: Path) -> str:
    """An output's name as the file system tells names apart by default: without case on
    Windows (``normcase``) and macOS (whose APFS also takes a composed and a decomposed
    accent as one: NFD), so that A.png and a.png are one file there."""
    name = os.path.normcase(str(path.resolve()))
    return unicodedata.normalize("NFD", name).lower() if sys.platform == "darwin" else name


def plan_jobs(
    source: Path,
    target: Path | str,
    *,
    fmt: str | None = None,
    suffix: str = "",
    include_outputs: bool = False,
) -> Plan:
    """The ``(input, output)`` jobs for a file or a folder, and the files not processed.

    A folder is searched recursively for image suffixes; the output folder mirrors its
    tree. A file's output is ``target`` itself when it has an image suffix (its format
    then follows that suffix), else a file inside the folder ``target`` (always so for a
    ``str`` ending in a path separator, as typed on a command line). ``fmt`` ``None``
    means PNG. An input is never written: ``UsageError`` (before any work) for a missing
    input, an output that would replace an input, an output folder that cannot be written,
    and an output folder inside the input folder that already holds images srgan did not
    write (they could not be told from outputs).
    """
    source = _home_unless_there(Path(source))
    # A name ending in a separator is a folder, dots or not (``out.v2/``, ``x4.png/``).
    as_folder = isinstance(target, str) and target.endswith(("/", os.sep))
    target = _home_unless_there(Path(target))
    check_suffix(suffix)
    fmt = FORMAT_ALIASES.get(fmt, fmt) if fmt is not None else None
    if source.is_file():
        if other_video(source):
            raise UsageError(f"INPUT {source.name}: {unread_video(source)}")
        if source.suffix.lower() in OTHER_IMAGE_SUFFIXES:
            raise UsageError(f"INPUT {source.name}: {unread_image(source)}")
        target_is_file = (
            not as_folder and target.suffix.lower() in OUTPUT_SUFFIXES and not _is_dir(target)
        )
        if target.suffix and not target_is_file and not _is_dir(target) and not as_folder:
            # Most likely a mistyped file name (out.pgn): a new folder of that name is not.
            known = " ".join(sorted(OUTPUT_SUFFIXES))
            raise UsageError(
                f"OUTPUT {target.name}: {target.suffix} is not a format srgan writes ({known}); "
                "give a file name with one of these, or a folder (a new folder's name "
                "without a dot, or an existing folder)"
            )
        if target_is_file and is_video(source) != is_video(target):
            kind = "a video" if is_video(source) else "an image"
            raise UsageError(
                f"INPUT {source.name} is {kind}, so OUTPUT must be {kind} file or a folder, "
                f"not {target.name}"
            )
        if target_is_file and is_video(source):
            out, fmt = target, "video"
        elif target_is_file:
            out = target
            named = SUFFIX_FORMATS[target.suffix.lower()]
            if fmt not in (None, "same") and named != fmt:
                raise UsageError(
                    f"output {target.name} does not match --format {fmt}; change one of them"
                )
            if fmt == "same" and named != (kept := format_for(source, "same")):
                raise UsageError(
                    f"output {target.name} is not {source.name}'s format ({kept}), which "
                    "--format same keeps; drop --format same, or change the name"
                )
            fmt = named
        else:
            fmt = fmt or "png"
            out = target / output_name(source, fmt, suffix)
            fmt = "video" if is_video(source) else format_for(source, fmt)
        plan = Plan([Job(source, out, fmt, named=target_is_file)])
    elif source.is_dir():
        if not as_folder and target.suffix.lower() in INPUT_SUFFIXES and not target.is_dir():
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
        inside = source.resolve() in outside.parents
        # An output folder inside the input folder is not searched for inputs.
        plan = _walk(source, outside if inside else None)
        # What an earlier run wrote (say, into another output folder in this one) is not
        # upscaled again, unless given by name.
        earlier = set()
        if not include_outputs:
            earlier = {job.source for job in plan.jobs if output_tag(job.source) is not None}
        if earlier:
            plan.jobs = [job for job in plan.jobs if job.source not in earlier]
            for folder in sorted({path.parent for path in earlier}):
                count = sum(path.parent == folder for path in earlier)
                plan.aside.append(
                    (
                        folder,
                        f"{count} file(s) {EARLIER_OUTPUTS}: not upscaled again (give "
                        "one as INPUT, or --include-outputs, to upscale them again)",
                    )
                )
            plan.aside.sort()
        if inside and outside.is_dir():
            foreign = [j.source for j in _walk(outside, None).jobs if output_tag(j.source) is None]
            if foreign:
                names = ", ".join(str(p) for p in foreign[:3]) + (
                    " ..." if len(foreign) > 3 else ""
                )
                raise UsageError(
                    f"the output folder {target} is inside the input folder {source} and "
                    f"already holds {len(foreign)} image(s) srgan did not write ({names}): "
                    "they could not be told from outputs. Move them, or choose an output "
                    "folder outside the input folder"
                )
        for job in plan.jobs:
            job.target = (
                target
                / job.source.relative_to(source).parent
                / output_name(job.source, fmt, suffix)
            )
            job.fmt = "video" if job.video else format_for(job.source, fmt)
        bmp = [j.source for j in plan.jobs if j.fmt == "bmp"]
        if inside and bmp:
            raise UsageError(
                f"the output folder {target} is inside the input folder {source}, and BMP "
                f"outputs (of {bmp[0]}{' ...' if len(bmp) > 1 else ''}) have no room to record "
                "that srgan made them, so a later run could not tell them from inputs: "
                "choose another --format or an output folder outside the input folder"
            )
    elif source.exists():
        raise UsageError(
            f"INPUT {source} is neither a regular file nor a folder (a pipe, a device?): "
            "save it to a file first"
        )
    else:
        raise UsageError(
            f"input not found: {source} (give an image or video file, or a folder of them)"
        )
    _find_output_problems(plan.jobs)
    inputs = {j.source.resolve() for j in plan.jobs} | {_file_key(j.source) for j in plan.jobs}
    for job in plan.jobs:
        if job.problem is None and (
            job.target.resolve() in inputs
            or (job.target.exists() and _file_key(job.target) in inputs)
        ):
            raise UsageError(
                f"refusing to overwrite the input {job.source}: choose another output "
                f"folder, a --suffix or a --format"
            )
    claimed: dict[str, Path] = {}
    # Of inputs with one output (a.png and a.jpg -> a.png), the one of the output's format
    # takes it; otherwise the first by name.
    for job in sorted(plan.jobs, key=lambda j: j.source.suffix.lower() != j.target.suffix.lower()):
        first = claimed.setdefault(_name_key(job.target), job.source)
        job.clash = first if first != job.source else None
    if plan.jobs:
        try:
            check_writable(target if source.is_dir() else plan.jobs[0].target.parent)
        except OSError as error:
            raise UsageError(f"{error}; choose another output folder") from None
    return plan


def _home_unless_there(path: Path) -> Path:
    """``~`` expanded, as a shell does (Windows shells do not), unless a path of that
    literal name is there (a folder named ``~``, the name quoted on purpose)."""
    if not str(path).startswith("~"):
        return path
    try:
        if Path(path.parts[0]).exists():  # ./~ (or ./~user) is there: that one is meant
            return path
        return path.expanduser()
    except (OSError, RuntimeError):  # no home to expand to
        return path


def _is_dir(path: Path) -> bool:
    """``path.is_dir()``, False where the path cannot even be looked up (a name too long)."""
    try:
        return path.is_dir()
    except OSError:
        return False


def _name_max(folder: Path) -> int | None:
    """The longest file name, in bytes, the file system of ``folder`` (or of its nearest
    existing parent) takes: Linux's NAME_MAX. ``None`` where it is not known as bytes
    (Windows and macOS count characters or UTF-16 units: not checked ahead there)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        limit = os.pathconf(existing_ancestor(folder), "PC_NAME_MAX")
    except (OSError, ValueError, StopIteration):
        return None
    return limit if limit > 0 else None  # -1: no limit the file system states


def _find_output_problems(jobs: list[Job]) -> None:
    """Set ``problem`` on each job whose output cannot be written: a name longer than the
    file system takes, a folder at its path, or a path another output needs as a folder
    (sub.png from sub.jpg, beside sub.png/x.png). Found before any work, the same each run."""
    folders = {parent for job in jobs for parent in job.target.resolve().parents}
    limits: dict[Path, int | None] = {}
    for job in jobs:
        name = job.target.name
        size = len(os.fsencode(name))
        limit = limits.setdefault(job.target.parent, _name_max(job.target.parent))
        if limit is not None and size > limit:
            short = name if len(name) <= 40 else f"{name[:30]}...{name[-8:]}"
            shorten = "OUTPUT" if job.named else "the input's name (or the --suffix)"
            job.problem = (
                f"its output name {short} is {size} bytes, above the {limit} its folder's "
                f"file system takes: shorten {shorten}"
            )
        elif job.target.resolve() in folders:
            job.problem = f"its output {job.target} is also the folder of other outputs"
        else:
            try:
                if job.target.is_dir():
                    job.problem = f"its output {job.target} is a folder; move it"
            except OSError as error:
                job.problem = f"its output {job.target}: {error.strerror or error}"


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    # Of the skipped: outputs there already, made with other settings (another model, ...).
    other_settings: int = 0
    failed: int = 0
    fp32_fallbacks: int = 0
    oom_retries: int = 0
    megapixels: float = 0.0
    seconds: float = 0.0
    # Of the seconds: making the model ready (loading it; on first use, its ONNX export).
    setup_seconds: float = 0.0
    failures: list[tuple[Path, str]] = field(default_factory=list)
    backend: str = ""  # what ran the model (srgan.backends)
    videos: int = 0  # of the done, videos
    frames: int = 0  # their frames

    def counts(self) -> list[float]:
        return [
            self.done,
            self.skipped,
            self.other_settings,
            self.failed,
            self.fp32_fallbacks,
            self.oom_retries,
            self.megapixels,
            self.videos,
            self.frames,
        ]

    def line(self) -> str:
        # Rates over the upscaling itself; a setup of a second or more is said apart.
        seconds = (self.seconds - self.setup_seconds) or float("inf")
        setup = self.setup_seconds >= 1
        other = f", {self.other_settings} made with other settings" if self.other_settings else ""
        frames = f" ({self.frames} video frames)" if self.frames else ""
        images = self.done - self.videos
        rates = []
        if images:
            rates.append(
                f"{images / seconds:.2f} images/s, {self.megapixels / seconds:.2f} input MP/s"
            )
        if self.frames:
            rates.append(f"{self.frames / seconds:.2f} frames/s")
        return (
            f"done {self.done}{frames}, skipped {self.skipped} (already there{other}), "
            f"failed {self.failed}, "
            f"fp32 fallbacks {self.fp32_fallbacks}, OOM retries {self.oom_retries}, "
            f"{self.seconds:.1f} s ("
            + (f"{self.setup_seconds:.1f} s setting up the model, then " if setup else "")
            + f"{', '.join(rates) or 'nothing upscaled'})"
            + (f", backend {self.backend}" if self.backend else "")
        )


@dataclass
class Options:
    """How ``run_jobs`` works. ``tag`` (e.g. the model and settings, as JSON) is stored in
    every output and compared with an existing output's; ``max_memory`` (bytes) refuses
    an image whose upscaling would need more (``None``: no limit)."""

    outscale: float | None = None
    alpha: AlphaMode = "bicubic"
    quality: int = 95
    overwrite: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    max_memory: int | None = None
    batch_size: int = 4
    workers: int = DEFAULT_WORKERS
    progress: bool = True
    tag: str | None = None
    crf: int | None = None  # video quality (srgan.video); None: the codec's default
    preset: str = "medium"  # H.264 encoder speed (srgan.video.PRESETS)


# Images up to this many pixels are batched together when they have the same size.
BATCH_MAX_PIXELS = 512 * 512


def header_size(path: Path) -> tuple[int, int, int] | None:
    """An image's width, height and bits per sample from its header (``None`` when it
    cannot be read: the decoder reports why later)."""
    try:
        with open_header(path) as image:
            return image.width, image.height, sample_bits(image)
    except Exception:  # noqa: BLE001 - any unreadable file: it fails later, with its reason
        return None


def header_megapixels(path: Path) -> float:
    """An image's size in megapixels from its header (0 when it cannot be read)."""
    size = header_size(path)
    return size[0] * size[1] / 1e6 if size else 0.0


class Progress:
    """The progress bar of a run, in input megapixels, so that it moves inside a large
    image (tile by tile, through ``Upscaler.progress``) and its ETA holds for mixed sizes;
    it names the file being upscaled and counts the images done."""

    def __init__(self, jobs: Sequence[Job], *, enabled: bool) -> None:
        self.sizes = {job.source: header_megapixels(job.source) for job in jobs} if enabled else {}
        self.count, self.images = len(jobs), 0
        total = sum(self.sizes.values())
        digits = 1 if total >= 1 else 2 if total >= 0.1 else 3  # small images: not 0.0/0.0
        self.bar = progress_bar(
            enabled,
            log_digits=digits,
            total=total,
            unit="MP",
            bar_format=f"{{desc}}: {{percentage:3.0f}}%|{{bar}}| {{n:.{digits}f}}/"
            f"{{total:.{digits}f}} MP [{{elapsed}}<{{remaining}}, {{rate_noinv_fmt}}{{postfix}}]",
        )
        self.bar.set_postfix_str(f"0/{self.count} images")
        self.expected = self.credited = 0.0

    def write(self, message: str) -> None:
        # stderr, as every other message (stdout is strict about undecodable file names).
        self.bar.write(message, file=sys.stderr)

    def upscaling(self, jobs: Sequence[Job]) -> None:
        """The model starts on ``jobs`` (one image, or a batch of small ones)."""
        name = jobs[0].source.name + (f" +{len(jobs) - 1}" if len(jobs) > 1 else "")
        self.bar.set_description_str(name if len(name) <= 40 else name[:18] + "..." + name[-19:])
        self.expected = sum(self.sizes.get(job.source, 0.0) for job in jobs)
        self.credited = 0.0

    def tiles(self, pixels: int) -> None:
        """``pixels`` more input pixels upscaled (``Upscaler.progress``)."""
        step = min(pixels / 1e6, self.expected - self.credited)
        if step > 0:
            self.credited += step
            self._advance(step)

    def upscaled(self, jobs: Sequence[Job]) -> None:
        """The model is done with ``jobs`` (or they are skipped or failed before it)."""
        self._advance(sum(self.sizes.get(job.source, 0.0) for job in jobs) - self.credited)
        self.expected = self.credited = 0.0

    def _advance(self, megapixels: float) -> None:
        step = min(megapixels, self.bar.total - self.bar.n)  # never past the end (rounding)
        if step > 0:
            self.bar.update(step)

    def finished(self, count: int = 1) -> None:
        """``count`` more images done with (written, skipped or failed)."""
        self.images += count
        self.bar.set_postfix_str(f"{self.images}/{self.count} images")

    def close(self) -> None:
        self.bar.close()


def run_jobs(
    jobs: Sequence[Job],
    upscaler: Upscaler,
    options: Options,
    *,
    report: Callable[[str], None] | None = None,
) -> Summary:
    """Upscale ``jobs``: the images (decoded ahead and encoded behind in threads, the model
    in this one), then the videos, streamed one after the other."""
    # "onnx fp32", "torch fp16"; "onnx-int8" says its precision itself.
    precision = "" if upscaler.precision in upscaler.backend else f" {upscaler.precision}"
    summary = Summary(backend=f"{upscaler.backend}{precision}")
    start = time.perf_counter()
    images = [job for job in jobs if not job.video]
    videos = [job for job in jobs if job.video]
    if images:
        _run_images(images, upscaler, options, summary, report)
    if videos:
        _run_videos(videos, upscaler, options, summary, report)
    summary.fp32_fallbacks = upscaler.fp32_fallbacks
    summary.oom_retries = upscaler.oom_retries
    summary.seconds = time.perf_counter() - start
    return summary


def foreign_output(job: Job, options: Options) -> str | None:
    """Why ``job``'s output path holds a file srgan did not write, which is left alone (it
    may be someone's original; ``--overwrite`` replaces it only where the output file was
    named on the command line), or ``None``. Known only where outputs are tagged (not BMP,
    not without a tag); an empty file is no one's."""
    if options.tag is None or job.fmt == "bmp" or not job.target.is_file():
        return None
    if job.named and options.overwrite:
        return None
    if job.target.stat().st_size == 0 or output_tag(job.target) is not None:
        return None
    found = f"{job.target} is there already and srgan did not write it (it has no srgan tag)"
    if job.named:
        return f"{found}: left alone; --overwrite replaces it"
    return f"{found}: left alone, even with --overwrite; move it, or choose another output folder"


def _skip(job: Job, options: Options, summary: Summary, tag: str | None = None) -> bool:
    """Whether ``job``'s output is there already (and kept); counted in ``summary``.
    An empty file there is no output: it is redone. ``tag``: the one this output gets
    (``options.tag`` unless given)."""
    if not job.target.is_file() or options.overwrite or job.target.stat().st_size == 0:
        return False
    summary.skipped += 1
    tag = options.tag if tag is None else tag
    if tag is not None and output_tag(job.target) not in (None, tag):
        summary.other_settings += 1
    return True


def video_tag(options: Options, suffix: str) -> str | None:
    """The settings a video output (of this suffix) records: the images' (less the alpha
    mode, which videos have none of) and the encoder's, as used: its codec, CRF (the
    codec's default when --crf is not given) and, for H.264, the preset; so that a run
    with other ones is told apart."""
    if options.tag is None:
        return None
    settings = json.loads(options.tag)
    settings.pop("alpha", None)
    codec = VIDEO_CODECS.get(CONTAINERS.get(suffix.lower(), ""), "libx264")
    crf = DEFAULT_CRF[codec] if options.crf is None else options.crf
    settings |= {"codec": codec, "crf": crf}
    if codec == "libx264":
        settings["preset"] = options.preset
    return json.dumps(settings, sort_keys=True)


def _run_videos(
    jobs: Sequence[Job],
    upscaler: Upscaler,
    options: Options,
    summary: Summary,
    report: Callable[[str], None] | None,
) -> None:
    """Each video streamed through the model, with a progress bar in frames (and fps)."""
    from tqdm.auto import tqdm

    def say(message: str) -> None:
        (report or partial(tqdm.write, file=sys.stderr))(message)

    def fail(job: Job, reason: str) -> None:
        summary.failed += 1
        summary.failures.append((job.source, reason))
        say(f"FAILED {job.source}: {reason}")

    for job in jobs:
        if job.problem is not None:
            fail(job, job.problem)
            continue
        if job.clash is not None:
            fail(job, f"its output {job.target} is {job.clash}'s; use --suffix")
            continue
        tag = video_tag(options, job.target.suffix)
        if (foreign := foreign_output(job, options)) is not None:
            fail(job, foreign)
            continue
        if _skip(job, options, summary, tag):
            continue
        name = job.source.name if len(job.source.name) <= 40 else job.source.name[:37] + "..."
        bar = progress_bar(
            options.progress,
            desc=name,
            unit="frame",
            # Shown once the video is under way: no "0frame" line before its frame count
            # is known, none for a file that fails at once.
            delay=0.5,
        )

        def set_total(frames: int | None, bar: Any = bar) -> None:
            # Shown with the next frames (a refresh now would draw it before the delay:
            # a "0/30" line left by a video done or failed within it).
            bar.total = frames

        try:
            result = upscale_video(
                job.source,
                job.target,
                upscaler,
                outscale=options.outscale,
                crf=options.crf,
                preset=options.preset,
                batch_size=options.batch_size,
                tag=tag,
                max_pixels=options.max_pixels,
                progress=bar.update,
                total=set_total,
            )
        except Exception as error:  # noqa: BLE001 - this video fails, the rest go on
            # The bar goes first (the FAILED line says it all; tqdm.write would draw it
            # again below).
            bar.leave = False
            bar.close()
            known = isinstance(error, (VideoError, ValueError))
            fail(job, str(error) if known else f"{type(error).__name__}: {error}")
        else:
            summary.done += 1
            summary.videos += 1
            summary.frames += result.frames
            if result.exact is not None:
                say(
                    f"note: {job.source}: written at {result.width} x {result.height}, not "
                    f"{result.exact[0]} x {result.exact[1]}: 4:2:0 video needs even sides"
                )
            if result.corrupt:
                say(
                    f"note: {job.source}: {result.corrupt} damaged video packet(s) could not be "
                    "decoded and were skipped: the frames they held are missing"
                )
            if result.short:
                say(
                    f"note: {job.source}: {result.shortfall} could be decoded (a truncated "
                    f"file?); the output has {result.frames}"
                )
            if result.unrotated:
                say(
                    f"note: {job.source}: its frames are shown turned by {result.unrotated} "
                    f"degrees, which {job.target.suffix} cannot record: the output plays "
                    "unturned (write .mp4 or .mkv to keep it)"
                )
            if result.dropped:
                kinds = ", ".join(sorted(set(result.dropped)))
                say(
                    f"note: {job.source}: {len(result.dropped)} stream(s) not written "
                    f"({kinds}): srgan writes the main video and the audio"
                )
            if result.reencoded:
                say(
                    f"note: {job.source}: audio encoded again ({', '.join(result.reencoded)}): "
                    f"{job.target.suffix} does not take it as it is"
                )
        finally:
            bar.close()


def _run_images(
    jobs: Sequence[Job],
    upscaler: Upscaler,
    options: Options,
    summary: Summary,
    report: Callable[[str], None] | None,
) -> None:
    """Decode ahead and encode behind in threads, the model in this one."""
    bar = Progress(jobs, enabled=options.progress)
    say = report or bar.write
    pin = upscaler.device.type == "cuda"

    # Bytes reserved for each image from its decoding until its output is written (its
    # estimated peak): images are only taken on while the sum stays within max_memory
    # (one at a time when need be), so the limit holds for all the images in flight.
    held: dict[int, int] = {}

    def need_of(job: Job) -> int:
        size = header_size(job.source)
        if size is None:
            return 0
        return peak_memory(*size, scale=upscaler.scale, outscale=options.outscale)

    def fail(job: Job, reason: str, *, upscaled: bool = False) -> None:
        held.pop(id(job), None)
        summary.failed += 1
        summary.failures.append((job.source, reason))
        say(f"FAILED {job.source}: {reason}")
        if not upscaled:
            bar.upscaled([job])
        bar.finished()

    def fits(job: Job, width: int, height: int, bits: int) -> None:
        """Refuse, from the header, an image whose output its format cannot hold or whose
        upscaling would not fit in --max-memory."""
        factor = options.outscale or upscaler.scale
        out = scaled_side(width, factor), scaled_side(height, factor)
        if (limit := MAX_SIDE.get(job.fmt)) is not None and max(out) > limit:
            raise ImageError(
                f"its {out[0]} x {out[1]} output is too large for {FORMATS[job.fmt][0]} (at "
                f"most {limit} pixels a side): choose --format png or tiff, or a smaller "
                "--outscale"
            )
        if options.max_memory is None:
            return
        need = peak_memory(width, height, bits, scale=upscaler.scale, outscale=options.outscale)
        if need > options.max_memory:
            raise ImageError(
                f"upscaling {width} x {height} needs about {need / 2**30:.3g} GiB of memory, "
                f"above the {options.max_memory / 2**30:.3g} GiB limit; raise it with "
                "--max-memory (GiB) if the machine has it"
            )

    def decode(job: Job) -> tuple[Picture, torch.Tensor]:
        picture = read_image(job.source, max_pixels=options.max_pixels, check=partial(fits, job))
        lr = model_input(picture)
        return picture, (lr.pin_memory() if pin else lr)

    def encode(job: Job, picture: Picture) -> None:
        write_image(job.target, picture, fmt=job.fmt, quality=options.quality, tag=options.tag)

    todo = []
    for job in jobs:
        if job.problem is not None:
            fail(job, job.problem)
        elif job.clash is not None:
            # Never let one input's output replace another's.
            keeps = (
                "--format same keeps both"
                if job.source.suffix.lower() in SUFFIX_FORMATS
                else "rename one of the two to keep both"
            )
            fail(job, f"its output {job.target} is {job.clash}'s; {keeps}")
        elif (foreign := foreign_output(job, options)) is not None:
            fail(job, foreign)
        elif _skip(job, options, summary):
            bar.upscaled([job])
            bar.finished()
        else:
            todo.append(job)

    workers = max(1, options.workers)
    with (
        ThreadPoolExecutor(workers, thread_name_prefix="decode") as decoder,
        ThreadPoolExecutor(workers, thread_name_prefix="encode") as encoder,
    ):
        decoding: deque[tuple[Job, Future]] = deque()
        writing: deque[tuple[Job, Future, float]] = deque()
        pending = deque(todo)

        def feed() -> None:
            while pending and len(decoding) < 2 * workers + options.batch_size:
                need = need_of(pending[0])
                if options.max_memory is not None and held:
                    if sum(held.values()) + need > options.max_memory:
                        return  # until images in flight are written
                job = pending.popleft()
                held[id(job)] = need
                decoding.append((job, decoder.submit(decode, job)))

        def collect(block: bool) -> None:
            while writing and (block or writing[0][1].done() or len(writing) > 2 * workers):
                job, future, megapixels = writing.popleft()
                try:
                    future.result()
                except Exception as error:  # noqa: BLE001 - one image's problem, the run goes on
                    fail(job, f"cannot write {job.target}: {error}", upscaled=True)
                    continue
                held.pop(id(job), None)
                summary.done += 1
                summary.megapixels += megapixels
                bar.finished()

        def process(batch: list[tuple[Job, Picture, torch.Tensor]]) -> None:
            out_dtype = out_dtype_for(batch[0][1], batch[0][0].fmt)
            batch_jobs = [job for job, _, _ in batch]
            bar.upscaling(batch_jobs)
            try:
                lr = torch.cat([t for _, _, t in batch]) if len(batch) > 1 else batch[0][2]
                sr = upscaler(lr, out_dtype=out_dtype)
            except Exception as error:  # noqa: BLE001 - a model failure is one batch's problem
                if len(batch) > 1:  # retry alone, so only the culprit fails
                    for item in batch:
                        process([item])
                    return
                fail(batch[0][0], f"upscaling failed: {type(error).__name__}: {error}")
                return
            bar.upscaled(batch_jobs)
            for (job, picture, _), image_sr in zip(batch, sr):
                try:
                    alpha = upscale_alpha(upscaler, picture, out_dtype, options.alpha)
                except Exception as error:  # noqa: BLE001 - this image fails, the rest go on
                    fail(job, f"upscaling its alpha failed: {error}", upscaled=True)
                    continue
                size = output_size(picture, upscaler, options.outscale)
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
            while decoding or pending:
                if not decoding:  # the memory limit holds the next image back
                    if batch:
                        process(batch)
                        batch = []
                    collect(block=True)
                    feed()
                    continue
                job, future = decoding.popleft()
                feed()
                try:
                    picture, lr = future.result()
                except ImageError as error:
                    fail(job, str(error))
                    continue
                except Exception as error:  # noqa: BLE001 - this image fails, the rest go on
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

        upscaler.progress = bar.tiles
        try:
            drive()
        except BaseException:
            # Interrupted: drop queued work; writes already running finish (atomically).
            decoder.shutdown(wait=False, cancel_futures=True)
            encoder.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            upscaler.progress = None
    bar.close()
