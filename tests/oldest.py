"""Print pip constraints that pin every dependency of srgan (and its test tools) to the
oldest version pyproject.toml allows: ``make test-oldest`` runs the suite with them, so
that the lower bounds stay true."""

from __future__ import annotations

import re
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def oldest(requirements: list[str]) -> list[str]:
    """``"name[extra]>=1.2"`` -> ``"name==1.2"``, for each requirement with a lower bound."""
    pins = []
    for requirement in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([^,;\s]+)\s*", requirement)
        if match is None:
            sys.exit(f"no plain lower bound in {requirement!r}: give it one (name>=version)")
        pins.append(f"{match[1]}=={match[3]}")
    return pins


def main() -> None:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        sys.exit("tests/oldest.py needs Python 3.11 or newer: make test-oldest PYTHON=python3.11")
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["test"]
    print("\n".join(oldest(requirements)))


if __name__ == "__main__":
    main()
