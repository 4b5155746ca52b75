"""Upscaling pictures, checked by value: gray, RGBA, 16-bit, float, and encoder quality.

Only the public API (``srgan.upscale_image``) and the command line
(``srgan.upscale.main``) are used, against the model run by hand.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import srgan
from srgan.images import read_image
from srgan.pictures import fill_hidden
from srgan.upscale import main
from srgan.weights import save_generator
from tests.conftest import make_video, smooth_image, tiny_compact


@pytest.fixture
def model() -> torch.nn.Module:
    torch.manual_seed(1)
    return tiny_compact()


def photo(h: int = 10, w: int = 12, seed: int = 0) -> np.ndarray:
    return smooth_image(np.random.default_rng(seed), h, w)


def by_hand(model: torch.nn.Module, pixels: np.ndarray, top: int) -> np.ndarray:
    """``(H, W, 3)`` integer pixels -> the model's output, clamped, rounded to ``0..top``."""
    x = torch.from_numpy(pixels.astype(np.float32)).permute(2, 0, 1)[None] / top
    with torch.no_grad():
        sr = model(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    return np.rint(sr * top)


def test_rgb_is_the_model_output_rounded(model: torch.nn.Module) -> None:
    pixels = photo()
    out = srgan.upscale_image(pixels, model, device="cpu")
    assert out.dtype == np.uint8 and out.shape == (40, 48, 3)
    np.testing.assert_array_equal(out, by_hand(model, pixels, 255))


def test_gray_is_the_rounded_mean_of_the_models_three_channels(model: torch.nn.Module) -> None:
    gray = photo()[..., 1]
    out = srgan.upscale_image(gray, model, device="cpu")
    assert out.dtype == np.uint8 and out.shape == (40, 48)
    channels = by_hand(model, np.repeat(gray[..., None], 3, axis=2), 255)
    assert (channels[..., 0] != channels[..., 1]).any()  # the channels do differ
    np.testing.assert_array_equal(out, np.rint(channels.mean(axis=2)))
    # The same through PIL (mode L in, mode L out).
    pil = srgan.upscale_image(Image.fromarray(gray), model, device="cpu")
    assert pil.mode == "L"
    np.testing.assert_array_equal(np.asarray(pil), out)


def test_16bit_keeps_16bit_precision(model: torch.nn.Module) -> None:
    pixels = photo().astype(np.uint16) * 257 + np.random.default_rng(1).integers(
        0, 257, (10, 12, 3), dtype=np.uint16
    )
    out = srgan.upscale_image(pixels, model, device="cpu")
    assert out.dtype == np.uint16 and out.shape == (40, 48, 3)
    np.testing.assert_array_equal(out, by_hand(model, pixels, 65535))
    assert (out % 257 != 0).any()  # not 8-bit levels stretched to 16 bits
    gray = srgan.upscale_image(pixels[..., 0], model, device="cpu")
    channels = by_hand(model, np.repeat(pixels[..., :1], 3, axis=2), 65535)
    np.testing.assert_array_equal(gray, np.rint(channels.mean(axis=2)))


def test_float_input_comes_back_as_float_in_16bit_steps(model: torch.nn.Module) -> None:
    pixels = photo().astype(np.float32) / 255
    out = srgan.upscale_image(pixels, model, device="cpu")
    assert out.dtype == np.float32
    deep = np.rint(pixels * 65535).astype(np.uint16)
    np.testing.assert_array_equal(out, by_hand(model, deep, 65535).astype(np.float32) / 65535)
    double = srgan.upscale_image(pixels.astype(np.float64), model, device="cpu")
    assert double.dtype == np.float64  # the input's dtype, the same values
    np.testing.assert_array_equal(double, out)


@pytest.mark.parametrize("alpha_mode", ["bicubic", "model"])
def test_rgba_colour_ignores_alpha_and_alpha_is_upscaled(
    model: torch.nn.Module, alpha_mode: str
) -> None:
    colour = photo()
    i, j = np.mgrid[0:10, 0:12]
    alpha = (8 * i + 12 * j + 40).astype(np.uint8)  # a plane: 40 .. 244
    out = srgan.upscale_image(np.dstack([colour, alpha]), model, alpha=alpha_mode, device="cpu")
    assert out.shape == (40, 48, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., :3], by_hand(model, colour, 255))
    if alpha_mode == "model":
        # Through the model like a gray image.
        np.testing.assert_array_equal(out[..., 3], srgan.upscale_image(alpha, model, device="cpu"))
    else:
        # Bicubic interpolation reproduces a plane (away from the borders): output pixel
        # (I, J) sits at input position ((I + 0.5) / 4 - 0.5, (J + 0.5) / 4 - 0.5).
        big_i, big_j = (np.mgrid[0:40, 0:48] + 0.5) / 4 - 0.5
        plane = 8 * big_i + 12 * big_j + 40
        difference = np.abs(out[..., 3].astype(float) - plane)[8:-8, 8:-8]
        assert difference.max() <= 0.5 + 1e-9
    # A constant alpha stays exactly constant either way.
    flat = srgan.upscale_image(
        np.dstack([colour, np.full((10, 12), 200, np.uint8)]), model, alpha="bicubic"
    )
    assert (flat[..., 3] == 200).all()


