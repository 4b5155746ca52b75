"""int8 static post-training quantization of an exported ONNX model, and what it costs.

``quantize_int8`` uses ONNX Runtime (QDQ format, per-channel int8 weights, uint8 or int8
activations), calibrated on LR crops of real images (``calibration_crops``). ``psnr_report``
gives the Y-PSNR (border ``scale``, ``srgan.metrics.psnr``) of ONNX sessions on HR images
under the benchmark LR convention, so the cost of int8 is known before deploying.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from srgan.images import list_images, read_rgb
from srgan.onnx import benchmark_lr, float_batch, run_session, save_checked

CalibrationMethodName = Literal["minmax", "percentile", "entropy"]


class QualityError(RuntimeError):
    """An int8 model that loses more PSNR than ``--max-psnr-drop`` allows."""


# Calibration inputs this small would say little about the activations of real images
# (and a 1/4 downscale of a tiny image has no pixel left).
MIN_CALIBRATION_SIDE = 8
# Fewer LR pixels than this (one 64 x 64 crop) in all: a warning that the ranges may not
# hold other images' activations (calibrated on one 8 x 8 crop, fast lost 9 dB on Set5;
# the built-in crops hold 16,128).
FEW_CALIBRATION_PIXELS = 64 * 64


def calibration_crops(
    folder: str | Path,
    *,
    count: int = 32,
    crop: int = 64,
    downscale: int | None = None,
    seed: int = 0,
    advice: str = ", and measure the cost with --hr-dir",
) -> list[np.ndarray]:
    """``count`` random ``(1, 3, crop, crop)`` float32 LR crops from the images in ``folder``.

    With ``downscale`` the files are HR images and LR is made with MATLAB bicubic
    (``srgan.resize.imresize``); otherwise the files are used as LR as they are.
    Crops cycle over the images, one random crop each per pass. With more images than
    ``count``, ``count`` of them are drawn (seeded; too small ones are passed over), so a
    large folder is not decoded whole; otherwise all are used, in name order. ``advice``
    ends the warning about too few pixels.
    """
    rng = np.random.default_rng(seed)
    files = list_images(folder)
    if len(files) > count:
        files = [files[i] for i in np.random.default_rng(seed).permutation(len(files))]
    images, bad, small = [], [], []
    for file in files:
        if len(images) == count:
            break
        try:
            image = read_rgb(file)
        except Exception as error:  # noqa: BLE001 - any decoder failure: named below
            bad.append(f"{file} ({str(error) or type(error).__name__})")
            continue
        if min(image.shape[:2]) // (downscale or 1) < MIN_CALIBRATION_SIDE:
            small.append(file.name)
            continue
        lr = benchmark_lr(image, downscale)[0] if downscale else float_batch(image)
        images.append(lr)
    if bad:
        raise ValueError(
            f"unreadable calibration image(s): {'; '.join(bad)}; remove them or give "
            "another --calibration-dir"
        )
    if small:
        after = f" after the 1/{downscale} downscale" if downscale else ""
        names = ", ".join(small[:3]) + (" ..." if len(small) > 3 else "")
        message = (
            f"{len(small)} calibration image(s) smaller than {MIN_CALIBRATION_SIDE} px"
            f"{after} ({names})"
        )
        if not images:
            raise ValueError(f"{message} and no larger one; give larger images")
        warnings.warn(f"skipping {message}", stacklevel=2)
    # At most the pixels of the crops taken from each image (32 crops of one 8 x 8 image
    # are 64 pixels), at most the whole image.
    pixels = sum(
        min(
            lr.shape[-2] * lr.shape[-1],
            len(range(i, count, len(images))) * min(crop, lr.shape[-2]) * min(crop, lr.shape[-1]),
        )
        for i, lr in enumerate(images)
    )
    if pixels < FEW_CALIBRATION_PIXELS:
        warnings.warn(
            f"int8 calibration sees {pixels} LR pixels in all ({len(images)} image(s)): ranges "
            "measured on so little may clip other images (highlights, strong edges); give "
            f"more or larger images like those to upscale{advice}",
            stacklevel=2,
        )
    crops = []
    for i in range(count):
        lr = images[i % len(images)]
        h, w = lr.shape[-2:]
        size_h, size_w = min(crop, h), min(crop, w)
        top = int(rng.integers(0, h - size_h + 1))
        left = int(rng.integers(0, w - size_w + 1))
        piece = lr[..., top : top + size_h, left : left + size_w]
        crops.append(np.ascontiguousarray(piece.numpy(), dtype=np.float32))
    return crops


def quantize_int8(
    source: str | Path,
    path: str | Path,
    crops: Sequence[np.ndarray],
    *,
    method: CalibrationMethodName = "minmax",
    activation_type: Literal["uint8", "int8"] = "uint8",
    per_channel: bool = True,
) -> Path:
    """Static post-training quantization (QDQ, int8 weights) calibrated on ``crops``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    if method not in methods:
        raise ValueError(f"calibration method must be one of {', '.join(methods)}, got {method!r}")
    if not crops:
        raise ValueError("int8 calibration needs at least one crop")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items: Iterator[np.ndarray] = iter(crops)

        def get_next(self) -> dict[str, np.ndarray] | None:
            item = next(self.items, None)
            return None if item is None else {"lr": item}

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    extra: dict[str, Any] = {}
    if method == "percentile":
        extra["CalibPercentile"] = 99.999
    # The intermediate models live in a folder of this call's own: nothing else is touched.
    with tempfile.TemporaryDirectory(prefix=f".{path.stem}.", dir=path.parent) as work:
        # ORT's recommended pre-processing (shape inference, graph optimisation) before
        # quantizing; fall back to the raw graph if it cannot handle a model.
        prepared = Path(work) / "preprocessed.onnx"
        quantized = Path(work) / "quantized.onnx"  # then checked and renamed onto ``path``
        try:
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            model_input = prepared
        except Exception:  # noqa: BLE001 - pre-processing is an optimisation only
            model_input = Path(source)
        if method == "entropy":
            # quantize_static's entropy calibrator uses 128 histogram bins for 128
            # quantized bins, which leaves a single candidate threshold: the min-max range.
            # Run it with a 2048-bin histogram (TensorRT's KL calibration) and hand the
            # ranges over as overrides.
            extra["TensorQuantOverrides"] = entropy_ranges(model_input, Reader())
        with contextlib.redirect_stdout(io.StringIO()):  # ORT prints calibration details
            quantize_static(
                str(model_input),
                str(quantized),
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=QuantType.QUInt8 if activation_type == "uint8" else QuantType.QInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=methods["percentile" if method == "percentile" else "minmax"],
                extra_options=extra,
            )
        import onnx

        save_checked(onnx.load(str(quantized)), path)
    return path


