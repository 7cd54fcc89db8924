"""Kernels by blocks: any block of Sigma or Theta without the rest, for N too large for one matrix.

Every entry K(x_i, y_j) of the limiting kernels depends on x_i and y_j alone (Proposition 1,
Theorem 1), so the block of rows i:j against columns k:l is ``ntk(x[i:j], y[k:l])``: the same
numbers as that block of ``ntk(x, y)`` (bitwise when the block size is a multiple of the kernel's
inner block, 256). A :class:`BlockedKernel` holds the points and the kernel function, computes
blocks on demand and multiplies by vectors block by block; on one set of points (y = x) it uses the
symmetry and keeps only the upper triangle of blocks. Where the blocks live is ``cache``:

- ``True``: in this process, in ``out_dtype`` (float32 halves them): N^2/2 numbers for y = x;
- a directory: one ``.npy`` file per block, read back one block at a time (the page cache, not the
  process, holds them);
- ``False``: nowhere; every product recomputes every block (memory: one block).

``to_dask()`` gives the same kernel as a ``dask.array`` whose chunks are the blocks, to be persisted
across the workers of a Dask cluster (``LocalCluster`` or a real one); the solver of
:mod:`ntk_course.cg` (:func:`ntk_course.cg.conjugate_gradient`) accepts either.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ._checks import as_inputs, finite_array, positive_int, same_dimension
from .memory import KernelMemoryError, ensure_fits, human, kernel_bytes

BLOCK = 2048
KERNELS = ("ntk", "nngp")


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

    Parameters
    ----------
    x, y
        The points, (N, n_0) and (M, n_0); y = None means y = x.
    kernel
        ``"ntk"``, ``"nngp"`` or a callable ``kernel(x_rows, y_cols, **options)`` returning the
        (rows, cols) block (y_cols None for y = x).
    block
        The block size.
    cache
        Where computed blocks live (module docstring).
    out_dtype
        The dtype they are stored in (computed in float64, or the kernel's dtype).
    **options
        Passed to the kernel (depth, activation, beta, ...).

    Raises
    ------
    KernelMemoryError
        The bytes of a memory cache (or the disk of a directory cache) are checked when the kernel
        is made, before any work.
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
        """The device of the points, where the blocks are computed."""
        return self.x.device

    def _grid(self) -> list[tuple[int, int]]:
        """The stored blocks (I, J): the upper triangle (J >= I) for y = x, else every block."""
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
            ways_out="Ways out: out_dtype=torch.float32 (half the cached bytes), "
            "cache=<a directory> (blocks on disk), cache=False (recompute every block at every "
            "product), or to_dask() to spread the blocks over the workers of a Dask cluster.",
        )

    def block_at(self, rows: slice, cols: slice) -> torch.Tensor:
        """K(x[rows], y[cols]): any block, rows i:j against columns k:l, without the rest."""
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
        """Block (I, J) of the grid of ``block`` x ``block`` blocks.

        For y = x a lower block is the transpose of the stored upper one (so the matrix is exactly
        symmetric).
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
        ``client.persist(k.to_dask())`` and pass that to :func:`ntk_course.kernel_regression`. For
        y = x the lower blocks are transposes of the upper ones (one kernel evaluation per pair).
        The kernel must be picklable (the names "ntk" and "nngp" are); the workers need ntk_course
        installed.
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
            f"BlockedKernel({self.kernel!r}, shape={self.shape}, block={self.block}, "
            f"cache={where}, {human(self.cache_bytes())} of blocks in {self.out_dtype})"
        )
