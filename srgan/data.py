"""Training and validation data: HR image folders -> random HR crops, LR made on the fly.

``SRDataModule`` decodes every training image once, into memory, in a thread pool
(a few hundred images is a few hundred MB; decoding each step would starve a GPU), and
workers only crop, flip and rotate uint8 arrays; a set larger than half the memory
stays on disk instead (``OnDisk``: each crop decodes its image in a worker). The LR
half of each pair is made on the
device, after the batch is transferred, by ``data.degradation`` (``srgan.degradations``):
by default the MATLAB-compatible bicubic of ``srgan.resize`` (rounded to 8 bits, like the
benchmark LR files), so the training degradation is exactly the benchmark's; for models
meant for real photos, Real-ESRGAN's blur / resize / noise / JPEG model
(``RealisticDegradation``), optionally with unsharp-masked HR targets.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from srgan.degradations import (
    PROFILES,
    Bicubic,
    Degradation,
    degraded_pair,
    usm_sharpen,
)
from srgan.images import (
    available_memory,
    image_name,
    list_images,
    open_header,
    oriented_size,
    read_rgb,
)
from srgan.resize import mod_crop


def load_images(paths: Sequence[Path], *, threads: int = 8) -> tuple[list[np.ndarray], list[Path]]:
    """Decode ``paths`` in parallel. Unreadable files are warned about by name and dropped.

    Returns the decoded images and the paths they came from.
    """

    def read(path: Path) -> np.ndarray | str:
        try:
            return read_rgb(path)
        except Exception as error:  # noqa: BLE001 - any decoder failure means "unreadable"
            return f"{type(error).__name__}: {error}"

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(read, paths))
    bad = [f"{path}: {result}" for path, result in zip(paths, results) if isinstance(result, str)]
    if bad:
        warnings.warn(
            f"skipping {len(bad)} unreadable image(s):\n  " + "\n  ".join(bad), stacklevel=2
        )
    kept = [(r, p) for p, r in zip(paths, results) if not isinstance(r, str)]
    return [r for r, _ in kept], [p for _, p in kept]


@dataclass(frozen=True)
class OnDisk:
    """A training image left on disk (``data.in_memory`` false): its size from its header,
    its pixels decoded from the file each time a crop is cut from it (``image[...]``).
    ``shape`` is ``(H, W, 3)``, or ``(3, H, W)`` once ``to_chw`` has made it channels-first,
    as the decoded array or tensor it stands for."""

    path: Path
    height: int
    width: int
    channels_first: bool = False

    @property
    def shape(self) -> tuple[int, int, int]:
        if self.channels_first:
            return (3, self.height, self.width)
        return (self.height, self.width, 3)

    def __getitem__(self, key: Any) -> torch.Tensor | np.ndarray:
        try:
            image = read_rgb(self.path)
        except Exception as error:  # noqa: BLE001 - any decoder failure: the file, by name
            raise RuntimeError(
                f"{self.path}: cannot be decoded ({type(error).__name__}: {error}); remove it "
                "from data.train_dir (with data.in_memory true, unreadable images are skipped "
                "when the run starts)"
            ) from None
        if image.shape[:2] != (self.height, self.width):
            why = (
                "its header did not show its EXIF orientation; data.in_memory true reads it"
                if image.shape[:2] == (self.width, self.height)
                else "it changed on disk since the run started"
            )
            raise RuntimeError(f"{self.path} decodes to {image.shape[1]} x {image.shape[0]}: {why}")
        if not self.channels_first:
            return image[key]
        if isinstance(key, tuple) and len(key) == 3 and key[0] == slice(None):
            return to_chw(image[key[1], key[2]])  # the crop alone made channels-first
        return to_chw(image)[key]


def header_sizes(paths: Sequence[Path], *, threads: int = 8) -> list[tuple[int, int] | str]:
    """Each file's decoded ``(height, width)`` from its header (``oriented_size``), read
    in parallel; the reason instead for a file whose header cannot be read."""

    def size(path: Path) -> tuple[int, int] | str:
        try:
            return oriented_size(path)
        except Exception as error:  # noqa: BLE001 - any header failure means "unreadable"
            return f"{type(error).__name__}: {error}"

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(size, paths))


def load_headers(
    paths: Sequence[Path], sizes: Sequence[tuple[int, int] | str] | None = None
) -> tuple[list[OnDisk], list[Path]]:
    """``load_images``' contract with the images left on disk: their sizes from their
    headers (``sizes``, when read already). Unreadable files are warned about by name
    and dropped."""
    sizes = header_sizes(paths) if sizes is None else sizes
    bad = [f"{path}: {size}" for path, size in zip(paths, sizes) if isinstance(size, str)]
    if bad:
        warnings.warn(
            f"skipping {len(bad)} unreadable image(s):\n  " + "\n  ".join(bad), stacklevel=2
        )
    kept = [OnDisk(p, *size) for p, size in zip(paths, sizes) if not isinstance(size, str)]
    return kept, [image.path for image in kept]


def channels_first(images: list[Any], keep: Sequence[int]) -> list[torch.Tensor | OnDisk]:
    """``to_chw`` of the images at ``keep``, each array released as it is copied (so that
    memory holds one set of the images, not two)."""
    out = []
    for i in keep:
        out.append(to_chw(images[i]))
        images[i] = None
    return out


def to_chw(image: np.ndarray | OnDisk) -> torch.Tensor | OnDisk:
    """``(H, W, C)`` uint8 array -> ``(C, H, W)`` uint8 tensor (an ``OnDisk`` image: one
    that decodes to that)."""
    if isinstance(image, OnDisk):
        return replace(image, channels_first=True)
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).contiguous()


def augment(
    *images: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, ...]:
    """The same random flip / 90-degree rotation (8 dihedral transforms) on every image."""
    flip, transpose = torch.randint(2, (2,), generator=generator).tolist()
    rotations = int(torch.randint(4, (), generator=generator).item())
    out = []
    for image in images:
        if flip:
            image = image.flip(-1)
        if transpose:
            image = image.transpose(-1, -2)
        out.append(torch.rot90(image, rotations, (-2, -1)).contiguous())
    return tuple(out)


def mixed_seed(*numbers: int) -> int:
    """A 63-bit seed that depends on every one of ``numbers`` (non-negative integers)."""
    return int(np.random.SeedSequence(list(numbers)).generate_state(1, np.uint64)[0]) >> 1


# How RandomCrops picks each draw's image (recorded in checkpoints): 2, each epoch the
# images after the last epoch's; 1 (older checkpoints), slot modulo the images.
IMAGES_RULE = 2


class RandomCrops(Dataset):
    """Random ``crop_size`` HR crops (and the aligned LR crops, for paired data), augmented.

    ``length`` is the number of samples an epoch draws. ``DrawSampler``'s index ``i`` (draw
    ``n = i // length`` of the run, in slot ``i % length`` of its epoch ``n // length``)
    takes image ``(epoch * length + slot) % len(images)``: each epoch the images that
    follow the last epoch's, so every image is visited evenly however ``length`` compares
    with their number (an epoch shorter than the folder does not keep to its first
    images). An index below ``length`` (a plain loader) is its slot in epoch 0. The crop and
    the flips of index ``i`` come from a generator seeded by ``(seed, i)``: the same index
    always gives the same sample, in any worker (``DrawSampler`` makes every index of a run
    distinct).
    """

    def __init__(
        self,
        images: Sequence[torch.Tensor],
        *,
        crop_size: int,
        scale: int,
        length: int,
        lr_images: Sequence[torch.Tensor] | None = None,
        augment: bool = True,
        seed: int = 0,
    ) -> None:
        self.images = list(images)
        self.seed = seed
        self.lr_images = list(lr_images) if lr_images is not None else None
        self.crop_size = crop_size
        self.scale = scale
        self.length = length
        self.augment = augment

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        draw, slot = divmod(index, self.length)
        i = (draw // self.length * self.length + slot) % len(self.images)
        hr = self.images[i]
        s, size = self.scale, self.crop_size
        draw = torch.Generator().manual_seed(mixed_seed(self.seed, index))
        # Corners on the LR grid, so that paired LR crops stay aligned.
        top = int(torch.randint((hr.shape[-2] - size) // s + 1, (), generator=draw)) * s
        left = int(torch.randint((hr.shape[-1] - size) // s + 1, (), generator=draw)) * s
        crops = [hr[:, top : top + size, left : left + size]]
        if self.lr_images is not None:
            lr = self.lr_images[i]
            crops.append(lr[:, top // s : (top + size) // s, left // s : (left + size) // s])
        if self.augment:
            crops = list(augment(*crops, generator=draw))
        sample = {"hr": crops[0].contiguous()}
        if self.lr_images is not None:
            sample["lr"] = crops[1].contiguous()
        return sample


class WholeImages(Dataset):
    """Whole images for validation and testing: HR mod-cropped to the scale, LR by MATLAB
    bicubic (``profile`` ``bicubic``) or a fixed degradation chain of
    ``srgan.degradations.SEVERITIES`` seeded by the image's name, or ``lr_images`` given
    (ready-made LR, e.g. a camera's: each the mod-cropped HR's size divided by the scale).

    The LR images are computed once, in uint8, exactly as the quality benchmark makes them.
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        names: Sequence[str],
        *,
        scale: int,
        profile: str = "bicubic",
        lr_images: Sequence[np.ndarray] | None = None,
    ) -> None:
        if lr_images is None:
            pairs = [
                degraded_pair(image, scale, profile, name=name)
                for image, name in zip(images, names)
            ]
        else:
            pairs = [(lr, mod_crop(hr, scale)) for lr, hr in zip(lr_images, images, strict=True)]
            for (lr, hr), name in zip(pairs, names):
                if lr.shape[:2] != (hr.shape[0] // scale, hr.shape[1] // scale):
                    raise ValueError(
                        f"the LR image of {name} is {lr.shape[1]} x {lr.shape[0]}, not its "
                        f"HR's {hr.shape[1]} x {hr.shape[0]} / {scale}"
                    )
        self.hr = [to_chw(hr) for _, hr in pairs]
        self.lr = [to_chw(lr) for lr, _ in pairs]
        self.names = list(names)

    def __len__(self) -> int:
        return len(self.hr)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"lr": self.lr[index], "hr": self.hr[index], "name": self.names[index]}


