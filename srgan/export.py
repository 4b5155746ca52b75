"""Export a generator to ONNX (fp32, fp16) and to an int8 model for edge CPUs.

Run ``python -m srgan.export --help``. For example (outputs in ``runs/export/`` unless
paths are given)::

    python -m srgan.export --model default --fp16 \\
        --int8 --calibration-dir samples --calibration-downscale 4 --hr-dir samples
    python -m srgan.export --model default --output fast.onnx --int8 fast.int8.onnx \\
        --calibration-dir DIV2K_valid_HR --calibration-downscale 4 --hr-dir Set5/HR

* The ONNX graph takes ``lr`` ``(B, C, H, W)`` float32 in [0, 1] and returns ``sr``
  ``(B, C, H*scale, W*scale)`` clamped to [0, 1] (the inference contract of
  ``srgan.inference``, without tiling). Batch, height and width are dynamic; a generator
  with ``size_multiple > 1`` exports with height and width constrained to that multiple.
* Every export is checked: onnx's checker, then ONNX Runtime against PyTorch on random
  and (given ``--hr-dir`` or ``--calibration-dir``) real images at two sizes and two
  batch sizes; fp32 must match to ``--tolerance`` (default 1e-4).
* int8 is static post-training quantization with ONNX Runtime (QDQ format, per-channel
  int8 weights, uint8 or int8 activations), calibrated on LR crops of real images. With
  ``--hr-dir`` the report gives the Y-PSNR (border ``scale``, ``srgan.metrics.psnr``) of
  the fp32 and int8 models on those images and the drop, so the cost of int8 is known
  before deploying.
* A JSON report is written beside the output (``NAME.export.json``).

A generator that cannot be exported raises ``ExportError`` naming the first module
(deepest first) that fails on its own, and why. This file is the command line; the work
is done by ``srgan.onnx`` (export, fp16, parity) and ``srgan.int8`` (quantization).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from srgan.images import check_writable
from srgan.int8 import QualityError, calibration_crops, psnr_report, quantize_int8
from srgan.onnx import (
    DEFAULT_OPSET,
    ExportError,
    ParityError,
    check_parity,
    convert_fp16,
    export_onnx,
    onnx_session,
    parity_inputs,
)
from srgan.weights import DEFAULT_MODEL, load_model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m srgan.export",
        description="Export a generator to ONNX (dynamic batch/height/width), fp16 and int8, "
        "checked against PyTorch with ONNX Runtime. Writes NAME.export.json beside the output.",
    )
    parser.add_argument(
        "--model", default="default", help="shipped model name (default, fast, ...) or a file"
    )
    parser.add_argument(
        "--output",
        "--onnx",
        "-o",
        dest="output",
        default=None,
        help=f"fp32 ONNX file to write (default {DEFAULT_FOLDER}/MODEL.onnx)",
    )
    parser.add_argument(
        "--opset",
        type=int,
        default=DEFAULT_OPSET,
        help=f"ONNX opset, 17 or later (default {DEFAULT_OPSET})",
    )
    parser.add_argument(
        "--fp16",
        metavar="PATH",
        nargs="?",
        const="",
        help="also write an fp16 ONNX model (here, or beside the fp32 one as MODEL.fp16.onnx)",
    )
    parser.add_argument(
        "--int8",
        metavar="PATH",
        nargs="?",
        const="",
        help="also write an int8 (QDQ) ONNX model (here, or beside the fp32 one as MODEL.int8.onnx)",
    )
    parser.add_argument(
        "--calibration-dir",
        help="folder of real images for int8 calibration (LR, or HR with --calibration-downscale)",
    )
    parser.add_argument(
        "--calibration-downscale",
        type=int,
        metavar="N",
        help="calibration images are HR: make LR with MATLAB bicubic 1/N",
    )
    parser.add_argument(
        "--calibration-crops", type=int, default=32, help="number of random crops (default 32)"
    )
    parser.add_argument(
        "--calibration-crop-size", type=int, default=64, help="LR crop side in pixels (default 64)"
    )
    parser.add_argument(
        "--calibration-method",
        choices=["minmax", "percentile", "entropy"],
        default="minmax",
        help="how activation ranges are set from the crops: their extremes (minmax, the "
        "default), a high percentile, or the range of least entropy loss",
    )
    parser.add_argument(
        "--activation-type",
        choices=["uint8", "int8"],
        default="uint8",
        help="integer type of the quantized activations (default uint8; weights are int8)",
    )
    parser.add_argument(
        "--hr-dir", help="HR images: report Y-PSNR of fp32 vs int8 (and use them for parity checks)"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="largest fp32 difference from PyTorch allowed, on [0, 1] outputs (default 1e-4)",
    )
    parser.add_argument(
        "--max-psnr-drop",
        type=float,
        metavar="DB",
        help="fail (exit code 1) when the int8 model loses more Y-PSNR than this on --hr-dir",
    )
    parser.add_argument("--report", help="JSON report path (default OUTPUT.export.json)")
    return parser


DEFAULT_FOLDER = "runs/export"


def default_outputs(args: argparse.Namespace) -> None:
    """Fill in the output paths not given: ``runs/export/MODEL.onnx`` and, for ``--fp16`` /
    ``--int8`` without a path, ``MODEL.fp16.onnx`` / ``MODEL.int8.onnx`` beside it."""
    if args.output is None:
        name = DEFAULT_MODEL if args.model == "default" else Path(args.model).stem
        args.output = str(Path(DEFAULT_FOLDER) / f"{name}.onnx")
    stem = str(Path(args.output).with_suffix(""))
    if args.fp16 == "":
        args.fp16 = f"{stem}.fp16.onnx"
    if args.int8 == "":
        args.int8 = f"{stem}.int8.onnx"


def report_path(output: Path) -> Path:
    return output.with_name(output.name.removesuffix(".onnx") + ".export.json")


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: 0 on success, 1 (with the reason) when the export or its checks
    fail, 2 for a problem with the command's inputs (a model, a folder, an output path)."""
    try:
        run(argv)
    except (ExportError, ParityError, QualityError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: files already written are complete", file=sys.stderr)
        return 130
    return 0


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse ``argv``, export and check; return the report (also written as JSON)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    default_outputs(args)
    if args.int8 and not args.calibration_dir:
        parser.error("--int8 needs --calibration-dir (real images to calibrate on)")
    if args.max_psnr_drop is not None and not (args.int8 and args.hr_dir):
        parser.error("--max-psnr-drop needs --int8 and --hr-dir")
    for flag, path in (("--output", args.output), ("--fp16", args.fp16), ("--int8", args.int8)):
        if path and Path(path).suffix.lower() != ".onnx":
            parser.error(f"{flag} {path}: an ONNX model's file name ends in .onnx")
    for path in (args.output, args.fp16, args.int8, args.report):
        if path:
            check_writable(Path(path).parent)
    generator = load_model(args.model).eval()
    crops = None
    if args.int8:  # read before anything is written: a bad image stops the run here
        crops = calibration_crops(
            args.calibration_dir,
            count=args.calibration_crops,
            crop=args.calibration_crop_size,
            downscale=args.calibration_downscale,
        )
    scale = generator.scale
    multiple = getattr(generator, "size_multiple", 1)
    in_channels = generator.config.get("in_channels", 3)
    output = Path(args.output)
    report: dict[str, Any] = {
        "model": args.model,
        "architecture": type(generator).__name__,
        "config": generator.config,
        "scale": scale,
        "size_multiple": multiple,
        "opset": args.opset,
        "inputs": {"lr": "(batch, C, height, width) float32 in [0, 1]"},
        "outputs": {"sr": "(batch, C, height*scale, width*scale) float32 clamped to [0, 1]"},
        "torch": torch.__version__,
    }
    import onnxruntime as ort

    report["onnxruntime"] = ort.__version__
    start = time.perf_counter()
    export_onnx(generator, output, opset=args.opset)
    report["fp32"] = {"path": output.name, "export_s": round(time.perf_counter() - start, 2)}
    cases = parity_inputs(args.hr_dir or args.calibration_dir, scale, multiple, in_channels)
    fp32 = onnx_session(output)
    diffs = check_parity(generator, fp32, cases)
    worst = max(diffs.values())
    report["fp32"].update(
        max_abs_diff=diffs, tolerance=args.tolerance, passed=worst <= args.tolerance
    )
    print(f"fp32 ONNX: {output} (max abs diff {worst:.2e} over {len(cases)} checks)")
    if worst > args.tolerance:
        report_file = Path(args.report or report_path(output))
        report_file.write_text(json.dumps(report, indent=2) + "\n")
        raise ParityError(
            f"ONNX output differs from PyTorch by {worst:.2e} > {args.tolerance:g}: {diffs}"
        )
    sessions = {"fp32": fp32}
    if args.fp16:
        convert_fp16(output, args.fp16)
        fp16 = onnx_session(args.fp16)
        diffs16 = check_parity(generator, fp16, cases)
        report["fp16"] = {"path": Path(args.fp16).name, "max_abs_diff": diffs16}
        sessions["fp16"] = fp16
        print(f"fp16 ONNX: {args.fp16} (max abs diff {max(diffs16.values()):.2e})")
    if args.int8:
        start = time.perf_counter()
        quantize_int8(
            output,
            args.int8,
            crops,
            method=args.calibration_method,
            activation_type=args.activation_type,
        )
        int8 = onnx_session(args.int8)
        diffs8 = check_parity(generator, int8, cases)
        report["int8"] = {
            "path": Path(args.int8).name,
            "format": "QDQ",
            "weights": "int8 per-channel",
            "activations": args.activation_type,
            "calibration": {
                "method": args.calibration_method,
                "crops": len(crops),
                "crop_size": args.calibration_crop_size,
                "downscale": args.calibration_downscale,
                "folder": Path(args.calibration_dir).name,
            },
            "quantize_s": round(time.perf_counter() - start, 2),
            "max_abs_diff": diffs8,
        }
        sessions["int8"] = int8
        print(f"int8 ONNX: {args.int8} ({args.calibration_method} calibration, {len(crops)} crops)")
    if args.hr_dir:
        quality = psnr_report(sessions, args.hr_dir, scale)
        quality["folder"] = Path(args.hr_dir).name
        quality["convention"] = f"Y channel, border {scale}, LR by MATLAB bicubic 1/{scale}"
        if "int8" in sessions:
            means = quality["mean_psnr"]
            quality["int8_psnr_drop_db"] = means["fp32"] - means["int8"]
            print(
                f"Y-PSNR on {quality['folder']}: fp32 {means['fp32']:.3f} dB, int8 "
                f"{means['int8']:.3f} dB, drop {quality['int8_psnr_drop_db']:.3f} dB"
            )
        report["quality"] = quality
    report_file = Path(args.report or report_path(output))
    report_file.parent.mkdir(parents=True, exist_ok=True)
    report_file.write_text(json.dumps(report, indent=2) + "\n")
    print(f"report: {report_file}")
    drop = report.get("quality", {}).get("int8_psnr_drop_db")
    if args.max_psnr_drop is not None and drop is not None and drop > args.max_psnr_drop:
        raise QualityError(
            f"int8 loses {drop:.3f} dB Y-PSNR on {args.hr_dir} (allowed {args.max_psnr_drop:g} dB):"
            " try another --calibration-method, more --calibration-crops, or keep fp32"
        )
    return report


if __name__ == "__main__":
    sys.exit(main())
