"""Train super-resolution models: ``python -m srgan.fit {fit,validate,test,predict} --config ...``.

A LightningCLI over ``srgan.module.SRGAN`` and ``srgan.data.SRDataModule``: every option
is a typed constructor argument, so a misspelt key fails before training starts.

Examples::

    python -m srgan.fit fit --config configs/debug.yaml                  # tiny, CPU, seconds
    python -m srgan.fit fit --config configs/psnr_x4.yaml --data.train_dir data/DIV2K/DIV2K_train_HR
    python -m srgan.fit fit --config configs/esrgan_x4.yaml --config configs/objective/hinge.yaml \\
        --model.init_from runs/psnr_x4/lightning_logs/version_0/checkpoints/last.ckpt
    python -m srgan.fit fit --config configs/psnr_x4.yaml --ckpt_path runs/.../last.ckpt   # resume
    python -m srgan.fit fit --config configs/psnr_x4.yaml --print_config                  # resolved config

The adversarial objective is one ``--model.objective`` away (a class of
``srgan.objectives``, e.g. ``--model.objective MaxSurprise --model.objective.tau 0.5``)
or one extra ``--config configs/objective/NAME.yaml``.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any, NoReturn

import lightning as L
import torch
from jsonargparse import DefaultHelpFormatter
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.seed import isolate_rng

from srgan.callbacks import (
    BatchesRan,
    GracefulStop,
    LogProgress,
    RunFolder,
    ValidationLines,
    log_folder,
    metrics_text,
    run_folder,
    shown_path,
)
from srgan.data import SRDataModule
from srgan.discriminators import Discriminator
from srgan.generators import Generator
from srgan.images import check_writable, existing_ancestor, remove_empty_folders
from srgan.module import COMPONENTS, COMPONENTS_KEY, SRGAN, generator_steps
from srgan.objectives import AdversarialObjective
from srgan.weights import load_checkpoint

PROG = "python -m srgan.fit"
DESCRIPTION = (
    "Train a super-resolution model (fit) or score a checkpoint (validate, test), from YAML "
    "configs and --section.key options: python -m srgan.fit fit --config configs/debug.yaml "
    "trains a tiny model on the sample photos in seconds (configs/ and samples/ come with "
    "the source checkout); python -m srgan.fit fit --help lists every option."
)
# Relative data folders given in a config file are also looked up from the config's folder
# and its parents (so configs/debug.yaml finds samples/ from any working directory).
# What a run folder holds before any work: the resolved config and the hyper-parameters.
STARTUP_FILES = {"config.yaml", "hparams.yaml"}
DATA_FOLDERS = ("train_dir", "val_dir", "train_lr_dir", "val_lr_dir", "test_dir")
# Trainer options where Lightning reads an int as a number of batches and a float as a
# fraction of them; their type, Union[float, int], makes the parser take "1" for 1.0 (all
# batches), and nothing written on the command line or in YAML gives one batch.
BATCH_COUNTS = (
    "limit_train_batches",
    "limit_val_batches",
    "limit_test_batches",
    "limit_predict_batches",
)


def first_process() -> bool:
    """True but in DDP's other processes, which run this command line too (their rank is in
    the environment from the start): notes and warnings come from the first process only."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    # NODE_RANK: another machine's first process, under Lightning's own multi-node launch.
    return getattr(rank_zero_only, "rank", 0) == 0 and os.environ.get("NODE_RANK", "0") == "0"


def note(message: str) -> None:
    """A line on stderr, from the first process only."""
    if first_process():
        print(message, file=sys.stderr, flush=True)


