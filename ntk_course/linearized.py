"""The network linearised around its initialisation: f_lin = f(x; theta_0) + J(x)(theta - theta_0).

Gradient descent on f_lin is exactly kernel gradient descent with the (frozen) empirical NTK at
initialisation, the t = 0 kernel of Theorem 2; comparing it with the real network shows how lazy
the training is (Lee et al. 2019 prove the two agree as the width grows). Its trainable parameters
are the offsets theta - theta_0 alone, so ``empirical_ntk(Linearized(net), x)`` is the kernel of
``net`` at theta_0, and it stays that kernel during training.

:class:`Centred` is the other object built from a network and its initial copy: the centred network
f_theta - f_theta_0, zero at initialisation with the tangent kernel of f_theta (Chizat et al.'s
lazy-training setting, and the usual way to remove the Gaussian initial output of Section 5).

:func:`linearized_outputs` gives what training ``Linearized(model)`` would give, without training
it: gradient descent on f_lin is kernel gradient descent with the frozen empirical NTK Theta_0,
solved exactly by :func:`ntk_course.flow.gradient_descent`.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.func import functional_call, jvp

from ._checks import as_inputs, non_negative, positive_int, same_dimension
from .empirical import empirical_ntk
from .flow import gradient_descent

__all__ = ["Centred", "Linearized", "linearized_outputs"]


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


@torch.no_grad()
def linearized_outputs(
    model: nn.Module,
    x: object,
    y: object,
    x_eval: object,
    *,
    steps: int,
    lr: float,
) -> torch.Tensor:
    """Outputs on ``x_eval`` of ``model`` linearised at theta_0 and trained by gradient descent.

    ``steps`` steps of learning rate ``lr`` on the cost C = 1/(2N) sum_i ||f_lin(x_i) - y_i||^2.

    The linearisation f_lin(theta) = f(theta_0) + J (theta - theta_0) has a constant Jacobian, so
    one step moves its outputs by -lr J(.) J(X)^T r / N = -(lr / N) Theta_0(., X) r with
    r = f_lin(X) - Y: kernel gradient descent (Section 3) with the empirical NTK frozen at Theta_0
    (Theorem 2 at t = 0; Lee et al. 2019), solved exactly by
    :func:`ntk_course.flow.gradient_descent` on the (N n_L) x (N n_L) kernel with its output axes.
    The iterates are those of training ``Linearized(model)`` with :func:`ntk_course.train`, in
    float64 and without forming the linearised network.

    Parameters
    ----------
    model : torch.nn.Module
        The network at theta_0, (N, n_0) -> (N, n_L); an ``NTKMLP`` ensemble of E networks gives a
        leading axis E. Not modified.
    x : array_like
        Shape (N, n_0): the training inputs X.
    y : array_like
        Shape (N, n_L), or broadcastable to the outputs ([E,] N, n_L): the targets Y.
    x_eval : array_like
        Shape (M, n_0): where the trained linearisation is evaluated.
    steps : int
        The number of gradient-descent steps, >= 0 (keyword only); t = lr x steps.
    lr : float
        The learning rate eta >= 0 (keyword only).

    Returns
    -------
    torch.Tensor
        Shape ([E,] M, n_L), float64, on the model's device: f_lin(x_eval) after ``steps`` steps.

    Raises
    ------
    ValueError
        If ``x`` or ``x_eval`` is not a finite (N, n_0) array, their dimensions differ, ``y`` does
        not broadcast to the outputs on ``x``, ``steps`` is not an integer >= 0, ``lr`` is not a
        finite number >= 0, or gradient descent diverges (lr >= 2N / lambda_max(Theta_0)).
    """
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None else torch.get_default_dtype()
    device = param.device if param is not None else torch.device("cpu")
    x_t = as_inputs(x, "x", dtype).to(device)
    x_e = as_inputs(x_eval, "x_eval", dtype).to(device)
    same_dimension(x_t, x_e)
    steps, lr = positive_int(steps, "steps", minimum=0), non_negative(lr, "lr")
    f_t, f_e = model(x_t).double(), model(x_e).double()  # ([E,] N, n_L), ([E,] M, n_L)
    try:
        target = torch.broadcast_to(torch.as_tensor(y).to(f_t), f_t.shape)
    except RuntimeError as err:
        raise ValueError(
            f"y must broadcast to the outputs on x, shape {tuple(f_t.shape)}; "
            f"got shape {tuple(torch.as_tensor(y).shape)}"
        ) from err
    n, m, n_out = f_t.shape[-2], f_e.shape[-2], f_t.shape[-1]
    k_tt = empirical_ntk(model, x_t, output_axes=True).double()  # ([E,] N, N, n_L, n_L)
    k_et = empirical_ntk(model, x_e, x_t, output_axes=True).double()  # ([E,] M, N, n_L, n_L)

    def flat(k: torch.Tensor) -> torch.Tensor:
        """(..., A, B, n_L, n_L) -> (..., A n_L, B n_L): rows (point, output), columns likewise."""
        return k.transpose(-3, -2).reshape(*k.shape[:-4], k.shape[-4] * n_out, -1)

    kt = flat(k_tt).reshape(-1, n * n_out, n * n_out)
    ke = flat(k_et).reshape(-1, m * n_out, n * n_out)
    ft, fe = f_t.reshape(-1, n * n_out), f_e.reshape(-1, m * n_out)
    yt = target.reshape(-1, n * n_out)
    out = []
    for k, kx, f0, f0x, yy in zip(kt, ke, ft, fe, yt):
        # gradient_descent divides by its number of rows, N n_L, the cost by N: lr is scaled by n_L.
        run = gradient_descent(
            (k + k.mT) / 2, yy, [steps], lr=lr * n_out, k_test_train=kx, f0_train=f0, f0_test=f0x
        )
        out.append(run.f_test[-1])
    return torch.stack(out).reshape(*f_t.shape[:-2], m, n_out)
