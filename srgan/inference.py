"""The one inference contract, used by upscaling, benchmarks and export checks.

``Upscaler(model)(lr)``:

* input ``(B, C, H, W)`` float in [0, 1], or ``uint8`` / ``uint16`` (0..255 / 0..65535),
  on any device (it is moved, tile by tile, to the model's device, and integer pixels are
  converted to float there, so the copy moves 1 or 2 bytes per value, not 4);
* output ``(B, C, H*scale, W*scale)`` clamped to [0, 1], on the input's device, as float32
  (or quantised to ``uint8`` / ``uint16`` on the model's device, before the copy back,
  with ``out_dtype``);
* padding to the network's size multiple and cropping back happen inside;
* with ``tile``, the image is cut into ``tile x tile`` cores (LR pixels), each run with
  ``tile_overlap`` pixels of context on every side and only its core kept. The result is
  exactly the untiled output once the overlap covers the network's receptive field,
  and within rounding of it for the default overlap on the shipped models; unlike
  averaging overlapping tiles, nothing is blurred across tile borders. Only one tile at
  a time is on the accelerator.
* ``precision`` ``fp16`` / ``bf16`` runs the model in half precision; a tile whose
  half-precision output holds NaN or Inf is redone in fp32 (counted in
  ``fp32_fallbacks``), a known failure of fp16 SR inference; an output that is not
  finite in fp32 either raises ``FloatingPointError`` (never a silently black image).
* ``self_ensemble`` averages the model's outputs over the eight flips and quarter turns
  of each piece (EDSR's geometric self-ensemble): eight times the work, a little more
  PSNR and smoother texture.
* on CUDA out-of-memory the tile size is halved and the image retried (``oom_retries``).
* ``progress`` (optional) is called with the number of LR pixels done (times the batch)
  after every tile, so a caller can show progress inside a large image.

The generator is a PyTorch module, or a network run by another engine
(``srgan.backends.OnnxGenerator``, ONNX Runtime): the same contract holds for both, the
tiling, padding, quantisation, finiteness checks and fp32 fallback being done here.
``srgan.backends.build_upscaler`` chooses the engine.
"""

from __future__ import annotations

import contextlib
import copy
import numbers
import os
from collections.abc import Callable, Iterator
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

Precision = Literal["fp32", "fp16", "bf16"]
# Tile side in LR pixels used by the command line and ``upscale_image``: bounds memory on
# any image size while keeping the per-tile overhead small.
DEFAULT_TILE = 512
MIN_TILE = 8
DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
}


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; a clear error for an unavailable device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {device!r} requested but CUDA is not available here; use the CPU (--device cpu, or "
            "device='cpu' in Python)"
        )
    return resolved


def to_unit_float(x: torch.Tensor) -> torch.Tensor:
    """``uint8`` / ``uint16`` pixels to float32 in [0, 1]; float input is returned as is."""
    if x.dtype == torch.uint8:
        return x.float().div_(255)
    if x.dtype == torch.uint16:
        # uint16 has few kernels on some torch versions: widen to int32 first.
        return x.to(torch.int32).float().div_(65535)
    if x.is_floating_point():
        return x
    raise ValueError(f"expected float, uint8 or uint16 pixels, got {x.dtype}")


def to_batch(pixels: np.ndarray) -> torch.Tensor:
    """``(H, W, 1 or 3)`` uint8/uint16 -> ``(1, 3, H, W)`` of the same dtype (gray repeated)."""
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    planes = np.ascontiguousarray(pixels.transpose(2, 0, 1))
    if not planes.flags.writeable:
        # A 1-pixel-wide decode is already contiguous, so the view of a read-only buffer
        # survived: torch takes only writable arrays without a warning.
        planes = planes.copy()
    return torch.from_numpy(planes)[None]


