"""Video in and out: streaming decode, upscale in batches through the one ``Upscaler``,
encode; audio streams copied.

``upscale_video(source, target, upscaler)`` reads ``source`` frame by frame with PyAV
(FFmpeg), upscales batches of frames through ``srgan.inference.Upscaler`` (any backend,
tiled like images), and encodes them as they come, so memory holds a few batches, never
the video. The output keeps the input's frame count and timing (each frame keeps its
timestamp: variable frame rates stay as they were), its colour matrix and range, and every
audio stream (copied as it is when the container takes its codec, else re-encoded to the
container's usual one: AAC, or Opus for WebM). Video is H.264 (VP9 for WebM) in 8-bit
4:2:0 at ``crf`` (lower is better and bigger; default 18 for H.264, 31 for VP9).

The output is written to a temporary file beside the target (named with this process's
id) and renamed into place when complete: a run that is killed or interrupted leaves no
partial video (``srgan.images.atomic_path``). It records the settings it was made with in
the container's ``comment`` (``read_video_tag``). Problems with the input are raised as
``VideoError`` with the reason. Decoding and encoding run in background threads while the
model runs in the calling thread.
"""

from __future__ import annotations

import os
import queue
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from srgan.images import atomic_path
from srgan.inference import Upscaler
from srgan.pictures import from_batch, half_up, module_upscaler, resize, scaled_side

