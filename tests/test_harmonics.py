"""ntk_course.harmonics: eigenvalues of dot-product kernels on the circle and the sphere
(Funk-Hecke).

Checked against what the module does not compute itself: SciPy's orthogonal polynomials, Bessel
functions (the plane-wave expansion of exp(s x.x')), the Fourier coefficients of the arc-cosine
kernels (Cho & Saul 2009) worked out by hand, adaptive quadrature (scipy.integrate.quad), the
eigenvalues of K/N on equally spaced points of the circle (circulant) and on random points of S^2.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from conftest import generator
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special

from ntk_course import circle_points, nngp, ntk, sphere_points
from ntk_course.harmonics import (
    aliased_eigenvalues,
    circle_eigenvalues,
    circulant_eigenvalues,
    harmonic_multiplicity,
    sphere_eigenvalues,
    sphere_legendre,
)
from ntk_course.quadrature import QuadratureWarning

F64 = torch.float64


def _quiet(fn, *args, **kwargs):
    """Call fn and fail on any warning (the accuracy self-check must stay silent on these
    kernels)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


def _kernel_at(t: float, d: int, kernel=ntk, **settings) -> float:
    """k(t) on S^{d-1} from the library's kernel, between e_1 and a point at cosine t."""
    x = torch.zeros(2, d, dtype=F64)
    x[0, 0], x[1, 0], x[1, 1] = 1.0, t, math.sqrt(max(0.0, 1.0 - t * t))
    return float(kernel(x[:1], x[1:], **settings)[0, 0])


# ------------------------------------------------------------------------ polynomials and counts
@pytest.mark.parametrize("d", [2, 3, 5, 8])
def test_sphere_legendre_matches_scipy(d: int) -> None:
    t = np.concatenate(
        [
            np.linspace(-1, 1, 41),
            1 - np.geomspace(1e-12, 1e-2, 9),
            -1 + np.geomspace(1e-12, 1e-2, 9),
        ]
    )
    ks = np.arange(0, 61)
    if d == 2:
        ref = special.eval_chebyt(ks[:, None], t[None, :])
    elif d == 3:
        ref = special.eval_legendre(ks[:, None], t[None, :])
    else:
        a = (d - 2) / 2
        ref = (
            special.eval_gegenbauer(ks[:, None], a, t[None, :])
            / special.eval_gegenbauer(ks, a, 1.0)[:, None]
        )
    got = sphere_legendre(60, d, t).numpy()
    # SciPy's recurrences lose up to ~k^2 eps near t = +-1; 1e-11 leaves room for that at k = 60.
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-11)
    assert np.all(np.abs(got) <= 1 + 1e-14)


def test_sphere_legendre_is_accurate_near_the_poles_at_high_degree() -> None:
    th = np.geomspace(1e-6, 0.3, 25)
    k = np.arange(0, 2001)
    got = sphere_legendre(2000, 2, np.cos(th)).numpy()
    # T_k(cos th) = cos(k th) for the double th whose cosine was rounded: the rounding of t moves
    # T_k by at most |T_k'(t)| eps/2 <= k^2 eps/2 ~ 2e-10 at k = 2000; the value itself is good to
    # that.
    bound = k[:, None] ** 2 * np.finfo(float).eps + 1e-14
    assert np.all(np.abs(got - np.cos(k[:, None] * np.arccos(np.cos(th))[None, :])) <= bound)


@pytest.mark.parametrize("d", [2, 3, 4, 6, 9])
def test_harmonic_multiplicity_matches_the_textbook_formula_and_counts_polynomials(d: int) -> None:
    # N(d, k) = (2k + d - 2) (k + d - 3)! / (k! (d - 2)!) (Atkinson & Han 2012, eq. 2.10), a
    # different formula.
    for k in range(1, 25):
        assert harmonic_multiplicity(d, k) == (2 * k + d - 2) * math.factorial(k + d - 3) // (
            math.factorial(k) * math.factorial(d - 2)
        )
    # Harmonics of degree <= k span the polynomials of degree <= k restricted to the sphere.
    for k in range(12):
        total = sum(harmonic_multiplicity(d, j) for j in range(k + 1))
        assert total == math.comb(k + d - 1, d - 1) + (math.comb(k + d - 2, d - 1) if k else 0)
    assert (
        harmonic_multiplicity(2, 0) == 1
        and harmonic_multiplicity(2, 7) == 2
        and harmonic_multiplicity(3, 4) == 9
    )


