"""Weights loading: srgan files, fit checkpoints, community ESRGAN layouts, safety."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from srgan import weights
from srgan.generators import CompactNet, RRDBNet
from srgan.weights import (
    convert_esrgan_state,
    load_checkpoint,
    load_generator,
    load_model,
    resolve_model,
    save_generator,
)
from tests.conftest import tiny_compact


def tiny_rrdb(scale: int = 4) -> RRDBNet:
    return RRDBNet(num_blocks=2, num_features=8, growth_channels=4, scale=scale).eval()


def basicsr_state(model: RRDBNet) -> dict[str, torch.Tensor]:
    """The BasicSR / Real-ESRGAN key layout: conv_upN.weight (no inner .conv)."""
    return {
        re.sub(r"^conv_up(\d)\.conv\.", r"conv_up\1.", k): v.clone()
        for k, v in model.state_dict().items()
    }


def old_esrgan_state(model: RRDBNet) -> dict[str, torch.Tensor]:
    """The original ESRGAN layout: model.0, model.1.sub.N.RDBk.convj.0, model.3/6/8/10."""
    n = model.config["num_blocks"]
    ups = model.upsample_steps
    # Sequential indices: 0 conv, 1 trunk, then (upsample, conv, lrelu) per step, HR, lrelu, last.
    up_index = {i: 3 * i for i in range(1, ups + 1)}
    hr, last = 3 * ups + 2, 3 * ups + 4
    out = {}
    for key, value in basicsr_state(model).items():
        key = re.sub(r"^conv_first\.", "model.0.", key)
        key = re.sub(r"^body\.(\d+)\.rdb(\d)\.conv(\d)\.", r"model.1.sub.\1.RDB\2.conv\3.0.", key)
        key = re.sub(r"^conv_body\.", f"model.1.sub.{n}.", key)
        key = re.sub(r"^conv_up(\d)\.", lambda m: f"model.{up_index[int(m.group(1))]}.", key)
        key = re.sub(r"^conv_hr\.", f"model.{hr}.", key)
        key = re.sub(r"^conv_last\.", f"model.{last}.", key)
        out[key] = value
    return out


def trunk_state(model: RRDBNet) -> dict[str, torch.Tensor]:
    """The intermediate ESRGAN layout: RRDB_trunk, trunk_conv, upconvN, HRconv."""
    out = {}
    for key, value in basicsr_state(model).items():
        key = re.sub(r"^body\.(\d+)\.rdb(\d)\.", r"RRDB_trunk.\1.RDB\2.", key)
        key = key.replace("conv_body.", "trunk_conv.").replace("conv_hr.", "HRconv.")
        key = re.sub(r"^conv_up(\d)\.", r"upconv\1.", key)
        out[key] = value
    return out


def same_outputs(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    x = torch.rand(1, 3, 6, 7)
    with torch.no_grad():
        return torch.allclose(a(x), b(x), atol=1e-6)


def test_safetensors_round_trip_rebuilds_the_model(tmp_path: Path) -> None:
    model = tiny_compact()
    path = save_generator(model, tmp_path / "m.safetensors", card={"note": "tiny"})
    loaded = load_generator(path)
    assert isinstance(loaded, CompactNet) and loaded.config == model.config
    assert same_outputs(model, loaded)
    half = load_generator(save_generator(model, tmp_path / "h.safetensors", dtype=torch.float16))
    assert next(half.parameters()).dtype == torch.float32


@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize("layout", ["basicsr", "old", "trunk"])
def test_community_layouts_load_with_inferred_size(layout: str, scale: int, tmp_path: Path) -> None:
    model = tiny_rrdb(scale)
    state = {"basicsr": basicsr_state, "old": old_esrgan_state, "trunk": trunk_state}[layout](model)
    config, _ = convert_esrgan_state(state)
    assert config == model.config
    torch.save(state, tmp_path / "m.pth")
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    loaded = load_generator(tmp_path / "m.pth")
    assert torch.equal(torch.rand(3), expected)  # the caller's random state left alone
    assert isinstance(loaded, RRDBNet) and loaded.config == model.config
    assert same_outputs(model, loaded)


def test_real_esrgan_wrappers_prefer_params_ema_and_strip_module(tmp_path: Path) -> None:
    model, other = tiny_rrdb(), tiny_rrdb()
    wrap = {
        "params": {f"module.{k}": v for k, v in basicsr_state(other).items()},
        "params_ema": {f"module.{k}": v for k, v in basicsr_state(model).items()},
    }
    torch.save(wrap, tmp_path / "RealESRGAN_x4plus.pth")
    assert same_outputs(model, load_generator(tmp_path / "RealESRGAN_x4plus.pth"))
    torch.save({"params": basicsr_state(other)}, tmp_path / "params.pth")
    assert same_outputs(other, load_generator(tmp_path / "params.pth"))


def test_community_safetensors_without_srgan_header(tmp_path: Path) -> None:
    model = tiny_rrdb()
    save_file(basicsr_state(model), str(tmp_path / "esrgan.safetensors"))
    assert same_outputs(model, load_generator(tmp_path / "esrgan.safetensors"))


def test_real_esrgan_x2_pixel_unshuffle_is_refused(tmp_path: Path) -> None:
    state = basicsr_state(tiny_rrdb(2))
    state["conv_first.weight"] = torch.zeros(8, 12, 3, 3)
    torch.save({"params_ema": state}, tmp_path / "x2.pth")
    with pytest.raises(ValueError, match="pixel-unshuffled input"):
        load_generator(tmp_path / "x2.pth")


def test_unrelated_weights_are_refused_clearly(tmp_path: Path) -> None:
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "classifier.pth")
    with pytest.raises(ValueError, match="neither an srgan model"):
        load_generator(tmp_path / "classifier.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable PyTorch weights file"):
        load_generator(tmp_path / "junk.pth")
    with pytest.raises(FileNotFoundError, match="model file not found"):
        load_generator(tmp_path / "missing.pth")
    # Files given by mistake: named for what they are, without torch's unpickler's words.
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a photo")
    with pytest.raises(ValueError, match="not a weights file srgan reads") as caught:
        load_generator(tmp_path / "photo.jpg")
    assert "Unsupported" not in str(caught.value)
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07onnx")
    with pytest.raises(ValueError, match="is an ONNX model, not PyTorch weights"):
        load_generator(tmp_path / "model.onnx")


class _Payload:
    """Unpickling this would create ``marker``: the classic malicious-checkpoint trick."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_cut_short_and_empty_weights_files_are_named_so(tmp_path: Path) -> None:
    # An interrupted download or copy: said so, not torch's "[Errno 22] Invalid argument".
    torch.save({"state_dict": basicsr_state(tiny_rrdb())}, tmp_path / "whole.ckpt")
    whole = (tmp_path / "whole.ckpt").read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match="cut short or damaged"):
        load_generator(tmp_path / "cut.ckpt")
    path = save_generator(tiny_compact(), tmp_path / "whole.safetensors")
    (tmp_path / "cut.safetensors").write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="cut short or damaged"):
        load_generator(tmp_path / "cut.safetensors")
    import zipfile

    with zipfile.ZipFile(tmp_path / "other.pth", "w") as archive:  # whole, just not torch's
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="not a readable PyTorch weights file") as caught:
        load_generator(tmp_path / "other.pth")
    assert "cut short" not in str(caught.value)
    for name in ("empty.ckpt", "empty.safetensors"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(ValueError, match="the file is empty"):
            load_generator(tmp_path / name)


def test_malicious_pickle_is_refused_and_its_payload_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    state = basicsr_state(tiny_rrdb())
    torch.save({"params_ema": state, "extra": _Payload(marker)}, tmp_path / "evil.pth")
    assert not marker.exists()
    with pytest.raises(ValueError, match=r"refusing to load .*evil\.pth: it imports io\.open"):
        load_generator(tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="refusing"):
        load_checkpoint(tmp_path / "evil.pth")
    assert not marker.exists()


def fit_checkpoint(generator: torch.nn.Module, ema: torch.nn.Module) -> dict:
    state = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    state |= {f"generator_ema.{k}": v for k, v in ema.state_dict().items()}
    state |= {"discriminator.conv.weight": torch.zeros(1)}
    info = {"architecture": "CompactNet", "config": dict(generator.config)}
    return {"state_dict": state, "srgan": {"generator": info, "stage": "gan"}, "epoch": 3}


def test_fit_checkpoint_prefers_the_ema_generator(tmp_path: Path) -> None:
    generator, ema = tiny_compact(), tiny_compact()
    torch.save(fit_checkpoint(generator, ema), tmp_path / "last.ckpt")
    assert same_outputs(ema, load_generator(tmp_path / "last.ckpt"))
    assert not same_outputs(generator, ema)
    assert same_outputs(generator, load_generator(tmp_path / "last.ckpt", prefer_ema=False))


def test_model_lookup_default_names_and_paths(shipped_weights: Path, tmp_path: Path) -> None:
    assert resolve_model("default") == shipped_weights / "fast-any.safetensors"
    assert resolve_model("fast") == shipped_weights / "fast.safetensors"
    assert isinstance(load_model("default"), CompactNet)
    other = save_generator(tiny_compact(scale=2), tmp_path / "mine.safetensors")
    assert load_model(str(other)).scale == 2
    with pytest.raises(FileNotFoundError, match="neither a shipped model .*default, fast"):
        load_model("nonesuch")
    with pytest.raises(
        FileNotFoundError, match="'quality' .* not shipped .*installed: default, fast"
    ):
        load_model("quality")
    with pytest.raises(FileNotFoundError, match="'fast-real' .*real photos.* not shipped"):
        load_model("fast-real")
    # A typo of a shipped name: the name meant (underscores read as hyphens).
    for typo in ("fats", "defualt", "Fast"):
        with pytest.raises(FileNotFoundError, match="did you mean '(fast|default)'") as error:
            load_model(typo)
        assert "looks like a path" not in str(error.value)
    with pytest.raises(FileNotFoundError) as error:
        load_model("nonesuch")
    assert "did you mean" not in str(error.value)
    with pytest.raises(FileNotFoundError, match="is a folder: give a weights file in it"):
        load_model(str(tmp_path))


def test_missing_default_model_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path / "empty")
    with pytest.raises(
        FileNotFoundError,
        match=r"default model \(fast-any.safetensors\) is not installed.*weights file path",
    ):
        load_model("default")
    # Without a default installed, the other messages do not suggest it.
    for spec, match in [("quality", "not shipped"), ("nonesuch", "neither a shipped model")]:
        with pytest.raises(FileNotFoundError, match=match) as error:
            load_model(spec)
        assert "none installed" in str(error.value)
        assert "'default'" not in str(error.value)
        assert "use a weights file path" in str(error.value)
    # Another model shipped, the default not: only what would load is listed and suggested.
    save_generator(tiny_compact(), tmp_path / "empty" / "other.safetensors")
    with pytest.raises(FileNotFoundError, match="neither a shipped model") as error:
        load_model("nonesuch")
    assert "(installed: other)" in str(error.value)
    assert "use a shipped name or a weights file path" in str(error.value)


