"""``python -m benchmarks.quality``: PSNR / SSIM / LPIPS / DISTS of upscalers the way published SR tables measure them.

    python -m benchmarks.quality --data ../shared/data/Set5 ../shared/data/Set14 \\
        --models bicubic default opencv:ESPCN_x4.pb --scale 4
    python -m benchmarks.quality --data ../shared/data/Set5 --models bicubic fast --degradation medium
    python -m benchmarks.quality --self-test --data Set5 Set14   # bicubic x4 vs the published Set5/Set14 figures

For each HR folder, LR images are made with MATLAB-compatible bicubic (``srgan.resize``,
uint8 rounding like MATLAB) after cropping the HR image to a multiple of the scale, or read
from ``--lr-dir`` (matched by file stem). ``--degradation light|medium|heavy`` makes them
with a fixed chain instead (``srgan.degradations.SEVERITIES``: Gaussian blur of the HR
image, the same bicubic, Gaussian noise seeded by the image's name, a Pillow JPEG): one LR
per image and profile, the same for every model and run, scored against the clean HR. Each method upscales them; PSNR and SSIM follow
the published convention (``srgan.metrics``: Y channel, ``scale`` pixels of border cropped,
8-bit, float64), and ``detail`` is the high-frequency energy of the output relative to HR
(``srgan.metrics.detail_ratio``: below 1 smoother, above 1 sharper than the original). The
perceptual distances (``--metrics``, all by default) follow their reference code: ``lpips``
(v0.1, AlexNet), ``lpips_vgg`` (v0.1, VGG16) and ``dists`` on the full RGB image, no border
crop, LPIPS inputs in [-1, 1], DISTS in [0, 1]; lower is better. Their backbones come from
``python -m srgan.assets fetch``; a missing one stops the run before any work, naming the
command.

Writes ``--out`` (default ``results/quality/``): ``quality.json`` (environment, with each
model's file and sha256 under ``models``, and one record per image and per data set),
``quality.md`` (the summary table, the tails, then per-image tables),
``psnr_per_image.png``, ``psnr_lpips.png`` and ``crops_<dataset>.png`` (a zoomed crop of
each image per model, under each the whole image's scores).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.quality.evaluate import (
    PERCEPTUAL,
    PUBLISHED_BICUBIC_X4,
    PUBLISHED_IMAGES,
    calibration,
    evaluate,
    load_dataset,
    perceptual_convention,
)
from benchmarks.quality.methods import BASELINES, build_method
from benchmarks.quality.report import (
    per_image_tables,
    plot_crops,
    plot_psnr,
    plot_psnr_lpips,
    summary_table,
    tail_table,
)
from benchmarks.report import (
    environment,
    input_error,
    out_folder_problem,
    remove_stale,
    write_json,
)
from srgan.assets import AssetError, MissingWeightsError
from srgan.backends import BackendError
from srgan.degradations import PROFILES, describe_profile, profile_record
from srgan.inference import resolve_device


def model_source(spec: str) -> dict[str, str]:
    """What ``--models`` named: as given, and for a weights file (a shipped model's too)
    its path (from the working folder when it lies inside it) and sha256."""
    from srgan.backends import sha256_file
    from srgan.weights import resolve_model

    try:
        path = resolve_model(spec)
    except (FileNotFoundError, ValueError):  # bicubic, opencv:..., not a weights file
        return {"given": spec}
    shown = path.resolve()
    if shown.is_relative_to(Path.cwd().resolve()):  # as the command's own paths are
        shown = shown.relative_to(Path.cwd().resolve())
    return {"given": spec, "file": str(shown), "sha256": sha256_file(path)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.quality",
        description=(
            "PSNR / SSIM / LPIPS / DISTS of upscalers on HR image folders, measured like published SR\n"
            "tables: LR made from HR with MATLAB-compatible bicubic; PSNR and SSIM on the Y\n"
            "channel (BT.601), `scale` border pixels cropped, 8-bit, float64; gray images on\n"
            "their gray values. Reports the mean, the worst image and the 10th-percentile PSNR,\n"
            "the detail ratio (high-frequency energy of the output over HR's: < 1 smoother),\n"
            "LPIPS (AlexNet and VGG16) and DISTS on the full RGB image with their worst image\n"
            "and 90th percentile, per-image rows and inference time; writes JSON, Markdown and\n"
            "plots to --out."
        ),
        epilog=(
            "examples:\n"
            "  python -m benchmarks.quality --data ../shared/data/Set5 ../shared/data/Set14 "
            "--models bicubic --scale 4\n"
            "  python -m benchmarks.quality --data DIR --models bicubic default "
            "runs/x/last.ckpt opencv:ESPCN_x4.pb\n"
            "  python -m benchmarks.quality --self-test --data ../shared/data/Set5 "
            "../shared/data/Set14"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data", nargs="+", metavar="DIR", help="HR image folders to score (required)"
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=["bicubic"],
        metavar="SPEC",
        help=(
            "methods to compare (default: bicubic): shipped srgan models by name (default, "
            "fast-any, fast, fast-real, fast-gan), a .safetensors or srgan.fit .ckpt path, an .onnx "
            "model (srgan.export's, int8 too: run by ONNX Runtime), the baselines "
            f"{', '.join(BASELINES)}, or opencv:FILE.pb (OpenCV dnn_superres; needs "
            "pip install 'srgan[baselines]', from a checkout pip install -e '.[baselines]'; "
            "those models were trained on non-antialiased LR, so under this protocol they "
            "score about as bicubic does)"
        ),
    )
    parser.add_argument("--scale", type=int, default=4, help="upscaling factor (default 4)")
    parser.add_argument(
        "--lr-dir",
        nargs="+",
        metavar="DIR",
        help="ready-made LR folders, one per --data folder in order, matched by file stem, "
        "as it is or with xSCALE (0801x4.png) (default: make LR from HR with MATLAB-compatible bicubic)",
    )
    parser.add_argument(
        "--degradation",
        choices=PROFILES,
        default="bicubic",
        help="how LR is made from HR (default bicubic, the published convention): light, "
        "medium or heavy apply a fixed chain (Gaussian blur of the HR image, MATLAB bicubic, "
        "Gaussian noise seeded by the image name, JPEG; srgan.degradations.SEVERITIES), "
        "the same LR for every model and run; opencv-cubic, opencv-linear and opencv-area "
        "resize with OpenCV's cv2.resize, without antialiasing (the LR of quick scripts); "
        "pillow-lanczos and pillow-bilinear with Pillow's other filters (antialiased); "
        "scores are against the clean HR",
    )
    parser.add_argument(
        "--crop-border",
        type=int,
        default=None,
        help="pixels removed from every border before scoring (default: the scale; 0 for none)",
    )
    parser.add_argument(
        "--channels",
        choices=("y", "rgb"),
        default="y",
        help="score PSNR/SSIM on the Y channel (default, the published convention) or on RGB",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("results/quality"),
        help="output folder (default results/quality)",
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto)")
    parser.add_argument(
        "--precision",
        choices=("fp32", "fp16", "bf16"),
        default="fp32",
        help="srgan models only (default fp32)",
    )
    parser.add_argument(
        "--tile",
        type=int,
        default=None,
        help="tile size in LR pixels (srgan; default: whole images)",
    )
    parser.add_argument(
        "--self-ensemble",
        action="store_true",
        help=(
            "srgan models averaged over the 8 flips and quarter turns of each LR image "
            "(geometric self-ensemble, as srgan.upscale --self-ensemble; 8 times the time), "
            "labelled NAME+"
        ),
    )
    parser.add_argument(
        "--opencv-dir",
        type=Path,
        default=None,
        help="where opencv:NAME.pb files are looked up (e.g. "
        "../shared/baselines/opencv-dnn-superres); a path to the .pb works too",
    )
    parser.add_argument(
        "--metrics",
        nargs="+",
        choices=[*PERCEPTUAL, "none"],
        default=list(PERCEPTUAL),
        metavar="NAME",
        help="perceptual distances to add to PSNR / SSIM / detail: lpips (AlexNet), lpips_vgg "
        "(VGG16), dists, or none (default: all three). Their ImageNet backbones come from "
        "`python -m srgan.assets fetch` (run by make install, again by make assets); nothing is downloaded here",
    )
    parser.add_argument(
        "--crops",
        type=int,
        default=3,
        help="images per data set in the crop strip (0: none; default 3)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check bicubic x4 against the published Set5 28.42 dB / 0.8104 and Set14 "
        "26.00 dB / 0.7027 (within 0.02 dB, 0.002) and exit; --data gives the Set5 and "
        "Set14 folders",
    )
    return parser


def self_test(folders: Sequence[str | Path], *, progress: bool = True) -> int:
    datasets = [load_dataset(folder, 4)[:2] for folder in folders]
    names = sorted(name for name, _ in datasets)
    if names != sorted(PUBLISHED_BICUBIC_X4):
        raise ValueError(f"--self-test needs the Set5 and Set14 folders as --data, got {names}")
    records, _ = evaluate(
        datasets, [build_method("bicubic", 4)], scale=4, crop_border=4, progress=progress
    )
    lines = calibration(records, 4, True, counted=False)
    for name, items in datasets:
        if len(items) != PUBLISHED_IMAGES[name]:
            lines.append(
                f"FAIL {name}: {len(items)} image(s) scored, the published set has "
                f"{PUBLISHED_IMAGES[name]}"
            )
    print("\n".join(lines))
    return 0 if all(line.startswith("OK") for line in lines) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.data and args.self_test:
        parser.error("--self-test needs the Set5 and Set14 folders: --data SET5_DIR SET14_DIR")
    if not args.data:
        parser.error("--data DIR [DIR ...] is required (HR image folders)")
    if args.scale < 2:
        parser.error(f"--scale must be a whole number of at least 2, got {args.scale}")
    if args.crop_border is not None and args.crop_border < 0:
        parser.error(f"--crop-border must be 0 or more, got {args.crop_border}")
    if args.crops < 0:
        parser.error(f"--crops must be 0 or more, got {args.crops}")
    if "none" in args.metrics and len(set(args.metrics)) > 1:
        parser.error("--metrics none is PSNR and SSIM alone: give it without other metrics")
    if args.self_test and (args.scale != 4 or args.models != ["bicubic"]):
        parser.error("--self-test checks bicubic x4 alone: leave out --scale and --models")
    if args.self_test and args.degradation != "bicubic":
        parser.error("--self-test checks the published bicubic figures: leave out --degradation")
    if args.self_test:
        try:
            return self_test(args.data, progress=not args.no_progress)
        except (FileNotFoundError, ValueError) as error:
            input_error(parser, str(error))
    if args.lr_dir is not None and len(args.lr_dir) != len(args.data):
        parser.error(f"--lr-dir needs one folder per --data folder ({len(args.data)})")
    if args.lr_dir is not None and args.degradation != "bicubic":
        parser.error("--lr-dir gives the LR images: it cannot be combined with --degradation")
    scale = args.scale
    crop_border = scale if args.crop_border is None else args.crop_border
    y_channel = args.channels == "y"
    try:
        device = resolve_device(args.device)
    except RuntimeError as error:
        input_error(parser, f"--device {args.device}: {error}")
    for folder in args.data:
        if Path(args.out).resolve().is_relative_to(Path(folder).resolve()):
            # Its plots would be scored as images of the data set by the next run.
            input_error(
                parser, f"--out {args.out} lies inside --data {folder}: give a folder outside it"
            )

    # Every input is checked before any work, and everything that fails is named at once:
    # the data first (cheap), then the models.
    problems = []
    datasets = []
    skipped: list[tuple[Path, str]] = []  # bad images: named, left out, exit status 1
    for folder, lr_dir in zip(args.data, args.lr_dir or [None] * len(args.data)):
        if lr_dir is not None and not Path(lr_dir).is_dir():
            problems.append(f"--lr-dir {lr_dir}: image folder not found")
            continue
        try:
            name, items, bad = load_dataset(
                folder, scale, lr_dir, crop_border=crop_border, degradation=args.degradation
            )
        except (FileNotFoundError, ValueError) as error:
            problems.append(f"--data {folder}: {error}")
            continue
        skipped += bad
        if items:
            # Two folders of one name (a/hr, b/hr): told apart, not merged in the tables.
            base, copies = name, 1
            while name in {n for n, _ in datasets}:
                copies += 1
                name = f"{base}#{copies}"
            datasets.append((name, items))
        else:
            why = "; ".join(f"{path.name}: {reason}" for path, reason in bad[:3])
            more = f"; {len(bad) - 3} more" if len(bad) > 3 else ""
            problems.append(
                f"--data {folder}: no image could be scored" + (f" ({why}{more})" if why else "")
            )
    opencv_dir = args.opencv_dir
    methods, given = [], []
    for spec in args.models:
        try:
            given.append(spec)
            methods.append(
                build_method(
                    spec,
                    scale,
                    opencv_dir=opencv_dir,
                    device=device,
                    precision=args.precision,
                    tile=args.tile,
                    self_ensemble=args.self_ensemble,
                )
            )
        except (FileNotFoundError, ValueError, ImportError, BackendError) as error:
            given.pop()
            problems.append(f"--models {spec}: {error}")
    wanted = [] if "none" in args.metrics else list(dict.fromkeys(args.metrics))
    perceptual, missing = {}, {}
    for name in wanted:
        try:
            perceptual[name] = PERCEPTUAL[name][1]().to(device)
        except (MissingWeightsError, AssetError) as error:  # absent, or not the pinned file
            missing[name] = error
    # The metrics that can run (none: PSNR and SSIM only), for each missing one's hint.
    runnable = " ".join(perceptual) or "none"
    for name, error in missing.items():
        problems.append(f"--metrics {name}: {error} (or leave it out: --metrics {runnable})")
    if (problem := out_folder_problem(args.out)) is not None:
        problems.append(problem)
    if problems:
        input_error(parser, "nothing was measured:\n  " + "\n  ".join(problems))
    seen: set[str] = set()
    for index, method in enumerate(methods, start=1):
        if method.name in seen:  # e.g. two runs' last.ckpt: keep the records apart
            method.name = f"{method.name}#{index}"
        seen.add(method.name)
    perceptual_note = (
        f"Perceptual distances: {perceptual_convention(list(perceptual))}."
        if perceptual
        else "Perceptual distances: not requested (--metrics none)."
    )
    records, kept = evaluate(
        datasets,
        methods,
        scale=scale,
        crop_border=crop_border,
        y_channel=y_channel,
        perceptual=perceptual,
        keep=args.crops,
        progress=not args.no_progress,
    )

    env = environment(device)
    env.update(
        device=str(device),
        precision=args.precision,
        scale=scale,
        crop_border=crop_border,
        channels="Y (BT.601)" if y_channel else "RGB",
        lr="given (--lr-dir)" if args.lr_dir else describe_profile(args.degradation, scale),
        degradation=None if args.lr_dir else args.degradation,
        degradation_chain=None if args.lr_dir else profile_record(args.degradation),
        perceptual_metrics=list(perceptual),
        perceptual_convention=perceptual_convention(list(perceptual)) if perceptual else None,
        # Which file each record's model is (labels can repeat a name: last, last#2).
        models={m.name: model_source(spec) for m, spec in zip(methods, given)},
        data=[str(folder) for folder in args.data],
        lr_dirs=[str(folder) for folder in args.lr_dir] if args.lr_dir else None,
        tile=args.tile,
        self_ensemble=args.self_ensemble,
    )
    out: Path = args.out
    left_out = [{"file": str(path), "reason": reason} for path, reason in skipped]
    payload = {"environment": env, "records": records, "skipped": left_out}
    write_json(payload, out / "quality.json")
    protocol = (
        f"x{scale}, PSNR/SSIM on {env['channels']}, {crop_border} px border cropped, "
        f"LR: {env['lr']}; scored against the clean HR; device {device}, {args.precision}"
        + (
            "; NAME+: self-ensembled (mean over 8 flips and quarter turns)"
            if args.self_ensemble
            else ""
        )
    )
    table = summary_table(records)
    # The published figures are for bicubic LR only.
    clean = args.degradation == "bicubic"
    checks = calibration(records, crop_border, y_channel) if clean else []
    markdown = [
        "# Quality benchmark",
        "",
        protocol,
        "",
        table,
        "",
        perceptual_note,
        *(
            ["", "Calibration against published bicubic figures:", ""]
            + [f"- {line}" for line in checks]
            if checks
            else []
        ),
        "",
        "## Tails",
        "",
        "The worst image (its value) and the 10% tail: PSNR's 10th percentile, the 90th for "
        "the distances (higher is worse).",
        "",
        tail_table(records),
        "",
        "## Per image",
        "",
        per_image_tables(records),
        "",
        *(
            [
                "## Left out (not scored)",
                "",
                *(f"- {i['file']}: {i['reason']}" for i in left_out),
                "",
            ]
            if left_out
            else []
        ),
    ]
    (out / "quality.md").write_text("\n".join(markdown))
    written = [plot_psnr(records, out / "psnr_per_image.png", channels=env["channels"])]
    if "lpips" in perceptual:
        written.append(plot_psnr_lpips(records, out / "psnr_lpips.png", channels=env["channels"]))
    if args.crops > 0:
        names = [m.name for m in methods]
        for dataset, items in datasets:
            path = out / f"crops_{dataset}.png"
            written.append(plot_crops(dataset, items, kept, names, records, scale, path))
    remove_stale(out, ["psnr_lpips.png", "crops_*.png"], written)
    print(protocol)
    print(table)
    print(perceptual_note)
    if checks:
        print("\n".join(checks))
    plots = "psnr_per_image.png" + (", psnr_lpips.png" if "lpips" in perceptual else "")
    crops = ", crops_*.png" if args.crops > 0 else ""
    print(f"wrote {out}/quality.json, quality.md, {plots}{crops}")
    for path, reason in skipped:
        print(f"skipped: {path}: {reason}", file=sys.stderr)
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
