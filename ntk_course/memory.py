"""Memory predicted, not discovered: the bytes a kernel will allocate, checked before any work.

Every kernel function of :mod:`ntk_course.kernels` and every blocked kernel
(:mod:`ntk_course.blocked`) adds up what it is going to allocate (:func:`kernel_bytes`) and compares
it with what the device has free (:func:`available_bytes`) before it computes anything. When it does
not fit, a :class:`KernelMemoryError` (a ``MemoryError``) gives the bytes needed, the bytes
available and the ways out, instead of an allocator failure after minutes of work:

- store the result in float32 (``out_dtype=torch.float32``: each block is computed in float64 and
  rounded once when stored), which halves the bytes;
- work by blocks: :class:`ntk_course.BlockedKernel` computes any block (rows i:j against columns
  k:l) without the rest, and :func:`ntk_course.kernel_regression` solves with it by conjugate
  gradients, holding only the upper triangle of blocks (or none, on disk);
- spread the blocks over several processes or machines with Dask (``BlockedKernel.to_dask()``).

Available memory: on the CPU, ``MemAvailable`` of ``/proc/meminfo`` (``os.sysconf`` elsewhere),
lowered to the free part of a cgroup limit where one applies (containers); on CUDA, the driver's
free memory plus what PyTorch's caching allocator holds unused (``torch.cuda.mem_get_info``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

# Temporaries of one block carried through the layer recursion (Gram block, Sigma, Sigma_dot, Theta,
# the activation's expectations, masks, the mirrored diagonal block): a generous count of
# block x block arrays, plus the quadrature's chunk of nodes (quadrature.BUDGET of them, ~16
# temporaries each) for activations without a closed form.
BLOCK_TEMPORARIES = 32
QUADRATURE_BYTES = 16 * (1 << 16) * 8


class KernelMemoryError(MemoryError):
    """A kernel would not fit in memory; raised before any work with the numbers and the ways out.

    A ``MemoryError``: :func:`ensure_fits` (and :mod:`ntk_course.blocked`) raises it when the
    bytes a kernel will allocate (:func:`kernel_bytes`) exceed what :func:`available_bytes` reports
    free, so nothing was computed. The message gives the bytes needed, by part, the bytes available
    and the device, then the ways out (float32 storage, :class:`ntk_course.BlockedKernel`, Dask,
    fewer points).

    Parameters
    ----------
    what : str
        What was to be computed, the start of the message, such as
        ``"layer_kernels on 1,000 points"``.
    needed : int
        Bytes the computation would allocate.
    available : int
        Bytes free on ``device``.
    device : torch.device or str
        Where the bytes were to be allocated.
    parts : mapping of str to int, optional
        What the bytes are for (name -> bytes), listed in the message; None (default): no parts.
    ways_out : str, optional
        The advice ending the message; None (default): ``WAYS_OUT``.

    Attributes
    ----------
    needed : int
        Bytes needed.
    available : int
        Bytes available.
    device : str
        Where they were to be allocated, e.g. ``"cpu"`` or ``"cuda:0"``.
    parts : dict of str to int
        What the bytes are for (name -> bytes); empty when none were given.
    """

    def __init__(
        self,
        what: str,
        needed: int,
        available: int,
        device: torch.device | str,
        parts: Mapping[str, int] | None = None,
        ways_out: str | None = None,
    ):
        self.needed, self.available, self.device = int(needed), int(available), str(device)
        self.parts = dict(parts or {})
        detail = ", ".join(f"{k} {human(v)}" for k, v in self.parts.items())
        message = (
            f"{what} needs {human(needed)} ({needed:,} bytes{': ' + detail if detail else ''}) but "
            f"{human(available)} ({available:,} bytes) are available on {self.device}; "
            "nothing was computed. " + (ways_out or WAYS_OUT)
        )
        super().__init__(message)


WAYS_OUT = (
    "Ways out: (1) out_dtype=torch.float32 stores the kernel in float32 (computed in float64 per "
    "block), half the bytes; (2) ntk_course.BlockedKernel(x, kernel='ntk', ...) computes the "
    "kernel block by block (any rows i:j against columns k:l) and kernel_regression / "
    "gradient_flow solve with it by conjugate gradients without the whole matrix; "
    "(3) BlockedKernel(...).to_dask() "
    "spreads the blocks over the workers of a Dask cluster (pip install 'ntk_course[cluster]'); "
    "or use fewer points."
)


def human(n: float) -> str:
    """Bytes for people: 12.8 GB, 512.0 MB (powers of 1000, as the allocator's messages count)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def _cgroup_free() -> int | None:
    """Free bytes under a cgroup (v2, then v1) memory limit, or None when there is no limit."""
    for limit, usage in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            top = Path(limit).read_text().strip()
            used = int(Path(usage).read_text().strip())
        except (OSError, ValueError):
            continue
        if top == "max" or int(top) >= 1 << 60:
            return None
        return max(int(top) - used, 0)
    return None


def _cpu_available() -> int:
    free = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - not a POSIX system
            return 1 << 62
    limited = _cgroup_free()
    return free if limited is None else min(free, limited)


def available_bytes(device: torch.device | str | None = None) -> int:
    """Bytes that can still be allocated on ``device`` (the CPU when None), read now.

    On the CPU, ``MemAvailable`` (``os.sysconf`` elsewhere) lowered to a cgroup limit's free part;
    on CUDA, the driver's free memory plus what PyTorch's caching allocator holds unused. Other
    backends are not checked (a huge number).

    Parameters
    ----------
    device : torch.device or str, optional
        Where the bytes would be allocated; None (default) is the CPU.

    Returns
    -------
    int
        The free bytes.

    Raises
    ------
    RuntimeError
        If ``device`` is not a valid device string, or names a CUDA device that is not present.
    """
    dev = torch.device("cpu" if device is None else device)
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        return int(free + torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev))
    if dev.type == "cpu":
        return _cpu_available()
    return 1 << 62  # another backend (mps, ...): not checked