def quiet_lightning() -> None:
    """Silence Lightning's notices that say nothing about the run: the TensorBoard and
    cloud-logger advertisements (srgan logs CSV on purpose), the manual-optimization
    checkpoint example (srgan's checkpoints hold the state after the step, as resuming
    needs), the checkpoint folder's change on a resume (a resumed run writes into a new
    version folder by design), and the warning that a mid-epoch resume cannot go on with
    the data (SRDataModule's state in the checkpoint does)."""
    for message in (
        ".*`tensorboardX` has been removed as a dependency",
        "The dirpath has changed from",
        "You're resuming from a checkpoint that ended before the epoch ended",
        "Using ModelCheckpoint with manual optimization and every_n_train_steps",
        r".*isinstance\(treespec, LeafSpec\)",
    ):
        warnings.filterwarnings("ignore", message=message)

    def no_tips(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("\N{ELECTRIC LIGHT BULB} Tip")

    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(no_tips)


def apple_gpu_to_cpu(trainer: Any) -> None:
    """Training keeps float64 metrics and draws Poisson noise, which Apple GPUs (MPS) do
    not have: ``accelerator: auto`` trains on the CPU there (with a note) instead of
    Lightning's choice of MPS; ``gpu`` or ``mps`` asked for on such a machine is an error
    that says what to give instead."""
    if torch.cuda.is_available() or not torch.backends.mps.is_available():
        return
    accelerator = trainer.get("accelerator", "auto")
    # A class given by its path (a Namespace with class_path) counts by its name.
    accelerator = str(getattr(accelerator, "class_path", accelerator))
    if accelerator == "auto":
        trainer["accelerator"] = "cpu"
        note("note: running on the CPU: srgan does not train on Apple GPUs (MPS)")
    elif accelerator in ("gpu", "mps") or accelerator.endswith("MPSAccelerator"):
        raise ValueError(
            f"--trainer.accelerator {accelerator}: srgan does not train on Apple GPUs (MPS); "
            "train on the CPU with --trainer.accelerator cpu --trainer.precision 32-true"
        )


def integer_batch_counts(arguments: list[str]) -> dict[str, int]:
    """The ``BATCH_COUNTS`` options whose last value in ``arguments`` (the command line,
    and the config files it names, in order) was written as an integer."""
    import yaml

    found: dict[str, int] = {}
    for index, argument in enumerate(arguments):
        name, _, value = argument.partition("=")
        if not value and index + 1 < len(arguments):
            value = arguments[index + 1]
        if name in ("--config", "-c"):
            try:
                trainer = (yaml.safe_load(Path(value).read_text(encoding="utf-8")) or {}).get(
                    "trainer"
                ) or {}
            except (OSError, yaml.YAMLError, AttributeError):
                continue  # the parser has said what is wrong with it
            for key in BATCH_COUNTS:
                if key in trainer:
                    found.pop(key, None)
                    if type(trainer[key]) is int:
                        found[key] = trainer[key]
        elif name.startswith("--trainer.") and name[len("--trainer.") :] in BATCH_COUNTS:
            key = name[len("--trainer.") :]
            found.pop(key, None)
            if re.fullmatch(r"[0-9]+", value.strip()):
                found[key] = int(value)
    return found


def batch_count_notes(arguments: list[str]) -> list[str]:
    """What an integer 1 given to a ``BATCH_COUNTS`` option does (all batches, not one)."""
    return [
        f"note: trainer.{key} 1 is read as 1.0, all batches (the option takes a fraction "
        "before a count); a fraction such as 0.1 limits it"
        for key, count in integer_batch_counts(arguments).items()
        if count == 1
    ]


def find_folder(value: str, config_files: list[Path]) -> str:
    """``value`` as given when it exists from the working directory (or is absolute), else
    the first match from the config files' folders and their parents, nearest first;
    ``~`` is the home folder, as for the data module."""
    value = os.path.expanduser(value) if value else value
    if not value or Path(value).is_absolute() or Path(value).exists():
        return value
    for config in config_files:
        for folder in config.resolve().parents:
            if (folder / value).exists():
                return str(folder / value)
    return value


def check_run_folders(trainer: L.Trainer, log_dir: Path | None) -> None:
    """The folders the run writes (its log folder, or the root one without a logger, and
    the checkpoint folders set apart) can be written: ``PermissionError`` in one line,
    before any work (Lightning's makedirs failed in a traceback)."""
    where = "--trainer.default_root_dir, or the logger's save_dir"
    folders = [(log_dir or Path(trainer.default_root_dir), where)]
    folders += [
        (Path(c.dirpath), "the ModelCheckpoint callback's dirpath")
        for c in trainer.checkpoint_callbacks
        if c.dirpath
    ]
    for folder, option in folders:
        try:
            check_writable(folder)
        except PermissionError as error:
            raise PermissionError(
                f"{error} (where the run writes: choose another with {option})"
            ) from None


def subclass_names(base: type) -> list[str]:
    """The names of ``base``'s subclasses, all generations, children before grandchildren."""
    names, pending = [], list(base.__subclasses__())
    while pending:
        cls = pending.pop(0)
        names.append(cls.__name__)
        pending += cls.__subclasses__()
    return names


# Options that name a class: a wrong name is answered with the names that work.
CLASS_OPTIONS = {
    "model.objective": AdversarialObjective,
    "model.generator": Generator,
    "model.discriminator": Discriminator,
}


SUBCOMMAND_HELP = {
    "fit": "train a model: the psnr or the gan stage, as model.stage says",
    "validate": "score a model once on the validation images (Y-PSNR, SSIM)",
    "test": "score a model once on the HR images of --data.test_dir (Y-PSNR, SSIM)",
    "predict": "run a model over the LR of --data.test_dir and return the outputs (to "
    "write image files, use python -m srgan.upscale)",
}


CKPT_PATH_HELP = (
    "a checkpoint to resume (fit) or to score (validate, test, predict): a path; last: the "
    "newest last.ckpt of the runs under the config's lightning_logs/; best: the best "
    "checkpoint that run kept (its ModelCheckpoint monitoring a metric)"
)


class SRHelpFormatter(DefaultHelpFormatter):
    """Help without reStructuredText's double backticks, which the option texts taken from
    docstrings (srgan's and Lightning's) carry: ``"auto"`` reads "auto"."""

    def format_help(self) -> str:
        return super().format_help().replace("``", "")


class SRArgumentParser(LightningArgumentParser):
    """A bad option is the error and where to look, not the 70-line usage before it; help
    in plain text (``SRHelpFormatter``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", SRHelpFormatter)
        # The parsers jsonargparse makes for a class's help (--model.generator.help X)
        # get no prog: argparse would name the script file (fit.py).
        kwargs.setdefault("prog", PROG)
        super().__init__(*args, **kwargs)

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not self.exit_on_error:
            super().error(message, ex)
        parser = getattr(ex, "subcommand_parser", None) or self
        prog = parser.prog.replace(" [options]", "")
        lines = [f"error: {unknown_class_error(message) or plain_union_error(message).strip()}"]
        for key, base in CLASS_OPTIONS.items():
            # The classes known, unless the one given was found (its arguments are wrong).
            if f'"{key}"' in message and "Problem with given class_path" not in message:
                lines.append(f"known {key} classes: {', '.join(subclass_names(base))}")
            # init_args without a class_path (a config fragment alone): the abstract base.
            if f"class_path '{base.__module__}.{base.__name__}'" in message:
                lines.append(
                    f"{key} is given arguments but no class: name one before them (--{key} "
                    f"{subclass_names(base)[0]} before that --config; known: "
                    f"{', '.join(subclass_names(base))}), or first a config that names one"
                )
        lines.append(f"tip: `{prog} --help` lists every option")
        sys.stderr.write("\n".join(lines) + "\n")
        self.exit(2)


def unknown_class_error(message: str) -> str | None:
    """jsonargparse's report on a class name it cannot find for a class option (every
    alternative it tried) as one line, with the name meant when it is a typo; ``None``
    for any other message."""
    key = re.search(r'Parser key "([^"]+)"', message)
    given = re.search(r"Expected a dot import path string: (\S+)", message)
    if key is None or given is None or key.group(1) not in CLASS_OPTIONS:
        return None
    names = subclass_names(CLASS_OPTIONS[key.group(1)])
    near = difflib.get_close_matches(given.group(1), names, n=1, cutoff=0.6)
    hint = f" (did you mean {near[0]}?)" if near else ""
    return f"--{key.group(1)} {given.group(1)}: no such class{hint}"


def plain_union_error(message: str) -> str:
    """jsonargparse's report on a class whose arguments were refused (a union with None or
    with a plain value: each alternative's failure, the types, the namespace given) as
    the class and its own reasons, on one line; any other message as it is."""
    found_class = "Problem with given class_path" in message
    if not (found_class or message.lstrip().startswith("Does not validate against any")):
        return message  # e.g. a class not found: jsonargparse's list of what it tried
    lines = message.splitlines()
    items = [line for line in lines if line.strip().startswith("- ")]
    if not items:
        return message
    indent = len(items[0]) - len(items[0].lstrip())  # the top level's items only
    reasons: list[str] = []
    for line in lines:
        text, depth = line.strip(), len(line) - len(line.lstrip())
        if text.startswith("- ") and depth == indent:
            reasons.append(text[2:])
        elif reasons and depth > indent and not text.startswith("Given value"):
            reasons[-1] += f" {text}"  # the item's further lines
    if any("Does not validate against any" in r for r in reasons):
        return message  # a union inside: flattened, it would read as noise
    # The other alternatives' failures (None, a plain value such as 'bicubic'): not the
    # reason when the class's own is there.
    own = [r for r in reasons if not r.startswith("Expected a ")]
    if not own:
        return message
    found = re.search(r"class_path='([\w.]+)'", message)
    return f"{found[1]}: {'; '.join(own)}" if found else "; ".join(own)


def logger_save_dir(trainer: Any) -> str | None:
    """The ``save_dir`` a config gives its (first) logger, where the run folder goes."""
    logger = trainer.get("logger")
    if isinstance(logger, list):
        logger = logger[0] if logger else None
    init_args = logger.get("init_args") if hasattr(logger, "get") else None
    save_dir = init_args.get("save_dir") if hasattr(init_args, "get") else None
    return str(save_dir) if save_dir else None


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

    def _add_subcommands(self, parser: LightningArgumentParser, **kwargs: Any) -> None:
        super()._add_subcommands(parser, **kwargs)
        # Lightning's own one-line descriptions are its Trainer methods' first lines, cut
        # mid-sentence for test and predict: what each does here instead.
        for action in parser._subcommands_action._choices_actions:
            action.help = SUBCOMMAND_HELP.get(action.dest, action.help)
        # --ckpt_path last is srgan's own (the newest last.ckpt of the config's runs).
        for subparser in parser._subcommands_action._name_parser_map.values():
            for option in subparser._actions:
                if option.dest == "ckpt_path":
                    option.help = CKPT_PATH_HELP

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        # Kept to tell the folders given on the command line from those of config files.
        self.arguments = [str(a) for a in (sys.argv[1:] if args is None else args)]
        super().parse_arguments(parser, args)

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        trainer = config.get("trainer")
        if trainer is not None and trainer.get("enable_checkpointing") is False:
            # The configs save checkpoints with a ModelCheckpoint callback: turned off with
            # checkpointing, which Lightning refused alongside it.
            callbacks = trainer.get("callbacks") or []
            if not isinstance(callbacks, list):  # one callback, not in a list
                callbacks = [callbacks]
            trainer["callbacks"] = [
                c for c in callbacks if not str(c.get("class_path", "")).endswith("ModelCheckpoint")
            ]
        if trainer is not None:
            apple_gpu_to_cpu(trainer)
            for line in batch_count_notes(getattr(self, "arguments", [])):
                note(line)
            if (save_dir := logger_save_dir(trainer)) and any(
                a.startswith("--trainer.default_root_dir") for a in getattr(self, "arguments", [])
            ):
                note(
                    f"note: this config's logger writes the run under its save_dir "
                    f"({save_dir}), not --trainer.default_root_dir: give "
                    "--trainer.logger.init_args.save_dir DIR to write it elsewhere"
                )
        files = [Path(os.fspath(path)) for path in (config.get("config") or [])]
        data = config.get("data")
        if data is None:
            return
        arguments = getattr(self, "arguments", [])
        # test and predict read only data.test_dir: the config's training folders may be
        # absent (scoring on another machine).
        needed = ("test_dir",) if self.subcommand in ("test", "predict") else DATA_FOLDERS
        for key in DATA_FOLDERS:
            value = data.get(key)
            option = f"--data.{key}"
            # Given on the command line: from the working directory only, not searched for
            # from the config files' folders as their own values are.
            given_here = any(
                a in (option, f"{option}+")
                or a.startswith(f"{option}=")
                or a.startswith(f"{option}+=")
                for a in arguments
            )
            search = [] if given_here else files
            if isinstance(value, str):
                data[key] = find_folder(value, search)
            elif isinstance(value, list):
                data[key] = [find_folder(v, search) for v in value]
            # A missing folder names its option (the loader would say only its path).
            given = data.get(key)
            for folder in [given] if isinstance(given, str) else given or []:
                if key in needed and not Path(folder).is_dir():
                    raise FileNotFoundError(f"--data.{key}: image folder not found: {folder}")

    def _parse_ckpt_path(self) -> None:
        # A checkpoint that is missing or that weights-only loading refuses is one clear
        # error, before Lightning opens it (which would end in a torch traceback).
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path not in (None, "last", "best", "hpc", "registry"):
            if not Path(ckpt_path).is_file():
                raise FileNotFoundError(f"--ckpt_path: checkpoint not found: {ckpt_path}")
            self._take_checkpoint(subcommand, ckpt_path)
        # Not Lightning's merge of the checkpoint's hyper-parameters over the config: the
        # config (its files and the command line) builds the model, with a checkpoint path
        # as with --ckpt_path last (found later); _take_checkpoint names what differs.
        if ckpt_path is not None and self.config[subcommand]["model"].get("init_from"):
            # Resuming: the checkpoint holds every network; the file the run started from
            # (recorded in its hyper-parameters) is neither needed nor perhaps still there.
            self.config[subcommand]["model"]["init_from"] = None

    def _take_checkpoint(self, subcommand: str, path: str) -> None:
        """Read ``path`` (weights only), refuse one of another stage, and keep it for the
        before_* hook, which checks that it fits the model the config builds. Resuming with
        other options than the checkpoint's says which, and which of them cannot apply."""
        checkpoint = load_checkpoint(path)
        model = self.config[subcommand]["model"]
        check_stage(checkpoint, model.get("stage"), path, resuming=subcommand == "fit")
        self.checkpoint = checkpoint
        if subcommand == "fit":
            callbacks = self.config[subcommand].get("trainer", {}).get("callbacks") or []
            stretched = any(
                str(getattr(c, "class_path", "")).endswith("TimeBudget") for c in callbacks
            )
            changed, kept = resume_differences(checkpoint, model, stretched=stretched)
            data = data_differences(Path(path), self.config[subcommand].get("data"))
            if data:
                note(
                    f"note: resuming with data options other than the run's (its config.yaml): "
                    f"{', '.join(data)}"
                )
            if changed:
                note(
                    f"note: resuming with options other than the checkpoint's: {', '.join(changed)}"
                )
            if kept:
                note(
                    f"note: the optimizers and schedules go on from the checkpoint's state, so "
                    f"{', '.join(kept)} do not apply; to change them, start a new run from "
                    "its weights with --model.init_from"
                )

    def _run_subcommand(self, subcommand: str) -> None:
        which = self.config_init[subcommand].get("ckpt_path")
        if which in ("last", "best"):
            # Lightning looks for these in this new run's own (empty) checkpoint folder,
            # finds nothing and trains from scratch: the last run's checkpoints are meant.
            path = last_checkpoint(self.trainer, which)
            if which == "best":
                path = best_checkpoint(path)
            self._take_checkpoint(subcommand, path)
            self.config_init[subcommand]["ckpt_path"] = self.config[subcommand]["ckpt_path"] = path
            note(f"--ckpt_path {which}: {path}")
        self.trainer.callbacks += [BatchesRan(), RunFolder(), GracefulStop(), ValidationLines()]
        if not sys.stderr.isatty():
            # A log file or a pipe: lines now and then, not a bar redrawn on every batch.
            for index, callback in enumerate(self.trainer.callbacks):
                if type(callback) is TQDMProgressBar:
                    self.trainer.callbacks[index] = LogProgress()
        folder = log_folder(self.trainer)
        check_run_folders(self.trainer, folder)
        existed = existing_ancestor(folder) if folder is not None else None
        try:
            super()._run_subcommand(subcommand)
        except BaseException:
            # A run that failed before writing anything leaves none of the folders it made
            # (the config files Lightning writes at the start are not a run's results).
            if folder is not None and existed is not None:
                if folder.is_dir() and {p.name for p in folder.iterdir()} <= STARTUP_FILES:
                    for name in STARTUP_FILES:
                        (folder / name).unlink(missing_ok=True)
                remove_empty_folders(folder, existed)
            raise

    def after_fit(self) -> None:
        folder = run_folder(self.trainer)
        if folder and self.trainer.is_global_zero:
            kept = ["config.yaml", "metrics.csv", "checkpoints/", "samples/"]
            kept = [name for name in kept if Path(folder, name).exists()]
            print(f"run folder: {folder} ({', '.join(kept)})", file=sys.stderr)

    def check_precision(self) -> None:
        """Only fp32 and the mixed precisions: a "-true" half (or double) precision casts
        the networks, not the batches, and ended in a dtype-mismatch traceback."""
        precision = str(self.trainer.precision)
        if precision.endswith("-true") and precision != "32-true":
            raise ValueError(
                f"--trainer.precision {precision} is not supported: use 32-true, 16-mixed "
                "(CUDA) or bf16-mixed (half-precision compute with float32 weights)"
            )

    def before_fit(self) -> None:
        self.check_precision()
        model = self.model
        # Saved in its checkpoints: a resume with another objective (or network, loss) says so.
        model.components = components_of(self.config[self.subcommand]["model"])
        # SRGAN steps its optimizers itself (manual optimization): these Trainer options
        # would stop Lightning with a traceback.
        if self.trainer.gradient_clip_val is not None:
            raise ValueError(
                "--trainer.gradient_clip_val: srgan steps its own optimizers; clip with "
                "--model.gradient_clip (the largest gradient norm of each network) instead"
            )
        if self.trainer.accumulate_grad_batches != 1:
            raise ValueError(
                "--trainer.accumulate_grad_batches is not supported (srgan steps its own "
                "optimizers); a larger --data.batch_size does what it would"
            )
        critic = getattr(model, "discriminator", None)
        n_critic = model.hparams.n_critic if isinstance(model, SRGAN) else 1
        steps = self.trainer.max_steps
        if getattr(model, "stage", None) == "gan" and n_critic > 1 and steps > 0:
            # Objectives compared at one max_steps get unequal generator budgets otherwise.
            plain = generator_steps(steps, 1)
            note(
                f"note: --trainer.max_steps {steps} counts optimizer steps: with n_critic "
                f"{n_critic} that is {generator_steps(steps, n_critic)} generator steps (with "
                f"n_critic 1, {plain}); for {plain}, give "
                f"--trainer.max_steps {(n_critic + 1) * plain}"
            )
        find_unused_parameters_in_gan_stage(self.trainer, model)
        crop = getattr(self.datamodule, "crop_size", None)
        if getattr(model, "stage", None) == "gan" and critic is not None and crop:
            multiple = getattr(critic, "size_multiple", 1)
            if crop % multiple:
                near = max(multiple, round(crop / multiple) * multiple)
                raise ValueError(
                    f"--data.crop_size {crop}: the {type(critic).__name__} discriminator takes "
                    f"crops whose sides are multiples of {multiple} (e.g. {near})"
                )
            batch = getattr(self.datamodule, "batch_size", 2)
            if self.config[self.subcommand].get("trainer", {}).get("sync_batchnorm"):
                batch *= self.trainer.world_size  # statistics pooled over the processes
            if hasattr(critic, "batch_problem") and (
                problem := critic.batch_problem(batch, crop, crop)
            ):
                raise ValueError(
                    f"--data.batch_size {self.datamodule.batch_size} --data.crop_size {crop}: "
                    f"{problem}; use a batch of 2 or more, crops of 64 px or more, or "
                    "--model.discriminator.init_args.normalization spectral (or none)"
                )
        checkpoint, self.checkpoint = getattr(self, "checkpoint", None), None
        if checkpoint is not None:
            path = self.config[self.subcommand]["ckpt_path"]
            check_fits(checkpoint, model, path, resuming=True)
            check_steps_left(checkpoint, path, self.trainer.max_steps)
        if (
            isinstance(model, SRGAN)
            and model.perceptual_loss is not None
            and model.hparams.perceptual_weight > 0
        ):
            # Its ImageNet backbone is read now, not at the first step: a missing file is
            # one line before any work (MissingWeightsError says how to fetch it).
            model.perceptual_loss.load()
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
                results = self.trainer.validate(
                    self.model, datamodule=self.datamodule, verbose=False
                )
            self.trainer.num_sanity_val_steps = 0
            scores = {k: v for k, v in (results or [{}])[0].items() if k.startswith("val/")}
            if scores and self.trainer.is_global_zero:
                print(
                    f"validation before training (step {self.trainer.global_step}): "
                    f"{metrics_text(scores)}",
                    file=sys.stderr,
                    flush=True,
                )

    def _check_scored_checkpoint(self) -> None:
        """validate, test, predict: a checkpoint that does not fit the model is one line."""
        self.check_precision()
        checkpoint, self.checkpoint = getattr(self, "checkpoint", None), None
        if checkpoint is not None:
            path = self.config[self.subcommand]["ckpt_path"]
            check_fits(checkpoint, self.model, path, resuming=False)
        elif not self.config[self.subcommand]["model"].get("init_from"):
            # Lightning runs the networks as built: a score of random weights looks real.
            note(
                f"warning: {self.subcommand} without --ckpt_path or --model.init_from runs "
                "the generator as built, untrained: give --ckpt_path last, best or PATH (a "
                "run's checkpoint), or --model.init_from PATH (weights)"
            )

    before_validate = before_test = before_predict = _check_scored_checkpoint

    def after_predict(self) -> None:
        note(
            "predict returns the SR images to Python callers (Trainer.predict) and writes "
            "none; to write image files: python -m srgan.upscale INPUT OUTPUT --model CKPT"
        )


