"""The ``SRGAN`` LightningModule: PSNR pre-training, then GAN training, with a generator EMA.

Networks, losses and the adversarial objective are injected (LightningCLI builds them
from YAML), so swapping an objective never touches this file. The schedule lives here:

* ``stage: psnr``: pixel loss (ESRGAN's pre-training), plus the VGG perceptual loss when
  ``perceptual_weight`` is above 0 (a content-loss model without a discriminator).
* ``stage: gan``: each batch does one discriminator step and, every ``n_critic``-th
  batch, one generator step (pixel + perceptual + feature-matching + adversarial terms).
  The discriminator is frozen during the generator step.

Optimization is manual. Note that Lightning's ``global_step`` (and so ``max_steps``)
counts optimizer steps, so in the GAN stage it counts generator and discriminator steps
together. An exponential moving average of the generator (never the discriminator) is
what validation, testing and export use.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torchmetrics import MeanMetric
from torchvision.utils import make_grid, save_image

from srgan.discriminators import Discriminator
from srgan.gan import LossWeights, discriminator_loss, generator_loss
from srgan.generators import CompactNet, Generator, grow_compact
from srgan.losses import PerceptualLoss, PixelLoss
from srgan.metrics import psnr, ssim
from srgan.objectives import AdversarialObjective
from srgan.resize import imresize
from srgan.weights import (
    CHECKPOINT_KEY,
    checkpoint_record,
    load_state,
    network_states,
    packaged_models,
    resolve_model,
)

Stage = Literal["psnr", "gan"]


class SRGAN(L.LightningModule):
    """Super-resolution training module.

    Args:
        generator: the SR network (``srgan.generators``).
        discriminator: the critic (``srgan.discriminators``); needed for ``stage: gan``.
        objective: the adversarial game (``srgan.objectives``); needed for ``stage: gan``.
        stage: ``psnr`` (pixel loss, and the perceptual loss if weighted; no
            discriminator) or ``gan``.
        pixel_loss: default L1.
        perceptual_loss: ``srgan.losses.PerceptualLoss`` (frozen VGG16 or VGG19 features;
            the ImageNet weights come from ``python -m srgan.assets fetch``).
        pixel_weight: weight of the generator's pixel loss (ESRGAN's GAN stage: 1e-2).
        perceptual_weight: weight of the perceptual loss (ESRGAN's GAN stage: 1; 0: none).
        adversarial_weight: weight of the adversarial loss (``gan`` stage; ESRGAN: 5e-3).
        feature_matching_weight: weight of the discriminator feature-matching loss
            (``gan`` stage; 0: none).
        n_critic: discriminator steps per generator step (both schedulers step once per
            generator step).
        ema_decay: decay of the generator's exponential moving average.
        ema_warmup: ramp the decay up as ``min(ema_decay, (1 + n) / (10 + n))`` after ``n``
            updates, so that the starting weights' share of the average falls below 1% after
            three updates (a plain 0.999 keeps 0.999^k of them after k updates: 20% after
            1600). For fine-tunes that must be judged on what they learned.
        log_adversarial_share: log ``train/g_adv_share`` (the adversarial term's share of
            the gradient the generator receives) on logging steps (extra backward passes).
        gradient_clip: clip each network's gradient norm to this (none if unset).
        generator_optimizer, discriminator_optimizer: default Adam, lr 1e-4 (2e-4 for
            ``psnr``), betas (0.9, 0.99), as ESRGAN.
        generator_scheduler, discriminator_scheduler: default ESRGAN's MultiStepLR.
        init_from: weights to start from (a checkpoint of ``srgan.fit``, a ``.safetensors``
            file or a shipped model's name such as ``fast``), e.g. the PSNR-stage model for
            the GAN stage. Every network found in the file is loaded; a bare generator file
            initialises both the generator and its EMA.
        init_grow: ``init_from`` holds a smaller ReLU ``CompactNet`` (fewer features or
            convs) to grow into this one with the same outputs
            (``srgan.generators.grow_compact``): a bigger fast model fine-tuned from a
            trained small one instead of trained from scratch.
        val_image_crop: side of the LR-bicubic | SR | HR crops saved at each validation.
        channels_last: keep networks and batches in channels-last memory format (faster
            convolutions on tensor-core GPUs, especially in bf16/fp16).
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator | None = None,
        objective: AdversarialObjective | None = None,
        *,
        stage: Stage = "psnr",
        pixel_loss: PixelLoss | None = None,
        perceptual_loss: PerceptualLoss | None = None,
        pixel_weight: float = 1.0,
        perceptual_weight: float = 0.0,
        adversarial_weight: float = 5e-3,
        feature_matching_weight: float = 0.0,
        n_critic: int = 1,
        ema_decay: float = 0.999,
        ema_warmup: bool = False,
        log_adversarial_share: bool = False,
        gradient_clip: float | None = None,
        generator_optimizer: OptimizerCallable | None = None,
        discriminator_optimizer: OptimizerCallable | None = None,
        generator_scheduler: LRSchedulerCallable | None = None,
        discriminator_scheduler: LRSchedulerCallable | None = None,
        init_from: str | None = None,
        init_grow: bool = False,
        val_image_crop: int = 128,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        # The parameters the optimizer about to step updates, and their gradient norm.
        self._stepping: list[nn.Parameter] = []
        self._grad_norm = torch.zeros(())
        if stage not in ("psnr", "gan"):
            raise ValueError(f"stage must be 'psnr' or 'gan', got {stage!r}")
        for name, part, kind, example in (
            ("generator", generator, nn.Module, "srgan.CompactNet()"),
            ("discriminator", discriminator, nn.Module, "srgan.UNet()"),
            ("objective", objective, AdversarialObjective, "srgan.Hinge()"),
        ):
            if part is not None and not isinstance(part, kind):
                raise TypeError(
                    f"{name} must be an instance such as {example}, got "
                    f"{type(part).__name__} {part!r}"
                )
        if stage == "gan" and (discriminator is None or objective is None):
            raise ValueError("stage 'gan' needs model.discriminator and model.objective")
        if stage == "psnr" and (discriminator is not None or objective is not None):
            warnings.warn(
                "stage 'psnr' trains the generator alone: model.discriminator and "
                "model.objective are not used (model.stage gan trains adversarially)",
                stacklevel=1,  # srgan.fit builds this module: a plain warning line
            )
        # The GAN stage's settings, changed from their defaults for a run that has no GAN.
        unused = [
            f"model.{name}"
            for name, value, default in (
                ("adversarial_weight", adversarial_weight, 5e-3),
                ("feature_matching_weight", feature_matching_weight, 0.0),
                ("n_critic", n_critic, 1),
            )
            if value != default
        ]
        if stage == "psnr" and unused:
            warnings.warn(
                f"stage 'psnr' has no adversarial term: {', '.join(unused)} not used "
                "(model.stage gan trains adversarially)",
                stacklevel=1,
            )
        if perceptual_weight > 0 and perceptual_loss is None:
            raise ValueError("perceptual_weight > 0 needs model.perceptual_loss")
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        weights = {
            "pixel_weight": pixel_weight,
            "perceptual_weight": perceptual_weight,
            "adversarial_weight": adversarial_weight,
            "feature_matching_weight": feature_matching_weight,
        }
        for name, weight in weights.items():
            if not weight >= 0:  # NaN too
                raise ValueError(f"model.{name} must be 0 or more, got {weight}")
        if not 0 <= ema_decay < 1:
            raise ValueError(
                f"ema_decay must be in [0, 1) (0: no averaging; at 1 the average would keep "
                f"the starting weights), got {ema_decay}"
            )
        penalized = objective is not None and discriminator is not None
        penalized = penalized and type(objective).penalty is not AdversarialObjective.penalty
        batch_norms = (nn.BatchNorm1d, nn.BatchNorm2d, nn.SyncBatchNorm)
        if penalized and any(isinstance(m, batch_norms) for m in discriminator.modules()):
            warnings.warn(
                f"model.objective {type(objective).__name__} penalizes the gradient sample "
                "by sample, which a discriminator with batch norm mixes: set "
                "model.discriminator.init_args.normalization to none or spectral (as "
                "configs/objective/wgan_gp.yaml does, with the paper's critic steps and Adam)",
                stacklevel=1,
            )
        # Networks and callables are not hyper-parameters: checkpoints keep only tensors
        # and plain values (loadable with weights_only=True); the YAML config is saved
        # beside every run.
        self.save_hyperparameters(
            ignore=[
                "generator",
                "discriminator",
                "objective",
                "pixel_loss",
                "perceptual_loss",
                "generator_optimizer",
                "discriminator_optimizer",
                "generator_scheduler",
                "discriminator_scheduler",
            ]
        )
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.objective = objective
        self.stage = stage
        self.pixel_loss = pixel_loss or PixelLoss()
        self.perceptual_loss = perceptual_loss
        self.loss_weights = LossWeights(
            pixel=pixel_weight,
            perceptual=perceptual_weight,
            adversarial=adversarial_weight,
            feature_matching=feature_matching_weight,
        )
        self.generator_ema = copy.deepcopy(generator).requires_grad_(False)
        self.eval_means = nn.ModuleDict(
            {
                f"{prefix}_{name}": MeanMetric().set_dtype(torch.float64)
                for prefix in ("val", "test")
                for name in ("psnr", "ssim")
            }
        )
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.generator_scheduler = generator_scheduler
        self.discriminator_scheduler = discriminator_scheduler
        if init_from is not None:
            self.load_initial_weights(init_from)

    # -- set-up ------------------------------------------------------------------------------
    def load_initial_weights(self, path: str) -> None:
        """Load every network found in ``path`` (checkpoint or safetensors; a shipped
        model's name, such as ``fast``, or ``default``, as ``srgan.upscale --model`` takes)."""
        if not Path(path).expanduser().exists() and (
            path == "default" or path in packaged_models()
        ):
            path = str(resolve_model(path))
        try:
            states = network_states(path)
        except (FileNotFoundError, ValueError) as error:
            raise type(error)(f"model.init_from: {error}") from None
        if self.hparams.init_grow:
            if not isinstance(self.generator, CompactNet):
                raise ValueError("model.init_grow: the generator must be a CompactNet")
            try:
                states |= {
                    name: grow_compact(states[name], self.generator)
                    for name in ("generator", "generator_ema")
                }
            except (KeyError, ValueError) as error:
                raise ValueError(f"model.init_grow: {error}") from None

        def load(network: nn.Module, state: dict[str, torch.Tensor], what: str, then: str) -> None:
            try:
                load_state(network, state)
            except ValueError as error:
                raise ValueError(f"model.init_from: {what}{error}{then}") from None

        generator = f"{type(self.generator).__name__}({generator_config(self.generator)})"
        load(
            self.generator,
            states["generator"],
            "",
            f"{described(path)}; the config builds {generator}",
        )
        load_state(self.generator_ema, states["generator_ema"])
        if "discriminator" in states and self.discriminator is not None:
            # A GAN checkpoint's discriminator, not the one the config builds.
            load(
                self.discriminator,
                states["discriminator"],
                "its discriminator: ",
                f"; the config builds {type(self.discriminator).__name__}: give the same "
                "discriminator, or start from the generator alone (a .safetensors that "
                "srgan.save_generator(srgan.load_model(CKPT), PATH) writes)",
            )

    def setup(self, stage: str) -> None:
        if self.hparams.channels_last:
            self.to(memory_format=torch.channels_last)

    def on_fit_start(self) -> None:
        # An evaluation before this fit (``--validate_first``, or trainer.validate in one's
        # own script) ran in inference mode, and the states it left in the metrics are
        # inference tensors that the fit's validations (no_grad, not inference mode) cannot
        # update in place: start the fit from fresh ones.
        for metric in self.eval_means.values():
            metric.reset()
        fresh = not self.trainer.ckpt_path and self.hparams.init_from is None
        if self.stage == "gan" and fresh:
            warnings.warn(
                "stage 'gan' starts from the generator as built, untrained unless you "
                "trained it: ESRGAN's GAN stage fine-tunes the PSNR-stage model; give it "
                "with --model.init_from PATH (a last.ckpt of the psnr stage or a "
                ".safetensors file)",
                stacklevel=1,
            )

    def configure_optimizers(self) -> Any:
        g_rate = 2e-4 if self.stage == "psnr" else 1e-4
        g_opt = (self.generator_optimizer or default_optimizer(g_rate))(self.generator.parameters())
        g_sched = (self.generator_scheduler or default_scheduler(self.stage))(g_opt)
        # Named, so that LearningRateMonitor's columns say which network each rate is for
        # (lr/generator, lr/discriminator), not lr-Adam and lr-Adam-1.
        generator = {"scheduler": g_sched, "name": "lr/generator"}
        if self.stage == "psnr":
            return [g_opt], [generator]
        d_optimizer = self.discriminator_optimizer or default_optimizer(1e-4)
        d_opt = d_optimizer(self.discriminator.parameters())
        d_sched = (self.discriminator_scheduler or default_scheduler(self.stage))(d_opt)
        return [g_opt, d_opt], [generator, {"scheduler": d_sched, "name": "lr/discriminator"}]

    # -- training ----------------------------------------------------------------------------
    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """The EMA generator's SR image, clamped to [0, 1]."""
        return self.generator_ema(lr).clamp(0, 1)

    def ema_decay_now(self) -> float:
        """The EMA decay for the next update (see ``ema_warmup``)."""
        decay = self.hparams.ema_decay
        if not self.hparams.ema_warmup:
            return decay
        # EMA updates done so far: one per generator step (restored on resume).
        per_update = self.hparams.n_critic if self.stage == "gan" else 1
        updates = self.trainer.fit_loop.total_batch_idx // per_update
        return min(decay, (1 + updates) / (10 + updates))

    @torch.no_grad()
    def _update_ema(self) -> None:
        """EMA of the generator's parameters (buffers are copied).

        Written out rather than ``torch.optim.swa_utils.AveragedModel``, whose update reads
        its step counter back from the device twice per call: two host-device
        synchronisations per training step, which stall a launch-bound training loop.
        """
        decay = self.ema_decay_now()
        ema_params = list(self.generator_ema.parameters())
        torch._foreach_lerp_(
            ema_params, [p.detach() for p in self.generator.parameters()], 1 - decay
        )
        for ema_buffer, buffer in zip(self.generator_ema.buffers(), self.generator.buffers()):
            ema_buffer.copy_(buffer)

    def _step(
        self, optimizer: Any, scheduler: Any, loss: torch.Tensor, network: nn.Module
    ) -> torch.Tensor:
        """Backward and step; the gradient norm (clipped in ``on_before_optimizer_step``)."""
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        self._stepping = list(network.parameters())  # a list: not registered as a submodule
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        return self._grad_norm

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        # Here, not after the backward: under fp16 mixed precision Lightning unscales the
        # gradients just before this hook, so the limit applies to the true gradients (to
        # the loss-scaled ones, a limit of 1 stopped training) and the logged norm is real.
        max_norm = self.hparams.gradient_clip or float("inf")
        self._grad_norm = torch.nn.utils.clip_grad_norm_(self._stepping, max_norm)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        lr, hr = batch["lr"], batch["hr"]
        if self.hparams.channels_last:
            lr = lr.contiguous(memory_format=torch.channels_last)
            hr = hr.contiguous(memory_format=torch.channels_last)
        if self.stage == "psnr":
            (g_opt,), (g_sched,) = _as_list(self.optimizers()), _as_list(self.lr_schedulers())
            sr = self.generator(lr)
            g_pixel = self.pixel_loss(sr, hr)
            loss, logs = self.loss_weights.pixel * g_pixel, {"train/g_pixel": g_pixel}
            if self.loss_weights.perceptual > 0:
                g_perceptual = self.perceptual_loss(sr, hr)
                loss = loss + self.loss_weights.perceptual * g_perceptual
                logs["train/g_perceptual"] = g_perceptual.detach()
            grad_norm = self._step(g_opt, g_sched, loss, self.generator)
            self._update_ema()
            self.log_dict({**logs, "train/g_grad_norm": grad_norm}, prog_bar=True)
            return

        g_opt, d_opt = self.optimizers()
        g_sched, d_sched = self.lr_schedulers()
        logs: dict[str, torch.Tensor] = {}
        # One discriminator step per batch, one generator step every n_critic batches. Both
        # learning-rate schedules advance once per generator step, so that milestones
        # mean the same thing for the two networks whatever n_critic is.
        generator_turn = self.trainer.fit_loop.total_batch_idx % self.hparams.n_critic == 0
        if generator_turn:
            with self.toggled_optimizer(g_opt):  # the discriminator is frozen here
                sr = self.generator(lr)
                logs |= self._generator_step(g_opt, g_sched, sr, hr)
            self._update_ema()
            sr = sr.detach()
        else:
            with torch.no_grad():
                sr = self.generator(lr)
            # The last generator step's values are kept until a logging batch has written
            # them (with log_every_n_steps a multiple of n_critic, no generator batch is
            # one), then dropped, so that they are never written twice.
            batch = self.trainer.fit_loop.total_batch_idx
            if self._logs_written(batch - batch % self.hparams.n_critic, batch):
                self._forget_generator_logs()
        with self.toggled_optimizer(d_opt):
            logs |= self._discriminator_step(d_opt, d_sched if generator_turn else None, sr, hr)
        for key, value in logs.items():
            self.log(key, value, prog_bar=key in ("train/g_pixel", "train/d_loss"))

    def _forget_generator_logs(self) -> None:
        """No generator step in this batch (``n_critic`` > 1), and its last values were
        written: they are not logged again as this step's. Lightning logs every value a step has logged so far
        in the epoch; these are marked reset, which it leaves out until they are logged
        anew."""
        results = getattr(self.trainer, "_results", None)
        for item in getattr(results, "values", lambda: [])():
            name = getattr(getattr(item, "meta", None), "name", "")
            if name.startswith("train/g_") and getattr(item, "is_tensor", False):
                item.reset()

    def _generator_step(
        self, opt: Any, sched: Any, sr: torch.Tensor, hr: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        share = self.hparams.log_adversarial_share and self._logging_step()
        loss, logs = generator_loss(
            self.discriminator,
            self.objective,
            sr,
            hr,
            weights=self.loss_weights,
            pixel_loss=self.pixel_loss,
            perceptual_loss=self.perceptual_loss,
            adversarial_share=share,
        )
        grad_norm = self._step(opt, sched, loss, self.generator)
        return {f"train/{k}": v for k, v in logs.items()} | {"train/g_grad_norm": grad_norm}

    def _logs_written(self, first: int, stop: int) -> bool:
        """Whether Lightning writes step logs at one of the batches ``first`` to ``stop - 1``
        (at the batches ``b`` where ``b + 1`` is a multiple of ``log_every_n_steps``)."""
        every = self.trainer.log_every_n_steps
        return every > 0 and any((batch + 1) % every == 0 for batch in range(first, stop))

    def _logging_step(self) -> bool:
        """Whether Lightning writes step logs before the next generator step: at one of the
        ``n_critic`` batches this generator step starts, which keep its values."""
        first = self.trainer.fit_loop.total_batch_idx
        return self._logs_written(
            first, first + (self.hparams.n_critic if self.stage == "gan" else 1)
        )

    def _discriminator_step(
        self, opt: Any, sched: Any, sr: torch.Tensor, hr: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        # fp16 mixed precision's loss scaler (None otherwise), for WGAN-GP's own gradients.
        grad_scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        loss, logs = discriminator_loss(
            self.discriminator, self.objective, sr, hr, grad_scaler=grad_scaler
        )
        grad_norm = self._step(opt, sched, loss, self.discriminator)
        return {f"train/{k}": v for k, v in logs.items()} | {"train/d_grad_norm": grad_norm}

    # -- evaluation --------------------------------------------------------------------------
    def _evaluate(self, batch: dict[str, Any], prefix: str) -> torch.Tensor:
        sr = self(batch["lr"]).float()
        scale = self.generator_ema.scale
        hr = batch["hr"]
        # Per-image scores into sum/count metrics, logged as objects: Lightning computes
        # them at the end of the epoch, reduced over all processes (the exact mean over
        # every image under DDP, whatever each process's share).
        for name, metric in (("psnr", psnr), ("ssim", ssim)):
            mean = self.eval_means[f"{prefix}_{name}"]
            mean.update(metric(sr, hr, crop_border=scale))
            self.log(f"{prefix}/{name}", mean, batch_size=hr.shape[0])
        return sr

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        sr = self._evaluate(batch, "val")
        if batch_idx == 0 and not self.trainer.sanity_checking and self.trainer.is_global_zero:
            self._save_samples(batch["lr"], sr, batch["hr"])

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        return self(batch["lr"])

    def _save_samples(self, lr: torch.Tensor, sr: torch.Tensor, hr: torch.Tensor) -> None:
        """A grid of LR-bicubic | SR | HR centre crops, as PNG beside the logs (and to TensorBoard)."""
        size = min(self.hparams.val_image_crop, *hr.shape[-2:])
        top, left = (hr.shape[-2] - size) // 2, (hr.shape[-1] - size) // 2
        bicubic = imresize(lr.float(), size=tuple(hr.shape[-2:])).clamp(0, 1)
        crops = [
            t[0, :, top : top + size, left : left + size].float().cpu() for t in (bicubic, sr, hr)
        ]
        grid = make_grid(crops, nrow=3, padding=2)
        # The logger's own folder (Trainer.log_dir would broadcast: a collective call that
        # only this process makes would hang the others under DDP).
        logger = self.trainer.logger
        log_dir = (logger.log_dir if logger is not None else None) or self.trainer.default_root_dir
        out = Path(log_dir) / "samples" / f"step_{self.global_step:08d}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        save_image(grid, out)
        experiment = getattr(self.logger, "experiment", None)
        if hasattr(experiment, "add_image"):
            experiment.add_image("val/lr_bicubic_sr_hr", grid, self.global_step)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # What srgan.weights needs to rebuild the generator from the checkpoint alone.
        checkpoint[CHECKPOINT_KEY] = checkpoint_record(self.generator_ema, self.stage)
        if components := getattr(self, "components", None):
            checkpoint[COMPONENTS_KEY] = components
        # torch's random state after this step (what the next steps draw from, e.g. the
        # gradient penalty's mixing weights), for an exact resume (the data's is the data
        # module's: SRDataModule.state_dict). The CPU's and this process's GPU's: under
        # DDP every process draws the same stream (one seed, the same calls) on its own
        # device, so rank 0's state, which the checkpoint holds, is every process's.
        cuda = self.device.type == "cuda"
        checkpoint[RANDOM_STATE_KEY] = {
            "cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(self.device) if cuda else None,
        }

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if not getattr(self, "_recount_logged_steps", False):
            return
        self._recount_logged_steps = False
        # Lightning 2.x counts the batch a checkpoint was saved after once more when it
        # resumes from one saved at the end of validation or of training (a monitored
        # "best", srgan's final last.ckpt), so the logged ``step`` of a resumed run ran one
        # ahead per resume. Without gradient accumulation it is the batches completed.
        loop = self.trainer.fit_loop.epoch_loop
        if self.trainer.accumulate_grad_batches == 1:
            loop._batches_that_stepped = loop.batch_progress.total.completed
        # And from srgan's final last.ckpt of a run that max_steps stopped, it counts the
        # epoch the run stopped in once more: the epoch number (logged, in checkpoint names,
        # what max_epochs counts) ran one ahead. With epochs of one length (srgan's
        # data.steps_per_epoch), the batches done say which epoch this batch is in.
        length = self.trainer.num_training_batches
        if isinstance(length, int) and length > 0:
            epoch = loop.batch_progress.total.completed // length
            if epoch == self.trainer.current_epoch - 1:
                progress = self.trainer.fit_loop.epoch_progress
                for tracker in (progress.current, progress.total):
                    tracker.ready -= 1
                    tracker.started -= 1
                    tracker.processed -= 1
                    tracker.completed -= 1

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Set when a resumed fit starts training (on_train_start), not now: loading a model
        # for anything else leaves the caller's random state alone.
        self._resume_random_state = checkpoint.get(RANDOM_STATE_KEY)

    def on_train_start(self) -> None:
        state, self._resume_random_state = getattr(self, "_resume_random_state", None), None
        self._recount_logged_steps = bool(self.trainer.ckpt_path)
        # Only when resuming (--ckpt_path), not for a fresh fit of a loaded model, whose
        # own seed decides.
        if state is None or not self.trainer.ckpt_path:
            return
        torch.set_rng_state(state["cpu"])
        if state.get("cuda") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda"], self.device)


def generator_steps(max_steps: int, n_critic: int) -> int:
    """The generator steps a GAN-stage run stopped by ``max_steps`` optimizer steps takes:
    every batch steps the discriminator, and every ``n_critic``-th from the first also the
    generator, so each cycle of ``n_critic`` batches takes ``n_critic + 1`` steps and a run
    that stops inside a cycle has begun it with a generator step."""
    return -(-max_steps // (n_critic + 1))


def described(path: str) -> str:
    """ ", the file holds ARCH(config)" from a ``.safetensors`` header or an ``srgan.fit``
    checkpoint's record, else ""."""
    try:
        if Path(path).suffix == ".ckpt":
            from srgan.weights import CHECKPOINT_KEY, load_checkpoint

            record = load_checkpoint(path)[CHECKPOINT_KEY]["generator"]
            architecture, config = record["architecture"], record["config"]
        else:
            from safetensors import safe_open

            with safe_open(path, "pt") as file:
                header = file.metadata() or {}
            architecture, config = header.get("architecture", "?"), json.loads(header["config"])
    except Exception:  # noqa: BLE001 - not a file srgan described: nothing to add
        return ""
    settings = ", ".join(f"{k}={v}" for k, v in config.items())
    return f"; the file holds {architecture}({settings})"


def generator_config(generator: nn.Module) -> str:
    config = getattr(generator, "config", None) or {}
    return ", ".join(f"{k}={v}" for k, v in config.items())


RANDOM_STATE_KEY = "srgan_random_state"
# The config's networks, objective and losses (class paths and init args, plain values),
# which are not hyper-parameters: srgan.fit sets them, so that a resume can name a change.
COMPONENTS_KEY = "srgan_components"
COMPONENTS = ("generator", "discriminator", "objective", "pixel_loss", "perceptual_loss")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# The fallbacks below serve the Python API (``SRGAN(generator)``); every YAML config in
# configs/ states its optimizers and schedulers, so --print_config shows what runs.
ESRGAN_BETAS = (0.9, 0.99)
ESRGAN_MILESTONES = {
    "psnr": [200_000, 400_000, 600_000, 800_000],  # halve every 200k steps
    "gan": [50_000, 100_000, 200_000, 300_000],
}


def default_optimizer(learning_rate: float) -> OptimizerCallable:
    """ESRGAN's Adam (betas 0.9, 0.99) at ``learning_rate``."""
    return lambda params: torch.optim.Adam(params, lr=learning_rate, betas=ESRGAN_BETAS)


def default_scheduler(stage: Stage) -> LRSchedulerCallable:
    """ESRGAN's MultiStepLR for the stage: the rate halves at each milestone."""
    milestones = ESRGAN_MILESTONES[stage]
    return lambda opt: torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.5)
