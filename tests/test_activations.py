"""Tests of ntk_course.activations: the Gaussian expectations E[sigma(u)sigma(v)] and
E[sigma_dot(u)sigma_dot(v)] that drive the kernel recursions (Sec. 2, Theorem 1), closed forms
against the quadrature of the same function."""

import math

import pytest
import torch
from conftest import random_covariances
from hypothesis import given, settings
from hypothesis import strategies as st

from ntk_course import get_activation, polynomial
from ntk_course.quadrature import gaussian_expectations


def test_quadrature_matches_the_erf_closed_form() -> None:
    """erf is analytic, so Gauss-Hermite quadrature converges spectrally to Williams' formulas."""
    act = get_activation("erf")
    a, c, b = random_covariances(50, 7)
    quadrature = gaussian_expectations(act.sigma, act.sigma_dot, a, c, b, 96)
    for exact, approx in zip(act.expectations(a, c, b), quadrature, strict=True):
        torch.testing.assert_close(approx, exact, rtol=1e-8, atol=1e-10)


def test_quadrature_of_relu_matches_the_closed_form() -> None:
    """ReLU's kink and its step derivative, integrated by the general rule (breakpoints found
    numerically): an edge on the kink makes it as accurate as for a smooth function. (The former
    product Gauss-Hermite grid converged only algebraically here: 1e-2 at 128 nodes.)"""
    act = get_activation("relu")
    a, c, b = random_covariances(50, 7)
    exact = act.expectations(a, c, b)
    approx = gaussian_expectations(act.sigma, act.sigma_dot, a, c, b)
    for p, e in zip(approx, exact, strict=True):
        torch.testing.assert_close(p, e, rtol=1e-9, atol=1e-10)


COVARIANCE = st.tuples(st.floats(-2.0, 2.0), st.floats(-2.0, 2.0), st.floats(-1.0, 1.0))


@pytest.mark.parametrize("name", ["relu", "erf"])
@settings(max_examples=12)
@given(covariances=st.lists(COVARIANCE, min_size=1, max_size=8))
def test_closed_forms_equal_the_quadrature_for_random_covariances(
    name: str, covariances: list[tuple[float, float, float]]
) -> None:
    """The closed forms (arc-cosine kernels for ReLU, Williams' for erf) against the quadrature path
    of the public API, for any covariances (log10 q_xx, log10 q_yy, rho): variances 10^-2 .. 10^2,
    any correlation including +-1.

    ``get_activation(torch.relu)`` is a user's callable (derivative by autograd, kink found
    numerically), so it takes the quadrature; ``get_activation("relu")`` the closed form. Both
    expectations agree to 1e-9 relative to their Cauchy-Schwarz bound sqrt(E[f(u)^2] E[f(v)^2]) (the
    quadrature is accurate to ~1e-10 there), and the quadrature's own error estimate is honest: the
    true error is at most 10 times the estimate (or 1e-12).
    """
    closed = get_activation(name)
    quadrature = get_activation(closed.sigma)
    assert quadrature.closed_form is None and closed.closed_form is not None
    log_a, log_b, rho = torch.tensor(covariances, dtype=torch.float64).T
    a, b = 10.0**log_a, 10.0**log_b
    c = rho * torch.sqrt(a * b)
    exact_s, exact_d, zero = closed.expectations_and_error(a, c, b)
    approx_s, approx_d, estimate = quadrature.expectations_and_error(a, c, b)
    assert zero == 0.0
    at_a, at_b = closed.expectations(a, a, a), closed.expectations(b, b, b)
    bounds = [torch.sqrt(x * y) for x, y in zip(at_a, at_b, strict=True)]
    for approx, exact, bound in zip((approx_s, approx_d), (exact_s, exact_d), bounds, strict=True):
        error = float(((approx - exact).abs() / bound).max())
        assert error <= 1e-9
        assert error <= max(10 * estimate, 1e-12)


def test_polynomial_quadrature_is_exact() -> None:
    """For sigma(z) = z^2, E[u^2 v^2] = q_xx q_yy + 2 q_xy^2 and E[4uv] = 4 q_xy exactly."""
    act = polynomial([0, 0, 1])
    a, b, c = torch.tensor([0.7]), torch.tensor([1.3]), torch.tensor([-0.4])
    s, d = act.expectations(a, c, b)
    torch.testing.assert_close(s, a * b + 2 * c * c)
    torch.testing.assert_close(d, 4 * c)


def test_relu_closed_form_at_equal_points_is_half_the_variance() -> None:
    """At correlation 1: E[relu(u)^2] = q/2 and E[step(u)^2] = 1/2 exactly; at -1:
    E[relu(u)relu(-u)] = 0; erf at correlation 1 is Williams' (2/pi) asin(2q / (1 + 2q))."""
    q = torch.tensor([0.5, 2.0, 7.0], dtype=torch.float64)
    s, d = get_activation("relu").expectations(q, q, q)
    torch.testing.assert_close(s, q / 2, rtol=1e-15, atol=0)
    torch.testing.assert_close(d, torch.full_like(q, 0.5), rtol=1e-15, atol=0)
    s, d = get_activation("relu").expectations(q, -q, q)
    assert float(s.abs().max()) < 1e-15 * float(q.max()) and float(d.abs().max()) < 1e-15
    assert math.isclose(
        float(get_activation("erf").expectations(q[:1], q[:1], q[:1])[0]),
        2 / math.pi * math.asin(2 * 0.5 / (1 + 2 * 0.5)),
        rel_tol=1e-14,
    )
