"""Content losses: pixel, perceptual (frozen ImageNet VGG16 / VGG19) and discriminator feature matching."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from srgan.assets import pretrained_features

# ImageNet normalisation of torchvision's VGG networks.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Convolutions per block of torchvision's VGG16 and VGG19.
VGG_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
# ESRGAN's layer (the last convolution, before its ReLU) per network.
ESRGAN_LAYERS = {"vgg19": "conv5_4", "vgg16": "conv5_3"}


class PixelLoss(nn.Module):
    """L1, MSE or Charbonnier (a smooth L1, ``sqrt(d^2 + eps^2)``) between SR and HR."""

    def __init__(
        self, *, kind: Literal["l1", "mse", "charbonnier"] = "l1", eps: float = 1e-3
    ) -> None:
        super().__init__()
        if kind not in ("l1", "mse", "charbonnier"):
            raise ValueError(f"unknown pixel loss {kind!r}: use l1, mse or charbonnier")
        self.kind = kind
        self.eps = eps

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if self.kind == "l1":
            return F.l1_loss(sr, hr)
        if self.kind == "mse":
            return F.mse_loss(sr, hr)
        return torch.sqrt((sr - hr) ** 2 + self.eps**2).mean()


def vgg_layer_names(network: Literal["vgg16", "vgg19"]) -> list[str]:
    """Names of torchvision's ``features`` entries: conv1_1, relu1_1, ..., pool5."""
    names = []
    for block, convs in enumerate(VGG_BLOCKS[network], start=1):
        for index in range(1, convs + 1):
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
        names.append(f"pool{block}")
    return names


class PerceptualLoss(nn.Module):
    """L1 distance between frozen ImageNet VGG features of SR and HR (Johnson et al. 2016;
    ESRGAN's content loss).

    Args:
        network: ``vgg16`` (the default: ``python -m srgan.assets fetch`` provides it
            offline) or ``vgg19`` (ESRGAN's; read from torchvision's own file,
            ``vgg19-dcbb9e9d.pth`` in the torch hub cache, when the user has it).
        layer_weights: layer name -> weight; ``convX_Y`` is taken before its ReLU,
            ``reluX_Y`` after it. Default: ESRGAN's choice, the last convolution before its
            activation: ``conv5_4`` on VGG19, and on VGG16 its nearest equivalent
            ``conv5_3`` (the last convolution of the same block, pre-activation).
            Pre-activation features are not clipped at zero, so the loss keeps the
            gradient of the negative responses (ESRGAN, section 3.3).

    Inputs are RGB in [0, 1], ImageNet-normalised here. The network is truncated after the
    deepest layer used, frozen and in eval mode, kept out of the state dict and the
    parameters (nothing of it is saved or optimised), and loaded lazily on first use:
    configs that name this loss parse and instantiate without the weights. It runs under
    the caller's precision (autocast included); only the SR half keeps a graph.
    """

    def __init__(
        self,
        *,
        network: Literal["vgg16", "vgg19"] = "vgg16",
        layer_weights: dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        if network not in VGG_BLOCKS:
            raise ValueError(f"unknown network {network!r}: use vgg16 or vgg19")
        self.network = network
        self.layer_weights = dict(layer_weights or {ESRGAN_LAYERS[network]: 1.0})
        names = vgg_layer_names(network)
        unknown = set(self.layer_weights) - set(names)
        if unknown:
            raise ValueError(
                f"unknown {network} layers {sorted(unknown)}; known: {', '.join(names)}"
            )
        self._depth = max(names.index(n) for n in self.layer_weights) + 1
        self._names = names[: self._depth]
        # Kept out of the state dict and of .parameters(): frozen, rebuilt from the weights.
        self._features: list[nn.Sequential] = []
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def load(self) -> None:
        """Read the backbone's weights now rather than at the first call
        (``MissingWeightsError`` when they are not installed)."""
        self._network(torch.device("cpu"), torch.float32)

    def _network(self, device: torch.device, dtype: torch.dtype) -> nn.Sequential:
        if not self._features:
            features = pretrained_features(self.network, what="the perceptual loss")
            features = features[: self._depth].eval()  # a slice is a new module, in train mode
            for layer in features:
                if isinstance(layer, nn.ReLU):
                    # torchvision's in-place ReLUs would overwrite a kept pre-activation map.
                    layer.inplace = False
            self._features.append(features)
        network = self._features[0]
        if network[0].weight.device != device or network[0].weight.dtype != dtype:
            self._features[0] = network = network.to(device, dtype)
        return network

    def _features_of(
        self, network: nn.Sequential, x: torch.Tensor, dtype: torch.dtype
    ) -> dict[str, torch.Tensor]:
        mean = self.mean.to(x.device, torch.float32)
        std = self.std.to(x.device, torch.float32)
        x = ((x.float() - mean) / std).to(dtype)
        out = {}
        for name, layer in zip(self._names, network, strict=True):
            x = layer(x)
            if name in self.layer_weights:
                out[name] = x
        return out

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        # Under autocast the weights stay float32 (autocast casts per operation); under a
        # true half precision they follow the input, as Lightning moves a submodule.
        autocast = torch.is_autocast_enabled(sr.device.type)
        dtype = torch.float32 if autocast else sr.dtype
        network = self._network(sr.device, dtype)
        fake = self._features_of(network, sr, dtype)
        with torch.no_grad():  # HR needs no graph: half the backward pass
            real = self._features_of(network, hr, dtype)
        loss = sr.new_zeros((), dtype=torch.float32)
        for name, weight in self.layer_weights.items():
            loss = loss + weight * F.l1_loss(fake[name].float(), real[name].float())
        return loss


def feature_matching_loss(
    fake_features: list[torch.Tensor], real_features: list[torch.Tensor]
) -> torch.Tensor:
    """Mean over layers of the L1 distance between discriminator features of SR and HR.

    A perceptual term that needs no pretrained network: the discriminator's own features
    (Salimans et al. 2016; pix2pixHD).
    """
    if not fake_features:
        raise ValueError(
            "feature matching needs the discriminator's feature maps: its forward_features "
            "returns none (set model.feature_matching_weight 0, or return them)"
        )
    losses = [F.l1_loss(f, r.detach()) for f, r in zip(fake_features, real_features, strict=True)]
    return torch.stack(losses).mean()