# Container by output suffix (FFmpeg's muxer names).
CONTAINERS = {
    ".mp4": "mp4",
    ".m4v": "mp4",  # Apple's and HandBrake's name for an MP4 with video
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
}
# Video files srgan does not read, and what to do with them.
OTHER_VIDEO_SUFFIXES = frozenset(
    {
        ".3gp",
        ".3g2",
        ".ts",
        ".mts",
        ".m2ts",
        ".flv",
        ".wmv",
        ".asf",
        ".mpg",
        ".mpeg",
        ".ogv",
        ".vob",
    }
)
VIDEO_SUFFIXES = frozenset(CONTAINERS)
# The others: libx264. AVI's is MPEG-4 Part 2 (Xvid's): FFmpeg reads H.264 in AVI a frame
# late (its times from the packets' order), MPEG-4 Part 2 at the times written.
VIDEO_CODECS = {"webm": "libvpx-vp9", "avi": "mpeg4"}
# --crf: x264's and VP9's constant rate factor, MPEG-4 Part 2's constant quantizer.
DEFAULT_CRF = {"libx264": 18, "libvpx-vp9": 31, "mpeg4": 3}
MIN_CRF = {"mpeg4": 1}  # the others: 0
MAX_CRF = {"libx264": 51, "libvpx-vp9": 63, "mpeg4": 31}
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower")
DEFAULT_PRESET = "medium"
# Audio codecs each container stores as they are (copied, not re-encoded).
_PCM = {f"pcm_{kind}{end}" for kind in ("s16", "s24", "s32", "f32", "f64") for end in ("le", "be")}
AUDIO_COPY = {
    "mp4": {"aac", "mp3", "mp2", "alac", "ac3", "eac3", "opus", "flac"},
    "mov": {"aac", "mp3", "alac", "ac3", "eac3", "pcm_u8", *_PCM},
    "matroska": {
        *("aac", "mp3", "mp2", "alac", "ac3", "eac3", "opus", "flac", "vorbis", "dts"),
        *("truehd", "wavpack", "pcm_u8", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be"),
        *("pcm_s32le", "pcm_s32be", "pcm_f32le", "pcm_f64le"),
    },
    "webm": {"opus", "vorbis"},
    "avi": {"mp3", "mp2", "ac3", "pcm_u8", "pcm_s16le", "aac"},
}
AUDIO_CODECS = {"webm": "libopus"}  # the others: aac
# The layout an encoder is given for a channel count (AAC and Opus take each of these).
STANDARD_LAYOUTS = {
    1: "mono",
    2: "stereo",
    3: "3.0",
    4: "quad",
    5: "5.0",
    6: "5.1",
    7: "6.1",
    8: "7.1",
}
# A stream with more damaged video packets than this and than good frames is unreadable
# (fewer are skipped, with a note).
MAX_CORRUPT_PACKETS = 25
TAG_PREFIX = "srgan "


class VideoError(Exception):
    """A video that cannot be read or written; the message says why."""


@dataclass
class VideoResult:
    frames: int
    audio_streams: int
    seconds: float
    width: int
    height: int
    declared: int | None = None  # the frames the input's container declares, if it does
    # The exact (width, height) the scale gives, when odd sides were rounded to even ones.
    exact: tuple[int, int] | None = None
    # When the container declares no frame count (Matroska): the seconds its duration
    # gives, and those the frames written span (first to last timestamp, plus a frame).
    duration: float | None = None
    reached: float | None = None
    dropped: list[str] = field(default_factory=list)  # streams not written ("subtitle")
    reencoded: list[str] = field(default_factory=list)  # audio encoded again ("mp3 -> aac")
    unrotated: int = 0  # a rotation the output's container cannot record (AVI)
    corrupt: int = 0  # video packets the decoder refused, skipped (their frames are missing)

    @property
    def short(self) -> bool:
        """Fewer frames decoded than the container declares, or frames that end clearly
        before its duration (a truncated file?). Timestamps, not a frame count from the
        duration: a variable frame rate makes the latter anything. One frame is let pass:
        AVI files muxed with MP3 audio declare one more than they hold."""
        if self.declared is not None:  # damaged packets skipped are noted apart
            return self.frames + self.corrupt < self.declared - 1
        if self.duration is None or self.reached is None:
            return False
        return self.reached < 0.9 * self.duration

    @property
    def shortfall(self) -> str:
        """What ``short`` found, in words."""
        if self.declared is not None:
            return f"{self.frames} of the {self.declared} frames its container declares"
        return (
            f"{self.frames} frames, {self.reached:.2f} s of the {self.duration:.2f} s its "
            "duration gives,"
        )


def _reason(error: Exception) -> str:
    """FFmpeg's message without its errno and file name."""
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def _index_missing(path: Path) -> bool:
    """Whether ``path`` is an MP4/MOV whose top-level boxes hold media data (``mdat``) but
    no index (``moov``): a file cut short before the index its writer puts last."""
    found = set()
    try:
        with open(path, "rb") as file:
            size = path.stat().st_size
            offset, boxes = 0, 0
            while offset + 8 <= size and boxes < 256:  # a file has a handful at its top
                boxes += 1
                file.seek(offset)
                length, kind = struct.unpack(">I4s", file.read(8))
                if length == 1:  # a 64-bit size follows
                    (length,) = struct.unpack(">Q", file.read(8))
                found.add(kind)
                if length < 8:  # 0: to the end of the file
                    break
                offset += length
    except (OSError, struct.error):
        return False
    return b"mdat" in found and b"moov" not in found and b"ftyp" in found


def _open(path: Path) -> Any:
    av = _av()
    try:
        if path.stat().st_size == 0:
            raise VideoError("empty file (0 bytes)")
        container = av.open(str(path))
    except av.error.FFmpegError as error:
        reason = _reason(error)
        if _index_missing(path):
            raise VideoError(
                "a truncated MP4/MOV: its frames are there but not its index (the moov box, "
                "written at the end), so none can be found; download or copy it again "
                f"({reason})"
            ) from None
        raise VideoError(f"not a video, or a format FFmpeg cannot read ({reason})") from None
    except OSError as error:
        raise VideoError(f"cannot read: {error.strerror or error}") from None
    # A still image with a video suffix (FFmpeg reads PNG, JPEG, WebP ... as one frame):
    # not a video, whatever its name says.
    kind = container.format.name
    if kind.endswith("_pipe") or kind in ("image2", "bmp", "tiff"):
        container.close()
        image = kind.removesuffix("_pipe")
        raise VideoError(
            f"an image file ({image}), not a video: upscale it as an image (give it its "
            "image suffix; in Python, srgan.upscale_image)"
        )
    return container


def main_video(container: Any) -> Any:
    """The container's main video stream: of those that are not attached pictures, the
    one with the most frames (the first of them), not a cover or thumbnail stored as a
    one-frame stream before it (which MP4's default flag would make FFmpeg's pick)."""
    streams = list(container.streams.video)
    if not streams:
        raise VideoError("no video stream in it")
    moving = [s for s in streams if not s.disposition & _av().stream.Disposition.attached_pic]
    return max(moving or streams, key=lambda s: frame_count(s) or 0)


def display_rotation(path: Path) -> int:
    """The rotation a player applies to the frames (a phone's portrait video: 90 or
    -90), from the first frame; 0 when none is stated."""
    with _open(path) as container:
        stream = main_video(container)
        try:
            for frame in container.decode(stream):
                return round(getattr(frame, "rotation", 0) or 0)
        except _av().error.FFmpegError:
            pass  # no first frame to read it from: the upscale itself says why
    return 0


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise VideoError(
            "video needs PyAV (pip install av), which srgan installs; reinstall srgan"
        ) from None
    return av


def container_of(path: Path) -> str:
    try:
        return CONTAINERS[path.suffix.lower()]
    except KeyError:
        raise VideoError(
            f"{path.name}: not a video suffix; use one of {', '.join(sorted(CONTAINERS))}"
        ) from None


def output_codec(suffix: str) -> str:
    """The video codec written into an output of this suffix."""
    return VIDEO_CODECS.get(CONTAINERS.get(suffix.lower(), ""), "libx264")


def check_encoding(suffix: str, crf: int | None, preset: str) -> None:
    """``ValueError`` for a ``crf`` or ``preset`` the output's codec cannot take."""
    codec = output_codec(suffix)
    low = MIN_CRF.get(codec, 0)
    if crf is not None and not low <= crf <= MAX_CRF[codec]:
        raise ValueError(f"--crf for {codec} must be {low}..{MAX_CRF[codec]}, got {crf}")
    if preset not in PRESETS:
        raise ValueError(f"--preset must be one of {', '.join(PRESETS)}, got {preset!r}")


def read_video_tag(path: str | Path) -> str | None:
    """The settings tag ``upscale_video`` stored in a video's ``comment``, or ``None``."""
    try:
        av = _av()
        with av.open(str(path)) as container:
            # Matroska stores tag names in capitals.
            found = {k.lower(): v for k, v in container.metadata.items()}
    except Exception:  # noqa: BLE001 - unreadable or not a video: no tag
        return None
    comment = found.get("comment", "")
    return comment[len(TAG_PREFIX) :] if comment.startswith(TAG_PREFIX) else None


def frame_count(stream: Any) -> int | None:
    """The number of frames the container declares, or an estimate from the duration
    (Matroska declares no frame count)."""
    if stream.frames:
        return int(stream.frames)
    rate = stream.average_rate or stream.guessed_rate
    seconds = duration_seconds(stream)
    return round(seconds * float(rate)) if rate and seconds is not None else None


def duration_seconds(stream: Any) -> float | None:
    """The stream's duration: its own, else as Matroska tags it, else the container's."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    # These count from 0, not from the first frame: a stream that starts late (timestamps
    # from 0.3 s) lasts that much less.
    start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
    seconds = _tagged_seconds(stream)
    if seconds is None and stream.container.duration:
        seconds = stream.container.duration / 1_000_000  # AV_TIME_BASE
    if seconds is None:
        return None
    return seconds - start if seconds > start > 0 else seconds


def _tagged_seconds(stream: Any) -> float | None:
    """The stream's own duration as FFmpeg's Matroska muxer tags it ("00:00:01.250000000"),
    which a longer audio track does not stretch as it does the container's."""
    found = {k.lower(): v for k, v in stream.metadata.items()}
    try:
        hours, minutes, seconds = found["duration"].split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except (KeyError, ValueError):
        return None


def probe(path: str | Path) -> dict[str, Any]:
    """What ``upscale_video`` will read: size, frame rate, frames, audio streams."""
    with _open(Path(path)) as container:
        stream = main_video(container)
        return {
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "rate": stream.average_rate or stream.guessed_rate,
            "frames": frame_count(stream),
            "audio_streams": len(container.streams.audio),
            "codec": stream.codec_context.name,
        }


class _Background:
    """Run ``produce(put)`` in a thread; iterate over what it puts. Its exception is
    raised in the consumer; ``close`` stops it."""

    _END = object()

    def __init__(self, produce: Callable[[Callable[[Any], None]], None], size: int) -> None:
        self.items: queue.Queue = queue.Queue(size)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(produce,), daemon=True)
        self.thread.start()

    def _put(self, item: Any) -> None:
        while not self.stop.is_set():
            try:
                self.items.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def _run(self, produce: Callable[[Callable[[Any], None]], None]) -> None:
        try:
            produce(self._put)
        except _Stopped:
            return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer
            self.error = error
        self._put_end()

    def _put_end(self) -> None:
        try:
            self._put(self._END)
        except _Stopped:
            pass

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self.items.get()
            if item is self._END:
                if self.error is not None:
                    raise self.error
                return
            yield item

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


