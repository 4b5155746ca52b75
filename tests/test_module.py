"""The training module: its generator EMA (what every shipped model is) and exact resume."""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from PIL import Image

from srgan.data import SRDataModule
from srgan.degradations import ClassicDegradation
from srgan.discriminators import VGGStyle
from srgan.generators import CompactNet, SRResNet
from srgan.module import SRGAN
from srgan.objectives import Hinge, WassersteinGP
from srgan.weights import DEFAULT_MODEL, load_generator, load_model, save_generator
from tests.conftest import smooth_image

TRAINER_OPTIONS = {
    "accelerator": "cpu",
    "logger": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "enable_checkpointing": False,
}


def trainer(max_steps: int, *callbacks: L.Callback) -> L.Trainer:
    checkpoints = any(isinstance(c, ModelCheckpoint) for c in callbacks)
    options = {**TRAINER_OPTIONS, "enable_checkpointing": checkpoints}
    return L.Trainer(max_steps=max_steps, callbacks=list(callbacks), **options)


def tiny_data(folder: Path, **options: object) -> SRDataModule:
    options = {"num_workers": 0, **options}
    return SRDataModule(str(folder), crop_size=32, batch_size=2, val_holdout=0, **options)


def parameters(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


# -- the EMA -----------------------------------------------------------------------------
def test_ema_after_three_updates_is_the_closed_form_and_buffers_are_copied() -> None:
    decay = 0.9
    model = SRGAN(SRResNet(num_blocks=1, num_features=8), ema_decay=decay)  # BatchNorm buffers
    assert len(list(model.generator.buffers())) > 0
    start = parameters(model.generator_ema)
    targets = []
    for step in range(3):
        with torch.no_grad():
            for p in model.generator.parameters():
                p.copy_(torch.randn_like(p))
            for name, b in model.generator.named_buffers():
                b.copy_(torch.full_like(b, step + 2) if "tracked" in name else torch.rand_like(b))
        targets.append(parameters(model.generator))
        model._update_ema()
    # e_3 = d^3 e_0 + (1 - d) (d^2 p_1 + d p_2 + p_3)
    for i, ema in enumerate(model.generator_ema.parameters()):
        p1, p2, p3 = (t[i] for t in targets)
        expected = decay**3 * start[i] + (1 - decay) * (decay**2 * p1 + decay * p2 + p3)
        torch.testing.assert_close(ema, expected, rtol=1e-5, atol=1e-6)
    for (name, ema_buffer), buffer in zip(
        model.generator_ema.named_buffers(), model.generator.buffers()
    ):
        assert torch.equal(ema_buffer, buffer), name
    # The generator itself is untouched by the update.
    for p, target in zip(model.generator.parameters(), targets[-1]):
        assert torch.equal(p, target)


def gan_module(**options: object) -> SRGAN:
    return SRGAN(
        SRResNet(num_blocks=1, num_features=8),
        VGGStyle(num_features=4, normalization="batch"),
        Hinge(),
        stage="gan",
        **options,
    )


@pytest.mark.parametrize("stage", ["psnr", "gan"])
def test_training_moves_the_ema_after_every_generator_step(stage: str, image_dir: Path) -> None:
    decay = 0.75
    if stage == "psnr":
        model = SRGAN(SRResNet(num_blocks=1, num_features=8), ema_decay=decay)
    else:
        model = gan_module(ema_decay=decay, n_critic=2)
    expected = parameters(model.generator_ema)
    assert all(torch.equal(a, b) for a, b in zip(expected, model.generator.parameters()))
    previous = parameters(model.generator)
    generator_steps = []

    class Follow(L.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            nonlocal expected, previous
            now = parameters(module.generator)
            stepped = any(not torch.equal(a, b) for a, b in zip(now, previous))
            generator_steps.append(stepped)
            if stepped:
                expected = [e + (1 - decay) * (g - e) for e, g in zip(expected, now)]
                for a, b in zip(module.generator_ema.buffers(), module.generator.buffers()):
                    assert torch.equal(a, b)
            for a, b in zip(module.generator_ema.parameters(), expected):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
            previous = now

    batches = 4
    steps = batches if stage == "psnr" else batches + batches // 2
    trainer(steps, Follow()).fit(model, tiny_data(image_dir, steps_per_epoch=batches))
    # psnr: a generator step per batch; gan with n_critic 2: on batches 0 and 2 only.
    assert generator_steps == ([True] * 4 if stage == "psnr" else [True, False, True, False])
    assert any(
        not torch.allclose(a, b)
        for a, b in zip(model.generator_ema.parameters(), model.generator.parameters())
    )


def test_the_ema_is_what_runs_loads_ships_and_initialises(image_dir: Path, tmp_path: Path) -> None:
    model = SRGAN(SRResNet(num_blocks=1, num_features=8), ema_decay=0.75)
    fit = trainer(3)
    fit.fit(model, tiny_data(image_dir, steps_per_epoch=3))
    checkpoint = tmp_path / "last.ckpt"
    fit.save_checkpoint(checkpoint)
    model.eval()
    lr = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        ema_out = model.generator_ema(lr).clamp(0, 1)
        raw_out = model.generator(lr).clamp(0, 1)
        assert (ema_out - raw_out).abs().max() > 1e-4  # the two differ
        assert torch.equal(model(lr), ema_out)  # validation and predict run the EMA
    for loaded in (load_generator(checkpoint), load_model(str(checkpoint))):
        for a, b in zip(loaded.state_dict().values(), model.generator_ema.state_dict().values()):
            assert torch.equal(a, b)
    fresh = SRGAN(SRResNet(num_blocks=1, num_features=8), init_from=str(checkpoint))
    for a, b in zip(fresh.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)


def test_init_grow_starts_a_bigger_compactnet_from_a_small_ones_outputs(tmp_path: Path) -> None:
    small = CompactNet(num_features=6, num_convs=2)
    for p in small.parameters():
        p.data.uniform_(-0.3, 0.3)
    path = save_generator(small, tmp_path / "small.safetensors")
    grown = SRGAN(CompactNet(num_features=8, num_convs=4), init_from=str(path), init_grow=True)
    lr = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(grown.generator(lr), small(lr), rtol=0, atol=1e-6)
        torch.testing.assert_close(grown(lr), small(lr).clamp(0, 1), rtol=0, atol=1e-6)
    # Without init_grow: what the file holds and what the config builds, side by side.
    with pytest.raises(ValueError, match="do not fit") as refused:
        SRGAN(CompactNet(num_features=8, num_convs=4), init_from=str(path))
    assert "the file holds CompactNet(" in str(refused.value)
    assert "the config builds CompactNet(in_channels=3, out_channels=3, num_features=8" in str(
        refused.value
    )
    with pytest.raises(ValueError, match="init_grow: the generator must be a CompactNet"):
        SRGAN(SRResNet(num_blocks=1, num_features=8), init_from=str(path), init_grow=True)
    with pytest.raises(FileNotFoundError, match="init_from: .* is a folder: give a weights file"):
        SRGAN(CompactNet(num_features=8, num_convs=4), init_from=str(path.parent))


def test_init_from_takes_a_shipped_models_name(shipped_weights: Path, tmp_path: Path) -> None:
    """As srgan.upscale --model does: ``fast`` is the installed fast.safetensors (a file of
    that name in the working directory would come first)."""
    for name, file in (("fast", "fast"), ("default", DEFAULT_MODEL)):
        shipped = load_generator(shipped_weights / f"{file}.safetensors")
        model = SRGAN(CompactNet(num_features=4, num_convs=1), init_from=name)
        for a, b in zip(model.generator_ema.state_dict().values(), shipped.state_dict().values()):
            assert torch.equal(a, b)
    with pytest.raises(FileNotFoundError, match="init_from: file not found: fast-typo"):
        SRGAN(CompactNet(num_features=4, num_convs=1), init_from="fast-typo")


# -- resume ------------------------------------------------------------------------------
def resumable_gan() -> SRGAN:
    torch.manual_seed(0)
    return SRGAN(
        SRResNet(num_blocks=1, num_features=8),
        VGGStyle(num_features=4, normalization="none"),
        WassersteinGP(),  # its penalty draws mixing weights from torch's random state
        stage="gan",
        n_critic=2,
        ema_decay=0.75,
        generator_optimizer=lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.9, 0.99)),
        discriminator_optimizer=lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.5, 0.9)),
        # Milestones inside the run, so that a schedule restarted from zero would show.
        generator_scheduler=lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [1], gamma=0.5),
        # Both schedules advance once per generator step (batches 0 and 2): the
        # discriminator's milestone falls in the second half.
        discriminator_scheduler=lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [2], gamma=0.1),
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[L.Trainer, SRGAN]]:
    """One GAN run of 4 batches, and the same run resumed halfway in the two ways there are.

    With n_critic 2 the generator steps on batches 0 and 2 and the discriminator on all
    four: 6 optimizer steps (Lightning's global_step counts both). Epochs have 3 batches,
    so halfway (step 3) is mid-epoch. Every random source is on: the sampler's order, the
    crops and flips of two images, the degradation's blur, noise and JPEG, and the
    gradient penalty's draws from torch's random state; CPU deterministic algorithms make
    the arithmetic repeatable.
    """
    folder = tmp_path_factory.mktemp("two")
    for seed in (0, 1):
        image = smooth_image(np.random.default_rng(seed), 48, 40)
        Image.fromarray(image).save(folder / f"{seed}.png")
    saves = tmp_path_factory.mktemp("checkpoints")

    def data() -> SRDataModule:
        return tiny_data(folder, steps_per_epoch=3, degradation=ClassicDegradation())

    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        # Uninterrupted, leaving a checkpoint at step 3 as a run killed there would.
        full = resumable_gan()
        scheduled = ModelCheckpoint(dirpath=saves, every_n_train_steps=3, save_top_k=-1)
        full_trainer = trainer(6, scheduled)
        full_trainer.fit(full, data())
        # Interrupted at step 3, resumed from that checkpoint.
        interrupted = resumable_gan()
        interrupted_trainer = trainer(6)
        with warnings.catch_warnings():
            # Lightning asks for the checkpoint callback back; this run saves nothing more.
            warnings.filterwarnings("ignore", "Be aware that when using `ckpt_path`")
            interrupted_trainer.fit(interrupted, data(), ckpt_path=saves / "epoch=0-step=3.ckpt")
        # Run to max_steps 3, saved at its end, then extended to 6.
        half = resumable_gan()
        half_trainer = trainer(3)
        half_trainer.fit(half, data())
        half_trainer.save_checkpoint(saves / "half.ckpt")
        extended = resumable_gan()
        extended_trainer = trainer(6)
        extended_trainer.fit(extended, data(), ckpt_path=saves / "half.ckpt")
    finally:
        torch.use_deterministic_algorithms(before)
    return {
        "full": (full_trainer, full),
        "half": (half_trainer, half),
        "interrupted": (interrupted_trainer, interrupted),
        "extended": (extended_trainer, extended),
    }


