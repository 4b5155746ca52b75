"""``benchmarks.training.subsets``: nested shares of a training set, the whole set's
validation images apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.training import subsets
from srgan.data import SRDataModule
from srgan.images import read_rgb
from tests.conftest import smooth_image


@pytest.fixture
def folders(tmp_path: Path) -> list[Path]:
    """Two folders of 24 px images: A with 12 PNGs, B with 8 JPEGs (one in a subfolder)."""
    rng = np.random.default_rng(3)
    a, b = tmp_path / "A", tmp_path / "B"
    (b / "sub").mkdir(parents=True)
    a.mkdir()
    for i in range(12):
        Image.fromarray(smooth_image(rng, 24, 24)).save(a / f"a{i:02}.png")
    for i in range(8):
        Image.fromarray(smooth_image(rng, 24, 24)).save((b / "sub" if i == 5 else b) / f"b{i}.jpg")
    return [a, b]


def names(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.*") if p.is_file())


def run_with_four_held_out(
    folders: list[Path], out: Path, options: list[str]
) -> tuple[list[Path], list[Path]]:
    """Run the command into ``out`` holding out 4 images; srgan.fit's ``(train, held)``."""
    subsets.main(["--data", *map(str, folders), *options, "--holdout", "4", "--out", str(out)])
    train, held = SRDataModule([str(f) for f in folders], val_holdout=4)._split()
    assert len(names(out / "val")) == 4
    return train, held


def test_fractions_are_nested_share_each_folder_and_leave_out_the_validation_images(
    folders: list[Path], tmp_path: Path
) -> None:
    out, args = tmp_path / "subsets", ["--fractions", "0.5", "0.25"]
    _, held = run_with_four_held_out(folders, out, args)
    for name in names(out / "val"):
        source = next(p for f in folders for p in held if p == f / name)
        assert (out / "val" / name).read_bytes() == source.read_bytes()
    half, quarter = names(out / "train-50"), names(out / "train-25")
    # A: 12 images, B: 8, minus the 4 held out (2 from each, spread through the list).
    counts = {f.name: sum(1 for p in held if p.parent.is_relative_to(f)) for f in folders}
    assert counts == {"A": 2, "B": 2}
    assert [sum(n.startswith(f"{f}/") for n in half) for f in "AB"] == [5, 3]
    assert [sum(n.startswith(f"{f}/") for n in quarter) for f in "AB"] == [3, 2]
    assert set(quarter) <= set(half)
    assert not {n.rsplit("/", 1)[-1] for n in half} & set(names(out / "val"))
    # Reproducible; another seed draws other images.
    again = tmp_path / "again"
    run_with_four_held_out(folders, again, args)
    assert names(again / "train-50") == half
    run_with_four_held_out(folders, again, [*args, "--seed", "1"])
    assert names(again / "train-25") != quarter


def test_training_on_a_share_validates_on_the_same_images_as_the_whole_set(
    folders: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "subsets"
    subsets.main(["--data", *map(str, folders), "--fractions", "0.5", "--out", str(out)])
    whole = SRDataModule([str(f) for f in folders], scale=2, crop_size=8, val_degradation="medium")
    share = SRDataModule(
        str(out / "train-50"), val_dir=str(out / "val"), scale=2, crop_size=8,
        val_degradation="medium",
    )  # fmt: skip
    for module in (whole, share):
        module.setup("validate")
    assert len(whole.val_set) == len(share.val_set) == 10
    for i in range(len(whole.val_set)):
        a, b = whole.val_set[i], share.val_set[i]
        assert a["name"] == b["name"]
        assert torch.equal(a["hr"], b["hr"])
        assert torch.equal(a["lr"], b["lr"])  # the same seeded LR


def test_held_out_images_of_one_name_in_two_folders_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(4)
    for folder, suffix in (("X", "png"), ("Y", "jpg")):
        (tmp_path / folder).mkdir()
        for i in range(4):
            name = f"p{i}.{suffix}" if folder == "X" else f"P{i}.{suffix}"
            Image.fromarray(smooth_image(rng, 24, 24)).save(tmp_path / folder / name)
    out = tmp_path / "subsets"
    data = [str(tmp_path / "X"), str(tmp_path / "Y")]
    # 7 of the 8 held out: X/p0.png and Y/P0.jpg (at least) get names alike but for case.
    with pytest.raises(SystemExit):
        subsets.main(["--data", *data, "--fractions", "0.5", "--holdout", "7", "--out", str(out)])
    assert "same name" in capsys.readouterr().err
    assert not out.exists()


def test_multiscale_holds_every_training_image_at_each_factor(
    folders: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "subsets"
    train, held = run_with_four_held_out(folders, out, ["--scales", "1", "0.5"])
    assert not (out / "train-50").exists()
    copies = names(out / "multiscale")
    assert len(copies) == 2 * len(train) == 32
    for source in train:
        folder = next(f for f in folders if source.is_relative_to(f))
        stem = (out / "multiscale" / folder.name / source.relative_to(folder)).with_suffix("")
        whole = read_rgb(stem.with_name(f"{stem.name}_s100.png"))
        half = read_rgb(stem.with_name(f"{stem.name}_s50.png"))
        pixels = read_rgb(source)
        assert np.array_equal(whole, pixels)  # the pixels training reads, losslessly
        assert half.shape == (12, 12, 3)
        lanczos = Image.fromarray(pixels).resize((12, 12), Image.Resampling.LANCZOS)
        assert np.array_equal(half, np.asarray(lanczos))
    assert not {Path(n).name.split("_s")[0] for n in copies} & {p.stem for p in held}


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "give --fractions, --scales or both"),
        (["--scales", "0"], "scales must lie in (0, 1]"),
        (["--scales", "1.5"], "scales must lie in (0, 1]"),
        (["--scales", "0.5", "0.50"], "repeats a factor"),
        (["--fractions", "1.5"], "between 0 and 1"),
        (["--fractions", "0.5", "--out", "{tmp}/taken"], "not written by this command"),
        (["--fractions", "0.5", "--out", "{tmp}/A/subsets"], "overlap the input folder"),
    ],
)
def test_refusals(
    folders: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], extra, message
) -> None:
    (tmp_path / "taken").mkdir()
    args = [a.format(tmp=tmp_path) for a in extra]
    with pytest.raises(SystemExit):
        subsets.main(["--data", *map(str, folders), *args])
    assert message in capsys.readouterr().err


def test_multiscale_refuses_two_images_of_one_stem_and_skips_unreadable_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(5)
    data = tmp_path / "C"
    data.mkdir()
    for i in range(4):
        Image.fromarray(smooth_image(rng, 24, 24)).save(data / f"c{i}.png")
    (data / "c9.png").write_bytes(b"not an image")
    args = ["--data", str(data), "--scales", "0.5", "--holdout", "0"]
    subsets.main([*args, "--out", str(tmp_path / "one")])
    assert "skipping" in capsys.readouterr().out
    assert len(names(tmp_path / "one" / "multiscale")) == 4
    Image.fromarray(smooth_image(rng, 24, 24)).save(data / "c3.jpg")
    with pytest.raises(SystemExit):
        subsets.main([*args, "--out", str(tmp_path / "two")])
    assert "share the name c3_s50.png" in capsys.readouterr().err
