"""Nonlinearities sigma, their derivatives, and the Gaussian expectations the kernels need.

For a centred Gaussian pair (u, v) with covariance [[q_xx, q_xy], [q_xy, q_yy]] the recursions of
Proposition 1 and Theorem 1 need E[sigma(u) sigma(v)] and E[sigma_dot(u) sigma_dot(v)].
ReLU (Cho & Saul 2009, the arc-cosine kernels) and erf (Williams 1997) have closed forms; any other
activation is integrated by two-dimensional Gauss-Hermite quadrature (App. A.4 uses the same
Gaussian integrals).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .quadrature import check_nodes, gaussian_expectations

Fn = Callable[[torch.Tensor], torch.Tensor]

TWO_PI = 2.0 * math.pi


def _autograd_derivative(sigma: Fn) -> Fn:
    def sigma_dot(z: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            zz = z.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(sigma(zz).sum(), zz)
        return g

    return sigma_dot


@dataclass(frozen=True)
class Activation:
    """A nonlinearity sigma with its derivative sigma_dot (Sec. 2; Remark 3 for kinks).

    ``expectations`` returns the pair (E[sigma(u)sigma(v)], E[sigma_dot(u)sigma_dot(v)]) for
    centred Gaussians of the given covariance, elementwise over tensors of equal shape.
    """

    name: str
    sigma: Fn
    sigma_dot: Fn
    closed_form: Callable[..., tuple[torch.Tensor, torch.Tensor]] | None = field(default=None, repr=False)
    quadrature_points: int = 64

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.sigma(z)

    def expectations(
        self, q_xx: torch.Tensor, q_xy: torch.Tensor, q_yy: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """E[sigma(u)sigma(v)] and E[sigma_dot(u)sigma_dot(v)], (u, v) ~ N(0, [[q_xx, q_xy], [q_xy, q_yy]])."""
        if self.closed_form is not None:
            return self.closed_form(q_xx, q_xy, q_yy)
        return gaussian_expectations(self.sigma, self.sigma_dot, q_xx, q_xy, q_yy, self.quadrature_points)


def _relu_closed_form(q_xx: torch.Tensor, q_xy: torch.Tensor, q_yy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Arc-cosine kernels of degree 1 and 0 (Cho & Saul 2009).

    With s = sqrt(q_xx q_yy - q_xy^2) and the angle phi = atan2(s, q_xy):
    E[relu(u)relu(v)] = (s + (pi - phi) q_xy) / (2 pi) and E[step(u)step(v)] = (pi - phi) / (2 pi).
    The angle comes from atan2, so a zero input or identical points give finite values.
    """
    # Two separately rounded products (not a fused multiply-add), so that q_xy = q_xx = q_yy gives
    # exactly s = 0: the square root would turn a rounding residue into an angle of ~1e-8.
    s = torch.mul(q_xx, q_yy).sub_(torch.mul(q_xy, q_xy)).clamp_(min=0.0).sqrt_()
    pi_minus_phi = torch.atan2(s, q_xy).neg_().add_(math.pi)
    return torch.addcmul(s, pi_minus_phi, q_xy).div_(TWO_PI), pi_minus_phi.div_(TWO_PI)


def _erf_closed_form(q_xx: torch.Tensor, q_xy: torch.Tensor, q_yy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """E[erf(u)erf(v)] = (2/pi) asin(2 q_xy / sqrt((1+2q_xx)(1+2q_yy))) (Williams 1997) and
    E[erf'(u)erf'(v)] = (4/pi) / sqrt((1+2q_xx)(1+2q_yy) - 4 q_xy^2)."""
    a = (1.0 + 2.0 * q_xx) * (1.0 + 2.0 * q_yy)
    ratio = (2.0 * q_xy / a.sqrt()).clamp_(-1.0, 1.0)
    det = (a - 4.0 * q_xy * q_xy).clamp_(min=torch.finfo(a.dtype).tiny)
    return (2.0 / math.pi) * torch.asin(ratio), (4.0 / math.pi) / det.sqrt()


def _relu_dot(z: torch.Tensor) -> torch.Tensor:
    return (z > 0).to(z.dtype)


def _erf_dot(z: torch.Tensor) -> torch.Tensor:
    return (2.0 / math.sqrt(math.pi)) * torch.exp(-z * z)


def _tanh_dot(z: torch.Tensor) -> torch.Tensor:
    return 1.0 - torch.tanh(z) ** 2


def _sigmoid_dot(z: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(z)
    return s * (1.0 - s)


def _gelu_dot(z: torch.Tensor) -> torch.Tensor:
    cdf = 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))
    pdf = torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return cdf + z * pdf


_NAMED: dict[str, tuple[Fn, Fn, Callable[..., tuple[torch.Tensor, torch.Tensor]] | None]] = {
    "relu": (torch.relu, _relu_dot, _relu_closed_form),
    "erf": (torch.erf, _erf_dot, _erf_closed_form),
    "tanh": (torch.tanh, _tanh_dot, None),
    "sigmoid": (torch.sigmoid, _sigmoid_dot, None),
    "softplus": (torch.nn.functional.softplus, torch.sigmoid, None),
    "gelu": (torch.nn.functional.gelu, _gelu_dot, None),
    "identity": (lambda z: z, torch.ones_like, None),
}

ACTIVATIONS = tuple(_NAMED) + ("polynomial",)


def polynomial(coefficients: list[float] | tuple[float, ...]) -> Activation:
    """The polynomial activation sigma(z) = sum_k c_k z^k (Remark 5: its NTK is not positive definite)."""
    coeffs = [float(c) for c in coefficients]
    if not coeffs or not all(math.isfinite(c) for c in coeffs):
        raise ValueError(f"polynomial coefficients must be a non-empty list of finite numbers; got {coefficients!r}")
    dcoeffs = [k * c for k, c in enumerate(coeffs)][1:] or [0.0]

    def horner(cs: list[float]) -> Fn:
        def f(z: torch.Tensor) -> torch.Tensor:
            out = torch.full_like(z, cs[-1])
            for c in reversed(cs[:-1]):
                out = out * z + c
            return out

        return f

    degree = len(coeffs) - 1
    # Gauss-Hermite with n nodes is exact for polynomials of degree 2n - 1 in each variable.
    return Activation(f"polynomial{tuple(coeffs)}", horner(coeffs), horner(dcoeffs), None, max(degree + 1, 2))


def get_activation(
    activation: str | Activation | Fn, derivative: Fn | None = None, quadrature_points: int = 64
) -> Activation:
    """Resolve a name (see ``ACTIVATIONS``), an :class:`Activation`, or a user's callable.

    A callable without ``derivative`` is differentiated by autograd; its Gaussian expectations use
    Gauss-Hermite quadrature with ``quadrature_points`` nodes per dimension.
    """
    quadrature_points = check_nodes(quadrature_points)
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        key = activation.strip().lower()
        if key not in _NAMED:
            raise ValueError(
                f"unknown activation {activation!r}; expected one of {sorted(_NAMED)}, "
                "ntk_course.activations.polynomial([...]) or a callable"
            )
        sigma, sigma_dot, closed = _NAMED[key]
        return Activation(key, sigma, sigma_dot, closed, quadrature_points)
    if callable(activation):
        name = getattr(activation, "__name__", "custom")
        return Activation(name, activation, derivative or _autograd_derivative(activation), None, quadrature_points)
    raise ValueError(f"activation must be a name from {sorted(_NAMED)}, an Activation or a callable; got {activation!r}")
