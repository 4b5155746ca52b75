"""srgan: single-image super-resolution with GANs.

Train ESRGAN-class models (``python -m srgan.fit``), swap adversarial objectives from the
config, upscale images, videos and folders (``python -m srgan.upscale``), export to ONNX / int8
(``python -m srgan.export``) and benchmark quality and speed (``python -m benchmarks.*``).

In Python: ``upscale_image(image, "default")`` (a PIL image or numpy array back),
``build_upscaler(model, backend=...)`` for an ``Upscaler`` to call on ``(B, C, H, W)``
batches, ``upscale_video(source, target, model)``, ``load_model`` / ``save_generator``,
the errors they raise for bad input (``ImageError``, ``VideoError``, ``BackendError``),
the networks (``RRDBNet``, ``SRResNet``, ``CompactNet``, ``VGGStyle``, ``UNet``), the
adversarial objectives, and ``srgan.metrics`` (PSNR, SSIM, LPIPS, DISTS).
"""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path
from typing import TextIO


def _quiet_interrupt(kind: type[BaseException], value: BaseException, traceback: object) -> None:
    """A Ctrl-C while a command is still importing its libraries: one line, no traceback
    (once running, each command handles Ctrl-C itself)."""
    if issubclass(kind, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return
    sys.__excepthook__(kind, value, traceback)  # type: ignore[arg-type]


def _plain_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """srgan's own warnings (a skipped image, a calibration image too small) as one plain
    line, without the source file and line Python shows: they speak to the user."""
    if Path(filename).resolve().is_relative_to(Path(__file__).resolve().parent):
        print(f"warning: {message}", file=file or sys.stderr)
    else:
        _show_warning(message, category, filename, lineno, file, line)


def _own_command(argv: list[str], orig_argv: list[str]) -> bool:
    """Whether this process is one of the project's command lines: ``python -m srgan.*`` or
    ``-m benchmarks.*`` (``argv[0]`` is "-m" while it imports; the interpreter's own
    arguments say which module: another program run with ``-m`` that imports srgan keeps
    its own Ctrl-C and warnings) or an ``srgan-*`` script."""
    if argv[:1] == ["-m"]:
        for index, arg in enumerate(orig_argv[1:], 1):
            # -m, or -m after flags that take no value (python -Om srgan.upscale).
            flags = re.fullmatch(r"-[bBdEiIOPqsSuv]*m(.*)", arg)
            if flags:
                module = flags[1] or (orig_argv[index + 1] if index + 1 < len(orig_argv) else "")
                return module.split(".")[0] in ("srgan", "benchmarks")
        return False
    return Path(argv[0] if argv else "").name.startswith("srgan-")


_show_warning = warnings.showwarning
if _own_command(sys.argv, getattr(sys, "orig_argv", [])):
    sys.excepthook = _quiet_interrupt
    warnings.showwarning = _plain_warning

from srgan.backends import BackendError, build_upscaler
from srgan.discriminators import UNet, VGGStyle
from srgan.generators import CompactNet, RRDBNet, SRResNet
from srgan.images import ImageError
from srgan.inference import Upscaler
from srgan.objectives import (
    AdversarialObjective,
    Hinge,
    LeastSquares,
    MaxSurprise,
    Minimax,
    NonSaturating,
    Relativistic,
    RelativisticAverage,
    WassersteinGP,
)
from srgan.pictures import upscale_image
from srgan.resize import imresize
from srgan.video import VideoError, upscale_video
from srgan.weights import load_generator, load_model, save_generator

__version__ = "0.1.0"


__all__ = [
    "AdversarialObjective",
    "BackendError",
    "CompactNet",
    "Hinge",
    "ImageError",
    "LeastSquares",
    "MaxSurprise",
    "Minimax",
    "NonSaturating",
    "RRDBNet",
    "Relativistic",
    "RelativisticAverage",
    "SRResNet",
    "Upscaler",
    "UNet",
    "VGGStyle",
    "VideoError",
    "WassersteinGP",
    "__version__",
    "build_upscaler",
    "imresize",
    "load_generator",
    "load_model",
    "save_generator",
    "upscale_image",
    "upscale_video",
]
