"""Train the shipped models and the objective ablation on one GPU, within time budgets.

    python -m benchmarks.release --data T91 BSD200 SunHays80 --psnr-budget 420 --out OUT
    python -m benchmarks.release --data T91 BSD200 SunHays80 --psnr-budget 440 \
        --quality-init OUT/quality.safetensors --gan-init OUT/quality.safetensors --gan-budget 240

PSNR stage: ``fast`` (CompactNet) and ``quality`` (RRDBNet), optionally continuing
``quality`` from earlier weights (fresh optimizer and schedule). GAN stage: ``quality``
weights fine-tuned with RelativisticAverage and MaxSurprise, two seeds each, with identical
budgets, data and loss weights; the RaGAN seed-0 run is the shipped ``gan`` model. All
runs of one call train concurrently (a small network alone leaves most of a large GPU
idle). Each run is an ordinary ``srgan.fit`` run (configs in ``configs/release/``) with a
``TimeBudget`` callback and a CSV logger. Results: EMA generators as fp16
``.safetensors`` (with a training record in their metadata) and ``logs.tar.gz`` with every
run's config, metrics and sample crops. ``--smoke`` runs the pipeline with tiny networks
on the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import torch
import yaml

from srgan.weights import load_generator, save_generator

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
RELEASE = CONFIGS / "release"

# name -> (config, extra config fragments, seed)
PSNR_RUNS = {
    "fast": (RELEASE / "fast_x4.yaml", [], 0),
    "quality": (RELEASE / "quality_x4.yaml", [], 0),
}
GAN_RUNS = {
    "gan_ragan_s0": (RELEASE / "gan_x4.yaml", [CONFIGS / "objective/relativistic_average.yaml"], 0),
    "gan_ragan_s1": (RELEASE / "gan_x4.yaml", [CONFIGS / "objective/relativistic_average.yaml"], 1),
    "gan_maxsurprise_s0": (RELEASE / "gan_x4.yaml", [CONFIGS / "objective/max_surprise.yaml"], 0),
    "gan_maxsurprise_s1": (RELEASE / "gan_x4.yaml", [CONFIGS / "objective/max_surprise.yaml"], 1),
}
SMOKE = [
    "--trainer.accelerator=cpu",
    "--trainer.precision=32-true",
    "--trainer.benchmark=false",
    "--data.num_workers=0",
    "--data.batch_size=2",
    "--data.crop_size=64",
    "--data.steps_per_epoch=20",
]
SMOKE_NETWORKS = {
    "fast": [
        "--model.generator.init_args.num_features=8",
        "--model.generator.init_args.num_convs=2",
    ],
    "rrdb": [
        "--model.generator.init_args.num_blocks=1",
        "--model.generator.init_args.num_features=8",
        "--model.generator.init_args.growth_channels=4",
    ],
}


def run_args(
    name: str,
    config: Path,
    fragments: list[Path],
    seed: int,
    *,
    data: list[str],
    runs: Path,
    budget: float,
    init: str | None,
    smoke: bool,
) -> list[str]:
    override = runs / f"{name}.override.yaml"
    override.parent.mkdir(parents=True, exist_ok=True)
    callbacks = [
        {
            "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
            "init_args": {"save_last": True},
        },
        {
            "class_path": "srgan.callbacks.TimeBudget",
            "init_args": {"seconds": budget}
            | ({"warmup_steps": 5, "measure_steps": 5} if smoke else {}),
        },
    ]
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
    if smoke:
        args += SMOKE + SMOKE_NETWORKS["fast" if name == "fast" else "rrdb"]
        args += ["--model.discriminator.init_args.num_features=4"] if name.startswith("gan") else []
    return args


def launch(plan: dict[str, tuple], args: argparse.Namespace) -> dict[str, float]:
    """Start every planned run at once; ``plan`` maps name -> (config, fragments, seed, budget, init)."""
    runs = Path(args.runs)
    processes, started = {}, {}
    for name, (config, fragments, seed, budget, init) in plan.items():
        cmd = run_args(
            name,
            config,
            fragments,
            seed,
            data=args.data,
            runs=runs,
            budget=budget,
            init=init,
            smoke=args.smoke,
        )
        log = open(runs / f"{name}.log", "w")  # noqa: SIM115 - closed when the process ends
        print("launch:", " ".join(cmd[1:]), flush=True)
        processes[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
        started[name] = time.perf_counter()
    wall = {}
    for name, (process, log) in processes.items():
        code = process.wait()
        log.close()
        wall[name] = time.perf_counter() - started[name]
        print(f"{name}: exit {code} after {wall[name]:.0f}s", flush=True)
        if code != 0:
            print((runs / f"{name}.log").read_text()[-4000:], flush=True)
    return wall


def export(
    name: str,
    runs: Path,
    out: Path,
    wall: float,
    extra: dict,
    *,
    dtype: torch.dtype | None = torch.float16,
    save_as: str | None = None,
) -> Path | None:
    """The EMA generator of run ``name``'s last checkpoint -> ``out/<save_as or name>.safetensors``."""
    checkpoints = sorted((runs / name).rglob("last.ckpt"), key=lambda p: p.stat().st_mtime)
    if not checkpoints:
        print(f"{name}: no checkpoint", flush=True)
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", required=True, help="training HR folders")
    parser.add_argument(
        "--psnr-budget", type=float, default=0, help="seconds for fast and quality (0: skip)"
    )
    parser.add_argument("--quality-init", help="continue quality from these weights")
    parser.add_argument("--gan-budget", type=float, default=0, help="seconds per GAN run (0: skip)")
    parser.add_argument("--gan-init", help="the PSNR-stage quality weights the GAN runs start from")
    parser.add_argument(
        "--runs", default="runs/release", help="where runs write checkpoints and logs"
    )
    parser.add_argument("--out", default="results/release", help="where weights and logs.tar.gz go")
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
        "--wall-seconds", type=float, default=0, help="with --export-only: the run's wall time"
    )
    args = parser.parse_args(argv)
    if args.export_only:
        data = [Path(d).name for d in args.data]
        export(
            args.export_only,
            Path(args.runs),
            Path(args.out),
            args.wall_seconds,
            {"data": data},
            dtype=None,
            save_as=args.name,
        )
        return
    if args.gan_budget and not args.gan_init:
        parser.error("--gan-budget needs --gan-init (the PSNR-stage quality weights)")
    out, runs = Path(args.out), Path(args.runs)
    out.mkdir(parents=True, exist_ok=True)
    runs.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    plan: dict[str, tuple] = {}
    if args.psnr_budget:
        for name, (config, fragments, seed) in PSNR_RUNS.items():
            init = args.quality_init if name == "quality" else None
            plan[name] = (config, fragments, seed, args.psnr_budget, init)
    if args.gan_budget:
        for name, (config, fragments, seed) in GAN_RUNS.items():
            plan[name] = (config, fragments, seed, args.gan_budget, args.gan_init)
    wall = launch(plan, args)
    data = [Path(d).name for d in args.data]
    for name, (_, _, _, budget, init) in plan.items():
        export(
            name,
            runs,
            out,
            wall[name],
            {
                "data": data,
                "budget_seconds": budget,
                "init_from": Path(init).name if init else None,
            },
        )
    with tarfile.open(out / "logs.tar.gz", "w:gz") as tar:
        for path in sorted(runs.rglob("*")):
            if path.is_file() and (
                path.suffix in (".csv", ".yaml", ".log") or path.parent.name == "samples"
            ):
                tar.add(path, arcname=str(path.relative_to(runs)))
    print("done:", sorted(p.name for p in out.iterdir()), flush=True)


if __name__ == "__main__":
    main()
