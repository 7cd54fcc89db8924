"""The steps of the proof of Proposition 2 (App. A.4, Jacot, Gabriel & Hongler 2018), made computable.

:mod:`ntk_course.hermite` holds the Hermite side of the proof (Lemma 2, Theorem 3, step 5). This
module holds the kernel side:

* :func:`ntk_course.kernels.layer_kernels` (in the library) returns every layer of the recursions of
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

from .._checks import (
    finite_array,
    kernel_matrix,
    non_negative,
    positive_int,
    seeded_generator,
)
from ..activations import Activation, Fn, get_activation
from ..datasets import circle_points
from ..flow import gradient_flow
from ..kernels import ntk


def quadratic_form_monte_carlo(
    sigma_prev: object,
    c: object,
    *,
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    samples: int = 100_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Monte Carlo estimate of the right-hand side of the identity of step 2 (App. A.4).

    For the Gram matrix ``sigma_prev`` = Sigma^(l) on d points and coefficients c (d,),

        sum_ij c_i c_j Sigma^(l+1)(x_i, x_j) = E[(sum_i c_i sigma(f(x_i)))^2] + beta^2 (sum_i c_i)^2,

    f ~ N(0, Sigma^(l)). Draws ``samples`` Gaussian vectors (f(x_1), ..., f(x_d)) with the symmetric
    square root of Sigma^(l) (so a singular Sigma^(l) is fine) and returns (estimate, standard error
    of the mean). Float64, on the CPU, seeded.
    """
    k = kernel_matrix(sigma_prev, "sigma_prev", symmetric=True).cpu()
    cc = finite_array(c, "c", ndims=(1,), rows=k.shape[0], match="sigma_prev's points").cpu()
    samples = positive_int(samples, "samples", 2)
    beta2 = non_negative(beta, "beta") ** 2
    act = get_activation(activation)
    values, vectors = torch.linalg.eigh(k)
    if float(values[0]) < -1e-10 * float(values[-1].abs()):
        raise ValueError(f"sigma_prev must be positive semi-definite (a covariance); got eigenvalue {float(values[0]):.3g}")
    root = vectors * values.clamp(min=0.0).sqrt()
    g = seeded_generator(seed)
    f = torch.randn(samples, k.shape[0], generator=g, dtype=torch.float64) @ root.T
    squares = (act.sigma(f) @ cc) ** 2
    estimate = float(squares.mean()) + beta2 * float(cc.sum()) ** 2
    return estimate, float(squares.std() / math.sqrt(samples))


def min_eigenvalues_on_circle(
    n_points: Sequence[int],
    *,
    depth: int,
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    relative: bool = True,
) -> torch.Tensor:
    """Smallest eigenvalue of the Gram matrix of Theta_infinity^(depth) on n equally spaced circle points.

    One value per n in ``n_points`` (float64, CPU); ``relative=True`` divides by the largest
    eigenvalue, so that round-off sits near 1e-16. Equally spaced points (``circle_points``) make the
    Gram matrix circulant, so its eigenvalues are the discrete Fourier transform of its first row:
    the Fourier coefficients of gamma -> Theta(x_0, x(gamma)) folded onto n frequencies. A kernel that
    is a trigonometric polynomial of degree D (a polynomial activation, Remark 5) has exactly 2D + 1
    non-zero eigenvalues once n > 2D + 1. Only the first rows are computed, all in one call of
    :func:`ntk_course.ntk`: n entries per n instead of n^2.
    """
    sizes = [positive_int(n, "n_points entry", 2) for n in n_points]
    if not sizes:
        raise ValueError("n_points must list at least one number of points")
    first = circle_points(1)[0]                                  # every circle_points(n) starts at (-1, 0)
    rows = ntk(first, torch.cat([circle_points(n)[0] for n in sizes]), depth=depth, activation=activation, beta=beta)[0].cpu()
    out = []
    for row in rows.split(sizes):
        values = torch.fft.fft(row).real                         # a symmetric circulant: real eigenvalues
        low, high = values.min(), values.max()
        out.append(low / high if relative else low)
    return torch.stack(out)


def least_squares_cost(k_train: object, y_train: object, t: object, *, f0_train: object | None = None) -> torch.Tensor:
    """C(f_t) = 1/(2N) sum_i (f_t(x_i) - y_i)^2 along the least-squares kernel gradient flow (Section 5).

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
