"""The degradations: each stage does what it must, the pipelines are shaped, 8-bit and seeded."""

from __future__ import annotations

import io
import math
from dataclasses import replace

import kornia
import numpy as np
import pytest
import torch
from PIL import Image

from srgan.degradations import (
    DOWNSCALERS,
    PILLOW_DOWNSCALERS,
    PROFILES,
    SEVERITIES,
    Bicubic,
    ClassicDegradation,
    Interpolated,
    Mixture,
    Order,
    RealisticDegradation,
    Severity,
    blur_kernels,
    degrade_fixed,
    degraded_pair,
    describe_profile,
    filter_images,
    gaussian_noise,
    jpeg,
    name_seed,
    poisson_noise,
    profile_record,
    sinc_kernels,
    usm_sharpen,
)
from srgan.metrics import psnr
from srgan.resize import benchmark_pair, imresize
from tests.conftest import smooth_image


def photo(height: int = 48, width: int = 40, seed: int = 0) -> torch.Tensor:
    """A ``(1, 3, H, W)`` photo-like image in [0, 1] on the 8-bit grid."""
    image = smooth_image(np.random.default_rng(seed), height, width)
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255


def on_8_bit_grid(t: torch.Tensor) -> bool:
    return bool(torch.allclose(t * 255, (t * 255).round(), atol=1e-4))


def kernels(n: int, **options: object) -> torch.Tensor:
    values = dict(
        sigma_x=torch.full((n,), 2.0),
        sigma_y=torch.full((n,), 2.0),
        angle=torch.zeros(n),
        beta=torch.ones(n),
        shape=torch.zeros(n, dtype=torch.long),
        sizes=torch.full((n,), 21),
    )
    values |= {k: torch.as_tensor(v).expand(n).clone() for k, v in options.items()}
    return blur_kernels(**values)


# -- kernels ---------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [0, 1, 2], ids=["gaussian", "generalized", "plateau"])
def test_isotropic_kernels_sum_to_1_and_have_every_symmetry_of_the_square(shape: int) -> None:
    (kernel,) = kernels(1, shape=shape, beta=0.7 if shape else 1.0)
    assert kernel.sum().item() == pytest.approx(1, abs=1e-6)
    assert (kernel >= 0).all()
    for mirrored in (kernel.flip(0), kernel.flip(1), kernel.T):
        torch.testing.assert_close(mirrored, kernel, rtol=0, atol=1e-7)
    assert kernel.argmax().item() == 21 * 10 + 10  # peak at the centre


def test_gaussian_kernel_is_korniass_with_the_configured_sigma() -> None:
    (kernel,) = kernels(1, sigma_x=1.5, sigma_y=1.5, sizes=11)
    reference = kornia.filters.get_gaussian_kernel2d(11, (1.5, 1.5))[0]
    torch.testing.assert_close(kernel[5:16, 5:16], reference, rtol=0, atol=1e-6)
    assert kernel[:5].abs().max() == 0 and kernel[:, 16:].abs().max() == 0  # its 11 px only
    # The second moment along an axis is sigma^2 (within the 21-px truncation).
    (wide,) = kernels(1, sigma_x=2.0, sigma_y=2.0)
    x = torch.arange(21.0) - 10
    assert (wide.sum(0) * x**2).sum().item() == pytest.approx(4.0, rel=0.01)


def test_anisotropic_kernel_is_rotated_and_point_symmetric() -> None:
    k0, k90, k30 = kernels(
        3, sigma_x=3.0, sigma_y=1.0, angle=torch.tensor([0.0, math.pi / 2, math.pi / 6])
    )
    x = torch.arange(21.0) - 10
    # Wide along x at angle 0 (variance 9 vs 1), along y at 90 degrees.
    assert (k0.sum(0) * x**2).sum() > 5 * (k0.sum(1) * x**2).sum()
    torch.testing.assert_close(k90, k0.T, rtol=0, atol=1e-6)
    for kernel in (k0, k90, k30):
        assert kernel.sum().item() == pytest.approx(1, abs=1e-6)
        torch.testing.assert_close(kernel.flip(0, 1), kernel, rtol=0, atol=1e-7)
    assert (k30 - k30.T).abs().max() > 1e-3  # rotated: no longer mirror-symmetric


