"""Export a generator to ONNX (fp32, fp16) and to an int8 model for edge CPUs.

Run ``python -m srgan.export --help``. For example (outputs in ``runs/export/`` unless
paths are given)::

    python -m srgan.export --model default --fp16 \\
        --int8 --calibration-dir samples --calibration-downscale 4 --hr-dir samples
    python -m srgan.export --model default --output fast.onnx --int8 fast.int8.onnx \\
        --calibration-dir DIV2K_valid_HR --calibration-downscale 4 --hr-dir Set5/HR

* The ONNX graph takes ``lr`` ``(B, C, H, W)`` float32 RGB in [0, 1] and returns ``sr``
  ``(B, C, H*scale, W*scale)`` RGB clamped to [0, 1] (the inference contract of
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
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from srgan.backends import CALIBRATION_DIR, sha256_file
from srgan.images import atomic_path, atomic_write, check_writable
from srgan.int8 import (
    MIN_CALIBRATION_SIDE,
    QualityError,
    benchmark_pairs,
    calibration_crops,
    psnr_report,
    quantize_int8,
)
from srgan.onnx import (
    DEFAULT_OPSET,
    ExportError,
    ParityError,
    check_parity,
    convert_fp16,
    export_onnx,
    io_contract,
    onnx_session,
    parity_inputs,
)
from srgan.weights import WEIGHTS_DIR, load_generator, resolve_model


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
        help=f"fp32 ONNX file to write (default {DEFAULT_FOLDER}/NAME.onnx, NAME: the model "
        "file's name without its suffix, e.g. fast for default)",
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
        help="also write an fp16 ONNX model (here, or beside the fp32 one: OUTPUT's name "
        "with .fp16.onnx); for GPUs: on CPUs ONNX Runtime runs it slower than fp32",
    )
    parser.add_argument(
        "--int8",
        metavar="PATH",
        nargs="?",
        const="",
        help="also write an int8 (QDQ) ONNX model (here, or beside the fp32 one: OUTPUT's "
        "name with .int8.onnx)",
    )
    parser.add_argument(
        "--calibration-dir",
        help="folder of real images for int8 calibration (LR, or HR with "
        "--calibration-downscale), like those the model will upscale; default: the "
        "built-in crops of the sample photos (as srgan.upscale --backend onnx-int8). "
        "Without --hr-dir, also the inputs of the parity check against PyTorch",
    )
    parser.add_argument(
        "--calibration-downscale",
        type=at_least(1),
        metavar="N",
        help="calibration images are HR: make LR with MATLAB bicubic 1/N",
    )
    parser.add_argument(
        "--calibration-crops",
        type=at_least(1),
        default=32,
        help="number of random crops (default 32)",
    )
    parser.add_argument(
        "--calibration-crop-size",
        type=at_least(MIN_CALIBRATION_SIDE),
        default=64,
        help="LR crop side in pixels (default 64; smaller images give whole-image crops)",
    )
    parser.add_argument(
        "--calibration-method",
        choices=["minmax", "percentile", "entropy"],
        default="minmax",
        help="how activation ranges are set from the crops: their extremes (minmax, the "
        "default), a high percentile, or the range of least entropy loss (percentile and "
        "entropy clip the rarest values, which in a super-resolution model can be the "
        "highlights: measure the cost with --hr-dir)",
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
        type=positive_float,
        default=1e-4,
        help="largest fp32 difference from PyTorch allowed, on [0, 1] outputs (default 1e-4)",
    )
    parser.add_argument(
        "--max-psnr-drop",
        type=non_negative_float,
        metavar="DB",
        help="fail (exit code 1) when the int8 model loses more Y-PSNR than this on --hr-dir",
    )
    parser.add_argument("--report", help="JSON report path (default OUTPUT.export.json)")
    return parser


DEFAULT_FOLDER = "runs/export"


def at_least(low: int) -> Any:
    """An ``argparse`` type: an integer of at least ``low``."""

    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its message
    return parse


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


# argparse names the type in its message ("invalid number value: 'abc'").
positive_float.__name__ = non_negative_float.__name__ = "number"


def default_outputs(args: argparse.Namespace) -> None:
    """Fill in the output paths not given: ``runs/export/MODEL.onnx`` and, for ``--fp16`` /
    ``--int8`` without a path, ``MODEL.fp16.onnx`` / ``MODEL.int8.onnx`` beside it."""
    if args.output is None:
        args.output = str(Path(DEFAULT_FOLDER) / f"{resolve_model(args.model).stem}.onnx")
    stem = str(Path(args.output).with_suffix(""))
    if args.fp16 == "":
        args.fp16 = f"{stem}.fp16.onnx"
    if args.int8 == "":
        args.int8 = f"{stem}.int8.onnx"


def report_path(output: Path) -> Path:
    return output.with_name(output.name.removesuffix(".onnx") + ".export.json")


def check_outputs(args: argparse.Namespace) -> list[str]:
    """Usage errors of the paths to write (distinct, not folders, in writable folders)."""
    named = {"--output": args.output, "--fp16": args.fp16, "--int8": args.int8}
    named["--report"] = args.report or str(report_path(Path(args.output)))
    problems, seen = [], {}
    for flag, path in named.items():
        if not path:
            continue
        if flag != "--report" and Path(path).suffix.lower() != ".onnx":
            problems.append(f"{flag} {path}: an ONNX model's file name ends in .onnx")
        if Path(path).is_dir():
            problems.append(f"{flag} {path} is a folder: give a file name")
        first = seen.setdefault(Path(path).resolve(), flag)
        if first != flag:
            problems.append(f"{flag} {path} is also {first}'s file: give each its own name")
    return problems


def checked_session(path: Path, what: str, opset: int) -> Any:
    """An ONNX Runtime session of the model at ``path``; ``ValueError`` (a usage error: the
    opset asked for) when this ONNX Runtime cannot run it."""
    try:
        return onnx_session(path)
    except Exception as error:  # noqa: BLE001 - ORT's own exception types: reported in a line
        import onnxruntime as ort

        lines = str(error).strip().splitlines() or [type(error).__name__]
        raise ValueError(
            f"ONNX Runtime {ort.__version__} cannot run the {what} model at opset {opset} "
            f"({lines[0][:300]}): give a lower --opset; nothing was written in its place"
        ) from None


def source_name(source: Path, report_file: Path) -> str:
    """A shipped model as the package names it, another file as seen from the report."""
    if source.resolve().parent == WEIGHTS_DIR.resolve():
        return f"srgan/weights/{source.name}"
    return relative(source, report_file)


def same_folder(a: str | Path, b: str | Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def relative(path: str | Path, report_file: Path) -> str:
    """``path`` as seen from the report's folder (where a reader of the report starts);
    absolute when there is no such path (another drive on Windows)."""
    try:
        return os.path.relpath(Path(path).resolve(), report_file.resolve().parent)
    except ValueError:
        return str(Path(path).resolve())


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
    if args.calibration_downscale and not args.calibration_dir:
        parser.error("--calibration-downscale goes with --calibration-dir (HR images there)")
    if args.max_psnr_drop is not None and not (args.int8 and args.hr_dir):
        parser.error("--max-psnr-drop needs --int8 and --hr-dir")
    for problem in check_outputs(args):
        parser.error(problem)
    output = Path(args.output)
    report_file = Path(args.report or report_path(output))
    for path in (args.output, args.fp16, args.int8, report_file):
        if path:
            check_writable(Path(path).parent)
    replaced = {
        Path(p).resolve() for p in (args.output, args.fp16, args.int8) if p and Path(p).is_file()
    }
    source = resolve_model(args.model)
    generator = load_generator(source).eval()
    digest = sha256_file(source)
    scale = generator.scale
    crops = None
    # Without --calibration-dir, the built-in images (HR photos: LR made as for the benchmarks).
    downscale = args.calibration_downscale if args.calibration_dir else scale
    if args.int8:  # read before anything is written: a bad image stops the run here
        crops = calibration_crops(
            args.calibration_dir or CALIBRATION_DIR,
            count=args.calibration_crops,
            crop=args.calibration_crop_size,
            downscale=downscale,
        )
    multiple = getattr(generator, "size_multiple", 1)
    in_channels = generator.config.get("in_channels", 3)
    if in_channels != 3 and (args.int8 or args.hr_dir):
        raise ValueError(
            f"--int8 and --hr-dir read RGB images: this model takes {in_channels} channel(s)"
        )
    # Read before anything is written, as the calibration images above.
    cases = parity_inputs(args.hr_dir or args.calibration_dir, scale, multiple, in_channels)
    if args.hr_dir:
        for _ in benchmark_pairs(args.hr_dir, scale):  # each read and dropped: a check
            pass
    contract = io_contract(in_channels, scale)
    report: dict[str, Any] = {
        "model": args.model,
        "source": {"path": source_name(source, report_file), "sha256": digest},
        "architecture": type(generator).__name__,
        "config": generator.config,
        "scale": scale,
        "size_multiple": multiple,
        "opset": args.opset,
        "inputs": {"lr": contract["srgan.input"].removeprefix("lr: ")},
        "outputs": {"sr": contract["srgan.output"].removeprefix("sr: ")},
        "torch": torch.__version__,
    }
    import onnxruntime as ort

    report["onnxruntime"] = ort.__version__

    def written(path: str | Path) -> str:
        return (
            f"{path}, replacing an earlier file" if Path(path).resolve() in replaced else str(path)
        )

    start = time.perf_counter()
    origin = {"srgan.model": source.name, "srgan.source_sha256": digest}
    # Exported to a temporary beside the output, renamed onto it once it matches PyTorch:
    # a model that fails the check never replaces an earlier file.
    with atomic_path(output) as staged:
        export_onnx(generator, staged, opset=args.opset, metadata=origin)
        report["fp32"] = {
            "path": relative(output, report_file),
            "export_s": round(time.perf_counter() - start, 2),
        }
        diffs = check_parity(generator, checked_session(staged, "fp32", args.opset), cases)
        worst = max(diffs.values())
        report["fp32"].update(
            max_abs_diff=diffs, tolerance=args.tolerance, passed=worst <= args.tolerance
        )
        if worst > args.tolerance:
            # Beside the report of the model at the output path (if any), not over it.
            failed = report_file.with_name(report_file.name.replace(".json", ".failed.json"))
            report_file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(failed, (json.dumps(report, indent=2) + "\n").encode())
            raise ParityError(
                f"ONNX output differs from PyTorch by {worst:.2e} > {args.tolerance:g}: "
                f"{diffs}; {output} was not written (the checks: {failed})"
            )
    fp32 = onnx_session(output)
    print(f"fp32 ONNX: {written(output)} (max abs diff {worst:.2e} over {len(cases)} checks)")
    sessions = {"fp32": fp32}
    if args.fp16:
        convert_fp16(output, args.fp16)
        fp16 = onnx_session(args.fp16)
        diffs16 = check_parity(generator, fp16, cases)
        report["fp16"] = {"path": relative(args.fp16, report_file), "max_abs_diff": diffs16}
        sessions["fp16"] = fp16
        print(f"fp16 ONNX: {written(args.fp16)} (max abs diff {max(diffs16.values()):.2e})")
    if args.int8:
        start = time.perf_counter()
        # Renamed onto its path once ONNX Runtime runs it, as the fp32 model.
        with atomic_path(args.int8) as staged:
            quantize_int8(
                output,
                staged,
                crops,
                method=args.calibration_method,
                activation_type=args.activation_type,
            )
            int8 = checked_session(staged, "int8", args.opset)
        diffs8 = check_parity(generator, int8, cases)
        report["int8"] = {
            "path": relative(args.int8, report_file),
            "format": "QDQ",
            "weights": "int8 per-channel",
            "activations": args.activation_type,
            "calibration": {
                "method": args.calibration_method,
                "crops": len(crops),
                # As taken: images smaller than the size asked for give whole-image crops.
                "crop_size": max(max(c.shape[-2:]) for c in crops),
                "downscale": downscale,
                "folder": relative(args.calibration_dir, report_file)
                if args.calibration_dir
                else "built-in (srgan/calibration)",
            },
            "quantize_s": round(time.perf_counter() - start, 2),
            "max_abs_diff": diffs8,
        }
        sessions["int8"] = int8
        print(
            f"int8 ONNX: {written(args.int8)} ({args.calibration_method} calibration, "
            f"{len(crops)} crops"
            + ("" if args.calibration_dir else " of the built-in images; --calibration-dir: yours")
            + ")"
        )
    if args.hr_dir:
        quality = psnr_report(sessions, args.hr_dir, scale)
        quality["folder"] = relative(args.hr_dir, report_file)
        quality["convention"] = f"Y channel, border {scale}, LR by MATLAB bicubic 1/{scale}"
        means = quality["mean_psnr"]
        line = ", ".join(f"{name} {value:.3f} dB" for name, value in means.items())
        if "int8" in sessions:
            quality["int8_psnr_drop_db"] = means["fp32"] - means["int8"]
            line += f"; int8 drop {quality['int8_psnr_drop_db']:.3f} dB"
            if args.calibration_dir and same_folder(args.hr_dir, args.calibration_dir):
                # The crops int8 was calibrated on: images it never saw may lose more.
                quality["measured_on_calibration_images"] = True
                line += " (on its calibration images; other images may lose more)"
        print(f"Y-PSNR on {args.hr_dir}: {line}")
        report["quality"] = quality
    report_file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(report_file, (json.dumps(report, indent=2) + "\n").encode())
    print(f"report: {report_file}")
    stem = str(output.with_suffix(""))
    for flag, sibling in (("--fp16", f"{stem}.fp16.onnx"), ("--int8", f"{stem}.int8.onnx")):
        if not getattr(args, flag[2:]) and Path(sibling).is_file():
            # A deployer would take the two for one model's variants: they may not be.
            print(
                f"note: {sibling} is from an earlier export and was not made again "
                f"({flag} remakes it from these weights)",
                file=sys.stderr,
            )
    drop = report.get("quality", {}).get("int8_psnr_drop_db")
    if args.max_psnr_drop is not None and drop is not None and drop > args.max_psnr_drop:
        raise QualityError(
            f"int8 loses {drop:.3f} dB Y-PSNR on {args.hr_dir} (allowed {args.max_psnr_drop:g} dB):"
            " calibrate on more or larger images like those to upscale (--calibration-dir), "
            f"try another --calibration-method, or keep fp32 ({args.int8} is left to inspect)"
        )
    return report


if __name__ == "__main__":
    sys.exit(main())
