"""Safe loading and saving of generator weights.

The project's own format is ``.safetensors``: the generator's tensors plus a JSON header
(``__metadata__``) naming the architecture and its hyper-parameters, so a file alone
rebuilds its model. Also loaded:

* Lightning checkpoints written by ``srgan.fit`` (the EMA generator is preferred);
* community ESRGAN / Real-ESRGAN RRDBNet weights (``.pth`` or ``.safetensors``), in the
  original ESRGAN layout (``model.0``, ``model.1.sub.N.RDB1...``), the intermediate one
  (``RRDB_trunk.N.RDB1...``, ``trunk_conv``, ``upconv1``, ``HRconv``) and the BasicSR /
  Real-ESRGAN one (``conv_first``, ``body.N.rdb1...``, ``conv_up1``, ``conv_hr``, maybe
  wrapped in ``params`` / ``params_ema`` and prefixed with ``module.``). The network's
  size (blocks, features, growth, scale) is read from the tensor shapes.

Pickle-based files are only ever opened with ``torch.load(weights_only=True)``: no code
in a model file runs, and a file that would need it is refused, naming the blocked global.
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from srgan.generators import GENERATORS, VARIANTS, Generator, RRDBNet, build_generator

FORMAT = "srgan.generator/1"

# Where the shipped models live (package data, so they install with a wheel too).
WEIGHTS_DIR = Path(__file__).parent / "weights"

# ``--model default`` always names this shipped model.
DEFAULT_MODEL = "fast-any"
# Models the project trains for release but that a given installation may not ship yet:
# name -> (network variant in srgan.generators.VARIANTS, what it is for).
RELEASE_MODELS = {
    "fast-any": (
        "fast",
        "the default: fast for LR from any common resize (MATLAB, Pillow, OpenCV)",
    ),
    "fast": ("fast", "PSNR-oriented, for LR made by MATLAB's or Pillow's bicubic"),
    "quality": ("rrdb8", "PSNR-oriented"),
    "gan": ("rrdb8", "the quality model fine-tuned in the GAN stage"),
    "fast-real": ("compact", "for real photos: trained on blurred, noisy, JPEG-compressed LR"),
    "fast-gan": ("fast", "fast fine-tuned in the GAN stage: lower LPIPS, less pixel fidelity"),
}


def save_generator(
    generator: Generator,
    path: str | Path,
    *,
    dtype: torch.dtype | None = None,
    card: dict[str, Any] | None = None,
) -> Path:
    """Write ``generator`` to a ``.safetensors`` file that rebuilds it (see ``load_generator``).

    ``dtype=torch.float16`` halves the file; loading upcasts to float32. ``card`` is
    stored as extra metadata (a dict of JSON-serialisable values).
    """
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise ValueError(f"{path}: a generator is saved as .safetensors (give that suffix)")
    if dtype not in (None, torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(
            f"dtype {dtype}: weights are saved as float32, float16 or bfloat16 (loading makes "
            "them float32: float64 would only double the file, an integer type would round "
            "them; for int8 inference, python -m srgan.export --int8)"
        )
    if not isinstance(getattr(generator, "config", None), dict):
        raise TypeError(
            f"save_generator writes srgan generators (which record their config), got "
            f"{type(generator).__name__}; save other modules with safetensors.torch.save_file"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v)
        .detach()
        .cpu()
        .contiguous()
        for k, v in generator.state_dict().items()
    }
    metadata = {
        "format": FORMAT,
        "architecture": type(generator).__name__,
        "config": json.dumps(generator.config),
    }
    if card:
        metadata["card"] = json.dumps(card)
    save_file(tensors, str(path), metadata=metadata)
    # safetensors writes owner-only files (0600); a model file is as shareable as any
    # other output: the usual permissions under the process's umask.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
    return path


def read_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors of a ``.safetensors`` file and its string metadata."""
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
        tensors = {key: f.get_tensor(key) for key in f.keys()}
    return tensors, metadata


def blocked_globals(path: str | Path) -> list[str]:
    """The globals a pickle file would import that ``weights_only`` loading does not allow."""
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception:  # noqa: BLE001 - not a pickle zip at all: nothing to name
        return []


def damage(path: str | Path) -> str | None:
    """What visibly broke a weights file that would not load: it is empty, or a zip archive
    (how PyTorch saves) whose end is missing or damaged. ``None`` when nothing shows."""
    with open(path, "rb") as file:
        head = file.read(4)
    if not head:
        return "the file is empty"
    if head == b"PK\x03\x04" and not zipfile.is_zipfile(path):
        return "the zip archive PyTorch saves is cut short or damaged (an interrupted download or copy?)"
    return None


