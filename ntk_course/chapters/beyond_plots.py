"""The figures of the chapter ``book/beyond.md`` (the limits of the kernel regime), out of the page.

The chapter runs its experiments on the page with library nouns and the helpers of
:mod:`.finite_width`, :mod:`.depth` and :mod:`.laziness`; this module only draws what they
measured:

* :func:`plot_finite_width_rates`: relative changes of the empirical NTK against the width, with
  their fitted slopes and the n^(-1/2) and 1/n guides (Section 3 of the chapter);
* :func:`plot_depth_profiles`: the normalised limiting NTK Theta(x_0, x) / Theta(x_0, x_0) on the
  circle for every depth, one panel per initialisation (Section 4);
* :func:`plot_condition_numbers`: the condition number of the Gram matrix against the depth;
* :func:`draw_lazy` and :func:`draw_depth`: the figures of the two widgets, the network and its
  first-layer weights at one output scale alpha (Section 2), the normalised kernels and the
  kernel-regression predictor at one depth (Section 4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..architecture import Architecture
from .depth import normalised_ntk
from .laziness import LazyTraining
from .plotting import new_axes


def plot_finite_width_rates(
    widths: torch.Tensor, curves: Mapping[str, torch.Tensor], slopes: Mapping[str, float]
):
    """Each curve (W, E) against ``widths`` (W,) on log-log axes: the mean over initialisations
    joined by a line and labelled with its fitted slope ``slopes[label]``, every initialisation a
    faint dot, and the guides 2.5 n^(-1/2) (dotted) and 8 / n (dashed). Returns the axes."""
    fig, ax = new_axes(width=11)
    for (label, data), m in zip(curves.items(), "os^"):
        (line,) = ax.loglog(
            widths, data.mean(1), m + "-", label=f"{label}, slope {slopes[label]:+.2f}"
        )
        ax.loglog(
            widths.repeat_interleave(data.shape[1]),
            data.flatten(),
            m,
            color=line.get_color(),
            alpha=0.25,
            ms=4,
        )
    n = widths.double()
    ax.loglog(n, 2.5 / n.sqrt(), "k:", lw=1, label=r"$\propto n^{-1/2}$")
    ax.loglog(n, 8.0 / n, "k--", lw=1, label=r"$\propto n^{-1}$")
    ax.set_xticks(n.tolist(), [str(int(w)) for w in n.tolist()])
    ax.set_yticks([0.003, 0.01, 0.03, 0.1, 0.3], ["0.003", "0.01", "0.03", "0.1", "0.3"])
    ax.minorticks_off()
    ax.set_xlabel("hidden width $n$")
    ax.set_ylabel("relative change")
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1))
    return ax


def plot_depth_profiles(
    gamma: torch.Tensor, profiles: Mapping[str, torch.Tensor], depths: Sequence[int]
):
    """One panel per initialisation: ``profiles[name]`` (D, M), the normalised NTK at the angles
    ``gamma`` (M,) for each depth of ``depths`` (D,), coloured from the shallowest to the deepest.
    Returns the axes."""
    fig, axes = new_axes(2, width=11)
    colors = plt.cm.viridis(np.linspace(0, 1, len(depths)))
    for ax, (title, prof) in zip(axes, profiles.items()):
        for _, row, c in zip(depths, prof.cpu(), colors):
            ax.plot(gamma.cpu(), row, color=c, lw=1.2)
        ax.set_title(title)
        ax.set_xlabel(r"angle $\gamma$ of $x$")
        ax.set_ylabel(r"$\Theta(x_0, x) / \Theta(x_0, x_0)$")
    norm = plt.Normalize(min(depths), max(depths))
    fig.colorbar(plt.cm.ScalarMappable(cmap="viridis", norm=norm), ax=axes, label="depth $L$")
    return axes


def plot_condition_numbers(depths: Sequence[int], cond: Mapping[str, torch.Tensor]):
    """cond(K) (D,) per initialisation against ``depths`` (D,) on a logarithmic axis, depth 1
    (singular on more than n_0 + 1 points) left out. Returns the axes."""
    fig, ax = new_axes()
    for (name, k), m in zip(cond.items(), "os"):
        ax.semilogy(depths[1:], k[1:], m + "-", label=f"{name} initialisation")
    ax.set_xlabel("depth $L$")
    ax.set_ylabel(r"condition number $\mathrm{cond}(\mathbf{K})$ of the Gram matrix")
    ax.legend()
    return ax


def draw_depth(
    depth: int,
    inits: Mapping[str, Architecture],
    predict: Callable[[Architecture, torch.Tensor, torch.Tensor], tuple[torch.Tensor, float]],
    x0: torch.Tensor,
    x_test: torch.Tensor,
    gamma_test: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
):
    """The depth widget's figure: for each architecture of ``inits`` (named "kind: weight variance
    v") at ``depth``, the normalised NTK Theta(x0, x) / Theta(x0, x0) on ``x_test`` (left, at the
    angles ``gamma_test``) and the predictor ``predict(arch, x, y)`` -> (f on ``x_test``, cond(K))
    from the training points ``x`` (N, 2), ``y`` (N, 1) (right). Returns the figure."""
    fig, axes = new_axes(2, width=11)
    xd, yd = x.double(), y.double()
    for name, a in inits.items():
        name = name.replace(": weight variance", " (variance") + ")"
        deep = a.replace(depth=depth)
        axes[0].plot(gamma_test.cpu(), normalised_ntk(deep, x0, x_test).cpu(), label=name)
        mean, cond_d = predict(deep, xd, yd)
        axes[1].plot(gamma_test.cpu(), mean.cpu(), label=rf"{name}, cond(K) = {cond_d:.0e}")
    axes[1].plot(torch.atan2(xd[:, 1], xd[:, 0]).cpu(), yd.cpu(), "ko", label="training points")
    axes[0].set_ylim(-1.05, 1.05)
    axes[0].set_ylabel(r"$\Theta(x_0, x) / \Theta(x_0, x_0)$")
    axes[1].set_ylabel(r"$\bar f_\infty(x(\gamma))$")
    axes[1].set_ylim(-0.4, 0.62)
    axes[0].legend(fontsize=9, loc="lower left")
    axes[1].legend(fontsize=9, loc="upper center", ncol=2)
    for ax in axes:
        ax.set_xlabel(r"angle $\gamma$")
    fig.suptitle(f"limiting NTK of depth {depth}")
    return fig


def draw_lazy(
    alpha: float, lazy: LazyTraining, gamma_test: torch.Tensor, x: torch.Tensor, y: torch.Tensor
):
    """The laziness widget's figure for the output scale ``alpha`` (one of ``lazy.alphas``): the
    trained function next to the frozen-kernel prediction on the test angles ``gamma_test`` with the
    training points ``x`` (N, 2), ``y`` (N, 1) (left), and the first-layer weights w_j in R^2 before
    and after training, each neuron's path a line (right). Returns the figure."""
    i = int((lazy.alphas.double().cpu() - alpha).abs().argmin())
    fig, axes = new_axes(2, width=11)
    axes[0].plot(gamma_test.cpu(), lazy.f_kernel, "k--", label=r"frozen kernel $\Theta_0$")
    axes[0].plot(gamma_test.cpu(), lazy.f_test[i], color="C0", label=rf"network, $\tau = {alpha}$")
    axes[0].plot(
        torch.atan2(x[:, 1], x[:, 0]).cpu(), y.cpu(), "o", color="C1", label="training points"
    )
    axes[0].set_xlabel(r"angle $\gamma$")
    axes[0].set_ylabel(r"$f(x(\gamma))$ after training")
    axes[0].legend(fontsize=9)
    w0, w1 = lazy.w_initial, lazy.w_final[i]
    axes[1].plot(
        torch.stack([w0[:, 0], w1[:, 0]]), torch.stack([w0[:, 1], w1[:, 1]]), color="0.55", lw=0.6
    )
    axes[1].plot(*w0.T, ".", color="0.45", label="$w_j$ at initialisation")
    axes[1].plot(*w1.T, ".", color="C1", label="$w_j$ after training")
    axes[1].set_xlabel("$w_{j1}$")
    axes[1].set_ylabel("$w_{j2}$")
    axes[1].set_aspect("equal", "datalim")
    axes[1].legend(fontsize=9)
    axes[1].set_title(
        f"first layer moved by {float(lazy.weight_change[i]):.0%}, "
        f"kernel by {float(lazy.kernel_drift[i]):.0%}"
    )
    return fig


__all__ = [
    "draw_depth",
    "draw_lazy",
    "plot_condition_numbers",
    "plot_depth_profiles",
    "plot_finite_width_rates",
]