# ------------------------------------------------------------------------ closed forms
def test_relu_kernels_of_depth_two_on_the_circle_have_the_arc_cosine_coefficients() -> None:
    """beta = 0, n_0 = 2: Sigma^(1) = cos(g)/2, Sigma^(2) = (sin g + (pi - g) cos g)/(4 pi) and
    Theta^(2) = (2 (pi - g) cos g + sin g)/(4 pi) for g in [0, pi] (Cho & Saul 2009). Their Fourier
    coefficients, integrated by hand, vanish for odd k >= 3 and are, for even k >= 2,
    Sigma: 1 / (pi^2 (k^2 - 1)^2) and Theta: (k^2 + 3) / (2 pi^2 (k^2 - 1)^2); k = 0, 1
    separately."""
    k = np.arange(0, 41)
    even = (k % 2 == 0) & (k >= 2)
    theta = np.where(even, (k**2 + 3) / (2 * math.pi**2 * np.maximum(k**2 - 1, 1) ** 2), 0.0)
    theta[0], theta[1] = 3 / (2 * math.pi**2), 1 / 8
    sigma = np.where(even, 1 / (math.pi**2 * np.maximum(k**2 - 1, 1) ** 2), 0.0)
    sigma[0], sigma[1] = 1 / math.pi**2, 1 / 16
    np.testing.assert_allclose(
        _quiet(circle_eigenvalues, 40, depth=2, beta=0.0).numpy(), theta, rtol=0, atol=1e-15
    )
    np.testing.assert_allclose(
        _quiet(circle_eigenvalues, 40, "nngp", depth=2, beta=0.0).numpy(), sigma, rtol=0, atol=1e-15
    )


@pytest.mark.parametrize("d", [2, 3, 6])
def test_exponential_kernel_has_bessel_eigenvalues(d: int) -> None:
    """exp(s x.x') on S^{d-1}: mu_k = Gamma(d/2) (2/s)^{d/2-1} I_{k+d/2-1}(s) (the plane-wave
    expansion; for d = 2 the Jacobi-Anger expansion exp(s cos g) = I_0(s) + 2 sum_k I_k(s)
    cos(k g))."""
    s = 1.5
    k = np.arange(0, 31)
    ref = special.gamma(d / 2) * (2 / s) ** (d / 2 - 1) * special.iv(k + d / 2 - 1, s)
    got = _quiet(sphere_eigenvalues, 30, d, lambda t: torch.exp(s * t)).numpy()
    # round-off: a few eps of max |mu_k| = I_0(1.5) ~ 1.6, about 1e-15 absolute.
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    ("kernel", "activation", "d"),
    [(ntk, "relu", 3), (nngp, "relu", 3), (ntk, "erf", 4), (ntk, "tanh", 3)],
)
def test_funk_hecke_integrals_against_adaptive_quadrature(kernel, activation: str, d: int) -> None:
    """mu_k = (omega_{d-2}/omega_{d-1}) int_{-1}^1 k(t) P_k(t) (1 - t^2)^{(d-3)/2} dt by
    scipy.integrate.quad in t, with SciPy's Gegenbauer polynomials: a different rule, variable and
    polynomial code."""
    settings = {"depth": 3, "activation": activation, "beta": 0.1}
    name = "ntk" if kernel is ntk else "nngp"
    got = _quiet(sphere_eigenvalues, 6, d, name, **settings).numpy()
    ratio = special.gamma(d / 2) / (math.sqrt(math.pi) * special.gamma((d - 1) / 2))
    a = (d - 2) / 2
    for k in range(7):

        def integrand(t: float, k: int = k) -> float:
            p = special.eval_gegenbauer(k, a, t) / special.eval_gegenbauer(k, a, 1.0)
            return _kernel_at(t, d, kernel, **settings) * p * (1 - t * t) ** ((d - 3) / 2)

        ref, err = integrate.quad(integrand, -1, 1, limit=200, epsabs=1e-13)
        # quad's own error estimate, and tanh's kernel is only good to ~1e-9 (64-node
        # Gauss-Hermite).
        assert abs(got[k] - ratio * ref) <= 10 * ratio * err + (
            1e-9 if activation == "tanh" else 1e-12
        ), k


def test_trace_and_parseval_on_the_sphere() -> None:
    """Mercer: K(x, x) = k(1) = sum_k N(d, k) mu_k (P_k(1) = 1); Parseval: E k(x.x')^2 = sum_k
    N(d, k) mu_k^2."""
    d, settings = 3, {"depth": 3, "beta": 0.1}
    mult = np.array([harmonic_multiplicity(d, k) for k in range(301)])
    mu_erf = _quiet(sphere_eigenvalues, 300, d, activation="erf", **settings).numpy()
    assert (
        abs((mult * mu_erf).sum() - _kernel_at(1.0, d, activation="erf", **settings)) < 1e-13
    )  # erf's mu_k decay geometrically
    mu = _quiet(
        sphere_eigenvalues, 300, d, **settings
    ).numpy()  # ReLU: mu_k ~ k^-3, so N mu^2 ~ k^-5, tail ~1e-11
    # On S^2 with x' uniform, t = x.x' is uniform on [-1, 1].
    second_moment, err = integrate.quad(
        lambda t: _kernel_at(t, d, **settings) ** 2 / 2, -1, 1, limit=200, epsabs=1e-14
    )
    assert abs((mult * mu**2).sum() - second_moment) < 1e-10 + 10 * err


