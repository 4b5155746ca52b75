from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from srgan import metrics
from srgan.assets import MissingWeightsError
from srgan.metrics import DISTS, LPIPS, L2Pooling, detail_ratio, psnr, rgb_to_y, ssim
from tests.conftest import require_assets

REPO = Path(__file__).resolve().parent.parent

C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def constant(value: float, channels: int = 1, size: int = 16) -> torch.Tensor:
    """An image of one 8-bit level, as a [0, 1] float tensor."""
    return torch.full((1, channels, size, size), value / 255, dtype=torch.float64)


def test_psnr_hand_computed_on_gray() -> None:
    hr = torch.zeros(1, 1, 4, 4)
    sr = hr.clone()
    sr[0, 0, 0, 0] = 16 / 255  # one pixel off by 16 levels: MSE = 256 / 16 = 16
    assert psnr(sr, hr).item() == pytest.approx(10 * math.log10(255**2 / 16))


@pytest.mark.parametrize("offset", [1, 5, 40])
def test_psnr_constant_offset(offset: int) -> None:
    # Gray and RGB-without-Y: every pixel off by d levels, PSNR = 10 log10(255^2 / d^2).
    expected = 10 * math.log10(255**2 / offset**2)
    assert psnr(constant(100 + offset), constant(100)).item() == pytest.approx(expected)
    rgb = psnr(constant(100 + offset, 3), constant(100, 3), y_channel=False)
    assert rgb.item() == pytest.approx(expected)
    # On Y, an offset of d on R, G and B moves Y by d * 219 / 255.
    y = psnr(constant(100 + offset, 3), constant(100, 3)).item()
    assert y == pytest.approx(10 * math.log10(255**2 / (offset * 219 / 255) ** 2))


def test_gray_images_are_scored_on_their_own_values() -> None:
    # Set14's bridge: a single-channel image is not passed through rgb2ycbcr (which would
    # compress the offset by 219 / 255), it is scored on its gray levels.
    hr = constant(120)
    sr = constant(130)
    assert psnr(sr, hr).item() == pytest.approx(10 * math.log10(255**2 / 100))
    assert psnr(sr, hr).item() == pytest.approx(psnr(sr, hr, y_channel=False).item())
    assert ssim(sr, hr).item() == pytest.approx(ssim(sr, hr, y_channel=False).item())


def test_images_are_quantised_to_8_bits_first() -> None:
    hr = constant(100)
    assert math.isinf(psnr(hr + 0.4 / 255, hr).item())  # rounds back to level 100
    assert psnr(hr + 0.6 / 255, hr).item() == pytest.approx(10 * math.log10(255**2))


def test_psnr_border_crop_ignores_the_border() -> None:
    hr = torch.rand(1, 3, 12, 12)
    sr = hr.clone()
    sr[..., 0, :] = 1 - sr[..., 0, :]
    assert math.isinf(psnr(sr, hr, crop_border=2).item())
    assert not math.isinf(psnr(sr, hr).item())


def test_crop_counts_only_the_inner_pixels() -> None:
    # 20x20 image, border 4: 12x12 = 144 pixels scored; one inner pixel off by 12 levels.
    hr = constant(50, size=20)
    sr = hr.clone()
    sr[0, 0, 10, 10] = 62 / 255
    sr[0, 0, 0, :] = 1.0  # in the border: ignored
    assert psnr(sr, hr, crop_border=4).item() == pytest.approx(
        10 * math.log10(255**2 / (144 / 144))
    )
    border_only = hr.clone()
    border_only[0, 0, :4, :] = 1.0
    assert ssim(border_only, hr, crop_border=4).item() == pytest.approx(1.0)
    assert ssim(border_only, hr).item() < 0.99
    with pytest.raises(ValueError, match="too small"):
        psnr(sr, hr, crop_border=10)


def test_y_channel_is_matlab_bt601() -> None:
    def y(r: float, g: float, b: float) -> float:
        rgb = torch.tensor([r, g, b], dtype=torch.float64).view(1, 3, 1, 1)
        return rgb_to_y(rgb).item()

    assert y(255, 255, 255) == pytest.approx(235.0)
    assert y(0, 0, 0) == pytest.approx(16.0)
    assert y(255, 0, 0) == pytest.approx(16 + 65.481)
    assert y(0, 255, 0) == pytest.approx(16 + 128.553)
    assert y(0, 0, 255) == pytest.approx(16 + 24.966)
    assert y(100, 150, 200) == pytest.approx(
        16 + (65.481 * 100 + 128.553 * 150 + 24.966 * 200) / 255
    )


def test_ssim_identical_is_one_and_noise_lowers_it() -> None:
    hr = torch.rand(2, 3, 32, 32)
    assert torch.allclose(ssim(hr, hr), torch.ones(2, dtype=torch.float64))
    noisy = (hr + 0.1 * torch.randn_like(hr)).clamp(0, 1)
    assert (ssim(noisy, hr, crop_border=4) < 0.99).all()


