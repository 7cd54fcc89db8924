"""Input validation shared by every public function: raise a clear ValueError before any work.

Integer (and boolean) arrays are accepted wherever numbers are and converted to the floating dtype
the function computes in; complex arrays are refused (a kernel, a point or a target is real).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch


def as_tensor(x: object) -> torch.Tensor:
    """``x`` as a tensor without losing precision.

    Python floats (lists, tuples) become float64 through NumPy, where ``torch.as_tensor`` would
    round them to float32; tensors are unchanged.
    """
    if isinstance(x, torch.Tensor):
        return x
    return torch.as_tensor(np.asarray(x))


def as_inputs(x: object, name: str = "x", dtype: torch.dtype | None = None) -> torch.Tensor:
    """Return ``x`` as a finite 2-d tensor of shape (N, n_0); 1-d input counts as one point."""
    try:
        t = as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(
            f"{name} must be an array of shape (N, n_0); got {type(x).__name__}"
        ) from err
    _real(t, name)
    if t.layout != torch.strided:
        raise ValueError(f"{name} is a sparse tensor ({t.layout}); pass {name}.to_dense()")
    if dtype is not None:
        t = t.to(dtype)
    elif not torch.is_floating_point(t):
        t = t.to(torch.get_default_dtype())
    if t.ndim == 1:
        t = t[None, :]
    if t.ndim != 2:
        raise ValueError(f"{name} must have shape (N, n_0); got shape {tuple(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(
            f"{name} must hold at least one point of dimension >= 1; got shape {tuple(t.shape)}"
        )
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} has non-finite entries (NaN or inf); expected finite numbers")
    return t


def _real(t: torch.Tensor, name: str) -> None:
    if t.is_complex():
        raise ValueError(f"{name} must be real; got the complex dtype {t.dtype}")


def inspectable(t: torch.Tensor) -> bool:
    """False for a tensor inside a torch.func transform (vmap, grad, jvp).

    Python may not branch on the values of such a tensor; the public entry points check their
    points before they transform a model.
    """
    wrapped = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", None)
    return wrapped is None or not wrapped(t)


def same_dimension(x: torch.Tensor, y: torch.Tensor) -> None:
    """Check that two input sets have the same feature dimension n_0."""
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must have the same feature dimension n_0; got {x.shape[1]} and {y.shape[1]}"
        )


def positive_int(value: object, name: str, minimum: int = 1) -> int:
    """Check an integer setting such as depth or width (``>= minimum``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    v = int(value)
    if v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {v}")
    return v


def non_negative(value: object, name: str) -> float:
    """Check a finite real number >= 0 (beta, a learning rate, a time)."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}") from err
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {v}")
    return v


def positive(value: object, name: str) -> float:
    """Check a finite real number > 0 (a standard deviation)."""
    v = non_negative(value, name)
    if v == 0:
        raise ValueError(f"{name} must be a finite number > 0; got 0")
    return v


def widths_list(widths: Sequence[int]) -> list[int]:
    """Check ``[n_0, n_1, ..., n_L]``: at least two entries, each an integer >= 1."""
    if isinstance(widths, int | str) or len(widths) < 2:
        raise ValueError(
            f"widths must be a list [n_0, ..., n_L] of at least two layer sizes; got {widths!r}"
        )
    return [positive_int(w, f"widths[{i}]") for i, w in enumerate(widths)]


def hidden_widths(widths: object, *, distinct: bool = False) -> list[int]:
    """Check a list of hidden widths for a scan over networks.

    At least one integer >= 1 (distinct if asked).
    """
    if (
        isinstance(widths, int | str)
        or not isinstance(widths, Sequence | torch.Tensor)
        or len(widths) < 1
    ):
        raise ValueError(
            f"widths must be a sequence of at least one width (hidden layer sizes); got {widths!r}"
        )
    out = [
        positive_int(int(w) if isinstance(w, torch.Tensor) else w, f"widths[{i}]")
        for i, w in enumerate(widths)
    ]
    if distinct and len(set(out)) != len(out):
        raise ValueError(f"widths must be distinct; got {out}")
    return out


def times(t: object, dtype: torch.dtype, device: torch.device, name: str = "t") -> torch.Tensor:
    """Check a 1-d array (or one number) of finite, non-negative times; returns it 1-d."""
    tt = finite_array(t, name, ndims=(0, 1), dtype=dtype, device=device).reshape(-1)
    if bool((tt < 0).any()):
        raise ValueError(f"{name} must hold finite times >= 0; got {tt.tolist()[:5]}")
    return tt


def seeded_generator(seed: object, device: torch.device | str | None = None) -> torch.Generator:
    """A new random generator on ``device`` (CPU by default) seeded with the integer ``seed``."""
    return torch.Generator(device=device or "cpu").manual_seed(positive_int(seed, "seed", 0))


def generator_from(
    generator: torch.Generator | None, seed: object | None, device: torch.device | str | None = None
) -> torch.Generator | None:
    """The random generator to draw with: ``generator``, or a new one seeded with ``seed``.

    Not both.
    """
    if seed is None:
        return generator
    if generator is not None:
        raise ValueError("pass either generator or seed, not both")
    return seeded_generator(seed, device)


# A kernel K is accepted as symmetric when max|K - K^T| <= SYMMETRY_RTOL * max|K|: far above the
# round-off of a float64 kernel, and above that of a float32 Gram matrix cast to float64, yet a
# kernel that is really not symmetric (an O(1) relative difference) is refused.
SYMMETRY_RTOL = 1e-6


def finite_array(
    x: object,
    name: str,
    *,
    ndims: tuple[int, ...] | None = (1, 2),
    rows: int | None = None,
    cols: int | None = None,
    match: str = "",
    dtype: torch.dtype | None = torch.float64,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Return ``x`` as a finite floating tensor with ``ndim`` in ``ndims`` (None: any ndim >= 1).

    ``rows`` / ``cols`` are the expected sizes of the first / second axis (``match`` says what they
    must match, for the message). ``dtype=None`` keeps a floating dtype (integers become float64);
    ``device`` moves the result there.
    """
    try:
        t = as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} must be a numeric array; got {type(x).__name__}") from err
    _real(t, name)
    if dtype is not None:
        t = t.to(dtype)
    elif not torch.is_floating_point(t):
        t = t.to(torch.float64)
    if device is not None:
        t = t.to(device)
    if (ndims is None and t.ndim == 0) or (ndims is not None and t.ndim not in ndims):
        expected = "at least 1-d" if ndims is None else " or ".join(f"{d}-d" for d in ndims)
        raise ValueError(f"{name} must be {expected}; got shape {tuple(t.shape)}")
    why = f" to match {match}" if match else ""
    if rows is not None and t.shape[0] != rows:
        raise ValueError(
            f"{name} must have {rows} rows (first axis){why}; got shape {tuple(t.shape)}"
        )
    if cols is not None and (t.ndim < 2 or t.shape[1] != cols):
        raise ValueError(
            f"{name} must have {cols} columns (second axis){why}; got shape {tuple(t.shape)}"
        )
    if t.numel() == 0:
        raise ValueError(f"{name} is empty; got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} has non-finite entries (NaN or inf); expected finite numbers")
    return t


def kernel_matrix(
    k: object,
    name: str,
    *,
    rows: int | None = None,
    cols: int | None = None,
    match: str = "",
    symmetric: bool = False,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Return a kernel matrix as a finite 2-d float64 tensor.

    ``symmetric=True`` also demands a square, symmetric matrix (a Gram matrix on one set of points,
    up to ``SYMMETRY_RTOL``).
    """
    t = finite_array(k, name, ndims=(2,), rows=rows, cols=cols, match=match, device=device)
    if symmetric:
        if t.shape[0] != t.shape[1]:
            raise ValueError(
                f"{name} must be a square (N, N) kernel matrix on the training points; "
                f"got shape {tuple(t.shape)}"
            )
        gap, top = float((t - t.mT).abs().amax()), float(t.abs().amax())
        if gap > SYMMETRY_RTOL * top:
            raise ValueError(
                f"{name} must be symmetric (K(x, x') = K(x', x)); got max|K - K^T| = {gap:.3g} "
                f"for max|K| = {top:.3g}"
            )
    return t
