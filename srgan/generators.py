"""Generators: RRDBNet (ESRGAN), SRResNet (SRGAN) and CompactNet (fast, real-time).

All map ``(B, in_channels, H, W)`` in [0, 1] to ``(B, out_channels, H*scale, W*scale)``
(unclamped: clamping is the inference contract's job, see ``srgan.inference``). They work
at any input size (``size_multiple == 1``). Each records its hyper-parameters in
``self.config`` so that weights files can rebuild it (see ``srgan.weights``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from srgan.layers import (
    LEAKY_SLOPE,
    RRDB,
    Activation,
    NearestUpsample,
    ResidualBlock,
    constructor_config,
    conv3x3,
    he_init,
    make_activation,
    upsample_factors,
)


class Generator(nn.Module):
    """Common surface of every generator: ``scale``, ``config``, ``size_multiple``."""

    scale: int
    config: dict[str, Any]
    # Input height and width must be multiples of this (1: any size works).
    size_multiple: int = 1


class RRDBNet(Generator):
    """ESRGAN's generator (Wang et al. 2018): RRDB trunk, nearest-neighbour upsampling.

    Defaults are the paper's (23 blocks, 64 features, growth 32). Scale 2 and 4 use x2
    nearest + conv steps; scale 3 uses a single x3 nearest + conv step. Parameter names
    follow the widely shared ``conv_first / body.N.rdbK / conv_body / conv_up1`` layout.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        out_channels: int = 3,
        num_features: int = 64,
        num_blocks: int = 23,
        growth_channels: int = 32,
        scale: int = 4,
    ) -> None:
        super().__init__()
        self.config = constructor_config(locals())
        self.scale = scale
        f = num_features
        self.conv_first = conv3x3(in_channels, f)
        self.body = nn.Sequential(
            *(RRDB(num_features=f, growth_channels=growth_channels) for _ in range(num_blocks))
        )
        self.conv_body = conv3x3(f, f)
        # conv_up1, conv_up2, ...: one nearest-neighbour step each.
        self.upsample_steps = len(upsample_factors(scale))
        for i, factor in enumerate(upsample_factors(scale), start=1):
            setattr(self, f"conv_up{i}", NearestUpsample(num_features=f, factor=factor))
        self.conv_hr = conv3x3(f, f)
        self.conv_last = conv3x3(f, out_channels)
        self.act = nn.LeakyReLU(LEAKY_SLOPE, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W) -> feat: (B, F, H, W)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        for i in range(1, self.upsample_steps + 1):
            feat = getattr(self, f"conv_up{i}")(feat)  # (B, F, H*s_i, W*s_i)
        return self.conv_last(self.act(self.conv_hr(feat)))  # (B, C_out, H*scale, W*scale)


