"""The Gaussian expectations of the kernel recursions against references the library does not use.

References: closed forms from the literature (the arc-cosine kernels of Cho & Saul 2009 for ReLU,
step, |u| and leaky ReLU; Williams 1997 for erf), scipy's adaptive quadrature (QUADPACK) of the
density of u times the conditional expectation E[f(v) | u], with the kinks passed as ``points=``,
and Monte Carlo with tolerances of 5 standard errors. The scipy references are computed once per
module on a small grid: variances 0.01, 1 and 100, correlations from -1 to 1.
"""

import math
import warnings

import numpy as np
import pytest
import torch
from scipy import integrate

from ntk_course import (
    get_activation,
    layer_kernels,
    limiting_kernels,
    nngp,
    ntk,
    polynomial,
)
from ntk_course import quadrature as quad
from ntk_course import quadrature_rules as rules
from ntk_course.hermite import hermite_coefficients

# ----------------------------------------------------------------------------- independent
# references


def _gauss(x: float, var: float) -> float:
    return math.exp(-x * x / (2.0 * var)) / math.sqrt(2.0 * math.pi * var)


def scipy_expectation(f, a: float, c: float, b: float, kinks: tuple[float, ...] = ()) -> float:
    """E[f(u) f(v)], (u, v) ~ N(0, [[a, c], [c, b]]), as int f(u) E[f(v) | u] N(u; 0, a) du with
    v | u ~ N(c u / a, b - c^2 / a), by scipy.integrate.quad over +-12 standard deviations. Passed
    as breakpoints: the kinks of f, u = 0, +-1, +-4 (where the activations change; at variance 100
    QUADPACK's first 21 nodes could miss that), and the u where the conditional mean crosses a kink,
    with points 2 and 6 conditional widths either side (for rho near +-1 the inner integral is a
    smoothed step there, which QUADPACK otherwise leaves unresolved at 1e-6)."""
    lo, hi = -12.0 * math.sqrt(a), 12.0 * math.sqrt(a)
    layer_kinks, kinks = kinks, tuple(kinks) + (0.0, 1.0, -1.0, 4.0, -4.0)
    det = a * b - c * c
    if det <= 1e-14 * a * b:  # rho = +-1: v = (c / a) u
        r = c / a
        pts = sorted({t for t in kinks if lo < t < hi} | {t / r for t in kinks if lo < t / r < hi})
        return integrate.quad(
            lambda u: f(u) * f(r * u) * _gauss(u, a),
            lo,
            hi,
            points=pts or None,
            limit=200,
            epsabs=1e-13,
            epsrel=1e-11,
        )[0]
    s = math.sqrt(det / a)

    def inner(u: float) -> float:
        m = c * u / a
        pts = [t for t in kinks if m - 12 * s < t < m + 12 * s]
        return integrate.quad(
            lambda v: f(v) * _gauss(v - m, s * s),
            m - 12 * s,
            m + 12 * s,
            points=pts or None,
            limit=200,
            epsabs=1e-13,
            epsrel=1e-11,
        )[0]

    # E[f(v) | u] changes over a width s a / |c| around the u where the conditional mean crosses a
    # kink.
    layer = (
        [t * a / c + k * s * a / abs(c) for t in layer_kinks for k in (-6, -2, 0, 2, 6)]
        if c
        else []
    )
    layer += [t * a / c for t in kinks] if c else []
    pts = sorted({t for t in kinks if lo < t < hi} | {u for u in layer if lo < u < hi})
    return integrate.quad(
        lambda u: f(u) * inner(u) * _gauss(u, a),
        lo,
        hi,
        points=pts or None,
        limit=400,
        epsabs=1e-13,
        epsrel=1e-10,
    )[0]


def arccos_relu(a, c, b):
    """E[relu(u) relu(v)] and E[step(u) step(v)] (Cho & Saul 2009), theta the angle of (u, v) from
    atan2."""
    a, c, b = np.broadcast_arrays(*(np.asarray(t, dtype=float) for t in (a, c, b)))
    s = np.sqrt(np.maximum(a * b - c * c, 0.0))  # sqrt(ab) sin(theta), exactly 0 for c = a = b
    theta = np.arctan2(s, c)
    return (s + (np.pi - theta) * c) / (2 * np.pi), (np.pi - theta) / (2 * np.pi)


