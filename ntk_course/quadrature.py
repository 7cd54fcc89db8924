"""Gauss-Hermite rules for expectations under a Gaussian (Prop. 1, Thm. 1, App. A.4).

One cached table of probabilists' Gauss-Hermite nodes serves the whole library: the
two-dimensional Gaussian expectations E[sigma(u) sigma(v)] and E[sigma_dot(u) sigma_dot(v)] of the
kernel recursions (:func:`gaussian_expectations`) and the Hermite coefficients of App. A.4
(:mod:`ntk_course.hermite`).
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
    if isinstance(points, bool) or not isinstance(points, int | np.integer) or not minimum <= int(points) <= MAX_NODES:
        raise ValueError(f"{name} must be an integer in [{minimum}, {MAX_NODES}]; got {points!r}")
    return int(points)


@functools.lru_cache(maxsize=16)
def hermite_nodes(points: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z_i and weights w_i with sum_i w_i g(z_i) ~ E[g(Z)], Z ~ N(0, 1) (read-only, cached).

    The rule is exact for polynomials of degree <= 2 points - 1; ``hermegauss`` solves an
    eigenproblem, so every rule is computed once per process.
    """
    z, w = np.polynomial.hermite_e.hermegauss(check_nodes(positive_int(points, "points"), "points", 1))
    w = w / math.sqrt(2.0 * math.pi)
    z.flags.writeable = w.flags.writeable = False
    return z, w


def _torch_nodes(points: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    z, w = hermite_nodes(points)
    return torch.tensor(z, dtype=like.dtype, device=like.device), torch.tensor(w, dtype=like.dtype, device=like.device)


def gaussian_expectations(
    sigma,
    sigma_dot,
    q_xx: torch.Tensor,
    q_xy: torch.Tensor,
    q_yy: torch.Tensor,
    points: int = 64,
    block: int = 4096,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two-dimensional Gauss-Hermite quadrature of E[sigma(u)sigma(v)] and E[sigma_dot(u)sigma_dot(v)].

    Writes (u, v) = S (z_1, z_2) with S the symmetric square root of the 2 x 2 covariance C,
    S = (C + sqrt(det C) I) / sqrt(tr C + 2 sqrt(det C)), and sums over a ``points`` x ``points``
    grid of nodes. S is symmetric in (x, y), so the result is too (unlike a Cholesky factor).
    Entries are processed ``block`` at a time so memory stays bounded.
    """
    points = check_nodes(points)
    z, w = _torch_nodes(points, q_xy)
    shape = q_xy.shape
    qxx, qxy, qyy = (t.reshape(-1) for t in torch.broadcast_tensors(q_xx, q_xy, q_yy))
    out_s = torch.empty_like(qxy)
    out_d = torch.empty_like(qxy)
    ww = (w[:, None] * w[None, :]).reshape(-1)  # weight of node pair (i, j)
    z1 = z[:, None].expand(points, points).reshape(-1)
    z2 = z[None, :].expand(points, points).reshape(-1)
    for start in range(0, qxy.numel(), block):
        a, b, c = qxx[start : start + block], qyy[start : start + block], qxy[start : start + block]
        root_det = (a * b - c * c).clamp(min=0.0).sqrt()
        norm = (a + b + 2.0 * root_det).sqrt()
        norm = torch.where(norm > 0, norm, torch.ones_like(norm))
        s11, s22, s12 = (a + root_det) / norm, (b + root_det) / norm, c / norm
        u = s11[:, None] * z1 + s12[:, None] * z2
        v = s12[:, None] * z1 + s22[:, None] * z2
        out_s[start : start + block] = (sigma(u) * sigma(v)) @ ww
        out_d[start : start + block] = (sigma_dot(u) * sigma_dot(v)) @ ww
    return out_s.reshape(shape), out_d.reshape(shape)
