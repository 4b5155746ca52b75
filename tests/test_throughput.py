"""End-to-end throughput per backend (what benchmarks.speed reports beside its model-only
rows): each run is the command in its own process, timed and measured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from srgan.throughput import folder_throughput, video_throughput
from srgan.weights import save_generator
from tests.conftest import make_video, tiny_compact


@pytest.fixture
def model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SRGAN_CACHE", str(tmp_path / "cache"))  # the children's cache
    return save_generator(tiny_compact(), tmp_path / "tiny.safetensors")


def test_images_per_second_on_a_folder_per_backend(tmp_path: Path, model_file: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, size in enumerate([(16, 24), (8, 8), (20, 12)]):
        pixels = np.random.default_rng(i).integers(0, 256, (*size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    rows = folder_throughput(
        folder, backends=["onnx", "onnx-cuda"], model=str(model_file), device="cpu"
    )
    ok, missing = rows
    assert ok["backend"] == "onnx" and ok["status"] == "ok", ok
    assert ok["images"] == 3 and ok["megapixels"] == pytest.approx((384 + 64 + 240) / 1e6)
    assert ok["images_per_s"] == pytest.approx(3 / ok["seconds"])
    assert ok["peak_rss_mb"] > 50 and ok["first_use_s"] > 0
    assert missing["status"] == "not available" and "CUDA" in missing["reason"]
    assert (tmp_path / "cache" / "onnx").is_dir()  # exported by the first use, then reused


@pytest.mark.slow  # two more processes that import torch: about 10 s
def test_frames_per_second_on_a_video(tmp_path: Path, model_file: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", frames=5)
    (row,) = video_throughput(clip, backends=["torch"], model=str(model_file), device="cpu")
    assert row["status"] == "ok", row
    assert row["frames"] == 5 and row["input_size"] == "32x24"
    assert row["fps"] == pytest.approx(5 / row["seconds"])