# What a PyTorch checkpoint is usually called (other names are loaded too, if they are one).
CHECKPOINT_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A pickled checkpoint, unpickled with ``weights_only=True`` (no code runs).

    A file that needs arbitrary unpickling is refused, naming the globals it asks for.
    """
    try:
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any failure is reported as unreadable
        names = blocked_globals(path)
        if names:
            reason = f"it imports {', '.join(names)}, which weights-only loading blocks"
        else:
            lines = [
                re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(error).splitlines()
            ]
            detail = next((line for line in lines if "Unsupported" in line), None)
            detail = detail or (lines or [type(error).__name__])[0]
            if Path(path).suffix.lower() not in CHECKPOINT_SUFFIXES:
                # An image, a text or an ONNX file given by mistake: torch's words would
                # only confuse.
                raise ValueError(
                    f"cannot load {path}: not a weights file srgan reads (a .safetensors "
                    f"file or a PyTorch checkpoint: {', '.join(CHECKPOINT_SUFFIXES)})"
                ) from None
            broken = damage(path)
            if broken:
                raise ValueError(f"cannot load {path}: {broken}") from None
            raise ValueError(
                f"cannot load {path}: not a readable PyTorch weights file "
                f"(torch.load(weights_only=True) failed: {detail})"
            ) from None
        raise ValueError(
            f"refusing to load {path}: {reason}. Loading it fully would mean running code "
            f"stored in the file; use a .safetensors file, or convert this one on a machine "
            f"you trust."
        ) from None
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path} holds a {type(checkpoint).__name__}, not a state dict")
    return checkpoint


def split_prefixed(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of ``state`` under ``prefix.``, with the prefix removed."""
    start = prefix + "."
    return {k[len(start) :]: v for k, v in state.items() if k.startswith(start)}


# --- srgan.fit checkpoints --------------------------------------------------------------
# A checkpoint of srgan.fit is Lightning's dict; its "state_dict" holds the networks under
# these prefixes, and CHECKPOINT_KEY what is needed to rebuild the generator alone.
CHECKPOINT_KEY = "srgan"
NETWORKS = ("generator", "generator_ema", "discriminator")


def checkpoint_record(generator: Generator, stage: str) -> dict[str, Any]:
    """What ``srgan.fit`` stores under ``checkpoint[CHECKPOINT_KEY]``: the (EMA) generator's
    architecture and config, and the training stage."""
    return {
        "generator": {"architecture": type(generator).__name__, "config": dict(generator.config)},
        "stage": stage,
    }


def refuse_folder(path: Path) -> None:
    """``FileNotFoundError`` when a weights file's path is a folder, naming what to give."""
    if path.is_dir():
        raise FileNotFoundError(
            f"{path} is a folder: give a weights file in it (a .safetensors, or an srgan.fit "
            "checkpoint such as lightning_logs/version_0/checkpoints/last.ckpt)"
        )


def network_states(path: str | Path) -> dict[str, dict[str, torch.Tensor]]:
    """The networks' weights in an ``srgan.fit`` checkpoint or a ``.safetensors`` file, by
    name (``generator``, ``generator_ema``, ``discriminator``: those present).

    A bare generator file (no prefixes) counts as both ``generator`` and ``generator_ema``;
    a file with only one of the two gives it for both.
    """
    path = Path(path).expanduser()
    refuse_folder(path)
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    if path.suffix.lower() == ".safetensors":
        state, _ = read_safetensors(path)
    else:
        checkpoint = load_checkpoint(path)
        if not isinstance(checkpoint.get("state_dict"), dict):
            raise ValueError(f"{path} is not an srgan.fit checkpoint (it has no state_dict)")
        state = checkpoint["state_dict"]
    return split_networks(state, path)


def split_networks(
    state: dict[str, torch.Tensor], path: str | Path
) -> dict[str, dict[str, torch.Tensor]]:
    """``network_states`` of an already loaded state dict (``path`` names it in errors)."""
    states = {name: split_prefixed(state, name) for name in NETWORKS}
    if not any(states.values()):
        states["generator"] = state  # a bare generator file
    states["generator"] = states["generator"] or states["generator_ema"]
    states["generator_ema"] = states["generator_ema"] or states["generator"]
    if not states["generator"]:
        raise ValueError(f"no generator weights in {path}")
    return {name: weights for name, weights in states.items() if weights}


# --- community ESRGAN / Real-ESRGAN weights -------------------------------------------

