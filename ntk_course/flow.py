"""Kernel gradient flow (Section 3) and its exact least-squares solution (Section 5).

Cost convention, the paper's: an empirical MEAN over the N training points,
C(f) = 1/(2N) sum_i ||f(x_i) - y_i||^2, so the kernel gradient is (1/N) sum_j K(x, x_j) d(x_j) and
the least-squares flow is

    d f_t / dt = -(1/N) K (f_t - y),        Pi = K/N,

with time t = learning rate x number of gradient-descent steps. A cost written as a SUM over the
data (no 1/N) runs the same flow N times faster. A flow is linear in its outputs, so k outputs are k
independent columns (the NTK is Theta_infinity x Id_{n_L}, Theorem 1).

Kernels are float64 tensors on any device; results come back on that device in ``k_train``'s dtype.
Every array is read as float64, integer arrays included (an integer Gram matrix is a kernel like any
other; its results come back in float64). The flow of other costs (cross-entropy, logistic),
integrated numerically on the CPU with SciPy, is :func:`ntk_course.numerical_flow.kernel_flow`; the
Gaussian law of f_t over initialisations (Section 5) is in :mod:`ntk_course.gaussian`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from ._checks import finite_array, kernel_matrix, non_negative, times
from ._linalg import out_dtype, pi_spectrum
from .cg import is_blocked


@dataclass
class FlowResult:
    """A kernel gradient flow sampled at T times, on the training points and optional test points.

    Returned by :func:`gradient_flow`, :func:`gradient_descent` (Section 5) and
    :func:`ntk_course.numerical_flow.kernel_flow` (Section 3).

    Attributes
    ----------
    t : torch.Tensor, shape (T,)
        The times (learning rate x steps for :func:`gradient_descent`).
    f_train : torch.Tensor, shape (T, N) or (T, N, k)
        The outputs f_t on the N training points, one row per time.
    f_test : torch.Tensor, shape (T, M) or (T, M, k), or None
        The outputs on the M test points; None when no test kernel was given.
    eigenvalues : torch.Tensor, shape (N,), or None
        The eigenvalues of Pi = K/N in descending order; None for
        :func:`ntk_course.numerical_flow.kernel_flow` and for a blocked kernel.
    """

    t: torch.Tensor
    f_train: torch.Tensor
    f_test: torch.Tensor | None = None
    eigenvalues: torch.Tensor | None = None


def _setup(
    k_train: object, t: object, k_test_train: object | None
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Check the kernels and the times; every later tensor goes to the train kernel's device."""
    k = kernel_matrix(k_train, "k_train", symmetric=True)
    n = k.shape[0]
    kx = None
    if k_test_train is not None:
        kx = kernel_matrix(
            k_test_train,
            "k_test_train",
            cols=n,
            match="k_train's N training points",
            device=k.device,
        )
    return k, kx, times(t, torch.float64, k.device)


def _columns(
    y: torch.Tensor, f0_train: object | None, f0_test: object | None, kx: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, bool]:
    """Targets and starts as 2-d (rows, k) tensors with a common k; ``True`` when all were 1-d.

    A 1-d array (or one column) is broadcast to every column, so a (N,) target with an (N, S) start
    runs S flows at once (S draws of a random initialisation, say). Missing starts are 0.
    """
    n, dev = y.shape[0], y.device
    if f0_test is not None and kx is None:
        raise ValueError(
            "f0_test was given without k_test_train; pass the (M, N) test-train kernel too"
        )
    f0 = (
        None
        if f0_train is None
        else finite_array(f0_train, "f0_train", rows=n, match="k_train", device=dev)
    )
    f0x = None
    if f0_test is not None and kx is not None:
        f0x = finite_array(
            f0_test, "f0_test", rows=kx.shape[0], match="k_test_train's M test points", device=dev
        )
    given = [a for a in (y, f0, f0x) if a is not None]
    widths = {a.shape[1] for a in given if a.ndim == 2} - {1}
    if len(widths) > 1:
        shapes = [tuple(a.shape) for a in given]
        raise ValueError(
            "y_train, f0_train and f0_test must share the number of output columns k (or be 1-d); "
            f"got shapes {shapes}"
        )
    c = widths.pop() if widths else 1

    def wide(a: torch.Tensor | None, rows: int) -> torch.Tensor:
        if a is None:
            return torch.zeros(rows, c, dtype=torch.float64, device=dev)
        return (a[:, None] if a.ndim == 1 else a).expand(rows, c)

    test = None if kx is None else wide(f0x, kx.shape[0])
    return wide(y, n), wide(f0, n), test, all(a.ndim == 1 for a in given)


