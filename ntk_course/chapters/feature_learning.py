"""Features that move and features that do not: the maximal-update (muP) parametrisation against the
NTK one.

Yang & Hu (2021) write a parametrisation of an MLP of width n by three exponents per layer: the
multiplier n^{-a} in front of the weights, their initial scale n^{-b}, and the learning rate n^{-c}.
Two choices that differ only by the symmetry (a, b, c) -> (a + s, b - s, c - 2s) train identically,
so every parametrisation can be written, as the paper's NTK parametrisation is, with all parameters
drawn N(0, 1) (b = 0). In that form:

* NTK (Section 2 of Jacot et al. 2018): multiplier 1/sqrt(n_l) on every W^(l), beta on every bias,
  one learning rate eta for every width.
* muP (Yang & Hu 2021, Table 3, shifted to b = 0): the same, except the output layer, whose weights
  carry 1/n_{L-1} instead of 1/sqrt(n_{L-1}) (and its bias beta/sqrt(n_{L-1})), and the learning
  rate is eta x n_{L-1}. At depth 2 this is the mean-field network
  f = (1/n) sum_j a_j sigma(h_j(x)) of Mei, Montanari & Nguyen (2018) and Chizat & Bach (2018),
  trained on the time scale that makes its neurons move by O(1).

:func:`feature_movement` trains ``Architecture(..., parametrization="ntk")`` and ``"mup"`` networks
(the library's :class:`~ntk_course.NTKMLP`, whose ``lr_scale`` is n_{L-1} in muP) at growing widths
and measures how far the last hidden layer's features and the tangent kernel move.

The cost is the paper's, C = 1/(2N) sum_i (f(x_i) - y_i)^2; in both parametrisations time is
t = eta x steps, eta the width-independent time step: gradient descent runs with the learning rate
lr = eta x ``model.lr_scale`` (eta x n_{L-1} in muP, eta in the NTK parametrisation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch

from ..architecture import Architecture
from ..empirical import empirical_ntk
from ..mlp import NTKMLP
from ..training import train
from .plotting import new_axes

#: The default architecture of the scans: Architecture(depth=2) (frozen, so one shared instance).
DEFAULT_ARCH = Architecture(depth=2)


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

    ``feature_change[p]`` (W, E): ||alpha_T - alpha_0||_F / ||alpha_0||_F of the last hidden layer
    on the training points; ``kernel_drift[p]`` (W, E): ||Theta_T - Theta_0||_F / ||Theta_0||_F of
    the empirical NTK on the training points; ``cost[p]`` (W, E) the final cost; ``output_scale[p]``
    (W,) the root mean square of f_0 on the training points (over points and members).
    ``w_initial[p]``, ``w_final[p]`` (K, n_0): the first-layer weight vectors w_j of K neurons of
    the first member at the widest width, before and after training.
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
    arch: Architecture = DEFAULT_ARCH,
    parametrizations: Sequence[str] = ("ntk", "mup"),
    steps: int = 200,
    eta: float = 1.0,
    ensemble: int = 8,
    neurons: int = 200,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> FeatureMovement:
    """Train ``ensemble`` networks of ``arch`` per width n and parametrisation for ``steps`` steps.

    Each parametrisation p runs ``arch.replace(parametrization=p)`` (``arch`` sets the depth,
    activation and beta) with the learning rate lr = eta x ``model.lr_scale``: eta in the NTK
    parametrisation and eta x n in muP, so both reach the time t = eta x steps and their tangent
    kernels move the function equally fast at initialisation. In the NTK parametrisation the
    features and the kernel move less and less as n grows (Theorem 2: by O(n^{-1/2}) for the
    features); in muP they move by an amount that tends to a non-zero limit.

    Parameters
    ----------
    widths : sequence of int
        The distinct hidden widths n (W of them).
    x : array (N, n_0)
        Training points; ``y`` (N,) or (N, 1) their targets.
    arch : Architecture
        Depth (>= 2: the features are the last hidden layer's), activation and beta.
    parametrizations : sequence of str
        Which parametrisations to train (of ``ntk_course.mlp.PARAMETRIZATIONS``).
    steps, eta, ensemble, neurons, seed
        Steps of gradient descent (>= 1), the time step eta, networks per width, how many
        first-layer weight vectors to keep for the figure, and the seed (width k is seeded with
        seed + 1000 k).

    Returns
    -------
    FeatureMovement
        Float32 networks on ``device`` (CPU by default); results on the CPU.

    Raises
    ------
    ValueError
        For repeated widths, an architecture without a hidden layer, no parametrisation, steps < 1,
        and (from the library) an unknown parametrisation, bad points or targets.
    """
    sizes = [int(n) for n in widths]
    if not sizes or len(set(sizes)) != len(sizes):
        raise ValueError(f"widths must be distinct hidden widths, at least one; got {sizes}")
    if arch.depth < 2:
        raise ValueError(
            f"the features are a hidden layer's: arch needs depth >= 2; got {arch.depth}"
        )
    if not parametrizations:
        raise ValueError(
            "parametrizations must name at least one parametrisation, e.g. ('ntk', 'mup')"
        )
    archs = {
        p: arch.replace(parametrization=p) for p in parametrizations
    }  # unknown names fail here
    if steps < 1:
        raise ValueError(f"steps must be an integer >= 1; got {steps}")
    xt = torch.as_tensor(x).to(device or "cpu").float()
    yt = torch.as_tensor(y).to(xt.device).float().reshape(len(y), -1)
    if yt.shape != (xt.shape[0], 1):
        raise ValueError(
            f"y must hold one target per point, {xt.shape[0]} rows to match x; "
            f"got {tuple(yt.shape)}"
        )
    out = FeatureMovement(torch.tensor(sizes), {}, {}, {}, {}, {}, {})
    for p, a in archs.items():
        change, drift, cost, scale = [], [], [], []
        for k, n in enumerate(sizes):
            g = torch.Generator(xt.device).manual_seed(seed + 1000 * k)
            model = a.network(xt.shape[1], n, ensemble=ensemble, generator=g, device=xt.device)
            a0, k0 = hidden_features(model, xt), empirical_ntk(model, xt)
            w0 = model.weights[0][0, :neurons].detach().clone()
            with torch.no_grad():
                scale.append(float(model(xt).double().square().mean().sqrt()))
            record = train(model, xt, yt, steps=steps, lr=eta * model.lr_scale, record_at=[steps])
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


def plot_feature_movement(
    result: FeatureMovement, axes: Sequence[plt.Axes] | None = None
) -> Sequence[plt.Axes]:
    """Left: the relative change of the features and of the tangent kernel against the width (the
    mean over the networks, and each network faintly), per parametrisation. Right: the first-layer
    weight vectors w_j of the widest networks before training and after, in each parametrisation
    (the networks of both start from the same draws)."""
    if axes is None:
        _, axes = new_axes(2, width=11, height=4.4)
    left, right = axes
    n = result.widths.double()
    styles = {"ntk": ("C0", "NTK"), "mup": ("C1", r"$\mu$P"), "standard": ("C2", "standard")}
    for p, (colour, name) in styles.items():
        if p not in result.feature_change:
            continue
        for values, marker, what in (
            (result.feature_change[p], "o-", "features"),
            (result.kernel_drift[p], "s--", "kernel"),
        ):
            left.loglog(n, values.mean(1), marker, color=colour, label=f"{name}: {what}")
            left.loglog(
                n.repeat_interleave(values.shape[1]),
                values.flatten(),
                marker[0],
                color=colour,
                alpha=0.2,
                ms=4,
            )
    left.set_xlabel("hidden width $n$")
    left.set_ylabel(r"relative change $\|A_T - A_0\|_F / \|A_0\|_F$")
    left.legend(fontsize=9)
    first = next(iter(result.w_initial.values()))
    right.plot(*first.T, ".", color="0.55", ms=4, label="$w_j$ at initialisation")
    for p, (colour, name) in styles.items():
        if p in result.w_final:
            w0, w1 = result.w_initial[p], result.w_final[p]
            right.plot(
                torch.stack([w0[:, 0], w1[:, 0]]),
                torch.stack([w0[:, 1], w1[:, 1]]),
                color=colour,
                lw=0.4,
                alpha=0.5,
            )
            right.plot(*w1.T, ".", color=colour, ms=4, label=f"$w_j$ after training, {name}")
    right.set_xlabel("$w_{j1}$")
    right.set_ylabel("$w_{j2}$")
    right.set_aspect("equal", "datalim")
    right.set_title(f"first layer, width {int(result.widths[-1]):,}")
    right.legend(fontsize=9)
    return axes


__all__ = [
    "FeatureMovement",
    "feature_movement",
    "hidden_features",
    "plot_feature_movement",
    "relative_change",
]
