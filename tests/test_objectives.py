from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srgan import objectives
from srgan.fit import subclass_names
from srgan.objectives import (
    Hinge,
    LeastSquares,
    MaxSurprise,
    Minimax,
    NonSaturating,
    Relativistic,
    RelativisticAverage,
    WassersteinGP,
    smooth_max,
)

REAL = torch.tensor([[2.0], [-1.0]], dtype=torch.float64)
FAKE = torch.tensor([[0.5], [-0.5]], dtype=torch.float64)

# Every objective class, all generations (as the command line offers them).
OBJECTIVES = {
    name: getattr(objectives, name) for name in subclass_names(objectives.AdversarialObjective)
}


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


# (objective, expected d_loss, expected g_loss) on REAL / FAKE, worked out by hand:
HAND = [
    (
        Minimax(),
        (softplus(-2) + softplus(1)) / 2 + (softplus(0.5) + softplus(-0.5)) / 2,
        -(softplus(0.5) + softplus(-0.5)) / 2,
    ),
    (
        NonSaturating(),
        (softplus(-2) + softplus(1)) / 2 + (softplus(0.5) + softplus(-0.5)) / 2,
        (softplus(-0.5) + softplus(0.5)) / 2,
    ),
    (LeastSquares(), 0.5 * (1 + 4) / 2 + 0.5 * (0.25 + 0.25) / 2, 0.5 * (0.25 + 2.25) / 2),
    (Hinge(), (0 + 2) / 2 + (1.5 + 0.5) / 2, 0.0),
    (WassersteinGP(), 0.0 - 0.5, 0.0),
    (Relativistic(), (softplus(-1.5) + softplus(0.5)) / 2, (softplus(1.5) + softplus(-0.5)) / 2),
    # RaGAN: mean(fake) = 0, mean(real) = 0.5, so real_rel = [2, -1], fake_rel = [0, -1].
    (
        RelativisticAverage(),
        0.5 * ((softplus(-2) + softplus(1)) / 2 + (softplus(0) + softplus(-1)) / 2),
        0.5 * ((softplus(2) + softplus(-1)) / 2 + (softplus(0) + softplus(1)) / 2),
    ),
]


@pytest.mark.parametrize(
    ("objective", "d_expected", "g_expected"), HAND, ids=lambda v: type(v).__name__
)
def test_hand_computed_values(objective: nn.Module, d_expected: float, g_expected: float) -> None:
    assert objective.d_loss(REAL, FAKE).item() == pytest.approx(d_expected, abs=1e-12)
    assert objective.g_loss(REAL, FAKE).item() == pytest.approx(g_expected, abs=1e-12)


def test_known_numbers() -> None:
    # The same cases as plain numbers, in case the formulas above share a mistake.
    assert Minimax().d_loss(REAL, FAKE).item() == pytest.approx(1.444172, abs=1e-6)
    assert RelativisticAverage().d_loss(REAL, FAKE).item() == pytest.approx(0.611650, abs=1e-6)
    assert RelativisticAverage().g_loss(REAL, FAKE).item() == pytest.approx(1.111650, abs=1e-6)


def test_label_smoothing_targets_real_samples_only() -> None:
    real = torch.tensor([3.0], dtype=torch.float64)
    fake = torch.tensor([-3.0], dtype=torch.float64)
    smoothed = Minimax(real_label=0.9).d_loss(real, fake).item()
    bce_real = -(
        0.9 * math.log(1 / (1 + math.exp(-3))) + 0.1 * math.log(1 - 1 / (1 + math.exp(-3)))
    )
    assert smoothed == pytest.approx(bce_real + softplus(-3), abs=1e-12)


ALL = [
    Minimax(),
    NonSaturating(),
    LeastSquares(),
    Hinge(),
    WassersteinGP(),
    Relativistic(),
    RelativisticAverage(),
    MaxSurprise(),
    MaxSurprise(relativistic=True),
    MaxSurprise(tau=0.1, pool="element"),
]


