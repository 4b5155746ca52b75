"""Export a generator to ONNX (fp32, fp16) and to an int8 model for edge CPUs.

Run ``python -m srgan.export --help``. For example::

    python -m srgan.export --model default --output fast.onnx \\
        --fp16 fast.fp16.onnx \\
        --int8 fast.int8.onnx --calibration-dir DIV2K_valid_HR --calibration-downscale 4 \\
        --hr-dir Set5/HR

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
(deepest first) that fails on its own, and why.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import re
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from srgan.generators import Generator, build_generator
from srgan.images import list_images, read_rgb
from srgan.metrics import psnr
from srgan.resize import imresize_array, mod_crop
from srgan.weights import load_model

CalibrationMethodName = Literal["minmax", "percentile", "entropy"]
# Architectures by short name, with their papers' default hyper-parameters (random init),
# for speed benchmarking without trained weights.
ARCHITECTURES: dict[str, str] = {"compact": "CompactNet", "rrdb": "RRDBNet", "srresnet": "SRResNet"}
DEFAULT_OPSET = 18
# The largest side the dynamic dimensions allow (a 16K input); torch.export needs a bound.
MAX_SIDE = 16384
MAX_BATCH = 1024


class ExportError(RuntimeError):
    """A model that cannot be exported; ``module`` names the failing submodule."""

    def __init__(self, module: str, module_type: str, reason: str) -> None:
        self.module = module
        self.module_type = module_type
        self.reason = reason
        where = f"module {module!r} ({module_type})" if module else f"model {module_type}"
        super().__init__(f"cannot export {where} to ONNX: {reason}")


class ParityError(RuntimeError):
    """An exported graph whose outputs differ from PyTorch's beyond the tolerance."""


class QualityError(RuntimeError):
    """An int8 model that loses more PSNR than ``--max-psnr-drop`` allows."""


def resolve_model(
    model: str = "default", arch: str | None = None, scale: int = 4, *, seed: int = 0
) -> Generator:
    """``--arch`` (random init from ``seed``, default hyper-parameters) or ``--model``."""
    if arch is not None:
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown --arch {arch!r}; use one of {', '.join(ARCHITECTURES)}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build_generator(ARCHITECTURES[arch], {"scale": scale}).eval()
    return load_model(model).eval()