# Original ESRGAN (``model.N``) and intermediate (``RRDB_trunk``) names -> BasicSR names.
_RENAMES = [
    (re.compile(r"^model\.0\."), "conv_first."),
    (re.compile(r"^model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\."), r"body.\1.rdb\2.conv\3."),
    (re.compile(r"^RRDB_trunk\.(\d+)\.RDB(\d)\."), r"body.\1.rdb\2."),
    (re.compile(r"^trunk_conv\."), "conv_body."),
    (re.compile(r"^upconv(\d)\."), r"conv_up\1."),
    (re.compile(r"^HRconv\."), "conv_hr."),
]


def unwrap_state(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The tensors of a community file: ``params_ema`` preferred, then ``params``,
    ``state_dict``, or the dict itself; a ``module.`` (DataParallel) prefix removed."""
    for key in ("params_ema", "params", "state_dict"):
        if isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    state = {k: v for k, v in checkpoint.items() if isinstance(v, torch.Tensor)}
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def is_esrgan_state(state: dict[str, torch.Tensor]) -> bool:
    """Whether ``state`` looks like community RRDBNet weights (any known layout)."""
    return ("model.0.weight" in state and any(k.startswith("model.1.sub.") for k in state)) or (
        "conv_first.weight" in state and any(k.startswith(("body.", "RRDB_trunk.")) for k in state)
    )


def _old_esrgan_tail(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the ``model.1.sub.N`` trunk conv and the ``model.K`` upsampling/HR/last convs."""
    out = {}
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"model\.1\.sub\.(\d+)\.RDB", k))}
    tail = sorted({int(m.group(1)) for k in state if (m := re.match(r"model\.(\d+)\.weight$", k))})
    tail = [i for i in tail if i > 1]  # upsampling convs, then HR conv, then the last conv
    names = {i: f"conv_up{n}" for n, i in enumerate(tail[:-2], start=1)}
    if len(tail) >= 2:
        names[tail[-2]], names[tail[-1]] = "conv_hr", "conv_last"
    trunk = len(blocks)
    for key, value in state.items():
        if m := re.match(r"model\.1\.sub\.(\d+)\.(weight|bias)$", key):
            if int(m.group(1)) == trunk:
                out[f"conv_body.{m.group(2)}"] = value
                continue
        if m := re.match(r"model\.(\d+)\.(weight|bias)$", key):
            if int(m.group(1)) in names:
                out[f"{names[int(m.group(1))]}.{m.group(2)}"] = value
                continue
        out[key] = value
    return out


