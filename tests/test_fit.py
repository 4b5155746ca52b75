"""The training module and the ``srgan.fit`` CLI, end to end on tiny networks and images."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml

from benchmarks.release.plan import main as release_main
from srgan.data import SRDataModule
from srgan.discriminators import VGGStyle
from srgan.fit import find_folder, find_unused_parameters_in_gan_stage, main
from srgan.generators import CompactNet, RRDBNet
from srgan.module import SRGAN
from srgan.objectives import Hinge
from srgan.weights import load_generator
from tests.conftest import require_assets

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
OBJECTIVES = sorted((CONFIGS / "objective").glob("*.yaml"))
ABLATION = sorted((CONFIGS / "ablation").glob("*.yaml"))
# Whole configs (fragments aside): the top level, the release recipes and the experiments.
EVERY_CONFIG = sorted(CONFIGS.glob("*.yaml")) + sorted(
    [*CONFIGS.glob("release/*.yaml"), *CONFIGS.glob("experiments/*.yaml")]
)


def quiet_trainer(**options: object) -> L.Trainer:
    """A CPU trainer that writes nothing (no logs, checkpoints, bars or summary)."""
    return L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **options,
    )


def data_args(image_dir: Path, tmp_path: Path) -> list[str]:
    return [
        f"--data.train_dir={image_dir}",
        "--data.val_holdout=1",
        "--data.num_workers=0",
        f"--trainer.default_root_dir={tmp_path / 'runs'}",
        "--trainer.enable_progress_bar=false",
        "--trainer.accelerator=cpu",
    ]


@pytest.mark.parametrize(
    "config",
    EVERY_CONFIG,
    ids=lambda p: p.stem,
)
def test_every_config_instantiates(config: Path, image_dir: Path, tmp_path: Path) -> None:
    cli = main(["--config", str(config), *data_args(image_dir, tmp_path)], run=False)
    assert isinstance(cli.model, SRGAN)
    assert cli.model.generator.scale == cli.datamodule.scale


@pytest.mark.parametrize(
    "config", ["esrgan_x4.yaml", "release/gan_x4.yaml", "release/gan_fast_x4_cpu.yaml"]
)
def test_gan_configs_use_esrgans_content_loss(config: str, image_dir: Path, tmp_path: Path) -> None:
    args = ["--config", str(CONFIGS / config), *data_args(image_dir, tmp_path)]
    model = main(args, run=False).model
    hp = model.hparams
    assert (hp.pixel_weight, hp.perceptual_weight, hp.adversarial_weight) == (1e-2, 1.0, 5e-3)
    assert hp.feature_matching_weight == 0
    loss = model.perceptual_loss
    assert loss.network == "vgg16" and loss.layer_weights == {"conv5_3": 1.0}
    # ESRGAN's own VGG19 is one flag away, and its default layer follows (conv5_4).
    vgg19 = main([*args, "--model.perceptual_loss.init_args.network=vgg19"], run=False)
    assert vgg19.model.perceptual_loss.layer_weights == {"conv5_4": 1.0}
    # Feature matching stays available.
    flags = ["--model.perceptual_weight=0", "--model.feature_matching_weight=1"]
    assert main([*args, *flags], run=False).model.hparams.feature_matching_weight == 1


def test_one_objective_file_per_objective_class() -> None:
    from srgan import objectives

    classes = {
        name
        for name, value in vars(objectives).items()
        if isinstance(value, type)
        and issubclass(value, objectives.AdversarialObjective)
        and value is not objectives.AdversarialObjective
    }
    named = [
        yaml.safe_load(f.read_text())["model"]["objective"]["class_path"].rsplit(".", 1)[1]
        for f in OBJECTIVES
    ]
    assert sorted(named) == sorted(classes)


@pytest.mark.parametrize("fragment", OBJECTIVES + ABLATION, ids=lambda p: p.stem)
def test_every_objective_fragment_instantiates_on_the_esrgan_config(
    fragment: Path, image_dir: Path, tmp_path: Path
) -> None:
    cli = main(
        [
            "--config",
            str(CONFIGS / "esrgan_x4.yaml"),
            "--config",
            str(fragment),
            *data_args(image_dir, tmp_path),
        ],
        run=False,
    )
    model = yaml.safe_load(fragment.read_text())["model"]
    if "objective" in model:
        expected = model["objective"]["class_path"].rsplit(".", 1)[1]
        assert type(cli.model.objective).__name__ == expected
    if "adversarial_weight" in model:  # a weight point of the factorial
        assert cli.model.hparams.adversarial_weight == model["adversarial_weight"]


@pytest.mark.parametrize("fragment", OBJECTIVES, ids=lambda p: p.stem)
def test_fast_dev_run_for_every_objective(fragment: Path, image_dir: Path, tmp_path: Path) -> None:
    require_assets("vgg16")  # debug_gan.yaml's perceptual loss
    cli = main(
        [
            "fit",
            "--config",
            str(CONFIGS / "debug_gan.yaml"),
            "--config",
            str(fragment),
            *data_args(image_dir, tmp_path),
            "--data.crop_size=32",
            "--trainer.fast_dev_run=2",
        ]
    )
    # fast_dev_run=2 caps the optimizer steps at 2: one generator and one discriminator step.
    assert cli.trainer.global_step == 2
    metrics = cli.trainer.callback_metrics
    assert torch.isfinite(metrics["train/d_loss"])
    assert metrics["train/g_perceptual"] > 0 and "train/g_feature_matching" not in metrics


def test_objective_is_one_flag(image_dir: Path, tmp_path: Path) -> None:
    cli = main(
        [
            "--config",
            str(CONFIGS / "debug_gan.yaml"),
            *data_args(image_dir, tmp_path),
            "--model.objective=MaxSurprise",
            "--model.objective.tau=0.5",
        ],
        run=False,
    )
    assert type(cli.model.objective).__name__ == "MaxSurprise" and cli.model.objective.tau == 0.5


def test_a_max_steps_that_gives_fewer_generator_steps_under_n_critic_is_said(
    image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_assets("vgg16")  # debug_gan.yaml's perceptual loss
    main(
        ["fit", "--config", str(CONFIGS / "debug_gan.yaml")]
        + ["--config", str(CONFIGS / "objective" / "wgan_gp.yaml")]
        + [*data_args(image_dir, tmp_path), "--trainer.max_steps=14"]
    )
    err = capsys.readouterr().err
    # Batches 0 and 6 step both networks (4 steps), batches 1-5 and 7-8 the critic alone:
    # 14 steps end on batch 8, after 3 generator steps (n_critic 1: 7 batches, 7 of them).
    assert "with n_critic 5 that is 3 generator steps (with n_critic 1, 7)" in err
    assert "give --trainer.max_steps 42" in err


def test_debug_config_leaves_a_checkpoint_that_loads_safely(
    image_dir: Path, tmp_path: Path
) -> None:
    cli = main(
        [
            "fit",
            "--config",
            str(CONFIGS / "debug.yaml"),
            *data_args(image_dir, tmp_path),
            "--trainer.max_steps=13",
        ]
    )
    # debug.yaml saves every 10 steps: 13 ends between scheduled saves (and mid-epoch),
    # where Lightning's own ModelCheckpoint would leave step 10 in last.ckpt.
    last = Path(cli.trainer.checkpoint_callback.last_model_path)
    assert sorted(p.name for p in last.parent.iterdir()) == ["epoch=0-step=10.ckpt", "last.ckpt"]
    checkpoint = torch.load(last, weights_only=True, map_location="cpu")
    assert checkpoint["global_step"] == 13
    assert "generator_ema.body.0.weight" in checkpoint["state_dict"]
    generator = load_generator(last)
    assert isinstance(generator, CompactNet) and generator(torch.rand(1, 3, 8, 8)).shape == (
        1,
        3,
        32,
        32,
    )
    assert (Path(cli.trainer.log_dir) / "config.yaml").is_file()

    # The release script's conversion to the shipped format keeps the EMA weights exactly.
    run = last.relative_to(tmp_path).parts[0]
    release_main(
        ["--data", "T91", "--runs", str(tmp_path), "--export-only", run, "--name", "fast"]
        + ["--out", str(tmp_path / "weights")]
    )
    shipped = load_generator(tmp_path / "weights" / "fast.safetensors")
    x = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(shipped(x), generator(x), rtol=0, atol=1e-6)
    # --data is only recorded there: not needed to export.
    release_main(["--runs", str(tmp_path), "--export-only", run, "--out", str(tmp_path / "w2")])
    assert (tmp_path / "w2" / f"{run}.safetensors").is_file()
    with pytest.raises(SystemExit):  # but to train
        release_main(["--runs", str(tmp_path)])


def test_checkpointing_turned_off_takes_the_configs_model_checkpoint_with_it(
    image_dir: Path, tmp_path: Path
) -> None:
    """Every config saves with a ModelCheckpoint callback, which Lightning refuses beside
    --trainer.enable_checkpointing=false (a timing run's option)."""
    cli = main(
        ["fit", "--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)]
        + ["--trainer.max_steps=2", "--trainer.enable_checkpointing=false"]
    )
    assert cli.trainer.checkpoint_callbacks == [] and cli.trainer.global_step == 2
    assert not list(tmp_path.rglob("*.ckpt"))
    # A config may give one callback, not a list of them.
    one = tmp_path / "one.yaml"
    one.write_text(
        "trainer:\n  callbacks:\n    class_path: srgan.callbacks.ModelCheckpoint\n"
        "    init_args:\n      save_last: true\n"
    )
    cli = main(
        ["fit", "--config", str(CONFIGS / "debug.yaml"), "--config", str(one)]
        + [*data_args(image_dir, tmp_path), "--trainer.max_steps=1"]
        + ["--trainer.enable_checkpointing=false"]
    )
    assert cli.trainer.checkpoint_callbacks == [] and not list(tmp_path.rglob("*.ckpt"))


def test_realistic_degradation_is_one_flag(image_dir: Path, tmp_path: Path) -> None:
    args = ["fit", "--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)]
    args += ["--data.degradation=RealisticDegradation", "--data.sharpen_targets=true"]
    args += ["--data.degradation.init_args.second.jpeg_quality=[50, 90]"]
    args += ["--data.val_degradation=medium", "--trainer.max_steps=3"]
    cli = main(args)
    degradation = cli.datamodule.degradation
    assert type(degradation).__name__ == "RealisticDegradation"
    assert degradation.second.jpeg_quality == (50, 90)
    assert degradation.second.blur_sigma == (0.2, 1.5)  # the rest of the second order kept
    assert cli.trainer.global_step == 3 and cli.datamodule.val_degradation == "medium"
    assert torch.isfinite(cli.trainer.callback_metrics["train/g_pixel"])
    default = main(args[1:3] + data_args(image_dir, tmp_path), run=False).datamodule
    assert type(default.degradation).__name__ == "Bicubic"
    assert default.val_degradation == "bicubic" and not default.sharpen_targets


def test_validate_first_logs_the_starting_point_at_step_0(
    image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["fit", "--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)]
    args += ["--trainer.max_steps=3", "--trainer.logger=CSVLogger"]
    args += [f"--trainer.logger.save_dir={tmp_path / 'logs'}", "--validate_first=true"]
    cli = main(args)
    rows = (Path(cli.trainer.logger.log_dir) / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    first = dict(zip(header, rows[1].split(",")))
    assert first["step"] == "0" and float(first["val/psnr"]) > 0
    # Said on the console too (where a fine-tune starts is what the option is for).
    said = f"validation before training (step 0): val/psnr={float(first['val/psnr']):.4g}"
    assert said in capsys.readouterr().err
    assert cli.trainer.global_step == 3
    # The extra pass leaves training as it was: same seed, same weights after 3 steps.
    plain = main([a for a in args if a != "--validate_first=true"])
    for a, b in zip(cli.model.generator.parameters(), plain.model.generator.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_validate_first_then_the_runs_own_validations(image_dir: Path, tmp_path: Path) -> None:
    """The extra pass runs in inference mode, the fit's validations do not: the metrics'
    states made in the first must not break the others (the GPU GAN recipe's case)."""
    args = ["fit", "--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)]
    args += ["--trainer.max_steps=4", "--data.steps_per_epoch=2", "--validate_first=true"]
    args += ["--trainer.logger=CSVLogger", f"--trainer.logger.save_dir={tmp_path / 'logs'}"]
    cli = main(args)
    rows = (Path(cli.trainer.logger.log_dir) / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    steps = [
        r.split(",")[header.index("step")]
        for r in rows[1:]
        if r.split(",")[header.index("val/psnr")]
    ]
    assert steps == ["0", "1", "3"]  # the first pass, then after each epoch of 2 steps


def test_link_mode_points_last_at_the_final_step(image_dir: Path, tmp_path: Path) -> None:
    args = ["--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)]
    cli = main([*args, "--trainer.max_steps=13"], run=False)
    cli.trainer.checkpoint_callback.save_last = "link"
    cli.trainer.fit(cli.model, cli.datamodule)
    last = Path(cli.trainer.checkpoint_callback.last_model_path)
    assert last.is_symlink()
    assert torch.load(last, weights_only=True, map_location="cpu")["global_step"] == 13
    assert (last.parent / "epoch=0-step=10.ckpt").is_file()  # the scheduled save is kept


def test_resume_continues_step_count_and_both_optimizers(image_dir: Path, tmp_path: Path) -> None:
    require_assets("vgg16")  # debug_gan.yaml's perceptual loss
    args = [
        "--config",
        str(CONFIGS / "debug_gan.yaml"),
        *data_args(image_dir, tmp_path),
        "--data.crop_size=32",
    ]
    first = main(["fit", *args, "--trainer.max_steps=4"])
    last = first.trainer.checkpoint_callback.last_model_path
    saved = torch.load(last, weights_only=True, map_location="cpu")
    assert saved["global_step"] == 4 and len(saved["optimizer_states"]) == 2

    started_at: list[int] = []

    class Record(L.Callback):
        def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
            started_at.append(trainer.global_step)
            opt_g, opt_d = module.optimizers()
            assert opt_g.optimizer.state and opt_d.optimizer.state  # Adam moments restored

    second = main([*args, "--trainer.max_steps=8"], run=False)
    second.trainer.callbacks.append(Record())
    second.trainer.fit(second.model, second.datamodule, ckpt_path=last)
    assert started_at == [4]
    assert second.trainer.global_step == 8


def test_psnr_stage_loss_falls_on_one_image(image_dir: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    for extra in list(image_dir.glob("*.png"))[1:]:
        extra.unlink()
    model = SRGAN(
        # RRDBNet starts far from the target image, so a falling loss is unmistakable.
        RRDBNet(num_blocks=1, num_features=8, growth_channels=4, scale=4),
        generator_optimizer=lambda p: torch.optim.Adam(p, lr=2e-3),
    )
    data = SRDataModule(
        str(image_dir), crop_size=32, batch_size=4, steps_per_epoch=60, val_holdout=0, num_workers=0
    )
    losses: list[float] = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            losses.append(float(trainer.callback_metrics["train/g_pixel"]))

    trainer = quiet_trainer(max_steps=60, callbacks=[Record()])
    trainer.fit(model, data)
    assert sum(losses[-10:]) / 10 < 0.6 * sum(losses[:5]) / 5


def test_generator_step_leaves_discriminator_unchanged(image_dir: Path) -> None:
    model = SRGAN(
        CompactNet(num_features=8, num_convs=1), VGGStyle(num_features=4), Hinge(), stage="gan"
    )
    checks: list[bool] = []
    original = model._generator_step

    def spy(opt, sched, sr, hr):
        params = list(model.discriminator.parameters())
        before = [p.detach().clone() for p in params]
        grads_before = [None if p.grad is None else p.grad.clone() for p in params]
        out = original(opt, sched, sr, hr)
        checks.append(all(torch.equal(a, b) for a, b in zip(before, params)))
        # No gradient reached the discriminator either (it was frozen, not just skipped).
        checks.append(
            all(
                (g is None and p.grad is None) or torch.equal(g, p.grad)
                for g, p in zip(grads_before, params)
            )
        )
        return out

    model._generator_step = spy
    data = SRDataModule(
        str(image_dir), crop_size=32, batch_size=2, steps_per_epoch=3, val_holdout=0, num_workers=0
    )
    d_before = [p.detach().clone() for p in model.discriminator.parameters()]
    trainer = quiet_trainer(max_steps=6)
    trainer.fit(model, data)
    assert checks and all(checks)
    # ... while the discriminator's own steps did change it.
    assert any(not torch.equal(a, b) for a, b in zip(d_before, model.discriminator.parameters()))


def test_gan_stage_needs_discriminator_and_objective() -> None:
    with pytest.raises(ValueError, match="discriminator"):
        SRGAN(CompactNet(num_features=8, num_convs=1), stage="gan")


def test_init_from_loads_generator_and_ema(image_dir: Path, tmp_path: Path) -> None:
    cli = main(
        [
            "fit",
            "--config",
            str(CONFIGS / "debug.yaml"),
            *data_args(image_dir, tmp_path),
            "--trainer.max_steps=2",
        ]
    )
    last = cli.trainer.checkpoint_callback.last_model_path
    fresh = SRGAN(CompactNet(num_features=8, num_convs=2), init_from=last)
    trained = cli.model
    for a, b in zip(fresh.generator_ema.parameters(), trained.generator_ema.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(fresh.generator.parameters(), trained.generator.parameters()):
        assert torch.equal(a, b)


def test_the_scale_is_set_once_in_the_generator(
    image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)]
    cli = main([*args, "--model.generator.init_args.scale=2", "--data.crop_size=32"], run=False)
    assert cli.model.generator.scale == cli.datamodule.scale == 2
    with pytest.raises(SystemExit):  # data.scale is derived: setting it is a usage error
        main([*args, "--data.scale=2"], run=False)
    assert "data.scale" in capsys.readouterr().err


def test_help_explains_itself(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    out = capsys.readouterr().out
    assert "--model.objective" in out and "--data.train_dir" in out
    # Only srgan's networks are offered, not every torch.nn class; no top-level optimizer
    # that would silently replace the model's own.
    assert "torch.nn.Conv2d" not in out and "srgan.CompactNet" in out
    assert "--optimizer" not in out and "--lr_scheduler" not in out
    # Plain text: no reStructuredText backticks from the docstrings the texts come from.
    assert "``" not in out and 'Default: "auto"' in out
    assert "last: the newest last.ckpt of the runs under the config's" in " ".join(out.split())
    # The callbacks srgan.fit adds live in srgan.callbacks: run as a script (python -m),
    # classes of srgan/fit.py itself would be offered as __main__.NAME.
    assert "srgan.callbacks.RunFolder" in out and "srgan.fit." not in " ".join(out.split())
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    # Each subcommand's line says what it does here (Lightning's own were cut mid-sentence).
    assert "HR images of --data.test_dir" in out and "python -m srgan.upscale" in out
    assert "It's" not in out and "``" not in out
    # A class's own help is the same program's, not the script file's (fit.py).
    with pytest.raises(SystemExit):
        main(["fit", "--model.generator.help", "CompactNet"])
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m srgan.fit [") and "--model.generator.num_convs" in out


def test_a_bad_option_is_the_error_and_the_names_that_work(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--config", str(CONFIGS / "debug_gan.yaml"), "--model.objective", "Foo"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    err = err[err.index("error: ") :]  # after Lightning's note on args given in Python
    assert "usage:" not in err and len(err.splitlines()) < 20
    assert "known model.objective classes:" in err and "MaxSurprise" in err
    assert "python -m srgan.fit fit --help" in err
    # The class not found in one line (not every alternative jsonargparse tried), and the
    # one meant when it is a typo.
    assert err.splitlines()[0] == "error: --model.objective Foo: no such class"
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(CONFIGS / "debug_gan.yaml"), "--model.objective=Hinj"])
    err = capsys.readouterr().err
    assert "error: --model.objective Hinj: no such class (did you mean Hinge?)" in err
    assert len(err[err.index("error: ") :].splitlines()) == 3


def test_a_class_whose_arguments_are_refused_is_named_with_its_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Not jsonargparse's union report (both failures, the types, the namespace given),
    nor the list of known classes when the class was found."""
    from srgan.fit import command

    base = ["fit", "--config", str(CONFIGS / "debug_gan.yaml"), "--model.objective=MaxSurprise"]
    for value, says in [
        ("-1", "error: srgan.MaxSurprise: tau must be a positive finite number, got -1.0\n"),
        (
            "abc",
            "srgan.MaxSurprise': Parser key \"tau\": Expected a <class 'float'>. Got value: abc",
        ),
    ]:
        try:  # a value of the wrong type: a parse error; a refused one: at instantiation
            code = command([*base, f"--model.objective.tau={value}"])
        except SystemExit as stop:
            code = stop.code
        assert code == 2
        err = capsys.readouterr().err
        assert says in err and "Union" not in err and "known model.objective" not in err, err


@pytest.mark.slow  # three runs of two processes that import torch: about 30 s
def test_ddp_on_two_cpu_processes_trains_and_logs_the_single_process_metrics(
    image_dir: Path, tmp_path: Path
) -> None:
    """``srgan.fit`` under DDP (gloo, two processes) trains and saves a checkpoint, and the
    validation metrics of that checkpoint are the exact mean over every validation image,
    as in one process: three held-out images split 2 + 1 between the processes, so a mean
    of per-process means (or Lightning's padding duplicates) would show."""
    import subprocess
    import sys

    common = ["--config", str(CONFIGS / "debug.yaml"), f"--data.train_dir={image_dir}"]
    common += ["--data.val_holdout=3", "--data.num_workers=0", "--data.crop_size=32"]
    common += ["--trainer.enable_progress_bar=false", "--trainer.accelerator=cpu"]

    def run(subcommand: str, devices: int, *extra: str) -> Path:
        root = tmp_path / f"{subcommand}{devices}"
        command = [sys.executable, "-m", "srgan.fit", subcommand, *common, *extra]
        command += [f"--trainer.default_root_dir={root}", f"--trainer.devices={devices}"]
        command += ["--trainer.logger=CSVLogger", f"--trainer.logger.save_dir={root}"]
        command += ["--trainer.strategy=ddp"] if devices > 1 else []
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        return root

    trained = run("fit", 2, "--trainer.max_steps=2", "--data.batch_size=2")
    (checkpoint,) = trained.rglob("last.ckpt")
    scores = []
    for devices in (1, 2):
        (metrics,) = run("validate", devices, f"--ckpt_path={checkpoint}").rglob("metrics.csv")
        rows = metrics.read_text().splitlines()
        scores.append(dict(zip(rows[0].split(","), map(float, rows[1].split(",")))))
    single, ddp = scores
    assert ddp["val/psnr"] == pytest.approx(single["val/psnr"], rel=1e-12)
    assert ddp["val/ssim"] == pytest.approx(single["val/ssim"], rel=1e-12)


@pytest.mark.slow
def test_ddp_resumes_mid_epoch_exactly(image_dir: Path, tmp_path: Path) -> None:
    """Two processes, epochs of two global batches (with draws left over, dropped): three
    steps straight, and one step then a resume to three, end with the same weights. (Slow:
    three DDP launches; the draws' count is checked quickly in tests/test_data.py.)"""
    common = [sys.executable, "-m", "srgan.fit", "fit", "--config", str(CONFIGS / "debug.yaml")]
    common += [f"--data.train_dir={image_dir}", "--data.val_holdout=1", "--data.num_workers=0"]
    common += ["--data.crop_size=32", "--data.batch_size=2", "--data.steps_per_epoch=5"]
    common += ["--trainer.enable_progress_bar=false", "--trainer.accelerator=cpu"]
    common += ["--trainer.devices=2", "--trainer.strategy=ddp"]

    def run(root: Path, steps: int, *extra: str) -> Path:
        command = [*common, f"--trainer.default_root_dir={root}", f"--trainer.max_steps={steps}"]
        result = subprocess.run([*command, *extra], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        return max(root.rglob("last.ckpt"), key=lambda path: path.stat().st_mtime)

    straight = run(tmp_path / "straight", 3)
    first = run(tmp_path / "resumed", 1)
    resumed = run(tmp_path / "resumed", 3, f"--ckpt_path={first}")
    a, b = (torch.load(path, weights_only=True) for path in (straight, resumed))
    assert a["global_step"] == b["global_step"] == 3
    assert a["SRDataModule"] == b["SRDataModule"]
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key


def test_the_gan_stage_under_ddp_looks_for_unused_parameters() -> None:
    """Each of the GAN stage's two backward passes leaves one network without gradients,
    which DDP refuses unless told to look for them; the PSNR stage has no need to."""
    from types import SimpleNamespace

    import lightning as L
    from lightning.pytorch.strategies import DDPStrategy

    def options(stage: str, strategy: object = "ddp") -> dict:
        trainer = L.Trainer(
            accelerator="cpu", devices=2, strategy=strategy, logger=False, enable_progress_bar=False
        )
        find_unused_parameters_in_gan_stage(trainer, SimpleNamespace(stage=stage))
        return trainer.strategy._ddp_kwargs

    assert options("gan")["find_unused_parameters"] is True
    assert "find_unused_parameters" not in options("psnr")
    assert (
        options("gan", DDPStrategy(find_unused_parameters=False))["find_unused_parameters"] is False
    )


@pytest.mark.slow  # two processes that import torch: about 15 s
def test_the_gan_stage_trains_under_ddp_and_says_its_notes_once(
    image_dir: Path, tmp_path: Path
) -> None:
    require_assets("vgg16")
    command = [sys.executable, "-m", "srgan.fit", "fit"]
    command += ["--config", str(CONFIGS / "debug_gan.yaml")]
    command += [f"--data.train_dir={image_dir}", "--data.num_workers=0", "--data.crop_size=32"]
    command += ["--trainer.enable_progress_bar=false", "--trainer.accelerator=cpu"]
    command += ["--trainer.devices=2", "--trainer.strategy=ddp", "--trainer.max_steps=4"]
    command += ["--model.n_critic=2", f"--trainer.default_root_dir={tmp_path / 'run'}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("note: --trainer.max_steps 4 counts optimizer steps") == 1
    assert result.stderr.count("stage 'gan' starts from the generator as built") == 1
    (checkpoint,) = (tmp_path / "run").rglob("last.ckpt")
    assert torch.load(checkpoint, weights_only=True)["global_step"] >= 4  # steps of both networks


def test_validate_first_needs_one_device(image_dir: Path, tmp_path: Path) -> None:
    args = ["fit", "--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)]
    args += ["--trainer.devices=2", "--trainer.strategy=ddp", "--validate_first=true"]
    with pytest.raises(ValueError, match="needs one device"):
        main(args)


@pytest.mark.parametrize(
    ("every", "written"),
    [
        # Every batch: batches 0 and 3 stepped the generator; the others did not, and log
        # nothing of it (Lightning logged its last values again on each of them).
        (1, [True, False, False, True, False, False]),
        # Every 3rd batch (2 and 5), never a generator batch: each writes the values of
        # the generator step before it (they were never written at all).
        (3, [True, True]),
        # Every 2nd (1, 3 and 5): step 0's values at batch 1, step 3's at 3, none at 5.
        (2, [True, True, False]),
    ],
)
def test_with_n_critic_schedules_and_logs_follow_the_generator_steps(
    image_dir: Path, tmp_path: Path, every: int, written: list[bool]
) -> None:
    import csv

    from lightning.pytorch.callbacks import LearningRateMonitor
    from lightning.pytorch.loggers import CSVLogger

    step_decay = lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)  # noqa: E731
    model = SRGAN(
        CompactNet(num_features=8, num_convs=1),
        VGGStyle(num_features=4),
        Hinge(),
        stage="gan",
        n_critic=3,
        generator_scheduler=step_decay,
        discriminator_scheduler=step_decay,
    )
    data = SRDataModule(
        str(image_dir), crop_size=32, batch_size=2, steps_per_epoch=6, val_holdout=0, num_workers=0
    )
    logger = CSVLogger(tmp_path)
    trainer = L.Trainer(
        accelerator="cpu",
        logger=logger,
        log_every_n_steps=every,
        max_epochs=1,
        callbacks=[LearningRateMonitor()],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, data)
    g_sched, d_sched = model.lr_schedulers()
    # 6 batches: 6 discriminator steps, 2 generator steps, so both rates halved twice.
    assert g_sched.last_epoch == d_sched.last_epoch == 2
    assert g_sched.get_last_lr() == d_sched.get_last_lr()
    rows = list(csv.DictReader(open(Path(logger.log_dir) / "metrics.csv")))
    assert {"lr/generator", "lr/discriminator"} <= set(rows[0])  # which rate is whose
    rows = [r for r in rows if r["train/d_loss"]]
    assert [bool(r["train/g_loss"]) for r in rows] == written


@pytest.mark.parametrize(
    "config",
    EVERY_CONFIG,
    ids=lambda p: p.stem,
)
def test_every_config_states_its_optimizers_and_schedules(config: Path) -> None:
    """What trains is in the file (and in --print_config), not in the module's fallbacks."""
    model = yaml.safe_load(config.read_text())["model"]
    networks = ["generator"] + (["discriminator"] if model.get("stage") == "gan" else [])
    for network in networks:
        for part in ("optimizer", "scheduler"):
            assert f"{network}_{part}" in model, f"{config.name}: no {network}_{part}"


@pytest.mark.parametrize(
    "config",
    EVERY_CONFIG,
    ids=lambda p: p.stem,
)
def test_no_config_sets_the_data_scale(config: Path) -> None:
    """The scale is the generator's (data.scale is linked to it, and a value in a file would
    be overridden without a word)."""
    assert "scale" not in (yaml.safe_load(config.read_text()).get("data") or {})


def test_resuming_does_not_need_the_file_the_run_started_from(
    image_dir: Path, tmp_path: Path
) -> None:
    from srgan.weights import save_generator

    init = save_generator(CompactNet(num_features=8, num_convs=2), tmp_path / "init.safetensors")
    args = ["--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)]
    first = main(["fit", *args, "--trainer.max_steps=2", f"--model.init_from={init}"])
    last = first.trainer.checkpoint_callback.last_model_path
    init.unlink()  # moved away after the first run
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = main(["fit", *args, "--trainer.max_steps=3", f"--ckpt_path={last}"])
    assert resumed.trainer.global_step == 3
    # The new version folder is by design: Lightning's note that it changed is not shown;
    # nor its warning that a mid-epoch resume cannot go on with the data (it does).
    for note in ("dirpath has changed", "ended before the epoch ended"):
        assert not [w for w in caught if note in str(w.message)], note


def test_a_resumed_run_takes_the_options_given_and_names_what_differs(
    image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint path and --ckpt_path last alike: the command line's model options
    apply (Lightning's own merge put the checkpoint's back in silence, for a path only),
    and those the saved optimizer and schedule states override are named."""
    args = ["--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)]
    first = main(["fit", *args, "--trainer.max_steps=2"])
    last = first.trainer.checkpoint_callback.last_model_path
    capsys.readouterr()
    lr = "--model.generator_optimizer.init_args.lr=0.05"
    # "last": the newest last.ckpt, the run just resumed (which saved gradient_clip 0.5).
    for steps, resume, clip, saved in [(3, last, 0.5, None), (4, "last", 0.25, 0.5)]:
        resume_args = [f"--trainer.max_steps={steps}", f"--ckpt_path={resume}"]
        resumed = main(["fit", *args, *resume_args, f"--model.gradient_clip={clip}", lr])
        assert resumed.model.hparams.gradient_clip == clip
        assert resumed.trainer.optimizers[0].param_groups[0]["initial_lr"] != 0.05
        err = capsys.readouterr().err
        assert f"other than the checkpoint's: gradient_clip {clip} (saved: {saved})" in err, err
        assert "so generator_optimizer lr 0.05 (saved: 0.001) do not apply" in err, err


def test_resuming_with_another_objective_or_loss_names_it(
    image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The objective, networks and losses are not hyper-parameters, but the checkpoint
    records them: a resume that swaps one (it applies) says so."""
    require_assets("vgg16")  # debug_gan.yaml's perceptual loss
    args = ["--config", str(CONFIGS / "debug_gan.yaml"), *data_args(image_dir, tmp_path)]
    args += ["--model.generator=srgan.generators.CompactNet"]
    args += [
        "--model.generator.init_args.num_features=4",
        "--model.generator.init_args.num_convs=1",
    ]
    first = main(["fit", *args, "--trainer.max_steps=2"])
    last = first.trainer.checkpoint_callback.last_model_path
    saved = torch.load(last, weights_only=True)["srgan_components"]
    assert saved["objective"]["class_path"].endswith("RelativisticAverage")
    capsys.readouterr()
    swap = ["--model.objective=MaxSurprise", "--model.objective.init_args.tau=0.5"]
    layer = ['--model.perceptual_loss.init_args.layer_weights={"conv1_2": 1.0}']
    resumed = main(["fit", *args, "--trainer.max_steps=4", f"--ckpt_path={last}", *swap, *layer])
    assert type(resumed.model.objective).__name__ == "MaxSurprise"
    err = capsys.readouterr().err
    assert "objective MaxSurprise (saved: RelativisticAverage)" in err, err
    layers = "perceptual_loss.layer_weights {'conv1_2': 1.0} (saved: {'conv2_2': 1.0})"
    assert layers in err, err
    # The same again: nothing to say of them.
    again = resumed.trainer.checkpoint_callback.last_model_path
    main(["fit", *args, "--trainer.max_steps=5", f"--ckpt_path={again}", *swap, *layer])
    assert "note: resuming" not in capsys.readouterr().err


def test_resuming_a_time_budget_run_as_it_was_notes_nothing(
    image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """TimeBudget plans the cosine schedule's T_max as the run goes: not an option changed."""
    args = ["--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)]
    args += ["--model.generator_scheduler=torch.optim.lr_scheduler.CosineAnnealingLR"]
    args += ["--model.generator_scheduler.init_args.T_max=1000"]
    timing = {"seconds": 600, "warmup_steps": 1, "measure_steps": 1}
    budget = {"class_path": "srgan.callbacks.TimeBudget", "init_args": timing}
    saves = {"class_path": "srgan.callbacks.ModelCheckpoint", "init_args": {"save_last": True}}
    args += [f"--trainer.callbacks=[{json.dumps(saves)}, {json.dumps(budget)}]"]
    first = main(["fit", *args, "--trainer.max_steps=3"])
    last = first.trainer.checkpoint_callback.last_model_path
    assert torch.load(last, weights_only=True)["lr_schedulers"][0]["T_max"] != 1000
    capsys.readouterr()
    main(["fit", *args, "--trainer.max_steps=4", f"--ckpt_path={last}"])
    assert "note:" not in capsys.readouterr().err


def test_a_checkpoint_that_does_not_fit_is_one_line_when_scored_too(
    image_dir: Path, tmp_path: Path
) -> None:
    args = ["--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)]
    last = main(["fit", *args, "--trainer.max_steps=1"]).trainer.checkpoint_callback.last_model_path
    wider = "--model.generator.init_args.num_features=16"
    for subcommand in ("validate", "test", "predict"):
        extra = [] if subcommand == "validate" else [f"--data.test_dir={image_dir}"]
        with pytest.raises(
            ValueError,
            match="does not fit the model this config builds: .* "
            "Give the config the run was made with",
        ):
            main([subcommand, *args, *extra, f"--ckpt_path={last}", wider])
    with pytest.raises(ValueError, match=r"stage psnr, and this config is stage gan: give the"):
        main(["validate", *args, f"--ckpt_path={last}", "--model.stage=gan"])


def test_ckpt_path_best_is_the_best_checkpoint_the_last_run_kept(tmp_path: Path) -> None:
    from srgan.fit import best_checkpoint

    best = tmp_path / "epoch=3-step=40.ckpt"
    torch.save({"global_step": 40}, best)
    key = "ModelCheckpoint{'monitor': 'val/psnr', 'mode': 'max', 'every_n_train_steps': 0}"
    torch.save({"callbacks": {key: {"best_model_path": str(best)}}}, tmp_path / "last.ckpt")
    assert best_checkpoint(str(tmp_path / "last.ckpt")) == str(best)
    plain = "ModelCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 10}"
    torch.save({"callbacks": {plain: {"best_model_path": str(best)}}}, tmp_path / "last.ckpt")
    with pytest.raises(FileNotFoundError, match="kept no best checkpoint .* monitors no metric"):
        best_checkpoint(str(tmp_path / "last.ckpt"))


def test_a_scoring_run_that_fails_leaves_no_run_folder(
    image_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failed once Lightning had written the config (its first files): the folder goes."""
    args = ["--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)]
    last = main(["fit", *args, "--trainer.max_steps=1"]).trainer.checkpoint_callback.last_model_path

    def broken(self: object, *args: object) -> None:
        raise RuntimeError("broken validation")

    monkeypatch.setattr(SRGAN, "validation_step", broken)
    with pytest.raises(RuntimeError, match="broken validation"):
        main(["validate", *args, f"--ckpt_path={last}"])
    runs = tmp_path / "runs" / "lightning_logs"
    assert sorted(p.name for p in runs.iterdir()) == ["version_0"]


@pytest.mark.parametrize("precision", ["bf16-true", "16-true", "64-true"])
def test_a_true_half_or_double_precision_is_one_line(
    image_dir: Path, tmp_path: Path, precision: str
) -> None:
    args = ["--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)]
    for subcommand in ("fit", "validate"):
        with pytest.raises(ValueError, match=f"precision {precision} is not supported: use"):
            main([subcommand, *args, f"--trainer.precision={precision}"])


@pytest.mark.parametrize(
    ("signum", "status", "checkpoints"),
    [
        (signal.SIGINT, 130, "srgan.callbacks.ModelCheckpoint"),
        (signal.SIGTERM, 143, "srgan.callbacks.ModelCheckpoint"),
        (signal.SIGINT, 130, "lightning.pytorch.callbacks.ModelCheckpoint"),
    ],
    ids=["ctrl-c", "sigterm", "ctrl-c-lightnings-checkpoints"],
)
def test_a_signal_stops_training_after_its_batch_with_a_checkpoint(
    image_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    signum: int,
    status: int,
    checkpoints: str,
) -> None:
    """Ctrl-C (or a scheduler's SIGTERM) during step 13: the run stops when that batch is
    done, with no validation first, as a finished run does, with last.ckpt at step 13
    (after the scheduled save at 10, also with Lightning's own ModelCheckpoint) and the
    signal's exit status (Lightning exited 1 on Ctrl-C, losing the steps since the last
    save, and 0 on SIGTERM)."""
    import csv

    from srgan import fit as fit_module

    def send(self: object, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == 13:
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(fit_module.BatchesRan, "on_train_batch_end", send, raising=False)
    args = ["fit", "--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)]
    saves = {"class_path": checkpoints, "init_args": {"every_n_train_steps": 10}}
    args += [f"--trainer.callbacks=[{json.dumps(saves)}]", "--trainer.max_steps=1000"]
    assert fit_module.command(args) == status
    err = capsys.readouterr().err
    stop = re.search(r"stopped by SIG(INT|TERM) at step (\d+): saved (\S+\.ckpt) \(resume", err)
    assert stop is not None and stop[2] == "13", err
    assert torch.load(stop[3], weights_only=True)["global_step"] == 13
    (metrics,) = (tmp_path / "runs").rglob("metrics.csv")
    validations = [row for row in csv.DictReader(metrics.open()) if row.get("val/psnr")]
    assert len(validations) == 1  # the one at the end of the first epoch (step 10) only


def test_the_ctrl_c_handler_is_put_back_when_training_ends() -> None:
    from types import SimpleNamespace

    from srgan.callbacks import GracefulStop

    trainer = SimpleNamespace(is_global_zero=True)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        stop = GracefulStop()
        stop.on_train_start(trainer, None)
        assert signal.getsignal(signal.SIGINT) == stop._interrupt
        stop.restore()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        # Ignored (a job a script started in the background): left ignored.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop.on_train_start(trainer, None)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        stop.restore()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_training_into_a_log_writes_lines_not_a_bar(
    image_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """stderr not a terminal (a log file; as under pytest): a line per LOG_EVERY seconds
    and one per validation, never Lightning's bar redrawn with carriage returns."""
    from srgan import progress
    from srgan.callbacks import LogProgress

    monkeypatch.setattr(progress, "LOG_EVERY", 0.0)
    args = ["--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)]
    run = main(["fit", *args, "--trainer.max_steps=4", "--trainer.enable_progress_bar=true"])
    assert isinstance(run.trainer.progress_bar_callback, LogProgress)
    err = capsys.readouterr().err
    assert "\r" not in err and "Epoch 0" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("training: ")]
    assert len(lines) >= 4 and lines[-1].startswith("training: 4/4 steps (100%), "), err
    assert "train/g_pixel=" in lines[-1] and "v_num" not in lines[-1]


def test_every_validation_is_a_line_and_scoring_says_what_it_scores(
    image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a progress bar (as the release configs run) each validation's scores are a
    line; validate without a checkpoint or weights says it scores an untrained network;
    test reads data.test_dir only; predict says it writes no files."""
    args = ["--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)]
    main(["fit", *args, "--trainer.max_steps=4", "--data.steps_per_epoch=2"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("validation at step")]
    assert [line.split(":")[0] for line in lines] == [
        "validation at step 2",
        "validation at step 4",
    ], err
    assert all("val/psnr=" in line and "val/ssim=" in line for line in lines)
    untrained = "warning: validate without --ckpt_path or --model.init_from runs the generator"
    main(["validate", *args])
    assert untrained in capsys.readouterr().err
    main(["validate", *args, "--ckpt_path=last"])
    assert "untrained" not in capsys.readouterr().err
    # The config's training folder gone (scoring elsewhere): test needs only test_dir.
    missing = [f"--data.train_dir={tmp_path / 'gone'}", f"--data.test_dir={image_dir}"]
    run = main(["test", *args, *missing, "--ckpt_path=last"])
    assert run.trainer.callback_metrics["test/psnr"] > 10
    with pytest.raises(FileNotFoundError, match="--data.train_dir: image folder not found"):
        main(["validate", *args, *missing, "--ckpt_path=last"])
    main(["predict", *args, f"--data.test_dir={image_dir}", "--ckpt_path=last"])
    assert "writes none; to write image files: python -m srgan.upscale" in capsys.readouterr().err


def test_default_root_dir_under_a_configs_logger_is_said_not_to_apply(
    image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The release configs name their logger's save_dir: --trainer.default_root_dir then
    moves nothing, and a note says which option does."""
    args = ["--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)]
    logger = ["--trainer.logger=lightning.pytorch.loggers.CSVLogger"]
    logger += [f"--trainer.logger.init_args.save_dir={tmp_path / 'logs'}"]
    run = main(["fit", *args, *logger, "--trainer.max_steps=1"])
    assert Path(run.trainer.log_dir).is_relative_to(tmp_path / "logs")
    err = capsys.readouterr().err
    said = f"note: this config's logger writes the run under its save_dir ({tmp_path / 'logs'})"
    assert said in err and "--trainer.logger.init_args.save_dir DIR" in err, err
    main(["fit", *args, "--trainer.max_steps=1"])  # no logger of the config's own: no note
    assert "save_dir" not in capsys.readouterr().err


@pytest.mark.slow  # two processes that import torch: about 25 s (test_reliability runs fit in one)
def test_a_normal_run_says_where_it_writes_and_nothing_else_from_any_folder(
    tmp_path: Path,
) -> None:
    """The debug config from another working directory: it finds the bundled samples,
    names its run folder, and none of Lightning's advertisements or examples show."""
    root = CONFIGS.parent
    command = [sys.executable, "-m", "srgan.fit", "fit", "--config", str(CONFIGS / "debug.yaml")]
    command += ["--trainer.max_steps=2", "--trainer.enable_progress_bar=false"]
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "run folder: runs/debug/lightning_logs/version_0" in output
    assert (tmp_path / "runs/debug/lightning_logs/version_0/checkpoints/last.ckpt").is_file()
    for noise in ("tensorboardX", "Tip:", "pin_memory", "saved_models", "Traceback"):
        assert noise not in output, noise
    # Scoring it (validate, "last": the run's last.ckpt) names its folder too, once.
    command[3] = "validate"
    command += ["--ckpt_path=last"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("run folder: runs/debug/lightning_logs/version_1") == 1


def test_data_loader_workers_default_to_the_machine(image_dir: Path) -> None:
    from srgan.data import default_workers

    data = SRDataModule(str(image_dir), crop_size=32, val_holdout=0)
    assert data.num_workers == default_workers() >= 1
    assert default_workers() <= min(8, len(os.sched_getaffinity(0)))
    data.setup("fit")
    assert data.train_dataloader().pin_memory is torch.cuda.is_available()


def test_a_folder_on_the_command_line_is_not_searched_for_near_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """debug.yaml's own "samples" is found beside the project from any folder; "samples"
    typed on the command line is the working directory's (none here), not the project's."""
    monkeypatch.chdir(tmp_path)
    config = ["--config", str(CONFIGS / "debug.yaml")]
    found = main(config, run=False).config["data"]["train_dir"]  # run=False: no subcommand
    assert Path(found).is_absolute() and Path(found).name == "samples"
    for given in (["--data.train_dir", "samples"], ["--data.train_dir=samples"]):
        with pytest.raises(FileNotFoundError, match="--data.train_dir: image folder not found"):
            main([*config, *given], run=False)


def test_data_folders_may_start_with_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "photos").mkdir()
    assert find_folder("~/photos", []) == str(tmp_path / "photos")


def test_apple_gpus_train_on_the_cpu(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lightning's auto picks MPS on a Mac, where float64 metrics and Poisson draws fail:
    srgan trains on the CPU instead, and asked for the GPU, says how to train there."""
    from lightning.pytorch.accelerators import CPUAccelerator

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    config = ["--config", str(CONFIGS / "debug.yaml")]
    cli = main([*config, "--trainer.accelerator=auto"], run=False)
    assert cli.config["trainer"]["accelerator"] == "cpu"  # Lightning's auto sees no MPS here
    assert isinstance(cli.trainer.accelerator, CPUAccelerator)
    assert "note: running on the CPU: srgan does not train on Apple GPUs" in capsys.readouterr().err
    mps_class = '{"class_path": "lightning.pytorch.accelerators.MPSAccelerator"}'
    for asked in ("gpu", "mps", mps_class):
        with pytest.raises(ValueError, match="--trainer.accelerator cpu --trainer.precision"):
            main([*config, f"--trainer.accelerator={asked}"], run=False)


def test_a_fragment_config_alone_is_told_to_name_its_class(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """objective/wgan_gp.yaml gives the discriminator arguments, not a class: alone, the
    error says so and how to name one (before the config, which is then taken)."""
    from srgan.fit import command

    fragment = ["--config", str(CONFIGS / "objective/wgan_gp.yaml"), "--print_config"]
    with pytest.raises(SystemExit) as stop:
        command(["fit", *fragment])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "model.discriminator is given arguments but no class" in err, err
    assert "--model.discriminator VGGStyle before that --config" in err
    with pytest.raises(SystemExit) as stop:
        command(["fit", "--model.discriminator", "VGGStyle", *fragment])
    assert stop.value.code in (0, None)
    assert "class_path: srgan.VGGStyle" in capsys.readouterr().out


def test_resume_differences_take_classes_given_by_path_alone() -> None:
    from jsonargparse import Namespace

    from srgan.fit import resume_differences

    saved = {"objective": {"class_path": "srgan.objectives.Hinge", "init_args": {}}}
    checkpoint = {"hyper_parameters": {}, "srgan_components": saved}
    model = Namespace(objective="srgan.objectives.MaxSurprise")
    changed, _ = resume_differences(checkpoint, model)
    assert changed == ["objective MaxSurprise (saved: Hinge)"]
    model = Namespace(objective="my.objectives.Hinge")  # one name, another class
    changed, _ = resume_differences(checkpoint, model)
    assert changed == ["objective my.objectives.Hinge (saved: srgan.objectives.Hinge)"]


def test_resuming_with_other_data_options_names_them(
    image_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--ckpt_path last takes the newest run of the folder, whatever data it trained on:
    data options other than its config.yaml's are named (they apply)."""
    args = ["--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)]
    main(["fit", *args, "--trainer.max_steps=2"])
    capsys.readouterr()
    sharpened = main(
        ["fit", *args, "--trainer.max_steps=3", "--ckpt_path=last", "--data.sharpen_targets=true"]
    )
    assert sharpened.datamodule.sharpen_targets
    note = "note: resuming with data options other than the run's (its config.yaml): "
    assert note + "sharpen_targets" in capsys.readouterr().err
    main(["fit", *args, "--trainer.max_steps=4", "--ckpt_path=last", "--data.sharpen_targets=true"])
    assert note not in capsys.readouterr().err  # the same as the run it resumes


def test_another_process_keeps_quiet_only_while_it_runs(
    image_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process other than the first (here another machine's, NODE_RANK 1) leaves notes and
    warnings to the first, and only while srgan.fit runs: its caller's filters come back."""
    import warnings

    from srgan.fit import first_process

    assert first_process()
    monkeypatch.setenv("NODE_RANK", "1")
    assert not first_process()
    everything = ("ignore", None, Warning, None, 0)  # warnings.simplefilter("ignore")
    assert everything not in warnings.filters
    main(["--config", str(CONFIGS / "debug.yaml"), *data_args(image_dir, tmp_path)], run=False)
    assert everything not in warnings.filters


def test_synchronized_batch_norm_pools_the_processes_crops(image_dir: Path, tmp_path: Path) -> None:
    """Batch 1 of 32-px crops is one value per channel at VGGStyle's last stage: refused in
    one process (tests/test_reliability.py), not with --trainer.sync_batchnorm over two,
    whose statistics pool both processes' crops."""
    args = ["--config", str(CONFIGS / "debug_gan.yaml"), *data_args(image_dir, tmp_path)]
    args += ["--data.crop_size=32", "--data.batch_size=1", "--trainer.devices=2"]
    for synchronized, refused in ((False, True), (True, False)):
        cli = main([*args, f"--trainer.sync_batchnorm={synchronized}"], run=False)
        cli.subcommand, cli.config = "fit", {"fit": cli.config}
        if refused:
            with pytest.raises(ValueError, match="leaves one at its last stage"):
                cli.before_fit()
        else:
            cli.before_fit()


def test_batch_counts_written_as_integers_are_found_last_one_winning(tmp_path: Path) -> None:
    from srgan.fit import batch_count_notes, integer_batch_counts

    config = tmp_path / "c.yaml"
    config.write_text("trainer:\n  limit_val_batches: 1\n  limit_train_batches: 0.5\n")
    assert integer_batch_counts(["fit", "--config", str(config)]) == {"limit_val_batches": 1}
    argv = ["fit", f"--config={config}", "--trainer.limit_val_batches", "0.25"]
    assert integer_batch_counts(argv) == {}  # the command line's fraction comes last
    argv = ["fit", "-c", str(config), "--trainer.limit_train_batches=3"]
    assert integer_batch_counts(argv) == {"limit_val_batches": 1, "limit_train_batches": 3}
    # overfit_batches takes a count first: its 1 is one batch, and not said to be all.
    argv += ["--trainer.overfit_batches", "1"]
    assert batch_count_notes(argv) == [
        "note: trainer.limit_val_batches 1 is read as 1.0, all batches (the option takes a "
        "fraction before a count); a fraction such as 0.1 limits it"
    ]