def test_generalized_and_plateau_kernels_differ_from_the_gaussian_as_their_shape_says() -> None:
    gaussian, generalized_1, flat, heavy, plateau = kernels(
        5, shape=torch.tensor([0, 1, 1, 1, 2]), beta=torch.tensor([1.0, 1.0, 4.0, 0.5, 2.0])
    )
    torch.testing.assert_close(generalized_1, gaussian)  # beta 1 is the Gaussian
    centre = 10
    # beta > 1: flatter top (the pixel next to the centre nearly as high as the centre);
    # beta < 1: a sharper peak and heavier tails.
    assert flat[centre, centre + 1] / flat[centre, centre] > 0.99
    assert heavy[centre, centre + 1] / heavy[centre, centre] < 0.8
    assert heavy[centre, 0] > gaussian[centre, 0]
    assert plateau.sum().item() == pytest.approx(1, abs=1e-6)


def test_sinc_kernels_sum_to_1_are_circular_and_ring() -> None:
    cutoff = torch.tensor([math.pi / 4, math.pi / 2, math.pi])
    for kernel in sinc_kernels(cutoff, torch.tensor([21, 13, 7])):
        assert kernel.sum().item() == pytest.approx(1, abs=1e-6)
        for mirrored in (kernel.flip(0), kernel.flip(1), kernel.T):
            torch.testing.assert_close(mirrored, kernel, rtol=0, atol=1e-7)
    low = sinc_kernels(cutoff[:1], torch.tensor([21]))[0]
    assert low.min() < -1e-4  # negative lobes: ringing at edges
    # pi is the Nyquist cutoff: nearly a unit pulse.
    assert sinc_kernels(cutoff[2:], torch.tensor([21]))[0, 10, 10] > 0.7


def test_sampled_kernels_sum_to_1_and_are_point_symmetric() -> None:
    generator = torch.Generator().manual_seed(0)
    sampled = RealisticDegradation()._kernels(Order(sinc_prob=0.3), 64, generator, "cpu")
    torch.testing.assert_close(sampled.sum((-2, -1)), torch.ones(64), rtol=0, atol=1e-5)
    torch.testing.assert_close(sampled.flip(-2, -1), sampled, rtol=0, atol=1e-6)


def test_kernel_families_and_shape_exponents_are_drawn_in_their_shares() -> None:
    g = torch.Generator().manual_seed(0)
    drawn = RealisticDegradation()._kernels(Order(sinc_prob=0.0), 2000, g, "cpu")
    mirrored = (drawn - drawn.flip(-1)).abs().amax((-2, -1)) < 1e-6
    # The isotropic Gaussian, generalized and plateau families: 0.45 + 0.12 + 0.12 of them.
    assert mirrored.float().mean().item() == pytest.approx(0.69, abs=0.04)
    # Generalized kernels of one sigma: beta above 1 (flat top, lower peak) half the time,
    # below 1 (sharp peak) the other half.
    generalized = Order(kernel_probs=(0, 0, 1, 0, 0, 0), blur_sigma=(2, 2), kernel_size=(21, 21))
    drawn = RealisticDegradation()._kernels(replace(generalized, sinc_prob=0.0), 400, g, "cpu")
    gaussian_peak = kernels(1)[0].max()
    assert (drawn.amax((-2, -1)) < gaussian_peak - 1e-4).float().mean().item() == pytest.approx(
        0.5, abs=0.1
    )


def test_resize_directions_and_factors_are_drawn_in_their_shares_and_ranges() -> None:
    g = torch.Generator().manual_seed(0)
    draws = [RealisticDegradation()._resize_draw(Order(), g) for _ in range(1000)]
    factors = torch.tensor([factor for factor, _ in draws])
    up, down = factors > 1, factors < 1
    assert up.float().mean().item() == pytest.approx(0.2, abs=0.04)
    assert down.float().mean().item() == pytest.approx(0.7, abs=0.04)
    assert factors[up].max() <= 1.5 and factors[down].min() >= 0.15
    assert {mode for _, mode in draws} == set(Order().resize_modes)


def test_the_pipelines_noise_is_drawn_per_image_with_its_gray_share_and_poisson_scale() -> None:
    g = torch.Generator().manual_seed(0)
    flat = torch.full((400, 3, 16, 16), 0.5)
    order = Order(noise_sigma=(1.0, 30.0), gaussian_noise_prob=1.0, gray_noise_prob=0.4)
    noise = RealisticDegradation()._noise(order, flat, g) - flat
    sigmas = noise.flatten(1).std(1) * 255
    assert sigmas.min() < 5 and sigmas.max() > 25  # one sigma per image, over (1, 30)
    gray = (noise[:, 0] == noise[:, 1]).flatten(1).all(1) & (noise[:, 1] == noise[:, 2]).flatten(
        1
    ).all(1)
    assert gray.float().mean().item() == pytest.approx(0.4, abs=0.08)
    poisson = Order(gaussian_noise_prob=0.0, poisson_scale=(2.0, 2.0), gray_noise_prob=0.0)
    noise = RealisticDegradation()._noise(poisson, flat[:8], g) - flat[:8]
    assert noise.std().item() == pytest.approx(2.0 * math.sqrt(0.5 / 256), rel=0.05)


