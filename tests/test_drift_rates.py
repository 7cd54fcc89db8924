"""Rates of the kernel drift against width (Theorem 2) and the bootstrap spread of a fitted slope
(``ntk_course.bootstrap_slope``, which ``LazyTrainingScan.fit`` and ``plot_scaling`` use)."""

import math

import pytest
import torch
from test_finite_width import lazy_scan

from ntk_course import Architecture
from ntk_course.datasets import gaussian_inputs, product_target
from ntk_course.power_laws import bootstrap_slope

WIDTHS = (32, 64, 128, 256, 512)


def _lognormal_power(slope: float, e: int, tau: float, seed: int) -> torch.Tensor:
    """values[w, k] = 2 n_w^slope exp(tau z) with z iid N(0, 1): (W, E)."""
    g = torch.Generator().manual_seed(seed)
    n = torch.tensor(WIDTHS, dtype=torch.float64)[:, None]
    return (
        2.0
        * n**slope
        * torch.exp(tau * torch.randn(len(WIDTHS), e, generator=g, dtype=torch.float64))
    )


def test_bootstrap_standard_error_matches_the_delta_method() -> None:
    """For lognormal noise the log of a mean of E draws has variance ~ (exp(tau^2) - 1) / E, so the
    least-squares slope has standard error sqrt(that / sum (log n - mean)^2)."""
    tau, e = 0.2, 200
    fit = bootstrap_slope(WIDTHS, _lognormal_power(-0.8, e, tau, seed=3))
    x = torch.tensor(WIDTHS, dtype=torch.float64).log()
    expected = math.sqrt(math.expm1(tau**2) / e / float((x - x.mean()).square().sum()))
    # The bootstrap estimate carries ~3 % sampling error (E = 200 draws per width, 2000 resamples).
    assert fit.std_error == pytest.approx(expected, rel=0.12)
    assert abs(fit.slope + 0.8) < 4 * expected


def test_standard_error_windows_cover_the_true_slope() -> None:
    """Repeated experiments with 8 initialisations per width: the window slope +- 2 SE contains the
    true exponent in about 95 % of them (a little less: with E = 8 the bootstrap is ~6 % narrow),
    and +- 3 SE almost always."""
    trials, within2, within3 = 300, 0, 0
    for k in range(trials):
        fit = bootstrap_slope(
            WIDTHS, _lognormal_power(-1.0, 8, 0.3, seed=100 + k), resamples=400, seed=k
        )
        within2 += abs(fit.slope + 1.0) < 2 * fit.std_error
        within3 += abs(fit.slope + 1.0) < 3 * fit.std_error
    # binomial standard deviation of the coverage over 300 trials is about 0.015
    assert 0.85 < within2 / trials < 0.99 and within3 / trials > 0.96


def test_an_exact_power_law_has_no_spread() -> None:
    values = torch.tensor([[3.0 * n**-0.5] * 4 for n in WIDTHS])
    fit = bootstrap_slope(WIDTHS, values)
    assert fit.slope == pytest.approx(-0.5, abs=1e-12) and fit.std_error < 1e-12


@pytest.mark.parametrize(
    "values, match",
    [
        (torch.ones(5), "shape"),
        (torch.ones(5, 1), "at least two draws"),
        (-torch.ones(5, 3), "positive"),
        (torch.ones(4, 3), "one sample per width"),
    ],
)
def test_bootstrap_slope_rejects_bad_input(values: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bootstrap_slope(WIDTHS, values)


def test_bootstrap_slope_rejects_too_few_resamples() -> None:
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_slope(WIDTHS, torch.ones(5, 3), resamples=1)


@pytest.mark.parametrize("activation", ["tanh", "erf"])
def test_smooth_kernel_drift_falls_like_inverse_width(activation: str) -> None:
    """For a smooth activation the kernel on the training points moves by O(1/n) over a fixed time
    (Dyer & Gur-Ari 2020, Huang & Yau 2020), faster than the n^(-1/2) bound of Theorem 2's proof:
    a two-sided window of 3 bootstrap standard errors around -1 that rejects -1/2."""
    x = gaussian_inputs(12, 2, seed=0)
    scan = lazy_scan(
        Architecture(3, activation),
        x,
        product_target(x),
        (64, 128, 256, 512),
        ensemble=10,
        steps=25,
        linearized=False,
        seed=1,
    )
    fit = scan.fit("kernel_drift")
    assert fit.std_error < 0.12, (
        fit
    )  # 10 networks per width make the window narrow enough to mean something
    assert abs(fit.slope + 1) < 3 * fit.std_error and abs(fit.slope + 0.5) > 3 * fit.std_error, fit
