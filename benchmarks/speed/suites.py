"""The speed benchmark's named workloads and suites: what each performance bar in
``benchmarks/README.md`` is measured with, as data."""

from __future__ import annotations

import argparse
from typing import Any

# Named workloads: LR input sizes (width, height); at x4 they give the named output.
WORKLOADS: dict[str, tuple[int, int]] = {
    "180p": (320, 180),
    "270p": (480, 270),  # -> 1920x1080 at x4
    "540p": (960, 540),  # -> 3840x2160 (4K UHD) at x4
}


# The named suites: what the performance bars in benchmarks/README.md are measured with.
SUITES: dict[str, dict[str, Any]] = {
    "gpu": dict(
        arch=["rrdb"],
        device="cuda",
        size=["540p"],
        batch=[1],
        variants=[
            ("eager", "fp32", False),
            ("eager", "fp32-strict", False),
            ("eager", "fp16", True),
            ("eager", "bf16", True),
            ("compile", "bf16", True),
            ("compile-cudagraphs", "fp16", True),
            ("onnx-cuda", "fp32", False),
            ("onnx-cuda", "fp16", False),
        ],
        warmup=3,
        repeats=10,
        interleave=False,
        baseline=("eager", "fp32", False),
    ),
    "realtime": dict(
        arch=[],
        model=["fast"],
        device="cuda",
        size=["540p"],
        batch=[1],
        variants=[
            ("eager", "fp32", False),
            ("eager", "fp16", True),
            ("eager", "bf16", True),
            ("compile", "fp16", True),
            ("compile-cudagraphs", "fp16", True),
        ],
        warmup=10,
        repeats=300,
        interleave=False,
        baseline=("eager", "fp32", False),
    ),
    "cpu": dict(
        arch=[],
        model=["fast"],
        folder="samples",
        device="cpu",
        size=["180p"],
        batch=[1],
        variants=[
            ("eager", "fp32", False),
            ("onnx", "fp32", False),
            ("onnx-int8", "int8", False),
        ],
        warmup=2,
        repeats=15,
        interleave=True,
        baseline=("onnx", "fp32", False),
    ),
}


def parse_size(text: str) -> tuple[str, int, int]:
    """``540p`` or ``960x540`` -> ``(name, width, height)``."""
    if text in WORKLOADS:
        return (text, *WORKLOADS[text])
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size must be WxH or one of {', '.join(WORKLOADS)}, got {text!r}"
        ) from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"a size needs both sides of at least 1, got {text!r}")
    return (f"{width}x{height}", width, height)
