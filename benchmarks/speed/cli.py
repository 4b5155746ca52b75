"""Speed and energy benchmark: PyTorch (eager, compiled; fp32/fp16/bf16; channels-last)
and ONNX Runtime (fp32, int8; CPU and CUDA providers) on the same model and inputs.

Run ``python -m benchmarks.speed --help``. Examples::

    # The CPU bar: the shipped `fast` model in PyTorch, ONNX Runtime fp32 and int8, then
    # srgan.upscale end to end on the sample photos with each backend
    python -m benchmarks.speed --suite cpu
    # The GPU bar: RRDBNet (23 blocks, 64 features, x4), 960x540 -> 4K, best vs eager fp32
    python -m benchmarks.speed --suite gpu
    # The real-time bar: the shipped `fast` model, 960x540 -> 4K, frames per second
    python -m benchmarks.speed --suite realtime
    # Anything else
    python -m benchmarks.speed --arch compact --backends onnx onnx-int8 --size 320x180
    python -m benchmarks.speed --model default --backends eager compile --precisions fp32 bf16 \\
        --size 270p 540p --batch 1 4 --tile 128 --quality-json results/quality/quality.json
    # srgan.upscale end to end (decode + infer + encode) per backend, on a folder or a video
    python -m benchmarks.speed --model fast --folder photos/ --video clip.mp4
    # GAN-stage training throughput (generator + discriminator steps per second)
    python -m benchmarks.speed --train --arch compact --batch 16 --crop 128 --precisions fp32 bf16

What it measures, honestly: warm-up calls are excluded; GPU work is synchronised around
the timers (CUDA events); latency is the median and p90 over ``--repeats`` calls; frames
per second is ``batch / median``; peak memory is the CUDA allocator's peak on GPU and
on CPU the process's peak RSS while that backend ran (Linux; elsewhere the peak so
far); energy is NVML's total-energy counter (GPU) or RAPL (CPU) around the timed loop,
or "not measured" with the reason. The work is counted as
MACs per output pixel from the model's conv and linear layers, which gives TFLOP/s.
The end-to-end rows (``--folder``, ``--video``) run ``srgan.upscale`` itself, once per
backend and round in a fresh process (so the peak memory is each backend's own), after an
untimed first use that exports or calibrates the ONNX model; on a folder, each backend's
outputs are compared with PyTorch's (largest pixel difference, in 8-bit steps).
With ``--interleave`` the backends are timed round-robin (one call each per round), so
a shared or throttling machine slows them all alike and their ratios stay meaningful.

Outputs in ``--out`` (default ``results/speed``): ``speed.json`` (records with the
environment, ``end_to_end`` rows), ``speed.md``,
``speed.png`` and, with ``--quality-json`` from ``benchmarks.quality``,
``quality_speed.png`` (Y-PSNR against FPS, one point per model/backend, Pareto front).
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from benchmarks.report import (
    cpu_description,
    environment,
    input_error,
    markdown_table,
    out_folder_problem,
    remove_stale,
    write_json,
)
from benchmarks.speed.backends import (
    BACKENDS,
    ONNX_BACKENDS,
    PRECISIONS,
    Variant,
    allow_recompiles,
    precisions_for,
)
from benchmarks.speed.endtoend import folder_throughput, video_throughput
from benchmarks.speed.plots import (
    plot_quality_speed,
    plot_speed,
    quality_axis_label,
    quality_speed_points,
    quality_summary,
)
from benchmarks.speed.runs import benchmark_model, calibration_inputs
from benchmarks.speed.suites import SUITES, WORKLOADS, parse_size
from benchmarks.training.throughput import training_throughput
from srgan.arguments import at_least
from srgan.discriminators import UNet, VGGStyle
from srgan.generators import VARIANTS, Generator, build_variant
from srgan.inference import resolve_device
from srgan.weights import load_model, model_label, resolve_model

TABLE_COLUMNS = [
    "model",
    "label",
    "input",
    "output",
    "batch",
    "tile",
    "median_ms",
    "p90_ms",
    "fps",
    "tflops",
    "peak_memory_mb",
    "joules_per_frame",
    "watts",
    "status",
]


END_TO_END_COLUMNS = [
    "input",
    "backend",
    "images",
    "frames",
    "seconds",
    "images_per_s",
    "megapixels_per_s",
    "fps",
    "peak_rss_mb",
    "first_use_s",
    "max_diff_vs_torch",
    "status",
]


def end_to_end(args: argparse.Namespace) -> list[dict[str, Any]]:
    """``srgan.upscale`` timed on ``--folder`` and ``--video`` with each of
    ``--upscale-backends`` (the first ``--model``, else the shipped default)."""
    model = args.model[0] if args.model else "default"
    common = dict(
        backends=args.upscale_backends,
        model=model,
        device=args.device,
        repeats=args.upscale_repeats,
    )
    rows = []
    if args.folder:
        rows += folder_throughput(args.folder, limit=args.folder_images, **common)
    if args.video:
        rows += video_throughput(args.video, **common)
    return rows


def not_measured(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Lines saying why each row that is not ``ok`` was not measured (the tables have no room
    for the reasons): a blank line first, none at all when every row was measured."""
    lines = []
    for row in rows:
        if row.get("status") != "ok":
            what = row.get("label") or " ".join(
                str(row[k]) for k in ("backend", "precision") if row.get(k)
            )
            where = ", ".join(
                f"{k} {row[k]}" for k in ("input", "batch", "crop") if row.get(k) is not None
            )
            reason = row.get("reason", "no reason recorded")
            lines.append(f"- {what} ({where}): {row.get('status')}: {reason}")
    return ["", *lines] if lines else []


