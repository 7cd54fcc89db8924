"""Tests of ntk_course.hermite (Appendix A.4): Hermite coefficients, Lemma 2, the power series of
Sigma^(2), Theorem 3, Proposition 2."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.polynomial import Polynomial, hermite_e
from scipy import integrate

from ntk_course.activations import get_activation, polynomial
from ntk_course.datasets import sphere_points
from ntk_course.hermite import (
    _orthonormal_hermite,
    dual_activation,
    hermite_coefficients,
    min_eigenvalue_on_sphere,
    rank_bound,
    schoenberg_positive_definite,
    sigma2_power_series,
)
from ntk_course.kernels import nngp, ntk

RHOS = np.array([-1.0, -0.7, -0.3, 0.0, 0.4, 0.8, 1.0])
SQUARE = polynomial([0, 0, 1])  # sigma(z) = z^2


def relu_coefficients(n: int) -> np.ndarray:
    """Exact ReLU coefficients: relu = z/2 + |z|/2 and E[|X| He_2k(X)] = 2 phi(0) (-1)^(k+1)
    (2k-3)!!.

    (From x He_n = He_{n+1} + n He_{n-1} and int_0^inf He_m phi = He_{m-1}(0) phi(0).) Odd n >= 3:
    0.
    """
    a = np.zeros(n)
    a[0], a[1] = 1 / math.sqrt(2 * math.pi), 0.5
    for k in range(1, (n + 1) // 2):
        double_factorial = math.prod(range(2 * k - 3, 0, -2))  # (2k-3)!!, 1 for k = 1
        a[2 * k] = (
            (-1) ** (k + 1) * double_factorial / math.sqrt(2 * math.pi * math.factorial(2 * k))
        )
    return a


def gaussian_second_moment(name: str, scale: float) -> float:
    """E[sigma(scale X)^2] by adaptive quadrature (scipy), independent of the Gauss-Hermite rule."""
    f = {"erf": math.erf, "tanh": math.tanh}[name]
    value, _ = integrate.quad(
        lambda x: f(scale * x) ** 2 * math.exp(-x * x / 2) / math.sqrt(2 * math.pi),
        -np.inf,
        np.inf,
        epsabs=1e-14,
        epsrel=1e-13,
    )
    return value


def test_orthonormal_basis_matches_numpy_hermite_e():
    z = np.linspace(-6, 6, 41)
    expected = (
        hermite_e.hermevander(z, 19).T / np.sqrt([math.factorial(i) for i in range(20)])[:, None]
    )
    np.testing.assert_allclose(_orthonormal_hermite(z, 20), expected, rtol=1e-12, atol=1e-12)


def test_polynomial_coefficients_are_exact():
    # (s z)^2 = s^2 (He_2 + He_0) = s^2 (sqrt(2) h_2 + h_0); the 200-point rule is exact for it.
    a = hermite_coefficients(SQUARE, 30, scale=0.6)
    expected = np.zeros(30)
    expected[0], expected[2] = 0.36, 0.36 * math.sqrt(2)
    np.testing.assert_allclose(a, expected, rtol=0, atol=1e-14)


def test_relu_coefficients_match_closed_form():
    a = hermite_coefficients("relu", 30)
    exact = relu_coefficients(30)
    assert exact[2] == pytest.approx(1 / (2 * math.sqrt(math.pi)), rel=1e-15)
    # The kink makes Gauss-HermiteE converge like 1/q: observed max error 0.165/q (at a_0);
    # 0.3/q = 1.5e-3 leaves a margin of ~2 while any wrong normalisation (sqrt(2), pi) fails by far.
    assert np.abs(a - exact).max() < 0.3 / 200
    assert a[1] == pytest.approx(0.5, abs=1e-14)  # z/2 is integrated exactly
    assert np.abs(a[3::2]).max() < 1e-14  # |z| He_odd is odd: symmetric nodes cancel it


def test_relu_quadrature_error_is_order_one_over_q():
    exact = relu_coefficients(20)
    err = [
        np.abs(hermite_coefficients("relu", 20, quadrature_points=q) - exact).max()
        for q in (100, 200)
    ]
    assert err[0] / err[1] == pytest.approx(2.0, rel=0.1)  # observed 2.004


@pytest.mark.parametrize("name", ["erf", "tanh"])
@pytest.mark.parametrize("scale", [1.0, 0.7])
def test_parseval(name, scale):
    # sum a_i^2 = E[mu(X)^2]; the tails beyond 100 terms are < 1e-13 (erf geometric, tanh exp(-c
    # sqrt(i))).
    a = hermite_coefficients(name, 100, scale=scale)
    assert (a * a).sum() == pytest.approx(gaussian_second_moment(name, scale), abs=1e-12)


@pytest.mark.parametrize(
    "name, tol",
    [
        (
            "relu",
            2e-3,
        ),  # quadrature error of the kink, dominated by 2 a_0 (a_0 error 8e-4): 6.6e-4 observed
        ("erf", 1e-13),  # closed form against a geometric series: round-off
        (
            "tanh",
            1e-11,
        ),  # 100-term tail at |rho| = 1 is 2e-13; the 128^2-node reference is converged to 1e-13
    ],
)
@pytest.mark.parametrize("scale", [1.0, 0.7])
def test_dual_activation_matches_gaussian_expectation(name, tol, scale):
    act = get_activation(name, quadrature_points=128)  # closed form for relu and erf
    var = torch.full((RHOS.size,), scale * scale, dtype=torch.float64)
    direct, _ = act.expectations(var, torch.as_tensor(RHOS) * scale * scale, var)
    np.testing.assert_allclose(
        dual_activation(name, RHOS, scale=scale), direct.numpy(), rtol=0, atol=tol
    )


def test_dual_activation_keeps_shape_and_accepts_round_off_at_one():
    out = dual_activation("erf", np.zeros((2, 3)))
    assert out.shape == (2, 3)
    assert np.isfinite(dual_activation("erf", 1.0 + 1e-15))


@pytest.mark.parametrize("rho", [1.01, -1.5, [0.0, 2.0], float("nan")])
def test_dual_activation_rejects_rho_outside_unit_interval(rho):
    with pytest.raises(ValueError, match="rho"):
        dual_activation("erf", rho)


@pytest.mark.parametrize(
    "kwargs", [{"n_terms": 0}, {"n_terms": -3}, {"n_terms": 2.5}, {"n_terms": True}]
)
def test_bad_n_terms(kwargs):
    with pytest.raises(ValueError, match="n_terms"):
        hermite_coefficients("relu", **kwargs)
    with pytest.raises(ValueError, match="n_terms"):
        dual_activation("relu", 0.5, **kwargs)


def test_bad_quadrature_scale_and_activation():
    with pytest.raises(ValueError, match="quadrature_points"):
        hermite_coefficients("relu", 50, quadrature_points=40)
    with pytest.raises(ValueError, match="quadrature_points"):
        hermite_coefficients("relu", 30, quadrature_points=1000)
    with pytest.raises(ValueError, match="scale"):
        hermite_coefficients("relu", scale=-1.0)
    with pytest.raises(ValueError, match="unknown activation"):
        hermite_coefficients("sine")
    with pytest.raises(ValueError, match="finite"):
        hermite_coefficients(torch.exp, scale=40.0)  # overflows at the outer nodes


@pytest.mark.parametrize(
    "name, n0, beta",
    [("erf", n0, beta) for n0 in (2, 3, 5) for beta in (0.1, 0.5)]
    + [("tanh", 2, 0.5), ("tanh", 5, 0.1)],
)
def test_sigma2_power_series_reproduces_nngp(name, n0, beta):
    x = sphere_points(8, n0, seed=n0)
    b = sigma2_power_series(name, n0=n0, beta=beta)
    # tanh: 96 nodes per dimension make the reference exact to 2e-13 in the worst case here
    # (n0 = 2, beta = 0.5; the default 64: 6e-12; 32: 6e-6, with a QuadratureWarning).
    reference = nngp(x, depth=2, activation=get_activation(name, quadrature_points=96), beta=beta)
    np.testing.assert_allclose(
        Polynomial(b)((x @ x.T).numpy()), reference.numpy(), rtol=0, atol=1e-12
    )


def test_sigma2_power_series_of_a_polynomial_stops_at_its_degree():
    b = sigma2_power_series(SQUARE, n0=2, beta=0.1)
    assert np.all(b[:3] > 0.01)
    assert np.abs(b[3:]).max() < 1e-28


@pytest.mark.parametrize("name", ["relu", "erf", "tanh"])
@pytest.mark.parametrize("n0", [2, 3, 5])
def test_schoenberg_holds_for_non_polynomial_activations(name, n0):
    b = sigma2_power_series(name, n0=n0, beta=0.1, n_terms=100)
    assert np.all(b >= 0)
    assert schoenberg_positive_definite(b)


@pytest.mark.parametrize("coefficients", [[0, 0, 1], [0, 1, 0, 1], [1, 1]])
def test_schoenberg_fails_for_polynomial_activations(coefficients):
    assert not schoenberg_positive_definite(
        sigma2_power_series(polynomial(coefficients), n0=2, beta=0.1)
    )


@pytest.mark.parametrize("name", ["relu", "erf"])
def test_schoenberg_fails_without_bias(name):
    # beta = 0: nu = mu_hat keeps the parity of the a_i (erf odd: no even b_n; relu: only b_1 odd).
    assert not schoenberg_positive_definite(sigma2_power_series(name, n0=2, beta=0.0))


def test_odd_activation_without_bias_is_singular_on_antipodal_points():
    # What the failure above means: Theta^(2)(x, -x) = -Theta^(2)(x, x) for odd sigma and beta = 0.
    x = sphere_points(1, 3, seed=0)
    for beta, singular in [(0.0, True), (0.1, False)]:
        values = torch.linalg.eigvalsh(
            ntk(torch.cat([x, -x]), depth=2, activation="erf", beta=beta)
        )
        assert (float(values[0] / values[-1]) < 1e-12) == singular


def test_schoenberg_rejects_bad_input_and_negative_coefficients():
    with pytest.raises(ValueError, match="coeffs"):
        schoenberg_positive_definite([1.0])
    with pytest.raises(ValueError, match="coeffs"):
        schoenberg_positive_definite([1.0, float("nan"), 1.0])
    with pytest.raises(ValueError, match="tail_start"):
        schoenberg_positive_definite(np.ones(10), tail_start=9)
    assert schoenberg_positive_definite(np.ones(10))
    assert not schoenberg_positive_definite(np.r_[np.ones(10), -0.5])  # not PSD on every sphere


@pytest.mark.parametrize("name", ["relu", "erf", "tanh"])
@pytest.mark.parametrize("depth", [2, 3])
def test_min_eigenvalue_positive_for_non_polynomial(name, depth):
    # Observed >= 1.3e-4 relative for 30 points on S^4; round-off is 1e-16 and the
    # quadrature of tanh's expectations 1e-10, so 1e-6 is a clear margin on both sides.
    assert min_eigenvalue_on_sphere(30, 5, depth=depth, activation=name, relative=True) > 1e-6


@pytest.mark.parametrize("depth, rank", [(2, 5), (3, 9)])
def test_polynomial_activation_is_singular_with_rank_bound(depth, rank):
    # z^2 on the circle: Theta^(depth) is a polynomial of degree 2^(depth-1) in x.x', i.e. a
    # trigonometric polynomial of that degree: rank 5 (depth 2) or 9 (depth 3) < 30 points.
    assert rank_bound(2, 2, depth) == rank
    assert (
        abs(min_eigenvalue_on_sphere(30, 2, depth=depth, activation=SQUARE, relative=True)) < 1e-10
    )
    values = torch.linalg.eigvalsh(
        ntk(sphere_points(30, 2, seed=0), depth=depth, activation=SQUARE)
    )
    assert int((values > 1e-10 * values[-1]).sum()) == rank


def test_rank_bound_small_cases():
    assert rank_bound(2, 3, 2) == 9  # 1, x_i (3), x_i x_j modulo |x|^2 = 1 (5)
    assert rank_bound(5, 4, 1) == 5  # Theta^(1) = x.x'/n0 + beta^2 is linear whatever sigma
    assert rank_bound(0, 7, 3) == 1  # a constant sigma gives a constant kernel
    assert rank_bound(3, 1, 2) == 2  # S^0 has two points


def test_min_eigenvalue_bad_input():
    with pytest.raises(ValueError, match="n0"):
        min_eigenvalue_on_sphere(10, 1, depth=2)
    with pytest.raises(ValueError, match="n_points"):
        min_eigenvalue_on_sphere(0, 3, depth=2)
    with pytest.raises(ValueError, match="depth"):
        min_eigenvalue_on_sphere(10, 3, depth=0)
