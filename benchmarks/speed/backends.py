"""Inference backends for the speed benchmark: one callable per (backend, precision).

* ``eager``: PyTorch eager; ``compile``: ``torch.compile`` (default mode);
  ``compile-cudagraphs``: ``torch.compile(mode="reduce-overhead")``, CUDA graphs (GPU).
  Precisions ``fp32`` (PyTorch defaults: cuDNN may use TF32), ``fp32-strict`` (TF32 off),
  ``fp16`` (GPU only), ``bf16``; optionally channels-last.
* ``onnx``: ONNX Runtime fp32 on the CPU provider; ``onnx-int8``: the static int8 (QDQ)
  model on the CPU provider; ``onnx-cuda``: fp32 or fp16 on the CUDA provider (inputs
  and outputs stay on the GPU through I/O binding).

Every runner takes the same ``(B, C, H, W)`` input and returns once the output is
complete (GPU work is synchronised by the timer, see ``benchmarks.speed.timing``).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srgan.inference import Upscaler

TORCH_BACKENDS = ("eager", "compile", "compile-cudagraphs")
ONNX_BACKENDS = ("onnx", "onnx-int8", "onnx-cuda")
BACKENDS = TORCH_BACKENDS + ONNX_BACKENDS
PRECISIONS = ("fp32", "fp32-strict", "fp16", "bf16")
DTYPES = {
    "fp32": torch.float32,
    "fp32-strict": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
}


@dataclass(frozen=True)
class Variant:
    """One thing to time: a backend at a precision, channels-last or not."""

    backend: str
    precision: str
    channels_last: bool = False

    @property
    def label(self) -> str:
        return f"{self.backend} {self.precision}" + (" CL" if self.channels_last else "")


def precisions_for(backend: str, precisions: list[str]) -> list[str]:
    """The precisions a backend runs among those asked for."""
    if backend == "onnx":
        return ["fp32"]
    if backend == "onnx-int8":
        return ["int8"]
    if backend == "onnx-cuda":
        return [p for p in ("fp32", "fp16") if p in precisions] or ["fp32"]
    return list(precisions)


def unavailable(variant: Variant, device: torch.device) -> str | None:
    """Why ``variant`` cannot run on ``device`` (``None`` if it can)."""
    backend, precision = variant.backend, variant.precision
    if backend not in BACKENDS:
        return f"unknown backend {backend!r}"
    if backend in TORCH_BACKENDS:
        if precision == "fp16" and device.type != "cuda":
            return "fp16 PyTorch inference needs a GPU"
        if backend == "compile-cudagraphs" and device.type != "cuda":
            return "CUDA graphs need a GPU"
        return None
    import onnxruntime as ort

    providers = ort.get_available_providers()
    if backend == "onnx-cuda":
        if device.type != "cuda":
            return "the ONNX Runtime CUDA provider is benchmarked with --device cuda"
        if "CUDAExecutionProvider" not in providers:
            return (
                "not available: onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)"
            )
        return None
    if device.type == "cuda":
        return "CPU-provider backend; run it with --device cpu"
    return None


def tiled_unavailable(variant: Variant) -> str | None:
    """Why ``variant`` cannot be timed with ``--tile`` (``None`` if it can).

    Tiled inference goes through ``srgan.inference.Upscaler``, which compiles with the
    default mode (no CUDA graphs) and keeps NCHW: those rows would time something else.
    """
    if variant.backend in ONNX_BACKENDS:
        return "tiled inference is benchmarked with the PyTorch backends"
    if variant.backend == "compile-cudagraphs":
        return "tiled inference compiles without CUDA graphs; time CUDA graphs without --tile"
    if variant.channels_last:
        return "tiled inference runs NCHW; time channels-last without --tile"
    return None


def allow_recompiles(limit: int = 64) -> contextlib.AbstractContextManager:
    """Within the context, ``torch.compile`` keeps ``limit`` versions of one forward and
    fails past that.

    Every compiled variant (dtype, memory format, mode, input shape) adds a version of the
    same ``forward``; past the default limit of 8, torch silently runs it eagerly, and a
    "compile" row would time eager code. With ``fail_on_recompile_limit_hit`` it raises
    instead, and the row records the error.
    """
    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    settings = {name: max(getattr(config, name), limit)}
    if hasattr(config, "fail_on_recompile_limit_hit"):
        settings["fail_on_recompile_limit_hit"] = True
    return config.patch(settings)


@contextlib.contextmanager
def strict_fp32(enabled: bool) -> Iterator[None]:
    """Turn TF32 off in cuDNN and matmul for the duration (``fp32-strict``)."""
    if not enabled:
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def torch_runner(
    model: nn.Module,
    variant: Variant,
    sample: torch.Tensor,
    *,
    device: torch.device,
    tile: int | None = None,
) -> Callable[[], Any]:
    """A PyTorch call on ``sample`` (already on ``device``) for ``variant``."""
    dtype = DTYPES[variant.precision]
    strict = variant.precision == "fp32-strict"
    if tile is not None:
        # Tiled inference goes through the one inference contract (srgan.inference).
        upscaler = Upscaler(
            copy.deepcopy(model),
            device=device,
            precision="fp32" if dtype == torch.float32 else variant.precision,
            tile=tile,
            compile=variant.backend != "eager",
        )

        def tiled() -> torch.Tensor:
            with strict_fp32(strict):
                return upscaler(sample)

        return tiled
    network = copy.deepcopy(model).eval().to(device, dtype)
    x = sample.to(dtype)
    if variant.channels_last:
        network = network.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if variant.backend == "compile":
        network = torch.compile(network)
    elif variant.backend == "compile-cudagraphs":
        network = torch.compile(network, mode="reduce-overhead")

    def call() -> torch.Tensor:
        with strict_fp32(strict), torch.inference_mode():
            return network(x)

    return call


def onnx_runner(
    path: str | Path,
    sample: torch.Tensor,
    *,
    device: torch.device,
    scale: int,
    threads: int | None = None,
) -> Callable[[], Any]:
    """An ONNX Runtime call on ``sample``: CPU provider, or CUDA with I/O binding."""
    from srgan.onnx import onnx_session

    if device.type != "cuda":
        session = onnx_session(path, threads=threads)
        feed = {"lr": sample.detach().cpu().float().contiguous().numpy()}
        return lambda: session.run(["sr"], feed)
    import numpy as np

    session = onnx_session(path, providers=["CUDAExecutionProvider"])
    if session.get_providers()[0] != "CUDAExecutionProvider":
        # ONNX Runtime falls back to the CPU silently when the CUDA provider cannot load.
        raise RuntimeError("the CUDA provider did not load (missing CUDA/cuDNN libraries?)")
    x = sample.detach().float().contiguous()
    b, c, h, w = x.shape
    out = torch.empty(b, c, h * scale, w * scale, device=x.device, dtype=torch.float32)
    binding = session.io_binding()
    index = x.device.index or 0
    binding.bind_input("lr", "cuda", index, np.float32, tuple(x.shape), x.data_ptr())
    binding.bind_output("sr", "cuda", index, np.float32, tuple(out.shape), out.data_ptr())

    def call(_bound_input: torch.Tensor = x) -> torch.Tensor:  # keeps x's memory alive
        session.run_with_iobinding(binding)
        return out

    return call
