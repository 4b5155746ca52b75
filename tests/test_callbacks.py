"""``TimeBudget`` plans the step count from the measured rate and follows rate changes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR

import srgan.callbacks
from srgan.callbacks import TimeBudget


class FakeRun:
    """Just the trainer attributes TimeBudget touches, and a clock the test advances."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, max_steps: int = -1) -> None:
        self.now = 0.0
        monkeypatch.setattr(srgan.callbacks.time, "perf_counter", lambda: self.now)
        self.optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        self.scheduler = CosineAnnealingLR(self.optimizer, T_max=10**6, eta_min=0.0)
        self.trainer = SimpleNamespace(
            max_steps=max_steps,
            global_step=0,
            fit_loop=SimpleNamespace(total_batch_idx=-1, epoch_loop=SimpleNamespace(max_steps=-1)),
            lr_scheduler_configs=[SimpleNamespace(scheduler=self.scheduler)],
            sanity_checking=False,
            world_size=1,
            is_global_zero=True,
        )

    def steps(self, callback: TimeBudget, count: int, seconds_each: float) -> None:
        for _ in range(count):
            self.now += seconds_each
            self.trainer.global_step += 1
            self.trainer.fit_loop.total_batch_idx += 1
            self.optimizer.step()
            self.scheduler.step()
            callback.on_train_batch_end(self.trainer, None, None, None, 0)

    def validation(self, callback: TimeBudget, seconds: float, sanity: bool = False) -> None:
        self.trainer.sanity_checking = sanity
        callback.on_validation_start(self.trainer, None)
        self.now += seconds
        callback.on_validation_end(self.trainer, None)
        self.trainer.sanity_checking = False


def test_plans_from_the_measured_rate_and_stretches_the_cosine(monkeypatch) -> None:
    run = FakeRun(monkeypatch)
    budget = TimeBudget(seconds=100.0, warmup_steps=5, measure_steps=10, reserve=0.0)
    budget.on_fit_start(run.trainer, None)
    run.steps(budget, 15, 0.125)  # 8 steps/s, 1.875 s used: 98.125 s left -> 785 more steps
    assert budget.planned_steps == 15 + 785
    assert run.trainer.fit_loop.epoch_loop.max_steps == 800
    assert run.scheduler.T_max == 800
    run.steps(budget, 100, 0.5)  # slower now, but planning only once by default
    assert budget.planned_steps == 800


@pytest.mark.parametrize(
    ("seconds_each", "shown"), [(1 / 0.177, "0.177"), (1 / 15.8, "15.8"), (1 / 1234, "1234")]
)
def test_the_printed_rate_is_readable_at_any_speed(monkeypatch, capsys, seconds_each, shown):
    run = FakeRun(monkeypatch)
    budget = TimeBudget(seconds=10**6, warmup_steps=2, measure_steps=8)
    budget.on_fit_start(run.trainer, None)
    run.steps(budget, 10, seconds_each)
    assert f"TimeBudget: {shown} optimizer steps/s at step 10" in capsys.readouterr().out


def test_replanning_follows_a_slower_machine_and_still_anneals(monkeypatch) -> None:
    run = FakeRun(monkeypatch)
    budget = TimeBudget(
        seconds=100.0, warmup_steps=5, measure_steps=10, reserve=0.0, replan_every=20
    )
    budget.on_fit_start(run.trainer, None)
    run.steps(budget, 15, 0.125)
    assert budget.planned_steps == 800
    run.steps(budget, 20, 0.5)  # 2 steps/s from here: 88.125 s left -> 176 more steps
    assert budget.planned_steps == 35 + 176
    assert run.scheduler.T_max == 211
    run.steps(budget, 211 - 35, 0.5)
    assert run.optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-6)


def test_never_plans_past_the_configured_max_steps(monkeypatch) -> None:
    run = FakeRun(monkeypatch, max_steps=50)
    budget = TimeBudget(seconds=100.0, warmup_steps=5, measure_steps=10, replan_every=10)
    budget.on_fit_start(run.trainer, None)
    run.steps(budget, 35, 0.01)
    assert budget.planned_steps == 50


def test_a_resumed_run_plans_after_its_own_warm_up(monkeypatch) -> None:
    run = FakeRun(monkeypatch)
    run.trainer.global_step = run.trainer.fit_loop.total_batch_idx = 3000
    budget = TimeBudget(seconds=100.0, warmup_steps=5, measure_steps=10, reserve=0.0)
    budget.on_fit_start(run.trainer, None)
    run.steps(budget, 15, 0.125)
    assert budget.planned_steps == 3015 + 785


def test_validation_time_is_planned_for(monkeypatch, capsys) -> None:
    run = FakeRun(monkeypatch)
    budget = TimeBudget(seconds=100.0, warmup_steps=5, measure_steps=10, reserve=0.0)
    budget.on_fit_start(run.trainer, None)
    run.validation(budget, 30.0, sanity=True)  # the sanity check: not a cost of training
    run.now = 0.0
    run.steps(budget, 15, 0.125)
    assert budget.planned_steps == 800  # no validation seen yet
    run.steps(budget, 5, 0.125)
    run.validation(budget, 1.0)  # 1 s after 20 steps: 0.05 s per step on top of 0.125
    # 3.5 s used, 96.5 s left at 0.175 s per step: 551 more steps
    assert budget.planned_steps == 20 + 551
    assert "(+50 ms/step of validation) at step 20, planning 571 steps" in capsys.readouterr().out
    # A validation inside the next rate window does not count as training time.
    budget.replan_every = 20
    run.steps(budget, 10, 0.125)
    run.validation(budget, 1.0)
    run.steps(budget, 10, 0.125)
    assert budget._rate == pytest.approx(8.0)


def test_a_validation_before_the_fit_is_not_a_cost_of_its_steps(monkeypatch) -> None:
    run = FakeRun(monkeypatch)
    budget = TimeBudget(seconds=100.0, warmup_steps=5, measure_steps=10, reserve=0.0)
    run.validation(budget, 10.0)  # --validate_first: trainer.validate before trainer.fit
    run.now = 0.0
    budget.on_fit_start(run.trainer, None)
    run.steps(budget, 15, 0.125)
    assert budget.planned_steps == 800  # as without it


def test_under_ddp_every_process_takes_the_first_ones_plan(monkeypatch, capsys) -> None:
    """Each process times itself: its own plan could end it before the others, which
    would wait for it for ever. The first's plan is broadcast; only the first prints."""
    run = FakeRun(monkeypatch)
    sent = []

    def broadcast(value: int, src: int = 0) -> int:
        sent.append((value, src))
        return 777

    run.trainer.world_size, run.trainer.is_global_zero = 2, False
    run.trainer.strategy = SimpleNamespace(broadcast=broadcast)
    budget = TimeBudget(seconds=100.0, warmup_steps=5, measure_steps=10, reserve=0.0)
    budget.on_fit_start(run.trainer, None)
    run.steps(budget, 15, 0.1)
    assert sent and sent[0][1] == 0 and sent[0][0] != 777
    assert budget.planned_steps == run.trainer.fit_loop.epoch_loop.max_steps == 777
    assert "TimeBudget" not in capsys.readouterr().out
