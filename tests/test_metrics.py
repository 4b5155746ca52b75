from __future__ import annotations

import math

import pytest
import torch

from srgan.metrics import psnr, rgb_to_y, ssim


def test_psnr_hand_computed_on_gray() -> None:
    hr = torch.zeros(1, 1, 4, 4)
    sr = hr.clone()
    sr[0, 0, 0, 0] = 16 / 255  # one pixel off by 16 levels: MSE = 256 / 16 = 16
    assert psnr(sr, hr).item() == pytest.approx(10 * math.log10(255**2 / 16))


def test_psnr_border_crop_ignores_the_border() -> None:
    hr = torch.rand(1, 3, 12, 12)
    sr = hr.clone()
    sr[..., 0, :] = 1 - sr[..., 0, :]
    assert math.isinf(psnr(sr, hr, crop_border=2).item())
    assert not math.isinf(psnr(sr, hr).item())


def test_y_channel_is_matlab_bt601() -> None:
    white = torch.full((1, 3, 1, 1), 255.0, dtype=torch.float64)
    black = torch.zeros(1, 3, 1, 1, dtype=torch.float64)
    assert rgb_to_y(white).item() == pytest.approx(235.0, abs=1e-3)
    assert rgb_to_y(black).item() == pytest.approx(16.0)


def test_ssim_identical_is_one_and_noise_lowers_it() -> None:
    hr = torch.rand(2, 3, 32, 32)
    assert torch.allclose(ssim(hr, hr), torch.ones(2, dtype=torch.float64))
    noisy = (hr + 0.1 * torch.randn_like(hr)).clamp(0, 1)
    assert (ssim(noisy, hr, crop_border=4) < 0.99).all()
