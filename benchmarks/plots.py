"""Matplotlib plumbing shared by the benchmark reports: headless backend, one save path."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (works with no display)."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit(
            "the benchmark plots need matplotlib: pip install -e '.[bench]' (make install has it)"
        ) from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure: Any, path: str | Path, *, dpi: int = 150) -> Path:
    """Save ``figure`` as ``path`` (parents created), close it and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=dpi)
    pyplot().close(figure)
    return path


if __name__ == "__main__":
    raise SystemExit(
        "benchmarks.plots has no command line: it draws the figures of benchmarks.quality "
        "and benchmarks.speed (python -m benchmarks.quality --help, python -m benchmarks.speed --help)"
    )