def test_an_animated_pil_image_upscales_its_current_frame_with_a_warning(
    tmp_path: Path, model: torch.nn.Module
) -> None:
    frames = [Image.fromarray(photo(seed=k)) for k in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with Image.open(tmp_path / "anim.gif") as image:
        image.seek(1)
        with pytest.warns(
            UserWarning, match=r"animated \(3 frames\): only its current frame \(1\)"
        ):
            out = srgan.upscale_image(image, model, device="cpu")
        expected = srgan.upscale_image(image.convert("RGB"), model, device="cpu")
    np.testing.assert_array_equal(np.asarray(out.convert("RGB")), np.asarray(expected))


def test_hidden_colour_is_filled_from_the_nearest_visible_pixel() -> None:
    colour = photo(6, 8)
    alpha = np.zeros((6, 8), np.uint8)
    alpha[1:3, 1:3] = 255  # visible: a 2x2 block, one of them only half
    alpha[4, 6] = 1
    filled = fill_hidden(colour, alpha)
    visible = alpha > 0
    np.testing.assert_array_equal(filled[visible], colour[visible])
    np.testing.assert_array_equal(filled[0, 0], colour[1, 1])  # nearest: the block's corner
    np.testing.assert_array_equal(filled[5, 7], colour[4, 6])
    np.testing.assert_array_equal(filled[1, 5], colour[1, 2])
    assert fill_hidden(colour, None) is colour
    assert fill_hidden(colour, np.zeros_like(alpha)) is colour  # nothing visible to fill from


def test_colour_under_transparency_does_not_reach_the_visible_pixels(
    tmp_path: Path, model: torch.nn.Module
) -> None:
    """An RGBA image whose transparent half hides black or white upscales to the same
    picture either way (API and command line): no halo of the hidden colour."""
    colour, alpha = photo(12, 16), np.zeros((12, 16), np.uint8)
    alpha[:, :8] = 255
    alpha[:, 8] = 128
    weights = save_generator(model, tmp_path / "tiny.safetensors")
    outputs = []
    for hidden in (0, 255):
        rgba = np.dstack([colour, alpha])
        rgba[alpha == 0, :3] = hidden
        outputs.append(srgan.upscale_image(rgba, model, device="cpu"))
        Image.fromarray(rgba).save(tmp_path / f"hidden{hidden}.png")
        target = tmp_path / f"out{hidden}.png"
        args = [str(tmp_path / f"hidden{hidden}.png"), str(target), "--model", str(weights)]
        assert main([*args, "--device", "cpu", "--no-progress"]) == 0
        outputs.append(np.dstack([(picture := read_image(target)).pixels, picture.alpha]))
    for out in outputs[1:]:
        np.testing.assert_array_equal(out, outputs[0])
    # The visible half is what the model makes of the picture with its edge colour spread.
    spread = colour.copy()
    spread[:, 9:] = colour[:, 8:9]
    np.testing.assert_array_equal(outputs[0][:, :32, :3], by_hand(model, spread, 255)[:, :32])


@pytest.mark.parametrize("fmt", ["jpg", "webp"])
def test_quality_option_changes_the_output(tmp_path: Path, model: torch.nn.Module, fmt: str):
    source = tmp_path / "in.png"
    Image.fromarray(photo(24, 32)).save(source)
    weights = save_generator(model, tmp_path / "tiny.safetensors")
    sizes, pixels = {}, {}
    for quality in (20, 95):
        target = tmp_path / f"q{quality}.{fmt}"
        args = [str(source), str(target), "--model", str(weights), "--quality", str(quality)]
        assert main([*args, "--device", "cpu", "--no-progress"]) == 0
        sizes[quality] = target.stat().st_size
        pixels[quality] = read_image(target).pixels.astype(int)
    assert sizes[20] < sizes[95]
    lossless = by_hand(model, photo(24, 32), 255)
    error = {q: np.abs(p - lossless).mean() for q, p in pixels.items()}
    assert error[95] < error[20]


def test_upscale_image_api(shipped_weights: Path) -> None:
    array = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    out = srgan.upscale_image(array)  # the shipped default
    assert out.shape == (24, 32, 3) and out.dtype == np.uint8
    model = srgan.load_model("default")
    upscaler = srgan.Upscaler(model, device="cpu")
    assert np.array_equal(srgan.upscale_image(array, upscaler), out)
    gray = srgan.upscale_image(array[..., 0], model)
    assert gray.shape == (24, 32)
    rgba = srgan.upscale_image(np.dstack([array, array[..., 0]]), model, alpha="model")
    assert rgba.shape == (24, 32, 4)
    floats = srgan.upscale_image(array.astype(np.float32) / 255, model)
    assert floats.dtype == np.float32 and np.abs(floats * 255 - out).max() <= 1
    deep = srgan.upscale_image(array.astype(np.uint16) * 257, model, outscale=2)
    assert deep.dtype == np.uint16 and deep.shape == (12, 16, 3)
    pil = srgan.upscale_image(Image.fromarray(array).convert("RGBA"), upscaler)
    assert isinstance(pil, Image.Image) and pil.mode == "RGBA" and pil.size == (32, 24)


def test_a_read_only_one_pixel_image_makes_a_batch_without_a_warning() -> None:
    import warnings

    from srgan.inference import to_batch

    pixels = np.array([[[10, 20, 30]]], np.uint8)
    pixels.flags.writeable = False  # as decoders hand out their buffers
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch = to_batch(pixels)
    assert batch.tolist() == [[[[10]], [[20]], [[30]]]]


def test_a_file_name_is_not_pixels() -> None:
    with pytest.raises(TypeError, match=r"not a file name: open it first"):
        srgan.upscale_image("photo.jpg", model=torch.nn.Identity())


def test_float16_pixels_come_back_as_float16(model: torch.nn.Module) -> None:
    pixels = photo().astype(np.float32) / 255
    half = srgan.upscale_image(pixels.astype(np.float16), model, device="cpu")
    single = srgan.upscale_image(pixels.astype(np.float16).astype(np.float32), model, device="cpu")
    # Scaled to 16 bits in float32: 65535 overflows float16 (the image came back black).
    assert half.dtype == np.float16 and np.abs(half.astype(np.float32) - single).max() < 1e-3


def test_what_upscale_image_cannot_take_is_said(model: torch.nn.Module) -> None:
    pixels = photo()
    for bad, error, says in [
        (pixels.astype(np.float32), ValueError, "divide by 255"),  # 0..255 floats
        (torch.from_numpy(pixels), TypeError, "call an Upscaler"),
    ]:
        with pytest.raises(error, match=says):
            srgan.upscale_image(bad, model, device="cpu")
    for outscale in (0, -1, float("nan"), float("inf"), 17):
        with pytest.raises(ValueError, match="outscale must be above 0 and at most 16"):
            srgan.upscale_image(pixels, model, device="cpu", outscale=outscale)
    with pytest.raises(TypeError, match="outscale must be a number"):
        srgan.upscale_image(pixels, model, device="cpu", outscale="2")
    rgba = np.dstack([pixels, pixels[..., 0]])
    with pytest.raises(ValueError, match="alpha must be 'bicubic' or 'model'"):
        srgan.upscale_image(rgba, model, device="cpu", alpha="nonsense")


def test_what_upscale_image_reads_badly_is_an_image_error(
    tmp_path: Path, model: torch.nn.Module
) -> None:
    """As for files: a truncated picture is srgan's ImageError, not Pillow's OSError;
    16-bit gray stays 16-bit without a word; big-endian samples are the same values."""
    Image.fromarray(photo(64, 64)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])  # headers whole, pixels cut
    with Image.open(tmp_path / "cut.jpg") as cut:
        with pytest.raises(srgan.ImageError, match="truncated file"):
            srgan.upscale_image(cut, model, device="cpu")
    gray = photo()[..., 0].astype(np.uint16) * 257
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = srgan.upscale_image(Image.fromarray(gray), model, device="cpu")
    assert out.mode == "I;16"
    native = srgan.upscale_image(gray, model, device="cpu")
    swapped = srgan.upscale_image(gray.astype(">u2"), model, device="cpu")
    assert np.array_equal(native, np.asarray(out)) and np.array_equal(native, swapped)
    with pytest.raises(TypeError, match=r"int64 \(for 0..255 values: np.asarray"):
        srgan.upscale_image(photo().astype(np.int64), model, device="cpu")


