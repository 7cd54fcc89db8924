"""Tests of ntk_course.finite_width (the 1/n variance of the two-layer NTK) and its chapter module.

References are independent of the code under test: closed forms derived by hand, scipy quadrature
of the two-dimensional Gaussian integral, and Monte Carlo over networks with a tolerance set by the
number of networks.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from ntk_course import Architecture
from ntk_course.chapters import finite_width_correction as fwc
from ntk_course.finite_width import (
    detection_power,
    log_ratio_slope,
    ntk_variance_two_layer,
    sample_ntk,
    scaled_variance,
    second_moment_ratio,
    unit_moments,
)

POINTS = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.3, -2.0]], dtype=torch.float64)


def _scipy_moments(q, c, qp, sigma, dot):
    """The five expectations of unit_moments by scipy's dblquad on the Cholesky coordinates."""
    a = c / math.sqrt(q)
    b = math.sqrt(max(qp - a * a, 0.0))

    def expect(g):
        def f(z2, z1):
            u, v = math.sqrt(q) * z1, a * z1 + b * z2
            return g(u, v) * math.exp(-(z1 * z1 + z2 * z2) / 2) / (2 * math.pi)

        return integrate.dblquad(f, -10, 10, -10, 10, epsabs=1e-11, epsrel=1e-10)[0]

    return [
        expect(lambda u, v: sigma(u) * sigma(v)),
        expect(lambda u, v: dot(u) * dot(v)),
        expect(lambda u, v: (sigma(u) * sigma(v)) ** 2),
        expect(lambda u, v: sigma(u) * sigma(v) * dot(u) * dot(v)),
        expect(lambda u, v: (dot(u) * dot(v)) ** 2),
    ]


@pytest.mark.parametrize(
    "name, sigma, dot, tol",
    [
        ("tanh", math.tanh, lambda u: 1 - math.tanh(u) ** 2, 1e-7),
        ("erf", math.erf, lambda u: 2 / math.sqrt(math.pi) * math.exp(-u * u), 1e-7),
    ],
)
def test_unit_moments_smooth_match_scipy_quadrature(name, sigma, dot, tol):
    q, c, qp = 0.8, 0.3, 1.3
    got = unit_moments(torch.tensor(q), torch.tensor(c), torch.tensor(qp), name)
    want = _scipy_moments(q, c, qp, sigma, dot)
    for g, w in zip(got, want):
        assert abs(float(g) - w) < tol * max(1.0, abs(w))


def test_relu_closed_form_matches_scipy_quadrature():
    # A kink at 0: integrate each quadrant piece with scipy (independent of J_0, J_1, J_2).
    q, c, qp = 0.7, -0.25, 1.1
    relu = lambda u: max(u, 0.0)  # noqa: E731
    step = lambda u: 1.0 if u > 0 else 0.0  # noqa: E731
    a = c / math.sqrt(q)
    b = math.sqrt(qp - a * a)

    def expect(g):
        # u > 0 means z1 > 0; split z2 at the line v = 0 so the integrand is smooth on each piece.
        def f(z2, z1):
            u, v = math.sqrt(q) * z1, a * z1 + b * z2
            return g(u, v) * math.exp(-(z1 * z1 + z2 * z2) / 2) / (2 * math.pi)

        return integrate.dblquad(f, 0, 10, lambda z1: -a * z1 / b, 12, epsabs=1e-12)[0]

    want = [
        expect(lambda u, v: relu(u) * relu(v)),
        expect(lambda u, v: step(u) * step(v)),
        expect(lambda u, v: (relu(u) * relu(v)) ** 2),
    ]
    got = unit_moments(torch.tensor(q), torch.tensor(c), torch.tensor(qp), "relu")
    for g, w in zip((got[0], got[1], got[2]), want):
        assert abs(float(g) - w) < 1e-8
    assert torch.equal(got[0], got[3]) and torch.equal(got[1], got[4])


def test_relu_diagonal_without_bias_is_three_q_squared():
    # Hand derivation (the chapter's part 3): V(x, x) = 3 q^2 at beta = 0, q = |x|^2 / n_0.
    x = torch.tensor([[3.0, 4.0]], dtype=torch.float64)
    q = 25.0 / 2
    assert float(ntk_variance_two_layer(x, beta=0.0)) == pytest.approx(3 * q * q, rel=1e-12)
    # E[a^4] = 1 instead of 3 removes 2 q^2 E[d^2] = q^2: V = 2 q^2.
    v1 = ntk_variance_two_layer(x, beta=0.0, weight_fourth_moment=1.0)
    assert float(v1) == pytest.approx(2 * q * q, rel=1e-12)


def test_identity_activation_closed_form():
    # sigma(u) = u: Z = u u' + a^2 S, V = q q' + S^2 (Var(u u')) + 2 S^2 (Var a^2): by hand
    # Var(u u') = q q' + S^2, so V = q q' + S^2 + 2 S^2 = q q' + 3 S^2.
    v = ntk_variance_two_layer(POINTS, activation="identity", beta=0.5)
    s = POINTS @ POINTS.T / 2 + 0.25
    d = s.diagonal()
    assert torch.allclose(v, d[:, None] * d[None, :] + 3 * s * s, rtol=1e-10, atol=1e-12)