@pytest.mark.parametrize(
    "objective",
    ALL,
    ids=lambda o: type(o).__name__ + ("_rel" if getattr(o, "relativistic", False) else ""),
)
def test_gradients_move_each_player_the_right_way(objective: nn.Module) -> None:
    # Real logits in (-0.9, 0.9), fake in (0.05, 0.9): away from the hinge margins and on
    # the side of LSGAN's fake target (0) where D must lower them.
    real = (torch.rand(6, 1, dtype=torch.float64) * 1.8 - 0.9).requires_grad_()
    fake = (torch.rand(6, 1, dtype=torch.float64) * 0.85 + 0.05).requires_grad_()
    d_real, d_fake = torch.autograd.grad(objective.d_loss(real, fake), (real, fake))
    # D lowers its loss by raising real logits and lowering fake ones.
    assert (d_real <= 1e-12).all() and (d_real < 0).any()
    assert (d_fake >= -1e-12).all() and (d_fake > 0).any()
    g_real, g_fake = torch.autograd.grad(
        objective.g_loss(real, fake), (real, fake), allow_unused=True, materialize_grads=True
    )
    # G lowers its loss by raising the fake logits (and, relativistic, by lowering the real ones).
    assert (g_fake <= 1e-12).all() and (g_fake < 0).any()
    assert (g_real >= -1e-12).all()


def test_wgan_gp_penalty_zero_for_unit_linear_critic_positive_otherwise() -> None:
    torch.manual_seed(0)
    real, fake = (
        torch.rand(4, 3, 4, 4, dtype=torch.float64),
        torch.rand(4, 3, 4, 4, dtype=torch.float64),
    )
    linear = nn.Linear(48, 1, bias=False).double()
    with torch.no_grad():
        linear.weight /= linear.weight.norm()
    critic = nn.Sequential(nn.Flatten(), linear)
    objective = WassersteinGP()
    assert objective.penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        linear.weight *= 2
    assert objective.penalty(critic, real, fake).item() == pytest.approx(10.0, rel=1e-9)
    nonlinear = nn.Sequential(
        nn.Flatten(), nn.Linear(48, 8).double(), nn.Tanh(), nn.Linear(8, 1).double()
    )
    assert objective.penalty(nonlinear, real, fake).item() > 0


def test_only_wgan_gp_has_a_penalty() -> None:
    critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
    x = torch.rand(2, 3, 2, 2)
    assert all(o.penalty(critic, x, x) is None for o in ALL if not isinstance(o, WassersteinGP))