# The memory assumed where it cannot be measured (``available_memory`` is None: no
# /proc/meminfo nor sysconf's available pages, as on macOS and Windows), in place of the
# memory available: the training images (and their LR) stay in memory when decoded they
# take at most half of it divided among the devices' processes, else on disk.
UNMEASURED_MEMORY = 4 * 2**30


def default_workers() -> int:
    """Data loader workers by default: the CPU cores this process may use, at most 8 (more
    rarely feed a GPU faster; with the images on disk, each decodes the images it crops)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(8, cores))


def _as_list(folders: str | Sequence[str] | None) -> list[str]:
    if folders is None:
        return []
    return [folders] if isinstance(folders, str) else list(folders)


class DrawSampler(DistributedSampler):
    """The order of the training draws: epoch after epoch of ``length`` draws, epoch ``e``
    visiting the ``length`` slots of ``RandomCrops`` in a permutation seeded by
    ``(seed, e)``. Draw ``n`` of the run (counted from its first step) is yielded as the
    index ``n * length + slot``, distinct for every draw, from which ``RandomCrops`` seeds
    that draw's crop and flips. Each ``iter`` is one epoch, from draw ``start`` to the end
    of its epoch (a resumed run starts mid-epoch where the checkpoint left off), so the
    data of a run depends only on its seed and on how many draws it has made. ``start``
    is read when an iteration begins: a function (``SRDataModule`` gives its count of the
    draws the run has used), or a number, then moved on an epoch by each iteration. (A
    loader with workers begins an iteration as soon as it is made, and Lightning may make
    one it does not use: the count, not the iterations begun, says where the data is.)

    Under DDP (``world`` processes) each global batch of ``world * batch_size`` draws is
    shared out in order, process ``rank`` taking the ``rank``-th ``batch_size`` of them;
    an epoch keeps only whole global batches, so every process runs as many batches. It
    is a ``DistributedSampler`` so that Lightning uses it as it is (its own wrapper would
    shuffle again and could not start mid-epoch); ``set_epoch`` changes nothing: the
    epoch follows from the draws made.
    """

    def __init__(
        self,
        length: int,
        *,
        seed: int,
        start: int | Callable[[], int] = 0,
        batch_size: int = 1,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        # Not DistributedSampler.__init__ (which needs a process group): its attributes.
        self.length, self.seed, self.start = length, seed, start
        self.batch_size, self.rank, self.num_replicas = batch_size, rank, world
        self.shuffle, self.drop_last, self.epoch = True, True, 0
        self.usable = length if world == 1 else length // (batch_size * world) * batch_size * world
        self.num_samples = self.usable // world
        self.total_size = self.usable

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if callable(self.start):
            epoch, offset = divmod(self.start(), self.length)
        else:
            epoch, offset = divmod(self.start, self.length)
            self.start = (epoch + 1) * self.length  # the next iter: the next epoch
        order = torch.randperm(
            self.length, generator=torch.Generator().manual_seed(mixed_seed(self.seed, epoch))
        ).tolist()
        first = epoch * self.length
        for position in range(offset, self.usable):
            if (position // self.batch_size) % self.num_replicas == self.rank:
                yield (first + position) * self.length + order[position]


# Folder names of the standard SR benchmark sets (lower case): test images, never training
# or model-selection ones.
BENCHMARK_SETS = frozenset({"set5", "set14", "bsd100", "b100", "urban100", "manga109"})


class SRDataModule(L.LightningDataModule):
    """HR folders -> random crops for training, whole held-out images for validation.

    Args:
        train_dir: one or more HR folders (searched recursively for PNG/JPEG/WebP/BMP/TIFF/GIF;
            AVIF where Pillow decodes it, HEIC with pillow-heif).
        val_dir: HR folder(s) for validation. If not given, ``val_holdout`` images spread
            evenly over the sorted training files are held out from training and used
            instead. Never point this at a benchmark set (Set5, Set14): model selection
            must not see the test images.
        train_lr_dir: optional folder of pre-made LR images paired with ``train_dir``
            (matched by relative path; a trailing ``x{scale}`` in the LR stem is allowed).
            Without it, LR images are made on the fly from the HR crops by
            ``degradation`` (MATLAB-compatible bicubic by default). The images held out
            for validation take their LR from it too.
        val_lr_dir: optional folder of pre-made LR images paired with ``val_dir`` (matched
            as ``train_lr_dir``'s): validation on real LR, not LR made from the HR.
        test_dir: HR folder(s) for ``srgan.fit test``.
        scale: upscaling factor.
        crop_size: HR crop side in pixels (a multiple of ``scale``; of 32 for VGGStyle).
        batch_size: crops per training batch.
        steps_per_epoch: training batches per epoch (crops are drawn at random, so an
            "epoch" is only the validation interval). Under DDP the processes share them
            out: each runs ``steps_per_epoch // processes`` steps an epoch (processes:
            devices x nodes), of as many global batches (the same draws, so the same data,
            as one process would make).
        val_holdout: number of training images held out for validation.
        num_workers: data loader worker processes; default the CPU cores this process may
            use, at most 8 (``default_workers``).
        augment: random flips and 90-degree rotations.
        degradation: how training LR is made from the HR crops, on the device: ``bicubic``
            (MATLAB-compatible, the benchmark convention) or a
            ``srgan.degradations.Degradation`` given by ``class_path``, e.g.
            ``srgan.degradations.RealisticDegradation`` (Real-ESRGAN's model; its stage
            probabilities and ranges are its ``init_args``), ``ClassicDegradation`` or a
            ``Mixture`` of them. Not used with
            ``train_lr_dir``.
        sharpen_targets: train towards unsharp-masked HR crops (Real-ESRGAN's USM of the
            ground truth; the LR is made from the sharpened crop too, as Real-ESRGAN does).
            Validation and test HR stay as they are.
        val_degradation: the LR of validation and test images: ``bicubic`` (the default,
            whatever ``degradation`` is: the benchmark convention) or a fixed chain of
            ``srgan.degradations.SEVERITIES`` (``light``, ``medium``, ``heavy``), made
            once per image with the noise seeded by the image's name, or OpenCV's
            resize without antialiasing (``opencv-cubic``, ``opencv-linear``,
            ``opencv-area``) or Pillow's with its other filters (``pillow-lanczos``,
            ``pillow-bilinear``), exactly as ``benchmarks.quality
            --degradation`` makes it.
        in_memory: decode the training images once, into memory (``true``), or leave them
            on disk and decode an image for each crop cut from it (``false``: slower per
            batch, for sets larger than the memory, such as DIV2K with Flickr2K; more
            ``num_workers`` decode more at once). Default: in memory when their decoded
            size is at most half of the memory available, else on disk, with a note.
    """

    def __init__(
        self,
        train_dir: str | list[str] | None = None,
        *,
        val_dir: str | list[str] | None = None,
        train_lr_dir: str | None = None,
        val_lr_dir: str | None = None,
        test_dir: str | list[str] | None = None,
        scale: int = 4,
        crop_size: int = 128,
        batch_size: int = 16,
        steps_per_epoch: int = 1000,
        val_holdout: int = 10,
        num_workers: int | None = None,
        augment: bool = True,
        degradation: Literal["bicubic"] | Degradation = "bicubic",
        sharpen_targets: bool = False,
        val_degradation: Literal[
            "bicubic",
            "light",
            "medium",
            "heavy",
            "opencv-cubic",
            "opencv-linear",
            "opencv-area",
            "pillow-lanczos",
            "pillow-bilinear",
        ] = "bicubic",
        in_memory: bool | None = None,
    ) -> None:
        super().__init__()
        if crop_size <= 0 or crop_size % scale:
            raise ValueError(f"crop_size {crop_size} must be a positive multiple of scale {scale}")
        for name, value, least in [
            ("batch_size", batch_size, 1),
            ("steps_per_epoch", steps_per_epoch, 1),
            ("val_holdout", val_holdout, 0),
            ("num_workers", 0 if num_workers is None else num_workers, 0),
        ]:
            if value < least:
                raise ValueError(f"data.{name} must be at least {least}, got {value}")
        if val_degradation not in PROFILES:
            raise ValueError(f"val_degradation must be one of {PROFILES}, got {val_degradation!r}")
        if isinstance(degradation, str):
            if degradation != "bicubic":
                raise ValueError(
                    f"degradation must be 'bicubic' or a class_path, got {degradation!r}"
                )
            degradation = Bicubic()
        self.train_dirs = _as_list(train_dir)
        self.val_dirs = _as_list(val_dir)
        self.test_dirs = _as_list(test_dir)
        for name, folders, why in (
            ("train_dir", self.train_dirs, "a model trained on it is not measured by it"),
            ("val_dir", self.val_dirs, "checkpoints chosen by it have seen the test images"),
        ):
            for folder in folders:
                if found := BENCHMARK_SETS & {part.lower() for part in Path(folder).parts}:
                    warnings.warn(
                        f"data.{name} {folder} looks like a benchmark set ({min(found)}): "
                        f"{why}; hold out training images instead (data.val_holdout), and "
                        "keep benchmark sets for data.test_dir and benchmarks.quality",
                        stacklevel=1,  # srgan.fit builds the data module: a plain warning line
                    )
        self.train_lr_dir = train_lr_dir
        self.val_lr_dir = val_lr_dir
        if val_lr_dir is not None and not self.val_dirs:
            raise ValueError("data.val_lr_dir holds the LR of data.val_dir: give data.val_dir")
        given_lr = val_lr_dir is not None or (train_lr_dir is not None and not self.val_dirs)
        if given_lr and val_degradation != "bicubic":
            warnings.warn(
                f"data.val_degradation {val_degradation} does not apply: the validation LR "
                "images are given (data.val_lr_dir, or data.train_lr_dir's for the images "
                "held out)",
                stacklevel=1,
            )
        self.scale = scale
        self.crop_size = crop_size
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.val_holdout = val_holdout
        self.num_workers = default_workers() if num_workers is None else num_workers
        self.augment = augment
        self.in_memory = in_memory
        self.degradation = degradation
        self.sharpen_targets = sharpen_targets
        self.val_degradation = val_degradation
        if train_lr_dir is not None and not isinstance(degradation, Bicubic):
            warnings.warn(
                "data.degradation makes LR from the HR crops: with data.train_lr_dir the LR "
                "images given are used as they are, and it is not used",
                stacklevel=1,
            )
        if train_lr_dir is not None and sharpen_targets:
            warnings.warn(
                "data.sharpen_targets with data.train_lr_dir: the targets are sharpened, "
                "but the LR images given are not made from them (as LR made on the fly is)",
                stacklevel=1,
            )
        # The run's data seed (torch's initial seed, as seed_everything set it, when the
        # training set is built; a checkpoint's when resuming) and how far the run got:
        # training draws and batches made. Both go into checkpoints (state_dict), so that a
        # resumed run goes on with the data the uninterrupted run would have seen.
        self.seed: int | None = None
        self.draws = 0
        self.batches = 0
        self.restored = False  # whether a checkpoint's state was loaded
        self.train_set: RandomCrops | None = None
        self.val_set: WholeImages | None = None
        self.test_set: WholeImages | None = None

    # -- building the data sets --------------------------------------------------------
    def _split(self) -> tuple[list[Path], list[Path]]:
        files = [f for folder in self.train_dirs for f in list_images(folder)]
        if self.val_dirs or self.val_holdout <= 0:
            return files, []
        if len(files) <= self.val_holdout:
            raise ValueError(
                f"{len(files)} training image(s) cannot spare {self.val_holdout} for validation: "
                "set data.val_holdout lower or give data.val_dir"
            )
        step = len(files) / self.val_holdout
        held: set[int] = set()
        for i in range(self.val_holdout):
            # Spread through the folder; an image that cannot be scored (unreadable, too
            # small) stays for training (which skips it) and the nearest one that can is
            # held instead. With none left, the nearest all the same: building the
            # validation set then says what is wrong with it.
            ideal = int(i * step + step / 2)
            free = sorted(
                (j for j in range(len(files)) if j not in held), key=lambda j: abs(j - ideal)
            )
            held.add(next((j for j in free if self._scorable(files[j])), free[0]))
        return [f for i, f in enumerate(files) if i not in held], [files[i] for i in sorted(held)]

    def _least_side(self) -> int:
        """The smallest side an image can be scored at: the metrics leave out ``scale`` px
        at each border of the mod-cropped image, and SSIM needs 11 x 11 pixels after that."""
        least = 11 + 2 * self.scale
        return -(-least // self.scale) * self.scale

    def _scorable(self, path: Path) -> bool:
        """Whether ``path``'s header reads and its size can be scored (the pixels are
        decoded later: a file broken past its header is still found then)."""
        try:
            with open_header(path) as image:
                width, height = image.size
        except Exception:  # noqa: BLE001 - any reader failure: not held out
            return False
        return min(width, height) >= self._least_side()

    def _paired_lr(
        self, files: list[Path], lr_dir: str | None = None, hr_dirs: list[str] | None = None
    ) -> list[Path]:
        """Each HR file's LR file in ``lr_dir`` (default ``train_lr_dir``, for
        ``train_dirs``): the same path relative to its folder, with the LR stem as it is or
        with a trailing ``x{scale}`` (DIV2K's ``0001x4.png``)."""
        lr_root = Path(lr_dir or self.train_lr_dir)
        hr_dirs = hr_dirs or self.train_dirs
        by_key: dict[str, Path] = {}
        for path in list_images(lr_root):
            key = str(path.relative_to(lr_root).with_suffix(""))
            by_key.setdefault(key, path)  # the stem as it is first (fox4.png, scale 4)
            by_key.setdefault(key.removesuffix(f"x{self.scale}"), path)
        pairs, taken = [], {}
        for hr in files:
            root = next(Path(d) for d in hr_dirs if hr.is_relative_to(Path(d)))
            key = str(hr.relative_to(root).with_suffix(""))
            if key not in by_key:
                others = sorted({p.parent.name for p in by_key.values()} - {lr_root.name})
                hint = (
                    f" (its subfolders: {', '.join(others[:3])}: give the one of scale {self.scale}?)"
                    if others
                    else ""
                )
                # DIV2K's names of another scale (0001x2.png): the folder of another scale.
                scaled = re.compile(re.escape(key) + r"x(\d+)")
                other = next((p for k, p in by_key.items() if scaled.fullmatch(k)), None)
                if other is not None and not hint:
                    hint = (
                        f" (found {other.name}: LR of another scale? the generator's is "
                        f"{self.scale}, which data.train_lr_dir must match)"
                    )
                raise FileNotFoundError(
                    f"no LR image for {hr} in {lr_root} (looked for {key}.* and "
                    f"{key}x{self.scale}.*){hint}"
                )
            if key in taken:
                # One LR folder for several HR folders: two HR images of one name.
                raise ValueError(
                    f"{hr} and {taken[key]} would both take {by_key[key]}: with several "
                    "data.train_dir folders, their images need distinct names (or paths) "
                    "for data.train_lr_dir"
                )
            taken[key] = hr
            pairs.append(by_key[key])
        return pairs

    def _images_loader(self, files: list[Path]) -> Callable[..., tuple[list[Any], list[Path]]]:
        """How the training images are loaded: ``load_images`` (into memory) when
        ``in_memory`` says so or, not given, when the decoded images fit in half of the
        memory available to each device's process (``UNMEASURED_MEMORY`` where it cannot
        be measured); else ``load_headers`` (on disk), with a note."""
        if self.in_memory is True:
            return load_images
        if self.in_memory is False:
            return partial(load_headers, sizes=header_sizes(files))
        available = available_memory()
        sizes = header_sizes(files)
        size = sum(3 * h * w for h, w in (s for s in sizes if not isinstance(s, str)))
        if self.train_lr_dir is not None:
            size += size // self.scale**2
        # Every device's process holds its own copy.
        trainer = getattr(self, "trainer", None)
        processes = max(1, getattr(trainer, "num_devices", 1) or 1)
        share = (UNMEASURED_MEMORY if available is None else available) / processes
        in_memory = size <= share / 2
        if trainer is not None and trainer.world_size > 1:
            # Each process measures the memory at its own moment (another may be loading
            # already): all decide as the first does, which the note below speaks for.
            in_memory = trainer.strategy.broadcast(in_memory, src=0)
        if in_memory:
            return load_images
        loader = partial(load_headers, sizes=sizes)
        if trainer is None or trainer.is_global_zero:
            memory = (
                f"the {share / 2**30:.1f} GiB of memory available"
                if available is not None
                else f"the {share / 2**30:.1f} GiB of memory assumed where it cannot be measured"
            )
            warnings.warn(
                f"the {len(files)} training images take {size / 2**30:.1f} GiB decoded, more "
                f"than half of {memory} (to each of "
                f"{processes} process(es)): they stay on disk and each crop decodes its image "
                "(slower per batch; more data.num_workers decode more at once; "
                "data.in_memory true keeps them in memory)",
                stacklevel=2,
            )
        return loader

    def _build_train(self, files: list[Path]) -> RandomCrops:
        load = self._images_loader(files)
        images, files = load(files)
        if not images:
            raise ValueError(
                "none of the training images could be read (the warning above names them): "
                f"check --data.train_dir ({', '.join(map(str, self.train_dirs))})"
            )
        lr_images = None
        if self.train_lr_dir is not None:
            lr_files = self._paired_lr(files)
            on_disk = isinstance(load, partial)  # the HR's loader, its sizes read already
            lr_images, readable = (load_headers if on_disk else load_images)(lr_files)
            if len(readable) < len(lr_files):  # a pair without its LR: not trained on
                keep = {str(f) for f in readable}
                pairs = [(h, f, lf) for h, f, lf in zip(images, files, lr_files) if str(lf) in keep]
                images, files, lr_files = (list(t) for t in zip(*pairs)) if pairs else ([], [], [])
            for hr, lr, hr_file, lr_file in zip(images, lr_images, files, lr_files, strict=True):
                expected = (hr.shape[0] // self.scale, hr.shape[1] // self.scale)
                if lr.shape[:2] != expected:
                    rounded_up = lr.shape[:2] == tuple(-(-n // self.scale) for n in hr.shape[:2])
                    why = (
                        "rounded up: made from an HR whose sides are not multiples of the "
                        "scale (as MATLAB's imresize does); crop the HR images to a multiple "
                        "of the scale before making their LR"
                        if rounded_up
                        else "LR images of another scale? (data.train_lr_dir must hold this "
                        "scale's)"
                    )
                    raise ValueError(
                        f"{lr_file} is {lr.shape[1]} x {lr.shape[0]}, not {hr_file}'s size / "
                        f"{self.scale} ({expected[1]} x {expected[0]}): {why}"
                    )
        keep = [i for i, im in enumerate(images) if min(im.shape[:2]) >= self.crop_size]
        if len(keep) < len(images):
            warnings.warn(
                f"skipping {len(images) - len(keep)} training image(s) smaller than the "
                f"{self.crop_size}px crop",
                stacklevel=2,
            )
        if not keep:
            raise ValueError(f"no training image is at least {self.crop_size}px on both sides")
        if self.seed is None:
            self.seed = torch.initial_seed()
        return RandomCrops(
            channels_first(images, keep),
            crop_size=self.crop_size,
            scale=self.scale,
            length=self.steps_per_epoch * self.batch_size,
            lr_images=channels_first(lr_images, keep) if lr_images is not None else None,
            augment=self.augment,
            seed=self.seed,
        )

    def _build_whole(
        self, files: list[Path], lr_dir: str | None = None, hr_dirs: list[str] | None = None
    ) -> WholeImages:
        lr_images = None
        if lr_dir is not None:  # ready-made LR: pairs whose two images read
            lr_files = self._paired_lr(files, lr_dir, hr_dirs)
            lr_images, lr_readable = load_images(lr_files)
            keep = {str(f) for f in lr_readable}
            pairs = [(h, lf) for h, lf in zip(files, lr_files) if str(lf) in keep]
            files, lr_files = [h for h, _ in pairs], [lf for _, lf in pairs]
        images, readable = load_images(files)
        if lr_images is not None:
            keep = {str(f) for f in readable}
            lr_images = [lr for lr, h in zip(lr_images, files) if str(h) in keep]
        if not images:
            raise ValueError(
                f"none of the {len(files)} image(s) to score can be read "
                f"({', '.join(f.name for f in files[:3])}{', ...' if len(files) > 3 else ''}): "
                "fix or remove them, or score others (data.val_dir, data.test_dir, or "
                "another data.val_holdout for the images held out of data.train_dir)"
            )
        files = readable
        least = self._least_side()
        for image, file in zip(images, files):
            if min(image.shape[:2]) < least:
                raise ValueError(
                    f"{file} ({image.shape[1]} x {image.shape[0]}) is too small to score at "
                    f"x{self.scale} (the metrics leave out {self.scale} px at each border and "
                    f"SSIM needs 11 px after that): give images of at least {least} px a side"
                )
        # Named as the quality benchmark names them in the folder they were listed from
        # (the deepest, of nested ones), so that a profile's LR is the same.
        roots = sorted((Path(d).expanduser() for d in hr_dirs or []), key=lambda r: -len(r.parts))
        names = [
            next((image_name(f, r) for r in roots if f.is_relative_to(r)), f.stem) for f in files
        ]
        return WholeImages(
            images, names, scale=self.scale, profile=self.val_degradation, lr_images=lr_images
        )

    def _validation_files(self, held_out: list[Path]) -> tuple[list[Path], dict[str, Any]]:
        """The validation images and where their LR comes from: ``val_dir`` with
        ``val_lr_dir``, or the images held out of ``train_dir`` with ``train_lr_dir``."""
        if self.val_dirs:
            files = [f for d in self.val_dirs for f in list_images(d)]
            return files, {"lr_dir": self.val_lr_dir, "hr_dirs": self.val_dirs}
        return held_out, {"lr_dir": self.train_lr_dir, "hr_dirs": self.train_dirs}

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.train_set is None:
            if not self.train_dirs:
                raise ValueError("training needs data.train_dir (one or more HR image folders)")
            self._check_shared_epoch()
            train_files, held_out = self._split()
            self.train_set = self._build_train(train_files)
            val_files, lr_source = self._validation_files(held_out)
            if val_files and self.val_set is None:  # (built already by a validate-first pass)
                self.val_set = self._build_whole(val_files, **lr_source)
        if stage == "validate" and self.val_set is None:
            _, held_out = self._split() if self.train_dirs else ([], [])
            val_files, lr_source = self._validation_files(held_out)
            if not val_files:
                raise ValueError(
                    "validation needs data.val_dir or data.train_dir with val_holdout > 0"
                )
            self.val_set = self._build_whole(val_files, **lr_source)
        if stage in ("test", "predict") and self.test_set is None:
            if not self.test_dirs:
                name = getattr(stage, "value", stage)  # Lightning passes its TrainerFn
                raise ValueError(f"{name} needs data.test_dir (one or more HR image folders)")
            files = [f for d in self.test_dirs for f in list_images(d)]
            self.test_set = self._build_whole(files, hr_dirs=self.test_dirs)

    def _check_shared_epoch(self) -> None:
        """Under DDP an epoch's batches are shared out among the processes: fewer than
        one each would train nothing (and Lightning would end the run as done)."""
        trainer = getattr(self, "trainer", None)
        world = trainer.world_size if trainer is not None else 1
        if world == 1:
            return
        if self.steps_per_epoch < world:
            raise ValueError(
                f"data.steps_per_epoch {self.steps_per_epoch} is shared out among the {world} "
                f"training processes, which would each run no step: give at least {world} "
                f"(a multiple of {world} uses every draw)"
            )
        if self.steps_per_epoch % world and trainer.is_global_zero:
            warnings.warn(
                f"data.steps_per_epoch {self.steps_per_epoch} is shared out among {world} "
                f"processes: each runs {self.steps_per_epoch // world} step"
                f"{'s' if self.steps_per_epoch // world != 1 else ''} an epoch and the "
                f"last {self.steps_per_epoch % world} batches' draws are left out (a multiple "
                f"of {world} uses them all)",
                stacklevel=2,
            )

    # -- where a run is: saved in its checkpoints ----------------------------------------
    def state_dict(self) -> dict[str, Any]:
        world = self.trainer.world_size if self.trainer is not None else 1
        return {
            "seed": self.seed,
            "draws": self.draws,
            "batches": self.batches,
            "world": world,
            "images_rule": IMAGES_RULE,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.seed = state_dict.get("seed", self.seed)
        self.draws = state_dict.get("draws", 0)
        self.batches = state_dict.get("batches", 0)
        self.restored = True
        if self.train_set is not None:
            self.train_set.seed = self.seed
        crops = self.train_set
        if "draws" in state_dict and state_dict.get("images_rule", 1) != IMAGES_RULE and crops:
            if len(crops) % len(crops.images):  # where the rules differ
                warnings.warn(
                    "resuming a run saved by an older srgan, which chose the image of each "
                    "draw otherwise (its epochs kept to the folder's first images): the run "
                    "goes on with other crops, not exactly as it would have",
                    stacklevel=2,
                )
        world = self.trainer.world_size if self.trainer is not None else 1
        if state_dict.get("world", world) != world and self.train_set is not None:
            # Global batches of another size: go on from the next one of this size (every
            # process must run as many batches), or the next epoch.
            self.draws = self._whole_batch(self.draws, self.batch_size * world)
            warnings.warn(
                f"resuming on {world} processes a run saved on {state_dict['world']}: the "
                "data goes on from the next whole batch, not exactly where it stopped",
                stacklevel=2,
            )

    def _whole_batch(self, draws: int, step: int) -> int:
        """``draws`` moved on to the first draw of a whole global batch of ``step`` draws:
        the next one in its epoch, or the next epoch's first when none is left
        (``DrawSampler`` drops an epoch's rest)."""
        length = len(self.train_set)
        epoch, offset = divmod(draws, length)
        offset = -(-offset // step) * step
        if offset + step > length // step * step:
            return (epoch + 1) * length
        return epoch * length + offset

    # -- loaders -------------------------------------------------------------------------
    def train_dataloader(self) -> DataLoader:
        if self.train_set is None or self.seed is None:
            self.setup("fit")
        # Each process draws its share of every epoch; the draws a batch counts are
        # those of all the processes.
        trainer = self.trainer
        if trainer is not None and trainer.ckpt_path and not self.restored:
            # A checkpoint of an older srgan, without the data's place: placed by the
            # epochs and batches it counts (the crops differ from the run's own).
            self.restored = True
            step = self.batch_size * trainer.world_size
            epochs = trainer.fit_loop.epoch_progress.current.completed
            batches = trainer.fit_loop.epoch_loop.batch_progress.current.ready
            self.draws = epochs * len(self.train_set) + batches * step
            self.batches = trainer.fit_loop.total_batch_idx + 1
            warnings.warn(
                "the checkpoint holds no data position (written by an older srgan): the "
                "run goes on with other crops than it would have drawn",
                stacklevel=2,
            )
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=DrawSampler(
                len(self.train_set),
                seed=self.seed,
                start=lambda: self.draws,
                batch_size=self.batch_size,
                rank=trainer.global_rank if trainer is not None else 0,
                world=trainer.world_size if trainer is not None else 1,
            ),
            # Its own generator for the workers' seeds: making an iterator leaves torch's
            # global random state (what the training steps draw from) untouched.
            generator=torch.Generator().manual_seed(self.seed),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            # Pinned memory speeds up copies to a GPU; without one it only warns.
            pin_memory=torch.cuda.is_available(),
            drop_last=True,
        )

    def _whole_loader(self, dataset: WholeImages | None) -> DataLoader:
        # Whole images differ in size: one per batch. Under DDP each process scores its own
        # share, without the padding duplicates of Lightning's default sampler, so the
        # metrics (sum/count, reduced over processes) are the exact mean over the images.
        # (With fewer images than processes, Lightning's sampler pads: every process must
        # run at least one batch.)
        sampler = None
        trainer = self.trainer
        world = trainer.world_size if trainer is not None else 1
        if dataset is not None and 1 < world <= len(dataset):
            sampler = UnrepeatedDistributedSampler(
                dataset, num_replicas=trainer.world_size, rank=trainer.global_rank, shuffle=False
            )
        return DataLoader(
            dataset or [],
            batch_size=1,
            num_workers=0,
            collate_fn=_collate_one,
            sampler=sampler,
            generator=torch.Generator(),  # torch's global random state left as it was
        )

    def val_dataloader(self) -> DataLoader:
        return self._whole_loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        return self._whole_loader(self.test_set)

    def predict_dataloader(self) -> DataLoader:
        return self._whole_loader(self.test_set)

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        """uint8 -> float in [0, 1] on the device; training LR made here when unpaired."""
        hr = batch["hr"].float() / 255.0
        if "name" in batch:  # whole validation / test images: their LR was made once
            return {**batch, "lr": batch["lr"].float() / 255.0, "hr": hr}
        with torch.autocast(hr.device.type, enabled=False):
            if self.sharpen_targets:
                hr = usm_sharpen(hr)
            if "lr" in batch:
                lr = batch["lr"].float() / 255.0
            else:
                lr = self.degradation(hr, scale=self.scale, generator=self._random(hr.device))
        trainer = self.trainer
        step = hr.shape[0] * (trainer.world_size if trainer is not None else 1)
        self.draws += step
        if self.train_set is not None:
            self.draws = self._whole_batch(self.draws, step)
        self.batches += 1
        return {**batch, "lr": lr, "hr": hr}

    def _random(self, device: torch.device) -> torch.Generator:
        """The degradation's generator for this batch: seeded from the run's data seed,
        the batch's number and the process's rank (DDP processes draw different
        degradations)."""
        trainer = self.trainer
        rank = trainer.global_rank if trainer is not None else 0
        seed = self.seed if self.seed is not None else torch.initial_seed()
        return torch.Generator(device).manual_seed(mixed_seed(seed, self.batches, rank))


def _collate_one(samples: list[dict[str, Any]]) -> dict[str, Any]:
    sample = samples[0]
    return {"lr": sample["lr"][None], "hr": sample["hr"][None], "name": [sample["name"]]}