def find_unused_parameters_in_gan_stage(trainer: L.Trainer, model: Any) -> None:
    """The GAN stage's generator step leaves the discriminator without gradients, and the
    discriminator's step the generator: DDP stops at such a backward pass unless it looks
    for unused parameters (as ``--trainer.strategy ddp_find_unused_parameters_true``
    does), so under DDP the GAN stage does. A strategy given that option keeps its own."""
    options = getattr(trainer.strategy, "_ddp_kwargs", None)
    if getattr(model, "stage", None) == "gan" and isinstance(options, dict):
        options.setdefault("find_unused_parameters", True)


def plain(value: Any) -> Any:
    """A config value (a namespace, tuples, paths) as JSON's types, to compare with one read
    from a saved config."""
    value = value.as_dict() if hasattr(value, "as_dict") else value
    return json.loads(json.dumps(value, default=str))


def data_differences(checkpoint: Path, data: Any) -> list[str]:
    """The data options (``data``, the config's namespace) that differ from those of the run
    a checkpoint belongs to, as its ``config.yaml`` beside ``checkpoints/`` records them
    (nothing when it is not there: a checkpoint moved elsewhere)."""
    saved_config = checkpoint.parent.parent / "config.yaml"
    if checkpoint.parent.name != "checkpoints" or not saved_config.is_file() or data is None:
        return []
    import yaml

    try:
        saved = (yaml.safe_load(saved_config.read_text(encoding="utf-8")) or {}).get("data") or {}
    except (OSError, yaml.YAMLError):
        return []
    given = plain(data)
    return [
        key
        for key in sorted(set(given) | set(saved))
        # The scale is the generator's (linked to it), named with the model's options.
        if key != "scale" and plain(given.get(key)) != plain(saved.get(key))
    ]


