"""Single-index targets on the sphere and what a kernel needs to learn them (beyond the paper).

The chapter "Where kernels lose": the targets, the dimension of the polynomials a kernel must fit,
the projection bound on any kernel predictor, and the sample size at which a learning curve crosses
a level.

Inputs are uniform on the sphere of radius sqrt(n_0) in R^{n_0} (the setting of Ghorbani, Mei,
Misiakiewicz & Montanari 2021, who write d for n_0), so that the projection z = <w*, x> on a unit
vector w* is close to a standard Gaussian and the paper's
Sigma^(1)(x, x) = norm(x)^2 / n_0 + beta^2 is the same for every point. The target
y = He_k(z) / sqrt(k!) is a Hermite polynomial of one direction, normalised so that E[y^2] = 1 for
a Gaussian z.

A dot-product kernel on the sphere is diagonal in the spherical harmonics
(:mod:`ntk_course.harmonics`); the polynomials of degree <= k restricted to the sphere are the sum
of the harmonic spaces of the degrees 0..k, of dimension :func:`polynomial_dimension` (of order
n_0^k / k!). Kernel regression in the linearised regime needs a number of samples of that order
to fit a degree-k target.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._checks import as_inputs, positive_int
from .datasets import sphere_points
from .harmonics import harmonic_multiplicity, sphere_legendre


def sphere_inputs(
    n: int, n0: int, *, seed: int = 0, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """``n`` iid points uniform on the sphere of radius sqrt(n0) in R^{n0}, shape (n, n0).

    Parameters
    ----------
    n, n0 : int
        The number of points and their dimension, each >= 1.
    seed : int, default 0
        The seed of the draw, >= 0.
    dtype : torch.dtype, default float64
        The result's dtype.

    Returns
    -------
    torch.Tensor
        ``sqrt(n0)`` times :func:`ntk_course.datasets.sphere_points`.

    Raises
    ------
    ValueError
        If n or n0 < 1 or the seed is negative.
    """
    return sphere_points(n, n0, seed=seed, dtype=dtype) * math.sqrt(positive_int(n0, "n0"))


def hermite(z: object, k: int) -> torch.Tensor:
    """The probabilists' Hermite polynomial He_k(z) by its three-term recursion.

    He_0 = 1, He_1 = z, He_{j+1}(z) = z He_j(z) - j He_{j-1}(z); orthogonal for the standard
    Gaussian, with E[He_j(z) He_l(z)] = j! when j = l and 0 otherwise.

    Parameters
    ----------
    z : array_like
        Finite real values (any shape).
    k : int
        The degree, >= 0.

    Returns
    -------
    torch.Tensor
        He_k(z), of z's shape (float64 for a non-float input).

    Raises
    ------
    ValueError
        If k < 0 or z has a non-finite entry.
    """
    k = positive_int(k, "k", 0)
    t = torch.as_tensor(np.asarray(z) if not isinstance(z, torch.Tensor) else z)
    if not t.is_floating_point():
        t = t.double()
    if not bool(torch.isfinite(t).all()):
        raise ValueError("z must be finite; it has a nan or an infinite entry")
    previous, current = torch.ones_like(t), t.clone()
    if k == 0:
        return previous
    for j in range(1, k):
        previous, current = current, t * current - j * previous
    return current


def hermite_target(x: object, k: int, w: object | None = None) -> torch.Tensor:
    """The single-index target y = He_k(<w, x>) / sqrt(k!) with w a unit vector, shape (N,).

    Parameters
    ----------
    x : array_like, shape (N, n_0)
        Finite inputs (a 1-d array is one point); on the sphere of radius sqrt(n_0) z = <w, x> is
        nearly standard Gaussian and E[y^2] is nearly 1.
    k : int
        The degree, >= 1.
    w : array_like, shape (n_0,), optional
        The direction w* (normalised here), non-zero; default the first basis vector e_1.

    Returns
    -------
    torch.Tensor
        The targets, in x's floating dtype (float64 for a non-float input).

    Raises
    ------
    ValueError
        If k < 1, x is not finite, or w is zero, not finite or of another dimension than x.
    """
    k = positive_int(k, "k", 1)
    t = as_inputs(x)
    if not t.is_floating_point():
        t = t.double()
    if w is None:
        direction = torch.zeros(t.shape[1], dtype=t.dtype, device=t.device)
        direction[0] = 1.0
    else:
        direction = torch.as_tensor(np.asarray(w) if not isinstance(w, torch.Tensor) else w)
        direction = direction.to(t.dtype).to(t.device).reshape(-1)
        if direction.shape[0] != t.shape[1]:
            raise ValueError(
                f"w must have the dimension n_0 = {t.shape[1]} of x; got {direction.shape[0]}"
            )
        norm = float(direction.norm())
        if not math.isfinite(norm) or norm == 0.0:
            raise ValueError(f"w must be a finite non-zero vector; got norm {norm}")
        direction = direction / norm
    return hermite(t @ direction, k) / math.sqrt(math.factorial(k))


def polynomial_dimension(n0: int, k: int) -> int:
    """The dimension of the polynomials of degree <= k restricted to the sphere S^{n0-1}.

    The sum of the harmonic multiplicities N(n0, l) for l = 0..k, which telescopes to
    C(n0 + k - 1, k) + C(n0 + k - 2, k - 1) (the homogeneous polynomials of degrees k and k - 1),
    of order n0^k / k! as n0 grows.

    Parameters
    ----------
    n0 : int
        The dimension of the space, >= 2.
    k : int
        The degree, >= 0.

    Returns
    -------
    int
        The dimension.

    Raises
    ------
    ValueError
        If n0 < 2 or k < 0.
    """
    n0, k = positive_int(n0, "n0", 2), positive_int(k, "k", 0)
    return sum(harmonic_multiplicity(n0, degree) for degree in range(k + 1))


def harmonic_power(n0: int, k: int) -> float:
    """norm(P_k f*)^2: the power of the target He_k(<w, x>) / sqrt(k!) in the degree-k harmonics.

    x uniform on the sphere of radius sqrt(n0); with t = <w, x> / sqrt(n0) the cosine, Funk-Hecke
    gives P_k f* = g_k N(n0, k) P_k^{(n0)}(<w, u>) for u = x / norm(x),
    g_k = E[f* P_k^{(n0)}(t)], and the addition theorem its power g_k^2 N(n0, k). The
    expectation over t, whose density is proportional to (1 - t^2)^{(n0 - 3)/2}, is a Gauss-Jacobi
    rule, exact for the polynomial integrand.
    Tends to 1 as n0 grows; for k = 2 it is (3 n0 / (n0 + 2) - 1) / 2, the whole of E[f*^2].

    Parameters
    ----------
    n0 : int
        The dimension, >= 2.
    k : int
        The degree, >= 1.

    Returns
    -------
    float
        The power.

    Raises
    ------
    ValueError
        If n0 < 2 or k < 1.
    """
    from scipy.special import roots_jacobi

    n0, k = positive_int(n0, "n0", 2), positive_int(k, "k", 1)
    t, weights = roots_jacobi(k + 2, (n0 - 3) / 2, (n0 - 3) / 2)
    t, weights = torch.as_tensor(t), torch.as_tensor(weights / weights.sum())
    target = hermite(math.sqrt(n0) * t, k) / math.sqrt(math.factorial(k))
    g_k = float((weights * target * sphere_legendre(k, n0, t.clamp(-1, 1))[k]).sum())
    return g_k**2 * harmonic_multiplicity(n0, k)


def kernel_error_bound(n0: int, k: int, sizes: object) -> np.ndarray:
    """The projection bound norm(P_k f*)^2 (1 - N / N(n0, k))_+ for each N of ``sizes``.

    A lower bound on the mean test error of any predictor in the span of N kernel sections
    K(., x_i), valid for any kernel (and ridge), any inputs, averaged over the direction w uniform
    on the sphere; for a rotation-invariant kernel and inputs it bounds the expected error over
    training sets at any fixed w.

    Parameters
    ----------
    n0, k : int
        The dimension (>= 2) and the degree (>= 1).
    sizes : array_like
        Sample sizes N, >= 0.

    Returns
    -------
    numpy.ndarray
        The bound for each N, float.

    Raises
    ------
    ValueError
        If n0 < 2, k < 1 or a size is negative.
    """
    n = np.asarray(sizes, dtype=float)
    if not np.all(n >= 0):
        raise ValueError("sizes must be >= 0")
    power = harmonic_power(n0, k)
    return power * np.clip(1 - n / harmonic_multiplicity(n0, k), 0, None)


def relative_error(prediction: object, target: object) -> torch.Tensor:
    """The test error relative to the target's power: mean (f - y)^2 / mean y^2 over the last axis.

    Parameters
    ----------
    prediction, target : array_like
        Broadcastable, finite; ``target`` not identically zero.

    Returns
    -------
    torch.Tensor
        The relative error, one per leading index (a 0-d tensor for 1-d inputs).

    Raises
    ------
    ValueError
        If an entry is not finite or the target is zero.
    """
    f, y = torch.as_tensor(prediction).double(), torch.as_tensor(target).double()
    if not (bool(torch.isfinite(f).all()) and bool(torch.isfinite(y).all())):
        raise ValueError("prediction and target must be finite")
    power = y.square().mean(-1)
    if bool((power == 0).any()):
        raise ValueError("the target is identically zero: the relative error is not defined")
    return (f - y).square().mean(-1) / power


def crossing_size(sizes: object, errors: object, level: float) -> float:
    """The sample size at which a learning curve first falls below ``level``.

    Interpolates linearly in (log N, log error) between the last size above the level and the first
    size below it; nan if the curve never falls below it, the first size if it starts below it.

    Parameters
    ----------
    sizes : array_like, shape (K,)
        Increasing sample sizes N, positive.
    errors : array_like, shape (K,)
        The test errors at those sizes, positive and finite.
    level : float
        The level, > 0.

    Returns
    -------
    float
        The crossing N (nan if none).

    Raises
    ------
    ValueError
        For sizes that are not increasing and positive, errors of another length or not positive
        and finite, or a level <= 0.
    """
    n = np.asarray(sizes, dtype=float).reshape(-1)
    e = np.asarray(errors, dtype=float).reshape(-1)
    if n.size < 1 or e.shape != n.shape:
        raise ValueError(f"sizes and errors must have the same length >= 1; got {n.size}, {e.size}")
    if not (np.all(n > 0) and np.all(np.diff(n) > 0)):
        raise ValueError("sizes must be positive and increasing")
    if not (np.all(np.isfinite(e)) and np.all(e > 0)):
        raise ValueError("errors must be positive and finite (take the log)")
    if not (math.isfinite(level) and level > 0):
        raise ValueError(f"level must be positive; got {level}")
    below = np.flatnonzero(e < level)
    if below.size == 0:
        return math.nan
    i = int(below[0])
    if i == 0:
        return float(n[0])
    ly, lx = np.log([e[i - 1], e[i]]), np.log([n[i - 1], n[i]])
    frac = (math.log(level) - ly[0]) / (ly[1] - ly[0])
    return float(math.exp(lx[0] + frac * (lx[1] - lx[0])))
