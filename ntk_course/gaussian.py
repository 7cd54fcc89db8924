"""The t -> infinity Gaussian of Section 5 and its pointwise bands (Figure 2, Section 6.2).

A network at initialisation is the centred Gaussian process f_0 ~ GP(0, Sigma) of Proposition 1
(Sigma the NNGP); trained by the least-squares flow with the NTK Theta (Theorem 2), f_t stays
Gaussian, with the mean and covariance of :func:`gaussian_limit` (Section 5), and at t = infinity
its mean is kernel regression. :func:`percentiles` turns that law into the 10th/50th/90th percentile
bands of Figure 2. The flow itself is :mod:`ntk_course.flow`.
"""

from __future__ import annotations

import numpy as np
import torch

from ._checks import finite_array, kernel_matrix, times
from ._linalg import out_dtype, pi_spectrum
from .flow import _phi


def gaussian_limit(
    theta_train: object,
    sigma_train: object,
    y_train: object,
    *,
    theta_test_train: object,
    sigma_test_train: object,
    sigma_test: object,
    t: object | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of f_t on test points, f_0 ~ GP(0, Sigma) trained with the NTK Theta.

    Section 5: f_0 is the centred Gaussian process of Proposition 1 (covariance Sigma, the NNGP)
    and f_t follows the least-squares flow with the NTK Theta, so
    f_t(x) = f_0(x) + A_t (y - f_0(X)) is Gaussian with::

        mean_t = A_t y,   cov_t = Sigma_xx - A_t Sigma_Xx - Sigma_xX A_t^T + A_t Sigma_XX A_t^T,
        A_t = Theta_xX Theta_XX^{-1} (I - e^{-t Theta_XX / N}).

    ``t=None`` is t = infinity, A = Theta_xX Theta_XX^{-1} (kernel regression, the MAP estimate of
    Section 5): Theta_XX must then be positive definite, and the variance vanishes on the training
    points. Finite times use one eigendecomposition for all of them. The k outputs of a (N, k)
    ``y_train`` share one covariance. Results come back on ``theta_train``'s device, in its
    floating dtype (float64 for anything else).

    Parameters
    ----------
    theta_train : array_like, shape (N, N)
        Theta_XX, the NTK on the training points: symmetric PSD (positive definite if ``t=None``).
    sigma_train : array_like, shape (N, N)
        Sigma_XX, the NNGP on the training points: symmetric.
    y_train : array_like, shape (N,) or (N, k)
        The targets y.
    theta_test_train : array_like, shape (M, N)
        Theta_xX between the M test points and the training points.
    sigma_test_train : array_like, shape (M, N)
        Sigma_xX between the test points and the training points.
    sigma_test : array_like, shape (M, M)
        Sigma_xx on the test points: symmetric.
    t : array_like, shape (T,) or scalar, optional
        Finite times >= 0 (t = learning rate x steps); None (default) is t = infinity.

    Returns
    -------
    mean : torch.Tensor, shape (M,) or (M, k); (T, M) or (T, M, k) for finite ``t``
        The mean A_t y of f_t on the test points.
    covariance : torch.Tensor, shape (M, M); (T, M, M) for finite ``t``
        The covariance cov_t of f_t on the test points, exactly symmetric.

    Raises
    ------
    ValueError
        If an argument is not a real finite numeric array, is empty or has the wrong number of
        dimensions; if the shapes do not match (N training points, M test points); if
        ``theta_train``, ``sigma_train`` or ``sigma_test`` is not square and symmetric; if ``t`` is
        not 0-d or 1-d, is empty or holds a negative time; if ``theta_train`` has a clearly
        negative eigenvalue (finite ``t``); or if ``t=None`` and ``theta_train`` is numerically
        singular or indefinite (pass finite times or add a small ridge).
    """
    th = kernel_matrix(theta_train, "theta_train", symmetric=True)
    n, dev = th.shape[0], th.device
    sg = kernel_matrix(
        sigma_train, "sigma_train", rows=n, symmetric=True, match="theta_train", device=dev
    )
    y = finite_array(
        y_train, "y_train", rows=n, match="theta_train's N training points", device=dev
    )
    thx = kernel_matrix(
        theta_test_train,
        "theta_test_train",
        cols=n,
        match="theta_train's N training points",
        device=dev,
    )
    m = thx.shape[0]
    sgx = kernel_matrix(
        sigma_test_train,
        "sigma_test_train",
        rows=m,
        cols=n,
        match="theta_test_train (M, N)",
        device=dev,
    )
    sgxx = kernel_matrix(
        sigma_test,
        "sigma_test",
        rows=m,
        symmetric=True,
        match="the M test points of theta_test_train",
        device=dev,
    )
    tt = None if t is None else times(t, torch.float64, dev)

    if tt is None:
        chol, info = torch.linalg.cholesky_ex(th)
        d = chol.diagonal()
        # cond(Theta) >= (max L_ii / min L_ii)^2, so a tiny ratio proves Theta is numerically
        # singular.
        if int(info) != 0 or float((d.min() / d.max()) ** 2) < n * torch.finfo(th.dtype).eps:
            raise ValueError(
                "theta_train must be positive definite on the training points for t = infinity "
                "(Section 5); it is singular or indefinite: pass finite times t, "
                "or add a small ridge"
            )
        a = torch.cholesky_solve(thx.mT, chol).mT  # (M, N): Theta_xX Theta_XX^{-1}
    else:
        lam, v = pi_spectrum(th, "theta_train")
        phi = _phi(lam, tt).mT / n  # (T, N): (1 - e^{-lam t}) / (N lam)
        a = ((thx @ v)[None] * phi[:, None, :]) @ v.mT  # (T, M, N): A_t
    cross = a @ sgx.mT  # A Sigma_Xx
    cov = sgxx - cross - cross.mT + a @ sg @ a.mT
    dtype = out_dtype(theta_train)
    return (a @ y).to(dtype), ((cov + cov.mT) / 2).to(dtype)


def percentiles(mean: object, covariance: object, q: object = (10, 50, 90)) -> torch.Tensor:
    """Pointwise percentiles of the Gaussian (mean, covariance), as in Figure 2 of Section 6.2.

    Percentile p of point j is mean_j + Phi^{-1}(p/100) sqrt(max(cov_jj, 0)), with Phi the standard
    normal distribution function: the bands drawn around the t -> infinity Gaussian of
    :func:`gaussian_limit`. Negative round-off variances count as 0.

    Parameters
    ----------
    mean : array_like, shape (..., M) or (..., M, k)
        The means; a floating dtype is kept (integers become float64).
    covariance : array_like, shape (..., M, M)
        The covariances, with the leading shape of ``mean``; only their diagonals are read.
    q : array_like of float, default (10, 50, 90)
        Percentiles strictly between 0 and 100.

    Returns
    -------
    torch.Tensor, shape ``(len(q), *mean.shape)``
        The percentiles, in ``mean``'s dtype and on its device.

    Raises
    ------
    ValueError
        If ``mean`` or ``covariance`` is not a real finite numeric array or is empty or 0-d; if
        ``covariance`` is not (..., M, M) matching ``mean``; or if ``q`` is empty or holds a value
        outside (0, 100).
    """
    mu = finite_array(mean, "mean", ndims=None, dtype=None)
    cov = finite_array(covariance, "covariance", ndims=None, dtype=mu.dtype, device=mu.device)
    if cov.ndim < 2 or cov.shape[-1] != cov.shape[-2] or mu.shape[: cov.ndim - 1] != cov.shape[:-1]:
        raise ValueError(
            "covariance must be (..., M, M) matching mean (..., M[, k]); "
            f"got shapes {tuple(mu.shape)} and {tuple(cov.shape)}"
        )
    qs = np.asarray(q, dtype=float).reshape(-1)
    if qs.size == 0 or not np.all((qs > 0) & (qs < 100)):
        raise ValueError(f"q must hold percentiles strictly between 0 and 100; got {qs.tolist()}")
    z = torch.special.ndtri(torch.as_tensor(qs / 100, dtype=torch.float64)).to(mu)
    std = cov.diagonal(dim1=-2, dim2=-1).clamp_min(0).sqrt()
    std = std.reshape(std.shape + (1,) * (mu.ndim - std.ndim))
    return mu + z.reshape((-1,) + (1,) * mu.ndim) * std
