"""One figure style for every chapter: readable on a laptop screen, dark text, labelled axes."""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

STYLE = {
    "figure.figsize": (7.0, 4.2),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.labelsize": 12,
    "legend.fontsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "text.color": "#111111",
    "axes.labelcolor": "#111111",
    "xtick.color": "#111111",
    "ytick.color": "#111111",
    "axes.prop_cycle": mpl.cycler(color=["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]),
    "lines.linewidth": 1.8,
}


def use_style() -> None:
    """Apply the course's matplotlib style (call once at the top of a chapter)."""
    mpl.rcParams.update(STYLE)


def new_axes(ncols: int = 1, *, width: float = 7.0, height: float = 4.2, **kwargs: object):
    """A figure with ``ncols`` side-by-side axes sized for a laptop screen."""
    use_style()
    return plt.subplots(1, ncols, figsize=(width, height), layout="constrained", **kwargs)
