"""The release pipeline end to end at smoke scale: GAN runs with a fixed step budget, then the
ablation report on their logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchmarks.release import ablation
from benchmarks.release import plan as release
from srgan.weights import load_generator, save_generator
from tests.conftest import TINY_GENERATORS, require_assets

CPU_CONFIG = Path("configs") / release.RELEASE / "gan_fast_x4_cpu.yaml"
GPU_JOB = Path("benchmarks") / "release" / "gpu_job.sh"


def test_fixed_steps_replace_the_time_budget(tmp_path: Path) -> None:
    args = release.run_args(
        "gan_ragan_s0",
        CPU_CONFIG,
        [release.OBJECTIVES["ragan"]],
        0,
        data=["T91"],
        runs=tmp_path,
        budget=None,
        init="fast.safetensors",
        smoke=False,
        max_steps=40,
    )
    assert "--trainer.max_steps=40" in args and "--model.init_from=fast.safetensors" in args
    override = yaml.safe_load((tmp_path / "gan_ragan_s0.override.yaml").read_text())
    classes = [c["class_path"] for c in override["trainer"]["callbacks"]]
    assert not any(c.endswith("TimeBudget") for c in classes)


def test_budget_and_steps_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        release.main(["--data", "x", "--gan-budget", "5", "--gan-steps", "5", "--gan-init", "g"])
    assert "not both" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        release.main(["--data", "x", "--gan-steps", "5"])
    assert "--gan-init" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # before any run starts, not once per run
        release.main(["--data", "nowhere", "--psnr-budget", "5"])
    assert "--data: image folder not found: nowhere" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # no budget at all: nothing to train, said so
        release.main(["--data", "x", "--smoke"])
    assert "nothing to train: give --psnr-budget" in capsys.readouterr().err


@pytest.mark.slow  # two GAN runs in subprocesses: about 15 s
def test_cpu_ablation_pipeline_at_smoke_scale(image_dir: Path, tmp_path: Path) -> None:
    require_assets("vgg16")  # the CPU config's perceptual loss
    init = save_generator(TINY_GENERATORS["CompactNet"](), tmp_path / "init.safetensors")
    runs, out = tmp_path / "runs", tmp_path / "out"
    names = ["gan_ragan_s0", "gan_maxsurprise_s0"]
    release.main(
        ["--data", str(image_dir), "--gan-config", str(CPU_CONFIG), "--gan-init", str(init)]
        + ["--gan-steps", "6", "--gan-runs", *names, "--parallel", "1", "--smoke"]
        + ["--runs", str(runs), "--out", str(out)]
    )
    for name in names:
        generator = load_generator(out / f"{name}.safetensors")
        assert type(generator).__name__ == "CompactNet"
    assert (out / "logs.tar.gz").is_file()

    ablation.main(["--runs", str(runs), "--out", str(tmp_path / "report")])
    report = json.loads((tmp_path / "report" / "ablation.json").read_text())
    by_run = {r["run"]: r for r in report["runs"]}
    assert set(by_run) == set(names)
    for record in by_run.values():
        assert record["batches"] > 0 and record["final_d_real_mean"] is not None
    assert (tmp_path / "report" / "ablation_curves.png").stat().st_size > 0


def test_every_gan_run_names_an_existing_objective_fragment() -> None:
    for name, (fragments, seed) in release.GAN_RUNS.items():
        assert all((Path("configs") / f).is_file() for f in fragments), name
        assert ablation.RUN_NAME.match(name)["seed"] == str(seed)
    assert set(release.DEFAULT_GAN_RUNS) <= set(release.GAN_RUNS)


def test_psnr_runs_picks_the_models_a_budget_trains(
    image_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planned: list[dict[str, release.Run]] = []

    def record(plan: dict[str, release.Run], args: object) -> tuple[dict[str, float], list]:
        planned.append(plan)
        return dict.fromkeys(plan, 0.0), []

    monkeypatch.setattr(release, "launch", record)
    common = ["--data", str(image_dir), "--psnr-budget", "60", "--out", str(tmp_path / "out")]
    common += ["--runs", str(tmp_path / "runs")]
    release.main([*common, "--psnr-runs", "quality", "--quality-init", "q.safetensors"])
    release.main(common)
    only_quality, both = planned
    assert list(only_quality) == ["quality"]
    assert only_quality["quality"].init == "q.safetensors" and only_quality["quality"].budget == 60
    assert only_quality["quality"].config.name == "quality_x4.yaml"
    assert set(both) == {"fast", "quality"}


def test_a_failed_run_fails_the_release_after_the_others_are_written(
    image_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(release, "launch", lambda plan, args: (dict.fromkeys(plan, 0.0), ["fast"]))
    args = ["--data", str(image_dir), "--psnr-budget", "60", "--psnr-runs", "fast"]
    with pytest.raises(SystemExit, match="failed: fast"):
        release.main([*args, "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs")])
    assert (tmp_path / "out" / "logs.tar.gz").is_file()


def test_only_this_launchs_checkpoints_of_runs_that_did_not_fail_are_exported(
    image_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import torch

    from srgan.generators import CompactNet

    runs, out = tmp_path / "runs", tmp_path / "out"
    # An earlier launch's checkpoints, left under runs/NAME.
    for name in ("fast", "quality"):
        folder = runs / name / "lightning_logs" / "version_0" / "checkpoints"
        folder.mkdir(parents=True)
        model = CompactNet(num_features=4, num_convs=1)
        state = {f"generator.{k}": v for k, v in model.state_dict().items()}
        torch.save({"state_dict": state, "global_step": 7}, folder / "last.ckpt")
        os.utime(folder / "last.ckpt", (1e9, 1e9))  # long ago
    monkeypatch.setattr(release, "launch", lambda plan, args: (dict.fromkeys(plan, 0.0), ["fast"]))
    args = ["--data", str(image_dir), "--psnr-budget", "60", "--out", str(out), "--runs", str(runs)]
    with pytest.raises(SystemExit, match="failed: fast"):
        release.main(args)
    said = capsys.readouterr().out
    assert "fast: not exported, the run failed" in said
    assert "quality: no checkpoint from this launch" in said
    assert not list(out.glob("*.safetensors"))


def test_gpu_job_names_its_steps_when_called_wrong() -> None:
    for argv in [
        [],
        ["train", "out"],
        ["quality", "out"],
        ["gan", "out", "60", "init.safetensors"],
    ]:
        done = subprocess.run(["bash", str(GPU_JOB), *argv], capture_output=True, text=True)
        assert done.returncode == 2, argv
        assert "usage: bash benchmarks/release/gpu_job.sh quality OUT SECONDS DATA" in done.stderr


@pytest.mark.slow
def test_gpu_job_quality_step_at_smoke_scale(image_dir: Path, tmp_path: Path) -> None:
    out, runs = tmp_path / "out", tmp_path / "runs"
    env = {**os.environ, "SMOKE": "1", "PYTHON": sys.executable, "RUNS": str(runs)}
    command = ["bash", str(GPU_JOB), "quality", str(out), "15", str(image_dir)]
    subprocess.run(command, check=True, env=env, capture_output=True)
    assert type(load_generator(out / "quality.safetensors")).__name__ == "RRDBNet"
    assert (out / "logs.tar.gz").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["logs.tar.gz", "quality.safetensors"]
    assert list(runs.rglob("last.ckpt"))  # checkpoints stay out of OUT


def test_a_stopped_release_run_stops_its_training_runs(tmp_path: Path) -> None:
    """A kill of the launcher (timeout, a scheduler) stopped it alone: its runs trained on
    for their whole budget under PID 1. Now Ctrl-C or a kill reaches each child, which is
    waited for."""
    import signal
    import threading

    started = tmp_path / "started"
    code = f"open({str(started)!r}, 'w').close(); import time; time.sleep(60)"
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with release.stopping_children() as children:
            # A kill ends the launcher as Ctrl-C does (not at once, children left behind).
            assert callable(signal.getsignal(signal.SIGTERM))
            children.append(subprocess.Popen([sys.executable, "-c", code]))
            while not started.exists():
                pass
            threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
            children[0].wait(timeout=30)
    assert children[0].returncode == -signal.SIGTERM  # stopped by the launcher, not run out
    assert signal.getsignal(signal.SIGTERM) == before
