"""Hermite expansions, and the limiting NTK positive-definite on the sphere (Appendix A.4).

The proof of Proposition 2 (Jacot, Gabriel & Hongler 2018) runs in three steps, each a function
here:

* expand mu(z) = sigma(scale * z) in the orthonormal Hermite basis h_i = He_i / sqrt(i!) of
  L^2(N(0, 1)): :func:`hermite_coefficients`;
* Lemma 2: the dual activation mu_hat(rho) = E[mu(X) mu(Y)], corr(X, Y) = rho, is the power series
  sum_i a_i^2 rho^i: :func:`dual_activation`;
* step 5 writes Sigma^(2)(x, x') on the unit sphere as a power series nu(x.x') whose coefficients
  Theorem 3 (Schoenberg, Gneiting 2013) turns into a positive-definiteness criterion:
  :func:`sigma2_power_series` and :func:`schoenberg_positive_definite`.

:func:`min_eigenvalue_on_sphere` is the numerical face of Proposition 2 and Remark 5, and
:func:`rank_bound` says how singular the NTK of a polynomial activation must be.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numpy.polynomial import Polynomial

from ._checks import non_negative, positive_int
from .activations import Activation, Fn, get_activation
from .datasets import sphere_points
from .kernels import ntk
from .quadrature_rules import MAX_NODES, hermite_nodes

RHO_SLACK = 1e-12  # round-off allowed outside [-1, 1] (x.x' of unit vectors can be 1 + 2e-16)


def _orthonormal_hermite(z: np.ndarray, n_terms: int) -> np.ndarray:
    """h_i(z) = He_i(z) / sqrt(i!) for i < n_terms, shape (n_terms, len(z)).

    Evaluated with the normalised three-term recurrence
    h_{i+1} = (z h_i - sqrt(i) h_{i-1}) / sqrt(i+1) rather than ``hermevander / sqrt(i!)``,
    whose factorial overflows float64 past i = 170.
    """
    h = np.empty((n_terms, z.size))
    h[0] = 1.0
    if n_terms > 1:
        h[1] = z
    for i in range(1, n_terms - 1):
        h[i + 1] = (z * h[i] - math.sqrt(i) * h[i - 1]) / math.sqrt(i + 1)
    return h


def hermite_coefficients(
    activation: str | Activation | Fn,
    n_terms: int = 30,
    *,
    scale: float = 1.0,
    quadrature_points: int = 200,
) -> np.ndarray:
    """Hermite coefficients a_0 .. a_{n_terms-1} of mu(z) = sigma(scale * z) (orthonormal basis).

    a_i = E[mu(X) h_i(X)], X ~ N(0, 1), h_i = He_i / sqrt(i!) (probabilists' Hermite polynomials,
    ``numpy.polynomial.hermite_e``), so that mu = sum_i a_i h_i in L^2(N(0, 1)) and
    E[mu(X)^2] = sum_i a_i^2 (Parseval). The proof of Proposition 2 (App. A.4, step 3) uses
    scale = sqrt(1/n_0 + beta^2). sigma is evaluated in torch float64 on the
    ``quadrature_points`` Gauss-HermiteE nodes.

    Accuracy. The rule with q nodes is exact for polynomials of degree <= 2q - 1, so a polynomial
    activation of degree d gets a_i to round-off when d + n_terms <= 2q - 1 (hence the requirement
    n_terms <= quadrature_points). Smooth activations (erf, tanh) converge fast: at the defaults
    Parseval holds to ~1e-15. A kink converges slowly: for ReLU the error of the even coefficients
    is O(1/q), about 0.17 / q in absolute value (8e-4 at q = 200); the odd a_i, i >= 3, vanish by
    the symmetry of the nodes to round-off. q is capped at 360, where ``hermegauss`` stops being
    finite.

    Parameters
    ----------
    activation : str, Activation or callable
        Anything :func:`get_activation` accepts.
    n_terms : int, default 30
        The number of coefficients, >= 1.
    scale : float, default 1.0
        The standard deviation of sigma's argument, >= 0.
    quadrature_points : int, default 200
        The number q of Gauss-HermiteE nodes, between n_terms and 360.

    Returns
    -------
    numpy.ndarray
        Shape (n_terms,): a_0 .. a_{n_terms-1}, float64.

    Raises
    ------
    ValueError
        If n_terms < 1, quadrature_points is out of range, scale < 0, the activation is unknown, or
        sigma is not finite on the nodes.
    """
    n_terms = positive_int(n_terms, "n_terms")
    quadrature_points = positive_int(quadrature_points, "quadrature_points")
    if not n_terms <= quadrature_points <= MAX_NODES:
        raise ValueError(
            f"quadrature_points must be between n_terms = {n_terms} and {MAX_NODES} "
            f"(a q-point rule only resolves a_i for i < q); got {quadrature_points}"
        )
    scale = non_negative(scale, "scale")
    act = get_activation(activation)
    z, w = hermite_nodes(quadrature_points)
    mu = act.sigma(torch.as_tensor(scale * z, dtype=torch.float64)).detach().cpu().numpy()
    if mu.shape != z.shape or not np.isfinite(mu).all():
        raise ValueError(
            f"activation {act.name!r} must map the {quadrature_points} quadrature nodes (|z| up to "
            f"{scale * z.max():.3g}) to as many finite values; got shape {mu.shape}, "
            f"finite: {bool(np.isfinite(mu).all())}"
        )
    return _orthonormal_hermite(z, n_terms) @ (w * mu)


def _rho_array(rho: object) -> np.ndarray:
    r = np.asarray(rho, dtype=np.float64)
    if not np.isfinite(r).all() or (np.abs(r) > 1.0 + RHO_SLACK).any():
        raise ValueError(
            f"rho must be a correlation in [-1, 1]; got values up to |rho| = {np.abs(r).max()}"
        )
    return np.clip(r, -1.0, 1.0)


def dual_activation(
    activation: str | Activation | Fn,
    rho: object,
    *,
    n_terms: int = 100,
    scale: float = 1.0,
    quadrature_points: int = 200,
) -> np.ndarray:
    """The dual activation mu_hat(rho) = E[mu(X) mu(Y)] = sum_i a_i^2 rho^i (Lemma 2, App. A.4).

    (X, Y) is a centred Gaussian pair with unit variances and correlation rho in [-1, 1], and
    mu(z) = sigma(scale * z), so mu_hat(rho) is E[sigma(u) sigma(v)] for variances scale^2 and
    covariance scale^2 rho. Error: the truncated tail is at most
    sum_{i >= n_terms} a_i^2 = E[mu^2] - sum_{i < n_terms} a_i^2 (attained at rho = 1), plus the
    quadrature error of :func:`hermite_coefficients` (O(1/q) for ReLU: 7e-4 at the defaults).

    Parameters
    ----------
    activation : str, Activation or callable
        Anything :func:`get_activation` accepts.
    rho : array_like
        Correlations in [-1, 1], of any shape.
    n_terms, scale, quadrature_points
        As in :func:`hermite_coefficients`.

    Returns
    -------
    numpy.ndarray
        mu_hat(rho), of the shape of ``rho``, float64.

    Raises
    ------
    ValueError
        If rho has non-finite entries or entries outside [-1, 1], or as
        :func:`hermite_coefficients`.
    """
    r = _rho_array(rho)
    a = hermite_coefficients(activation, n_terms, scale=scale, quadrature_points=quadrature_points)
    return np.polynomial.polynomial.polyval(r, a * a)


def sigma2_power_series(
    activation: str | Activation | Fn,
    *,
    n0: int,
    beta: float,
    n_terms: int = 100,
    quadrature_points: int = 200,
) -> np.ndarray:
    """Coefficients b_0 .. b_{n_terms-1} of Sigma^(2)(x, x') = nu(x.x') = sum_n b_n (x.x')^n.

    Step 5 of the proof of Proposition 2 (App. A.4): with mu(z) = sigma(z sqrt(1/n_0 + beta^2)) and
    its Hermite coefficients a_i,

        nu(rho) = beta^2 + sum_i a_i^2 ((n_0 beta^2 + rho) / (n_0 beta^2 + 1))^i.

    The paper's displayed formula has a_i where Lemma 2 gives a_i^2; the square is right (it is what
    makes every b_n >= 0) and is used here. The powers are expanded in rho with
    ``numpy.polynomial.Polynomial``; every term is non-negative, so there is no cancellation. Only
    Hermite terms i < n_terms enter, so each b_n is a slight underestimate (the dropped terms are
    >= 0). Note that with beta > 0 every b_n with a_i != 0 for some i >= n is > 0, whereas with
    beta = 0 nu = mu_hat keeps the parity of the a_i: an odd sigma (erf, tanh) has no even b_n and
    ReLU only one odd b_n, so Theorem 3 then fails (Sigma^(2)(x, -x) = -Sigma^(2)(x, x) for odd
    sigma).

    Parameters
    ----------
    activation : str, Activation or callable
        Anything :func:`get_activation` accepts.
    n0 : int
        The input dimension (the sphere is S^{n0-1}), >= 1.
    beta : float
        The bias factor, >= 0.
    n_terms, quadrature_points
        As in :func:`hermite_coefficients`.

    Returns
    -------
    numpy.ndarray
        Shape (n_terms,): b_0 .. b_{n_terms-1}, float64.

    Raises
    ------
    ValueError
        If n0 < 1, beta < 0, or as :func:`hermite_coefficients`.
    """
    n0 = positive_int(n0, "n0")
    beta = non_negative(beta, "beta")
    c = n0 * beta**2
    a = hermite_coefficients(
        activation,
        n_terms,
        scale=math.sqrt(1.0 / n0 + beta**2),
        quadrature_points=quadrature_points,
    )
    nu = Polynomial(a * a)(Polynomial([c / (c + 1.0), 1.0 / (c + 1.0)])) + beta**2
    b = np.zeros(n_terms)
    b[: nu.coef.size] = nu.coef
    return b


def schoenberg_positive_definite(
    coeffs: object, *, rtol: float = 1e-24, tail_start: int | None = None
) -> bool:
    """Theorem 3 (Gneiting 2013, after Schoenberg) on a finite list of power-series coefficients.

    f(rho) = sum_n b_n rho^n with b_n >= 0 gives a kernel f(x.x') that is positive definite on
    every sphere S^{n0-1} if and only if b_n > 0 for infinitely many even and infinitely many odd
    n. "Infinitely many" is checked on the computed tail. The default rtol sits far above the
    float64 noise of squared Hermite coefficients (~1e-32 relative) and below the terms a smooth
    activation keeps for several dozen indices. A polynomial activation of degree d < tail_start
    has b_n = 0 beyond d (Remark 5), so it fails. A series that decays below rtol before
    ``tail_start`` (erf at a large n_0, where b_n ~ (2 s^2 / (1 + 2 s^2))^n,
    s^2 = 1/n_0 + beta^2) also gives False: a limit of float64, not a counterexample; pass a
    smaller ``tail_start`` then.

    Parameters
    ----------
    coeffs : array_like
        Shape (n,), n >= 2: the finite coefficients b_0 .. b_{n-1}.
    rtol : float, default 1e-24
        Relative to ``max|b|``, >= 0: what counts as negative (below ``-rtol * max|b|``) and as
        positive (above ``rtol * max|b|``).
    tail_start : int, optional
        The first index of the tail, >= 0 and at most n - 2; default a quarter of the length (25
        for 100 terms).

    Returns
    -------
    bool
        True when no b_n is below ``-rtol * max|b|`` and some even and some odd n >= ``tail_start``
        have b_n > ``rtol * max|b|``.

    Raises
    ------
    ValueError
        If coeffs is not a finite 1-d array of at least 2 numbers, rtol < 0, or tail_start is out
        of range.
    """
    b = np.asarray(coeffs, dtype=np.float64)
    if b.ndim != 1 or b.size < 2 or not np.isfinite(b).all():
        raise ValueError(
            f"coeffs must be a 1-d array of at least 2 finite numbers; got shape {b.shape}"
        )
    rtol = non_negative(rtol, "rtol")
    start = b.size // 4 if tail_start is None else positive_int(tail_start, "tail_start", 0)
    if start > b.size - 2:
        raise ValueError(
            f"tail_start must leave an even and an odd index below {b.size}; got {start}"
        )
    size = np.abs(b).max()
    if size == 0.0 or (b < -rtol * size).any():
        return False
    positive = np.flatnonzero(b > rtol * size)
    tail = positive[positive >= start]
    return bool((tail % 2 == 0).any() and (tail % 2 == 1).any())


def min_eigenvalue_on_sphere(
    n_points: int,
    n0: int,
    *,
    depth: int,
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    seed: int = 0,
    relative: bool = False,
) -> float:
    """Smallest eigenvalue of the limiting NTK Gram matrix Theta^(depth) on random sphere points.

    Proposition 2: for a non-polynomial Lipschitz sigma and depth >= 2 it is > 0. Remark 5: for a
    polynomial sigma the Gram matrix has rank at most :func:`rank_bound`, so with more points it is
    singular (about -1e-16 to 1e-16 times the largest eigenvalue). Points are iid uniform on the
    sphere S^{n0-1} (normalised Gaussians, float64, CPU) drawn with ``seed``. The Gram matrix is
    only as PSD as its entries are accurate: tanh's expectations come from quadrature (~1e-10
    relative, :mod:`ntk_course.quadrature`), so a true lambda_min / lambda_max below that (many
    points at small n0, e.g. 30 points on the circle) is not resolved; n0 = 5 with 30 points gives
    ~1e-4 for relu, erf, tanh.

    Parameters
    ----------
    n_points : int
        The number of points, >= 1.
    n0 : int
        The input dimension, >= 2, since S^0 has only two points.
    depth : int
        The depth L, >= 1.
    activation, beta
        As in :func:`~ntk_course.ntk`.
    seed : int, default 0
        Seeds the points, >= 0.
    relative : bool, default False
        Return lambda_min / lambda_max, the number to compare with round-off.

    Returns
    -------
    float
        lambda_min, or lambda_min / lambda_max.

    Raises
    ------
    ValueError
        If n_points < 1, n0 < 2, seed < 0, or as :func:`~ntk_course.ntk`.
    """
    n_points = positive_int(n_points, "n_points")
    n0 = positive_int(n0, "n0", 2)
    seed = positive_int(seed, "seed", 0)
    x = sphere_points(n_points, n0, seed=seed)
    values = torch.linalg.eigvalsh(ntk(x, depth=depth, activation=activation, beta=beta))
    return float(values[0] / values[-1]) if relative else float(values[0])


def rank_bound(degree: int, n0: int, depth: int) -> int:
    """Largest possible rank of the NTK Gram matrix of a polynomial sigma of degree d on S^{n0-1}.

    Sigma^(l) is a polynomial of degree d^(l-1) in x.x', Sigma_dot^(l) one of degree
    (d-1) d^(l-2), so Theta^(L) = Theta^(L-1) Sigma_dot^(L) + Sigma^(L) has degree D = d^(L-1)
    (Theorem 1 with Theta^(1) linear). Its Gram matrix lies in the span of the polynomials of
    degree <= D restricted to the sphere, of dimension C(n0 + D - 1, D) + C(n0 + D - 2, D - 1)
    (homogeneous polynomials of degree D and D - 1; 1 for D = 0). More points than this make the
    NTK singular (Remark 5).

    Parameters
    ----------
    degree : int
        The degree d of the polynomial activation, >= 0.
    n0 : int
        The input dimension, >= 1.
    depth : int
        The depth L, >= 1.

    Returns
    -------
    int
        The bound on the rank.

    Raises
    ------
    ValueError
        If degree < 0, n0 < 1 or depth < 1.
    """
    degree = positive_int(degree, "degree", 0)
    n0 = positive_int(n0, "n0")
    depth = positive_int(depth, "depth")
    big_d = degree ** (depth - 1)
    if big_d == 0:
        return 1
    return math.comb(n0 + big_d - 1, big_d) + math.comb(n0 + big_d - 2, big_d - 1)
