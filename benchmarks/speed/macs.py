"""Arithmetic work of a network: multiply-accumulates counted from its layers.

Forward hooks on every ``Conv2d``, ``ConvTranspose2d`` and ``Linear`` count
``output elements x (input channels / groups) x kernel area`` MACs; element-wise work
(activations, additions, pixel shuffle, interpolation) is not counted, as usual.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def count_macs(model: nn.Module, sample: torch.Tensor) -> int:
    """MACs of one forward pass of ``model`` on ``sample`` (the whole batch)."""
    total = 0

    def conv_hook(module: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.ConvTranspose2d):
            # Each input element is spread over out_channels/groups x kernel area outputs.
            per_input = module.out_channels // module.groups * math.prod(module.kernel_size)
            total += args[0].numel() * per_input
        else:
            per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
            total += out.numel() * per_output

    def linear_hook(module: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            model(sample)
    finally:
        for handle in handles:
            handle.remove()
    return total


def macs_per_output_pixel(model: nn.Module, *, size: int = 32, in_channels: int = 3) -> float:
    """MACs per output (HR) pixel, measured on a ``size x size`` input.

    Exact for fully convolutional SR networks, whose work grows with the pixel count.
    """
    parameter = next(model.parameters())
    sample = torch.rand(1, in_channels, size, size, device=parameter.device, dtype=parameter.dtype)
    scale = getattr(model, "scale", 1)
    return count_macs(model, sample) / (size * scale) ** 2
