"""``TimeBudget``: train for a wall-clock budget and still finish the learning-rate schedule.

Lightning's ``max_time`` stops a run mid-schedule. This callback instead measures the step
rate after a warm-up, then sets ``max_steps`` to what fits the remaining time and
stretches (or shrinks) every cosine schedule's ``T_max`` to end there, so a run on
unknown hardware still anneals to its final learning rate. The steps actually taken are
in the checkpoint and the logs.
"""

from __future__ import annotations

import time

import lightning as L
from torch.optim.lr_scheduler import CosineAnnealingLR


class TimeBudget(L.Callback):
    """Fit training into ``seconds`` of wall time (measured from the start of fitting).

    Args:
        seconds: the budget for the whole ``fit`` (validation included).
        warmup_steps: batches to skip before measuring (start-up, cuDNN autotuning).
        measure_steps: batches to time.
        reserve: fraction of the remaining time kept free for validation and saving.
    """

    def __init__(
        self,
        *,
        seconds: float,
        warmup_steps: int = 100,
        measure_steps: int = 200,
        reserve: float = 0.05,
    ) -> None:
        self.seconds = seconds
        self.warmup_steps = warmup_steps
        self.measure_steps = measure_steps
        self.reserve = reserve
        self._start = 0.0
        self._mark: tuple[float, int] | None = None
        self.planned_steps: int | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx
    ) -> None:  # noqa: ANN001
        if self.planned_steps is not None:
            return
        batches = trainer.fit_loop.total_batch_idx + 1
        now = time.perf_counter()
        if batches == self.warmup_steps:
            self._mark = (now, trainer.global_step)
        elif self._mark is not None and batches == self.warmup_steps + self.measure_steps:
            rate = (trainer.global_step - self._mark[1]) / (
                now - self._mark[0]
            )  # optimizer steps / s
            remaining = (self.seconds - (now - self._start)) * (1 - self.reserve)
            planned = trainer.global_step + max(0, int(rate * remaining))
            if trainer.max_steps and trainer.max_steps > 0:
                planned = min(planned, trainer.max_steps)
            self.planned_steps = planned
            trainer.fit_loop.epoch_loop.max_steps = planned
            for config in trainer.lr_scheduler_configs:
                scheduler = config.scheduler
                if isinstance(scheduler, CosineAnnealingLR) and trainer.global_step:
                    ratio = (
                        scheduler.last_epoch / trainer.global_step
                    )  # scheduler steps per optimizer step
                    scheduler.T_max = max(1, round(planned * ratio))
            print(
                f"TimeBudget: {rate:.1f} optimizer steps/s, planning {planned} steps in {self.seconds:.0f}s"
            )
