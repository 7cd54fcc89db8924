"""Features that move and features that do not: the maximal-update (muP) parametrisation against the NTK one.

Yang & Hu (2021) write a parametrisation of an MLP of width n by three exponents per layer: the
multiplier n^{-a} in front of the weights, their initial scale n^{-b}, and the learning rate n^{-c}.
Two choices that differ only by the symmetry (a, b, c) -> (a + s, b - s, c - 2s) train identically, so
every parametrisation can be written, as the paper's NTK parametrisation is, with all parameters drawn
N(0, 1) (b = 0). In that form:

* NTK (Section 2 of Jacot et al. 2018): multiplier 1/sqrt(n_l) on every W^(l), beta on every bias,
  one learning rate eta for every width.
* muP (Yang & Hu 2021, Table 3, shifted to b = 0): the same, except the output layer, whose weights
  carry 1/n_{L-1} instead of 1/sqrt(n_{L-1}) (and its bias beta/sqrt(n_{L-1})), and the learning rate
  is eta x n_{L-1}. At depth 2 this is the mean-field network f = (1/n) sum_j a_j sigma(h_j(x)) of
  Mei, Montanari & Nguyen (2018) and Chizat & Bach (2018), trained on the time scale that makes its
  neurons move by O(1).

:class:`MuPMLP` is that network (an :class:`~ntk_course.mlp.NTKMLP` with the output multipliers
changed, so the library's forward pass, structured empirical NTK and :func:`~ntk_course.training.train`
apply unchanged); :func:`feature_movement` trains both parametrisations at growing widths and measures
how far the last hidden layer's features and the tangent kernel move.

The cost is the paper's, C = 1/(2N) sum_i (f(x_i) - y_i)^2; in both parametrisations time is
t = eta x steps, eta the width-independent learning rate (muP trains with eta x n_{L-1}).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
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
from ..mlp import NTKMLP
from ..training import train
from .plotting import new_axes

PARAMETRISATIONS = ("ntk", "mup")


class MuPMLP(NTKMLP):
    """An MLP [n_0, n_1, ..., n_{L-1}, 1] in the maximal-update parametrisation, all parameters N(0, 1).

    h^(l+1) = W^(l) alpha^(l) / sqrt(n_l) + beta b^(l) for l < L - 1 (as the NTK parametrisation), and
    f = W^(L-1) alpha^(L-1) / n_{L-1} + beta b^(L-1) / sqrt(n_{L-1}) for the output. Train it with the
    learning rate ``eta * lr_scale`` (``lr_scale`` = n_{L-1}): then its tangent kernel times the
    learning rate, the quantity that moves the function, has the same size as the NTK
    parametrisation's, while f at initialisation is O(n^{-1/2}) and the features move by O(1).
    """

    def __init__(
        self,
        widths: Sequence[int],
        activation: str | Activation | Fn = "relu",
        beta: float = 0.1,
        *,
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(widths, activation, beta, parametrization="ntk", ensemble=ensemble,
                         generator=generator, dtype=dtype, device=device)
        if self.depth < 2:
            raise ValueError(f"a muP network needs a hidden layer (depth >= 2); got widths {self.widths}")
        self.parametrization = "mup"

    @property
    def lr_scale(self) -> int:
        """n_{L-1}: the factor between the learning rate of gradient descent and the time step eta."""
        return self.widths[-2]

    def scales(self, layer: int) -> tuple[float, float]:
        """The factors (on W^(l), on b^(l)): the NTK parametrisation's, with 1/n and beta/sqrt(n) at the output."""
        n = self.widths[layer]
        if layer == self.depth - 1:
            return 1.0 / n, self.beta / math.sqrt(n)
        return 1.0 / math.sqrt(n), self.beta


