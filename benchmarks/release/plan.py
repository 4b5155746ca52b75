"""Train the shipped models and the objective ablation, within time or step budgets.

    python -m benchmarks.release --data T91 BSD200 SunHays80 --psnr-budget 420 --out OUT
    python -m benchmarks.release --data T91 BSD200 SunHays80 --psnr-budget 440 \
        --quality-init OUT/quality.safetensors --gan-init OUT/quality.safetensors --gan-budget 240
    OMP_NUM_THREADS=1 python -m benchmarks.release --data T91 BSD200 SunHays80 \
        --gan-config configs/release/gan_fast_x4_cpu.yaml --gan-init fast.safetensors \
        --gan-steps 1600 --parallel 2 --out OUT      # the factorial at CPU scale
    (the committed CPU ablation ran gan_fast_x4_cpu_feature_matching.yaml with --gan-steps
    3200, from before the VGG content loss was available offline)

PSNR stage: ``fast`` (CompactNet) and ``quality`` (RRDBNet), or one of them
(``--psnr-runs``), optionally continuing ``quality`` from earlier weights (fresh optimizer
and schedule). GAN stage: the
``--gan-init`` weights fine-tuned with RelativisticAverage and MaxSurprise, two seeds each
by default (``--gan-runs`` adds MaxSurprise in relativistic form, at tau 0.25 and at two
and four times the adversarial weight, RaGAN at half of it, and a third seed), with
identical budgets (seconds, or optimizer
steps with ``--gan-steps``), data and loss weights; on the GPU config the
RaGAN seed-0 run is the shipped ``gan`` model. The runs of one call train concurrently
(a small network alone leaves most of a large GPU idle), ``--parallel`` at a time when
given. Each run is an ordinary ``srgan.fit`` run (configs in ``configs/release/``) with a
CSV logger and, for a time budget, a ``TimeBudget`` callback. Results: EMA generators as
fp16 ``.safetensors`` (with a training record in their metadata) and ``logs.tar.gz`` with
every run's config, metrics and sample crops. ``--smoke`` runs the pipeline with tiny
networks on the CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import torch
import yaml

from srgan.generators import VARIANTS
from srgan.weights import load_generator, save_generator

# Config files relative to --configs (the checkout's configs/ folder by default).
RELEASE = Path("release")

# name -> (config, extra config fragments, seed)
PSNR_RUNS = {
    "fast": (RELEASE / "fast_x4.yaml", [], 0),
    "quality": (RELEASE / "quality_x4.yaml", [], 0),
}
# GAN runs: name -> (objective fragment, seed); they all start from --gan-config.
OBJECTIVES = {
    "ragan": Path("objective/relativistic_average.yaml"),
    "maxsurprise": Path("objective/max_surprise.yaml"),
    "maxsurpriserel": Path("ablation/max_surprise_relativistic.yaml"),
    "maxsurprisetau025": Path("ablation/max_surprise_tau025.yaml"),
    "maxsurpriseadv2x": Path("ablation/max_surprise_adv2x.yaml"),
    "maxsurpriseadv4x": Path("ablation/max_surprise_adv4x.yaml"),
    "raganadvhalf": Path("ablation/relativistic_average_advhalf.yaml"),
}
# The objective factorial: pooling {mean, smooth max} x form {plain, relativistic}, each at
# three adversarial weights (weight fragments added to the arm's); runs of one arm that
# differ only in weight form a family (benchmarks.release.ablation).
ARMS = {
    "nonsat": Path("objective/non_saturating.yaml"),  # mean, plain
    "maxsurprise": Path("objective/max_surprise.yaml"),  # smooth max, plain
    "ragan": Path("objective/relativistic_average.yaml"),  # mean, relativistic
    "maxsurpriserel": Path("ablation/max_surprise_relativistic.yaml"),  # smooth max, rel.
}
WEIGHTS = {
    "advhalf": [Path("ablation/adv_half.yaml")],
    "": [],
    "adv2x": [Path("ablation/adv_2x.yaml")],
}
SEEDS = (0, 1, 2)
GAN_RUNS: dict[str, tuple[list[Path], int]] = {
    f"gan_{objective}_s{seed}": ([fragment], seed)
    for objective, fragment in OBJECTIVES.items()
    for seed in SEEDS
}
GAN_RUNS |= {
    f"gan_{arm}{suffix}_s{seed}": ([fragment, *weight], seed)
    for arm, fragment in ARMS.items()
    for suffix, weight in WEIGHTS.items()
    for seed in SEEDS
    if f"gan_{arm}{suffix}_s{seed}" not in GAN_RUNS
}
DEFAULT_GAN_RUNS = ["gan_ragan_s0", "gan_maxsurprise_s0", "gan_ragan_s1", "gan_maxsurprise_s1"]
SMOKE = [
    "--trainer.accelerator=cpu",
    "--trainer.precision=32-true",
    "--trainer.benchmark=false",
    "--data.num_workers=0",
    "--data.batch_size=2",
    "--data.crop_size=64",
    "--data.steps_per_epoch=20",
    "--data.val_holdout=2",
    "--trainer.log_every_n_steps=1",
]


def smoke_network(architecture: str) -> list[str]:
    """Flags that shrink a recipe's generator to the smoke-test variant of its class."""
    name = next(n for n, (a, _) in VARIANTS.items() if n.startswith("tiny-") and a == architecture)
    return [f"--model.generator.init_args.{k}={v}" for k, v in VARIANTS[name][1].items()]


