"""Checks that a user's activation is what the kernel recursions assume: an elementwise map.

Proposition 1 and Theorem 1 apply sigma to each pre-activation on its own; a callable that mixes
the entries of its argument (``z - z.mean()``) gives kernels that depend on which points share a
call. These probes run once, when :func:`ntk_course.activations.get_activation` resolves a
callable, and refuse with a ValueError that says what to change.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["check_differentiable", "check_elementwise"]

Fn = Callable[[torch.Tensor], torch.Tensor]


def check_elementwise(fn: Fn, what: str) -> None:
    """Refuse a callable that is not an elementwise map of float64 tensors, with the fix.

    Parameters
    ----------
    fn : callable
        The activation (or its derivative), tensor -> tensor.
    what : str
        Its name in the messages: ``"activation"`` or ``"derivative"``.

    Raises
    ------
    ValueError
        If calling it on a float64 tensor fails, it returns no tensor, another dtype (bool,
        float32) or another shape, or its value at a point depends on the other points.

    Probes: 9 points, the same points permuted, and the first point alone; the values must be
    float64 tensors of the input's shape that agree (to 1e-12 relative) at each point.
    """
    z = torch.linspace(-2.5, 3.5, 9, dtype=torch.float64)
    perm = torch.tensor([4, 0, 8, 2, 6, 1, 7, 3, 5])
    try:
        with torch.no_grad():
            out, out_perm, one = fn(z), fn(z[perm]), fn(z[:1])
    except Exception as err:  # a NumPy-only function, or one that fails on a torch tensor
        raise ValueError(
            f"the {what} must map a float64 torch tensor to a tensor of the same shape, "
            f"elementwise (use torch functions, not NumPy ones); calling it failed with {err!r}"
        ) from err
    for o in (out, out_perm, one):
        if not isinstance(o, torch.Tensor):
            raise ValueError(
                f"the {what} must return a torch tensor (use torch functions, not NumPy ones); "
                f"got {type(o).__name__}"
            )
        if o.dtype != torch.float64:
            raise ValueError(
                f"the {what} must return the input's dtype (float64); got {o.dtype}: compute in "
                "the input's dtype, e.g. (z > 0).to(z.dtype) for a step"
            )
    if out.shape != z.shape or one.shape != (1,):
        raise ValueError(
            f"the {what} must act elementwise; it mapped shape (9,) to {tuple(out.shape)}"
        )
    tol = 1e-12 * (1.0 + float(out.abs().max()))
    if not (out[perm] - out_perm).abs().max() <= tol or not (out[:1] - one).abs().max() <= tol:
        raise ValueError(
            f"the {what} must act elementwise (each output from its own input only); its value "
            "at a point changed with the other points of the call, as with z - z.mean()"
        )


def check_differentiable(pair: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Refuse an activation autograd cannot differentiate (NumPy inside), naming the fix.

    Parameters
    ----------
    pair : callable
        z -> (sigma(z), sigma_dot(z)) by autograd.

    Raises
    ------
    ValueError
        If the autograd pass fails on a float64 tensor.
    """
    try:
        pair(torch.linspace(-1.0, 1.0, 3, dtype=torch.float64))
    except Exception as err:
        raise ValueError(
            "autograd cannot differentiate the activation (NumPy inside?): write it with torch "
            f"functions or pass derivative=; it failed with {err!r}"
        ) from err
