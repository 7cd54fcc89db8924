"""The network linearised around its initialisation: f_lin = f(x; theta_0) + J(x)(theta - theta_0).

Gradient descent on f_lin is exactly kernel gradient descent with the (frozen) empirical NTK at
initialisation, the t = 0 kernel of Theorem 2; comparing it with the real network shows how lazy
the training is (Lee et al. 2019 prove the two agree as the width grows). Its trainable parameters
are the offsets theta - theta_0 alone, so ``empirical_ntk(Linearized(net), x)`` is the kernel of
``net`` at theta_0, and it stays that kernel during training.

:class:`Centred` is the other object built from a network and its initial copy: the centred network
f_theta - f_theta_0, zero at initialisation with the tangent kernel of f_theta (Chizat et al.'s
lazy-training setting, and the usual way to remove the Gaussian initial output of Section 5).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call, jvp


class Linearized(nn.Module):
    """First-order Taylor expansion of ``model`` in its parameters around their current values.

    f_lin(x; theta) = f(x; theta_0) + J(x)(theta - theta_0): gradient descent on it is kernel
    gradient descent with the frozen empirical NTK at initialisation, the t = 0 kernel of
    Theorem 2. Its trainable parameters are the displacement theta - theta_0 (zero at creation), so
    ``Linearized(model)(x)`` equals ``model(x)`` until it is trained. The frozen copy ``base`` holds
    theta_0 (``requires_grad=False``: neither trained nor counted in the empirical NTK).

    Parameters
    ----------
    model : torch.nn.Module
        The network, mapping inputs (N, n_0) to outputs (N, n_L); deep-copied, not modified.

    Attributes
    ----------
    base : torch.nn.Module
        The frozen copy of ``model`` at theta_0.
    names : list of str
        The names of the parameters of ``base``, in order.
    delta : torch.nn.ParameterList
        The trainable displacements theta - theta_0, each of its parameter's shape.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.base = copy.deepcopy(model).requires_grad_(False)
        self.names = [name for name, _ in self.base.named_parameters()]
        self.delta = nn.ParameterList(
            nn.Parameter(torch.zeros_like(p)) for _, p in self.base.named_parameters()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """f_lin(x; theta) = f(x; theta_0) + J(x)(theta - theta_0), by a Jacobian-vector product."""
        theta0 = dict(self.base.named_parameters())
        tangent = dict(zip(self.names, self.delta))
        out, lin = jvp(lambda p: functional_call(self.base, p, (x,)), (theta0,), (tangent,))
        return out + lin

    def current_parameters(self) -> dict[str, torch.Tensor]:
        """theta = theta_0 + (theta - theta_0) by parameter name.

        Where training has taken the linearisation.
        """
        return {name: p + d for (name, p), d in zip(self.base.named_parameters(), self.delta)}


class Centred(nn.Module):
    """The centred network x -> f_theta(x) - f_theta_0(x), theta_0 the parameters at creation.

    It is 0 at initialisation and has the same tangent kernel as f_theta: it removes the Gaussian
    initial output of Section 5 (Chizat et al.'s lazy-training setting). The frozen copy that gives
    f_theta_0 is kept out of the module's parameters (it is not trained and not counted).

    Parameters
    ----------
    model : torch.nn.Module
        The network f_theta, mapping inputs (N, n_0) to outputs (N, n_L); trained through
        ``self.model`` (the same object, not a copy).

    Attributes
    ----------
    model : torch.nn.Module
        The network f_theta itself.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self._initial = (copy.deepcopy(model).requires_grad_(False),)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """f_theta(x) - f_theta_0(x), of the model's output shape; f_theta_0 gets no gradient."""
        with torch.no_grad():
            f0 = self._initial[0](x)
        return self.model(x) - f0
