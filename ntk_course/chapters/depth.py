"""Depth: how the limiting NTK on the circle changes as layers are added (Sections 4 and 6).

:func:`gain_activation` rescales sigma (He's gain sqrt(2) for ReLU), :func:`depth_profiles` and
:func:`condition_numbers` follow the limiting NTK on the circle as the depth grows.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .._checks import as_inputs, non_negative, positive_int, same_dimension
from ..activations import Activation, Fn, get_activation
from ..kernels import ntk


def gain_activation(activation: str | Activation | Fn, gain: float) -> Activation:
    """sigma_g(z) = gain * sigma(z): He's gain (sqrt(2) for ReLU) as a fixed factor of the NTK parametrisation.

    A network with sigma_g is the network h^(l+1) = (gain / sqrt(n_l)) W^(l) sigma(h^(l)) + beta b^(l)
    for l >= 1 with W^(l)_ij ~ N(0, 1): the gain sits next to the paper's 1/sqrt(n_l), outside the
    trained parameters. In the recursions of Proposition 1 and Theorem 1 only the products
    sigma(u) sigma(v) and sigma_dot(u) sigma_dot(v) enter, so both expectations are gain^2 times those
    of sigma; the closed forms of ReLU and erf carry over exactly.

    Sigma (and the law of f at initialisation) is also that of weights drawn with variance gain^2,
    W^(l) ~ N(0, gain^2) for l >= 1; Theta is not. Trained directly, such weights have the gradient
    d f / d W^(l) = delta^(l+1) sigma(h^(l))^T / sqrt(n_l), without the gain, so the weights and bias
    of layer l add (Sigma^(l+1) - beta^2) / gain^2 + beta^2 to Theta instead of Sigma^(l+1):
    Theta^(l+1) = Theta^(l) Sigma_dot^(l+1) + (Sigma^(l+1) - beta^2) / gain^2 + beta^2, with Sigma and
    Sigma_dot those of sigma_g. For ReLU with gain sqrt(2) at depth 2 on the
    unit circle (beta = 0.1) the NTK of such weights is about 25 % below that of sigma_g.
    """
    gain = non_negative(gain, "gain")
    base = get_activation(activation)
    g2 = gain * gain

    def closed_form(q_xx: torch.Tensor, q_xy: torch.Tensor, q_yy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e_s, e_d = base.expectations(q_xx, q_xy, q_yy)
        return g2 * e_s, g2 * e_d

    return Activation(f"{gain:g}*{base.name}", lambda z: gain * base.sigma(z), lambda z: gain * base.sigma_dot(z),
                      closed_form, base.quadrature_points)


def depth_profiles(
    depths: Sequence[int],
    x0: object,
    x: object,
    *,
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
) -> torch.Tensor:
    """Theta^(L)(x_0, x) / Theta^(L)(x_0, x_0) for every depth L in ``depths``: (D, M), float64.

    The normalised limiting NTK seen from one point x_0 (a single point, shape (n_0,) or (1, n_0)).
    """
    ds = [positive_int(d, "depth") for d in depths]
    if not ds:
        raise ValueError("depths must list at least one depth")
    p = as_inputs(x0, "x0", torch.float64)
    if p.shape[0] != 1:
        raise ValueError(f"x0 must be one point, shape (n_0,) or (1, n_0); got {tuple(p.shape)}")
    xs = as_inputs(x, "x", torch.float64).to(p.device)
    same_dimension(p, xs)
    rows = []
    for d in ds:
        row = ntk(p, xs, depth=d, activation=activation, beta=beta)[0]
        rows.append(row / ntk(p, depth=d, activation=activation, beta=beta)[0, 0])
    return torch.stack(rows)


def condition_numbers(
    depths: Sequence[int],
    x: object,
    *,
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
) -> torch.Tensor:
    """lambda_max / lambda_min of the Gram matrix Theta^(L)(x_i, x_j) for every L in ``depths`` (D,).

    The number of gradient-descent steps needed to fit the slowest direction at the largest stable
    learning rate is of this order (Section 5: the component along eigenvalue lambda decays like
    (1 - lr lambda / N)^k with lr < 2N / lambda_max). ``inf`` when lambda_min <= 0 (singular in float64).
    """
    ds = [positive_int(d, "depth") for d in depths]
    if not ds:
        raise ValueError("depths must list at least one depth")
    xs = as_inputs(x, "x", torch.float64)
    out = []
    for d in ds:
        values = torch.linalg.eigvalsh(ntk(xs, depth=d, activation=activation, beta=beta))
        out.append(values[-1] / values[0] if values[0] > 0 else torch.tensor(math.inf, dtype=torch.float64))
    return torch.stack(out).cpu()

