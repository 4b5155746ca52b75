"""Honest latency measurement: warm-up excluded, device synchronised, median and p90.

On CUDA each call is timed with CUDA events (recorded on the stream, read after a
synchronisation), so no host-side launch latency is mistaken for work; on CPU with
``time.perf_counter`` around a call that returns only when the work is done.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch


@dataclass
class Timing:
    """Per-call latencies in milliseconds over the timed repeats."""

    latencies_ms: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return float(np.median(self.latencies_ms))

    @property
    def p90_ms(self) -> float:
        return float(np.percentile(self.latencies_ms, 90))

    def summary(self, frames_per_call: int = 1) -> dict[str, Any]:
        return {
            "repeats": len(self.latencies_ms),
            "median_ms": self.median_ms,
            "p90_ms": self.p90_ms,
            "min_ms": float(min(self.latencies_ms)),
            "fps": frames_per_call * 1000.0 / self.median_ms,
        }


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    call: Callable[[], Any],
    *,
    device: torch.device | str = "cpu",
    warmup: int = 3,
    repeats: int = 10,
) -> Timing:
    """Time ``call`` ``repeats`` times after ``warmup`` untimed calls."""
    device = torch.device(device)
    for _ in range(warmup):
        call()
    synchronize(device)
    timing = Timing()
    if device.type == "cuda":
        events = [
            (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
            for _ in range(repeats)
        ]
        for start, end in events:
            start.record()
            call()
            end.record()
        synchronize(device)
        timing.latencies_ms = [start.elapsed_time(end) for start, end in events]
        return timing
    for _ in range(repeats):
        start_s = time.perf_counter()
        call()
        timing.latencies_ms.append((time.perf_counter() - start_s) * 1000.0)
    return timing


def reset_peak_rss() -> bool:
    """Start this process's peak resident set size afresh (Linux: ``VmHWM`` is reset through
    ``/proc/self/clear_refs``), so that :func:`peak_rss_mb` gives the peak of what runs next.
    False where the peak cannot be reset: it then keeps the peak so far."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (CPU runs) since it started or since
    :func:`reset_peak_rss`.

    On Linux from ``VmHWM`` (the peak of this program's own memory): ``ru_maxrss`` keeps
    the parent's peak across fork and exec, so a small child of a big process would report
    its parent's figure."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        import resource  # not on Windows
    except ImportError:
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 1024.0 if sys.platform != "darwin" else peak / 2**20
