"""One layer step of the kernel recursions (Proposition 1, Theorem 1), shared by every kernel.

:func:`_layers` carries Sigma^(l), Sigma_dot^(l) and Theta^(l) of one block (or one whole matrix,
for :func:`ntk_course.layers.layer_kernels`) through the layers; :func:`_variances` gives the
diagonals Sigma^(l)(x, x); identical points keep their variance (:mod:`ntk_course._same_points`) and
collinear or antipodal ones a correlation of exactly +-1 (:func:`_collinear`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import torch

from ._same_points import Pairs
from .activations import Activation

__all__ = [
    "COLLINEAR",
    "Scales",
    "_check_finite",
    "_collinear",
    "_layers",
    "_out_dtype",
    "_variances",
]


class Scales(NamedTuple):
    """sigma_w^2 and beta^2 of the layer step.

    Sigma^(1) = sigma_w^2 x.x' / n_0 + beta^2, Sigma^(l+1) = sigma_w^2 E[sigma sigma] + beta^2 and
    Sigma_dot^(l+1) = sigma_w^2 E[sigma_dot sigma_dot]; sigma_w = 1 in the paper.
    """

    w2: float
    beta2: float | torch.Tensor  # a 0-d tensor when autograd differentiates with respect to beta

    def bias(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """beta^2 as a (1, 1) tensor, to start the Gram product Sigma^(1) from."""
        if isinstance(self.beta2, torch.Tensor):
            return self.beta2.to(device=device, dtype=dtype).reshape(1, 1)
        return torch.full((1, 1), self.beta2, dtype=dtype, device=device)

    def first(self, x: torch.Tensor) -> torch.Tensor:
        """Sigma^(1)(x, x) of the rows of x."""
        return self.scaled(x * x).sum(1) + self.beta2

    def scaled(self, x: torch.Tensor) -> torch.Tensor:
        """sigma_w^2 x / n_0 (x / n_0, exactly as before sigma_w existed, when sigma_w = 1)."""
        x = x / x.shape[1]
        return x if self.w2 == 1.0 else x * self.w2


# Correlations within COLLINEAR * eps of +-1 at layer 1 are +-1 (collinear or antipodal points).
COLLINEAR = 64


def _variances(
    q: torch.Tensor, depth: int, act: Activation, scales: Scales, errors: list[float]
) -> tuple[list[torch.Tensor], list[float]]:
    """Sigma^(l)(x, x) for l = 1..depth, and the weight of each layer step's quadrature error.

    Only these variances enter the off-diagonal recursion. The quadrature's error is relative to
    sqrt(E[f(u)^2] E[f(v)^2]) for f = sigma, sigma_dot, but a kernel entry adds beta^2 to
    sigma_w^2 E[sigma sigma] (Sigma^(l+1)) and Sigma^(l+1) to Theta^(l) sigma_w^2 E[sigma_dot
    sigma_dot] (Theta^(l+1)): relative to the kernel, the error of step l -> l+1 is at most the
    quadrature's times ``weights[l-1]`` = max(S / (S + beta^2), T / (T + beta^2)), S the largest
    sigma_w^2 E[sigma(u)^2] and T the largest Theta^(l)(x, x) sigma_w^2 E[sigma_dot(u)^2]
    (s / (s + beta^2) grows with s). So an expectation that beta^2 dominates (relu(z - 1) on small
    variances) is no cause for a warning.
    """
    out, weights, theta = [q], [], q
    for _ in range(depth - 1):
        e_s, e_d, err = act.expectations_and_error(q, q, q)
        if scales.w2 != 1.0:
            e_s, e_d = e_s * scales.w2, e_d * scales.w2
        grown = theta * e_d
        beta2 = float(torch.as_tensor(scales.beta2).detach())
        weight = max(_share(e_s, beta2), _share(grown, beta2))
        errors.append(err * weight)
        weights.append(weight)
        q = e_s + scales.beta2
        theta = grown + q
        out.append(q)
    return out, weights


def _share(part: torch.Tensor, beta2: float) -> float:
    """max(part) / (max(part) + beta^2): 1 when beta = 0 or the part is not finite."""
    part = part.detach()
    finite = part[torch.isfinite(part)]
    largest = float(finite.abs().max()) if finite.numel() else math.inf
    return largest / (largest + beta2) if beta2 > 0 and math.isfinite(largest) else 1.0


def _collinear(
    Sigma: torch.Tensor,
    qx: torch.Tensor,
    qy: torch.Tensor,
    lined: torch.Tensor | None,
    slack: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Snap correlations within rounding of +-1 to exactly +-1; the entries snapped, or None.

    At layer 1 (``lined`` None) every entry is tried: collinear or antipodal points (beta = 0) whose
    Gram entry is rounded. At a later layer only the entries snapped at the layer before, whose
    correlation is then exactly +-1 in exact arithmetic or clearly away from it (ReLU maps -1 to 0):
    the arcsine kernel of a step has an infinite slope at +-1, and would turn a rounding of 1e-16
    into an error of 1e-8, amplified at every layer. ``COLLINEAR`` sets the distance from +-1, in
    units of the dtype's epsilon, or ``slack`` when larger: at a later layer, a few times the
    quadrature's estimated error, which separates the covariance from the variances it is compared
    with even when the exact correlation is +-1.
    """
    root = torch.mul(qx[:, None], qy[None, :]).sqrt_()
    tolerance = max(COLLINEAR * torch.finfo(Sigma.dtype).eps, slack)
    near = Sigma.abs() >= root * (1.0 - tolerance)
    near &= root > 0
    if lined is not None:
        near &= lined
    if not bool(near.any()):
        return Sigma, None
    return torch.where(near, torch.copysign(root, Sigma), Sigma), near


