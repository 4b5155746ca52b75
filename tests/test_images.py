"""Image I/O as found in the wild: bit depths, modes, EXIF, ICC, bad files, atomic writes."""

from __future__ import annotations

import contextlib
import io
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from srgan import images
from srgan.images import (
    ImageError,
    Picture,
    atomic_path,
    atomic_write,
    encode_image,
    list_images,
    read_image,
    read_rgb,
    write_image,
)


def rgb(h: int = 12, w: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# --- bad input: every kind is an ImageError that says why --------------------------


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def declare_size(png: bytes, width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` (a decompression bomb's trick)."""
    ihdr = png[16:29]
    ihdr = struct.pack(">II", width, height) + ihdr[8:]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return png[:16] + ihdr + crc + png[33:]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.png", b"", "empty file"),
        ("text.jpg", b"hello, I am not an image\n" * 4, "not an image"),
        ("random.png", bytes(range(256)) * 4, "not an image"),
        ("truncated.png", None, "truncated|corrupt"),
        ("bomb.png", None, "too large.*--max-pixels"),
        ("big.png", None, "too large: 9000 x 9000 = 81 MP is above the 64 MP limit"),
    ],
)
def test_bad_files_raise_image_error_with_reason(
    tmp_path: Path, name: str, content: bytes | None, reason: str
) -> None:
    if name == "truncated.png":
        content = png_bytes(rgb(64, 64))[:-300]
    if name == "bomb.png":
        content = declare_size(png_bytes(rgb(8, 8)), 100_000, 100_000)
    if name == "big.png":
        content = declare_size(png_bytes(rgb(8, 8)), 9000, 9000)
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError, match=reason):
        read_image(path)
    assert path.read_bytes() == content  # inputs are never modified


def test_max_pixels_limit_can_be_raised(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.fromarray(rgb(20, 20)).save(path)
    with pytest.raises(ImageError, match="--max-pixels"):
        read_image(path, max_pixels=100)
    assert read_image(path, max_pixels=400).pixels.shape == (20, 20, 3)
    assert read_image(path, max_pixels=None).pixels.shape == (20, 20, 3)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot read"):
        read_image(tmp_path / "nope.png")


# --- modes and bit depths ---------------------------------------------------------


def round_trip(picture: Picture, tmp_path: Path, fmt: str = "png") -> Picture:
    path = tmp_path / f"out.{images.FORMATS[fmt][1].lstrip('.')}"
    write_image(path, picture, fmt=fmt)
    return read_image(path)


def test_16bit_rgb_is_kept(tmp_path: Path) -> None:
    array = np.random.default_rng(1).integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "in.png"), cv2.cvtColor(array, cv2.COLOR_RGB2BGR))
    picture = read_image(tmp_path / "in.png")
    assert picture.pixels.dtype == np.uint16 and picture.bits == 16
    np.testing.assert_array_equal(picture.pixels, array)
    np.testing.assert_array_equal(round_trip(picture, tmp_path).pixels, array)
    eight = round_trip(picture, tmp_path, "webp")  # 8-bit only format
    assert eight.pixels.dtype == np.uint8


def test_16bit_rgba_keeps_alpha(tmp_path: Path) -> None:
    array = np.random.default_rng(2).integers(0, 65536, (9, 11, 4), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "in.png"), cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA))
    picture = read_image(tmp_path / "in.png")
    np.testing.assert_array_equal(picture.pixels, array[..., :3])
    np.testing.assert_array_equal(picture.alpha, array[..., 3])
    back = round_trip(picture, tmp_path)
    np.testing.assert_array_equal(back.alpha, array[..., 3])
    # In TIFF, the fourth sample is said to be alpha (unassociated), as readers need.
    back = round_trip(picture, tmp_path, fmt="tiff")
    np.testing.assert_array_equal(back.alpha, array[..., 3])
    with Image.open(tmp_path / "out.tif") as written:
        assert written.tag_v2[images.TIFF_EXTRA_SAMPLES] in (2, (2,))


def test_16bit_gray_is_kept(tmp_path: Path) -> None:
    array = np.random.default_rng(3).integers(0, 65536, (9, 11), dtype=np.uint16)
    Image.fromarray(array).save(tmp_path / "in.png")
    picture = read_image(tmp_path / "in.png")
    assert picture.grayscale and picture.pixels.dtype == np.uint16
    np.testing.assert_array_equal(picture.pixels[..., 0], array)
    np.testing.assert_array_equal(round_trip(picture, tmp_path).pixels[..., 0], array)


def test_16bit_gray_with_alpha_stays_gray(tmp_path: Path) -> None:
    """PNG colour type 4 at 16 bits (Pillow opens it as 8-bit RGBA; OpenCV as four
    channels): decoded as one gray channel and its alpha, and written back so."""
    rng = np.random.default_rng(4)
    gray = rng.integers(0, 65536, (9, 11), dtype=np.uint16)
    alpha = rng.integers(0, 65536, (9, 11), dtype=np.uint16)
    rows = np.dstack([gray, alpha]).astype(">u2").reshape(9, -1)
    raw = b"".join(b"\0" + row.tobytes() for row in rows)
    ihdr = struct.pack(">IIBBBBB", 11, 9, 16, 4, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw))
    (tmp_path / "in.png").write_bytes(data + png_chunk(b"IEND", b""))
    picture = read_image(tmp_path / "in.png")
    assert picture.grayscale and picture.pixels.dtype == np.uint16
    np.testing.assert_array_equal(picture.pixels[..., 0], gray)
    np.testing.assert_array_equal(picture.alpha, alpha)
    # Written as 16-bit RGBA (neither Pillow nor OpenCV writes 16-bit gray with alpha),
    # every channel the same gray.
    back = round_trip(picture, tmp_path)
    assert np.array_equal(back.pixels, np.repeat(gray[..., None], back.pixels.shape[2], 2))
    np.testing.assert_array_equal(back.alpha, alpha)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "1"])
def test_plain_modes_round_trip(tmp_path: Path, mode: str) -> None:
    source = Image.fromarray(rgb(10, 14)).convert(mode)
    source.save(tmp_path / "in.png")
    picture = read_image(tmp_path / "in.png")
    assert picture.pixels.shape[2] == (1 if mode in ("L", "LA", "1") else 3)
    assert (picture.alpha is not None) == (mode in ("LA", "RGBA"))
    back = round_trip(picture, tmp_path)
    expected = source.convert("L" if mode == "1" else mode)
    assert np.array_equal(
        np.dstack([back.pixels] + ([back.alpha] if back.alpha is not None else [])).squeeze(),
        np.asarray(expected),
    )


def test_alpha_survives_with_its_values(tmp_path: Path) -> None:
    array = np.dstack([rgb(10, 14), np.tile(np.arange(14, dtype=np.uint8) * 18, (10, 1))])
    Image.fromarray(array, "RGBA").save(tmp_path / "in.png")
    picture = read_image(tmp_path / "in.png")
    np.testing.assert_array_equal(picture.alpha, array[..., 3])
    webp = round_trip(picture, tmp_path, "webp")
    assert webp.alpha is not None


def test_palette_images(tmp_path: Path) -> None:
    palette = Image.fromarray(rgb(10, 14)).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    palette.save(tmp_path / "plain.png")
    plain = read_image(tmp_path / "plain.png")
    assert plain.pixels.shape == (10, 14, 3) and plain.alpha is None
    np.testing.assert_array_equal(plain.pixels, np.asarray(palette.convert("RGB")))
    palette.save(tmp_path / "transparent.png", transparency=0)
    transparent = read_image(tmp_path / "transparent.png")
    assert transparent.alpha is not None
    assert set(np.unique(transparent.alpha)) <= {0, 255} and (transparent.alpha == 0).any()


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    Image.fromarray(rgb(16, 16)).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    picture = read_image(tmp_path / "cmyk.jpg")
    assert picture.pixels.shape == (16, 16, 3) and picture.pixels.dtype == np.uint8
    assert picture.icc_profile is None  # a CMYK profile cannot describe the RGB result


def test_cmyk_with_an_unusable_profile_still_decodes(tmp_path: Path) -> None:
    # An sRGB profile cannot describe CMYK data: colour management fails, the naive
    # conversion is used instead of giving up on the image.
    cmyk = Image.fromarray(rgb(8, 8)).convert("CMYK")
    cmyk.save(tmp_path / "cmyk.tif", icc_profile=srgb_profile())
    picture = read_image(tmp_path / "cmyk.tif")
    assert picture.pixels.shape == (8, 8, 3) and picture.icc_profile is None
    np.testing.assert_array_equal(picture.pixels, np.asarray(cmyk.convert("RGB")))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    array = rgb(6, 10)
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(tmp_path / "o.jpg", exif=exif, quality=100)
    picture = read_image(tmp_path / "o.jpg")
    expected = (10, 6) if orientation >= 5 else (6, 10)
    assert picture.pixels.shape[:2] == expected


def test_exif_orientation_on_16bit_colour(tmp_path: Path) -> None:
    array = np.random.default_rng(4).integers(0, 65536, (6, 10, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "in.png"), cv2.cvtColor(array, cv2.COLOR_RGB2BGR))
    with Image.open(tmp_path / "in.png") as image:
        assert image.size == (10, 6)
    # cv2 cannot write EXIF: check the array rotation helper against Pillow instead.
    for orientation in range(1, 9):
        source = Image.fromarray(array[..., 0])
        exif = source.getexif()
        exif[0x0112] = orientation
        buffer = io.BytesIO()
        source.save(buffer, format="PNG", exif=exif)
        expected = read_image_bytes(buffer.getvalue(), tmp_path)[..., 0]
        np.testing.assert_array_equal(images._orient(array[..., 0], orientation), expected)


def read_image_bytes(data: bytes, tmp_path: Path) -> np.ndarray:
    path = tmp_path / "tmp.png"
    path.write_bytes(data)
    return read_image(path).pixels


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp", "tiff"])
def test_icc_profile_is_kept(tmp_path: Path, fmt: str) -> None:
    profile = srgb_profile()
    Image.fromarray(rgb()).save(tmp_path / "in.png", icc_profile=profile)
    picture = read_image(tmp_path / "in.png")
    assert picture.icc_profile == profile
    assert round_trip(picture, tmp_path, fmt).icc_profile == profile


def test_icc_profile_is_kept_in_16bit_colour_png(tmp_path: Path) -> None:
    profile = srgb_profile()
    array = np.random.default_rng(6).integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    write_image(tmp_path / "deep.png", Picture(array, icc_profile=profile))
    picture = read_image(tmp_path / "deep.png")
    assert picture.icc_profile == profile and picture.pixels.dtype == np.uint16
    np.testing.assert_array_equal(picture.pixels, array)


def test_jpeg_output_flattens_alpha_over_white() -> None:
    pixels = np.zeros((4, 4, 3), np.uint8)
    alpha = np.zeros((4, 4), np.uint8)
    data = encode_image(Picture(pixels, alpha), "jpg", quality=100)
    decoded = np.asarray(Image.open(io.BytesIO(data)))
    assert decoded.shape == (4, 4, 3) and decoded.min() > 250


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ImageError, match="unknown output format"):
        encode_image(Picture(rgb()), "gif")


# --- atomic writes ---------------------------------------------------------------


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.png"
    write_image(target, Picture(rgb()))
    assert [p.name for p in target.parent.iterdir()] == ["out.png"]
    np.testing.assert_array_equal(read_image(target).pixels, rgb())


@pytest.mark.parametrize("fail_at", ["fsync", "replace"])
def test_failure_mid_write_leaves_no_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    def boom(*args: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(images.os, fail_at, boom)
    target = tmp_path / "out.png"
    with pytest.raises(OSError, match="disk on fire"):
        write_image(target, Picture(rgb()))
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old complete file")

    def boom(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(images.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old complete file"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_sibling_write_that_fails_and_tidies_up_does_not_fail_this_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two outputs in one new folder, written at once: both found it missing, this write
    # has made it, then the other fails and removes it, empty, before this temporary exists.
    folder = tmp_path / "new"
    real_remove_stale = images.remove_stale_temporaries
    tidied = []

    def sibling_fails_meanwhile(path: Path) -> None:
        if not tidied:
            tidied.append(path)
            images.remove_empty_folders(folder, tmp_path)  # the other write's tidying
            assert not folder.exists()
        real_remove_stale(path)

    monkeypatch.setattr(images, "remove_stale_temporaries", sibling_fails_meanwhile)
    atomic_write(folder / "a.png", b"complete")
    assert tidied and [p.name for p in folder.iterdir()] == ["a.png"]


def test_a_failed_write_leaves_a_folder_another_write_is_filling(tmp_path: Path) -> None:
    # The failed write's tidying finds its folder no longer empty: it stops there quietly.
    with pytest.raises(OSError, match="full"), atomic_path(tmp_path / "new" / "c.png"):
        atomic_write(tmp_path / "new" / "deeper" / "d.png", b"complete")
        raise OSError("disk full")
    assert (tmp_path / "new" / "deeper" / "d.png").read_bytes() == b"complete"
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["deeper"]
    with pytest.raises(OSError, match="full"), atomic_path(tmp_path / "x" / "y" / "e.png"):
        raise OSError("disk full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new"]


def test_many_writes_at_once_into_new_folders_fail_only_where_they_fail(tmp_path: Path) -> None:
    # Every third write fails; the others share their new folders with them.
    def write(root: Path, i: int) -> None:
        target = root / f"d{i % 4}" / (f"e{i % 3}" if i % 2 else "") / f"{i}.bin"
        with contextlib.suppress(KeyError), atomic_path(target) as temporary:
            temporary.write_bytes(b"complete")
            if i % 3 == 0:
                raise KeyError("simulated")

    for round_ in range(25):
        root = tmp_path / str(round_)
        with ThreadPoolExecutor(8) as pool:
            for future in [pool.submit(write, root, i) for i in range(48)]:
                future.result()
        written = sorted(int(p.stem) for p in root.rglob("*") if p.is_file())
        assert written == [i for i in range(48) if i % 3], round_


# --- the training-data helpers keep working ----------------------------------------


def test_list_images_and_read_rgb(image_dir: Path, tmp_path: Path) -> None:
    files = list_images(image_dir)
    assert len(files) == 6 and files == sorted(files)
    assert read_rgb(files[0]).shape[2] == 3 and read_rgb(files[0]).dtype == np.uint8
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        list_images(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="folder not found"):
        list_images(tmp_path / "missing")


def test_written_files_get_ordinary_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    write_image(tmp_path / "out.png", Picture(rgb()))
    assert (tmp_path / "out.png").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF", "BMP"])
def test_every_cut_of_a_file_is_an_image_error_or_a_full_read(tmp_path: Path, fmt: str) -> None:
    buffer = io.BytesIO()
    Image.fromarray(rgb(24, 24)).save(buffer, format=fmt)
    data = buffer.getvalue()
    path = tmp_path / f"cut.{fmt.lower()}"
    for cut in sorted({1, 8, 16, 40, len(data) // 3, len(data) // 2, len(data) - 10}):
        path.write_bytes(data[:cut])
        try:
            picture = read_image(path)
        except ImageError:
            continue
        assert picture.pixels.shape == (24, 24, 3)  # only if the decoder had all it needs


# --- EXIF orientation by value: each of 2-8 puts every pixel where the EXIF spec says ---
# Where the shown image's pixel (i, j) is stored, for a stored image of h rows and w
# columns, from the spec (TIFF 6.0 / EXIF 2.3: where the stored 0th row and 0th column
# are meant to be shown).
SOURCE_PIXEL = {
    1: lambda i, j, h, w: (i, j),
    2: lambda i, j, h, w: (i, w - 1 - j),  # mirrored left-right
    3: lambda i, j, h, w: (h - 1 - i, w - 1 - j),  # turned 180
    4: lambda i, j, h, w: (h - 1 - i, j),  # mirrored top-bottom
    5: lambda i, j, h, w: (j, i),  # transposed
    6: lambda i, j, h, w: (h - 1 - j, i),  # turned 90 clockwise to view
    7: lambda i, j, h, w: (h - 1 - j, w - 1 - i),  # transversed
    8: lambda i, j, h, w: (j, w - 1 - i),  # turned 90 counter-clockwise to view
}


def displayed(stored: np.ndarray, orientation: int) -> np.ndarray:
    """The upright image for an EXIF orientation, pixel by pixel."""
    h, w = stored.shape[:2]
    size = (h, w) if orientation <= 4 else (w, h)
    out = np.empty((*size, *stored.shape[2:]), stored.dtype)
    for i in range(size[0]):
        for j in range(size[1]):
            out[i, j] = stored[SOURCE_PIXEL[orientation](i, j, h, w)]
    return out


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


@pytest.mark.parametrize("orientation", range(2, 9))
def test_exif_orientation_gives_the_right_pixels(tmp_path: Path, orientation: int) -> None:
    stored = rgb(5, 7, seed=orientation)
    expected = displayed(stored, orientation)
    Image.fromarray(stored).save(tmp_path / "o.png", exif=exif_bytes(orientation))
    np.testing.assert_array_equal(read_image(tmp_path / "o.png").pixels, expected)
    np.testing.assert_array_equal(read_rgb(tmp_path / "o.png"), expected)
    # Gray, and the alpha channel, turn with the colour.
    rgba = np.dstack([stored, stored[..., 0]])
    Image.fromarray(rgba).save(tmp_path / "a.png", exif=exif_bytes(orientation))
    picture = read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(picture.pixels, expected)
    np.testing.assert_array_equal(picture.alpha, expected[..., 0])


def png_with_chunk(png: bytes, kind: bytes, body: bytes) -> bytes:
    """Insert a chunk right after a PNG's IHDR."""
    chunk = struct.pack(">I", len(body)) + kind + body
    chunk += struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    end_of_ihdr = 8 + 4 + 4 + 13 + 4
    return png[:end_of_ihdr] + chunk + png[end_of_ihdr:]


@pytest.mark.parametrize("orientation", range(2, 9))
def test_exif_orientation_gives_the_right_pixels_in_16bit_colour(
    tmp_path: Path, orientation: int
) -> None:
    # OpenCV writes the 16-bit PNG; the EXIF goes in an eXIf chunk (its TIFF part).
    stored = np.random.default_rng(orientation).integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    ok, data = cv2.imencode(".png", cv2.cvtColor(stored, cv2.COLOR_RGB2BGR))
    assert ok
    tiff = exif_bytes(orientation).removeprefix(b"Exif\x00\x00")
    (tmp_path / "deep.png").write_bytes(png_with_chunk(data.tobytes(), b"eXIf", tiff))
    picture = read_image(tmp_path / "deep.png")
    assert picture.pixels.dtype == np.uint16
    np.testing.assert_array_equal(picture.pixels, displayed(stored, orientation))


def test_16bit_pixels_become_the_nearest_8bit_level(tmp_path: Path) -> None:
    pixels = np.arange(0, 65536, 7, dtype=np.uint16)[:9360].reshape(40, 78, 3)
    write_image(tmp_path / "deep.bmp", Picture(pixels))  # BMP: 8 bits, lossless
    decoded = read_image(tmp_path / "deep.bmp").pixels
    np.testing.assert_array_equal(decoded, np.rint(pixels / 257).astype(np.uint8))


# --- photo metadata: EXIF (upright), DPI -------------------------------------------------


def camera_jpeg(path: Path, orientation: int = 6, dpi: tuple[int, int] = (300, 200)) -> None:
    """A JPEG as a camera writes it: maker, date and pixel size in EXIF, GPS, a DPI."""
    image = Image.fromarray(rgb(6, 10))
    exif = image.getexif()
    exif[images.EXIF_ORIENTATION] = orientation
    exif[0x010F] = "Camera Maker"
    ifd = exif.get_ifd(images.EXIF_IFD)
    ifd[0x9003] = "2024:05:06 07:08:09"
    ifd[images.EXIF_PIXEL_X], ifd[images.EXIF_PIXEL_Y] = 10, 6
    exif.get_ifd(0x8825)[1] = "N"
    image.save(path, exif=exif, dpi=dpi, quality=95)


def torch_batch(pixels: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))


@pytest.mark.parametrize("fmt", ["png", "jpg", "webp", "tiff"])
def test_exif_is_kept_upright_and_resized(tmp_path: Path, fmt: str) -> None:
    from srgan.pictures import finish_picture

    camera_jpeg(tmp_path / "in.jpg")
    picture = read_image(tmp_path / "in.jpg")
    assert picture.pixels.shape[:2] == (10, 6)  # rotated upright
    assert picture.dpi == (200.0, 300.0)  # a quarter turn swaps the axes
    sr = torch_batch(np.repeat(np.repeat(picture.pixels, 4, 0), 4, 1))
    big = finish_picture(picture, sr, (40, 24), None)
    write_image(tmp_path / f"out.{fmt}", big, fmt=fmt)
    with Image.open(tmp_path / f"out.{fmt}") as result:
        exif = result.getexif()
        assert images.EXIF_ORIENTATION not in exif  # the pixels are upright now
        assert exif[0x010F] == "Camera Maker" and exif.get_ifd(0x8825)[1] == "N"
        ifd = exif.get_ifd(images.EXIF_IFD)
        assert ifd[0x9003] == "2024:05:06 07:08:09"
        assert (ifd[images.EXIF_PIXEL_X], ifd[images.EXIF_PIXEL_Y]) == (24, 40)
        if fmt != "webp":  # WebP has no resolution field
            assert np.allclose([float(v) for v in result.info["dpi"]], (800, 1200), atol=0.01)


def test_a_tagged_tiff_keeps_the_exif_and_a_tiffs_layout_is_not_taken_for_exif(
    tmp_path: Path,
) -> None:
    from srgan.pictures import finish_picture

    camera_jpeg(tmp_path / "in.jpg")
    picture = read_image(tmp_path / "in.jpg")
    sr = torch_batch(np.repeat(np.repeat(picture.pixels, 4, 0), 4, 1))
    big = finish_picture(picture, sr, (40, 24), None)
    # With srgan's tag (as srgan.upscale writes it): Pillow writes a TIFF's tags or its
    # EXIF, and the tag alone had pushed the camera's EXIF out.
    write_image(tmp_path / "out.tiff", big, fmt="tiff", tag='{"model": "x"}')
    assert images.read_tag(tmp_path / "out.tiff") == '{"model": "x"}'
    with Image.open(tmp_path / "out.tiff") as result:
        exif = result.getexif()
        assert exif[0x010F] == "Camera Maker" and exif.get_ifd(0x8825)[1] == "N"
        assert exif.get_ifd(images.EXIF_IFD)[0x9003] == "2024:05:06 07:08:09"
        assert np.allclose([float(v) for v in result.info["dpi"]], (800, 1200), atol=0.01)
    # A TIFF's own layout tags (size, strips, compression) are not EXIF to carry over.
    Image.fromarray(rgb(6, 8)).save(
        tmp_path / "scan.tiff",
        tiffinfo={0x010F: "Scanner", 33432: "(c) archive"},
        compression="tiff_lzw",
    )
    scan = read_image(tmp_path / "scan.tiff")
    write_image(tmp_path / "scan.png", scan)
    with Image.open(tmp_path / "scan.png") as result:
        written = result.getexif()
        assert written[0x010F] == "Scanner" and written[33432] == "(c) archive"
        assert not set(written) & set(images.TIFF_LAYOUT_TAGS)


def test_16bit_colour_png_keeps_exif_and_dpi(tmp_path: Path) -> None:
    array = np.random.default_rng(7).integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    source = Image.new("RGB", (1, 1))
    exif = source.getexif()
    exif[0x010F] = "Scanner"
    picture = Picture(array, exif=exif.tobytes(), dpi=(600.0, 600.0))
    write_image(tmp_path / "deep.png", picture)
    back = read_image(tmp_path / "deep.png")
    assert back.pixels.dtype == np.uint16 and np.array_equal(back.pixels, array)
    assert np.allclose(back.dpi, (600, 600), atol=0.01)
    with Image.open(tmp_path / "deep.png") as result:
        assert result.getexif()[0x010F] == "Scanner"


def test_a_dpi_is_kept_only_where_the_file_states_one(tmp_path: Path) -> None:
    """Not Pillow's stand-ins: (1, 1) for a TIFF without resolution tags, 72 for a JPEG
    whose EXIF has no resolution."""
    image = Image.fromarray(rgb(4, 6))
    image.save(tmp_path / "plain.tiff")
    exif = image.getexif()
    exif[0x010F] = "Camera Maker"
    image.save(tmp_path / "exif.jpg", exif=exif)
    image.save(tmp_path / "plain.png")
    for name in ("plain.tiff", "exif.jpg", "plain.png"):
        assert read_image(tmp_path / name).dpi is None, name
    image.save(tmp_path / "stated.tiff", dpi=(300, 150))
    exif[images.TIFF_X_RESOLUTION] = exif[images.TIFF_Y_RESOLUTION] = 240.0
    image.save(tmp_path / "stated.jpg", exif=exif)  # in EXIF only, no JFIF unit
    assert read_image(tmp_path / "stated.tiff").dpi == (300.0, 150.0)
    assert np.allclose(read_image(tmp_path / "stated.jpg").dpi, (240, 240))


def test_the_exif_resolution_scales_with_the_dpi(tmp_path: Path) -> None:
    from srgan.pictures import finish_picture

    exif = Image.Exif()
    exif[images.TIFF_X_RESOLUTION] = exif[images.TIFF_Y_RESOLUTION] = 300.0
    exif[0x0128] = 2  # inches
    Image.fromarray(rgb(4, 6)).save(tmp_path / "in.jpg", exif=exif, dpi=(300, 300))
    picture = read_image(tmp_path / "in.jpg")
    sr = torch_batch(np.repeat(np.repeat(picture.pixels, 4, 0), 4, 1))
    write_image(tmp_path / "out.jpg", finish_picture(picture, sr, (16, 24), None))
    with Image.open(tmp_path / "out.jpg") as result:
        assert np.allclose([float(v) for v in result.info["dpi"]], (1200, 1200), atol=0.01)
        written = result.getexif()
        assert float(written[images.TIFF_X_RESOLUTION]) == 1200.0
        assert float(written[images.TIFF_Y_RESOLUTION]) == 1200.0


def test_16bit_colour_tiff_keeps_icc_dpi_and_tag(tmp_path: Path) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    array = np.random.default_rng(8).integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    picture = Picture(array, icc_profile=icc, dpi=(600.0, 300.0))
    write_image(tmp_path / "deep.tif", picture, tag="settings")
    back = read_image(tmp_path / "deep.tif")
    assert back.pixels.dtype == np.uint16 and np.array_equal(back.pixels, array)
    assert back.icc_profile == icc and back.dpi == (600.0, 300.0)
    assert images.read_tag(tmp_path / "deep.tif") == "settings"


def test_exif_too_long_for_jpeg_loses_the_maker_note_only(tmp_path: Path) -> None:
    image = Image.new("RGB", (4, 4))
    exif = image.getexif()
    exif[0x010F] = "Camera Maker"
    exif.get_ifd(images.EXIF_IFD)[images.EXIF_MAKER_NOTE] = b"x" * 70_000
    write_image(tmp_path / "out.jpg", Picture(rgb(4, 4), exif=exif.tobytes()))
    with Image.open(tmp_path / "out.jpg") as result:
        assert result.getexif()[0x010F] == "Camera Maker"
        assert images.EXIF_MAKER_NOTE not in result.getexif().get_ifd(images.EXIF_IFD)


@pytest.mark.skipif(not hasattr(cv2, "IMWRITE_PNG_FILTER"), reason="OpenCV without PNG filters")
def test_png_rows_take_the_paeth_filter_and_decode_exactly() -> None:
    """Every row of an RGB PNG output is Paeth-filtered (filter byte 4), and it decodes to
    the same pixels."""
    pixels = np.random.default_rng(3).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    data = encode_image(Picture(pixels), "png")
    idat, at = b"", 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        if data[at + 4 : at + 8] == b"IDAT":
            idat += data[at + 8 : at + 8 + length]
        at += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + 10 * 3
    assert len(raw) == 12 * stride and set(raw[::stride]) == {4}
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), pixels)


def test_a_gray_profile_is_not_given_to_the_rgb_of_a_gray_webp(tmp_path: Path) -> None:
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    icc[16:20] = b"GRAY"  # the header's colour space, as a gray profile has it
    picture = Picture(rgb(6, 8)[..., :1], icc_profile=bytes(icc))
    write_image(tmp_path / "g.webp", picture, fmt="webp")
    write_image(tmp_path / "g.png", picture, fmt="png")
    with Image.open(tmp_path / "g.webp") as webp, Image.open(tmp_path / "g.png") as png:
        assert webp.mode == "RGB" and not webp.info.get("icc_profile")
        assert png.mode == "L" and png.info["icc_profile"] == bytes(icc)  # gray stays gray


def test_a_quarter_turn_swaps_the_stated_resolutions_everywhere(tmp_path: Path) -> None:
    """A TIFF's orientation, which Pillow applies (and drops) on loading, still swaps the
    DPI; EXIF's own X and Y resolutions swap with it."""
    exif = Image.Exif()
    exif[images.EXIF_ORIENTATION] = 6
    Image.fromarray(rgb(6, 8)).save(tmp_path / "turned.tif", exif=exif, dpi=(300, 150))
    turned = read_image(tmp_path / "turned.tif")
    assert turned.pixels.shape[:2] == (8, 6) and turned.dpi == (150.0, 300.0)
    exif[images.TIFF_X_RESOLUTION], exif[images.TIFF_Y_RESOLUTION] = 300.0, 150.0
    exif[images.TIFF_RESOLUTION_UNIT] = 2
    Image.fromarray(rgb(6, 8)).save(tmp_path / "turned.jpg", exif=exif)
    picture = read_image(tmp_path / "turned.jpg")
    assert np.allclose(picture.dpi, (150, 300))
    write_image(tmp_path / "out.jpg", picture)
    with Image.open(tmp_path / "out.jpg") as result:
        written = result.getexif()
        assert float(written[images.TIFF_X_RESOLUTION]) == 150.0
        assert float(written[images.TIFF_Y_RESOLUTION]) == 300.0


def test_no_empty_exif_is_written(tmp_path: Path) -> None:
    """A file whose EXIF holds nothing to keep gets none (readers then assume 72 dpi)."""
    Image.fromarray(np.zeros((4, 6), np.uint16)).save(tmp_path / "gray.tif")
    picture = read_image(tmp_path / "gray.tif")
    assert picture.exif is None
    write_image(tmp_path / "gray.jpg", picture)
    with Image.open(tmp_path / "gray.jpg") as result:
        assert not result.getexif() and "exif" not in result.info


@pytest.mark.parametrize("bits", [8, 16])
def test_a_colour_key_becomes_alpha(tmp_path: Path, bits: int) -> None:
    """PNG's tRNS of a gray or RGB image (what PNG optimisers make of an RGBA image whose
    alpha is only 0 or 255) marks transparent pixels: they stay transparent."""
    pixels = rgb(6, 8, seed=3)
    pixels[:, :3] = 0
    Image.fromarray(pixels).save(tmp_path / "rgb.png", transparency=(0, 0, 0))
    Image.fromarray(pixels[..., 1]).save(tmp_path / "gray.png", transparency=0)
    gray16 = pixels[..., 1].astype(np.uint16) * 257
    Image.fromarray(gray16).save(tmp_path / "gray16.png", transparency=0)
    # 16-bit RGB with a key (which Pillow cannot write; OpenCV decodes it).
    rows = (pixels.astype(np.uint16) * 257).astype(">u2").reshape(6, -1)
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 6, 16, 2, 0, 0, 0))
    key = png_chunk(b"tRNS", struct.pack(">HHH", 0, 0, 0))
    data = zlib.compress(b"".join(b"\0" + row.tobytes() for row in rows))
    (tmp_path / "rgb16.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + header + key + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")
    )
    names = ("rgb.png", "gray.png") if bits == 8 else ("gray16.png", "rgb16.png")
    for name in names:
        picture = read_image(tmp_path / name)
        assert picture.alpha is not None, name
        top = np.iinfo(picture.alpha.dtype).max
        expected = np.where((picture.pixels == 0).all(axis=-1), 0, top)
        assert np.array_equal(picture.alpha, expected), name
        assert (picture.alpha[:, :3] == 0).all() and picture.bits == bits, name
    # 2- and 4-bit gray: the key in the file's sample scale (Pillow's pixels are 8-bit).
    for depth, samples in ((2, bytes([0b00011101])), (4, bytes([0x01, 0xF1]))):
        header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 1, depth, 0, 0, 0, 0))
        key = png_chunk(b"tRNS", struct.pack(">H", 1))
        data = png_chunk(b"IDAT", zlib.compress(b"\0" + samples))
        path = tmp_path / f"gray{depth}.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + key + data + png_chunk(b"IEND", b""))
        picture = read_image(path)
        clear = picture.pixels[..., 0] == 255 // (2**depth - 1)
        assert clear.any() and np.array_equal(picture.alpha, np.where(clear, 0, 255)), depth
    # A key no pixel has: no alpha to carry.
    Image.fromarray(pixels).save(tmp_path / "unused.png", transparency=(1, 2, 3))
    assert read_image(tmp_path / "unused.png").alpha is None