# -- MaxSurprise ---------------------------------------------------------------------------
def logits(*shape: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return (
        torch.randn(*shape, generator=g, dtype=torch.float64) * 2,
        torch.randn(*shape, generator=g, dtype=torch.float64) * 2,
    )


@pytest.mark.parametrize("shape", [(8,), (8, 1)])
def test_max_surprise_large_tau_is_non_saturating(shape: tuple[int, ...]) -> None:
    real, fake = logits(*shape)
    ms = MaxSurprise(tau=1e6)
    assert ms.d_loss(real, fake).item() == pytest.approx(
        NonSaturating().d_loss(real, fake).item(), abs=1e-5
    )
    assert ms.d_loss(real, fake).item() == pytest.approx(
        Minimax().d_loss(real, fake).item(), abs=1e-5
    )
    assert ms.g_loss(real, fake).item() == pytest.approx(
        NonSaturating().g_loss(real, fake).item(), abs=1e-5
    )


@pytest.mark.parametrize("shape", [(8,), (8, 1)])
def test_relativistic_max_surprise_large_tau_is_ragan(shape: tuple[int, ...]) -> None:
    real, fake = logits(*shape)
    ms = MaxSurprise(tau=1e6, relativistic=True)
    ra = RelativisticAverage()
    assert ms.d_loss(real, fake).item() == pytest.approx(ra.d_loss(real, fake).item(), abs=1e-5)
    assert ms.g_loss(real, fake).item() == pytest.approx(ra.g_loss(real, fake).item(), abs=1e-5)


@pytest.mark.parametrize("relativistic", [False, True])
def test_max_surprise_element_pooling_limit_on_spatial_logits(relativistic: bool) -> None:
    real, fake = logits(4, 1, 5, 6)
    ms = MaxSurprise(tau=1e6, pool="element", relativistic=relativistic)
    ref = RelativisticAverage() if relativistic else NonSaturating()
    assert ms.d_loss(real, fake).item() == pytest.approx(ref.d_loss(real, fake).item(), abs=1e-5)
    assert ms.g_loss(real, fake).item() == pytest.approx(ref.g_loss(real, fake).item(), abs=1e-5)


def test_max_surprise_sample_pooling_averages_spatial_logits_per_image() -> None:
    real, fake = logits(4, 1, 5, 6)
    ms = MaxSurprise(tau=1e6, pool="sample")
    real_means, fake_means = real.flatten(1).mean(1), fake.flatten(1).mean(1)
    assert ms.d_loss(real, fake).item() == pytest.approx(
        NonSaturating().d_loss(real_means, fake_means).item(), abs=1e-5
    )
    assert ms.g_loss(real, fake).item() == pytest.approx(
        NonSaturating().g_loss(real_means, fake_means).item(), abs=1e-5
    )


def test_max_surprise_small_tau_approaches_the_worst_sample_and_stays_finite() -> None:
    real = torch.tensor([60.0, -40.0, 3.0, 0.0], dtype=torch.float64)
    fake = torch.tensor([-60.0, 55.0, -2.0, 1.0], dtype=torch.float64)
    ms = MaxSurprise(tau=1e-3)
    d, g = ms.d_loss(real, fake), ms.g_loss(real, fake)
    assert torch.isfinite(d) and torch.isfinite(g)
    worst_real = softplus(40.0)  # -log D(x) of the real sample with logit -40
    worst_fake = softplus(55.0)  # -log(1 - D) of the fake sample with logit 55
    # smooth_max is within tau * log(N) of the max.
    slack = 1e-3 * math.log(4)
    assert d.item() == pytest.approx(worst_real + worst_fake, abs=2 * slack)
    assert g.item() == pytest.approx(
        softplus(60.0), abs=slack
    )  # fake with logit -60 is caught hardest
    assert torch.isfinite(
        torch.autograd.functional.jacobian(lambda f: ms.g_loss(real, f), fake)
    ).all()


def test_smooth_max_lies_between_mean_and_max() -> None:
    values = torch.tensor([0.1, 0.5, 3.0, -1.0], dtype=torch.float64)
    for tau in (0.01, 0.3, 1.0, 10.0):
        s = smooth_max(values, tau).item()
        assert values.mean().item() <= s <= values.max().item()


def test_smooth_max_of_float32_values_is_accurate_at_every_tau() -> None:
    # Surprises spread far beyond tau (a large pool) and a tau far beyond them, where
    # float32 arithmetic lost the mean to cancellation (0.95 for 0.75 at tau = 1e6).
    generator = torch.Generator().manual_seed(0)
    values = F.softplus(-3 * torch.randn(1 << 16, generator=generator))
    for tau in (0.01, 0.5, 1.0, 1e4, 1e6, 1e8):
        exact = tau * (torch.logsumexp(values.double() / tau, 0) - math.log(values.numel()))
        got = smooth_max(values, tau)
        assert got.dtype == torch.float32
        assert got.item() == pytest.approx(exact.item(), rel=1e-6), tau


def test_max_surprise_rejects_bad_settings() -> None:
    for tau in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="tau must be a positive finite number"):
            MaxSurprise(tau=tau)
    with pytest.raises(ValueError, match="pool"):
        MaxSurprise(pool="pixel")
    with pytest.raises(ValueError, match="alpha must be 0 or more"):
        MaxSurprise(alpha=-1)


def test_weights_and_labels_that_turn_an_objective_around_are_refused() -> None:
    """A negative penalty rewards gradient norms far from 1; a cross-entropy target above 1
    (or at 0) means nothing."""
    for weight in (-5.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="gradient_penalty must be 0 or more"):
            objectives.WassersteinGP(gradient_penalty=weight)
    cross_entropy = [
        objectives.Minimax,
        objectives.NonSaturating,
        objectives.Relativistic,
        objectives.RelativisticAverage,
        MaxSurprise,
    ]
    for objective in cross_entropy:
        for label in (0.0, 1.5, float("nan")):
            with pytest.raises(ValueError, match="real_label must be above 0 and at most 1"):
                objective(real_label=label)
        assert objective(real_label=0.9).real_label == 0.9
    # LSGAN's target is a distance's: any finite value.
    assert objectives.LeastSquares(real_label=2.0).real_label == 2.0


def test_name_map_lists_every_required_objective() -> None:
    assert {
        "Minimax",
        "NonSaturating",
        "LeastSquares",
        "Hinge",
        "WassersteinGP",
        "Relativistic",
        "RelativisticAverage",
        "MaxSurprise",
    } <= set(OBJECTIVES)


