"""ONNX export of a generator, fp16 conversion, and the parity check against PyTorch.

* The graph takes ``lr`` ``(B, C, H, W)`` float32 in [0, 1] and returns ``sr``
  ``(B, C, H*scale, W*scale)`` clamped to [0, 1] (the inference contract of
  ``srgan.inference``, without tiling). Batch, height and width are dynamic; a generator
  with ``size_multiple > 1`` exports with height and width constrained to that multiple.
* ``check_parity`` runs ONNX Runtime against PyTorch on random and real inputs at two
  sizes and two batch sizes and returns the largest absolute difference per input.

A generator that cannot be exported raises ``ExportError`` naming the first module
(deepest first) that fails on its own, and why. ``python -m srgan.export`` is the command.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from srgan.images import atomic_path, list_images, read_rgb
from srgan.inference import to_batch, to_unit_float
from srgan.resize import benchmark_pair

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


class Clamped(nn.Module):
    """The generator with its output clamped to [0, 1], as the inference contract says."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.generator(lr).clamp(0, 1)  # (B, C, H*scale, W*scale)


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
    # The exporter prints its progress; keep it for the error message instead. Its notes
    # on converting to an older opset are not shown either: export_onnx checks the opset
    # written, and says so when it is not the one asked for.
    log = io.StringIO()
    with (
        contextlib.redirect_stdout(log),
        torch.no_grad(),
        _quiet_loggers("torch.onnx", "onnxscript"),
    ):
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


@contextlib.contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    """Only errors from these loggers (and their children) inside the block."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


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
        except Exception as error:  # any failure names this module
            if interrupted(error):
                raise KeyboardInterrupt from error
            return name, type(module).__name__, _reason(error)
    return None


def interrupted(error: BaseException) -> bool:
    """A KeyboardInterrupt somewhere in ``error``'s chain of causes."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def export_onnx(
    generator: nn.Module,
    path: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    sample_size: tuple[int, int] = (32, 32),
    clamp: bool = True,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Export ``generator`` (clamped to [0, 1] unless ``clamp`` is false) to ONNX with
    dynamic batch, height, width. The model's metadata records ``srgan.scale`` and
    ``srgan.size_multiple`` (``onnx_metadata`` reads them back), the I/O contract
    (``srgan.input``, ``srgan.output``) and ``metadata`` (e.g. the source weights).

    Raises ``ExportError`` naming the failing module when the graph cannot be exported.
    """
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if not 17 <= opset <= newest:
        raise ValueError(f"opset must be 17 to {newest} (the installed onnx's newest), got {opset}")
    if not isinstance(getattr(generator, "scale", None), int):
        raise TypeError(
            f"{type(generator).__name__} has no integer `scale` attribute: export_onnx takes "
            "a generator that says its upscaling factor (srgan's all do)"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    generator = generator.eval().float().cpu()
    multiple = getattr(generator, "size_multiple", 1)
    h, w = (math.ceil(s / multiple) * multiple for s in sample_size)
    in_channels = generator.config.get("in_channels", 3) if hasattr(generator, "config") else 3
    # A batch of 2: torch.export (2.7 at least) fixes a dimension that is 1 in the sample.
    sample = torch.rand(2, in_channels, h, w)
    model = Clamped(generator).eval() if clamp else generator
    try:
        program = _onnx_program(model, sample, opset, dynamic_shapes(multiple))
    except Exception as error:  # re-raised below, naming the module that fails
        if interrupted(error):
            raise KeyboardInterrupt from error  # torch wraps a Ctrl-C during its imports
        culprit = find_unexportable(generator, sample, opset=opset)
        if culprit is None:
            raise ExportError("", type(generator).__name__, _reason(error)) from error
        raise ExportError(*culprit) from error
    # Written beside the target, and only renamed onto it once checked: a failed export
    # leaves an earlier file of that name as it was.
    partial = path.with_name(f".{path.name}.partial")
    try:
        program.save(str(partial))
        exported = onnx.load(str(partial))
    finally:
        partial.unlink(missing_ok=True)
    written = next(o.version for o in exported.opset_import if o.domain in ("", "ai.onnx"))
    if written != opset:
        # torch's exporter keeps its own opset when it cannot convert to the one asked for.
        raise ExportError(
            "",
            type(generator).__name__,
            f"the exporter wrote opset {written}, not {opset}: "
            f"ask for one it can write (e.g. the default, {DEFAULT_OPSET})",
        )
    recorded = {
        "srgan.scale": generator.scale,
        "srgan.size_multiple": multiple,
        **io_contract(in_channels, generator.scale, clamp=clamp),
        **(metadata or {}),
    }
    for key, value in recorded.items():
        entry = exported.metadata_props.add()
        entry.key, entry.value = key, str(value)
    save_checked(exported, path)
    return path


def io_contract(channels: int, scale: int, *, clamp: bool = True) -> dict[str, str]:
    """What the graph takes and returns, in words (its metadata and the export report)."""
    colour = "RGB" if channels == 3 else f"{channels} channels"
    limits = "clamped to [0, 1]" if clamp else "not clamped"
    return {
        "srgan.input": f"lr: (batch, {channels}, height, width) float32, {colour}, in [0, 1]",
        "srgan.output": (
            f"sr: (batch, {channels}, height*{scale}, width*{scale}) float32, {colour}, {limits}"
        ),
    }


def onnx_metadata(session: Any) -> dict[str, int]:
    """``scale`` and ``size_multiple`` recorded by ``export_onnx`` in a session's model
    (empty for ONNX files made elsewhere)."""
    recorded = session.get_modelmeta().custom_metadata_map
    found = {}
    for key in ("scale", "size_multiple"):
        value = recorded.get(f"srgan.{key}", "")
        if value.isdigit():
            found[key] = int(value)
    return found


# Operators of quantized graphs: QDQ pairs, and the integer kernels of the older format.
QUANTIZED_OPS = frozenset(
    {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "ConvInteger", "QLinearMatMul"}
)


def graph_precision(path: str | Path) -> str:
    """``int8`` for a quantized graph, ``fp16`` for one whose weights are half floats (its
    inputs may stay float32), else ``fp32``: what an ONNX file given by name runs in."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    if any(node.op_type in QUANTIZED_OPS for node in model.graph.node):
        return "int8"
    half = onnx.TensorProto.FLOAT16
    inputs = [i.type.tensor_type.elem_type for i in model.graph.input]
    if half in inputs or any(t.data_type == half for t in model.graph.initializer):
        return "fp16"
    return "fp32"


