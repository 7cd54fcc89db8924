"""Depth: how the limiting NTK on the circle changes as layers are added (Sections 4 and 6).

:func:`gain_activation` rescales sigma (He's gain sqrt(2) for ReLU); :func:`normalised_ntk` and
:func:`condition_number` describe the limiting NTK of one architecture on the circle, and the
chapter scans the depth with ``arch.replace(depth=L)``.
"""

from __future__ import annotations

import math

import torch

from ..activations import Activation, Fn, get_activation
from ..architecture import Architecture


def gain_activation(activation: str | Activation | Fn, gain: float) -> Activation:
    """sigma_g(z) = gain * sigma(z): He's gain (sqrt(2) for ReLU) as a fixed factor of the NTK
    parametrisation.

    A network with sigma_g is the network h^(l+1) = (gain / sqrt(n_l)) W^(l) sigma(h^(l)) + beta
    b^(l) for l >= 1 with W^(l)_ij ~ N(0, 1): the gain sits next to the paper's 1/sqrt(n_l), outside
    the trained parameters. In the recursions of Proposition 1 and Theorem 1 only the products
    sigma(u) sigma(v) and sigma_dot(u) sigma_dot(v) enter, so both expectations are gain^2 times
    those of sigma; the closed forms of ReLU and erf carry over exactly.

    Sigma (and the law of f at initialisation) is also that of weights drawn with variance gain^2,
    W^(l) ~ N(0, gain^2) for l >= 1; Theta is not. Trained directly, such weights have the gradient
    d f / d W^(l) = delta^(l+1) sigma(h^(l))^T / sqrt(n_l), without the gain, so the weights and
    bias of layer l add (Sigma^(l+1) - beta^2) / gain^2 + beta^2 to Theta instead of Sigma^(l+1):
    Theta^(l+1) = Theta^(l) Sigma_dot^(l+1) + (Sigma^(l+1) - beta^2) / gain^2 + beta^2, with Sigma
    and Sigma_dot those of sigma_g. For ReLU with gain sqrt(2) at depth 2 on the unit circle (beta =
    0.1) the NTK of such weights is about 25 % below that of sigma_g.
    """
    gain = float(gain)
    if not math.isfinite(gain) or gain < 0:
        raise ValueError(f"gain must be a finite number >= 0; got {gain}")
    base = get_activation(activation)
    g2 = gain * gain

    def closed_form(
        q_xx: torch.Tensor, q_xy: torch.Tensor, q_yy: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        e_s, e_d = base.expectations(q_xx, q_xy, q_yy)
        return g2 * e_s, g2 * e_d

    return Activation(
        f"{gain:g}*{base.name}",
        lambda z: gain * base.sigma(z),
        lambda z: gain * base.sigma_dot(z),
        closed_form,
        base.quadrature_points,
    )


def _one_point(x0: object) -> torch.Tensor:
    p = torch.as_tensor(x0, dtype=torch.float64)
    if p.ndim == 1:
        p = p[None]
    if p.ndim != 2 or p.shape[0] != 1:
        raise ValueError(f"x0 must be one point, shape (n_0,) or (1, n_0); got {tuple(p.shape)}")
    return p


def normalised_ntk(arch: Architecture, x0: object, x: object) -> torch.Tensor:
    """Theta_inf(x_0, x) / Theta_inf(x_0, x_0) of ``arch`` (Theorem 1): the limiting NTK seen from
    x_0.

    Parameters
    ----------
    arch : Architecture
        Depth, activation and beta (the NTK parametrisation).
    x0 : array (n_0,) or (1, n_0)
        One point.
    x : array (M, n_0)
        The points to compare it with.

    Returns
    -------
    tensor (M,)
        Float64, 1 where x = x_0.

    Raises
    ------
    ValueError
        If x0 is not one point, and (from :meth:`Architecture.ntk`) for mismatched dimensions.
    """
    p = _one_point(x0)
    return arch.ntk(p, x)[0] / arch.ntk(p)[0, 0]


def condition_number(arch: Architecture, x: object) -> torch.Tensor:
    """lambda_max / lambda_min of the Gram matrix Theta_inf(x_i, x_j) of ``arch`` on the points x
    (N, n_0).

    The number of gradient-descent steps needed to fit the slowest direction at the largest stable
    learning rate is of this order (Section 5: the component along eigenvalue lambda decays like
    (1 - lr lambda / N)^k with lr < 2N / lambda_max). Returns a 0-d float64 tensor, ``inf`` when
    lambda_min <= 0 (singular in float64). Raises ValueError as :meth:`Architecture.ntk`.
    """
    values = torch.linalg.eigvalsh(arch.ntk(torch.as_tensor(x, dtype=torch.float64)))
    return (
        values[-1] / values[0] if values[0] > 0 else torch.tensor(math.inf, dtype=torch.float64)
    ).cpu()
