"""One figure style for every chapter: readable on a laptop screen, dark text, labelled axes."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter

__all__ = ["COLUMN_WIDTH_INCHES", "PALETTE", "STYLE", "new_axes", "share_limits", "use_style"]

# Okabe & Ito's colour-blind-safe palette (Color Universal Design, 2008), in their order: blue,
# vermillion, bluish green, reddish purple, black, then their orange and sky blue darkened so that
# every line has at least 3:1 contrast on white (WCAG 2 non-text contrast; the original orange
# #E69F00 and sky blue #56B4E9 have 2.2:1 and 2.3:1). Neighbours in the cycle stay apart for
# deuteranopes, protanopes and tritanopes: C1 (vermillion) and C2 (bluish green) differ in
# lightness and in blue, where red and green of matplotlib's default cycle do not.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#000000", "#B07800", "#3A8FC4"]

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
    "axes.prop_cycle": mpl.cycler(color=PALETTE),
    "lines.linewidth": 1.8,
}


def use_style() -> None:
    """Apply the course's matplotlib style (call once at the top of a chapter)."""
    mpl.rcParams.update(STYLE)


# The website's text column is about 757 px wide on a laptop (1366 px screen), that is 6.9 inches
# at the inline dpi of 110: a wider figure is shrunk to fit, and its text with it. At width W the
# 12 pt labels appear at 12 * 6.9 / W pt, so past about 11.5 inches (60 %) they are too small to
# read; tests/test_website.py fails such figures. Give panels of a wide figure their own rows.
COLUMN_WIDTH_INCHES = 6.9


def new_axes(
    ncols: int = 1, *, nrows: int = 1, width: float = 7.0, height: float = 4.2, **kwargs: object
):
    """A figure with ``nrows`` x ``ncols`` axes sized for a laptop screen.

    Keep ``width`` at most about 11 inches (two panels side by side): the website shows every
    figure in a column of ``COLUMN_WIDTH_INCHES`` and shrinks wider ones, text included. For three
    or more panels use ``nrows`` (``height`` is the height of the whole figure).
    """
    use_style()
    return plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained", **kwargs)


def share_limits(figures: list[plt.Figure]) -> None:
    """Give every figure the same axis limits: the union of theirs, axes matched by position.

    The frames of an interactive figure (``ntk_course.chapters.widgets``) use it, so that a
    reference drawn in every frame (a limiting kernel, a covariance ellipse) stays in place while
    the rest moves. Colour bars, axes of another kind or scale, and sets of figures with different
    numbers of axes keep their own limits; an inverted axis stays inverted.

    Parameters
    ----------
    figures : list of matplotlib.figure.Figure
        Figures drawn alike (same layout of axes), modified in place.
    """
    count = {len(f.axes) for f in figures}
    if len(count) != 1:
        return
    for position in range(count.pop()):
        axes = [f.axes[position] for f in figures]
        if any(hasattr(a, "_colorbar") or a.name != axes[0].name for a in axes):
            continue
        for get, put, kind in (
            ("get_xlim", "set_xlim", "get_xscale"),
            ("get_ylim", "set_ylim", "get_yscale"),
        ):
            if len({getattr(a, kind)() for a in axes}) != 1:
                continue
            limits = [getattr(a, get)() for a in axes]
            flipped = limits[0][0] > limits[0][1]
            low = [min(lim) for lim in limits]
            high = [max(lim) for lim in limits]
            pair = (min(low), max(high))
            for a in axes:
                getattr(a, put)(pair[::-1] if flipped else pair)


def label_values(ax: plt.Axes, values: object) -> None:
    """Label a log-scaled x axis at ``values`` only (the sizes or widths of an experiment), written
    as numbers; the minor labels a log axis adds (2 x 10^2, 3 x 10^2, ...) would overlap them.

    Parameters
    ----------
    ax : matplotlib Axes
        An axes whose x axis is log-scaled.
    values : sequence of numbers
        Where to put the labels.
    """
    values = [float(v) for v in values]
    ax.set_xticks(values, [f"{v:g}" for v in values])
    ax.xaxis.set_minor_formatter(NullFormatter())
