"""Export a generator to ONNX (fp32, fp16) and to an int8 model for edge CPUs.

Run ``python -m srgan.export --help``. For example (outputs in ``runs/export/`` unless
paths are given)::

    python -m srgan.export --model default --fp16 \\
        --int8 --calibration-dir samples --calibration-downscale 4 --hr-dir samples
    python -m srgan.export --model fast --output fast.onnx --int8 fast.int8.onnx \\
        --calibration-dir DIV2K_valid_HR --calibration-downscale 4 --hr-dir Set5/HR

* The ONNX graph takes ``lr`` ``(B, C, H, W)`` float32 RGB in [0, 1] and returns ``sr``
  ``(B, C, H*scale, W*scale)`` RGB clamped to [0, 1] (the inference contract of
  ``srgan.inference``, without tiling). Batch, height and width are dynamic; a generator
  with ``size_multiple > 1`` exports with height and width constrained to that multiple.
* Every export is checked: onnx's checker, then ONNX Runtime against PyTorch on random
  inputs at two sizes and two batch sizes and on two real LR crops (of ``--hr-dir`` or
  ``--calibration-dir``, else of the built-in images); fp32 must match to
  ``--tolerance`` (default 1e-4).
* int8 is static post-training quantization with ONNX Runtime (QDQ format, per-channel
  int8 weights, uint8 or int8 activations), calibrated on LR crops of real images. The
  report gives the Y-PSNR (border ``scale``, ``srgan.metrics.psnr``) of the fp32 and int8
  models on ``--hr-dir``'s images (else on the built-in ones, as ``srgan.upscale`` measures
  its int8 model) and the drop, so the cost of int8 is known before deploying; a drop over
  0.5 dB is warned of, and ``--max-psnr-drop`` makes one a failure.
* A JSON report is written beside the output (``NAME.export.json``).

A generator that cannot be exported raises ``ExportError`` naming the first module
(deepest first) that fails on its own, and why. This file is the command line; the work
is done by ``srgan.onnx`` (export, fp16, parity) and ``srgan.int8`` (quantization).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from onnx.defs import onnx_opset_version

from srgan.arguments import at_least, in_range, non_negative_float, positive_float
from srgan.backends import (
    CALIBRATION_DIR,
    INT8_COST_WARNING_DB,
    PARITY_TOLERANCE,
    parity_cases,
    sha256_file,
)
from srgan.images import atomic_paths, atomic_write, check_writable, list_images
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

EPILOG = """\
examples:
  python -m srgan.export --model fast --int8 --hr-dir samples
  python -m srgan.export --model runs/psnr_x4/lightning_logs/version_0/checkpoints/last.ckpt --fp16

exit status: 0 written and checked, 1 a check failed (nothing written; the checks in the
report's name with .failed.json, NAME.export.failed.json by default, when the model was
made), 2 usage error (a model, a folder, an output path, an option: nothing written), 130
interrupted (no file is left half-written).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m srgan.export",
        description="Export a generator to ONNX (dynamic batch/height/width), fp16 and\n"
        "int8, checked against PyTorch with ONNX Runtime, with a JSON report (--report:\n"
        "NAME.export.json beside NAME.onnx by default). The files are written only when\n"
        "every check passes: an export that fails replaces no earlier file.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        default="default",
        help="shipped model name (default, fast, ...) or a file (default: default, the "
        "model srgan.upscale uses)",
    )
    parser.add_argument(
        "--output",
        "--onnx",
        "-o",
        dest="output",
        default=None,
        help=f"fp32 ONNX file to write (default {DEFAULT_FOLDER}/NAME.onnx, NAME: the model "
        "file's name without its suffix, e.g. fast-any for default; for a training checkpoint "
        "with its run's, e.g. psnr_x4-version_0-last)",
    )
    newest = onnx_opset_version()
    parser.add_argument(
        "--opset",
        type=in_range(17, newest),
        default=DEFAULT_OPSET,
        help=f"ONNX opset, 17 to {newest} (the installed onnx's newest; default {DEFAULT_OPSET})",
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
        help="number of random crops (default 32)",
    )
    parser.add_argument(
        "--calibration-crop-size",
        type=at_least(MIN_CALIBRATION_SIDE),
        help="LR crop side in pixels (default 64; smaller images give whole-image crops)",
    )
    parser.add_argument(
        "--calibration-method",
        choices=["minmax", "percentile", "entropy"],
        help="how activation ranges are set from the crops: their extremes (minmax, the "
        "default), a high percentile, or the range of least entropy loss (percentile and "
        "entropy clip the rarest values, which in a super-resolution model can be the "
        "highlights: measure the cost with --hr-dir)",
    )
    parser.add_argument(
        "--activation-type",
        choices=["uint8", "int8"],
        help="integer type of the quantized activations (default uint8; weights are int8)",
    )
    parser.add_argument(
        "--hr-dir",
        help="HR images: report Y-PSNR of fp32 vs int8 (and use them for parity checks); "
        "without it int8 is measured on the built-in images, as srgan.upscale does",
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
        help="fail (exit code 1) when the int8 model loses more Y-PSNR than this on --hr-dir "
        "(else on the built-in images)",
    )
    parser.add_argument(
        "--report", help="JSON report path (default NAME.export.json beside --output NAME.onnx)"
    )
    return parser


