"""ntk_course.linearized: the network linearised at theta_0 and its exact gradient descent.

:func:`linearized_outputs` solves gradient descent on f_lin = f(theta_0) + J (theta - theta_0) as
kernel gradient descent with the frozen empirical NTK. References: a model linear in its
parameters is its own linearisation, so plain gradient descent by autograd, step by step, must give
the same outputs; and training ``Linearized(net)`` with :func:`ntk_course.train` must too.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ntk_course import NTKMLP, Linearized, train
from ntk_course.datasets import circle_points, gaussian_inputs, product_target
from ntk_course.linearized import linearized_outputs


def _linear_model(n0: int, n_out: int, seed: int) -> nn.Module:
    """f(x) = W x + b with W, b drawn from their own seeded generator (not the global one)."""
    model = nn.Linear(n0, n_out).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
    return model


def _plain_gradient_descent(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_eval: torch.Tensor, steps: int, lr: float
) -> torch.Tensor:
    """``steps`` steps of theta <- theta - lr grad C, C = 1/(2N) sum_i ||f(x_i) - y_i||^2."""
    params = list(model.parameters())
    for _ in range(steps):
        cost = 0.5 * (model(x) - y).pow(2).sum() / x.shape[0]
        grads = torch.autograd.grad(cost, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p -= lr * g
    with torch.no_grad():
        return model(x_eval)


@pytest.mark.parametrize("n_out", [1, 3])
def test_a_model_linear_in_its_parameters_is_its_own_linearisation(n_out: int) -> None:
    """f = W x + b: the iterates of gradient descent, several outputs included (the cost divides by
    N, not by N n_L)."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(9, 4, generator=g, dtype=torch.float64)
    y = torch.randn(9, n_out, generator=g, dtype=torch.float64)
    x_eval = torch.randn(5, 4, generator=g, dtype=torch.float64)
    model = _linear_model(4, n_out, seed=1)
    got = linearized_outputs(model, x, y, x_eval, steps=25, lr=0.3)
    # The model is left as it was: the function reads theta_0, it does not train it.
    fresh = _linear_model(4, n_out, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), fresh.parameters()))
    expected = _plain_gradient_descent(fresh, x, y, x_eval, steps=25, lr=0.3)
    assert got.shape == (5, n_out) and got.dtype == torch.float64
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_linearised_module_and_frozen_kernel_descent_agree() -> None:
    """Training Linearized(net) by GD = kernel gradient descent with the frozen empirical NTK
    Theta_0, for an ensemble with two outputs."""
    x = gaussian_inputs(12, 2, seed=0)
    circle, _ = circle_points(10, dtype=torch.float32)
    y = product_target(x)
    net = NTKMLP([2, 24, 24, 2], ensemble=3, generator=torch.Generator().manual_seed(5))
    target = torch.cat([y, -0.5 * y], dim=1)
    by_kernel = linearized_outputs(net, x, target, circle, steps=40, lr=1.0)
    by_module = train(Linearized(net), x, target, steps=40, record_at=[40], x_eval=circle)
    assert by_kernel.shape == (3, 10, 2)
    assert torch.allclose(by_kernel.float(), by_module.outputs[-1], atol=1e-4), (
        (by_kernel - by_module.outputs[-1]).abs().max()
    )


def test_zero_steps_give_the_network_at_initialisation() -> None:
    net = NTKMLP([3, 16, 1], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x, x_eval = gaussian_inputs(6, 3, seed=1).double(), gaussian_inputs(4, 3, seed=2).double()
    out = linearized_outputs(net, x, torch.zeros(6, 1), x_eval, steps=0, lr=1.0)
    with torch.no_grad():
        torch.testing.assert_close(out, net(x_eval), rtol=0, atol=1e-14)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"x": torch.ones(5, 2)}, "same feature dimension|dimension"),
        ({"x_eval": torch.full((4, 3), float("nan"))}, "non-finite"),
        ({"y": torch.zeros(7, 1)}, "y must broadcast"),
        ({"steps": -1}, "steps must be an integer >= 0"),
        ({"steps": 2.5}, "steps must be an integer >= 0"),
        ({"lr": -0.1}, "lr must be a finite number >= 0"),
    ],
)
def test_bad_input_is_refused(change: dict, match: str) -> None:
    net = NTKMLP([3, 8, 1], generator=torch.Generator().manual_seed(0))
    args = {"x": torch.ones(6, 3), "y": torch.zeros(6, 1), "x_eval": torch.ones(4, 3)}
    kw = {"steps": 3, "lr": 1.0}
    for key, value in change.items():
        (args if key in args else kw)[key] = value
    with pytest.raises(ValueError, match=match):
        linearized_outputs(net, args["x"], args["y"], args["x_eval"], **kw)