def arccos_abs(a, c, b):
    """E[|u| |v|] = (2/pi) sqrt(ab) (sqrt(1 - rho^2) + rho asin rho) and E[sign(u) sign(v)] = (2/pi)
    asin rho.

    Angles from atan2 (as for the ReLU kernel): arcsin of a rounded rho = 1 - 1e-16 is 1.5e-8
    off."""
    a, c, b = np.broadcast_arrays(*(np.asarray(t, dtype=float) for t in (a, c, b)))
    s = np.sqrt(np.maximum(a * b - c * c, 0.0))  # sqrt(ab (1 - rho^2)), exactly 0 for c = a = b
    asin = np.arctan2(c, s)
    return 2 / np.pi * (s + c * asin), 2 / np.pi * asin


def arccos_leaky(alpha: float):
    """sigma = relu(u) - alpha relu(-u): E = (1 + alpha^2) J(c) - 2 alpha J(-c) with J the ReLU
    kernel ((-u, -v) has the law of (u, v)); sigma_dot = step(u) + alpha step(-u) likewise with a
    plus sign."""

    def kernel(a, c, b):
        (jp, kp), (jm, km) = arccos_relu(a, c, b), arccos_relu(a, -np.asarray(c, dtype=float), b)
        return (1 + alpha**2) * jp - 2 * alpha * jm, (1 + alpha**2) * kp + 2 * alpha * km

    return kernel


def recursion(x: np.ndarray, y: np.ndarray, depth: int, beta: float, kernel) -> np.ndarray:
    """Theta^(depth)(x, y) by the recursion of Theorem 1 with the expectations
    ``kernel(a, c, b)``."""
    n0 = x.shape[1]
    qx, qy = (x * x).sum(1) / n0 + beta**2, (y * y).sum(1) / n0 + beta**2
    sigma = x @ y.T / n0 + beta**2
    theta = sigma.copy()
    for _ in range(depth - 1):
        e_s, e_d = kernel(qx[:, None], sigma, qy[None, :])
        theta = theta * e_d + e_s + beta**2
        sigma = e_s + beta**2
        qx, qy = kernel(qx, qx, qx)[0] + beta**2, kernel(qy, qy, qy)[0] + beta**2
    return theta


def _gelu(u: float) -> float:
    return 0.5 * u * (1.0 + math.erf(u / math.sqrt(2.0)))


def _sigmoid(u: float) -> float:
    return 0.5 * (1.0 + math.tanh(u / 2.0))


POLY = (1.0, 2.0, -0.5, 0.3)
# name: (activation for the library, sigma, sigma_dot, kinks), sigma and sigma_dot written with
# math.
SCIPY_CASES = {
    "tanh": ("tanh", math.tanh, lambda u: 1.0 - math.tanh(u) ** 2, ()),
    "sigmoid": ("sigmoid", _sigmoid, lambda u: _sigmoid(u) * (1.0 - _sigmoid(u)), ()),
    "softplus": ("softplus", lambda u: max(u, 0.0) + math.log1p(math.exp(-abs(u))), _sigmoid, ()),
    "gelu": (
        "gelu",
        _gelu,
        lambda u: 0.5 * (1.0 + math.erf(u / math.sqrt(2.0))) + u * _gauss(u, 1.0),
        (),
    ),
    "polynomial": (
        polynomial(POLY),
        lambda u: POLY[0] + u * (POLY[1] + u * (POLY[2] + u * POLY[3])),
        lambda u: POLY[1] + u * (2 * POLY[2] + 3 * u * POLY[3]),
        (),
    ),
    "relu": ("relu", lambda u: max(u, 0.0), lambda u: float(u > 0), (0.0,)),
    "erf": ("erf", math.erf, lambda u: 2.0 / math.sqrt(math.pi) * math.exp(-u * u), ()),
    "hard-tanh (callable)": (
        lambda z: torch.clamp(z, -1.0, 1.0),
        lambda u: max(-1.0, min(1.0, u)),
        lambda u: float(-1.0 < u < 1.0),
        (-1.0, 1.0),
    ),
    "SiLU (smooth callable)": (
        lambda z: z * torch.sigmoid(z),
        lambda u: u * _sigmoid(u),
        lambda u: _sigmoid(u) * (1.0 + u * (1.0 - _sigmoid(u))),
        (),
    ),
}
VARIANCES = (0.01, 1.0, 100.0)
RHOS = (-1.0, -0.999, 0.3, 0.999, 1.0)
GRID = [(v, v, r) for v in VARIANCES for r in RHOS] + [
    (v, v / 4, r) for v in (1.0, 100.0) for r in (-0.999, 0.6)
]