class Run(NamedTuple):
    """One planned ``srgan.fit`` run: a wall-clock ``budget`` or a fixed ``max_steps``."""

    config: Path
    fragments: list[Path]
    seed: int
    budget: float | None
    init: str | None
    max_steps: int | None = None


def run_args(
    name: str,
    config: Path,
    fragments: list[Path],
    seed: int,
    *,
    data: list[str],
    runs: Path,
    budget: float | None,
    init: str | None,
    smoke: bool,
    max_steps: int | None = None,
) -> list[str]:
    """The ``srgan.fit`` command of one run: a wall-clock ``budget`` or a fixed ``max_steps``."""
    override = runs / f"{name}.override.yaml"
    override.parent.mkdir(parents=True, exist_ok=True)
    callbacks: list[dict] = [
        {
            "class_path": "srgan.callbacks.ModelCheckpoint",
            "init_args": {"save_last": True},
        },
    ]
    if budget is not None:
        callbacks.append(
            {
                "class_path": "srgan.callbacks.TimeBudget",
                "init_args": {"seconds": budget}
                | ({"warmup_steps": 5, "measure_steps": 5} if smoke else {}),
            }
        )
    logger = {
        "class_path": "lightning.pytorch.loggers.CSVLogger",
        "init_args": {"save_dir": str(runs / name)},
    }
    override.write_text(yaml.safe_dump({"trainer": {"callbacks": callbacks, "logger": logger}}))
    args = [sys.executable, "-m", "srgan.fit", "fit", "--config", str(config)]
    for fragment in fragments:
        args += ["--config", str(fragment)]
    args += [
        "--config",
        str(override),
        f"--seed_everything={seed}",
        f"--trainer.default_root_dir={runs / name}",
        f"--data.train_dir={json.dumps(data)}",
    ]
    if init is not None:
        args.append(f"--model.init_from={init}")
    if max_steps is not None:
        args.append(f"--trainer.max_steps={max_steps}")
    if smoke:
        generator = yaml.safe_load(config.read_text())["model"]["generator"]["class_path"]
        args += SMOKE + smoke_network(generator.rsplit(".", 1)[1])
        args += ["--model.discriminator.init_args.num_features=4"] if name.startswith("gan") else []
    return args


def launch(plan: dict[str, Run], args: argparse.Namespace) -> tuple[dict[str, float], list[str]]:
    """Run the plan, ``args.parallel`` runs at a time (0: all at once), in plan order:
    each run's wall time, and the runs that failed."""
    failed: list[str] = []
    runs = Path(args.runs)
    names = list(plan)
    group = args.parallel or len(names)
    wall = {}
    with stopping_children() as children:
        for start in range(0, len(names), group):
            _launch_group(plan, args, names[start : start + group], runs, children, wall, failed)
    return wall, failed


