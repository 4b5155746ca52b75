"""Energy around a timed loop: NVML's total-energy counter on NVIDIA GPUs, RAPL on CPUs.

``EnergyMeter(device)`` is a context manager; afterwards ``joules`` holds the energy
used between enter and exit (``None`` with a ``reason`` when it cannot be measured).
NVML comes from ``nvidia-ml-py`` (optional: ``pip install srgan[gpu]``); RAPL from
``/sys/class/powercap/intel-rapl:N/energy_uj`` (package domains), which is often
readable by root only.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import torch

POWERCAP = Path("/sys/class/powercap")


def rapl_domains(root: Path = POWERCAP) -> list[Path]:
    """The top-level RAPL package domains (``intel-rapl:0``, ``intel-rapl:1``, ...)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)


def read_rapl(root: Path = POWERCAP) -> tuple[dict[Path, tuple[int, int]] | None, str | None]:
    """``({domain: (energy_uj, max_range_uj)}, None)`` or ``(None, why not)``."""
    domains = rapl_domains(root)
    if not domains:
        return None, f"no readable RAPL energy counters under {root} (powercap)"
    values = {}
    for domain in domains:
        try:
            energy = int((domain / "energy_uj").read_text())
            max_range = int((domain / "max_energy_range_uj").read_text())
        except PermissionError:
            return None, f"{domain / 'energy_uj'} is not readable (needs root)"
        except (OSError, ValueError) as error:
            return None, f"cannot read {domain / 'energy_uj'}: {error}"
        values[domain] = (energy, max_range)
    return values, None


def nvml_handle(pynvml: Any, device: torch.device) -> Any:
    """NVML's handle for torch's CUDA ``device``, found by UUID: NVML numbers every GPU on
    the host, torch only the visible ones (``CUDA_VISIBLE_DEVICES``). Falls back to the
    index when the UUID is not available."""
    index = device.index if device.index is not None else 0
    try:
        uuid = str(torch.cuda.get_device_properties(index).uuid)
        return pynvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith("GPU-") else f"GPU-{uuid}")
    except Exception as error:  # noqa: BLE001 - older torch or NVML: fall back to the index
        masked = os.environ.get("CUDA_VISIBLE_DEVICES")
        if masked:
            # The index is right only without masking (and with CUDA's device order equal
            # to NVML's PCI bus order): say which GPU is read instead.
            warnings.warn(
                f"NVML could not find cuda:{index} by UUID ({error}); with "
                f"CUDA_VISIBLE_DEVICES={masked} the energy read from NVML GPU {index} may "
                "belong to another GPU",
                stacklevel=3,
            )
        return pynvml.nvmlDeviceGetHandleByIndex(index)


class EnergyMeter:
    """Joules used by the device between ``__enter__`` and ``__exit__``."""

    def __init__(self, device: torch.device | str = "cpu", *, powercap: Path = POWERCAP) -> None:
        self.device = torch.device(device)
        self.powercap = powercap
        self.joules: float | None = None
        self.reason: str | None = None
        self.source: str | None = None
        self.seconds = 0.0
        self._start: Any = None
        self._handle: Any = None
        self._clock = 0.0

    def __enter__(self) -> EnergyMeter:
        if self.device.type == "cuda":
            try:
                import pynvml

                pynvml.nvmlInit()
                self._handle = nvml_handle(pynvml, self.device)
                self._start = pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)  # mJ
                self.source = "nvml"
            except ImportError:
                self.reason = "nvidia-ml-py is not installed (pip install srgan[gpu])"
            except Exception as error:  # noqa: BLE001 - any NVML failure: not measured
                self.reason = f"NVML energy counter unavailable: {error}"
        else:
            self._start, self.reason = read_rapl(self.powercap)
            if self._start is not None:
                self.source = "rapl"
        # The window starts at the first counter reading (NVML's start-up is not in it).
        self._clock = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._clock
        if self._start is None:
            return
        if self.source == "nvml":
            import pynvml

            end = pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle)
            if end == self._start:
                # The counter advances in steps; an unchanged one is no reading, not 0 J.
                self.reason = (
                    f"the NVML energy counter did not advance in {self.seconds:.3f} s: "
                    "time a longer loop (--repeats)"
                )
                return
            self.joules = (end - self._start) / 1000.0
            return
        end, reason = read_rapl(self.powercap)
        if end is None:
            self.reason = reason
            return
        total_uj = 0
        for domain, (start_uj, max_range) in self._start.items():
            delta = end[domain][0] - start_uj
            total_uj += delta if delta >= 0 else delta + max_range  # the counter wrapped
        self.joules = total_uj / 1e6

    def record(self, frames: int) -> dict[str, Any]:
        """Joules per frame over the ``frames`` frames made inside the meter, and the average
        watts over its wall-clock window (the span the energy counter covers)."""
        if self.joules is None:
            return {"energy": "not measured", "energy_reason": self.reason}
        return {
            "energy_source": self.source,
            "joules_per_frame": self.joules / frames,
            "watts": self.joules / self.seconds if self.seconds > 0 else None,
        }
