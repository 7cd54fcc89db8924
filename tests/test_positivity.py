"""The kernel-side steps of the proof of Proposition 2 (App. A.4): layer kernels, step 2, flows."""

from __future__ import annotations

import math

import pytest
import torch

from ntk_course import Architecture
from ntk_course.activations import polynomial
from ntk_course.chapters.positivity import (
    least_squares_cost,
    min_eigenvalues_on_circle,
    quadratic_form_monte_carlo,
)
from ntk_course.datasets import circle_points, sphere_points
from ntk_course.flow import gradient_flow
from ntk_course.hermite import rank_bound
from ntk_course.kernels import limiting_kernels, ntk
from ntk_course.layers import layer_kernels

RELU = Architecture(2)  # ReLU, beta = 0.1


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
def test_layer_kernels_match_the_blocked_recursion(activation, device):
    x = sphere_points(9, 3, seed=1).to(device)
    lk = layer_kernels(x, depth=4, activation=activation, beta=0.2)
    assert lk.Sigma_dot[0] is None and len(lk.Sigma) == len(lk.Theta) == len(lk.Sigma_dot) == 4
    for depth in range(1, 5):
        sigma, theta = limiting_kernels(x, depth=depth, activation=activation, beta=0.2)
        # ReLU's angle of a point with itself carries ~1e-8 of round-off in both codes: 1e-8
        # relative.
        torch.testing.assert_close(lk.Sigma[depth - 1], sigma, rtol=1e-8, atol=1e-12)
        torch.testing.assert_close(lk.Theta[depth - 1], theta, rtol=1e-8, atol=1e-12)
        assert lk.Theta[depth - 1].device == x.device
        assert torch.equal(lk.Theta[depth - 1], lk.Theta[depth - 1].T)


def test_step1_schur_term_is_psd_and_weyl_holds():
    # Step 1: Theta^(l+1) = Sigma_dot^(l+1) * Theta^(l) + Sigma^(l+1) with a PSD first term.
    x, _ = circle_points(12)
    lk = layer_kernels(x, depth=4, activation="erf")
    for l in range(1, 4):
        schur = lk.Sigma_dot[l] * lk.Theta[l - 1]
        torch.testing.assert_close(lk.Theta[l], schur + lk.Sigma[l], rtol=1e-14, atol=1e-15)
        low = [float(torch.linalg.eigvalsh(k)[0]) for k in (schur, lk.Sigma[l], lk.Theta[l])]
        assert low[0] > -1e-13 and low[2] >= low[1] - 1e-13


def test_sigma1_is_singular_and_sigma2_is_not():
    x, _ = circle_points(12)
    lk = layer_kernels(x, depth=3, activation="relu")
    values = torch.linalg.eigvalsh(lk.Sigma[0])
    assert int((values > 1e-12 * values[-1]).sum()) == 3  # rank n0 + 1
    for k in lk.Sigma[1:]:
        v = torch.linalg.eigvalsh(k)
        assert float(v[0] / v[-1]) > 1e-6


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_quadratic_form_identity_of_step2(activation):
    x = sphere_points(6, 3, seed=2)
    lk = layer_kernels(x, depth=3, activation=activation, beta=0.3)
    c = torch.tensor([1.0, -2.0, 0.5, 0.0, 1.5, -1.0], dtype=torch.float64)
    estimate, se = quadratic_form_monte_carlo(
        lk.Sigma[1], c, Architecture(3, activation, 0.3), samples=200_000, seed=3
    )
    exact = float(c @ lk.Sigma[2] @ c)
    assert abs(estimate - exact) < 4 * se  # four standard errors
    assert se < 0.02 * exact  # and the test is sharp enough to mean something


def test_quadratic_form_detects_a_wrong_kernel():
    # The same estimate does NOT match the next layer of another activation: the check has teeth.
    x = sphere_points(6, 3, seed=2)
    c = torch.tensor([1.0, -2.0, 0.5, 0.0, 1.5, -1.0], dtype=torch.float64)
    lk = layer_kernels(x, depth=3, activation="relu", beta=0.3)
    wrong = float(c @ layer_kernels(x, depth=3, activation="erf", beta=0.3).Sigma[2] @ c)
    estimate, se = quadratic_form_monte_carlo(
        lk.Sigma[1], c, Architecture(3, "relu", 0.3), samples=50_000
    )
    assert abs(estimate - wrong) > 10 * se