class _Stopped(Exception):
    pass


def upscale_video(
    source: str | Path,
    target: str | Path,
    upscaler: Upscaler | nn.Module | str,
    *,
    outscale: float | None = None,
    crf: int | None = None,
    preset: str = DEFAULT_PRESET,
    batch_size: int = 4,
    tag: str | None = None,
    max_pixels: int | None = None,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int | None], None] | None = None,
) -> VideoResult:
    """Upscale the video ``source`` into ``target`` (its suffix picks the container) with
    ``upscaler`` (or the model a name or file gives, as ``srgan.backends.build_upscaler``,
    or a network in memory, run as ``srgan.upscale_image`` runs one).

    ``progress(n)`` is called with the number of frames written after each batch,
    ``total(frames)`` once with the frame count the input declares (``None`` if unknown).
    ``max_pixels`` refuses frames above that size. ``VideoError`` says what is wrong with
    the input; nothing is left at ``target`` when anything fails.
    """
    av = _av()
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise VideoError(f"{source}: no such file")
    if target.resolve() == source.resolve() or (
        target.exists() and os.path.samefile(source, target)  # case-insensitive volumes
    ):
        raise ValueError(f"refusing to write over the input {source}: give another target")
    if isinstance(upscaler, nn.Module):
        upscaler = module_upscaler(upscaler)
    elif not isinstance(upscaler, Upscaler):  # a model's name or file
        from srgan.backends import build_upscaler

        upscaler = build_upscaler(str(upscaler))
    fmt = container_of(target)
    codec = VIDEO_CODECS.get(fmt, "libx264")
    check_encoding(target.suffix, crf, preset)
    start = time.perf_counter()
    with _open(source) as reader:
        video = main_video(reader)
        video.thread_type = "AUTO"
        context = video.codec_context
        width, height = context.width, context.height
        if not width or not height:
            raise VideoError(f"the video stream has no frame size ({context.name})")
        if max_pixels and width * height > max_pixels:
            raise VideoError(
                f"frames too large: {width} x {height} is above the "
                f"{max_pixels / 1e6:.3g} MP limit; raise it with --max-pixels"
            )
        rotation = display_rotation(source)  # after the size check: it decodes a frame
        factor = outscale or upscaler.scale
        # 4:2:0 needs even sides.
        out_height = max(2, half_up(height * factor / 2) * 2)
        out_width = max(2, half_up(width * factor / 2) * 2)
        exact = scaled_side(width, factor), scaled_side(height, factor)
        rate = video.average_rate or video.guessed_rate or Fraction(25)
        declared = int(video.frames) or None
        duration = None if declared else duration_seconds(video)
        if total is not None:
            total(frame_count(video))
        audio = list(reader.streams.audio)
        # Every stream but the audio and the video read (covers, subtitles, data).
        dropped = [s.type for s in reader.streams if s.type != "audio" and s.index != video.index]
        with atomic_path(target) as temporary:
            writer = av.open(str(temporary), "w", format=fmt, options=_mux_options(fmt))
            try:
                _copy_tags(reader, writer, KEPT_CONTAINER_TAGS)
                if tag is not None:
                    writer.metadata["comment"] = TAG_PREFIX + tag
                encoder = _video_stream(
                    writer, codec, rate, video, (out_width, out_height), crf, preset
                )
                if rotation and fmt != "avi":  # AVI has no field for it: said by the caller
                    encoder.set_display_rotation(rotation)
                audio_out = {a.index: _audio_stream(writer, a, fmt) for a in audio}
                reencoded = [
                    f"{_codec_name(a)} -> {audio_out[a.index].stream.codec_context.name}"
                    for a in audio
                    if not audio_out[a.index].copied
                ]
                frames, span, corrupt = _pipeline(
                    reader,
                    video,
                    audio,
                    audio_out,
                    writer,
                    encoder,
                    upscaler,
                    (out_height, out_width),
                    batch_size,
                    progress,
                )
                if frames == 0:  # raised here, so that the empty output is removed
                    raise VideoError("no frames could be decoded")
            finally:
                writer.close()
    seconds = time.perf_counter() - start
    exact = None if exact == (out_width, out_height) else exact
    return VideoResult(
        frames,
        len(audio),
        seconds,
        out_width,
        out_height,
        declared,
        exact,
        duration=duration,
        reached=span,
        dropped=dropped,
        reencoded=reencoded,
        corrupt=corrupt,
        unrotated=rotation if fmt == "avi" else 0,
    )