def end_to_end_ratios(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Lines "- BACKEND is N.NNx torch's speed on INPUT" for the end-to-end rows."""
    lines = []
    for source in dict.fromkeys(r["input"] for r in rows):
        ok = {r["backend"]: r for r in rows if r["input"] == source and r["status"] == "ok"}
        if "torch" not in ok:
            continue
        for backend, row in ok.items():
            if backend != "torch":
                diff = row.get("max_diff_vs_torch")
                same = "" if diff is None else f", outputs within {diff}/255 of torch's"
                lines.append(
                    f"- {source}: {backend} = {ok['torch']['seconds'] / row['seconds']:.2f}x "
                    f"torch's speed ({row['seconds']:.2f} s vs {ok['torch']['seconds']:.2f} s{same})"
                )
    return lines


def ratios(records: Sequence[dict[str, Any]], baseline: tuple[str, str, bool]) -> list[str]:
    """Lines "X is N.NNx the baseline's frame rate" per model/size/batch."""
    lines = []
    ok = [r for r in records if r.get("status") == "ok"]
    for key in sorted({(r["model"], r["size"], r["batch"]) for r in ok}, key=str):
        group = [r for r in ok if (r["model"], r["size"], r["batch"]) == key]
        base = [
            r
            for r in group
            if (r["backend"], r["precision"], r["channels_last"]) == tuple(baseline)
        ]
        if not base:
            continue
        others = [r for r in group if r is not base[0]]
        for r in sorted(others, key=lambda r: -r["fps"]):
            lines.append(
                f"{key[0]} {key[1]} batch {key[2]}: {r['label']} = "
                f"{r['fps'] / base[0]['fps']:.2f}x {base[0]['label']} "
                f"({r['fps']:.2f} vs {base[0]['fps']:.2f} FPS)"
            )
    return lines


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.speed",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "suites:\n"
            "  gpu  RRDBNet (23 blocks, 64 features, x4, random init) at 960x540 -> 4K, batch 1:\n"
            "       eager fp32 (PyTorch defaults, cuDNN TF32 allowed) as the baseline, strict\n"
            "       fp32, fp16/bf16 channels-last, torch.compile, CUDA graphs, ONNX Runtime CUDA.\n"
            "  realtime  the shipped `fast` model at 960x540 -> 4K, batch 1, 300 timed calls:\n"
            "       eager fp32 as the baseline; fp16/bf16 channels-last eager, torch.compile\n"
            "       and CUDA graphs (the bar: the best at least 120 FPS on an H100).\n"
            "  cpu  the shipped `fast` model (CompactNet 48x12, x4) at 320x180, batch 1: eager\n"
            "       fp32, ONNX Runtime fp32 and int8, timed interleaved; then srgan.upscale end\n"
            "       to end on samples/ with --backend torch, onnx and onnx-int8.\n"
            f"workloads: {', '.join(f'{k}={w}x{h}' for k, (w, h) in WORKLOADS.items())}, or WxH.\n"
            "backends: " + ", ".join(BACKENDS)
        ),
    )
    parser.add_argument(
        "--suite",
        choices=sorted(SUITES),
        help="a named suite (see below): it sets the model, device, sizes, timing and "
        "backends itself (--folder, --video and --out still apply)",
    )
    parser.add_argument(
        "--model",
        metavar="NAME",
        nargs="+",
        default=[],
        help="shipped model names or files (default: none; with no --arch either, the shipped default model)",
    )
    parser.add_argument(
        "--arch",
        nargs="+",
        default=[],
        choices=sorted(VARIANTS),
        metavar="ARCH",
        help="random-init network variants: " + ", ".join(sorted(VARIANTS)),
    )
    parser.add_argument(
        "--scale", metavar="N", type=at_least(1), default=4, help="scale for --arch (default 4)"
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="auto, cpu, cuda, cuda:N (default auto: cuda when there is one)",
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        default=["eager", "onnx", "onnx-int8"],
        choices=[*BACKENDS, "torch"],
        metavar="BACKEND",
        help="what to time: " + ", ".join(BACKENDS) + " (default: eager onnx onnx-int8; torch is "
        "another name for eager)",
    )
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=["fp32"],
        choices=PRECISIONS,
        metavar="PRECISION",
        help="precisions for the PyTorch backends: " + ", ".join(PRECISIONS) + " (and fp16 for "
        "onnx-cuda; default fp32)",
    )
    parser.add_argument("--channels-last", action="store_true", help="also channels-last")
    parser.add_argument(
        "--size",
        nargs="+",
        type=parse_size,
        default=[parse_size("180p")],
        help="LR input sizes: workload names or WxH (default 180p = 320x180)",
    )
    parser.add_argument(
        "--batch",
        metavar="N",
        nargs="+",
        type=at_least(1),
        default=[1],
        help="batch sizes (default 1)",
    )
    parser.add_argument(
        "--tile", metavar="N", type=at_least(1), help="tiled inference with this LR tile side"
    )
    parser.add_argument(
        "--warmup",
        metavar="N",
        type=at_least(0),
        default=3,
        help="untimed calls first (default 3; with --interleave at least 1, the call that "
        "measures each backend's memory)",
    )
    parser.add_argument(
        "--repeats",
        metavar="N",
        type=at_least(1),
        default=10,
        help="timed calls: median, p90 (default 10)",
    )
    parser.add_argument("--interleave", action="store_true", help="time backends round-robin")
    parser.add_argument(
        "--threads",
        metavar="N",
        type=at_least(1),
        help="CPU threads for PyTorch and ONNX Runtime (default: their own, all cores)",
    )
    parser.add_argument(
        "--calibration-dir", metavar="DIR", help="real images for the int8 calibration"
    )
    parser.add_argument(
        "--quality-json", metavar="FILE", help="benchmarks.quality JSON: plot PSNR vs FPS"
    )
    parser.add_argument(
        "--quality-dataset", metavar="NAME", help="dataset of --quality-json (default Set5)"
    )
    parser.add_argument("--train", action="store_true", help="GAN training throughput mode")
    parser.add_argument(
        "--crop",
        metavar="N",
        type=at_least(8),
        default=128,
        help="HR crop side (--train; default 128)",
    )
    parser.add_argument(
        "--discriminator",
        choices=["vgg", "unet"],
        default="vgg",
        help="critic for --train (default vgg)",
    )
    parser.add_argument(
        "--discriminator-features",
        metavar="N",
        type=at_least(1),
        default=64,
        help="critic width for --train (default 64)",
    )
    parser.add_argument(
        "--folder",
        metavar="DIR",
        help="also time srgan.upscale end to end on this folder of images, per backend",
    )
    parser.add_argument(
        "--folder-images",
        type=at_least(1),
        metavar="N",
        help="time --folder on its first N images (name order) only",
    )
    parser.add_argument(
        "--video",
        metavar="FILE",
        help="also time srgan.upscale end to end on this video, per backend",
    )
    parser.add_argument(
        "--upscale-backends",
        nargs="+",
        default=["torch", "onnx", "onnx-int8"],
        choices=["auto", "torch", "onnx", "onnx-int8", "onnx-cuda"],
        metavar="BACKEND",
        help="srgan.upscale backends for --folder and --video: auto, torch, onnx, onnx-int8, "
        "onnx-cuda (default: torch onnx onnx-int8)",
    )
    parser.add_argument(
        "--upscale-repeats",
        metavar="N",
        type=at_least(1),
        default=3,
        help="timed runs per backend for --folder and --video, in turns (median; default 3)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default="results/speed",
        help="output folder (default: results/speed)",
    )
    return parser


def resolve_models(args: argparse.Namespace) -> list[tuple[str, Generator]]:
    """``(label, network)`` of each ``--arch`` and ``--model``, labels told apart: a random
    network named as a shipped model is ``NAME (random weights)`` (its rows must not take
    that model's PSNR from ``--quality-json``), a second model of one label ``LABEL#2``."""
    from srgan.weights import packaged_models

    labels = [model_label(m) for m in args.model]
    shipped = {"default", *packaged_models()}
    arch = [a if a not in shipped | set(labels) else f"{a} (random weights)" for a in args.arch]
    models = [
        (label, build_variant(a, scale=args.scale, seed=0)) for label, a in zip(arch, args.arch)
    ]
    taken: set[str] = set(arch)
    for spec, label in zip(args.model, labels):
        name, copies = label, 1
        while name in taken:
            copies += 1
            name = f"{label}#{copies}"
        taken.add(name)
        models.append((name, load_model(spec).eval()))
    return models or [("default", load_model("default").eval())]


def check_before_timing(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Any:
    """Every input the run reads, read or checked before any timing (an error after minutes
    of timing loses them): the models, ``--out``, ``--quality-json``, ``--folder``,
    ``--video``, ``--calibration-dir``, ``--device``, and for ``--train`` its crop and
    batches and the options it would ignore. Returns the ``--quality-json`` contents."""
    import json

    from srgan.jobs import UsageError, plan_jobs
    from srgan.video import VideoError, probe

    out = Path(args.out)
    if (problem := out_folder_problem(out)) is not None:
        input_error(parser, problem)
    quality = None
    if args.quality_json and not args.train:
        try:
            quality = json.loads(Path(args.quality_json).read_text())
        except (OSError, ValueError) as error:
            input_error(parser, f"--quality-json {args.quality_json}: {error}")
        if not isinstance(quality, dict) or not isinstance(quality.get("records"), list):
            input_error(
                parser, f"--quality-json {args.quality_json}: not a benchmarks.quality output"
            )
    if args.folder and not args.train:
        try:
            plan = plan_jobs(Path(args.folder), out / "upscaled")
        except (UsageError, OSError) as error:
            input_error(parser, f"--folder {args.folder}: {error}")
        if not any(not job.video for job in plan.jobs):
            input_error(parser, f"--folder {args.folder}: no images in it")
    if args.video and not args.train:
        try:
            probe(args.video)
        except (VideoError, OSError) as error:
            input_error(parser, f"--video {args.video}: {error}")
    if args.calibration_dir and not args.train:
        try:  # read now: a bad image would fail the int8 rows after the others' timing
            with warnings.catch_warnings():  # said when the crops are taken for the model
                warnings.simplefilter("ignore")
                calibration_inputs(args.calibration_dir)
        except (OSError, ValueError) as error:
            input_error(parser, f"--calibration-dir {args.calibration_dir}: {error}")
    try:
        resolve_device(args.device)
    except RuntimeError as error:
        input_error(parser, f"--device {args.device}: {error}")
    if args.train:
        unused = inference_options(args, parser)
        if unused:
            parser.error(
                f"--train times PyTorch training steps: {', '.join(unused)} "
                f"{'applies' if len(unused) == 1 else 'apply'} to inference timing only"
            )
        ignored = [b for b in args.backends if b not in ("eager", "compile")]
        if ignored and args.backends != parser.get_default("backends"):
            parser.error(
                f"--backends {' '.join(ignored)}: --train times the eager and compile backends only"
            )
        critic = {"vgg": VGGStyle, "unet": UNet}[args.discriminator]
        if args.crop % critic.size_multiple:
            parser.error(
                f"--crop {args.crop}: the {args.discriminator} discriminator takes sides that "
                f"are multiples of {critic.size_multiple}"
            )
        if args.discriminator == "vgg":
            network = VGGStyle(num_features=args.discriminator_features)
            for batch in args.batch:
                if (problem := network.batch_problem(batch, args.crop, args.crop)) is not None:
                    parser.error(
                        f"--batch {batch} --crop {args.crop}: {problem}; use --batch 2 or more, "
                        "--crop 64 or more, or --discriminator unet"
                    )
    return quality


def inference_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[str]:
    """The options given that only inference timing reads (``--train`` would ignore them)."""
    names = ["size", "tile", "channels_last", "interleave", "quality_json", "quality_dataset"]
    names += ["folder", "folder_images", "video", "calibration_dir", "upscale_backends"]
    names += ["upscale_repeats"]
    given = [n for n in names if getattr(args, n) != parser.get_default(n)]
    return [f"--{name.replace('_', '-')}" for name in given]


def run_training(
    models: Sequence[tuple[str, Generator]], args: argparse.Namespace, device: torch.device
) -> list[dict[str, Any]]:
    records = []
    for name, model in models:
        for batch in args.batch:
            for backend in [b for b in args.backends if b in ("eager", "compile")] or ["eager"]:
                for precision in args.precisions:
                    record = {"model": name, "architecture": type(model).__name__}
                    try:
                        critic = {"vgg": VGGStyle, "unet": UNet}[args.discriminator]
                        record |= training_throughput(
                            model,
                            discriminator=critic(num_features=args.discriminator_features),
                            batch=batch,
                            crop=args.crop,
                            device=device,
                            precision=precision,
                            compile=backend == "compile",
                            warmup=args.warmup,
                            repeats=args.repeats,
                        )
                        record["status"] = "ok"
                    except Exception as error:  # noqa: BLE001 - record and carry on
                        record |= {
                            "backend": backend,
                            "precision": precision,
                            "batch": batch,
                            "crop": args.crop,
                            "status": "error",
                            "reason": str(error)[:300],
                        }
                    # Its kind and width (two runs differing in either differ in the table).
                    record["discriminator"] = f"{args.discriminator} {args.discriminator_features}"
                    records.append(record)
    return records


# The options a --suite sets itself (its model or network, device, sizes, timing, variants).
SUITE_SETS = (
    "model",
    "arch",
    "device",
    "size",
    "batch",
    "warmup",
    "repeats",
    "interleave",
    "backends",
    "precisions",
    "channels_last",
)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    with allow_recompiles():  # torch's compile settings come back afterwards
        return run(argv)


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.suite:
        # What a suite sets itself: options given with it would be silently replaced.
        given = [
            f"--{dest.replace('_', '-')}"
            for dest in SUITE_SETS
            if getattr(args, dest) != parser.get_default(dest)
        ]
        if given:
            parser.error(
                f"--suite {args.suite} sets {', '.join(given)} itself: leave "
                f"{'it' if len(given) == 1 else 'them'} out, or time your own settings "
                "without --suite"
            )
    args.backends = list(dict.fromkeys("eager" if b == "torch" else b for b in args.backends))
    baseline = None
    variants: list[Variant]
    if args.suite:
        suite = SUITES[args.suite]
        if suite["device"] == "cuda" and not torch.cuda.is_available():
            input_error(
                parser, f"--suite {args.suite} measures a CUDA GPU, and none is available here"
            )
        args.arch, args.model = suite["arch"], suite.get("model", [])
        args.device, args.size = suite["device"], [parse_size(s) for s in suite["size"]]
        args.batch, args.warmup, args.repeats = suite["batch"], suite["warmup"], suite["repeats"]
        if args.train:
            parser.error(f"--suite {args.suite} times inference: leave it out with --train")
        args.interleave = suite["interleave"]
        args.folder = args.folder or suite.get("folder")
        variants = [Variant(*v) for v in suite["variants"]]
        baseline = suite["baseline"]
    else:
        variants = [
            Variant(b, p, cl)
            for b in args.backends
            for p in precisions_for(b, args.precisions)
            for cl in ([False, True] if args.channels_last and b not in ONNX_BACKENDS else [False])
        ]
    for spec in args.model:  # an unknown or unreadable model: one line before any timing
        if Path(spec).suffix.lower() == ".onnx":
            parser.error(
                f"--model {spec}: benchmarks.speed times weights files and makes their ONNX "
                "models itself (--backends onnx onnx-int8, --calibration-dir for int8); time "
                "an exported .onnx end to end with python -m srgan.upscale IN OUT --model FILE"
            )
        try:
            resolve_model(spec)
        except (FileNotFoundError, ValueError) as error:
            input_error(parser, str(error))
    quality = check_before_timing(args, parser)
    try:
        models = resolve_models(args)
    except (FileNotFoundError, ValueError) as error:  # a damaged or foreign weights file
        input_error(parser, str(error))
    for name, model in models if args.train else []:
        if args.crop % model.scale:
            parser.error(
                f"--crop {args.crop}: {name} upscales x{model.scale}, so the HR crop must be "
                f"a multiple of {model.scale}"
            )
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    env = environment(device) | cpu_description()
    import onnxruntime as ort

    env["onnxruntime"] = ort.__version__
    env["onnxruntime_providers"] = ort.get_available_providers()
    env["onnxruntime_threads"] = args.threads or "onnxruntime default (physical cores)"
    if args.train:
        records = run_training(models, args, device)
        columns = ["model", "discriminator", "backend", "precision", "batch", "crop"]
        columns += ["median_ms", "batches_per_s"]
        columns += ["hr_megapixels_per_s", "status"]
    else:
        # ONNX backends need a CUDA device for onnx-cuda, the CPU otherwise.
        records = []
        with tempfile.TemporaryDirectory() as tmp:
            for name, model in models:
                records += benchmark_model(
                    name,
                    model,
                    variants,
                    device=device,
                    sizes=args.size,
                    batches=args.batch,
                    tile=args.tile,
                    warmup=args.warmup,
                    repeats=args.repeats,
                    interleave=args.interleave,
                    threads=args.threads,
                    calibration_dir=args.calibration_dir,
                    onnx_dir=Path(tmp) / name,
                )
        columns = TABLE_COLUMNS
    payload: dict[str, Any] = {"environment": env, "records": records}
    lines = [markdown_table(records, columns, significant=3 if args.train else None)]
    lines += not_measured(records)
    if baseline is None and not args.train:
        baseline = ("onnx", "fp32", False) if device.type == "cpu" else ("eager", "fp32", False)
    if baseline is not None and not args.train:
        payload["ratios"] = ratios(records, baseline)
        if payload["ratios"]:
            lines += ["", *(f"- {line}" for line in payload["ratios"])]
    vectors = env.get("vector_extensions")
    lines += [
        "",
        f"Device: {env.get('gpu') or env.get('cpu_model')}; CPU vector extensions: "
        f"{', '.join(vectors) if vectors else 'unknown'}; torch {env['torch']}, "
        f"onnxruntime {env['onnxruntime']}, {env['cpu_threads']} threads.",
    ]
    reasons = sorted({r["energy_reason"] for r in records if r.get("energy_reason")})
    lines += [f"Energy not measured: {reason}." for reason in reasons]
    if (args.folder or args.video) and not args.train:
        rows = end_to_end(args)
        payload["end_to_end"] = rows
        lines += ["", "srgan.upscale end to end (decode + infer + encode), per backend:", ""]
        lines += [markdown_table(rows, END_TO_END_COLUMNS), *not_measured(rows)]
        lines += ["", *end_to_end_ratios(rows)]
    points = []
    if quality is not None:
        dataset, psnr_by_model = quality_summary(quality, args.quality_dataset)
        points = quality_speed_points(records, psnr_by_model)
        payload["quality_speed"] = points
        timed = sorted({r["model"] for r in records if r.get("status") == "ok"})
        unscored = [m for m in timed if m not in psnr_by_model]
        if points and unscored:
            lines += [
                "",
                f"quality_speed.png leaves out {', '.join(unscored)}: --quality-json has no "
                f"{dataset or 'summary'} PSNR of it.",
            ]
        if not points:
            if psnr_by_model:
                has = f"its {dataset} figures are of {', '.join(sorted(psnr_by_model))}"
            else:
                sets = sorted({str(r.get("dataset")) for r in quality["records"]})
                has = f"its data sets: {', '.join(sets) or 'none'} (--quality-dataset)"
            lines += [
                "",
                f"No quality_speed.png: --quality-json has no {dataset or 'summary'} PSNR of "
                f"a model timed here ({', '.join(timed) or 'none'}; {has}).",
            ]
    measured = [r for r in [*records, *payload.get("end_to_end", [])] if r.get("status") == "ok"]
    if not measured:  # earlier results in --out stay as they were
        print("\n".join(lines))
        raise SystemExit(
            f"benchmarks.speed: nothing was measured (the reasons are above); nothing was "
            f"written to {out}"
        )
    write_json(payload, out / "speed.json")
    (out / "speed.md").write_text("\n".join(lines) + "\n")
    written = ["speed.json", "speed.md"]
    if not args.train:
        plot_speed(records, out / "speed.png")
        written.append("speed.png")
    if points:
        label = quality_axis_label(quality, dataset)
        plot_quality_speed(points, out / "quality_speed.png", ylabel=label)
        written.append("quality_speed.png")
    remove_stale(out, ["speed.png", "quality_speed.png"], [out / name for name in written])
    print("\n".join(lines))
    print(f"\nwrote {', '.join(str(out / name) for name in written)}")
    return payload


if __name__ == "__main__":
    main()