def _layers(
    gram: torch.Tensor,
    qx: list[torch.Tensor],
    qy: list[torch.Tensor],
    act: Activation,
    scales: Scales,
    with_theta: bool,
    same: Pairs | None,
    errors: list[float],
    weights: list[float],
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]]:
    """Yield (Sigma^(l), Sigma_dot^(l), Theta^(l)) for l = 1..L from Sigma^(1) = ``gram``.

    ``qx[l-1]`` and ``qy[l-1]`` are the variances Sigma^(l)(x, x) and Sigma^(l)(y, y) of the rows
    and columns; at the entries ``same`` = (rows, columns) of identical points Sigma^(l) is that
    variance, at every layer, and at collinear or antipodal pairs the correlation is exactly +-1
    (:func:`_collinear`). Sigma_dot^(1) does not exist (None); Theta is None when ``with_theta``
    is False. The quadrature's error estimates are appended to ``errors``, each times the
    ``weights`` of its layer step (:func:`_variances`: the error relative to the kernel).
    """
    Sigma, lined = _collinear(gram, qx[0], qy[0], None)
    # the variances' own quadrature errors come first in ``errors`` (:func:`_variances`)
    floor = max(errors[: 2 * len(qx)], default=0.0)
    if same is not None:
        Sigma[same] = qx[0][same[0]]
    Theta = Sigma.clone() if with_theta else None
    yield Sigma, None, Theta
    for l in range(1, len(qx)):
        e_s, Sigma_dot, err = act.expectations_and_error(
            qx[l - 1][:, None], Sigma, qy[l - 1][None, :]
        )
        err *= weights[l - 1]
        errors.append(err)
        if scales.w2 != 1.0:
            e_s, Sigma_dot = e_s * scales.w2, Sigma_dot * scales.w2
        Sigma = e_s.add_(scales.beta2)
        if lined is not None:
            Sigma, lined = _collinear(Sigma, qx[l], qy[l], lined, 8.0 * max(err, floor))
        if same is not None:
            Sigma[same] = qx[l][same[0]]
        if Theta is not None:
            Theta = torch.addcmul(Sigma, Theta, Sigma_dot)
        yield Sigma, Sigma_dot, Theta


def _out_dtype(out_dtype: object, dtype: torch.dtype) -> torch.dtype:
    """The storage dtype of the results: ``dtype`` when None, else a floating torch dtype."""
    if out_dtype is None:
        return dtype
    if not isinstance(out_dtype, torch.dtype) or not out_dtype.is_floating_point:
        raise ValueError(
            "out_dtype must be a floating torch dtype such as torch.float32 (or None); "
            f"got {out_dtype!r}"
        )
    return out_dtype


def _check_finite(k: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(k).all()):
        raise ValueError(
            f"{name} has non-finite entries: the activation's Gaussian expectations overflowed; "
            "use smaller inputs, a smaller depth or a bounded activation"
        )