def test_the_second_resize_is_around_the_lr_size_and_the_last_jpeg_goes_either_side_of_the_final_resize(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import srgan.degradations as module

    calls: list[tuple[str, tuple[int, int] | None]] = []
    resize, jpeg_round_trip = module.resize, module.jpeg

    def recorded_resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
        calls.append(("resize", (int(size[0]), int(size[1]))))
        return resize(x, size, mode)

    def recorded_jpeg(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
        calls.append(("jpeg", None))
        return jpeg_round_trip(x, quality)

    monkeypatch.setattr(module, "resize", recorded_resize)
    monkeypatch.setattr(module, "jpeg", recorded_jpeg)
    orders = set()
    for seed in range(12):
        calls.clear()
        RealisticDegradation()(
            photo(64, 64), scale=4, generator=torch.Generator().manual_seed(seed)
        )
        names = [name for name, _ in calls]
        assert names[:3] == ["resize", "jpeg", "resize"], names  # first order, second's resize
        assert all(16 * 0.3 - 1 <= side <= 16 * 1.2 for side in calls[2][1])  # around 16 px
        assert ("resize", (16, 16)) in calls[3:]  # the final resize: to the LR size
        orders.add(tuple(names[3:]))
    assert orders == {("resize", "jpeg"), ("jpeg", "resize")}


def test_filtering_applies_each_images_kernel() -> None:
    images = photo().expand(2, -1, -1, -1)
    pulse = torch.zeros(21, 21)
    pulse[10, 10] = 1
    blur = kernels(1, sigma_x=2.0, sigma_y=2.0)[0]
    out = filter_images(images, torch.stack([pulse, blur]))
    torch.testing.assert_close(out[0], images[0])  # the unit pulse changes nothing
    assert (out[1] - images[1]).abs().mean() > 0.005
    # A 21-px kernel on a 6-px image pads with the edge instead of failing.
    assert filter_images(images[:, :, :6, :6], torch.stack([blur, blur])).shape == (2, 3, 6, 6)


def test_filtering_keeps_the_whole_of_a_thin_kernel() -> None:
    """A kernel thin along y has zero rows but weighted columns far out (float32 underflow):
    its ends must not be cut off with the zero rows. Checked against a plain convolution."""
    images = photo(40, 40)
    for angle in (0.0, math.pi / 2):
        thin = kernels(1, sigma_x=3.0, sigma_y=0.2, angle=torch.tensor([angle]))
        padded = torch.nn.functional.pad(images, [10] * 4, mode="reflect")
        expected = torch.nn.functional.conv2d(padded, thin[:, None].expand(3, 1, -1, -1), groups=3)
        torch.testing.assert_close(filter_images(images, thin), expected, rtol=0, atol=1e-5)


# -- noise -------------------------------------------------------------------------------------
def test_gaussian_noise_has_the_configured_sigma_and_gray_noise_is_shared() -> None:
    images = torch.full((2, 3, 128, 128), 0.5)
    sigma = torch.tensor([5.0, 20.0]) / 255
    gray = torch.tensor([False, True])
    noise = gaussian_noise(images, sigma, gray, torch.Generator().manual_seed(0))
    for i in range(2):
        assert noise[i].std().item() == pytest.approx(sigma[i].item(), rel=0.03)
        assert noise[i].mean().abs().item() < 0.05 * sigma[i].item()
    assert torch.equal(noise[1, 0], noise[1, 2])  # gray: one field for every channel
    assert (noise[0, 0] - noise[0, 1]).abs().mean() > 0  # colour: one per channel


def test_the_pipelines_noise_stage_draws_sigma_in_8_bit_levels() -> None:
    flat = torch.full((2, 3, 128, 128), 0.5)
    order = Order(noise_sigma=(10.0, 10.0), gaussian_noise_prob=1.0, gray_noise_prob=0.0)
    noisy = RealisticDegradation()._noise(order, flat, torch.Generator().manual_seed(0))
    assert (noisy - flat).std().item() * 255 == pytest.approx(10, rel=0.03)


def test_poisson_noise_variance_follows_the_intensity() -> None:
    images = torch.cat([torch.full((1, 3, 128, 128), v) for v in (0.1, 0.8)])
    scale = torch.tensor([2.0, 2.0])
    noise = poisson_noise(images, scale, torch.tensor([False, True]), torch.Generator())
    for i, level in enumerate((0.1, 0.8)):
        expected = 2.0 * math.sqrt(level / 256)  # Poisson: variance = mean, in counts
        assert noise[i].std().item() == pytest.approx(expected, rel=0.05)
    assert torch.equal(noise[1, 0], noise[1, 1])


# -- JPEG ---------------------------------------------------------------------------------------
def pillow_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer))