def to_uint8_channels_last(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` float32 CPU values in [0, 1] to uint8 (``round(255 x)``, ties to
    even as ``torch.round``), laid out channels-last in memory: the ``(H, W, C)`` layout
    image files use, so writing the result needs no transposing copy. OpenCV scales, rounds
    and saturates each plane, then interleaves the uint8 planes: the same bytes as
    ``x.mul(255).round().to(torch.uint8)`` and its transpose, without torch's strided copy."""
    import cv2

    b, c, h, w = x.shape
    out = np.empty((b, h, w, c), np.uint8)
    planes = x.numpy()
    for i in range(b):
        levels = [cv2.convertScaleAbs(planes[i, k], alpha=255) for k in range(c)]
        if c == 1:
            out[i, ..., 0] = levels[0]
        else:
            cv2.merge(levels, dst=out[i])
    return torch.from_numpy(out).permute(0, 3, 1, 2)


def to_levels_(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Values in [0, 1] to ``dtype``'s levels (uint8: 0..255, uint16: 0..65535), rounded
    to the nearest (ties to even, as ``torch.round``), on any device; ``x`` is scaled in
    place. On the CPU, 8-bit output takes ``to_uint8_channels_last`` instead."""
    if dtype == torch.uint8:
        return x.mul_(255).round_().to(torch.uint8)
    if dtype == torch.uint16:
        # uint16 has few kernels on some versions: round in float, store as int32, convert.
        return x.mul_(65535).round_().to(torch.int32).to(torch.uint16)
    raise ValueError(f"levels are uint8 or uint16, not {dtype}")


def all_finite(x: torch.Tensor) -> bool:
    """No NaN or infinite value in ``x``: its minimum and maximum are finite (NaN spreads to
    both). One pass without a mask the size of ``x``, ten times faster than ``isfinite``."""
    low, high = torch.aminmax(x)
    return bool(torch.isfinite(low) & torch.isfinite(high))


def same_device(a: torch.device, b: torch.device) -> bool:
    """One device, however named: ``cuda`` is the current CUDA device (``cuda:0`` as a
    rule), which ``torch.device`` equality does not see."""

    def concrete(device: torch.device) -> tuple[str, int]:
        if device.index is None and device.type == "cuda":
            return "cuda", torch.cuda.current_device()
        return device.type, device.index or 0

    return concrete(a) == concrete(b)


def self_ensembled(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The mean of ``run`` over the eight flips and quarter turns of ``x`` (each output
    turned back), for a network whose output is an upscaled copy of its input."""
    total = None
    for turns in range(4):
        for flip in (False, True):
            view = torch.rot90(x, turns, (-2, -1))
            view = view.flip(-1) if flip else view
            out = run(view).float()
            if not all_finite(out):
                return out  # for the caller's fp32 fallback (clamping would hide Inf)
            # Each in [0, 1] before the mean, as exported graphs clamp their outputs.
            out = out.clamp_(0, 1)
            out = out.flip(-1) if flip else out
            out = torch.rot90(out, -turns, (-2, -1))
            total = out if total is None else total.add_(out)
    return total.div_(8)


def check_tile(tile: int | None) -> int | None:
    """``tile`` if it is ``None`` (whole images) or an integer of at least ``MIN_TILE``;
    else ``TypeError`` / ``ValueError``."""
    if tile is not None and (isinstance(tile, bool) or not isinstance(tile, numbers.Integral)):
        raise TypeError(f"tile must be an integer (pixels) or None, got {tile!r}")
    if tile is not None and tile < MIN_TILE:
        raise ValueError(
            f"tile must be at least {MIN_TILE} pixels, got {tile} (None: whole images, "
            "which --tile 0 means on the command line)"
        )
    return tile


def tile_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Split ``[0, length)`` into cores of ``tile``; each with its context window.

    Returns ``(core_start, core_end, window_start, window_end)`` tuples.
    """
    spans = []
    for start in range(0, length, tile):
        end = min(start + tile, length)
        spans.append((start, end, max(0, start - overlap), min(length, end + overlap)))
    return spans


class ExternalNetwork(Protocol):
    """A generator run by another engine than PyTorch (``srgan.backends.OnnxGenerator``):
    called on a float32 ``(B, C, H, W)`` CPU tensor, it returns the float32 output on the
    CPU. ``fallback`` is its fp32 version when it runs in lower precision (else ``None``)."""

    scale: int
    size_multiple: int
    backend: str
    precision: str
    fallback: ExternalNetwork | None

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


OUT_DTYPES = (
    torch.uint8,
    torch.uint16,
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
)


@contextlib.contextmanager
def evaluating(model: Any) -> Iterator[None]:
    """``model`` in eval mode for a while (batch norm on its running statistics, never
    updating them), then each of its modules in its own mode again (a frozen part stays
    frozen); anything not an ``nn.Module`` as it is. Not for a network another thread
    trains meanwhile: the mode is the module's, not the call's."""
    if not isinstance(model, nn.Module) or not model.training:
        yield
        return
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield
    finally:
        for module, training in modes.items():
            module.training = training


class Upscaler:
    """Run a generator under the inference contract (``srgan.inference``'s docstring):
    ``upscaler(lr)`` takes a ``(B, C, H, W)`` torch tensor of RGB pixels (float in [0, 1],
    uint8 or uint16) and returns ``(B, C, H * scale, W * scale)`` in [0, 1] (float32, or
    ``out_dtype``). For numpy arrays and PIL images: ``srgan.upscale_image(image, upscaler)``.

    ``model`` is a PyTorch generator (run on ``device`` in ``precision``, ``"auto"``:
    fp16 on CUDA, else fp32; tiled by ``tile`` LR pixels with ``tile_overlap`` of context;
    ``None``: whole images) or an ``ExternalNetwork``, which runs as it was built
    (``device``, ``precision`` and ``compile`` do not apply; the ``backend`` and
    ``precision`` attributes are then its own). ``srgan.build_upscaler`` makes one from a
    model's name or file on any backend.

    A generator that is ready to run (eval mode, float32, on ``device``) is used as it is,
    not copied: later changes to its weights show in later calls, and each call runs it in
    eval mode (its own mode is put back after). Any other is copied when the Upscaler is
    built, so that the caller's network keeps its mode, dtype and device.
    """

    def __init__(
        self,
        model: nn.Module | ExternalNetwork,
        *,
        device: str | torch.device = "auto",
        precision: Precision | Literal["auto"] = "fp32",
        tile: int | None = None,
        tile_overlap: int = 24,
        compile: bool = False,
        self_ensemble: bool = False,
    ) -> None:
        if not hasattr(model, "scale"):
            named = f"({model!r})" if isinstance(model, (str, os.PathLike)) else "(model)"
            raise TypeError(
                f"an Upscaler runs a generator (an nn.Module with a scale), not "
                f"{type(model).__name__}; for a model's name or file: srgan.build_upscaler{named}"
            )
        self.scale: int = model.scale
        self.size_multiple: int = getattr(model, "size_multiple", 1)
        self.tile = check_tile(tile)
        if isinstance(tile_overlap, bool) or not isinstance(tile_overlap, int) or tile_overlap < 0:
            raise ValueError(
                f"tile_overlap must be a whole number of pixels >= 0, got {tile_overlap!r}"
            )
        self.tile_overlap = tile_overlap
        self.self_ensemble = bool(self_ensemble)
        self.fp32_fallbacks = 0
        self.oom_retries = 0
        self.progress: Callable[[int], None] | None = None
        if not isinstance(model, nn.Module):
            # Another engine takes host memory (and copies to its own device itself).
            self.device = torch.device("cpu")
            self.dtype = torch.float32
            self.backend, self.precision = model.backend, model.precision
            self.model = self.forward = model
            self.fp32_model = model.fallback or model
            return
        self.device = resolve_device(str(device))
        if precision == "auto":
            precision = "fp16" if self.device.type == "cuda" else "fp32"
        if precision not in DTYPES:
            raise ValueError(f"precision must be auto, fp32, fp16 or bf16, got {precision!r}")
        self.dtype = DTYPES[precision]
        if self.device.type == "cpu" and self.dtype == torch.float16:
            raise ValueError(
                "fp16 inference needs a GPU; on a CPU use precision fp32 or bf16 "
                "(--precision on the command line)"
            )
        self.backend, self.precision = "torch", precision
        # The fp32 model is the one given when it is ready to run (eval mode, float32, on
        # the device), else a copy made so: the caller's network (a preview in the middle
        # of training) keeps its mode, dtype and device. Half precision works on a copy,
        # so NaN fallbacks run the original weights, not upcast half ones.
        tensors = [*model.parameters(), *model.buffers()]
        ready = not model.training and all(
            same_device(t.device, self.device)
            and (t.dtype == torch.float32 or not t.is_floating_point())
            for t in tensors
        )
        self.fp32_model = (model if ready else copy.deepcopy(model)).eval()
        self.fp32_model.to(self.device, torch.float32)
        self.model = (
            self.fp32_model
            if self.dtype == torch.float32
            else copy.deepcopy(self.fp32_model).to(self.dtype)
        )
        self.forward = torch.compile(self.model) if compile else self.model

    @property
    def in_channels(self) -> int | None:
        """The channels the model takes (``None`` when it does not say)."""
        config = getattr(self.fp32_model, "config", None)
        return config.get("in_channels") if isinstance(config, dict) else None

    @torch.inference_mode()
    def _run(self, lr: torch.Tensor) -> torch.Tensor:
        """Model on one device-resident piece, padded to the size multiple, cropped back."""
        h, w = lr.shape[-2:]
        m = self.size_multiple
        pad_h, pad_w = (-h) % m, (-w) % m
        lr = to_unit_float(lr)
        x = F.pad(lr, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else lr
        with evaluating(self.model):
            out = self._forward(self.forward, x.to(self.dtype))
        if not all_finite(out):
            if self.model is not self.fp32_model:
                self.fp32_fallbacks += 1
                with evaluating(self.fp32_model):
                    out = self._forward(self.fp32_model, x.float())
            if not all_finite(out):
                raise FloatingPointError(
                    "the model's output holds NaN or infinite values, in fp32 too: the "
                    "weights or the input are broken"
                )
        s = self.scale
        return out[..., : h * s, : w * s].float().clamp_(0, 1)

    def _forward(
        self, network: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
    ) -> torch.Tensor:
        return self_ensembled(network, x) if self.self_ensemble else network(x)

    @torch.inference_mode()
    def _quantize(self, sr: torch.Tensor, out_dtype: torch.dtype) -> torch.Tensor:
        # In place: ``sr`` is this call's own output (or a view of it), used once.
        if out_dtype == torch.uint8 and sr.device.type == "cpu" and sr.dtype == torch.float32:
            return to_uint8_channels_last(sr)
        if out_dtype in (torch.uint8, torch.uint16):
            return to_levels_(sr, out_dtype)
        return sr.to(out_dtype)

    def __call__(self, lr: torch.Tensor, *, out_dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``lr``: ``(B, C, H, W)`` RGB pixels, float in [0, 1] or uint8 / uint16, on any
        device. Returns ``(B, C, H * scale, W * scale)`` on ``lr``'s device: float32 in
        [0, 1], or ``out_dtype`` (``torch.uint8`` / ``torch.uint16``: 0..255 / 0..65535).
        The result may be a channels-last view (8-bit on the CPU, tiled outputs), ready for
        ``.permute(0, 2, 3, 1)`` to images; call ``.contiguous()`` before ``.view``."""
        if not isinstance(lr, torch.Tensor):
            raise TypeError(
                f"an Upscaler takes a (B, C, H, W) torch tensor, not {type(lr).__name__}; "
                "for a numpy array or a PIL image use srgan.upscale_image(image, upscaler)"
            )
        if lr.dim() != 4:
            raise ValueError(f"expected a (B, C, H, W) batch, got shape {tuple(lr.shape)}")
        if lr.numel() == 0:
            raise ValueError(f"no pixels: shape {tuple(lr.shape)}")
        channels = self.in_channels
        if channels is not None and lr.shape[1] != channels:
            hint = "srgan.upscale_image handles gray and alpha images"
            if lr.shape[-1] == channels:
                hint = "channels last? (B, H, W, C) -> lr.permute(0, 3, 1, 2)"
            raise ValueError(f"the model takes {channels} channels, got {lr.shape[1]}: {hint}")
        if out_dtype not in OUT_DTYPES:
            names = ", ".join(str(d).removeprefix("torch.") for d in OUT_DTYPES)
            raise ValueError(f"out_dtype must be one of {names}, got {out_dtype}")
        if lr.is_floating_point():
            low, high = torch.aminmax(lr)
            if not bool(torch.isfinite(low) & torch.isfinite(high)):
                # Every backend alike: int8 would quantize NaN to 0 and return black.
                raise FloatingPointError("the input holds NaN or infinite values")
            if high > 1.5:
                # 0..255 floats would come back almost white, without a word.
                raise ValueError(
                    f"float pixels are taken in [0, 1], and these reach {float(high):g}: "
                    "divide by 255 (or 65535), or pass uint8 / uint16 pixels"
                )
            if low < -0.5:
                # [-1, 1] pixels (a common normalisation) would lose their dark half.
                raise ValueError(
                    f"float pixels are taken in [0, 1], and these go down to {float(low):g}: "
                    "map [-1, 1] pixels with (x + 1) / 2"
                )
        tile = self.tile
        while True:
            try:
                return self._upscale(lr, out_dtype, tile)
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                h, w = lr.shape[-2:]
                # A tile larger than the image is the image: halve what actually ran.
                current = min(tile, max(h, w)) if tile else max(h, w)
                if current <= 32:
                    raise
                tile = max(32, current // 2)
                self.oom_retries += 1

    def _upscale(self, lr: torch.Tensor, out_dtype: torch.dtype, tile: int | None) -> torch.Tensor:
        h, w = lr.shape[-2:]
        s = self.scale
        b = lr.shape[0]
        if tile is None or (h <= tile and w <= tile):
            sr = self._run(lr.to(self.device, non_blocking=True))
            sr = self._quantize(sr, out_dtype).to(lr.device)
            if self.progress is not None:
                self.progress(b * h * w)
            return sr
        # Channels-last in memory: (B, H, W, C) pixels seen as (B, C, H, W), so that the
        # image is already in the (H, W, C) layout image files use (no copy to encode).
        c = lr.shape[1]
        out = torch.empty(b, h * s, w * s, c, dtype=out_dtype, device=lr.device)
        out = out.permute(0, 3, 1, 2)
        for top, bottom, win_top, win_bottom in tile_spans(h, tile, self.tile_overlap):
            for left, right, win_left, win_right in tile_spans(w, tile, self.tile_overlap):
                window = lr[..., win_top:win_bottom, win_left:win_right].to(
                    self.device, non_blocking=True
                )
                sr = self._run(window)
                core = sr[
                    ...,
                    (top - win_top) * s : (bottom - win_top) * s,
                    (left - win_left) * s : (right - win_left) * s,
                ]
                out[..., top * s : bottom * s, left * s : right * s] = self._quantize(
                    core, out_dtype
                ).to(lr.device)
                if self.progress is not None:
                    self.progress(b * (bottom - top) * (right - left))
        return out
