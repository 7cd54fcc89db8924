"""ntk_course.chapters.spectral_bias: a multi-frequency target on the circle, learned frequency by
frequency.

The exact flow must shrink the k-th Fourier coefficient of the residual by e^{-lambda_k t} and
gradient descent on the limiting kernel by (1 - eta lambda_k)^{t/eta}, with lambda_k the eigenvalue
of K/N of frequency k (an independent eigensolver); trained networks must stay within the bound that
their kernel at initialisation predicts before any training, and their measured deviation from the
limit must shrink like 1/sqrt(width). The prediction made before training (predicted_rates) is the
rate of gradient descent on the limit, and rate_test is Student's one-sample t-test with the power
that simulated samples give; first_correction recovers the coefficient of a known expansion.
"""

from __future__ import annotations

import math

import pytest
import torch

from ntk_course import circle_points, ntk, sphere_points, train
from ntk_course.chapters import spectral_bias as sb
from ntk_course.harmonics import sphere_eigenvalues

SMALL = {
    "width": 256,
    "ensemble": 2,
    "t": 200.0,
    "n_points": 16,
    "frequencies": (1, 2, 4),
    "seed": 1,
}


@pytest.fixture(scope="module")
def small() -> sb.SpectralBiasResult:
    return sb.run(sb.SpectralBiasSettings(**SMALL))


def test_fourier_coefficient_of_a_cosine() -> None:
    _, g = circle_points(20)
    f = 0.7 * torch.cos(3 * (g + 0.4)) + 0.2
    assert (
        abs(complex(sb.fourier_coefficient(f, 3)) - 0.7 * complex(math.cos(1.2), math.sin(1.2)))
        < 1e-14
    )
    assert all(abs(complex(sb.fourier_coefficient(f, k))) < 1e-14 for k in (1, 2, 4, 9))


def test_flow_and_limit_decay_at_the_eigenvalues_of_k_over_n(small: sb.SpectralBiasResult) -> None:
    s = small.settings
    x, _ = circle_points(s.n_points)
    # the eigenvalue of each frequency from eigh: the Rayleigh quotient of cos(k g) is an eigenvalue
    # of K/N
    values = torch.linalg.eigvalsh(ntk(x, depth=s.depth, beta=s.beta) / s.n_points)
    for _frequency, lam in zip(s.frequencies, small.lam.tolist()):
        assert (values - lam).abs().min() < 1e-14
    t = small.t[:, None]
    torch.testing.assert_close(small.flow, torch.exp(-small.lam * t), rtol=0, atol=1e-12)
    torch.testing.assert_close(
        small.limit, (1 - s.lr * small.lam) ** (t / s.lr), rtol=0, atol=1e-12
    )
    flow, limit, _ = small.fitted_rates()
    torch.testing.assert_close(flow, small.lam, rtol=1e-10, atol=0)
    torch.testing.assert_close(limit, small.discrete_rate, rtol=1e-10, atol=0)


def test_networks_stay_within_the_bound_their_initial_kernel_predicts(
    small: sb.SpectralBiasResult,
) -> None:
    """The a-priori bound uses only the networks at initialisation (their kernel Theta_0 and
    residual r_0), not the run: it holds if the kernel stays near Theta_0 during training
    (Theorem 2). A network whose kernel drifted by as much as it differs from the limit at the
    start, or that left the lazy regime, would break it. At width 256 the bound is informative for
    the fast frequency (below 0.6, while the projection falls from 1 to 0), and the run stays inside
    it."""
    prior = sb.prior_bound(sb.SpectralBiasSettings(**SMALL))  # (E, F), before any training
    assert prior.shape == (SMALL["ensemble"], len(SMALL["frequencies"]))
    gap = (
        (small.network - small.limit[:, None, :]).abs().amax(0)
    )  # (E, F): the run's largest deviation
    assert bool((gap <= prior).all()), (gap, prior)
    assert float(prior[:, 0].max()) < 0.6
    # a learning rate at which a step can grow the residual voids the bound, and is refused
    with pytest.raises(ValueError, match="exceeds 2 / lambda_max"):
        sb.prior_bound(sb.SpectralBiasSettings(**{**SMALL, "lr": 20.0}))


