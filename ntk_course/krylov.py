"""The least-squares kernel gradient flow for a blocked kernel, by Lanczos (Section 5, large N).

The flow d f_t/dt = -(1/N) K (f_t - y) (cost C = 1/(2N) sum ||f - y||^2, Pi = K/N, time t = learning
rate x steps) has the solution (Section 5 of Jacot, Gabriel & Hongler, 2018), with r = y - f_0(X):

    f_t(X) = y - e^{-t K/N} r,
    f_t(x) = f_0(x) + K(x, X) K^{-1} (I - e^{-t K/N}) r = f_0(x) + K(x, X) phi_t(K/N) r / N,

where phi_t(lam) = (1 - e^{-t lam}) / lam (= t at lam = 0, so a singular kernel is fine).
:func:`ntk_course.flow.gradient_flow` evaluates both from one eigendecomposition of K, which needs
the whole (N, N) matrix. Here K is only multiplied by vectors, block by block (a
:class:`ntk_course.blocked.BlockedKernel`, a ``dask.array`` or a dense matrix): m steps of Lanczos
from r build an orthonormal basis Q (N, m) of the Krylov space span{r, K r, ..., K^{m-1} r} and the
tridiagonal T = Q^T K Q (m, m), and

    g(K/N) r ~= ||r|| Q g(T/N) e_1

for g = e^{-t .} and g = phi_t, every requested time from the same basis (the Lanczos approximation
of a matrix function: Saad, SIAM J. Numer. Anal. 29, 1992; Golub & Van Loan, Matrix Computations,
4th ed., Sections 10.1 and 11.1). The basis is reorthogonalised in full at every step, so it stays
orthonormal to round-off even for kernels with a wide spectrum; it costs N m numbers per output
column (60,000 x 300 in float64: 144 MB), checked against the free memory before any work.
"""

from __future__ import annotations

import numbers
import warnings

import torch

from ._checks import finite_array, positive_int, times
from ._linalg import PSD_RTOL, out_dtype
from .cg import as_operator
from .flow import FlowResult, _columns, _shape
from .memory import ensure_fits

CHECK_EVERY = 10  # Lanczos steps between two convergence checks
MAXITER = 300  # default largest Krylov dimension (capped at N)


class KrylovWarning(UserWarning):
    """Lanczos stopped at ``maxiter`` before the flow's predictions settled to ``rtol``."""