def _covariances(grid):
    a, b, r = (np.array(t, dtype=float) for t in zip(*grid))
    c = r * np.where(a == b, a, np.sqrt(a * b))  # exactly c = a = b at rho = 1, a = b
    return a, c, b


def reference_table(
    cases=SCIPY_CASES, grid=GRID
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """For each case: the scipy references of E[sigma sigma], E[sigma_dot sigma_dot] on ``grid`` and
    the Cauchy-Schwarz scales sqrt(E[f(u)^2] E[f(v)^2]) that errors are measured against."""
    a, c, b = _covariances(grid)
    out = {}
    for name, (_, f, fd, kinks) in cases.items():
        refs = []
        for g in (f, fd):
            ref = np.array([scipy_expectation(g, *t, kinks) for t in zip(a, c, b)])
            diag = {v: scipy_expectation(g, v, v, v, kinks) for v in set(a) | set(b)}
            refs += [ref, np.sqrt(np.abs([diag[p] * diag[q] for p, q in zip(a, b)]))]
        out[name] = tuple(refs)
    return out


def library_errors(name: str, refs, grid=GRID, **options) -> tuple[np.ndarray, float]:
    """|library - reference| / scale for E[sigma sigma] and E[sigma_dot sigma_dot] on the grid (max
    of the two per entry), and the library's own error estimate."""
    a, c, b = (torch.tensor(t) for t in _covariances(grid))
    act = get_activation(SCIPY_CASES[name][0], **options)
    e_s, e_d, estimate = act.expectations_and_error(a, c, b)
    ref_s, scale_s, ref_d, scale_d = refs
    err = np.maximum(np.abs(e_s.numpy() - ref_s) / scale_s, np.abs(e_d.numpy() - ref_d) / scale_d)
    return err, estimate


@pytest.fixture(scope="module")
def references():
    return reference_table()


# ----------------------------------------------------------------------------- the rules


@pytest.mark.parametrize("points", [4, 10, 24])
def test_tail_rule_is_exact_for_polynomials_times_a_half_gaussian(points: int) -> None:
    """int_0^inf y^k exp(-y^2/2) dy = 2^((k-1)/2) Gamma((k+1)/2) for k <= 2 points - 1."""
    y, w = rules.tail_nodes(points)
    assert np.all(y > 0)
    for k in range(2 * points):
        exact = 2 ** ((k - 1) / 2) * math.gamma((k + 1) / 2)
        assert (w * np.exp(-y * y / 2) * y**k).sum() == pytest.approx(exact, rel=1e-11)


def test_piecewise_rule_integrates_a_kinked_function() -> None:
    """E[|Z - 0.7| Z^2]: with an edge on the kink, ten nodes per piece and per tail give 1e-10."""
    z, w = rules.piecewise_rule(torch.tensor([[0.0, 3.0, -3.0, 0.7]], dtype=torch.float64), 10, 10)
    exact = integrate.quad(
        lambda u: abs(u - 0.7) * u * u * _gauss(u, 1.0), -40, 40, points=[0.7], epsabs=1e-14
    )[0]
    assert float((w * (z - 0.7).abs() * z * z).sum()) == pytest.approx(exact, rel=1e-10)


def test_one_table_of_nodes_per_rule_and_size() -> None:
    """The rules are computed once: the same arrays come back, and App. A.4 uses the same table."""
    assert rules.hermite_nodes(64)[0] is rules.hermite_nodes(64)[0]
    assert rules.legendre_nodes(10)[0] is rules.legendre_nodes(10)[0]
    assert rules.tail_nodes(10)[1] is rules.tail_nodes(10)[1]
    rules.hermite_nodes.cache_clear()
    hermite_coefficients("tanh", 10, quadrature_points=48)
    hermite_coefficients("erf", 10, quadrature_points=48)
    assert rules.hermite_nodes.cache_info().misses == 1


@pytest.mark.parametrize(
    "fn, expected",
    [
        (lambda z: torch.clamp(z, min=0.0), (0.0,)),
        (torch.abs, (0.0,)),
        (lambda z: torch.nn.functional.leaky_relu(z, 0.1), (0.0,)),
        (lambda z: torch.clamp(z, -1.0, 1.0), (-1.0, 1.0)),
        (lambda z: torch.clamp(z, 0.0, 6.0), (0.0, 6.0)),
        (
            lambda z: torch.where(z > math.pi / 7, z, 0.5 * z * z),
            (math.pi / 7,),
        ),  # a jump and a kink
        (torch.tanh, ()),
        (lambda z: z * torch.sigmoid(z), ()),
    ],
)
def test_breakpoints_of_a_callable_are_found_to_round_off(fn, expected) -> None:
    act = get_activation(fn)
    found = quad.find_breakpoints(act.sigma_and_dot, 32.0)
    assert len(found) == len(expected)
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-12)


