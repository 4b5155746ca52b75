#!/usr/bin/env bash
# The GPU work of a release, in steps that each fit one short job on a GPU machine without
# network access (srgan's dependencies installed there, the training images packed by
# `python -m benchmarks.release.pack` and copied over). Run from the checkout's root; each
# step writes what it makes under OUT (fp16 weights with their training record, logs.tar.gz,
# speed.json / speed.md and plots) and prints where.
#
#   bash benchmarks/release/gpu_job.sh quality OUT SECONDS DATA...   # `quality`: RRDBNet x4, PSNR stage
#   bash benchmarks/release/gpu_job.sh gan OUT SECONDS INIT DATA...  # `gan`: INIT's GAN stage (RaGAN)
#   bash benchmarks/release/gpu_job.sh speed OUT                     # GPU speed, energy, training throughput
#
# quality: QUALITY_INIT=FILE continues from earlier weights (fresh optimizer and schedule).
# gan: the VGG16 backbone of the perceptual loss must be in place (python -m srgan.assets fetch).
# RUNS=DIR: where the runs' checkpoints go (default runs/gpu-job/STEP; not under OUT).
# SMOKE=1: the same steps with tiny networks on the CPU in seconds (speed: a CPU stand-in for
# the CUDA suites), to check a job before paying for GPU time.
set -euo pipefail

usage() {
    sed -n '8,10p' "$0" | sed 's/^#  */usage: /' >&2
    exit 2
}

step=${1:-}
[ $# -ge 2 ] || usage
out=$2
smoke=()
[ "${SMOKE:-0}" = 1 ] && smoke=(--smoke)
mkdir -p "$out"
python=${PYTHON:-python3}
runs=${RUNS:-runs/gpu-job/$step}  # checkpoints and run folders: kept out of OUT

case $step in
quality)
    [ $# -ge 4 ] || usage
    seconds=$3
    shift 3
    init=()
    [ -n "${QUALITY_INIT:-}" ] && init=(--quality-init "$QUALITY_INIT")
    "$python" -m benchmarks.release --data "$@" --psnr-budget "$seconds" --psnr-runs quality \
        "${init[@]}" --runs "$runs" --out "$out" "${smoke[@]}"
    ;;
gan)
    [ $# -ge 5 ] || usage
    seconds=$3
    gan_init=$4
    shift 4
    "$python" -m benchmarks.release --data "$@" --gan-budget "$seconds" --gan-init "$gan_init" \
        --gan-runs gan_ragan_s0 --runs "$runs" --out "$out" "${smoke[@]}"
    ;;
speed)
    if [ ${#smoke[@]} -eq 0 ]; then
        "$python" -m benchmarks.speed --suite gpu --out "$out/speed-gpu"
        "$python" -m benchmarks.speed --suite realtime --out "$out/speed-realtime"
        "$python" -m benchmarks.speed --train --arch rrdb8 --device cuda --batch 16 --crop 128 \
            --precisions fp32 bf16 --out "$out/train-throughput"
    else
        "$python" -m benchmarks.speed --arch tiny-rrdb --device cpu --backends eager --size 32x32 \
            --warmup 0 --repeats 1 --out "$out/speed-gpu"
        "$python" -m benchmarks.speed --train --arch tiny-rrdb --device cpu --batch 2 --crop 32 \
            --warmup 0 --repeats 1 --out "$out/train-throughput"
    fi
    ;;
*)
    usage
    ;;
esac
echo "gpu_job $step: wrote $out"
