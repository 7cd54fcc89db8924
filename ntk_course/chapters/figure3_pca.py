"""Figure 3 of Jacot, Gabriel & Hongler (2018), Section 6.3: the digits' kernel principal
components.

The limiting NTK Theta_infinity^(L) on a batch of N MNIST digits defines Pi = Theta/N (Section 5);
its eigenfunctions f^(1), f^(2), ... are the non-centred kernel principal components, and the
decay rate of a network's function along one of them is <f^(i), Theta_t f^(i)>_{p_in} / N, lam_i in
the limit. This module holds the kernel PCA of the digits (:func:`digits_pca`); the rate is
:func:`ntk_course.rate_along`, and :mod:`.figure3` trains the networks along a component.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..architecture import Architecture
from ..config import default_device
from ..digits import mnist
from ..spectral import kernel_pca

#: Eigenvalues of Pi reported in Section 6.3 (n = 10,000 network, power iteration, 512 digits).
PAPER_EIGENVALUES = (0.0457, 0.00108, 0.00078)
N_EIGEN = 10  # eigenvalues/components kept in the result (the chapter's widget browses them)


@dataclass
class DigitsPCA:
    """Non-centred kernel PCA of a batch of digits w.r.t. Theta_infinity (Sections 5 and 6.3).

    ``eigenvalues`` (K,) of Pi = Theta/N, descending; ``components`` (N, K) the p_in-normalised
    f^(1..K) on the digits ((1/N) sum_j f^(i)(x_j)^2 = 1); ``labels`` (N,) the digits' classes;
    ``images`` (N, 784) the scaled inputs (on the CPU, float32); ``seconds`` the time it took.
    """

    eigenvalues: torch.Tensor
    components: torch.Tensor
    labels: torch.Tensor
    images: torch.Tensor
    seconds: float = 0.0


def digits_pca(
    arch: Architecture,
    n_digits: int = 512,
    *,
    scaling: str = "pixel",
    offset: int = 0,
    n_components: int = N_EIGEN,
    device: torch.device | str | None = None,
) -> DigitsPCA:
    """Kernel PCA of digits ``offset .. offset + n_digits - 1`` w.r.t. ``arch.ntk`` (Sections 5,
    6.3).

    Parameters
    ----------
    arch : Architecture
        Whose limiting NTK Theta_infinity^(L) (Theorem 1) defines Pi = Theta / N.
    n_digits : int
        N, the number of MNIST test digits (Section 6.3 uses 512; its batch is unknown).
    scaling, offset
        As :func:`ntk_course.digits.mnist`.
    n_components : int
        K <= N, the components kept.
    device
        Where Theta is computed (float64; CUDA when present); the result is on the CPU.

    Returns
    -------
    DigitsPCA
        Eigenvalues (K,), components (N, K), labels (N,), images (N, 784).

    Raises
    ------
    ValueError
        If ``n_components`` exceeds ``n_digits``, and for what :func:`~ntk_course.digits.mnist`
        and :meth:`~ntk_course.Architecture.ntk` refuse.
    """
    if n_components > n_digits:
        raise ValueError(f"n_components must be at most n_digits = {n_digits}; got {n_components}")
    dev = torch.device(device) if device is not None else default_device()
    start = time.perf_counter()
    x, labels = mnist(n_digits, scaling=scaling, offset=offset, device=dev)
    pca = kernel_pca(arch.ntk(x), n_components)
    return DigitsPCA(
        eigenvalues=pca.eigenvalues.cpu(),
        components=pca.components.cpu(),
        labels=labels.cpu(),
        images=x.to(torch.float32).cpu(),
        seconds=time.perf_counter() - start,
    )


__all__ = ["N_EIGEN", "PAPER_EIGENVALUES", "DigitsPCA", "digits_pca"]