@pytest.mark.parametrize("quality", [30, 60, 90])
def test_jpeg_is_pillows_codec_exactly(quality: int) -> None:
    """The JPEG stage is Pillow's encoder and decoder: it matches them bit for bit
    (PSNR infinite), for colour and gray images, and costs what JPEG costs."""
    images = torch.cat([photo(48, 40, seed) for seed in range(2)])
    out = jpeg(images, [quality, quality])
    for i in range(2):
        pixels = (images[i] * 255).round().byte().permute(1, 2, 0).numpy()
        expected = pillow_round_trip(pixels, quality)
        np.testing.assert_array_equal((out[i] * 255).round().byte().permute(1, 2, 0), expected)
    gray = images[:1, :1]
    expected = pillow_round_trip((gray[0, 0] * 255).round().byte().numpy(), quality)
    np.testing.assert_array_equal((jpeg(gray, [quality])[0, 0] * 255).round().byte(), expected)
    assert on_8_bit_grid(out) and out.dtype == images.dtype


def test_jpeg_quality_orders_the_loss_and_is_per_image() -> None:
    image = photo(64, 64)
    scores = [psnr(jpeg(image, [q]), image, crop_border=0).item() for q in (30, 60, 90)]
    assert scores[0] < scores[1] < scores[2] < 50
    both = jpeg(image.expand(2, -1, -1, -1), [30, 90])
    torch.testing.assert_close(both[0:1], jpeg(image, [30]))
    torch.testing.assert_close(both[1:2], jpeg(image, [90]))