def kernel_bytes(
    n: int,
    m: int | None = None,
    *,
    n0: int = 0,
    depth: int = 1,
    matrices: int = 2,
    dtype: torch.dtype = torch.float64,
    out_dtype: torch.dtype | None = None,
    block: int = 256,
    every_layer: bool = False,
) -> dict[str, int]:
    """The bytes a kernel of N x M points allocates, by part (name -> bytes; the sum is the total).

    Predicted before any work (with :func:`ensure_fits`), for the kernels of Proposition 1 and
    Theorem 1. ``matrices`` N x M results are stored in ``out_dtype`` (``dtype`` when None): 2 for
    :func:`ntk_course.limiting_kernels` (Sigma and Theta are both returned), 1 for
    :func:`ntk_course.nngp` and for :func:`ntk_course.ntk` (Sigma lives one block at a time).
    ``every_layer`` counts :func:`ntk_course.layer_kernels`: Sigma, Sigma_dot and Theta at each of
    the ``depth`` layers, on the whole matrix at once. The inputs (N + M rows of ``n0`` features,
    and the scaled copy of x) and the per-block temporaries are in ``dtype``, the precision of the
    computation.

    Parameters
    ----------
    n : int
        N, the number of points x (rows of the result).
    m : int or None, default None
        M, the number of points y (columns); None: M = N (a Gram matrix).
    n0 : int, default 0
        n_0, the input dimension (features per point).
    depth : int, default 1
        L, the number of layers.
    matrices : int, default 2
        How many N x M results are stored.
    dtype : torch.dtype, default torch.float64
        The dtype of the computation (inputs and temporaries).
    out_dtype : torch.dtype or None, default None
        The dtype the results are stored in; None: ``dtype``.
    block : int, default 256
        The block size of the computation; a block is at most max(N, M) wide.
    every_layer : bool, default False
        Count :func:`ntk_course.layer_kernels` instead (``matrices`` and ``block`` unused).

    Returns
    -------
    dict of str to int
        Bytes by part: ``"inputs"``, then the results (``"the N x M result"``, or for
        ``matrices=2`` ``"2 N x M results (Sigma and Theta)"``) and ``"block temporaries"``; with
        ``every_layer``, the per-layer matrices and ``"temporaries"`` instead.

    Raises
    ------
    TypeError
        If ``dtype`` or ``out_dtype`` is not a torch.dtype. The sizes are not checked.

    Examples
    --------
    >>> import torch
    >>> from ntk_course.memory import kernel_bytes
    >>> parts = kernel_bytes(1000, n0=10, matrices=1, out_dtype=torch.float32)
    >>> parts["the N x M result"]  # 1000 x 1000 float32 entries
    4000000
    """
    m = n if m is None else m
    item = torch.empty((), dtype=dtype).element_size()
    out = torch.empty((), dtype=out_dtype or dtype).element_size()
    parts = {"inputs": (2 * n + m) * n0 * item + 2 * depth * (n + m) * item}
    if every_layer:
        parts["every layer's Sigma, Sigma_dot, Theta"] = 3 * depth * n * m * item
        parts["temporaries"] = 8 * n * m * item + QUADRATURE_BYTES
    else:
        name = {1: "the N x M result"}.get(matrices, f"{matrices} N x M results (Sigma and Theta)")
        parts[name] = matrices * n * m * out
        b = min(block, max(n, m))
        parts["block temporaries"] = BLOCK_TEMPORARIES * b * b * item + QUADRATURE_BYTES
    return parts


def ensure_fits(
    what: str,
    parts: Mapping[str, int],
    device: torch.device | str | None = None,
    ways_out: str | None = None,
) -> int:
    """Raise :class:`KernelMemoryError` when the bytes of ``parts`` exceed the free memory.

    The free memory is :func:`available_bytes`; else return their total.
    """
    needed = int(sum(parts.values()))
    free = available_bytes(device)
    if needed > free:
        raise KernelMemoryError(what, needed, free, device or "cpu", parts, ways_out)
    return needed