def test_the_finite_width_deviation_shrinks_like_one_over_root_width() -> None:
    """Sixteen times the width: the kernel's fluctuations, and the networks' largest deviation
    max_t |p_k - limit| that they cause, shrink by about 4. The two-sided window [2.5, 7] fails a
    deviation that does not shrink (1) or shrinks like 1/width (16)."""
    means = []
    for width in (256, 4096):
        r = sb.run(sb.SpectralBiasSettings(**{**SMALL, "width": width, "ensemble": 8, "t": 40.0}))
        gap = (r.network - r.limit[:, None, :]).abs().amax(0)  # (E, F) up to t = 40
        means.append(float(gap.mean()))  # averaged over networks and frequencies
    assert 2.5 < means[0] / means[1] < 7, means


def test_the_prediction_is_the_rate_of_gradient_descent_on_the_limit(
    small: sb.SpectralBiasResult,
) -> None:
    """predicted_rates uses no network: it must give the eigenvalues of K/N and the rate that
    gradient descent on Theta_infinity is fitted to in the run; another depth gives other rates."""
    lam, rate = sb.predicted_rates(small.settings)
    torch.testing.assert_close(lam, small.lam, rtol=1e-12, atol=0)
    torch.testing.assert_close(rate, small.fitted_rates()[1], rtol=1e-10, atol=0)
    _, deeper = sb.predicted_rates(small.settings, depth=3)
    assert float((deeper / rate - 1).abs().max()) > 0.1
    with pytest.raises(ValueError, match="lr"):
        sb.predicted_rates(sb.SpectralBiasSettings(**{**SMALL, "lr": 20.0}))


def test_rate_test_is_students_t_test_with_the_power_of_simulated_samples() -> None:
    """The statistic is scipy's ttest_1samp; the power against an alternative matches the rejection
    rate of samples simulated from it (normal, sd equal to the sample sd) within four Monte Carlo
    standard errors; a sample near the prediction passes, one far from it fails."""
    from scipy import stats

    gen = torch.Generator().manual_seed(3)
    e, sd, predicted, shift = 8, 0.02, torch.tensor([1.0, 0.5]), torch.tensor([0.03, 0.0])
    z = torch.randn(e, 2, generator=gen, dtype=torch.float64)
    z = (z - z.mean(0)) / z.std(0)  # sample sd exactly 1
    rates = predicted + 0.005 + sd * z
    test = sb.rate_test(rates, predicted, predicted + shift, alpha=0.01)
    ref = stats.ttest_1samp(rates.numpy(), predicted.numpy())
    torch.testing.assert_close(test.statistic, torch.tensor(ref.statistic), rtol=1e-12, atol=0)
    sims = predicted[0] + shift[0] + sd * torch.randn(20000, e, generator=gen, dtype=torch.float64)
    t_sims = (sims.mean(1) - predicted[0]) / (sims.std(1) / e**0.5)
    rejected = float((t_sims.abs() > test.critical).double().mean())
    mc_se = (rejected * (1 - rejected) / 20000) ** 0.5
    assert abs(float(test.power[0]) - rejected) < 4 * mc_se, (float(test.power[0]), rejected)
    assert abs(float(test.power[1]) - 0.01) < 1e-9  # no shift: the power is the level
    assert test.passed
    far = sb.rate_test(rates + torch.tensor([0.05, 0.0]), predicted, predicted + shift)
    assert not far.passed
    with pytest.raises(ValueError, match="E >= 2"):
        sb.rate_test(rates[:1], predicted, predicted)


def test_first_correction_recovers_the_coefficient_of_a_known_expansion() -> None:
    k = torch.arange(0, 401, dtype=torch.float64).clamp_min(1)
    mu = 2.0 * k**-3 * (1 - 1.5 / k + 2.0 / k**2)
    assert abs(sb.first_correction(mu, 3) + 1.5) < 1e-8
    with pytest.raises(ValueError, match="three even k"):
        sb.first_correction(mu[:54], 3)