@pytest.mark.parametrize("resume", ["interrupted", "extended"])
def test_resume_is_exact(runs: dict[str, tuple[L.Trainer, SRGAN]], resume: str) -> None:
    full_trainer, full = runs["full"]
    resumed_trainer, resumed = runs[resume]
    # Generator, EMA and discriminator, BatchNorm statistics included: bit for bit.
    final = full.state_dict()
    for key, value in resumed.state_dict().items():
        assert torch.equal(value, final[key]), key
    halfway = runs["half"][1].state_dict()
    assert any(not torch.equal(v, halfway[k]) for k, v in final.items())  # it did go on
    # Both optimizers' moments and step counts, and both learning-rate schedules.
    for ours, theirs in zip(resumed_trainer.optimizers, full_trainer.optimizers):
        a, b = ours.state_dict(), theirs.state_dict()
        assert [g["lr"] for g in a["param_groups"]] == [g["lr"] for g in b["param_groups"]]
        for index, state in b["state"].items():
            for name, tensor in state.items():
                assert torch.equal(a["state"][index][name], tensor), (index, name)
    assert [g["lr"] for o in resumed_trainer.optimizers for g in o.param_groups] == [5e-4, 1e-4]
    for ours, theirs in zip(
        resumed_trainer.lr_scheduler_configs, full_trainer.lr_scheduler_configs
    ):
        assert ours.scheduler.state_dict() == theirs.scheduler.state_dict()
    # The counters that schedule the steps (n_critic's phase follows total_batch_idx).
    assert resumed_trainer.global_step == full_trainer.global_step == 6
    assert resumed_trainer.fit_loop.total_batch_idx == full_trainer.fit_loop.total_batch_idx
    # The counter the logged ``step`` column comes from (Lightning's batches that stepped).
    ours_b = resumed_trainer.fit_loop.epoch_loop._batches_that_stepped
    theirs_b = full_trainer.fit_loop.epoch_loop._batches_that_stepped
    assert ours_b == theirs_b, (ours_b, theirs_b)


