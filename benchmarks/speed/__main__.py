"""``python -m benchmarks.speed``: see ``benchmarks.speed.cli``."""

from benchmarks.speed.cli import main

main()
