"""The export report's PSNR numbers, recomputed independently of the report's own code.

``srgan.export.run`` exports, quantises and reports Y-PSNR on ``--hr-dir``; here the same
numbers come from ONNX Runtime sessions run by hand and a Y-PSNR written out below
(BT.601 luma, 8-bit rounding, ``scale`` pixels of border removed).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from srgan.export import run
from srgan.generators import CompactNet
from srgan.resize import imresize
from srgan.weights import save_generator
from tests.conftest import smooth_image

SCALE = 4
# torchmetrics turns ln into log10 with a float32 constant: agreement to about 1e-6 dB.
DB = 1e-5


def y_psnr(sr: np.ndarray, hr: np.ndarray, border: int) -> float:
    """``(H, W, 3)`` SR floats in [0, 1] against uint8 HR, as published SR tables score it."""

    def luma(rgb8: np.ndarray) -> np.ndarray:
        return 16.0 + (rgb8 @ np.array([65.481, 128.553, 24.966])) / 255.0

    a = luma(np.floor(np.clip(sr.astype(np.float64), 0, 1) * 255 + 0.5))
    b = luma(hr.astype(np.float64))
    if border:
        a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    return 10 * math.log10(255.0**2 / np.mean((a - b) ** 2))


@pytest.fixture(scope="module")
def hr_images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """Three HR photos (sides not multiples of 4) whose outer 4 pixels are noise, so the
    border crop moves the score."""
    folder = tmp_path_factory.mktemp("hr")
    rng = np.random.default_rng(7)
    images = {}
    for i, (h, w) in enumerate([(50, 62), (45, 41), (64, 48)]):
        image = smooth_image(rng, h, w)
        noise = rng.integers(0, 256, image.shape, dtype=np.uint8)
        frame = np.ones((h, w), bool)
        frame[SCALE : h - h % SCALE - SCALE, SCALE : w - w % SCALE - SCALE] = False
        image[frame] = noise[frame]
        Image.fromarray(image).save(folder / f"hr{i}.png")
        images[f"hr{i}.png"] = image
    return folder, images


def benchmark_pair(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mod-cropped HR (uint8) and its LR (MATLAB bicubic, uint8) as ``(1, 3, h, w)`` floats."""
    h, w = image.shape[0] // SCALE * SCALE, image.shape[1] // SCALE * SCALE
    hr = image[:h, :w]
    lr = imresize(torch.from_numpy(np.ascontiguousarray(hr.transpose(2, 0, 1))), 1 / SCALE)
    return hr, lr.numpy()[None].astype(np.float32) / 255


def run_onnx(path: Path, lr: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (sr,) = session.run(["sr"], {"lr": lr})
    return sr[0].transpose(1, 2, 0)  # (H, W, 3)


def test_fp32_psnr_is_the_value_of_a_known_model(hr_images, tmp_path: Path) -> None:
    # CompactNet with its last conv zeroed is exactly nearest-neighbour upscaling, whose
    # score can be computed with numpy alone.
    folder, images = hr_images
    model = CompactNet(num_features=4, num_convs=1).eval()
    with torch.no_grad():
        model.body[-2].weight.zero_()
        model.body[-2].bias.zero_()
    weights = save_generator(model, tmp_path / "nearest.safetensors")
    report = run(
        ["--model", str(weights), "--output", str(tmp_path / "nearest.onnx")]
        + ["--hr-dir", str(folder)]
    )
    rows = {row["image"]: row for row in report["quality"]["images"]}
    assert sorted(rows) == sorted(images)
    for name, image in images.items():
        hr, lr = benchmark_pair(image)
        nearest = np.repeat(np.repeat(lr[0].transpose(1, 2, 0), SCALE, 0), SCALE, 1)
        expected = y_psnr(nearest, hr, SCALE)
        assert rows[name]["fp32"] == pytest.approx(expected, abs=DB)
        # The noisy frame makes the border crop matter (and Y is not RGB).
        assert abs(y_psnr(nearest, hr, 0) - expected) > 0.5
        rgb_psnr = 10 * math.log10(
            255**2
            / np.mean(
                (np.floor(nearest * 255 + 0.5) - hr.astype(float))[SCALE:-SCALE, SCALE:-SCALE] ** 2
            )
        )
        assert abs(rgb_psnr - expected) > 0.05
    assert report["quality"]["mean_psnr"]["fp32"] == pytest.approx(
        np.mean([rows[n]["fp32"] for n in images]), abs=1e-12
    )


def test_int8_psnr_cost_recomputed_from_the_exported_models(hr_images, tmp_path: Path) -> None:
    folder, images = hr_images
    torch.manual_seed(3)
    weights = save_generator(CompactNet(num_features=8, num_convs=1), tmp_path / "t.safetensors")
    out = tmp_path / "out"
    report = run(
        ["--model", str(weights), "--output", str(out / "t.onnx"), "--int8", str(out / "t8.onnx")]
        + ["--calibration-dir", str(folder), "--calibration-downscale", str(SCALE)]
        + ["--calibration-crops", "4", "--calibration-crop-size", "8", "--hr-dir", str(folder)]
    )
    rows = {row["image"]: row for row in report["quality"]["images"]}
    scores: dict[str, list[float]] = {"fp32": [], "int8": []}
    for name, image in images.items():
        hr, lr = benchmark_pair(image)
        for kind, path in (("fp32", out / "t.onnx"), ("int8", out / "t8.onnx")):
            score = y_psnr(run_onnx(path, lr), hr, SCALE)
            assert rows[name][kind] == pytest.approx(score, abs=DB), (name, kind)
            scores[kind].append(score)
    fp32, int8 = np.mean(scores["fp32"]), np.mean(scores["int8"])
    quality = report["quality"]
    assert quality["mean_psnr"] == pytest.approx({"fp32": fp32, "int8": int8}, abs=DB)
    assert quality["int8_psnr_drop_db"] == pytest.approx(fp32 - int8, abs=DB)
    assert fp32 != int8  # quantisation does cost something here
    # And the fp32 model is the PyTorch model: its score from PyTorch agrees.
    torch.manual_seed(3)
    model = CompactNet(num_features=8, num_convs=1).eval()
    for name, image in images.items():
        hr, lr = benchmark_pair(image)
        with torch.no_grad():
            sr = model(torch.from_numpy(lr)).clamp(0, 1)[0].permute(1, 2, 0).numpy()
        assert rows[name]["fp32"] == pytest.approx(y_psnr(sr, hr, SCALE), abs=0.01)