def test_too_many_breakpoints_are_refused() -> None:
    act = get_activation(lambda z: torch.floor(z))
    with pytest.raises(ValueError, match="more than 32 kinks or jumps"):
        quad.find_breakpoints(act.sigma_and_dot, 64.0)


# ----------------------------------------------------------------------------- expectations


@pytest.mark.parametrize("name", list(SCIPY_CASES))
def test_expectations_match_scipy_quadrature(name: str, references) -> None:
    """Every named activation, a kinked and a smooth callable, variances 0.01 to 100, rho from -1 to
    1: within 1e-8 of the scale sqrt(E[f(u)^2] E[f(v)^2]), and the error estimate says so."""
    err, estimate = library_errors(name, references[name])
    assert err.max() < 1e-8, f"worst at {GRID[int(err.argmax())]}: {err.max():.1e}"
    assert estimate < 1e-7


KINKED = {
    "clamp-ReLU": (lambda z: torch.clamp(z, min=0.0), arccos_relu),
    "abs": (torch.abs, arccos_abs),
    "leaky ReLU": (lambda z: torch.nn.functional.leaky_relu(z, 0.1), arccos_leaky(0.1)),
    "ReLU, step given as derivative": ((torch.relu, lambda z: (z > 0).to(z.dtype)), arccos_relu),
}


@pytest.mark.parametrize("name", list(KINKED))
def test_kinked_callables_match_the_arc_cosine_kernels(name: str) -> None:
    """Variances 1e-2 to 1e4 and correlations up to +-1 - 1e-12: a kink on an edge costs nothing."""
    fn, closed = KINKED[name]
    act = get_activation(*fn) if isinstance(fn, tuple) else get_activation(fn)
    v = np.array([1e-2, 1.0, 1e2, 1e4])
    r = np.array([-1.0, -1 + 1e-12, -0.9, -0.3, 0.0, 0.5, 0.99, 1 - 1e-8, 1.0])
    a, b, r = (t.ravel() for t in np.meshgrid(v, v, r, indexing="ij"))
    c = r * np.where(a == b, a, np.sqrt(a * b))
    e_s, e_d = act.expectations(*(torch.tensor(t) for t in (a, c, b)))
    for ours, exact, diag in zip(
        (e_s, e_d), closed(a, c, b), zip(closed(a, a, a), closed(b, b, b))
    ):
        scale = np.sqrt(np.abs(diag[0] * diag[1]))
        assert np.max(np.abs(ours.numpy() - exact) / scale) < 1e-8