def test_quadratic_form_bad_input():
    k = torch.eye(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="c must have 3 rows"):
        quadratic_form_monte_carlo(k, torch.ones(4), RELU)
    with pytest.raises(ValueError, match="symmetric"):
        quadratic_form_monte_carlo(torch.tensor([[1.0, 0.5], [0.0, 1.0]]), torch.ones(2), RELU)
    with pytest.raises(ValueError, match="positive semi-definite"):
        quadratic_form_monte_carlo(-k, torch.ones(3), RELU)
    with pytest.raises(ValueError, match="samples"):
        quadratic_form_monte_carlo(k, torch.ones(3), RELU, samples=1)


def test_min_eigenvalues_on_circle_polynomial_cliff_at_rank_bound():
    square = polynomial([0, 0, 1])
    bound = rank_bound(2, 2, 2)
    values = min_eigenvalues_on_circle(range(2, 12), Architecture(2, square))
    for n, v in zip(range(2, 12), values):
        assert (abs(float(v)) < 1e-13) == (n > bound)
    relu = min_eigenvalues_on_circle([4, 12, 24], RELU)
    assert bool((relu > 1e-4).all())
    absolute = min_eigenvalues_on_circle([12], RELU, relative=False)
    assert float(absolute[0]) == pytest.approx(
        float(torch.linalg.eigvalsh(ntk(circle_points(12)[0], depth=2))[0])
    )


@pytest.mark.parametrize("activation, depth", [("relu", 2), ("erf", 3), ("relu", 4)])
def test_min_eigenvalues_on_circle_match_the_full_gram_matrix(activation, depth):
    # The Fourier transform of the first row against eigvalsh of the whole circulant Gram matrix.
    sizes = list(range(2, 21))
    fast = min_eigenvalues_on_circle(sizes, Architecture(depth, activation, 0.2))
    for n, value in zip(sizes, fast):
        v = torch.linalg.eigvalsh(
            ntk(circle_points(n)[0], depth=depth, activation=activation, beta=0.2)
        )
        assert abs(float(value) - float(v[0] / v[-1])) < 1e-12


def test_min_eigenvalues_on_circle_bad_input():
    with pytest.raises(ValueError, match="n_points"):
        min_eigenvalues_on_circle([1], RELU)
    with pytest.raises(ValueError, match="at least one"):
        min_eigenvalues_on_circle([], RELU)
    with pytest.raises(ValueError, match="depth"):
        min_eigenvalues_on_circle([4], Architecture(0))
    with pytest.raises(ValueError, match="standard parametrisation"):
        min_eigenvalues_on_circle([4], Architecture(2, parametrization="standard"))


def test_least_squares_cost_rate_and_plateau():
    x, gamma = circle_points(12)
    y = torch.sin(3 * gamma) + 0.5 * torch.cos(gamma)
    k = ntk(x, depth=2)
    n = len(y)
    # dC/dt = -(1/N^2) r^T K r (Section 3), by central differences of the exact flow.
    t0, h = 20.0, 1e-3
    c = least_squares_cost(k, y, [t0 - h, t0 + h])
    r = gradient_flow(k, y, [t0]).f_train[0] - y
    assert float(c[1] - c[0]) / (2 * h) == pytest.approx(-float(r @ k @ r) / n**2, rel=1e-6)
    assert float(least_squares_cost(k, y, [0.0])[0]) == pytest.approx(
        0.5 * float(y @ y) / n, rel=1e-14
    )
    # A polynomial kernel cannot see sin(3 gamma): the cost stops at its energy, 1/4.
    k_poly = ntk(x, depth=2, activation=polynomial([0, 1, 0.5]))
    assert float(least_squares_cost(k_poly, y, [1e5])[0]) == pytest.approx(0.25, abs=1e-8)
    assert float(least_squares_cost(k, y, [1e5])[0]) < 1e-12


def test_least_squares_cost_with_columns_and_start():
    x, gamma = circle_points(6)
    y = torch.stack([torch.cos(gamma), torch.sin(gamma)], 1)
    f0 = torch.ones(6, 2, dtype=torch.float64)
    cost = least_squares_cost(ntk(x, depth=3), y, [0.0, 1.0], f0_train=f0)
    assert float(cost[0]) == pytest.approx(0.5 * float((f0 - y).square().sum()) / 6, rel=1e-14)
    assert float(cost[1]) < float(cost[0])


def test_layer_kernels_bad_input():
    with pytest.raises(ValueError, match="depth"):
        layer_kernels(torch.ones(3, 2), depth=0)
    with pytest.raises(ValueError, match="beta"):
        layer_kernels(torch.ones(3, 2), depth=2, beta=-1.0)
    with pytest.raises(ValueError, match="non-finite"):
        layer_kernels(torch.tensor([[math.nan, 1.0]]), depth=2)
    with pytest.raises(ValueError, match="unknown activation"):
        layer_kernels(torch.ones(3, 2), depth=2, activation="sine")
