"""Gaussian expectations of a smooth activation by Mehler's formula: the quadrature's fast path.

For (u, v) ~ N(0, [[a, c], [c, b]]) with correlation rho = c / sqrt(ab), Mehler's formula gives

    E[f(u) f(v)] = sum_n A_n(a) A_n(b) rho^n,
    A_n(a) = E[f(sqrt(a) Z) h_n(Z)],  h_n = He_n / sqrt(n!),

(the Hermite expansion of App. A.4, with the variances inside the coefficients). The variances
enter only through coefficients of one variable each: for an N x M block of a kernel they cost
O((N + M) K^2) once (K-node Gauss-Hermite, cached per vector of variances), and each entry is a
polynomial in rho, evaluated by Horner's rule in two passes over the block per term, where the
direct rules of :mod:`ntk_course.quadrature` evaluate f at thousands of nodes per entry.

Error, for f = sigma and f = sigma_dot alike. Truncation: by Cauchy-Schwarz the terms n >= T sum to
at most ``sqrt(R_T(a) R_T(b)) |rho|^T``, R_T(a) = sum_{n >= T} A_n(a)^2, which Bessel's equality
makes computable; each call takes the fewest terms that bound it by ``TOLERANCE`` relative to
sqrt(E[f(u)^2] E[f(v)^2]) at the call's largest ``|rho|``. Coefficients: the discrete ones are
trusted only for variances at which those of the last eighth of the rule carry at most
``RESOLVED`` of sum A_n^2 (coefficients of 1e-10 relative there): f is then resolved by the rule,
and what aliasing leaves is below the direct rules' own error (tests/test_quadrature_speed_path.py
checks both against scipy); a variance that is not (too large for K = 2 * points and for K = 360
nodes, or a kink) is left to the direct rules.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict

import numpy as np
import torch

from .quadrature import BUDGET, Pair
from .quadrature_rules import MAX_NODES, hermite_nodes

TOLERANCE = 1e-13  # bound on the truncation error, relative to sqrt(E f(u)^2 E f(v)^2)
RESOLVED = 1e-20  # largest share of sum A_n^2 left in the last eighth of the rule's coefficients
AGREE = 1e-9  # largest relative difference of E[f^2] by two Gauss-Hermite rules (resolved f)
NEGLIGIBLE = 1e-18  # terms whose coefficients are below this (relative) are skipped (parity zeros)
CACHE_SIZE = 256
_cache: OrderedDict = OrderedDict()


@functools.lru_cache(maxsize=8)
def _analysis(points: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes z_k and the K x K matrix w_k h_n(z_k) (row k, column n): f(z) @ it = the coefficients.

    h_n from the normalised three-term recurrence h_{n+1} = (z h_n - sqrt(n) h_{n-1}) / sqrt(n + 1);
    at K = 360 the largest node is 26 and |h_n| stays below 1e80, far from overflow.
    """
    z, w = hermite_nodes(points)
    h = np.empty((points, points))
    h[0] = 1.0
    if points > 1:
        h[1] = z
    for n in range(1, points - 1):
        h[n + 1] = (z * h[n] - math.sqrt(n) * h[n - 1]) / math.sqrt(n + 1)
    return (
        torch.tensor(z, dtype=torch.float64, device=device),
        torch.tensor((h * w).T.copy(), dtype=torch.float64, device=device),
    )


