"""``python -m srgan``: point to the three commands."""

print(
    "srgan commands:\n"
    "  python -m srgan.fit      train (LightningCLI; --help)\n"
    "  python -m srgan.upscale  upscale images, videos or folders (--help)\n"
    "  python -m srgan.export   export to ONNX / int8 (--help)"
)