def _phi(lam: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(1 - e^{-lam t}) / lam as an (N, T) table.

    Computed via -expm1, so it is exact for small lam t and equals t at lam = 0.
    """
    pos = (lam > 0)[:, None]
    safe = torch.where(pos, lam[:, None], torch.ones_like(lam[:, None]))
    return torch.where(pos, -torch.expm1(-safe * t) / safe, t.expand(lam.shape[0], -1))


def _shape(f: torch.Tensor, vector: bool, dtype: torch.dtype) -> torch.Tensor:
    return (f.squeeze(-1) if vector else f).contiguous().to(dtype)


def _linear_solution(
    k_train: object,
    y_train: object,
    t: torch.Tensor,
    coefficients,
    *,
    k_test_train: object | None,
    f0_train: object | None,
    f0_test: object | None,
    k: torch.Tensor,
    kx: torch.Tensor | None,
) -> FlowResult:
    """The least-squares kernel dynamics solved in the eigenbasis K/N = V diag(lam) V^T.

    ``coefficients(lam, t)`` gives the (N, T) tables (decay, phi): the factor on the residual
    f_0 - y along eigenvalue lam after time (or step count) t, and the factor phi on the kernel
    gradient accumulated for the test points, so that

        f(train) = y + V decay V^T (f_0 - y),
        f(test)  = f_0(test) + K_test,train V (phi / N) V^T (y - f_0).
    """
    y = finite_array(
        y_train, "y_train", rows=k.shape[0], match="k_train's N training points", device=k.device
    )
    y2, f0, f0x, vector = _columns(y, f0_train, f0_test, kx)
    lam, v = pi_spectrum(k)
    n, c, steps = k.shape[0], y2.shape[1], t.shape[0]
    decay, phi = coefficients(lam, t)
    r = v.mT @ (f0 - y2)  # (N, k): f_0 - y in the eigenbasis
    table = decay if kx is None else torch.cat([decay, phi / n], 1)
    # One (N, N) x (N, T k) product for every time at once (and a second block for the test points).
    w = (v @ (table[:, :, None] * r[:, None, :]).reshape(n, -1)).reshape(n, -1, c)
    dtype = out_dtype(k_train)
    f_train = y2 + w[:, :steps].permute(1, 0, 2)
    f_test = None
    if kx is not None:
        m = kx.shape[0]
        f_test = f0x - (kx @ w[:, steps:].reshape(n, -1)).reshape(m, steps, c).permute(1, 0, 2)
        if not bool(torch.isfinite(f_test).all()):  # only possible for astronomically large t
            raise ValueError(
                "t is too large: the test predictions overflowed; expected times of a sane size"
            )
        f_test = _shape(f_test, vector, dtype)
    if not bool(torch.isfinite(f_train).all()):
        raise ValueError(
            "the trajectory overflowed: gradient descent diverges (lr >= 2N / lambda_max); "
            "expected a smaller lr"
        )
    return FlowResult(
        t=t.to(dtype),
        f_train=_shape(f_train, vector, dtype),
        f_test=f_test,
        eigenvalues=lam.flip(0).to(dtype),
    )


def gradient_flow(
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
    """Exact solution of the least-squares kernel gradient flow at every time in ``t``.

    Section 5: d f_t/dt = -(1/N) K (f_t - y) has the solution f_t = f* + e^{-t Pi}(f_0 - f*). With
    one eigendecomposition K/N = V diag(lam) V^T::

        f_t(train) = y + V e^{-lam t} V^T (f_0 - y)
        f_t(test)  = f_0(test)
                     + K_test,train V diag((1 - e^{-lam t}) / (N lam)) V^T (y - f_0(train)),

    where (1 - e^{-lam t})/lam -> t as lam -> 0, so singular PSD kernels are fine: the part of
    f_0 - y in the null space of K never moves (Delta^0 of Section 5). Round-off negative
    eigenvalues are set to 0.

    Large N: a :class:`ntk_course.BlockedKernel` or ``dask.array`` ``k_train`` (and
    ``k_test_train``) is never formed whole: :func:`ntk_course.krylov.krylov_flow` applies
    e^{-t K/N} by Lanczos over the blocks, to the relative tolerance ``rtol`` within ``maxiter``
    steps (both unused for a dense kernel); ``eigenvalues`` is then None.

    Parameters
    ----------
    k_train : array_like, BlockedKernel or dask.array, shape (N, N)
        The kernel K on the training points: symmetric positive semi-definite.
    y_train : array_like, shape (N,) or (N, k)
        The targets y.
    t : array_like, shape (T,) or scalar
        Times >= 0 (t = learning rate x steps).
    k_test_train : array_like, shape (M, N), optional
        The kernel between M test points and the training points; no test outputs if None.
    f0_train : array_like, shape (N,) or (N, k), optional
        The start f_0 on the training points; 0 (the mean over initialisations) if None.
    f0_test : array_like, shape (M,) or (M, k), optional
        The start on the test points (needs ``k_test_train``); 0 if None. A 1-d target or start
        broadcasts over the k columns of the others.
    rtol : float, default 1e-8
        Relative tolerance of the Lanczos flow of a blocked kernel.
    maxiter : int, optional
        Most Lanczos steps for a blocked kernel (None: the solver's default).

    Returns
    -------
    FlowResult
        ``t`` (T,), ``f_train`` (T, N[, k]), ``f_test`` (T, M[, k]) or None and ``eigenvalues``
        (N,), on ``k_train``'s device in its floating dtype (float64 for anything else).

    Raises
    ------
    ValueError
        If an array is not real, finite, numeric and non-empty; if ``k_train`` is not square and
        symmetric or has a clearly negative eigenvalue (found after the eigendecomposition); if the
        shapes disagree (N rows, M test rows, a common k); if ``t`` is not 0-d or 1-d or holds a
        negative time; if ``f0_test`` is given without ``k_test_train``; if the result overflows
        (astronomically large ``t``); or, for a blocked kernel, a bad ``rtol`` or ``maxiter``.
    KernelMemoryError
        For a blocked kernel, before any work, when the Krylov basis does not fit the device.

    Warns
    -----
    KrylovWarning
        For a blocked kernel, when Lanczos stops at ``maxiter`` short of ``rtol``.

    Examples
    --------
    >>> import torch
    >>> from ntk_course import gradient_flow, ntk
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=torch.float64)
    >>> y = torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64)
    >>> flow = gradient_flow(ntk(x, depth=3), y, t=[0.0, 10.0, 1000.0])
    >>> flow.f_train.shape  # (times, N)
    torch.Size([3, 3])
    >>> flow.f_train[-1]  # by t = 1000 the flow has fitted the targets
    tensor([ 1.0000, -1.0000,  0.5000], dtype=torch.float64)
    """
    if is_blocked(k_train):
        from .krylov import krylov_flow  # krylov imports this module

        return krylov_flow(
            k_train,
            y_train,
            t,
            k_test_train=k_test_train,
            f0_train=f0_train,
            f0_test=f0_test,
            rtol=rtol,
            maxiter=maxiter,
        )
    k, kx, tt = _setup(k_train, t, k_test_train)

    def coefficients(lam: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.exp(-lam[:, None] * t), _phi(lam, t)

    return _linear_solution(
        k_train,
        y_train,
        tt,
        coefficients,
        k_test_train=k_test_train,
        f0_train=f0_train,
        f0_test=f0_test,
        k=k,
        kx=kx,
    )


def gradient_descent(
    k_train: object,
    y_train: object,
    steps: object,
    *,
    lr: float,
    k_test_train: object | None = None,
    f0_train: object | None = None,
    f0_test: object | None = None,
) -> FlowResult:
    """Discrete kernel gradient descent with a frozen kernel, solved exactly after each step count.

    f_{s+1} = f_s - (lr/N) K (f_s - y) on the training points and f_{s+1}(x) = f_s(x) - (lr/N)
    K(x, X)(f_s - y) elsewhere: gradient descent on the network linearised at initialisation
    (Section 3 with the cost C = 1/(2N) sum (f - y)^2, Lee et al. 2019). With K/N = V diag(lam) V^T
    the residual after s steps is V (1 - lr lam)^s V^T (f_0 - y), and the test points gather
    sum_{j<s} lr (1 - lr lam)^j = (1 - (1 - lr lam)^s) / lam (lr s at lam = 0). It tends to
    :func:`gradient_flow` at t = lr s as lr -> 0, and diverges when lr >= 2N / lambda_max(K).

    Parameters
    ----------
    k_train : array_like, shape (N, N)
        The frozen kernel K on the training points: symmetric positive semi-definite (dense only).
    y_train : array_like, shape (N,) or (N, k)
        The targets y.
    steps : array_like of int, shape (S,) or scalar
        Whole step counts s >= 0.
    lr : float
        The learning rate >= 0 (keyword only).
    k_test_train, f0_train, f0_test : array_like, optional
        As in :func:`gradient_flow`: shapes (M, N), (N[, k]) and (M[, k]).

    Returns
    -------
    FlowResult
        As :func:`gradient_flow`, with T = S and ``t`` = lr x ``steps``.

    Raises
    ------
    ValueError
        For the bad input :func:`gradient_flow` refuses; if ``lr`` is not a finite number >= 0;
        if ``steps`` holds a negative or fractional count; or once the iterates overflow
        (lr >= 2N / lambda_max: gradient descent diverges).

    Warns
    -----
    RuntimeWarning
        When lr > 2N / lambda_max(K): the iterates diverge, before they overflow.
    """
    lr = non_negative(lr, "lr")
    counts = times(steps, torch.float64, torch.device("cpu"), "steps")
    if not bool((counts == counts.round()).all()):
        raise ValueError(f"steps must be whole numbers of steps >= 0; got {counts.tolist()[:5]}")
    k, kx, tt = _setup(k_train, counts, k_test_train)

    def coefficients(lam: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        top = float(lam.max()) if lam.numel() else 0.0
        if lr * top > 2.0 and float(s.max()) > 0:
            warnings.warn(
                f"lr = {lr:.4g} is above the stable limit 2N / lambda_max(K) = {2.0 / top:.4g}: "
                "gradient descent diverges (the residual along the top eigenvector grows by "
                f"|1 - lr lambda| = {abs(1.0 - lr * top):.3g} per step); take lr below the limit "
                "(ntk_course.max_stable_learning_rate)",
                RuntimeWarning,
                stacklevel=3,
            )
        factor = 1.0 - lr * lam[:, None]
        decay = factor**s
        pos = (lam > 0)[:, None]
        safe = torch.where(pos, lam[:, None], torch.ones_like(lam[:, None]))
        return decay, torch.where(pos, (1.0 - decay) / safe, lr * s.expand(lam.shape[0], -1))

    result = _linear_solution(
        k_train,
        y_train,
        tt,
        coefficients,
        k_test_train=k_test_train,
        f0_train=f0_train,
        f0_test=f0_test,
        k=k,
        kx=kx,
    )
    result.t = result.t * lr
    return result