class Clamped(nn.Module):
    """The generator with its output clamped to [0, 1], as the inference contract says."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.generator(lr).clamp(0, 1)  # (B, C, H*scale, W*scale)


# -- ONNX export -----------------------------------------------------------------------------
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _reason(error: BaseException) -> str:
    """The most specific line of an exporter error (its exception summary when present)."""
    text = _ANSI.sub("", str(error))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # The dynamo exporter lists the root cause first in "## Exception summary" as
    # "<class '...DispatchError'>: message".
    for line in lines:
        match = re.match(r"<class '[\w.]+'>: (.+)", line)
        if match:
            return match.group(1)[:400]
    return (lines[0] if lines else type(error).__name__)[:400]


def _onnx_program(
    model: nn.Module, sample: torch.Tensor, opset: int, dynamic_shapes: Any = None
) -> Any:
    # The exporter prints its progress; keep it for the error message instead.
    log = io.StringIO()
    with contextlib.redirect_stdout(log), torch.no_grad():
        return torch.onnx.export(
            model,
            (sample,),
            None,
            dynamo=True,
            opset_version=opset,
            input_names=["lr"],
            output_names=["sr"],
            dynamic_shapes=dynamic_shapes,
            verbose=False,
        )


def dynamic_shapes(size_multiple: int = 1) -> tuple[dict[int, Any]]:
    """Dynamic batch, height and width (height, width multiples of ``size_multiple``)."""
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    if size_multiple == 1:
        height = torch.export.Dim("height", min=2, max=MAX_SIDE)
        width = torch.export.Dim("width", min=2, max=MAX_SIDE)
    else:
        m = size_multiple
        height = m * torch.export.Dim("height_blocks", min=1, max=MAX_SIDE // m)
        width = m * torch.export.Dim("width_blocks", min=1, max=MAX_SIDE // m)
    return ({0: batch, 2: height, 3: width},)


def find_unexportable(
    model: nn.Module, sample: torch.Tensor, *, opset: int = DEFAULT_OPSET
) -> tuple[str, str, str] | None:
    """``(name, type, reason)`` of the deepest submodule that fails to export on its own.

    Runs ``model`` once on ``sample`` with hooks recording every submodule's inputs,
    then exports one instance of each distinct submodule alone (static shapes), deepest
    first. ``None`` if every submodule exports alone.
    """
    calls: dict[str, tuple[nn.Module, tuple[Any, ...]]] = {}
    handles = []
    for name, module in model.named_modules():
        if not name:
            continue

        def hook(module: nn.Module, args: tuple[Any, ...], name: str = name) -> None:
            if name not in calls and all(isinstance(a, torch.Tensor) for a in args):
                calls[name] = (module, tuple(a.detach().clone() for a in args))

        handles.append(module.register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            model(sample)
    except Exception as error:  # noqa: BLE001 - the model does not even run in PyTorch
        return "", type(model).__name__, f"the model fails in PyTorch: {_reason(error)}"
    finally:
        for handle in handles:
            handle.remove()
    seen: set[str] = set()
    for name in sorted(calls, key=lambda n: -n.count(".")):
        module, args = calls[name]
        key = repr(module) if not list(module.children()) else type(module).__qualname__
        if key in seen or len(args) != 1:
            continue
        seen.add(key)
        try:
            _onnx_program(module, args[0], opset)
        except Exception as error:  # noqa: BLE001 - any failure names this module
            return name, type(module).__name__, _reason(error)
    return None


def export_onnx(
    generator: nn.Module,
    path: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    sample_size: tuple[int, int] = (32, 32),
) -> Path:
    """Export ``generator`` (clamped to [0, 1]) to ONNX with dynamic batch, height, width.

    Raises ``ExportError`` naming the failing module when the graph cannot be exported.
    """
    if opset < 17:
        raise ValueError(f"opset must be at least 17, got {opset}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    generator = generator.eval().float().cpu()
    multiple = getattr(generator, "size_multiple", 1)
    h, w = (math.ceil(s / multiple) * multiple for s in sample_size)
    in_channels = generator.config.get("in_channels", 3) if hasattr(generator, "config") else 3
    sample = torch.rand(1, in_channels, h, w)
    model = Clamped(generator).eval()
    try:
        program = _onnx_program(model, sample, opset, dynamic_shapes(multiple))
    except Exception as error:  # noqa: BLE001 - re-raised with the module that fails
        culprit = find_unexportable(generator, sample, opset=opset)
        if culprit is None:
            raise ExportError("", type(generator).__name__, _reason(error)) from error
        raise ExportError(*culprit) from error
    program.save(str(path))
    import onnx

    onnx.checker.check_model(str(path), full_check=True)
    return path


def convert_fp16(source: str | Path, path: str | Path) -> Path:
    """An fp16 copy of an fp32 ONNX model; inputs and outputs stay float32.

    Uses ONNX Runtime's converter (``onnxruntime.transformers.float16``), whose default
    block list keeps operators without fp16 kernels (Resize among them) in float32.
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    _sort_nodes(model.graph)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Path(path)


def _sort_nodes(graph: Any) -> None:
    """Topologically sort ``graph``'s nodes in place (the fp16 converter appends its input
    casts at the end, which ONNX Runtime accepts but onnx's checker rejects)."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            raise ValueError("the fp16 graph has a cycle or an undefined input")
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        pending = [n for n in pending if all(n is not r for r in ready)]
    del graph.node[:]
    graph.node.extend(ordered)


# -- ONNX Runtime ----------------------------------------------------------------------------
def onnx_session(
    path: str | Path, *, threads: int | None = None, providers: Sequence[str] | None = None
) -> Any:
    """An ONNX Runtime session (CPU unless ``providers`` says otherwise)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(
        str(path), options, providers=list(providers or ["CPUExecutionProvider"])
    )


