"""Kernels by blocks: any block of Sigma or Theta without the rest, for N too large for one matrix.

Every entry K(x_i, y_j) of the limiting kernels depends on x_i and y_j alone (Proposition 1,
Theorem 1), so the block of rows i:j against columns k:l is ``ntk(x[i:j], y[k:l])``: the same numbers
as that block of ``ntk(x, y)`` (bitwise when the block size is a multiple of the kernel's inner block,
256). A :class:`BlockedKernel` holds the points and the kernel function, computes blocks on demand and
multiplies by vectors block by block; on one set of points (y = x) it uses the symmetry and keeps
only the upper triangle of blocks. Where the blocks live is ``cache``:

- ``True``: in this process, in ``out_dtype`` (float32 halves them): N^2/2 numbers for y = x;
- a directory: one ``.npy`` file per block, read back one block at a time (the page cache, not the
  process, holds them);
- ``False``: nowhere; every product recomputes every block (memory: one block).

``to_dask()`` gives the same kernel as a ``dask.array`` whose chunks are the blocks, to be persisted
across the workers of a Dask cluster (``LocalCluster`` or a real one); the solver below accepts either.

:func:`conjugate_gradient` solves (K + N rho I) X = B for the k columns of B at once (one block sweep
per iteration serves every column), with a Jacobi (diagonal) preconditioner, to a stated relative
residual ||b - A x|| <= rtol ||b|| per column, checked on the true residual at the end.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ._checks import as_inputs, finite_array, non_negative, positive_int, same_dimension
from .memory import KernelMemoryError, ensure_fits, human, kernel_bytes

BLOCK = 2048
KERNELS = ("ntk", "nngp")


class CGWarning(UserWarning):
    """Conjugate gradients stopped at ``maxiter`` before the stated tolerance."""


def _kernel_function(kernel: object) -> Callable:
    if callable(kernel):
        return kernel
    if kernel not in KERNELS:
        raise ValueError(
            f"kernel must be one of {KERNELS} or a callable kernel(x, y, **options); got {kernel!r}"
        )
    from . import kernels

    return getattr(kernels, str(kernel))


def _compute(
    kernel: object,
    xs: np.ndarray | torch.Tensor,
    ys: np.ndarray | torch.Tensor | None,
    options: dict,
    out_dtype: torch.dtype,
) -> torch.Tensor:
    """One block: the kernel of the rows ``xs`` against the columns ``ys`` (None: ys = xs)."""
    xt, yt = torch.as_tensor(xs), None if ys is None else torch.as_tensor(ys)
    k = _kernel_function(kernel)(xt, yt, **options)
    if not isinstance(k, torch.Tensor) or k.shape != (
        xt.shape[0],
        (xt if yt is None else yt).shape[0],
    ):
        raise ValueError(
            f"the kernel must return a tensor of shape (rows, columns); got {type(k).__name__} "
            f"of shape {tuple(getattr(k, 'shape', ()))}"
        )
    return k.to(out_dtype)


def _dask_block(
    kernel: object, xs: np.ndarray, ys: np.ndarray | None, options: dict, dtype: str
) -> np.ndarray:
    """A block as a NumPy array, for a Dask task (runs in a worker)."""
    return _compute(kernel, xs, ys, options, getattr(torch, dtype)).cpu().numpy()


class BlockedKernel:
    """The kernel K(x, y) (N x M) as a grid of blocks computed on demand; y = None means y = x.

    ``kernel`` is ``"ntk"``, ``"nngp"`` or a callable ``kernel(x_rows, y_cols, **options)`` returning
    the (rows, cols) block (y_cols None for y = x); ``options`` (depth, activation, beta, ...) go to
    it. ``block`` is the block size, ``cache`` where computed blocks live (module docstring),
    ``out_dtype`` the dtype they are stored in (computed in float64, or the kernel's dtype). The
    bytes of a memory cache (or the disk of a directory cache) are checked when the kernel is made,
    before any work (KernelMemoryError).
    """

    def __init__(
        self,
        x: object,
        y: object | None = None,
        *,
        kernel: object = "ntk",
        block: int = BLOCK,
        cache: bool | str | Path = True,
        out_dtype: torch.dtype = torch.float64,
        **options: object,
    ):
        _kernel_function(kernel)
        self.kernel, self.options = kernel, dict(options)
        self.block = positive_int(block, "block")
        if not isinstance(out_dtype, torch.dtype) or not out_dtype.is_floating_point:
            raise ValueError(
                f"out_dtype must be a floating torch dtype such as torch.float32; got {out_dtype!r}"
            )
        self.out_dtype = out_dtype
        dtype = options.get("dtype", torch.float64)
        self.x = as_inputs(x, "x", dtype)  # type: ignore[arg-type]
        self.y = self.x if y is None else as_inputs(y, "y", dtype).to(self.x.device)  # type: ignore[arg-type]
        same_dimension(self.x, self.y)
        self.symmetric = self.y is self.x or (
            self.y.shape == self.x.shape and bool(torch.equal(self.x, self.y))
        )
        if self.symmetric:
            self.y = self.x
        self.shape = (self.x.shape[0], self.y.shape[0])
        self.rows = [
            slice(i, min(i + self.block, self.shape[0]))
            for i in range(0, self.shape[0], self.block)
        ]
        self.cols = (
            self.rows
            if self.symmetric
            else [
                slice(j, min(j + self.block, self.shape[1]))
                for j in range(0, self.shape[1], self.block)
            ]
        )
        if cache is not True and cache is not False and not isinstance(cache, str | Path):
            raise ValueError(
                f"cache must be True (memory), False (recompute) or a directory; got {cache!r}"
            )
        self.cache = Path(cache) if isinstance(cache, str | Path) else cache
        self._blocks: dict[tuple[int, int], torch.Tensor] = {}
        self.nbytes = self._check_memory()
        if isinstance(self.cache, Path):
            self.cache.mkdir(parents=True, exist_ok=True)

    @property
    def device(self) -> torch.device:
        return self.x.device

    def _grid(self) -> list[tuple[int, int]]:
        """The stored blocks (I, J): the upper triangle (J >= I) for y = x, every block otherwise."""
        return [
            (i, j)
            for i in range(len(self.rows))
            for j in range(i if self.symmetric else 0, len(self.cols))
        ]

    def cache_bytes(self) -> int:
        """Bytes of every stored block in ``out_dtype`` (the upper triangle of blocks for y = x)."""
        item = torch.empty((), dtype=self.out_dtype).element_size()
        return sum(
            (self.rows[i].stop - self.rows[i].start)
            * (self.cols[j].stop - self.cols[j].start)
            * item
            for i, j in self._grid()
        )

    def _check_memory(self) -> int:
        n0, b = self.x.shape[1], min(self.block, max(self.shape))
        parts = kernel_bytes(
            b, b, n0=n0, depth=int(self.options.get("depth", 1)), dtype=torch.float64
        )  # type: ignore[call-overload]
        parts["two blocks in flight"] = 2 * b * b * 8
        what = f"BlockedKernel {self.kernel!r} on {self.shape[0]:,} x {self.shape[1]:,} points"
        if self.cache is True:
            parts["cached blocks" + (" (upper triangle)" if self.symmetric else "")] = (
                self.cache_bytes()
            )
        elif isinstance(self.cache, Path):
            free = shutil.disk_usage(
                next(p for p in [self.cache, *self.cache.parents] if p.exists())
            ).free
            if self.cache_bytes() > free:
                raise KernelMemoryError(
                    f"{what}, cached in {self.cache}",
                    self.cache_bytes(),
                    free,
                    "disk",
                    ways_out="Ways out: a directory on a larger disk, out_dtype=torch.float32, "
                    "cache=False (recompute every block at every product) or Dask (to_dask()).",
                )
        return ensure_fits(
            what,
            parts,
            self.device,
            ways_out="Ways out: out_dtype=torch.float32 (half the cached bytes), cache=<a directory> "
            "(blocks on disk), cache=False (recompute every block at every product), or "
            "to_dask() to spread the blocks over the workers of a Dask cluster.",
        )

    def block_at(self, rows: slice, cols: slice) -> torch.Tensor:
        """K(x[rows], y[cols]): any block, rows i:j against columns k:l, computed without the rest."""
        if not isinstance(rows, slice) or not isinstance(cols, slice):
            raise ValueError(f"rows and cols must be slices i:j and k:l; got {rows!r} and {cols!r}")
        xs, ys = self.x[rows], self.y[cols]
        if xs.shape[0] == 0 or ys.shape[0] == 0:
            raise ValueError(
                f"rows {rows} and cols {cols} select no points of the {self.shape} kernel"
            )
        same = self.symmetric and rows.indices(self.shape[0]) == cols.indices(self.shape[1])
        return _compute(self.kernel, xs, None if same else ys, self.options, self.out_dtype)

    def _stored(self, i: int, j: int) -> torch.Tensor:
        """Grid block (I, J) of the stored grid, from the cache or computed (and cached)."""
        key = (i, j)
        if key in self._blocks:
            return self._blocks[key]
        if isinstance(self.cache, Path):
            path = self.cache / f"block_{i}_{j}.npy"
            if path.exists():
                return torch.from_numpy(np.load(path)).to(self.device)
        b = self.block_at(self.rows[i], self.cols[j])
        if self.cache is True:
            self._blocks[key] = b
        elif isinstance(self.cache, Path):
            np.save(path, b.cpu().numpy())
        return b

    def grid_block(self, i: int, j: int) -> torch.Tensor:
        """Block (I, J) of the grid of ``block`` x ``block`` blocks; for y = x a lower block is the
        transpose of the stored upper one (so the matrix is exactly symmetric).
        """
        if self.symmetric and j < i:
            return self._stored(j, i).mT
        return self._stored(i, j)

    def diagonal(self) -> torch.Tensor:
        """K(x_i, x_i) for y = x, in float64 (from the diagonal blocks)."""
        if not self.symmetric:
            raise ValueError(
                "diagonal() needs a kernel on one set of points (y = x); this one is N x M"
            )
        return torch.cat(
            [self._stored(i, i).diagonal().to(torch.float64) for i in range(len(self.rows))]
        )

    def matmul(self, v: object) -> torch.Tensor:
        """K @ v block by block, in float64: ``v`` (M,) or (M, k); returns (N,) or (N, k)."""
        vt = finite_array(
            v, "v", rows=self.shape[1], match="the kernel's columns", device=self.device
        )
        v2 = vt if vt.ndim == 2 else vt[:, None]
        out = torch.zeros(self.shape[0], v2.shape[1], dtype=torch.float64, device=self.device)
        for i, j in self._grid():
            b = self._stored(i, j).to(torch.float64)
            ri, cj = self.rows[i], self.cols[j]
            out[ri] += b @ v2[cj]
            if self.symmetric and j != i:
                out[cj] += b.mT @ v2[ri]
        return out if vt.ndim == 2 else out[:, 0]

    __matmul__ = matmul

    def dense(self) -> torch.Tensor:
        """The whole N x M matrix from the blocks (for small N and tests only)."""
        return torch.cat(
            [
                torch.cat([self.grid_block(i, j) for j in range(len(self.cols))], 1)
                for i in range(len(self.rows))
            ],
            0,
        )

    def to_dask(self):
        """The kernel as a ``dask.array`` (float ``out_dtype``) whose chunks are the blocks.

        Nothing is computed until the array is; persist it across a cluster's workers with
        ``client.persist(k.to_dask())`` and pass that to :func:`ntk_course.kernel_regression`. For y = x
        the lower blocks are transposes of the upper ones (one kernel evaluation per pair). The kernel
        must be picklable (the names "ntk" and "nngp" are); the workers need ntk_course installed.
        """
        try:
            import dask
            import dask.array as da
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "to_dask() needs Dask: pip install 'dask[distributed]' (or ntk_course[cluster])"
            ) from err
        xs = self.x.cpu().numpy()
        ys = self.y.cpu().numpy()
        dtype = str(self.out_dtype).removeprefix("torch.")
        task = dask.delayed(_dask_block, pure=True)
        xparts = [dask.delayed(xs[r]) for r in self.rows]
        yparts = xparts if self.symmetric else [dask.delayed(ys[c]) for c in self.cols]
        upper: dict[tuple[int, int], object] = {}
        rows = []
        for i, r in enumerate(self.rows):
            row = []
            for j, c in enumerate(self.cols):
                shape = (r.stop - r.start, c.stop - c.start)
                if self.symmetric and j < i:
                    part = dask.delayed(np.ascontiguousarray)(
                        dask.delayed(np.transpose)(upper[(j, i)])
                    )
                else:
                    part = task(
                        self.kernel,
                        xparts[i],
                        None if (self.symmetric and i == j) else yparts[j],
                        self.options,
                        dtype,
                    )
                    upper[(i, j)] = part
                row.append(da.from_delayed(part, shape=shape, dtype=np.dtype(dtype)))
            rows.append(row)
        return da.block(rows)

    def __repr__(self) -> str:
        where = {True: "memory", False: "none"}.get(self.cache, str(self.cache))  # type: ignore[arg-type]
        return (
            f"BlockedKernel({self.kernel!r}, shape={self.shape}, block={self.block}, cache={where}, "
            f"{human(self.cache_bytes())} of blocks in {self.out_dtype})"
        )


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
    """A kernel as something with ``shape``, ``device``, ``matmul`` and ``diagonal``: a BlockedKernel,
    a dask.array or a dense matrix (checked as :func:`ntk_course._checks.kernel_matrix`).
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
            f"{name} must have shape ({rows or 'M'}, {cols}) to match the N = {cols} training points; "
            f"got {op.shape}"
        )
    return op


