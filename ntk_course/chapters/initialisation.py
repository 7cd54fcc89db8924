"""Pictures of networks at initialisation against their Gaussian-process limit (Proposition 1).

The draws themselves come from the library (:mod:`ntk_course.sampling`); this module only draws:

* :func:`plot_marginal`: a histogram of f(x) against the N(0, Sigma(x, x)) density;
* :func:`plot_joint`: a scatter of (f(x), f(x')) against the ellipses of N(0, Sigma);
* :func:`gaussian_density` and :func:`ellipse`, the curves they draw.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def _tensor(
    values: object, name: str, shape: str, ndim: int, cols: int | None = None
) -> torch.Tensor:
    """``values`` as a finite float64 CPU tensor of ``ndim`` axes (and ``cols`` columns), else
    ValueError."""
    t = torch.as_tensor(np.asarray(values) if not isinstance(values, torch.Tensor) else values)
    t = t.detach().to("cpu", torch.float64)
    if t.ndim != ndim or (cols is not None and t.shape[-1] != cols) or t.numel() == 0:
        raise ValueError(f"{name} must have shape {shape}; got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} has non-finite entries (NaN or inf); expected finite numbers")
    return t


def gaussian_density(u: object, variance: float) -> torch.Tensor:
    """The N(0, variance) density at the points ``u`` (any shape), float64.

    Raises ValueError unless ``variance`` is a finite number > 0.
    """
    if not math.isfinite(variance) or variance <= 0:
        raise ValueError(f"variance must be a finite number > 0 for a density; got {variance!r}")
    t = torch.as_tensor(u, dtype=torch.float64)
    return torch.exp(-t * t / (2 * variance)) / math.sqrt(2 * math.pi * variance)


def ellipse(covariance: object, radius: float, points: int = 200) -> torch.Tensor:
    """The curve {v : v^T Sigma^{-1} v = radius^2} of a 2 x 2 covariance, shape (points, 2).

    With radius^2 the chi-square(2) quantile q, the ellipse holds a fraction q of N(0, Sigma):
    radius = sqrt(-2 log(1 - q)) (1.18 for 50%, 2.45 for 95%). Raises ValueError for a covariance
    that is not a positive semi-definite 2 x 2 matrix, a negative radius or fewer than 2 points.
    """
    s = _tensor(covariance, "covariance", "(2, 2)", 2, cols=2)
    if s.shape[0] != 2:
        raise ValueError(f"covariance must have shape (2, 2); got shape {tuple(s.shape)}")
    if not radius >= 0 or not points >= 2:
        raise ValueError(
            f"radius must be >= 0 and points >= 2; got radius {radius!r}, points {points!r}"
        )
    lam, vec = torch.linalg.eigh((s + s.T) / 2)
    if float(lam[0]) < 0:
        raise ValueError(
            f"covariance must be positive semi-definite; got eigenvalues {lam.tolist()}"
        )
    angle = torch.linspace(0, 2 * math.pi, points, dtype=torch.float64)
    circle = torch.stack([angle.cos(), angle.sin()], 1) * radius
    return circle * lam.sqrt() @ vec.T


def plot_marginal(
    ax, samples: object, variance: float, *, bins: int = 60, label: str = "networks"
) -> None:
    """Histogram (as a density) of the draws f(x) (E,) against the N(0, Sigma(x, x)) density of the
    limit."""
    f = _tensor(samples, "samples", "(E,)", 1)
    lim = 4.5 * math.sqrt(variance)
    ax.hist(f.numpy(), bins=np.linspace(-lim, lim, bins), density=True, alpha=0.55, label=label)
    u = torch.linspace(-lim, lim, 300, dtype=torch.float64)
    ax.plot(
        u, gaussian_density(u, variance), "k", lw=2, label=r"$\mathcal{N}(0, \Sigma^{(L)}(x, x))$"
    )
    ax.set_xlim(-lim, lim)


#: The probabilities of the two ellipses that :func:`plot_joint` draws (dashed, then solid).
ELLIPSE_PROBABILITIES = (0.5, 0.95)


def plot_joint(ax, samples: object, covariance: object, *, max_points: int = 2000) -> None:
    """Scatter of draws (f(x), f(x')) of shape (E, 2) with the ellipses of N(0, Sigma) that hold
    the probabilities ``ELLIPSE_PROBABILITIES`` (50% and 95%)."""
    f = _tensor(samples, "samples", "(E, 2)", 2, cols=2)[:max_points]
    ax.scatter(f[:, 0], f[:, 1], s=4, alpha=0.35, label="networks")
    for q, style in zip(ELLIPSE_PROBABILITIES, ("--", "-")):
        curve = ellipse(covariance, math.sqrt(-2 * math.log(1 - q)))
        ax.plot(
            curve[:, 0],
            curve[:, 1],
            "k",
            ls=style,
            lw=1.8,
            label=rf"{q:.0%} ellipse of $\Sigma^{{(L)}}$",
        )
    ax.set_aspect("equal", adjustable="datalim")
