"""The lower bounds of pyproject.toml, as `make test-oldest` pins them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_oldest():
    spec = importlib.util.spec_from_file_location("oldest", ROOT / "tests" / "oldest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_requirement_is_pinned_at_its_lower_bound() -> None:
    oldest = load_oldest()
    assert oldest.oldest(["jsonargparse[signatures]>=4.39", "scipy >= 1.11.1"]) == [
        "jsonargparse==4.39",
        "scipy==1.11.1",
    ]
    for unbounded in ("numpy", "numpy<3", "numpy>=1.26,<3"):
        with pytest.raises(SystemExit, match="no plain lower bound"):
            oldest.oldest([unbounded])
    # pyproject.toml's own: one pin per requirement, the package and its test tools.
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 on
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["test"]
    pins = oldest.oldest(requirements)
    assert len(pins) == len(requirements) and all("==" in pin for pin in pins)
    assert any(pin.startswith("torch==") for pin in pins)