def entropy_ranges(
    model: str | Path, reader: Any, *, num_bins: int = 2048, num_quantized_bins: int = 128
) -> dict[str, list[dict[str, np.ndarray]]]:
    """Per-tensor ``rmin``/``rmax`` from KL-divergence (entropy) calibration, as overrides."""
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

    with tempfile.TemporaryDirectory() as tmp:
        calibrator = create_calibrator(
            Path(model),
            augmented_model_path=str(Path(tmp) / "augmented.onnx"),
            calibrate_method=CalibrationMethod.Entropy,
            extra_options={"num_bins": num_bins, "num_quantized_bins": num_quantized_bins},
        )
        with contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
            calibrator.collect_data(reader)
            ranges = calibrator.compute_data()
        del calibrator
    overrides = {}
    for name, data in ranges.data.items():
        low, high = (np.asarray(v, dtype=np.float32) for v in data.range_value)
        overrides[name] = [{"rmin": low, "rmax": high}]
    return overrides


def benchmark_pairs(hr_dir: str | Path, scale: int) -> Iterator[tuple[Path, Any, Any]]:
    """``(file, lr, hr)`` float batches of each image in ``hr_dir`` under the benchmark
    convention, one at a time; ``ValueError`` naming a file that cannot be read or scored."""
    for file in list_images(hr_dir):
        try:
            lr, hr = benchmark_lr(read_rgb(file), scale)
        except Exception as error:  # noqa: BLE001 - a decoder's or a size's: named here
            raise ValueError(f"--hr-dir: {file}: {str(error) or type(error).__name__}") from None
        if min(hr.shape[-2:]) <= 2 * scale:
            raise ValueError(
                f"--hr-dir: {file}: too small to score at x{scale} (a {scale}-px border is "
                "left out of the PSNR)"
            )
        yield file, lr, hr


def psnr_report(sessions: dict[str, Any], hr_dir: str | Path, scale: int) -> dict[str, Any]:
    """Y-PSNR (border ``scale``) of each session on the HR images of ``hr_dir``.

    LR inputs follow the benchmark convention (mod-crop, MATLAB bicubic, uint8).
    Returns per-image and mean PSNR per session name.
    """
    # Here, not at the top: srgan.backends imports this module on every int8 run, and the
    # metrics (torchmetrics, torchvision) take seconds to import.
    from srgan.metrics import psnr

    per_image: list[dict[str, Any]] = []
    for file, lr, hr in benchmark_pairs(hr_dir, scale):
        row: dict[str, Any] = {"image": file.name}
        for name, session in sessions.items():
            sr = run_session(session, lr).clamp(0, 1)
            row[name] = float(psnr(sr, hr, crop_border=scale)[0])
        per_image.append(row)
    means = {name: float(np.mean([r[name] for r in per_image])) for name in sessions}
    return {"images": per_image, "mean_psnr": means}
