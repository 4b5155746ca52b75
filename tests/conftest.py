"""Shared fixtures: tiny networks and a temporary folder of small generated images."""

from __future__ import annotations

import os
from pathlib import Path

# Imported before any test captures output: Lightning gives its loggers a handler on the
# sys.stderr of its first import, and a test's capture, closed after that test, would make
# every later log line an error (whatever order the test files run in).
import lightning  # noqa: F401
import numpy as np
import pytest
import torch
from PIL import Image

from srgan.discriminators import UNet, VGGStyle
from srgan.generators import CompactNet, RRDBNet, SRResNet


def _share_the_cores() -> None:
    """Under pytest-xdist the workers share the cores: each takes its share for its intra-op
    threads, and the commands its tests start inherit it, where PyTorch would give every
    worker one thread per core and oversubscribe them. An OMP_NUM_THREADS of the caller's
    wins."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2 or "OMP_NUM_THREADS" in os.environ:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, (cores or 1) // workers)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


_share_the_cores()

TINY_GENERATORS = {
    "RRDBNet": lambda scale=4: RRDBNet(
        num_blocks=1, num_features=8, growth_channels=4, scale=scale
    ),
    "SRResNet": lambda scale=4: SRResNet(num_blocks=1, num_features=8, scale=scale),
    "CompactNet": lambda scale=4: CompactNet(num_convs=2, num_features=8, scale=scale),
}


def smooth_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A photo-like uint8 RGB image: smooth gradients plus a few edges and some noise."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    channels = []
    for _ in range(3):
        a, b, c = rng.uniform(2, 8, 3)
        wave = 0.5 + 0.25 * np.sin(a * x + b * y) + 0.15 * np.cos(c * x * y * 4)
        wave += 0.2 * (x > rng.uniform(0.3, 0.7))  # a hard edge
        channels.append(wave)
    image = np.stack(channels, -1) + rng.normal(0, 0.01, (height, width, 3))
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_reaches_the_tests() -> None:
    """Ctrl-C as a terminal's foreground run gets it, also where the suite was started in
    the background (by a script: SIGINT ignored, which srgan's commands respect and the
    commands the tests run in subprocesses would inherit)."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def srgan_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One srgan cache folder for the whole session's ONNX models, never the user's: models
    are keyed by their weights' sha256, so each tiny test network is exported once, for the
    tests and for the commands they run in subprocesses (``subprocess_env``)."""
    return tmp_path_factory.mktemp("srgan-cache")


@pytest.fixture(autouse=True)
def _onnx_cache(srgan_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from srgan import backends

    monkeypatch.setattr(backends, "onnx_cache_dir", lambda: srgan_cache / "onnx")


@pytest.fixture
def subprocess_env(srgan_cache: Path) -> dict[str, str]:
    """The environment for a command run in a subprocess: the session's srgan cache, and
    this checkout first on the import path."""
    import os

    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "SRGAN_CACHE": str(srgan_cache), "PYTHONPATH": root}


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    """Six small RGB PNGs (64-96 px) in a temporary folder."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(6):
        h, w = 64 + 8 * (i % 3), 96 - 8 * (i % 2)
        Image.fromarray(smooth_image(rng, h, w)).save(folder / f"img{i}.png")
    return folder


@pytest.fixture
def tiny_generator() -> RRDBNet:
    return TINY_GENERATORS["RRDBNet"]()


@pytest.fixture
def tiny_discriminators() -> dict[str, torch.nn.Module]:
    return {"VGGStyle": VGGStyle(num_features=4), "UNet": UNet(num_features=4)}


def tiny_compact(scale: int = 4) -> CompactNet:
    """The smallest CompactNet (4 features, 1 conv): fast enough for end-to-end CLI tests."""
    return CompactNet(num_features=4, num_convs=1, scale=scale).eval()


