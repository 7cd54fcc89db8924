"""Remark 1 at work: the NTK parametrisation against the standard one, and the learning rate.

* :func:`width_sweep` measures the empirical NTK at initialisation, and the largest stable learning
  rate 2N / lambda_max it allows, for growing widths in the NTK and the standard parametrisation;
  :func:`max_stable_learning_rate` is that bound for one Gram matrix, and :func:`final_costs` trains
  at one fixed learning rate.
* :func:`learning_rate_sweep` trains copies of one network at multiples of 2N / lambda_max: below it
  the kernel regime, above it the catapult of Lewkowycz et al. (2020) or divergence.

The cost is the paper's, C = 1/(2N) sum_i ||f(x_i) - y_i||^2, and time is t = lr x steps.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .._checks import (
    as_inputs,
    finite_array,
    hidden_widths,
    non_negative,
    positive_int,
    seeded_generator,
)
from ..activations import Activation, Fn
from ..empirical import empirical_ntk
from ..mlp import NTKMLP, PARAMETRIZATIONS
from ..spectral import max_stable_learning_rate
from ..training import train


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
    depth: int = 3,
    parametrization: str = "ntk",
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    ensemble: int = 8,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> WidthSweep:
    """The empirical NTK at initialisation of networks [n_0, w, ..., w, 1] for each width w.

    In the NTK parametrisation (Section 2) Theta(x, x) tends to Theta_infinity(x, x) (Theorem 1); in
    the standard one (Remark 1: W ~ N(0, 1/n_l), b ~ N(0, beta^2), no factors in the forward pass) the
    gradient with respect to W^(l) is sqrt(n_l) times larger and that with respect to b^(l) 1/beta
    times larger, so Theta grows linearly with the width and the stable learning rate shrinks like
    1/width. ``depth`` counts weight layers; float32 networks on ``device`` (CPU by default), seeded.
    """
    sizes = hidden_widths(widths)
    depth = positive_int(depth, "depth", 2)
    if parametrization not in PARAMETRIZATIONS:
        raise ValueError(f"unknown parametrization {parametrization!r}; expected one of {PARAMETRIZATIONS}")
    ensemble = positive_int(ensemble, "ensemble")
    xt = as_inputs(x, "x").to(device or "cpu").float()
    g = seeded_generator(seed, xt.device)
    diag, lr = [], []
    for w in sizes:
        model = NTKMLP([xt.shape[1]] + [w] * (depth - 1) + [1], activation, beta,
                       parametrization=parametrization, ensemble=ensemble, generator=g, device=xt.device)
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
    depth: int = 3,
    parametrization: str = "ntk",
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Cost C after ``steps`` steps of gradient descent at one fixed ``lr``, for each width (W,).

    A run whose cost overflows (gradient descent diverged) gives ``inf``. Shows Remark 1 in action:
    at a fixed learning rate the standard parametrisation stops training once the width pushes
    2N / lambda_max below the learning rate, while the NTK parametrisation does not care.
    """
    sizes = hidden_widths(widths)
    depth = positive_int(depth, "depth", 2)
    steps = positive_int(steps, "steps")
    lr = non_negative(lr, "lr")
    xt = as_inputs(x, "x").to(device or "cpu").float()
    yt = finite_array(y, "y", ndims=(1, 2), rows=xt.shape[0], match="x", dtype=torch.float32, device=xt.device)
    g = seeded_generator(seed, xt.device)
    out = []
    for w in sizes:
        model = NTKMLP([xt.shape[1]] + [w] * (depth - 1) + [1], activation, beta,
                       parametrization=parametrization, generator=g, device=xt.device)
        try:
            record = train(model, xt, yt, steps=steps, lr=lr, record_at=[steps])
            out.append(float(record.loss[-1]) if math.isfinite(float(record.loss[-1])) else math.inf)
        except ValueError:  # train() refuses to go on once the cost is not finite
            out.append(math.inf)
    return torch.tensor(out, dtype=torch.float64)



@dataclass
class LearningRateSweep:
    """Gradient descent at learning rates lr = factor x 2N / lambda_max(Theta_0), one entry per factor (F,).

    ``lr_max`` is 2N / lambda_max(Theta_0) of the initial network; ``kernel_drift`` the relative change
    of its empirical NTK; ``top_eigenvalue_ratio`` lambda_max(Theta_T) / lambda_max(Theta_0); ``cost``
    the final cost. A diverged run (non-finite cost) has ``inf`` cost and NaN drift and ratio.
    """

    factors: torch.Tensor
    lr_max: float
    kernel_drift: torch.Tensor
    top_eigenvalue_ratio: torch.Tensor
    cost: torch.Tensor


def learning_rate_sweep(
    factors: Sequence[float],
    x: object,
    y: object,
    *,
    width: int = 512,
    depth: int = 3,
    steps: int = 200,
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> LearningRateSweep:
    """Train copies of ONE network at learning rates factor x 2N / lambda_max(Theta_0).

    Below factor 1 the linearised network converges and a wide network stays close to it (Theorem 2
    with t = lr x steps). Above 1 the linearised network diverges along the top eigenvector; a real
    network can instead move to a region where lambda_max is smaller and then converge, with a large
    change of its kernel (the "catapult" of Lewkowycz et al. 2020), and diverges for larger factors.
    """
    fs = finite_array(factors, "factors", ndims=(1,))
    if bool((fs <= 0).any()):
        raise ValueError(f"factors must be > 0; got {fs.tolist()}")
    width = positive_int(width, "width")
    depth = positive_int(depth, "depth", 2)
    steps = positive_int(steps, "steps")
    xt = as_inputs(x, "x").to(device or "cpu").float()
    yt = finite_array(y, "y", ndims=(1, 2), rows=xt.shape[0], match="x", dtype=torch.float32, device=xt.device)
    initial = NTKMLP([xt.shape[1]] + [width] * (depth - 1) + [1], activation, beta,
                     generator=seeded_generator(seed, xt.device), device=xt.device)
    k0 = empirical_ntk(initial, xt).double()
    top0 = torch.linalg.eigvalsh(k0)[-1]
    lr_max = float(max_stable_learning_rate(k0))
    drift, ratio, cost = [], [], []
    for f in fs.tolist():
        model = copy.deepcopy(initial)
        try:
            record = train(model, xt, yt, steps=steps, lr=f * lr_max, record_at=[steps])
        except ValueError:  # train() stops once the cost is not finite: diverged
            drift.append(math.nan), ratio.append(math.nan), cost.append(math.inf)
            continue
        k1 = empirical_ntk(model, xt).double()
        drift.append(float((k1 - k0).norm() / k0.norm()))
        ratio.append(float(torch.linalg.eigvalsh(k1)[-1] / top0))
        cost.append(float(record.loss[-1]))
    as_t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    return LearningRateSweep(fs.cpu(), lr_max, as_t(drift), as_t(ratio), as_t(cost))


