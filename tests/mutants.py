"""Mutation testing: plant known bugs one at a time and check that the tests catch each.

Run it with ``make mutate`` (it is not part of ``make test``), or::

    python tests/mutants.py                      # every mutant
    python tests/mutants.py ema- wgan-gp-        # mutants whose name starts with these
    python tests/mutants.py --list               # names, files and test files
    python tests/mutants.py --check              # only check that every snippet still applies
    python tests/mutants.py --jobs 2             # two mutants at a time

Each mutant replaces one exact snippet of a source file by a buggy one, in a temporary
copy of the repository (the working tree is never edited, so Ctrl-C leaves nothing
behind), and runs the test files that should catch it, stopping at the first failure. A
mutant the tests fail on is *killed*; one they pass *survives*. Every survivor must either
be killed by a new test or be marked here ``equivalent=`` with the reason no test can tell
it from the original; the run fails (exit status 1) on any other survivor.

The whole list takes more than an hour and a half on two cores with ``--jobs 2`` (the
mutants of training and resuming run the training tests, several minutes each): name the
mutants of the code you changed. The unmutated run that comes first (to be sure the tests
pass before any bug is planted) adds a few minutes; skip it with ``--no-baseline``.

A snippet must occur exactly once in its file. If it has moved to another module, it is
looked for (once) in every ``srgan/*.py``; one found nowhere is reported as stale and
fails the run, so that the list follows the code it mutates.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The test files that should catch a bug in each area, most specific (and fastest) first.
OBJECTIVES = ("tests/test_objectives.py",)
METRICS = ("tests/test_metrics.py",)
RESIZE = ("tests/test_resize.py", "tests/test_data.py")
INFERENCE = ("tests/test_inference.py", "tests/test_pictures.py")
EMA = ("tests/test_module.py", "tests/test_fit.py")
DATA = ("tests/test_data.py",)
DEGRADATIONS = ("tests/test_degradations.py",)
IMAGES = ("tests/test_images.py", "tests/test_pictures.py")
PICTURES = ("tests/test_pictures.py", "tests/test_upscale.py")
EXPORT = ("tests/test_int8.py", "tests/test_export.py")


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    original: str
    mutated: str
    tests: tuple[str, ...]
    equivalent: str | None = None  # why no test can tell it from the original


MUTANTS = [
    # -- objectives: every class ---------------------------------------------------------
    Mutant(
        "minimax-real-label-ignored",
        "srgan/objectives.py",
        "return surprise(real_logits, self.real_label).mean() + surprise(fake_logits, 0.0).mean()",
        "return surprise(real_logits, 1.0).mean() + surprise(fake_logits, 0.0).mean()",
        OBJECTIVES,
    ),
    Mutant(
        "minimax-g-sign",
        "srgan/objectives.py",
        "return -F.softplus(fake_logits).mean()",
        "return F.softplus(fake_logits).mean()",
        OBJECTIVES,
    ),
    Mutant(
        "nonsaturating-g-smoothed",
        "srgan/objectives.py",
        "return surprise(fake_logits, 1.0).mean()",
        "return surprise(fake_logits, self.real_label).mean()",
        OBJECTIVES,
    ),
    Mutant(
        "leastsquares-real-label-ignored",
        "srgan/objectives.py",
        "0.5 * ((real_logits - self.real_label) ** 2).mean()",
        "0.5 * ((real_logits - 1.0) ** 2).mean()",
        OBJECTIVES,
    ),
    Mutant(
        "leastsquares-g-smoothed",
        "srgan/objectives.py",
        "return 0.5 * ((fake_logits - 1.0) ** 2).mean()",
        "return 0.5 * ((fake_logits - self.real_label) ** 2).mean()",
        OBJECTIVES,
    ),
    Mutant(
        "hinge-g-sign",
        "srgan/objectives.py",
        "F.relu(1.0 + fake_logits).mean()\n\n"
        "    def g_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:\n"
        "        return -fake_logits.mean()",
        "F.relu(1.0 + fake_logits).mean()\n\n"
        "    def g_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:\n"
        "        return fake_logits.mean()",
        OBJECTIVES,
    ),
    Mutant(
        "hinge-g-sum",
        "srgan/objectives.py",
        "F.relu(1.0 + fake_logits).mean()\n\n"
        "    def g_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:\n"
        "        return -fake_logits.mean()",
        "F.relu(1.0 + fake_logits).mean()\n\n"
        "    def g_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:\n"
        "        return -fake_logits.sum()",
        OBJECTIVES,
    ),
    Mutant(
        "hinge-d-fake-margin",
        "srgan/objectives.py",
        "F.relu(1.0 + fake_logits).mean()",
        "F.relu(1.0 - fake_logits).mean()",
        OBJECTIVES,
    ),
    Mutant(
        "wgan-g-sign",
        "srgan/objectives.py",
        "return fake_logits.mean() - real_logits.mean()\n\n"
        "    def g_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:\n"
        "        return -fake_logits.mean()",
        "return fake_logits.mean() - real_logits.mean()\n\n"
        "    def g_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:\n"
        "        return fake_logits.mean()",
        OBJECTIVES,
    ),
    Mutant(
        "wgan-d-sign",
        "srgan/objectives.py",
        "return fake_logits.mean() - real_logits.mean()",
        "return real_logits.mean() - fake_logits.mean()",
        OBJECTIVES,
    ),
    Mutant(
        "wgan-gp-at-fakes",
        "srgan/objectives.py",
        "interpolates = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)",
        "interpolates = fake.detach().clone().requires_grad_(True)",
        OBJECTIVES,
    ),
    Mutant(
        "wgan-gp-at-reals",
        "srgan/objectives.py",
        "interpolates = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)",
        "interpolates = real.detach().clone().requires_grad_(True)",
        OBJECTIVES,
    ),
    Mutant(
        "wgan-gp-alpha-per-element",
        "srgan/objectives.py",
        "real.shape[0], *([1] * (real.dim() - 1)), device=real.device",
        "*real.shape, device=real.device",
        OBJECTIVES,
    ),
    Mutant(
        "wgan-gp-no-second-order-graph",
        "srgan/objectives.py",
        "interpolates, create_graph=True)",
        "interpolates, create_graph=False)",
        OBJECTIVES,
    ),
    Mutant(
        "wgan-gp-norm-of-mean",
        "srgan/objectives.py",
        "((norms - 1.0) ** 2).mean()",
        "(norms.mean() - 1.0) ** 2",
        OBJECTIVES,
    ),
    Mutant(
        "relativistic-real-label-ignored",
        "srgan/objectives.py",
        "surprise(paired(real_logits, fake_logits), self.real_label)",
        "surprise(paired(real_logits, fake_logits), 1.0)",
        OBJECTIVES,
    ),
    Mutant(
        "relativistic-g-smoothed",
        "srgan/objectives.py",
        "surprise(-paired(real_logits, fake_logits), 1.0)",
        "surprise(-paired(real_logits, fake_logits), self.real_label)",
        OBJECTIVES,
    ),
    Mutant(
        "ragan-real-label-ignored",
        "srgan/objectives.py",
        "0.5 * (surprise(real_rel, self.real_label).mean()",
        "0.5 * (surprise(real_rel, 1.0).mean()",
        OBJECTIVES,
    ),
    Mutant(
        "ragan-paired-not-averaged",
        "srgan/objectives.py",
        "real_mean, fake_mean = real_logits.mean(), fake_logits.mean()",
        "real_mean, fake_mean = real_logits, fake_logits",
        OBJECTIVES,
    ),
    Mutant(
        "maxsurprise-alpha-ignored",
        "srgan/objectives.py",
        "+ self.alpha * smooth_max(",
        "+ smooth_max(",
        OBJECTIVES,
    ),
    Mutant(
        "maxsurprise-real-label-ignored",
        "srgan/objectives.py",
        "smooth_max(surprise(real, self.real_label), self.tau)",
        "smooth_max(surprise(real, 1.0), self.tau)",
        OBJECTIVES,
    ),
    Mutant(
        "maxsurprise-g-smoothed",
        "srgan/objectives.py",
        "fake_term = smooth_max(surprise(fake, 1.0), self.tau)",
        "fake_term = smooth_max(surprise(fake, self.real_label), self.tau)",
        OBJECTIVES,
    ),
    Mutant(
        "maxsurprise-relativistic-no-half",
        "srgan/objectives.py",
        "return 0.5 * loss if self.relativistic else loss",
        "return loss",
        OBJECTIVES,
    ),
    Mutant(
        "maxsurprise-sample-pool-max",
        "srgan/objectives.py",
        "return logits.flatten(1).mean(1)  # (B,)",
        "return logits.flatten(1).amax(1)  # (B,)",
        OBJECTIVES,
    ),
    Mutant(
        "smooth-max-without-log-n",
        "srgan/objectives.py",
        "tau * (torch.logsumexp(flat / tau, dim=0) - math.log(flat.numel()))",
        "tau * torch.logsumexp(flat / tau, dim=0)",
        OBJECTIVES,
    ),
    # -- metrics: psnr, ssim, Y channel, crop, quantisation ------------------------------
    Mutant(
        "quantize-floor",
        "srgan/metrics.py",
        "clamp(0, 1) * 255.0 + 0.5)",
        "clamp(0, 1) * 255.0)",
        METRICS,
    ),
    Mutant(
        "quantize-round-half-even",
        "srgan/metrics.py",
        "torch.floor(images.detach().to(torch.float64).clamp(0, 1) * 255.0 + 0.5)",
        "torch.round(images.detach().to(torch.float64).clamp(0, 1) * 255.0)",
        METRICS,
    ),
    Mutant(
        "quantize-no-clamp",
        "srgan/metrics.py",
        "images.detach().to(torch.float64).clamp(0, 1) * 255.0",
        "images.detach().to(torch.float64) * 255.0",
        METRICS,
    ),
    Mutant(
        "y-no-offset",
        "srgan/metrics.py",
        "return 16.0 + (images * weights).sum(1, keepdim=True) / 255.0",
        "return (images * weights).sum(1, keepdim=True) / 255.0",
        METRICS,
    ),
    Mutant(
        "y-weights-bgr",
        "srgan/metrics.py",
        "Y_WEIGHTS = (65.481, 128.553, 24.966)",
        "Y_WEIGHTS = (24.966, 128.553, 65.481)",
        METRICS,
    ),
    Mutant(
        "gray-through-ycbcr",
        "srgan/metrics.py",
        "if y_channel and x.shape[1] == 3:",
        "if y_channel:",
        METRICS,
    ),
    Mutant(
        "crop-rows-only",
        "srgan/metrics.py",
        "return images[..., border:-border, border:-border]",
        "return images[..., border:-border, :]",
        METRICS,
    ),
    Mutant(
        "crop-one-pixel-short",
        "srgan/metrics.py",
        "return images[..., border:-border, border:-border]",
        "return images[..., border - 1 : 1 - border, border - 1 : 1 - border]",
        METRICS,
    ),
    Mutant(
        "psnr-data-range-1",
        "srgan/metrics.py",
        "data_range=255.0",
        "data_range=1.0",
        METRICS,
    ),
    Mutant(
        "ssim-c2-is-c1",
        "srgan/metrics.py",
        "c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2",
        "c1, c2 = (0.01 * 255) ** 2, (0.01 * 255) ** 2",
        METRICS,
    ),
    Mutant(
        "ssim-sigma-1",
        "srgan/metrics.py",
        "size: int = 11, sigma: float = 1.5",
        "size: int = 11, sigma: float = 1.0",
        METRICS,
    ),
    Mutant(
        "ssim-padded",
        "srgan/metrics.py",
        "return F.conv2d(t, window, groups=channels)  # valid region only",
        "return F.conv2d(t, window, groups=channels, padding=5)",
        METRICS,
    ),
    # -- export's quality report ---------------------------------------------------------
    Mutant(
        "export-psnr-without-border-crop",
        "srgan/int8.py",
        "row[name] = float(psnr(sr, hr, crop_border=scale)[0])",
        "row[name] = float(psnr(sr, hr)[0])",
        EXPORT,
    ),
    Mutant(
        "export-psnr-on-rgb",
        "srgan/int8.py",
        "row[name] = float(psnr(sr, hr, crop_border=scale)[0])",
        "row[name] = float(psnr(sr, hr, crop_border=scale, y_channel=False)[0])",
        EXPORT,
    ),
    # -- resize: cubic kernel, antialiasing, padding, pass order, rounding ---------------
    Mutant(
        "cubic-far-a-0.75",
        "srgan/resize.py",
        "far = (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2)",
        "far = (-0.75 * ax3 + 3.75 * ax2 - 6 * ax + 3)",
        RESIZE,
    ),
    Mutant(
        "cubic-near-open-interval",
        "srgan/resize.py",
        "* (ax <= 1)",
        "* (ax < 1)",
        RESIZE,
        equivalent="the near branch is 1.5 - 2.5 + 1 = 0 at |x| = 1, so the point dropped "
        "from the interval contributes nothing either way",
    ),
    Mutant(
        "antialias-off",
        "srgan/resize.py",
        "stretch = scale < 1 and antialias",
        "stretch = False",
        RESIZE,
    ),
    Mutant(
        "antialias-kernel-unscaled",
        "srgan/resize.py",
        "weights = scale * cubic(scale * distance) if stretch else cubic(distance)",
        "weights = cubic(scale * distance) if stretch else cubic(distance)",
        RESIZE,
        equivalent="each row of weights is divided by its sum on the next line, so a "
        "constant factor on the whole row cancels (MATLAB keeps it; it has no effect)",
    ),
    Mutant(
        "weights-not-normalised",
        "srgan/resize.py",
        "weights = weights / weights.sum(1, keepdim=True)",
        "weights = weights",
        RESIZE,
    ),
    Mutant(
        "replicate-padding",
        "srgan/resize.py",
        "source = mirror[(indices.long() - 1) % (2 * in_length)]",
        "source = (indices.long() - 1).clamp(0, in_length - 1)",
        RESIZE,
    ),
    Mutant(
        "rows-always-first",
        "srgan/resize.py",
        "passes = (pass_rows, pass_cols) if scales[0] <= scales[1] else (pass_cols, pass_rows)",
        "passes = (pass_rows, pass_cols)",
        RESIZE,
    ),
    Mutant(
        "columns-first-on-a-tie",
        "srgan/resize.py",
        "if scales[0] <= scales[1] else",
        "if scales[0] < scales[1] else",
        RESIZE,
    ),
    Mutant(
        "larger-scale-first",
        "srgan/resize.py",
        "if scales[0] <= scales[1] else",
        "if scales[0] >= scales[1] else",
        RESIZE,
    ),
    Mutant(
        "resize-round-half-even",
        "srgan/resize.py",
        "torch.floor(t * levels + 0.5).clamp(0, 255)",
        "torch.round(t * levels).clamp(0, 255)",
        RESIZE,
    ),
    # -- inference: tiling spans and overlap, padding crop, quantisation -----------------
    Mutant(
        "tile-context-start-short",
        "srgan/inference.py",
        "max(0, start - overlap)",
        "max(0, start - overlap + 1)",
        INFERENCE,
    ),
    Mutant(
        "tile-context-end-missing",
        "srgan/inference.py",
        "min(length, end + overlap)",
        "min(length, end)",
        INFERENCE,
    ),
    Mutant(
        "tile-spans-drop-last-pixel",
        "srgan/inference.py",
        "for start in range(0, length, tile):",
        "for start in range(0, length - 1, tile):",
        INFERENCE,
    ),
    Mutant(
        "padding-not-applied",
        "srgan/inference.py",
        "pad_h, pad_w = (-h) % m, (-w) % m",
        "pad_h, pad_w = 0, 0",
        INFERENCE,
    ),
    Mutant(
        "padding-cropped-at-the-wrong-corner",
        "srgan/inference.py",
        "return out[..., : h * s, : w * s].float().clamp_(0, 1)",
        "return out[..., out.shape[-2] - h * s :, out.shape[-1] - w * s :].float().clamp_(0, 1)",
        INFERENCE,
    ),
    Mutant(
        "uint8-output-truncated",
        "srgan/inference.py",
        "return x.mul_(255).round_().to(torch.uint8)",
        "return x.mul_(255).to(torch.uint8)",
        INFERENCE,
    ),
    Mutant(
        "uint16-output-truncated",
        "srgan/inference.py",
        "return x.mul_(65535).round_().to(torch.int32).to(torch.uint16)",
        "return x.mul_(65535).to(torch.int32).to(torch.uint16)",
        INFERENCE,
    ),
    Mutant(
        "uint8-input-scale",
        "srgan/inference.py",
        "return x.float().div_(255)",
        "return x.float().div_(256)",
        INFERENCE,
    ),
    Mutant(
        "uint16-input-scale",
        "srgan/inference.py",
        "return x.to(torch.int32).float().div_(65535)",
        "return x.to(torch.int32).float().div_(65536)",
        INFERENCE,
    ),
    Mutant(
        "output-not-clamped",
        "srgan/inference.py",
        "return out[..., : h * s, : w * s].float().clamp_(0, 1)",
        "return out[..., : h * s, : w * s].float()",
        INFERENCE,
    ),
    Mutant(
        "half-precision-fallback-off",
        "srgan/inference.py",
        "            if self.model is not self.fp32_model:\n                self.fp32_fallbacks += 1",
        "            if False:\n                self.fp32_fallbacks += 1",
        INFERENCE,
    ),
    # -- the generator EMA, and that it is what ships --------------------------------------
    Mutant(
        "ema-weight-is-decay",
        "srgan/module.py",
        "[p.detach() for p in self.generator.parameters()], 1 - decay",
        "[p.detach() for p in self.generator.parameters()], decay",
        EMA,
    ),
    Mutant(
        "ema-never-updated",
        "srgan/module.py",
        "        decay = self.hparams.ema_decay\n",
        "        return\n        decay = self.hparams.ema_decay\n",
        EMA,
    ),
    Mutant(
        "ema-buffers-not-copied",
        "srgan/module.py",
        "ema_buffer.copy_(buffer)",
        "pass",
        EMA,
    ),
    Mutant(
        "ema-not-updated-in-gan-stage",
        "srgan/module.py",
        "            self._update_ema()\n            sr = sr.detach()\n",
        "            sr = sr.detach()\n",
        EMA,
    ),
    Mutant(
        "ema-not-updated-in-psnr-stage",
        "srgan/module.py",
        "            self._update_ema()\n            self.log_dict(",
        "            self.log_dict(",
        EMA,
    ),
    Mutant(
        "forward-uses-the-raw-generator",
        "srgan/module.py",
        "return self.generator_ema(lr).clamp(0, 1)",
        "return self.generator(lr).clamp(0, 1)",
        EMA,
    ),
    Mutant(
        "checkpoint-loads-the-raw-generator",
        "srgan/weights.py",
        'state = states["generator_ema" if prefer_ema else "generator"]',
        'state = states["generator"]',
        EMA,
    ),
    Mutant(
        "init-from-ema-from-the-generator",
        "srgan/weights.py",
        'states["generator_ema"] = states["generator_ema"] or states["generator"]',
        'states["generator_ema"] = states["generator"]',
        EMA,
    ),
    # -- data pairing: augmentation and crop alignment ------------------------------------
    Mutant(
        "augment-flips-hr-only",
        "srgan/data.py",
        "        if flip:\n",
        "        if flip and not out:\n",
        DATA,
    ),
    Mutant(
        "augment-transposes-hr-only",
        "srgan/data.py",
        "        if transpose:\n",
        "        if transpose and not out:\n",
        DATA,
    ),
    Mutant(
        "augment-rotates-hr-only",
        "srgan/data.py",
        "torch.rot90(image, rotations, (-2, -1))",
        "torch.rot90(image, 0 if out else rotations, (-2, -1))",
        DATA,
    ),
    Mutant(
        "augment-rotation-drawn-per-image",
        "srgan/data.py",
        "torch.rot90(image, rotations, (-2, -1))",
        "torch.rot90(image, int(torch.randint(4, ()).item()), (-2, -1))",
        DATA,
    ),
    Mutant(
        "lr-crop-corner-swapped",
        "srgan/data.py",
        "lr[:, top // s : (top + size) // s, left // s : (left + size) // s]",
        "lr[:, left // s : (left + size) // s, top // s : (top + size) // s]",
        DATA,
    ),
    Mutant(
        "crop-corner-off-the-lr-grid",
        "srgan/data.py",
        "top = int(torch.randint((hr.shape[-2] - size) // s + 1, (), generator=draw)) * s",
        "top = int(torch.randint(hr.shape[-2] - size + 1, (), generator=draw))",
        DATA,
    ),
    Mutant(
        "validation-lr-without-antialias",
        "srgan/resize.py",
        "return imresize_array(hr, 1 / scale), hr",
        "return np.ascontiguousarray(hr[::scale, ::scale]), hr",
        DATA,
    ),
    Mutant(
        "training-lr-not-on-the-8-bit-grid",
        "srgan/degradations.py",
        "return imresize(hr.float(), 1 / scale, quantize=True)",
        "return imresize(hr.float(), 1 / scale, quantize=False)",
        DATA,
    ),
    Mutant(
        "sharpened-targets-ignored",
        "srgan/data.py",
        "            if self.sharpen_targets:\n",
        "            if False:\n",
        DATA,
    ),
    Mutant(
        "validation-lr-always-bicubic",
        "srgan/data.py",
        "profile=self.val_degradation, lr_images=lr_images",
        "lr_images=lr_images",
        DATA,
    ),
    # -- degradations: kernels, noise, JPEG, sharpening, the benchmark's fixed chains -------
    Mutant(
        "blur-kernels-not-normalised",
        "srgan/degradations.py",
        "return kernels / kernels.sum((-2, -1), keepdim=True)",
        "return kernels / kernels.amax((-2, -1), keepdim=True)",
        DEGRADATIONS,
    ),
    Mutant(
        "anisotropic-kernel-not-rotated",
        "srgan/degradations.py",
        "across = (-sin * x + cos * y) / sigma_y[:, None, None]",
        "across = y / sigma_y[:, None, None]",
        DEGRADATIONS,
    ),
    Mutant(
        "gray-noise-per-channel",
        "srgan/degradations.py",
        "torch.where(gray[:, None, None, None], mono.expand_as(color), color)",
        "color",
        DEGRADATIONS,
    ),
    Mutant(
        "noise-sigma-in-the-wrong-units",
        "srgan/degradations.py",
        "sigma = _uniform(order.noise_sigma, n, g, device) / 255",
        "sigma = _uniform(order.noise_sigma, n, g, device) / 100",
        DEGRADATIONS,
    ),
    Mutant(
        "jpeg-quality-ignored",
        "srgan/degradations.py",
        'buffer, format="JPEG", quality=q',
        'buffer, format="JPEG", quality=75',
        DEGRADATIONS,
    ),
    Mutant(
        "usm-without-threshold",
        "srgan/degradations.py",
        "mask = (residual.abs() * 255 > threshold).to(images.dtype)",
        "mask = torch.ones_like(residual)",
        DEGRADATIONS,
    ),
    Mutant(
        "fixed-chain-noise-not-seeded-by-name",
        "srgan/degradations.py",
        "generator = torch.Generator().manual_seed(name_seed(name))",
        "generator = torch.Generator().manual_seed(0)",
        DEGRADATIONS,
    ),
    Mutant(
        "fixed-chain-blur-skipped",
        "srgan/degradations.py",
        "x = gaussian_blur(x, severity.blur_sigma)",
        "x = x",
        DEGRADATIONS,
    ),
    Mutant(
        "classic-noise-in-the-wrong-units",
        "srgan/degradations.py",
        "noise_sigma = _uniform(self.noise_sigma, n, g, device) / 255",
        "noise_sigma = _uniform(self.noise_sigma, n, g, device) / 100",
        DEGRADATIONS,
    ),
    Mutant(
        "mixture-ignores-its-weights",
        "srgan/degradations.py",
        "which = _choice(self.weights, n, generator, hr.device)",
        "which = _choice([1.0] * len(self.weights), n, generator, hr.device)",
        DEGRADATIONS,
    ),
    Mutant(
        "grown-compactnet-added-channels-leak",
        "srgan/generators.py",
        "weight[:, features:] = 0  # nothing flows out of an added channel yet",
        "pass",
        ("tests/test_generators.py",),
    ),
    Mutant(
        "grown-compactnet-added-convs-not-identity",
        "srgan/generators.py",
        "weight[torch.arange(weight.shape[0]), torch.arange(weight.shape[0]), 1, 1] = 1",
        "weight[torch.arange(weight.shape[0]), torch.arange(weight.shape[0]), 0, 0] = 1",
        ("tests/test_generators.py",),
    ),
    Mutant(
        "tiff-without-resolution-tags-reports-pillows-default-dpi",
        "srgan/images.py",
        '    if image.format == "TIFF" and TIFF_X_RESOLUTION not in image.tag_v2:\n        return None\n',
        "",
        IMAGES,
    ),
    Mutant(
        "exif-resolution-left-unscaled",
        "srgan/images.py",
        "                    parsed[key] = TiffImagePlugin.IFDRational(float(parsed[key]) * factor)",
        "                    pass",
        IMAGES,
    ),
    Mutant(
        "sixteen-bit-tiff-drops-the-icc-profile",
        "srgan/images.py",
        "            tags[TIFF_ICC_PROFILE] = (7, picture.icc_profile)",
        "            pass",
        IMAGES,
    ),
    Mutant(
        "fit-resumes-a-checkpoint-of-another-network",
        "srgan/fit.py",
        "    if problems:\n        saved_stage",
        "    if False:\n        saved_stage",
        ("tests/test_reliability.py",),
    ),
    Mutant(
        "fit-resumes-a-checkpoint-with-no-step-left",
        "srgan/fit.py",
        "and step >= max_steps:",
        "and step > max_steps:",
        ("tests/test_reliability.py",),
    ),
    Mutant(
        "earlier-outputs-upscaled-again-in-a-folder-search",
        "srgan/jobs.py",
        "        earlier = {job.source for job in plan.jobs if output_tag(job.source) is not None}",
        "        earlier = set()",
        ("tests/test_upscale.py",),
    ),
    Mutant(
        "an-fp32-onnx-file-runs-as-int8-was-asked",
        "srgan/backends.py",
        '        if backend == "onnx-int8" and graph != "int8":',
        "        if False:",
        ("tests/test_backends.py",),
    ),
    Mutant(
        "api-nan-pixels-become-black",
        "srgan/pictures.py",
        "        if not np.isfinite(array).all():",
        "        if False:",
        ("tests/test_reliability.py",),
    ),
    Mutant(
        "resume-without-the-random-state",
        "srgan/module.py",
        '        torch.set_rng_state(state["cpu"])',
        "        pass",
        EMA,
    ),
    Mutant(
        "resume-replays-the-first-draws",
        "srgan/data.py",
        '            "draws": self.draws,',
        '            "draws": 0,',
        EMA,
    ),
    Mutant(
        "resume-replays-the-first-degradations",
        "srgan/data.py",
        '            "batches": self.batches,',
        '            "batches": 0,',
        EMA,
    ),
    Mutant(
        "every-batch-the-same-degradation",
        "srgan/data.py",
        "mixed_seed(seed, self.batches, rank)",
        "mixed_seed(seed, 0, rank)",
        ("tests/test_data.py", *EMA),
    ),
    Mutant(
        "every-draw-the-same-crop",
        "srgan/data.py",
        "        draw = torch.Generator().manual_seed(mixed_seed(self.seed, index))",
        "        draw = torch.Generator().manual_seed(self.seed)",
        DATA,
    ),
    Mutant(
        "every-epoch-the-same-order",
        "srgan/data.py",
        "generator=torch.Generator().manual_seed(mixed_seed(self.seed, epoch))",
        "generator=torch.Generator().manual_seed(self.seed)",
        DATA,
    ),
    Mutant(
        "time-budget-ignores-validation",
        "srgan/callbacks.py",
        "        seconds_per_step = 1 / max(rate, 1e-12) + self._validation_seconds / steps_made",
        "        seconds_per_step = 1 / max(rate, 1e-12)",
        ("tests/test_callbacks.py",),
    ),
    Mutant(
        "export-keeps-the-exporters-opset",
        "srgan/onnx.py",
        "    if written != opset:",
        "    if False:",
        ("tests/test_onnx.py",),
    ),
    Mutant(
        "ema-decay-above-one-accepted",
        "srgan/module.py",
        "        if not 0 <= ema_decay < 1:",
        "        if ema_decay < 0:",
        EMA,
    ),
    Mutant(
        "release-exits-0-when-a-run-failed",
        "benchmarks/release/plan.py",
        "    if failed:\n",
        "    if False:\n",
        ("tests/test_release.py",),
    ),
    Mutant(
        "factorial-interval-normal-not-student",
        "benchmarks/release/ablation.py",
        "stats.t.ppf(0.975, n - 1)",
        "1.96",
        ("tests/test_ablation.py",),
    ),
    Mutant(
        "ddp-draws-count-the-dropped-tail",
        "srgan/data.py",
        "        if offset + step > length // step * step:",
        "        if False:",
        DATA,
    ),
    Mutant(
        "sampler-start-fixed-when-the-loader-is-made",
        "srgan/data.py",
        "                start=lambda: self.draws,",
        "                start=self.draws,",
        EMA,
    ),
    Mutant(
        "time-budget-counts-the-validation-before-the-fit",
        "srgan/callbacks.py",
        "        self._validation_seconds = self._validation_in_window = 0.0",
        "        pass",
        ("tests/test_callbacks.py",),
    ),
    Mutant(
        "a-loaded-models-random-state-overrides-a-fresh-fit",
        "srgan/module.py",
        "        if state is None or not self.trainer.ckpt_path:",
        "        if state is None:",
        EMA,
    ),
    Mutant(
        "another-world-size-resumes-mid-batch",
        "srgan/data.py",
        "        offset = -(-offset // step) * step",
        "        pass",
        DATA,
    ),
    Mutant(
        "hidden-colour-not-filled",
        "srgan/pictures.py",
        "    return to_batch(fill_hidden(picture.pixels, picture.alpha))",
        "    return to_batch(picture.pixels)",
        PICTURES,
    ),
    Mutant(
        "hidden-colour-filled-from-the-farthest-pixel",
        "srgan/pictures.py",
        "    hidden = alpha == 0\n",
        "    hidden = alpha != 0\n",
        PICTURES,
    ),
    Mutant(
        "fit-keeps-the-inference-mode-metric-states",
        "srgan/module.py",
        "        for metric in self.eval_means.values():\n            metric.reset()",
        "        pass",
        ("tests/test_fit.py",),
    ),
    Mutant(
        "psnr-stage-perceptual-term-dropped",
        "srgan/module.py",
        "loss = loss + self.loss_weights.perceptual * g_perceptual",
        "loss = loss",
        ("tests/test_module.py",),
    ),
    # -- images and pictures: EXIF, quality, bit depth, gray, alpha ------------------------
    Mutant(
        "quality-ignored",
        "srgan/images.py",
        'options["quality"] = quality',
        'options["quality"] = 95',
        IMAGES,
    ),
    Mutant(
        "orientation-6-turns-the-wrong-way",
        "srgan/images.py",
        "6: lambda a: np.rot90(a, -1),",
        "6: lambda a: np.rot90(a, 1),",
        IMAGES,
    ),
    Mutant(
        "sixteen-to-eight-bits-truncates",
        "srgan/images.py",
        "return ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)",
        "return ((array.astype(np.uint32) * 255) // 65535).astype(np.uint8)",
        IMAGES,
    ),
    Mutant(
        "gray-mean-rounds-down",
        "srgan/pictures.py",
        "        band += 1\n",
        "",
        PICTURES,
    ),
    Mutant(
        "alpha-model-mode-ignored",
        "srgan/pictures.py",
        '    if mode == "model":\n',
        "    if False:\n",
        PICTURES,
    ),
    Mutant(
        "fp16-keeps-the-converters-type-hints",
        "srgan/onnx.py",
        "    del model.graph.value_info[:]\n",
        "",
        ("tests/test_export.py",),
    ),
    Mutant(
        "onnx-declares-unused-domains",
        "srgan/onnx.py",
        '    kept = [o for o in model.opset_import if (o.domain or "ai.onnx") in used]',
        "    kept = list(model.opset_import)",
        ("tests/test_export.py",),
    ),
    Mutant(
        "export-one-file-for-two-outputs",
        "srgan/export.py",
        "        if first != flag:",
        "        if False:",
        ("tests/test_export.py",),
    ),
    Mutant(
        "upscaler-passes-nan-input-on",
        "srgan/inference.py",
        "            if not bool(torch.isfinite(low) & torch.isfinite(high)):",
        "            if False:",
        INFERENCE,
    ),
    Mutant(
        "upscaler-takes-0-255-floats",
        "srgan/inference.py",
        "            if high > 1.5:",
        "            if False:",
        INFERENCE,
    ),
    Mutant(
        "upscaler-changes-the-callers-network",
        "srgan/inference.py",
        "(model if ready else copy.deepcopy(model)).eval()",
        "model.eval()",
        INFERENCE,
    ),
    Mutant(
        "model-file-cached-by-name-only",
        "srgan/pictures.py",
        "str(model), device, precision, tile, backend, file_stamp(str(model))",
        "str(model), device, precision, tile, backend, None",
        PICTURES,
    ),
    Mutant(
        "gan-stage-from-scratch-unwarned",
        "srgan/module.py",
        '        if self.stage == "gan" and fresh:',
        "        if False:",
        EMA,
    ),
    Mutant(
        "gradient-clip-ignored",
        "srgan/module.py",
        "self._grad_norm = torch.nn.utils.clip_grad_norm_(self._stepping, max_norm)",
        'self._grad_norm = torch.nn.utils.clip_grad_norm_(self._stepping, float("inf"))',
        ("tests/test_module.py",),
    ),
    Mutant(
        "foreign-output-replaced",
        "srgan/jobs.py",
        "    if job.target.stat().st_size == 0 or output_tag(job.target) is not None:",
        "    if True:",
        ("tests/test_reliability.py",),
    ),
    Mutant(
        "clash-first-by-name",
        "srgan/jobs.py",
        "for job in sorted(plan.jobs, key=lambda j: j.source.suffix.lower() != j.target.suffix.lower()):",
        "for job in plan.jobs:",
        PICTURES,
    ),
    Mutant(
        "lr-pairs-not-dropped",
        "srgan/data.py",
        "            if len(readable) < len(lr_files):  # a pair without its LR: not trained on",
        "            if False:",
        DATA,
    ),
    Mutant(
        "val-size-without-ssim-window",
        "srgan/data.py",
        "        least = 11 + 2 * self.scale",
        "        least = 1 + 2 * self.scale",
        DATA,
    ),
    Mutant(
        "any-zip-called-damaged",
        "srgan/weights.py",
        'if head == b"PK\\x03\\x04" and not zipfile.is_zipfile(path):',
        'if head == b"PK\\x03\\x04":',
        ("tests/test_weights.py",),
    ),
    Mutant(
        "pack-over-its-input",
        "benchmarks/release/pack.py",
        "            if overlap(target, source):",
        "            if False:",
        ("tests/test_pack.py",),
    ),
    Mutant(
        "pack-name-clash-overwrites",
        "benchmarks/release/pack.py",
        "        if key in first:",
        "        if False:",
        ("tests/test_pack.py",),
    ),
    Mutant(
        "speed-peak-memory-not-reset",
        "benchmarks/speed/runs.py",
        "    for name, call in calls.items():\n        reset_peak_rss()\n",
        "    for name, call in calls.items():\n",
        ("tests/test_speed.py",),
    ),
    Mutant(
        "tiff-tag-drops-exif",
        "srgan/images.py",
        '                info.load(options.pop("exif"))',
        "                pass",
        IMAGES,
    ),
    Mutant(
        "export-failed-parity-replaces",
        "srgan/export.py",
        "        if worst > args.tolerance:\n",
        "        if worst > args.tolerance:\n            os.replace(staged['fp32'], output)\n",
        EXPORT,
    ),
    Mutant(
        "export-psnr-gate-ignored",
        "srgan/export.py",
        "        if args.max_psnr_drop is not None and drop is not None and drop > args.max_psnr_drop:",
        "        if False:",
        EXPORT,
    ),
    Mutant(
        "export-folder-errors-unnamed",
        "srgan/export.py",
        "        if flag is None or text.startswith(flag):",
        "        if True:",
        EXPORT,
    ),
    Mutant(
        "calibration-decodes-every-image",
        "srgan/int8.py",
        "        if len(images) == count:\n            break",
        "        pass",
        EXPORT,
    ),
    Mutant(
        "holdout-takes-an-image-that-cannot-be-scored",
        "srgan/data.py",
        "            held.add(next((j for j in free if self._scorable(files[j])), free[0]))",
        "            held.add(free[0])",
        DATA,
    ),
    Mutant(
        "fit-run-folder-unchecked",
        "srgan/fit.py",
        "        check_run_folders(self.trainer, folder)\n",
        "        pass\n",
        ("tests/test_reliability.py",),
    ),
    Mutant(
        "quality-psnr-of-identical-images-infinite",
        "benchmarks/quality/evaluate.py",
        "y_channel=y_channel).item(), PSNR_CAP",
        "y_channel=y_channel).item(), float('inf')",
        ("tests/test_quality.py",),
    ),
    Mutant(
        "speed-random-network-labelled-as-the-shipped-model",
        "benchmarks/speed/cli.py",
        '    arch = [a if a not in shipped | set(labels) else f"{a} (random weights)" for a in args.arch]',
        "    arch = list(args.arch)",
        ("tests/test_speed.py",),
    ),
    Mutant(
        "checkpoint-label-without-its-run",
        "srgan/weights.py",
        '            return f"{logs.parent.name}/{run.name}/{path.stem}"',
        '            return f"{run.name}/{path.stem}"',
        ("tests/test_weights.py",),
    ),
    Mutant(
        "wgan-gp-negative-penalty-accepted",
        "srgan/objectives.py",
        '        if not 0 <= number("gradient_penalty", gradient_penalty) < math.inf:  # NaN too',
        "        if False:",
        OBJECTIVES,
    ),
    Mutant(
        "cross-entropy-real-label-above-one-accepted",
        "srgan/objectives.py",
        '    if not 0 < number("real_label", real_label) <= 1:  # NaN fails this too',
        '    if not 0 < number("real_label", real_label):',
        OBJECTIVES,
    ),
    Mutant(
        "avi-output-in-h264",
        "srgan/video.py",
        'VIDEO_CODECS = {"webm": "libvpx-vp9", "avi": "mpeg4"}',
        'VIDEO_CODECS = {"webm": "libvpx-vp9"}',
        ("tests/test_video.py",),
    ),
    Mutant(
        "unwritable-onnx-cache-is-a-traceback",
        "srgan/backends.py",
        '    except OSError as error:\n        if backend != "auto":',
        '    except ImportError as error:\n        if backend != "auto":',
        ("tests/test_backends.py",),
    ),
    Mutant(
        "video-damaged-packet-fails",
        "srgan/video.py",
        "                reasons.append(_reason(error))\n                continue",
        "                raise VideoError(_reason(error))",
        ("tests/test_video.py",),
    ),
    Mutant(
        "trailing-slash-ignored",
        "srgan/jobs.py",
        '    as_folder = isinstance(target, str) and target.endswith(("/", os.sep))',
        "    as_folder = False",
        ("tests/test_upscale.py",),
    ),
    Mutant(
        "gray-alpha-16bit-read-as-colour",
        "srgan/images.py",
        '    gray = _rawmode(image).startswith("LA")',
        "    gray = False",
        IMAGES,
    ),
    Mutant(
        "speed-nothing-measured-exits-0",
        "benchmarks/speed/cli.py",
        "    if not measured:",
        "    if False:",
        ("tests/test_speed.py",),
    ),
    Mutant(
        "import-takes-over-any-m-program",
        "srgan/__init__.py",
        '                return module.split(".")[0] in ("srgan", "benchmarks")',
        "                return True",
        ("tests/test_pictures.py",),
    ),
    Mutant(
        "load-model-draws-from-the-callers-random-state",
        "srgan/weights.py",
        "    with torch.random.fork_rng(devices=[]):",
        '    with torch.device("cpu"):',
        ("tests/test_pictures.py",),
    ),
    Mutant(
        "pil-16bit-png-decoded-to-8-bits",
        "srgan/images.py",
        "    if single and _is_16bit_colour(image) and (data := _opened_file_bytes(image)) is not None:",
        "    if False:",
        IMAGES,
    ),
    Mutant(
        "upscaler-options-ignored",
        "srgan/pictures.py",
        '        if ignored := [name for name, value in given.items() if value != "auto"]:',
        "        if ignored := []:",
        ("tests/test_pictures.py",),
    ),
    Mutant(
        "terminal-bar-in-a-log",
        "srgan/progress.py",
        "    if enabled and not sys.stderr.isatty():",
        "    if False:",
        ("tests/test_upscale.py",),
    ),
    Mutant(
        "held-out-validation-makes-its-own-lr",
        "srgan/data.py",
        '        return held_out, {"lr_dir": self.train_lr_dir, "hr_dirs": self.train_dirs}',
        '        return held_out, {"lr_dir": None, "hr_dirs": self.train_dirs}',
        DATA,
    ),
    Mutant(
        "paired-lr-two-hr-take-one-lr",
        "srgan/data.py",
        "            if key in taken:",
        "            if False:",
        DATA,
    ),
    Mutant(
        "ctrl-c-validates-before-stopping",
        "srgan/callbacks.py",
        "            trainer.limit_val_batches = 0",
        "            pass",
        ("tests/test_fit.py",),
    ),
    Mutant(
        "training-draws-first-images-only",
        "srgan/data.py",
        "        i = (draw // self.length * self.length + slot) % len(self.images)",
        "        i = slot % len(self.images)",
        DATA,
    ),
    Mutant(
        "resume-puts-the-checkpoints-options-back",
        "srgan/fit.py",
        "        # Not Lightning's merge of the checkpoint's hyper-parameters over the config: the",
        "        super()._parse_ckpt_path()\n        #",
        ("tests/test_fit.py",),
    ),
    Mutant(
        "ctrl-c-stops-at-once-unsaved",
        "srgan/callbacks.py",
        "            trainer.should_stop = True",
        "            raise KeyboardInterrupt",
        ("tests/test_fit.py",),
    ),
    Mutant(
        "command-line-folder-searched-near-the-config",
        "srgan/fit.py",
        "            search = [] if given_here else files",
        "            search = files",
        ("tests/test_fit.py",),
    ),
    Mutant(
        "colour-key-ignored",
        "srgan/images.py",
        '    elif image.mode in ("L", "RGB"):\n        alpha = _keyed_alpha(image, array)\n',
        "",
        IMAGES,
    ),
    Mutant(
        "tiff-orientation-read-after-pillow-applied-it",
        "srgan/images.py",
        "            return decode_pil(image, fmt, orientation=orientation)",
        "            return decode_pil(image, fmt)",
        IMAGES,
    ),
    Mutant(
        "exif-resolutions-not-swapped-by-a-quarter-turn",
        "srgan/images.py",
        "        if orientation >= 5 and TIFF_X_RESOLUTION in exif and TIFF_Y_RESOLUTION in exif:",
        "        if False:",
        IMAGES,
    ),
    Mutant(
        "empty-exif-directory-written",
        "srgan/images.py",
        "        if EXIF_IFD in exif and not exif.get_ifd(EXIF_IFD):",
        "        if False:",
        IMAGES,
    ),
    Mutant(
        "format-same-ignores-a-named-outputs-suffix",
        "srgan/jobs.py",
        '            if fmt == "same" and named != (kept := format_for(source, "same")):',
        '            if False and named != (kept := format_for(source, "same")):',
        PICTURES,
    ),
    Mutant(
        "output-name-length-unchecked",
        "srgan/jobs.py",
        "        if limit is not None and size > limit:",
        "        if False:",
        ("tests/test_reliability.py",),
    ),
    Mutant(
        "output-needed-as-a-folder-unchecked",
        "srgan/jobs.py",
        "        elif job.target.resolve() in folders:",
        "        elif False:",
        ("tests/test_reliability.py",),
    ),
    Mutant(
        "link-above-the-input-followed",
        "srgan/jobs.py",
        "        return target in top.parents",
        "        return False",
        ("tests/test_reliability.py",),
    ),
    Mutant(
        "format-side-limit-unchecked",
        "srgan/jobs.py",
        "        if (limit := MAX_SIDE.get(job.fmt)) is not None and max(out) > limit:",
        "        if (limit := MAX_SIDE.get(job.fmt)) is not None and False:",
        ("tests/test_reliability.py",),
    ),
    Mutant(
        "half-up-rounds-half-to-even",
        "srgan/pictures.py",
        "    return math.floor(round(value, 6) + 0.5)",
        "    return round(value)",
        ("tests/test_reliability.py",),
    ),
    Mutant(
        "fetch-from-goes-online-for-a-missing-archive",
        "srgan/assets/__init__.py",
        "        if lacking:",
        "        if False:",
        ("tests/test_assets.py",),
    ),
    Mutant(
        "metrics-take-nan",
        "srgan/metrics.py",
        "        if x.numel() and bool(torch.isnan(x.detach()).any()):",
        "        if False:",
        METRICS,
    ),
    Mutant(
        "resume-ignores-a-swapped-objective",
        "srgan/fit.py",
        "        if classes[0] != classes[1]:",
        "        if False:",
        ("tests/test_fit.py",),
    ),
    Mutant(
        "generator-logs-dropped-before-a-logging-batch",
        "srgan/module.py",
        "            if self._logs_written(batch - batch % self.hparams.n_critic, batch):",
        "            if True:",
        ("tests/test_fit.py",),
    ),
    Mutant(
        "large-training-set-kept-in-memory",
        "srgan/data.py",
        "        in_memory = size <= share / 2",
        "        in_memory = True",
        DATA,
    ),
    Mutant(
        "timebudget-plans-per-process",
        "srgan/callbacks.py",
        "            planned = trainer.strategy.broadcast(planned, src=0)",
        "            pass",
        ("tests/test_callbacks.py",),
    ),
    Mutant(
        "gan-stage-under-ddp-skips-no-parameters",
        "srgan/fit.py",
        '        options.setdefault("find_unused_parameters", True)',
        "        pass",
        ("tests/test_fit.py",),
    ),
    Mutant(
        "an-epoch-shared-out-to-nothing",
        "srgan/data.py",
        "        if self.steps_per_epoch < world:",
        "        if False:",
        DATA,
    ),
    Mutant(
        "vggstyle-trains-on-one-value-per-channel",
        "srgan/discriminators.py",
        "or batch * (height // 32) * (width // 32) > 1",
        "or batch * (height // 32) * (width // 32) >= 0",
        ("tests/test_discriminators.py", "tests/test_loss_cost.py"),
    ),
    Mutant(
        "speed-nothing-measured-overwrites-results",
        "benchmarks/speed/cli.py",
        "    if not measured:  # earlier results in --out stay as they were",
        "    if False:",
        ("tests/test_speed.py",),
    ),
    Mutant(
        "header-size-ignores-exif-orientation",
        "srgan/images.py",
        "    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)",
        "    return (height, width)",
        DATA,
    ),
    Mutant(
        "resume-ignores-other-data-options",
        "srgan/fit.py",
        '        if key != "scale" and plain(given.get(key)) != plain(saved.get(key))',
        "        if False",
        ("tests/test_fit.py",),
    ),
    Mutant(
        "costly-cached-int8-said-only-when-made",
        "srgan/backends.py",
        '        if int8_record["psnr_cost_db"] > INT8_COST_WARNING_DB:',
        '        if made and int8_record["psnr_cost_db"] > INT8_COST_WARNING_DB:',
        ("tests/test_backends.py",),
    ),
    Mutant(
        "export-int8-unmeasured-without-hr-dir",
        "srgan/export.py",
        "        if args.hr_dir or args.int8:",
        "        if args.hr_dir:",
        EXPORT,
    ),
    Mutant(
        "jpeg-quality-misread",
        "srgan/images.py",
        "    return (200 - scale) / 2 if scale <= 100 else 5000 / scale",
        "    return (200 - scale) / 2",
        ("tests/test_upscale.py",),
    ),
    Mutant(
        "compressed-jpeg-note-for-any-model",
        "srgan/upscale.py",
        '    if args.model != "default" or DEFAULT_MODEL == "fast-real":',
        '    if DEFAULT_MODEL == "fast-real":',
        ("tests/test_upscale.py",),
    ),
    Mutant(
        "pillow-profile-filter-ignored",
        "srgan/degradations.py",
        "                    size, getattr(Image.Resampling, PILLOW_DOWNSCALERS[profile])",
        "                    size, Image.Resampling.BICUBIC",
        DEGRADATIONS,
    ),
    Mutant(
        "resumed-logged-step-counts-the-saved-batch-again",
        "srgan/module.py",
        "            loop._batches_that_stepped = loop.batch_progress.total.completed",
        "            pass",
        ("tests/test_module.py",),
    ),
    Mutant(
        "resumed-epoch-counts-the-stopped-epoch-again",
        "srgan/module.py",
        "            if epoch == self.trainer.current_epoch - 1:",
        "            if False:",
        ("tests/test_module.py",),
    ),
    Mutant(
        "generator-steps-rounded-down",
        "srgan/module.py",
        "    return -(-max_steps // (n_critic + 1))",
        "    return max_steps // (n_critic + 1)",
        ("tests/test_module.py", "tests/test_fit.py"),
    ),
    Mutant(
        "benchmark-set-as-validation-unwarned",
        "srgan/data.py",
        '            ("val_dir", self.val_dirs, "checkpoints chosen by it have seen the test images"),\n',
        "",
        DATA,
    ),
    Mutant(
        "ignored-ctrl-c-taken-over-by-training",
        "srgan/callbacks.py",
        "        if main and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:",
        "        if main:",
        ("tests/test_fit.py",),
    ),
    Mutant(
        "ignored-ctrl-c-taken-over-by-upscale",
        "srgan/upscale.py",
        "    signals = tuple(sig for sig in signals if signal.getsignal(sig) is not signal.SIG_IGN)\n",
        "",
        ("tests/test_upscale.py",),
    ),
    Mutant(
        "same-format-keeps-an-unwritable-suffix",
        "srgan/jobs.py",
        'if is_video(source) or (fmt == "same" and source.suffix.lower() in SUFFIX_FORMATS):',
        'if is_video(source) or fmt == "same":',
        ("tests/test_upscale.py",),
    ),
    Mutant(
        "gif-left-aside-in-folders",
        "srgan/images.py",
        '    {".gif"}\n    # (features.check',
        "    set()\n    # (features.check",
        ("tests/test_upscale.py",),
    ),
    Mutant(
        "named-gif-output-taken-for-a-writable-format",
        "srgan/jobs.py",
        "not as_folder and target.suffix.lower() in OUTPUT_SUFFIXES and not _is_dir(target)",
        "not as_folder and target.suffix.lower() in INPUT_SUFFIXES and not _is_dir(target)",
        ("tests/test_upscale.py",),
    ),
    Mutant(
        "clash-hint-says-format-same-for-a-gif",
        "srgan/jobs.py",
        "                if job.source.suffix.lower() in SUFFIX_FORMATS\n",
        "                if True\n",
        ("tests/test_upscale.py",),
    ),
    Mutant(
        "heic-opener-not-registered",
        "srgan/images.py",
        "    | (HEIF_SUFFIXES if _heif_opener() else set())\n",
        "",
        ("tests/test_upscale.py",),
    ),
    Mutant(
        "validation-lines-only-with-a-log",
        "srgan/fit.py",
        "GracefulStop(), ValidationLines()]",
        "GracefulStop()]",
        ("tests/test_fit.py",),
    ),
    Mutant(
        "untrained-scoring-not-warned",
        "srgan/fit.py",
        'elif not self.config[self.subcommand]["model"].get("init_from"):',
        "elif False:",
        ("tests/test_fit.py",),
    ),
    Mutant(
        "test-needs-the-training-folders",
        "srgan/fit.py",
        'needed = ("test_dir",) if self.subcommand in ("test", "predict") else DATA_FOLDERS',
        "needed = DATA_FOLDERS",
        ("tests/test_fit.py",),
    ),
    Mutant(
        "predict-silent",
        "srgan/fit.py",
        "    def after_predict(self) -> None:",
        "    def _after_predict(self) -> None:",
        ("tests/test_fit.py",),
    ),
    Mutant(
        "init-from-shipped-name-not-resolved",
        "srgan/module.py",
        "            path = str(resolve_model(path))\n",
        "            pass\n",
        ("tests/test_module.py",),
    ),
    Mutant(
        "gan-settings-in-psnr-stage-silent",
        "srgan/module.py",
        'if stage == "psnr" and unused:',
        "if False:",
        ("tests/test_module.py",),
    ),
    Mutant(
        "default-root-dir-under-a-logger-silent",
        "srgan/fit.py",
        "if (save_dir := logger_save_dir(trainer)) and any(",
        "if (save_dir := None) and any(",
        ("tests/test_fit.py",),
    ),
    Mutant(
        "suite-replaces-given-options-silently",
        "benchmarks/speed/cli.py",
        "        if given:\n",
        "        if False:\n",
        ("tests/test_speed.py",),
    ),
    Mutant(
        "onnx-labelled-as-its-weights",
        "srgan/weights.py",
        '    if path.suffix.lower() == ".onnx":\n        return path.name\n',
        "",
        ("tests/test_weights.py",),
    ),
    Mutant(
        "data-module-warning-attributed-to-lightning",
        "srgan/data.py",
        "stacklevel=1,  # srgan.fit builds the data module: a plain warning line",
        "stacklevel=2,",
        ("tests/test_reliability.py",),
    ),
    Mutant(
        "lightning-tips-shown",
        "srgan/fit.py",
        'return not str(record.msg).startswith("\\N{ELECTRIC LIGHT BULB} Tip")',
        "return True",
        ("tests/test_reliability.py",),
    ),
    Mutant(
        "kernel-trim-by-rows-only",
        "srgan/degradations.py",
        "nonzero.any(1) | nonzero.any(0)",
        "nonzero.any(1)",
        ("tests/test_degradations.py",),
    ),
    Mutant(
        "kernel-families-iso-aniso-swapped",
        "srgan/degradations.py",
        "isotropic = family % 2 == 0",
        "isotropic = family % 2 == 1",
        ("tests/test_degradations.py",),
    ),
    Mutant(
        "kernel-beta-always-1",
        "srgan/degradations.py",
        "return torch.where(below, low, high)",
        "return torch.ones_like(low)",
        ("tests/test_degradations.py",),
    ),
    Mutant(
        "resize-up-down-swapped",
        "srgan/degradations.py",
        "return (up, down, 1.0)[direction]",
        "return (down, up, 1.0)[direction]",
        ("tests/test_degradations.py",),
    ),
    Mutant(
        "pipeline-noise-sigma-per-batch",
        "srgan/degradations.py",
        "sigma = _uniform(order.noise_sigma, n, g, device) / 255",
        "sigma = _uniform(order.noise_sigma, 1, g, device).expand(n) / 255",
        ("tests/test_degradations.py",),
    ),
    Mutant(
        "pipeline-gray-noise-ignored",
        "srgan/degradations.py",
        "gray = _uniform((0, 1), n, g, device) < order.gray_noise_prob",
        "gray = _uniform((0, 1), n, g, device) < 0",
        ("tests/test_degradations.py",),
    ),
    Mutant(
        "pipeline-poisson-scale-x4",
        "srgan/degradations.py",
        "poisson_scale = _uniform(order.poisson_scale, n, g, device)",
        "poisson_scale = 4 * _uniform(order.poisson_scale, n, g, device)",
        ("tests/test_degradations.py",),
    ),
    Mutant(
        "final-jpeg-always-last",
        "srgan/degradations.py",
        "jpeg_last = bool(",
        "jpeg_last = True or bool(",
        ("tests/test_degradations.py",),
    ),
    Mutant(
        "second-resize-from-hr",
        "srgan/degradations.py",
        "x = resize(x, (lr_size[0] * factor, lr_size[1] * factor), mode)",
        "x = resize(x, (height * factor, width * factor), mode)",
        ("tests/test_degradations.py",),
    ),
    Mutant(
        "validation-names-by-stem",
        "srgan/data.py",
        "next((image_name(f, r) for r in roots if f.is_relative_to(r)), f.stem)",
        "f.stem",
        ("tests/test_data.py",),
    ),
    Mutant(
        "usm-blur-sigma-2",
        "srgan/degradations.py",
        "sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8",
        "sigma = 2.0",
        ("tests/test_degradations.py",),
    ),
    Mutant(
        "usm-mask-unblurred",
        "srgan/degradations.py",
        "soft_mask = gaussian_blur(mask, sigma, size)",
        "soft_mask = mask",
        ("tests/test_degradations.py",),
    ),
    Mutant(
        "class-args-without-class-unexplained",
        "srgan/fit.py",
        "            if f\"class_path '{base.__module__}.{base.__name__}'\" in message:",
        "            if False:",
        ("tests/test_fit.py",),
    ),
    Mutant(
        "apple-gpu-left-to-lightning",
        "srgan/fit.py",
        "            apple_gpu_to_cpu(trainer)\n",
        "",
        ("tests/test_fit.py",),
    ),
    Mutant(
        "devices-fabric-picks-any-gpu",
        "srgan/upscale.py",
        "    accelerator = resolve_device(args.device).type\n",
        '    accelerator = {"auto": "auto", "cpu": "cpu", "cuda": "cuda"}[args.device]\n',
        ("tests/test_upscale.py",),
    ),
    Mutant(
        "same-file-by-path-only",
        "srgan/jobs.py",
        "    return (status.st_dev, status.st_ino) if status.st_ino else path.resolve()",
        "    return path.resolve()",
        ("tests/test_upscale.py",),
    ),
    Mutant(
        "output-names-case-sensitive-everywhere",
        "srgan/jobs.py",
        '    return unicodedata.normalize("NFD", name).lower() if sys.platform == "darwin" else name',
        "    return name",
        ("tests/test_upscale.py",),
    ),
    Mutant(
        "unmeasured-memory-loads-everything",
        "srgan/data.py",
        "        in_memory = size <= share / 2\n",
        "        in_memory = available is None or size <= share / 2\n",
        ("tests/test_data.py",),
    ),
    Mutant(
        "windows-pid-probe-kills",
        "srgan/images.py",
        '    if os.name == "nt":  # there os.kill(pid, 0) sends Ctrl-C: every process is alive\n        return True\n',
        "",
        ("tests/test_reliability.py",),
    ),
    Mutant(
        "subsets-not-nested",
        "benchmarks/training/subsets.py",
        "        order = np.random.default_rng(seed).permutation(len(files))\n        for fraction in fractions:\n",
        "        for fraction in fractions:\n            order = np.random.default_rng(seed + int(100 * fraction)).permutation(len(files))\n",
        ("tests/test_subsets.py",),
    ),
    Mutant(
        "subsets-validation-images-trained-on",
        "benchmarks/training/subsets.py",
        "        files = [f for f in list_images(folder) if f in kept]",
        "        files = list_images(folder)",
        ("tests/test_subsets.py",),
    ),
    Mutant(
        "subsets-validation-flattened",
        "benchmarks/training/subsets.py",
        "    flat = [image_name(f, roots[f]) + f.suffix for f in held]",
        "    flat = [f.name for f in held]",
        ("tests/test_subsets.py",),
    ),
    Mutant(
        "subsets-names-compared-by-case",
        "benchmarks/training/subsets.py",
        "as_posix().casefold() for name in flat}",
        "as_posix() for name in flat}",
        ("tests/test_subsets.py",),
    ),
    Mutant(
        "subsets-out-inside-the-data",
        "benchmarks/training/subsets.py",
        "        if overlap(out, folder):",
        "        if False:",
        ("tests/test_subsets.py",),
    ),
    Mutant(
        "subsets-multiscale-trains-on-the-held-out-images",
        "benchmarks/training/subsets.py",
        "        sources = sorted(set(roots) - set(held))",
        "        sources = sorted(roots)",
        ("tests/test_subsets.py",),
    ),
    Mutant(
        "subsets-multiscale-bicubic",
        "benchmarks/training/subsets.py",
        "resize(size, Image.Resampling.LANCZOS)",
        "resize(size, Image.Resampling.BICUBIC)",
        ("tests/test_subsets.py",),
    ),
    Mutant(
        "subsets-multiscale-overwrites-a-namesake",
        "benchmarks/training/subsets.py",
        "                if copy.exists():  # a.jpg beside a.png",
        "                if False:",
        ("tests/test_subsets.py",),
    ),
    Mutant(
        "classic-opencv-resize-never-drawn",
        "srgan/degradations.py",
        "        opencv = _uniform((0, 1), n, g, device) < self.opencv_resize_prob",
        "        opencv = _uniform((0, 1), n, g, device) < 0",
        ("tests/test_degradations.py",),
    ),
    Mutant(
        "classic-opencv-resize-one-mode",
        "srgan/degradations.py",
        "                lr[chosen] = quantize(resize(x[chosen], lr.shape[-2:], mode))",
        "                lr[chosen] = quantize(resize(x[chosen], lr.shape[-2:], 'bicubic'))",
        ("tests/test_degradations.py",),
    ),
    Mutant(
        "self-ensemble-without-flips",
        "srgan/inference.py",
        "        for flip in (False, True):",
        "        for flip in (False, False):",
        ("tests/test_inference.py",),
    ),
    Mutant(
        "self-ensemble-not-in-the-settings-tag",
        "srgan/backends.py",
        '    return settings | ({"self_ensemble": "x8"} if upscaler.self_ensemble else {})',
        "    return settings",
        ("tests/test_upscale.py",),
    ),
    Mutant(
        "self-ensemble-clamps-away-infinities",
        "srgan/inference.py",
        "            if not all_finite(out):\n                return out  # for the caller's fp32 fallback",
        "            if False:\n                return out  # for the caller's fp32 fallback",
        ("tests/test_inference.py",),
    ),
    Mutant(
        "a-write-gives-up-when-a-sibling-tidies-its-folder-away",
        "srgan/images.py",
        "            failures += 1\n            if failures == attempts:",
        "            failures += 1\n            if True:",
        ("tests/test_images.py",),
    ),
    Mutant(
        "tidying-looks-before-it-removes",
        "srgan/images.py",
        "        try:\n            folder.rmdir()\n        except OSError:",
        "        try:\n            if any(folder.iterdir()):\n                break\n"
        "            folder.rmdir()\n        except FileNotFoundError:",
        ("tests/test_images.py",),
    ),
    Mutant(
        "wgan-gp-fp16-scale-ignored",
        "srgan/objectives.py",
        "scale = grad_scaler.get_scale() if scaled else 1.0",
        "scale = 1.0",
        OBJECTIVES,
    ),
    Mutant(
        "wgan-gp-fp16-scale-not-undone",
        "srgan/objectives.py",
        "grad = grad * (per_sample.numel() / scale)",
        "grad = grad * per_sample.numel()",
        OBJECTIVES,
    ),
    Mutant(
        "wgan-gp-fp16-scaled-in-half-precision",
        "srgan/objectives.py",
        "        logits = logits.float()  #",
        "        logits = logits  #",
        OBJECTIVES,
    ),
    Mutant(
        "wgan-gp-fp16-scaler-not-handed-on",
        "srgan/module.py",
        'grad_scaler = getattr(self.trainer.precision_plugin, "scaler", None)',
        "grad_scaler = None",
        ("tests/test_module.py",),
    ),
    Mutant(
        "wgan-gp-fp16-scaler-dropped-by-the-discriminator-loss",
        "srgan/gan.py",
        "objective.penalty(discriminator, hr, sr, grad_scaler=grad_scaler)",
        "objective.penalty(discriminator, hr, sr)",
        ("tests/test_gan.py", "tests/test_module.py"),
    ),
]


# -- running -----------------------------------------------------------------------------
def repository_files() -> list[Path]:
    """Tracked and untracked-but-not-ignored files, relative to the repository root."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        return [Path(p) for p in listing.decode().split("\0") if p and (ROOT / p).is_file()]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "runs", "__pycache__", ".pytest_cache", ".ruff_cache"}
        return [
            p.relative_to(ROOT)
            for p in ROOT.rglob("*")
            if p.is_file() and not skip & set(p.relative_to(ROOT).parts)
        ]