# Tags kept from the input: a container's title, each stream's language and title (which
# tell audio tracks apart). Matroska writes tag names in capitals.
KEPT_CONTAINER_TAGS = ("title",)
KEPT_STREAM_TAGS = ("language", "title")


def _copy_tags(source: Any, target: Any, names: Sequence[str]) -> None:
    found = {k.lower(): v for k, v in source.metadata.items()}
    for name in names:
        if found.get(name):
            target.metadata[name] = found[name]


def _codec_name(stream: Any) -> str:
    """The codec's own name, not its decoder's (MP3 decodes with ``mp3float``)."""
    context = stream.codec_context
    return getattr(context.codec, "canonical_name", None) or context.name


def _mux_options(fmt: str) -> dict[str, str]:
    # MP4 / MOV: the index at the front, so players can start before the whole file loads.
    return {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}


def _video_stream(
    writer: Any,
    codec: str,
    rate: Fraction,
    video: Any,
    size: tuple[int, int],
    crf: int | None,
    preset: str,
) -> Any:
    stream = writer.add_stream(codec, rate=rate)
    (stream.width, stream.height), stream.pix_fmt = size, "yuv420p"
    # The input's timestamps are kept, in its own time base (AVI counts frames instead).
    stream.codec_context.time_base = video.time_base if writer.format.name != "avi" else 1 / rate
    source = video.codec_context
    for name in ("colorspace", "color_range", "color_primaries", "color_trc"):
        value = getattr(source, name, None)
        if value:
            setattr(stream.codec_context, name, value)
    # Non-square pixels (anamorphic DVD, HDV): the same shape on screen.
    aspect = getattr(source, "sample_aspect_ratio", None)
    if aspect and aspect != 1:
        stream.codec_context.sample_aspect_ratio = aspect
    quality = crf if crf is not None else DEFAULT_CRF[codec]
    options = {"crf": str(quality)}
    if codec == "libvpx-vp9":
        options |= {"b": "0", "row-mt": "1"}  # constant quality; VP9 threads by rows
    elif codec == "mpeg4":
        # A constant quantizer (the rate control held there), and no B-frames: AVI stores
        # no presentation times, so frames are stored in display order.
        context = stream.codec_context
        context.qmin = context.qmax = quality
        context.bit_rate = 10**9
        options = {"bf": "0"}
    else:
        options["preset"] = preset
    stream.options = options
    _copy_tags(video, stream, KEPT_STREAM_TAGS)
    return stream