def components_of(model: Any) -> dict[str, Any]:
    """The config's (``model``, its namespace) networks, objective and losses as plain
    values: ``{"objective": {"class_path": ..., "init_args": {...}}, ...}``."""
    parts = {}
    for key in COMPONENTS:
        value = plain(model.get(key))
        # A class given by its path alone: that class with its defaults.
        parts[key] = {"class_path": value} if isinstance(value, str) else value
    # JSON's types only (tuples as lists, anything else as its text): checkpoints are
    # loaded weights-only.
    return parts


def resume_differences(
    checkpoint: dict[str, Any], model: Any, *, stretched: bool = False
) -> tuple[list[str], list[str]]:
    """The model options of the config (``model``, its namespace) that differ from the
    checkpoint's: those that apply (its hyper-parameters) and those its saved optimizer
    and schedule states override (``lr 0.05 (saved: 0.001)``). ``stretched``: a
    ``TimeBudget`` plans the schedules' ``T_max`` as the run goes (not an option changed)."""

    def same(given: Any, saved: Any) -> bool:
        if isinstance(saved, dict) and not isinstance(given, dict):  # MultiStepLR's Counter
            saved = sorted(k for k, n in saved.items() for _ in range(n))
        if isinstance(given, (list, tuple)) and isinstance(saved, (list, tuple)):
            return list(given) == list(saved)
        return given == saved

    hparams = checkpoint.get("hyper_parameters", {})
    changed = [
        f"{key} {model.get(key)} (saved: {saved})"
        for key, saved in hparams.items()
        if key not in ("_instantiator", "init_from")
        and key in model
        and not same(model.get(key), saved)
    ]
    # The objective, networks and losses (checkpoints of this version record them).
    given_parts = components_of(model)
    for key, saved in (checkpoint.get(COMPONENTS_KEY) or {}).items():
        given = given_parts.get(key)
        if given == saved:
            continue
        given, saved = (part if isinstance(part, dict) else {} for part in (given, saved))
        classes = [part.get("class_path", "none") for part in (given, saved)]
        if classes[0] != classes[1]:
            now, before = (name.rsplit(".", 1)[-1] for name in classes)
            if now == before:  # two classes of one name: their full paths
                now, before = classes
            changed.append(f"{key} {now} (saved: {before})")
            continue
        args = [part.get("init_args") or {} for part in (given, saved)]
        changed += [
            f"{key}.{arg} {args[0].get(arg)} (saved: {args[1].get(arg)})"
            for arg in sorted(set(args[0]) | set(args[1]))
            if not same(args[0].get(arg), args[1].get(arg))
        ]
    kept = []
    states = [
        ("optimizer", checkpoint.get("optimizer_states") or []),
        ("scheduler", checkpoint.get("lr_schedulers") or []),
    ]
    for kind, saved_states in states:
        for index, network in enumerate(("generator", "discriminator")):
            given = model.get(f"{network}_{kind}")
            if given is None or index >= len(saved_states):
                continue
            saved = saved_states[index]
            if kind == "optimizer":
                groups = saved.get("param_groups") or [{}]
                saved = {**groups[0], "lr": groups[0].get("initial_lr", groups[0].get("lr"))}
            for key, value in (given.get("init_args") or {}).items():
                # last_epoch: the schedule's position, not an option (its default is -1).
                planned = ("last_epoch", "T_max") if stretched else ("last_epoch",)
                if key in saved and key not in planned and not same(value, saved[key]):
                    kept.append(f"{network}_{kind} {key} {value} (saved: {saved[key]})")
    return changed, kept


