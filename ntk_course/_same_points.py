"""Identical points in the kernel recursions: found by their bytes, kept at angle exactly 0.

Jacot, Gabriel & Hongler (2018), Proposition 1 and Theorem 1: at a pair of identical points
x_i = y_j the covariance Sigma^(l)(x_i, y_j) is the variance Sigma^(l)(x_i, x_i) at every layer, so
the pair's angle is 0 and, for ReLU, Sigma_dot^(l) is exactly 1/2. In floating point the Gram entry
is rounded and sqrt(q q' - c^2) turns that rounding into an angle of ~1e-8. :func:`_identical` finds
every such pair (the diagonal, a repeated training point, a test point that is a training point)
and ties the variances of each group of identical rows; :func:`_in_block` gives those pairs inside a
block of the blocked recursion of :mod:`ntk_course.kernels`, where the covariance is reset to the
variance after each layer.
"""

from __future__ import annotations

import numpy as np
import torch

Pairs = tuple[torch.Tensor, torch.Tensor]


def _identical(
    xt: torch.Tensor,
    yt: torch.Tensor,
    qx: list[torch.Tensor],
    qy: list[torch.Tensor],
    symmetric: bool,
) -> Pairs | None:
    """Every (i, j) with x_i = y_j bitwise (-0.0 = 0.0; i != j when y is x); ties their variances.

    Only rows whose Sigma^(1) occurs on both sides are compared, by their bytes:
    O((N + M) log(N + M)) plus O(n_0) per candidate. Each group of identical rows gets the variances
    of one member at every layer, so that at (i, j) the two variances and the covariance are one
    number: angle 0 exactly.
    """
    vx, vy = qx[0].cpu().numpy(), qy[0].cpu().numpy()
    if symmetric:
        values, counts = np.unique(vx, return_counts=True)
        common = values[counts > 1]
    else:
        common = np.intersect1d(vx, vy)
    if not len(common):
        return None
    groups: dict[bytes, tuple[list[int], list[int]]] = {}
    for side, (t, v) in enumerate([(xt, vx)] if symmetric else [(xt, vx), (yt, vy)]):
        index = np.flatnonzero(np.isin(v, common))
        for i, row in zip(index.tolist(), (t[index] + 0.0).cpu().numpy()):
            groups.setdefault(row.tobytes(), ([], []))[side].append(i)
    rows: list[int] = []
    cols: list[int] = []
    for xs, ys in groups.values():
        ys = xs if symmetric else ys
        if not xs or not ys:
            continue
        for q, members in ((qx, xs), (qy, ys)):
            for layer, reference in zip(q, qx):
                layer[members] = reference[xs[0]].clone()
        for i in xs:
            for j in ys:
                if not (symmetric and i == j):
                    rows.append(i)
                    cols.append(j)
    if not rows:
        return None
    return (
        torch.tensor(rows, dtype=torch.long, device=xt.device),
        torch.tensor(cols, dtype=torch.long, device=xt.device),
    )


def _in_block(
    same: Pairs | None, rows: slice, cols: slice, diagonal: bool, device: torch.device
) -> Pairs | None:
    """The entries of ``same`` inside the block (rows, cols), in block coordinates.

    The block's diagonal is added when ``diagonal``.
    """
    parts = []
    if diagonal:
        k = torch.arange(rows.stop - rows.start, device=device)
        parts.append((k, k))
    if same is not None:
        inside = (
            (same[0] >= rows.start)
            & (same[0] < rows.stop)
            & (same[1] >= cols.start)
            & (same[1] < cols.stop)
        )
        if bool(inside.any()):
            parts.append((same[0][inside] - rows.start, same[1][inside] - cols.start))
    if not parts:
        return None
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
