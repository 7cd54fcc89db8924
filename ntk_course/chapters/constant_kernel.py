"""The linearisation gap of a trained network and the quantity that bounds it (the chapter on
Theorem 2 of Jacot, Gabriel & Hongler 2018, and the linearisation theorem of Lee et al. 2019).

Under gradient flow on the least-squares cost, the network f_t and its linearisation at
initialisation f^lin_t (trained from the same start) satisfy, on the N training points,

    d/dt (f_t - f^lin_t) = -Phi_{Theta_0}(f_t - f^lin_t) + Phi_{Theta_t - Theta_0}(d_t),

with d_t = f* - f_t the network's residual and Phi_K(d) = K d / N on the data. Theta_0 is positive
semi-definite, so its part only damps the gap, and

    ||f_T - f^lin_T||_{p^in} <= int_0^T ||Phi_{Theta_t - Theta_0}(d_t)||_{p^in} dt
                             <= D_T sup_t ||Theta_t - Theta_0||_op,     D_T = int_0^T ||d_t|| dt.

:func:`gap_bound_scan` measures the gap and both right-hand sides (with gradient descent, the
integrals become sums over the steps times the learning rate) for networks of several widths, so
that their rates against the width can be compared. The quantity in the bound is the kernel's
change *on the training points*, in operator norm, weighted by the residual: not the drift of the
kernel at other points.

:func:`window_power` is the power of the two-sided z-window checks the chapter runs on fitted
exponents.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from scipy.stats import norm

from ..architecture import Architecture
from ..linearized import linearized_outputs
from ..power_laws import PowerLaw, bootstrap_slope
from ..training import train

__all__ = ["GapBound", "gap_bound_scan", "window_power"]


def window_power(effect: float, se: float, z: float = 3.0) -> float:
    """Probability that an estimate distributed N(``effect``, ``se``^2) falls outside [-z se, z se].

    A check that accepts a fitted exponent when ``|s - s_0| <= z se`` rejects the alternative
    s_0 + ``effect`` with this probability (its power against that alternative, normal
    approximation).

    Raises
    ------
    ValueError
        If ``se`` or ``z`` is not positive and finite.
    """
    if not (math.isfinite(se) and se > 0 and math.isfinite(z) and z > 0):
        raise ValueError(f"need se > 0 and z > 0, finite; got se = {se}, z = {z}")
    shift = effect / se
    return float(norm.sf(z - shift) + norm.cdf(-z - shift))


@dataclass(frozen=True)
class GapBound:
    """Per width and initialisation (W, E), float64 on the CPU, for least squares on the training
    points (norms ||.||_{p^in}, operator norms of Gram matrices over N):

    ``gap``: ||f_T - f^lin_T||; ``drive``: lr sum_k ||(Theta_k - Theta_0) d_k|| / N, the integral in
    the bound; ``bound``: D_T max_k ||Theta_k - Theta_0||_op; ``residual_integral``: D_T =
    lr sum_k ||d_k||; ``kernel_change``: max_k ||Theta_k - Theta_0||_op / ||Theta_0||_op, the
    relative change of the kernel on the data. Steps k = 0 .. steps - 1; t = lr x steps.
    """

    widths: tuple[int, ...]
    t: float
    gap: torch.Tensor
    drive: torch.Tensor
    bound: torch.Tensor
    residual_integral: torch.Tensor
    kernel_change: torch.Tensor

    def fit(self, quantity: str) -> PowerLaw:
        """Power law against the width of the mean over initialisations of ``quantity`` (a field
        name), with the bootstrap standard error of its slope."""
        if quantity not in ("gap", "drive", "bound", "residual_integral", "kernel_change"):
            raise ValueError(
                f"unknown quantity {quantity!r}; expected gap, drive, bound, residual_integral "
                "or kernel_change"
            )
        return bootstrap_slope(self.widths, getattr(self, quantity))


def gap_bound_scan(
    arch: Architecture,
    widths: Sequence[int],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    ensemble: int,
    lr: float = 1.0,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> GapBound:
    """Train ``ensemble`` networks of each width and their linearisations by ``steps`` steps of
    gradient descent on (x, y), recording the kernel on the training points at every step.

    Parameters
    ----------
    arch : Architecture
        The networks (one output).
    widths : sequence of int
        Hidden widths n.
    x, y : torch.Tensor
        Training inputs (N, n_0) and targets (N, 1).
    steps, ensemble, lr, seed
        Gradient-descent steps, networks per width, learning rate, and the seed of width k's
        generator is ``seed + k``.
    device : torch.device or str, optional
        Where the networks live (CPU by default).

    Returns
    -------
    GapBound
        One row per width, one column per network.

    Raises
    ------
    ValueError
        If ``widths`` is empty or ``ensemble`` < 2 (a bootstrap needs two draws), or the library
        refuses the data, a width or a setting.
    """
    if len(widths) == 0 or ensemble < 2:
        raise ValueError(f"need at least one width and two networks; got {widths}, {ensemble}")
    dev = torch.device(device or "cpu")
    x, y = x.to(dev).float(), y.to(dev).float()
    n_points = x.shape[0]
    rows: dict[str, list[torch.Tensor]] = {k: [] for k in ("gap", "drive", "bound", "d", "change")}
    for k, n in enumerate(widths):
        gen = torch.Generator(dev).manual_seed(seed + k)
        nets = arch.network(x.shape[1], n, ensemble=ensemble, generator=gen, device=dev)
        f_lin = linearized_outputs(nets, x, y, x, steps=steps, lr=lr).double().cpu()
        rec = train(
            nets, x, y, steps=steps, lr=lr, record_at=list(range(steps + 1)), kernel_points=x
        )
        gram = rec.kernels.double().cpu()  # (R, E, N, N)
        out = rec.outputs.double().cpu()  # (R, E, N, 1)
        resid = y.double().cpu() - out  # d_k = f* - f_k on the data
        change = gram - gram[0]
        pin = lambda v: v.pow(2).sum(dim=(-2, -1)).sqrt() / math.sqrt(n_points)  # noqa: E731
        rows["drive"].append(lr * pin(change[:-1] @ resid[:-1] / n_points).sum(0))
        d_int = lr * pin(resid[:-1]).sum(0)
        op = torch.linalg.matrix_norm(change, ord=2) / n_points  # (R, E)
        rows["d"].append(d_int)
        rows["bound"].append(d_int * op.amax(0))
        rows["change"].append(op.amax(0) / (torch.linalg.matrix_norm(gram[0], ord=2) / n_points))
        rows["gap"].append(pin(out[-1] - f_lin))
    stack = lambda key: torch.stack(rows[key])  # noqa: E731
    return GapBound(
        tuple(int(n) for n in widths),
        float(lr * steps),
        stack("gap"),
        stack("drive"),
        stack("bound"),
        stack("d"),
        stack("change"),
    )
