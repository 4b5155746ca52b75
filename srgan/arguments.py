"""``argparse`` types shared by srgan's command lines and the benchmarks' (a number's
range said in the usage error, as ``argparse`` says a wrong type)."""

from __future__ import annotations

import argparse
from typing import Any


def at_least(low: int) -> Any:
    """An ``argparse`` type: an integer of at least ``low``."""
    return in_range(low, None)


def in_range(low: int, high: int | None) -> Any:
    """An ``argparse`` type: an integer from ``low`` to ``high`` (``None``: no limit)."""

    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be {low} to {high}, got {value}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its message
    return parse


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


# argparse names the type in its message ("invalid number value: 'abc'").
positive_float.__name__ = non_negative_float.__name__ = "number"