def test_shipped_weights_folder_is_inside_the_package() -> None:
    import srgan

    assert weights.WEIGHTS_DIR == Path(srgan.__file__).parent / "weights"


@pytest.mark.slow
def test_shipped_weights_are_package_data_in_the_wheel(tmp_path: Path) -> None:
    """A wheel built from the source tree carries srgan/weights/*.safetensors and *.md."""
    import shutil
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).resolve().parents[1]
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("srgan", "benchmarks"):
        shutil.copytree(root / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(root / name, source / name)
    save_generator(tiny_compact(), source / "srgan" / "weights" / "fast.safetensors")
    (source / "srgan" / "weights" / "fast.md").write_text("# fast\nA tiny test model.\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(tmp_path / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("srgan-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "srgan/weights/fast.safetensors" in names
    assert "srgan/weights/fast.md" in names
    assert "srgan/upscale.py" in names
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))
    )
    assert b"srgan-upscale = srgan.upscale:main" in entry_points


def test_loading_a_model_draws_no_values_on_the_meta_device(tmp_path: Path) -> None:
    """The shape check's meta skeleton skips the random init: drawing on the meta device
    imports torch._dynamo, a second and a half of every srgan.upscale run on a CPU."""
    import subprocess
    import sys

    path = save_generator(CompactNet(num_features=8, num_convs=2), tmp_path / "m.safetensors")
    code = (
        "import sys; from srgan.weights import load_generator; "
        f"load_generator({str(path)!r}); print('torch._dynamo' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert done.stdout.strip() == "False"


def test_the_shipped_models_load_by_name_with_their_cards() -> None:
    for name in ("fast-any", "fast", "fast-real", "fast-gan"):
        model = load_model(name)
        assert isinstance(model, CompactNet) and model.scale == 4, name
        assert (weights.WEIGHTS_DIR / f"{name}.md").is_file(), name


def test_saved_weights_are_as_readable_as_any_output(tmp_path: Path) -> None:
    import os
    import stat

    umask = os.umask(0o022)
    try:
        path = save_generator(tiny_rrdb(4), tmp_path / "model.safetensors")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not safetensors' owner-only 0600


def test_a_suffix_in_capitals_loads_as_it_saves(tmp_path: Path) -> None:
    path = save_generator(tiny_compact(), tmp_path / "model.SafeTensors")
    assert type(load_generator(path)).__name__ == "CompactNet"


def test_save_generator_writes_srgan_generators_as_safetensors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="saved as .safetensors"):
        save_generator(tiny_compact(), tmp_path / "mine.pt")
    with pytest.raises(TypeError, match="save_generator writes srgan generators"):
        save_generator(torch.nn.Conv2d(3, 3, 3), tmp_path / "conv.safetensors")
    assert not list(tmp_path.iterdir())