def test_wgan_gp_penalises_the_per_image_mean_of_a_per_pixel_critic() -> None:
    """A per-pixel critic whose per-image mean logit is 1-Lipschitz gets no penalty (the
    penalty once differentiated the logit sum: Lipschitz 1/(H*W) asked, 650,250 here)."""
    torch.manual_seed(0)
    h = w = 8
    direction = torch.randn(3, h, w)
    direction = direction / direction.norm()

    class PerPixel(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            # (B, 1, H, W) logits whose per-image mean is <direction, x>, unit gradient.
            mean = (x * direction).flatten(1).sum(1)
            return mean.view(-1, 1, 1, 1).expand(-1, 1, h, w).contiguous()

    real, fake = torch.rand(4, 3, h, w), torch.rand(4, 3, h, w)
    penalty = WassersteinGP(gradient_penalty=10.0).penalty(PerPixel(), real, fake)
    assert penalty.item() == pytest.approx(0.0, abs=1e-8)


def test_wgan_gp_penalty_under_fp16_takes_the_runs_loss_scale() -> None:
    """Under fp16 autocast a per-pixel critic's gradient, 1/N per logit, flushes to zero
    for N above 2**25, so without the loss scale the penalty saw a zero gradient."""
    torch.manual_seed(0)
    # 36 M logits: one per 750x750 block of a linear critic on 8x8 images.
    critic = nn.Sequential(nn.Conv2d(3, 1, 1, bias=False), nn.Upsample(scale_factor=750))
    with torch.no_grad():  # the per-image mean logit has gradient norm 3 (penalty 40)
        critic[0].weight.copy_(torch.tensor([8.0, 16.0, 16.0]).view(1, 3, 1, 1))
    real, fake = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    objective = WassersteinGP(gradient_penalty=10.0)
    exact = objective.penalty(critic, real, fake).item()
    assert exact == pytest.approx(40.0, rel=0.05)
    with torch.autocast("cpu", dtype=torch.float16):
        assert objective.penalty(critic, real, fake).item() == 10.0  # (0 - 1)**2: flushed
        scaler = torch.amp.GradScaler("cpu")  # 2**16 to start, as Lightning's
        scaled = objective.penalty(critic, real, fake, grad_scaler=scaler)
        disabled = torch.amp.GradScaler("cpu", enabled=False)
        assert objective.penalty(critic, real, fake, grad_scaler=disabled).item() == 10.0
    assert scaled.dtype == torch.float32 and scaled.item() == pytest.approx(exact, rel=1e-2)


def test_ragan_detach_mean_changes_the_gradient_not_the_loss() -> None:
    real = torch.tensor([1.0, 2.0, -0.5], requires_grad=True)
    fake = torch.tensor([0.3, -1.0, 0.4], requires_grad=True)
    exact, detached = RelativisticAverage(), RelativisticAverage(detach_mean=True)
    assert torch.equal(exact.d_loss(real, fake), detached.d_loss(real, fake))
    (exact_grad,) = torch.autograd.grad(exact.d_loss(real, fake), real)
    (detached_grad,) = torch.autograd.grad(detached.d_loss(real, fake), real)
    # The exact loss depends on differences only: its gradient along the common logit
    # level (all logits up by one) is zero, so the level is free to drift. Detached, the
    # real logits are pushed up.
    common = sum(torch.autograd.grad(exact.d_loss(real, fake), (real, fake))).sum()
    assert common.item() == pytest.approx(0.0, abs=1e-7)
    assert detached_grad.sum() < 0 and not torch.allclose(exact_grad, detached_grad)
    # MaxSurprise's relativistic form takes the same option.
    plain = MaxSurprise(relativistic=True)
    with pytest.raises(ValueError, match="detach_mean applies to the relativistic form only"):
        MaxSurprise(detach_mean=True)  # the plain form has no mean to detach
    pinned = MaxSurprise(relativistic=True, detach_mean=True)
    assert torch.allclose(plain.d_loss(real, fake), pinned.d_loss(real, fake))
    (pinned_grad,) = torch.autograd.grad(pinned.d_loss(real, fake), real)
    (plain_grad,) = torch.autograd.grad(plain.d_loss(real, fake), real)
    assert not torch.allclose(pinned_grad, plain_grad)


# -- label smoothing, MaxSurprise's alpha, non-zero-mean fakes, the WGAN-GP sampling point --
def bce(logit: float, target: float) -> float:
    """Binary cross-entropy of sigmoid(logit) against target, by hand."""
    return target * softplus(-logit) + (1 - target) * softplus(logit)


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def hand_smooth_max(values: list[float], tau: float) -> float:
    return tau * math.log(mean([math.exp(v / tau) for v in values]))


R, F_ = [2.0, -1.0], [0.5, -0.5]  # REAL and FAKE as plain numbers
SMOOTHED_D = [
    # (objective with real_label 0.9, its d_loss on REAL / FAKE by hand)
    (Minimax(real_label=0.9), mean([bce(r, 0.9) for r in R]) + mean([bce(f, 0) for f in F_])),
    (
        NonSaturating(real_label=0.9),
        mean([bce(r, 0.9) for r in R]) + mean([bce(f, 0) for f in F_]),
    ),
    (
        LeastSquares(real_label=0.9),
        0.5 * mean([(r - 0.9) ** 2 for r in R]) + 0.5 * mean([f**2 for f in F_]),
    ),
    (Relativistic(real_label=0.9), mean([bce(r - f, 0.9) for r, f in zip(R, F_)])),
    # RaGAN: mean(FAKE) = 0, mean(REAL) = 0.5.
    (
        RelativisticAverage(real_label=0.9),
        0.5 * (mean([bce(r - 0.0, 0.9) for r in R]) + mean([bce(f - 0.5, 0) for f in F_])),
    ),
    (
        MaxSurprise(tau=0.7, real_label=0.9),
        hand_smooth_max([bce(r, 0.9) for r in R], 0.7)
        + hand_smooth_max([bce(f, 0) for f in F_], 0.7),
    ),
    (
        MaxSurprise(tau=0.7, real_label=0.9, relativistic=True),
        0.5
        * (
            hand_smooth_max([bce(r - 0.0, 0.9) for r in R], 0.7)
            + hand_smooth_max([bce(f - 0.5, 0) for f in F_], 0.7)
        ),
    ),
]


@pytest.mark.parametrize(
    ("objective", "d_expected"),
    SMOOTHED_D,
    ids=lambda v: type(v).__name__ + ("_rel" if getattr(v, "relativistic", False) else ""),
)
def test_real_label_smooths_the_real_target_of_d_and_nothing_else(
    objective: nn.Module, d_expected: float
) -> None:
    assert objective.d_loss(REAL, FAKE).item() == pytest.approx(d_expected, abs=1e-12)
    # One-sided smoothing: the fake target of D and the whole of G's loss are unchanged.
    plain = (
        MaxSurprise(tau=objective.tau, relativistic=objective.relativistic)
        if isinstance(objective, MaxSurprise)
        else type(objective)()
    )
    assert objective.d_loss(REAL, FAKE).item() != pytest.approx(plain.d_loss(REAL, FAKE).item())
    # (On logits that are not symmetric about 0: on FAKE, a target t and 1 - t give the
    # same mean binary cross-entropy.)
    real, fake = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.3, 1.2, 2.0])
    assert objective.g_loss(real, fake).item() == pytest.approx(
        plain.g_loss(real, fake).item(), abs=1e-6
    )