def test_a_multi_page_tiff_is_called_one(tmp_path: Path, model: torch.nn.Module) -> None:
    pages = [Image.fromarray(photo(seed=k)) for k in range(2)]
    pages[0].save(tmp_path / "pages.tif", save_all=True, append_images=pages[1:])
    with Image.open(tmp_path / "pages.tif") as image:
        with pytest.warns(UserWarning, match=r"multi-page TIFF \(2 pages\): only its current page"):
            srgan.upscale_image(image, model, device="cpu")


def test_the_callers_network_keeps_its_mode_and_dtype() -> None:
    network = srgan.SRResNet(num_features=8, num_blocks=1, scale=2).train()
    srgan.upscale_image(photo(), network, device="cpu")
    assert network.training  # a preview in the middle of training leaves it training
    double = tiny_compact().double()
    srgan.upscale_image(photo(), double, device="cpu")
    assert next(double.parameters()).dtype == torch.float64
    ready = tiny_compact().eval()
    assert srgan.Upscaler(ready, device="cpu").model is ready  # nothing to change: no copy


def test_devices_are_compared_by_what_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    from srgan.inference import same_device

    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    # A model on cuda:0 with device "cuda" asked for: ready, no copy of it is made.
    assert same_device(torch.device("cuda:0"), cuda) and same_device(cpu, torch.device("cpu", 0))
    assert not same_device(torch.device("cuda:1"), cuda) and not same_device(cpu, cuda)