# ------------------------------------------------------------------------ kernel matrices
@pytest.mark.parametrize("n", [24, 25])
def test_circulant_eigenvalues_are_the_spectrum_of_k_over_n(n: int) -> None:
    x, _ = circle_points(n)
    k = ntk(x, depth=3, beta=0.1)
    lam = circulant_eigenvalues(k)
    assert lam.shape == (n // 2 + 1,)
    # lambda_0 once, lambda_k twice for 0 < k < n/2, lambda_{n/2} once (n even): the full spectrum.
    with_multiplicity = torch.cat(
        [lam[:1], lam[1 : (n + 1) // 2].repeat_interleave(2), lam[(n + 1) // 2 :]]
    )
    torch.testing.assert_close(
        with_multiplicity.sort().values, torch.linalg.eigvalsh(k / n), rtol=0, atol=1e-14
    )
    # and the Fourier modes are the eigenvectors: K/N cos(k g) = lambda_k cos(k g).
    g = torch.atan2(x[:, 1], x[:, 0])
    for freq in (1, 5, n // 2):
        for mode in (torch.cos(freq * g), torch.sin(freq * g)):
            torch.testing.assert_close(k @ mode / n, lam[freq] * mode, rtol=0, atol=1e-14)


def test_circulant_eigenvalues_are_the_aliased_fourier_coefficients() -> None:
    """On N equally spaced points the eigenvalue of frequency k is sum_m mu_{|k + mN|}. erf's mu_k
    decay geometrically, so 400 of them leave no tail: the identity must hold to round-off."""
    for n in (12, 16, 31):
        x, _ = circle_points(n)
        lam = circulant_eigenvalues(ntk(x, depth=3, activation="erf"))
        mu = _quiet(circle_eigenvalues, 400, depth=3, activation="erf")
        torch.testing.assert_close(aliased_eigenvalues(mu, n), lam, rtol=0, atol=1e-14)
    # ReLU (mu_k ~ k^-2): the partial sums approach lambda from below, the missing tail shrinking
    # like 1/K.
    n = 16
    x, _ = circle_points(n)
    lam = circulant_eigenvalues(ntk(x, depth=3))
    mu = _quiet(circle_eigenvalues, 64 * n, depth=3)
    gaps = [float((lam - aliased_eigenvalues(mu[: m * n + 1], n)).min()) for m in (8, 16, 32, 64)]
    tails = [float((lam - aliased_eigenvalues(mu[: m * n + 1], n)).max()) for m in (8, 16, 32, 64)]
    assert min(gaps) > 0
    assert all(
        1.7 < a / b < 2.3 for a, b in itertools.pairwise(tails)
    )  # 1/K: halves when K doubles


@settings(max_examples=60)
@given(
    n=st.integers(1, 48),
    k_max=st.integers(0, 150),
    decay=st.floats(0.0, 3.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_aliased_fourier_coefficients_are_the_circulant_spectrum(
    n: int, k_max: int, decay: float, seed: int
) -> None:
    """For any kernel of the angle with finitely many Fourier coefficients mu_0 .. mu_K (random,
    non-negative, decaying like (k + 1)^-decay; K below, at or far above N), the eigenvalues of K/N
    on N equally spaced points of the circle are exactly the aliased sums: K_ij = mu_0 + 2 sum_k
    mu_k cos(k (g_i - g_j)) gives circulant_eigenvalues(K) = aliased_eigenvalues(mu, N), to
    round-off, for every N from 1 (odd and even: frequency N/2 is its own mirror image only for even
    N)."""
    k = torch.arange(k_max + 1, dtype=F64)
    mu = torch.rand(k_max + 1, generator=generator(seed), dtype=F64) * (k + 1) ** -decay
    g = 2 * math.pi * torch.arange(n, dtype=F64) / n
    weights = torch.where(k > 0, 2.0, 1.0).to(F64) * mu
    kernel = (weights * torch.cos((g[:, None, None] - g[None, :, None]) * k)).sum(-1)
    lam = circulant_eigenvalues((kernel + kernel.T) / 2)
    assert lam.shape == (n // 2 + 1,)
    torch.testing.assert_close(
        aliased_eigenvalues(mu, n), lam, rtol=0, atol=1e-12 * float(weights.sum())
    )


def test_eigenvalues_on_random_sphere_points_converge_with_multiplicities() -> None:
    """K/N on N uniform points of S^2: the cluster of N(3, k) eigenvalues of degree k has mean mu_k
    plus a second-order bias. Writing K/N = U M U^T with U the sampled harmonics / sqrt(N), the
    first-order shift of the cluster mean is the trace of (U^T U - I) over the cluster, zero by the
    addition theorem (sum of Y_j(x)^2 over a degree is N(d, k) at every x); the second order gives a
    relative shift delta_k = (1/N) sum_{l != k} N(d, l) mu_l / (mu_k - mu_l) with fluctuations of
    the order of s_k = (1/N) sum_{l != k} N(d, l) mu_l / |mu_k - mu_l|. Hence |mean / mu_k - 1
    - delta_k| <= s_k."""
    d, n = 3, 1500
    mu = _quiet(sphere_eigenvalues, 200, d, depth=3).numpy()
    mult = np.array([harmonic_multiplicity(d, k) for k in range(201)])
    lam = torch.linalg.eigvalsh(ntk(sphere_points(n, d, seed=3), depth=3) / n).flip(0).numpy()
    start = 0
    for k in range(4):
        cluster = lam[start : start + mult[k]]
        start += mult[k]
        others = np.arange(201) != k
        b = (mult[others] * mu[others] / (mu[k] - mu[others])).sum() / n
        s = (mult[others] * mu[others] / np.abs(mu[k] - mu[others])).sum() / n
        assert abs(cluster.mean() / mu[k] - 1 - b) <= s, k
        assert s < 0.02  # the test has teeth: 2 % on mu_0 .. mu_3 at N = 1500
    assert abs(lam.sum() - _kernel_at(1.0, d, depth=3)) < 1e-12  # trace(K)/N = k(1) exactly


# ------------------------------------------------------------------------ decay and accuracy
def test_relu_ntk_eigenvalues_decay_like_k_to_the_minus_d() -> None:
    """Bietti & Mairal (2019): mu_k ~ C k^-d for the ReLU NTK on S^{d-1}; the NNGP (arc-cosine of
    degree 1) decays two powers faster. Local slopes between k and 2k approach the exponent like
    1/k."""
    for d in (2, 3, 4):
        mu = _quiet(sphere_eigenvalues, 400, d, depth=3).numpy()
        sigma = _quiet(sphere_eigenvalues, 400, d, "nngp", depth=3).numpy()
        for k in (100, 200):
            assert abs(math.log(mu[2 * k] / mu[k]) / math.log(2) + d) < 4 / k * d
            assert abs(math.log(sigma[2 * k] / sigma[k]) / math.log(2) + d + 2) < 4 / k * (d + 2)


def test_a_kink_inside_the_interval_triggers_the_accuracy_warning() -> None:
    with pytest.warns(QuadratureWarning, match="raise panels"):
        sphere_eigenvalues(10, 3, lambda t: t.abs())


# ------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sphere_eigenvalues(-1, 3, depth=2), "k_max"),
        (lambda: sphere_eigenvalues(5, 1, depth=2), "n0 must be an integer >= 2"),
        (lambda: sphere_eigenvalues(5, 3, "rbf", depth=2), "unknown kernel"),
        (lambda: sphere_eigenvalues(5, 3), "needs the depth"),
        (lambda: sphere_eigenvalues(5, 3, depth=0), "depth"),
        (lambda: sphere_eigenvalues(5, 3, depth=2, beta=-1.0), "beta"),
        (lambda: sphere_eigenvalues(5, 3, depth=2, activation="swish"), "activation"),
        (lambda: sphere_eigenvalues(5, 3, lambda t: t, depth=2), "callable"),
        (lambda: sphere_eigenvalues(5, 3, lambda t: t[:3]), "as many finite values"),
        (lambda: sphere_eigenvalues(5, 3, lambda t: t / 0), "as many finite values"),
        (lambda: sphere_eigenvalues(5, 3, depth=2, panels=0), "panels"),
        (lambda: sphere_legendre(3, 3, [0.5, 1.5]), r"\[-1, 1\]"),
        (lambda: sphere_legendre(3, 3, [0.5, float("nan")]), "non-finite"),
        (lambda: circulant_eigenvalues(ntk(sphere_points(8, 2, seed=0), depth=2)), "circulant"),
        (lambda: circulant_eigenvalues(torch.ones(3, 4)), "square"),
        (lambda: aliased_eigenvalues([0.5, 0.1], 0), "n must be"),
        (lambda: aliased_eigenvalues([[0.5, 0.1]], 4), "1-d"),
        (lambda: harmonic_multiplicity(3, -2), "k must be"),
    ],
)
def test_bad_input_raises_a_clear_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