def test_detail_ratio_is_one_for_the_original_below_for_blur_above_for_noise() -> None:
    generator = torch.Generator().manual_seed(0)
    hr = torch.nn.functional.interpolate(
        torch.rand(2, 3, 8, 8, generator=generator), size=(48, 48), mode="bicubic"
    ).clamp(0, 1)
    assert torch.allclose(detail_ratio(hr, hr, crop_border=4), torch.ones(2, dtype=torch.float64))
    blurred = torch.nn.functional.avg_pool2d(hr, 5, stride=1, padding=2, count_include_pad=False)
    sharpened = (hr + 0.05 * torch.randn(hr.shape, generator=generator)).clamp(0, 1)
    assert (detail_ratio(blurred, hr, crop_border=4) < 0.9).all()
    assert (detail_ratio(sharpened, hr, crop_border=4) > 1.1).all()
    # By hand on gray: a single 8-bit step of 10 levels has |Laplacian| 10 on both sides.
    step = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    step[..., 4:] = 10 / 255
    assert detail_ratio(2 * step, step).item() == pytest.approx(2.0)


def test_ssim_of_constant_images_is_the_luminance_term() -> None:
    # No variance: SSIM = (2 a b + C1) / (a^2 + b^2 + C1) (the contrast term is C2 / C2).
    a, b = 100, 110
    expected = (2 * a * b + C1) / (a**2 + b**2 + C1)
    assert ssim(constant(a), constant(b)).item() == pytest.approx(expected)


def test_ssim_uses_the_valid_region_of_an_11x11_gaussian_window() -> None:
    # An 11x11 image has exactly one valid window: SSIM is the weighted statistics of the
    # whole image with Wang et al.'s Gaussian (sigma 1.5), no padding anywhere.
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (11, 11)).astype(np.float64)
    y = np.clip(x + rng.normal(0, 20, (11, 11)), 0, 255).round()
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    mx, my = (w * x).sum(), (w * y).sum()
    vx, vy = (w * x * x).sum() - mx**2, (w * y * y).sum() - my**2
    cov = (w * x * y).sum() - mx * my
    expected = ((2 * mx * my + C1) * (2 * cov + C2)) / ((mx**2 + my**2 + C1) * (vx + vy + C2))

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a / 255)[None, None]

    assert ssim(tensor(y), tensor(x)).item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.usefixtures("empty_caches")
def test_missing_backbones_name_the_fetch_command() -> None:
    for build, what in [
        (LPIPS, "LPIPS (alex)"),
        (lambda: LPIPS("vgg"), "LPIPS (vgg)"),
        (DISTS, "DISTS"),
    ]:
        with pytest.raises(MissingWeightsError) as error:
            build()
        message = str(error.value)
        assert message.startswith(f"{what} needs"), message
        assert "python -m srgan.assets fetch" in message
    with pytest.raises(ValueError, match="alex or vgg"):
        LPIPS("squeeze")


@pytest.mark.usefixtures("random_backbones")
@pytest.mark.parametrize(
    "build", [LPIPS, lambda: LPIPS("vgg"), DISTS], ids=["alex", "vgg", "dists"]
)
def test_perceptual_metrics_contract(build) -> None:
    metric = build()
    hr = torch.randint(0, 256, (2, 3, 64, 64)) / 255  # on the 8-bit grid
    noisy = (hr + 0.2 * torch.randn_like(hr)).clamp(0, 1)
    same, different = metric(hr, hr), metric(noisy, hr)
    assert same.shape == (2,) and same.dtype == torch.float64
    assert torch.allclose(same, torch.zeros(2, dtype=torch.float64), atol=1e-5)
    assert (different > 1e-3).all()
    # Gray images are three equal channels; the border crop is available, off by default.
    gray = metric(noisy[:, :1], hr[:, :1])
    torch.testing.assert_close(
        gray, metric(noisy[:, :1].expand(-1, 3, -1, -1), hr[:, :1].expand(-1, 3, -1, -1))
    )
    assert not torch.allclose(metric(noisy, hr, crop_border=8), different)
    # Scored on the 8-bit grid, like PSNR.
    assert torch.equal(metric(hr + 0.3 / 255, hr), same)
    assert not any(p.requires_grad for p in metric.parameters())
    # Below what a backbone's pooling takes: said, not a torch error from inside.
    least = {LPIPS: 31}.get(build, 16 if isinstance(metric, LPIPS) else None)
    if least is not None:
        small = hr[..., : least - 1, : least - 1]
        with pytest.raises(ValueError, match=f"at least {least} pixels a side"):
            metric(small, small)


