"""``python -m benchmarks.release``: see ``benchmarks.release.plan``."""

from benchmarks.release.plan import main

main()