@dataclass
class _AudioOut:
    stream: Any
    copied: bool  # packets copied as they are, else decoded and encoded again


def _audio_stream(writer: Any, audio: Any, fmt: str) -> _AudioOut:
    """A copy of ``audio`` when ``fmt`` stores its codec, else an encoder of the usual one."""
    if _codec_name(audio) in AUDIO_COPY[fmt]:
        out = _AudioOut(writer.add_stream_from_template(audio), copied=True)
    else:
        out = _AudioOut(_audio_encoder(writer, audio, fmt), copied=False)
    _copy_tags(audio, out.stream, KEPT_STREAM_TAGS)
    return out


def _audio_encoder(writer: Any, audio: Any, fmt: str) -> Any:
    """A stream of ``fmt``'s usual audio codec for ``audio``'s rate and channels."""
    codec = AUDIO_CODECS.get(fmt, "aac")
    rate = audio.codec_context.sample_rate or 48000
    if codec == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
        rate = 48000
    stream = writer.add_stream(codec, rate=rate)
    channels = audio.codec_context.layout.nb_channels
    # A layout without channel order ("1 channels", as AVI's PCM has) names the usual one.
    stream.layout = STANDARD_LAYOUTS.get(channels, audio.codec_context.layout)
    return stream


def _pipeline(
    reader: Any,
    video: Any,
    audio: list[Any],
    audio_out: dict[int, _AudioOut],
    writer: Any,
    encoder: Any,
    upscaler: Upscaler,
    size: tuple[int, int],
    batch_size: int,
    progress: Callable[[int], None] | None,
) -> tuple[int, float | None, int]:
    """Decode (background thread) -> upscale batches (here) -> encode (background thread).

    Audio packets travel with the frames in demuxing order, so the output interleaves
    them as the input did. Returns the number of frames written and the seconds they
    span (first to last timestamp, plus a frame; ``None`` without frames).
    """
    av = _av()
    step = 1 / (video.average_rate or video.guessed_rate or Fraction(25))

    corrupt = 0
    reasons: list[str] = []

    def decode(put: Callable[[Any], None]) -> None:
        nonlocal corrupt
        count = 0
        first_size = None
        for packet in reader.demux(video, *audio):
            if packet.stream.index != video.index:
                if packet.dts is not None:  # the demuxer's flush packets carry nothing
                    put(("audio", packet))
                continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError as error:
                # A damaged packet (a download with a bad block): skipped and counted, as
                # players do; a stream damaged throughout fails at its end (below).
                corrupt += 1
                reasons.append(_reason(error))
                continue
            for frame in frames:
                first_size = first_size or (frame.width, frame.height)
                if (frame.width, frame.height) != first_size:
                    raise VideoError(
                        f"the frame size changes at frame {count} ({first_size[0]} x "
                        f"{first_size[1]} to {frame.width} x {frame.height}): videos whose "
                        "frame size changes are not supported"
                    )
                count += 1
                put(("frame", frame))

    def encode(items: list[tuple[str, Any]]) -> None:
        for kind, item in items:
            if kind == "frame":
                for packet in encoder.encode(item):
                    writer.mux(packet)
            else:
                _write_audio(writer, audio_out[item.stream.index], item)

    pending: list[tuple[str, Any]] = []  # audio packets and frames waiting for a batch
    batch: list[Any] = []
    written = 0
    first_pts: int | None = None
    last_pts: int | None = None
    # The encoder's time base: the input's, but AVI's counts frames (1 / frame rate).
    base = encoder.codec_context.time_base or video.time_base
    decoder = _Background(decode, size=2 * batch_size + 8)
    encoding: list[Future] = []
    with ThreadPoolExecutor(1, thread_name_prefix="encode") as pool:
        try:

            def flush() -> None:
                nonlocal written, first_pts, last_pts
                upscaled = _upscale_frames(upscaler, batch, size)
                items = []
                for kind, item in pending:
                    if kind == "frame":
                        frame = upscaled.pop(0)
                        last_pts = _timestamp(frame, item, last_pts, step, video.time_base, base)
                        first_pts = last_pts if first_pts is None else first_pts
                        items.append(("frame", frame))
                    else:
                        items.append((kind, item))
                encoding.append(pool.submit(encode, items))
                while len(encoding) > 2:
                    encoding.pop(0).result()
                written += len(batch)
                if progress is not None:
                    progress(len(batch))
                pending.clear()
                batch.clear()

            for kind, item in decoder:
                pending.append((kind, item))
                if kind == "frame":
                    batch.append(item)
                    if len(batch) >= batch_size:
                        flush()
            if corrupt > max(MAX_CORRUPT_PACKETS, written + len(batch)):
                raise VideoError(
                    f"corrupt or unreadable video stream: {corrupt} packets could not be "
                    f"decoded, {written + len(batch)} frames could ({reasons[0]})"
                )
            if batch or pending:
                flush()
            for future in encoding:
                future.result()
            encoding.clear()
            pool.submit(_flush_encoders, writer, encoder, audio_out).result()
        finally:
            decoder.close()
            for future in encoding:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
    if first_pts is None or last_pts is None:
        return written, None, corrupt
    return written, float((last_pts - first_pts) * base + step), corrupt