def _phi(lam: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(1 - e^{-t lam}) / lam as an (m, T) table: -expm1 keeps it exact for small t lam; t at 0."""
    pos = (lam > 0)[:, None]
    safe = torch.where(pos, lam[:, None], torch.ones_like(lam[:, None]))
    return torch.where(pos, -torch.expm1(-safe * t) / safe, t.expand(lam.shape[0], -1))


def _coefficients(
    alpha: torch.Tensor, beta: torch.Tensor, norm: float, t: torch.Tensor, n: int, test: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """||r|| e^{-t T/N} e_1 and ||r|| phi_t(T/N) e_1 / N, each (m, T).

    From the tridiagonal T's diagonal ``alpha`` (m,) and off-diagonal ``beta`` (m - 1,).
    """
    tri = torch.diag(alpha) + torch.diag(beta, 1) + torch.diag(beta, -1)
    theta, s = torch.linalg.eigh(tri)
    theta = theta / n  # Ritz values of Pi = K/N
    top = float(theta.abs().amax())
    if float(theta[0]) < -PSD_RTOL * top:
        raise ValueError(
            f"k_train must be positive semi-definite: K/N has a Ritz value "
            f"{float(theta[0]):.3g} < 0 (largest magnitude {top:.3g}); a kernel "
            "gradient flow needs a PSD kernel"
        )
    theta = theta.clamp_min(0.0)
    first = norm * s[0]  # ||r|| S^T e_1
    decay = s @ (torch.exp(-theta[:, None] * t) * first[:, None])
    phi = s @ (_phi(theta, t) * first[:, None]) / n if test else None
    return decay, phi


def _change(new: torch.Tensor, old: torch.Tensor | None, scale: torch.Tensor) -> float:
    """Largest change ||new - old|| / scale over the times (columns).

    The coefficients are in an orthonormal basis, so this is the change of the N-vectors; ``old``
    is shorter, padded with zeros.
    """
    if old is None:
        return float("inf")
    diff = new.clone()
    diff[: old.shape[0]] -= old
    return float((diff.norm(dim=0) / scale).amax())


def _lanczos_terms(
    op, r: torch.Tensor, t: torch.Tensor, *, test: bool, rtol: float, maxiter: int, check: int
) -> tuple[torch.Tensor, torch.Tensor | None, list[int], float]:
    """Lanczos from every column of ``r`` (N, c) at once (one product K @ (N, c) per step).

    Returns e^{-t K/N} r as (T, N, c), phi_t(K/N) r / N as (N, T, c) (None unless ``test``), the
    Krylov dimension reached per column and the largest estimated relative change at the end.
    """
    n, c = r.shape
    dev, eps = r.device, torch.finfo(torch.float64).eps
    norms = r.norm(dim=0)
    cap = min(maxiter, n)
    size = min(cap, 2 * check)
    basis = torch.zeros(c, size, n, dtype=torch.float64, device=dev)  # Q per column, rows = vectors
    basis[:, 0] = (r / torch.where(norms > 0, norms, 1.0)).mT
    alphas = torch.zeros(c, cap, dtype=torch.float64, device=dev)
    betas = torch.zeros(c, cap, dtype=torch.float64, device=dev)
    dims = [0] * c
    active = [bool(norms[j] > 0) for j in range(c)]
    zero = torch.zeros(1, t.shape[0], dtype=torch.float64, device=dev)
    done: list[tuple[torch.Tensor, torch.Tensor | None]] = [(zero, zero)] * c  # the flow of r = 0
    last: list[tuple[torch.Tensor, torch.Tensor | None] | None] = [None] * c
    reached = [0.0] * c
    anorm = torch.zeros(c, dtype=torch.float64, device=dev)
    step = 0
    while any(active) and step < cap:
        if step + 1 >= size:  # grow the basis by doubling
            grown = torch.zeros(c, min(cap + 1, 2 * size), n, dtype=torch.float64, device=dev)
            grown[:, :size] = basis
            basis, size = grown, grown.shape[1]
        q = basis[:, step]
        w = op.matmul(q.mT).to(dev, torch.float64).mT.clone()  # (c, N): K q for every column
        if not bool(torch.isfinite(w).all()):
            raise ValueError("k_train times a vector is not finite; expected a finite kernel")
        a = (q * w).sum(1)
        w -= a[:, None] * q
        if step > 0:
            w -= betas[:, step - 1, None] * basis[:, step - 1]
        span = basis[:, : step + 1]
        for _ in range(2):  # full reorthogonalisation, twice ("twice is enough")
            h = torch.bmm(span, w[:, :, None])
            w -= torch.bmm(span.mT, h)[:, :, 0]
            a = a + h[:, step, 0]
        b = w.norm(dim=1)
        alphas[:, step] = a
        betas[:, step] = b
        anorm = torch.maximum(anorm, a.abs() + b + (betas[:, step - 1] if step > 0 else 0.0))
        step += 1
        for j in range(c):
            if not active[j]:
                w[j] = 0.0
                continue
            dims[j] = step
            breakdown = bool(b[j] <= 10 * n**0.5 * eps * anorm[j]) or step == n
            if step % check and not breakdown and step < cap:
                w[j] /= b[j]
                continue
            new = _coefficients(alphas[j, :step], betas[j, : step - 1], float(norms[j]), t, n, test)
            prev = last[j]
            change = _change(new[0], None if prev is None else prev[0], norms[j])
            if test:
                scale = new[1].norm(dim=0).clamp_min(torch.finfo(torch.float64).tiny)
                change = max(change, _change(new[1], None if prev is None else prev[1], scale))
            last[j] = new
            reached[j] = 0.0 if breakdown else change
            if breakdown or change <= rtol:
                active[j], done[j] = False, new
                w[j] = 0.0
            else:
                w[j] /= b[j]
        if step < size:
            basis[:, step] = w
    for j in range(c):
        if active[j]:  # maxiter reached
            done[j] = last[j]  # type: ignore[assignment]
    decay = torch.zeros(t.shape[0], n, c, dtype=torch.float64, device=dev)
    gain = torch.zeros(n, t.shape[0], c, dtype=torch.float64, device=dev) if test else None
    for j in range(c):
        if dims[j] == 0:
            continue
        e, p = done[j]
        m = e.shape[0]
        decay[:, :, j] = (basis[j, :m].mT @ e).mT
        if gain is not None and p is not None:
            gain[:, :, j] = basis[j, :m].mT @ p
    return decay, gain, dims, max(reached)


def krylov_flow(
    k_train: object,
    y_train: object,
    t: object,
    *,
    k_test_train: object | None = None,
    f0_train: object | None = None,
    f0_test: object | None = None,
    rtol: float = 1e-8,
    maxiter: int | None = None,
) -> FlowResult:
    """The exact least-squares kernel gradient flow at the times ``t``, K only times vectors.

    The same flow as :func:`ntk_course.flow.gradient_flow` (Section 5 of Jacot et al. 2018;
    C = 1/(2N) sum ||f - y||^2, so Pi = K/N and t = learning rate x steps), for a kernel given as
    blocks: with r = y - f_0(X),

        f_t(X) = y - e^{-t K/N} r,    f_t(x) = f_0(x) + K(x, X) K^{-1} (I - e^{-t K/N}) r,

    the matrix functions applied to r by the Lanczos approximation g(K/N) r ~= ||r|| Q g(T/N) e_1
    (Saad 1992; Golub & Van Loan, Matrix Computations, Sec. 10.1), every time in ``t`` from one
    Krylov basis and every output column in the same sweep over the blocks per step. The kernel is
    never held whole; the basis holds N x m numbers per output column.

    Parameters
    ----------
    k_train : BlockedKernel, dask.array or tensor, (N, N)
        The kernel on the training points (y = x for a BlockedKernel), positive semi-definite.
    y_train : tensor, (N,) or (N, k)
        Targets.
    t : float or 1-d array, (T,)
        Times >= 0 (learning rate x steps); t = 0 gives f_0.
    k_test_train : BlockedKernel, dask.array or tensor, (M, N), optional
        The kernel of the test points against the training points; one sweep over it at the end.
    f0_train, f0_test : tensor, (N,) / (M,) or (N, k) / (M, k), optional
        The start f_0 on the training and test points (0 when omitted); 1-d arrays broadcast over
        the k columns, as in :func:`ntk_course.flow.gradient_flow`.
    rtol : float
        Relative tolerance in (0, 1): the Krylov dimension m grows (checked every 10 steps)
        until, at every time, e^{-t K/N} r changes by less than ``rtol`` ||r|| and phi_t(K/N) r
        by less than ``rtol`` times its norm between two checks; an exact invariant subspace
        (Lanczos breakdown, beta ~ 0) stops a column at once, exactly.
    maxiter : int, optional
        Largest Krylov dimension m (default min(N, 300)); reaching it gives a KrylovWarning with the
        accuracy reached.

    Returns
    -------
    FlowResult
        ``t`` (T,), ``f_train`` (T, N) or (T, N, k), ``f_test`` (T, M[, k]) or None, as from
        :func:`ntk_course.flow.gradient_flow`, in float64 (the dtype of a dense floating
        ``k_train``); ``eigenvalues`` is None (no eigendecomposition is made).

    Raises
    ------
    ValueError
        Negative or non-finite times, targets or starts whose rows do not match N, a test kernel
        that is not (M, N), f0_test without k_test_train, rtol outside (0, 1), maxiter < 1, or a
        kernel with a clearly negative Ritz value (not PSD).
    KernelMemoryError
        When the Krylov basis (k x (maxiter + 1) x N float64 numbers) exceeds the free memory.

    Warns
    -----
    KrylovWarning
        When ``maxiter`` steps do not reach ``rtol``.
    """
    op = as_operator(k_train, "k_train", square=True)
    n, dev = op.shape[0], op.device
    tt = times(t, torch.float64, dev)
    test = None if k_test_train is None else as_operator(k_test_train, "k_test_train", cols=n)
    y = finite_array(y_train, "y_train", rows=n, match="k_train's N training points", device=dev)
    if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real) or not 0 < rtol < 1:
        raise ValueError(f"rtol must be a relative tolerance in (0, 1), e.g. 1e-8; got {rtol!r}")
    cap = min(n, MAXITER if maxiter is None else positive_int(maxiter, "maxiter"))
    y2, f0, f0x, vector = _columns(y, f0_train, f0_test, test)  # type: ignore[arg-type]
    c = y2.shape[1]
    parts = {"Krylov basis": c * (cap + 1) * n * 8, "flow at every time": 2 * len(tt) * n * c * 8}
    ensure_fits(f"the Krylov basis of krylov_flow on {n:,} points", parts, dev)
    decay, gain, _, reached = _lanczos_terms(
        op, y2 - f0, tt, test=test is not None, rtol=float(rtol), maxiter=cap, check=CHECK_EVERY
    )
    if reached > rtol:
        warnings.warn(
            f"Lanczos reached an estimated relative accuracy {reached:.2e} > rtol = "
            f"{rtol:g} at the Krylov dimension maxiter = {cap}; raise maxiter",
            KrylovWarning,
            stacklevel=2,
        )
    dtype = out_dtype(k_train)
    f_train = y2 - decay
    f_test = None
    if test is not None and gain is not None and f0x is not None:
        m, steps = test.shape[0], tt.shape[0]
        moved = test.matmul(gain.reshape(n, -1).to(test.device)).to(dev, torch.float64)
        f_test = _shape(f0x + moved.reshape(m, steps, c).permute(1, 0, 2), vector, dtype)
    return FlowResult(t=tt.to(dtype), f_train=_shape(f_train, vector, dtype), f_test=f_test)
