"""Eigenvalues of dot-product kernels on the circle and the sphere (Funk-Hecke; Sections 5 and 6).

On the unit sphere S^{d-1} of R^d (n_0 = d; the circle is d = 2) the limiting kernels depend on
x.x' = t only, K(x, x') = k(t), because Sigma^(1) = t/d + beta^2 and every layer of Proposition 1
and Theorem 1 maps such a kernel to another one. The integral operator against the uniform measure,

    (T f)(x) = E_{x' ~ uniform}[K(x, x') f(x')],

is then diagonal in the spherical harmonics (Fourier modes cos k g, sin k g on the circle), and by
the Funk-Hecke formula the harmonics of degree k (there are N(d, k) of them) share the eigenvalue

    mu_k = (omega_{d-2} / omega_{d-1}) int_{-1}^{1} k(t) P_k^{(d)}(t) (1 - t^2)^{(d-3)/2} dt
         = (omega_{d-2} / omega_{d-1}) int_0^pi k(cos th) P_k^{(d)}(cos th) sin(th)^{d-2} dth,

with P_k^{(d)} the Legendre polynomial of dimension d (P_k^{(d)}(1) = 1; Chebyshev T_k for d = 2,
Legendre for d = 3) and omega_m the area of S^m. For d = 2 this is
mu_k = (1/2pi) int k(cos g) cos(k g) dg. On N points drawn from the uniform measure the eigenvalues
of K/N (the lambda_i of Section 5) approximate the mu_k, each repeated N(d, k) times; on N equally
spaced points of the circle K is circulant and its eigenvalues are exactly the aliased sums of
:func:`aliased_eigenvalues`.


Why the angle: the ReLU kernels are functions of sqrt(1 - t^2) and arccos t, with square-root
singularities at t = +-1 that slow any rule in t down to algebraic convergence, but they are smooth
in the angle th on [0, pi]. Gauss-Legendre in th converges exponentially for them and for smooth
kernels.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch

from ._checks import finite_array, kernel_matrix, positive_int
from .kernels import Act, nngp, ntk
from .quadrature import QuadratureWarning
from .quadrature_rules import legendre_nodes

KERNELS = ("ntk", "nngp")
Profile = Callable[[torch.Tensor], torch.Tensor]
# The estimated error (relative to max |mu_k|) above which a QuadratureWarning is issued.
ACCURACY = 1e-10
# A kernel on equally spaced points must be circulant to this relative accuracy.
CIRCULANT_RTOL = 1e-9
NODES = 24  # Gauss-Legendre nodes per panel of the angle
CHUNK = 1 << 22  # entries of P_k^{(d)}(cos th) held at once (32 MiB in float64)


def harmonic_multiplicity(n0: int, k: int) -> int:
    """N(n0, k): the number of linearly independent spherical harmonics of degree k on S^{n0-1}.

    The harmonic homogeneous polynomials of degree k: C(k + d - 1, d - 1) - C(k + d - 3, d - 1), so
    1 for k = 0, d for k = 1, 2 on the circle (cos k g, sin k g) and 2k + 1 on S^2 (Section 5 on
    uniform data: the multiplicity of the Funk-Hecke eigenvalue mu_k).

    Parameters
    ----------
    n0 : int
        The dimension d of the space whose unit sphere S^{d-1} is meant, >= 2.
    k : int
        The degree, >= 0.

    Returns
    -------
    int
        N(n0, k).

    Raises
    ------
    ValueError
        If n0 < 2 or k < 0.
    """
    d, k = positive_int(n0, "n0", 2), positive_int(k, "k", 0)
    if k < 2:
        return 1 if k == 0 else d
    return math.comb(k + d - 1, d - 1) - math.comb(k + d - 3, d - 1)


def _legendre(k_max: int, d: int, gap: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
    """P_k^{(d)}(t), k = 0..k_max, from gap = 1 - |t| and sign = sign(t) (Reinsch's recurrence).

    The recurrence P_{k+1} = ((2k + d - 2) t P_k - k P_{k-1}) / (k + d - 2) written for the
    differences D_k = P_k - P_{k-1}: D_{k+1} = (k D_k - (2k + d - 2) gap P_k) / (k + d - 2),
    P_{k+1} = P_k + D_{k+1}, on |t|, then P_k(t) = sign^k P_k(|t|). Near t = +-1 the plain
    recurrence loses k^2 eps (the rounding of t itself, amplified by P_k'(1) ~ k^2); given an
    accurate gap this form stays at a few eps.
    """
    out = torch.empty((k_max + 1, *gap.shape), dtype=torch.float64, device=gap.device)
    out[0] = 1.0
    if k_max >= 1:
        diff = -gap
        out[1] = 1.0 - gap
    for k in range(1, k_max):
        diff = (k * diff - (2 * k + d - 2) * gap * out[k]) / (k + d - 2)
        out[k + 1] = out[k] + diff
    out[1::2] *= sign
    return out


def sphere_legendre(k_max: int, n0: int, t: object) -> torch.Tensor:
    """The Legendre polynomials P_k^{(d)}(t) of dimension d = n0, for k = 0 .. k_max.

    Normalised by ``P_k^{(d)}(1) = 1`` (so ``|P_k^{(d)}| <= 1`` on [-1, 1]), from the three-term
    recurrence ``P_{k+1} = ((2k + d - 2) t P_k - k P_{k-1}) / (k + d - 2)``, ``P_0 = 1``,
    ``P_1 = t``, in Reinsch's form (accurate near t = +-1; no factorials, so any d and k). They are
    the Gegenbauer polynomials ``C_k^{(d-2)/2} / C_k^{(d-2)/2}(1)``; d = 2 gives the Chebyshev
    polynomials T_k (``T_k(cos g) = cos(k g)``), d = 3 the Legendre polynomials. They are the
    Funk-Hecke basis of the eigenvalues on the sphere (Section 5 on uniform data).

    Parameters
    ----------
    k_max : int
        The highest degree, >= 0.
    n0 : int
        The dimension d of the space whose unit sphere S^{d-1} is meant, >= 2.
    t : array_like
        Cosines in [-1, 1], of any shape.

    Returns
    -------
    torch.Tensor
        Shape ``(k_max + 1, *t.shape)``: row k holds P_k^{(d)}(t); float64, on t's device.

    Raises
    ------
    ValueError
        If k_max < 0, n0 < 2, or t has non-finite entries or entries outside [-1, 1].

    Examples
    --------
    >>> import torch
    >>> from ntk_course import sphere_legendre
    >>> sphere_legendre(3, 2, torch.tensor([1.0, 0.5, -1.0], dtype=torch.float64))
    tensor([[ 1.0000,  1.0000,  1.0000],
            [ 1.0000,  0.5000, -1.0000],
            [ 1.0000, -0.5000,  1.0000],
            [ 1.0000, -1.0000, -1.0000]], dtype=torch.float64)
    """
    k_max, d = positive_int(k_max, "k_max", 0), positive_int(n0, "n0", 2)
    tt = finite_array(t, "t", ndims=None)
    if bool((tt.abs() > 1).any()):
        raise ValueError(
            "t must lie in [-1, 1] (a cosine x.x' on the sphere); "
            f"got values up to |t| = {tt.abs().max():.6g}"
        )
    return _legendre(k_max, d, 1.0 - tt.abs(), torch.where(tt < 0, -1.0, 1.0).to(tt))


def _profile(
    kernel: str | Profile,
    d: int,
    depth: int | None,
    activation: Act | None,
    beta: float | None,
    options: dict,
) -> Profile:
    """k(cos th) as a function of the angles th (a 1-d float64 tensor), checked before any work."""
    if callable(kernel):
        if depth is not None or activation is not None or beta is not None or options:
            raise ValueError(
                "depth, activation, beta and kernel options apply to kernel='ntk' or 'nngp' only, "
                "not to a callable k(t)"
            )

        def of_angle(th: torch.Tensor) -> torch.Tensor:
            values = torch.as_tensor(kernel(torch.cos(th)), dtype=torch.float64)
            if values.shape != th.shape or not bool(torch.isfinite(values).all()):
                raise ValueError(
                    f"kernel(t) must map the {th.numel()} cosines t to as many finite values; "
                    f"got shape {tuple(values.shape)}"
                )
            return values

        return of_angle
    if kernel not in KERNELS:
        raise ValueError(
            f"unknown kernel {kernel!r}; expected one of {KERNELS} or a callable k(t) of t = x.x'"
        )
    if depth is None:
        raise ValueError(f"kernel={kernel!r} needs the depth L (number of weight layers, >= 1)")
    fn = ntk if kernel == "ntk" else nngp
    settings = dict(activation=activation or "relu", beta=0.1 if beta is None else beta, **options)
    depth = positive_int(depth, "depth")
    e1 = torch.zeros(1, d, dtype=torch.float64)
    e1[0, 0] = 1.0

    def of_angle(th: torch.Tensor) -> torch.Tensor:
        x = torch.zeros(th.shape[0], d, dtype=torch.float64)
        x[:, 0], x[:, 1] = torch.cos(th), torch.sin(th)
        return fn(e1, x, depth=depth, **settings)[0]

    # One point: a bad activation, beta or option raises here.
    of_angle(torch.zeros(1, dtype=torch.float64))
    return of_angle


def _funk_hecke(of_angle: Profile, k_max: int, d: int, panels: int) -> torch.Tensor:
    """mu_0 .. mu_{k_max} by composite Gauss-Legendre in the angle th.

    ``panels`` equal panels of [0, pi], NODES nodes each (exact for polynomials of degree
    2 NODES - 1 on a panel). Small rules keep their nodes and weights at round-off, where one rule
    of thousands of nodes loses ~q^2 eps.
    """
    z, w = legendre_nodes(NODES)
    h = math.pi / panels
    th = (
        h * (torch.arange(panels, dtype=torch.float64)[:, None] + torch.tensor(z)[None, :])
    ).flatten()
    weights = (h * torch.tensor(w)).repeat(panels) * torch.sin(th) ** (d - 2) * of_angle(th)
    # omega_{d-2} / omega_{d-1} = Gamma(d/2) / (sqrt(pi) Gamma((d-1)/2)), via lgamma for any d.
    ratio = math.exp(math.lgamma(d / 2) - math.lgamma((d - 1) / 2)) / math.sqrt(math.pi)
    mu = torch.zeros(k_max + 1, dtype=torch.float64)
    for chunk in torch.split(torch.arange(th.shape[0]), max(1, CHUNK // (k_max + 1))):
        t = th[chunk]
        # 1 - |cos th| = 2 sin^2(th/2) or 2 cos^2(th/2), accurate near the poles where 1 - cos th
        # is not.
        gap = torch.where(t <= math.pi / 2, 2 * torch.sin(t / 2) ** 2, 2 * torch.cos(t / 2) ** 2)
        mu += (
            _legendre(k_max, d, gap, torch.where(t <= math.pi / 2, 1.0, -1.0).to(t))
            @ weights[chunk]
        )
    return ratio * mu


def sphere_eigenvalues(
    k_max: int,
    n0: int,
    kernel: str | Profile = "ntk",
    *,
    depth: int | None = None,
    activation: Act | None = None,
    beta: float | None = None,
    panels: int | None = None,
    **options: object,
) -> torch.Tensor:
    """mu_0 .. mu_{k_max}: the eigenvalues of a dot-product kernel on S^{n0-1} (Funk-Hecke).

    mu_k belongs to the N(n0, k) spherical harmonics of degree k (:func:`harmonic_multiplicity`):
    the eigenvalues of the operator (T f)(x) = E_{x' uniform}[K(x, x') f(x')], which the
    eigenvalues of K/N on N uniform points approach (Section 5 on uniform data).

    The integral is taken in the angle th by composite Gauss-Legendre: ``panels`` equal panels of
    [0, pi] of NODES = 24 nodes each. The ReLU and erf kernels of any depth are smooth in th on
    [0, pi], and the sums are then exact to a few 1e-16 of ``max |mu_k|``. The error is estimated
    against a rule with half again as many panels; above ACCURACY (relative to ``max |mu_k|``) a
    QuadratureWarning says so (a callable with a kink inside (-1, 1), such as ``|t|``, converges
    only algebraically). float64 on the CPU.

    Parameters
    ----------
    k_max : int
        The highest degree, >= 0.
    n0 : int
        The dimension d of the space whose unit sphere S^{d-1} is meant, >= 2.
    kernel : {"ntk", "nngp"} or callable, default "ntk"
        ``"ntk"`` (Theta_infinity^(L), Theorem 1) or ``"nngp"`` (Sigma^(L), Proposition 1) of a
        network with n0 inputs, evaluated by :func:`~ntk_course.ntk` / :func:`~ntk_course.nngp`;
        or any callable k(t) mapping a float64 tensor of cosines t = x.x' to as many values.
    depth : int, optional
        The depth L (number of weight layers, >= 1); required for ``"ntk"`` and ``"nngp"``.
    activation : str or Activation, optional
        The activation (default relu); for ``"ntk"`` and ``"nngp"`` only.
    beta : float, optional
        The bias factor (default 0.1); for ``"ntk"`` and ``"nngp"`` only.
    panels : int, optional
        The number of panels, >= 1; default (k_max + n0) // 2 + 8, so a panel holds at most about
        one period of cos(k th).
    **options
        Further keyword arguments of :func:`~ntk_course.ntk` / :func:`~ntk_course.nngp`.

    Returns
    -------
    torch.Tensor
        Shape ``(k_max + 1,)``: mu_0 .. mu_{k_max}, float64.

    Raises
    ------
    ValueError
        If k_max < 0, n0 < 2, panels < 1, the kernel name is unknown, ``"ntk"`` or ``"nngp"`` comes
        without a depth, kernel settings come with a callable, or the callable returns a wrong
        shape or non-finite values.

    Warns
    -----
    QuadratureWarning
        If the estimated error exceeds ACCURACY times ``max |mu_k|``.
    """
    k_max, d = positive_int(k_max, "k_max", 0), positive_int(n0, "n0", 2)
    p = (k_max + d) // 2 + 8 if panels is None else positive_int(panels, "panels")
    of_angle = _profile(kernel, d, depth, activation, beta, options)
    mu = _funk_hecke(of_angle, k_max, d, p)
    error = float((mu - _funk_hecke(of_angle, k_max, d, p + (p + 1) // 2)).abs().max())
    scale = float(mu.abs().max())
    if error > ACCURACY * scale:
        warnings.warn(
            "sphere_eigenvalues: the Funk-Hecke integrals are accurate only to about "
            f"{error / scale:.1e} of max |mu_k| (estimated with {p + (p + 1) // 2} against {p} "
            "panels); raise panels",
            QuadratureWarning,
            stacklevel=2,
        )
    return mu


def circle_eigenvalues(
    k_max: int, kernel: str | Profile = "ntk", **settings: object
) -> torch.Tensor:
    """mu_k = (1/2pi) int k(cos g) cos(k g) dg for k = 0..k_max: Fourier coefficients on the circle.

    The Fourier coefficients of the kernel on the unit circle (n_0 = 2), the eigenvalues of T on
    cos(k g) and sin(k g) (twice each for k >= 1); Section 5 on uniform data.
    :func:`sphere_eigenvalues` with n0 = 2; ``settings`` as there.

    Parameters
    ----------
    k_max : int
        The highest frequency, >= 0.
    kernel : {"ntk", "nngp"} or callable, default "ntk"
        As in :func:`sphere_eigenvalues`.
    **settings
        ``depth``, ``activation``, ``beta``, ``panels`` and kernel options, as in
        :func:`sphere_eigenvalues`.

    Returns
    -------
    torch.Tensor
        Shape ``(k_max + 1,)``: mu_0 .. mu_{k_max}, float64.

    Raises
    ------
    ValueError
        As :func:`sphere_eigenvalues`.
    """
    return sphere_eigenvalues(k_max, 2, kernel, **settings)  # type: ignore[arg-type]


def circulant_eigenvalues(k_matrix: object) -> torch.Tensor:
    """lambda_0 .. lambda_{N//2}: the eigenvalues of K/N on N equally spaced points of the circle.

    One eigenvalue per frequency (the lambda_i of Section 5). K is the kernel of the angle on
    equally spaced points, so it is circulant, K_ij = c_{(j - i) mod N}, and the real Fourier modes
    are its eigenvectors: cos(k g_j) and sin(k g_j) share
    lambda_k = (1/N) sum_j c_j cos(2 pi jk/N) (one mode for k = 0 and k = N/2). The rest of the
    spectrum of K/N is lambda_k for N - k. Computed with ``torch.fft.rfft``.

    Parameters
    ----------
    k_matrix : array_like
        Shape (N, N): the kernel on ``circle_points(N)`` (points in order around the circle) of a
        kernel that depends on the angle only.

    Returns
    -------
    torch.Tensor
        Shape ``(N // 2 + 1,)``: lambda_0 .. lambda_{N//2}, on k_matrix's device.

    Raises
    ------
    ValueError
        If k_matrix is not a symmetric, circulant, finite square matrix.
    """
    k = kernel_matrix(k_matrix, "k_matrix", symmetric=True)
    n = k.shape[0]
    rows = torch.stack([torch.roll(k[i], -i) for i in range(n)])
    gap, top = float((rows - k[0]).abs().max()), float(k.abs().max())
    if gap > CIRCULANT_RTOL * top:
        raise ValueError(
            "k_matrix must be circulant (a kernel of the angle on equally spaced points of the "
            f"circle, in order); its rows differ from shifts of the first by {gap:.3g} "
            f"(max |K| = {top:.3g})"
        )
    return torch.fft.rfft(k[0]).real.to(k.device) / n


def aliased_eigenvalues(mu: object, n: int) -> torch.Tensor:
    """``lambda_k = sum_{m in Z} mu_{|k + m n|}`` for k = 0..n//2, from mu_0 .. mu_K (a 1-d array).

    On n equally spaced points of the circle the mode cos(k g) cannot be told from
    cos((k + m n) g), so the eigenvalue of K/N for frequency k (Section 5) collects all the Fourier
    coefficients that alias onto it (the exact spectrum is :func:`circulant_eigenvalues`). Terms
    beyond mu_K are left out: the result is short by the tail
    ``sum_{|k + m n| > K} mu_{|k + m n|}``, small when K >> n and mu decays fast.

    Parameters
    ----------
    mu : array_like
        Shape (K + 1,): the circle eigenvalues mu_0 .. mu_K (:func:`circle_eigenvalues`).
    n : int
        The number of equally spaced points, >= 1.

    Returns
    -------
    torch.Tensor
        Shape ``(n // 2 + 1,)``: lambda_0 .. lambda_{n//2}, mu's dtype and device.

    Raises
    ------
    ValueError
        If mu is not a finite 1-d array or n < 1.
    """
    values = finite_array(mu, "mu", ndims=(1,))
    n = positive_int(n, "n")
    j = torch.arange(values.shape[0], device=values.device)
    r = torch.remainder(j, n)
    folded = torch.minimum(r, n - r)  # the frequency in 0..n//2 that +j and -j alias to
    # mu_j enters the sum for m = +j and m = -j. For 0 < k < n/2 only one of the two is congruent
    # to k (the other to n - k); frequencies 0 and n/2 are their own mirror images and receive both.

    own_mirror = (folded == 0) | (2 * folded == n)
    weights = torch.where((j > 0) & own_mirror, 2.0, 1.0).to(values.dtype)
    out = torch.zeros(n // 2 + 1, dtype=values.dtype, device=values.device)
    return out.index_add_(0, folded, weights * values)
