"""Input validation shared by every public function: raise a clear ValueError before any work."""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch


def as_inputs(x: object, name: str = "x", dtype: torch.dtype | None = None) -> torch.Tensor:
    """Return ``x`` as a finite 2-d tensor of shape (N, n_0); 1-d input counts as one point."""
    if isinstance(x, torch.Tensor):
        t = x
    else:
        try:
            t = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"{name} must be an array of shape (N, n_0); got {type(x).__name__}") from err
    if dtype is not None:
        t = t.to(dtype)
    elif not torch.is_floating_point(t):
        t = t.to(torch.get_default_dtype())
    if t.ndim == 1:
        t = t[None, :]
    if t.ndim != 2:
        raise ValueError(f"{name} must have shape (N, n_0); got shape {tuple(t.shape)}")
    if t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name} must hold at least one point of dimension >= 1; got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} has non-finite entries (NaN or inf); expected finite numbers")
    return t


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


def widths_list(widths: Sequence[int]) -> list[int]:
    """Check ``[n_0, n_1, ..., n_L]``: at least two entries, each an integer >= 1."""
    if isinstance(widths, int | str) or len(widths) < 2:
        raise ValueError(f"widths must be a list [n_0, ..., n_L] of at least two layer sizes; got {widths!r}")
    return [positive_int(w, f"widths[{i}]") for i, w in enumerate(widths)]


def times(t: object, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Check a 1-d array of finite, non-negative times."""
    tt = torch.as_tensor(t, dtype=dtype, device=device).reshape(-1)
    if tt.numel() == 0:
        raise ValueError("t must hold at least one time")
    if not bool(torch.isfinite(tt).all()) or bool((tt < 0).any()):
        raise ValueError(f"times must be finite and >= 0; got {tt.tolist()[:5]}...")
    return tt
