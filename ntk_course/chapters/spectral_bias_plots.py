"""Spectral bias on the circle: the figures and the widget of ``book/spectral_bias.md``.

Jacot, Gabriel & Hongler (2018), Section 5: the flow learns the k-th Fourier mode of the target at
the rate lambda_k, the eigenvalue of Pi = Theta/N for frequency k, and Theorem 2 keeps wide networks
close to it. This module draws the kernel's eigenvalues mu_k on the circle and the sphere
(:func:`plot_spectra`), the residual's coefficients p_k(t) of the networks against the limit
(:func:`plot_decay`) and the learned functions (:func:`plot_functions`) of a
:class:`.SpectralBiasResult`, and the widget that filters frequencies by 1/t
(:class:`FilterFigure`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import torch

from ..datasets import circle_points
from ..flow import gradient_flow
from ..harmonics import circulant_eigenvalues
from .plotting import new_axes
from .spectral_bias_settings import FINE, SpectralBiasSettings, target

if TYPE_CHECKING:
    from .spectral_bias import SpectralBiasResult


def plot_decay(result: SpectralBiasResult, ax: plt.Axes | None = None) -> plt.Axes:
    """p_k(t) against log t: gradient descent on Theta_infinity (thick), each network (thin) and the
    exact flow e^{-lambda_k t} (dotted)."""
    if ax is None:
        _, ax = new_axes()
    t = result.t[1:]
    for f, (k, lam) in enumerate(zip(result.settings.frequencies, result.lam.tolist())):
        colour, lim = f"C{f}", result.limit[1:, f]
        ax.plot(t, result.network[1:, :, f], color=colour, lw=0.6, alpha=0.6)
        ax.plot(t, lim, color=colour, lw=2.5, label=rf"$k = {k}$, $\lambda_{k} = {lam:.4f}$")
        ax.plot(t, result.flow[1:, f], color="k", ls=":", lw=1)
    ax.plot([], [], color="grey", lw=0.6, label=f"networks, width {result.settings.width}")
    ax.plot([], [], color="k", ls=":", lw=1, label=r"flow $e^{-\lambda_k t}$")
    ax.set_xscale("log")
    ax.set_ylim(-0.1, 1.05)
    ax.set_xlabel("time $t$")
    ax.set_ylabel(r"residual coefficient $p_k(t)$")
    ax.legend(fontsize=9, loc="lower left")
    return ax


def plot_functions(
    result: SpectralBiasResult, times: tuple[float, ...], ax: plt.Axes | None = None
) -> plt.Axes:
    """The target and, at a few times, the flow's f_t (solid, from the networks' mean f_0) and the
    networks' mean (dashed)."""
    if ax is None:
        _, ax = new_axes()
    ax.plot(result.gamma, result.target, "k", lw=2.5, label="target $f^*$")
    for i, t_show in enumerate(times):
        r = int((result.t - t_show).abs().argmin())
        ax.plot(
            result.gamma, result.flow_fit[r], color=f"C{i}", label=f"flow, $t = {result.t[r]:.0f}$"
        )
        ax.plot(result.gamma, result.network_fit[r].mean(0), color=f"C{i}", ls="--")
    ax.plot([], [], color="grey", ls="--", label="networks (mean)")
    ax.set_xlabel(r"angle $\gamma$")
    ax.set_ylabel(r"$f_t(\cos\gamma, \sin\gamma)$")
    ax.set_ylim(top=1.5 * float(result.target.max()) + 0.5)
    ax.legend(fontsize=9, ncols=2, loc="upper left")
    return ax