def network(
    parametrization: str,
    widths: Sequence[int],
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    **kwargs: object,
) -> tuple[NTKMLP, float]:
    """The network of ``parametrization`` ("ntk" or "mup") and the factor its learning rate carries."""
    if parametrization not in PARAMETRISATIONS:
        raise ValueError(f"unknown parametrization {parametrization!r}; expected one of {PARAMETRISATIONS}")
    if parametrization == "mup":
        model = MuPMLP(widths, activation, beta, **kwargs)
        return model, float(model.lr_scale)
    return NTKMLP(widths, activation, beta, **kwargs), 1.0


def hidden_features(model: NTKMLP, x: torch.Tensor) -> torch.Tensor:
    """alpha^(L-1)(x), the last hidden layer's activations: (N, n_{L-1}), or (E, N, n_{L-1})."""
    with torch.no_grad():
        return model.forward_cache(x).activations[-1].clone()


def relative_change(after: torch.Tensor, before: torch.Tensor, ensemble: bool) -> torch.Tensor:
    """||after - before||_F / ||before||_F, per ensemble member when ``ensemble``."""
    d, b = (after - before).double(), before.double()
    if ensemble:
        return d.flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1)
    return d.norm() / b.norm()


@dataclass
class FeatureMovement:
    """What training did to the networks of each width, for each parametrisation.

    ``feature_change[p]`` (W, E): ||alpha_T - alpha_0||_F / ||alpha_0||_F of the last hidden layer on the
    training points; ``kernel_drift[p]`` (W, E): ||Theta_T - Theta_0||_F / ||Theta_0||_F of the
    empirical NTK on the training points; ``cost[p]`` (W, E) the final cost; ``output_scale[p]`` (W,)
    the root mean square of f_0 on the training points (over points and members). ``w_initial[p]``,
    ``w_final[p]`` (K, n_0): the first-layer weight vectors w_j of K neurons of the first member at
    the widest width, before and after training.
    """

    widths: torch.Tensor
    feature_change: dict[str, torch.Tensor]
    kernel_drift: dict[str, torch.Tensor]
    cost: dict[str, torch.Tensor]
    output_scale: dict[str, torch.Tensor]
    w_initial: dict[str, torch.Tensor]
    w_final: dict[str, torch.Tensor]


