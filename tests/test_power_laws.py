"""ntk_course.power_laws: two-sided windows on measured rates and accuracies.

The bootstrap error of a fitted slope is checked against the spread over repeated experiments, a
learning curve's fit against a planted power law, and the accuracy windows against the binomial
standard error sqrt(p (1 - p) / m) computed here by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ntk_course.power_laws import (
    PowerLaw,
    bootstrap_slope,
    check_windows,
    power_law_errors,
    power_law_fit,
    spread,
)

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


SIZES = (100, 200, 400, 800, 1600)


def planted_hits(g: torch.Generator, m: int = 20_000) -> torch.Tensor:
    """(S, m) right-or-wrong outcomes whose error rate is exactly 2 N^(-1/2) at each size N."""
    errors = torch.tensor([2.0 * s**-0.5 for s in SIZES], dtype=torch.float64)
    return torch.rand(len(SIZES), m, generator=g, dtype=torch.float64) > errors[:, None]


def test_power_law_errors_recover_a_planted_learning_curve() -> None:
    fit, table = power_law_errors(SIZES, planted_hits(torch.Generator().manual_seed(4)), 200)
    se = table[:, 0].std().item()
    assert table.shape == (200, 2) and table.dtype == torch.float64
    assert 0 < se < 0.05 and abs(fit.slope + 0.5) < 4 * se
    assert abs(fit(60_000).item() / (2.0 * 60_000**-0.5) - 1) < 0.3


def test_power_law_errors_bootstrap_matches_the_spread_over_independent_test_sets() -> None:
    """The spread of the slope over 200 independent test sets is the reference (no bootstrap); the
    bootstrap of one test set must estimate it (each known to about 5 %: a 25 % window)."""
    g = torch.Generator().manual_seed(7)
    slopes = [power_law_fit(SIZES, 1 - planted_hits(g).double().mean(1)).slope for _ in range(200)]
    reference = float(np.std(slopes, ddof=1))
    _, table = power_law_errors(SIZES, planted_hits(g), resamples=200, seed=1)
    assert abs(table[:, 0].std().item() / reference - 1) < 0.25, (table[:, 0].std(), reference)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((SIZES[:3], torch.ones(5, 10, dtype=torch.bool)), "one row per size"),
        ((SIZES, torch.ones(5, dtype=torch.bool)), "shape \\(S, M\\)"),
        ((SIZES, torch.zeros(5, 10, dtype=torch.bool), 0), "resamples must be an integer >= 1"),
        ((SIZES, torch.ones(5, 10, dtype=torch.bool)), "positive and finite"),  # zero error
    ],
)
def test_power_law_errors_bad_input(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        power_law_errors(*args)


def test_check_windows_are_k_binomial_standard_errors_on_either_side() -> None:
    window = 3 * (0.91 * 0.09 / 2000) ** 0.5  # 0.0192, computed here from the binomial variance
    for inside in (0.91 - 0.99 * window, 0.91 + 0.99 * window):
        assert check_windows({"a": inside}, {"a": 0.91}, m=2000) == []
    for outside in (0.91 - 1.01 * window, 0.91 + 1.01 * window):
        (failure,) = check_windows({"a": outside}, {"a": 0.91}, m=2000)
        assert failure.startswith("a: measured") and "+- 0.0192" in failure
    # k sets the width; keys need not be strings (the chapters key networks by their width)
    assert check_windows({16: 0.90}, {16: 0.91}, m=2000, k=1.0) != []
    assert check_windows({16: 0.90, "extra": 0.0}, {16: 0.91}, m=2000) == []


@pytest.mark.parametrize(
    ("measured", "kwargs", "match"),
    [
        ({}, {}, "measured has no value for \\['a'\\]"),
        ({"a": float("nan")}, {}, "finite accuracy"),
        ({"a": 0.9}, {"k": 0.0}, "k must be a finite number > 0"),
        ({"a": 0.9}, {"k": -1.0}, "k must be a finite number > 0"),
        ({"a": 0.9}, {"k": float("nan")}, "k must be a finite number > 0"),
        ({"a": 0.9}, {"m": 0}, "m must be an integer >= 1"),
    ],
)
def test_check_windows_bad_input(measured: dict, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_windows(measured, {"a": 0.91}, **{"m": 2000, **kwargs})
