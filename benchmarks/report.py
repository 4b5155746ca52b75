"""Shared report plumbing for the benchmarks: environment record, JSON and Markdown output."""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import torch


def environment(device: torch.device | str | None = None) -> dict[str, Any]:
    """Versions and hardware, recorded with every benchmark result (Pillow's and its JPEG
    library's too: they decode the images and make the degraded LR's JPEG)."""
    import PIL
    from PIL import features

    import srgan

    info: dict[str, Any] = {
        "srgan": srgan.__version__,
        "torch": torch.__version__,
        "pillow": PIL.__version__,
        "libjpeg_turbo": features.version("libjpeg_turbo"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
    }
    device = torch.device(device) if device is not None else None
    if device is not None and device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        try:
            import pynvml

            pynvml.nvmlInit()
            info["driver"] = pynvml.nvmlSystemGetDriverVersion()
        except Exception:  # noqa: BLE001 - the driver version is a nicety
            info["driver"] = None
    return info


def psnr_axis_label(channels: str | None) -> str:
    """A plot's PSNR axis for a ``benchmarks.quality`` run's ``channels`` setting."""
    return "PSNR (dB, RGB)" if channels == "RGB" else "PSNR (dB, Y)"


def input_error(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    """A problem with the inputs (a folder, a file, the device), not with how the command
    was written: the message alone, without the usage text, and exit status 2 (as
    ``parser.error``), as srgan's commands do."""
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def out_folder_problem(out: str | Path) -> str | None:
    """Why the results cannot go into ``--out`` (a file there, a folder that cannot be
    written), or ``None``: asked before any measuring, so that none is lost at the end."""
    from srgan.images import check_writable

    out = Path(out)
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file: give a folder (the results are several files)"
    try:
        check_writable(out)
    except PermissionError as error:
        return f"--out: {error}"
    return None


def remove_stale(folder: Path, patterns: Sequence[str], written: Sequence[Path]) -> None:
    """Remove the files in ``folder`` matching ``patterns`` (outputs a command writes) that
    this run did not write: plots of an earlier run into the same folder would sit beside
    new numbers that they do not show."""
    kept = {Path(p).resolve() for p in written}
    for pattern in patterns:
        for path in folder.glob(pattern):
            if path.is_file() and path.resolve() not in kept:
                path.unlink()


def write_json(payload: Any, path: str | Path) -> Path:
    """``payload`` as strict JSON: a number that is not finite (JSON has none) is null."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(finite(payload), indent=2, default=str, allow_nan=False)
    path.write_text(text + "\n")
    return path


def finite(value: Any) -> Any:
    """``value`` with its infinite and NaN floats (at any depth) made ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def markdown_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    *,
    floats: str = ".2f",
    significant: int | None = None,
) -> str:
    """A GitHub Markdown table of ``rows`` (dicts) over ``columns``; ``None`` prints as ``-``.
    Floats as ``floats`` says or, given ``significant``, to that many significant digits
    without an exponent (1063.4 -> 1063 at four; 0.012345 -> 0.0123 at three), with at most
    six decimals."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float) and significant and math.isfinite(value):
            if value == 0:
                return "0"
            rounded = float(f"{value:.{significant}g}")  # 9.996 -> 10.0 at three digits
            decimals = significant - 1 - math.floor(math.log10(abs(rounded)))
            return f"{rounded:.{min(6, max(0, decimals))}f}"
        if isinstance(value, float):
            return format(value, floats)
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(" --- " for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


# Vector extensions that decide CPU inference speed (int8 above all: VNNI and AMX).
VECTOR_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
)


def cpu_description(cpuinfo: str | Path = "/proc/cpuinfo") -> dict[str, Any]:
    """The CPU's model name and vector extensions (from ``/proc/cpuinfo`` flags on Linux)."""
    import os

    info: dict[str, Any] = {"cpu_model": platform.processor() or platform.machine()}
    info["cpu_count"] = os.cpu_count()
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        info["vector_extensions"] = None
        return info
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            info["cpu_model"] = value.strip()
        elif key.strip() in ("flags", "Features"):
            flags.update(value.split())
    info["vector_extensions"] = [f for f in VECTOR_FLAGS if f in flags]
    return info


if __name__ == "__main__":
    raise SystemExit(
        "benchmarks.report has no command line: it writes the reports of benchmarks.quality "
        "and benchmarks.speed (python -m benchmarks.quality --help, python -m benchmarks.speed --help)"
    )