def test_a_model_file_written_again_is_loaded_again(tmp_path: Path) -> None:
    path = tmp_path / "swap.safetensors"
    save_generator(srgan.CompactNet(num_features=8, num_convs=1, scale=4), path)
    assert srgan.upscale_image(photo(), str(path), device="cpu", backend="torch").shape[0] == 40
    save_generator(srgan.CompactNet(num_features=8, num_convs=1, scale=2), path)
    assert srgan.upscale_image(photo(), str(path), device="cpu", backend="torch").shape[0] == 20


def test_a_lab_image_has_no_alpha(model: torch.nn.Module) -> None:
    lab = Image.fromarray(photo()).convert("LAB")  # its bands are L, A and B
    out = srgan.upscale_image(lab, model, device="cpu")
    assert out.mode == "RGB" and out.size == (48, 40)


def test_an_upscaler_says_what_it_cannot_take(model: torch.nn.Module) -> None:
    upscaler = srgan.Upscaler(model, device="cpu")
    for batch, error, says in [
        (torch.full((1, 3, 8, 8), float("nan")), FloatingPointError, "the input holds NaN"),
        (torch.rand(1, 4, 8, 8), ValueError, "the model takes 3 channels, got 4"),
        (torch.rand(1, 3, 0, 8), ValueError, "no pixels"),
        (torch.rand(1, 3, 8, 8) * 255, ValueError, r"reach 2\d\d(\.\d+)?: divide by 255"),
        (torch.rand(1, 3, 8, 8) * 2 - 1, ValueError, r"go down to -0\.\d+: map \[-1, 1\] pixels"),
        (torch.rand(1, 8, 8, 3), ValueError, r"channels last\? .*permute\(0, 3, 1, 2\)"),
        (photo(), TypeError, "not ndarray; for a numpy array or a PIL image use"),
        (Image.fromarray(photo()), TypeError, "for a numpy array or a PIL image use"),
    ]:
        with pytest.raises(error, match=says):
            upscaler(batch)
    assert upscaler(torch.rand(1, 3, 8, 8) * 1.2).shape == (1, 3, 32, 32)  # a little over: kept
    for tile, error in [("512", TypeError), (16.0, TypeError), (True, TypeError), (4, ValueError)]:
        with pytest.raises(error, match="tile must be"):
            srgan.Upscaler(model, device="cpu", tile=tile)
    assert srgan.Upscaler(model, device="cpu", tile=np.int64(16)).tile == 16
    with pytest.raises(ValueError, match="out_dtype must be one of"):
        upscaler(torch.rand(1, 3, 8, 8), out_dtype=torch.int32)


