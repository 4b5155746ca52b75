"""srgan's benchmarks: ``python -m benchmarks.quality`` and ``python -m benchmarks.speed``."""
