from __future__ import annotations

import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srgan.data import (
    IMAGES_RULE,
    DrawSampler,
    RandomCrops,
    SRDataModule,
    WholeImages,
    _collate_one,
    augment,
)
from srgan.degradations import RealisticDegradation, degraded_pair, usm_sharpen
from srgan.images import read_rgb
from srgan.resize import imresize
from tests.conftest import smooth_image
from tests.test_resize import reference_imresize


def test_random_crops_shapes_and_paired_alignment() -> None:
    hr = torch.randint(0, 256, (3, 40, 48), dtype=torch.uint8)
    lr = hr[:, ::4, ::4].contiguous()  # a pairing whose alignment is easy to check
    dataset = RandomCrops([hr], crop_size=16, scale=4, length=20, lr_images=[lr], augment=False)
    assert len(dataset) == 20
    for i in range(20):
        sample = dataset[i]
        assert sample["hr"].shape == (3, 16, 16) and sample["lr"].shape == (3, 4, 4)
        assert torch.equal(sample["hr"][:, ::4, ::4], sample["lr"])
    augmented = RandomCrops([hr], crop_size=16, scale=4, length=20, lr_images=[lr], augment=True)
    assert all(augmented[i]["lr"].shape == (3, 4, 4) for i in range(20))


def test_unpaired_crops_come_from_the_image() -> None:
    hr = torch.arange(3 * 20 * 20, dtype=torch.int64).remainder(256).to(torch.uint8).view(3, 20, 20)
    dataset = RandomCrops([hr], crop_size=8, scale=4, length=5, augment=False)
    crop = dataset[0]["hr"]
    matches = [
        (t, left)
        for t in range(0, 13, 4)
        for left in range(0, 13, 4)
        if torch.equal(hr[:, t : t + 8, left : left + 8], crop)
    ]
    assert matches


def test_whole_images_mod_crop_and_matlab_lr() -> None:
    image = np.random.default_rng(0).integers(0, 256, (30, 27, 3), dtype=np.uint8)
    dataset = WholeImages([image], ["a"], scale=4)
    sample = dataset[0]
    assert sample["hr"].shape == (3, 28, 24) and sample["lr"].shape == (3, 7, 6)
    assert sample["lr"].dtype == torch.uint8
    # The values are MATLAB's imresize(hr, 1/4) in uint8, written out independently.
    assert torch.equal(sample["hr"], torch.from_numpy(image[:28, :24]).permute(2, 0, 1))
    for c in range(3):
        expected = reference_imresize(image[:28, :24, c], 0.25, uint8=True)
        np.testing.assert_array_equal(sample["lr"][c].numpy(), expected)


def test_datamodule_holds_out_validation_and_makes_lr_on_the_fly(image_dir: Path) -> None:
    dm = SRDataModule(
        str(image_dir), crop_size=32, batch_size=2, steps_per_epoch=3, val_holdout=2, num_workers=0
    )
    dm.setup("fit")
    assert len(dm.train_set.images) == 4 and len(dm.val_set) == 2
    batch = next(iter(dm.train_dataloader()))
    batch = dm.on_after_batch_transfer(batch, 0)
    assert batch["hr"].shape == (2, 3, 32, 32) and batch["lr"].shape == (2, 3, 8, 8)
    assert batch["hr"].dtype == torch.float32 and 0 <= batch["lr"].min() and batch["lr"].max() <= 1
    # LR is on the 8-bit grid, like benchmark LR files.
    assert torch.allclose(batch["lr"] * 255, (batch["lr"] * 255).round(), atol=1e-3)


def test_small_images_skipped_with_one_counting_warning(image_dir: Path) -> None:
    for i in range(3):
        Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(image_dir / f"small{i}.png")
    dm = SRDataModule(str(image_dir), crop_size=32, val_holdout=0, num_workers=0)
    with pytest.warns(UserWarning, match="skipping 3 training image"):
        dm.setup("fit")
    assert len(dm.train_set.images) == 6


def test_unreadable_files_are_reported_by_name(image_dir: Path) -> None:
    (image_dir / "broken.png").write_bytes(b"not a png")
    dm = SRDataModule(str(image_dir), crop_size=32, val_holdout=0, num_workers=0)
    with pytest.warns(UserWarning, match="broken.png"):
        dm.setup("fit")


