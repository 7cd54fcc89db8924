"""The random functions approximation of Section 3.1 (Jacot, Gabriel & Hongler 2018).

Draw P functions f^(p) iid with (non-centred) covariance E[f^(p)(x) f^(p)(x')] = K(x, x'), here
f^(p) ~ N(0, K) on N points, and parametrise the linear model

    f_theta = (1 / sqrt(P)) sum_p theta_p f^(p).

Gradient descent on theta is then kernel gradient descent with the random tangent kernel
K_tilde = (1/P) sum_p f^(p) (f^(p))^T, which tends to K as P -> infinity (law of large numbers,
error of order 1/sqrt(P)): the toy version of the infinite-width limit of Theorem 2.
The cost is the paper's, C = 1/(2N) sum_i ||f(x_i) - y_i||^2, so one step of size lr moves
f by -(lr / N) K_tilde (f - y).
"""

from __future__ import annotations

import math

import torch

from ._checks import (
    finite_array,
    generator_from,
    kernel_matrix,
    non_negative,
    positive_int,
)
from ._linalg import mirror_upper, pi_spectrum


class RandomFeatures:
    """P random functions f^(p) ~ N(0, K) on N points and the linear model they span (Section 3.1).

    The model f_theta = (1/sqrt(P)) sum_p theta_p f^(p) of Section 3.1, whose tangent kernel
    K_tilde tends to K as P grows. The draw uses ``torch.linalg.eigh``: f = V sqrt(Lambda) z with
    z ~ N(0, Id), eigenvalues below the round-off level N eps lambda_max set to 0. Computes in
    ``dtype`` on the kernel's device; integer arrays (kernel, theta, y) are cast to it.

    Parameters
    ----------
    kernel : array_like, shape (N, N)
        A PSD Gram matrix K, symmetric up to round-off (it is symmetrised); singular is fine.
    n_functions : int
        P, the number of random functions, >= 1.
    generator : torch.Generator, optional
        On the kernel's device, for reproducible draws; pass a ``generator`` or a ``seed``, not
        both. With neither, torch's global generator is used.
    seed : int, optional
        Seeds a fresh generator (an integer >= 0).
    dtype : torch.dtype, default torch.float64
        The dtype of ``kernel`` and ``features``.

    Attributes
    ----------
    kernel : torch.Tensor, shape (N, N)
        K, symmetrised, in ``dtype``.
    features : torch.Tensor, shape (N, P)
        F, whose column p is f^(p).

    Raises
    ------
    ValueError
        If ``kernel`` is not a finite, square, symmetric matrix or has a clearly negative
        eigenvalue, ``n_functions`` < 1, ``seed`` < 0, or both a generator and a seed are given.
    """

    def __init__(
        self,
        kernel: object,
        n_functions: int,
        *,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        n_functions = positive_int(n_functions, "n_functions (P)")
        k = kernel_matrix(kernel, "kernel", symmetric=True).to(dtype)
        k = (k + k.mT) / 2
        gen = generator_from(generator, seed, k.device)
        # eigh of K; eigenvalues below its round-off (N eps lambda_max) become 0, so the features
        # stay in the range of a singular K; a clearly negative eigenvalue raises ValueError.
        lam, vectors = pi_spectrum(k, "kernel")
        values = lam * k.shape[0]
        z = torch.randn(k.shape[0], n_functions, generator=gen, dtype=dtype, device=k.device)
        self.kernel = k
        self.features = (vectors * values.sqrt()) @ z

    @property
    def n_points(self) -> int:
        """N, the number of input points."""
        return self.features.shape[0]

    @property
    def n_functions(self) -> int:
        """P, the number of random functions (parameters)."""
        return self.features.shape[1]

    def _theta(self, theta: object) -> torch.Tensor:
        return finite_array(
            theta,
            "theta",
            rows=self.n_functions,
            match="P, the number of random functions",
            dtype=self.features.dtype,
            device=self.features.device,
        )

    def function(self, theta: object) -> torch.Tensor:
        """f_theta = (1/sqrt(P)) sum_p theta_p f^(p) on the N points (Sec. 3.1).

        Parameters
        ----------
        theta : array_like
            Shape (P,) or (P, k): the parameters.

        Returns
        -------
        torch.Tensor
            Shape (N,) or (N, k).

        Raises
        ------
        ValueError
            If theta does not have P finite rows.
        """
        return self.features @ self._theta(theta) / math.sqrt(self.n_functions)

    def tangent_kernel(self) -> torch.Tensor:
        """K_tilde = (1/P) sum_p f^(p) (f^(p))^T = F F^T / P, the tangent kernel of f_theta.

        Section 3.1. It does not depend on theta (the model is linear) and E[K_tilde] = K.
        """
        k = self.features @ self.features.T / self.n_functions
        return mirror_upper(k)

    def train(
        self, y: object, *, steps: int, lr: float, theta: object | None = None
    ) -> torch.Tensor:
        """Gradient descent on theta for C(theta) = 1/(2N) sum_i ||f_theta(x_i) - y_i||^2.

        Section 3.1. The gradient is taken by autograd, as for a network; each step is
        theta <- theta - lr dC/dtheta, which moves f by -(lr/N) K_tilde (f - y): discrete kernel
        gradient descent with K_tilde (time t = lr x steps).

        Parameters
        ----------
        y : array_like
            Shape (N,) or (N, k): the targets.
        steps : int
            The number of steps, >= 0.
        lr : float
            The learning rate, >= 0.
        theta : array_like, optional
            Shape (P,) or (P, k): the start; defaults to zeros (theta ~ N(0, Id) would make f_theta
            a Gaussian process of covariance K_tilde).

        Returns
        -------
        torch.Tensor
            The function values f_theta on the N points after 0, 1, ..., steps steps, shape
            (steps + 1, N) or (steps + 1, N, k).

        Raises
        ------
        ValueError
            If steps < 0, lr < 0, y or theta has the wrong rows or non-finite entries, or their
            shapes do not match.
        """
        steps = positive_int(steps, "steps", 0)
        lr = non_negative(lr, "lr")
        target = finite_array(
            y,
            "y",
            rows=self.n_points,
            match="the N points of the kernel",
            dtype=self.features.dtype,
            device=self.features.device,
        )
        start = torch.zeros(self.n_functions, *target.shape[1:]) if theta is None else theta
        th = self._theta(start).clone()
        if th.shape[1:] != target.shape[1:]:
            raise ValueError(
                f"theta of shape {tuple(th.shape)} does not match y of shape {tuple(target.shape)}"
            )
        values = [self.function(th)]
        with torch.enable_grad():
            th.requires_grad_(True)
            for _ in range(steps):
                cost = (self.function(th) - target).pow(2).sum() / (2 * self.n_points)
                (grad,) = torch.autograd.grad(cost, th)
                with torch.no_grad():
                    th -= lr * grad
                    values.append(self.function(th))
        return torch.stack(values).detach()


def relative_kernel_error(k_tilde: object, k: object) -> float:
    """||K_tilde - K||_F / ||K||_F, how far a random tangent kernel is from its limit (Sec. 3.1).

    For Gaussian random functions E||K_tilde - K||_F^2 = ((tr K)^2 + ||K||_F^2) / P, so the error
    shrinks like 1/sqrt(P).
    """
    kk = kernel_matrix(k, "K")
    kt = kernel_matrix(k_tilde, "K_tilde", device=kk.device)
    if kt.shape != kk.shape:
        raise ValueError(
            "K_tilde and K must be matrices of the same shape; "
            f"got {tuple(kt.shape)} and {tuple(kk.shape)}"
        )
    norm = torch.linalg.matrix_norm(kk)
    if float(norm) == 0.0:
        raise ValueError("K must be non-zero: the relative error divides by ||K||_F")
    return float(torch.linalg.matrix_norm(kt - kk) / norm)
