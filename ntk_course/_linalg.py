"""Small linear-algebra steps shared by the kernels, the flows and the random-features model."""

from __future__ import annotations

import torch

# Eigenvalues of K/N below -PSD_RTOL * max|eigenvalue| mean the kernel is not positive semi-definite
# (a flow would blow up); smaller negative ones are round-off (a float32 Gram matrix cast to
# float64 reaches ~1e-6 at N in the thousands) and are set to 0.
PSD_RTOL = 1e-5


def mirror_upper(k: torch.Tensor) -> torch.Tensor:
    """The symmetric matrix whose upper triangle is that of ``k``: symmetric to the last bit."""
    return torch.triu(k) + torch.triu(k, 1).mT


def pi_spectrum(k: torch.Tensor, name: str = "k_train") -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition K/N = V diag(lam) V^T (Section 5), lam ASCENDING as from eigh.

    The order is the one torch.linalg.eigh gives.

    ``k`` is a checked symmetric float64 (N, N) matrix. Eigenvalues below N * eps * lam_max (the
    numerical rank tolerance) are set to exactly 0; clearly negative ones raise ValueError.
    """
    n = k.shape[0]
    lam, v = torch.linalg.eigh(k)
    lam = lam / n
    top = float(lam.abs().amax())
    low = float(lam[0])
    if low < -PSD_RTOL * top:
        raise ValueError(
            f"{name} must be positive semi-definite: K/N has eigenvalue {low:.3g} < 0 "
            f"(largest magnitude {top:.3g}); a kernel gradient flow needs a PSD kernel (Section 3)"
        )
    lam = torch.where(lam > n * torch.finfo(lam.dtype).eps * top, lam, torch.zeros_like(lam))
    return lam, v


def out_dtype(x: object) -> torch.dtype:
    """Results come back in the input's floating dtype (float64 for anything else)."""
    return x.dtype if isinstance(x, torch.Tensor) and torch.is_floating_point(x) else torch.float64
