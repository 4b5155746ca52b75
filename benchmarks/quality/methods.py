"""Upscaling methods the quality benchmark compares, each built from a model spec string.

A method maps an 8-bit LR image ``(h, w, C)`` (C = 1 or 3) to an 8-bit SR image
``(h * scale, w * scale, C)`` with the same channels. Specs:

* ``bicubic``: MATLAB-compatible bicubic (``srgan.resize.imresize``), the published baseline;
* ``nearest``, ``lanczos``: Pillow's nearest-neighbour and Lanczos (a = 3) resampling;
* ``opencv:FILE.pb``: an OpenCV ``dnn_superres`` model (ESPCN, FSRCNN, LapSRN, EDSR), given
  as a path or looked up in ``opencv_dir``; needs ``opencv-contrib`` (``pip install -e
  '.[baselines]'``);
* anything else: an srgan generator through ``srgan.weights.load_model`` (a shipped model's
  name, ``default``, a ``.safetensors`` file or an ``srgan.fit`` checkpoint), with the pixel
  handling of ``srgan.upscale_image`` (``srgan.pictures``: the same gray handling and
  rounding), in PyTorch at the precision asked for, on whole images unless ``tile`` is
  given (the ONNX Runtime backends ``upscale_image`` uses on a CPU agree within 1/255);
* ``FILE.onnx``: an ONNX model (``srgan.export``'s, int8 ones too) run by ONNX Runtime
  through ``srgan.backends.build_upscaler``, in its own precision, with the same pixel
  handling: what an exported model scores.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from srgan.images import Picture
from srgan.inference import Precision, Upscaler, resolve_device
from srgan.pictures import upscale_picture
from srgan.resize import imresize_array
from srgan.weights import load_model, model_label

BASELINES = ("bicubic", "nearest", "lanczos")

# dnn_superres wants the algorithm name and scale; they are in the file name (ESPCN_x4.pb).
OPENCV_NAME = re.compile(r"^(?P<algorithm>[A-Za-z]+)(?:-small)?_x(?P<scale>\d+)$")


@dataclass
class Method:
    """A named upscaler: ``method(lr)`` -> SR, both ``(H, W, C)`` uint8 arrays."""

    name: str
    scale: int
    run: Callable[[np.ndarray], np.ndarray]
    kind: str  # "baseline", "opencv" or "srgan"

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        sr = self.run(lr)
        expected = (lr.shape[0] * self.scale, lr.shape[1] * self.scale, lr.shape[2])
        if sr.shape != expected or sr.dtype != np.uint8:
            raise RuntimeError(
                f"{self.name} returned {sr.dtype} {sr.shape}, expected uint8 {expected}"
            )
        return sr


def pillow_resize(lr: np.ndarray, scale: int, resample: Image.Resampling) -> np.ndarray:
    h, w, channels = lr.shape
    image = Image.fromarray(lr[..., 0] if channels == 1 else lr)
    out = np.array(image.resize((w * scale, h * scale), resample), dtype=np.uint8)
    return out.reshape(h * scale, w * scale, channels)


def baseline(name: str, scale: int) -> Method:
    if name == "bicubic":
        return Method(name, scale, lambda lr: imresize_array(lr, scale), "baseline")
    resample = {"nearest": Image.Resampling.NEAREST, "lanczos": Image.Resampling.LANCZOS}[name]
    return Method(name, scale, lambda lr: pillow_resize(lr, scale, resample), "baseline")


def opencv_method(file: str, scale: int, opencv_dir: str | Path | None) -> Method:
    """An OpenCV ``dnn_superres`` model; ``file`` is a path or a name in ``opencv_dir``."""
    try:
        import cv2

        create = cv2.dnn_superres.DnnSuperResImpl_create
    except (ImportError, AttributeError):
        raise ImportError(
            f"opencv:{file} needs cv2.dnn_superres, which is in opencv-contrib only: "
            "pip install 'srgan[baselines]' (from a checkout: pip install -e '.[baselines]'; "
            "it is opencv-contrib-python-headless: uninstall opencv-python-headless first if "
            "both end up installed)"
        ) from None
    path = Path(file).expanduser()
    if not path.is_file() and opencv_dir is None:
        raise FileNotFoundError(
            f"OpenCV model not found: {file}; give its path or the folder with --opencv-dir"
        )
    if not path.is_file():
        path = Path(opencv_dir).expanduser() / file
    if not path.is_file():
        raise FileNotFoundError(f"OpenCV model not found: {file} (nor {path}); see --opencv-dir")
    match = OPENCV_NAME.match(path.stem)
    if match is None:
        raise ValueError(f"cannot tell the algorithm and scale from {path.name} (want NAME_xS.pb)")
    if int(match["scale"]) != scale:
        raise ValueError(f"{path.name} is a x{match['scale']} model, the benchmark runs x{scale}")
    model = create()
    model.readModel(str(path))
    model.setModel(match["algorithm"].lower(), scale)

    def run(lr: np.ndarray) -> np.ndarray:
        gray = lr.shape[2] == 1
        bgr = cv2.cvtColor(lr, cv2.COLOR_GRAY2BGR) if gray else lr[..., ::-1].copy()
        sr = model.upsample(bgr)
        return cv2.cvtColor(sr, cv2.COLOR_BGR2GRAY)[..., None] if gray else sr[..., ::-1].copy()

    return Method(f"opencv:{path.name}", scale, run, "opencv")


def srgan_method(
    spec: str,
    scale: int,
    *,
    device: str | torch.device = "auto",
    precision: Precision = "fp32",
    tile: int | None = None,
    self_ensemble: bool = False,
) -> Method:
    if spec.lower().endswith(".onnx"):
        from srgan.backends import BackendError, build_upscaler

        if precision != "fp32":
            raise ValueError(
                f"{spec} runs in its own precision (the one it was exported in): score it in "
                f"a run without --precision {precision}"
            )
        try:  # on the device asked for where ONNX Runtime has it (onnxruntime-gpu)
            upscaler = build_upscaler(
                spec, device=device, tile=tile, self_ensemble=self_ensemble, say=lambda m: None
            )
        except BackendError:
            if resolve_device(str(device)).type == "cpu":
                raise
            print(
                f"note: {spec}: this onnxruntime has no CUDA provider, so it is scored on "
                "the CPU (the same pixels, slower)",
                file=sys.stderr,
            )
            upscaler = build_upscaler(
                spec, device="cpu", tile=tile, self_ensemble=self_ensemble, say=lambda m: None
            )
    else:
        generator = load_model(spec)
        upscaler = Upscaler(
            generator, device=device, precision=precision, tile=tile, self_ensemble=self_ensemble
        )
    if upscaler.scale != scale:
        raise ValueError(f"model {spec!r} upscales x{upscaler.scale}, the benchmark runs x{scale}")
    channels = upscaler.in_channels or 3
    if channels != 3:
        raise ValueError(
            f"model {spec!r} takes {channels} channel(s): the benchmark scores RGB models "
            "(gray images go in as three equal channels)"
        )

    def run(lr: np.ndarray) -> np.ndarray:
        # (h, w, 1 or 3) uint8 -> the same path as srgan.upscale_image: gray in as three
        # equal channels, 8-bit output per channel, gray back as their rounded mean.
        return upscale_picture(upscaler, Picture(np.ascontiguousarray(lr))).pixels

    # EDSR's convention: a self-ensembled model is the model's name and a "+".
    return Method(model_label(spec) + ("+" if self_ensemble else ""), scale, run, "srgan")


def build_method(
    spec: str,
    scale: int,
    *,
    opencv_dir: str | Path | None = None,
    device: str | torch.device = "auto",
    precision: Precision = "fp32",
    tile: int | None = None,
    self_ensemble: bool = False,
) -> Method:
    """The method a ``--models`` entry names (see the module docstring); ``self_ensemble``
    applies to srgan models."""
    if spec in BASELINES:
        return baseline(spec, scale)
    if spec.startswith("opencv:"):
        return opencv_method(spec.removeprefix("opencv:"), scale, opencv_dir)
    try:
        return srgan_method(
            spec,
            scale,
            device=device,
            precision=precision,
            tile=tile,
            self_ensemble=self_ensemble,
        )
    except FileNotFoundError as error:
        if any(c in spec for c in "/\\."):
            raise
        # A name: the baselines are names too.
        near = difflib.get_close_matches(spec, list(BASELINES), n=1, cutoff=0.6)
        also = f"; did you mean {near[0]!r}?" if near else ""
        raise FileNotFoundError(f"{error}; or a baseline: {', '.join(BASELINES)}{also}") from None
