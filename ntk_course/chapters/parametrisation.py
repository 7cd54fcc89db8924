"""Remark 1 at work: the NTK parametrisation against the standard one, and the learning rate.

:func:`width_sweep` measures the empirical NTK at initialisation, and the largest stable learning
rate 2N / lambda_max it allows (:func:`ntk_course.max_stable_learning_rate`), for growing widths of
one :class:`~ntk_course.Architecture` (the NTK or the standard parametrisation); :func:`final_costs`
trains them at one fixed learning rate. (The learning-rate sweep of the catapult runs on the page of
the chapter ``beyond``; :mod:`.laziness` summarises it.)

The cost is the paper's, C = 1/(2N) sum_i ||f(x_i) - y_i||^2, and time is t = lr x steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch

from ..architecture import Architecture
from ..empirical import empirical_ntk
from ..spectral import max_stable_learning_rate
from ..training import train
from .plotting import new_axes

#: The default architecture of the scans: Architecture(depth=3) (frozen, so one shared instance).
DEFAULT_ARCH = Architecture(depth=3)


def _widths(widths: Sequence[int]) -> list[int]:
    """The hidden widths of a scan as ints (each is checked by ``Architecture.network``)."""
    sizes = [int(w) for w in widths]
    if not sizes:
        raise ValueError("widths must list at least one width (hidden layer size); got []")
    return sizes


@dataclass
class WidthSweep:
    """Empirical NTK at initialisation against the width (Remark 1).

    ``theta_diagonal`` (W,) is the mean of Theta(x_i, x_i) over the points and the ``ensemble``
    initialisations; ``lr_max`` (W,) the mean of 2N / lambda_max(Theta) over the initialisations.
    """

    widths: torch.Tensor
    theta_diagonal: torch.Tensor
    lr_max: torch.Tensor


def width_sweep(
    widths: Sequence[int],
    x: object,
    *,
    arch: Architecture = DEFAULT_ARCH,
    ensemble: int = 8,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> WidthSweep:
    """The empirical NTK at initialisation of the networks of ``arch`` of each hidden width w.

    In the NTK parametrisation (Section 2) Theta(x, x) tends to Theta_infinity(x, x) (Theorem 1); in
    the standard one (Remark 1: W ~ N(0, 1/n_l), b ~ N(0, beta^2), no factors in the forward pass)
    the gradient with respect to W^(l) is sqrt(n_l) times larger and that with respect to b^(l)
    1/beta times larger, so Theta grows linearly with the width and the stable learning rate shrinks
    like 1/width (eq. (eq-beyond-std-ntk) of the book).

    Parameters
    ----------
    widths : sequence of int
        Hidden widths w (W of them), drawn one after the other from one generator seeded with
        ``seed``.
    x : array (N, n_0)
        The points.
    arch : Architecture
        Depth, activation, beta and parametrisation.
    ensemble : int
        Networks per width.

    Returns
    -------
    WidthSweep
        Float32 networks on ``device`` (CPU by default); results float64 on the CPU.

    Raises
    ------
    ValueError
        For no width, and (from the library) a width < 1, ensemble < 1 or bad points.
    """
    sizes = _widths(widths)
    xt = torch.as_tensor(x).to(device or "cpu").float()
    g = torch.Generator(xt.device).manual_seed(seed)
    diag, lr = [], []
    for w in sizes:
        model = arch.network(xt.shape[1], w, ensemble=ensemble, generator=g, device=xt.device)
        k = empirical_ntk(model, xt).double()
        diag.append(k.diagonal(dim1=-2, dim2=-1).mean())
        lr.append(max_stable_learning_rate(k).mean())
    return WidthSweep(torch.tensor(sizes), torch.stack(diag).cpu(), torch.stack(lr).cpu())


def final_costs(
    widths: Sequence[int],
    x: object,
    y: object,
    *,
    lr: float,
    steps: int,
    arch: Architecture = DEFAULT_ARCH,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Cost C after ``steps`` steps of gradient descent at one fixed ``lr``, for each width (W,).

    A run whose cost overflows (gradient descent diverged) gives ``inf``. Shows Remark 1 in action:
    at a fixed learning rate the standard parametrisation stops training once the width pushes
    2N / lambda_max below the learning rate, while the NTK parametrisation does not care.

    Parameters
    ----------
    widths : sequence of int
        Hidden widths (W of them), drawn one after the other from one generator seeded with
        ``seed``.
    x, y : arrays (N, n_0) and (N,) or (N, 1)
        Training points and targets.
    lr, steps
        The learning rate (time t = lr x steps) and the number of steps.
    arch : Architecture
        Depth, activation, beta and parametrisation.

    Returns
    -------
    tensor (W,)
        Float64 final costs (``inf`` where training diverged).

    Raises
    ------
    ValueError
        For no width, y with another number of rows than x, and (from the library) a bad width,
        steps < 0, lr < 0 or bad points.
    """
    sizes = _widths(widths)
    xt = torch.as_tensor(x).to(device or "cpu").float()
    yt = torch.as_tensor(y).to(xt.device).float()
    if yt.shape[0] != xt.shape[0]:
        raise ValueError(
            f"y must have {xt.shape[0]} rows (one target per point of x); "
            f"got shape {tuple(yt.shape)}"
        )
    g = torch.Generator(xt.device).manual_seed(seed)
    out = []
    for w in sizes:
        model = arch.network(xt.shape[1], w, generator=g, device=xt.device)
        try:
            record = train(model, xt, yt, steps=steps, lr=lr, record_at=[steps])
            out.append(
                float(record.loss[-1]) if math.isfinite(float(record.loss[-1])) else math.inf
            )
        except ValueError as err:  # train() refuses to go on once the cost is not finite
            if "diverged" not in str(err):
                raise
            out.append(math.inf)
    return torch.tensor(out, dtype=torch.float64)


def plot_width_sweeps(
    sweeps: dict[str, WidthSweep],
    theta_inf: float,
    lr: float,
    axes: Sequence[plt.Axes] | None = None,
) -> Sequence[plt.Axes]:
    """Left: Theta(x, x) at initialisation against the width, per parametrisation, with the limit
    ``theta_inf``; right: lr_max = 2 / lambda_max(Theta / N) against the width, with a fixed
    ``lr``."""
    if axes is None:
        _, axes = new_axes(2, width=11)
    for (p, s), m in zip(sweeps.items(), "os^"):
        axes[0].loglog(s.widths, s.theta_diagonal, m + "-", label=f"{p} parametrisation")
        axes[1].loglog(s.widths, s.lr_max, m + "-", label=f"{p} parametrisation")
    axes[0].axhline(theta_inf, color="gray", ls=":", label=r"$\Theta_\infty(x, x)$")
    axes[1].axhline(lr, color="k", ls="--", lw=1, label=rf"a fixed $\eta = {lr:g}$")
    axes[0].set_ylabel(r"$\Theta(x, x)$ at initialisation")
    axes[1].set_ylabel(r"$\eta_{\max} = 2 / \lambda_{\max}(\Theta / N)$")
    for ax in axes:
        ax.set_xlabel("hidden width $n$")
        ax.legend()
    return axes