DEFAULT_FOLDER = "runs/export"


# The int8 options (only with --int8) and their defaults.
INT8_DEFAULTS = {
    "calibration_crops": 32,
    "calibration_crop_size": 64,
    "calibration_method": "minmax",
    "activation_type": "uint8",
}


def default_outputs(args: argparse.Namespace) -> None:
    """Fill in the output paths not given: ``runs/export/MODEL.onnx`` and, for ``--fp16`` /
    ``--int8`` without a path, ``MODEL.fp16.onnx`` / ``MODEL.int8.onnx`` beside it."""
    if args.output is None:
        args.output = str(Path(DEFAULT_FOLDER) / f"{export_name(resolve_model(args.model))}.onnx")
    stem = str(Path(args.output).with_suffix(""))
    if args.fp16 == "":
        args.fp16 = f"{stem}.fp16.onnx"
    if args.int8 == "":
        args.int8 = f"{stem}.int8.onnx"


def export_name(source: Path) -> str:
    """The default name of a model's export: the file's stem, and for a training
    checkpoint its run too (``psnr_x4-version_0-last`` for
    ``runs/psnr_x4/lightning_logs/version_0/checkpoints/last.ckpt``), so that two runs'
    ``last.ckpt`` do not export to one file."""
    if source.suffix != ".ckpt" or source.parent.name != "checkpoints":
        return source.stem
    if not source.parent.parent.name:
        return source.stem
    run = source.parent.parent
    parts = [run.name, source.stem]
    if run.parent.name == "lightning_logs" and run.parent.parent.name:
        parts.insert(0, run.parent.parent.name)
    return "-".join(parts)


def report_path(output: Path) -> Path:
    """``NAME.export.json`` beside ``NAME.onnx`` (or ``NAME.ONNX``)."""
    name = output.name[: -len(".onnx")] if output.suffix.lower() == ".onnx" else output.name
    return output.with_name(name + ".export.json")


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


@contextlib.contextmanager
def naming(flag: str | None) -> Iterator[None]:
    """A folder's images that cannot be read: a usage error (``ValueError``) that starts
    with the option naming the folder."""
    try:
        yield
    except (OSError, ValueError) as error:
        text = str(error) or type(error).__name__
        if flag is None or text.startswith(flag):
            raise
        raise ValueError(f"{flag}: {text}") from None


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
            f"({lines[0][:300]}): give a lower --opset; nothing was written"
        ) from None


def source_name(source: Path, report_file: Path) -> str:
    """A shipped model as the package names it, another file as seen from the report."""
    if source.resolve().parent == WEIGHTS_DIR.resolve():
        return f"srgan/weights/{source.name}"
    return relative(source, report_file)


