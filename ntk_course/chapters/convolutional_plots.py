"""The figures of ``book/convolutional.md``: finite CNNs against the CNTK, the test accuracy of the
six kernels, and (for the widget) the kernel of a digit against its own translates
(:func:`shifted`, :func:`shift_profile`, :func:`shift_profiles`).

What they draw is measured by :mod:`.convolutional`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..architecture import Architecture
from ..conv_architecture import ConvArchitecture
from .plotting import new_axes

if TYPE_CHECKING:
    from .generalisation import Curve

__all__ = [
    "draw_shift_profile",
    "plot_accuracy",
    "plot_monte_carlo",
    "shift_profile",
    "shift_profiles",
    "shifted",
]

_STYLE = {
    "CNTK": ("C0", "-", "o"),
    "CNN-GP": ("C1", "-", "s"),
    "CNTK flatten": ("C0", ":", "o"),
    "CNN-GP flatten": ("C1", ":", "s"),
    "NTK": ("C2", "--", "^"),
    "NNGP": ("C3", "--", "v"),
}


def plot_monte_carlo(samples: dict[int, torch.Tensor], limit: torch.Tensor, ax=None):
    """Relative distance to the limit Theta of one CNN's empirical NTK (root mean square over the
    draws) and of the mean of the E draws, against the channel count n, on log-log axes.

    ``samples`` maps n to (E, m, m) empirical NTKs, ``limit`` is (m, m); the distance is the
    Frobenius norm ||K - Theta|| / ||Theta||. A dotted line of slope -1/2 through the first point
    shows the rate 1/sqrt(n) of the fluctuations (Arora et al. 2019, Theorem 3.1).

    Parameters
    ----------
    samples : dict
        n -> (E, m, m) empirical NTKs (:func:`.convolutional.empirical_cntks`).
    limit : torch.Tensor
        (m, m), the CNTK.
    ax : matplotlib Axes, optional
        Where to draw (a new figure if None).

    Returns
    -------
    matplotlib Axes
    """
    if ax is None:
        _, ax = new_axes(width=6.5, height=4.2)
    n = np.array(sorted(samples))
    lim = limit.double().cpu()
    scale = float(lim.norm())
    one = [
        float(((samples[w].cpu() - lim).flatten(1).norm(dim=1) / scale).square().mean().sqrt())
        for w in n
    ]
    mean = [float((samples[w].cpu().mean(0) - lim).norm() / scale) for w in n]
    e = next(iter(samples.values())).shape[0]
    ax.loglog(n, one, "o-", color="C0", label="one network (rms)")
    ax.loglog(n, mean, "s-", color="C1", label=f"mean of {e} networks")
    ax.loglog(n, one[0] * np.sqrt(n[0] / n), ":", color="gray", label=r"slope $-1/2$")
    ax.set_xlabel("channels $n$ per layer")
    ax.set_ylabel(r"$\|\Theta_n - \Theta\| \,/\, \|\Theta\|$")
    ax.legend()
    return ax


def plot_accuracy(curve: Curve, ax=None):
    """Test accuracy against the number N of training digits, one line per kernel, with the
    binomial error bar sqrt(p (1 - p) / M) of each point (M test digits).

    Parameters
    ----------
    curve : Curve
        From :func:`.generalisation.learning_curve` (kernel regression, eq.
        (eq-gen-kernel-regression) of the generalisation chapter) with the kernels of
        :func:`.convolutional.digit_kernels`.
    ax : matplotlib Axes, optional
        Where to draw (a new figure if None).

    Returns
    -------
    matplotlib Axes
    """
    if ax is None:
        _, ax = new_axes()
    m = curve.labels_test.shape[0]
    for name in curve.predicted:
        colour, line, marker = _STYLE.get(name, ("C4", "-", "x"))
        acc = curve.accuracy(name).numpy()
        ax.errorbar(
            curve.sizes, acc, yerr=np.sqrt(acc * (1 - acc) / m), color=colour, ls=line,
            marker=marker, capsize=3, label=name,
        )  # fmt: skip
    ax.set_xscale("log")
    ax.set_xticks(curve.sizes, [str(s) for s in curve.sizes])
    ax.minorticks_off()
    ax.set_xlabel("training digits $N$")
    ax.set_ylabel("test accuracy")
    ax.legend(ncols=2)
    return ax


def shift_profiles(
    image: torch.Tensor,
    max_shift: int,
    filter_sizes: tuple[int, ...],
    depths: tuple[int, ...],
    beta: float = 0.1,
) -> dict[tuple[int, int, str], torch.Tensor]:
    """The cosine profiles (:func:`shift_profile`) of a digit against its translates
    by -max_shift .. max_shift pixels, for every (filter size, depth, readout) of the widget's
    grid, and (0, depth, "fc") for the fully-connected NTK of depth + 1 weight layers.

    Parameters
    ----------
    image : torch.Tensor
        (C, H, W), one digit.
    max_shift : int
        The largest shift r, < W.
    filter_sizes, depths : tuple of int
        The grid of filter sizes k and convolutional layers D.
    beta : float, default 0.1
        The bias factor of every kernel.

    Returns
    -------
    dict
        (k, D, readout) -> (2 r + 1,) cosines, readout "gap", "flatten" or "fc" (then k = 0), of
        the CNTKs of ReLU CNNs with "same" padding (eq. (eq-conv-output) of the chapter).
    """
    shifts = tuple(range(-max_shift, max_shift + 1))
    x = shifted(image.double(), shifts)
    out = {}
    for depth in depths:
        out[(0, depth, "fc")] = shift_profile(
            Architecture(depth + 1, "relu", beta).ntk(x.flatten(1))
        )
        for k in filter_sizes:
            for readout in ("gap", "flatten"):
                arch = ConvArchitecture(depth, k, "same", readout, "relu", beta)
                out[(k, depth, readout)] = shift_profile(arch.ntk(x))
    return out


def draw_shift_profile(
    profiles: dict[tuple[int, int, str], torch.Tensor], filter_size: int, depth: int, readout: str
):
    """The widget's frame: the cosine of the CNTK between a digit and its translates against the
    shift, for the chosen filter size, depth and readout, with the fully-connected NTK of the same
    number of layers for reference. Only draws.

    Parameters
    ----------
    profiles : dict
        From :func:`shift_profiles`.
    filter_size, depth : int
        k and D, on the grid of ``profiles``.
    readout : {"gap", "flatten"}
        The CNTK's readout.

    Returns
    -------
    matplotlib Figure
    """
    fig, ax = new_axes()
    prof = profiles[(filter_size, depth, readout)].cpu().numpy()
    fc = profiles[(0, depth, "fc")].cpu().numpy()
    r = len(prof) // 2
    s = np.arange(-r, r + 1)
    name = "average pooling" if readout == "gap" else "flatten"
    ax.plot(s, prof, "o-", color="C0", label=f"CNTK, {filter_size}x{filter_size} filters, {name}")
    ax.plot(s, fc, "^--", color="C2", label=f"fully-connected NTK, {depth + 1} layers")
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel("horizontal shift $s$ of the digit (pixels)")
    ax.set_ylabel(r"$\Theta(x, x_s) / \sqrt{\Theta(x, x)\,\Theta(x_s, x_s)}$")
    ax.set_title(f"$D = {depth}$ convolutional layers: a digit against its translates")
    ax.legend(loc="lower center")
    return fig


def shifted(image: object, shifts: tuple[int, ...]) -> torch.Tensor:
    """Copies of one image (C, H, W) translated right by each of ``shifts`` pixels (left if < 0).

    Pixels moved past the border are dropped, and the uncovered columns are zero.

    Parameters
    ----------
    image : array_like
        (C, H, W).
    shifts : tuple of int
        The horizontal shifts s, each |s| < W.

    Returns
    -------
    torch.Tensor
        (S, C, H, W): copy n is x_s with (x_s)_{c, r, j} = x_{c, r, j - s} (0 outside the image).

    Raises
    ------
    ValueError
        If the image is not 3-d or a shift is not smaller than its width.
    """
    x = torch.as_tensor(image)
    if x.ndim != 3:
        raise ValueError(f"image must be (C, H, W); got shape {tuple(x.shape)}")
    w = x.shape[-1]
    if any(abs(s) >= w for s in shifts):
        raise ValueError(f"shifts must be smaller than the width {w}; got {shifts}")
    out = torch.zeros(len(shifts), *x.shape, dtype=x.dtype, device=x.device)
    for i, s in enumerate(shifts):
        if s >= 0:
            out[i, ..., s:] = x[..., : w - s]
        else:
            out[i, ..., :s] = x[..., -s:]
    return out


def shift_profile(kernel: object) -> torch.Tensor:
    """The cosine K(x_0, x_s) / sqrt(K(x_0, x_0) K(x_s, x_s)) of a Gram matrix of translates.

    Parameters
    ----------
    kernel : array_like
        K (S, S), S odd, on :func:`shifted` copies for the shifts -r .. r: the centre entry
        S // 2 is the unshifted image x_0.

    Returns
    -------
    torch.Tensor
        (S,): 1 at s = 0, and 1 at every s for a kernel that is blind to translations.

    Raises
    ------
    ValueError
        If the kernel is not square of odd size.
    """
    k = torch.as_tensor(kernel)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0:
        raise ValueError(
            f"need a square Gram matrix of odd size (shifts -r..r); got {tuple(k.shape)}"
        )
    d = k.diagonal()
    c = k.shape[0] // 2
    return k[c] / (d[c] * d).sqrt()