def plot_spectra(relu: dict, erf: dict, n0_relu: dict, axes) -> None:
    """Left: ReLU NTK mu_k (log-log) on the circle for each depth in ``relu`` and on S^2
    (``n0_relu``), with the slopes k^-2 and k^-3. Right: erf NTK mu_k for odd k (log-linear) for
    each depth in ``erf``."""
    left, right = axes
    for i, (depth, mu) in enumerate(relu.items()):
        k = torch.arange(1, mu.shape[0])
        left.loglog(k, mu[1:], color=f"C{i}", label=f"circle, $L = {depth}$")
        if depth in n0_relu:
            left.loglog(
                k, n0_relu[depth][1:], color=f"C{i}", ls="--", label=f"$S^2$, $L = {depth}$"
            )
    k = torch.arange(10, relu[next(iter(relu))].shape[0], dtype=torch.float64)
    for power, anchor in ((2, 3e-1), (3, 3e-2)):
        left.loglog(k, anchor * k**-power, "k:", lw=1.2)
        left.annotate(
            f"$k^{{-{power}}}$",
            (k[-1], anchor * k[-1] ** -power),
            fontsize=11,
            ha="left",
            va="center",
        )
    left.set_xlabel("frequency / degree $k$")
    left.set_ylabel(r"$\hat\kappa_k$")
    left.set_title("ReLU NTK")
    left.legend(fontsize=8, ncols=2)
    for i, (depth, mu) in enumerate(erf.items()):
        k = torch.arange(1, mu.shape[0], 2)
        keep = mu[1::2] > 1e-14 * mu.abs().max()  # below that, round-off
        right.semilogy(k[keep], mu[1::2][keep], "o-", ms=3, color=f"C{i}", label=f"$L = {depth}$")
    right.set_xlabel("odd frequency $k$")
    right.set_ylabel(r"$\hat\kappa_k$")
    right.set_title("erf NTK on the circle")
    right.legend(fontsize=9)


class FilterFigure:
    """The widget of the chapter: for a depth and a stopping time t, the eigenvalues lambda_k of
    Theta^(L)/N on the training points against the threshold 1/t (left) and the flow's f_t against
    the target (right). The kernels of every depth are computed once, here; ``draw`` only solves a
    32-point flow."""

    def __init__(self, settings: SpectralBiasSettings, depths: tuple[int, ...]) -> None:
        self.settings = settings
        x_fine, self.gamma = circle_points(settings.n_points * FINE)
        self.x = x_fine[::FINE]
        self.goal = target(settings, self.gamma)
        archs = {L: settings.arch.replace(depth=L) for L in depths}
        self.kernels = {L: (a.ntk(self.x), a.ntk(x_fine, self.x)) for L, a in archs.items()}

    def draw(self, depth: int, t: float) -> None:
        k_train, k_fine = self.kernels[depth]
        lam = circulant_eigenvalues(k_train)
        f_t = gradient_flow(k_train, self.goal[::FINE], [t], k_test_train=k_fine).f_test[0]
        _, (left, right) = new_axes(2, width=10, height=4.2)
        freqs = torch.arange(lam.shape[0])
        learned = lam * t > 1
        left.semilogy(
            freqs[learned], lam[learned], "o", color="C2", label=r"$\lambda_k t > 1$: learned"
        )
        left.semilogy(
            freqs[~learned], lam[~learned], "o", color="C1", label=r"$\lambda_k t < 1$: not yet"
        )
        left.axhline(1 / t, color="k", ls=":", label="$1/t$")
        for k in self.settings.frequencies:
            left.annotate(
                f"{1 - math.exp(-float(lam[k]) * t):.0%}",
                (k, float(lam[k])),
                xytext=(4, 6),
                textcoords="offset points",
                fontsize=9,
            )
        left.set_xlabel("frequency $k$")
        left.set_ylabel(r"$\lambda_k$ (eigenvalue of $K/N$)")
        left.set_title(r"labels: $1 - e^{-\lambda_k t}$ for the target's $k$", fontsize=11)
        left.xaxis.get_major_locator().set_params(integer=True)
        left.set_ylim(1e-5, 1)
        left.legend(fontsize=9, loc="lower left")
        right.plot(self.gamma, self.goal, "k", lw=2, label="target $f^*$")
        right.plot(self.gamma, f_t, color="C0", label=f"flow $f_t$, $t = {t:g}$")
        right.plot(self.gamma[::FINE], self.goal[::FINE], "k.", ms=5, label="training points")
        right.set_xlabel(r"angle $\gamma$")
        right.set_ylabel(r"$f_t(\cos\gamma, \sin\gamma)$")
        right.set_title(f"ReLU NTK, depth $L = {depth}$")
        right.set_ylim(top=1.5 * float(self.goal.max()) + 0.5)
        right.legend(fontsize=9, loc="upper left")


__all__ = ["FilterFigure", "plot_decay", "plot_functions", "plot_spectra"]
