"""Video in and out, on tiny clips the tests make with PyAV: frames, timing and audio kept,
every container, the same pixels as upscaling the frames one by one, and the reliability
guarantees (atomic output, bad files named, re-runs skip or report other settings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from srgan.images import HOST
from srgan.inference import Upscaler
from srgan.upscale import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from srgan.video import VideoError, probe, read_video_tag, upscale_video
from tests.conftest import make_video, tiny_compact
from tests.conftest import run_upscale as run


def frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(f.time) for f in container.decode(video=0)]


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


def audio_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        return sum(frame.samples / frame.sample_rate for frame in container.decode(audio=0))


def codecs(path: Path) -> dict[str, str]:
    with av.open(str(path)) as container:
        return {s.type: s.codec_context.name for s in container.streams}


def test_a_clip_keeps_its_frames_timing_and_audio(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=7)
    code, out, err = run([clip, tmp_path / "clip_x4.mp4", "--model", model_file], capsys)
    assert code == EXIT_OK, err
    assert "done 1 (7 video frames)" in out and "frames/s" in out
    result = tmp_path / "clip_x4.mp4"
    info = probe(result)
    assert (info["width"], info["height"], info["rate"]) == (128, 96, 10)
    assert frame_times(result) == pytest.approx(frame_times(clip))
    assert codecs(result) == {"video": "h264", "audio": "aac"}
    assert audio_packets(result) == audio_packets(clip)  # copied, bit for bit
    assert json.loads(read_video_tag(result))["model"] == "tiny.safetensors"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_variable_frame_timing_is_kept(tmp_path: Path, model_file: Path) -> None:
    clip = make_video(tmp_path / "vfr.mkv", pts=[0, 1, 3, 4, 9, 10], audio=None)
    result = upscale_video(clip, tmp_path / "out.mkv", Upscaler(tiny_compact()), batch_size=4)
    assert result.frames == 6 and result.audio_streams == 0
    assert frame_times(tmp_path / "out.mkv") == pytest.approx([0, 0.1, 0.3, 0.4, 0.9, 1.0])


@pytest.mark.parametrize(
    ("name", "codec", "audio", "expected"),
    [
        ("c.mkv", "libx264", "aac", {"video": "h264", "audio": "aac"}),
        ("c.mov", "libx264", "pcm_s16le", {"video": "h264", "audio": "pcm_s16le"}),
        ("c.webm", "libvpx-vp9", "libopus", {"video": "vp9", "audio": "opus"}),
        ("c.avi", "mpeg4", "pcm_s16le", {"video": "mpeg4", "audio": "pcm_s16le"}),
    ],
)
def test_every_container_in_kind(
    tmp_path: Path, name: str, codec: str, audio: str, expected: dict[str, str]
) -> None:
    clip = make_video(tmp_path / name, codec=codec, audio=audio)
    upscaler = Upscaler(tiny_compact())
    same = tmp_path / "out" / name
    assert upscale_video(clip, same, upscaler, tag="{}").frames == 6
    assert codecs(same) == expected and read_video_tag(same) == "{}"
    assert len(frame_times(same)) == 6
    # Into MP4: audio the container cannot hold is re-encoded (AAC), the rest copied.
    into_mp4 = tmp_path / "mp4" / f"{name}.mp4"
    assert upscale_video(clip, into_mp4, upscaler).frames == 6
    assert codecs(into_mp4)["audio"] == ("aac" if audio == "pcm_s16le" else expected["audio"])
    # The tone lasts as long as it did, give or take AAC's priming and padding (up to two
    # frames of 1024 samples, 0.256 s at this clip's 8 kHz).
    assert audio_seconds(into_mp4) == pytest.approx(audio_seconds(clip), abs=0.26)


def test_frames_are_the_upscaled_frames(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "smooth.mp4", frames=3, size=(48, 32), smooth=True, audio=None)
    upscaler = Upscaler(tiny_compact())
    upscale_video(clip, tmp_path / "out.mp4", upscaler, crf=0)
    with av.open(str(clip)) as source, av.open(str(tmp_path / "out.mp4")) as result:
        inputs = [f.to_ndarray(format="rgb24") for f in source.decode(video=0)]
        outputs = [f.to_ndarray(format="rgb24") for f in result.decode(video=0)]
    batch = torch.from_numpy(np.stack(inputs).transpose(0, 3, 1, 2))
    upscaled = upscaler(batch, out_dtype=torch.uint8).permute(0, 2, 3, 1).numpy()
    # What the frames look like after 4:2:0, as any H.264 player shows them.
    expected = [
        av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        .reformat(format="yuv420p")
        .to_ndarray(format="rgb24")
        for image in upscaled
    ]
    assert outputs[0].shape == (128, 192, 3)
    # crf 0 is lossless: the decoded frames are exactly the upscaled ones, in 4:2:0.
    assert np.abs(np.stack(outputs).astype(int) - np.stack(expected)).max() <= 1


def test_outscale_gives_even_sides_and_says_so(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = make_video(tmp_path / "c.mp4", audio=None)
    result = upscale_video(clip, tmp_path / "o.mp4", Upscaler(tiny_compact()), outscale=1.7)
    assert (result.width, result.height) == (54, 40)  # 32 x 1.7 = 54.4, 24 x 1.7 = 40.8
    assert result.exact == (54, 41)
    args = [clip, tmp_path / "o2.mp4", "--model", model_file, "--outscale", "1.7"]
    code, out, err = run(args, capsys)
    assert code == EXIT_OK and "written at 54 x 40, not 54 x 41: 4:2:0 video needs" in err
    even = upscale_video(clip, tmp_path / "o3.mp4", Upscaler(tiny_compact()), outscale=2)
    assert (even.width, even.height, even.exact) == (64, 48, None)


# --- the reliability guarantees, for videos ---------------------------------------------


def test_a_folder_of_videos_and_images_with_bad_files_named(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    make_video(source / "good.mp4")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(source / "photo.png")
    (source / "empty.mp4").write_bytes(b"")
    (source / "text.mkv").write_text("not a video at all")
    whole = make_video(tmp_path / "whole.mp4", frames=30).read_bytes()
    (source / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    make_video(tmp_path / "sound.mkv")
    with (
        av.open(str(tmp_path / "sound.mkv")) as sound,
        av.open(str(source / "audio-only.mkv"), "w", format="matroska") as out,
    ):
        stream = out.add_stream_from_template(sound.streams.audio[0])
        for packet in sound.demux(audio=0):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    code, out, err = run([source, tmp_path / "out", "--model", model_file], capsys)
    assert code == EXIT_FAILED
    assert "done 2 (6 video frames)" in out and "failed 4" in out
    for name, reason in [
        ("empty.mp4", "empty file (0 bytes)"),
        ("text.mkv", "not a video, or a format FFmpeg cannot read (Invalid data"),
        # Cut before the index its writer puts last: said to be that, not "not a video".
        ("truncated.mp4", "a truncated MP4/MOV: its frames are there but not its index"),
        ("audio-only.mkv", "no video stream"),
    ]:
        assert f"failed: {source / name}: {reason}" in err, err
        assert not (tmp_path / "out" / name).exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.mp4", "photo.png"]


def test_a_truncated_video_is_named_with_the_frames_it_had(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=30, audio=None)
    # The index first (as phones and web videos have it), then cut after 60% of the file.
    with (
        av.open(str(clip)) as source,
        av.open(
            str(tmp_path / "front.mp4"), "w", format="mp4", options={"movflags": "+faststart"}
        ) as out,
    ):
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(video=0):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    data = (tmp_path / "front.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 6 // 10])
    code, out, err = run([tmp_path / "cut.mp4", tmp_path / "o.mp4", "--model", model_file], capsys)
    assert code == EXIT_OK
    frames = len(frame_times(tmp_path / "o.mp4"))
    assert 0 < frames < 30
    assert f"{frames} of the 30 frames its container declares could be decoded" in err


def test_an_interrupted_video_leaves_no_partial_file(
    tmp_path: Path,
    model_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=12)
    real = Upscaler.__call__
    calls = []

    def interrupt_second(self, lr, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, lr, **kwargs)

    monkeypatch.setattr(Upscaler, "__call__", interrupt_second)
    out = tmp_path / "out"
    code, _, err = run([clip, out, "--model", model_file, "--batch-size", "4"], capsys)
    assert code == EXIT_INTERRUPTED and "no partial files" in err
    assert not out.exists() or list(out.iterdir()) == []
    # What a killed run leaves (a temporary named with a dead process's id) goes next time.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], text=True, capture_output=True
    )
    out.mkdir(exist_ok=True)
    stale = out / f".clip.mp4.{HOST}-{dead.stdout.strip()}.abcd0123.part"
    stale.write_bytes(b"half a video")
    monkeypatch.setattr(Upscaler, "__call__", real)
    code, _, err = run([clip, out, "--model", model_file], capsys)
    assert code == EXIT_OK, err
    assert [p.name for p in out.iterdir()] == ["clip.mp4"] and len(
        frame_times(out / "clip.mp4")
    ) == 12


def test_a_video_rerun_skips_or_reports_other_settings(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = make_video(tmp_path / "clip.webm", codec="libvpx-vp9", audio="libopus")
    args = [clip, tmp_path / "out", "--model", model_file]
    assert run(args, capsys)[0] == EXIT_OK
    before = (tmp_path / "out" / "clip.webm").stat().st_mtime_ns
    code, out, _ = run(args, capsys)
    assert code == EXIT_OK and "skipped 1 (already there)" in out
    assert "(nothing upscaled)" in out and "images/s" not in out
    # The settings as used: the codec's default CRF given by name is the same output.
    code, out, _ = run([*args, "--crf", "31"], capsys)
    assert code == EXIT_OK and "skipped 1 (already there)" in out and "other settings" not in out
    code, out, err = run([*args, "--outscale", "2"], capsys)
    assert code == EXIT_OK and "1 made with other settings" in out and "--overwrite" in err
    assert (tmp_path / "out" / "clip.webm").stat().st_mtime_ns == before
    code, out, _ = run([*args, "--outscale", "2", "--overwrite"], capsys)
    assert code == EXIT_OK and probe(tmp_path / "out" / "clip.webm")["width"] == 64
    # The encoder's settings are the video's too; an empty file there is no output.
    code, out, _ = run([*args, "--outscale", "2", "--crf", "40"], capsys)
    assert code == EXIT_OK and "1 made with other settings" in out
    (tmp_path / "out" / "clip.webm").write_bytes(b"")
    code, out, _ = run([*args, "--outscale", "2"], capsys)
    assert code == EXIT_OK and "done 1" in out and probe(tmp_path / "out" / "clip.webm")["width"]


def test_video_options_and_layouts_are_checked(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = make_video(tmp_path / "clip.mp4", audio=None)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "photo.png")
    for args, message in [
        ([clip, tmp_path / "still.png"], "is a video, so OUTPUT must be a video file"),
        ([tmp_path / "photo.png", tmp_path / "moving.mp4"], "is an image, so OUTPUT"),
        ([clip, tmp_path / "o.mp4", "--crf", "99"], "--crf must be"),
        ([clip, tmp_path / "o.mp4", "--devices", "1"], "give videos alone"),
    ]:
        code, _, err = run([*args, "--model", model_file], capsys)
        assert code == EXIT_USAGE and message in err, err
    # A CRF the output's codec cannot take: before any work, naming the codec.
    code, _, err = run([clip, tmp_path / "o.mp4", "--model", model_file, "--crf", "60"], capsys)
    assert code == EXIT_USAGE and "--crf for libx264 must be 0..51" in err
    assert not (tmp_path / "o.mp4").exists()
    # AVI's quantizer starts at 1; a preset its codec does not have is said to be ignored.
    code, _, err = run([clip, tmp_path / "o.avi", "--model", model_file, "--crf", "0"], capsys)
    assert code == EXIT_USAGE and "--crf for mpeg4 must be 1..31" in err
    code, _, err = run(
        [clip, tmp_path / "o.avi", "--model", model_file, "--preset", "slow"], capsys
    )
    assert (
        code == EXIT_OK and "note: --preset is H.264's: the .avi outputs (mpeg4) have none" in err
    )
    # Image options with videos alone are said to do nothing (the video keeps its container).
    code, _, err = run(
        [clip, tmp_path / "vo", "--model", model_file, "--format", "png", "--quality", "80"],
        capsys,
    )
    assert code == EXIT_OK and (tmp_path / "vo" / "clip.mp4").is_file()
    assert "note: --format and --quality apply to images, and these inputs are videos" in err


def test_a_video_that_is_not_one_raises_the_reason(tmp_path: Path) -> None:
    (tmp_path / "fake.mp4").write_text("hello")
    with pytest.raises(VideoError, match="not a video"):
        upscale_video(tmp_path / "fake.mp4", tmp_path / "o.mp4", Upscaler(tiny_compact()))
    assert not (tmp_path / "o.mp4").exists()
    assert os.listdir(tmp_path) == ["fake.mp4"]


def test_frame_rate_and_time_base_of_avi(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "c.avi", codec="mpeg4", audio=None, rate=25)
    upscale_video(clip, tmp_path / "o.avi", Upscaler(tiny_compact()))
    with av.open(str(tmp_path / "o.avi")) as container:
        assert container.streams.video[0].average_rate == Fraction(25)
    assert len(frame_times(tmp_path / "o.avi")) == 6
    # AVI keeps no presentation times: its MPEG-4 Part 2 has no B-frames, so the frames
    # come back in order, each at its time (H.264 in AVI read a frame late).
    clip = make_video(tmp_path / "c.mp4", frames=12, audio=None, rate=25)
    upscale_video(clip, tmp_path / "o2.avi", Upscaler(tiny_compact()))
    times = frame_times(tmp_path / "o2.avi")
    assert times == pytest.approx(frame_times(clip), abs=1e-6) and times[0] == 0
    # A variable frame rate: bursts closer together than AVI's one tick per frame (of the
    # average rate) move on a tick, and every frame is written.
    pts = [0, 1, 2, 3, 30, 31, 60, 61, 90, 91]
    clip = make_video(tmp_path / "vfr.mp4", rate=30, pts=pts, audio=None)
    assert upscale_video(clip, tmp_path / "vfr.avi", Upscaler(tiny_compact())).frames == 10
    times = frame_times(tmp_path / "vfr.avi")
    assert len(times) == 10 and times == sorted(times) and len(set(times)) == 10


def write_clip(
    path: Path,
    *,
    rotation: int | None = None,
    cover: bool = False,
    audio: str | None = None,
    audio_delay: Fraction = Fraction(0),
) -> Path:
    """Six noise frames of 32x24 at 10 fps in H.264, with: a display ``rotation``
    (degrees), a one-frame cover picture stream before the video, an ``audio`` tone
    starting ``audio_delay`` seconds late."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        if cover:
            picture = out.add_stream("mjpeg", rate=1)
            picture.width, picture.height, picture.pix_fmt = 16, 16, "yuvj420p"
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        if rotation is not None:
            video.set_display_rotation(rotation)
        sound = out.add_stream(audio, rate=44100) if audio else None
        if sound is not None:
            sound.layout = "mono"
        if cover:
            still = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
            for packet in [*picture.encode(still.reformat(format="yuvj420p")), *picture.encode()]:
                out.mux(packet)
        for i in range(6):
            pixels = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if sound is not None:
            rate, delay = 44100, round(audio_delay * 44100)
            tone = (8000 * np.sin(np.arange(rate * 6 // 10) / 10)).astype(np.int16)[None]
            for start in range(0, tone.shape[1], 1152):
                chunk = av.AudioFrame.from_ndarray(
                    tone[:, start : start + 1152], format="s16", layout="mono"
                )
                chunk.sample_rate, chunk.pts = rate, delay + start
                chunk.time_base = Fraction(1, rate)
                out.mux(sound.encode(chunk))
            out.mux(sound.encode())
    return path


def test_the_main_video_upright_and_its_audio_in_time(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A phone's portrait video: the player turns the frames; the output says so too.
    write_clip(tmp_path / "portrait.mkv", rotation=90, audio="libmp3lame")
    code, out, err = run(
        [tmp_path / "portrait.mkv", tmp_path / "up.mkv", "--model", model_file], capsys
    )
    assert code == EXIT_OK, err
    with av.open(str(tmp_path / "up.mkv")) as video:
        assert next(video.decode(video=0)).rotation == 90
        # MP3 (decoded by "mp3float") is copied into Matroska, which takes it.
        assert video.streams.audio[0].codec_context.codec.canonical_name == "mp3"
    assert audio_packets(tmp_path / "up.mkv") == audio_packets(tmp_path / "portrait.mkv")
    # A cover picture stored as a stream before the video: the video is upscaled, the
    # picture named as left out.
    write_clip(tmp_path / "covered.mkv", cover=True)
    code, out, err = run(
        [tmp_path / "covered.mkv", tmp_path / "up2.mkv", "--model", model_file], capsys
    )
    assert code == EXIT_OK and "1 stream(s) not written (video)" in err, out
    assert len(frame_times(tmp_path / "up2.mkv")) == 6
    # In MP4 too, where the cover's track comes first with the default flag.
    write_clip(tmp_path / "covered.mp4", cover=True)
    code, out, err = run(
        [tmp_path / "covered.mp4", tmp_path / "up2.mp4", "--model", model_file], capsys
    )
    assert code == EXIT_OK and len(frame_times(tmp_path / "up2.mp4")) == 6, err
    # AVI cannot record a rotation: said, not lost in silence.
    code, out, err = run(
        [tmp_path / "portrait.mkv", tmp_path / "up.avi", "--model", model_file], capsys
    )
    assert code == EXIT_OK and "turned by 90 degrees, which .avi cannot record" in err, out
    # Audio encoded again (MP3 into WebM: Opus) starts when it started, and is said to.
    write_clip(tmp_path / "late.mkv", audio="libmp3lame", audio_delay=Fraction(1, 2))
    code, out, err = run(
        [tmp_path / "late.mkv", tmp_path / "late.webm", "--model", model_file], capsys
    )
    assert code == EXIT_OK and "audio encoded again (mp3 -> libopus)" in err, out
    with av.open(str(tmp_path / "late.webm")) as video:
        audio = video.streams.audio[0]
        first = next(p for p in video.demux(audio) if p.pts is not None)
        assert 0.4 < float(first.pts * audio.time_base) < 0.6


def test_a_truncated_matroska_is_named_from_its_duration(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Matroska declares no frame count: the stream's duration tag says how many to expect.
    clip = make_video(tmp_path / "clip.mkv", frames=30, audio=None)
    code, out, err = run([clip, tmp_path / "whole.mkv", "--model", model_file], capsys)
    assert code == EXIT_OK and "truncated" not in err
    data = clip.read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) // 2])
    code, out, err = run([tmp_path / "cut.mkv", tmp_path / "o.mkv", "--model", model_file], capsys)
    frames = len(frame_times(tmp_path / "o.mkv"))
    assert code == EXIT_OK and 0 < frames < 27
    assert f"{frames} frames, " in err and "s its duration gives, could be decoded" in err
    # A complete one with a variable frame rate (a second at 60 fps, then 2 fps): its
    # frames reach its end, whatever a count from its duration would say.
    pts = [*range(60), *range(90, 330, 30)]
    clip = make_video(tmp_path / "vfr.mkv", rate=60, pts=pts, audio=None)
    code, out, err = run([clip, tmp_path / "vfr_o.mkv", "--model", model_file], capsys)
    assert code == EXIT_OK and "truncated" not in err
    assert len(frame_times(tmp_path / "vfr_o.mkv")) == len(pts)
    # A complete one whose timestamps start late (at 2 s): its duration counts from 0.
    clip = make_video(tmp_path / "late.mkv", rate=10, pts=[20 + i for i in range(20)], audio=None)
    code, out, err = run([clip, tmp_path / "late_o.mkv", "--model", model_file], capsys)
    assert code == EXIT_OK and "truncated" not in err, err


def test_upscale_video_in_python_takes_a_model_and_never_its_input(
    tmp_path: Path, model_file: Path
) -> None:
    clip = make_video(tmp_path / "clip.mp4", audio=None)
    before = clip.read_bytes()
    with pytest.raises(ValueError, match="refusing to write over the input"):
        upscale_video(clip, tmp_path / "." / "clip.mp4", Upscaler(tiny_compact()))
    assert clip.read_bytes() == before
    with pytest.raises(VideoError, match="nowhere.mp4: no such file"):
        upscale_video(tmp_path / "nowhere.mp4", tmp_path / "o.mp4", Upscaler(tiny_compact()))
    result = upscale_video(clip, tmp_path / "o.mp4", str(model_file))  # a model file
    assert result.frames == 6


def test_an_image_with_a_video_suffix_is_not_a_video(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "still.mp4", format="PNG")
    with pytest.raises(VideoError, match=r"an image file \(png\), not a video"):
        upscale_video(tmp_path / "still.mp4", tmp_path / "o.mp4", Upscaler(tiny_compact()))
    assert not (tmp_path / "o.mp4").exists()


def test_the_test_clip_pans_a_sample_photo_with_sound(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks.speed.clip import main as make_clip

    clip = tmp_path / "clip.mp4"
    assert make_clip([str(clip), "--seconds", "0.5", "--rate", "8", "--size", "64x36"]) == 0
    assert "4 frames of 64x36 at 8 fps" in capsys.readouterr().out
    info = probe(clip)
    assert (info["width"], info["height"], info["rate"]) == (64, 36, 8)
    assert len(frame_times(clip)) == 4 and audio_seconds(clip) == pytest.approx(0.5, abs=0.2)
    with av.open(str(clip)) as container:
        first, last = (f.to_ndarray(format="rgb24") for f in list(container.decode(video=0))[::3])
    assert np.abs(first.astype(int) - last).mean() > 10  # the view moves
    with pytest.raises(SystemExit):
        make_clip([str(clip), "--size", "63x36"])


def test_the_test_clip_refuses_what_it_cannot_write_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks.speed.clip import main as make_clip

    (tmp_path / "text.png").write_text("not an image")
    for args, message in [
        (["clip.webm"], "needs .mp4, .mkv, .mov"),
        (["clip.mp4", "--size", "4000x4000"], "larger than --source"),
        (["clip.mp4", "--size", "0x0"], "at least 2"),
        (["clip.mp4", "--rate", "0"], "at least 1"),
        (["clip.mp4", "--seconds", "-1"], "above 0"),
        (["clip.mp4", "--source", str(tmp_path / "text.png")], "--source"),
    ]:
        with pytest.raises(SystemExit) as stop:
            make_clip([str(tmp_path / args[0]), *args[1:]])
        assert stop.value.code == 2 and message in capsys.readouterr().err, args
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.png"]  # nothing written


@pytest.mark.parametrize(
    ("name", "audio"), [("a.mkv", "pcm_s24le"), ("a.mkv", "pcm_f32le"), ("a.mov", "pcm_s16be")]
)
def test_audio_the_container_holds_is_copied_into_the_same_container(
    tmp_path: Path, name: str, audio: str
) -> None:
    clip = make_video(tmp_path / name, audio=audio)
    out = tmp_path / "out" / name
    result = upscale_video(clip, out, Upscaler(tiny_compact()))
    assert result.reencoded == [] and codecs(out)["audio"] == codecs(clip)["audio"]
    assert audio_packets(out) == audio_packets(clip)


def test_non_square_pixels_keep_their_shape(tmp_path: Path) -> None:
    clip = tmp_path / "anamorphic.mp4"
    with av.open(str(clip), "w") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        video.codec_context.sample_aspect_ratio = Fraction(4, 3)
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(
                np.full((24, 32, 3), 40 * i, np.uint8), format="rgb24"
            )
            frame.pts, frame.time_base = i, Fraction(1, 10)
            out.mux(video.encode(frame))
        out.mux(video.encode())
    upscale_video(clip, tmp_path / "out.mp4", Upscaler(tiny_compact()))
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.streams.video[0].codec_context.sample_aspect_ratio == Fraction(4, 3)


def test_a_frame_size_that_changes_is_refused_with_where(tmp_path: Path) -> None:
    clip = tmp_path / "resized.mkv"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuvj420p"
        for i, (w, h) in enumerate([(32, 24)] * 3 + [(48, 32)] * 3):
            encoder = av.CodecContext.create("mjpeg", "w")
            encoder.width, encoder.height, encoder.pix_fmt = w, h, "yuvj420p"
            encoder.time_base = Fraction(1, 10)
            frame = av.VideoFrame.from_ndarray(np.zeros((h, w, 3), np.uint8), format="rgb24")
            frame = frame.reformat(format="yuvj420p")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            for packet in [*encoder.encode(frame), *encoder.encode(None)]:
                packet.stream = stream
                packet.pts = packet.dts = i
                packet.time_base = Fraction(1, 10)
                out.mux(packet)
    with pytest.raises(VideoError, match=r"frame size changes at frame 3 \(32 x 24 to 48 x 32\)"):
        upscale_video(clip, tmp_path / "out.mkv", Upscaler(tiny_compact()), batch_size=2)
    assert not (tmp_path / "out.mkv").exists()


def test_m4v_is_an_mp4_and_other_video_files_are_named_not_read(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = make_video(tmp_path / "phone.mp4", audio=None)
    clip = clip.rename(tmp_path / "phone.m4v")
    code, _, err = run([clip, tmp_path / "phone_x4.m4v", "--model", model_file], capsys)
    assert code == EXIT_OK, err
    assert probe(tmp_path / "phone_x4.m4v")["width"] == 128
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "tv.ts").write_bytes(b"\x47" * 188)
    code, _, err = run([tmp_path / "box" / "tv.ts", tmp_path / "o"], capsys)
    assert code == EXIT_USAGE and "a .ts video, which srgan does not read" in err, err
    code, _, err = run([tmp_path / "box", tmp_path / "o", "--model", model_file], capsys)
    assert "tv.ts: a .ts video, which srgan does not read" in err, err
    # A .ts that is not a transport stream (TypeScript source) is not called a video.
    (tmp_path / "box" / "app.ts").write_text("export const x = 1;\n")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "box" / "photo.png")
    code, _, err = run([tmp_path / "box", tmp_path / "o", "--model", model_file], capsys)
    assert code == EXIT_OK and "app.ts: not an image or video suffix (.ts)" in err, err


def mjpeg_clip(path: Path, bad: set[int], frames: int = 6) -> Path:
    """``frames`` MJPEG frames of 32x24 in Matroska, garbage in the packets of ``bad``."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuvj420p"
        for i in range(frames):
            pixels = np.full((24, 32, 3), 30 * (i % 8), np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuvj420p")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            for packet in stream.encode(frame):
                if i in bad:  # a block of the download gone bad
                    packet = av.Packet(b"\xff\xd8 not a picture" * 4)
                    packet.stream, packet.pts, packet.dts = stream, i, i
                    packet.time_base = Fraction(1, 10)
                out.mux(packet)
        out.mux(stream.encode())
    return path


def test_damaged_packets_are_skipped_and_counted_and_a_ruined_stream_refused(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = mjpeg_clip(tmp_path / "damaged.mkv", bad={2})
    code, out, err = run([clip, tmp_path / "out.mkv", "--model", model_file], capsys)
    assert code == EXIT_OK, err
    assert "1 damaged video packet(s) could not be decoded and were skipped" in err
    assert len(frame_times(tmp_path / "out.mkv")) == 5
    # In a container that declares its frame count, the skipped frames are not called a
    # truncated file as well.
    clip = mjpeg_clip(tmp_path / "damaged.mov", bad={2, 3})
    code, out, err = run([clip, tmp_path / "out.mov", "--model", model_file], capsys)
    assert code == EXIT_OK and "2 damaged video packet(s)" in err and "truncated" not in err, err
    ruined = mjpeg_clip(tmp_path / "ruined.mkv", bad=set(range(1, 40)), frames=40)
    with pytest.raises(VideoError, match="39 packets could not be decoded, 1 frames could"):
        upscale_video(ruined, tmp_path / "ruined_x4.mkv", Upscaler(tiny_compact()))
    assert not (tmp_path / "ruined_x4.mkv").exists()


@pytest.mark.parametrize(("layout", "expected"), [("2.1", "3.0"), ("quad", "quad"), ("5.0", "5.0")])
def test_pcm_of_unnamed_channel_layouts_is_encoded_again(
    tmp_path: Path, layout: str, expected: str
) -> None:
    """Matroska keeps a PCM track's channel count, not its layout ("3 channels"): AAC is
    given the usual layout of that many channels."""
    clip = tmp_path / "surround.mkv"
    channels = len(av.AudioLayout(layout).channels)
    with av.open(str(clip), "w") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        sound = out.add_stream("pcm_s16le", rate=8000)
        sound.layout = layout
        for i in range(4):
            frame = av.VideoFrame.from_ndarray(np.zeros((24, 32, 3), np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 10)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        tone = np.zeros((1, 3200 * channels), np.int16)  # packed: samples x channels
        chunk = av.AudioFrame.from_ndarray(tone, format="s16", layout=layout)
        chunk.sample_rate, chunk.pts = 8000, 0
        out.mux(sound.encode(chunk))
        out.mux(sound.encode())
    result = upscale_video(clip, tmp_path / "out.mp4", Upscaler(tiny_compact()))
    assert result.reencoded == ["pcm_s16le -> aac"]
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert container.streams.audio[0].codec_context.layout.name == expected
