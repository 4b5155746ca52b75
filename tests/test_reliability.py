"""Bad inputs, faults and hostile files against the command lines: each case a red-team pass
found wanting, reproduced here. The bad files are made by the tests (``corpus``), never
committed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from srgan import images
from srgan.images import Picture, read_image, read_tag, remove_stale_temporaries, write_image
from srgan.inference import Upscaler
from srgan.jobs import Options, plan_jobs, run_jobs
from srgan.pictures import from_batch, peak_memory, upscale_image
from srgan.upscale import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from srgan.weights import load_generator, save_generator
from tests.conftest import run_upscale as run
from tests.conftest import tiny_compact

ROOT = Path(__file__).resolve().parents[1]


def rgb(h: int, w: int, value: int = 0) -> np.ndarray:
    return np.random.default_rng(value).integers(0, 256, (h, w, 3), dtype=np.uint8)


def corpus(folder: Path, *, big: bool = False) -> dict[str, Path]:
    """Small hostile or broken files, made on the spot (``big``: a decompression bomb too)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    Image.fromarray(rgb(8, 8)).save(files.setdefault("good", folder / "good.png"))
    (folder / "text.png").write_text("not an image at all")
    files["text"] = folder / "text.png"
    (folder / "empty.jpg").write_bytes(b"")
    files["empty"] = folder / "empty.jpg"
    frames = [Image.fromarray(rgb(8, 8, i)) for i in range(3)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])
    files["animated"] = folder / "animated.gif"
    if big:
        # 8000 x 8000 1-bit: a few KB on disk, 64 MP (under the pixel limit), 1 GP upscaled.
        Image.new("1", (8000, 8000)).save(folder / "bilevel.png", optimize=True)
        files["bilevel"] = folder / "bilevel.png"
    return files


