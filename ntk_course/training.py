"""Full-batch gradient descent on a finite network, recording what Theorem 2 and Section 6 look at.

The cost is the paper's empirical mean, C = 1/(2N) sum_i ||f(x_i) - y_i||^2, so one step with
learning rate lr advances the time of the kernel gradient flow by t = lr (t = lr x steps).
An ``NTKMLP`` with ``ensemble=E`` trains E independent networks at once (their costs are summed;
the parameters are disjoint, so each follows its own gradient).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from ._checks import as_inputs, non_negative, positive_int
from .empirical import empirical_ntk
from .mlp import NTKMLP


@dataclass
class TrainingRecord:
    """Quantities recorded at the steps in ``steps`` (a leading axis R; then E for an ensemble).

    ``outputs`` (R, [E,] M, n_L) are f on the evaluation points; ``loss`` (R, [E]) the cost C;
    ``kernels`` (R, [E,] A, B) the empirical NTK between the kernel points, with ``kernel_drift``
    ||Theta_t - Theta_0||_F / ||Theta_0||_F; ``weight_change`` (R, [E,] L) the relative distance
    ||W_t^(l) - W_0^(l)||_F / ||W_0^(l)||_F of each layer's weights from initialisation.
    """

    steps: torch.Tensor
    t: torch.Tensor
    loss: torch.Tensor
    outputs: torch.Tensor
    weight_change: torch.Tensor
    kernels: torch.Tensor | None = None
    kernel_drift: torch.Tensor | None = None


def weight_tensors(model: nn.Module) -> list[torch.Tensor]:
    """The connection weights W^(l) of each layer (every parameter with two or more axes otherwise)."""
    if isinstance(model, NTKMLP):
        return list(model.weights)
    return [p for p in model.parameters() if p.ndim >= 2]


def _per_member_norm(t: torch.Tensor, ensemble: bool) -> torch.Tensor:
    return t.flatten(1).norm(dim=1) if ensemble else t.norm()


def cost(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """C = 1/(2N) sum_i ||f(x_i) - y_i||^2 over the point axis (-2), one value per ensemble member."""
    return 0.5 * (f - y).pow(2).sum(-1).mean(-1)


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

    ``y`` must broadcast to the output shape ((N, n_L), or (E, N, n_L) for an ensemble, so each
    member may have its own target, as in Figure 3). ``record_at`` lists the steps to record
    (default: every step, 0 to ``steps``). ``x_eval`` are the points whose outputs are kept
    (default: the training points). ``kernel_points`` (a, b) or a alone: record the empirical NTK
    Theta_t(a, b) and its drift (Figure 1). Time is t = lr x steps (Section 5 convention).
    """
    steps = positive_int(steps, "steps", minimum=0)
    lr = non_negative(lr, "lr")
    param = next(model.parameters())
    xt = as_inputs(x, "x", param.dtype).to(param.device)
    xe = xt if x_eval is None else as_inputs(x_eval, "x_eval", param.dtype).to(param.device)
    with torch.no_grad():
        out0 = model(xt)
    yt = torch.as_tensor(y, dtype=param.dtype, device=param.device)
    if yt.ndim == 1:
        yt = yt[:, None]
    try:
        yt = torch.broadcast_to(yt, out0.shape)
    except RuntimeError as err:
        raise ValueError(f"y must broadcast to the output shape {tuple(out0.shape)}; got {tuple(yt.shape)}") from err
    if not bool(torch.isfinite(yt).all()):
        raise ValueError("y has non-finite entries; expected finite targets")
    record = set(range(steps + 1)) if record_at is None else {int(s) for s in record_at}
    if any(s < 0 or s > steps for s in record):
        raise ValueError(f"record_at must lie in [0, steps={steps}]; got {sorted(record)[:3]}...")
    if kernel_points is None:
        ka = kb = None
    elif isinstance(kernel_points, tuple):
        ka, kb = kernel_points
    else:
        ka, kb = kernel_points, None
    ensemble = out0.ndim == 3
    w0 = [w.detach().clone() for w in weight_tensors(model)]
    w0_norm = [_per_member_norm(w, ensemble) for w in w0]

    rec: dict[str, list[torch.Tensor]] = {k: [] for k in ("steps", "loss", "outputs", "weights", "kernels")}
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for step in tqdm(range(steps + 1), disable=not progress, desc="training", leave=False):
        out = model(xt)
        loss = cost(out, yt)
        if step in record:
            with torch.no_grad():
                rec["steps"].append(torch.tensor(step))
                rec["loss"].append(loss.detach().clone())
                rec["outputs"].append(model(xe).detach().clone())
                moved = [_per_member_norm(w - a, ensemble) / n for w, a, n in zip(weight_tensors(model), w0, w0_norm)]
                rec["weights"].append(torch.stack(moved, -1))
                if ka is not None:
                    rec["kernels"].append(empirical_ntk(model, ka, kb))
        if not bool(torch.isfinite(loss).all()):
            raise ValueError(f"training diverged at step {step} (non-finite cost); use a smaller learning rate")
        if step == steps:
            break
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()

    steps_t = torch.stack(rec["steps"])
    kernels = torch.stack(rec["kernels"]) if rec["kernels"] else None
    drift = None
    if kernels is not None:
        k0 = kernels[0]
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