def _coefficients(pair: Pair, q: torch.Tensor, points: int):
    """Coefficients (rows: variances q, columns: n) of sigma and sigma_dot, with a K-node rule.

    Also their shares of the tail R_n / R_0 and whether each variance is resolved.
    """
    z, u = _analysis(points, q.device)
    roots = q.clamp(min=0.0).sqrt()
    fs = torch.empty(q.numel(), points, dtype=torch.float64, device=q.device)
    fd = torch.empty_like(fs)
    step = max(1, BUDGET // points)
    for k in range(0, q.numel(), step):
        s, d = pair(roots[k : k + step, None] * z)
        fs[k : k + step], fd[k : k + step] = s, d
    resolved = torch.isfinite(q) & (q >= 0) & _agrees(pair, roots, fs, fd, points)
    out = []
    for f in (fs, fd):
        coef = f @ u
        tail = (coef * coef).flip(-1).cumsum(-1).flip(-1)
        share = tail / torch.where(tail[:, :1] > 0, tail[:, :1], 1.0)
        resolved &= torch.isfinite(share).all(-1) & (share[:, points - points // 8] <= RESOLVED)
        out.append((coef, share, tail[:, 0]))
    return out, resolved


def _agrees(pair: Pair, roots: torch.Tensor, fs, fd, points: int) -> torch.Tensor:
    """Whether the coefficients of a K-node rule agree with those of a rule of K - K/16 nodes.

    A function the rule resolves (coefficients negligible past 7K/8) gets the same first
    K - K/8 coefficients from both rules, to ``AGREE`` relative to sqrt(sum_n A_n^2); a function
    the rule aliases (sin(30 z) on 360 nodes: its coefficients peak near n = 900) gets two
    different foldings of its high coefficients, which the tail share alone cannot see (the
    folded ones decay). Variances that disagree are left to the direct rules.
    """
    k2 = points - points // 16
    m = k2 - points // 8
    _, u = _analysis(points, roots.device)
    z2, u2 = _analysis(k2, roots.device)
    ok = torch.ones_like(roots, dtype=torch.bool)
    step = max(1, BUDGET // k2)
    for k in range(0, roots.numel(), step):
        pairs = zip((fs[k : k + step], fd[k : k + step]), pair(roots[k : k + step, None] * z2))
        for f, g in pairs:
            one, two = f @ u[:, :m], g @ u2[:, :m]
            size = (f @ u).square().sum(-1).sqrt()
            ok[k : k + step] &= ((one - two).abs().amax(-1) <= AGREE * size) | (size == 0)
    return ok


def _table(pair: Pair, q: torch.Tensor, points: int):
    """The coefficients of the variance vector q (float64, flat), cached.

    A kernel's row and column blocks recur at every block of a layer. Variances unresolved at
    K = 2 points are retried at 360.
    """
    key = (pair, points, q.device, q.cpu().numpy().tobytes())
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    k = min(MAX_NODES, max(16, 2 * points))
    parts, resolved = _coefficients(pair, q, k)
    if not bool(resolved.all()) and k < MAX_NODES:
        again = ~resolved
        parts2, resolved2 = _coefficients(pair, q[again], MAX_NODES)
        pad = MAX_NODES - k
        parts = [
            tuple(torch.nn.functional.pad(t, (0, pad)) if t.dim() == 2 else t.clone() for t in p)
            for p in parts
        ]
        for (coef, share, total), (c2, s2, t2) in zip(parts, parts2):
            coef[again], share[again], total[again] = c2, s2, t2
        resolved = resolved.clone()
        resolved[again] = resolved2
    entry = []
    for coef, share, total in parts:
        coef, share = (
            torch.where(resolved[:, None], coef, 0.0),
            torch.where(resolved[:, None], share, 0.0),
        )
        worst = share.amax(0) if share.numel() else share.new_zeros(share.shape[1])
        keep = (
            int(torch.nonzero(worst > RESOLVED).max()) + 1 if bool((worst > RESOLVED).any()) else 1
        )
        entry.append(
            (
                coef[:, :keep].T.contiguous(),
                worst[:keep].clone(),
                torch.where(resolved, total, math.inf),
            )
        )
    _cache[key] = (entry, resolved)
    if len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return entry, resolved


def _terms(worst_a: torch.Tensor, worst_b: torch.Tensor, rho_max: float) -> tuple[int, float]:
    """The fewest terms T whose truncation bound is below TOLERANCE, and the bound.

    The bound is sqrt(R_T(a) R_T(b)) rho_max^T (relative).
    """
    n = max(worst_a.numel(), worst_b.numel())
    wa = torch.nn.functional.pad(worst_a, (0, n + 1 - worst_a.numel()))
    wb = torch.nn.functional.pad(worst_b, (0, n + 1 - worst_b.numel()))
    powers = rho_max ** torch.arange(n + 1, dtype=torch.float64, device=wa.device)
    bound = (wa * wb).sqrt() * powers
    t = int(torch.nonzero(bound <= TOLERANCE)[0])
    return t, float(bound[t])


def _horner(
    ca: torch.Tensor, cb: torch.Tensor, rho: torch.Tensor, terms: int, scale: float
) -> torch.Tensor:
    """sum_{n < terms} ca[n] cb[n] rho^n over the broadcast shape, skipping negligible terms."""
    size = ca[:terms].reshape(terms, -1).abs().amax(1) * cb[:terms].reshape(terms, -1).abs().amax(1)
    active = torch.nonzero(size > NEGLIGIBLE * scale).flatten().tolist()
    if not active:
        return torch.zeros_like(rho)
    powers: dict[int, torch.Tensor] = {1: rho}
    top = active[-1]
    acc = torch.mul(ca[top], cb[top]).expand_as(rho).clone()
    for n in reversed(active[:-1]):
        gap = top - n
        if gap not in powers:
            powers[gap] = rho.pow(gap)
        acc.mul_(powers[gap]).addcmul_(ca[n], cb[n])
        top = n
    if top:
        acc.mul_(rho if top == 1 else rho.pow(top))
    return acc


def series_expectations(
    pair: Pair, q_xx: torch.Tensor, q_xy: torch.Tensor, q_yy: torch.Tensor, points: int
):
    """E[sigma sigma], E[sigma_dot sigma_dot] over the broadcast shape, the estimated error, a mask.

    The error is relative; the mask marks the entries left to the direct rules (None when there are
    none).

    The variances keep their own shapes (a kernel block passes a column and a row), so the
    coefficients are computed per row and per column and broadcast in each term.
    """
    dtype = q_xy.dtype
    shape = torch.broadcast_shapes(q_xx.shape, q_xy.shape, q_yy.shape)
    sides = [
        torch.broadcast_to(q, torch.broadcast_shapes(q.shape, (1,) * len(shape)))
        for q in (q_xx, q_yy)
    ]
    tables = [_table(pair, q.detach().to(torch.float64).reshape(-1), points) for q in sides]
    prod = torch.mul(*sides)  # commutative: swapping the variances changes no bit
    rho = q_xy / prod.sqrt()
    if not bool((prod > 0).all()):
        rho = torch.where(prod > 0, rho, 0.0)
    rho = torch.broadcast_to(rho, shape).clamp(-1.0, 1.0)
    rho_max = float(rho.abs().max()) if rho.numel() else 0.0
    results, error = [], 0.0
    for k in range(2):
        (ca, wa, ta), (cb, wb, tb) = tables[0][0][k], tables[1][0][k]
        terms, bound = _terms(wa, wb, rho_max)
        terms = max(terms, 1)
        ca, cb = (
            torch.nn.functional.pad(t[:terms], (0, 0, 0, terms - min(terms, t.shape[0])))
            for t in (ca, cb)
        )
        ca = ca.to(dtype).reshape((terms,) + sides[0].shape)
        cb = cb.to(dtype).reshape((terms,) + sides[1].shape)
        fa, fb = ta[torch.isfinite(ta)], tb[torch.isfinite(tb)]
        scale = math.sqrt(float(fa.min()) * float(fb.min())) if fa.numel() and fb.numel() else 0.0
        results.append(_horner(ca, cb, rho, terms, scale))
        error = max(error, bound)
    ra, rb = (r.reshape(s.shape) for r, s in zip((tables[0][1], tables[1][1]), sides))
    rest = None if bool(ra.all()) and bool(rb.all()) else ~torch.broadcast_to(ra & rb, shape)
    return results[0], results[1], error, rest