def test_models_are_labelled_so_that_two_runs_differ() -> None:
    from srgan.weights import model_label

    assert model_label("fast") == "fast"
    assert model_label("out/mine.safetensors") == "mine"
    # An exported model is told from the weights it came from (benchmarks.quality).
    assert model_label("runs/export/fast.onnx") == "fast.onnx"
    assert model_label("runs/export/fast.int8.onnx") == "fast.int8.onnx"
    run = "runs/psnr/lightning_logs/version_3/checkpoints/last.ckpt"
    assert model_label(run) == "psnr/version_3/last"
    # Each config's first run is version_0: the config's run folder tells two apart.
    other = "runs/gan/lightning_logs/version_3/checkpoints/last.ckpt"
    assert model_label(other) != model_label(run)
    assert model_label("mine/version_0/checkpoints/best.ckpt") == "version_0/best"


def test_weights_are_saved_as_floats_and_paths_are_named(tmp_path: Path) -> None:
    network = tiny_compact()
    with pytest.raises(ValueError, match="float32, float16 or bfloat16"):
        save_generator(network, tmp_path / "int8.safetensors", dtype=torch.int8)
    assert not (tmp_path / "int8.safetensors").exists()
    with pytest.raises(FileNotFoundError, match="is a folder: give a weights file"):
        load_generator(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"srgan.load_model\('fast'\)"):
        load_generator("fast")