def test_cluster_means_on_the_sphere_match_the_second_order_prediction() -> None:
    n0, n = 3, 800
    mu = sphere_eigenvalues(150, n0, depth=3)
    lam = torch.linalg.eigvalsh(ntk(sphere_points(n, n0, seed=5), depth=3) / n).flip(0)
    rows = sb.cluster_means(lam, mu, n0, 4)
    assert rows.shape == (4, 3)
    assert bool(((rows[:, 0] - rows[:, 1]).abs() <= rows[:, 2]).all())
    assert bool((rows[:, 2] < 0.05 * mu[:4]).all())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frequencies": (1, 1)}, "distinct"),
        ({"frequencies": (1, 20), "amplitudes": (1.0, 1.0)}, "n_points/2"),
        ({"amplitudes": (1.0, 0.5)}, "one per frequency"),
        ({"amplitudes": (1.0, 0.5, 0.0)}, "one per frequency"),
        ({"depth": 1}, "depth"),
        ({"ensemble": 1}, "ensemble"),
        ({"lr": 0.0}, "lr must be > 0"),
        ({"t": 1.0}, "t >= lr"),
        ({"width": 0}, "width"),
    ],
)
def test_settings_refuse_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sb.SpectralBiasSettings(**kwargs)


def test_for_scale_knows_the_scales() -> None:
    assert (
        sb.SpectralBiasSettings.for_scale("quick").width
        < sb.SpectralBiasSettings.for_scale("default").width
    )
    with pytest.raises(ValueError, match="unknown scale"):
        sb.SpectralBiasSettings.for_scale("huge")


def test_from_record_refuses_a_record_of_other_settings() -> None:
    """The analysis reads the record against the settings: a run with other steps is refused before
    any work."""
    s = sb.SpectralBiasSettings(**{**SMALL, "t": 4.0})
    x_fine, _ = circle_points(s.n_points * sb.FINE)
    x = x_fine[:: sb.FINE].float()
    y = torch.zeros(s.n_points, 1)
    net = sb.networks(s)
    shorter = train(net, x, y, steps=s.steps - 1, lr=s.lr, x_eval=x_fine.float())
    with pytest.raises(ValueError, match="the record must hold outputs"):
        sb.SpectralBiasResult.from_record(s, shorter)


def test_frozen_kernel_rates_are_gradient_descent_with_each_networks_initial_kernel() -> None:
    """frozen_kernel_rates against flow.gradient_descent (exact powers of the step matrix) run with
    each network's Theta_0 and f_0: the same rates to round-off."""
    from ntk_course.empirical import empirical_ntk
    from ntk_course.flow import gradient_descent

    s = sb.SpectralBiasSettings(**SMALL)
    frozen = sb.frozen_kernel_rates(s)
    assert frozen.shape == (s.ensemble, len(s.frequencies))
    x_fine, g_fine = circle_points(s.n_points * sb.FINE)
    x, y = x_fine[:: sb.FINE], sb.target(s, g_fine)[:: sb.FINE]
    net = sb.networks(s)
    with torch.no_grad():
        f0 = net(x.float())[..., 0].double()
    k0 = empirical_ntk(net, x.float()).double()
    lam, _ = sb.predicted_rates(s)
    t = torch.arange(s.steps + 1, dtype=torch.float64) * s.lr
    for e in range(s.ensemble):
        run = gradient_descent(k0[e], y, list(range(s.steps + 1)), lr=s.lr, f0_train=f0[e])
        residual = run.f_train - y  # (S + 1, N)
        for f, k in enumerate(s.frequencies):
            c = sb.fourier_coefficient(residual, k)
            p = (c * c[0].conj()).real / c[0].abs() ** 2
            w = (t * lam[f] <= sb.FIT_DECAY) & (t > 0)
            rate = -(t[w] * p[w].log()).sum() / (t[w] ** 2).sum()
            assert abs(float(frozen[e, f] / rate) - 1) < 1e-8