def test_kinked_callables_match_monte_carlo() -> None:
    """Hard-tanh and abs against 2^22 samples (5 standard errors), including rho = 1 and variance
    100."""
    g = torch.Generator().manual_seed(0)
    n = 1 << 22
    z, w = torch.randn(2, n, generator=g, dtype=torch.float64)
    for fn in (lambda t: torch.clamp(t, -1.0, 1.0), torch.abs):
        act = get_activation(fn)
        for a, b, rho in [(1.0, 1.0, 1.0), (100.0, 4.0, -0.7), (0.5, 2.0, 0.95)]:
            u = math.sqrt(a) * z
            v = math.sqrt(b) * (rho * z + math.sqrt(1 - rho * rho) * w)
            c = torch.tensor(rho * math.sqrt(a * b) if a != b else rho * a, dtype=torch.float64)
            ours = act.expectations(
                torch.tensor(a, dtype=torch.float64), c, torch.tensor(b, dtype=torch.float64)
            )
            for value, samples in zip(
                ours, (act.sigma(u) * act.sigma(v), act.sigma_dot(u) * act.sigma_dot(v))
            ):
                stderr = samples.std() / math.sqrt(n)
                assert abs(float(value) - float(samples.mean())) < 5 * float(stderr) + 1e-10


def test_large_variance_tanh_is_accurate() -> None:
    """The issue's case: variance 100, where 64-node Gauss-Hermite was 110% off for
    E[tanh' tanh']."""

    def f(u: float) -> float:
        return 1.0 - math.tanh(u) ** 2

    act = get_activation("tanh")
    for a, b, rho in [(100.0, 100.0, 0.0), (100.0, 100.0, 0.5), (400.0, 25.0, -0.9)]:
        c = rho * math.sqrt(a * b)
        _, e_d = act.expectations(*(torch.tensor(t, dtype=torch.float64) for t in (a, c, b)))
        assert float(e_d) == pytest.approx(scipy_expectation(f, a, c, b), rel=1e-8)


def test_an_inaccurate_rule_warns_with_its_estimated_error() -> None:
    """Too few nodes for a kinked callable: the estimate is within a factor of 10 of the true error
    (against the arc-cosine formulas) and is reported; at the default size nothing is reported."""
    a = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    b = torch.tensor([1.0, 0.3, 4.0], dtype=torch.float64)
    c = torch.tensor([0.9, -0.5, 0.2], dtype=torch.float64) * (a * b).sqrt()
    exact = arccos_abs(a.numpy(), c.numpy(), b.numpy())
    scale = [
        np.sqrt(np.abs(np.array(d1) * d2))
        for d1, d2 in zip(arccos_abs(a, a, a), arccos_abs(b, b, b))
    ]
    coarse = get_activation(torch.abs, quadrature_points=12)
    e_s, e_d, estimate = coarse.expectations_and_error(a, c, b)
    true = max(np.max(np.abs(e.numpy() - x) / s) for e, x, s in zip((e_s, e_d), exact, scale))
    assert 1e-6 < true and true / 10 < estimate < 10 * true
    with pytest.warns(quad.QuadratureWarning, match=r"accurate only to about \d\.\de-\d+ relative"):
        coarse.expectations(a, c, b)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        get_activation(torch.abs).expectations(a, c, b)


def test_an_activation_beyond_the_rule_says_so() -> None:
    """sin at variance 10^4 oscillates 300 times across the Gaussian: neither the Mehler series (its
    Hermite coefficients peak near n = 10^4; at variance 100 it is right to 1e-13) nor the direct
    rules resolve it, and the kernel comes with a warning rather than silently (E[sin u sin v] =
    exp(-(a+b)/2) sinh(c))."""
    x = torch.full((2, 1), 100.0, dtype=torch.float64) * torch.tensor([[1.0], [0.9]])
    with pytest.warns(quad.QuadratureWarning, match="'sin'"):
        nngp(x, depth=2, activation=torch.sin, beta=0.0)


def test_memory_does_not_grow_with_the_square_of_the_node_count() -> None:
    """Every evaluation of sigma sees at most quadrature.BUDGET = 2^16 nodes, whatever the batch and
    the rule size (the former product grid handed it 4096 entries x points^2)."""
    largest = 0

    def sigma(z: torch.Tensor) -> torch.Tensor:
        nonlocal largest
        largest = max(largest, z.numel())
        return torch.tanh(z)

    a = torch.linspace(0.5, 50.0, 300, dtype=torch.float64)
    for points in (64, 160):
        quad.gaussian_expectations(
            sigma, lambda z: 1 - torch.tanh(z) ** 2, a, 0.3 * a, a.flip(0), points
        )
    assert largest <= 1 << 16


