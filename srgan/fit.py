"""Train super-resolution models: ``python -m srgan.fit {fit,validate,test,predict} --config ...``.

A LightningCLI over ``srgan.module.SRGAN`` and ``srgan.data.SRDataModule``: every option
is a typed constructor argument, so a misspelt key fails before training starts.

Examples::

    python -m srgan.fit fit --config configs/debug.yaml                  # tiny, CPU, seconds
    python -m srgan.fit fit --config configs/psnr_x4.yaml --data.train_dir data/DIV2K_train_HR
    python -m srgan.fit fit --config configs/esrgan_x4.yaml --config configs/objective/hinge.yaml \\
        --model.init_from runs/psnr_x4/checkpoints/last.ckpt
    python -m srgan.fit fit --config configs/psnr_x4.yaml --ckpt_path runs/.../last.ckpt   # resume
    python -m srgan.fit fit --config configs/psnr_x4.yaml --print_config                  # resolved config

The adversarial objective is one ``--model.objective`` away (a class of
``srgan.objectives``, e.g. ``--model.objective MaxSurprise --model.objective.tau 0.5``)
or one extra ``--config configs/objective/NAME.yaml``.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.seed import isolate_rng

from srgan.data import SRDataModule
from srgan.module import SRGAN
from srgan.weights import load_checkpoint

# Relative data folders given in a config file are also looked up from the config's folder
# and its parents (so configs/debug.yaml finds samples/ from any working directory).
DATA_FOLDERS = ("train_dir", "val_dir", "train_lr_dir", "test_dir")


def quiet_lightning() -> None:
    """Silence Lightning's notices that say nothing about the run: the TensorBoard and
    cloud-logger advertisements (srgan logs CSV on purpose), and the manual-optimization
    checkpoint example (srgan's checkpoints hold the state after the step, as resuming
    needs)."""
    for message in (
        ".*`tensorboardX` has been removed as a dependency",
        "Using ModelCheckpoint with manual optimization and every_n_train_steps",
        r".*isinstance\(treespec, LeafSpec\)",
    ):
        warnings.filterwarnings("ignore", message=message)

    def no_tips(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("\N{ELECTRIC LIGHT BULB} Tip")

    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(no_tips)


def find_folder(value: str, config_files: list[Path]) -> str:
    """``value`` as given when it exists from the working directory (or is absolute), else
    the first match from the config files' folders and their parents, nearest first."""
    if not value or Path(value).is_absolute() or Path(value).exists():
        return value
    for config in config_files:
        for folder in config.resolve().parents:
            if (folder / value).exists():
                return str(folder / value)
    return value


class BatchesRan(L.Callback):
    """Notes that batches have run: an error after that is a failure of the run itself, to
    be shown in full, not a problem with the command line, the data or a checkpoint."""

    ran = False

    def on_train_batch_start(self, *args: object) -> None:
        BatchesRan.ran = True

    on_validation_batch_start = on_test_batch_start = on_predict_batch_start = on_train_batch_start


class SRCLI(LightningCLI):
    """LightningCLI with the resolved config saved beside every run (Lightning's default),
    the data's scale taken from the generator's (set once, in ``model.generator``),
    ``--validate_first``: one validation pass before training, logged at step 0, relative
    data folders of config files found from any working directory, and the run folder
    named at the start and the end of a run."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("model.generator.init_args.scale", "data.scale", apply_on="parse")
        parser.add_argument(
            "--validate_first",
            type=bool,
            default=False,
            help="fit: validate once before the first step (logged at step 0), to see where "
            "a fine-tune starts; skipped when resuming with --ckpt_path",
        )

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        files = [Path(os.fspath(path)) for path in (config.get("config") or [])]
        data = config.get("data")
        if not files or data is None:
            return
        for key in DATA_FOLDERS:
            value = data.get(key)
            if isinstance(value, str):
                data[key] = find_folder(value, files)
            elif isinstance(value, list):
                data[key] = [find_folder(v, files) for v in value]

    def _parse_ckpt_path(self) -> None:
        # A checkpoint that is missing or that weights-only loading refuses is one clear
        # error, before Lightning opens it (which would end in a torch traceback).
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path not in (None, "last", "best", "hpc", "registry"):
            if not Path(ckpt_path).is_file():
                raise FileNotFoundError(f"--ckpt_path: checkpoint not found: {ckpt_path}")
            load_checkpoint(ckpt_path)
        super()._parse_ckpt_path()
        if ckpt_path is not None and self.config[subcommand]["model"].get("init_from"):
            # Resuming: the checkpoint holds every network; the file the run started from
            # (recorded in its hyper-parameters) is neither needed nor perhaps still there.
            self.config[subcommand]["model"]["init_from"] = None

    def _run_subcommand(self, subcommand: str) -> None:
        self.trainer.callbacks.append(BatchesRan())
        try:
            super()._run_subcommand(subcommand)
        except BaseException:
            # A run that failed before writing anything leaves no empty version folder.
            logger = self.trainer.logger
            log_dir = Path(logger.log_dir) if logger is not None and logger.log_dir else None
            if log_dir is not None and log_dir.is_dir() and not any(log_dir.iterdir()):
                log_dir.rmdir()
            raise

    def _run_folder(self) -> str | None:
        logger = self.trainer.logger
        log_dir = logger.log_dir if logger is not None else None
        return os.path.relpath(log_dir) if log_dir else None

    def after_fit(self) -> None:
        folder = self._run_folder()
        if folder and self.trainer.is_global_zero:
            print(
                f"run folder: {folder} (config.yaml, metrics.csv, checkpoints/last.ckpt, samples/)",
                file=sys.stderr,
            )

    def before_fit(self) -> None:
        folder = self._run_folder()
        if folder and self.trainer.is_global_zero:
            print(f"run folder: {folder}", file=sys.stderr)
        config = self.config[self.subcommand]
        if config.get("validate_first") and self.trainer.world_size > 1:
            raise ValueError(
                "--validate_first runs before the training processes start, so it needs one "
                "device; with several, run `python -m srgan.fit validate` first instead"
            )
        if config.get("validate_first") and not config.get("ckpt_path"):
            # The RNG is isolated (as Lightning's sanity check does) so that the run trains
            # exactly as it would without the extra pass; that pass replaces the check.
            with isolate_rng():
                self.trainer.validate(self.model, datamodule=self.datamodule, verbose=False)
            self.trainer.num_sanity_val_steps = 0


def main(args: list[str] | None = None, *, run: bool = True) -> SRCLI:
    # Tensor cores for float32 matmuls on GPUs that have them; no effect on CPU.
    torch.set_float32_matmul_precision("high")
    quiet_lightning()
    return SRCLI(
        SRGAN,
        SRDataModule,
        args=args,
        run=run,
        parser_kwargs={"prog": "python -m srgan.fit", "description": __doc__.split("\n\n")[0]},
        save_config_kwargs={"overwrite": True},
    )


def command(args: list[str] | None = None) -> int:
    """``srgan-fit`` / ``python -m srgan.fit``: a problem with the data, the config or a
    checkpoint (found before any batch runs) is one line on stderr and exit status 2, not a
    traceback; an error once batches run is shown in full; Ctrl-C is 130."""
    BatchesRan.ran = False
    try:
        main(args)
    except (FileNotFoundError, NotADirectoryError, ValueError) as error:
        if BatchesRan.ran:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(command())
