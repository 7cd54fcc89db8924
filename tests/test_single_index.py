"""Tests of ntk_course.single_index against independent references."""

import itertools
import math

import numpy as np
import pytest
import torch

from ntk_course.single_index import (
    crossing_size,
    harmonic_power,
    hermite,
    hermite_target,
    kernel_error_bound,
    polynomial_dimension,
    relative_error,
    sphere_inputs,
)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_hermite_norm_by_monte_carlo(k):
    # E[He_k(z)^2] = k! for z ~ N(0, 1); the Monte Carlo mean of M draws has the standard error
    # sqrt(Var / M) with Var = E[He_k^4] - (k!)^2, estimated from the sample; 5 s.e. allowed.
    z = torch.randn(400_000, generator=torch.Generator().manual_seed(k), dtype=torch.float64)
    sq = hermite(z, k).square()
    se = float(sq.std()) / math.sqrt(z.numel())
    assert abs(float(sq.mean()) - math.factorial(k)) < 5 * se


def test_hermite_against_numpy():
    z = np.linspace(-3, 3, 41)
    for k in range(6):
        coef = np.zeros(k + 1)
        coef[k] = 1.0
        ref = np.polynomial.hermite_e.hermeval(z, coef)
        np.testing.assert_allclose(hermite(z, k).numpy(), ref, rtol=1e-12, atol=1e-12)


def test_hermite_orthogonal_by_monte_carlo():
    z = torch.randn(400_000, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    prod = hermite(z, 2) * hermite(z, 3)
    se = float(prod.std()) / math.sqrt(z.numel())
    assert abs(float(prod.mean())) < 5 * se


def test_sphere_inputs_radius_and_target():
    x = sphere_inputs(2000, 12, seed=3)
    assert x.shape == (2000, 12)
    torch.testing.assert_close(x.norm(dim=1), torch.full((2000,), math.sqrt(12), dtype=x.dtype))
    # On the sphere of radius sqrt(n0), He_2(x_1) = x_1^2 - 1 has mean exactly 0 in expectation and
    # E[y^2] = (3 n0 / (n0 + 2) - 1) / 2 (x_1^2 / n0 ~ Beta(1/2, (n0 - 1)/2)); 5 s.e. allowed.
    y = hermite_target(x, 2)
    exact = (3 * 12 / 14 - 1) / 2
    se = float(y.square().std()) / math.sqrt(2000)
    assert abs(float(y.square().mean()) - exact) < 5 * se


def test_target_direction_invariance():
    x = sphere_inputs(50, 5, seed=1)
    w = torch.tensor([0.0, 3.0, 0.0, 0.0, 0.0])
    torch.testing.assert_close(hermite_target(x, 3, w), hermite_target(x[:, [1, 0, 2, 3, 4]], 3))


def _brute_dimension(n0, k, points=400, seed=0):
    """The rank of all monomials of degree <= k evaluated at random points of the sphere."""
    x = sphere_inputs(points, n0, seed=seed).numpy()
    cols = [np.ones(points)]
    for degree in range(1, k + 1):
        for idx in itertools.combinations_with_replacement(range(n0), degree):
            cols.append(np.prod(x[:, list(idx)], axis=1))
    return int(np.linalg.matrix_rank(np.stack(cols, 1), tol=1e-8 * points))


@pytest.mark.parametrize("n0,k", [(2, 3), (3, 2), (3, 4), (5, 2), (6, 3), (8, 2)])
def test_polynomial_dimension_brute_force(n0, k):
    assert polynomial_dimension(n0, k) == _brute_dimension(n0, k)


def test_polynomial_dimension_closed_form():
    for n0, k in [(4, 1), (10, 2), (20, 3)]:
        want = math.comb(n0 + k - 1, k) + math.comb(n0 + k - 2, k - 1)
        assert polynomial_dimension(n0, k) == want
    assert polynomial_dimension(7, 0) == 1


def test_relative_error():
    y = torch.tensor([1.0, -1.0, 2.0])
    assert float(relative_error(y, y)) == 0.0
    assert float(relative_error(torch.zeros(3), y)) == pytest.approx(1.0)
    assert relative_error(torch.zeros(4, 3), y).shape == (4,)


def test_crossing_size():
    n = [10, 20, 40, 80]
    e = [1.0, 0.5, 0.25, 0.125]  # error = 10 / N: crosses 0.2 at N = 50
    assert crossing_size(n, e, 0.2) == pytest.approx(50.0)
    assert crossing_size(n, e, 2.0) == 10.0
    assert math.isnan(crossing_size(n, e, 0.1))


def test_bad_input():
    with pytest.raises(ValueError, match="k"):
        hermite([0.0], -1)
    with pytest.raises(ValueError, match="finite"):
        hermite([float("nan")], 2)
    with pytest.raises(ValueError, match="dimension"):
        hermite_target(torch.zeros(3, 4), 2, w=torch.ones(3))
    with pytest.raises(ValueError, match="non-zero"):
        hermite_target(torch.zeros(3, 4), 2, w=torch.zeros(4))
    with pytest.raises(ValueError, match="n0"):
        polynomial_dimension(1, 2)
    with pytest.raises(ValueError, match="increasing"):
        crossing_size([20, 10], [1.0, 0.5], 0.2)
    with pytest.raises(ValueError, match="level"):
        crossing_size([10, 20], [1.0, 0.5], 0.0)
    with pytest.raises(ValueError, match="identically zero"):
        relative_error([1.0, 2.0], [0.0, 0.0])


@pytest.mark.parametrize("n0", [3, 8, 20])
def test_harmonic_power_k2_closed_form(n0):
    assert harmonic_power(n0, 2) == pytest.approx((3 * n0 / (n0 + 2) - 1) / 2, rel=1e-10)


@pytest.mark.parametrize("n0,k", [(5, 3), (10, 3), (6, 1)])
def test_harmonic_power_by_monte_carlo(n0, k):
    # Independent reference: regress f* on all monomials of degree <= k - 1 and degree <= k at
    # random sphere points; the gain in explained power is ||P_k f*||^2 (the degree-k harmonics are
    # the polynomials of degree <= k orthogonal to those of degree <= k - 1). Allowance 0.03 for
    # 40000 points and <= 300 regressors.
    x = sphere_inputs(40_000, n0, seed=11).numpy()
    y = hermite_target(x, k).numpy()

    def residual(deg):
        cols = [np.ones(len(x))]
        for d in range(1, deg + 1):
            for idx in itertools.combinations_with_replacement(range(n0), d):
                cols.append(np.prod(x[:, list(idx)], axis=1))
        a = np.stack(cols, 1)
        coef = np.linalg.lstsq(a, y, rcond=None)[0]
        return float(np.mean((y - a @ coef) ** 2))

    assert harmonic_power(n0, k) == pytest.approx(residual(k - 1) - residual(k), abs=0.03)


def test_kernel_error_bound():
    b = kernel_error_bound(8, 2, [0, 10, 1000])
    assert b[0] == pytest.approx(harmonic_power(8, 2))
    assert b[1] == pytest.approx(harmonic_power(8, 2) * (1 - 10 / 35))
    assert b[2] == 0.0
    with pytest.raises(ValueError, match="sizes"):
        kernel_error_bound(8, 2, [-1])
