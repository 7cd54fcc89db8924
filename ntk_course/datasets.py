"""The synthetic inputs of Sections 6.1-6.2 of Jacot, Gabriel & Hongler (2018) (Figures 1 and 2).

``n_0 = 2``: points ``x = (cos g, sin g)`` on the unit circle (:func:`circle_points`,
:func:`circle_training_set`), and a target ``f*(x) = x_1 x_2`` (:func:`product_target`) learned
from iid ``N(0, 1)`` inputs (:func:`gaussian_inputs`); uniform points on the sphere in any
dimension (:func:`sphere_points`). The MNIST digits of Section 6.3 are in :mod:`ntk_course.digits`.
"""

from __future__ import annotations

import math

import torch

from ._checks import as_inputs, generator_from, positive_int

__all__ = [
    "circle_points",
    "circle_training_set",
    "gaussian_inputs",
    "product_target",
    "sphere_points",
]


def circle_points(
    n: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points ``x = (cos g, sin g)`` on the unit circle, ``g`` evenly spaced on ``[-pi, pi)``.

    The abscissa of Figures 1 and 2 (Section 6): Figure 1 plots ``Theta^(4)(x_0, x)`` for
    ``x_0 = (1, 0)``.

    Parameters
    ----------
    n : int
        The number of points, >= 1.
    dtype, device
        Of the result (float64 by default).

    Returns
    -------
    x : torch.Tensor
        Shape (n, 2): the points.
    g : torch.Tensor
        Shape (n,): their angles.

    Raises
    ------
    ValueError
        If n < 1.
    """
    n = positive_int(n, "n")
    g = -math.pi + (2 * math.pi / n) * torch.arange(n, dtype=dtype, device=device)
    return torch.stack((torch.cos(g), torch.sin(g)), dim=1), g


def circle_training_set(
    n: int = 4, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training set of Figure 2 (Section 6.2): ``n`` points on the unit circle, their targets.

    The paper trains on "4 points of the unit circle" without saying which, nor their targets. The
    course's fixed choice: angles ``g_i = -pi + (i + 1/2) 2 pi / n`` (for n = 4: -3pi/4, -pi/4,
    pi/4, 3pi/4, half a step away from ``x_0 = (1, 0)``) and targets
    ``y_i = 0.4 sin(2 g_i) = 0.8 x_1 x_2``, the target of Figure 1 scaled into the range
    [-0.4, 0.4] of Figure 2 (for n = 4: +0.4, -0.4, +0.4, -0.4).

    Parameters
    ----------
    n : int, default 4
        The number of points, >= 1.
    dtype, device
        Of the result (float64 by default).

    Returns
    -------
    x : torch.Tensor
        Shape (n, 2): the points; the angles are ``atan2(x_2, x_1)``.
    y : torch.Tensor
        Shape (n, 1): the targets.

    Raises
    ------
    ValueError
        If n < 1.
    """
    n = positive_int(n, "n")
    g = -math.pi + (2 * math.pi / n) * (torch.arange(n, dtype=dtype, device=device) + 0.5)
    x = torch.stack((torch.cos(g), torch.sin(g)), dim=1)
    return x, 0.4 * torch.sin(2 * g)[:, None]


def gaussian_inputs(
    n: int,
    n0: int,
    *,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``n`` iid ``N(0, Id_{n0})`` inputs, the training inputs of Figure 1 (Section 6.1).

    Parameters
    ----------
    n, n0 : int
        The number of inputs and their dimension, each >= 1.
    generator : torch.Generator, optional
        For reproducible draws; pass a ``generator`` or a ``seed`` (not both). With neither,
        torch's global generator is used.
    seed : int, optional
        Seeds a fresh generator.
    dtype, device
        Of the result (float32 by default).

    Returns
    -------
    torch.Tensor
        Shape (n, n0).

    Raises
    ------
    ValueError
        If n or n0 < 1, or both a generator and a seed are given.
    """
    n, n0 = positive_int(n, "n"), positive_int(n0, "n0")
    return torch.randn(
        n, n0, generator=generator_from(generator, seed, device), dtype=dtype, device=device
    )


def sphere_points(
    n: int,
    n0: int,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``n`` iid points uniform on the unit sphere S^{n0-1} (normalised Gaussians), shape (n, n0).

    The inputs of Proposition 2 (App. A.4), whose kernels depend on x.x' only.

    Parameters
    ----------
    n, n0, seed : int
        The number of points and their dimension (each >= 1), and the seed of the draw (>= 0,
        default 0); else ValueError. ``dtype`` (float64) and ``device`` are the result's.
    """
    x = gaussian_inputs(n, n0, seed=seed, dtype=dtype, device=device)
    return x / x.norm(dim=1, keepdim=True)


def product_target(x: object) -> torch.Tensor:
    """The target ``f*(x) = x_1 x_2`` of Section 6.1, of shape (N, 1) (``n_L = 1``).

    Parameters
    ----------
    x : array_like, shape (N, n_0)
        Finite real inputs, n_0 >= 2 (else ValueError); a 1-d array is one point.
    """
    t = as_inputs(x)
    if t.shape[1] < 2:
        raise ValueError(
            f"f*(x) = x_1 x_2 needs inputs of dimension n_0 >= 2; got shape {tuple(t.shape)}"
        )
    return (t[:, 0] * t[:, 1])[:, None]
