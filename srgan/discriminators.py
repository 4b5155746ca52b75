"""Discriminators: VGGStyle (ESRGAN) and UNet (Real-ESRGAN, spectral norm).

Both return raw logits (never a sigmoid): the objective decides what to do with them.
``forward_features`` also returns intermediate feature maps, for feature matching.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from srgan.layers import LEAKY_SLOPE, Normalization, constructor_config, normalized_conv


class Discriminator(nn.Module):
    """Common base of the discriminators: ``forward`` returns raw logits,
    ``forward_features`` the logits and the intermediate feature maps. Configs name a
    subclass (``model.discriminator``); a discriminator of one's own subclasses it.
    ``size_multiple``: what the sides of its input must be multiples of."""

    size_multiple: int = 1

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The logits and the feature maps; by default no feature maps (a subclass that
        defines only ``forward`` trains, without feature matching)."""
        return self(x), []


def check_sides(discriminator: Discriminator, x: torch.Tensor) -> None:
    m = discriminator.size_multiple
    if x.shape[-1] % m or x.shape[-2] % m:
        raise ValueError(
            f"{type(discriminator).__name__} needs sides that are multiples of {m}, got "
            f"{tuple(x.shape[-2:])}"
        )


class VGGStyle(Discriminator):
    """ESRGAN's VGG-style discriminator: five stride-2 stages, then a small MLP.

    Returns ``(B, 1)`` logits. ESRGAN's version is fixed to 128x128 crops; here an
    adaptive average pool to 4x4 sits before the MLP (the identity at 128x128), so any
    crop whose sides are multiples of 32 works. ``normalization`` applies to the convs
    after the first, as ESRGAN's batch norm does; with ``spectral`` the first conv and the
    MLP stay unnormalized, so the critic is not Lipschitz-bounded as a whole (the UNet's
    spectral norm, Real-ESRGAN's, leaves only its first conv out).
    """

    size_multiple = 32

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_features: int = 64,
        normalization: Normalization = "batch",
    ) -> None:
        super().__init__()
        self.config = constructor_config(locals())
        f = num_features
        widths = [f, 2 * f, 4 * f, 8 * f, 8 * f]
        stages: list[nn.Module] = []
        previous = in_channels
        for i, width in enumerate(widths):
            # The very first conv has no normalization, as in ESRGAN.
            first = normalized_conv(
                previous, width, kernel_size=3, normalization="none" if i == 0 else normalization
            )
            down = normalized_conv(
                width, width, kernel_size=4, stride=2, normalization=normalization
            )
            stages.append(
                nn.Sequential(
                    first,
                    nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
                    down,
                    nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
                )
            )
            previous = width
        self.stages = nn.ModuleList(stages)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(widths[-1] * 16, 100),
            nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
            nn.Linear(100, 1),
        )

    def batch_problem(self, batch: int, height: int, width: int) -> str | None:
        """Why batch norm cannot train on ``batch`` crops of ``height`` x ``width`` (its
        last stage, at 1/32 of the crop, would hold one value per channel), or None; the
        caller says which of its options change that. ``batch`` counts the crops whose
        statistics are pooled (every process's, under synchronized batch norm)."""
        if (
            self.config.get("normalization") != "batch"
            or batch * (height // 32) * (width // 32) > 1
        ):
            return None
        crops = f"{batch} crop{'s' if batch != 1 else ''} of {height} x {width}"
        return (
            f"VGGStyle's batch norm needs more than one value per channel to train, and "
            f"{crops} leave{'s' if batch == 1 else ''} one at its last stage (1/32 of the crop)"
        )

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        check_sides(self, x)
        synchronized = any(isinstance(m, nn.SyncBatchNorm) for m in self.modules())
        problem = self.batch_problem(x.shape[0], *x.shape[-2:]) if self.training else None
        if problem and not synchronized:
            raise ValueError(
                f"{problem}: use a batch of 2 or more, crops of 64 px or more, or "
                "normalization spectral or none"
            )
        features = []
        for stage in self.stages:
            x = stage(x)  # each stage halves H and W
            features.append(x)
        return self.head(self.pool(x)), features  # (B, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]


class UNet(Discriminator):
    """U-Net discriminator with spectral norm (Real-ESRGAN): one logit per pixel.

    Returns ``(B, 1, H, W)`` logits; input sides must be multiples of 8.
    """

    size_multiple = 8

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_features: int = 64,
        normalization: Normalization = "spectral",
        skip_connection: bool = True,
    ) -> None:
        super().__init__()
        self.config = constructor_config(locals())
        self.skip_connection = skip_connection
        f = num_features

        def conv(cin: int, cout: int, *, k: int = 3, stride: int = 1) -> nn.Module:
            return normalized_conv(
                cin, cout, kernel_size=k, stride=stride, normalization=normalization
            )

        self.conv0 = nn.Conv2d(in_channels, f, 3, padding=1)
        # Encoder: three stride-2 stages.
        self.conv1 = conv(f, 2 * f, k=4, stride=2)
        self.conv2 = conv(2 * f, 4 * f, k=4, stride=2)
        self.conv3 = conv(4 * f, 8 * f, k=4, stride=2)
        # Decoder: bilinear x2 then conv, with encoder skips.
        self.conv4 = conv(8 * f, 4 * f)
        self.conv5 = conv(4 * f, 2 * f)
        self.conv6 = conv(2 * f, f)
        self.conv7 = conv(f, f)
        self.conv8 = conv(f, f)
        self.conv9 = nn.Conv2d(f, 1, 3, padding=1)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        check_sides(self, x)

        def act(t: torch.Tensor) -> torch.Tensor:
            return F.leaky_relu(t, LEAKY_SLOPE)

        def up(t: torch.Tensor) -> torch.Tensor:
            return F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)

        x0 = act(self.conv0(x))  # (B, F, H, W)
        x1 = act(self.conv1(x0))  # (B, 2F, H/2, W/2)
        x2 = act(self.conv2(x1))  # (B, 4F, H/4, W/4)
        x3 = act(self.conv3(x2))  # (B, 8F, H/8, W/8)
        x4 = act(self.conv4(up(x3)))  # (B, 4F, H/4, W/4)
        if self.skip_connection:
            x4 = x4 + x2
        x5 = act(self.conv5(up(x4)))
        if self.skip_connection:
            x5 = x5 + x1
        x6 = act(self.conv6(up(x5)))  # (B, F, H, W)
        if self.skip_connection:
            x6 = x6 + x0
        out = act(self.conv8(act(self.conv7(x6))))
        return self.conv9(out), [x1, x2, x3, x4, x5, x6]  # (B, 1, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]
