"""Full-batch gradient descent on a finite network, recording what Theorem 2 and Section 6 look at.

The cost is the paper's empirical mean, C = 1/(2N) sum_i ||f(x_i) - y_i||^2, so one step with
learning rate lr advances the time of the kernel gradient flow by t = lr (t = lr x steps).
An ``NTKMLP`` with ``ensemble=E`` trains E independent networks at once (their costs are summed;
the parameters are disjoint, so each follows its own gradient). Only parameters with
``requires_grad`` are trained; points and targets of any real dtype (integers included) are cast to
the dtype of those parameters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ._checks import as_inputs, non_negative, positive_int, same_dimension
from .empirical import empirical_ntk
from .linearized import Linearized


@dataclass
class TrainingRecord:
    """Quantities recorded at the steps in ``steps`` (a leading axis R; then E for an ensemble).

    They measure how far training moves a finite network from the infinite-width picture, in which
    the NTK stays constant (Theorem 2) and the weights barely move.

    Attributes
    ----------
    steps : torch.Tensor, shape (R,)
        The recorded gradient-descent steps.
    t : torch.Tensor, shape (R,)
        The matching times of the kernel gradient flow, t = lr x step.
    loss : torch.Tensor, shape (R,) or (R, E)
        The cost C.
    outputs : torch.Tensor, shape (R, M, n_L) or (R, E, M, n_L)
        f on the M evaluation points.
    weight_change : torch.Tensor, shape (R, L) or (R, E, L)
        The relative distance ||W_t^(l) - W_0^(l)||_F / ||W_0^(l)||_F of each weight tensor of
        :func:`weight_tensors` from initialisation (the absolute distance ||W_t^(l)||_F for a
        tensor that starts at zero, whose relative distance is undefined).
    kernels : torch.Tensor or None, shape (R, A, B) or (R, E, A, B)
        The empirical NTK between the kernel points (None if not recorded).
    kernel_drift : torch.Tensor or None, shape (R,) or (R, E)
        ||Theta_t - Theta_0||_F / ||Theta_0||_F, Theta_0 the kernel at step 0 whether step 0 is
        recorded or not (None if not recorded).
    """

    steps: torch.Tensor
    t: torch.Tensor
    loss: torch.Tensor
    outputs: torch.Tensor
    weight_change: torch.Tensor
    kernels: torch.Tensor | None = None
    kernel_drift: torch.Tensor | None = None


def weight_tensors(model: nn.Module) -> list[torch.Tensor]:
    """The connection weights whose movement ``train`` reports, one tensor per layer.

    A model names them with a method ``weight_tensors()`` (``NTKMLP``: W^(0), ..., W^(L-1)). For
    :class:`~ntk_course.linearized.Linearized` they are the base model's weights displaced by the
    trained offsets, theta_0 + (theta - theta_0). Otherwise: every parameter with two or more axes,
    or every parameter if none has two.
    """
    if isinstance(model, Linearized):
        names = {id(p): name for name, p in model.base.named_parameters()}
        now = model.current_parameters()
        return [now[names[id(w)]] for w in weight_tensors(model.base)]
    own = getattr(model, "weight_tensors", None)
    if callable(own):
        return list(own())
    params = list(model.parameters())
    return [p for p in params if p.ndim >= 2] or params


def _per_member_norm(t: torch.Tensor, ensemble: bool) -> torch.Tensor:
    return t.flatten(1).norm(dim=1) if ensemble else t.norm()


def _relative(moved: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """moved / start, or moved itself where start is 0 (a tensor that starts at zero)."""
    return torch.where(
        start > 0, moved / torch.where(start > 0, start, torch.ones_like(start)), moved
    )


def _record_steps(record_at: Iterable[int] | None, steps: int) -> set[int]:
    if record_at is None:
        return set(range(steps + 1))
    if isinstance(record_at, torch.Tensor | np.ndarray):
        record_at = record_at.tolist()
    if isinstance(record_at, str) or not isinstance(record_at, Iterable):
        raise ValueError(f"record_at must be a list of step numbers; got {record_at!r}")
    record = {positive_int(s, "each step in record_at", 0) for s in record_at}
    if not record:
        raise ValueError("record_at must list at least one step; pass None to record every step")
    if max(record) > steps:
        raise ValueError(f"record_at must lie in [0, steps={steps}]; got step {max(record)}")
    return record


def cost(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """C = 1/(2N) sum_i ||f(x_i) - y_i||^2 over the point axis (-2), one per ensemble member."""
    return 0.5 * (f - y).pow(2).sum(-1).mean(-1)


def _targets(y: object, out0: torch.Tensor) -> torch.Tensor:
    """``y`` as finite targets of the output's shape and dtype ((N,) counts as (N, 1))."""
    try:
        yt = torch.as_tensor(y)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"y must be an array of targets; got {type(y).__name__}") from err
    if yt.is_complex():
        raise ValueError(f"y must be real; got the complex dtype {yt.dtype}")
    yt = yt.to(dtype=out0.dtype, device=out0.device)
    if yt.ndim == 1:
        yt = yt[:, None]
    try:
        yt = torch.broadcast_to(yt, out0.shape)
    except RuntimeError as err:
        raise ValueError(
            f"y must broadcast to the output shape {tuple(out0.shape)}; got {tuple(yt.shape)}"
        ) from err
    if not bool(torch.isfinite(yt).all()):
        raise ValueError("y has non-finite entries; expected finite targets")
    return yt


