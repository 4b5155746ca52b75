"""Training callbacks: ``TimeBudget``, a ``ModelCheckpoint`` that keeps the final step,
``GracefulStop`` (Ctrl-C and SIGTERM stop a run at a batch's end, saved),
``ValidationLines`` (each validation's scores in a line), ``LogProgress``, training
progress for a log, and ``BatchesRan`` and ``RunFolder``, which tell ``srgan.fit`` whether
a failure came after the first batch and name the run folder once a run starts
(``srgan.fit`` adds all but ``TimeBudget`` and ``ModelCheckpoint`` itself, and puts
``LogProgress`` in place of Lightning's bar where stderr is not a terminal).

``TimeBudget``: train for a wall-clock budget and still finish the learning-rate schedule.

Lightning's ``max_time`` stops a run mid-schedule. This callback instead measures the step
rate after a warm-up, then sets ``max_steps`` to what fits the remaining time and
stretches (or shrinks) every cosine schedule's ``T_max`` to end there, so a run on
unknown hardware still anneals to its final learning rate. On a machine shared with other
jobs the rate changes; ``replan_every`` re-measures it and re-plans as the run goes
(``CosineAnnealingLR``'s recursive form follows a changed ``T_max`` smoothly and still
reaches ``eta_min`` at the new end). The steps actually taken are in the checkpoint and
the logs.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch import callbacks
from lightning.pytorch.callbacks.progress.progress_bar import ProgressBar
from torch.optim.lr_scheduler import CosineAnnealingLR
from tqdm import tqdm

from srgan.progress import LogLines


class ModelCheckpoint(callbacks.ModelCheckpoint):
    """Lightning's ``ModelCheckpoint``, whose ``save_last`` also covers the final step.

    Lightning writes ``last.ckpt`` at the end of training only when it has written none
    before, so with ``every_n_train_steps`` (or a run stopped mid-epoch by ``max_steps``
    or ``TimeBudget``) the steps after the last scheduled save were lost: ``last.ckpt``
    was older than the trained model. Here it is brought up to date when training ends
    (with ``save_last="link"``, the final step is saved and ``last.ckpt`` links to it).
    """

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._validated = False

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._validated = True
        super().on_validation_end(trainer, pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # The first epoch end of a run resumed at an epoch's end comes before any validation
        # in this process: Lightning, with no validation batches counted yet, takes the run
        # for one without validation and ranks by a metric not logged yet, warning that it
        # is missing (and saving nothing). Only that case is passed over: a run without
        # validation, or with a mistyped monitor, is still told.
        resumed_before_validation = trainer.ckpt_path and not getattr(self, "_validated", True)
        if resumed_before_validation and self.monitor not in self._monitor_candidates(trainer):
            return
        super().on_train_epoch_end(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            candidates = self._monitor_candidates(trainer)
            if self.save_last == "link":
                # 'link' only points last.ckpt at the newest saved file: save this step first.
                self._save_checkpoint(trainer, self.format_checkpoint_name(candidates))
            self._save_last_checkpoint(trainer, candidates)


class TimeBudget(L.Callback):
    """Fit training into ``seconds`` of wall time (measured from the start of fitting).

    The plan counts validation: the training rate is measured without the validation
    passes, and the validation seconds so far, per training step, are added to each step's
    cost; the plan is made again after each validation pass (the first one says what they
    cost).

    Args:
        seconds: the budget for the whole ``fit`` (validation included).
        warmup_steps: batches to skip before measuring (start-up, cuDNN autotuning).
        measure_steps: batches to time for the first plan.
        reserve: fraction of the remaining time kept free for validation and saving.
        replan_every: after the first plan, re-measure the rate over every this many
            batches and re-plan (0: plan once).
    """

    def __init__(
        self,
        *,
        seconds: float,
        warmup_steps: int = 100,
        measure_steps: int = 200,
        reserve: float = 0.05,
        replan_every: int = 0,
    ) -> None:
        self.seconds = seconds
        self.warmup_steps = warmup_steps
        self.measure_steps = measure_steps
        self.reserve = reserve
        self.replan_every = replan_every
        self._start = 0.0
        self._limit = 0
        self._mark: tuple[float, int, int] | None = None  # (time, global step, batches)
        self._first_batch: int | None = None  # a resumed run starts counting where it resumes
        self._first_step = 0
        self._validation_started: float | None = None
        self._validation_seconds = 0.0  # in this fit, sanity check aside
        self._validation_in_window = 0.0  # of it, since the rate's window began
        self._rate: float | None = None  # training steps per second, validation aside
        self.planned_steps: int | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()
        # A validation before the fit (--validate_first) is neither in the budget nor a
        # cost of the steps to plan.
        self._validation_seconds = self._validation_in_window = 0.0
        self._validation_started = None
        self._limit = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else 0

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx
    ) -> None:
        if self._first_batch is None:
            self._first_batch = trainer.fit_loop.total_batch_idx
            self._first_step = trainer.global_step - 1
        batches = trainer.fit_loop.total_batch_idx - self._first_batch + 1
        now = time.perf_counter()
        if self._mark is None:
            if batches == self.warmup_steps:
                self._mark = (now, trainer.global_step, batches)
                self._validation_in_window = 0.0
            return
        window = self.measure_steps if self.planned_steps is None else self.replan_every
        if window <= 0 or batches - self._mark[2] < window:
            return
        training = now - self._mark[0] - self._validation_in_window
        self._rate = (trainer.global_step - self._mark[1]) / max(training, 1e-9)
        self._mark = (now, trainer.global_step, batches)
        self._validation_in_window = 0.0
        self._plan(trainer, self._rate, now)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._validation_started = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._validation_started is None:
            return
        now = time.perf_counter()
        spent, self._validation_started = now - self._validation_started, None
        first = self._validation_seconds == 0
        self._validation_seconds += spent
        self._validation_in_window += spent
        if self._rate is not None:
            self._plan(trainer, self._rate, now, say=first)

    def _plan(self, trainer: L.Trainer, rate: float, now: float, say: bool = False) -> None:
        """Set ``max_steps`` (and every cosine ``T_max``) to what ``rate`` fits in the time
        left, with the validation seconds per step so far on top of each step."""
        remaining = (self.seconds - (now - self._start)) * (1 - self.reserve)
        steps_made = max(trainer.global_step - self._first_step, 1)
        seconds_per_step = 1 / max(rate, 1e-12) + self._validation_seconds / steps_made
        planned = trainer.global_step + max(0, int(remaining / seconds_per_step))
        if self._limit:
            planned = min(planned, self._limit)
        if trainer.world_size > 1:
            # Every process plans at the same batch, each from its own clock: all take the
            # first's plan, or one would stop early and leave the others waiting for it.
            planned = trainer.strategy.broadcast(planned, src=0)
        first = self.planned_steps is None
        self.planned_steps = planned
        trainer.fit_loop.epoch_loop.max_steps = planned
        for config in trainer.lr_scheduler_configs:
            scheduler = config.scheduler
            if isinstance(scheduler, CosineAnnealingLR) and trainer.global_step:
                # scheduler steps per optimizer step (the GAN stage has two optimizers)
                ratio = scheduler.last_epoch / trainer.global_step
                scheduler.T_max = max(scheduler.last_epoch + 1, round(planned * ratio))
        if (first or self.replan_every or say) and trainer.is_global_zero:
            shown = f"{rate:.3g}" if rate < 100 else f"{rate:.0f}"  # 0.177, 15.8, 1234
            validation = self._validation_seconds / steps_made
            extra = f" (+{validation * 1000:.3g} ms/step of validation)" if validation else ""
            print(
                f"TimeBudget: {shown} optimizer steps/s{extra} at step {trainer.global_step}, "
                f"planning {planned} steps in {self.seconds:.0f}s",
                flush=True,
            )


class GracefulStop(L.Callback):
    """Ctrl-C while training stops the run when the batch under way is done, as a
    finished run stops (no validation pass first): ``last.ckpt`` holds that step, and
    resuming goes on exactly; a second Ctrl-C stops at once, unsaved. SIGTERM (a
    scheduler's, ``kill``), which Lightning turns into an exit at the end of a batch,
    saves ``last.ckpt`` there too (in a validation pass, the pass is cut short and the
    resumed run does not redo it). ``stopped`` names the signal, ``saved`` and ``step``
    the checkpoint written (``srgan.fit.command`` exits 130 or 143 and says so).
    """

    stopped: str | None = None
    saved: str | None = None
    step: int | None = None
    speaks = True  # this process says so: rank 0 only, under DDP

    def __init__(self) -> None:
        self.requested = False
        self.previous: Any = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Not at fit start: Lightning notes the signal handlers after it, to put them back
        # when the run ends, and would put this one back.
        GracefulStop.stopped = GracefulStop.saved = GracefulStop.step = None
        self.requested = False
        GracefulStop.speaks = trainer.is_global_zero
        # SIGINT ignored (a job started in the background by a script or nohup): it stays
        # so, as Python leaves it at start-up.
        main = threading.current_thread() is threading.main_thread()
        if main and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            self.previous = signal.signal(signal.SIGINT, self._interrupt)

    def _interrupt(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt  # the second Ctrl-C: at once
        self.requested = True
        if GracefulStop.speaks:
            print(
                "\nCtrl-C: stopping when this batch is done and saving last.ckpt (Ctrl-C "
                "again to stop at once, unsaved)",
                file=sys.stderr,
                flush=True,
            )

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        requested = self.requested
        if trainer.world_size > 1:  # every process stops after the same batch
            requested = trainer.strategy.reduce_boolean_decision(requested, all=False)
        if requested:
            GracefulStop.stopped = "SIGINT"
            trainer.should_stop = True
            # Lightning validates before a requested stop: not now (the run resumes here).
            trainer.limit_val_batches = 0

    def restore(self) -> None:
        """SIGINT's handler as it was before training."""
        if self.previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.restore()
        if GracefulStop.stopped:
            self._save(trainer)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        self.restore()
        if isinstance(exception, KeyboardInterrupt):
            GracefulStop.stopped = "SIGINT"
        elif isinstance(exception, SIGTERMException) and trainer.state.fn == "fit":
            GracefulStop.stopped = "SIGTERM"
            self._save(trainer)  # at a batch's end: resumable

    def _save(self, trainer: L.Trainer) -> None:
        """``last.ckpt`` at this step: by srgan's ``ModelCheckpoint`` where it keeps one,
        else written here, beside the run's other checkpoints."""
        callback = trainer.checkpoint_callback
        if isinstance(callback, ModelCheckpoint) and callback.save_last:
            callback.on_train_end(trainer, trainer.lightning_module)  # once per step
            path = callback.last_model_path
        else:
            folder = getattr(callback, "dirpath", None)
            if not folder:
                folder = Path(trainer.log_dir or trainer.default_root_dir) / "checkpoints"
            path = str(Path(folder) / "last.ckpt")
            trainer.save_checkpoint(path)
        if path:
            GracefulStop.saved, GracefulStop.step = path, trainer.global_step


class ValidationLines(L.Callback):
    """A line with the scores after each validation of a fit, whatever shows the progress
    (Lightning's bar on a terminal, ``LogProgress`` in a log, or nothing): written through
    tqdm, which clears a bar on a terminal and draws it again below the line."""

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn != "fit" or trainer.sanity_checking or not trainer.is_global_zero:
            return
        scores = {k: v for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        if scores:
            line = f"validation at step {trainer.global_step}: {metrics_text(scores)}"
            tqdm.write(line, file=sys.stderr)
            sys.stderr.flush()


class LogProgress(ProgressBar):
    """Lightning's progress bar for a log file or a pipe: a line every
    ``srgan.progress.LOG_EVERY`` seconds while training (steps done of ``max_steps``, steps
    per second, time left, the bar's metrics), instead of a bar redrawn with carriage
    returns on every batch."""

    def __init__(self) -> None:
        super().__init__()
        self.enabled = True
        self.lines: LogLines | None = None

    def disable(self) -> None:
        self.enabled = False

    def enable(self) -> None:
        self.enabled = True

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        step = trainer.global_step
        self.lines = LogLines(desc="training", total=total, unit="steps", initial=step)

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if self.lines is None or not self.enabled or not trainer.is_global_zero:
            return
        if trainer.max_steps and trainer.max_steps > 0:
            self.lines.total = trainer.max_steps  # TimeBudget plans it as the run goes
        metrics = self.get_metrics(trainer, trainer.lightning_module)
        metrics.pop("v_num", None)
        self.lines.set_postfix_str(metrics_text(metrics))
        self.lines.update(trainer.global_step - self.lines.n)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.lines is not None and self.enabled and trainer.is_global_zero:
            self.lines.close()


class BatchesRan(L.Callback):
    """Notes that batches have run: an error after that is a failure of the run itself, to
    be shown in full, not a problem with the command line, the data or a checkpoint."""

    ran = False

    def on_train_batch_start(self, *args: object) -> None:
        BatchesRan.ran = True

    on_validation_batch_start = on_test_batch_start = on_predict_batch_start = on_train_batch_start


class RunFolder(L.Callback):
    """Names the run folder once the run has started (its data read, its checkpoint
    loaded), so that a run stopped by a bad argument names no folder."""

    shown: str | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        folder = run_folder(trainer)
        if folder and trainer.is_global_zero and folder != self.shown:
            print(f"run folder: {folder}", file=sys.stderr)
            self.shown = folder  # once (--validate_first validates in the same folder)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "validate":  # not the validations of a fit
            self.on_fit_start(trainer, pl_module)

    on_test_start = on_predict_start = on_fit_start


def run_folder(trainer: L.Trainer) -> str | None:
    """The run's log folder: relative to the working directory when inside it."""
    folder = log_folder(trainer)
    return None if folder is None else shown_path(folder)


def shown_path(path: str | Path) -> str:
    """``path`` as messages show it: relative to the working directory when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def log_folder(trainer: L.Trainer) -> Path | None:
    logger = trainer.logger
    return Path(logger.log_dir).resolve() if logger is not None and logger.log_dir else None


def metrics_text(metrics: dict[str, Any]) -> str:
    """``name=value`` pairs, numbers to four significant digits."""
    parts = []
    for name, value in metrics.items():
        value = value.item() if hasattr(value, "item") else value
        parts.append(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}")
    return ", ".join(parts)