def test_identity_closed_form_matches_the_quadrature_of_a_callable():
    # The same function as a user's callable goes through the library's quadrature instead.
    q, c, qp = torch.tensor(0.9), torch.tensor(-0.4), torch.tensor(1.6)
    closed = unit_moments(q, c, qp, "identity")
    quad = unit_moments(q, c, qp, lambda z: z)
    for a, b in zip(closed, quad):
        assert abs(float(a) - float(b)) < 1e-9


def test_variance_is_symmetric_and_matches_y():
    v = ntk_variance_two_layer(POINTS, activation="tanh")
    assert torch.equal(v, v.T)
    v_xy = ntk_variance_two_layer(POINTS[:2], POINTS, activation="tanh")
    assert torch.allclose(v_xy, v[:2], rtol=1e-9, atol=0)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_monte_carlo_mean_and_variance(activation):
    # E networks of width n: the mean within 4 se of Theta_infinity, n Var within 4 se of V, where
    # se = sqrt((m4 - s^4) / E) from the sample itself. A wrong E[a^4] (=1) is > 8 se away here.
    arch = Architecture(depth=2, activation=activation, beta=0.1)
    x = POINTS[:2]
    n, e = 32, 4000
    s = sample_ntk(arch, x, n, e, seed=3)
    assert s.shape == (e, 2, 2) and s.dtype == torch.float64
    se_mean = s.std(0) / math.sqrt(e)
    assert ((s.mean(0) - arch.ntk(x)).abs() < 4 * se_mean).all()
    v = ntk_variance_two_layer(x, activation=activation, beta=0.1)
    v_alt = ntk_variance_two_layer(x, activation=activation, beta=0.1, weight_fourth_moment=1.0)
    est, err, _ = scaled_variance([n], [s[:, 0, 0]])
    assert abs(est[0] - float(v[0, 0])) < 4 * err[0]
    assert abs(float(v_alt[0, 0]) - float(v[0, 0])) > 8 * err[0]


def test_scaled_variance_pooled_and_errors():
    rng = np.random.default_rng(1)
    widths = [4, 16, 64]
    samples = [rng.normal(2.0, math.sqrt(0.5 / n), 20000) for n in widths]
    est, err, pooled = scaled_variance(widths, samples)
    assert np.all(np.abs(est - 0.5) < 4 * err)
    # Gaussian draws: se of s^2 is s^2 sqrt(2 / E).
    assert np.allclose(err, est * math.sqrt(2 / 20000), rtol=0.05)
    assert abs(pooled[0] - 0.5) < 4 * pooled[1] and pooled[1] < err.min()


def test_log_ratio_slope_recovers_a_known_slope():
    # Lognormal draws with log-variance k L / n have E[X^2]/E[X]^2 = exp(k L / n) exactly.
    rng = np.random.default_rng(2)
    depths, n, k = [2, 4, 6, 8], 16, 3.0
    samples = [np.exp(rng.normal(0, math.sqrt(k * d / n), 40000)) for d in depths]
    fit = log_ratio_slope(depths, n, samples, resamples=200)
    assert abs(fit.slope - k) < 4 * fit.std_error and fit.std_error < 0.5
    assert second_moment_ratio(np.ones(5)) == 1.0


def test_detection_power():
    assert detection_power(0.0, 1.0) == pytest.approx(2 * 0.5 * math.erfc(3 / math.sqrt(2)))
    assert detection_power(10.0, 1.0) > 0.999 and detection_power(-10.0, 1.0) > 0.999


def test_errors():
    with pytest.raises(ValueError, match="beta"):
        ntk_variance_two_layer(POINTS, beta=-1.0)
    with pytest.raises(ValueError, match="weight_fourth_moment"):
        ntk_variance_two_layer(POINTS, weight_fourth_moment=0.0)
    with pytest.raises(ValueError, match="dimension"):
        ntk_variance_two_layer(POINTS, torch.ones(2, 3))
    with pytest.raises(ValueError, match="unknown|expected one of"):
        ntk_variance_two_layer(POINTS, activation="swish-ish")
    arch = Architecture(depth=2)
    with pytest.raises(ValueError, match="width"):
        sample_ntk(arch, POINTS, 0, 10)
    with pytest.raises(ValueError, match="ensemble"):
        sample_ntk(arch, POINTS, 4, 1)
    with pytest.raises(ValueError, match="one sample per width"):
        scaled_variance([4, 8], [np.ones(10)])
    with pytest.raises(ValueError, match="at least 4 draws"):
        scaled_variance([4], [np.ones(3)])
    with pytest.raises(ValueError, match="two distinct depths"):
        log_ratio_slope([2, 2], 8, [np.ones(4), np.ones(4)])
    with pytest.raises(ValueError, match="std_error"):
        detection_power(1.0, 0.0)


def test_chapter_settings_and_scans(monkeypatch):
    monkeypatch.setenv("NTK_COURSE_SCALE", "quick")
    s = fwc.Settings.for_scale()
    small = fwc.Settings(widths=(4, 8), ensemble=6, depths=(2, 3), depth_width=4, depth_ensemble=5)
    x = fwc.points()
    scans = fwc.width_scan(Architecture(depth=2), x, small)
    assert [t.shape for t in scans] == [(6, 2, 2), (6, 2, 2)]
    depth = fwc.depth_scan(x, small)
    assert [t.shape for t in depth] == [(5,), (5,)]
    assert len(s.widths) >= 3 and s.depths[0] == 2
    assert set(s.widget_widths) <= set(s.widths) and small.widget_widths == small.widths
    v, v_alt = fwc.predicted(Architecture(depth=2, activation="relu", beta=0.1), x)
    assert (v > v_alt).all()