def train(
    model: nn.Module,
    x: object,
    y: object,
    *,
    steps: int,
    lr: float = 1.0,
    record_at: Iterable[int] | None = None,
    x_eval: object | None = None,
    kernel_points: tuple[object, object] | object | None = None,
    progress: bool = False,
) -> TrainingRecord:
    """Train ``model`` in place by ``steps`` steps of full-batch gradient descent on C.

    The finite-width training of Theorem 2 and Section 6. Time is t = lr x steps (Section 5
    convention). Only the parameters with ``requires_grad`` are trained; a model without any is
    refused.

    Parameters
    ----------
    model : torch.nn.Module
        The network, trained in place.
    x : array_like
        Shape (N, n_0): the training inputs.
    y : array_like
        Targets that broadcast to the output shape ((N, n_L), or (E, N, n_L) for an ensemble, so
        each member may have its own target, as in Figure 3); (N,) counts as (N, 1).
    steps : int
        The number of steps, >= 0.
    lr : float, default 1.0
        The learning rate, >= 0.
    record_at : iterable of int, optional
        The (integer) steps to record, in [0, steps] (default: every step, 0 to ``steps``).
    x_eval : array_like, optional
        Shape (M, n_0): the points whose outputs are kept (default: the training points).
    kernel_points : array_like or tuple of two, optional
        ``(a, b)`` or ``a`` alone: record the empirical NTK Theta_t(a, b) and its drift from
        step 0 (Figure 1).
    progress : bool, default False
        Show a progress bar.

    Returns
    -------
    TrainingRecord
        The recorded steps, times, loss, outputs, kernels and weight changes.

    Raises
    ------
    ValueError
        If steps < 0, lr < 0, the model has no trainable parameters, record_at is not a list of
        steps in [0, steps], the inputs' dimensions differ, y does not broadcast or is not
        finite, or the NTK at step 0 is zero on kernel_points.
    """
    steps = positive_int(steps, "steps", minimum=0)
    lr = non_negative(lr, "lr")
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError(
            f"model ({type(model).__name__}) has no trainable parameters (requires_grad); "
            "nothing to train"
        )
    param = trainable[0]
    record = _record_steps(record_at, steps)
    xt = as_inputs(x, "x", param.dtype).to(param.device)
    xe = xt if x_eval is None else as_inputs(x_eval, "x_eval", param.dtype).to(param.device)
    same_dimension(xt, xe)
    if isinstance(kernel_points, tuple) and len(kernel_points) != 2:
        raise ValueError(
            f"kernel_points must be points a or a pair (a, b); got a tuple of {len(kernel_points)}"
        )
    ka, kb = kernel_points if isinstance(kernel_points, tuple) else (kernel_points, None)
    if ka is not None:
        ka = as_inputs(ka, "kernel_points", param.dtype).to(param.device)
        kb = None if kb is None else as_inputs(kb, "kernel_points[1]", param.dtype).to(param.device)
        for points in (ka, kb if kb is not None else ka):
            same_dimension(xt, points)
    with torch.no_grad():
        out0 = model(xt)
    yt = _targets(y, out0)
    ensemble = out0.ndim == 3
    w0 = [w.detach().clone() for w in weight_tensors(model)]
    w0_norm = [_per_member_norm(w, ensemble) for w in w0]
    # Theta_0, whether step 0 is recorded or not.
    k0 = None if ka is None else empirical_ntk(model, ka, kb)
    if k0 is not None and bool((k0.flatten(-2).norm(dim=-1) == 0).any()):
        raise ValueError(
            "the empirical NTK at step 0 is zero on kernel_points, "
            "so its relative drift is undefined"
        )

    rec: dict[str, list[torch.Tensor]] = {
        k: [] for k in ("steps", "loss", "outputs", "weights", "kernels")
    }
    optimizer = torch.optim.SGD(trainable, lr=lr)
    for step in tqdm(range(steps + 1), disable=not progress, desc="training", leave=False):
        out = model(xt)
        loss = cost(out, yt)
        if step in record:
            with torch.no_grad():
                rec["steps"].append(torch.tensor(step))
                rec["loss"].append(loss.detach().clone())
                rec["outputs"].append(model(xe).detach().clone())
                moved = [
                    _relative(_per_member_norm(w - a, ensemble), n)
                    for w, a, n in zip(weight_tensors(model), w0, w0_norm)
                ]
                rec["weights"].append(torch.stack(moved, -1))
                if k0 is not None:
                    rec["kernels"].append(k0 if step == 0 else empirical_ntk(model, ka, kb))
        if not bool(torch.isfinite(loss).all()):
            raise ValueError(
                f"training diverged at step {step} (non-finite cost); use a smaller learning rate"
            )
        if step == steps:
            break
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()

    steps_t = torch.stack(rec["steps"])
    kernels = torch.stack(rec["kernels"]) if rec["kernels"] else None
    drift = None
    if kernels is not None and k0 is not None:
        drift = (kernels - k0).flatten(-2).norm(dim=-1) / k0.flatten(-2).norm(dim=-1)
    return TrainingRecord(
        steps=steps_t,
        t=steps_t.to(torch.float64) * lr,
        loss=torch.stack(rec["loss"]),
        outputs=torch.stack(rec["outputs"]),
        weight_change=torch.stack(rec["weights"]),
        kernels=kernels,
        kernel_drift=drift,
    )