@contextlib.contextmanager
def stopping_children() -> Iterator[list[subprocess.Popen]]:
    """A list to put child processes in: Ctrl-C or a ``kill`` of this process stops each
    one still running as a ``kill`` does (srgan.fit then saves its last checkpoint) and
    waits for it, rather than leaving it to train on alone."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    children: list[subprocess.Popen] = []
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, interrupt) if main_thread else None
    try:
        yield children
    except KeyboardInterrupt:
        running = [child for child in children if child.poll() is None]
        print(f"interrupted: stopping {len(running)} run(s), each saves its checkpoint", flush=True)
        for child in running:
            child.send_signal(signal.SIGTERM)
        for child in running:
            try:
                child.wait(timeout=600)
            except subprocess.TimeoutExpired:
                child.kill()
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _launch_group(
    plan: dict[str, Run],
    args: argparse.Namespace,
    group: list[str],
    runs: Path,
    children: list[subprocess.Popen],
    wall: dict[str, float],
    failed: list[str],
) -> None:
    """Run ``group``'s runs at once and wait for them (their wall times into ``wall``)."""
    processes, started = {}, {}
    for name in group:
        run = plan[name]
        cmd = run_args(
            name,
            run.config,
            run.fragments,
            run.seed,
            data=args.data,
            runs=runs,
            budget=run.budget,
            init=run.init,
            smoke=args.smoke,
            max_steps=run.max_steps,
        )
        log = open(runs / f"{name}.log", "w")  # closed when the process ends
        print("launch:", " ".join(cmd[1:]), flush=True)
        processes[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
        children.append(processes[name][0])
        started[name] = time.perf_counter()
    for name, (process, log) in processes.items():
        code = process.wait()
        log.close()
        wall[name] = time.perf_counter() - started[name]
        print(f"{name}: exit {code} after {wall[name]:.0f}s", flush=True)
        if code != 0:
            failed.append(name)
            print((runs / f"{name}.log").read_text()[-4000:], flush=True)


def export(
    name: str,
    runs: Path,
    out: Path,
    wall: float,
    extra: dict,
    *,
    dtype: torch.dtype | None = torch.float16,
    save_as: str | None = None,
    since: float | None = None,
) -> Path | None:
    """The EMA generator of run ``name``'s last checkpoint -> ``out/<save_as or name>.safetensors``
    (``since``: only a checkpoint written after this time, e.g. the launch's, not an
    earlier run's left under ``runs/name``)."""
    checkpoints = sorted((runs / name).rglob("last.ckpt"), key=lambda p: p.stat().st_mtime)
    if since is not None:
        checkpoints = [p for p in checkpoints if p.stat().st_mtime >= since]
    if not checkpoints:
        print(f"{name}: no checkpoint{' from this launch' if since else ''}", flush=True)
        return None
    checkpoint = torch.load(checkpoints[-1], map_location="cpu", weights_only=True)
    generator = load_generator(checkpoints[-1])
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    record = {
        "run": name,
        "global_step": checkpoint["global_step"],
        "wall_seconds": round(wall),
        "hardware": device,
        **extra,
    }
    path = save_generator(
        generator, out / f"{save_as or name}.safetensors", dtype=dtype, card=record
    )
    print(
        f"{name}: step {checkpoint['global_step']}, wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)",
        flush=True,
    )
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.release", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--data",
        nargs="+",
        help="training HR folders (required but with --export-only, where their names are "
        "only recorded in the weights)",
    )
    parser.add_argument(
        "--psnr-budget",
        type=float,
        default=0,
        help="seconds for fast and quality (default 0: skip them); a run trains only what "
        "--psnr-budget, --gan-budget or --gan-steps asks for",
    )
    parser.add_argument(
        "--psnr-runs",
        nargs="+",
        choices=list(PSNR_RUNS),
        default=list(PSNR_RUNS),
        help="which PSNR-stage models --psnr-budget trains (default: both)",
    )
    parser.add_argument("--quality-init", help="continue quality from these weights")
    parser.add_argument(
        "--gan-budget", type=float, default=0, help="seconds per GAN run (default 0: skip them)"
    )
    parser.add_argument(
        "--gan-init",
        help="the PSNR-stage weights the GAN runs start from (quality; fast for the CPU config)",
    )
    parser.add_argument(
        "--gan-steps",
        type=int,
        help="a fixed number of optimizer steps (G and D each count) per GAN run, "
        "instead of --gan-budget seconds",
    )
    parser.add_argument(
        "--configs",
        type=Path,
        default=Path("configs"),
        help="the folder of srgan's configs (default: configs, from the checkout's root)",
    )
    parser.add_argument(
        "--gan-config",
        help="the GAN-stage config every GAN run starts from (default CONFIGS/release/gan_x4.yaml)",
    )
    parser.add_argument(
        "--gan-runs",
        nargs="+",
        choices=list(GAN_RUNS),
        default=DEFAULT_GAN_RUNS,
        metavar="RUN",
        help="which GAN runs (objective and seed) to train: gan_OBJECTIVE_sSEED "
        f"(default {' '.join(DEFAULT_GAN_RUNS)}; OBJECTIVE one of {', '.join(OBJECTIVES)}, "
        "or an arm of the factorial with a weight suffix, e.g. gan_nonsatadv2x_s1)",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=0,
        help="how many runs train at once (default 0: all); on a CPU set OMP_NUM_THREADS to match",
    )
    parser.add_argument(
        "--runs",
        default="runs/release",
        help="where runs write checkpoints and logs (default: runs/release)",
    )
    parser.add_argument(
        "--out",
        default="results/release",
        help="where weights and logs.tar.gz go (default: results/release)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny networks on the CPU, to test the pipeline"
    )
    parser.add_argument(
        "--export-only",
        metavar="RUN",
        help="only convert RUNS/RUN's last checkpoint (e.g. a run of srgan.fit with "
        "configs/release/fast_x4_cpu.yaml) to OUT/NAME.safetensors (--name), in float32",
    )
    parser.add_argument("--name", help="with --export-only: the file name (default: RUN)")
    parser.add_argument(
        "--wall-seconds",
        type=float,
        default=0,
        help="with --export-only: the run's wall time, recorded in the weights (default 0)",
    )
    args = parser.parse_args(argv)
    configs = args.configs.expanduser()
    if args.export_only:
        data = [Path(d).name for d in args.data or []]
        export(
            args.export_only,
            Path(args.runs),
            Path(args.out),
            args.wall_seconds,
            {"data": data} if data else {},
            dtype=None,
            save_as=args.name,
        )
        return
    if not args.data:
        parser.error("the following arguments are required: --data (the training HR folders)")
    if not (configs / RELEASE).is_dir():
        parser.error(f"no release configs in {configs}: run from the checkout or give --configs")
    gan = bool(args.gan_budget or args.gan_steps)
    if gan and not args.gan_init:
        parser.error("GAN runs need --gan-init (the PSNR-stage weights they start from)")
    if args.gan_budget and args.gan_steps:
        parser.error("give either --gan-budget or --gan-steps, not both")
    if not (args.psnr_budget or gan):
        parser.error(
            "nothing to train: give --psnr-budget SECONDS, --gan-budget SECONDS or "
            "--gan-steps N (or --export-only RUN to convert a finished run)"
        )
    if args.parallel < 0:
        parser.error(f"--parallel must be 0 (all at once) or more, got {args.parallel}")
    missing = [d for d in args.data if not Path(d).is_dir()]
    if missing:  # before any run starts (each would fail on it in turn)
        parser.error(f"--data: image folder not found: {', '.join(missing)}")
    out, runs = Path(args.out), Path(args.runs)
    out.mkdir(parents=True, exist_ok=True)
    runs.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    plan: dict[str, Run] = {}
    if args.psnr_budget:
        for name in args.psnr_runs:
            config, fragments, seed = PSNR_RUNS[name]
            init = args.quality_init if name == "quality" else None
            plan[name] = Run(configs / config, fragments, seed, args.psnr_budget, init)
    if gan:
        for name in args.gan_runs:
            fragments, seed = GAN_RUNS[name]
            budget = args.gan_budget or None
            gan_config = Path(args.gan_config or configs / RELEASE / "gan_x4.yaml")
            plan[name] = Run(
                gan_config,
                [configs / f for f in fragments],
                seed,
                budget,
                args.gan_init,
                args.gan_steps,
            )
    started = time.time()
    wall, failed = launch(plan, args)
    data = [Path(d).name for d in args.data]
    for name, run in plan.items():
        if name in failed:
            print(f"{name}: not exported, the run failed (its log: {runs}/{name}.log)", flush=True)
            continue
        export(
            name,
            runs,
            out,
            wall[name],
            {
                "data": data,
                "config": run.config.name,
                "budget_seconds": run.budget,
                "max_steps": run.max_steps,
                "init_from": Path(run.init).name if run.init else None,
            },
            since=started,
        )
    with tarfile.open(out / "logs.tar.gz", "w:gz") as tar:
        for path in sorted(runs.rglob("*")):
            if path.is_file() and (
                path.suffix in (".csv", ".yaml", ".log") or path.parent.name == "samples"
            ):
                tar.add(path, arcname=str(path.relative_to(runs)))
    print("done:", sorted(p.name for p in out.iterdir()), flush=True)
    if failed:
        # The others' weights and every log are written: the status says not all went well.
        raise SystemExit(f"failed: {', '.join(failed)} (logs: {runs}/<name>.log)")


if __name__ == "__main__":
    main()
