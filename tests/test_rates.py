"""Two-sided windows on measured rates: the bootstrap error of a fitted slope against repeated
experiments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ntk_course.power_laws import PowerLaw, bootstrap_slope, power_law_fit, spread

WIDTHS = [32, 64, 128, 256, 512]


def experiment(gen: torch.Generator, draws: int = 24, rate: float = -0.5) -> list[torch.Tensor]:
    """Synthetic 'kernels' whose spread over draws is exactly width^rate: (draws, 3, 3) per
    width."""
    return [torch.randn(draws, 3, 3, generator=gen, dtype=torch.float64) * n**rate for n in WIDTHS]


def test_bootstrap_error_matches_the_spread_over_repeated_experiments():
    # The standard deviation of the fitted slope over 400 independent experiments is the reference
    # (it does not use the bootstrap); the bootstrap error of single experiments must match it.
    gen = torch.Generator().manual_seed(0)
    slopes = [
        power_law_fit(WIDTHS, [spread(s.numpy()) for s in experiment(gen)]).slope
        for _ in range(400)
    ]
    reference = float(np.std(slopes, ddof=1))  # itself known to about 1/sqrt(2 * 400) = 3.5%
    errors = [
        bootstrap_slope(WIDTHS, experiment(gen), resamples=400, seed=k, statistic=spread).std_error
        for k in range(12)
    ]
    assert abs(np.mean(errors) / reference - 1) < 0.2
    assert abs(np.mean(slopes) + 0.5) < 4 * reference / np.sqrt(400)


def test_window_is_two_sided_and_has_power():
    gen = torch.Generator().manual_seed(1)
    inside = [
        bootstrap_slope(
            WIDTHS, experiment(gen), resamples=300, seed=k, statistic=spread
        ).agrees_with(-0.5)
        for k in range(30)
    ]
    assert sum(inside) >= 27  # a 3-standard-error window holds the true rate
    wrong = bootstrap_slope(
        WIDTHS, experiment(gen, rate=-1.0), resamples=300, seed=0, statistic=spread
    )
    assert not wrong.agrees_with(-0.5)  # from above ...
    flat = bootstrap_slope(
        WIDTHS, experiment(gen, rate=0.0), resamples=300, seed=0, statistic=spread
    )
    assert not flat.agrees_with(-0.5)  # ... and from below


def test_slope_is_that_of_the_plain_fit_and_reproducible():
    gen = torch.Generator().manual_seed(2)
    samples = experiment(gen)
    est = bootstrap_slope(WIDTHS, samples, resamples=200, seed=5, statistic=spread)
    assert est.slope == pytest.approx(
        power_law_fit(WIDTHS, [float(s.std(0).mean()) for s in samples]).slope, abs=1e-12
    )
    again = bootstrap_slope(
        WIDTHS, samples, resamples=200, seed=5, statistic=spread
    )  # same resamples (to round-off)
    assert again.std_error == pytest.approx(est.std_error, rel=1e-9)
    assert bootstrap_slope(
        WIDTHS, samples, resamples=200, seed=6, statistic=spread
    ).std_error != pytest.approx(est.std_error, rel=1e-9)
    rms = bootstrap_slope(
        WIDTHS, samples, statistic=lambda s: float(np.sqrt(np.mean(s**2))), resamples=200
    )
    assert rms.slope == pytest.approx(-0.5, abs=0.1)


def test_window():
    est = PowerLaw(slope=-0.45, prefactor=1.0, std_error=0.02)
    assert est.window(3) == pytest.approx((-0.51, -0.39))
    assert est.agrees_with(-0.5) and not est.agrees_with(-0.5, z=2)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda s: bootstrap_slope(WIDTHS[:2], s, statistic=spread), "one sample per width"),
        (lambda s: bootstrap_slope([32], s[:1], statistic=spread), "at least two widths"),
        (lambda s: bootstrap_slope([32, 32, 64, 128, 256], s, statistic=spread), "distinct"),
        (
            lambda s: bootstrap_slope(WIDTHS, [x[:1] for x in s], statistic=spread),
            "at least two draws",
        ),
        (
            lambda s: bootstrap_slope(WIDTHS, [*s[:-1], s[-1] * float("nan")], statistic=spread),
            "non-finite",
        ),
        (lambda s: bootstrap_slope(WIDTHS, s, resamples=1, statistic=spread), "resamples"),
    ],
)
def test_bad_input(call, match):
    samples = experiment(torch.Generator().manual_seed(3))
    with pytest.raises(ValueError, match=match):
        call(samples)
