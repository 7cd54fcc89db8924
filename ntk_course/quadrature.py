"""Gaussian expectations of the kernel recursions (Proposition 1, Theorem 1, Appendix A.4).

Proposition 1 and Theorem 1 need E[sigma(u) sigma(v)] and E[sigma_dot(u) sigma_dot(v)] for a
centred Gaussian pair with variances a >= b (u is the one of larger variance) and correlation rho.
With independent standard normals z, w, u = sqrt(a) z and v = sqrt(b) (rho z + rho' w),
rho' = sqrt(1 - rho^2):

    E[f(u) f(v)] = E_z[f(sqrt(a) z) H(z)],    H(z) = E_w[f(sqrt(b) (rho z + rho' w))],

an outer and an inner one-dimensional integral. Identical points (rho = +-1) make the inner one
trivial, so no rule ever meets a degenerate two-dimensional Gaussian. Two rules integrate them:

* Gauss-Hermite in z and in w, where it converges fast: smooth activations up to a variance their
  :class:`Profile` names, and polynomials (exactly);
* otherwise a piecewise rule: Gauss-Legendre between edges, half-range Gauss-Hermite on the two
  tails. The edges are 0 and +-3 standard deviations; the breakpoints of sigma and sigma_dot (a
  kink or a jump on an edge costs no accuracy); a grading by factors of 3 around the activation's
  transition at u = 0, down to its width over sqrt(a) (a large variance squeezes tanh into a step);
  and, in the outer integral, the points where H carries the smoothed image of a breakpoint of the
  inner function, a boundary layer of width ``rho' / |rho|`` that gets its own edges.

The breakpoints of a user's callable are found by :func:`find_breakpoints`. Every call estimates its
own error by redoing a few entries (the largest variances, the correlations nearest +-1, a spread of
the rest) with a rule twice as fine; :func:`gaussian_expectations` warns with that estimate
(:class:`QuadratureWarning`) when it exceeds ``TOLERANCE``. One cached table per rule and size
(:mod:`ntk_course.quadrature_rules`) serves the whole library, :mod:`ntk_course.hermite` included.
A smooth activation (no breakpoint, not a polynomial) goes first to :mod:`ntk_course.mehler`, a
Hermite series in rho with a certified truncation bound; only the entries whose variances it cannot
resolve come to the rules above.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .quadrature_rules import _torch_rule, check_nodes, piecewise_rule

Pair = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

# Edges are kept within +-6 standard deviations (the tails beyond carry 2e-9 of the mass).
CLIP = 6.0
BASE = 3.0  # fixed edges at 0 and +-3: no Gauss-Legendre piece is longer than 3 standard deviations
LAYERS = (1.5, 7.0)  # edges at k * rho' / |rho| on both sides of a breakpoint's image in H
GRADING = 3.0  # ratio of consecutive edges around the activation's transition at u = 0
TOLERANCE = 1e-6  # estimated relative error above which a QuadratureWarning is issued
BUDGET = 1 << 16  # quadrature nodes evaluated at once (temporaries of 512 KiB in float64)
SAMPLE = 4  # entries of each kind redone with the finer rule to estimate the error
MAX_BREAKPOINTS = 32
TAIL_NODES = 24  # half-range Gauss-Hermite nodes per tail at most (quadrature_rules.tail_nodes)
ROUNDING = 4  # 1 - rho^2 below ROUNDING * eps is rounding: the pair is collinear (rho = +-1)


class QuadratureWarning(UserWarning):
    """The estimated error of a Gaussian expectation exceeds ``TOLERANCE`` (relative)."""


@dataclass(frozen=True)
class Profile:
    """What the rules need to know about sigma and sigma_dot as functions of the pre-activation u.

    ``breakpoints``: where sigma has a kink or sigma_dot a jump (None: find them numerically);
    ``scale``: the width of the smooth transition around u = 0 (tanh 1, sigmoid 2; None: none, as
    for a piecewise-linear sigma); ``hermite_variance``: the largest variance up to which
    Gauss-Hermite with 64 nodes per dimension is accurate to 1e-10 (it grows in proportion to the
    node count; inf for a polynomial, which it integrates exactly; 0: never use it).
    """

    breakpoints: tuple[float, ...] | None = None
    scale: float | None = 1.0
    hermite_variance: float = 0.0


def _fourth_differences(pair: Pair, x: torch.Tensor) -> torch.Tensor:
    """max over (sigma, sigma_dot) of |4th difference| / (1 + max |value|) along the last axis."""
    out = None
    for f in pair(x):
        if f.shape != x.shape:
            raise ValueError(
                "the activation must act elementwise; "
                f"it mapped shape {tuple(x.shape)} to {tuple(f.shape)}"
            )
        d = f[..., 4:] - 4 * f[..., 3:-1] + 6 * f[..., 2:-2] - 4 * f[..., 1:-3] + f[..., :-4]
        size = f.abs().unfold(-1, 5, 1).amax(-1)
        d = d.abs() / (1.0 + size)
        out = d if out is None else torch.maximum(out, d)
    return out.nan_to_num(nan=math.inf)


@functools.lru_cache(maxsize=32)
def find_breakpoints(pair: Pair, radius: float) -> tuple[float, ...]:
    """Points of [-radius, radius] where sigma has a kink or sigma_dot a jump.

    ``pair(u) = (sigma(u), sigma_dot(u))``.

    On a grid of spacing h <= 1/128 the fourth difference of a smooth function is O(h^4) (below 1e-7
    for tanh), that of a kink O(h) and that of a jump O(1); each stretch above 1e-6 (relative to the
    values) is narrowed 25 times to the 4 of 16 cells with the largest fourth difference, which pins
    the point to round-off. A narrow smooth feature may be reported too, which only adds an edge.
    Results are cached per function and radius.
    """
    n = int(min(1 << 18, max(1 << 12, 256 * radius)))
    x = torch.linspace(-radius, radius, n + 1, dtype=torch.float64)
    with torch.no_grad():
        flagged = (_fourth_differences(pair, x) > 1e-6).numpy()
    starts = np.flatnonzero(flagged & ~np.r_[False, flagged[:-1]])
    ends = np.flatnonzero(flagged & ~np.r_[flagged[1:], False])
    if len(starts) > MAX_BREAKPOINTS:
        raise ValueError(
            f"the activation has more than {MAX_BREAKPOINTS} kinks or jumps in "
            f"[-{radius:g}, {radius:g}]; the quadrature resolves at most that many"
        )
    if not len(starts):
        return ()
    lo, hi = x[starts], x[ends + 4]
    grid = torch.linspace(0.0, 1.0, 17, dtype=torch.float64)
    for _ in range(25):
        with torch.no_grad():
            i = _fourth_differences(pair, lo[:, None] + (hi - lo)[:, None] * grid).argmax(-1)
        step = (hi - lo) / 16
        lo, hi = lo + i * step, lo + (i + 4) * step
    return tuple(sorted(((lo + hi) / 2).tolist()))


def _edges(columns: list[torch.Tensor], reach: tuple[float, ...] = ()) -> torch.Tensor:
    """Stack candidate edges and move them into [-R, R] (NaN: out of range), R = max(reach, CLIP).

    Columns out of range everywhere are dropped; the first three (0 and +-BASE) and the fixed
    edges +-``reach`` (appended here) always stay.
    """
    bound = max(reach, default=CLIP)
    fixed = [torch.full_like(columns[0], s * r) for r in reach for s in (1, -1)]
    e = torch.stack(columns + fixed, -1).nan_to_num_(nan=bound).clamp_(-bound, bound)
    keep = (e.abs() < bound).flatten(0, -2).any(0)
    keep[:3] = True
    if fixed:
        keep[-len(fixed) :] = True
    return e[..., keep]


def _reach(points: int, finer: bool) -> tuple[float, ...]:
    """Fixed outer edges: where the tails start when they do not start at the last edge.

    The finer rule (the error estimate) always ends its pieces at +-(CLIP + BASE) = +-9, so that
    its tails differ from the rule's, which start at the last edge (often +-3) or, once the
    tails are capped at 24 nodes (``points`` >= 144), at +-CLIP: a rule and its check never share
    their tails, and raising ``points`` puts the extra nodes where the tails were.
    """
    if finer:
        return (CLIP, CLIP + BASE)
    return (CLIP,) if max(3, points // 6) > TAIL_NODES else ()


def _piecewise(pair: Pair, sa, sb, rho, rhop, breaks, levels, pieces: int, tails: int, reach):
    """The piecewise rule on one chunk of entries (module docstring).

    The inner integrals are taken a slice of outer nodes at a time, so that no more than BUDGET
    nodes are evaluated at once; ``reach``: the fixed outer edges of :func:`_reach`.
    """
    zero = torch.zeros_like(sa)
    inv_a = 1.0 / sa
    cols = [zero, zero + BASE, zero - BASE] + [s * g * inv_a for g in levels for s in (1, -1)]
    delta = rhop / rho.abs()
    for t in breaks:
        image = t / (sb * rho)
        cols += [t * inv_a, image] + [image + s * k * delta for k in LAYERS for s in (1, -1)]
    z, wz = piecewise_rule(_edges(cols, reach), pieces, tails)
    fs, fd = pair(sa[:, None] * z)
    m = (sb * rho)[:, None] * z
    spread = (sb * rhop)[:, None, None]
    inv_s = 1.0 / spread[..., 0]
    zero = torch.zeros_like(m)
    cols = [zero, zero + BASE, zero - BASE] + [(s * g - m) * inv_s for g in levels for s in (1, -1)]
    edges = _edges(cols + [(t - m) * inv_s for t in breaks], reach)
    step = max(1, BUDGET // (z.shape[0] * ((edges.shape[-1] - 1) * pieces + 2 * tails)))
    hs, hd = torch.empty_like(z), torch.empty_like(z)
    for k in range(0, z.shape[1], step):
        w, ww = piecewise_rule(edges[:, k : k + step], pieces, tails)
        gs, gd = pair(w.mul_(spread).add_(m[:, k : k + step, None]))
        hs[:, k : k + step], hd[:, k : k + step] = (
            torch.linalg.vecdot(gs, ww),
            torch.linalg.vecdot(gd, ww),
        )
    return torch.linalg.vecdot(fs * wz, hs), torch.linalg.vecdot(fd * wz, hd)


def _hermite(pair: Pair, sa, sb, rho, rhop, points: int):
    """Gauss-Hermite in z and w on one chunk of entries, a slice of outer nodes at a time."""
    z, w = _torch_rule("hermite", points, sa.dtype, sa.device)
    fs, fd = pair(sa[:, None] * z)
    m = (sb * rho)[:, None] * z
    spread = (sb * rhop)[:, None, None]
    step = max(1, BUDGET // (sa.shape[0] * points))
    hs, hd = torch.empty_like(m), torch.empty_like(m)
    for k in range(0, points, step):
        gs, gd = pair(torch.addcmul(m[:, k : k + step, None], spread, z))
        hs[:, k : k + step], hd[:, k : k + step] = gs @ w, gd @ w
    return (fs * hs) @ w, (fd * hd) @ w


def _levels(profile: Profile, largest_variance: float) -> list[float]:
    """Edges +-scale * 3^k in u: the transition's width and multiples.

    Up to the first k with 3^k scale / sqrt(a) >= BASE.
    """
    if profile.scale is None:
        return []
    out = [profile.scale]
    while out[-1] * GRADING < BASE * math.sqrt(largest_variance):
        out.append(out[-1] * GRADING)
    return out


def _sizes(points: int, finer: bool = False) -> tuple[int, int]:
    """Gauss-Legendre nodes per piece and half-range Gauss-Hermite nodes per tail for ``points``.

    Twice as many when ``finer``. The tails start at least BASE standard deviations out, where they
    carry 0.13% of the mass; at most 24 nodes, where the computed rule is still exact to 1e-13.
    """
    k = max(3, points // 6) * (2 if finer else 1)
    return k, min(TAIL_NODES, k)


def _largest(variances: torch.Tensor) -> float:
    """The largest finite variance (1 if none).

    An overflowed one yields a non-finite kernel, which the kernels refuse, and must not steer the
    rules.
    """
    finite = variances[torch.isfinite(variances)]
    return float(finite.max()) if finite.numel() else 1.0


def _integrate(pair: Pair, hi, lo, c, profile: Profile, points: int, finer: bool = False):
    """E[sigma sigma] and E[sigma_dot sigma_dot] for flat variances hi >= lo and covariance c.

    ``finer``: the piecewise rule alone, with twice the nodes per piece and per tail.
    """
    sa, sb = hi.sqrt(), lo.sqrt()
    product = torch.mul(hi, lo)
    root = product.sqrt()
    # 1 - rho^2 within rounding of 0 is 0: a correlation of +-1 rounded (collinear points) would
    # otherwise leave rho' ~ 1e-8, which a jump in sigma turns into an error of the same size.
    gap = product - torch.mul(c, c)
    degenerate = gap <= ROUNDING * torch.finfo(gap.dtype).eps * product
    spread = torch.where(degenerate, 0.0, gap).sqrt_()
    ok = root > 0
    rho = torch.where(ok, c / torch.where(ok, root, 1.0), 0.0).clamp_(-1.0, 1.0)
    rho = torch.where(degenerate & ok, torch.sign(c), rho)
    rhop = torch.where(ok, spread / torch.where(ok, root, 1.0), 1.0).clamp_(max=1.0)
    fast = torch.zeros_like(ok) if finer else hi <= profile.hermite_variance * points / 64
    levels = _levels(profile, _largest(hi))
    breaks = profile.breakpoints or ()
    pieces, tails = _sizes(points, finer)
    reach = _reach(points, finer)
    k_outer = 3 + 2 * len(levels) + 6 * len(breaks) + 2 * len(reach)
    k_inner = 3 + 2 * len(levels) + len(breaks) + 2 * len(reach)
    size = ((k_outer - 1) * pieces + 2 * tails) * ((k_inner - 1) * pieces + 2 * tails)
    out_s, out_d = torch.empty_like(hi), torch.empty_like(hi)
    for mask, chunk, run in (
        (fast, max(1, BUDGET // points**2), lambda *a: _hermite(pair, *a, points)),
        (
            ~fast,
            max(1, BUDGET // size),
            lambda *a: _piecewise(pair, *a, breaks, levels, pieces, tails, reach),
        ),
    ):
        index = torch.nonzero(mask).flatten()
        for start in range(0, index.numel(), chunk):
            i = index[start : start + chunk]
            out_s[i], out_d[i] = run(sa[i], sb[i], rho[i], rhop[i])
    return out_s, out_d, rhop


def _error(pair: Pair, hi, lo, c, rhop, e_s, e_d, profile: Profile, points: int) -> float:
    """Largest |rule - finer rule| / sqrt(E[f(u)^2] E[f(v)^2]) over a sample of the finite entries.

    The sample: the largest variances, the correlations nearest +-1 but not equal, a spread;
    f = sigma, sigma_dot.
    """
    if math.isinf(profile.hermite_variance) or hi.numel() == 0:
        return 0.0
    usable = torch.isfinite(hi) & torch.isfinite(e_s) & torch.isfinite(e_d)
    if not bool(usable.any()):
        return 0.0
    k = min(SAMPLE, hi.numel())
    near = torch.where(usable & (rhop > 0), rhop, math.inf)
    index = torch.cat(
        [
            torch.where(usable, hi, -math.inf).topk(k).indices,
            near.topk(k, largest=False).indices,
            torch.linspace(0, hi.numel() - 1, k, device=hi.device).long(),
        ]
    ).unique()
    index = index[usable[index]]
    h, l_, cc = hi[index], lo[index], c[index]
    both = torch.cat([h, h, l_])
    ref_s, ref_d, _ = _integrate(
        pair, both, torch.cat([l_, h, l_]), torch.cat([cc, h, l_]), profile, points, True
    )
    m = index.numel()
    worst = 0.0
    for ref, ours in ((ref_s, e_s[index]), (ref_d, e_d[index])):
        scale = (ref[m : 2 * m].abs() * ref[2 * m :].abs()).sqrt()
        err = (ours - ref[:m]).abs() / torch.where(scale > 0, scale, 1.0)
        worst = max(worst, float(err.nan_to_num(nan=math.inf).max()))
    return worst


def expectations_and_error(
    pair: Pair,
    q_xx: torch.Tensor,
    q_xy: torch.Tensor,
    q_yy: torch.Tensor,
    points: int = 64,
    profile: Profile = Profile(),
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """E[sigma(u)sigma(v)], E[sigma_dot(u)sigma_dot(v)] (elementwise, broadcast), estimated error.

    ``pair(u)`` returns (sigma(u), sigma_dot(u)) and must act elementwise; ``points`` sets the sizes
    of the rules (Gauss-Hermite: ``points`` nodes per dimension; piecewise: ``points // 6``
    Gauss-Legendre nodes per piece and per tail, at most 24 per tail: 1e-10 relative at 64);
    a profile without breakpoints gets them from :func:`find_breakpoints`. The error is relative to
    sqrt(E[f(u)^2] E[f(v)^2]) (Cauchy-Schwarz), the largest over a sample (module docstring).
    """
    points = check_nodes(points)
    q_xx, q_xy, q_yy = (torch.as_tensor(t) for t in (q_xx, q_xy, q_yy))
    shape = torch.broadcast_shapes(q_xx.shape, q_xy.shape, q_yy.shape)
    dtype = torch.promote_types(torch.promote_types(q_xx.dtype, q_xy.dtype), q_yy.dtype)
    dtype = dtype if dtype.is_floating_point else torch.float64
    q_xx, q_xy, q_yy = (t.to(dtype) for t in (q_xx, q_xy, q_yy))
    if profile.breakpoints is None:
        largest = max(_largest(q_xx.reshape(-1)), _largest(q_yy.reshape(-1)))
        radius = 2.0 ** math.ceil(math.log2(max(16.0, CLIP * math.sqrt(largest))))
        profile = Profile(find_breakpoints(pair, radius), profile.scale, profile.hermite_variance)
    rest, fast = None, None
    if not profile.breakpoints and math.isfinite(profile.hermite_variance) and math.prod(shape):
        # a smooth activation: Mehler's formula (ntk_course.mehler)
        from .mehler import series_expectations

        *fast, rest = series_expectations(pair, q_xx, q_xy, q_yy, points)
        if rest is None:
            return fast[0], fast[1], fast[2]
    a, c, b = (t.expand(shape).reshape(-1) for t in (q_xx, q_xy, q_yy))
    index = None if rest is None else torch.nonzero(rest.reshape(-1)).flatten()
    if index is not None:
        a, c, b = a[index], c[index], b[index]
    hi, lo = torch.maximum(a, b), torch.minimum(a, b)
    e_s, e_d, rhop = _integrate(pair, hi, lo, c, profile, points)
    err = _error(pair, hi, lo, c, rhop, e_s, e_d, profile, points)
    if fast is not None:
        # the entries of variances the series does not resolve, by the direct rules
        fast[0].view(-1)[index], fast[1].view(-1)[index] = e_s, e_d
        return fast[0], fast[1], max(err, fast[2])
    return e_s.reshape(shape), e_d.reshape(shape), err


def warn_if_inaccurate(err: float, name: str, dtype: torch.dtype = torch.float64) -> None:
    """Issue a QuadratureWarning when the estimated relative error exceeds ``TOLERANCE``.

    Or, in a low precision, 1000 times its machine epsilon: 1.2e-4 in float32.
    """
    tolerance = max(TOLERANCE, 1e3 * torch.finfo(dtype).eps)
    if err > tolerance:
        warnings.warn(
            f"the Gaussian expectations of {name!r} are accurate only to about {err:.1e} relative "
            f"(estimated against a rule twice as fine; tolerance {tolerance:.1e}); "
            "raise quadrature_points",
            QuadratureWarning,
            stacklevel=3,
        )


def gaussian_expectations(
    sigma: Callable[[torch.Tensor], torch.Tensor],
    sigma_dot: Callable[[torch.Tensor], torch.Tensor],
    q_xx: torch.Tensor,
    q_xy: torch.Tensor,
    q_yy: torch.Tensor,
    points: int = 64,
    profile: Profile = Profile(),
) -> tuple[torch.Tensor, torch.Tensor]:
    """E[sigma(u)sigma(v)] and E[sigma_dot(u)sigma_dot(v)] for a centred Gaussian pair (u, v).

    The covariance of (u, v) is [[q_xx, q_xy], [q_xy, q_yy]].

    :func:`expectations_and_error` with ``pair = (sigma, sigma_dot)``; warns (QuadratureWarning)
    when the estimated error exceeds ``TOLERANCE``. Symmetric in (q_xx, q_yy) to the last bit: the
    variable of larger variance is always the outer one.
    """
    e_s, e_d, err = expectations_and_error(
        lambda z: (sigma(z), sigma_dot(z)), q_xx, q_xy, q_yy, points, profile
    )
    warn_if_inaccurate(err, getattr(sigma, "__name__", "sigma"), e_s.dtype)
    return e_s, e_d