def convert_esrgan_state(
    state: dict[str, torch.Tensor],
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Community RRDBNet weights -> (``RRDBNet`` config, state dict in ``RRDBNet``'s names).

    The architecture's size is inferred from tensor shapes: features and input channels
    from ``conv_first``, growth from ``rdb1.conv1``, blocks from the body indices, output
    channels from ``conv_last`` and the scale from the number of upsampling convs.
    """
    if "model.0.weight" in state:
        state = _old_esrgan_tail(state)
    renamed = {}
    for key, value in state.items():
        for pattern, replacement in _RENAMES:
            key = pattern.sub(replacement, key)
        # Our upsampling steps keep their conv inside a module: conv_upN.conv.weight.
        key = re.sub(r"^conv_up(\d)\.(weight|bias)$", r"conv_up\1.conv.\2", key)
        renamed[key] = value
    first = renamed.get("conv_first.weight")
    if first is None or first.dim() != 4:
        raise ValueError("not RRDBNet weights: no conv_first / model.0 convolution")
    num_features, in_channels = first.shape[:2]
    if in_channels in (12, 48):
        raise ValueError(
            "this is a Real-ESRGAN x2/x1 model (pixel-unshuffled input, conv_first with "
            f"{in_channels} input channels), which srgan does not support; use an x4 model"
        )
    blocks = {int(m.group(1)) for k in renamed if (m := re.match(r"body\.(\d+)\.", k))}
    growth = renamed["body.0.rdb1.conv1.weight"].shape[0] if blocks else 32
    ups = {int(m.group(1)) for k in renamed if (m := re.match(r"conv_up(\d)\.conv\.weight$", k))}
    if not ups:
        raise ValueError("not RRDBNet weights: no upsampling convolutions found")
    config = dict(
        in_channels=int(in_channels),
        out_channels=int(renamed["conv_last.weight"].shape[0]),
        num_features=int(num_features),
        num_blocks=len(blocks),
        growth_channels=int(growth),
        scale=2 ** len(ups),
    )
    return config, renamed


# --- loading ------------------------------------------------------------------------


def build_checked(
    architecture: str, config: Any, state: dict[str, torch.Tensor], path: Path
) -> Generator:
    """The generator a file's header describes, built only once its tensors fit it.

    The header is not trusted: the class must be known, the config a dict of that class's
    parameters, and the network (built first on the meta device, which allocates nothing)
    must have exactly the file's tensor names and shapes.
    """
    if architecture not in GENERATORS:
        known = ", ".join(GENERATORS)
        raise ValueError(f"{path}: unknown architecture {architecture!r} (known: {known})")
    if not isinstance(config, dict):
        raise ValueError(f"{path}: the header's config is not a mapping of parameters")
    accepted = set(inspect.signature(GENERATORS[architecture]).parameters)
    unknown = sorted(set(config) - accepted)
    if unknown:
        raise ValueError(
            f"{path}: {architecture} has no parameter {', '.join(unknown)} "
            f"(it takes {', '.join(sorted(accepted))})"
        )
    # Each block or conv is at least one tensor: a count above the file's tensors is forged
    # (and building it, even on the meta device, would take time and memory per module).
    for key in ("num_blocks", "num_convs"):
        if isinstance(config.get(key), int) and config[key] > len(state):
            raise ValueError(
                f"{path}: its header says {key}={config[key]}, but the file holds only "
                f"{len(state)} tensors"
            )
    try:
        with torch.device("meta"):
            skeleton = build_generator(architecture, config)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{path}: its header's config does not build {architecture}: {error}"
        ) from None
    try:
        check_fits(skeleton, state)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return quietly_built(build_generator, architecture, config)


def quietly_built(make: Callable[..., Generator], *args: Any, **kwargs: Any) -> Generator:
    """``make(*args, **kwargs)``, a network whose random initialisation the file's tensors
    replace, with the caller's random state left as it was (a seeded script that loads a
    model draws what it drew before)."""
    with torch.random.fork_rng(devices=[]):
        return make(*args, **kwargs)


def _from_state(state: dict[str, torch.Tensor], path: Path) -> Generator:
    if not is_esrgan_state(state):
        raise ValueError(
            f"{path} is neither an srgan model (.safetensors with an srgan header or an "
            f"srgan.fit checkpoint) nor ESRGAN / Real-ESRGAN RRDBNet weights "
            f"(first keys: {', '.join(list(state)[:4]) or 'none'})"
        )
    config, state = convert_esrgan_state(state)
    generator = quietly_built(RRDBNet, **config)
    load_state(generator, state)
    return generator


def load_generator(path: str | Path, *, prefer_ema: bool = True) -> Generator:
    """Rebuild a generator from any supported file (see the module docstring), in eval mode."""
    path = Path(path).expanduser()
    refuse_folder(path)
    if not path.is_file():
        hint = ""
        if not path.suffix and path.parent == Path("."):  # a bare name: a shipped model's?
            hint = f" (a shipped model by name: srgan.load_model({str(path)!r}))"
        raise FileNotFoundError(f"model file not found: {path}{hint}")
    if path.suffix.lower() == ".safetensors":
        try:
            tensors, metadata = read_safetensors(path)
        except Exception as error:  # noqa: BLE001 - any failure is reported as unreadable
            broken = damage(path)
            if broken:
                raise ValueError(f"cannot load {path}: {broken}") from None
            hint = " (cut short or damaged: an interrupted download or copy?)"
            # (safetensors 0.4 says "MetadataIncompleteBuffer")
            short = ("file not fully covered", "MetadataIncompleteBuffer")
            hint = hint if any(words in str(error) for words in short) else ""
            raise ValueError(f"{path} is not a readable .safetensors file: {error}{hint}") from None
        if "architecture" not in metadata:
            generator = _from_state(unwrap_state(tensors), path)
            return generator.eval()
        try:
            config = json.loads(metadata.get("config", "{}"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: its header's config is not valid JSON ({error})") from None
        state = tensors
        generator = build_checked(metadata["architecture"], config, state, path)
    elif path.suffix.lower() == ".onnx":
        raise ValueError(
            f"{path} is an ONNX model, not PyTorch weights: `python -m srgan.upscale IN OUT "
            f"--model {path}` runs it; this command needs the .safetensors or .ckpt file it "
            "was exported from"
        )
    else:
        checkpoint = load_checkpoint(path)
        info = checkpoint.get(CHECKPOINT_KEY, {}).get("generator")
        if info is None:
            return _from_state(unwrap_state(checkpoint), path).eval()
        states = split_networks(checkpoint["state_dict"], path)
        state = states["generator_ema" if prefer_ema else "generator"]
        generator = build_checked(info.get("architecture"), info.get("config"), state, path)
    try:
        load_state(generator, state)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return generator.eval()


def check_fits(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """``ValueError`` unless ``state`` has exactly ``module``'s tensor names and shapes,
    all finite (a file of NaN weights would make black images without a word)."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(
            f"weights do not fit {type(module).__name__}: missing {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
            f"{'...' if len(unexpected) > 5 else ''}"
        )
    mismatched = [k for k, v in state.items() if v.shape != own[k].shape]
    if mismatched:
        k = mismatched[0]
        raise ValueError(
            f"weights do not fit {type(module).__name__}: {k} has shape "
            f"{tuple(state[k].shape)}, expected {tuple(own[k].shape)}"
        )
    broken = [k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all()]
    if broken:
        raise ValueError(
            f"the weights hold NaN or infinite values ({', '.join(broken[:3])}"
            f"{'...' if len(broken) > 3 else ''}): the file is damaged"
        )