def test_every_objective_with_a_real_label_is_covered_above() -> None:
    smoothed = {type(o) for o, _ in SMOOTHED_D}
    takes_label = {
        cls for cls in OBJECTIVES.values() if "real_label" in inspect.signature(cls).parameters
    }
    assert takes_label == smoothed


@pytest.mark.parametrize("relativistic", [False, True])
@pytest.mark.parametrize("alpha", [0.25, 3.0])
def test_max_surprise_alpha_weighs_the_fake_term_of_d_only(
    alpha: float, relativistic: bool
) -> None:
    tau = 0.7
    # Relativistic logits subtract the other side's mean: 0 for REAL, 0.5 for FAKE.
    real_terms = [bce(r, 1) for r in R]
    fake_terms = [bce(f - (0.5 if relativistic else 0.0), 0) for f in F_]
    expected = hand_smooth_max(real_terms, tau) + alpha * hand_smooth_max(fake_terms, tau)
    if relativistic:
        expected *= 0.5
    ms = MaxSurprise(tau=tau, alpha=alpha, relativistic=relativistic)
    assert ms.d_loss(REAL, FAKE).item() == pytest.approx(expected, abs=1e-12)
    plain = MaxSurprise(tau=tau, relativistic=relativistic)
    assert ms.g_loss(REAL, FAKE).item() == pytest.approx(plain.g_loss(REAL, FAKE).item(), abs=0)


