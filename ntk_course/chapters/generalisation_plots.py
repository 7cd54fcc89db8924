"""Generalisation on MNIST with the limiting kernels: the figures of ``book/generalisation.md``.

Kernel regression with the NTK Theta_infinity and the NNGP Sigma is the t -> infinity limit of the
least-squares flow (Section 5 of Jacot, Gabriel & Hongler 2018); finite networks follow the flow
as their width grows (Theorem 2). This module draws what :mod:`.generalisation` measures: the
learning curve with its power-law fits (:func:`plot_learning_curve`), the accuracy against the
depth (:func:`plot_depths`) and against the width (:func:`plot_widths`), early stopping against
the ridge (:func:`plot_early_stopping`), and the widget's confusion counts and misclassified
digits (:func:`draw_errors`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .plotting import label_values, new_axes

if TYPE_CHECKING:
    from ..power_laws import PowerLaw
    from .generalisation import Curve, NetworkRun, Settings


def plot_learning_curve(
    curve: Curve,
    fits: dict[str, PowerLaw],
    ax=None,
    extend_to: int = 50_000,
    reference: tuple[float, str] | None = (0.9875, "Lee et al. (2018): NNGP, 98.75 %"),
):
    """Test error against N on log-log axes, with binomial error bars and the power-law fits
    extended to ``extend_to`` training points; ``reference`` (accuracy, label) draws a published
    accuracy as a horizontal line (by default the ReLU NNGP of Lee et al. 2018, Table 1, trained on
    50,000 MNIST digits)."""
    if ax is None:
        _, ax = new_axes()
    m = curve.labels_test.shape[0]
    n_fit = np.geomspace(min(curve.sizes), extend_to, 50)
    for (name, fit), colour in zip(fits.items(), ("C0", "C1")):
        err = (1 - curve.accuracy(name)).numpy()
        ax.errorbar(
            curve.sizes,
            err,
            yerr=np.sqrt(err * (1 - err) / m),
            fmt="o",
            color=colour,
            capsize=3,
            label=f"{name} kernel regression",
        )
        ax.plot(
            n_fit,
            fit(torch.tensor(n_fit)).numpy(),
            "--",
            color=colour,
            lw=1.2,
            label=f"{name}: fit $\\propto N^{{{fit.slope:.2f}}}$, extended",
        )
    if reference is not None:
        ax.axhline(1 - reference[0], color="0.4", lw=1, ls=":", label=reference[1])
    ax.axvline(extend_to, color="0.4", lw=1, ls="-.", label=f"N = {extend_to:,}")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="training digits $N$",
        ylabel=f"test error on {m:,} digits",
    )
    ax.legend()
    return ax


def plot_depths(scan: dict[int, Curve], ax=None):
    """Test accuracy against the depth L at the scan's largest N, with binomial error bars."""
    if ax is None:
        _, ax = new_axes()
    depths = sorted(scan)
    curve = scan[depths[0]]
    m = curve.labels_test.shape[0]
    for name, marker, shift in (("NTK", "o", -0.06), ("NNGP", "s", 0.06)):
        acc = np.array([scan[d].accuracy(name)[-1].item() for d in depths])
        ax.errorbar(
            np.array(depths) + shift,
            acc,
            yerr=np.sqrt(acc * (1 - acc) / m),
            fmt=marker + "-",
            capsize=3,
            label=f"{name} kernel regression",
        )
    ax.set(
        xlabel="depth $L$ (weight layers)",
        ylabel=f"test accuracy on {m:,} digits",
        xticks=depths,
        title=f"N = {max(curve.sizes):,} training digits",
    )
    ax.legend()
    return ax


def plot_widths(run: NetworkRun, settings: Settings, ax=None):
    """Test accuracy at t = lr x steps against the width: each network, their mean, and the kernel
    flow."""
    if ax is None:
        _, ax = new_axes()
    widths = sorted(run.networks)
    final = torch.stack([run.networks[w][:, -1] for w in widths])  # (W, E)
    for e in range(final.shape[1]):
        ax.plot(
            widths,
            final[:, e],
            "o",
            color="C0",
            alpha=0.45,
            ms=5,
            label="one network" if e == 0 else None,
        )
    ax.plot(widths, final.mean(1), "-", color="C0", label=f"mean of {final.shape[1]} networks")
    t = run.t[-1].item()
    ax.axhline(
        run.kernel[-1].item(), color="C1", ls="--", label=f"kernel flow at the same $t = {t:g}$"
    )
    ax.axhline(run.kernel_limit, color="C2", ls=":", label="kernel regression ($t = \\infty$)")
    ax.set(
        xscale="log",
        xlabel="width $n$ of the hidden layer",
        ylabel="test accuracy",
        title=f"depth {settings.net_depth}, {settings.n_net:,} training digits, "
        f"lr {settings.lr:g}, {settings.steps} steps",
    )
    label_values(ax, widths)
    ax.legend(loc="lower right")
    return ax