def feature_movement(
    widths: Sequence[int],
    x: object,
    y: object,
    *,
    parametrizations: Sequence[str] = PARAMETRISATIONS,
    depth: int = 2,
    steps: int = 200,
    eta: float = 1.0,
    ensemble: int = 8,
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    neurons: int = 200,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> FeatureMovement:
    """Train ``ensemble`` networks [n_0, n, ..., n, 1] per width n and parametrisation for ``steps`` steps.

    The learning rate is ``eta`` in the NTK parametrisation and ``eta * n`` in muP, so both reach the
    time t = eta x steps and their tangent kernels move the function equally fast at initialisation.
    In the NTK parametrisation the features and the kernel move less and less as n grows (Theorem 2:
    by O(n^{-1/2}) for the features); in muP they move by an amount that tends to a non-zero limit.
    Float32 on ``device`` (CPU by default); each width is seeded separately from ``seed``.
    """
    sizes = hidden_widths(widths, distinct=True)
    for p in parametrizations:
        if p not in PARAMETRISATIONS:
            raise ValueError(f"unknown parametrization {p!r}; expected some of {PARAMETRISATIONS}")
    if not parametrizations:
        raise ValueError(f"parametrizations must name at least one of {PARAMETRISATIONS}")
    depth = positive_int(depth, "depth", 2)
    steps = positive_int(steps, "steps")
    eta = non_negative(eta, "eta")
    ensemble = positive_int(ensemble, "ensemble")
    neurons = positive_int(neurons, "neurons")
    seed = positive_int(seed, "seed", 0)
    xt = as_inputs(x, "x").to(device or "cpu").float()
    yt = finite_array(y, "y", ndims=(1, 2), rows=xt.shape[0], match="x", dtype=torch.float32, device=xt.device)
    yt = yt[:, None] if yt.ndim == 1 else yt
    if yt.shape[1] != 1:
        raise ValueError(f"y must hold one output per point, shape (N,) or (N, 1); got {tuple(yt.shape)}")
    out = FeatureMovement(torch.tensor(sizes), {}, {}, {}, {}, {}, {})
    for p in parametrizations:
        change, drift, cost, scale = [], [], [], []
        for k, n in enumerate(sizes):
            model, factor = network(p, [xt.shape[1]] + [n] * (depth - 1) + [1], activation, beta, ensemble=ensemble,
                                    generator=seeded_generator(seed + 1000 * k, xt.device), device=xt.device)
            a0, k0 = hidden_features(model, xt), empirical_ntk(model, xt)
            w0 = model.weights[0][0, :neurons].detach().clone()
            with torch.no_grad():
                scale.append(float(model(xt).double().square().mean().sqrt()))
            record = train(model, xt, yt, steps=steps, lr=eta * factor, record_at=[steps])
            change.append(relative_change(hidden_features(model, xt), a0, True))
            drift.append(relative_change(empirical_ntk(model, xt), k0, True))
            cost.append(record.loss[-1].double())
        out.feature_change[p] = torch.stack(change).cpu()
        out.kernel_drift[p] = torch.stack(drift).cpu()
        out.cost[p] = torch.stack(cost).cpu()
        out.output_scale[p] = torch.tensor(scale, dtype=torch.float64)
        out.w_initial[p] = w0.cpu()
        out.w_final[p] = model.weights[0][0, :neurons].detach().cpu()
    return out


def plot_feature_movement(result: FeatureMovement, axes: Sequence[plt.Axes] | None = None) -> Sequence[plt.Axes]:
    """Left: the relative change of the features and of the tangent kernel against the width (the mean
    over the networks, and each network faintly), per parametrisation. Right: the first-layer weight
    vectors w_j of the widest networks before training and after, in each parametrisation (the
    networks of both start from the same draws)."""
    if axes is None:
        _, axes = new_axes(2, width=11, height=4.4)
    left, right = axes
    n = result.widths.double()
    styles = {"ntk": ("C0", "NTK"), "mup": ("C1", r"$\mu$P")}
    for p, (colour, name) in styles.items():
        if p not in result.feature_change:
            continue
        for values, marker, what in ((result.feature_change[p], "o-", "features"), (result.kernel_drift[p], "s--", "kernel")):
            left.loglog(n, values.mean(1), marker, color=colour, label=f"{name}: {what}")
            left.loglog(n.repeat_interleave(values.shape[1]), values.flatten(), marker[0], color=colour, alpha=0.2, ms=4)
    left.set_xlabel("hidden width $n$")
    left.set_ylabel(r"relative change $\|A_T - A_0\|_F / \|A_0\|_F$")
    left.legend(fontsize=9)
    first = next(iter(result.w_initial.values()))
    right.plot(*first.T, ".", color="0.55", ms=4, label="$w_j$ at initialisation")
    for p, (colour, name) in styles.items():
        if p in result.w_final:
            w0, w1 = result.w_initial[p], result.w_final[p]
            right.plot(torch.stack([w0[:, 0], w1[:, 0]]), torch.stack([w0[:, 1], w1[:, 1]]), color=colour, lw=0.4, alpha=0.5)
            right.plot(*w1.T, ".", color=colour, ms=4, label=f"$w_j$ after training, {name}")
    right.set_xlabel("$w_{j1}$")
    right.set_ylabel("$w_{j2}$")
    right.set_aspect("equal", "datalim")
    right.set_title(f"first layer, width {int(result.widths[-1]):,}")
    right.legend(fontsize=9)
    return axes


__all__ = ["PARAMETRISATIONS", "FeatureMovement", "MuPMLP", "feature_movement", "hidden_features", "network",
           "plot_feature_movement", "relative_change"]