# -- the pipelines ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("size", "scale"), [(48, 4), (32, 2), (16, 4)])
def test_realistic_lr_is_shaped_in_range_and_8_bit(size: int, scale: int) -> None:
    hr = torch.cat([photo(size, size, seed) for seed in range(3)])
    degradation = RealisticDegradation()
    for seed in range(6):  # several draws: both final orders, several resize modes
        lr = degradation(hr, scale=scale, generator=torch.Generator().manual_seed(seed))
        assert lr.shape == (3, 3, size // scale, size // scale) and lr.dtype == torch.float32
        assert 0 <= lr.min() and lr.max() <= 1 and on_8_bit_grid(lr)


def test_same_seed_same_lr_other_seed_other_lr() -> None:
    hr = torch.cat([photo(32, 32, seed) for seed in range(2)])
    degradation = RealisticDegradation()

    def draw(seed: int) -> torch.Tensor:
        return degradation(hr, scale=4, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(draw(7), draw(7))
    assert not torch.equal(draw(7), draw(8))
    torch.manual_seed(3)
    a = degradation(hr, scale=4)  # without a generator: torch's global one
    torch.manual_seed(3)
    assert torch.equal(a, degradation(hr, scale=4))


def test_realistic_lr_is_degraded_more_than_bicubic() -> None:
    hr = torch.cat([photo(64, 64, seed) for seed in range(4)])
    lr = RealisticDegradation()(hr, scale=4, generator=torch.Generator().manual_seed(0))
    clean = Bicubic()(hr, scale=4)
    assert psnr(lr, clean, crop_border=0).mean() < 35


def test_stages_can_be_switched_off() -> None:
    """With no blur, no resize, (almost) no noise and JPEG 95 in both orders, no sinc and an
    area resize, the LR is close to area downsampling."""
    quiet = Order(
        blur_prob=0.0,
        resize_probs=(0.0, 0.0, 1.0),
        noise_sigma=(0.0, 0.0),
        poisson_scale=(0.0, 0.0),
        gaussian_noise_prob=1.0,
        jpeg_quality=(95, 95),
    )
    degradation = RealisticDegradation(
        first=quiet, second=quiet, final_sinc_prob=0.0, final_resize_modes=("area",)
    )
    hr = photo(64, 64)
    lr = degradation(hr, scale=4, generator=torch.Generator().manual_seed(0))
    area = torch.nn.functional.avg_pool2d(hr, 4)
    assert psnr(lr, area, crop_border=0).item() > 38


def test_bicubic_prob_gives_that_share_of_images_the_clean_lr() -> None:
    hr = torch.cat([photo(32, 32, seed) for seed in range(64)])
    clean = Bicubic()(hr, scale=4)
    generator = torch.Generator().manual_seed(0)
    lr = RealisticDegradation(bicubic_prob=0.25)(hr, scale=4, generator=generator)
    same = (lr == clean).flatten(1).all(1).float().mean().item()
    assert 0.1 < same < 0.4
    always = RealisticDegradation(bicubic_prob=1.0)(hr[:2], scale=4)
    torch.testing.assert_close(always, clean[:2])


@pytest.mark.parametrize("name", list(SEVERITIES))
def test_classic_degradation_at_one_point_is_the_benchmark_chain(name: str) -> None:
    """Ranges of one value give the fixed chain's blur, resize and JPEG exactly (the noise
    draws differ: here per image from the generator, there seeded by the image's name)."""
    severity = SEVERITIES[name]
    hr = torch.cat([photo(64, 48, seed) for seed in range(3)])
    degradation = ClassicDegradation(
        blur_prob=1.0,
        blur_sigma=(severity.blur_sigma,) * 2,
        noise_sigma=(0.0, 0.0),
        jpeg_quality=(severity.jpeg_quality,) * 2,
    )
    fixed = degrade_fixed(
        hr, scale=4, severity=Severity(severity.blur_sigma, 0.0, severity.jpeg_quality)
    )
    assert torch.equal(degradation(hr, scale=4), fixed.float())


def test_classic_noise_has_the_configured_sigma_and_stages_switch_off() -> None:
    flat = torch.full((8, 1, 128, 128), 0.5)
    noisy = ClassicDegradation(blur_prob=0.0, noise_sigma=(6.0, 6.0), jpeg_quality=(95, 95))
    lr = noisy(flat, scale=2, generator=torch.Generator().manual_seed(0))
    assert lr.shape == (8, 1, 64, 64) and on_8_bit_grid(lr)
    assert 5.5 < (lr - 0.5).std().item() * 255 < 7.0  # quantised, through JPEG 95
    hr = photo(64, 64)
    quiet = ClassicDegradation(blur_prob=0.0, noise_sigma=(0.0, 0.0), jpeg_quality=(95, 95))
    clean = Bicubic()(hr, scale=4)
    assert psnr(quiet(hr, scale=4), clean, crop_border=0).item() > 40
    blurred = ClassicDegradation(blur_sigma=(3.0, 3.0), blur_prob=1.0, noise_sigma=(0.0, 0.0))
    assert psnr(blurred(hr, scale=4), clean, crop_border=0).item() < 35


def test_classic_degradation_is_seeded_and_draws_per_image() -> None:
    hr = photo(48, 48).expand(6, -1, -1, -1).contiguous()
    degradation = ClassicDegradation()

    def draw(seed: int) -> torch.Tensor:
        return degradation(hr, scale=4, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(draw(1), draw(1)) and not torch.equal(draw(1), draw(2))
    lr = draw(1)
    assert not any(torch.equal(lr[0], lr[i]) for i in range(1, 6))  # the same image, six LRs


def test_classic_opencv_resize_takes_its_share_of_the_images_in_each_mode() -> None:
    """A drawn share of the images is resized as cv2.resize does (each mode drawn), the
    rest by MATLAB's bicubic; the noise and JPEG follow either way."""
    rng = np.random.default_rng(3)
    hr = torch.from_numpy(rng.integers(0, 256, (48, 3, 32, 32)) / 255).float()  # aliases
    quiet = dict(blur_prob=0.0, noise_sigma=(0.0, 0.0), jpeg_quality=(90, 90))
    q90 = torch.full((48,), 90)
    matlab = jpeg(Bicubic()(hr, scale=4), q90)
    opencv = {mode: jpeg(Interpolated(mode)(hr, scale=4), q90) for mode in ("bicubic", "area")}
    mixed = ClassicDegradation(
        **quiet, opencv_resize_prob=0.5, opencv_resize_modes=("bicubic", "area")
    )(hr, scale=4, generator=torch.Generator().manual_seed(0))
    made_by = [
        [name for name, lr in [("matlab", matlab), *opencv.items()] if torch.equal(mixed[i], lr[i])]
        for i in range(48)
    ]
    assert all(len(names) == 1 for names in made_by)
    counts = {
        name: sum(names == [name] for names in made_by) for name in ("matlab", "bicubic", "area")
    }
    assert 14 <= counts["matlab"] <= 34 and counts["bicubic"] >= 5 and counts["area"] >= 5
    assert torch.equal(ClassicDegradation(**quiet)(hr, scale=4), matlab)  # the default: none
    with pytest.raises(ValueError, match="opencv_resize_prob must be a probability"):
        ClassicDegradation(opencv_resize_prob=1.5)
    for modes in [(), ("nearest",)]:
        with pytest.raises(ValueError, match="opencv_resize_modes must name"):
            ClassicDegradation(opencv_resize_modes=modes)


def test_mixture_gives_each_component_its_share_of_the_images() -> None:
    hr = torch.cat([photo(32, 32, seed) for seed in range(64)])
    clean = Bicubic()(hr, scale=4)
    dark = Mixture([Bicubic(), ClassicDegradation(jpeg_quality=(10, 10))], [3.0, 1.0])
    lr = dark(hr, scale=4, generator=torch.Generator().manual_seed(0))
    assert lr.shape == clean.shape and on_8_bit_grid(lr)
    same = (lr == clean).flatten(1).all(1).float().mean().item()
    assert 0.6 < same < 0.9
    only = Mixture([ClassicDegradation(), Bicubic()], [1.0, 0.0])
    assert not (only(hr, scale=4) == clean).flatten(1).all(1).any()
    with pytest.raises(ValueError, match="one weight per component"):
        Mixture([Bicubic()], [0.5, 0.5])
    with pytest.raises(ValueError, match="positive sum"):
        Mixture([Bicubic()], [0.0])


def test_bicubic_is_the_benchmark_lr() -> None:
    hr = photo(40, 48)
    torch.testing.assert_close(Bicubic()(hr, scale=4), imresize(hr, 0.25, quantize=True))


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="kernel_probs"):
        Order(kernel_probs=(0.5, 0.5, 0.5, 0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="noise_sigma"):
        Order(noise_sigma=(10.0, 1.0))
    with pytest.raises(ValueError, match="jpeg_quality"):
        Order(jpeg_quality=(30, 100))
    with pytest.raises(ValueError, match="resize_modes"):
        Order(resize_modes=("nearest",))
    for size in [(2, 4), (7, 23)]:  # even sizes drew larger ones; 23 was cut to 21
        with pytest.raises(ValueError, match="kernel_size must be odd sizes"):
            Order(kernel_size=size)
        with pytest.raises(ValueError, match="final_kernel_size must be odd sizes"):
            RealisticDegradation(final_kernel_size=size)
    with pytest.raises(ValueError, match="final_resize_modes"):
        RealisticDegradation(final_resize_modes=("nearest",))
    with pytest.raises(ValueError, match="final_sinc_prob"):
        RealisticDegradation(final_sinc_prob=1.5)
    with pytest.raises(ValueError, match="bicubic_prob"):
        RealisticDegradation(bicubic_prob=-0.1)
    with pytest.raises(ValueError, match="blur_sigma"):
        ClassicDegradation(blur_sigma=(0.5, 4.0))  # wider than the largest kernel holds
    with pytest.raises(ValueError, match="noise_sigma"):
        ClassicDegradation(noise_sigma=(5.0, 1.0))
    with pytest.raises(ValueError, match="jpeg_quality"):
        ClassicDegradation(jpeg_quality=(30, 100))
    with pytest.raises(ValueError, match="gray_noise_prob"):
        ClassicDegradation(gray_noise_prob=2.0)


# -- sharpened targets --------------------------------------------------------------------------------
def test_usm_sharpens_edges_and_leaves_flat_regions_and_faint_texture() -> None:
    flat = torch.full((1, 3, 64, 64), 0.4)
    torch.testing.assert_close(usm_sharpen(flat), flat)
    edge = torch.full((1, 3, 64, 64), 0.3)
    edge[..., 32:] = 0.7
    sharp = usm_sharpen(edge)
    assert sharp[..., 31].mean() < 0.3 - 0.02 and sharp[..., 32].mean() > 0.7 + 0.02
    assert 0 <= sharp.min() and sharp.max() <= 1
    faint = 0.5 + 0.005 * torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(usm_sharpen(faint), faint)  # below 10 levels: untouched


def test_usm_is_real_esrgans_with_opencvs_51_px_gaussian() -> None:
    """Real-ESRGAN's USMSharp, written with OpenCV: the blur is cv2.GaussianBlur at 51 px
    (sigma 8, reflected borders), the mask's threshold 10 levels, the weight 0.5."""
    import cv2

    image = photo(64, 64)[0].permute(1, 2, 0).numpy()
    blurred = cv2.GaussianBlur(image, (51, 51), 0, borderType=cv2.BORDER_REFLECT_101)
    residual = image - blurred
    mask = (np.abs(residual) * 255 > 10).astype(np.float32)
    soft = cv2.GaussianBlur(mask, (51, 51), 0, borderType=cv2.BORDER_REFLECT_101)
    expected = soft * np.clip(image + 0.5 * residual, 0, 1) + (1 - soft) * image
    sharp = usm_sharpen(photo(64, 64))[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(sharp, expected, atol=1e-5)


# -- the benchmark's fixed chains -------------------------------------------------------------------
def hr_array(height: int = 50, width: int = 62) -> np.ndarray:
    return smooth_image(np.random.default_rng(1), height, width)


def test_bicubic_profile_is_the_benchmark_pair() -> None:
    image = hr_array()
    for got, expected in zip(degraded_pair(image, 4, "bicubic"), benchmark_pair(image, 4)):
        np.testing.assert_array_equal(got, expected)


def test_profiles_are_fixed_seeded_by_name_and_ordered_by_severity() -> None:
    image = hr_array(64, 64)
    assert PROFILES == ("bicubic", "light", "medium", "heavy", *DOWNSCALERS, *PILLOW_DOWNSCALERS)
    scores = []
    for profile in ("bicubic", *SEVERITIES):
        lr, hr = degraded_pair(image, 4, profile, name="img")
        assert lr.dtype == np.uint8 and lr.shape == (16, 16, 3) and hr.shape == (64, 64, 3)
        again, _ = degraded_pair(image, 4, profile, name="img")
        np.testing.assert_array_equal(lr, again)  # once per (image, profile): always this LR
        if profile != "bicubic":
            other, _ = degraded_pair(image, 4, profile, name="another")
            assert (other != lr).any()  # the noise follows the name
        clean, _ = benchmark_pair(image, 4)
        as_batch = [torch.tensor(t).permute(2, 0, 1)[None].double() / 255 for t in (lr, clean)]
        scores.append(psnr(*as_batch, crop_border=0).item())
    assert scores[0] == math.inf and scores[1] > scores[2] > scores[3]
    assert name_seed("img") == name_seed("img") != name_seed("img2")
    with pytest.raises(ValueError, match="unknown degradation profile"):
        degraded_pair(image, 4, "extreme")


def test_fixed_chain_stages_in_order() -> None:
    """Blur, then the benchmark bicubic, then noise, then JPEG: with the noise off the chain
    is JPEG(bicubic(blur(hr))); the noise has the stated sigma (seen through a JPEG at 95
    of a flat gray image, which keeps it within a few percent)."""
    hr = photo(48, 48).double()
    chain = Severity(blur_sigma=1.5, noise_sigma=0.0, jpeg_quality=75)
    blurred = kornia.filters.gaussian_blur2d(hr, (11, 11), (1.5, 1.5), border_type="reflect")
    expected = jpeg(imresize(blurred, 0.25, quantize=True), [75])
    torch.testing.assert_close(degrade_fixed(hr, scale=4, severity=chain), expected)
    flat = torch.full((1, 1, 256, 256), 0.5, dtype=torch.float64)
    noisy = degrade_fixed(
        flat, scale=1, severity=Severity(blur_sigma=0, noise_sigma=8, jpeg_quality=95)
    )
    assert noisy.std().item() * 255 == pytest.approx(8, rel=0.1)


def test_gray_images_stay_gray() -> None:
    image = hr_array()[..., :1]
    lr, hr = degraded_pair(image, 4, "medium", name="bridge")
    assert lr.shape == (12, 15, 1) and hr.shape == (48, 60, 1)


def test_severities_are_listed_in_the_order_blur_noise_jpeg() -> None:
    for severity in SEVERITIES.values():
        assert list(vars(severity)) == ["blur_sigma", "noise_sigma", "jpeg_quality"]
    medium = SEVERITIES["medium"].describe(4)
    assert (
        medium.index("blur")
        < medium.index("bicubic")
        < medium.index("noise")
        < medium.index("JPEG")
    )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_realistic_degradation_runs_on_the_gpu_with_a_gpu_generator() -> None:
    hr = torch.cat([photo(64, 64, seed) for seed in range(4)]).cuda()
    degradation = RealisticDegradation(bicubic_prob=0.2)

    def draw(seed: int) -> torch.Tensor:
        generator = torch.Generator("cuda").manual_seed(seed)
        return degradation(usm_sharpen(hr), scale=4, generator=generator)

    lr = draw(0)
    assert lr.device.type == "cuda" and lr.shape == (4, 3, 16, 16) and on_8_bit_grid(lr)
    assert torch.equal(lr, draw(0)) and not torch.equal(lr, draw(1))


@pytest.mark.parametrize(
    "degradation",
    [Bicubic(), ClassicDegradation(), RealisticDegradation(), Mixture([Bicubic()], [1])],
    ids=["bicubic", "classic", "realistic", "mixture"],
)
def test_what_a_degradation_cannot_take_is_said(degradation: torch.nn.Module) -> None:
    """Sides that are not multiples of the scale gave three LR sizes (9, 9 and 8 for 33 at
    x4) and a torch error in a Mixture; 0..255 or integer pixels a saturated LR."""
    for hr, says in [
        (torch.rand(2, 3, 33, 36), r"HR sides \(33, 36\) must be multiples of scale 4"),
        (torch.rand(2, 3, 32, 32) * 255, "taken in \\[0, 1\\], and these reach"),
        (torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8), "floats in \\[0, 1\\]"),
    ]:
        with pytest.raises(ValueError, match=says):
            degradation(hr, scale=4)


def test_ranges_must_be_pairs_and_orders_may_be_mappings() -> None:
    with pytest.raises(ValueError, match="jpeg_quality must be a \\(low, high\\) pair"):
        ClassicDegradation(jpeg_quality=50)
    with pytest.raises(ValueError, match="noise_sigma must be a \\(low, high\\) pair"):
        Order(noise_sigma="1-5")
    built = RealisticDegradation(first={"blur_sigma": (0.2, 1.0)})
    assert built.first == Order(blur_sigma=(0.2, 1.0))
    with pytest.raises(TypeError, match="second must be an Order"):
        RealisticDegradation(second=3)


@pytest.mark.parametrize(
    ("mode", "profile"),
    [("bicubic", "opencv-cubic"), ("bilinear", "opencv-linear"), ("area", "opencv-area")],
)
def test_interpolated_training_lr_is_opencvs_resize(mode: str, profile: str) -> None:
    """What trains for OpenCV's LR (on the device, batched) makes the LR the benchmark
    profile makes with cv2.resize itself, to within one 8-bit level."""
    rng = np.random.default_rng(0)
    hr = smooth_image(rng, 64, 48)
    hr[10:30, 8:40] = rng.integers(0, 256, (20, 32, 3))  # detail finer than the LR grid
    lr, cropped = degraded_pair(hr, 4, profile)
    batch = torch.from_numpy(cropped.copy()).permute(2, 0, 1)[None].float() / 255
    made = Interpolated(mode)(batch, scale=4)
    assert made.shape == (1, 3, 16, 12)
    ours = (made[0].permute(1, 2, 0) * 255).round().numpy().astype(int)
    assert np.abs(ours - lr.astype(int)).max() <= 1
    # And it differs from the benchmark's antialiased bicubic where it aliases.
    if mode != "area":
        assert np.abs(lr.astype(int) - benchmark_pair(hr, 4)[0].astype(int)).max() > 20


def test_opencv_profiles_keep_gray_images_and_name_their_resize() -> None:
    gray = smooth_image(np.random.default_rng(1), 20, 16)[..., :1]
    lr, hr = degraded_pair(gray, 4, "opencv-cubic")
    assert lr.shape == (5, 4, 1) and hr.shape == (20, 16, 1)
    assert set(DOWNSCALERS) <= set(PROFILES)
    assert "INTER_AREA" in describe_profile("opencv-area", 4)
    assert profile_record("opencv-linear") == {"opencv_interpolation": "INTER_LINEAR"}
    with pytest.raises(ValueError, match="mode must be area, bilinear or bicubic"):
        Interpolated("nearest")  # type: ignore[arg-type]


@pytest.mark.parametrize("profile", sorted(PILLOW_DOWNSCALERS))
def test_pillow_profiles_are_pillows_resize_and_keep_gray(profile: str) -> None:
    from PIL import Image

    rng = np.random.default_rng(2)
    hr = smooth_image(rng, 66, 50)  # cropped to 64 x 48 first
    hr[10:30, 8:40] = rng.integers(0, 256, (20, 32, 3))
    lr, cropped = degraded_pair(hr, 4, profile)
    assert cropped.shape == (64, 48, 3) and lr.shape == (16, 12, 3) and lr.dtype == np.uint8
    filter_ = getattr(Image.Resampling, PILLOW_DOWNSCALERS[profile])
    expected = np.asarray(Image.fromarray(cropped).resize((12, 16), filter_))
    np.testing.assert_array_equal(lr, expected)
    gray, _ = degraded_pair(hr[..., :1], 4, profile)
    np.testing.assert_array_equal(gray[..., 0], lr[..., 0])
    assert PILLOW_DOWNSCALERS[profile] in describe_profile(profile, 4)
    assert profile_record(profile) == {"pillow_filter": PILLOW_DOWNSCALERS[profile]}


def test_every_profile_is_a_validation_choice() -> None:
    import typing

    from srgan.data import SRDataModule

    hints = typing.get_type_hints(SRDataModule.__init__)
    assert typing.get_args(hints["val_degradation"]) == PROFILES
