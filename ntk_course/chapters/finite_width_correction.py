"""What the chapter "The first correction at finite width" runs: settings, scans and figures.

The computations are in :mod:`ntk_course.finite_width`; this module holds the page's settings per
scale, the two Monte Carlo scans (widths at depth 2, depths at a fixed width) and their figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..architecture import Architecture
from ..config import by_scale
from ..finite_width import ntk_variance_two_layer, sample_ntk
from .plotting import new_axes


@dataclass(frozen=True)
class Settings:
    """The page's sizes: widths and networks of each scan, depths and width of the depth scan."""

    widths: tuple[int, ...]
    ensemble: int
    depths: tuple[int, ...]
    depth_width: int
    depth_ensemble: int
    histogram_widths: tuple[int, ...] = ()  # the widget's widths; () for every width of the scan

    @property
    def widget_widths(self) -> tuple[int, ...]:
        """The widths the histogram widget shows."""
        return self.histogram_widths or self.widths

    @classmethod
    def for_scale(cls) -> Settings:
        """The settings of the current ``NTK_COURSE_SCALE``."""
        return by_scale(
            quick=cls((16, 64, 256), 800, (2, 4, 6, 8), 16, 1000, (16, 256)),
            default=cls(
                (8, 16, 32, 64, 128, 256, 512),
                6000,
                (2, 4, 6, 8, 10, 12),
                32,
                3000,
                (8, 32, 128, 512),
            ),
            paper=cls(
                (8, 16, 32, 64, 128, 256, 512, 1024), 20000, (2, 4, 6, 8, 10, 12, 16), 32, 20000
            ),
        )


def points() -> torch.Tensor:
    """Two points of the unit circle, at the angle 1 (radian) from each other, float64."""
    return torch.tensor([[1.0, 0.0], [math.cos(1.0), math.sin(1.0)]], dtype=torch.float64)


def width_scan(arch: Architecture, x: torch.Tensor, settings: Settings, seed: int = 0) -> list:
    """Theta_n on ``x`` for E networks of each width: a list of (E, N, N) tensors."""
    return [
        sample_ntk(arch, x, n, settings.ensemble, seed=seed + 1000 * k)
        for k, n in enumerate(settings.widths)
    ]


def depth_scan(x: torch.Tensor, settings: Settings, seed: int = 0) -> list:
    """Theta(x, x) of ReLU networks without biases (Hanin & Nica's setting) at each depth."""
    return [
        sample_ntk(
            Architecture(depth=d, activation="relu", beta=0.0),
            x[:1],
            settings.depth_width,
            settings.depth_ensemble,
            seed=seed + 1000 * d,
        )[:, 0, 0]
        for d in settings.depths
    ]


def plot_variance(ax, widths, stats: dict, v: dict, v_alt: dict) -> None:
    """n Var Theta_n / V against n for each pair (2 se bars), 1 (derived) and the alternatives.

    ``stats[k]`` is :func:`~ntk_course.finite_width.scaled_variance`'s result for the pair ``k``,
    ``v[k]`` and ``v_alt[k]`` the derived V and the one without E[(W^(1)_i)^4] = 3.
    """
    factor = {0: 0.94, 1: 1.06}
    for c, k in enumerate(stats):
        est, err = np.asarray(stats[k][0]), np.asarray(stats[k][1])
        x = np.asarray(widths, dtype=float) * factor.get(c, 1.0)
        ax.errorbar(
            x,
            est / v[k],
            yerr=2 * err / v[k],
            fmt="o",
            capsize=3,
            color=f"C{c}",
            label=f"measured at {k} (2 se)",
        )
        ax.axhline(
            v_alt[k] / v[k], color=f"C{c}", ls="--", label=rf"{k} if $E[(W^{{(1)}}_i)^4]$ were 1"
        )
    ax.axhline(1.0, color="k", lw=1.0, label="derived V")
    ax.set_xscale("log")
    ax.set_xticks(list(widths), [str(w) for w in widths])
    ax.minorticks_off()
    ax.set_xlabel("width $n$")
    ax.set_ylabel(r"$n\,\mathrm{Var}\,\Theta_n\,/\,V$")
    ax.legend(fontsize=8)


def plot_depths(ax, depths, width, log_ratios, fit, slope_hn: float = 5.0) -> None:
    """log(E[Theta^2]/E[Theta]^2) against L/n, the fitted line and Hanin & Nica's rate."""
    ratio = np.asarray(depths, dtype=float) / width
    ax.plot(ratio, log_ratios, "o", label="measured")
    grid = np.linspace(0.0, ratio.max(), 50)
    ax.plot(
        grid, fit.prefactor + fit.slope * grid, color="C1", label=f"fitted slope {fit.slope:.2f}"
    )
    ax.plot(
        grid,
        fit.prefactor + slope_hn * grid,
        color="C2",
        ls="--",
        label=f"slope {slope_hn:g} (Hanin & Nica, large depth)",
    )
    ax.set_xlabel("aspect ratio $L/n$")
    ax.set_ylabel(r"$\log(E[\Theta^2]/E[\Theta]^2)$ at $(x, x)$")
    ax.legend(fontsize=8)


def draw_histogram(samples: torch.Tensor, width: int, theta_inf: float, v: float, smallest: int):
    """Histogram of Theta_n(x, x) over the networks, with N(Theta_inf, V / n) beside it."""
    fig, ax = new_axes(width=7.0, height=3.8)
    s = np.asarray(samples)
    sd = math.sqrt(v / width)
    lo, hi = theta_inf - 4 * math.sqrt(v / smallest), theta_inf + 5 * math.sqrt(v / smallest)
    counts, edges = np.histogram(s, bins=np.linspace(lo, hi, 50), density=True)
    ax.stairs(counts, edges, fill=True, alpha=0.6, label=f"{len(s)} networks")
    grid = np.linspace(lo, hi, 400)
    ax.plot(
        grid,
        np.exp(-0.5 * ((grid - theta_inf) / sd) ** 2) / (sd * math.sqrt(2 * math.pi)),
        color="C1",
        label=r"normal law, mean $\Theta_\infty$, variance V/n",
    )
    ax.axvline(theta_inf, color="k", lw=0.8)
    ax.set_xlim(lo, hi)
    ax.set_xlabel(r"$\Theta_n(x, x)$")
    ax.set_ylabel("density")
    ax.set_title(f"width n = {width}: measured sd {s.std():.3f}, predicted {sd:.3f}")
    ax.legend(fontsize=8)
    return fig


def predicted(arch: Architecture, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(V, V with E[(W^(1)_i)^4] = 1) on the points ``x`` for ``arch`` of depth 2."""
    act = arch.activation if isinstance(arch.activation, str) else arch.activation.name
    v = ntk_variance_two_layer(x, activation=act, beta=arch.beta)
    return v, ntk_variance_two_layer(x, activation=act, beta=arch.beta, weight_fourth_moment=1.0)