def _timestamp(
    frame: Any, source: Any, last: int | None, step: Fraction, base: Fraction, out: Fraction
) -> int:
    """Give ``frame`` the source frame's timestamp (in ``base``), counted in the encoder's
    ``out`` time base; one frame after ``last`` when it has none or it does not increase
    there, which encoders refuse (in AVI, one tick per frame, frames of a variable frame
    rate closer together than that move on to the next tick)."""
    pts = source.pts
    if pts is not None and base and out != base:
        pts = round(pts * base / out)
    ticks = max(1, round(step / out)) if out else 1
    if pts is None or (last is not None and pts <= last):
        pts = 0 if last is None else last + ticks
    frame.pts, frame.time_base = pts, out
    return pts


def _upscale_frames(upscaler: Upscaler, frames: list[Any], size: tuple[int, int]) -> list[Any]:
    """Decoded frames -> upscaled ``yuv420p`` frames in the same colour matrix and range."""
    av = _av()
    if not frames:
        return []
    rgb = [f.to_ndarray(format="rgb24", src_color_range=f.color_range or None) for f in frames]
    batch = torch.from_numpy(np.stack(rgb).transpose(0, 3, 1, 2))
    sr = upscaler(batch, out_dtype=torch.uint8)
    out = []
    for frame, image in zip(frames, sr):
        pixels = resize(from_batch(image, grayscale=False), *size)
        upscaled = av.VideoFrame.from_ndarray(pixels, format="rgb24")
        yuv = upscaled.reformat(
            format="yuv420p",
            dst_colorspace=frame.colorspace or None,
            dst_color_range=frame.color_range or None,
        )
        out.append(yuv)
    return out


def _write_audio(writer: Any, out: _AudioOut, packet: Any) -> None:
    if out.copied:
        packet.stream = out.stream
        writer.mux(packet)
        return
    for frame in packet.decode():
        if frame.pts is not None and frame.time_base and frame.sample_rate:
            # In samples, where the encoder (and its resampler) count: an audio track
            # that starts late (a delay) still starts late.
            frame.pts = round(frame.pts * frame.time_base * frame.sample_rate)
            frame.time_base = Fraction(1, frame.sample_rate)
        for encoded in out.stream.encode(frame):
            writer.mux(encoded)


def _flush_encoders(writer: Any, encoder: Any, audio_out: dict[int, _AudioOut]) -> None:
    for packet in encoder.encode(None):
        writer.mux(packet)
    for out in audio_out.values():
        if not out.copied:
            for packet in out.stream.encode(None):
                writer.mux(packet)
