"""Figure 3 of Jacot, Gabriel & Hongler (2018), Section 6.3: the three panels.

Figure 3a places the digits at (f^(i)(x), f^(j)(x)), two kernel principal components of
Pi = Theta/N (:func:`plot_components`); 3b draws the deviation ||g_perp_t||_{p_in} (the paper's
h_t) from the straight line (:func:`plot_deviation`) and 3c the convergence ||g_t||_{p_in} along
f^(i) against the limit a exp(-lam_i t) (:func:`plot_convergence`), for each width and run of a
:class:`.Figure3Result`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import torch

from .plotting import PALETTE, new_axes

if TYPE_CHECKING:
    from .figure3 import Figure3Result
    from .figure3_pca import DigitsPCA


def _axes(ax: plt.Axes | None, width: float = 7.0, height: float = 4.2) -> plt.Axes:
    if ax is not None:
        return ax
    _, ax = new_axes(width=width, height=height)
    return ax


def plot_components(
    result: Figure3Result | DigitsPCA, ax: plt.Axes | None = None, *, i: int = 2, j: int = 3
) -> plt.Axes:
    """Figure 3a: the digits at (f^(i)(x), f^(j)(x)), coloured by their label (default: 2nd and
    3rd).

    ``result`` is a :class:`Figure3Result` or a :class:`DigitsPCA` (anything with ``components``
    (N, K) and ``labels`` (N,)).
    """
    k = result.components.shape[1]
    for name, c in (("i", i), ("j", j)):
        if not 1 <= c <= k:
            raise ValueError(f"{name} must lie in [1, {k}], the components kept; got {c}")
    ax = _axes(ax, 6.0, 5.0)
    markers = "o^sDv<>pXP"  # ten digits, seven colours: the marker tells the repeated colours apart
    for d in range(10):
        sel = result.labels == d
        if bool(sel.any()):
            ax.scatter(
                result.components[sel, i - 1],
                result.components[sel, j - 1],
                s=14,
                color=PALETTE[d % len(PALETTE)],
                marker=markers[d],
                label=str(d),
                alpha=0.85,
            )
    ax.set_xlabel(f"$f^{{({i})}}(x)$")
    ax.set_ylabel(f"$f^{{({j})}}(x)$")
    ax.legend(
        title="digit", loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, markerscale=1.5
    )
    ax.set_title(f"Kernel PCA of {result.components.shape[0]} digits")
    return ax


def _width_colors(widths: list[int]) -> dict[int, object]:
    """One palette colour per width, after the limit's (PALETTE[0])."""
    rest = PALETTE[1:]
    return {n: rest[k % len(rest)] for k, n in enumerate(sorted(widths))}


def _curves(result: Figure3Result, values: dict[int, torch.Tensor], ax: plt.Axes) -> None:
    colors = _width_colors(list(values))
    for n in sorted(values):
        for e, curve in enumerate(values[n]):
            ax.plot(
                result.t, curve, color=colors[n], lw=1.4, label=f"$n = {n:,}$" if e == 0 else None
            )
    ax.set_xlabel("$t$")


def plot_deviation(result: Figure3Result, ax: plt.Axes | None = None) -> plt.Axes:
    """Figure 3b: ||g_perp_t||_{p_in} (the paper's h_t), the distance from the straight line, for
    each width and run."""
    ax = _axes(ax)
    _curves(result, result.h_norm, ax)
    ax.axhline(0.0, color=PALETTE[0], lw=2, label=r"$n = \infty$")
    ax.set_ylabel(r"$\|g^\perp_t\|_{p^{in}}$")
    ax.set_title("Deviation from the straight line")
    ax.legend()
    return ax


def plot_convergence(result: Figure3Result, ax: plt.Axes | None = None) -> plt.Axes:
    """Figure 3c: ||g_t||_{p_in} along f^(i) for each width and run, and the limit a exp(-lam_i
    t)."""
    ax = _axes(ax)
    _curves(result, result.g_norm, ax)
    tt = torch.linspace(0, float(result.t[-1]), 400, dtype=torch.float64)
    ax.plot(
        tt,
        result.limit(tt),
        color=PALETTE[0],
        lw=2.2,
        ls="--",
        label=rf"$n = \infty$: ${result.settings.amplitude:g}\,"
        rf"e^{{-\lambda_{result.settings.component} t}}$",
    )
    ax.set_ylabel(r"$\|g_t\|_{p^{in}}$")
    ax.set_title(f"Convergence along $f^{{({result.settings.component})}}$")
    ax.legend()
    return ax


__all__ = ["plot_components", "plot_convergence", "plot_deviation"]
