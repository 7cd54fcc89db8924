"""Assignment 4: Hermite expansions and positive-definiteness.

The graders of questions a4.q*, registered with :func:`check`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from scipy.special import erf as _np_erf

from ..activations import polynomial
from ..hermite import (
    hermite_coefficients,
    rank_bound,
    schoenberg_positive_definite,
    sigma2_power_series,
)
from .answers import (
    _call,
    _describe_value,
    _function,
    _grade_function,
    _Input,
    _scalar,
)
from .grading import _register
from .verdicts import _Case, _NotAnswered, _Wrong


# --------------------------------------------------------------------------------------------------
# Assignment 4: Hermite expansions and positive-definiteness
# --------------------------------------------------------------------------------------------------
def _both(np_fn: Callable, torch_fn: Callable, name: str) -> Callable:
    """An activation that accepts numpy arrays and torch tensors alike."""

    def sigma(z: object) -> object:
        if isinstance(z, torch.Tensor):
            return torch_fn(z)
        return np_fn(np.asarray(z, dtype=np.float64))

    sigma.__name__ = name
    return sigma


_TEST_ACTIVATIONS = {
    "tanh": _both(np.tanh, torch.tanh, "tanh"),
    "erf": _both(_np_erf, torch.erf, "erf"),
    "sin": _both(np.sin, torch.sin, "sin"),
    "z^3 - 2z": _both(lambda z: z**3 - 2 * z, lambda z: z**3 - 2 * z, "cubic"),
    "softplus": _both(lambda z: np.logaddexp(0.0, z), torch.nn.functional.softplus, "softplus"),
}


@_register(
    "a4.q1",
    "Hermite coefficients of an activation",
    "a function hermite_coeffs(sigma, n_terms) returning the array (n_terms,) of a_i = E[sigma(X) "
    "h_i(X)], X ~ N(0, 1), h_i = He_i / sqrt(i!); sigma accepts a numpy array",
)
def _a4_q1(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    rng = np.random.default_rng(seed)
    names = list(rng.choice(list(_TEST_ACTIVATIONS), size=3, replace=False))
    inputs = []
    for name in names:
        k = int(rng.integers(8, 16))
        sigma = _TEST_ACTIVATIONS[name]

        def variants(sigma=sigma, k=k) -> dict[str, np.ndarray]:
            ref = hermite_coefficients(sigma, k)
            fact = np.sqrt([math.factorial(i) for i in range(k)])
            return {
                "the coefficients of He_i without the 1/sqrt(i!) (a_i sqrt(i!))": ref * fact,
                "E[sigma(X) He_i(X)] / i! (dividing by i! instead of sqrt(i!))": ref / fact,
            }

        inputs.append(
            _Input(
                f"sigma = {name}, n_terms = {k}",
                (sigma, k),
                {},
                lambda sigma=sigma, k=k: hermite_coefficients(sigma, k),
                (k,),
                "(n_terms,)",
                variants,
            )
        )
    cases, hints, _, _ = _grade_function(
        answer,
        "hermite_coeffs(sigma, n_terms)",
        inputs,
        1e-6,
        output="the result of hermite_coeffs",
    )
    return cases, hints


@_register(
    "a4.q2",
    "the dual activation as a power series",
    "a function dual_from_coeffs(a, rho) of Hermite coefficients a (K,) and correlations rho (M,) "
    "returning mu_hat(rho) = E[mu(X) mu(Y)], shape (M,)",
)
def _a4_q2(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    rng = np.random.default_rng(seed)
    inputs = []
    for name in ("tanh", "sin", "softplus"):
        k = int(rng.integers(10, 25))
        a = hermite_coefficients(_TEST_ACTIVATIONS[name], k, scale=float(rng.uniform(0.5, 1.5)))
        rho = np.concatenate([[-1.0, 0.0, 1.0], rng.uniform(-1, 1, 12)])
        inputs.append(
            _Input(
                f"Hermite coefficients of a rescaled {name}, K = {k}, 15 values of rho in [-1, 1]",
                (a, rho),
                {},
                lambda a=a, rho=rho: np.polynomial.polynomial.polyval(rho, a * a),
                (15,),
                "(M,): one value per rho",
                lambda a=a, rho=rho: {
                    "sum_i a_i rho^i, with a_i in place of a_i^2": np.polynomial.polynomial.polyval(
                        rho, a
                    )
                },
            )
        )
    cases, hints, _, _ = _grade_function(
        answer, "dual_from_coeffs(a, rho)", inputs, 1e-10, output="the result of dual_from_coeffs"
    )
    return cases, hints


def _sigma2_variant(
    a: np.ndarray, n0: int, beta: float, *, square: bool = True, add_beta: bool = True
) -> np.ndarray:
    from numpy.polynomial import Polynomial

    c = n0 * beta**2
    nu = Polynomial(a * a if square else a)(Polynomial([c / (c + 1.0), 1.0 / (c + 1.0)])) + (
        beta**2 if add_beta else 0.0
    )
    b = np.zeros(a.size)
    b[: nu.coef.size] = nu.coef[: a.size]
    return b


@_register(
    "a4.q3",
    "the power series of Sigma^(2) on the sphere",
    "a function sigma2_coeffs(a, n0, beta) of the Hermite coefficients a (K,) of mu(z) = sigma(z "
    "sqrt(1/n0 + beta^2)) returning b (K,), the coefficients of Sigma^(2)(x, x') = sum_n b_n "
    "(x.x')^n for unit vectors x, x'",
)
def _a4_q3(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    rng = np.random.default_rng(seed)
    inputs = []
    for name, n0, beta in (
        ("tanh", int(rng.integers(2, 6)), 0.1),
        ("erf", int(rng.integers(2, 9)), 0.5),
        ("relu", 3, float(rng.uniform(0.05, 0.4))),
    ):
        k = 30
        sigma = "relu" if name == "relu" else _TEST_ACTIVATIONS[name]
        a = hermite_coefficients(sigma, k, scale=math.sqrt(1 / n0 + beta**2))
        inputs.append(
            _Input(
                f"sigma = {name}, n0 = {n0}, beta = {beta:.3g}, K = {k}",
                (a, n0, beta),
                {},
                lambda sigma=sigma, n0=n0, beta=beta, k=k: sigma2_power_series(
                    sigma, n0=n0, beta=beta, n_terms=k
                ),
                (k,),
                "(K,)",
                lambda a=a, n0=n0, beta=beta: {
                    (
                        "the series with a_i in place of a_i^2 "
                        "(the paper's display drops the square of Lemma 2)"
                    ): _sigma2_variant(a, n0, beta, square=False),
                    "the series without the + beta^2 of the last bias": _sigma2_variant(
                        a, n0, beta, add_beta=False
                    ),
                },
            )
        )
    cases, hints, _, _ = _grade_function(
        answer, "sigma2_coeffs(a, n0, beta)", inputs, 1e-9, output="the result of sigma2_coeffs"
    )
    return cases, hints


def _schoenberg_battery(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """Fresh coefficient series for a4.q4, one of each kind, with parameters drawn by ``rng``."""
    k = int(rng.integers(30, 51))
    n = np.arange(k)
    r = float(rng.uniform(0.55, 0.95))
    geometric = r**n
    degree = int(rng.integers(2, 7))
    poly = np.where(n <= degree, rng.uniform(0.2, 1.0, k), 0.0)
    bad = int(rng.integers(1, k // 2))
    start = int(rng.integers(k // 2 - 6, k // 2))
    act, beta = str(rng.choice(["tanh", "erf", "relu"])), float(rng.choice([0.0, 0.1, 0.3]))
    out = [
        (f"a geometric series {r:.2f}^n, K = {k}", geometric),
        (f"a polynomial of degree {degree}, K = {k}", poly),
        (f"a series {r:.2f}^n with only even powers, K = {k}", np.where(n % 2 == 0, geometric, 0)),
        (f"a series {r:.2f}^n with only odd powers, K = {k}", np.where(n % 2 == 1, geometric, 0)),
        (
            f"{r:.2f}^n with a negative coefficient at n = {bad}, K = {k}",
            np.where(n == bad, -float(rng.uniform(0.01, 0.5)), geometric),
        ),
        (f"a series that starts at n = {start}, K = {k}", np.where(n >= start, geometric, 0.0)),
        (
            f"a polynomial of degree {degree} plus a tail of size 1e-20, K = {k}",
            np.where(n <= degree, poly, 1e-20),
        ),
        (
            f"{r:.2f}^n with a coefficient -1e-14 at n = {bad} (within the tolerance), K = {k}",
            np.where(n == bad, -1e-14, geometric),
        ),
        (
            f"Sigma^(2) of {act} on S^2 with beta = {beta}",
            sigma2_power_series(act, n0=3, beta=beta, n_terms=k),
        ),
        (
            f"Sigma^(2) of a polynomial of degree {degree} on S^2 with beta = {beta}",
            sigma2_power_series(polynomial(list(poly[: degree + 1])), n0=3, beta=beta, n_terms=k),
        ),
    ]
    return [out[i] for i in rng.permutation(len(out))]


@_register(
    "a4.q4",
    "Schoenberg's criterion (Theorem 3) on a finite series",
    "a function schoenberg_test(b) of a coefficient array b (K,) returning True or False: no b_n < "
    "-1e-12 max|b|, and some even and some odd n >= K // 2 with b_n > 1e-12 max|b|",
)
def _a4_q4(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    fn = _function(answer, "schoenberg_test(b)")
    cases = []
    for label, b in _schoenberg_battery(np.random.default_rng(seed)):
        out = _call(fn, b.copy())
        if out is Ellipsis:
            raise _NotAnswered("the placeholder ... is still there")
        if not isinstance(out, bool | np.bool_) and not (
            isinstance(out, torch.Tensor) and out.numel() == 1 and out.dtype == torch.bool
        ):
            raise _Wrong(f"schoenberg_test must return True or False; got {_describe_value(out)}")
        ref = schoenberg_positive_definite(b, rtol=1e-12, tail_start=b.size // 2)
        cases.append(
            _Case(label, bool(out) == ref, None, None, "" if bool(out) == ref else "wrong verdict")
        )
    return cases, []


@_register(
    "a4.q5",
    "the rank of the NTK Gram matrix of a polynomial activation",
    "a function polynomial_rank_bound(degree, n0, depth) returning an integer: the largest "
    "possible rank of the Gram matrix of Theta^(L) on points of the unit sphere S^(n0-1) for a "
    "polynomial sigma of that degree (beta > 0)",
)
def _a4_q5(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    fn = _function(answer, "polynomial_rank_bound(degree, n0, depth)")
    pool = [
        (1, 3, 2),
        (1, 5, 4),
        (2, 3, 2),
        (2, 2, 3),
        (3, 4, 2),
        (2, 5, 2),
        (3, 2, 3),
        (2, 4, 3),
        (4, 3, 2),
    ]
    rng = np.random.default_rng(seed)
    cases = []
    for i in rng.choice(len(pool), size=6, replace=False):
        d, n0, depth = pool[i]
        value = _scalar(_call(fn, d, n0, depth), "the result of polynomial_rank_bound")
        ref = rank_bound(d, n0, depth)
        label = f"degree {d}, n0 = {n0}, depth L = {depth}"
        if value != round(value):
            cases.append(_Case(label, False, None, None, "a rank is an integer"))
            continue
        detail = (
            ""
            if value == ref
            else ("your bound is too small" if value < ref else "your bound is too large")
        )
        cases.append(_Case(label, value == ref, None, None, detail))
    return cases, []