@dataclass
class CGResult:
    """The solution (N, k), the iterations taken and the final relative residuals ||b - A x|| / ||b|| (k,)."""

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

    ``k``: a BlockedKernel on the training points, a dask.array or a dense (N, N) matrix, symmetric
    positive definite (PSD with ``ridge`` rho > 0, in units of the eigenvalues of K/N); ``b`` (N,) or
    (N, k). Each iteration is one sweep over the blocks (a product K @ P for all k columns). Stops
    when every column has ||b - A x|| <= ``rtol`` ||b||; the residual is recomputed from x at the end
    (one more sweep) and a CGWarning says if it exceeds rtol after ``maxiter`` (default 2 N)
    iterations. ``preconditioner`` "jacobi" divides by the diagonal of A, None uses none. A
    direction with p^T A p <= 0 proves A is not positive definite: ValueError.
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
                "k_train (+ N ridge I) is not positive definite (a direction p with p^T K p <= 0, or "
                "non-finite products): pass a ridge > 0 (in units of the eigenvalues of K/N)"
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
            f"conjugate gradients reached a relative residual {float(true.max()):.2e} > rtol = {rtol:g} "
            f"after {it} iterations (maxiter {maxiter}); raise maxiter, or add a ridge, the kernel "
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
    """K(x, X) (K(X, X) + N rho I)^{-1} Y with K(X, X) blocked: :func:`conjugate_gradient`, then one sweep
    over the blocks of ``k_test_train`` (a BlockedKernel, a dask.array or a dense (M, N) matrix).
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