def last_checkpoint(trainer: L.Trainer, option: str = "last") -> str:
    """The newest ``last.ckpt`` of the runs under the logger's folder (``version_*``)."""
    logger = trainer.logger
    root = Path(logger.root_dir) if logger is not None else Path(trainer.default_root_dir)
    found = sorted(root.glob("*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(
            f"--ckpt_path {option}: no run under {root} has a checkpoints/last.ckpt; give the "
            "checkpoint's path"
        )
    return str(found[-1])


def best_checkpoint(last: str) -> str:
    """The best checkpoint that the run of ``last`` (a ``last.ckpt``) recorded: its
    ``ModelCheckpoint`` that monitors a metric; ``FileNotFoundError`` without one."""
    states = load_checkpoint(last).get("callbacks", {})
    for key, state in states.items():
        monitored = isinstance(state, dict) and "'monitor': None" not in key
        if key.startswith("ModelCheckpoint") and monitored and state.get("best_model_path"):
            best = Path(state["best_model_path"])
            if not best.is_file():
                raise FileNotFoundError(f"--ckpt_path best: {best} (recorded in {last}) is gone")
            return str(best)
    raise FileNotFoundError(
        f"--ckpt_path best: the run of {last} kept no best checkpoint (its ModelCheckpoint "
        "monitors no metric: set its monitor, e.g. val/psnr with mode max); give a path, or last"
    )


def check_stage(
    checkpoint: dict[str, Any], stage: str | None, path: str, *, resuming: bool = True
) -> None:
    """``ValueError`` when the checkpoint was saved in another stage than the config's."""
    saved = checkpoint.get("hyper_parameters", {}).get("stage")
    if saved and stage and saved != stage:
        if resuming:
            what = (
                "resume with the config.yaml in its run folder; to start a new stage from "
                "its generator, give it as --model.init_from instead"
            )
        else:
            what = f"give the config.yaml in its run folder (or --model.stage {saved})"
        raise ValueError(
            f"--ckpt_path {path} was saved in stage {saved}, and this config is stage "
            f"{stage}: {what}"
        )


def check_fits(
    checkpoint: dict[str, Any], model: L.LightningModule, path: str, *, resuming: bool
) -> None:
    """``ValueError`` (one line, before any work) when the checkpoint's weights do not fit
    the model the config builds."""
    saved = {k: tuple(v.shape) for k, v in checkpoint.get("state_dict", {}).items()}
    wanted = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    problems = []
    for what, keys in [
        ("lacks", [k for k in wanted if k not in saved]),
        ("has extra", [k for k in saved if k not in wanted]),
        ("has other shapes of", [k for k in wanted if k in saved and saved[k] != wanted[k]]),
    ]:
        if keys:
            problems.append(f"{what} {len(keys)} weights ({', '.join(keys[:2])}, ...)")
    if problems:
        saved_stage = checkpoint.get("hyper_parameters", {}).get("stage")
        stage = getattr(model, "hparams", {}).get("stage")
        if saved_stage and stage and saved_stage != stage:
            problems.insert(0, f"it was saved in stage {saved_stage}, this config is stage {stage}")
        if resuming:
            what = (
                "Resuming needs the config the run was made with (the config.yaml in its run "
                "folder); to start a new run or stage from its generator, give it as "
                "--model.init_from instead"
            )
        else:
            what = "Give the config the run was made with (the config.yaml in its run folder)"
        raise ValueError(
            f"--ckpt_path {path} does not fit the model this config builds: "
            f"{'; '.join(problems)}. {what}"
        )


def check_steps_left(checkpoint: dict[str, Any], path: str, max_steps: int) -> None:
    """``ValueError`` when a run resumed from ``checkpoint`` would have no step to train."""
    step = checkpoint.get("global_step", 0)
    if max_steps is not None and max_steps >= 0 and step >= max_steps:
        raise ValueError(
            f"--ckpt_path {path} is at step {step} and --trainer.max_steps is {max_steps}: "
            "nothing is left to train; raise --trainer.max_steps to train on"
        )


def main(args: list[str] | None = None, *, run: bool = True) -> SRCLI:
    # Tensor cores for float32 matmuls on GPUs that have them; no effect on CPU.
    torch.set_float32_matmul_precision("high")
    quiet_lightning()
    with warnings.catch_warnings():
        if not first_process():
            warnings.simplefilter("ignore")  # the first process gives them
        return SRCLI(
            SRGAN,
            SRDataModule,
            args=args,
            run=run,
            parser_kwargs={"prog": PROG, "description": DESCRIPTION},
            save_config_kwargs={"overwrite": True},
            parser_class=SRArgumentParser,
            # SRGAN configures its own optimizers (model.generator_optimizer, ...): no
            # top-level --optimizer / --lr_scheduler that would silently replace them.
            auto_configure_optimizers=False,
        )


def command(args: list[str] | None = None) -> int:
    """``srgan-fit`` / ``python -m srgan.fit``: a problem with the data, the config or a
    checkpoint (found before any batch runs) is one line on stderr and exit status 2, not a
    traceback; an error once batches run is shown in full; Ctrl-C is 130."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    BatchesRan.ran = False
    GracefulStop.stopped = GracefulStop.saved = None
    GracefulStop.speaks = True
    try:
        main(args)
        if GracefulStop.stopped:
            return stopped_by_signal()
    except (FileNotFoundError, NotADirectoryError, PermissionError, ValueError) as error:
        if BatchesRan.ran:
            raise
        print(f"error: {plain_union_error(str(error))}", file=sys.stderr)
        return 2
    except MisconfigurationException as error:  # e.g. a GPU config on a machine without one
        if BatchesRan.ran:
            raise
        hint = ""
        if "gpu" in str(error).lower() or "cuda" in str(error).lower():
            hint = " (to run on the CPU: --trainer.accelerator cpu --trainer.precision 32-true)"
        print(f"error: {error}{hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        # Lightning exits 1 on Ctrl-C and with no status on SIGTERM (success, to a
        # scheduler): the signal's status instead, and where the run stopped.
        if GracefulStop.stopped:
            return stopped_by_signal()
        raise
    finally:
        # A process group left to the interpreter's exit can abort it (a gloo thread still
        # joinable when its owner is destroyed: "terminate called ..."); close it here.
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    return 0


def stopped_by_signal() -> int:
    """The line and the exit status of a run that a signal stopped."""
    signal_name = GracefulStop.stopped
    if not GracefulStop.speaks:
        pass  # under DDP, rank 0 says it
    elif GracefulStop.saved:
        print(
            f"stopped by {signal_name} at step {GracefulStop.step}: saved "
            f"{shown_path(GracefulStop.saved)} "
            "(resume with --ckpt_path last, or that path)",
            file=sys.stderr,
        )
    else:
        print("interrupted" if signal_name == "SIGINT" else "terminated", file=sys.stderr)
    return 143 if signal_name == "SIGTERM" else 130


if __name__ == "__main__":
    sys.exit(command())
