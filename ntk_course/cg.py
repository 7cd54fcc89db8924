"""Conjugate gradients over a kernel never formed whole: the t -> infinity limit of Section 5.

Jacot, Gabriel & Hongler (2018), Section 5: the least-squares flow converges to kernel regression,
f_infinity(x) = K(x, X) K(X, X)^{-1} y on the span of the data. For N too large for one matrix the
solve goes through products with K alone: :func:`conjugate_gradient` solves (K + N rho I) X = B for
the k columns of B at once (one block sweep per iteration serves every column), with a Jacobi
(diagonal) preconditioner, to a stated relative residual ||b - A x|| <= rtol ||b|| per column,
checked on the true residual at the end. The kernel is a :class:`ntk_course.blocked.BlockedKernel`,
a ``dask.array`` (products computed on the workers of a Dask cluster) or a dense matrix, each seen
through :func:`as_operator`; :func:`blocked_regression` adds the sweep over the test blocks.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ._checks import finite_array, non_negative, positive_int
from .blocked import BlockedKernel


class CGWarning(UserWarning):
    """Conjugate gradients stopped at ``maxiter`` before the stated tolerance."""


class _Dense:
    def __init__(self, k: torch.Tensor):
        self.k, self.shape, self.device = k, tuple(k.shape), k.device

    def matmul(self, v: torch.Tensor) -> torch.Tensor:
        return self.k @ v

    def diagonal(self) -> torch.Tensor:
        return self.k.diagonal()


class _Dask:
    """A ``dask.array`` kernel (persisted or not): products computed on its workers."""

    def __init__(self, k):
        self.k, self.shape, self.device = k, tuple(int(s) for s in k.shape), torch.device("cpu")

    def matmul(self, v: torch.Tensor) -> torch.Tensor:
        out = (self.k @ v.cpu().numpy()).compute()
        return torch.as_tensor(np.asarray(out, dtype=np.float64))

    def diagonal(self) -> torch.Tensor:
        import dask.array as da

        return torch.as_tensor(np.asarray(da.diagonal(self.k).compute(), dtype=np.float64))


def is_blocked(k: object) -> bool:
    """True for a :class:`BlockedKernel` or a ``dask.array`` (solved by conjugate gradients)."""
    return isinstance(k, BlockedKernel) or type(k).__module__.startswith("dask.")


def as_operator(
    k: object, name: str, *, rows: int | None = None, cols: int | None = None, square: bool = False
):
    """A kernel as something with ``shape``, ``device``, ``matmul`` and ``diagonal``.

    That is a BlockedKernel, a dask.array or a dense matrix (checked as
    :func:`ntk_course._checks.kernel_matrix`).
    """
    if isinstance(k, BlockedKernel | _Dense | _Dask):
        op = k
    elif type(k).__module__.startswith("dask."):
        if getattr(k, "ndim", 0) != 2:
            raise ValueError(
                f"{name} must be a 2-d dask.array kernel; got shape {getattr(k, 'shape', None)}"
            )
        op = _Dask(k)
    else:
        from ._checks import kernel_matrix

        op = _Dense(kernel_matrix(k, name, symmetric=square))
    if square and (
        op.shape[0] != op.shape[1] or (isinstance(op, BlockedKernel) and not op.symmetric)
    ):
        raise ValueError(
            f"{name} must be the square kernel of the training points on themselves (y = x); "
            f"got shape {op.shape}"
        )
    if rows is not None and op.shape[0] != rows or cols is not None and op.shape[1] != cols:
        raise ValueError(
            f"{name} must have shape ({rows or 'M'}, {cols}) to match the N = {cols} "
            f"training points; got {op.shape}"
        )
    return op


@dataclass
class CGResult:
    """The solution (N, k), the iterations taken and the final relative residuals (k,).

    The residuals are ||b - A x|| / ||b||, one per column.
    """

    solution: torch.Tensor
    iterations: int
    residuals: torch.Tensor


def conjugate_gradient(
    k: object,
    b: object,
    *,
    ridge: float = 0.0,
    rtol: float = 1e-8,
    maxiter: int | None = None,
    preconditioner: str | None = "jacobi",
) -> CGResult:
    """Solve (K + N rho I) X = B by preconditioned conjugate gradients, every column of B at once.

    Each iteration is one sweep over the blocks (a product K @ P for all k columns). Stops when
    every column has ||b - A x|| <= ``rtol`` ||b||; the residual is recomputed from x at the end
    (one more sweep).

    Parameters
    ----------
    k
        A BlockedKernel on the training points, a dask.array or a dense (N, N) matrix, symmetric
        positive definite (PSD with ``ridge`` rho > 0, in units of the eigenvalues of K/N).
    b
        The right-hand sides, (N,) or (N, k).
    ridge
        rho >= 0; the system is (K + N rho I) X = B.
    rtol
        The relative residual to reach per column, in (0, 1).
    maxiter
        The most iterations (default 2 N).
    preconditioner
        "jacobi" divides by the diagonal of A, None uses none.

    Returns
    -------
    CGResult
        The solution, the iterations taken and the true relative residuals.

    Raises
    ------
    ValueError
        A direction with p^T A p <= 0 proves A is not positive definite.

    Warns
    -----
    CGWarning
        When the final residual exceeds rtol after ``maxiter`` iterations.
    """
    op = as_operator(k, "k_train", square=True)
    n = op.shape[0]
    bt = finite_array(b, "b", rows=n, match="the kernel's N points", device=op.device)
    rho = non_negative(ridge, "ridge")
    rtol = non_negative(rtol, "rtol")
    if not 0 < rtol < 1:
        raise ValueError(f"rtol must be a relative residual in (0, 1), e.g. 1e-8; got {rtol}")
    maxiter = max(100, 2 * n) if maxiter is None else positive_int(maxiter, "maxiter")
    if preconditioner not in ("jacobi", None):
        raise ValueError(f"preconditioner must be 'jacobi' or None; got {preconditioner!r}")
    shift = n * rho

    def apply(p: torch.Tensor) -> torch.Tensor:
        out = op.matmul(p).to(p.device)
        return out + shift * p if shift else out

    b2 = bt if bt.ndim == 2 else bt[:, None]
    if preconditioner == "jacobi":
        d = op.diagonal().to(b2.device, torch.float64) + shift
        if not bool((d > 0).all()):
            raise ValueError(
                "k_train (+ N ridge I) has a diagonal entry <= 0: it is not positive definite; "
                "expected a kernel matrix with K(x, x) > 0 (or pass a ridge > 0)"
            )
        inv = (1.0 / d)[:, None]
    else:
        inv = torch.ones(n, 1, dtype=torch.float64, device=b2.device)
    norms = b2.norm(dim=0)
    x = torch.zeros_like(b2)
    r = b2.clone()
    z = inv * r
    p = z.clone()
    rz = (r * z).sum(0)
    active = norms > 0
    it = 0
    while bool(active.any()) and it < maxiter:
        ap = apply(p)
        pap = (p * ap).sum(0)
        if not bool(torch.isfinite(ap).all()) or bool((active & (pap <= 0)).any()):
            raise ValueError(
                "k_train (+ N ridge I) is not positive definite "
                "(a direction p with p^T K p <= 0, or non-finite products): "
                "pass a ridge > 0 (in units of the eigenvalues of K/N)"
            )
        alpha = torch.where(active, rz / torch.where(active, pap, 1.0), 0.0)
        x += alpha * p
        r -= alpha * ap
        it += 1
        active = active & (r.norm(dim=0) > rtol * norms)
        z = inv * r
        rz_new = (r * z).sum(0)
        beta = torch.where(active, rz_new / torch.where(rz > 0, rz, 1.0), 0.0)
        p = torch.where(active, z + beta * p, 0.0)
        rz = rz_new
    true = (b2 - apply(x)).norm(dim=0) / torch.where(norms > 0, norms, 1.0)
    if bool((true > rtol).any()):
        warnings.warn(
            "conjugate gradients reached a relative residual "
            f"{float(true.max()):.2e} > rtol = {rtol:g} after {it} iterations "
            f"(maxiter {maxiter}); raise maxiter, or add a ridge, the kernel "
            "being ill-conditioned",
            CGWarning,
            stacklevel=2,
        )
    return CGResult(x if bt.ndim == 2 else x[:, 0], it, true)


def blocked_regression(
    k_train: object,
    y_train: object,
    k_test_train: object,
    *,
    ridge: float = 0.0,
    rtol: float = 1e-8,
    maxiter: int | None = None,
) -> torch.Tensor:
    """K(x, X) (K(X, X) + N rho I)^{-1} Y with K(X, X) blocked.

    :func:`conjugate_gradient`, then one sweep over the blocks of ``k_test_train`` (a
    BlockedKernel, a dask.array or a dense (M, N) matrix).
    """
    op = as_operator(k_train, "k_train", square=True)
    n = op.shape[0]
    test = as_operator(k_test_train, "k_test_train", cols=n)
    y = finite_array(
        y_train, "y_train", rows=n, match="k_train's N training points", device=op.device
    )
    alpha = conjugate_gradient(op, y, ridge=ridge, rtol=rtol, maxiter=maxiter).solution
    out = test.matmul(alpha.to(test.device))
    if not bool(torch.isfinite(out).all()):
        raise ValueError("the predictions are not finite; expected finite kernels and targets")
    return out