def convert_fp16(source: str | Path, path: str | Path) -> Path:
    """An fp16 copy of an fp32 ONNX model; inputs and outputs stay float32.

    Uses ONNX Runtime's converter (``onnxruntime.transformers.float16``), whose default
    block list keeps operators without fp16 kernels (Resize among them) in float32.
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    _sort_nodes(model.graph)
    # The converter types the intermediate tensors it keeps in float32 (Resize's scales)
    # as float16 in value_info, which shape inference then rejects: drop those hints, as
    # any tool can infer them again.
    del model.graph.value_info[:]
    save_checked(model, path)
    return Path(path)


def _domains(graph: Any) -> set[str]:
    """The operator domains of ``graph``'s nodes, those of subgraphs (If, Loop) included."""
    import onnx

    found = set()
    for node in graph.node:
        found.add(node.domain or "ai.onnx")
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                found |= _domains(attribute.g)
            elif attribute.type == onnx.AttributeProto.GRAPHS:
                for subgraph in attribute.graphs:
                    found |= _domains(subgraph)
    return found


def save_checked(model: Any, path: str | Path) -> None:
    """Save ``model`` once onnx's full check (with shape inference) passes, declaring only
    the operator domains its nodes use: strict tools refuse domains they do not know.
    Written atomically: a file of that name is replaced whole or left as it was."""
    import onnx

    used = _domains(model.graph)
    kept = [o for o in model.opset_import if (o.domain or "ai.onnx") in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    onnx.checker.check_model(model, full_check=True)
    with atomic_path(path) as temporary:
        onnx.save(model, str(temporary))


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


def onnx_session(
    path: str | Path,
    *,
    threads: int | None = None,
    providers: Sequence[str] | None = None,
    spin: bool = True,
) -> Any:
    """An ONNX Runtime session (CPU unless ``providers`` says otherwise). ``spin=False``
    lets its idle threads sleep instead of spinning, for pipelines whose other threads
    (decoding, encoding) need the cores between the model's calls."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(
        str(path), options, providers=list(providers or ["CPUExecutionProvider"])
    )


def run_session(session: Any, lr: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``(B, C, H, W)`` float in [0, 1] -> the model's ``sr`` output as a float32 tensor."""
    array = lr.detach().cpu().float().numpy() if isinstance(lr, torch.Tensor) else lr
    (out,) = session.run(["sr"], {"lr": np.ascontiguousarray(array, dtype=np.float32)})
    return torch.from_numpy(out).float()


def float_batch(image: np.ndarray) -> torch.Tensor:
    """``(H, W, C)`` uint8 -> ``(1, 3, H, W)`` float32 in [0, 1]."""
    return to_unit_float(to_batch(image))


def benchmark_lr(hr: np.ndarray, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``srgan.resize.benchmark_pair`` as float batches: ``(lr, hr)``."""
    lr, hr = benchmark_pair(hr, scale)
    return float_batch(lr), float_batch(hr)


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
            lr = float_batch(image)
            if min(image.shape[:2]) >= scale * max(h, w) * 2:
                lr, _ = benchmark_lr(image, scale)
            lr = lr[..., :h, :w]
            if lr.shape[-2:] == (h, w):
                cases.append((f"real {files[i % len(files)].name} {h}x{w}", lr))
    return cases


def check_parity(
    generator: nn.Module, session: Any, cases: Sequence[tuple[str, torch.Tensor]]
) -> dict[str, float]:
    """Max abs difference of the ONNX outputs from PyTorch's (both clamped to [0, 1]).

    Warns when nearly all of PyTorch's outputs are clamped (an untrained or broken model):
    equal outputs then say little about the graph."""
    model = Clamped(generator.eval().float().cpu())
    diffs, clamped = {}, []
    with torch.no_grad():
        for name, lr in cases:
            expected = model(lr)
            got = run_session(session, lr)
            if got.shape != expected.shape:
                raise ParityError(
                    f"{name}: ONNX shape {tuple(got.shape)} != {tuple(expected.shape)}"
                )
            diffs[name] = float((got - expected).abs().max())
            clamped.append(float(((expected == 0) | (expected == 1)).float().mean()))
    if clamped and min(clamped) > 0.9:
        share = "all" if min(clamped) == 1 else f"at least {min(clamped):.0%}"
        warnings.warn(
            f"{share} of the model's outputs are clamped to 0 or 1 on the "
            "check inputs, so equal outputs say little about the exported graph (is the "
            "model trained?)",
            stacklevel=2,
        )
    return diffs