def load_state(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """``load_state_dict`` (strict) with dtype conversion, after ``check_fits``."""
    check_fits(module, state)
    own = module.state_dict()
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def packaged_models() -> dict[str, Path]:
    """The models shipped inside the package (``srgan/weights/NAME.safetensors``), by name."""
    return {p.stem: p for p in sorted(WEIGHTS_DIR.glob("*.safetensors"))}


def resolve_model(spec: str) -> Path:
    """The file a ``--model`` value names: ``default``, a shipped name, or a path."""
    shipped = packaged_models()
    if spec == "default":
        if DEFAULT_MODEL in shipped:
            return shipped[DEFAULT_MODEL]
        raise FileNotFoundError(
            f"the default model ({DEFAULT_MODEL}.safetensors) is not installed in "
            f"{WEIGHTS_DIR}: reinstall srgan from a release wheel, or give a weights file "
            f"path instead (.safetensors, an srgan.fit .ckpt or ESRGAN .pth)"
        )
    if spec in shipped:
        return shipped[spec]
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        raise FileNotFoundError(
            f"model {spec!r} is a folder: give a weights file in it (.safetensors, an "
            "srgan.fit .ckpt such as checkpoints/last.ckpt, or an ESRGAN .pth)"
        )
    # List and suggest only names that would load.
    has_default = DEFAULT_MODEL in shipped
    known = ", ".join([*(["default"] if has_default else []), *shipped]) or "none installed"
    choices = ("'default', " if has_default else "") + ("a shipped name or " if shipped else "")
    if spec in RELEASE_MODELS:
        variant, purpose = RELEASE_MODELS[spec]
        raise FileNotFoundError(
            f"model {spec!r} ({VARIANTS[variant][0]} x4, {purpose}) is not shipped with this version of "
            f"srgan yet (installed: {known}); use {choices}a weights file path "
            "(train one with python -m srgan.fit, see configs/release/)"
        )
    hint = " (it looks like a path)" if any(c in spec for c in "/\\.") else ""
    names = [*(["default"] if has_default else []), *shipped]
    near = difflib.get_close_matches(spec.replace("_", "-"), names, n=1, cutoff=0.6)
    if near and not hint:
        hint = f" (did you mean {near[0]!r}?)"
    raise FileNotFoundError(
        f"model {spec!r} is neither a shipped model (installed: {known}) nor an existing "
        f"file{hint}; use {choices}a weights file path"
    )


def model_label(spec: str) -> str:
    """A short name for a ``--model`` value in tables: a shipped name as it is, a file by
    its stem, a training checkpoint with its run folders (``psnr_x4/version_3/last`` for
    ``runs/psnr_x4/lightning_logs/version_3/checkpoints/last.ckpt``), so that two runs'
    ``last.ckpt`` are told apart (each config's first run is ``version_0``); an ONNX file
    by its whole name (``fast.onnx`` beside the weights ``fast`` it was exported from)."""
    path = Path(spec)
    if not path.suffix:
        return spec
    if path.suffix.lower() == ".onnx":
        return path.name
    if path.parent.name == "checkpoints" and path.parent.parent.name:
        run = path.parent.parent
        logs = run.parent
        if logs.name == "lightning_logs" and logs.parent.name:
            return f"{logs.parent.name}/{run.name}/{path.stem}"
        return f"{run.name}/{path.stem}"
    return path.stem


def load_model(spec: str = "default") -> Generator:
    """A generator from a shipped model's name (``default``, ``fast``, ...) or a file path."""
    return load_generator(resolve_model(spec))
