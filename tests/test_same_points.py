"""Issue 22, items 2 and 4: identical rows found by sorting (no Python pair lists) and collinear or
antipodal points kept at correlation exactly +-1, against closed forms (arc-cosine and arcsine
kernels) and a brute-force pairwise comparison."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
from conftest import randn

from ntk_course import layer_kernels, nngp, ntk
from ntk_course._same_points import _identical, _in_block
from ntk_course.kernels import BLOCK


def _groups(x: torch.Tensor, y: torch.Tensor | None):
    qx = [(x * x).sum(1) / x.shape[1]]
    qy = qx if y is None else [(y * y).sum(1) / y.shape[1]]
    return _identical(x, x if y is None else y, qx, qy, y is None)


def test_groups_match_a_brute_force_pairwise_comparison():
    """Random rows with repeats on both sides (and -0.0 for 0.0): x_i = y_j exactly when their
    labels agree, as numpy's all-pairs comparison says."""
    g = torch.Generator().manual_seed(3)
    base = torch.randint(0, 3, (12, 4), generator=g).double()
    x = base[torch.randint(0, 12, (60,), generator=g)]
    y = base[torch.randint(0, 12, (45,), generator=g)]
    y[y == 0] = -0.0
    for a, b in ((x, y), (x, None)):
        gx, gy = _groups(a, b)
        bb = a if b is None else b
        same = (a.numpy()[:, None, :] == bb.numpy()[None, :, :]).all(-1)
        if b is None:
            np.fill_diagonal(same, False)
        labelled = (gx[:, None] == gy[None, :]).numpy() & (gx >= 0).numpy()[:, None]
        if b is None:
            np.fill_diagonal(labelled, False)
        assert (labelled == same).all()


def test_ten_thousand_equal_rows_are_one_label_not_a_hundred_million_pairs():
    """10,000 copies of one row: one label per row (the output is O(N), where the pair list had
    10^8 entries and took minutes); a block gets exactly its own block x block pairs."""
    x = torch.tensor([[0.3, -1.2, 2.0]], dtype=torch.float64).repeat(10_000, 1)
    gx, gy = _groups(x, None)
    assert gx.shape == (10_000,) and bool((gx == 0).all()) and gy is gx
    i, j = _in_block((gx, gy), slice(0, BLOCK), slice(BLOCK, 2 * BLOCK), False, x.device)
    assert i.numel() == BLOCK * BLOCK
    # The kernel of those rows against a few: every entry is the variance's recursion, exactly.
    k = nngp(x, x[:3], depth=3, beta=0.0)
    # ReLU halves the variance at each layer: q = |x|^2 / 3 / 4
    q = float((x[0] ** 2).sum() / 3) / 4
    assert bool((k == k[0, 0]).all()) and math.isclose(float(k[0, 0]), q, rel_tol=1e-15)


def _arcsine(rho: float, depth: int) -> float:
    """Sigma^(depth) of a sign network (beta = 0, unit variances from layer 2) in 50 digits."""
    mpmath.mp.dps = 50
    r = mpmath.mpf(rho)
    for _ in range(depth - 1):
        r = 2 / mpmath.pi * mpmath.asin(r)
    return float(r)


def test_sign_at_antipodal_and_collinear_points_is_the_arcsine_kernel():
    """sign, depths 2 to 8: antipodal points that are not bitwise so (x and -(3x)/3) stay at -1 at
    every depth (the old recursion drifted to -0.35 at depth 8); collinear ones at +1; other pairs
    follow the arcsine recursion (2/pi) asin(rho) in 50-digit arithmetic; nngp(x, y) and ntk(x, y)
    are the blocks of those of [x; y]."""
    x = randn(4, 5, seed=7)
    y = torch.cat([-(x[:2] * 3.0) / 3.0, x[2:] * 0.7])
    assert not torch.equal(y[:2], -x[:2])
    both = torch.cat([x, y])
    sigmas = layer_kernels(both, depth=8, activation=torch.sign, beta=0.0).Sigma
    rho1 = (x @ y.T) / (x.norm(dim=1)[:, None] * y.norm(dim=1)[None, :])
    for depth in range(2, 9):
        s = nngp(x, y, depth=depth, activation=torch.sign, beta=0.0)  # variances: E[sign^2] = 1
        for i in range(4):
            for j in range(4):
                exact = (-1.0 if i < 2 else 1.0) if i == j else _arcsine(float(rho1[i, j]), depth)
                assert abs(float(s[i, j]) - exact) < 1e-7, (depth, i, j, float(s[i, j]), exact)
    for depth in (2, 8):
        block = nngp(x, y, depth=depth, activation=torch.sign, beta=0.0)
        torch.testing.assert_close(block, sigmas[depth - 1][:4, 4:], rtol=0, atol=1e-12)
    whole = ntk(both, depth=6, activation=torch.sign, beta=0.0)
    part = ntk(x, y, depth=6, activation=torch.sign, beta=0.0)
    torch.testing.assert_close(part, whole[:4, 4:], rtol=0, atol=1e-12)


@pytest.mark.parametrize("depth", [2, 4, 6])
def test_kinked_callable_at_collinear_points_is_the_arc_cosine_kernel(depth: int):
    """A ReLU written as a callable (so computed by quadrature) at collinear points y = 2.5 x,
    beta = 0: correlation 1 at every layer, so Sigma_dot = 1/2 and, with c = sqrt(q_x q_y) of
    layer 1, Theta^(L) = L c / 2^(L-1) (within the quadrature's accuracy, 1e-10; the step's
    kernel has an infinite slope at correlation 1, so a rounded correlation cost ~1e-7)."""
    x = randn(3, 4, seed=8)
    y = x * 2.5
    t = ntk(x, y, depth=depth, activation=lambda z: torch.clamp(z, min=0.0), beta=0.0)
    c = ((x * x).sum(1) * (y * y).sum(1)).sqrt() / 4
    torch.testing.assert_close(torch.diag(t), depth * c / 2 ** (depth - 1), rtol=1e-10, atol=0)
