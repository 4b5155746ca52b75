"""Content losses: pixel, perceptual (frozen VGG19) and discriminator feature matching."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

# torchvision's VGG19 ImageNet weights, the file ESRGAN-style perceptual losses use.
VGG19_FILE = "vgg19-dcbb9e9d.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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


def _vgg19_layer_names() -> list[str]:
    """Names of torchvision's ``vgg19().features`` entries: conv1_1, relu1_1, ..., pool5."""
    names, block, index = [], 1, 1
    for counts in (2, 2, 4, 4, 4):
        for _ in range(counts):
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
            index += 1
        names.append(f"pool{block}")
        block, index = block + 1, 1
    return names


def find_vgg19_weights(path: str | None = None) -> Path:
    """The VGG19 weights file: ``path`` if given, else the torch hub cache.

    Never downloads. Raises ``FileNotFoundError`` naming the file and how to provide it.
    """
    if path is not None:
        candidate = Path(path).expanduser()
    else:
        candidate = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
    if candidate.is_file():
        return candidate
    raise FileNotFoundError(
        f"VGG19 ImageNet weights not found: {candidate}. The perceptual loss needs "
        f"torchvision's {VGG19_FILE}. Copy it into {Path(torch.hub.get_dir()) / 'checkpoints'} "
        f'(on a machine with internet: python -c "import torchvision; '
        f"torchvision.models.vgg19(weights='IMAGENET1K_V1')\"), or pass its path as "
        f"perceptual_loss.init_args.weights_path, or set perceptual_weight to 0."
    )


class PerceptualLoss(nn.Module):
    """L1 distance between frozen VGG19 features of SR and HR (ESRGAN: conv5_4, pre-activation).

    ``layer_weights`` maps layer names (``conv5_4``, ``relu2_2``, ...) to weights. The
    ImageNet weights are loaded lazily, on first use, from ``weights_path`` or the torch hub
    cache: configs that mention this loss still parse and instantiate without the file.
    """

    def __init__(
        self,
        *,
        layer_weights: dict[str, float] | None = None,
        weights_path: str | None = None,
    ) -> None:
        super().__init__()
        self.layer_weights = dict(layer_weights or {"conv5_4": 1.0})
        names = _vgg19_layer_names()
        unknown = set(self.layer_weights) - set(names)
        if unknown:
            raise ValueError(f"unknown VGG19 layers {sorted(unknown)}; known: {', '.join(names)}")
        self.weights_path = weights_path
        self._depth = max(names.index(n) for n in self.layer_weights) + 1
        self._names = names[: self._depth]
        # Kept out of the state dict and of .parameters(): frozen, rebuilt from the file.
        self._features: list[nn.Sequential] = []
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _network(self, device: torch.device) -> nn.Sequential:
        if not self._features:
            from torchvision.models import vgg19

            state = torch.load(
                find_vgg19_weights(self.weights_path), map_location="cpu", weights_only=True
            )
            model = vgg19()
            model.load_state_dict(state)
            features = model.features[: self._depth].eval().requires_grad_(False)
            self._features.append(features)
        return self._features[0].to(device)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        network = self._network(sr.device)
        x = torch.cat(((sr - self.mean) / self.std, (hr - self.mean) / self.std))
        loss = sr.new_zeros(())
        for name, layer in zip(self._names, network, strict=True):
            x = layer(x)
            if name in self.layer_weights:
                fake, real = x.chunk(2)
                loss = loss + self.layer_weights[name] * F.l1_loss(fake, real.detach())
        return loss


def feature_matching_loss(
    fake_features: list[torch.Tensor], real_features: list[torch.Tensor]
) -> torch.Tensor:
    """Mean over layers of the L1 distance between discriminator features of SR and HR.

    A perceptual term that needs no pretrained network: the discriminator's own features
    (Salimans et al. 2016; pix2pixHD).
    """
    losses = [F.l1_loss(f, r.detach()) for f, r in zip(fake_features, real_features, strict=True)]
    return torch.stack(losses).mean()