@pytest.mark.parametrize("resume", ["interrupted", "extended"])
def test_resume_keeps_the_epoch_count(
    runs: dict[str, tuple[L.Trainer, SRGAN]], resume: str
) -> None:
    assert runs[resume][0].current_epoch == runs["full"][0].current_epoch


@pytest.mark.parametrize("saved", ["last", "best"])
def test_a_resumed_run_logs_the_steps_the_uninterrupted_one_does(
    image_dir: Path, tmp_path: Path, saved: str
) -> None:
    """Resumed from srgan's final last.ckpt or a monitored best (saved at the end of
    training or of validation), the logged step goes on from the batches done: Lightning
    alone counted the saved batch again, one step ahead per resume."""
    import csv

    from srgan.callbacks import ModelCheckpoint as SavesLast

    def run(max_steps: int, name: str, checkpoint: Path | None = None) -> list[tuple[int, str]]:
        torch.manual_seed(0)
        logger = L.pytorch.loggers.CSVLogger(tmp_path, name=name)
        saves = SavesLast(
            dirpath=tmp_path / name, save_last=True, monitor="val/psnr", save_top_k=-1
        )
        options = {**TRAINER_OPTIONS, "logger": logger, "enable_checkpointing": True}
        fit = L.Trainer(max_steps=max_steps, callbacks=[saves], **options)
        data = SRDataModule(
            str(image_dir),
            crop_size=32,
            batch_size=2,
            val_holdout=1,
            steps_per_epoch=1,
            num_workers=0,
        )
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            fit.fit(SRGAN(CompactNet(num_features=4, num_convs=1)), data, ckpt_path=checkpoint)
        # Resumed at an epoch's end, no ranked save is attempted before validation logs.
        assert not [w for w in seen if "could not find the monitored key" in str(w.message)]
        with open(Path(logger.log_dir) / "metrics.csv") as file:
            return [
                (int(r["step"]), k)
                for r in csv.DictReader(file)
                for k, v in r.items()
                if v and k not in ("step", "epoch")
            ]

    full = run(3, "full")
    first = run(2, "first")
    checkpoint = tmp_path / "first" / ("last.ckpt" if saved == "last" else "epoch=1-step=2.ckpt")
    assert first + run(3, "resumed", checkpoint) == full
    assert (tmp_path / "resumed" / "epoch=2-step=3.ckpt").is_file()  # ranked saves go on


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "2-workers"])
@pytest.mark.parametrize("steps_per_epoch", [3, 2], ids=["mid-epoch", "epoch-boundary"])
def test_data_order_resumes(
    image_dir: Path, tmp_path: Path, steps_per_epoch: int, workers: int
) -> None:
    """Loader workers begin an iteration as soon as it is made, and at an epoch boundary
    Lightning makes one it does not use: the data still goes on where it stopped."""

    def run(max_steps: int, checkpoint: Path | None = None) -> tuple[L.Trainer, list[float]]:
        seen: list[float] = []

        class Record(L.Callback):
            def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
                seen.append(float(batch["hr"].sum()))

        torch.manual_seed(0)  # as each run of srgan.fit does (seed_everything)
        model = SRGAN(CompactNet(num_features=4, num_convs=1))
        fit = trainer(max_steps, Record())
        data = tiny_data(image_dir, steps_per_epoch=steps_per_epoch, num_workers=workers)
        fit.fit(model, data, ckpt_path=checkpoint)
        return fit, seen

    _, uninterrupted = run(4)
    first, before = run(2)
    first.save_checkpoint(tmp_path / "half.ckpt")
    _, after = run(4, tmp_path / "half.ckpt")
    assert before + after == uninterrupted


