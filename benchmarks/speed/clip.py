"""A short test clip for the video path: a slow pan across one of the sample photos, with a
440 Hz tone as its audio, written with PyAV (no FFmpeg binary needed).

    python -m benchmarks.speed.clip runs/clip.mp4              # 2 s, 320x180, 24 fps, AAC
    python -m srgan.upscale runs/clip.mp4 runs/clip_x4.mp4     # -> 1280x720, audio copied
    python -m benchmarks.speed --model fast --video runs/clip.mp4 --upscale-backends torch onnx

``write_video`` is the writer underneath (the tests make their videos with it too).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from srgan.arguments import at_least, positive_float
from srgan.images import ImageError, read_rgb

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "astronaut.png"
CONTAINERS = (".mp4", ".mkv", ".mov")  # H.264 video with AAC audio


def write_video(
    path: Path,
    frames: Iterable[np.ndarray],
    *,
    rate: int,
    codec: str = "libx264",
    audio: str | None = "aac",
    pts: Sequence[int] | None = None,
) -> Path:
    """``frames`` (H x W x 3 uint8, all one size) at ``rate`` fps into ``path`` (the container
    from its suffix), timestamps ``pts`` in 1/``rate`` units (default 0, 1, 2, ...), with a
    440 Hz mono tone in ``audio`` as long as the video (``None``: no audio)."""
    import av

    container = {".mkv": "matroska"}.get(path.suffix, path.suffix[1:])
    count = 0
    with av.open(str(path), "w", format=container) as out:
        video = out.add_stream(codec, rate=rate)
        video.pix_fmt = "yuv420p"
        video.codec_context.time_base = Fraction(1, rate)
        sound = None
        if audio is not None:
            sound = out.add_stream(audio, rate=48000 if audio == "libopus" else 8000)
            sound.layout = "mono"
        for i, pixels in enumerate(frames):
            if i == 0:
                video.height, video.width = pixels.shape[:2]
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = (pts[i] if pts else i), Fraction(1, rate)
            for packet in video.encode(frame):
                out.mux(packet)
            count += 1
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None:
            sample_rate = sound.codec_context.sample_rate
            samples_total = sample_rate * ((pts[-1] if pts else count - 1) + 1) // rate
            tone = np.sin(2 * np.pi * 440 * np.arange(samples_total) / sample_rate)
            samples = (0.3 * tone * 32767).astype(np.int16)[None]
            for start in range(0, samples_total, 960):
                chunk = av.AudioFrame.from_ndarray(
                    samples[:, start : start + 960], format="s16", layout="mono"
                )
                chunk.sample_rate = sample_rate
                for packet in sound.encode(chunk):
                    out.mux(packet)
            for packet in sound.encode(None):
                out.mux(packet)
    return path


def pan_frames(source: Path, *, frames: int, size: tuple[int, int]) -> Iterable[np.ndarray]:
    """``frames`` crops of ``size`` (width, height) moving diagonally across ``source``."""
    with Image.open(source) as image:
        pixels = np.asarray(image.convert("RGB"))
    width, height = size
    if pixels.shape[0] < height or pixels.shape[1] < width:
        raise ValueError(f"{source} is smaller than {width}x{height}")
    span_x, span_y = pixels.shape[1] - width, pixels.shape[0] - height
    for i in range(frames):
        t = i / max(frames - 1, 1)
        x, y = round(t * span_x), round(t * span_y)
        yield np.ascontiguousarray(pixels[y : y + height, x : x + width])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.speed.clip",
        description="Write a short test clip (a pan across a sample photo, with a tone).",
    )
    parser.add_argument("output", type=Path, help="the video to write (.mp4, .mkv, .mov, ...)")
    parser.add_argument("--seconds", type=positive_float, default=2.0, help="length (default 2)")
    parser.add_argument(
        "--rate", type=at_least(1), default=24, help="frames per second (default 24)"
    )
    parser.add_argument("--size", default="320x180", help="WIDTHxHEIGHT (default 320x180)")
    parser.add_argument(
        "--source",
        type=Path,
        default=SAMPLE,
        help="the photo to pan across (default: samples/astronaut.png)",
    )
    args = parser.parse_args(argv)
    if args.output.suffix.lower() not in CONTAINERS:
        parser.error(
            f"{args.output.name}: the clip is H.264 with AAC audio, which needs "
            f"{', '.join(CONTAINERS)}"
        )
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size {args.size!r}: expected WIDTHxHEIGHT, e.g. 320x180")
    if width < 2 or height < 2 or width % 2 or height % 2:
        parser.error("--size: width and height must be even and at least 2 (4:2:0 video)")
    try:
        height_px, width_px = read_rgb(args.source).shape[:2]  # all of it: truncated files too
    except (OSError, ValueError, ImageError) as error:
        parser.error(f"--source {args.source}: {error}")
    side = (width_px, height_px)
    if side[0] < width or side[1] < height:
        parser.error(
            f"--size {width}x{height}: larger than --source {args.source} "
            f"({side[0]}x{side[1]}); the clip is a window moving across it"
        )
    frames = max(1, round(args.seconds * args.rate))
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        parser.error(f"cannot make the folder of {args.output}: {error}")
    # Written beside the output and renamed when complete: a failed run leaves no clip.
    partial = args.output.with_name(f".{args.output.stem}.partial{args.output.suffix}")
    try:
        write_video(
            partial, pan_frames(args.source, frames=frames, size=(width, height)), rate=args.rate
        )
        partial.replace(args.output)
    finally:
        partial.unlink(missing_ok=True)
    print(f"wrote {args.output}: {frames} frames of {width}x{height} at {args.rate} fps, AAC tone")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
