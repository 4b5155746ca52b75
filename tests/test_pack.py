"""``benchmarks.release.pack``: training folders made small without changing a pixel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.release import pack
from srgan.images import read_rgb
from tests.conftest import smooth_image


@pytest.fixture
def mixed_dir(tmp_path: Path) -> Path:
    """PNG (RGB, gray, RGBA), BMP, JPEG, in a subfolder too."""
    rng = np.random.default_rng(1)
    folder = tmp_path / "Mixed"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(smooth_image(rng, 40, 56)).save(folder / "a.png")
    Image.fromarray(smooth_image(rng, 33, 47)).save(folder / "sub" / "b.bmp")
    Image.fromarray(smooth_image(rng, 48, 48)[..., 0]).save(folder / "c.png")
    rgba = np.dstack([smooth_image(rng, 30, 30), np.full((30, 30), 128, np.uint8)])
    Image.fromarray(rgba).save(folder / "d.png")
    Image.fromarray(smooth_image(rng, 64, 64)).save(folder / "e.jpg", quality=80)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_lossless_sources_become_webp_with_the_same_pixels(mixed_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "packed"
    pack.main(["--data", str(mixed_dir), "--out", str(out)])
    packed = out / "Mixed"
    names = sorted(str(p.relative_to(packed)) for p in packed.rglob("*") if p.is_file())
    assert names == [pack.MARKER, "a.webp", "c.webp", "d.webp", "e.jpg", "sub/b.webp"]
    for source in [mixed_dir / "a.png", mixed_dir / "sub/b.bmp", mixed_dir / "c.png"]:
        target = (packed / source.relative_to(mixed_dir)).with_suffix(".webp")
        assert np.array_equal(read_rgb(target), read_rgb(source))
    assert np.array_equal(read_rgb(packed / "d.webp"), read_rgb(mixed_dir / "d.png"))
    # A JPEG is copied as it is: a new encoding would add a loss.
    assert (packed / "e.jpg").read_bytes() == (mixed_dir / "e.jpg").read_bytes()


def test_a_lossy_encoding_stops_the_pack(
    mixed_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Image.Image.save

    def lossy(self: Image.Image, fp: object, format: str | None = None, **params: object) -> None:
        if format == "WEBP":
            params = {**params, "lossless": False, "quality": 50}
        original(self, fp, format, **params)

    monkeypatch.setattr(Image.Image, "save", lossy)
    with pytest.raises(RuntimeError, match="does not decode to"):
        pack.pack_folder(mixed_dir, tmp_path / "packed")


def test_refusals(mixed_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "elsewhere" / "Mixed"
    other.mkdir(parents=True)
    with pytest.raises(SystemExit):
        pack.main(["--data", str(mixed_dir), str(other), "--out", str(tmp_path / "o")])
    assert "same name" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        pack.main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert "not found" in capsys.readouterr().err


def test_an_out_folder_over_an_input_is_refused_and_the_input_kept(
    mixed_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(p.name for p in mixed_dir.rglob("*"))
    with pytest.raises(SystemExit):
        pack.main(["--data", str(mixed_dir), "--out", str(mixed_dir.parent)])
    assert "overlap the input folder" in capsys.readouterr().err
    assert sorted(p.name for p in mixed_dir.rglob("*")) == before


def test_only_a_folder_pack_wrote_is_replaced(
    mixed_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "packed"
    pack.main(["--data", str(mixed_dir), "--out", str(out)])
    (mixed_dir / "a.png").unlink()
    pack.main(["--data", str(mixed_dir), "--out", str(out)])  # a second pack replaces the first
    assert not (out / "Mixed" / "a.webp").exists() and (out / "Mixed" / "c.webp").is_file()
    assert [p.name for p in out.iterdir()] == ["Mixed"]  # no partial folder left
    foreign = tmp_path / "other" / "Mixed"
    foreign.mkdir(parents=True)
    (foreign / "mine.txt").write_text("keep")
    with pytest.raises(SystemExit):
        pack.main(["--data", str(mixed_dir), "--out", str(foreign.parent)])
    assert "not written by this command" in capsys.readouterr().err
    assert (foreign / "mine.txt").read_text() == "keep"


def test_dots_in_names_are_kept(mixed_dir: Path, tmp_path: Path) -> None:
    for name in ("0001.x4.png", "img.v1.png", "img.v2.bmp"):
        Image.open(mixed_dir / "a.png").save(mixed_dir / name)
    pack.main(["--data", str(mixed_dir), "--out", str(tmp_path / "packed")])
    names = {p.name for p in (tmp_path / "packed" / "Mixed").iterdir()}
    assert {"0001.x4.webp", "img.v1.webp", "img.v2.webp"} <= names


def test_two_images_with_one_packed_name_stop_the_pack(
    mixed_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Image.open(mixed_dir / "a.png").save(mixed_dir / "a.bmp")
    with pytest.raises(SystemExit):
        pack.main(["--data", str(mixed_dir), "--out", str(tmp_path / "packed")])
    assert "would both be packed as a.webp" in capsys.readouterr().err
    assert not (tmp_path / "packed" / "Mixed").exists()
