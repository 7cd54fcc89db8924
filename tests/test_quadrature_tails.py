"""Issue 22, item 1: the quadrature's error estimate sees the tails at any quadrature_points.

The rule and the finer rule it is checked against used to share their 24-node half-range tails once
quadrature_points >= 144, and Mehler's series trusted coefficients that a 360-node rule aliases, so
sin(3z) at input norm 10 stayed 1.8e-3 off at 256 and 360 points without a warning. Each case here
must be accurate to the tolerance or warn, against closed forms evaluated in mpmath (any exponent):
E[exp(u) exp(v)] = exp((a + b + 2c) / 2), cosh and sinh from the same exponentials, and
E[sin(ku) sin(kv)] = exp(-k^2 (a + b) / 2) sinh(k^2 c), E[k cos(ku) k cos(kv)] likewise with cosh.
"""

from __future__ import annotations

import warnings

import mpmath
import pytest
import torch

from ntk_course import nngp
from ntk_course.activations import get_activation
from ntk_course.quadrature import TOLERANCE, QuadratureWarning


def _exp(a, c, b):
    e = mpmath.exp((a + b + 2 * c) / 2)
    return e, e


def _cosh(a, c, b):
    plus, minus = mpmath.exp((a + b + 2 * c) / 2), mpmath.exp((a + b - 2 * c) / 2)
    return (plus + minus) / 2, (plus - minus) / 2


def _sin3(a, c, b):
    damp = mpmath.exp(-9 * (a + b) / 2)
    return damp * mpmath.sinh(9 * c), 9 * damp * mpmath.cosh(9 * c)


CASES = {
    "exp": (torch.exp, _exp),
    "cosh": (torch.cosh, _cosh),
    "sin(3z)": (lambda z: torch.sin(3 * z), _sin3),
}
GRID = [
    (v, w, r)
    for v in (1.0, 10.0, 100.0)
    for w in (v, v / 4)
    for r in (1.0, 0.999, 0.5, 0.0, -0.9, -1.0)
]


@pytest.mark.parametrize("points", [64, 144, 256, 360])
@pytest.mark.parametrize("name", list(CASES))
def test_accurate_or_estimated_above_the_tolerance(name: str, points: int):
    fn, closed = CASES[name]
    a = torch.tensor([g[0] for g in GRID], dtype=torch.float64)
    b = torch.tensor([g[1] for g in GRID], dtype=torch.float64)
    c = torch.tensor([g[2] for g in GRID], dtype=torch.float64) * (a * b).sqrt()
    e_s, e_d, estimate = get_activation(fn, quadrature_points=points).expectations_and_error(
        a, c, b
    )
    worst = 0.0
    for k, (ai, ci, bi) in enumerate(zip(a.tolist(), c.tolist(), b.tolist())):
        exact = closed(mpmath.mpf(ai), mpmath.mpf(ci), mpmath.mpf(bi))
        diag_a, diag_b = closed(ai, ai, ai), closed(bi, bi, bi)
        for got, want, da, db in zip((e_s[k], e_d[k]), exact, diag_a, diag_b):
            scale = mpmath.sqrt(abs(da * db))
            worst = max(worst, float(abs(mpmath.mpf(float(got)) - want) / scale))
    assert worst <= TOLERANCE or estimate > TOLERANCE, (worst, estimate)


@pytest.mark.parametrize("points", [64, 256])
def test_the_issues_nngp_cases_warn_or_are_exact(points: int):
    """nngp([[10.]], exp, beta=0) is E[exp(10 Z)^2] = exp(200); sin(3z) on points of norm 10."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        k = float(nngp([[10.0]], depth=2, activation=torch.exp, beta=0.0, quadrature_points=points))
    warned = any(issubclass(w.category, QuadratureWarning) for w in caught)
    assert warned or abs(k / float(mpmath.exp(200)) - 1) < TOLERANCE
    x = torch.tensor([[10.0], [-3.0], [7.0], [-9.5]], dtype=torch.float64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        k = nngp(
            x, depth=2, activation=lambda z: torch.sin(3 * z), beta=0.0, quadrature_points=points
        )
    warned = any(issubclass(w.category, QuadratureWarning) for w in caught)
    q = [float(t) ** 2 for t in x[:, 0]]
    worst = max(
        abs(float(k[i, j]) - float(_sin3(q[i], float(x[i, 0] * x[j, 0]), q[j])[0]))
        / float(mpmath.sqrt(_sin3(q[i], q[i], q[i])[0] * _sin3(q[j], q[j], q[j])[0]))
        for i in range(4)
        for j in range(4)
    )
    assert warned or worst < TOLERANCE, worst
