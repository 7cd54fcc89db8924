"""Identical points in the kernel recursions: found by sorting rows, kept at angle exactly 0.

Jacot, Gabriel & Hongler (2018), Proposition 1 and Theorem 1: at a pair of identical points
x_i = y_j the covariance Sigma^(l)(x_i, y_j) is the variance Sigma^(l)(x_i, x_i) at every layer, so
the pair's angle is 0 and, for ReLU, Sigma_dot^(l) is exactly 1/2. In floating point the Gram entry
is rounded and sqrt(q q' - c^2) turns that rounding into an angle of ~1e-8. :func:`_identical`
labels every group of identical rows (the diagonal, a repeated training point, a test point that is
a training point) with one integer, in O((N + M) log(N + M)) row comparisons (``torch.unique`` over
rows, which sorts them), and ties the variances of each group; no list of pairs is ever formed, so
10,000 equal rows cost what 10,000 distinct ones do. :func:`_in_block` gives the identical pairs
inside one block of the blocked recursion of :mod:`ntk_course.kernels` (at most the block's size),
where the covariance is reset to the variance after each layer.
"""

from __future__ import annotations

import torch

__all__ = ["Groups", "Pairs", "_identical", "_in_block"]

Pairs = tuple[torch.Tensor, torch.Tensor]
#: Group labels of the rows of x and of y (-1: a row identical to no row of the other side).
Groups = tuple[torch.Tensor, torch.Tensor]


def _candidates(v: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    """Rows whose variance Sigma^(1) also occurs on the other side (or twice on one side)."""
    if w is None:
        _, inverse, counts = torch.unique(v, return_inverse=True, return_counts=True)
        return counts[inverse] > 1
    return torch.isin(v, w)


def _identical(
    xt: torch.Tensor,
    yt: torch.Tensor,
    qx: list[torch.Tensor],
    qy: list[torch.Tensor],
    symmetric: bool,
) -> Groups | None:
    """Label the groups of identical rows (bitwise, -0.0 = 0.0) and tie their variances.

    Parameters
    ----------
    xt, yt : torch.Tensor, shape (N, n_0) and (M, n_0)
        The points; ``yt`` is ``xt`` when ``symmetric``.
    qx, qy : list of torch.Tensor, each of shape (N,) and (M,)
        The variances Sigma^(l)(x, x) and Sigma^(l)(y, y) of every layer, modified in place: every
        member of a group gets those of its first row of x at every layer, so that at an identical
        pair the two variances and the covariance are one number (angle 0 exactly).
    symmetric : bool
        Whether y is x; a row is then identical to another row, not to itself.

    Returns
    -------
    (gx, gy) : tuple of torch.Tensor of int64, shape (N,) and (M,), or None
        The group of each row (-1: none), such that x_i = y_j exactly when gx[i] = gy[j] >= 0;
        None when there is no identical pair. Only the rows whose Sigma^(1) occurs on both sides
        are compared: O((N + M) log(N + M)) comparisons of rows, no Python loop.
    """
    n = xt.shape[0]
    vy = None if symmetric else qy[0]
    cx = _candidates(qx[0], vy)
    cy = cx if symmetric else _candidates(qy[0], qx[0])
    if not bool(cx.any()) or not bool(cy.any()):
        return None
    ix, iy = torch.nonzero(cx).flatten(), torch.nonzero(cy).flatten()
    rows = xt[ix] if symmetric else torch.cat([xt[ix], yt[iy]])
    _, inverse = torch.unique(rows + 0.0, dim=0, return_inverse=True)
    lx, ly = inverse[: ix.numel()], inverse[ix.numel() :] if not symmetric else inverse
    groups = int(inverse.max()) + 1
    on_x = torch.zeros(groups, dtype=torch.long, device=xt.device).index_add_(
        0, lx, torch.ones_like(lx)
    )
    on_y = on_x if symmetric else torch.zeros_like(on_x).index_add_(0, ly, torch.ones_like(ly))
    shared = (on_x > 1) if symmetric else (on_x > 0) & (on_y > 0)
    if not bool(shared.any()):
        return None
    # the first row of x of each group supplies the variances of every member
    first = torch.full((groups,), n, dtype=torch.long, device=xt.device).scatter_reduce_(
        0, lx, ix, "amin"
    )
    gx = torch.full((n,), -1, dtype=torch.long, device=xt.device)
    keep = shared[lx]
    gx[ix[keep]] = lx[keep]
    if symmetric:
        gy = gx
    else:
        gy = torch.full((yt.shape[0],), -1, dtype=torch.long, device=xt.device)
        keep_y = shared[ly]
        gy[iy[keep_y]] = ly[keep_y]
    mx, my = gx >= 0, gy >= 0
    for layer in range(len(qx)):
        reference = qx[layer][first.clamp(max=n - 1)]
        if not symmetric:
            qy[layer][my] = reference[gy[my]]
        qx[layer][mx] = reference[gx[mx]]
    return gx, gy


def _in_block(
    same: Groups | None, rows: slice, cols: slice, diagonal: bool, device: torch.device
) -> Pairs | None:
    """The identical pairs inside the block (rows, cols), in block coordinates.

    Parameters
    ----------
    same : (gx, gy) or None
        The group labels of :func:`_identical`.
    rows, cols : slice
        The block's rows of x and columns of y.
    diagonal : bool
        Whether the block lies on the diagonal of a symmetric kernel (its diagonal is added).
    device : torch.device
        Where the indices are made.

    Returns
    -------
    (i, j) : tuple of torch.Tensor of int64, or None
        Row and column indices in the block, at most its size; None when there are none.
    """
    if same is not None:
        gx, gy = same[0][rows], same[1][cols]
        if bool((gx >= 0).any()) and bool((gy >= 0).any()):
            mask = (gx[:, None] == gy[None, :]) & (gx >= 0)[:, None]
            if diagonal:
                mask.diagonal().fill_(True)
            i, j = torch.nonzero(mask, as_tuple=True)
            return i, j
    if diagonal:
        k = torch.arange(rows.stop - rows.start, device=device)
        return k, k
    return None