def run_upscale(args: list[object], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``srgan.upscale`` on the CPU without progress bars: exit status, stdout, stderr."""
    from srgan.upscale import main

    code = main([*map(str, args), "--device", "cpu", "--no-progress"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """The tiny CompactNet saved as an srgan weights file."""
    from srgan.weights import save_generator

    return save_generator(tiny_compact(), tmp_path / "tiny.safetensors")


@pytest.fixture
def shipped_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary packaged-weights folder holding tiny ``fast-any.safetensors`` (the
    default) and ``fast.safetensors`` (x4).

    ``srgan.weights`` looks up shipped models there, so ``--model default`` and
    ``--model fast`` work in tests without the real released weights.
    """
    from srgan import pictures, weights

    folder = tmp_path / "packaged-weights"
    weights.save_generator(tiny_compact(), folder / f"{weights.DEFAULT_MODEL}.safetensors")
    weights.save_generator(tiny_compact(), folder / "fast.safetensors")
    monkeypatch.setattr(weights, "WEIGHTS_DIR", folder)
    pictures.cached_upscaler.cache_clear()
    yield folder
    pictures.cached_upscaler.cache_clear()


def require_assets(*names: str) -> None:
    """Skip (with the reason shown) when srgan's cache lacks ``names``; a cached file that is
    not the expected one fails instead: that is a bug to see, not a missing download."""
    from srgan import assets

    missing = []
    for name in names:
        status = assets.asset_status(name)
        if status.startswith("wrong"):
            pytest.fail(f"srgan cache: {name}: {status}")
        if status == "missing":
            missing.append(name)
    if missing:
        pytest.skip(
            f"needs {', '.join(missing)} in srgan's cache "
            f"({assets.home_relative(assets.cache_dir())}): run `{assets.FETCH_COMMAND}`"
        )


def random_features(network: str) -> dict[str, torch.Tensor]:
    """torchvision ``features.*`` tensors of ``network``, randomly initialised: stands in for
    the ImageNet weights where a test checks plumbing, not values."""
    from torchvision.models import alexnet, vgg

    if network == "alexnet":
        features = alexnet().features
    else:
        features = vgg.make_layers(vgg.cfgs["D" if network == "vgg16" else "E"])
    return {f"features.{k}": v for k, v in features.state_dict().items()}


@pytest.fixture
def random_backbones(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random backbones and DISTS weights in place of the ImageNet ones, for the metrics."""
    from srgan import assets, metrics

    def state(network: str, what: str | None = None) -> dict[str, torch.Tensor]:
        return random_features(network)

    monkeypatch.setattr(metrics, "backbone_state", state)
    monkeypatch.setattr(assets, "backbone_state", state)
    shape = (1, 1475, 1, 1)
    monkeypatch.setattr(
        metrics, "dists_weights", lambda: {"alpha": torch.rand(shape), "beta": torch.rand(shape)}
    )


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No srgan cache and no torchvision cache: nothing to load the backbones from."""
    from srgan import assets

    monkeypatch.setenv(assets.CACHE_ENV, str(tmp_path / "srgan-cache"))
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))


@pytest.fixture(scope="module")
def compact_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[CompactNet, Path]:
    """A tiny CompactNet and its ONNX export, shared by the export and int8 tests."""
    from srgan.onnx import export_onnx

    torch.manual_seed(0)
    model = CompactNet(num_features=4, num_convs=1).eval()
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "compact.onnx")
    return model, path


def make_video(
    path: Path,
    *,
    frames: int = 6,
    size: tuple[int, int] = (32, 24),
    rate: int = 10,
    audio: str | None = "aac",
    codec: str = "libx264",
    pts: list[int] | None = None,
    smooth: bool = False,
) -> Path:
    """A tiny video: ``frames`` frames of ``size`` (width, height) at ``rate`` fps (timestamps
    ``pts`` in 1/``rate`` units, default 0, 1, 2, ...), noise or smooth pictures, with a
    440 Hz mono tone in ``audio`` lasting as long (``None``: no audio)."""
    from benchmarks.speed.clip import write_video

    rng = np.random.default_rng(0)

    def pictures():
        for i in range(len(pts) if pts else frames):
            if smooth:
                yield smooth_image(np.random.default_rng(i), size[1], size[0])
            else:
                yield rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)

    return write_video(path, pictures(), rate=rate, codec=codec, audio=audio, pts=pts)
