from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from srgan.data import RandomCrops, SRDataModule, WholeImages
from srgan.resize import imresize


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
