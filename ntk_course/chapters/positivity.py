"""The steps of the proof of Proposition 2 (App. A.4, Jacot, Gabriel & Hongler 2018), made
computable.

:mod:`ntk_course.hermite` holds the Hermite side of the proof (Lemma 2, Theorem 3, step 5). This
module holds the kernel side:

* :func:`ntk_course.layers.layer_kernels` (in the library) returns every layer of the recursions of
  Proposition 1 and Theorem 1, so that step 1 (Theta^(l+1) = Sigma_dot^(l+1) * Theta^(l) +
  Sigma^(l+1), a Schur product plus a kernel) and step 2 (positive-definiteness of Sigma^(l) climbs
  the layers) can be looked at layer by layer;
* :func:`quadratic_form_monte_carlo` estimates the right-hand side of the identity of step 2,
  E[(sum_i c_i sigma(f(x_i)))^2] + beta^2 (sum_i c_i)^2 with f ~ N(0, Sigma^(l)), by sampling;
* :func:`min_eigenvalues_on_circle` is the smallest eigenvalue of the limiting NTK on n equally
  spaced points of the unit circle, for a list of n (Proposition 2 and Remark 5);
* :func:`least_squares_cost` is the cost along the least-squares kernel gradient flow (Section 3
  and 5), which decreases to 0 exactly when the Gram matrix is positive definite on the residual.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ..activations import get_activation
from ..architecture import Architecture
from ..datasets import circle_points
from ..flow import gradient_flow


def quadratic_form_monte_carlo(
    sigma_prev: object,
    c: object,
    arch: Architecture,
    *,
    samples: int = 100_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Monte Carlo estimate of the right-hand side of the identity of step 2 (App. A.4).

    For the Gram matrix ``sigma_prev`` = Sigma^(l) on d points and coefficients c,

        sum_ij c_i c_j Sigma^(l+1)(x_i, x_j)
            = E[(sum_i c_i sigma(f(x_i)))^2] + beta^2 (sum_i c_i)^2,

    f ~ N(0, Sigma^(l)), with sigma and beta those of ``arch``. Draws ``samples`` Gaussian vectors
    (f(x_1), ..., f(x_d)) with the symmetric square root of Sigma^(l) (so a singular Sigma^(l) is
    fine). Float64, on the CPU, seeded.

    Parameters
    ----------
    sigma_prev : array of shape (d, d)
        Sigma^(l) on the d points: symmetric positive semi-definite.
    c : array of shape (d,)
        The coefficients of the quadratic form.
    arch : Architecture
        Gives the activation sigma and the bias factor beta.
    samples : int, default 100000
        Number of Gaussian draws (>= 2).
    seed : int, default 0
        Seeds the draws.

    Returns
    -------
    estimate, standard_error : float
        The estimate of c^T Sigma^(l+1) c and the standard error of its Monte Carlo part.

    Raises
    ------
    ValueError
        If ``sigma_prev`` is not a finite symmetric positive semi-definite square matrix, ``c`` has
        not one entry per point, or ``samples`` < 2.
    """
    k = torch.as_tensor(sigma_prev, dtype=torch.float64).cpu()
    cc = torch.as_tensor(c, dtype=torch.float64).cpu()
    if (
        k.ndim != 2
        or k.shape[0] != k.shape[1]
        or k.numel() == 0
        or not bool(torch.isfinite(k).all())
    ):
        raise ValueError(
            f"sigma_prev must be a finite square (d, d) Gram matrix; got shape {tuple(k.shape)}"
        )
    if float((k - k.T).abs().max()) > 1e-6 * float(k.abs().max()):
        raise ValueError(
            "sigma_prev must be symmetric (a covariance); got max|K - K^T| = "
            f"{float((k - k.T).abs().max()):.3g}"
        )
    if cc.shape != (k.shape[0],) or not bool(torch.isfinite(cc).all()):
        raise ValueError(
            f"c must have {k.shape[0]} rows (one finite coefficient per point of sigma_prev); "
            f"got shape {tuple(cc.shape)}"
        )
    if not isinstance(samples, int) or samples < 2:
        raise ValueError(f"samples must be an integer >= 2; got {samples!r}")
    sigma = get_activation(arch.activation).sigma
    values, vectors = torch.linalg.eigh(k)
    if float(values[0]) < -1e-10 * float(values[-1].abs()):
        raise ValueError(
            "sigma_prev must be positive semi-definite (a covariance); "
            f"got eigenvalue {float(values[0]):.3g}"
        )
    root = vectors * values.clamp(min=0.0).sqrt()
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(samples, k.shape[0], generator=g, dtype=torch.float64) @ root.T
    squares = (sigma(f) @ cc) ** 2
    estimate = float(squares.mean()) + arch.beta**2 * float(cc.sum()) ** 2
    return estimate, float(squares.std() / math.sqrt(samples))


