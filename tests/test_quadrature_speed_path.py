"""The fast path of the Gaussian expectations (Mehler's formula, ntk_course.mehler) against scipy's
adaptive quadrature (an independent reference) and against the direct rules it replaces.

No timings here: the speed is measured side by side in benchmarks/benchmark.py.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_quadrature import _gelu, _sigmoid, scipy_expectation

from ntk_course import get_activation, mehler, ntk
from ntk_course import quadrature as quad

SMOOTH = {
    "tanh": (math.tanh, lambda u: 1.0 - math.tanh(u) ** 2),
    "gelu": (
        _gelu,
        lambda u: (
            0.5 * (1.0 + math.erf(u / math.sqrt(2.0)))
            + u * math.exp(-u * u / 2) / math.sqrt(2 * math.pi)
        ),
    ),
    "sigmoid": (_sigmoid, lambda u: _sigmoid(u) * (1.0 - _sigmoid(u))),
    "softplus": (lambda u: max(u, 0.0) + math.log1p(math.exp(-abs(u))), _sigmoid),
}


def _direct(act, a, c, b):
    """The direct rules of ntk_course.quadrature on the same entries (the path the series
    replaces)."""
    profile = quad.Profile((), act.profile.scale, act.profile.hermite_variance)
    hi, lo = torch.maximum(a, b), torch.minimum(a, b)
    e_s, e_d, _ = quad._integrate(act.sigma_and_dot, hi, lo, c, profile, 64)
    return e_s, e_d


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(SMOOTH)),
    a=st.floats(1e-3, 2.0),
    b=st.floats(1e-3, 2.0),
    rho=st.one_of(st.floats(-1.0, 1.0), st.sampled_from([-1.0, 1.0, 0.999999, -0.9999])),
)
def test_series_matches_scipy_adaptive_quadrature(name, a, b, rho) -> None:
    """Random covariances and activations: within 1e-8 of scipy, relative to
    sqrt(E f(u)^2 E f(v)^2), taken by the series (not handed to the direct rules), with an error
    estimate that says so. One exception, by design: tanh's Hermite coefficients at a variance
    above about 1 outlast the largest rule (its poles at +-i pi/2 slow their decay), so the series
    hands those entries to the direct rules, whose results must then be as accurate."""
    act = get_activation(name)
    c = rho * (a if a == b else math.sqrt(a * b))
    t = [torch.tensor([v], dtype=torch.float64) for v in (a, c, b)]
    e_s, e_d, estimate, rest = mehler.series_expectations(act.sigma_and_dot, *t, 64)
    if rest is None:
        assert estimate < 1e-10
    else:
        assert name == "tanh" and max(a, b) > 1.0, f"{name} at variances {a}, {b} left the series"
        e_s, e_d, estimate = act.expectations_and_error(*t)
        assert estimate < 1e-8
    for ours, f in zip((e_s, e_d), SMOOTH[name]):
        ref = scipy_expectation(f, a, c, b)
        scale = math.sqrt(abs(scipy_expectation(f, a, a, a) * scipy_expectation(f, b, b, b)))
        assert abs(float(ours) - ref) <= 1e-8 * scale


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_series_matches_the_direct_rules_on_a_kernel_block(name) -> None:
    """A block shaped as the kernels pass it (a column of row variances, the covariances, a row of
    column variances), variances 0.01 to 1.5 and every correlation up to 1: within 1e-9 of the
    direct rules, entry by entry, relative to the Cauchy-Schwarz scale."""
    g = torch.Generator().manual_seed(1)
    x = (
        torch.randn(40, 6, generator=g, dtype=torch.float64)
        * torch.linspace(0.1, 1.2, 40, dtype=torch.float64)[:, None]
    )
    x[5] = x[3]
    q = (x * x).sum(1)
    gram = x @ x.T
    act = get_activation(name)
    e_s, e_d, estimate = act.expectations_and_error(q[:, None], gram, q[None, :])
    a, b = q[:, None].expand_as(gram).reshape(-1), q[None, :].expand_as(gram).reshape(-1)
    ref_s, ref_d = _direct(act, a, gram.reshape(-1), b)
    diag_s, diag_d = _direct(act, q, q, q)
    for ours, ref, diag in ((e_s, ref_s, diag_s), (e_d, ref_d, diag_d)):
        scale = (diag[:, None] * diag[None, :]).abs().sqrt().reshape(-1)
        assert float(((ours.reshape(-1) - ref).abs() / scale).max()) < 1e-9
    assert (
        estimate < 1e-8
    )  # the largest variances (gelu at 8) may take the direct rules, 1e-10 or so


def test_unresolved_variances_go_to_the_direct_rules() -> None:
    """tanh at variance 100 is a step to the series (its coefficients decay too slowly for 360
    nodes): those entries, and only those, take the direct rules, and the result is still right."""
    act = get_activation("tanh")
    q = torch.tensor([0.5, 100.0], dtype=torch.float64)
    c = torch.tensor([[0.5, 2.0], [2.0, 100.0]], dtype=torch.float64)
    *_, rest = mehler.series_expectations(act.sigma_and_dot, q[:, None], c, q[None, :], 64)
    assert rest is not None and rest.tolist() == [[False, True], [True, True]]
    e_s, e_d, _ = act.expectations_and_error(q[:, None], c, q[None, :])
    ref_s, ref_d = _direct(
        act, q[:, None].expand(2, 2).reshape(-1), c.reshape(-1), q[None, :].expand(2, 2).reshape(-1)
    )
    np.testing.assert_allclose(e_s.reshape(-1).numpy(), ref_s.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(e_d.reshape(-1).numpy(), ref_d.numpy(), rtol=1e-10, atol=1e-14)


def test_kinked_and_polynomial_activations_keep_the_direct_rules() -> None:
    """The series needs a smooth activation: a kink (found numerically) or a polynomial (exact with
    Gauss-Hermite) never reaches it."""
    seen = []
    original = mehler.series_expectations

    def spy(*args):
        seen.append(True)
        return original(*args)

    mehler.series_expectations = spy
    try:
        a = torch.tensor([1.0, 0.5], dtype=torch.float64)
        for act in (get_activation(torch.abs), get_activation("identity")):
            act.expectations_and_error(a, 0.3 * a, a)
        assert not seen
        get_activation("tanh").expectations_and_error(a, 0.3 * a, a)
        assert seen
    finally:
        mehler.series_expectations = original


def test_tanh_ntk_of_mnist_like_inputs_matches_the_direct_rules() -> None:
    """The whole recursion (depth 4, a test set with a training point): the series path and the
    direct rules agree to 1e-10 relative."""
    g = torch.Generator().manual_seed(3)
    x = torch.rand(30, 20, generator=g, dtype=torch.float64)
    y = torch.cat([torch.rand(4, 20, generator=g, dtype=torch.float64), x[:1]])
    fast = ntk(x, y, depth=4, activation="tanh")
    original = mehler.series_expectations

    def nothing(pair, a, c, b, points):  # every entry left to the direct rules
        shape = torch.broadcast_shapes(a.shape, c.shape, b.shape)
        return (
            torch.zeros(shape, dtype=c.dtype),
            torch.zeros(shape, dtype=c.dtype),
            0.0,
            torch.ones(shape, dtype=torch.bool),
        )

    mehler.series_expectations = nothing
    try:
        slow = ntk(x, y, depth=4, activation="tanh")
    finally:
        mehler.series_expectations = original
    np.testing.assert_allclose(fast.numpy(), slow.numpy(), rtol=1e-10, atol=0)