@pytest.mark.parametrize(
    ("option", "says"),
    [
        ({"crop_size": 0}, "crop_size 0 must be a positive multiple of scale 4"),
        ({"crop_size": -4}, "crop_size -4 must be a positive multiple"),
        ({"crop_size": 30}, "crop_size 30 must be a positive multiple of scale 4"),
        ({"batch_size": 0}, "data.batch_size must be at least 1, got 0"),
        ({"steps_per_epoch": 0}, "data.steps_per_epoch must be at least 1"),
        ({"val_holdout": -1}, "data.val_holdout must be at least 0"),
        ({"num_workers": -1}, "data.num_workers must be at least 0"),
    ],
)
def test_impossible_data_options_are_refused_at_once(
    image_dir: Path, option: dict[str, int], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        SRDataModule(str(image_dir), **option)


def test_a_checkpoint_of_the_older_image_rule_says_its_crops_change(image_dir: Path) -> None:
    count = len(list(image_dir.iterdir()))
    options = {"crop_size": 32, "val_holdout": 0, "num_workers": 0, "batch_size": 1}
    dm = SRDataModule(str(image_dir), steps_per_epoch=count + 1, **options)
    dm.setup("fit")
    saved = {"seed": 0, "draws": 5, "batches": 5, "world": 1}
    with pytest.warns(UserWarning, match="saved by an older srgan, which chose the image"):
        dm.load_state_dict(saved)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dm.load_state_dict(dm.state_dict())  # this version's own: nothing to say


def test_a_folder_of_unreadable_images_says_so(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.png").write_bytes(b"not a png")
    dm = SRDataModule(str(tmp_path), crop_size=32, val_holdout=0, num_workers=0)
    with pytest.warns(UserWarning, match="skipping 3 unreadable"):
        with pytest.raises(ValueError, match="none of the training images could be read"):
            dm.setup("fit")


def test_a_validation_set_of_unreadable_images_stops_training_before_it_starts(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a", "c"):
        Image.fromarray(np.full((48, 48, 3), 90, np.uint8)).save(folder / f"{name}.png")
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "b.png").write_bytes(b"not a png")
    dm = SRDataModule(str(folder), val_dir=str(tmp_path / "val"), crop_size=32, num_workers=0)
    with pytest.warns(UserWarning, match="b.png"):
        with pytest.raises(
            ValueError, match=r"none of the 1 image\(s\) to score can be read \(b.png\)"
        ):
            dm.setup("fit")


def test_images_that_cannot_be_scored_are_not_held_out(tmp_path: Path) -> None:
    """An unreadable or too small image where the hold-out would fall stays for training
    (which skips it with a warning); the next one is held out instead."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a", "c", "e"):
        Image.fromarray(np.full((48, 48, 3), 90, np.uint8)).save(folder / f"{name}.png")
    (folder / "b.png").write_bytes(b"not a png")  # where one of two hold-outs falls
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(folder / "d.png")  # the other
    dm = SRDataModule(str(folder), crop_size=32, val_holdout=2, num_workers=0)
    assert [f.name for f in dm._split()[1]] == ["a.png", "c.png"]
    with pytest.warns(UserWarning, match="b.png"):
        dm.setup("fit")
    assert dm.val_set.names == ["a", "c"]
    # Too few that can be scored: the nearest all the same (building the validation set
    # then says what is wrong with it).
    dm = SRDataModule(str(folder), crop_size=32, val_holdout=4, num_workers=0)
    assert [f.name for f in dm._split()[1]] == ["a.png", "c.png", "d.png", "e.png"]


def test_missing_or_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        SRDataModule(str(tmp_path / "nope"), val_holdout=0).setup("fit")
    with pytest.raises(FileNotFoundError, match="no images"):
        SRDataModule(str(tmp_path), val_holdout=0).setup("fit")


def test_paired_lr_folder(image_dir: Path, tmp_path: Path) -> None:
    lr_dir = tmp_path / "lr"
    lr_dir.mkdir()
    for path in image_dir.glob("*.png"):
        hr = np.array(Image.open(path))
        hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]
        lr = imresize(torch.from_numpy(hr).permute(2, 0, 1), 0.25).permute(1, 2, 0).numpy()
        Image.fromarray(lr).save(lr_dir / f"{path.stem}x4.png")
    dm = SRDataModule(
        str(image_dir), train_lr_dir=str(lr_dir), crop_size=32, val_holdout=0, num_workers=0
    )
    dm.setup("fit")
    sample = dm.train_set[0]
    assert sample["lr"].shape == (3, 8, 8)
    # What only LR made on the fly takes is said not to apply.
    for extra, says in [
        ({"degradation": RealisticDegradation()}, "data.degradation makes LR from the HR crops"),
        ({"sharpen_targets": True}, "the LR images given are not made from them"),
    ]:
        with pytest.warns(UserWarning, match=says):
            SRDataModule(str(image_dir), train_lr_dir=str(lr_dir), **extra)
    with warnings.catch_warnings():  # the default degradation is not said to be unused
        warnings.simplefilter("error")
        SRDataModule(str(image_dir), train_lr_dir=str(lr_dir))
    # An unreadable LR image: its pair is left out, the others stay paired.
    first = sorted(lr_dir.iterdir())[0]
    first.write_bytes(b"not an image")
    dm = SRDataModule(
        str(image_dir), train_lr_dir=str(lr_dir), crop_size=32, val_holdout=0, num_workers=0
    )
    with pytest.warns(UserWarning, match="skipping 1 unreadable image"):
        dm.setup("fit")
    assert len(dm.train_set.images) == len(list(lr_dir.iterdir())) - 1
    for hr, lr in zip(dm.train_set.images, dm.train_set.lr_images, strict=True):
        assert tuple(lr.shape[-2:]) == (hr.shape[-2] // 4, hr.shape[-1] // 4)


def test_paired_lr_names_are_matched_without_a_guess(tmp_path: Path) -> None:
    """An LR stem that ends in x4 by itself pairs as it is; two HR folders with one name
    for one LR folder are refused (both took the same LR, one of them another photo's);
    a folder of scale subfolders is named in the error."""

    def save(path: Path, side: int, value: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((side, side, 3), value, np.uint8)).save(path)

    save(tmp_path / "hr/fox4.png", 48, 10)
    save(tmp_path / "lr/fox4.png", 12, 10)
    options = {"crop_size": 32, "val_holdout": 0, "num_workers": 0}
    dm = SRDataModule(str(tmp_path / "hr"), train_lr_dir=str(tmp_path / "lr"), **options)
    dm.setup("fit")
    assert len(dm.train_set.lr_images) == 1
    save(tmp_path / "other/fox4.png", 48, 200)
    folders = [str(tmp_path / "hr"), str(tmp_path / "other")]
    dm = SRDataModule(folders, train_lr_dir=str(tmp_path / "lr"), **options)
    with pytest.raises(ValueError, match="would both take .*fox4.png: with several"):
        dm.setup("fit")
    save(tmp_path / "div2k/X4/fox4x4.png", 12, 10)
    dm = SRDataModule(str(tmp_path / "hr"), train_lr_dir=str(tmp_path / "div2k"), **options)
    with pytest.raises(FileNotFoundError, match=r"fox4x4\.\*\) \(its subfolders: X4: give"):
        dm.setup("fit")
    # The folder of another scale (DIV2K's X2, given for a x4 generator).
    save(tmp_path / "x2/fox4x2.png", 24, 10)
    dm = SRDataModule(str(tmp_path / "hr"), train_lr_dir=str(tmp_path / "x2"), **options)
    with pytest.raises(FileNotFoundError, match=r"found fox4x2\.png: LR of another scale\?"):
        dm.setup("fit")


def test_validation_takes_the_given_lr_images(tmp_path: Path) -> None:
    """Real LR/HR pairs: the images held out of train_dir take train_lr_dir's LR, and
    val_dir takes val_lr_dir's, not LR made from the HR (it scored another task)."""
    rng = np.random.default_rng(0)
    for folder in ("hr", "val"):
        for k in range(3):
            path = tmp_path / folder / f"{k:04d}.png"
            path.parent.mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (48, 48, 3), np.uint8)).save(path)
            lr_path = tmp_path / f"{folder}_lr" / f"{k:04d}x4.png"
            lr_path.parent.mkdir(exist_ok=True)
            Image.fromarray(np.full((12, 12, 3), 40 + k, np.uint8)).save(lr_path)  # not bicubic
    options = {"crop_size": 32, "num_workers": 0}
    held = SRDataModule(
        str(tmp_path / "hr"), train_lr_dir=str(tmp_path / "hr_lr"), val_holdout=1, **options
    )
    held.setup("fit")
    assert held.val_set.lr[0].unique().tolist() == [41]  # the held-out 0001's own LR
    given = SRDataModule(
        str(tmp_path / "hr"),
        val_dir=str(tmp_path / "val"),
        val_lr_dir=str(tmp_path / "val_lr"),
        val_holdout=0,
        **options,
    )
    given.setup("fit")
    assert [lr.unique().tolist() for lr in given.val_set.lr] == [[40], [41], [42]]
    with pytest.raises(ValueError, match="data.val_lr_dir holds the LR of data.val_dir"):
        SRDataModule(str(tmp_path / "hr"), val_lr_dir=str(tmp_path / "val_lr"))
    with pytest.warns(UserWarning, match="val_degradation medium does not apply"):
        SRDataModule(
            str(tmp_path / "hr"), train_lr_dir=str(tmp_path / "hr_lr"), val_degradation="medium"
        )


def test_lr_made_from_an_uncropped_hr_is_said_to_be_rounded_up(tmp_path: Path) -> None:
    for folder, side in (("hr", (130, 202)), ("lr", (33, 51))):  # MATLAB: ceil(202 / 4) = 51
        (tmp_path / folder).mkdir()
        Image.fromarray(np.zeros((*side, 3), np.uint8)).save(tmp_path / folder / "a.png")
    options = {"crop_size": 32, "val_holdout": 0, "num_workers": 0}
    dm = SRDataModule(str(tmp_path / "hr"), train_lr_dir=str(tmp_path / "lr"), **options)
    with pytest.raises(ValueError, match="rounded up: made from an HR whose sides are not"):
        dm.setup("fit")


def test_validation_images_too_small_for_ssim_are_refused(tmp_path: Path) -> None:
    # x4: 4 px left out at each border, and SSIM's 11 x 11 window: 19 px, so 20 (mod 4).
    for side, ok in [(16, False), (20, True)]:
        folder = tmp_path / f"val{side}"
        folder.mkdir()
        Image.fromarray(np.zeros((side, side, 3), np.uint8)).save(folder / "a.png")
        dm = SRDataModule(str(folder), val_dir=str(folder), crop_size=16, num_workers=0)
        if ok:
            dm.setup("validate")
        else:
            with pytest.raises(ValueError, match="at least 20 px a side"):
                dm.setup("validate")


def dihedral(image: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th of the 8 symmetries of the square (k < 4: rotations, else a mirror first)."""
    if k >= 4:
        image = image.flip(-1)
    return torch.rot90(image, k % 4, (-2, -1))


def test_paired_crops_stay_aligned_under_all_8_dihedral_transforms() -> None:
    # A float HR image with no symmetry, and its MATLAB-bicubic LR (no rounding, so that
    # resizing commutes exactly with flips and transposes).
    rng = np.random.default_rng(0)
    hr = torch.from_numpy(rng.uniform(0, 1, (3, 96, 80)))
    lr = imresize(hr, 0.25)
    options = dict(crop_size=48, scale=4, length=1, lr_images=[lr])
    augmented = RandomCrops([hr], **options, augment=True)
    plain = RandomCrops([hr], **options, augment=False)
    seen = set()
    for seed in range(60):
        augmented.seed = plain.seed = seed
        sample = augmented[0]
        reference = plain[0]  # the same crop (corners are drawn before the transform)
        (k,) = [k for k in range(8) if torch.equal(dihedral(reference["hr"], k), sample["hr"])]
        seen.add(k)
        # The LR crop went through the same transform ...
        assert torch.equal(sample["lr"], dihedral(reference["lr"], k))
        # ... so it is the MATLAB resize of the transformed HR crop (away from the crop's
        # border, where the whole image's LR also saw pixels outside the crop).
        resized = imresize(sample["hr"], 0.25)
        torch.testing.assert_close(
            sample["lr"][:, 2:-2, 2:-2], resized[:, 2:-2, 2:-2], rtol=0, atol=1e-9
        )
        assert (sample["lr"] - resized).abs().max() > 1e-6  # the border does differ
    assert seen == set(range(8))


def test_draw_sampler_epochs_are_permutations_and_a_resume_goes_on_where_it_left() -> None:
    length = 6
    sampler = DrawSampler(length, seed=3)
    epochs = [list(sampler) for _ in range(3)]
    for epoch, indices in enumerate(epochs):
        assert [i // length for i in indices] == list(range(epoch * length, (epoch + 1) * length))
        assert sorted(i % length for i in indices) == list(range(length))  # every slot once
    assert len({tuple(i % length for i in e) for e in epochs}) == 3  # another order each epoch
    stream = [i for e in epochs for i in e]
    resumed = DrawSampler(length, seed=3, start=8)  # a checkpoint after 8 draws
    assert list(resumed) + list(resumed) == stream[8:]
    assert list(DrawSampler(length, seed=4)) != epochs[0]


def test_draw_sampler_shares_whole_global_batches_between_processes() -> None:
    """DDP: process r takes the r-th batch of each global batch; an epoch keeps only whole
    global batches (the same number of batches everywhere), also when resumed."""
    length, batch = 14, 2  # 3 whole global batches of 2 x 2 draws, 2 draws left over
    alone = list(DrawSampler(length, seed=5))
    for start in (0, 4, 8):  # from the start, and resumed after one or two global batches
        shares = [
            list(DrawSampler(length, seed=5, start=start, batch_size=batch, rank=r, world=2))
            for r in (0, 1)
        ]
        assert len(shares[0]) == len(shares[1]) == 6 - start // 2
        together = [
            index
            for step in range(len(shares[0]) // batch)
            for share in shares
            for index in share[step * batch : (step + 1) * batch]
        ]
        assert together == alone[start:12]
    assert len(DrawSampler(length, seed=5, batch_size=batch, world=2)) == 6


def test_the_draws_counted_are_where_the_sampler_resumes_under_ddp(image_dir: Path) -> None:
    """Two processes, batches of 2, epochs of 5 x 2 draws: 2 whole global batches of 4 per
    epoch, the 2 draws left dropped. After each batch the count is where a sampler started
    from it goes on as the uninterrupted one does."""
    from types import SimpleNamespace

    dm = SRDataModule(
        str(image_dir), crop_size=32, batch_size=2, steps_per_epoch=5, val_holdout=0, num_workers=0
    )
    dm.setup("fit")
    dm.trainer = SimpleNamespace(world_size=2, global_rank=0)
    batch = {"hr": torch.zeros(2, 3, 32, 32, dtype=torch.uint8)}

    def stream(start: int) -> list[int]:
        sampler = DrawSampler(10, seed=dm.seed, start=start, batch_size=2, rank=0, world=2)
        return [i for _ in range(3) for i in sampler]

    straight = stream(0)
    counts = []
    for step in range(1, 5):
        dm.on_after_batch_transfer(dict(batch), 0)
        counts.append(dm.draws)
        assert stream(dm.draws)[:4] == straight[2 * step : 2 * step + 4], step
    assert counts == [4, 10, 14, 20]


def test_a_run_resumed_on_another_number_of_processes_goes_on_from_a_whole_batch(
    image_dir: Path,
) -> None:
    from types import SimpleNamespace

    dm = SRDataModule(
        str(image_dir), crop_size=32, batch_size=2, steps_per_epoch=10, val_holdout=0, num_workers=0
    )
    dm.setup("fit")  # 20 draws an epoch
    dm.trainer = SimpleNamespace(world_size=2, global_rank=0)
    rule = {"images_rule": IMAGES_RULE}
    with pytest.warns(UserWarning, match="resuming on 2 processes a run saved on 1"):
        dm.load_state_dict({"seed": 3, "draws": 26, "batches": 13, "world": 1, **rule})
    assert dm.draws == 28  # epoch 1, draw 6 -> 8: a whole global batch of 2 x 2
    with pytest.warns(UserWarning):
        dm.load_state_dict({"seed": 3, "draws": 37, "batches": 13, "world": 1, **rule})
    assert dm.draws == 40  # no whole global batch left in epoch 1: epoch 2
    dm.load_state_dict({"seed": 3, "draws": 26, "batches": 13, "world": 2, **rule})
    assert dm.draws == 26 and dm.seed == 3


def test_a_draw_is_its_index_and_seed_alone() -> None:
    image = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, 40, 40), np.uint8))
    crops = RandomCrops([image], crop_size=8, scale=4, length=5, seed=1)
    assert torch.equal(crops[12]["hr"], crops[12]["hr"])  # whatever torch's state
    assert len({crops[i]["hr"].numpy().tobytes() for i in range(20)}) > 15
    other = RandomCrops([image], crop_size=8, scale=4, length=5, seed=2)
    assert not all(torch.equal(crops[i]["hr"], other[i]["hr"]) for i in range(5))


def test_augment_applies_one_transform_to_every_image() -> None:
    a = torch.arange(2 * 6 * 6).view(2, 6, 6)
    b = a * 10
    for seed in range(20):
        torch.manual_seed(seed)
        out_a, out_b = augment(a, b)
        assert torch.equal(out_b, out_a * 10)


def test_realistic_degradation_and_sharpened_targets_on_the_device(image_dir: Path) -> None:
    options = dict(crop_size=32, batch_size=4, steps_per_epoch=2, val_holdout=0, num_workers=0)
    dm = SRDataModule(
        str(image_dir), degradation=RealisticDegradation(), sharpen_targets=True, **options
    )
    dm.setup("fit")
    raw = next(iter(dm.train_dataloader()))
    state = dm.state_dict()  # the run's data seed, and no batch made yet
    batch = dm.on_after_batch_transfer(dict(raw), 0)
    assert batch["hr"].shape == (4, 3, 32, 32) and batch["lr"].shape == (4, 3, 8, 8)
    assert 0 <= batch["lr"].min() and batch["lr"].max() <= 1
    assert torch.allclose(batch["lr"] * 255, (batch["lr"] * 255).round(), atol=1e-3)
    # The targets are the unsharp-masked crops.
    torch.testing.assert_close(batch["hr"], usm_sharpen(raw["hr"].float() / 255))
    # Not bicubic; reproducible from the data seed and the batch's number (a checkpoint's
    # state), and another for the next batch.
    assert not torch.allclose(batch["lr"], imresize(batch["hr"], 0.25, quantize=True))
    again = SRDataModule(
        str(image_dir), degradation=RealisticDegradation(), sharpen_targets=True, **options
    )
    again.load_state_dict(state)
    torch.testing.assert_close(again.on_after_batch_transfer(dict(raw), 0)["lr"], batch["lr"])
    assert dm.state_dict()["batches"] == 1 and dm.state_dict()["draws"] == 4
    following = dm.on_after_batch_transfer(dict(raw), 0)["lr"]
    assert not torch.allclose(following, batch["lr"])
    # The default stays MATLAB bicubic of the unsharpened crop.
    plain = SRDataModule(str(image_dir), **options).on_after_batch_transfer(dict(raw), 0)
    torch.testing.assert_close(plain["hr"], raw["hr"].float() / 255)
    torch.testing.assert_close(plain["lr"], imresize(plain["hr"], 0.25, quantize=True))


def test_validation_lr_is_bicubic_unless_a_profile_is_named(image_dir: Path) -> None:
    for profile in ("bicubic", "medium"):
        dm = SRDataModule(
            str(image_dir),
            crop_size=32,
            val_holdout=2,
            num_workers=0,
            degradation=RealisticDegradation(),
            val_degradation=profile,
        )
        dm.setup("fit")
        sample = dm.val_set[0]
        hr = sample["hr"].permute(1, 2, 0).numpy()
        expected, _ = degraded_pair(hr, 4, profile, name=sample["name"])
        np.testing.assert_array_equal(sample["lr"].permute(1, 2, 0).numpy(), expected)
        batch = dm.on_after_batch_transfer(_collate_one([sample]), 0)
        torch.testing.assert_close(batch["lr"][0] * 255, sample["lr"].float())
    with pytest.raises(ValueError, match="val_degradation"):
        SRDataModule(str(image_dir), val_degradation="extreme")
    with pytest.raises(ValueError, match="class_path"):
        SRDataModule(str(image_dir), degradation="realistic")


def test_validation_names_images_in_subfolders_as_the_quality_benchmark_does(
    image_dir: Path, tmp_path: Path
) -> None:
    """A profile's noise is seeded by the image's name: a val_dir image in a subfolder is
    ``sub/name``, as ``benchmarks.quality`` names it, so both score it on the same LR."""
    from benchmarks.quality.evaluate import load_dataset

    val = tmp_path / "val"
    (val / "sub").mkdir(parents=True)
    (image_dir / "img0.png").rename(val / "sub" / "img0.png")
    (image_dir / "img1.png").rename(val / "img1.png")
    dm = SRDataModule(str(image_dir), val_dir=str(val), crop_size=32, val_degradation="medium")
    dm.setup("validate")
    assert dm.val_set.names == ["img1", "sub/img0"]
    _, items, _ = load_dataset(val, scale=4, degradation="medium")
    for (name, _, lr), index in zip(items, (0, 1), strict=True):
        assert name == dm.val_set.names[index]
        np.testing.assert_array_equal(lr, dm.val_set[index]["lr"].permute(1, 2, 0).numpy())
    # The test images too, each named in the folder it was listed from.
    dm = SRDataModule(str(image_dir), test_dir=str(val), crop_size=32)
    dm.setup("test")
    assert dm.test_set.names == ["img1", "sub/img0"]


@pytest.mark.parametrize("count", [10, 3, 4])
def test_every_image_is_drawn_evenly_whatever_the_epoch_length(count: int) -> None:
    """10 images and 4 draws an epoch: epochs go on through the folder (it used to be its
    first 4 images, forever); 3 images: none drawn more than once above the others."""
    images = [torch.full((3, 8, 8), k, dtype=torch.uint8) for k in range(count)]
    length = 4
    crops = RandomCrops(images, crop_size=4, scale=4, length=length, augment=False)
    sampler = DrawSampler(length, seed=0)
    epochs = 15
    drawn = [int(crops[index]["hr"][0, 0, 0]) for _ in range(epochs) for index in sampler]
    counts = [drawn.count(k) for k in range(count)]
    assert sum(counts) == epochs * length and max(counts) - min(counts) <= 1, counts


def test_images_left_on_disk_give_the_same_crops(tmp_path: Path) -> None:
    """data.in_memory false: sizes from the headers (EXIF orientation applied), each crop
    decoded from its file; the samples are those of the images in memory, LR pairs too."""
    from srgan.data import OnDisk

    rng = np.random.default_rng(0)
    (tmp_path / "hr").mkdir()
    (tmp_path / "lr").mkdir()
    for i in range(3):
        hr = smooth_image(rng, 64 + 8 * i, 96)
        image = Image.fromarray(hr)
        exif = image.getexif()
        exif[0x0112] = 6  # turned a quarter: upright, the sides swap
        if i == 1:  # a camera photo
            image.save(tmp_path / "hr" / f"{i}.jpg", exif=exif, quality=95)
            hr = read_rgb(tmp_path / "hr" / f"{i}.jpg")
        elif i == 2:  # a TIFF, which Pillow reports oriented already
            image.save(tmp_path / "hr" / f"{i}.tif", exif=exif)
            hr = read_rgb(tmp_path / "hr" / f"{i}.tif")
        else:  # a PNG whose eXIf chunk comes after its pixels
            image.save(tmp_path / "hr" / f"{i}.png")
            data = (tmp_path / "hr" / f"{i}.png").read_bytes()
            payload = b"eXIf" + exif.tobytes()
            chunk = len(payload[4:]).to_bytes(4, "big") + payload
            chunk += zlib.crc32(payload).to_bytes(4, "big")
            end = data.rindex(b"IEND") - 4
            (tmp_path / "hr" / f"{i}.png").write_bytes(data[:end] + chunk + data[end:])
            hr = read_rgb(tmp_path / "hr" / f"{i}.png")
        assert hr.shape[0] == 96  # upright
        Image.fromarray(hr[::4, ::4]).save(tmp_path / "lr" / f"{i}.png")
    options = {"crop_size": 32, "val_holdout": 0, "num_workers": 0, "steps_per_epoch": 4}
    for lr_dir in (None, str(tmp_path / "lr")):
        sets = []
        for in_memory in (True, False):
            data = SRDataModule(
                str(tmp_path / "hr"), train_lr_dir=lr_dir, in_memory=in_memory, **options
            )
            data.setup("fit")
            sets.append(data.train_set)
        memory, disk = sets
        assert all(isinstance(image, OnDisk) for image in disk.images)
        assert [tuple(i.shape) for i in disk.images] == [tuple(i.shape) for i in memory.images]
        for index in range(len(memory)):
            a, b = memory[index], disk[index]
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_set_larger_than_half_the_memory_stays_on_disk(
    image_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from srgan import data as data_module

    options = {"crop_size": 32, "val_holdout": 0, "num_workers": 0}
    monkeypatch.setattr(data_module, "available_memory", lambda: 2**30)
    kept = SRDataModule(str(image_dir), **options)
    kept.setup("fit")
    assert isinstance(kept.train_set.images[0], torch.Tensor)
    monkeypatch.setattr(data_module, "available_memory", lambda: 10_000)
    left = SRDataModule(str(image_dir), **options)
    with pytest.warns(UserWarning, match="more than half of the 0.0 GiB .* stay on disk"):
        left.setup("fit")
    assert isinstance(left.train_set.images[0], data_module.OnDisk)
    # Memory that cannot be measured (macOS, Windows): a fixed amount is assumed, not all.
    monkeypatch.setattr(data_module, "available_memory", lambda: None)
    unmeasured = SRDataModule(str(image_dir), **options)
    unmeasured.setup("fit")
    assert isinstance(unmeasured.train_set.images[0], torch.Tensor)
    monkeypatch.setattr(data_module, "UNMEASURED_MEMORY", 10_000)
    assumed = SRDataModule(str(image_dir), **options)
    with pytest.warns(UserWarning, match="memory assumed where it cannot be measured"):
        assumed.setup("fit")
    assert isinstance(assumed.train_set.images[0], data_module.OnDisk)


def test_under_ddp_every_process_keeps_the_images_where_the_first_decides(
    image_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each process measures the free memory at its own moment: the first's decision is
    broadcast, so a process that found little memory still keeps them in memory (and says
    nothing: the first speaks)."""
    import warnings
    from types import SimpleNamespace

    from srgan import data as data_module

    monkeypatch.setattr(data_module, "available_memory", lambda: 10_000)  # this one: little
    told = []

    def broadcast(value: object, src: int = 0) -> bool:
        told.append((value, src))
        return True  # the first process found room

    dm = SRDataModule(str(image_dir), crop_size=32, val_holdout=0, num_workers=0)
    dm.trainer = SimpleNamespace(
        world_size=2,
        num_devices=2,
        is_global_zero=False,
        strategy=SimpleNamespace(broadcast=broadcast),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dm.setup("fit")
    assert told == [(False, 0)]
    assert isinstance(dm.train_set.images[0], torch.Tensor)


@pytest.mark.parametrize(
    ("steps", "says"), [(1, "would each run no step"), (3, "each runs 1 step an epoch")]
)
def test_an_epoch_too_short_to_share_out_is_refused_or_noted(
    image_dir: Path, steps: int, says: str
) -> None:
    from types import SimpleNamespace

    dm = SRDataModule(
        str(image_dir), crop_size=32, steps_per_epoch=steps, val_holdout=0, num_workers=0
    )
    same = SimpleNamespace(broadcast=lambda value, src=0: value)
    dm.trainer = SimpleNamespace(world_size=2, num_devices=2, is_global_zero=True, strategy=same)
    if steps < 2:
        with pytest.raises(ValueError, match=says):
            dm.setup("fit")
    else:
        with pytest.warns(UserWarning, match=says):
            dm.setup("fit")


def test_benchmark_sets_for_training_or_validation_are_warned_of(tmp_path: Path) -> None:
    set5, mine = tmp_path / "benchmark" / "Set5", tmp_path / "mine"
    with pytest.warns(
        UserWarning, match=r"data.val_dir .*Set5 looks like a benchmark set \(set5\)"
    ):
        SRDataModule(str(mine), val_dir=str(set5))
    with pytest.warns(UserWarning, match="data.train_dir .* a model trained on it is not measured"):
        SRDataModule([str(mine), str(tmp_path / "URBAN100" / "HR")])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SRDataModule(str(mine), val_dir=str(tmp_path / "Set5_like_mine"), test_dir=str(set5))