def same_folder(a: str | Path, b: str | Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def relative(path: str | Path, report_file: Path) -> str:
    """``path`` as seen from the report's folder (where a reader of the report starts):
    from the folder where the report really is (links resolved: ``..`` leads to its real
    parent), to ``path`` as given (a data set linked into the checkout stays
    ``../data/...``, not the path it links to on this machine); absolute when there is no
    such path (another drive on Windows)."""
    try:
        return os.path.relpath(os.path.abspath(path), os.path.realpath(report_file.parent))
    except ValueError:
        return os.path.abspath(path)


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
        print("interrupted: no file is left half-written", file=sys.stderr)
        return 130
    return 0


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse ``argv``, export and check; return the report (also written as JSON)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    default_outputs(args)
    if args.calibration_downscale and not args.calibration_dir:
        parser.error("--calibration-downscale goes with --calibration-dir (HR images there)")
    if args.max_psnr_drop is not None and not args.int8:
        parser.error("--max-psnr-drop needs --int8")
    given = [name for name in INT8_DEFAULTS if getattr(args, name) is not None]
    if given and not args.int8:
        flags = " and ".join("--" + name.replace("_", "-") for name in given)
        parser.error(f"{flags} set{'s' if len(given) == 1 else ''} up the int8 model: add --int8")
    if args.calibration_dir and not args.int8:
        use = (
            "is not used (the parity check takes --hr-dir's images)"
            if args.hr_dir
            else ("only gives the parity check its images")
        )
        print(
            f"note: without --int8, --calibration-dir {use}; add --int8 to calibrate an int8 "
            "model on them",
            file=sys.stderr,
        )
    for name, value in INT8_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
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
        with naming("--calibration-dir" if args.calibration_dir else None):
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
    real = "--hr-dir" if args.hr_dir else "--calibration-dir" if args.calibration_dir else None
    with naming(real):
        # Without a folder, real crops all the same: the built-in images'.
        cases = (
            parity_inputs(args.hr_dir or args.calibration_dir, scale, multiple, in_channels)
            if real
            else parity_cases(generator)
        )
    if args.hr_dir:
        with naming("--hr-dir"):
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
    failed_file = report_file.with_name(report_file.name.removesuffix(".json") + ".failed.json")

    def failed(error: Exception) -> Exception:
        """``error``, once the report of the checks is written beside the usual one (its
        files marked as not written: none is)."""
        for kind in ("fp32", "fp16", "int8"):
            if isinstance(report.get(kind), dict):
                report[kind]["written"] = False
        atomic_write(failed_file, (json.dumps(report, indent=2) + "\n").encode())
        return error

    paths = {"fp32": output, "fp16": args.fp16, "int8": args.int8, "report": report_file}
    paths = {kind: Path(path) for kind, path in paths.items() if path}
    # Each file is written to a temporary beside its path, and all are renamed into place
    # (the report last) once every check has passed: an export that fails replaces no
    # earlier file.
    with atomic_paths(list(paths.values())) as temporaries:
        staged = dict(zip(paths, temporaries))
        export_onnx(generator, staged["fp32"], opset=args.opset, metadata=origin)
        report["fp32"] = {
            "path": relative(output, report_file),
            "export_s": round(time.perf_counter() - start, 2),
        }
        sessions = {"fp32": checked_session(staged["fp32"], "fp32", args.opset)}
        diffs = check_parity(generator, sessions["fp32"], cases)
        worst = max(diffs.values())
        report["fp32"].update(
            max_abs_diff=diffs, tolerance=args.tolerance, passed=worst <= args.tolerance
        )
        if worst > args.tolerance:
            raise failed(
                ParityError(
                    f"ONNX output differs from PyTorch by {worst:.2e} > {args.tolerance:g}: "
                    f"{diffs}; nothing was written (the checks: {failed_file})"
                )
            )
        if args.fp16:
            convert_fp16(staged["fp32"], staged["fp16"])
            sessions["fp16"] = checked_session(staged["fp16"], "fp16", args.opset)
            diffs16 = check_parity(generator, sessions["fp16"], cases)
            report["fp16"] = {"path": relative(args.fp16, report_file), "max_abs_diff": diffs16}
        if args.int8:
            begun = time.perf_counter()
            quantize_int8(
                staged["fp32"],
                staged["int8"],
                crops,
                method=args.calibration_method,
                activation_type=args.activation_type,
            )
            sessions["int8"] = checked_session(staged["int8"], "int8", args.opset)
            diffs8 = check_parity(generator, sessions["int8"], cases)
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
                "quantize_s": round(time.perf_counter() - begun, 2),
                "max_abs_diff": diffs8,
            }
        if args.hr_dir or args.int8:
            # Without --hr-dir, int8 is measured as srgan.upscale measures it: on the
            # built-in images.
            report["quality"] = quality_report(args, sessions, scale, report_file)
        drop = report.get("quality", {}).get("int8_psnr_drop_db")
        if args.max_psnr_drop is not None and drop is not None and drop > args.max_psnr_drop:
            raise failed(
                QualityError(
                    f"int8 loses {drop:.3f} dB Y-PSNR on {scored_on(args)}"
                    + (
                        " (the images it was calibrated on: others may lose more)"
                        if report["quality"]["measured_on_calibration_images"]
                        else ""
                    )
                    + " (allowed "
                    f"{args.max_psnr_drop:g} dB): calibrate on more or larger images like "
                    "those to upscale (--calibration-dir), try another --calibration-method, "
                    f"or keep fp32 (without --int8); nothing was written (the checks: "
                    f"{failed_file})"
                )
            )
        staged["report"].write_text(json.dumps(report, indent=2) + "\n")
    print(f"fp32 ONNX: {written(output)} (max abs diff {worst:.2e} over {len(cases)} checks)")
    if args.fp16:
        largest = max(report["fp16"]["max_abs_diff"].values())
        print(f"fp16 ONNX: {written(args.fp16)} (max abs diff {largest:.2e})")
        if largest > PARITY_TOLERANCE:  # 1/255, as srgan.upscale's check
            print(
                f"note: the fp16 model's outputs differ from PyTorch's by up to "
                f"{largest * 255:.0f}/255 (its activations may overflow in fp16): check it "
                "on your images, or deploy the fp32 model",
                file=sys.stderr,
            )
    if args.int8:
        print(
            f"int8 ONNX: {written(args.int8)} ({args.calibration_method} calibration, "
            f"{len(crops)} crops"
            + ("" if args.calibration_dir else " of the built-in images; --calibration-dir: yours")
            + ")"
        )
    if "quality" in report:
        means = report["quality"]["mean_psnr"]
        line = ", ".join(f"{name} {value:.3f} dB" for name, value in means.items())
        if "int8" in means:
            line += f"; int8 drop {drop:.3f} dB"
            if report["quality"]["measured_on_calibration_images"]:
                line += " (on its calibration images; other images may lose more)"
        print(f"Y-PSNR on {scored_on(args)}: {line}")
        if drop is not None and drop > INT8_COST_WARNING_DB and args.max_psnr_drop is None:
            print(
                f"warning: int8 loses {drop:.3f} dB: calibrate on more or larger images like "
                "those to upscale (--calibration-dir), or deploy the fp32 model"
                + ("" if args.hr_dir else "; --hr-dir measures it on your images"),
                file=sys.stderr,
            )
    failed_file.unlink(missing_ok=True)  # an earlier failure's report: not of these files
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
    return report