def plot_early_stopping(t: torch.Tensor, results: dict[str, dict[str, torch.Tensor]], ax=None):
    """Test accuracy of the flow along t (solid) and of the ridge zeta = 1/t (dashed), one colour
    per label set; a star at the time chosen on the validation digits (``res["chosen"]``), or at the
    best test accuracy when there is none."""
    if ax is None:
        _, ax = new_axes()
    for (label, res), colour in zip(results.items(), ("C0", "C1", "C2")):
        ax.plot(t, res["flow"], "-", color=colour, label=f"flow at time $t$, {label}")
        ax.plot(t, res["ridge"], "--", color=colour, lw=1.2, label=f"ridge $\\zeta = 1/t$, {label}")
        best = int(res.get("chosen", res["flow"].argmax()))  # validated if known
        ax.plot(t[best], res["flow"][best], "*", color=colour, ms=12)
    ax.set(xscale="log", xlabel="training time $t$ (ridge $1/\\zeta$)", ylabel="test accuracy")
    ax.legend(loc="lower right")
    return ax


def draw_errors(curve: Curve, size: int, images: torch.Tensor, depth: int, shown: int = 12):
    """The widget's figure: the confusion counts of NTK regression after ``size`` training digits,
    and the first ``shown`` misclassified test digits (true -> predicted)."""
    i = curve.sizes.index(size)
    pred, true = curve.predicted["NTK"][i].cpu(), curve.labels_test.cpu()
    fig, (left, right) = new_axes(2, width=10, height=4.4, gridspec_kw={"width_ratios": [1, 1.25]})
    counts = torch.zeros(10, 10, dtype=torch.int64).index_put_(
        (true, pred), torch.ones_like(true), accumulate=True
    )
    counts.fill_diagonal_(0)
    left.imshow(counts.numpy(), cmap="Reds", vmin=0)
    for (a, b), c in np.ndenumerate(counts.numpy()):
        if c:
            left.text(
                b,
                a,
                str(c),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if c > counts.max() / 2 else "black",
            )
    left.set(xlabel="predicted digit", ylabel="true digit", xticks=range(10), yticks=range(10))
    left.grid(False)
    from .generalisation import KERNELS  # not at the top: generalisation re-exports this module

    accs = ", ".join(f"{n} {curve.accuracy(n)[i].item():.1%}" for n in KERNELS)
    left.set_title(f"errors: {int(counts.sum())} of {len(true):,}\n({accs})", fontsize=11)
    wrong = (pred != true).nonzero()[:shown, 0]
    cols = shown // 2
    tile = np.zeros(
        (2 * 42, cols * 30)
    )  # cells of 30 x 42 pixels: the digit, and room for its caption
    pix = images.reshape(-1, 28, 28).cpu().numpy()
    for k, j in enumerate(wrong.tolist()):
        r, c = divmod(k, cols)
        tile[r * 42 + 1 : r * 42 + 29, c * 30 + 1 : c * 30 + 29] = pix[j] / pix[j].max()
        right.text(
            c * 30 + 15,
            r * 42 + 30,
            f"{int(true[j])}$\\to${int(pred[j])}",
            ha="center",
            va="top",
            fontsize=10,
        )
    right.imshow(tile, cmap="gray_r", extent=(0, cols * 30, 2 * 42, 0))
    right.set_axis_off()
    right.set_title(
        f"misclassified test digits (true $\\to$ predicted)\nNTK, depth {depth}, N = {size:,}",
        fontsize=11,
    )
    return fig


__all__ = [
    "draw_errors",
    "plot_depths",
    "plot_early_stopping",
    "plot_learning_curve",
    "plot_widths",
]
