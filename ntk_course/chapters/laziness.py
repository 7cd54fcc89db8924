"""Lazy training (Chizat, Oyallon & Bach 2019): the output scale alpha decides whether the kernel moves.

:func:`lazy_training` trains alpha (f_theta - f_theta_0) with the cost C / alpha^2 for several output
scales alpha at once, and reports how far the kernel and the weights moved and how far the trained
network ends from the frozen-kernel prediction (:func:`ntk_course.flow.gradient_descent`);
:class:`Centred` is the centred network f_theta - f_theta_0.

The cost is the paper's, C = 1/(2N) sum_i ||f(x_i) - y_i||^2, and time is t = lr x steps.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .._checks import (
    as_inputs,
    finite_array,
    non_negative,
    positive_int,
    same_dimension,
    seeded_generator,
)
from ..activations import Activation, Fn
from ..empirical import empirical_ntk
from ..flow import gradient_descent
from ..mlp import NTKMLP
from ..linearized import Centred
from ..training import train


@dataclass
class LazyTraining:
    """What training alpha (f_theta - f_theta_0) did, one entry per output scale alpha (A,).

    ``kernel_drift`` ||Theta_T - Theta_0||_F / ||Theta_0||_F of the empirical NTK of f_theta on the
    training points (the NTK of the scaled model is alpha^2 times it; the relative drift is the same);
    ``weight_change`` ||W_T^(0) - W_0^(0)||_F / ||W_0^(0)||_F of the first layer; ``cost`` the cost
    C(alpha (f_T - f_0)) of the scaled model; ``f_test`` (A, M) alpha (f_T - f_0) on the test points;
    ``f_kernel`` (M,) the prediction of gradient descent with the frozen kernel Theta_0 (the same for
    every alpha), and ``deviation`` (A,) = ||f_test - f_kernel|| / ||f_kernel||. ``w_initial``
    (width, n_0) and ``w_final`` (A, width, n_0) are the first-layer weights before and after training.
    """

    alphas: torch.Tensor
    kernel_drift: torch.Tensor
    weight_change: torch.Tensor
    cost: torch.Tensor
    f_test: torch.Tensor
    f_kernel: torch.Tensor
    deviation: torch.Tensor
    w_initial: torch.Tensor
    w_final: torch.Tensor


def lazy_training(
    alphas: Sequence[float],
    x: object,
    y: object,
    *,
    x_test: object,
    width: int = 256,
    depth: int = 3,
    steps: int = 200,
    lr: float = 1.0,
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> LazyTraining:
    """Train the scaled model alpha (f_theta - f_theta_0) on (x, y) for every alpha, from ONE initialisation.

    Chizat, Oyallon & Bach (2019): gradient descent with learning rate ``lr`` on the cost
    C(alpha (f_theta - f_theta_0)) / alpha^2 moves the function at a speed that does not depend on
    alpha at initialisation (its tangent kernel is alpha^2 Theta times lr / alpha^2), while the
    parameters travel a distance of order 1/alpha: large alpha is lazy (the kernel regime of Theorem 2),
    small alpha leaves it. The division by alpha^2 makes this exactly gradient descent with ``lr`` on
    1/(2N) sum (f_theta - f_theta_0 - y / alpha)^2, which is what runs here: all alphas at once, as an
    ensemble of identical copies of one NTK-parametrised network [n_0, width, ..., width, 1], with
    member a aiming at y / alpha_a. Float32 on ``device`` (CPU by default); seeded.
    """
    a = finite_array(alphas, "alphas", ndims=(1,))
    if bool((a <= 0).any()):
        raise ValueError(f"alphas must be > 0; got {a.tolist()}")
    width = positive_int(width, "width")
    depth = positive_int(depth, "depth", 2)
    steps = positive_int(steps, "steps")
    lr = non_negative(lr, "lr")
    xt = as_inputs(x, "x").to(device or "cpu").float()
    xe = as_inputs(x_test, "x_test").float().to(xt.device)
    same_dimension(xt, xe)
    yt = finite_array(y, "y", ndims=(1, 2), rows=xt.shape[0], match="x", dtype=torch.float32, device=xt.device)
    yt = yt[:, None] if yt.ndim == 1 else yt
    if yt.shape[1] != 1:
        raise ValueError(f"y must hold one output per point, shape (N,) or (N, 1); got {tuple(yt.shape)}")
    n_alpha = a.shape[0]
    model = NTKMLP([xt.shape[1]] + [width] * (depth - 1) + [1], activation, beta,
                   ensemble=n_alpha, generator=seeded_generator(seed, xt.device), device=xt.device)
    with torch.no_grad():  # every member starts from member 0's parameters
        for p in model.parameters():
            p.copy_(p[:1].expand_as(p))
    k0 = empirical_ntk(model, xt)[0].double()
    kx0 = empirical_ntk(model, xe, xt)[0].double()
    w0 = model.weights[0].detach().clone()
    scale = a.to(device=xt.device, dtype=torch.float32)[:, None, None]
    record = train(Centred(model), xt, yt[None] / scale, steps=steps, lr=lr, record_at=[steps], x_eval=xe)
    k1 = empirical_ntk(model, xt).double()
    drift = (k1 - k0).flatten(1).norm(dim=1) / k0.norm()
    moved = (model.weights[0].detach() - w0).flatten(1).norm(dim=1) / w0[0].norm()
    f_test = (record.outputs[-1, :, :, 0] * scale[:, :, 0]).double()
    f_kernel = gradient_descent(k0, yt[:, 0].double(), [steps], lr=lr, k_test_train=kx0).f_test[-1]
    deviation = (f_test - f_kernel).norm(dim=1) / f_kernel.norm()
    cost = record.loss[-1].double() * a.to(xt.device) ** 2
    return LazyTraining(a.cpu(), drift.cpu(), moved.double().cpu(), cost.cpu(), f_test.cpu(), f_kernel.cpu(),
                        deviation.cpu(), w0[0].cpu(), model.weights[0].detach().cpu())


