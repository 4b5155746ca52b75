"""``python -m srgan.upscale`` end to end on tiny models and images, and ``upscale_image``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import srgan
from srgan import images, upscale
from srgan.images import HOST, read_image
from srgan.jobs import plan_jobs, unread_image
from srgan.upscale import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from srgan.weights import save_generator
from tests.conftest import run_upscale as run
from tests.conftest import tiny_compact

ROOT = Path(__file__).resolve().parents[1]


def rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A folder with images at two depths and a non-image file."""
    root = tmp_path / "in"
    (root / "sub" / "deeper").mkdir(parents=True)
    Image.fromarray(rgb(8, 10, 1)).save(root / "a.png")
    Image.fromarray(rgb(8, 10, 2)).save(root / "b.jpg", quality=95)
    Image.fromarray(rgb(6, 7, 3)).save(root / "sub" / "c.png")
    Image.fromarray(rgb(5, 9, 4)).save(root / "sub" / "deeper" / "d.webp")
    (root / "notes.txt").write_text("not an image")
    return root


def outputs(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_folder_is_upscaled_and_the_tree_mirrored(
    tree: Path, tmp_path: Path, shipped_weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A folder's own notes and an OS's index files are passed over without a word.
    for name in ("README.md", "LICENSE", ".DS_Store"):
        (tree / "sub" / name).write_text("notes")
    # Only by their whole name, as text: README.jxl is still named as left aside.
    (tree / "sub" / "README.jxl").write_bytes(b"\xff\x0a")
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    code, out, err = run([tree, tmp_path / "out"], capsys)
    assert code == EXIT_OK, err
    assert outputs(tmp_path / "out") == ["a.png", "b.png", "sub/c.png", "sub/deeper/d.png"]
    assert read_image(tmp_path / "out" / "sub" / "c.png").pixels.shape == (24, 28, 3)
    assert "done 4, skipped 0 (already there), failed 0" in out
    assert f"left aside: {tree / 'notes.txt'}: not an image or video suffix (.txt)" in err
    assert f"left aside: {tree / 'sub' / 'README.jxl'}: a .jxl image, which srgan does not" in err
    assert err.count("left aside") == 2, err
    assert before == {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}  # untouched
    assert not list((tmp_path / "out").rglob(".*.part"))


def test_gif_avif_and_heic_are_read_and_written_as_png(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    Image.fromarray(rgb(8, 6, 1)).save(source / "sprite.gif")
    Image.fromarray(rgb(8, 8, 2)).save(source / "photo.png")
    Image.fromarray(rgb(8, 8, 3)).save(source / "photo.gif")  # its output is photo.png's
    (source / "scan.jxl").write_bytes(b"\xff\x0a")  # JPEG XL: Pillow has no decoder
    # A phone photo: HEIC through pillow-heif (the test extra has it), stored rotated.
    exif = Image.Exif()
    exif[0x010F], exif[0x0112] = "Phone", 6  # make, orientation: turn 90 degrees clockwise
    Image.fromarray(rgb(6, 10, 5)).save(source / "IMG_0001.HEIC", exif=exif.tobytes())
    avif = ".avif" in images.READ_ONLY_SUFFIXES  # where this Pillow has the codec
    if avif:
        Image.fromarray(rgb(5, 7, 4)).save(source / "web.avif")
    # --format same keeps each input's format where srgan writes it: the others give PNG.
    code, out, err = run(
        [source, tmp_path / "out", "--model", model_file, "--format", "same"], capsys
    )
    assert code == EXIT_FAILED, err
    made = ["IMG_0001.png", "photo.png", "sprite.png", *(["web.png"] * avif)]
    assert outputs(tmp_path / "out") == made
    sprite = read_image(tmp_path / "out" / "sprite.png").pixels
    assert sprite.shape == (32, 24, 3)
    assert read_image(tmp_path / "out" / "IMG_0001.png").pixels.shape == (40, 24, 3)  # upright
    with Image.open(tmp_path / "out" / "IMG_0001.png") as image:
        assert image.getexif().get(0x010F) == "Phone"
        assert image.getexif().get(0x0112, 1) == 1
    assert f"done {3 + avif}," in out and "failed 1" in out
    clash = tmp_path / "out" / "photo.png"
    assert f"failed: {source / 'photo.gif'}: its output {clash} is {source / 'photo.png'}'s" in err
    assert "rename one of the two to keep both" in err and "--format same keeps" not in err
    jxl = f"{source / 'scan.jxl'}: a .jxl image, which srgan does not read here"
    assert f"left aside: {jxl}: convert it to PNG, JPEG or TIFF first" in err
    # A GIF given alone is upscaled too; an output named .gif is refused before any work.
    code, _, err = run([source / "sprite.gif", tmp_path / "one.png", "--model", model_file], capsys)
    assert code == EXIT_OK and np.array_equal(read_image(tmp_path / "one.png").pixels, sprite)
    code, _, err = run([source / "sprite.gif", tmp_path / "x.gif", "--model", model_file], capsys)
    assert code == EXIT_USAGE and ".gif is not a format srgan writes" in err, err
    assert not (tmp_path / "x.gif").exists()
    # A JPEG XL given alone, or a folder of them only: what to do, in one line.
    code, _, err = run([source / "scan.jxl", tmp_path / "j.png", "--model", model_file], capsys)
    assert code == EXIT_USAGE and "convert it to PNG, JPEG or TIFF first" in err, err
    (tmp_path / "scans").mkdir()
    (source / "scan.jxl").rename(tmp_path / "scans" / "scan.jxl")
    code, _, err = run([tmp_path / "scans", tmp_path / "j", "--model", model_file], capsys)
    assert code == EXIT_USAGE and "no images or videos in" in err
    assert "left aside: scan.jxl: a .jxl image, which srgan does not read here" in err


def test_heic_without_pillow_heif_says_how_to_read_it() -> None:
    why = unread_image(Path("IMG_0001.HEIC"))
    assert why.startswith("a .heic image, which srgan does not read here: convert it to PNG")
    assert "install pillow-heif, srgan's heif extra" in why
    assert "pillow-heif" not in unread_image(Path("scan.jxl"))


def test_single_file_to_file_or_folder(
    tree: Path, tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run([tree / "a.png", tmp_path / "x4.webp", "--model", model_file], capsys)
    assert code == EXIT_OK, err
    assert Image.open(tmp_path / "x4.webp").size == (40, 32)
    code, _, _ = run(
        [tree / "a.png", tmp_path / "folder", "--model", model_file, "--suffix", "_x4"], capsys
    )
    assert code == EXIT_OK and outputs(tmp_path / "folder") == ["a_x4.png"]
    # A trailing separator makes a folder of any name, as a shell user means it.
    for name in ("v1.2", "x4.png"):
        code, _, err = run([tree / "a.png", f"{tmp_path / name}/", "--model", model_file], capsys)
        assert code == EXIT_OK and outputs(tmp_path / name) == ["a.png"], err
    code, _, err = run([tree, f"{tmp_path / 'all.png'}/", "--model", model_file], capsys)
    assert code == EXIT_OK and len(outputs(tmp_path / "all.png")) == 4, err


@pytest.mark.parametrize(("fmt", "suffix"), [("jpg", ".jpg"), ("webp", ".webp"), ("same", None)])
def test_output_formats_and_quality(
    tree: Path,
    tmp_path: Path,
    model_file: Path,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
    suffix: str | None,
) -> None:
    args = [tree, tmp_path / "out", "--model", model_file, "--format", fmt, "--quality", "80"]
    code, _, err = run([*args, "--suffix", "_up"], capsys)
    assert code == EXIT_OK, err
    names = outputs(tmp_path / "out")
    if suffix is None:
        assert names == ["a_up.png", "b_up.jpg", "sub/c_up.png", "sub/deeper/d_up.webp"]
    else:
        assert all(n.endswith(f"_up{suffix}") for n in names) and len(names) == 4


def test_a_named_output_must_agree_with_format(
    tree: Path, tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A named output file and --format that disagree are refused, --format same (the
    input's format) included; agreeing ones, .jpeg for jpg among them, run."""
    source = tree / "b.jpg"
    for name, fmt, says in (
        ("out.png", "jpg", "does not match --format jpg"),
        ("out.webp", "same", "is not b.jpg's format (jpg), which --format same keeps"),
    ):
        code, _, err = run(
            [source, tmp_path / name, "--model", model_file, "--format", fmt], capsys
        )
        assert code == EXIT_USAGE and says in err, err
        assert not (tmp_path / name).exists()
    for name, fmt in (("out.jpeg", "same"), ("out2.jpg", "jpeg")):
        code, _, err = run(
            [source, tmp_path / name, "--model", model_file, "--format", fmt], capsys
        )
        assert code == EXIT_OK and (tmp_path / name).is_file(), err


def test_opencv_notes_on_files_it_reads_do_not_reach_stderr(
    tmp_path: Path, model_file: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """libtiff warns about the RGBA TIFFs OpenCV itself writes, then reads them well."""
    import cv2

    pixels = np.random.default_rng(0).integers(0, 65536, (6, 8, 4)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "rgba.tif"), pixels)
    level = images.opencv_logging().getLogLevel()
    assert (
        main([str(tmp_path / "rgba.tif"), str(tmp_path / "out"), "--model", str(model_file)]) == 0
    )
    err = capfd.readouterr().err
    assert "TIFF_Warning" not in err and images.opencv_logging().getLogLevel() == level, err
    assert (tmp_path / "out" / "rgba.png").is_file()


def test_rerun_skips_and_overwrite_redoes(
    tree: Path, tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [tree, tmp_path / "out", "--model", model_file]
    assert run(args, capsys)[0] == EXIT_OK
    target = tmp_path / "out" / "a.png"
    os.utime(target, (0, 0))
    code, out, _ = run(args, capsys)
    assert code == EXIT_OK and "done 0, skipped 4" in out and target.stat().st_mtime == 0
    code, out, _ = run([*args, "--overwrite"], capsys)
    assert code == EXIT_OK and "done 4, skipped 0" in out and target.stat().st_mtime > 0


def test_an_output_that_would_replace_an_input_is_refused(
    tree: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    code, _, err = run([tree, tree, "--model", model_file, "--format", "same"], capsys)
    assert code == EXIT_USAGE and "refusing to write into the input folder" in err
    code, _, err = run([tree / "a.png", tree / "a.png", "--model", model_file], capsys)
    assert code == EXIT_USAGE and "refusing to overwrite the input" in err
    assert before == {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}


def test_an_output_that_is_an_input_by_another_name_is_refused(
    tree: Path, tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One file, two names: a link here, the other case of a name on macOS or Windows
    (IMG.JPG given as the output of img.jpg). It is the input: refused, not replaced."""
    (tmp_path / "linked.png").hardlink_to(tree / "a.png")
    before = (tree / "a.png").read_bytes()
    code, _, err = run([tree / "a.png", tmp_path / "linked.png", "--model", model_file], capsys)
    assert code == EXIT_USAGE and "refusing to overwrite the input" in err
    assert (tree / "a.png").read_bytes() == before


def test_outputs_one_but_for_case_clash_where_the_file_system_ignores_case(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from srgan import jobs

    (tmp_path / "in").mkdir()
    # A.png and a.jpg; an accent composed and decomposed (one name on macOS); ß and ss
    # (two names everywhere).
    names = ("A.png", "a.jpg", "\u00e9.png", "e\u0301.jpg", "stra\u00dfe.png", "strasse.png")
    for name in names:
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "in" / name)
    planned = plan_jobs(tmp_path / "in", tmp_path / "out").jobs
    assert [job.clash for job in planned] == [None] * 6  # Linux: six names, six files
    monkeypatch.setattr(jobs.sys, "platform", "darwin")
    planned = plan_jobs(tmp_path / "in", tmp_path / "out").jobs
    clashes = {job.source.name: job.clash.name for job in planned if job.clash}
    assert clashes == {"a.jpg": "A.png", "e\u0301.jpg": "\u00e9.png"}


def test_output_folder_inside_the_input_is_not_read_back(
    tree: Path, tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [tree, tree / "upscaled", "--model", model_file, "--suffix", "_x4"]
    assert run(args, capsys)[0] == EXIT_OK
    code, out, _ = run(args, capsys)
    assert code == EXIT_OK and "done 0, skipped 4" in out
    assert not list((tree / "upscaled").rglob("*_x4_x4*"))
    # A second output folder: the first one's files are an earlier run's outputs, left
    # aside (one line per folder), not upscaled again.
    code, out, err = run([tree, tree / "again", "--model", model_file], capsys)
    assert code == EXIT_OK and "done 4," in out
    assert f"left aside: {tree / 'upscaled'}: 2 file(s) srgan wrote" in err
    assert outputs(tree / "again") == ["a.png", "b.png", "sub/c.png", "sub/deeper/d.png"]
    # Named as INPUT, an output is upscaled again; a folder of outputs only with
    # --include-outputs.
    again = tree / "upscaled" / "a_x4.png"
    assert run([again, tmp_path / "x16.png", "--model", model_file], capsys)[0] == EXIT_OK
    outputs_only = [tree / "upscaled", tmp_path / "x16", "--model", model_file]
    code, _, err = run(outputs_only, capsys)
    assert code == EXIT_USAGE and "its 4 image(s) are outputs of an earlier srgan run" in err
    code, out, _ = run([*outputs_only, "--include-outputs"], capsys)
    assert code == EXIT_OK and "done 4," in out


def test_bad_files_are_reported_and_the_rest_continue(
    tree: Path, tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tree / "empty.png").write_bytes(b"")
    (tree / "text.jpg").write_text("hello")
    good = (tree / "a.png").read_bytes()
    (tree / "sub" / "truncated.png").write_bytes(good[: len(good) // 2])
    Image.fromarray(rgb(40, 40)).save(tree / "big.png")
    code, out, err = run(
        [tree, tmp_path / "out", "--model", model_file, "--max-pixels", "0.001"], capsys
    )
    assert code == EXIT_FAILED
    assert "failed 4" in out and "done 4" in out
    assert f"{tree / 'empty.png'}: empty file" in err
    assert f"{tree / 'text.jpg'}: not an image" in err
    assert f"{tree / 'sub' / 'truncated.png'}: corrupt or unreadable" in err
    assert f"{tree / 'big.png'}: too large: 40 x 40" in err
    assert outputs(tmp_path / "out") == ["a.png", "b.png", "sub/c.png", "sub/deeper/d.png"]


def test_a_failed_write_leaves_no_output_and_is_reported(
    tree: Path,
    tmp_path: Path,
    model_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_replace = os.replace

    def flaky_replace(source: str, target: str | Path) -> None:
        if Path(target).name == "c.png":
            raise OSError("disk full (simulated)")
        real_replace(source, target)

    monkeypatch.setattr(images.os, "replace", flaky_replace)
    code, out, err = run([tree, tmp_path / "out", "--model", model_file], capsys)
    assert code == EXIT_FAILED and "disk full" in err and "failed 1" in out
    assert outputs(tmp_path / "out") == ["a.png", "b.png", "sub/deeper/d.png"]


def test_usage_errors_exit_2_with_what_to_do(
    tree: Path,
    tmp_path: Path,
    model_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = run([tmp_path / "missing", tmp_path / "out"], capsys)
    assert code == EXIT_USAGE and "input not found" in err
    code, _, err = run([tree, tmp_path / "out", "--model", tmp_path / "nope.pth"], capsys)
    assert code == EXIT_USAGE and "neither a shipped model" in err
    monkeypatch.setattr(srgan.weights, "WEIGHTS_DIR", tmp_path / "no-weights")
    code, _, err = run([tree, tmp_path / "out"], capsys)
    assert code == EXIT_USAGE and "default model (fast-any.safetensors) is not installed" in err
    code, _, err = run([tree, tmp_path / "out", "--model", model_file, "--quality", "0"], capsys)
    assert code == EXIT_USAGE and "--quality" in err
    code, _, err = run([tree, tmp_path / "out.png", "--model", model_file], capsys)
    assert code == EXIT_USAGE and "OUTPUT must be a folder" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run([tmp_path / "empty", tmp_path / "out", "--model", model_file], capsys)
    assert code == EXIT_USAGE and "no images" in err
    with pytest.raises(SystemExit) as exit_info:
        main([str(tree), str(tmp_path / "out"), "--format", "gif"])
    assert exit_info.value.code == EXIT_USAGE
    assert not (tmp_path / "out").exists()


def test_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    said = capsys.readouterr().out
    description = said.split("\n\n")[1]  # after the usage, wrapped as the options are
    assert (
        description.startswith("Upscale an image") and max(map(len, description.split("\n"))) < 80
    )
    text = " ".join(said.split())
    for option in upscale.build_parser()._actions:
        for flag in option.option_strings:
            assert flag in text
    assert "Default 1024 on ONNX Runtime's CPU backends" in text and "512 otherwise" in text
    assert "(default: 24)" in text and "exit status" in text
    # Which shipped model for what, for those installed (all three in the repository).
    assert "Which one: fast-any: clean images however" in text and "fast-real: photos" in text
    assert upscale.which_model(["fast"]) == (
        ". Which one: fast: clean images made smaller by MATLAB's or Pillow's bicubic "
        "(benchmark LR)"
    )
    assert upscale.which_model(["mine"]) == ""


@pytest.mark.parametrize(
    ("mode", "make"),
    [
        ("L", lambda a: Image.fromarray(a).convert("L")),
        ("LA", lambda a: Image.fromarray(a).convert("LA")),
        ("RGBA", lambda a: Image.fromarray(np.dstack([a, np.full(a.shape[:2], 7, np.uint8)]))),
        ("P", lambda a: Image.fromarray(a).convert("P", palette=Image.Palette.ADAPTIVE)),
        ("CMYK", lambda a: Image.fromarray(a).convert("CMYK")),
    ],
)
def test_modes_survive_the_command(
    tmp_path: Path,
    model_file: Path,
    capsys: pytest.CaptureFixture[str],
    mode: str,
    make,
) -> None:
    source = tmp_path / ("in.jpg" if mode == "CMYK" else "in.png")
    make(rgb(6, 8)).save(source)
    code, _, err = run([source, tmp_path / "out.png", "--model", model_file], capsys)
    assert code == EXIT_OK, err
    with Image.open(tmp_path / "out.png") as result:
        assert result.size == (32, 24)
        expected = {"L": "L", "LA": "LA", "RGBA": "RGBA", "P": "RGB", "CMYK": "RGB"}[mode]
        assert result.mode == expected
        if mode == "RGBA":
            assert (np.asarray(result)[..., 3] == 7).all()  # alpha upscaled and re-attached


def test_16bit_in_16bit_out(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    array = np.random.default_rng(5).integers(0, 65536, (6, 8, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), cv2.cvtColor(array, cv2.COLOR_RGB2BGR))
    Image.fromarray(array[..., 0]).save(tmp_path / "gray16.png")
    for name in ("deep.png", "gray16.png"):
        code, _, err = run(
            [tmp_path / name, tmp_path / "out" / name, "--model", model_file], capsys
        )
        assert code == EXIT_OK, err
        picture = read_image(tmp_path / "out" / name)
        assert picture.pixels.dtype == np.uint16 and picture.pixels.shape[:2] == (24, 32)
    code, _, _ = run([tmp_path / "deep.png", tmp_path / "deep.jpg", "--model", model_file], capsys)
    assert code == EXIT_OK and read_image(tmp_path / "deep.jpg").pixels.dtype == np.uint8


def test_exif_orientation_is_applied_to_the_output(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = Image.fromarray(rgb(6, 10))
    exif = image.getexif()
    exif[0x0112] = 6  # rotated 90 degrees
    image.save(tmp_path / "phone.jpg", exif=exif)
    assert run([tmp_path / "phone.jpg", tmp_path / "up.png", "--model", model_file], capsys)[0] == 0
    assert Image.open(tmp_path / "up.png").size == (24, 40)


def test_scale_and_tiling_options(
    tree: Path, tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        [tree / "a.png", tmp_path / "x2.png", "--model", model_file, "--scale", "2"], capsys
    )
    assert code == EXIT_OK, err
    assert Image.open(tmp_path / "x2.png").size == (20, 16)
    base = [tree, "--model", model_file, "--tile-overlap", "4"]
    assert run([base[0], tmp_path / "whole", *base[1:], "--tile", "0"], capsys)[0] == EXIT_OK
    assert run([base[0], tmp_path / "tiled", *base[1:], "--tile", "8"], capsys)[0] == EXIT_OK
    for name in outputs(tmp_path / "whole"):
        whole = read_image(tmp_path / "whole" / name).pixels.astype(int)
        tiled = read_image(tmp_path / "tiled" / name).pixels.astype(int)
        assert np.abs(whole - tiled).max() <= 1


def test_batching_gives_the_same_images(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "same-size"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(rgb(8, 8, i)).save(folder / f"{i}.png")
    for batch in ("1", "4"):
        args = [folder, tmp_path / f"b{batch}", "--model", model_file, "--batch-size", batch]
        assert run(args, capsys)[0] == EXIT_OK
    for name in outputs(tmp_path / "b1"):
        a = read_image(tmp_path / "b1" / name).pixels.astype(int)
        b = read_image(tmp_path / "b4" / name).pixels.astype(int)
        assert np.abs(a - b).max() <= 1


def test_lightning_devices_path_on_cpu(
    tree: Path,
    tmp_path: Path,
    model_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import lightning

    accelerators = []
    fabric = lightning.Fabric

    def recorded(**kwargs: object) -> object:
        accelerators.append(kwargs["accelerator"])
        return fabric(**kwargs)

    monkeypatch.setattr(lightning, "Fabric", recorded)
    code, out, err = run([tree, tmp_path / "out", "--model", model_file, "--devices", "1"], capsys)
    assert code == EXIT_OK, err
    # --device auto is CUDA or the CPU, as without --devices (Fabric's auto takes MPS too).
    args = [tree, tmp_path / "auto", "--model", model_file, "--devices", "1", "--no-progress"]
    assert main([str(a) for a in args]) == EXIT_OK
    assert accelerators == ["cpu", "cuda" if torch.cuda.is_available() else "cpu"]
    assert "done 4" in out and len(outputs(tmp_path / "out")) == 4
    code, out, _ = run([tree, tmp_path / "out", "--model", model_file, "--devices", "1"], capsys)
    assert code == EXIT_OK and "skipped 4" in out


# Run as a script, so that Lightning's launcher starts the second process the same way.
TWO_PROCESSES = """
import os, sys
import srgan.upscale as upscale
made = upscale.make_upscaler
def make(args, device, **kwargs):
    if os.environ.get("BREAK_RANK") == os.environ.get("LOCAL_RANK", "0"):
        raise RuntimeError("this device process broke")
    return made(args, device, **kwargs)
upscale.make_upscaler = make
sys.exit(upscale.main(sys.argv[1:]))
"""


@pytest.mark.slow  # two runs of two processes that import torch: about 20 s
def test_two_device_processes_name_every_failure_and_never_wait_for_a_broken_one(
    tmp_path: Path, model_file: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(rgb(8, 8, i)).save(folder / f"{i}.png")
    for name in ("4.png", "5.png"):  # one for each process (files are dealt in sorted order)
        (folder / name).write_bytes(b"not an image")
    script = tmp_path / "two.py"
    script.write_text(TWO_PROCESSES)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [sys.executable, str(script), str(folder), str(tmp_path / "out")]
    command += ["--model", str(model_file), "--devices", "2", "--device", "cpu", "--no-progress"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == EXIT_FAILED, done.stderr
    assert "done 4," in done.stdout and "failed 2" in done.stdout
    assert f"failed: {folder / '4.png'}" in done.stderr
    assert f"failed: {folder / '5.png'}" in done.stderr
    command[3] = str(tmp_path / "out2")
    broken = subprocess.run(
        command, env={**env, "BREAK_RANK": "1"}, capture_output=True, text=True, timeout=240
    )
    # The other process's files are upscaled; the broken one's are named as failed.
    assert broken.returncode == EXIT_FAILED, broken.stderr
    assert "done 2," in broken.stdout and "failed 4" in broken.stdout
    assert f"failed: {folder / '1.png'}: its device process (1) failed: this device" in (
        broken.stderr
    )


def test_sharding_covers_each_image_once(tree: Path, tmp_path: Path) -> None:
    jobs = plan_jobs(tree, tmp_path / "out").jobs
    shares = [jobs[rank::3] for rank in range(3)]
    assert sorted(j.source for share in shares for j in share) == sorted(j.source for j in jobs)


def test_python_dash_m_entry_point(
    tree: Path, tmp_path: Path, model_file: Path, subprocess_env: dict[str, str]
) -> None:
    env = subprocess_env
    result = subprocess.run(
        [sys.executable, "-m", "srgan.upscale", str(tree / "a.png"), str(tmp_path / "o.png")]
        + ["--model", str(model_file), "--device", "cpu"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "done 1" in result.stdout and (tmp_path / "o.png").is_file()


def test_two_inputs_never_share_an_output(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(rgb(6, 6, 1)).save(folder / "photo.jpg")
    Image.fromarray(rgb(6, 6, 2)).save(folder / "photo.png")
    code, out, err = run([folder, tmp_path / "out", "--model", model_file], capsys)
    assert code == EXIT_FAILED and "done 1" in out and "failed 1" in out
    # photo.png -> photo.png: the input of the output's format takes it, not the first name.
    assert f"{folder / 'photo.jpg'}: its output" in err and f"{folder / 'photo.png'}'s" in err
    code, out, _ = run(
        [folder, tmp_path / "same", "--model", model_file, "--format", "same"], capsys
    )
    assert code == EXIT_OK and outputs(tmp_path / "same") == ["photo.jpg", "photo.png"]


def test_public_api_is_exported() -> None:
    for name in ("upscale_image", "upscale_video", "build_upscaler", "load_model", "Upscaler"):
        assert name in srgan.__all__ and callable(getattr(srgan, name))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_gpu_half_precision_matches_fp32(
    tree: Path, tmp_path: Path, model_file: Path, precision: str
) -> None:
    base = [str(tree), "--model", str(model_file), "--device", "cuda", "--no-progress"]
    assert main([base[0], str(tmp_path / "fp32"), *base[1:], "--precision", "fp32"]) == EXIT_OK
    assert main([base[0], str(tmp_path / "half"), *base[1:], "--precision", precision]) == EXIT_OK
    for name in outputs(tmp_path / "fp32"):
        a = read_image(tmp_path / "fp32" / name).pixels.astype(int)
        b = read_image(tmp_path / "half" / name).pixels.astype(int)
        assert np.abs(a - b).max() <= 4


@pytest.mark.slow
def test_demo_command_on_the_sample_photos(
    tmp_path: Path, shipped_weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `make demo` runs, with a tiny stand-in for the shipped default model."""
    samples = sorted(p for p in (ROOT / "samples").iterdir() if p.suffix in (".png", ".jpg"))
    code, out, err = run([ROOT / "samples", tmp_path / "demo-output", "--overwrite"], capsys)
    assert code == EXIT_OK, err
    assert f"done {len(samples)}" in out
    for sample in samples:
        with (
            Image.open(sample) as source,
            Image.open(tmp_path / "demo-output" / f"{sample.stem}.png") as result,
        ):
            assert result.size == (source.width * 4, source.height * 4)


def test_an_interrupted_run_leaves_only_complete_outputs(
    tree: Path,
    tmp_path: Path,
    model_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = upscale.Upscaler.__call__
    calls = []

    def interrupt_second(self, lr, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, lr, **kwargs)

    monkeypatch.setattr(upscale.Upscaler, "__call__", interrupt_second)
    args = [tree, tmp_path / "out", "--model", model_file, "--batch-size", "1"]
    code, _, err = run(args, capsys)
    assert code == 130 and "interrupted" in err
    done = outputs(tmp_path / "out")
    assert done == ["a.png"]  # complete, readable, and no temporary files
    assert read_image(tmp_path / "out" / "a.png").pixels.shape == (32, 40, 3)
    monkeypatch.setattr(upscale.Upscaler, "__call__", real)
    code, out, _ = run(args, capsys)
    assert code == EXIT_OK and "done 3, skipped 1" in out


def test_a_killed_run_then_a_rerun_leaves_every_output_complete(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    """SIGKILL mid-folder (no clean-up possible), then rerun: all outputs valid, no temp files."""
    source = tmp_path / "in"
    source.mkdir()
    for i in range(80):
        Image.fromarray(rgb(96, 96, i)).save(source / f"{i:02d}.png")
    model = save_generator(
        srgan.CompactNet(num_features=32, num_convs=6), tmp_path / "slow.safetensors"
    )
    out = tmp_path / "out"
    command = [sys.executable, "-m", "srgan.upscale", str(source), str(out)]
    command += ["--model", str(model), "--device", "cpu", "--no-progress"]
    env = subprocess_env
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(6000):  # up to 60 s for start-up and the first finished image
            if list(out.glob("*.png")) or process.poll() is not None:
                break
            time.sleep(0.01)
        process.kill()
    finally:
        process.wait()
    done_before = len(list(out.glob("*.png")))
    assert 0 < done_before < 80, "the run should have been killed mid-folder"
    # What a kill during a write leaves behind, whether or not this kill did.
    missing = sorted({f"{i:02d}.png" for i in range(80)} - {p.name for p in out.glob("*.png")})
    stale = out / f".{missing[0]}.{HOST}-{process.pid}.abc01234.part"
    stale.write_bytes(b"half an image")
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == EXIT_OK, rerun.stderr
    assert f"skipped {done_before} (already there)" in rerun.stdout
    assert outputs(out) == [f"{i:02d}.png" for i in range(80)] and not stale.exists()
    for path in out.glob("*.png"):
        assert read_image(path).pixels.shape == (384, 384, 3)


def test_jpeg_to_jpeg_keeps_exif_and_scales_dpi(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    image = Image.fromarray(rgb(6, 10))
    exif = image.getexif()
    exif[0x0112] = 8  # rotated a quarter turn
    exif[0x010F] = "Camera Maker"
    image.save(source / "photo.jpg", exif=exif, dpi=(72, 72), quality=95)
    for fmt, suffix in (("same", ".jpg"), ("jpeg", ".jpg")):
        out = tmp_path / f"out-{fmt}"
        code, _, err = run([source, out, "--model", model_file, "--format", fmt], capsys)
        assert code == EXIT_OK, err
        with Image.open(out / f"photo{suffix}") as result:
            assert result.format == "JPEG" and result.size == (24, 40)
            assert result.getexif()[0x010F] == "Camera Maker"
            assert 0x0112 not in result.getexif()
            assert result.info["dpi"] == (288, 288)


def test_progress_moves_inside_an_image_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from srgan import jobs as jobs_module

    source = tmp_path / "in"
    source.mkdir()
    Image.fromarray(rgb(48, 64)).save(source / "large-photo.png")
    Image.fromarray(rgb(8, 8)).save(source / "small.png")
    seen: list[tuple[str, float]] = []

    class Recording(jobs_module.Progress):
        def tiles(self, pixels: int) -> None:
            super().tiles(pixels)
            seen.append((self.bar.desc, self.bar.n))

    monkeypatch.setattr(jobs_module, "Progress", Recording)
    plan = plan_jobs(source, tmp_path / "out")
    upscaler = srgan.Upscaler(tiny_compact(), device="cpu", tile=16)
    bars = []
    real_close = Recording.close
    monkeypatch.setattr(Recording, "close", lambda self: (bars.append(self), real_close(self)))
    options = srgan.jobs.Options(progress=True, workers=1)
    summary = jobs_module.run_jobs(plan.jobs, upscaler, options)
    assert summary.done == 2
    inside = [n for desc, n in seen if "large-photo.png" in desc]
    # 12 tiles of 16 x 16 in the 48 x 64 image: the bar moves 12 times inside it.
    assert (
        len(inside) == 12
        and inside == sorted(inside)
        and inside[-1] == pytest.approx(48 * 64 / 1e6)
    )
    (bar,) = bars
    assert bar.bar.n == pytest.approx(bar.bar.total, abs=0.01)
    assert bar.images == 2 and upscaler.progress is None


def test_progress_in_a_log_is_plain_lines_now_and_then(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """stderr that is not a terminal (a log file, a pipe: as under pytest) gets a line per
    LOG_EVERY seconds and a last one, never carriage returns or redrawn bars."""
    from srgan import progress
    from srgan.upscale import main

    source = tmp_path / "in"
    source.mkdir()
    for k, size in enumerate([(40, 48), (48, 40), (32, 32)]):  # one batch each
        Image.fromarray(rgb(*size, seed=k)).save(source / f"photo{k}.png")
    args = [str(source), str(tmp_path / "out"), "--device", "cpu", "--workers", "1"]
    args += ["--model", str(save_generator(tiny_compact(), tmp_path / "m.safetensors"))]
    assert main([*args, "--backend", "torch"]) == 0
    quiet = capsys.readouterr().err
    assert "\r" not in quiet and " MP (" not in quiet  # done within LOG_EVERY: no line
    monkeypatch.setattr(progress, "LOG_EVERY", 0.0)
    assert main([*args, "--backend", "torch", "--overwrite"]) == 0
    lines = capsys.readouterr().err.splitlines()
    progress = [line for line in lines if " MP (" in line]
    assert "\r" not in "".join(lines) and len(progress) >= 3, [repr(line) for line in lines]
    assert progress[-1].endswith("3/3 images") and "(100%)" in progress[-1]
    assert all(" MP/s, " in line and " elapsed" in line for line in progress)


def test_the_package_points_to_its_commands_and_refuses_arguments() -> None:
    import subprocess
    import sys

    base = [sys.executable, "-m", "srgan"]
    shown = subprocess.run(base, capture_output=True, text=True)
    assert shown.returncode == 0
    for command in ("srgan.fit", "srgan.upscale", "srgan.export", "srgan.assets fetch"):
        assert f"python -m {command}" in shown.stdout
    wrong = subprocess.run([*base, "upscale"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "takes no arguments" in wrong.stderr
    # A reader that leaves at once (``python -m srgan | head -0``): no traceback.
    reader_gone = subprocess.Popen(base, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader_gone.stdout.close()
    _, errors = reader_gone.communicate()
    assert reader_gone.returncode == 0 and b"Traceback" not in errors, errors.decode()


def test_a_plain_kill_stops_the_run_as_ctrl_c_does() -> None:
    import os
    import signal
    import time

    # SIGTERM raises KeyboardInterrupt inside the run (so its clean-up runs: no temporary
    # files left), and the handlers are put back after it.
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), upscale.second_interrupt_exits():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
    assert signal.getsignal(signal.SIGTERM) is before
    # Under --devices only Ctrl-C (which reaches every process) is taken over.
    with upscale.second_interrupt_exits(terminate=False):
        assert signal.getsignal(signal.SIGTERM) is before
    # An ignored Ctrl-C (a job a script started in the background) stays ignored.
    interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with upscale.second_interrupt_exits():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not before
    finally:
        signal.signal(signal.SIGINT, interrupt)


def test_jpeg_quality_is_read_from_the_quantization_table(tmp_path: Path) -> None:
    for quality in (30, 50, 75, 95):
        Image.fromarray(rgb(16, 16)).save(tmp_path / f"{quality}.jpg", quality=quality)
        assert images.jpeg_quality(tmp_path / f"{quality}.jpg") == pytest.approx(quality, abs=1)
    Image.fromarray(rgb(16, 16)).save(tmp_path / "a.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff not a JPEG")
    assert images.jpeg_quality(tmp_path / "a.png") is None
    assert images.jpeg_quality(tmp_path / "broken.jpg") is None


def test_compressed_jpegs_are_pointed_to_fast_real_by_the_default_model(
    tmp_path: Path,
    shipped_weights: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(rgb(8, 8)).save(photos / "camera.jpg", quality=95)
    Image.fromarray(rgb(8, 8)).save(photos / "a.png")
    code, _, err = run([photos, tmp_path / "o1"], capsys)
    assert code == EXIT_OK and "note" not in err, err  # quality 95: nothing to say
    Image.fromarray(rgb(8, 8)).save(photos / "web.jpg", quality=60)
    code, _, err = run([photos, tmp_path / "o2"], capsys)
    assert code == EXIT_OK and err.count("--model fast-real is made for") == 1, err
    assert "note: 1 JPEG input was saved at quality about 60: the default model" in err
    # A model asked for by name is the user's choice: nothing said.
    code, _, err = run([photos, tmp_path / "o3", "--model", "fast"], capsys)
    assert code == EXIT_OK and "fast-real" not in err, err
    # A large folder is not scanned whole for it.
    monkeypatch.setattr(upscale, "JPEG_LOOKS", 1)
    code, _, err = run([photos, tmp_path / "o4"], capsys)
    assert code == EXIT_OK and "fast-real" not in err, err  # camera.jpg alone was looked at
    Image.fromarray(rgb(8, 8)).save(photos / "another.jpg", quality=40)
    code, _, err = run([photos, tmp_path / "o5"], capsys)
    assert "1 of the first 1 JPEG inputs were saved at quality about 40" in err, err


def test_tiles_that_cost_more_than_they_save_or_show_seams_are_said_to(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Image.fromarray(rgb(6, 8)).save(tmp_path / "a.png")
    args = [tmp_path / "a.png", tmp_path / "out.png", "--model", model_file, "--overwrite"]
    code, _, err = run([*args, "--tile", "8"], capsys)
    assert code == EXIT_OK and "up to about 49 times the work of whole images" in err, err
    code, _, err = run([*args, "--tile", "48"], capsys)  # its overlap under half a tile
    assert code == EXIT_OK and "note" not in err, err
    code, _, err = run([*args, "--tile-overlap", "0"], capsys)
    assert code == EXIT_OK and "seams can show" in err and "(the default, 24," in err, err
    code, _, err = run([*args, "--tile", "0", "--tile-overlap", "0"], capsys)  # no tiles
    assert code == EXIT_OK and "note" not in err, err


def test_self_ensemble_is_an_other_setting_of_the_outputs(
    tree: Path, tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [tree / "a.png", tmp_path / "out", "--model", model_file]
    assert run(args, capsys)[0] == EXIT_OK
    plain = np.asarray(Image.open(tmp_path / "out" / "a.png"))
    code, out, _ = run([*args, "--self-ensemble"], capsys)
    assert code == EXIT_OK and "skipped 1" in out and "1 made with other settings" in out, out
    code, out, _ = run([*args, "--self-ensemble", "--overwrite"], capsys)
    assert code == EXIT_OK and "done 1" in out
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "out" / "a.png")), plain)