def scored_on(args: argparse.Namespace) -> str:
    """The images the report's Y-PSNR is measured on: ``--hr-dir``, else the built-in ones."""
    return str(args.hr_dir) if args.hr_dir else "the built-in images (srgan/calibration)"


def quality_report(
    args: argparse.Namespace, sessions: dict[str, Any], scale: int, report_file: Path
) -> dict[str, Any]:
    """The Y-PSNR of each model on ``--hr-dir`` (else the built-in images) and int8's drop,
    for the report."""
    hr_dir = args.hr_dir or CALIBRATION_DIR
    quality = psnr_report(sessions, hr_dir, scale)
    quality["folder"] = relative(args.hr_dir, report_file) if args.hr_dir else "built-in"
    quality["convention"] = f"Y channel, border {scale}, LR by MATLAB bicubic 1/{scale}"
    means = quality["mean_psnr"]
    if "int8" in sessions:
        quality["int8_psnr_drop_db"] = means["fp32"] - means["int8"]
        # On the crops int8 was calibrated on, images it never saw may lose more.
        quality["measured_on_calibration_images"] = calibrated_on(hr_dir, args.calibration_dir)
    return quality


def calibrated_on(hr_dir: str | Path, calibration_dir: str | Path | None) -> bool:
    """Whether the images of ``hr_dir`` are those int8 was calibrated on: the same folder,
    or (for the built-in crops) the built-in folder or the photos they were cut from."""
    if calibration_dir is not None:
        return same_folder(hr_dir, calibration_dir)
    if same_folder(hr_dir, CALIBRATION_DIR):
        return True
    # The built-in crops are named after their photo: astronaut-0.png is cut from astronaut.
    photos = {path.stem.rsplit("-", 1)[0] for path in CALIBRATION_DIR.glob("*.png")}
    return any(path.stem in photos for path in list_images(hr_dir))


if __name__ == "__main__":
    sys.exit(main())