def min_eigenvalues_on_circle(
    n_points: Sequence[int], arch: Architecture, *, relative: bool = True
) -> torch.Tensor:
    """Smallest eigenvalue of the Gram matrix of Theta_infinity^(L) on n equally spaced circle
    points.

    Equally spaced points (``circle_points``) make the Gram matrix circulant, so its eigenvalues are
    the discrete Fourier transform of its first row: the Fourier coefficients of gamma -> Theta(x_0,
    x(gamma)) folded onto n frequencies. A kernel that is a trigonometric polynomial of degree D (a
    polynomial activation, Remark 5) has exactly 2D + 1 non-zero eigenvalues once n > 2D + 1
    (Proposition 2). Only the first rows are computed, all in one call of ``arch.ntk``: n entries
    per n instead of n^2.

    Parameters
    ----------
    n_points : sequence of int
        The numbers of points n (each >= 2).
    arch : Architecture
        The architecture whose limiting NTK Theta_infinity^(L) is used.
    relative : bool, default True
        Divide by the largest eigenvalue, so that round-off sits near 1e-16.

    Returns
    -------
    torch.Tensor
        (len(n_points),), float64 on the CPU.

    Raises
    ------
    ValueError
        If ``n_points`` is empty or holds a number below 2, or ``arch`` has no limiting NTK.
    """
    sizes = list(n_points)
    if not sizes:
        raise ValueError("n_points must list at least one number of points")
    if any(not isinstance(n, int | np.integer) or n < 2 for n in sizes):
        raise ValueError(f"every entry of n_points must be an integer >= 2; got {sizes}")
    first = circle_points(1)[0]  # every circle_points(n) starts at (-1, 0)
    rows = arch.ntk(first, torch.cat([circle_points(int(n))[0] for n in sizes]))[0].cpu()
    out = []
    for row in rows.split([int(n) for n in sizes]):
        values = torch.fft.fft(row).real  # a symmetric circulant: real eigenvalues
        low, high = values.min(), values.max()
        out.append(low / high if relative else low)
    return torch.stack(out)


def least_squares_cost(
    k_train: object, y_train: object, t: object, *, f0_train: object | None = None
) -> torch.Tensor:
    """C(f_t) = 1/(2N) sum_i (f_t(x_i) - y_i)^2 along the least-squares kernel gradient flow
    (Section 5).

    The flow d f_t/dt = -(1/N) K (f_t - y) starts at ``f0_train`` (0 by default) and is solved
    exactly by :func:`ntk_course.flow.gradient_flow`; returns one cost per time in ``t`` (T,).
    As t -> infinity the cost tends to 1/(2N) ||P_0 (f_0 - y)||^2, P_0 the projection on the null
    space of K: zero for every start exactly when K is positive definite (Section 3).
    """
    # Python numbers are read as float64 here: a list [t0 - h, t0 + h] through float32 would lose h.
    tt = t if isinstance(t, torch.Tensor) else np.asarray(t, dtype=np.float64)
    result = gradient_flow(k_train, y_train, tt, f0_train=f0_train)
    y = torch.as_tensor(y_train, dtype=result.f_train.dtype, device=result.f_train.device)
    residual = result.f_train - y
    return 0.5 * residual.pow(2).reshape(residual.shape[0], -1).sum(1) / residual.shape[1]