def run_session(session: Any, lr: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``(B, C, H, W)`` float in [0, 1] -> the model's ``sr`` output as a float32 tensor."""
    array = lr.detach().cpu().float().numpy() if isinstance(lr, torch.Tensor) else lr
    (out,) = session.run(["sr"], {"lr": np.ascontiguousarray(array, dtype=np.float32)})
    return torch.from_numpy(out).float()


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> ``(1, 3, H, W)`` float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div(255)


def make_lr(hr: np.ndarray, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The benchmark convention: mod-crop the HR, MATLAB-bicubic it down (uint8)."""
    hr = mod_crop(hr, scale)
    return to_tensor(imresize_array(hr, 1 / scale)), to_tensor(hr)


def parity_inputs(
    real_dir: str | Path | None,
    scale: int,
    size_multiple: int = 1,
    in_channels: int = 3,
) -> list[tuple[str, torch.Tensor]]:
    """Random inputs at two sizes (batch 1 and 2), plus two real LR crops when a folder is given."""
    m = size_multiple
    sizes = [(m * math.ceil(17 / m), m * math.ceil(23 / m)), (m * math.ceil(40 / m), 32)]
    generator = torch.Generator().manual_seed(0)
    cases = [
        (f"random {b}x{h}x{w}", torch.rand(b, in_channels, h, w, generator=generator))
        for b, (h, w) in zip((1, 2), sizes)
    ]
    if real_dir is not None and in_channels == 3:
        files = list_images(real_dir)
        for i, (h, w) in enumerate(sizes):
            image = read_rgb(files[i % len(files)])
            lr = to_tensor(image)
            if min(image.shape[:2]) >= scale * max(h, w) * 2:
                lr, _ = make_lr(image, scale)
            lr = lr[..., :h, :w]
            if lr.shape[-2:] == (h, w):
                cases.append((f"real {files[i % len(files)].name} {h}x{w}", lr))
    return cases


def check_parity(
    generator: nn.Module, session: Any, cases: Sequence[tuple[str, torch.Tensor]]
) -> dict[str, float]:
    """Max abs difference of the ONNX outputs from PyTorch's (both clamped to [0, 1])."""
    model = Clamped(generator.eval().float().cpu())
    diffs = {}
    with torch.no_grad():
        for name, lr in cases:
            expected = model(lr)
            got = run_session(session, lr)
            if got.shape != expected.shape:
                raise ParityError(
                    f"{name}: ONNX shape {tuple(got.shape)} != {tuple(expected.shape)}"
                )
            diffs[name] = float((got - expected).abs().max())
    return diffs


# -- int8 ------------------------------------------------------------------------------------
def calibration_crops(
    folder: str | Path,
    *,
    count: int = 32,
    crop: int = 64,
    downscale: int | None = None,
    seed: int = 0,
) -> list[np.ndarray]:
    """``count`` random ``(1, 3, crop, crop)`` float32 LR crops from the images in ``folder``.

    With ``downscale`` the files are HR images and LR is made with MATLAB bicubic
    (``srgan.resize.imresize``); otherwise the files are used as LR as they are.
    Crops cycle over the files so every image contributes.
    """
    rng = np.random.default_rng(seed)
    images = []
    for file in list_images(folder):
        image = read_rgb(file)
        lr = make_lr(image, downscale)[0] if downscale else to_tensor(image)
        images.append(lr)
    crops = []
    for i in range(count):
        lr = images[i % len(images)]
        h, w = lr.shape[-2:]
        size_h, size_w = min(crop, h), min(crop, w)
        top = int(rng.integers(0, h - size_h + 1))
        left = int(rng.integers(0, w - size_w + 1))
        piece = lr[..., top : top + size_h, left : left + size_w]
        crops.append(np.ascontiguousarray(piece.numpy(), dtype=np.float32))
    return crops


def quantize_int8(
    source: str | Path,
    path: str | Path,
    crops: Sequence[np.ndarray],
    *,
    method: CalibrationMethodName = "minmax",
    activation_type: Literal["uint8", "int8"] = "uint8",
    per_channel: bool = True,
) -> Path:
    """Static post-training quantization (QDQ, int8 weights) calibrated on ``crops``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    if method not in methods:
        raise ValueError(f"calibration method must be one of {', '.join(methods)}, got {method!r}")
    if not crops:
        raise ValueError("int8 calibration needs at least one crop")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items: Iterator[np.ndarray] = iter(crops)

        def get_next(self) -> dict[str, np.ndarray] | None:
            item = next(self.items, None)
            return None if item is None else {"lr": item}

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # ORT's recommended pre-processing (shape inference, graph optimisation) before
    # quantizing; fall back to the raw graph if it cannot handle a model.
    prepared = path.with_name(path.stem + ".preprocessed.onnx")
    try:
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        model_input = prepared
    except Exception:  # noqa: BLE001 - pre-processing is an optimisation only
        model_input = Path(source)
    extra: dict[str, Any] = {}
    if method == "percentile":
        extra["CalibPercentile"] = 99.999
    try:
        if method == "entropy":
            # quantize_static's entropy calibrator uses 128 histogram bins for 128
            # quantized bins, which leaves a single candidate threshold: the min-max range.
            # Run it with a 2048-bin histogram (TensorRT's KL calibration) and hand the
            # ranges over as overrides.
            extra["TensorQuantOverrides"] = entropy_ranges(model_input, Reader())
        with contextlib.redirect_stdout(io.StringIO()):  # ORT prints calibration details
            quantize_static(
                str(model_input),
                str(path),
                Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=per_channel,
                activation_type=QuantType.QUInt8 if activation_type == "uint8" else QuantType.QInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=methods["percentile" if method == "percentile" else "minmax"],
                extra_options=extra,
            )
    finally:
        prepared.unlink(missing_ok=True)
        for leftover in path.parent.glob("augmented_model*.onnx"):
            leftover.unlink(missing_ok=True)
    return path


def entropy_ranges(
    model: str | Path, reader: Any, *, num_bins: int = 2048, num_quantized_bins: int = 128
) -> dict[str, list[dict[str, np.ndarray]]]:
    """Per-tensor ``rmin``/``rmax`` from KL-divergence (entropy) calibration, as overrides."""
    import tempfile

    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

    with tempfile.TemporaryDirectory() as tmp:
        calibrator = create_calibrator(
            Path(model),
            augmented_model_path=str(Path(tmp) / "augmented.onnx"),
            calibrate_method=CalibrationMethod.Entropy,
            extra_options={"num_bins": num_bins, "num_quantized_bins": num_quantized_bins},
        )
        with contextlib.redirect_stdout(io.StringIO()):  # it prints its progress
            calibrator.collect_data(reader)
            ranges = calibrator.compute_data()
        del calibrator
    overrides = {}
    for name, data in ranges.data.items():
        low, high = (np.asarray(v, dtype=np.float32) for v in data.range_value)
        overrides[name] = [{"rmin": low, "rmax": high}]
    return overrides


def psnr_report(sessions: dict[str, Any], hr_dir: str | Path, scale: int) -> dict[str, Any]:
    """Y-PSNR (border ``scale``) of each session on the HR images of ``hr_dir``.

    LR inputs follow the benchmark convention (mod-crop, MATLAB bicubic, uint8).
    Returns per-image and mean PSNR per session name.
    """
    per_image: list[dict[str, Any]] = []
    for file in list_images(hr_dir):
        lr, hr = make_lr(read_rgb(file), scale)
        row: dict[str, Any] = {"image": file.name}
        for name, session in sessions.items():
            sr = run_session(session, lr).clamp(0, 1)
            row[name] = float(psnr(sr, hr, crop_border=scale)[0])
        per_image.append(row)
    means = {name: float(np.mean([r[name] for r in per_image])) for name in sessions}
    return {"images": per_image, "mean_psnr": means}


# -- command line ----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="srgan-export",
        description="Export a generator to ONNX (dynamic batch/height/width), fp16 and int8, "
        "checked against PyTorch with ONNX Runtime. Writes NAME.export.json beside the output.",
    )
    parser.add_argument(
        "--model", default="default", help="shipped model name (default, fast, ...) or a file"
    )
    parser.add_argument(
        "--arch",
        choices=sorted(ARCHITECTURES),
        help="export a randomly initialised architecture instead of --model (for benchmarks)",
    )
    parser.add_argument("--scale", type=int, default=4, help="scale for --arch (default 4)")
    parser.add_argument(
        "--output", "--onnx", "-o", dest="output", required=True, help="fp32 ONNX file to write"
    )
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (>= 17)")
    parser.add_argument("--fp16", metavar="PATH", help="also write an fp16 ONNX model here")
    parser.add_argument("--int8", metavar="PATH", help="also write an int8 (QDQ) ONNX model here")
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
    parser.add_argument("--calibration-crops", type=int, default=32, help="number of crops")
    parser.add_argument("--calibration-crop-size", type=int, default=64, help="LR crop side")
    parser.add_argument(
        "--calibration-method", choices=["minmax", "percentile", "entropy"], default="minmax"
    )
    parser.add_argument("--activation-type", choices=["uint8", "int8"], default="uint8")
    parser.add_argument(
        "--hr-dir", help="HR images: report Y-PSNR of fp32 vs int8 (and use them for parity checks)"
    )
    parser.add_argument(
        "--tolerance", type=float, default=1e-4, help="fp32 max abs difference allowed"
    )
    parser.add_argument(
        "--max-psnr-drop",
        type=float,
        metavar="DB",
        help="fail (exit code 1) when the int8 model loses more Y-PSNR than this on --hr-dir",
    )
    parser.add_argument("--report", help="JSON report path (default OUTPUT.export.json)")
    return parser


def report_path(output: Path) -> Path:
    return output.with_name(output.name.removesuffix(".onnx") + ".export.json")


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: 0 on success, 1 (with the reason) when export or checks fail."""
    try:
        run(argv)
    except (ExportError, ParityError, QualityError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse ``argv``, export and check; return the report (also written as JSON)."""
    args = build_parser().parse_args(argv)
    if args.int8 and not args.calibration_dir:
        raise SystemExit("--int8 needs --calibration-dir (real images to calibrate on)")
    if args.max_psnr_drop is not None and not (args.int8 and args.hr_dir):
        raise SystemExit("--max-psnr-drop needs --int8 and --hr-dir")
    generator = resolve_model(args.model, args.arch, args.scale)
    scale = generator.scale
    multiple = getattr(generator, "size_multiple", 1)
    in_channels = generator.config.get("in_channels", 3)
    output = Path(args.output)
    report: dict[str, Any] = {
        "model": args.arch or args.model,
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
        crops = calibration_crops(
            args.calibration_dir,
            count=args.calibration_crops,
            crop=args.calibration_crop_size,
            downscale=args.calibration_downscale,
        )
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