def test_a_checkpoints_random_state_is_restored_only_when_resuming(
    image_dir: Path, tmp_path: Path
) -> None:
    from srgan.module import RANDOM_STATE_KEY

    torch.manual_seed(0)
    first = trainer(2)
    first.fit(SRGAN(CompactNet(num_features=4, num_convs=1)), tiny_data(image_dir))
    first.save_checkpoint(tmp_path / "a.ckpt")
    checkpoint = torch.load(tmp_path / "a.ckpt", weights_only=True)
    saved = checkpoint[RANDOM_STATE_KEY]["cpu"]
    seen: list[torch.Tensor] = []

    class Look(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
            seen.append(torch.get_rng_state())

    loaded = SRGAN(CompactNet(num_features=4, num_convs=1))
    loaded.on_load_checkpoint(checkpoint)  # as SRGAN.load_from_checkpoint does
    torch.manual_seed(1)
    trainer(1, Look()).fit(loaded, tiny_data(image_dir))  # a fresh fit: its own seed
    assert not torch.equal(seen[0], saved)
    seen.clear()
    torch.manual_seed(1)
    resumed = SRGAN(CompactNet(num_features=4, num_convs=1))
    trainer(3, Look()).fit(resumed, tiny_data(image_dir), ckpt_path=tmp_path / "a.ckpt")
    assert torch.equal(seen[0], saved)


def test_a_checkpoint_without_the_data_position_goes_on_from_its_step(
    image_dir: Path, tmp_path: Path
) -> None:
    """An older srgan's checkpoint (no data module state): a warning, and the data goes on
    from where its epoch and batch counts say, not from the first draw."""
    torch.manual_seed(0)
    first = trainer(2)
    first.fit(SRGAN(CompactNet(num_features=4, num_convs=1)), tiny_data(image_dir))
    first.save_checkpoint(tmp_path / "a.ckpt")
    checkpoint = torch.load(tmp_path / "a.ckpt", weights_only=True)
    del checkpoint["SRDataModule"]
    torch.save(checkpoint, tmp_path / "old.ckpt")
    data = tiny_data(image_dir)
    with pytest.warns(UserWarning, match="holds no data position"):
        trainer(3).fit(
            SRGAN(CompactNet(num_features=4, num_convs=1)), data, ckpt_path=tmp_path / "old.ckpt"
        )
    # Not from the first draw: Lightning counts the epoch a max_steps stop cut short as
    # done (epochs of 1000 batches of 2), so the data goes on in the next epoch.
    assert data.draws > 2000 and data.batches == 3


def test_a_gan_start_whose_discriminator_differs_names_the_discriminator(
    tmp_path: Path,
) -> None:
    from safetensors.torch import save_file

    from srgan.discriminators import UNet

    trained = SRGAN(CompactNet(num_features=8, num_convs=1), VGGStyle(num_features=4), Hinge())
    state = {k: v.contiguous() for k, v in trained.state_dict().items()}
    save_file(state, str(tmp_path / "gan.safetensors"))
    with pytest.raises(ValueError, match="model.init_from: its discriminator: .*builds UNet"):
        SRGAN(
            CompactNet(num_features=8, num_convs=1),
            UNet(num_features=4),
            Hinge(),
            init_from=str(tmp_path / "gan.safetensors"),
        )


def test_settings_that_would_train_wrongly_are_refused_or_warned() -> None:
    generator = CompactNet(num_features=8, num_convs=1)
    for decay in (-0.1, 1.0, 1.5):  # at 1 it never moves, above 1 it extrapolates
        with pytest.raises(ValueError, match="ema_decay must be in \\[0, 1\\)"):
            SRGAN(generator, ema_decay=decay)
    # A gradient penalty is per sample: a batch-norm critic mixes the samples.
    with pytest.warns(UserWarning, match="WassersteinGP penalizes the gradient sample by sample"):
        SRGAN(generator, VGGStyle(num_features=4), WassersteinGP(), stage="gan")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SRGAN(
            generator, VGGStyle(num_features=4, normalization="none"), WassersteinGP(), stage="gan"
        )
        SRGAN(generator, VGGStyle(num_features=4), Hinge(), stage="gan")


def test_a_discriminator_or_objective_in_the_psnr_stage_is_said_to_be_unused() -> None:
    generator = CompactNet(num_features=8, num_convs=1)
    for extra in ({"objective": Hinge()}, {"discriminator": VGGStyle(num_features=4)}):
        with pytest.warns(UserWarning, match="stage 'psnr' trains the generator alone"):
            SRGAN(generator, stage="psnr", **extra)
    # So are the GAN stage's settings when changed from their defaults.
    for setting in ({"adversarial_weight": 0.1}, {"feature_matching_weight": 1.0}):
        (name,) = setting
        with pytest.warns(UserWarning, match=f"no adversarial term: model.{name} not used"):
            SRGAN(generator, stage="psnr", **setting)
    with pytest.warns(UserWarning, match="model.feature_matching_weight, model.n_critic not"):
        SRGAN(generator, stage="psnr", feature_matching_weight=1.0, n_critic=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SRGAN(generator, stage="psnr")
        SRGAN(generator, VGGStyle(num_features=4), Hinge(), stage="gan")
        SRGAN(generator, VGGStyle(num_features=4), Hinge(), stage="gan", n_critic=2)


def test_a_gan_stage_from_untrained_weights_is_warned_unless_resumed_or_initialised(
    tmp_path: Path,
) -> None:
    from types import SimpleNamespace

    def fit_start(model: SRGAN, ckpt_path: str | None) -> None:
        model.trainer = SimpleNamespace(ckpt_path=ckpt_path)
        model.on_fit_start()

    generator = CompactNet(num_features=8, num_convs=1)
    parts = (VGGStyle(num_features=4), Hinge())
    with pytest.warns(UserWarning, match="stage 'gan' starts from the generator as built"):
        fit_start(SRGAN(generator, *parts, stage="gan"), None)
    save_generator(generator, tmp_path / "psnr.safetensors")
    initialised = SRGAN(
        generator, *parts, stage="gan", init_from=str(tmp_path / "psnr.safetensors")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_start(initialised, None)
        fit_start(SRGAN(generator, *parts, stage="gan"), str(tmp_path / "last.ckpt"))
        fit_start(SRGAN(generator), None)  # the psnr stage trains from scratch


def test_ema_warmup_leaves_under_one_percent_of_the_start_after_three_updates() -> None:
    from types import SimpleNamespace

    model = SRGAN(CompactNet(num_features=4, num_convs=1), ema_decay=0.999, ema_warmup=True)
    with torch.no_grad():
        for p in model.generator_ema.parameters():
            p.fill_(1.0)  # the starting weights
        for p in model.generator.parameters():
            p.fill_(0.0)  # what training moved to
    decays = []
    for updates in range(3):
        model._trainer = SimpleNamespace(fit_loop=SimpleNamespace(total_batch_idx=updates))
        decays.append(model.ema_decay_now())
        model._update_ema()
    assert decays == pytest.approx([1 / 10, 2 / 11, 3 / 12])
    share = decays[0] * decays[1] * decays[2]
    assert share < 0.01
    for ema in model.generator_ema.parameters():
        torch.testing.assert_close(ema, torch.full_like(ema, share))
    model._trainer = SimpleNamespace(fit_loop=SimpleNamespace(total_batch_idx=10**6))
    assert model.ema_decay_now() == 0.999  # the ramp ends at the configured decay
    model._trainer = None


@pytest.mark.parametrize("n_critic", [1, 2])
def test_the_adversarial_share_of_the_generators_gradient_is_logged(
    tmp_path: Path, n_critic: int
) -> None:
    folder = tmp_path / "one"
    folder.mkdir()
    Image.fromarray(smooth_image(np.random.default_rng(0), 48, 48)).save(folder / "a.png")
    model = gan_module(log_adversarial_share=True, n_critic=n_critic)
    shares: list[float] = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            value = trainer.callback_metrics.get("train/g_adv_share")
            if value is not None:
                shares.append(float(value))

    run = trainer(8, Record())
    run.log_every_n_steps = 2  # a multiple of n_critic: logging and generator batches differ
    run.fit(model, tiny_data(folder, steps_per_epoch=2))
    assert shares and all(0 < s < 1 for s in shares)


@pytest.mark.usefixtures("random_backbones")
def test_psnr_stage_adds_the_perceptual_loss_when_weighted(image_dir: Path) -> None:
    from srgan.losses import PerceptualLoss

    def one_step(weight: float) -> tuple[SRGAN, L.Trainer]:
        torch.manual_seed(0)
        model = SRGAN(
            CompactNet(num_features=8, num_convs=2),
            perceptual_loss=PerceptualLoss(layer_weights={"conv1_2": 1.0}),
            perceptual_weight=weight,
        )
        fit = trainer(1)
        fit.fit(model, tiny_data(image_dir, steps_per_epoch=1))
        return model, fit

    with_vgg, fit = one_step(1.0)
    assert fit.callback_metrics["train/g_perceptual"] > 0
    without, fit = one_step(0.0)
    assert "train/g_perceptual" not in fit.callback_metrics
    # The same start and batch: only the perceptual gradient tells the two steps apart.
    assert any(
        not torch.equal(a, b)
        for a, b in zip(with_vgg.generator.parameters(), without.generator.parameters())
    )


def test_gradient_clipping_limits_the_true_gradients_under_fp16_loss_scaling(
    image_dir: Path,
) -> None:
    # fp16 mixed precision scales the loss (by 65536 at first) and Lightning unscales the
    # gradients only inside optimizer.step: clipping before it limited the scaled ones.
    from lightning.pytorch.plugins import MixedPrecision

    stepped: list[float] = []

    class Recording(torch.optim.SGD):
        def step(self, closure=None):  # the norm of the gradients the update uses
            if closure is not None:
                closure()  # backward hooks, clipping
            params = [p for group in self.param_groups for p in group["params"]]
            stepped.append(float(torch.nn.utils.get_total_norm([p.grad for p in params])))
            return super().step()

    def first_step(clip: float | None, fp16: bool) -> tuple[float, float]:
        torch.manual_seed(0)
        stepped.clear()
        model = SRGAN(
            CompactNet(num_features=8, num_convs=2),
            gradient_clip=clip,
            generator_optimizer=lambda params: Recording(params, lr=1e-3),
        )
        run = trainer(1)
        if fp16:
            scaler = torch.amp.GradScaler("cpu")
            plugin = MixedPrecision("16-mixed", "cpu", scaler=scaler)
            run = L.Trainer(**{**TRAINER_OPTIONS, "max_steps": 1}, plugins=[plugin])
        logged: list[float] = []

        class Log(L.Callback):
            def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
                logged.append(float(trainer.callback_metrics["train/g_grad_norm"]))

        run.callbacks.append(Log())
        run.fit(model, tiny_data(image_dir, steps_per_epoch=1))
        return stepped[0], logged[0]

    true_norm, logged = first_step(None, fp16=False)
    assert logged == pytest.approx(true_norm)
    # A limit above the norm changes nothing, in fp16 too; one below it is the step's norm.
    for fp16 in (False, True):
        norm, logged = first_step(2 * true_norm, fp16)
        assert norm == pytest.approx(true_norm, rel=0.05) and logged == pytest.approx(norm)
        norm, logged = first_step(true_norm / 2, fp16)
        assert norm == pytest.approx(true_norm / 2, rel=1e-3)
        assert logged == pytest.approx(true_norm, rel=0.05)  # before clipping, as logged


def test_the_gan_stage_hands_the_fp16_loss_scaler_to_the_gradient_penalty(
    image_dir: Path,
) -> None:
    from lightning.pytorch.plugins import MixedPrecision

    seen: list[object] = []

    class Seen(WassersteinGP):
        def penalty(self, discriminator, real, fake, *, grad_scaler=None):
            seen.append(grad_scaler)
            return super().penalty(discriminator, real, fake, grad_scaler=grad_scaler)

    scaler = torch.amp.GradScaler("cpu")
    for plugins in ([], [MixedPrecision("16-mixed", "cpu", scaler=scaler)]):
        seen.clear()
        critic = VGGStyle(num_features=4, normalization="none")
        model = SRGAN(CompactNet(num_features=8, num_convs=1), critic, Seen(), stage="gan")
        run = L.Trainer(**{**TRAINER_OPTIONS, "max_steps": 1}, plugins=plugins)
        run.fit(model, tiny_data(image_dir, steps_per_epoch=1))
        assert seen and all(s is (scaler if plugins else None) for s in seen)


def test_parts_given_as_names_are_refused_in_one_line() -> None:
    generator, critic = CompactNet(num_features=4, num_convs=1), VGGStyle(num_features=4)
    with pytest.raises(TypeError, match="objective must be an instance such as srgan.Hinge"):
        SRGAN(generator, critic, "Hinge", stage="gan")
    with pytest.raises(TypeError, match="generator must be an instance such as"):
        SRGAN("CompactNet")


def test_generator_steps_follow_the_gan_stage_schedule() -> None:
    from srgan.module import generator_steps

    for n_critic in (1, 2, 5):
        steps = generator = 0
        counted = {}
        for batch in range(40):  # the training step's rule: both on every n_critic-th batch
            turn = batch % n_critic == 0
            steps, generator = steps + 1 + turn, generator + turn
            counted[steps] = generator
            if turn:  # Lightning stops once max_steps is reached: mid-batch too
                counted.setdefault(steps - 1, generator)
        for max_steps, expected in counted.items():
            if max_steps > 0:
                assert generator_steps(max_steps, n_critic) == expected, (max_steps, n_critic)


def test_a_monitored_checkpoint_without_validation_still_warns(image_dir: Path) -> None:
    from srgan.callbacks import ModelCheckpoint as SavesLast

    saves = SavesLast(monitor="val/psnr", save_on_train_epoch_end=True)
    options = {**TRAINER_OPTIONS, "enable_checkpointing": True, "limit_val_batches": 0}
    fit = L.Trainer(max_steps=1, callbacks=[saves], default_root_dir=image_dir.parent, **options)
    data = tiny_data(image_dir, steps_per_epoch=1)
    with pytest.warns(UserWarning, match="could not find the monitored key"):
        fit.fit(SRGAN(CompactNet(num_features=4, num_convs=1)), data)


def test_a_checkpoint_that_does_not_fit_says_what_it_holds(image_dir: Path, tmp_path: Path) -> None:
    fit = trainer(1)
    fit.fit(SRGAN(CompactNet(num_features=4, num_convs=1)), tiny_data(image_dir))
    fit.save_checkpoint(tmp_path / "x4.ckpt")
    with pytest.raises(ValueError, match="do not fit") as refused:
        SRGAN(CompactNet(num_features=4, num_convs=1, scale=2), init_from=str(tmp_path / "x4.ckpt"))
    assert "the file holds CompactNet(" in str(refused.value)
    assert "scale=4" in str(refused.value) and "the config builds CompactNet(" in str(refused.value)
