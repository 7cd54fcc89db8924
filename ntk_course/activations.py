"""Nonlinearities sigma, their derivatives, and the Gaussian expectations the kernels need.

For a centred Gaussian pair (u, v) with covariance [[q_xx, q_xy], [q_xy, q_yy]] the recursions of
Proposition 1 and Theorem 1 need E[sigma(u) sigma(v)] and E[sigma_dot(u) sigma_dot(v)].
ReLU (Cho & Saul 2009, the arc-cosine kernels) and erf (Williams 1997) have closed forms; every
other activation goes to :mod:`ntk_course.quadrature`, whose rules split at kinks, follow large
variances and estimate their own error (App. A.4 uses the same Gaussian integrals). A user's
callable gets its derivative from autograd and its kinks from
:func:`~ntk_course.quadrature.find_breakpoints`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch

from ._elementwise import check_differentiable, check_elementwise
from .quadrature import Profile, expectations_and_error, warn_if_inaccurate
from .quadrature_rules import check_nodes

Fn = Callable[[torch.Tensor], torch.Tensor]

TWO_PI = 2.0 * math.pi
DEFAULT_POINTS = 64


def _autograd_pair(sigma: Fn) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """(sigma(z), sigma_dot(z)) from one forward and one backward pass of autograd."""

    def pair(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.enable_grad():
            zz = z.detach().requires_grad_(True)
            value = sigma(zz)
            if not value.requires_grad:  # piecewise constant (a step built by comparison)
                return value.detach(), torch.zeros_like(z)
            (g,) = torch.autograd.grad(value.sum(), zz, allow_unused=True)
        return value.detach(), torch.zeros_like(z) if g is None else g

    return pair


@dataclass(frozen=True)
class Activation:
    """A nonlinearity sigma with its derivative sigma_dot, and the Gaussian expectations of both.

    Section 2 (Remark 3 for kinks): the recursions of Proposition 1 and Theorem 1 need, for a
    centred Gaussian pair (u, v) of covariance [[q_xx, q_xy], [q_xy, q_yy]], the pair
    (E[sigma(u)sigma(v)], E[sigma_dot(u)sigma_dot(v)]). ``expectations`` returns it elementwise over
    tensors of equal shape: the closed form when there is one, else the rules of
    :mod:`ntk_course.quadrature`, steered by ``profile`` (breakpoints, transition width; None:
    breakpoints found numerically) with ``quadrature_points`` as their size. ``joint``, when given,
    returns (sigma(z), sigma_dot(z)) in one pass. Build one with :func:`get_activation` or
    :func:`polynomial`; the constructor (a frozen dataclass) checks none of its fields.

    Attributes
    ----------
    name : str
        The name shown in messages and warnings, e.g. ``"relu"``.
    sigma : callable
        sigma(z), elementwise: a tensor of any shape to a tensor of the same shape.
    sigma_dot : callable
        The derivative sigma_dot(z), elementwise, same shape as its input.
    closed_form : callable or None, default None
        ``closed_form(q_xx, q_xy, q_yy)`` -> (E[sigma(u)sigma(v)], E[sigma_dot(u)sigma_dot(v)]),
        tensors of the common shape of its arguments; None: computed by quadrature.
    quadrature_points : int, default 64
        Nodes per dimension of the quadrature rules (unused with a closed form).
    profile : ntk_course.quadrature.Profile, default Profile()
        Breakpoints, transition width and Gauss-Hermite range of sigma, for the rules.
    joint : callable or None, default None
        ``joint(z)`` -> (sigma(z), sigma_dot(z)) in one pass, each the shape of ``z``; None: the
        two functions are called one after the other.
    """

    name: str
    sigma: Fn
    sigma_dot: Fn
    closed_form: Callable[..., tuple[torch.Tensor, torch.Tensor]] | None = field(
        default=None, repr=False
    )
    quadrature_points: int = DEFAULT_POINTS
    profile: Profile = field(default=Profile(), repr=False)
    joint: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = field(
        default=None, repr=False
    )

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """sigma(z), elementwise."""
        return self.sigma(z)

    def sigma_and_dot(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(sigma(z), sigma_dot(z))."""
        return self.joint(z) if self.joint is not None else (self.sigma(z), self.sigma_dot(z))

    def expectations_and_error(
        self, q_xx: torch.Tensor, q_xy: torch.Tensor, q_yy: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """:meth:`expectations` and the estimated relative error of the quadrature.

        The error is 0 for a closed form.
        """
        if self.closed_form is not None:
            return (*self.closed_form(q_xx, q_xy, q_yy), 0.0)
        return expectations_and_error(
            self.sigma_and_dot, q_xx, q_xy, q_yy, self.quadrature_points, self.profile
        )

    def expectations(
        self, q_xx: torch.Tensor, q_xy: torch.Tensor, q_yy: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """E[sigma(u)sigma(v)] and E[sigma_dot(u)sigma_dot(v)] for a centred Gaussian pair (u, v).

        The covariance of (u, v) is [[q_xx, q_xy], [q_xy, q_yy]].

        Warns (:class:`~ntk_course.quadrature.QuadratureWarning`) when the quadrature's estimated
        relative error exceeds ``quadrature.TOLERANCE``.
        """
        e_s, e_d, err = self.expectations_and_error(q_xx, q_xy, q_yy)
        warn_if_inaccurate(err, self.name, e_s.dtype)
        return e_s, e_d


def _relu_closed_form(
    q_xx: torch.Tensor, q_xy: torch.Tensor, q_yy: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Arc-cosine kernels of degree 1 and 0 (Cho & Saul 2009).

    With s = sqrt(q_xx q_yy - q_xy^2) and the angle phi = atan2(s, q_xy):
    E[relu(u)relu(v)] = (s + (pi - phi) q_xy) / (2 pi) and E[step(u)step(v)] = (pi - phi) / (2 pi).
    The angle comes from atan2, so a zero input or identical points give finite values.
    """
    if torch.is_grad_enabled() and any(t.requires_grad for t in (q_xx, q_xy, q_yy)):
        # out of place, for autograd; the square root's infinite slope at s = 0 is kept out
        d = torch.mul(q_xx, q_yy) - torch.mul(q_xy, q_xy)
        pos = d > 0
        s = torch.where(pos, torch.where(pos, d, 1.0).sqrt(), 0.0)
        pmp = math.pi - torch.atan2(s, q_xy)
        return (s + pmp * q_xy) / TWO_PI, pmp / TWO_PI
    # Two separately rounded products (not a fused multiply-add), so that q_xy = q_xx = q_yy gives
    # exactly s = 0: the square root would turn a rounding residue into an angle of ~1e-8.
    s = torch.mul(q_xx, q_yy).sub_(torch.mul(q_xy, q_xy)).clamp_(min=0.0).sqrt_()
    pi_minus_phi = torch.atan2(s, q_xy).neg_().add_(math.pi)
    return torch.addcmul(s, pi_minus_phi, q_xy).div_(TWO_PI), pi_minus_phi.div_(TWO_PI)


def _erf_closed_form(
    q_xx: torch.Tensor, q_xy: torch.Tensor, q_yy: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The erf expectations in closed form (Williams 1997).

    E[erf(u)erf(v)] = (2/pi) asin(2 q_xy / sqrt((1+2q_xx)(1+2q_yy))) and
    E[erf'(u)erf'(v)] = (4/pi) / sqrt((1+2q_xx)(1+2q_yy) - 4 q_xy^2).
    """
    a = (1.0 + 2.0 * q_xx) * (1.0 + 2.0 * q_yy)
    ratio = (2.0 * q_xy / a.sqrt()).clamp_(-1.0, 1.0)
    det = (a - 4.0 * q_xy * q_xy).clamp_(min=torch.finfo(a.dtype).tiny)
    return (2.0 / math.pi) * torch.asin(ratio), (4.0 / math.pi) / det.sqrt()


def _relu_dot(z: torch.Tensor) -> torch.Tensor:
    return (z > 0).to(z.dtype)


def _erf_dot(z: torch.Tensor) -> torch.Tensor:
    return (2.0 / math.sqrt(math.pi)) * torch.exp(-z * z)


def _tanh_pair(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # tanh(z) = 2 sigmoid(2z) - 1 to 3e-16 absolute; torch's float64 sigmoid is ~20x faster than
    # its tanh.
    s = torch.sigmoid(2.0 * z)
    return s.mul(2.0).sub_(1.0), torch.addcmul(s, s, s, value=-1.0).mul_(4.0)


def _sigmoid_pair(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    s = torch.sigmoid(z)
    return s, torch.addcmul(s, s, s, value=-1.0)


def _gelu_pair(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    cdf = 0.5 * (1.0 + torch.erf(z * (1.0 / math.sqrt(2.0))))
    return z * cdf, torch.addcmul(
        cdf, z, torch.exp(-0.5 * z * z), value=1.0 / math.sqrt(2.0 * math.pi)
    )


def _tanh_dot(z: torch.Tensor) -> torch.Tensor:
    return 1.0 - torch.tanh(z) ** 2


def _first(pair: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], k: int) -> Fn:
    return lambda z: pair(z)[k]


def _named(
    name: str, sigma: Fn, sigma_dot: Fn, pair, closed_form, profile: Profile, points: int = 64
) -> Activation:
    return Activation(name, sigma, sigma_dot, closed_form, points, profile, pair)


# sigma and sigma_dot are what a network uses; the pair is the quadrature's faster joint evaluation.
# Profiles: breakpoints, the width of the transition at 0 (sigmoid(z) = (1 + tanh(z/2)) / 2 is twice
# as wide as tanh) and the variance up to which 64-node Gauss-Hermite is accurate to 1e-10
# (measured against the piecewise rule at twice its size).
_NAMED: dict[str, Activation] = {
    "relu": _named("relu", torch.relu, _relu_dot, None, _relu_closed_form, Profile((0.0,), None)),
    "erf": _named("erf", torch.erf, _erf_dot, None, _erf_closed_form, Profile((), 1.0, 1.0)),
    "tanh": _named("tanh", torch.tanh, _tanh_dot, _tanh_pair, None, Profile((), 1.0, 0.5)),
    "sigmoid": _named(
        "sigmoid",
        torch.sigmoid,
        _first(_sigmoid_pair, 1),
        _sigmoid_pair,
        None,
        Profile((), 2.0, 2.0),
    ),
    "softplus": _named(
        "softplus", torch.nn.functional.softplus, torch.sigmoid, None, None, Profile((), 2.0, 3.0)
    ),
    "gelu": _named(
        "gelu",
        torch.nn.functional.gelu,
        _first(_gelu_pair, 1),
        _gelu_pair,
        None,
        Profile((), 1.0, 2.0),
    ),
    "identity": _named(
        "identity", lambda z: z, torch.ones_like, None, None, Profile((), None, math.inf), 2
    ),
}

#: The activation names :func:`get_activation` knows (``"polynomial"``: see :func:`polynomial`).
ACTIVATIONS = tuple(_NAMED) + ("polynomial",)


def polynomial(coefficients: list[float] | tuple[float, ...]) -> Activation:
    """The polynomial activation sigma(z) = sum_k c_k z^k, with its exact quadrature rule.

    Its NTK is not positive definite (Remark 5). Gauss-Hermite with degree + 1 nodes per dimension
    integrates its expectations exactly, at any variance, so that is the rule the activation keeps
    (at least 2 nodes; :func:`get_activation` does not resize it).

    Parameters
    ----------
    coefficients : sequence of float, length degree + 1
        c_0, c_1, ..., c_degree: the coefficient of z^k at position k (the constant first).

    Returns
    -------
    Activation
        Named ``"polynomial(c_0, ...)"``; sigma and sigma_dot are evaluated by Horner's rule,
        elementwise (output shape = input shape).

    Raises
    ------
    ValueError
        If ``coefficients`` is empty, holds a non-finite number (NaN, inf), or a string that
        ``float`` cannot read.
    TypeError
        If ``coefficients`` is not iterable or an entry is not a number (None, say).

    Examples
    --------
    >>> import torch
    >>> from ntk_course.activations import polynomial
    >>> square = polynomial([0.0, 0.0, 1.0])  # sigma(z) = z^2
    >>> square(torch.tensor([3.0]))
    tensor([9.])
    >>> square.quadrature_points
    3
    """
    coeffs = [float(c) for c in coefficients]
    if not coeffs or not all(math.isfinite(c) for c in coeffs):
        raise ValueError(
            "polynomial coefficients must be a non-empty list of finite numbers; "
            f"got {coefficients!r}"
        )
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
    return Activation(
        f"polynomial{tuple(coeffs)}",
        horner(coeffs),
        horner(dcoeffs),
        None,
        max(degree + 1, 2),
        Profile((), None, math.inf),
    )


def get_activation(
    activation: str | Activation | Fn,
    derivative: Fn | None = None,
    quadrature_points: int = DEFAULT_POINTS,
) -> Activation:
    """Resolve a name (see ``ACTIVATIONS``), an :class:`Activation`, or a user's callable.

    The nonlinearity sigma of Section 2 and its derivative, with the Gaussian expectations that
    Proposition 1 and Theorem 1 need. A callable must act elementwise; without ``derivative`` it is
    differentiated by autograd, and its kinks are found numerically. ``derivative`` is accepted
    only with a callable: a named activation or an Activation has its own sigma_dot, and a second
    one is refused rather than ignored. ``quadrature_points`` (see
    :func:`ntk_course.quadrature.expectations_and_error`) sizes the rules of every activation
    without a closed form; an Activation keeps its own count unless one other than the default 64
    is asked for, and polynomials keep their exact rule.

    Parameters
    ----------
    activation : str, Activation or callable
        A name of ``ACTIVATIONS`` (case and surrounding spaces ignored; ``"polynomial"`` itself
        needs :func:`polynomial`), an Activation, or a function of a tensor returning a tensor of
        the same shape.
    derivative : callable or None, default None
        sigma_dot for a callable ``activation``, elementwise; None: autograd.
    quadrature_points : int, default 64
        Nodes per dimension of the quadrature rules, an integer in [2, 360].

    Returns
    -------
    Activation
        The resolved activation (``activation`` itself when it is one and keeps its count).

    Raises
    ------
    ValueError
        If ``quadrature_points`` is not an integer in [2, 360]; if ``derivative`` is given with a
        name or an Activation, or is not callable; if the name is unknown; if ``activation`` is
        neither a name, an Activation nor a callable.

    Examples
    --------
    >>> from ntk_course.activations import get_activation
    >>> get_activation(" ReLU ").name
    'relu'
    >>> get_activation("tanh", quadrature_points=128).quadrature_points
    128
    """
    points = check_nodes(quadrature_points)
    own = isinstance(activation, str | Activation) or not callable(activation)
    if derivative is not None and (own or not callable(derivative)):
        raise ValueError(
            "derivative= must be a callable, and is accepted only with a callable activation; "
            f"{getattr(activation, 'name', activation)!r} has its own exact derivative"
        )
    if isinstance(activation, Activation):
        exact = math.isinf(activation.profile.hermite_variance)
        return (
            activation
            if points == DEFAULT_POINTS or exact
            else replace(activation, quadrature_points=points)
        )
    if isinstance(activation, str):
        key = activation.strip().lower()
        if key not in _NAMED:
            raise ValueError(
                f"unknown activation {activation!r}; expected one of {sorted(_NAMED)}, "
                "ntk_course.activations.polynomial([...]) or a callable"
            )
        return get_activation(_NAMED[key], quadrature_points=quadrature_points)
    if callable(activation):
        check_elementwise(activation, "activation")
        if derivative is not None:
            check_elementwise(derivative, "derivative")
        else:
            check_differentiable(_autograd_pair(activation))
        name = getattr(activation, "__name__", "custom")
        if derivative is None:
            pair = _autograd_pair(activation)
            return Activation(name, activation, _first(pair, 1), None, points, Profile(), pair)
        return Activation(name, activation, derivative, None, points, Profile())
    raise ValueError(
        f"activation must be a name from {sorted(_NAMED)}, an Activation or a callable; "
        f"got {activation!r}"
    )