def test_only_the_projects_own_commands_take_over_ctrl_c_and_warnings(tmp_path: Path) -> None:
    import subprocess
    import sys

    from srgan import _own_command

    python = "/usr/bin/python3"
    for argv, orig, own in [
        (["-m"], [python, "-m", "srgan.upscale", "a", "b"], True),
        (["-m"], [python, "-X", "utf8", "-msrgan.fit", "fit"], True),
        (["-m"], [python, "-Om", "srgan.upscale"], True),
        (["-m"], [python, "-m", "benchmarks.speed"], True),
        (["-m"], [python, "-m", "myjob.run"], False),  # a program that imports srgan
        (["/venv/bin/srgan-upscale", "a"], ["/venv/bin/srgan-upscale", "a"], True),
        (["job.py", "-m", "srgan.x"], [python, "job.py", "-m", "srgan.x"], False),
    ]:
        assert _own_command(argv, orig) is own, orig
    # Another program run with -m whose package imports srgan: its Ctrl-C keeps the traceback.
    package = tmp_path / "myjob"
    package.mkdir()
    (package / "__init__.py").write_text("import srgan\n")
    (package / "run.py").write_text("raise KeyboardInterrupt\n")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{root}"}
    done = subprocess.run(
        [sys.executable, "-m", "myjob.run"], capture_output=True, text=True, env=env
    )
    assert "Traceback" in done.stderr and "KeyboardInterrupt" in done.stderr


def test_loading_a_model_leaves_the_callers_random_state_alone(shipped_weights: Path) -> None:
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    srgan.load_model("fast")
    srgan.build_upscaler("fast", backend="torch", device="cpu")
    assert torch.equal(torch.rand(3), expected)