def contents(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# 1. An input is never written, whatever the layout.
def test_an_output_folder_inside_the_input_never_replaces_an_input(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "d"
    (source / "sub").mkdir(parents=True)
    Image.fromarray(rgb(8, 8, 1)).save(source / "photo.png")
    Image.fromarray(rgb(8, 8, 2)).save(source / "sub" / "photo.png")
    before = contents(source)
    for extra in ([], ["--overwrite"]):
        code, _, err = run([source, source / "sub", "--model", model_file, *extra], capsys)
        assert code == EXIT_USAGE and "srgan did not write" in err, err
        assert contents(source) == before
    # An output folder inside the input folder holding only srgan's outputs is fine, and
    # a re-run skips them.
    code, _, err = run([source, source / "up", "--model", model_file], capsys)
    assert code == EXIT_OK, err
    assert read_tag(source / "up" / "photo.png") is not None
    code, out, err = run([source, source / "up", "--model", model_file], capsys)
    assert code == EXIT_OK and "skipped 2" in out, err
    assert {p: b for p, b in contents(source).items() if "up" not in p.parts} == before


# 2. Memory is bounded before decoding, and gray images need no wide temporaries.
def test_an_image_too_big_for_memory_is_refused_with_the_figure_and_the_flag(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = corpus(tmp_path / "in", big=True)
    start = time.perf_counter()
    code, _, err = run(
        [files["bilevel"], tmp_path / "out", "--model", model_file, "--max-memory", "2"], capsys
    )
    assert code == EXIT_FAILED
    assert "needs about" in err and "GiB" in err and "--max-memory" in err
    assert time.perf_counter() - start < 20  # refused from the header, nothing decoded
    assert peak_memory(8000, 8000, 8, scale=4) > 2 * 2**30


@pytest.mark.parametrize("limit", [True, False], ids=["limited", "unlimited"])
def test_the_memory_limit_holds_for_all_images_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: bool
) -> None:
    """Each image fits the limit, two do not: they are then taken one at a time."""
    from srgan import jobs as jobs_module

    source = tmp_path / "in"
    source.mkdir()
    for i in range(6):
        Image.fromarray(rgb(16, 16, i)).save(source / f"img{i}.png")
    model = tiny_compact()
    need = peak_memory(16, 16, 8, scale=model.scale)
    lock, state = threading.Lock(), {"now": 0, "most": 0}

    def reading(*args: object, **kwargs: object) -> Picture:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.02)
        return read_image(*args, **kwargs)

    def writing(*args: object, **kwargs: object) -> None:
        write_image(*args, **kwargs)
        with lock:
            state["now"] -= 1

    monkeypatch.setattr(jobs_module, "read_image", reading)
    monkeypatch.setattr(jobs_module, "write_image", writing)
    options = Options(max_memory=need * 3 // 2 if limit else None, workers=2, progress=False)
    summary = run_jobs(plan_jobs(source, tmp_path / "out").jobs, Upscaler(model), options)
    assert summary.done == 6 and summary.failed == 0
    assert (state["most"] == 1) if limit else (state["most"] > 1)


def test_gray_output_takes_no_wide_full_size_copy() -> None:
    import tracemalloc

    sr = torch.randint(0, 256, (1, 2048, 2048, 3), dtype=torch.uint8).permute(0, 3, 1, 2)[0]
    tracemalloc.start()
    gray = from_batch(sr, grayscale=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert gray.shape == (2048, 2048, 1)
    expected = (sr.to(torch.int32).sum(0) + 1) // 3
    assert np.array_equal(gray[..., 0], expected.numpy().astype(np.uint8))
    # The output and one band of rows: a 4-byte sum over the whole image would be 48 MiB.
    assert peak < 2 * gray.nbytes


def test_tiled_output_is_already_in_image_layout() -> None:
    upscaler = Upscaler(tiny_compact(), device="cpu", tile=8, tile_overlap=2)
    sr = upscaler(torch.randint(0, 256, (1, 3, 20, 20), dtype=torch.uint8), out_dtype=torch.uint8)
    assert sr[0].permute(1, 2, 0).is_contiguous()  # from_batch hands it over without a copy


# 3. A weights file's header is checked against its tensors before anything is built.
def test_a_weights_header_is_not_trusted(tmp_path: Path) -> None:
    model = tiny_compact()
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}

    def write(name: str, architecture: str, config: str) -> Path:
        path = tmp_path / name
        metadata = {"format": "srgan.generator/1", "architecture": architecture, "config": config}
        save_file(tensors, str(path), metadata=metadata)
        return path

    huge = write(
        "huge.safetensors", "CompactNet", json.dumps(model.config | {"num_features": 8000})
    )
    start = time.perf_counter()
    with pytest.raises(ValueError, match="huge.safetensors.*do not fit"):
        load_generator(huge)
    assert time.perf_counter() - start < 5  # built on the meta device: nothing allocated
    unknown = write("unknown.safetensors", "CompactNet", json.dumps({"colour": 3}))
    with pytest.raises(ValueError, match="unknown.safetensors: CompactNet has no parameter colour"):
        load_generator(unknown)
    broken = write("broken.safetensors", "CompactNet", "{not json")
    with pytest.raises(ValueError, match="broken.safetensors: its header's config is not valid"):
        load_generator(broken)
    deep = write("deep.safetensors", "CompactNet", json.dumps(model.config | {"num_convs": 10**6}))
    start = time.perf_counter()
    with pytest.raises(ValueError, match="deep.safetensors: its header says num_convs=1000000"):
        load_generator(deep)
    assert time.perf_counter() - start < 5  # refused before a million modules are made
    alien = write("alien.safetensors", "Transformer", "{}")
    with pytest.raises(ValueError, match="alien.safetensors: unknown architecture"):
        load_generator(alien)


# 4 is the quality benchmark's: see tests/test_quality.py.


# 5. Two runs writing one folder do not delete each other's temporary files.
def test_temporaries_of_live_processes_are_kept_and_dead_ones_removed(tmp_path: Path) -> None:
    target = tmp_path / "img.png"
    dead_pid = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    live = tmp_path / f".img.png.{images.HOST}-{os.getppid()}.abcd0123.part"
    dead = tmp_path / f".img.png.{images.HOST}-{dead_pid}.abcd0123.part"
    dead_older_style = tmp_path / f".img.png.{dead_pid}.0123abcd.part"
    elsewhere = tmp_path / f".img.png.otherhost-{dead_pid}.abcd0123.part"  # not ours to judge
    users = [tmp_path / ".img.png.backup.part", tmp_path / f".img.png.{dead_pid}.notes.part"]
    for path in (live, dead, dead_older_style, elsewhere, *users):
        path.write_bytes(b"partial")
    remove_stale_temporaries(target)
    assert live.exists() and elsewhere.exists() and all(p.exists() for p in users)
    assert not dead.exists() and not dead_older_style.exists()
    with images.atomic_path(target) as temporary:
        assert temporary.name.startswith(f".img.png.{images.HOST}-{os.getpid()}.")
        assert images._temporary_pattern("img.png").fullmatch(temporary.name)
    # On Windows os.kill(pid, 0) would send Ctrl-C: no process is asked, none judged dead.
    dead.write_bytes(b"partial")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(images.os, "name", "nt")
        remove_stale_temporaries(target)
    assert dead.exists()


def test_concurrent_runs_on_one_folder_finish_cleanly(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    for i in range(12):
        Image.fromarray(rgb(16, 16, i)).save(source / f"img{i:02d}.png")
    jobs = plan_jobs(source, tmp_path / "out").jobs
    model = tiny_compact()
    summaries = []

    def one_run() -> None:
        upscaler = Upscaler(model, device="cpu")
        summaries.append(run_jobs(jobs, upscaler, Options(overwrite=True, progress=False)))

    threads = [threading.Thread(target=one_run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [s.failed for s in summaries] == [0, 0, 0], [s.failures for s in summaries]
    for job in jobs:
        assert read_image(job.target).pixels.shape == (64, 64, 3)
    assert not list((tmp_path / "out").glob(".*.part"))


# 6. Nothing is skipped silently: every file not processed is named, with the reason.
def test_every_file_not_processed_is_named(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    source = tmp_path / "in"
    corpus(source)
    (source / "notes.txt").write_text("hello")
    (source / "loop").symlink_to(source, target_is_directory=True)
    (source / "broken.png").symlink_to(tmp_path / "missing.png")
    locked = source / "locked"
    locked.mkdir()
    Image.fromarray(rgb(8, 8)).save(locked / "hidden.png")
    real_scandir = os.scandir

    def scandir(path=".") -> object:  # a folder this user may not list
        if not isinstance(path, int) and Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code, out, err = run([source, tmp_path / "out", "--model", model_file], capsys)
    assert code == EXIT_FAILED
    assert f"left aside: {source / 'notes.txt'}: not an image or video suffix (.txt)" in err
    assert f"failed: {source / 'animated.gif'}: animated (3 frames)" in err
    assert "another path to a folder already searched" in err
    assert f"failed: {source / 'broken.png'}: a broken or looping link" in err
    assert f"failed: {locked}: cannot list folder: Permission denied" in err
    assert f"failed: {source / 'text.png'}" in err and f"failed: {source / 'empty.jpg'}" in err
    assert "done 1," in out and "failed 5" in out


def test_an_animated_image_is_refused_not_cut_to_its_first_frame(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = corpus(tmp_path / "in")
    code, _, err = run([files["animated"], tmp_path / "out.png", "--model", model_file], capsys)
    assert code == EXIT_FAILED and "animated (3 frames)" in err
    name = files["animated"].name  # the command to convert it names this file
    assert f"ffmpeg -i {name} {files['animated'].stem}.mp4" in err
    assert not (tmp_path / "out.png").exists()


def test_camera_mpo_photos_are_upscaled_and_multipage_tiffs_named(tmp_path: Path) -> None:
    photo, preview = Image.fromarray(rgb(16, 24, 200)), Image.fromarray(rgb(8, 12, 10))
    photo.save(tmp_path / "camera.jpg", format="MPO", save_all=True, append_images=[preview])
    with Image.open(tmp_path / "camera.jpg") as opened:
        assert opened.format == "MPO" and opened.n_frames == 2
    assert read_image(tmp_path / "camera.jpg").pixels.shape == (16, 24, 3)
    photo.save(tmp_path / "pages.tif", save_all=True, append_images=[photo])
    with pytest.raises(images.ImageError, match=r"a multi-page TIFF \(2 pages\)"):
        read_image(tmp_path / "pages.tif")


def test_a_run_whose_every_input_failed_names_them(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "broken.png").symlink_to(tmp_path / "missing.png")
    code, out, err = run([source, tmp_path / "out", "--model", model_file], capsys)
    assert code == EXIT_FAILED and "no images" not in err
    assert f"failed: {source / 'broken.png'}: a broken or looping link" in err
    assert "done 0," in out and "failed 1" in out


def test_tiny_positive_limits_stay_limits(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = corpus(tmp_path / "in")
    for flag in ("--max-memory", "--max-pixels"):
        code, _, err = run(
            [files["good"], tmp_path / "out.png", "--model", model_file, flag, "1e-12"], capsys
        )
        assert code == EXIT_FAILED and ("needs about" in err or "too large" in err), (flag, err)
        # The figures have the digits to tell them apart (not "0 MP is above the 0 MP").
        assert "above the 0.0 GiB" not in err and "above the 0 MP" not in err, err


def test_an_outscale_equal_to_the_models_scale_is_the_same_setting(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = corpus(tmp_path / "in")
    out = tmp_path / "out"
    assert run([files["good"], out, "--model", model_file], capsys)[0] == EXIT_OK
    code, text, _ = run([files["good"], out, "--model", model_file, "--outscale", "4"], capsys)
    assert code == EXIT_OK and "skipped 1 (already there)" in text, text


def test_a_bad_array_shape_is_named() -> None:
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 4, 5\)"):
        upscale_image(np.zeros((2, 3, 4, 5)).tolist(), tiny_compact())
    with pytest.raises(ValueError, match=r"no pixels: shape \(0, 30, 3\)"):
        upscale_image(np.zeros((0, 30, 3), np.uint8), tiny_compact())
    nan = np.full((4, 4, 3), 0.5)
    nan[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        upscale_image(nan, tiny_compact())


# 7. Options are checked before any work; 8. so is the output folder.
@pytest.mark.parametrize(
    "option",
    [
        ["--scale", "inf"],
        ["--scale", "nan"],
        ["--outscale", "1e4"],
        ["--outscale", "0"],
        ["--tile-overlap", "-1"],
        ["--tile", "-8"],
        ["--tile", "4"],
        ["--max-pixels", "-1"],
        ["--max-memory", "nan"],
        ["--batch-size", "0"],
        ["--workers", "0"],
        ["--suffix", "../escape"],
        ["--suffix", "a/b"],
    ],
)
def test_bad_options_are_usage_errors_before_any_work(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str], option: list[str]
) -> None:
    files = corpus(tmp_path / "in")
    code, out, err = run([files["good"], tmp_path / "out", "--model", model_file, *option], capsys)
    assert code == EXIT_USAGE and "error:" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not out


def test_an_output_under_a_file_is_refused_before_any_work(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = corpus(tmp_path / "in")
    (tmp_path / "afile").write_text("x")
    for out in (tmp_path / "afile", tmp_path / "afile" / "below"):
        code, _, err = run([files["good"].parent, out, "--model", model_file], capsys)
        assert code == EXIT_USAGE and "is a file" in err, err


def test_an_output_name_with_an_unknown_suffix_is_a_usage_error(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """out.pgn is a typo of a file name, not a new folder to fill (an existing folder of
    such a name still is one)."""
    files = corpus(tmp_path / "in")
    code, _, err = run([files["good"], tmp_path / "new" / "out.pgn", "--model", model_file], capsys)
    assert code == EXIT_USAGE and ".pgn is not a format srgan writes" in err, err
    assert not (tmp_path / "new").exists()
    (tmp_path / "results.v2").mkdir()
    code, _, err = run([files["good"], tmp_path / "results.v2", "--model", model_file], capsys)
    assert code == EXIT_OK, err
    assert [p.suffix for p in (tmp_path / "results.v2").iterdir()] == [".png"]


def test_no_pixel_limit_means_none(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.new("1", (15000, 12000)).save(path)  # 180 MP: above Pillow's own bomb guard
    saved = Image.MAX_IMAGE_PIXELS
    try:
        assert read_image(path, max_pixels=None).pixels.shape == (12000, 15000, 1)
    finally:
        Image.MAX_IMAGE_PIXELS = saved


# 10. Broken weights and non-finite outputs never make a silent black image.
def test_nan_weights_are_refused_at_load(tmp_path: Path) -> None:
    model = tiny_compact()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    path = save_generator(model, tmp_path / "nan.safetensors")
    with pytest.raises(ValueError, match="nan.safetensors.*NaN or infinite"):
        load_generator(path)


class Exploding(torch.nn.Module):
    scale = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.interpolate(x, scale_factor=2) * float("inf")


def test_a_non_finite_output_fails_the_image() -> None:
    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        upscale_image(rgb(8, 8), Exploding(), device="cpu")


# 9. Tracebacks become messages: srgan.fit, srgan.export, Ctrl-C.
def fit(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "-m",
        "srgan.fit",
        "fit",
        "--config",
        str(ROOT / "configs/debug.yaml"),
    ]
    return subprocess.run(command + args, capture_output=True, text=True, cwd=cwd, timeout=120)


class _Payload:
    """Unpickling this would create ``marker``: the classic malicious-checkpoint trick."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def test_fit_reports_bad_data_and_checkpoints_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from srgan.fit import command

    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    small = tmp_path / "small"
    small.mkdir()
    Image.fromarray(rgb(16, 16)).save(small / "a.png")
    Image.fromarray(rgb(16, 16)).save(small / "b.png")
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {}, "extra": _Payload(marker)}, tmp_path / "evil.ckpt")
    for name, size in {"big": 96, "tiny_val": 10, "lr_x2": 48}.items():
        (tmp_path / name).mkdir()
        for image in ("a.png", "b.png"):
            Image.fromarray(rgb(size, size)).save(tmp_path / name / image)
    big = "--data.train_dir=big"
    gan = ["--model.stage=gan", "--model.discriminator=VGGStyle", "--model.objective=Hinge"]
    cases = {
        "no images in": ["--data.train_dir=empty"],
        "image folder not found": ["--data.train_dir=missing"],
        "no training image is at least 64px": ["--data.train_dir=small"],
        "refusing to load": ["--data.train_dir=small", "--ckpt_path=evil.ckpt"],
        "checkpoint not found": ["--data.train_dir=small", "--ckpt_path=nope.ckpt"],
        "clip with --model.gradient_clip": ["--trainer.gradient_clip_val=1"],
        "a larger --data.batch_size does": ["--trainer.accumulate_grad_batches=2"],
        "--ckpt_path last: no run under": ["--data.train_dir=small", "--ckpt_path=last"],
        "--data.val_dir: image folder not found: missing": [big, "--data.val_dir=missing"],
        "(10 x 10) is too small to score at x4": [big, "--data.val_dir=tiny_val"],
        "model.adversarial_weight must be 0 or more, got -1.0": [
            big,
            "--model.adversarial_weight=-1",
        ],
        "the VGGStyle discriminator takes crops whose sides are multiples of 32 (e.g. 64)": [
            big,
            *gan,
            "--data.crop_size=48",
        ],
        # One value per channel at the critic's last batch norm: not a crash at step 1.
        "32: VGGStyle's batch norm needs more than one value per channel to train, and 1 crop of 32 x 32 leaves one at its last stage (1/32 of the crop); use a batch of 2 or more, crops of 64 px or more, or --model.discriminator.init_args.normalization spectral": [
            big,
            *gan,
            "--data.crop_size=32",
            "--data.batch_size=1",
        ],
        "LR images of another scale?": [big, "--data.train_lr_dir=lr_x2"],
        # A file where the run folder goes (a read-only folder is refused alike).
        "big/a.png is a file, not a folder (where the run writes": [
            big,
            "--trainer.default_root_dir=big/a.png/runs",
        ],
    }
    config = ["fit", "--config", str(ROOT / "configs/debug.yaml"), "--data.val_holdout=1"]
    for message, args in cases.items():
        assert command([*config, *args]) == 2, message
        err = capsys.readouterr().err
        assert "error: " in err and message in err, err
        assert "run folder" not in err  # no run started
    assert not marker.exists()  # the payload never ran
    assert not (tmp_path / "runs").exists(), sorted((tmp_path / "runs").rglob("*"))
    # Lightning names the stage by its enum: the message says "test".
    assert command(["test", "--config", str(ROOT / "configs/debug.yaml"), big]) == 2
    assert "error: test needs data.test_dir" in capsys.readouterr().err
    if not torch.cuda.is_available():  # a GPU config here: one line, and how to run on the CPU
        assert command([*config, big, "--trainer.accelerator=gpu"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and "--trainer.accelerator cpu" in err, err


def test_fit_refuses_a_checkpoint_it_cannot_resume_in_one_line(
    image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """Another network than the checkpoint's, or no step left: one line, exit 2, no new
    run folder."""
    from srgan.fit import command

    monkeypatch.chdir(tmp_path)
    config = ["fit", "--config", str(ROOT / "configs/debug.yaml"), f"--data.train_dir={image_dir}"]
    config += ["--data.val_holdout=1", "--trainer.enable_progress_bar=false"]
    assert command([*config, "--trainer.max_steps=2"]) == 0
    runs = tmp_path / "runs/debug/lightning_logs"
    (last,) = runs.rglob("last.ckpt")
    capsys.readouterr()
    cases = {
        "does not fit the model this config builds: has other shapes of": [
            "--model.generator.num_features=16",
            "--trainer.max_steps=4",
        ],
        "is at step 2 and --trainer.max_steps is 2: nothing is left to train": [
            "--trainer.max_steps=2"
        ],
        "was saved in stage psnr, and this config is stage gan: resume with the config.yaml": [
            "--model.stage=gan",
            "--model.discriminator=VGGStyle",
            "--model.objective=Hinge",
            "--trainer.max_steps=4",
        ],
    }
    for message, args in cases.items():
        assert command([*config, *args, f"--ckpt_path={last}"]) == 2, message
        err = capsys.readouterr().err
        assert f"error: --ckpt_path {last} {message}" in err, err
        assert "size mismatch" not in err and "Restored" not in err  # nothing was loaded
        assert sorted(p.name for p in runs.iterdir()) == ["version_0"]
    # "last": the last run's last.ckpt (Lightning looked in the new run's own folder,
    # found nothing and trained from scratch).
    assert command([*config, "--trainer.max_steps=4", "--ckpt_path=last"]) == 0
    assert f"--ckpt_path last: {last.relative_to(tmp_path)}" in capsys.readouterr().err
    (resumed,) = (runs / "version_1").rglob("last.ckpt")
    assert torch.load(resumed, weights_only=True)["global_step"] == 4


def test_fit_without_the_perceptual_backbone_stops_before_any_work(
    image_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from srgan.fit import command

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SRGAN_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    config = ["fit", "--config", str(ROOT / "configs/debug_gan.yaml")]
    assert command([*config, f"--data.train_dir={image_dir}", "--data.val_holdout=1"]) == 2
    err = capsys.readouterr().err
    assert "error: the perceptual loss needs the ImageNet vgg16 backbone" in err
    assert "python -m srgan.assets fetch" in err
    assert not (tmp_path / "runs").exists()


def test_fit_shows_srgans_warnings_as_plain_lines(image_dir: Path, tmp_path: Path) -> None:
    Image.fromarray(rgb(16, 16)).save(image_dir / "tiny.png")
    (image_dir / "broken.png").write_bytes(b"not a png")
    # A benchmark set as val_dir: warned by the data module, which Lightning's CLI builds.
    (tmp_path / "Set5").mkdir()
    Image.fromarray(rgb(64, 64)).save(tmp_path / "Set5" / "bird.png")
    args = [f"--data.train_dir={image_dir}", "--data.val_holdout=1", "--trainer.max_steps=1"]
    args += [f"--data.val_dir={tmp_path / 'Set5'}"]
    done = fit([*args, "--trainer.enable_progress_bar=false"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "warning: skipping 1 unreadable image(s):" in done.stderr
    assert "warning: skipping 1 training image(s) smaller than the 64px crop" in done.stderr
    assert f"\nwarning: data.val_dir {tmp_path / 'Set5'} looks like a benchmark set" in done.stderr
    assert "UserWarning" not in done.stderr and "load_images(" not in done.stderr
    assert "cli.py" not in done.stderr, done.stderr  # srgan's own, not Lightning's file
    output = done.stdout + done.stderr  # and none of Lightning's advertisements or examples
    assert "run folder: runs/debug/lightning_logs/version_0" in output
    for noise in ("tensorboardX", "Tip:", "pin_memory", "saved_models", "Traceback"):
        assert noise not in output, noise


def test_export_checks_outputs_and_calibration_before_writing(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from srgan.export import main as export

    (tmp_path / "afile").write_text("x")
    assert export(["--model", str(model_file), "--output", str(tmp_path / "afile/m.onnx")]) == 2
    assert "is a file" in capsys.readouterr().err
    calibration = tmp_path / "calibration"
    corpus(calibration)
    args = ["--model", str(model_file), "--output", str(tmp_path / "m.onnx")]
    args += ["--int8", str(tmp_path / "m.int8.onnx"), "--calibration-dir", str(calibration)]
    assert export(args) == 2
    err = capsys.readouterr().err
    assert "unreadable calibration image" in err and "text.png" in err
    assert not (tmp_path / "m.onnx").exists()  # nothing written


def test_ctrl_c_at_any_moment_is_one_line(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    """Ctrl-C, again and again from the start, until the command ends: whether it lands
    while the libraries load, while the model runs or while the run winds down, the
    command says so in a line. (Loading torch's native libraries can swallow a signal
    that lands in those few milliseconds; the next one is then seen.)"""
    Image.fromarray(rgb(8, 8)).save(tmp_path / "a.png")
    command = [sys.executable, "-m", "srgan.upscale", str(tmp_path), str(tmp_path / "out")]
    # On a loaded machine the first signal can land while the interpreter itself starts
    # (its site module, before any of srgan loads): Python's own fatal error, not srgan's;
    # the next try waits longer before the first signal.
    for first in (0.1, 0.5, 1.5):
        process = subprocess.Popen(
            command, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=subprocess_env
        )
        time.sleep(first - 0.1)
        deadline = time.time() + 60
        while process.poll() is None and time.time() < deadline:
            time.sleep(0.1)
            process.send_signal(signal.SIGINT)
        err = process.communicate(timeout=60)[1]
        if "init_import_site" not in err:
            break
    else:
        pytest.skip("every signal stopped the Python interpreter's own start-up")
    assert "Traceback" not in err and "interrupted" in err, err
    assert process.returncode in (-signal.SIGINT, 130)


def test_a_second_ctrl_c_exits_at_once(
    tmp_path: Path, model_file: Path, subprocess_env: dict[str, str]
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    for i in range(40):
        Image.fromarray(rgb(64, 64, i)).save(source / f"img{i:02d}.png")
    command = [sys.executable, "-m", "srgan.upscale", str(source), str(tmp_path / "out")]
    command += ["--model", str(model_file), "--device", "cpu", "--workers", "1"]
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=subprocess_env
    )
    deadline = time.time() + 60
    while not list((tmp_path / "out").glob("*.png")) and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    err = process.communicate(timeout=60)[1]
    assert "Traceback" not in err, err
    assert process.returncode in (130, -signal.SIGINT)
    for path in (tmp_path / "out").glob("*.png"):
        assert read_image(path).pixels.shape == (256, 256, 3)  # complete or absent


def test_outputs_record_the_settings_they_were_made_with(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = corpus(tmp_path / "in")
    out = tmp_path / "out"
    assert run([files["good"], out, "--model", model_file], capsys)[0] == EXIT_OK
    settings = json.loads(read_tag(out / "good.png"))
    assert settings["model"] == "tiny.safetensors" and settings["outscale"] is None
    code, text, err = run([files["good"], out, "--model", model_file, "--outscale", "2"], capsys)
    assert code == EXIT_OK and "1 made with other settings" in text and "--overwrite" in err


@pytest.mark.parametrize("sixteen", [False, True], ids=["8-bit", "16-bit"])
def test_images_write_and_read_their_tag_in_every_format(tmp_path: Path, sixteen: bool) -> None:
    pixels = (
        rgb(8, 8).astype(np.uint16) * 257 + np.arange(3, dtype=np.uint16) if sixteen else rgb(8, 8)
    )
    for fmt in images.FORMATS:
        path = tmp_path / f"x.{fmt}"
        write_image(path, Picture(pixels), fmt=fmt, tag='{"a": "<&\\"b"}')
        expected = None if fmt == "bmp" else '{"a": "<&\\"b"}'
        assert read_tag(path) == expected, fmt
        if sixteen and fmt in images.SIXTEEN_BIT_FORMATS:  # the pixels are untouched
            assert np.array_equal(read_image(path).pixels, pixels), fmt


def test_bmp_outputs_inside_the_input_folder_are_refused(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """BMP cannot carry the tag, so a second run would take its outputs for foreign images."""
    source = tmp_path / "d"
    source.mkdir()
    Image.fromarray(rgb(8, 8, 1)).save(source / "photo.bmp")
    for args in (["--format", "bmp"], ["--format", "same"]):
        code, _, err = run([source, source / "up", "--model", model_file, *args], capsys)
        assert code == EXIT_USAGE and "BMP outputs" in err and "photo.bmp" in err, err
    assert not (source / "up").exists()
    code, _, err = run(
        [source, tmp_path / "elsewhere", "--model", model_file, "--format", "bmp"], capsys
    )
    assert code == EXIT_OK, err


def test_an_error_once_training_runs_is_shown_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only problems found before any batch runs are usage errors (one line, exit 2): a
    failure of the run itself keeps its traceback."""
    from srgan.fit import command
    from srgan.module import SRGAN

    Image.fromarray(rgb(96, 96)).save(tmp_path / "a.png")
    Image.fromarray(rgb(96, 96, 1)).save(tmp_path / "b.png")

    def broken(self: SRGAN, batch: dict, batch_idx: int) -> None:
        raise ValueError("a bug in the training step")

    monkeypatch.setattr(SRGAN, "training_step", broken)
    monkeypatch.chdir(tmp_path)
    args = ["fit", "--config", str(ROOT / "configs/debug.yaml"), "--data.train_dir=."]
    with pytest.raises(ValueError, match="a bug in the training step"):
        command([*args, "--data.val_holdout=1", "--trainer.max_steps=1"])


def forged_png(path: Path, width: int, height: int, tag: str | None = None) -> Path:
    """A small PNG whose header claims ``width`` x ``height`` (a decompression bomb's), with
    srgan's settings ``tag`` if given."""
    import struct
    import zlib

    write_image(path, Picture(rgb(4, 4)), tag=tag)
    data = bytearray(path.read_bytes())
    ihdr = bytearray(data[12:29])  # b"IHDR" + 13 bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    path.write_bytes(bytes(data))
    return path


def test_messy_folders_carry_on_and_name_each_file(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    Image.fromarray(rgb(8, 8)).save(source / "sub" / "a.png")
    (source / "alias").symlink_to(source / "sub", target_is_directory=True)  # sorts first
    (source / "a").mkdir()  # and from another level: a/link -> sub, met before sub
    (source / "a" / "link").symlink_to(source / "sub", target_is_directory=True)
    forged_png(source / "bomb.png", 20000, 10000)  # past Pillow's own bomb error
    forged_png(source / "large.png", 10000, 10000)  # past its warning
    (source / "._a.png").write_bytes(b"\x00\x05\x16\x07" + bytes(60))  # a Mac's metadata
    long = "x" * 251 + ".png"  # the longest name a file may have: its output is written
    Image.fromarray(rgb(8, 8)).save(source / long)
    out = tmp_path / "out"
    code, stdout, err = run([source, out, "--model", model_file, "--max-pixels", "0"], capsys)
    assert code == EXIT_FAILED and "done 2," in stdout and "failed 2" in stdout, err
    assert "Traceback" not in err and "DecompressionBomb" not in err
    assert f"failed: {source / 'bomb.png'}: " in err and f"failed: {source / 'large.png'}" in err
    assert f"left aside: {source / '._a.png'}: macOS metadata (AppleDouble)" in err
    for link in (source / "alias", source / "a" / "link"):
        assert f"left aside: {link}: another path to a folder already searched" in err
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == sorted(["a.png", long])
    assert (out / "sub" / "a.png").is_file()  # the real folder's name, not the link's
    assert "FAILED" not in stdout  # live failure lines go to stderr with the rest


def test_file_names_that_are_not_utf8_are_upscaled_and_named(
    tmp_path: Path, model_file: Path, subprocess_env: dict[str, str]
) -> None:
    # Printed to a strict UTF-8 stdout, a failure's name aborted the whole run.
    source = tmp_path / "in"
    source.mkdir()
    Image.fromarray(rgb(8, 8)).save(source / "bad\udcff.png")
    (source / "cut\udcfe.png").write_bytes((source / "bad\udcff.png").read_bytes()[:40])
    command = [sys.executable, "-m", "srgan.upscale", str(source), str(tmp_path / "out")]
    command += ["--model", str(model_file), "--backend", "torch"]
    env = {**subprocess_env, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(command, capture_output=True, cwd=ROOT, env=env, timeout=120)
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == EXIT_FAILED, err
    assert b"done 1," in done.stdout and b"failed 1" in done.stdout
    assert "cut\\udcfe.png: not an image" in err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["bad\udcff.png"]


def test_a_file_srgan_did_not_write_is_never_replaced_by_a_folder_run(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    out.mkdir()
    Image.fromarray(rgb(8, 8)).save(source / "a.jpg")
    Image.fromarray(rgb(8, 8, 7)).save(out / "a.png")  # someone's own picture
    mine = (out / "a.png").read_bytes()
    for extra in ([], ["--overwrite"]):
        code, stdout, err = run([source, out, "--model", model_file, *extra], capsys)
        assert code == EXIT_FAILED and "failed 1" in stdout and "skipped 0" in stdout
        assert "srgan did not write it" in err and "even with --overwrite" in err
        assert (out / "a.png").read_bytes() == mine
    # An output file named on the command line: --overwrite replaces it, as asked.
    named = out / "a.png"
    code, _, err = run([source / "a.jpg", named, "--model", model_file], capsys)
    assert code == EXIT_FAILED and "--overwrite replaces it" in err
    code, _, _ = run([source / "a.jpg", named, "--model", model_file, "--overwrite"], capsys)
    assert code == EXIT_OK and read_tag(named) is not None
    # srgan's own outputs are still skipped, and redone with --overwrite.
    code, stdout, _ = run([source, out, "--model", model_file], capsys)
    assert code == EXIT_OK and "skipped 1 (already there)" in stdout
    # Outputs past Pillow's bomb limit (a 4x of an 11 MP photo is 179 MP) are still srgan's.
    tag = read_tag(named)
    forged_png(named, 20000, 10000, tag=tag)
    assert read_tag(named) == tag
    code, stdout, _ = run([source, out, "--model", model_file], capsys)
    assert code == EXIT_OK and "skipped 1 (already there)" in stdout


# A second red-team pass: output paths that cannot be written, links, literal names.
def test_outputs_that_cannot_be_written_fail_by_name_before_any_work(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name too long once the suffix is added, a folder at an output's path and an
    output path another output needs as a folder: each file fails, the same one every run
    (re-runs included), and the others are done."""
    source, out = tmp_path / "in", tmp_path / "out"
    (source / "sub_x4.png").mkdir(parents=True)  # sub.jpg's output name, with the suffix
    long = "x" * 250
    for name in ("ok.png", f"{long}.png", "taken.png", "sub.jpg", "sub_x4.png/inner.png"):
        Image.fromarray(rgb(6, 8)).save(source / name)
    (out / "taken_x4.png").mkdir(parents=True)  # a folder where an output goes
    for attempt in range(2):  # the second run meets the first's outputs
        code, stdout, err = run([source, out, "--model", model_file, "--suffix", "_x4"], capsys)
        assert code == EXIT_FAILED, err
        assert "failed 3" in stdout and ("done 2" if attempt == 0 else "skipped 2") in stdout
        assert f"{long}.png: its output name xxx" in err and "bytes, above the 255" in err
        assert "taken.png: its output" in err and "taken_x4.png is a folder" in err
        assert "sub.jpg: its output" in err and "also the folder of other outputs" in err
        assert (out / "ok_x4.png").is_file() and (out / "sub_x4.png" / "inner_x4.png").is_file()
        assert (out / "taken_x4.png").is_dir()
    assert "Traceback" not in err
    # An output file named on the command line, too long itself.
    named = tmp_path / f"{'y' * 260}.png"
    code, _, err = run([source / "ok.png", named, "--model", model_file], capsys)
    assert code == EXIT_FAILED and "bytes, above the 255" in err and "shorten OUTPUT" in err, err


def test_a_link_to_a_folder_above_the_input_is_not_followed(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos, private = tmp_path / "photos", tmp_path / "private"
    photos.mkdir()
    private.mkdir()
    Image.fromarray(rgb(6, 8)).save(photos / "a.png")
    Image.fromarray(rgb(6, 8)).save(private / "secret.png")
    (photos / "parent").symlink_to("..")
    code, stdout, _ = run([photos, tmp_path / "out", "--model", model_file], capsys)
    assert code == EXIT_OK and "done 1" in stdout
    assert not list((tmp_path / "out").rglob("secret*"))
    assert f"a link to a folder that holds {photos}: not searched" in stdout + _


def test_a_quoted_tilde_is_a_name(
    tmp_path: Path,
    model_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shell expands the ~ a user means; one that reaches srgan is a folder's name."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "~").mkdir()
    Image.fromarray(rgb(6, 8)).save(tmp_path / "~" / "a.png")
    code, stdout, err = run(["~", "~/out", "--model", model_file], capsys)
    assert code == EXIT_OK and "done 1" in stdout, err
    assert (tmp_path / "~" / "out" / "a.png").is_file() and not (tmp_path / "home").exists()
    # Without such a folder, ~ is the home folder (shells that do not expand it: Windows').
    (tmp_path / "home").mkdir()
    Image.fromarray(rgb(6, 8)).save(tmp_path / "home" / "b.png")
    (tmp_path / "~" / "a.png").rename(tmp_path / "a.png")
    (tmp_path / "~" / "out" / "a.png").unlink()
    (tmp_path / "~" / "out").rmdir()
    (tmp_path / "~").rmdir()
    code, stdout, err = run(["~/b.png", "~/up/", "--model", model_file], capsys)
    assert code == EXIT_OK and (tmp_path / "home" / "up" / "b.png").is_file(), err


def test_an_output_too_large_for_its_format_fails_before_the_model_runs(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """WebP holds at most 16383 pixels a side: a 4100-pixel-wide image at x4 fails by its
    header, not after its upscaling; PNG takes it."""
    source = tmp_path / "in"
    source.mkdir()
    Image.fromarray(rgb(2, 4100)).save(source / "wide.png")
    Image.fromarray(rgb(6, 8)).save(source / "small.png")
    ran = []
    real = Upscaler.__call__

    def counted(
        self: Upscaler, batch: torch.Tensor, *args: object, **kwargs: object
    ) -> torch.Tensor:
        ran.append(tuple(batch.shape[-2:]))
        return real(self, batch, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Upscaler, "__call__", counted)
        args = [source, tmp_path / "webp", "--model", model_file, "--backend", "torch"]
        code, stdout, err = run([*args, "--format", "webp"], capsys)
    assert code == EXIT_FAILED and "done 1" in stdout and "failed 1" in stdout
    assert "its 16400 x 8 output is too large for WEBP (at most 16383 pixels a side)" in err
    assert ran == [(6, 8)]  # the wide image never reached the model
    code, _, err = run([source, tmp_path / "png", "--model", model_file], capsys)
    assert code == EXIT_OK and Image.open(tmp_path / "png" / "wide.png").size == (16400, 8)


def test_fractional_outscales_round_half_up_on_both_sides(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Image.fromarray(rgb(47, 61)).save(tmp_path / "odd.png")
    args = [tmp_path / "odd.png", tmp_path / "out.png", "--model", model_file, "--outscale", "2.5"]
    code, _, err = run(args, capsys)
    assert code == EXIT_OK, err
    assert Image.open(tmp_path / "out.png").size == (153, 118)  # 152.5 and 117.5, both up
    from srgan.pictures import scaled_side

    assert scaled_side(25, 2.3) == 58  # 57.5, though 25 * 2.3 is 57.4999... in floats


def test_options_no_input_uses_are_named_and_a_pipe_is_not_missing(
    tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Image.fromarray(rgb(6, 8)).save(tmp_path / "a.png")
    args = [tmp_path / "a.png", tmp_path / "out", "--model", model_file]
    code, _, err = run([*args, "--crf", "20", "--preset", "slow", "--quality", "80"], capsys)
    assert code == EXIT_OK
    assert "note: --crf and --preset apply to videos, and there are none here" in err
    assert "note: --quality applies to JPEG and WebP outputs, and there are none here" in err
    code, _, err = run([*args, "--format", "jpg", "--quality", "80", "--overwrite"], capsys)
    assert code == EXIT_OK and "note:" not in err, err
    code, _, err = run([*args, "--crf", "20", "--overwrite"], capsys)
    assert "note: --crf applies to videos, and there are none here" in err, err
    os.mkfifo(tmp_path / "pipe.png")
    code, _, err = run([tmp_path / "pipe.png", tmp_path / "o2", "--model", model_file], capsys)
    assert code == EXIT_USAGE and "is neither a regular file nor a folder" in err, err