class SRResNet(Generator):
    """SRGAN's generator (Ledig et al. 2017): residual blocks with batch norm, pixel shuffle.

    ``batch_norm=False`` drops the batch norm layers, as EDSR and ESRGAN recommend for SR.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        out_channels: int = 3,
        num_features: int = 64,
        num_blocks: int = 16,
        scale: int = 4,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.config = constructor_config(locals())
        self.scale = scale
        f = num_features
        # The 9x9 head and tail convs are the paper's wide receptive field.
        self.conv_first = nn.Sequential(nn.Conv2d(in_channels, f, 9, padding=4), nn.PReLU(f))
        self.body = nn.Sequential(
            *(ResidualBlock(num_features=f, batch_norm=batch_norm) for _ in range(num_blocks))
        )
        self.conv_body = nn.Sequential(
            conv3x3(f, f), nn.BatchNorm2d(f) if batch_norm else nn.Identity()
        )
        self.upsample = nn.Sequential(
            *(
                nn.Sequential(conv3x3(f, f * factor**2), nn.PixelShuffle(factor), nn.PReLU(f))
                for factor in upsample_factors(scale)
            )
        )
        self.conv_last = nn.Conv2d(f, out_channels, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)  # (B, F, H, W)
        feat = feat + self.conv_body(self.body(feat))
        return self.conv_last(self.upsample(feat))  # (B, C_out, H*scale, W*scale)


class CompactNet(Generator):
    """A fast plain network: a stack of 3x3 conv + activation at LR size, one pixel shuffle.

    The network learns only the residual over a nearest-neighbour upsampling of the input,
    so even a shallow stack starts from a sensible image. All work happens at the input
    resolution, which is what makes it real-time (cf. Real-ESRGAN's SRVGGNetCompact).
    ReLU is the default activation: ONNX Runtime folds it into int8 convolutions.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        out_channels: int = 3,
        num_features: int = 64,
        num_convs: int = 16,
        scale: int = 4,
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        if out_channels != in_channels:
            raise ValueError(
                "CompactNet's nearest-neighbour skip needs out_channels == in_channels"
            )
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ValueError(f"scale must be a whole number of at least 1, got {scale!r}")
        self.config = constructor_config(locals())
        self.scale = scale
        f = num_features
        layers: list[nn.Module] = [conv3x3(in_channels, f), make_activation(activation, f)]
        for _ in range(num_convs):
            layers += [conv3x3(f, f), make_activation(activation, f)]
        layers += [conv3x3(f, out_channels * scale**2), nn.PixelShuffle(scale)]
        self.body = nn.Sequential(*layers)
        # A plain stack of ReLU convs loses its signal with PyTorch's default init (the
        # residual branch then stays near zero and training stalls at the nearest-
        # neighbour image): use He init for the convs before activations, and a small
        # last conv so training starts close to the nearest-neighbour skip.
        slope = {"relu": 0.0, "prelu": 0.25, "leaky_relu": LEAKY_SLOPE}[activation]
        convs = [m for m in self.body if isinstance(m, nn.Conv2d)]
        for conv in convs:
            he_init(conv, slope=slope, gain=0.1 if conv is convs[-1] else 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C, H, W) -> (B, C, H*scale, W*scale)
        return self.body(x) + F.interpolate(x, scale_factor=self.scale, mode="nearest")


def grow_compact(state: dict[str, torch.Tensor], target: CompactNet) -> dict[str, torch.Tensor]:
    """A state dict for ``target`` that computes what a smaller ReLU ``CompactNet``'s
    ``state`` computes (Net2Net-style growth, to fine-tune a wider or deeper net from it).

    The old convs keep their weights, spread evenly through the deeper stack; the added
    convs are identities (a ReLU of non-negative features changes nothing). Added channels
    take ``target``'s own initial weights from the old channels, and every weight out of an
    added channel starts at zero, so the outputs start unchanged and training fills the new
    capacity in.
    """
    if target.config["activation"] != "relu":
        raise ValueError("growing a CompactNet needs activation 'relu' (identity convs)")
    layers = {int(key.split(".")[1]) for key in state if key.startswith("body.")}
    if any(index % 2 for index in layers) or len(layers) != len(state) // 2:
        raise ValueError("the weights are not a ReLU CompactNet (only conv weights and biases)")
    count = len(layers)
    old = [state[f"body.{2 * i}.weight"] for i in range(count)]
    convs = [m for m in target.body if isinstance(m, nn.Conv2d)]
    if (
        count < 3
        or old[0].shape[1] != convs[0].in_channels
        or old[-1].shape[0] != convs[-1].out_channels
    ):
        raise ValueError(
            "the weights are not a CompactNet with the same channels and scale as the target "
            f"(first conv {tuple(old[0].shape)}, last {tuple(old[-1].shape)})"
        )
    features, middle = old[0].shape[0], count - 2
    if features > convs[0].out_channels or middle > len(convs) - 2:
        raise ValueError(
            f"cannot grow CompactNet({features} features, {middle} convs) into the smaller "
            f"CompactNet({convs[0].out_channels} features, {len(convs) - 2} convs)"
        )
    # Old conv j of the middle stack goes to position round(j * n / m): strictly increasing.
    place = {0: 0, len(convs) - 1: count - 1}
    place |= {round(j * (len(convs) - 2) / middle): j for j in range(1, middle + 1)}
    grown: dict[str, torch.Tensor] = {}
    for position, conv in enumerate(convs):
        weight = conv.weight.detach().clone()
        bias = conv.bias.detach().clone()
        if position > 0:
            weight[:, features:] = 0  # nothing flows out of an added channel yet
        if position in place:
            j = place[position]
            out_old, in_old = old[j].shape[:2]
            weight[:out_old, :in_old] = old[j]
            bias[:out_old] = state[f"body.{2 * j}.bias"]
        else:
            weight.zero_()
            bias.zero_()
            weight[torch.arange(weight.shape[0]), torch.arange(weight.shape[0]), 1, 1] = 1
        grown[f"body.{2 * position}.weight"] = weight
        grown[f"body.{2 * position}.bias"] = bias
    return grown


GENERATORS: dict[str, type[Generator]] = {cls.__name__: cls for cls in Generator.__subclasses__()}


# Named network variants: class name and hyper-parameters (the rest at their defaults).
# The shipped models' networks, the release recipes' smoke-test sizes, the speed
# benchmark's random-init ``--arch`` choices and its suites all name these.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "rrdb": ("RRDBNet", {}),  # ESRGAN's: 23 RRDBs, 64 features, growth 32
    "rrdb8": ("RRDBNet", {"num_blocks": 8}),  # `quality`: 6 M parameters, fp16 file < 16 MiB
    "srresnet": ("SRResNet", {}),  # SRGAN's: 16 residual blocks, 64 features
    "compact": ("CompactNet", {}),  # 64 features, 16 convs
    "fast": ("CompactNet", {"num_features": 48, "num_convs": 12}),  # the shipped `fast`
    # Smoke-test sizes: the same code paths in seconds on a CPU.
    "tiny-rrdb": ("RRDBNet", {"num_blocks": 1, "num_features": 8, "growth_channels": 4}),
    "tiny-compact": ("CompactNet", {"num_features": 8, "num_convs": 2}),
}


def build_generator(architecture: str, config: dict[str, Any]) -> Generator:
    """Rebuild a generator from its class name and recorded ``config``."""
    if architecture not in GENERATORS:
        raise ValueError(f"unknown generator {architecture!r}; known: {', '.join(GENERATORS)}")
    return GENERATORS[architecture](**config)


def build_variant(name: str, *, scale: int = 4, seed: int | None = None) -> Generator:
    """A randomly initialised network of a named variant (``VARIANTS``), in eval mode.

    With ``seed`` the initialisation is reproducible and leaves the global RNG untouched.
    """
    if name not in VARIANTS:
        raise ValueError(f"unknown network variant {name!r}; known: {', '.join(VARIANTS)}")
    architecture, config = VARIANTS[name]
    if seed is None:
        return build_generator(architecture, {**config, "scale": scale}).eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_generator(architecture, {**config, "scale": scale}).eval()
