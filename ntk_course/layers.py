"""Every layer of the infinite-width kernels on one set of points (Proposition 1 to Proposition 2).

Sigma^(l) (Proposition 1), Sigma_dot^(l) and Theta_infinity^(l) (Theorem 1) for l = 1..L, kept layer
by layer as the proof of Proposition 2 (positive definiteness of the NTK, Appendix A.4) uses them.
The same layer step as :func:`ntk_course.kernels.limiting_kernels`, on the whole N x N matrix at
once: meant for small N.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._checks import positive_int
from ._linalg import mirror_upper
from ._same_points import _in_block
from .activations import Fn
from .kernels import Act, _check_finite, _layers, _prepare
from .memory import ensure_fits, kernel_bytes
from .quadrature import warn_if_inaccurate


@dataclass
class LayerKernels:
    """The kernels of every layer on one set of points, each a list indexed by l - 1 (l = 1..L).

    Attributes
    ----------
    Sigma, Sigma_dot, Theta : list of torch.Tensor, each shape (N, N)
        Sigma^(l) (Proposition 1), Sigma_dot^(l) (None at l = 1), Theta_infinity^(l) (Theorem 1).
    """

    Sigma: list[torch.Tensor]
    Sigma_dot: list[torch.Tensor | None]
    Theta: list[torch.Tensor]


def layer_kernels(
    x: object,
    *,
    depth: int,
    activation: Act = "relu",
    beta: float = 0.1,
    derivative: Fn | None = None,
    quadrature_points: int = 64,
    dtype: torch.dtype = torch.float64,
    weight_std: float = 1.0,
) -> LayerKernels:
    """Sigma^(l), Sigma_dot^(l) and Theta^(l) on the points x (N, n_0) for every l = 1..depth.

    The recursions of Proposition 1 and Theorem 1 kept layer by layer, as the proof of Proposition 2
    (Appendix A.4) looks at them: step 1 is Theta^(l+1) = Sigma_dot^(l+1) Theta^(l) + Sigma^(l+1), a
    Schur product plus a kernel; step 2 climbs the layers of Sigma. The layer step of
    :func:`limiting_kernels` on the whole N x N matrix at once (meant for small N), every matrix
    mirrored from its upper triangle, so exactly symmetric.

    Parameters
    ----------
    x, depth, activation, beta, derivative, quadrature_points, dtype, weight_std
        As in :func:`limiting_kernels`; ``x`` has shape (N, n_0).

    Returns
    -------
    LayerKernels
        ``depth`` matrices of shape (N, N) in each of its lists, in ``dtype``.

    Raises
    ------
    ValueError, KernelMemoryError
        As :func:`limiting_kernels` (the memory of every layer is checked before any work), which
        also gives its QuadratureWarning.
    """

    def fits(xt: torch.Tensor, _: torch.Tensor) -> None:
        parts = kernel_bytes(
            xt.shape[0],
            n0=xt.shape[1],
            depth=positive_int(depth, "depth"),
            dtype=dtype,
            every_layer=True,
        )
        ensure_fits(f"layer_kernels on {xt.shape[0]:,} points", parts, xt.device)

    xt, _, qx, _, act, scales, _, same, errors, weights = _prepare(
        x, None, depth, activation, beta, derivative, dtype, quadrature_points, fits, weight_std
    )
    gram = torch.addmm(
        scales.bias(dtype, xt.device),
        scales.scaled(xt),
        xt.T,
    )
    n = xt.shape[0]
    pairs = _in_block(same, slice(0, n), slice(0, n), True, xt.device)
    out = LayerKernels([], [], [])
    for s, d, t in _layers(gram, qx, qx, act, scales, True, pairs, errors, weights):
        out.Sigma.append(mirror_upper(s))
        out.Sigma_dot.append(None if d is None else mirror_upper(d))
        out.Theta.append(mirror_upper(t))
        _check_finite(out.Sigma[-1], "Sigma")
        _check_finite(out.Theta[-1], "Theta")
    warn_if_inaccurate(max(errors, default=0.0), act.name, dtype)
    return out
