"""The quality benchmark: PSNR / SSIM / LPIPS / DISTS of upscalers the way published SR
tables measure them. ``python -m benchmarks.quality --help``; ``evaluate`` is the protocol,
``methods`` what is compared, ``report`` the tables and plots, ``cli`` the command line."""
