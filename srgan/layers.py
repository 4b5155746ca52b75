"""Building blocks shared by the generators and discriminators.

Everything here is a plain ``nn.Module`` with keyword-only hyper-parameters.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional as F

Activation = Literal["relu", "prelu", "leaky_relu"]
Normalization = Literal["batch", "spectral", "none"]

# ESRGAN and most SR GANs use LeakyReLU with a 0.2 negative slope: enough gradient for
# negative inputs without turning the network linear.
LEAKY_SLOPE = 0.2


def constructor_config(arguments: dict[str, Any]) -> dict[str, Any]:
    """A network's ``config`` (the keyword arguments that rebuild it) from its constructor's
    ``locals()``, taken before the constructor sets any other local name."""
    return {name: value for name, value in arguments.items() if name not in ("self", "__class__")}


def make_activation(name: Activation, num_features: int) -> nn.Module:
    """One activation by name; PReLU gets one learnable slope per channel."""
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "prelu":
        return nn.PReLU(num_parameters=num_features)
    if name == "leaky_relu":
        return nn.LeakyReLU(LEAKY_SLOPE, inplace=True)
    raise ValueError(f"unknown activation {name!r}: use relu, prelu or leaky_relu")


def conv3x3(in_channels: int, out_channels: int, *, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias)


def normalized_conv(
    in_channels: int,
    out_channels: int,
    *,
    kernel_size: int,
    stride: int = 1,
    normalization: Normalization,
) -> nn.Sequential:
    """Conv, then the requested normalization (spectral norm wraps the conv itself)."""
    padding = (kernel_size - 1) // 2 if stride == 1 else 1
    # Batch norm follows the conv, so the conv's bias would be redundant.
    conv = nn.Conv2d(
        in_channels, out_channels, kernel_size, stride, padding, bias=normalization != "batch"
    )
    if normalization == "spectral":
        return nn.Sequential(nn.utils.parametrizations.spectral_norm(conv))
    if normalization == "batch":
        return nn.Sequential(conv, nn.BatchNorm2d(out_channels))
    if normalization == "none":
        return nn.Sequential(conv)
    raise ValueError(f"unknown normalization {normalization!r}: use batch, spectral or none")


def he_init(conv: nn.Conv2d, *, slope: float = 0.0, gain: float = 1.0) -> None:
    """He (Kaiming normal) weights times ``gain`` and zero bias, for a conv before a
    (leaky) ReLU of negative ``slope``. Nothing to do on the meta device (a skeleton built
    to check a file's shapes): drawing random values there costs PyTorch a second-long
    import, on every model load."""
    if conv.weight.is_meta:
        return
    nn.init.kaiming_normal_(conv.weight, a=slope, nonlinearity="leaky_relu")
    conv.weight.data.mul_(gain)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs (ESRGAN's RDB), output scaled by 0.2 and added back.

    The 0.2 residual scaling keeps very deep stacks (23 x 3 blocks) stable at init,
    which matters because ESRGAN removes batch norm.
    """

    def __init__(self, *, num_features: int = 64, growth_channels: int = 32) -> None:
        super().__init__()
        f, g = num_features, growth_channels
        self.conv1 = conv3x3(f, g)
        self.conv2 = conv3x3(f + g, g)
        self.conv3 = conv3x3(f + 2 * g, g)
        self.conv4 = conv3x3(f + 3 * g, g)
        self.conv5 = conv3x3(f + 4 * g, f)
        self.act = nn.LeakyReLU(LEAKY_SLOPE, inplace=True)
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4, self.conv5):
            # ESRGAN initialises at 0.1 x Kaiming: small residuals, a near-identity block.
            he_init(conv, gain=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, F, H, W); each conv sees all previous outputs concatenated on channels.
        x1 = self.act(self.conv1(x))
        x2 = self.act(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.act(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.act(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x + 0.2 * x5


class RRDB(nn.Module):
    """Residual-in-residual dense block: three RDBs with an outer 0.2-scaled residual."""

    def __init__(self, *, num_features: int = 64, growth_channels: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_features=num_features, growth_channels=growth_channels)
        self.rdb2 = ResidualDenseBlock(num_features=num_features, growth_channels=growth_channels)
        self.rdb3 = ResidualDenseBlock(num_features=num_features, growth_channels=growth_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class ResidualBlock(nn.Module):
    """SRGAN's residual block: conv-BN-PReLU-conv-BN plus the identity."""

    def __init__(self, *, num_features: int = 64, batch_norm: bool = True) -> None:
        super().__init__()
        norm = (lambda: nn.BatchNorm2d(num_features)) if batch_norm else nn.Identity
        self.body = nn.Sequential(
            conv3x3(num_features, num_features),
            norm(),
            nn.PReLU(num_features),
            conv3x3(num_features, num_features),
            norm(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class NearestUpsample(nn.Module):
    """Nearest-neighbour upsampling then conv + LeakyReLU (ESRGAN's upsampler).

    Avoids the checkerboard artefacts of transposed convs.
    """

    def __init__(self, *, num_features: int, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.conv = conv3x3(num_features, num_features)
        self.act = nn.LeakyReLU(LEAKY_SLOPE, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(F.interpolate(x, scale_factor=self.factor, mode="nearest")))


def upsample_factors(scale: int) -> list[int]:
    """Split a scale into upsampling steps: 4 -> [2, 2], 2 -> [2], 3 -> [3], 8 -> [2, 2, 2]."""
    if isinstance(scale, int) and not isinstance(scale, bool):
        if scale == 3:
            return [3]
        if scale >= 2 and scale & (scale - 1) == 0:
            return [2] * (scale.bit_length() - 1)
    raise ValueError(f"scale must be 3 or a power of two (2, 4, 8, 16, ...), got {scale!r}")
