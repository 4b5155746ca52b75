"""The speed benchmark: latency, frame rate, memory and energy of a model across PyTorch and
ONNX Runtime backends. ``python -m benchmarks.speed --help``; ``suites`` is what each bar is
measured with, ``runs`` the timing, ``plots`` the charts, ``cli`` the command line."""