def copy_tree(destination: Path) -> None:
    for relative in repository_files():
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, target)


def locate(tree: Path, mutant: Mutant) -> Path | str:
    """The file holding the snippet exactly once, or why there is none."""
    preferred = tree / mutant.path
    if preferred.is_file():
        count = preferred.read_text().count(mutant.original)
        if count == 1:
            return preferred
        if count > 1:
            return f"snippet occurs {count} times in {mutant.path}"
    found = [p for p in sorted((tree / "srgan").rglob("*.py")) if mutant.original in p.read_text()]
    if len(found) == 1 and found[0].read_text().count(mutant.original) == 1:
        return found[0]
    return f"stale: snippet not found once in {mutant.path} nor in srgan/*.py"


def environment(tree: Path) -> dict[str, str]:
    # No bytecode: a mutated file of the same size and mtime must never reuse a stale .pyc.
    return {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}


# The pytest processes running now, so that an interruption can stop them all.
RUNNING: set[subprocess.Popen[str]] = set()
RUNNING_LOCK = threading.Lock()


def stop_running() -> None:
    with RUNNING_LOCK:
        for process in RUNNING:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def run_tests(tree: Path, tests: list[str], timeout: float) -> tuple[int | None, str]:
    """pytest on ``tests`` in ``tree``: (exit status or None on timeout, output tail)."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    command += ["-m", "not slow and not gpu", *tests]
    process = subprocess.Popen(
        command,
        cwd=tree,
        env=environment(tree),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, killed whole on timeout or Ctrl-C
    )
    with RUNNING_LOCK:
        RUNNING.add(process)
    try:
        output, _ = process.communicate(timeout=timeout)
        return process.returncode, output[-3000:]
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return None, "timed out"
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    finally:
        with RUNNING_LOCK:
            RUNNING.discard(process)


@dataclass
class Result:
    mutant: Mutant
    outcome: str  # killed, survived, stale, error
    seconds: float
    detail: str = ""


def run_mutant(tree: Path, mutant: Mutant, timeout: float) -> Result:
    start = time.perf_counter()
    where = locate(tree, mutant)
    if isinstance(where, str):
        return Result(mutant, "stale", 0.0, where)
    tests = [t for t in mutant.tests if (tree / t).is_file()]
    if not tests:
        return Result(mutant, "survived", 0.0, "no test file for it exists")
    original = where.read_text()
    where.write_text(original.replace(mutant.original, mutant.mutated))
    try:
        code, output = run_tests(tree, tests, timeout)
    finally:
        where.write_text(original)  # the temporary copy, ready for the next mutant
    seconds = time.perf_counter() - start
    if code is None:
        return Result(mutant, "killed", seconds, "timed out")
    if code in (1, 2, 3):  # tests failed, or collection / import failed
        failed = [line for line in output.splitlines() if line.startswith(("FAILED", "ERROR"))]
        return Result(mutant, "killed", seconds, failed[0] if failed else f"pytest exit {code}")
    if code == 0:
        return Result(mutant, "survived", seconds)
    return Result(mutant, "error", seconds, f"pytest exit {code}:\n{output}")


def check_import(tree: Path) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import srgan; print(srgan.__file__)"],
        cwd=tree,
        env=environment(tree),
        capture_output=True,
        text=True,
    )
    imported = Path(probe.stdout.strip() or "?").resolve()
    if not imported.is_relative_to(tree.resolve()):
        raise SystemExit(f"the copy imports srgan from {imported}, not from the copy: aborting")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="run only mutants whose name starts with these")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--check", action="store_true", help="only check the snippets apply")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at a time (default 1)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per mutant")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip running the unmutated tests first"
    )
    args = parser.parse_args(argv)
    names = [m.name for m in MUTANTS]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SystemExit(f"duplicate mutant names: {sorted(duplicates)}")
    chosen = [m for m in MUTANTS if not args.names or m.name.startswith(tuple(args.names))]
    if args.list:
        for m in chosen:
            mark = "  (equivalent)" if m.equivalent else ""
            print(f"{m.name:40} {m.path:22} {' '.join(m.tests)}{mark}")
        return 0
    if args.check:
        problems = [(m.name, w) for m in chosen if isinstance(w := locate(ROOT, m), str)]
        for name, why in problems:
            print(f"{name}: {why}")
        print(f"{len(chosen) - len(problems)} of {len(chosen)} mutants apply")
        return 1 if problems else 0

    jobs = max(1, min(args.jobs, len(chosen)))
    with tempfile.TemporaryDirectory(prefix="srgan-mutants-") as scratch:
        trees = [Path(scratch) / f"tree{i}" for i in range(jobs)]
        for tree in trees:
            copy_tree(tree)
        check_import(trees[0])
        if not args.no_baseline:
            tests = sorted({t for m in chosen for t in m.tests if (trees[0] / t).is_file()})
            print(f"baseline: {len(tests)} test files, unmutated ...", flush=True)
            code, output = run_tests(trees[0], tests, args.timeout * 2)
            if code != 0:
                print(output)
                raise SystemExit("the unmutated tests do not pass: fix them first")
        free = list(trees)
        results: list[Result] = []

        stopping = threading.Event()

        def work(mutant: Mutant) -> Result:
            tree = free.pop()
            try:
                result = run_mutant(tree, mutant, args.timeout)
            finally:
                free.append(tree)
            if stopping.is_set():
                return result
            mark = "  (listed as equivalent)" if mutant.equivalent else ""
            print(
                f"{result.outcome:9} {mutant.name:40} {result.seconds:6.1f} s  {result.detail}{mark}",
                flush=True,
            )
            return result

        if jobs == 1:
            results = [work(mutant) for mutant in chosen]
        else:
            pool = ThreadPoolExecutor(jobs)
            try:
                results = list(pool.map(work, chosen))
            except BaseException:
                # Ctrl-C or SIGTERM: drop the mutants not started, stop the running ones.
                stopping.set()
                pool.shutdown(wait=False, cancel_futures=True)
                stop_running()
                raise
            finally:
                pool.shutdown(wait=True)
    return summarise(results)


def summarise(results: list[Result]) -> int:
    total = len(results)
    survived = [r for r in results if r.outcome == "survived"]
    equivalent = [r for r in survived if r.mutant.equivalent]
    unexplained = [r for r in survived if not r.mutant.equivalent]
    broken = [r for r in results if r.outcome in ("stale", "error")]
    surprising = [r for r in results if r.outcome == "killed" and r.mutant.equivalent]
    print()
    print(
        f"{total} mutants: {total - len(survived) - len(broken)} killed, "
        f"{len(survived)} survived ({len(equivalent)} listed as equivalent), "
        f"{len(broken)} stale or broken"
    )
    if total:
        print(f"survival rate: {len(survived) / total:.1%} of all mutants", end="")
        countable = total - len(equivalent)
        rate = len(unexplained) / countable if countable else 0.0
        print(f", {rate:.1%} of the non-equivalent ones")
    for r in unexplained:
        print(f"  SURVIVED {r.mutant.name}: {r.mutant.path}: {r.detail or 'no test failed'}")
    for r in equivalent:
        print(f"  equivalent {r.mutant.name}: {r.mutant.equivalent}")
    for r in surprising:
        print(f"  note: {r.mutant.name} is listed as equivalent but a test caught it")
    for r in broken:
        print(f"  {r.outcome.upper()} {r.mutant.name}: {r.detail}")
    return 1 if unexplained or broken else 0


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C: running tests are stopped, the temporary copy removed.
    signal.signal(signal.SIGTERM, interrupt)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: the working tree was never edited", file=sys.stderr)
        sys.exit(130)
