"""``python -m srgan``: point to the commands (``--help`` too); anything else is an error."""

import os
import sys

COMMANDS = """srgan commands (each takes --help):
  python -m srgan.fit            train and validate models (LightningCLI; srgan-fit)
  python -m srgan.upscale IN OUT upscale images, videos or folders (srgan-upscale)
  python -m srgan.export         export to ONNX, fp16 and int8, checked (srgan-export)
  python -m srgan.assets fetch   install the ImageNet backbones of LPIPS, DISTS and the VGG
                                 loss once (check: see what is there)"""

if sys.argv[1:] in ([], ["-h"], ["--help"]):
    try:
        print(COMMANDS, flush=True)
    except BrokenPipeError:
        # ``python -m srgan | head -1``: the reader has gone; nothing more to say, and
        # stdout points at nothing so that the flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
else:
    print(
        f"{COMMANDS}\nerror: python -m srgan takes no arguments; use one of the commands above",
        file=sys.stderr,
    )
    sys.exit(2)
