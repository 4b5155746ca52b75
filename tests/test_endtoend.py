"""End-to-end throughput per backend (what benchmarks.speed reports beside its model-only
rows): each run is the command in its own process, timed and measured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.speed.endtoend import video_throughput
from srgan.images import Picture, write_image
from srgan.weights import save_generator
from tests.conftest import make_video, tiny_compact


@pytest.fixture
def model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SRGAN_CACHE", str(tmp_path / "cache"))  # the children's cache
    return save_generator(tiny_compact(), tmp_path / "tiny.safetensors")


@pytest.mark.slow  # srgan.upscale in a process per backend and round: about 13 s
def test_images_per_second_on_a_folder_per_backend(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through benchmarks.speed --folder (its first two images): rows, ratio lines and
    where it wrote."""
    from benchmarks.speed.cli import main

    folder = tmp_path / "photos"
    folder.mkdir()
    for i, size in enumerate([(16, 24), (8, 8), (20, 12)]):
        pixels = np.random.default_rng(i).integers(0, 256, (*size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    out = tmp_path / "speed"
    payload = main(
        [
            *("--model", str(model_file), "--device", "cpu", "--backends", "onnx"),
            *("--size", "16x16", "--warmup", "0", "--repeats", "1", "--out", str(out)),
            *("--folder", str(folder), "--upscale-backends", "torch", "onnx", "onnx-cuda"),
            *("--upscale-repeats", "1", "--folder-images", "2"),
        ]
    )
    torch_row, ok, missing = payload["end_to_end"]
    assert torch_row["status"] == "ok" and "max_diff_vs_torch" not in torch_row
    assert ok["backend"] == "onnx" and ok["status"] == "ok", ok
    assert ok["max_diff_vs_torch"] <= 1  # the same pictures within rounding
    assert ok["images"] == 2 and ok["megapixels"] == pytest.approx((384 + 64) / 1e6)
    assert ok["images_per_s"] == pytest.approx(2 / ok["seconds"])
    assert ok["input"] == "photos (first 2)"
    assert ok["peak_rss_mb"] > 50 and ok["first_use_s"] > 0
    assert missing["status"] == "not available" and "CUDA" in missing["reason"]
    assert (tmp_path / "cache" / "onnx").is_dir()  # exported by the first use, then reused
    report = (out / "speed.md").read_text()
    assert "srgan.upscale end to end" in report
    assert (
        f"- photos (first 2): onnx = {torch_row['seconds'] / ok['seconds']:.2f}x torch's speed"
        in report
    )
    assert f"wrote {out / 'speed.json'}, {out / 'speed.md'}" in capsys.readouterr().out


def test_outputs_are_compared_pixel_by_pixel(tmp_path: Path) -> None:
    from benchmarks.speed.endtoend import _largest_difference

    pixels = np.random.default_rng(0).integers(0, 250, (6, 5, 3), dtype=np.uint8)
    for name, shift in (("a", 0), ("b", 3)):
        (tmp_path / name / "sub").mkdir(parents=True)
        changed = pixels.copy()
        changed[2, 1, 0] += shift
        Image.fromarray(changed).save(tmp_path / name / "sub" / "x.png")
    assert _largest_difference(tmp_path / "a", tmp_path / "b") == 3
    assert _largest_difference(tmp_path / "a", tmp_path / "a") == 0
    # 16-bit images (gray, and RGB with alpha) in 8-bit steps: 514 apart is 2/255.
    wide = np.random.default_rng(1).integers(0, 60000, (6, 5, 4), dtype=np.uint16)
    for name, shift in (("c", 0), ("d", 514)):
        changed = wide.copy()
        changed[0, 0] += np.uint16(shift)  # every channel, alpha included
        for mode, picture in (
            ("gray", Picture(changed[..., :1])),
            ("rgba", Picture(changed[..., :3], alpha=changed[..., 3])),
        ):
            (tmp_path / f"{name}-{mode}").mkdir()
            write_image(tmp_path / f"{name}-{mode}" / "x.png", picture)
    for mode in ("gray", "rgba"):
        assert _largest_difference(tmp_path / f"c-{mode}", tmp_path / f"d-{mode}") == 2
    # Alpha alone differing counts too.
    alpha = wide[..., 3].copy()
    alpha[1, 1] += np.uint16(257)
    (tmp_path / "e").mkdir()
    write_image(tmp_path / "e" / "x.png", Picture(wide[..., :3], alpha=alpha))
    assert _largest_difference(tmp_path / "c-rgba", tmp_path / "e") == 1


@pytest.mark.slow  # two more processes that import torch: about 10 s
def test_frames_per_second_on_a_video(tmp_path: Path, model_file: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=5)
    (row,) = video_throughput(clip, backends=["torch"], model=str(model_file), device="cpu")
    assert row["status"] == "ok", row
    assert row["frames"] == 5 and row["input_size"] == "32x24"
    assert row["fps"] == pytest.approx(5 / row["seconds"])


def test_a_childs_peak_memory_is_its_own() -> None:
    """Linux keeps a parent's ru_maxrss across fork and exec; the children's figures must
    not be the benchmark process's own peak."""
    import subprocess
    import sys

    from benchmarks.speed.timing import peak_rss_mb

    ballast = np.ones(400 * 2**20, np.uint8)  # the parent's peak: at least 400 MiB more
    code = "from benchmarks.speed.timing import peak_rss_mb; print(peak_rss_mb())"
    root = Path(__file__).resolve().parents[1]
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert float(child.stdout) < peak_rss_mb() - 300
    del ballast
