"""Safe loading and saving of generator weights.

The project's own format is ``.safetensors``: the generator's tensors plus a JSON header
(``__metadata__``) naming the architecture and its hyper-parameters, so a file alone
rebuilds its model. Lightning checkpoints written by ``srgan.fit`` load too (the EMA
generator is preferred). Pickle-based files are only ever opened with
``torch.load(weights_only=True)``: no code in a model file runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from srgan.generators import Generator, build_generator

FORMAT = "srgan.generator/1"


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
    return path


def read_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors of a ``.safetensors`` file and its string metadata."""
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
        tensors = {key: f.get_tensor(key) for key in f.keys()}
    return tensors, metadata


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint, unpickled with ``weights_only=True`` (no code runs).

    A file that needs arbitrary unpickling is refused with an explanation.
    """
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"refusing to load {path}: it is not a plain tensor checkpoint, and loading it would "
            f"mean running code stored in the file (torch.load weights_only=True failed: "
            f"{str(error).splitlines()[0]}). Convert it to .safetensors on a machine you trust."
        ) from None


def split_prefixed(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of ``state`` under ``prefix.``, with the prefix removed."""
    start = prefix + "."
    return {k[len(start) :]: v for k, v in state.items() if k.startswith(start)}


def ema_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The EMA generator's weights from a module state dict (``generator_ema.*``)."""
    return split_prefixed(state, "generator_ema")


def load_generator(path: str | Path, *, prefer_ema: bool = True) -> Generator:
    """Rebuild a generator from a ``.safetensors`` file or an ``srgan.fit`` checkpoint."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if path.suffix == ".safetensors":
        tensors, metadata = read_safetensors(path)
        if "architecture" not in metadata:
            raise ValueError(f"{path} has no srgan header (architecture, config)")
        generator = build_generator(metadata["architecture"], json.loads(metadata["config"]))
        state = tensors
    else:
        checkpoint = load_checkpoint(path)
        info = checkpoint.get("srgan", {}).get("generator")
        if info is None:
            raise ValueError(f"{path} is not an srgan.fit checkpoint (no 'srgan' entry)")
        generator = build_generator(info["architecture"], info["config"])
        module_state = checkpoint["state_dict"]
        state = (ema_state(module_state) if prefer_ema else {}) or split_prefixed(
            module_state, "generator"
        )
    load_state(generator, state)
    return generator.eval()


def load_state(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """``load_state_dict`` (strict) with dtype conversion and a readable mismatch message."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(
            f"weights do not fit {type(module).__name__}: missing {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
            f"{'...' if len(unexpected) > 5 else ''}"
        )
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def packaged_models() -> dict[str, Path]:
    """The models shipped inside the package (``srgan/weights/NAME.safetensors``), by name."""
    folder = Path(__file__).parent / "weights"
    return {p.stem: p for p in sorted(folder.glob("*.safetensors"))}


# ``--model default`` always names this shipped model.
DEFAULT_MODEL = "fast"


def load_model(spec: str) -> Generator:
    """A generator from a shipped model's name (``default``, ``fast``, ...) or a file path."""
    shipped = packaged_models()
    name = DEFAULT_MODEL if spec == "default" else spec
    if name in shipped:
        return load_generator(shipped[name])
    path = Path(spec).expanduser()
    if path.is_file():
        return load_generator(path)
    known = ", ".join(["default", *shipped]) or "none shipped"
    raise FileNotFoundError(
        f"model {spec!r} is neither a shipped model ({known}) nor an existing file"
    )