def test_results_are_symmetric_in_the_two_variances_to_the_last_bit() -> None:
    a = torch.tensor([0.3, 2.0, 50.0], dtype=torch.float64)
    b = torch.tensor([1.7, 0.02, 50.0], dtype=torch.float64)
    c = torch.tensor([0.4, -0.1, 49.0], dtype=torch.float64)
    for name in ("tanh", "gelu", "sigmoid"):
        act = get_activation(name)
        assert all(
            torch.equal(p, q) for p, q in zip(act.expectations(a, c, b), act.expectations(b, c, a))
        )


# ----------------------------------------------------------------------------- kernels


def _points(n: int, n0: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(
        n, n0, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


@pytest.mark.parametrize("name", list(KINKED)[:3])
@pytest.mark.parametrize("depth", [2, 5, 10])
def test_ntk_of_kinked_callables_matches_the_closed_form_recursion(name: str, depth: int) -> None:
    """The issue's case: clamp-ReLU was 15% off at depth 4 and 40% at depth 7, abs and leaky ReLU
    26-28%; now within 1e-8, on and off the diagonal, with a test point equal to a training
    point."""
    fn, closed = KINKED[name]
    x = _points(6, 4, 1)
    y = torch.cat([_points(3, 4, 2, 3.0), x[:2]])
    for args in ((x,), (x, y)):
        ours = ntk(*args, depth=depth, activation=fn)
        ref = recursion(x.numpy(), args[-1].numpy(), depth, 0.1, closed)
        np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-8, atol=0)


def test_ntk_of_hard_tanh_matches_a_scipy_recursion() -> None:
    x = np.array([[1.5, -0.5], [0.2, 0.9], [3.0, 2.0]])
    f, fd = (lambda u: max(-1.0, min(1.0, u))), (lambda u: float(-1.0 < u < 1.0))

    def kernel(a, c, b):
        cells = np.broadcast_arrays(a, c, b)
        out = [
            np.vectorize(lambda p, q, r, g=g: scipy_expectation(g, p, q, r, (-1.0, 1.0)))(*cells)
            for g in (f, fd)
        ]
        return out[0], out[1]

    ref = recursion(x, x, 3, 0.1, kernel)
    np.testing.assert_allclose(
        ntk(x, depth=3, activation=lambda z: torch.clamp(z, -1, 1)).numpy(), ref, rtol=1e-8
    )


def test_tanh_ntk_of_inputs_scaled_by_6_matches_a_scipy_recursion() -> None:
    """The issue's case: 4% off at depth 3 with the product Gauss-Hermite grid."""
    x = 6.0 * np.array([[1.0, -0.5], [0.3, 0.8]])
    f, fd = math.tanh, (lambda u: 1.0 - math.tanh(u) ** 2)

    def kernel(a, c, b):
        cells = np.broadcast_arrays(a, c, b)
        return tuple(
            np.vectorize(lambda p, q, r, g=g: scipy_expectation(g, p, q, r))(*cells)
            for g in (f, fd)
        )

    np.testing.assert_allclose(
        ntk(x, depth=3, activation="tanh").numpy(), recursion(x, x, 3, 0.1, kernel), rtol=1e-8
    )


@pytest.mark.parametrize("activation", ["relu", "tanh", torch.abs])
def test_ntk_of_x_and_x_is_ntk_of_x_exactly(activation) -> None:
    x = _points(20, 3, 5)
    assert torch.equal(
        ntk(x, x, depth=4, activation=activation), ntk(x, depth=4, activation=activation)
    )
    assert torch.equal(
        ntk(x, x.clone(), depth=4, activation=activation), ntk(x, depth=4, activation=activation)
    )


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", torch.abs])
def test_a_test_point_equal_to_a_training_point_keeps_angle_zero(activation) -> None:
    """Sigma(x_i, y_j) = Sigma(x_i, x_i) exactly at every layer when y_j = x_i (also for a repeated
    training point), so the kernel column of y_j is that of x_i: the Gram product's round-off used
    to give an angle of ~1e-8 there and a relative error of ~5e-9."""
    x = _points(7, 100, 0)  # at n_0 = 100 the Gram product's round-off used to give 2e-8 (ReLU)
    x[4] = x[1]
    y = torch.cat([_points(2, 100, 7), x[[3, 1]]])
    for depth in (2, 6):
        s_xy, t_xy = limiting_kernels(x, y, depth=depth, activation=activation)
        s_xx, t_xx = limiting_kernels(x, depth=depth, activation=activation)
        assert torch.equal(s_xy[3, 2], s_xx[3, 3]) and torch.equal(s_xy[1, 3], s_xx[1, 1])
        assert torch.equal(s_xx[1, 4], s_xx[1, 1]) and torch.equal(s_xy[4, 3], s_xx[1, 1])
        # Theta there is computed in other blocks, whose rules may differ in the last digits
        # (1e-12).
        np.testing.assert_allclose(t_xy[:, 2:].numpy(), t_xx[:, [3, 1]].numpy(), rtol=1e-10, atol=0)


def test_derivative_is_used_for_a_callable_and_refused_otherwise() -> None:
    x = _points(4, 3, 8)
    twice = layer_kernels(
        x, depth=3, activation=torch.tanh, derivative=lambda z: 2 / torch.cosh(z) ** 2
    )
    plain = layer_kernels(x, depth=3, activation=torch.tanh)
    torch.testing.assert_close(twice.Sigma_dot[2], 4 * plain.Sigma_dot[2], rtol=1e-12, atol=0)
    for named in ("tanh", get_activation("gelu")):
        with pytest.raises(ValueError, match="only with a callable activation"):
            ntk(x, depth=2, activation=named, derivative=torch.ones_like)
    with pytest.raises(ValueError, match="derivative= must be a callable"):
        get_activation(torch.tanh, derivative=2.0)


@pytest.mark.parametrize("function", [ntk, nngp, limiting_kernels, layer_kernels])
def test_quadrature_points_are_validated_and_used(function) -> None:
    x = _points(5, 3, 9)
    args = (x,) if function is layer_kernels else (x, x[:2] + 1.0)
    for bad in (1, 361, 2.5, "64", True):
        with pytest.raises(
            ValueError, match="quadrature_points must be an integer in \\[2, 360\\]"
        ):
            function(*args, depth=3, activation="tanh", quadrature_points=bad)
    with pytest.warns(quad.QuadratureWarning):
        coarse = function(*args, depth=3, activation=torch.abs, quadrature_points=24)
    fine = function(*args, depth=3, activation=torch.abs, quadrature_points=96)

    def first(k):
        return k.Theta[-1] if function is layer_kernels else k[0] if isinstance(k, tuple) else k

    assert 0 < (first(coarse) - first(fine)).abs().max() < 1e-2 * first(fine).abs().max()


def test_integer_inputs_are_converted_to_float64() -> None:
    """Integer (and boolean) arrays are taken as the numbers they hold, in the kernels' dtype."""
    xi = torch.tensor([[1, 0, 2], [0, 3, 1], [2, 2, 2]])
    for activation in ("relu", "tanh"):
        k = ntk(xi, xi[:2], depth=3, activation=activation)
        assert k.dtype == torch.float64
        assert torch.equal(k, ntk(xi.double(), xi[:2].double(), depth=3, activation=activation))
    assert torch.equal(ntk(np.array([[True, False]]), depth=2), ntk([[1.0, 0.0]], depth=2))


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", "gelu", torch.abs])
def test_float32_kernels_agree_with_float64(activation) -> None:
    x = _points(12, 4, 10)
    k32 = ntk(x, x[:5] * 2, depth=4, activation=activation, dtype=torch.float32)
    k64 = ntk(x, x[:5] * 2, depth=4, activation=activation)
    assert k32.dtype == torch.float32
    np.testing.assert_allclose(
        k32.double().numpy(), k64.numpy(), rtol=2e-5, atol=1e-6 * float(k64.abs().max())
    )
