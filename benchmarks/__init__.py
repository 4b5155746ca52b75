"""srgan's benchmarks: ``python -m benchmarks.quality`` (PSNR, SSIM, LPIPS, DISTS),
``python -m benchmarks.speed`` (frame rates, latency, energy, end to end),
``benchmarks.training`` (training throughput and loss cost) and ``python -m
benchmarks.release`` (the recipes that train and export the shipped models)."""
