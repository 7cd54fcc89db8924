"""Tests of ntk_course.chapters.figure2_bias: the ensemble-mean bias of Figure 2 taken apart.

The limit is the analytic one of Figure 2 on a coarse circle (no network is trained); the "networks"
are synthetic draws with a known bias, so each test compares with a value fixed in advance.
"""

from __future__ import annotations

import math

import pytest
import torch

from ntk_course.chapters import figure2
from ntk_course.chapters import figure2_bias as fb


@pytest.fixture(scope="module")
def limit() -> figure2.Figure2Result:
    settings = figure2.Figure2Settings(widths=(8,), ensemble=2, steps=1, n_circle=64)
    return figure2.limit(settings, device="cpu")


def _draws(limit: figure2.Figure2Result, e: int, seed: int) -> torch.Tensor:
    """e independent draws of the limiting Gaussian N(m, C) on the circle."""
    cov = limit.covariance
    chol = torch.linalg.cholesky(cov + 1e-10 * cov.diagonal().max() * torch.eye(len(cov)).to(cov))
    z = torch.randn(len(cov), e, generator=torch.Generator().manual_seed(seed), dtype=cov.dtype)
    return (limit.mean[:, None] + chol @ z).T


def test_directions_are_the_covariance_eigenvectors_signed_along_the_mean(limit) -> None:
    omega, psi = fb.directions(limit, 8)
    torch.testing.assert_close(limit.covariance @ psi, psi * omega, rtol=0, atol=1e-10)
    assert bool((omega[:-1] >= omega[1:]).all()) and bool((psi.T @ limit.mean >= 0).all())
    # The four training points are symmetric under gamma -> gamma + pi/2 with y -> -y, and
    # gamma -> -gamma with y -> -y: the mean m has a component along one direction only.
    overlaps = (psi.T @ limit.mean).abs() / limit.mean.norm()
    j = fb.along_mean(limit, 8) - 1
    assert overlaps[j] > 0.5 and float(overlaps.sum() - overlaps[j]) < 1e-8


def test_draws_of_the_limit_have_standard_normal_coordinates(limit) -> None:
    # 4,000 draws: each coordinate's sample mean has standard error 1/sqrt(4000) = 0.016, and its
    # sample variance 0.022; 5 of those fail with probability < 1e-5 per coordinate.
    z = fb.standardised(limit, _draws(limit, 4000, seed=0))
    assert z.shape == (4000, 8)
    assert float(z.mean(0).abs().max()) < 5 / math.sqrt(4000)
    assert float((z.var(0) - 1).abs().max()) < 5 * math.sqrt(2 / 4000)


def test_mean_bias_recovers_a_planted_bias_and_splits_it(limit) -> None:
    j = fb.along_mean(limit, 8)
    omega, psi = fb.directions(limit, 8)
    e, planted = 400, 0.8  # a bias of 0.8 standard deviations along psi_j
    lin = _draws(limit, e, seed=1)
    limit.outputs[8] = lin + planted * omega[j - 1].sqrt() * psi[:, j - 1]
    b = fb.mean_bias(limit, 8, lin)
    assert b["direction"] == j and b["ensemble"] == e
    # the networks' mean: planted + N(0, 1/e); 5 standard errors
    assert abs(b["network"] - planted) < 5 / math.sqrt(e)
    assert abs(b["linearised"]) < 5 / math.sqrt(e)
    # the paired difference is exactly the planted shift, with no spread
    assert b["moving"] == pytest.approx(planted, abs=1e-9) and b["moving_se"] < 1e-9
    shift, se = fb.paired_shift(limit, limit.outputs[8], lin)
    assert shift == pytest.approx(planted, abs=1e-9) and se < 1e-9
    with pytest.raises(ValueError, match="same"):
        fb.mean_bias(limit, 8, lin[:10])
    with pytest.raises(ValueError, match="not trained"):
        fb.mean_bias(limit, 9, lin)


def test_width_exponent_on_exact_power_laws() -> None:
    def bias(value: float) -> dict[str, float]:
        return {"moving": value, "moving_se": 1e-3}

    # b(n) = n^-1/2 from n = 50 to 800: slope -1/2, the 1/sqrt(n) law fits, the 1/n law does not
    rate = fb.width_exponent(bias(50**-0.5), bias(800**-0.5), 50, 800)
    assert rate["slope"] == pytest.approx(-0.5, abs=1e-12)
    assert abs(rate["z_inverse_sqrt_n"]) < 1e-9 and rate["z_inverse_n"] > 20
    assert rate["power_inverse_n"] > 0.999
    # b(n) = 1/n: the 1/n law fits exactly
    rate = fb.width_exponent(bias(1 / 50), bias(1 / 800), 50, 800)
    assert rate["slope"] == pytest.approx(-1.0, abs=1e-12) and abs(rate["z_inverse_n"]) < 1e-9
    with pytest.raises(ValueError, match="n_narrow < n_wide"):
        fb.width_exponent(bias(1.0), bias(0.5), 800, 50)