def test_hinge_and_wasserstein_g_loss_on_fakes_with_a_nonzero_mean() -> None:
    # FAKE above has mean 0, where -mean and +mean (and -sum) all give 0.
    fake = torch.tensor([[0.5], [1.5], [-0.5]], dtype=torch.float64)  # mean 0.5, sum 1.5
    real = torch.tensor([[3.0], [0.0], [-2.0]], dtype=torch.float64)
    assert Hinge().g_loss(real, fake).item() == pytest.approx(-0.5, abs=1e-12)
    assert WassersteinGP().g_loss(real, fake).item() == pytest.approx(-0.5, abs=1e-12)
    # D: relu(1 - r) = [0, 1, 3], relu(1 + f) = [1.5, 2.5, 0.5]; critic E[f(fake)] - E[f(real)].
    assert Hinge().d_loss(real, fake).item() == pytest.approx(4 / 3 + 4.5 / 3, abs=1e-12)
    assert WassersteinGP().d_loss(real, fake).item() == pytest.approx(0.5 - 1 / 3, abs=1e-12)


class QuadraticCritic(nn.Module):
    """``f(x) = w/2 ||x||^2`` per sample: its gradient ``w x`` has norm ``w ||x||``, so the
    penalty tells where it was evaluated (real, fake or in between)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones((), dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * self.w * x.flatten(1).pow(2).sum(1)  # (B,)


def test_wgan_gp_penalty_is_taken_at_per_sample_interpolates() -> None:
    # Real samples of norm 2.5, fakes at 0: interpolates a * real have gradient norm 2.5 a,
    # a ~ U(0, 1) per sample, so E[(2.5 a - 1)^2] = 6.25 / 3 - 2.5 + 1 = 7 / 12.
    batch, shape = 4096, (3, 2, 2)
    real = torch.full((batch, *shape), 2.5 / math.sqrt(12), dtype=torch.float64)
    fake = torch.zeros(batch, *shape, dtype=torch.float64)
    critic = QuadraticCritic()
    objective = WassersteinGP(gradient_penalty=10.0)
    torch.manual_seed(0)
    penalty = objective.penalty(critic, real, fake)
    at_interpolates, at_reals, at_fakes = 10 * 7 / 12, 10 * 1.5**2, 10 * 1.0**2
    # Per-element interpolation would give about 10 * (2.5 / sqrt(3) - 1)^2 = 1.96, and the
    # norm of the mean gradient 10 * (1.25 - 1)^2 = 0.625: all far from 5.83.
    assert penalty.item() == pytest.approx(at_interpolates, abs=0.3)
    assert min(abs(penalty.item() - v) for v in (at_reals, at_fakes, 1.96, 0.625)) > 1.0
    # The penalty trains the critic: it is differentiable in the critic's weights
    # (d/dw at w = 1 is 10 E[2 (2.5 a - 1) 2.5 a] = 10 * 5 / 3).
    (grad,) = torch.autograd.grad(penalty, critic.w)
    assert grad.item() == pytest.approx(10 * 5 / 3, abs=1.0)
    # The interpolation point is drawn fresh each call, and only real and fake samples mix.
    again = objective.penalty(critic, real, fake)
    assert again.item() != penalty.item()
    assert objective.penalty(critic, real, real).item() == pytest.approx(10 * 1.5**2)


def test_relativistic_pairs_need_one_shape() -> None:
    """(B,) against (B, 1) broadcast to every pair of the batch, without a word."""
    for loss in (Relativistic().d_loss, Relativistic().g_loss):
        with pytest.raises(ValueError, match=r"shapes must match: got \(4,\) and \(4, 1\)"):
            loss(torch.randn(4), torch.randn(4, 1))


def test_settings_that_are_not_numbers_are_named() -> None:
    for build, name in [
        (lambda: MaxSurprise(tau="1"), "tau"),
        (lambda: MaxSurprise(alpha=None), "alpha"),
        (lambda: Minimax(real_label=None), "real_label"),
        (lambda: WassersteinGP(gradient_penalty="10"), "gradient_penalty"),
    ]:
        with pytest.raises(TypeError, match=f"{name} must be a number, got"):
            build()
    import numpy as np

    assert MaxSurprise(tau=np.float32(0.5), alpha=np.int64(1)).tau == 0.5  # a sweep's numbers