def test_options_an_upscaler_would_ignore_are_refused(
    model: torch.nn.Module, model_file: Path
) -> None:
    upscaler = srgan.Upscaler(model, device="cpu")
    for option in ({"tile": 8}, {"device": "cuda"}, {"precision": "fp16"}, {"backend": "torch"}):
        with pytest.raises(ValueError, match=f"^{next(iter(option))}: an Upscaler runs as it was"):
            srgan.upscale_image(photo(), upscaler, **option)
    with pytest.raises(ValueError, match="backend 'onnx-int8' needs the model's name or weights"):
        srgan.upscale_image(photo(), model, backend="onnx-int8")
    with pytest.raises(TypeError, match="for a network in memory use srgan.Upscaler"):
        srgan.build_upscaler(model)
    # bf16 on the CPU: auto picks PyTorch, which runs it; int8 runs int8 only.
    bf16 = srgan.build_upscaler(str(model_file), device="cpu", precision="bf16")
    assert (bf16.backend, bf16.precision) == ("torch", "bf16")
    with pytest.raises(srgan.BackendError, match="onnx-int8 runs int8, not fp32"):
        srgan.build_upscaler(str(model_file), backend="onnx-int8", device="cpu", precision="fp32")


def test_a_16bit_png_opened_with_pillow_keeps_its_16_bits(
    tmp_path: Path, model: torch.nn.Module
) -> None:
    """Pillow decodes 16-bit colour to 8 bits, and 16-bit gray with alpha to RGBA: an
    image passed as Image.open returns it is decoded from its file, as the CLI does."""
    import struct
    import zlib

    import cv2

    from srgan.images import to_8bit
    from tests.test_images import png_chunk

    rng = np.random.default_rng(5)
    deep = photo().astype(np.uint16) * 257 + rng.integers(0, 257, (10, 12, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "rgb.png"), cv2.cvtColor(deep, cv2.COLOR_RGB2BGR))
    with Image.open(tmp_path / "rgb.png") as opened:
        with pytest.warns(UserWarning, match="comes back as an 8-bit PIL image"):
            out = srgan.upscale_image(opened, model, device="cpu")
    expected = to_8bit(srgan.upscale_image(deep, model, device="cpu"))
    assert out.mode == "RGB" and np.array_equal(np.asarray(out), expected)
    # Gray and alpha, 16 bits each (PNG colour type 4): gray comes back, not tinted colour.
    gray, alpha = deep[..., 0], deep[..., 1]
    rows = np.dstack([gray, alpha]).astype(">u2").reshape(10, -1)
    raw = b"".join(b"\0" + row.tobytes() for row in rows)
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 12, 10, 16, 4, 0, 0, 0))
    data = b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", zlib.compress(raw))
    (tmp_path / "la.png").write_bytes(data + png_chunk(b"IEND", b""))
    with Image.open(tmp_path / "la.png") as opened:
        with pytest.warns(UserWarning, match="8-bit PIL image"):
            out = srgan.upscale_image(opened, model, device="cpu")
    expected = to_8bit(srgan.upscale_image(np.dstack([gray, alpha]), model, device="cpu"))
    assert out.mode == "LA" and np.array_equal(np.asarray(out), expected)
    # A page after the first of a multi-page file: that page (OpenCV would read the first).
    from srgan.images import decode_pil

    pages = [np.full((8, 8, 3), level, np.uint16) for level in (1000, 60000)]
    assert cv2.imwritemulti(str(tmp_path / "pages.tiff"), pages)
    with Image.open(tmp_path / "pages.tiff") as opened:
        opened.seek(1)
        assert decode_pil(opened).pixels.min() > 200  # 60000, not 1000 (4 in 8 bits)


def test_the_packages_errors_and_a_network_in_memory_on_a_video(
    tmp_path: Path, model: torch.nn.Module
) -> None:
    with pytest.raises(srgan.ImageError, match="floating-point pixels"):
        srgan.upscale_image(Image.new("F", (4, 4)), model, device="cpu")
    (tmp_path / "clip.mp4").write_bytes(b"not a video")
    with pytest.raises(srgan.VideoError):
        srgan.upscale_video(tmp_path / "clip.mp4", tmp_path / "out.mp4", model)
    # A network in memory runs as upscale_image runs it.
    clip = make_video(tmp_path / "clip.mkv", frames=3, audio=None)
    assert srgan.upscale_video(clip, tmp_path / "x4.mkv", model).frames == 3
