"""Train super-resolution models: ``python -m srgan.fit {fit,validate,test,predict} --config ...``.

A LightningCLI over ``srgan.module.SRGAN`` and ``srgan.data.SRDataModule``: every option
is a typed constructor argument, so a misspelt key fails before training starts.

Examples::

    python -m srgan.fit fit --config configs/debug.yaml                  # tiny, CPU, seconds
    python -m srgan.fit fit --config configs/psnr_x4.yaml --data.train_dir data/DIV2K_train_HR
    python -m srgan.fit fit --config configs/esrgan_x4.yaml --config configs/objective/hinge.yaml \\
        --model.init_from runs/psnr_x4/checkpoints/last.ckpt
    python -m srgan.fit fit --config configs/psnr_x4.yaml --ckpt_path runs/.../last.ckpt   # resume
    python -m srgan.fit fit --config configs/psnr_x4.yaml --print_config                  # resolved config

The adversarial objective is one ``--model.objective`` away (a class of
``srgan.objectives``, e.g. ``--model.objective MaxSurprise --model.objective.tau 0.5``)
or one extra ``--config configs/objective/NAME.yaml``.
"""

from __future__ import annotations

import torch
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.seed import isolate_rng

from srgan.data import SRDataModule
from srgan.module import SRGAN


class SRCLI(LightningCLI):
    """LightningCLI with the resolved config saved beside every run (Lightning's default),
    the data's scale taken from the generator's (set once, in ``model.generator``), and
    ``--validate_first``: one validation pass before training, logged at step 0."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("model.generator.init_args.scale", "data.scale", apply_on="parse")
        parser.add_argument(
            "--validate_first",
            type=bool,
            default=False,
            help="fit: validate once before the first step (logged at step 0), to see where "
            "a fine-tune starts; skipped when resuming with --ckpt_path",
        )

    def before_fit(self) -> None:
        config = self.config[self.subcommand]
        if config.get("validate_first") and self.trainer.world_size > 1:
            raise ValueError(
                "--validate_first runs before the training processes start, so it needs one "
                "device; with several, run `python -m srgan.fit validate` first instead"
            )
        if config.get("validate_first") and not config.get("ckpt_path"):
            # The RNG is isolated (as Lightning's sanity check does) so that the run trains
            # exactly as it would without the extra pass; that pass replaces the check.
            with isolate_rng():
                self.trainer.validate(self.model, datamodule=self.datamodule, verbose=False)
            self.trainer.num_sanity_val_steps = 0


def main(args: list[str] | None = None, *, run: bool = True) -> SRCLI:
    # Tensor cores for float32 matmuls on GPUs that have them; no effect on CPU.
    torch.set_float32_matmul_precision("high")
    return SRCLI(
        SRGAN,
        SRDataModule,
        args=args,
        run=run,
        parser_kwargs={"description": __doc__.split("\n\n")[0]},
        save_config_kwargs={"overwrite": True},
    )


if __name__ == "__main__":
    main()
