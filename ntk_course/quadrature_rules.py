"""Gaussian quadrature rules: the node tables of the kernels' expectations (Appendix A.4).

Jacot, Gabriel & Hongler (2018) need Gaussian expectations at every layer of the kernel recursions
(Proposition 1, Theorem 1) and the Hermite expansion of the activation (Appendix A.4). This module
holds the rules that compute them, nodes and weights only: Gauss-Hermite for E[g(Z)], Z ~ N(0, 1)
(:func:`hermite_nodes`), Gauss-Legendre on [0, 1] (:func:`legendre_nodes`), half-range
Gauss-Hermite for the Gaussian tails (:func:`tail_nodes`) and the piecewise rule built from the last
two (:func:`piecewise_rule`). Each table is computed once per process and cached read-only; where
the rules are applied, and how their error is estimated, is :mod:`ntk_course.quadrature`.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from ._checks import positive_int

# numpy.polynomial.hermite_e.hermegauss returns finite weights up to about 370 nodes and NaN from
# 400 on (its weights underflow past 1e-308); 360 leaves a margin.
MAX_NODES = 360


def check_nodes(points: object, name: str = "quadrature_points", minimum: int = 2) -> int:
    """Check a node count: an integer in [minimum, MAX_NODES]."""
    if (
        isinstance(points, bool)
        or not isinstance(points, int | np.integer)
        or not minimum <= int(points) <= MAX_NODES
    ):
        raise ValueError(f"{name} must be an integer in [{minimum}, {MAX_NODES}]; got {points!r}")
    return int(points)


@functools.lru_cache(maxsize=16)
def hermite_nodes(points: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z_i and weights w_i with sum_i w_i g(z_i) ~ E[g(Z)], Z ~ N(0, 1) (read-only, cached).

    The rule is exact for polynomials of degree <= 2 points - 1; ``hermegauss`` solves an
    eigenproblem, so every rule is computed once per process.
    """
    z, w = np.polynomial.hermite_e.hermegauss(
        check_nodes(positive_int(points, "points"), "points", 1)
    )
    return _read_only(z, w / math.sqrt(2.0 * math.pi))


@functools.lru_cache(maxsize=16)
def legendre_nodes(points: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1] (cached).

    From ``numpy.polynomial.legendre.leggauss``, mapped from [-1, 1].
    """
    x, w = np.polynomial.legendre.leggauss(positive_int(points, "points"))
    return _read_only((x + 1.0) / 2.0, w / 2.0)


@functools.lru_cache(maxsize=16)
def tail_nodes(points: int) -> tuple[np.ndarray, np.ndarray]:
    """Half-range Gauss-Hermite nodes y_i >= 0 and weights, returned as (y_i, W_i exp(y_i^2 / 2)).

    The W_i satisfy sum_i W_i g(y_i) exp(-y_i^2 / 2) = int_0^inf g(y) exp(-y^2 / 2) dy for
    polynomials g of degree <= 2 points - 1.

    The three-term recurrence of the polynomials orthogonal for exp(-y^2/2) on [0, inf) comes from
    the Stieltjes procedure on a 600-node Gauss-Legendre discretisation of [0, 16], the rule from
    its Jacobi matrix (Golub-Welsch); exact to 1e-13 up to 24 nodes (the rules use at most 24), the
    recurrence's rounding grows beyond. The second weights integrate G(y) = g(y) exp(-y^2 / 2)
    directly.
    """
    points = positive_int(points, "points")
    t, wt = np.polynomial.legendre.leggauss(600)
    y, wy = 8.0 * (t + 1.0), 8.0 * wt * np.exp(-32.0 * (t + 1.0) ** 2)
    p_prev, p, norm_prev = np.zeros_like(y), np.ones_like(y), 1.0
    norm = mass = wy.sum()
    alpha, beta = np.empty(points), np.empty(points)
    for k in range(points):
        alpha[k] = (wy * y * p * p).sum() / norm
        p, p_prev = (y - alpha[k]) * p - (norm / norm_prev if k else 0.0) * p_prev, p
        norm_prev, norm = norm, (wy * p * p).sum()
        beta[k] = norm / norm_prev
    nodes, vectors = np.linalg.eigh(
        np.diag(alpha) + np.diag(np.sqrt(beta[:-1]), 1) + np.diag(np.sqrt(beta[:-1]), -1)
    )
    return _read_only(nodes, mass * vectors[0] ** 2 * np.exp(nodes * nodes / 2.0))


def _read_only(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.flags.writeable = False
    return arrays


@functools.lru_cache(maxsize=64)
def _torch_rule(
    kind: str, points: int, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """A cached rule as tensors.

    The piecewise ones carry the density's constant 1/sqrt(2 pi) in their weights.
    """
    z, w = {"hermite": hermite_nodes, "legendre": legendre_nodes, "tail": tail_nodes}[kind](points)
    w = w if kind == "hermite" else w / math.sqrt(2.0 * math.pi)
    return torch.tensor(z, dtype=dtype, device=device), torch.tensor(w, dtype=dtype, device=device)


def piecewise_rule(
    edges: torch.Tensor, pieces: int, tails: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes and weights (..., M) with sum weights * h(nodes) ~ E[h(Z)], Z ~ N(0, 1).

    For h smooth between edges. ``edges`` (..., K) lie in [-CLIP, CLIP] (``quadrature.CLIP``) and
    include 0, so the tails start at a non-negative distance from the origin, where the half-range
    rule's factor exp(-e y) decays. Gauss-Legendre with ``pieces`` nodes between consecutive edges,
    half-range Gauss-Hermite with ``tails`` nodes beyond.
    """
    edges = torch.sort(edges, dim=-1).values
    x, w = _torch_rule("legendre", pieces, edges.dtype, edges.device)
    y, wy = _torch_rule("tail", tails, edges.dtype, edges.device)
    lo, length = edges[..., :-1, None], (edges[..., 1:] - edges[..., :-1])[..., None]
    left, right = edges[..., :1] - y, edges[..., -1:] + y
    nodes = torch.cat([left, torch.addcmul(lo, length, x).flatten(-2), right], -1)
    weights = torch.cat([wy.expand_as(left), (length * w).flatten(-2), wy.expand_as(right)], -1)
    return nodes, weights.mul_(torch.square(nodes).mul_(-0.5).exp_())
