"""Which engine runs a generator: PyTorch or ONNX Runtime, behind the one ``Upscaler``.

Backends (``--backend`` of ``srgan.upscale``; ``build_upscaler`` here):

* ``torch``: PyTorch, on the CPU or a CUDA GPU, fp32 / fp16 / bf16;
* ``onnx``: ONNX Runtime fp32 on the CPU (about twice PyTorch's speed there);
* ``onnx-int8``: ONNX Runtime with a static int8 model on the CPU, opt-in: it changes the
  pixels (its Y-PSNR cost is measured and printed when it is made);
* ``onnx-cuda``: ONNX Runtime's CUDA provider (fp16 by default, fp32 fallback), where the
  installed onnxruntime has it (``onnxruntime-gpu``);
* ``auto``: PyTorch on a CUDA device, ``onnx`` on the CPU when onnxruntime is installed
  (PyTorch there too for ``bf16``, a precision ONNX Runtime does not run on the CPU).

The ONNX model of a weights file is exported once per (weights sha256, opset, onnxruntime
version) into the cache folder (``onnx_cache_dir()``: ``$SRGAN_CACHE/onnx``, else
``$XDG_CACHE_HOME/srgan/onnx``, else ``~/.cache/srgan/onnx``) and checked against PyTorch
the first time: the largest absolute difference of the [0, 1] outputs on random and real
inputs must be at most ``PARITY_TOLERANCE`` (1/255), else the run goes on with PyTorch and
says why. The result is recorded beside the model (``NAME.json``), so later runs neither
export nor check again. The int8 model is calibrated once, on the built-in crops
(``srgan/calibration/``) or a folder of the user's images, and cached the same way. An
``.onnx`` file can be given as the model itself.

Tiling, padding, batching, alpha, 16-bit output and the finiteness checks are the
``Upscaler``'s, identical on every backend: the ONNX graph used here is not clamped, so a
NaN or infinite output is seen (and redone in fp32, or refused) as with PyTorch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from srgan.images import atomic_write
from srgan.inference import DEFAULT_TILE, Upscaler, resolve_device

BACKENDS = ("auto", "torch", "onnx", "onnx-int8", "onnx-cuda")
ONNX_BACKENDS = ("onnx", "onnx-int8", "onnx-cuda")
# ``tile="auto"``: ONNX Runtime on the CPU runs a large tile as fast per pixel as a small
# one (benchmarks/results/speed-cpu-tiles: 0.35 and 0.37 LR MP/s at 256 x 256 and 1024 x 768
# on 2 cores), so it takes tiles this big and recomputes fewer overlaps (none on images up
# to this side); PyTorch on the CPU slows down on large tiles (0.20 and 0.15 MP/s) and keeps
# DEFAULT_TILE, as CUDA does (memory bound).
ONNX_CPU_TILE = 1024
# The largest difference from PyTorch allowed of an exported model, on [0, 1] outputs:
# less than one 8-bit level, so 8-bit outputs differ by at most one level.
PARITY_TOLERANCE = 1 / 255
CALIBRATION_DIR = Path(__file__).with_name("calibration")
CALIBRATION_CROPS = 32
CALIBRATION_CROP = 64
# An int8 model that loses more than this (Y-PSNR on the built-in images) is named so on
# every run that uses it, not only the one that made it: its calibration images were few
# or unlike those it scores (a well-calibrated one loses a few hundredths of a dB).
INT8_COST_WARNING_DB = 0.5
# torch.export is not thread-safe: one export (or quantization) at a time in a process.
# Processes need no lock: each works in a private folder and renames its result into place.
_EXPORT_LOCK = threading.RLock()


class BackendError(RuntimeError):
    """A backend that cannot run here (or with these options); the message says what to do."""


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def cuda_provider_available() -> bool:
    if not onnx_available():
        return False
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def available_backends() -> list[str]:
    """The backends this installation can run (``auto`` and ``torch`` always)."""
    backends = ["auto", "torch"]
    if onnx_available():
        backends += ["onnx", "onnx-int8"]
    if cuda_provider_available():
        backends.append("onnx-cuda")
    return backends


def resolve_backend(backend: str, device: torch.device) -> str:
    """``auto`` made concrete for ``device``; ``BackendError`` for one that cannot run."""
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if backend == "auto":
        if device.type == "cuda" or not onnx_available():
            return "torch"
        return "onnx"
    if backend in ONNX_BACKENDS and not onnx_available():
        raise BackendError(
            f"--backend {backend} needs onnxruntime (pip install onnxruntime); "
            "or use --backend torch"
        )
    if backend in ("onnx", "onnx-int8") and device.type == "cuda":
        raise BackendError(
            f"--backend {backend} runs on the CPU; add --device cpu, or use --backend "
            "torch (or onnx-cuda) on the GPU"
        )
    if backend == "onnx-cuda":
        if device.type != "cuda":
            if torch.cuda.is_available():  # --device cpu was asked for
                raise BackendError(
                    "--backend onnx-cuda runs on the GPU, not --device cpu: use --device "
                    "cuda, or --backend onnx for ONNX Runtime on the CPU"
                )
            raise BackendError(
                "--backend onnx-cuda needs a CUDA GPU (and onnxruntime-gpu): PyTorch sees "
                "none here; use --backend onnx for ONNX Runtime on the CPU"
            )
        if not cuda_provider_available():
            raise BackendError(
                "--backend onnx-cuda: this onnxruntime has no CUDA provider (install "
                "onnxruntime-gpu); or use --backend torch on the GPU"
            )
    return backend


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def onnx_cache_dir() -> Path:
    """Where exported and quantized models are cached (``srgan.assets.cache_dir()/onnx``)."""
    from srgan.assets import cache_dir

    return cache_dir() / "onnx"


# The input types an ONNX model may take, as ONNX Runtime names them.
INPUT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
}


class OnnxGenerator:
    """An ONNX generator run by ONNX Runtime, called like the PyTorch module.

    ``scale`` and ``size_multiple`` come from the metadata ``srgan.onnx.export_onnx``
    records; for a file made elsewhere the scale is found by running a 32x32 input (the
    size multiple is then taken as 1). Height and width must be dynamic.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        backend: str = "onnx",
        precision: str = "fp32",
        providers: tuple[str, ...] = ("CPUExecutionProvider",),
        threads: int | None = None,
        fallback: OnnxGenerator | None = None,
    ) -> None:
        from srgan.onnx import onnx_metadata, onnx_session

        self.path = Path(path)
        self.backend, self.precision, self.fallback = backend, precision, fallback
        # What of this model changes the pixels, for the outputs' settings tag.
        self.settings: dict[str, str] = {}
        try:
            # Not spinning: the decoding and encoding threads need the cores between calls.
            self.session = onnx_session(self.path, threads=threads, providers=providers, spin=False)
        except Exception as error:  # noqa: BLE001 - ORT raises its own types: one clear line
            raise BackendError(
                f"{self.path}: not an ONNX model ONNX Runtime can load: {error}"
            ) from None
        if (
            providers[0] != "CPUExecutionProvider"
            and self.session.get_providers()[0] != providers[0]
        ):
            # ONNX Runtime falls back to the CPU silently when a provider cannot load.
            raise BackendError(f"{providers[0]} did not load (missing CUDA or cuDNN libraries?)")
        (first, *_), (output, *_) = self.session.get_inputs(), self.session.get_outputs()
        self.input_name, self.output_name = first.name, output.name
        shape = list(first.shape)
        # As generators record it (Upscaler checks inputs against it).
        self.config = (
            {"in_channels": shape[1]} if len(shape) == 4 and isinstance(shape[1], int) else {}
        )
        if len(shape) != 4 or isinstance(shape[2], int) or isinstance(shape[3], int):
            raise BackendError(
                f"{self.path.name}: its input {first.name} has the fixed shape {shape}; srgan "
                "needs (batch, channels, height, width) with dynamic height and width "
                "(python -m srgan.export writes such models)"
            )
        self.in_channels = shape[1] if isinstance(shape[1], int) else 3
        # Models made elsewhere may take half (or double) floats: fed as they take them.
        self.input_dtype = INPUT_DTYPES.get(first.type)
        if self.input_dtype is None:
            raise BackendError(
                f"{self.path.name}: its input {first.name} is a {first.type}; srgan feeds "
                f"images as floats in [0, 1] (one of {', '.join(INPUT_DTYPES)})"
            )
        recorded = onnx_metadata(self.session)
        self.size_multiple = recorded.get("size_multiple", 1)
        self.scale = recorded.get("scale") or self._probe_scale()

    def _probe_scale(self) -> int:
        side = 32
        try:
            out = self(torch.zeros(1, self.in_channels, side, side))
        except Exception as error:  # noqa: BLE001 - any ORT failure: one clear line
            raise BackendError(
                f"{self.path.name}: cannot run it on a 32x32 input: {error}"
            ) from None
        scale = out.shape[-1] // side
        if out.dim() != 4 or scale < 1 or tuple(out.shape[-2:]) != (side * scale, side * scale):
            raise BackendError(
                f"{self.path.name}: a 32x32 input gives an output of shape "
                f"{tuple(out.shape)}, not an upscaled image"
            )
        return scale

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` float32 -> the model's output as a float32 CPU tensor."""
        array = x.detach().cpu().numpy()
        feed = {self.input_name: np.ascontiguousarray(array, self.input_dtype)}
        try:
            (out,) = self.session.run([self.output_name], feed)
        except Exception as error:
            text = str(error)
            if "CUDA" in self.session.get_providers()[0] and (
                "Failed to allocate" in text or "out of memory" in text.lower()
            ):
                # The Upscaler halves the tile on this, as for PyTorch.
                raise torch.cuda.OutOfMemoryError(text) from error
            raise
        return torch.from_numpy(np.asarray(out, np.float32))


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _write_record(path: Path, record: dict[str, Any]) -> None:
    atomic_write(path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())


@contextlib.contextmanager
def _private_folder(parent: Path) -> Iterator[Path]:
    """A temporary folder in ``parent`` (same file system, so results are renamed into
    place atomically), removed afterwards."""
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent, prefix=f".work-{os.getpid()}-") as folder:
        yield Path(folder)


def model_key(digest: str, opset: int) -> str:
    """The cache name of a weights file's ONNX model: sha256, opset, onnxruntime version."""
    import onnxruntime as ort

    return f"{digest[:16]}-opset{opset}-ort{ort.__version__}"


def builtin_hr_images() -> list[Path]:
    return sorted(CALIBRATION_DIR.glob("*.png"))


def parity_cases(generator: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """Random inputs at two sizes and batches, and two real LR crops (built-in images)."""
    from srgan.images import read_rgb
    from srgan.onnx import benchmark_lr, parity_inputs

    scale, multiple = generator.scale, getattr(generator, "size_multiple", 1)
    in_channels = generator.config.get("in_channels", 3) if hasattr(generator, "config") else 3
    cases = parity_inputs(None, scale, multiple, in_channels)
    if in_channels == 3:
        for path in builtin_hr_images()[:2]:
            lr, _ = benchmark_lr(read_rgb(path), scale)
            h, w = (s - s % multiple for s in lr.shape[-2:])
            cases.append((f"real {path.name}", lr[..., :h, :w]))
    return cases


def exported_model(
    generator: nn.Module, digest: str, *, opset: int | None = None, folder: Path | None = None
) -> tuple[Path, dict[str, Any], bool]:
    """The cached fp32 ONNX model of ``generator`` (weights sha256 ``digest``), exported and
    parity-checked on first use. Returns ``(path, record, made)``; ``record["ok"]`` is false
    (with a ``reason``) when the export failed or did not match PyTorch: then use PyTorch;
    ``made`` is true on the run that exported it (``record["seconds"]`` it took)."""
    from srgan.onnx import DEFAULT_OPSET

    with _EXPORT_LOCK:
        return _exported_model(generator, digest, opset or DEFAULT_OPSET, folder)


def _exported_model(
    generator: nn.Module, digest: str, opset: int, folder: Path | None
) -> tuple[Path, dict[str, Any], bool]:
    import onnxruntime as ort

    from srgan.onnx import check_parity, export_onnx, onnx_session

    folder = folder or onnx_cache_dir()
    key = model_key(digest, opset)
    path, record_path = folder / f"{key}.onnx", folder / f"{key}.json"
    record = _read_record(record_path)
    if record is not None and not record.get("ok") and record.get("torch") == torch.__version__:
        return path, record, False  # failed with this torch: not tried again (another may)
    if record is not None and path.is_file() and sha256_file(path) == record.get("onnx_sha256"):
        return path, record, False
    # Not made yet, or damaged since (a different file): made again.
    record = {
        "weights_sha256": digest,
        "opset": opset,
        "onnxruntime": ort.__version__,
        "torch": torch.__version__,
        "tolerance": PARITY_TOLERANCE,
        "record": str(record_path),
    }
    start = time.perf_counter()
    with _private_folder(folder) as work:
        try:
            # Not clamped: NaN and infinite outputs stay visible to the Upscaler's checks.
            export_onnx(generator, work / "model.onnx", opset=opset, clamp=False)
            session = onnx_session(work / "model.onnx")
            diffs = check_parity(generator, _ClampedSession(session), parity_cases(generator))
        except Exception as error:  # noqa: BLE001 - any failure: recorded, PyTorch runs instead
            record |= {"ok": False, "reason": f"export failed: {str(error)[:300]}"}
        else:
            worst = max(diffs.values())
            record |= {"ok": worst <= PARITY_TOLERANCE, "max_abs_diff": worst, "cases": diffs}
            if not record["ok"]:
                record["reason"] = (
                    f"its outputs differ from PyTorch's by up to {worst:.2g} (over the "
                    f"{PARITY_TOLERANCE:.2g} allowed)"
                )
            else:
                record["onnx_sha256"] = sha256_file(work / "model.onnx")
                os.replace(work / "model.onnx", path)
    record["seconds"] = round(time.perf_counter() - start, 2)
    _write_record(record_path, record)
    return path, record, True


def fp16_model(fp32_path: Path, record: dict[str, Any]) -> Path:
    """The cached fp16 copy of a cached fp32 model (``record`` is the fp32 one's, from
    ``exported_model``): made once, its sha256 recorded beside the fp32 one's; one whose
    content is not the recorded one is made again."""
    from srgan.onnx import convert_fp16

    half_path = fp32_path.with_name(fp32_path.name.replace(".onnx", "-fp16.onnx"))
    with _EXPORT_LOCK:
        if half_path.is_file() and sha256_file(half_path) == record.get("fp16_sha256"):
            return half_path
        with _private_folder(fp32_path.parent) as work:
            convert_fp16(fp32_path, work / "model.onnx")
            record["fp16_sha256"] = sha256_file(work / "model.onnx")
            os.replace(work / "model.onnx", half_path)
        _write_record(fp32_path.with_suffix(".json"), record)  # where the cache is now
    return half_path


class _ClampedSession:
    """An ORT session of the unclamped graph, clamped as ``check_parity`` expects."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def run(self, names: list[str], feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [np.clip(out, 0, 1) for out in self.session.run(names, feed)]


def calibration_inputs(scale: int, folder: str | Path | None = None) -> list[np.ndarray]:
    """int8 calibration crops: from ``folder`` (images as they will be upscaled), else LR
    crops of the built-in images (made with MATLAB-compatible bicubic 1/``scale``)."""
    from srgan.int8 import calibration_crops

    if folder is not None:
        return calibration_crops(
            folder,
            count=CALIBRATION_CROPS,
            crop=CALIBRATION_CROP,
            advice=" (the cost is printed when the model is made)",
        )
    return calibration_crops(
        CALIBRATION_DIR, count=CALIBRATION_CROPS, crop=CALIBRATION_CROP, downscale=scale
    )


def calibration_digest(crops: list[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for crop in crops:
        digest.update(np.ascontiguousarray(crop, np.float32).tobytes())
    return digest.hexdigest()[:16]


def int8_model(
    fp32_path: Path, scale: int, *, calibration_dir: str | Path | None = None
) -> tuple[Path, dict[str, Any], bool]:
    """The cached int8 model of an fp32 ONNX model, calibrated on ``calibration_dir`` (or
    the built-in crops), with its Y-PSNR cost on the built-in images. Returns ``(path,
    record, made)``: ``made`` is true on the run that calibrated it."""
    with _EXPORT_LOCK:
        return _int8_model(fp32_path, scale, calibration_dir)


def _int8_model(
    fp32_path: Path, scale: int, calibration_dir: str | Path | None
) -> tuple[Path, dict[str, Any], bool]:
    try:
        crops = calibration_inputs(scale, calibration_dir)
    except (OSError, ValueError) as error:  # the folder's problem, not the cache's
        raise BackendError(f"--calibration-dir {calibration_dir}: {error}") from None
    calibration = calibration_digest(crops)
    stem = fp32_path.name.removesuffix(".onnx")
    path = fp32_path.with_name(f"{stem}-int8-{calibration}.onnx")
    record_path = path.with_suffix(".json")
    record = _read_record(record_path)
    if record is not None and path.is_file() and sha256_file(path) == record.get("onnx_sha256"):
        return path, record, False
    from srgan.int8 import psnr_report, quantize_int8
    from srgan.onnx import onnx_session

    with _private_folder(fp32_path.parent) as work:
        quantize_int8(fp32_path, work / "model.onnx", crops)
        report = psnr_report(
            {"fp32": onnx_session(fp32_path), "int8": onnx_session(work / "model.onnx")},
            CALIBRATION_DIR,
            scale,
        )
        digest = sha256_file(work / "model.onnx")
        os.replace(work / "model.onnx", path)
    means = report["mean_psnr"]
    record = {
        "onnx_sha256": digest,
        "calibration": str(calibration_dir) if calibration_dir else "built-in",
        "calibration_sha256": calibration,
        "crops": len(crops),
        "psnr_fp32_db": means["fp32"],
        "psnr_int8_db": means["int8"],
        "psnr_cost_db": means["fp32"] - means["int8"],
        "measured_on": f"{len(report['images'])} built-in images (srgan/calibration)",
    }
    _write_record(record_path, record)
    return path, record, True


def _cache_error(error: OSError, alternative: str) -> BackendError:
    """The ONNX cache could not be written: why, and what to do (``alternative`` after
    "set SRGAN_CACHE to a writable folder")."""
    from srgan.assets import CACHE_ENV

    reason, folder = error.strerror or str(error), onnx_cache_dir()
    where = f" ({error.filename})" if error.filename not in (None, str(folder)) else ""
    return BackendError(
        f"the ONNX cache {folder} cannot be written: {reason}{where}; set "
        f"{CACHE_ENV} to a writable folder {alternative}"
    )


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def resolve_tile(tile: int | None | Literal["auto"], *, onnx_cpu: bool) -> int | None:
    """The tile side for ``tile="auto"`` (``ONNX_CPU_TILE`` for ONNX Runtime on the CPU,
    else ``DEFAULT_TILE``); any other value as given (``None``: whole images)."""
    if tile != "auto":
        return tile
    return ONNX_CPU_TILE if onnx_cpu else DEFAULT_TILE


def build_upscaler(
    model: str | os.PathLike[str],
    *,
    backend: str = "auto",
    device: str | torch.device = "auto",
    precision: str = "auto",
    tile: int | None | Literal["auto"] = "auto",
    tile_overlap: int = 24,
    compile: bool = False,
    calibration_dir: str | Path | None = None,
    threads: int | None = None,
    self_ensemble: bool = False,
    say: Callable[[str], None] = _stderr,
) -> Upscaler:
    """An ``Upscaler`` for a model (a shipped name, a weights file or an ``.onnx`` file) on
    ``backend``; notes (a fallback to PyTorch and why, int8's measured cost) go to ``say``.

    ``precision`` ``auto`` is fp16 on CUDA and fp32 on the CPU; ``tile`` ``auto`` is
    ``ONNX_CPU_TILE`` for ONNX Runtime on the CPU, else ``DEFAULT_TILE`` (``None``: whole
    images); ``self_ensemble``: ``Upscaler``'s, on any backend. ``BackendError`` (or
    ``FileNotFoundError`` / ``ValueError`` for the model) when it cannot be done.
    """
    from srgan.weights import load_generator, resolve_model

    if isinstance(model, nn.Module):
        raise TypeError(
            "build_upscaler takes a model's name or file; for a network in memory use "
            "srgan.Upscaler(network, device=..., precision=..., tile=...)"
        )
    resolved = resolve_device(device) if isinstance(device, str) else device
    path = Path(model).expanduser()
    if path.suffix.lower() == ".onnx" and path.is_file():
        if backend == "torch":
            raise BackendError(
                f"{path.name} is an ONNX model: it runs with --backend onnx (or auto), "
                "not torch; give a .safetensors / .pth / .ckpt for PyTorch"
            )
        if calibration_dir is not None:
            raise BackendError(
                f"{path.name} is an ONNX model, made already: --calibration-dir is for "
                "the int8 model srgan makes from a weights file (give a .safetensors)"
            )
        if backend == "onnx-cuda":
            # Refused as for a weights file without a GPU (it ran on the CPU in silence).
            resolve_backend(backend, resolved)
        cuda = resolved.type == "cuda" and backend in ("auto", "onnx-cuda")
        if cuda and not cuda_provider_available():
            raise BackendError(
                f"{path.name} on CUDA needs onnxruntime's CUDA provider (onnxruntime-gpu); "
                "add --device cpu to run it on the CPU"
            )
        providers = ("CUDAExecutionProvider",) if cuda else ("CPUExecutionProvider",)
        name = "onnx-cuda" if cuda else "onnx"
        from srgan.onnx import graph_precision

        try:
            graph = graph_precision(path)
        except Exception as error:  # noqa: BLE001 - any parse failure: one clear line
            raise BackendError(f"{path}: not an ONNX model srgan can read: {error}") from None
        if precision not in ("auto", graph):
            raise BackendError(
                f"{path.name} runs in {graph}, the precision of its graph: --precision "
                "applies to weights files (make another precision with python -m srgan.export)"
            )
        if backend == "onnx-int8" and graph != "int8":
            raise BackendError(
                f"{path.name} is an {graph} ONNX model, not int8: give an int8 one (python -m "
                "srgan.export --int8), or the weights file for srgan to quantize"
            )
        if backend == "onnx" and graph == "int8":
            raise BackendError(
                f"{path.name} is an int8 ONNX model: it runs with --backend onnx-int8 (or "
                "auto); --backend onnx is float (give a float one, or the weights file)"
            )
        if graph == "int8" and not cuda:
            name = "onnx-int8"
        network = OnnxGenerator(
            path, backend=name, precision=graph, providers=providers, threads=threads
        )
        if graph == "int8":  # as srgan's own int8 models are tagged (the file's sha256 too)
            network.settings = {"backend": name}
        return Upscaler(
            network,
            tile=resolve_tile(tile, onnx_cpu=not cuda),
            tile_overlap=tile_overlap,
            self_ensemble=self_ensemble,
        )
    requested = precision
    if precision == "auto":
        precision = "fp16" if resolved.type == "cuda" else "fp32"
    weights = resolve_model(str(model))
    generator = load_generator(weights)
    chosen = resolve_backend(backend, resolved)
    if backend == "auto" and chosen == "onnx" and precision != "fp32":
        chosen = "torch"  # bf16 on the CPU: PyTorch's (ONNX Runtime runs fp32 there)
    if chosen == "onnx-int8" and requested != "auto":
        raise BackendError(
            f"--backend onnx-int8 runs int8, not {precision}: leave --precision at auto "
            "(or use --backend onnx for fp32)"
        )
    if chosen in ("onnx", "onnx-int8") and precision != "fp32":
        raise BackendError(
            f"--backend {chosen} runs {'int8' if chosen == 'onnx-int8' else 'fp32'} on the "
            f"CPU; --precision {precision} is for --backend torch"
        )
    if chosen == "onnx-cuda" and precision not in ("fp32", "fp16"):
        raise BackendError(f"--backend onnx-cuda runs fp32 or fp16, not {precision}")

    def torch_upscaler() -> Upscaler:
        return Upscaler(
            generator,
            device=resolved,
            precision=precision,  # type: ignore[arg-type]
            tile=resolve_tile(tile, onnx_cpu=False),
            tile_overlap=tile_overlap,
            compile=compile and resolved.type == "cuda",
            self_ensemble=self_ensemble,
        )

    if chosen == "torch":
        return torch_upscaler()
    if compile:
        say("note: --compile is for --backend torch; ONNX Runtime optimises the graph itself")
    digest = sha256_file(weights)
    try:
        fp32_path, record, made = exported_model(generator, digest)
    except OSError as error:
        if backend != "auto":
            raise _cache_error(error, "or use --backend torch") from None
        say(f"note: {_cache_error(error, 'for ONNX Runtime; running with PyTorch')}")
        return torch_upscaler()
    if made and record["ok"]:
        say(
            f"first use of {weights.name} with ONNX Runtime: exported and checked against "
            f"PyTorch (largest difference {record['max_abs_diff']:.1g} on [0, 1] pixels) in "
            f"{record['seconds']:.1f} s, once; cached: {fp32_path}"
        )
    if not record["ok"]:
        say(
            f"note: the ONNX model of {weights.name} is not used ({record['reason']}); "
            f"running with PyTorch (--backend torch). Remembered in {record['record']}: "
            "delete it to try again"
        )
        return torch_upscaler()
    if chosen == "onnx":
        network = OnnxGenerator(fp32_path, threads=threads)
    elif chosen == "onnx-int8":
        try:
            int8_path, int8_record, made = int8_model(
                fp32_path, generator.scale, calibration_dir=calibration_dir
            )
        except OSError as error:
            raise _cache_error(error, "or use --backend onnx") from None
        cost = (
            f"{int8_record['psnr_cost_db']:.3f} dB ({int8_record['psnr_fp32_db']:.2f} -> "
            f"{int8_record['psnr_int8_db']:.2f} dB)"
        )
        if made:
            own = int8_record["calibration"] == "built-in"
            say(
                f"int8 model calibrated on {int8_record['crops']} crops "
                f"({int8_record['calibration']}); its Y-PSNR cost on the built-in images"
                f"{' (those it was calibrated on: others may lose more)' if own else ''}: "
                f"{cost}. Cached: {int8_path}"
            )
        if int8_record["psnr_cost_db"] > INT8_COST_WARNING_DB:
            source = int8_record["calibration"]
            say(
                "warning: this int8 model (calibrated on "
                f"{'the built-in crops' if source == 'built-in' else source}) "
                f"loses {cost} on the built-in images: calibrate on more or larger images "
                "like those to upscale (--calibration-dir), or use --backend onnx"
            )
        network = OnnxGenerator(int8_path, backend="onnx-int8", precision="int8", threads=threads)
        network.settings = {
            "backend": "onnx-int8",
            "calibration": int8_record["calibration_sha256"],
        }
    else:
        cuda = ("CUDAExecutionProvider",)
        full = OnnxGenerator(fp32_path, backend="onnx-cuda", providers=cuda)
        if precision == "fp32":
            network = full
        else:
            try:
                half_path = fp16_model(fp32_path, record)
            except OSError as error:
                raise _cache_error(error, "or use --precision fp32") from None
            network = OnnxGenerator(
                half_path, backend="onnx-cuda", precision="fp16", providers=cuda, fallback=full
            )
    onnx_cpu = chosen != "onnx-cuda"
    return Upscaler(
        network,
        tile=resolve_tile(tile, onnx_cpu=onnx_cpu),
        tile_overlap=tile_overlap,
        self_ensemble=self_ensemble,
    )


def pixel_settings(upscaler: Upscaler) -> dict[str, str]:
    """What of the backend changes the pixels, for the settings tag of outputs: the int8
    model and its calibration, and self-ensembling (PyTorch and ONNX Runtime fp32 agree
    within 1/255, so neither is recorded)."""
    settings = dict(getattr(upscaler.model, "settings", {}))
    return settings | ({"self_ensemble": "x8"} if upscaler.self_ensemble else {})