@pytest.mark.usefixtures("random_backbones")
def test_lpips_backbone_keys_map_to_torchvision_features() -> None:
    metric = LPIPS()
    state = metrics.backbone_state("alexnet")  # the patched one: a fresh random draw
    loaded = metric.model.net.state_dict()
    assert set(loaded) == {
        f"slice{k}.{i}.{p}"
        for k, i in [(1, 0), (2, 3), (3, 6), (4, 8), (5, 10)]
        for p in ("weight", "bias")
    }
    assert loaded["slice2.3.weight"].shape == state["features.3.weight"].shape


def test_l2_pooling_is_the_reference_hanning_window() -> None:
    pool = L2Pooling(2)
    expected = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    assert torch.equal(pool.filter[1, 0], expected)
    x = torch.ones(1, 2, 8, 8)
    out = pool(x)
    assert out.shape == (1, 2, 4, 4)
    assert out[0, 0, 1, 1].item() == pytest.approx(1.0)  # inside: sqrt(sum(w * 1))
    assert out[0, 0, 0, 0].item() == pytest.approx((9 / 16) ** 0.5)  # zero padding at the corner


CALIBRATION = REPO.parent / "shared" / "data" / "iqa-calibration"
# PROVENANCE.md of that folder: the original implementations' values (pyiqa's
# ResultsCalibra/results_official.csv), to the digits given there.
OFFICIAL = {
    "I03": ("0.7237", "0.4742"),
    "I04": ("0.2572", "0.1424"),
    "I06": ("0.05079", "0.06825"),
    "I08": ("0.05205", "0.02867"),
    "I19": ("0.4253", "0.3123"),
}


def read_rgb(path: Path) -> torch.Tensor:
    from PIL import Image

    pixels = np.array(Image.open(path).convert("RGB"))
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].to(torch.float64) / 255


def same_digits(value: float, official: str) -> bool:
    """``value`` rounded to as many decimals as ``official`` is written with equals it."""
    return f"{value:.{len(official.split('.')[1])}f}" == official


def test_lpips_and_dists_reproduce_the_official_values() -> None:
    if not CALIBRATION.is_dir():
        pytest.skip(f"calibration images not found: {CALIBRATION}")
    require_assets("alexnet", "vgg16", "dists")
    lpips_alex, dists = LPIPS(), DISTS()
    measured = {}
    for pair in OFFICIAL:
        ref, dist = (read_rgb(CALIBRATION / folder / f"{pair}.png") for folder in ("ref", "dist"))
        assert ref.shape == (1, 3, 384, 512)
        measured[pair] = (lpips_alex(dist, ref).item(), dists(dist, ref).item())
    wrong = {
        pair: (values, OFFICIAL[pair])
        for pair, values in measured.items()
        if not all(same_digits(v, o) for v, o in zip(values, OFFICIAL[pair]))
    }
    assert not wrong, f"(LPIPS, DISTS) measured vs official: {wrong}"
    # LPIPS's own example images (64x64), alex v0.1: 0.7219 and 0.1376.
    ref = read_rgb(CALIBRATION / "ex_ref.png")
    for name, official in (("ex_p0", "0.7219"), ("ex_p1", "0.1376")):
        value = lpips_alex(read_rgb(CALIBRATION / f"{name}.png"), ref).item()
        assert same_digits(value, official), (name, value, official)


def test_quantisation_rounds_halves_away_from_zero_and_clips_like_im2uint8() -> None:
    # MATLAB's im2uint8 rounds 100.5 to 101 and 2.5 to 3 (round half to even would give
    # 100 and 2, and an infinite PSNR here).
    one_level = 10 * math.log10(255**2)
    assert psnr(constant(100.5), constant(100)).item() == pytest.approx(one_level)
    assert psnr(constant(2.5), constant(2)).item() == pytest.approx(one_level)
    # Values outside [0, 1] saturate to 0 and 255 before scoring.
    white, black = constant(255), constant(0)
    assert math.isinf(psnr(white + 0.3, white).item())
    assert math.isinf(psnr(black - 0.2, black).item())
    assert ssim(white + 0.3, white).item() == pytest.approx(1.0)


def test_pixels_not_in_0_1_floats_are_refused() -> None:
    image = torch.rand(1, 3, 16, 16)
    for bad, error, says in [
        (
            (image * 255).to(torch.uint8),
            ValueError,
            "need float pixels in \\[0, 1\\], got torch.uint8",
        ),
        (image * 255, ValueError, "divide 8-bit images by 255"),
        (image.numpy(), TypeError, "need a \\(B, C, H, W\\) torch tensor"),
        (image.masked_fill(image > 0.9, float("nan")), ValueError, "holds NaN pixels"),
        (torch.rand(1, 4, 16, 16), ValueError, "got 4 channels: score the colour alone"),
    ]:
        for metric in (psnr, ssim):
            with pytest.raises(error, match=says):
                metric(bad, bad)
    assert psnr(image, image.clamp(0, 1)).isinf().all()  # in range: scored as before
