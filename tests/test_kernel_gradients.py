"""Issue 22, item 5: the closed-form kernels (ReLU, erf) are differentiable with respect to x and y
(torch.autograd.gradcheck, float64 finite differences as the reference); an activation computed by
quadrature refuses points that require grad rather than return a wrong gradient."""

from __future__ import annotations

import pytest
import torch

from ntk_course import nngp, ntk


def _points():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(3, 2, dtype=torch.float64, generator=g).requires_grad_()
    y = torch.randn(2, 2, dtype=torch.float64, generator=g).requires_grad_()
    return x, y


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_gradcheck_through_x_and_y(activation: str):
    x, y = _points()
    for fn in (ntk, nngp):
        assert torch.autograd.gradcheck(
            lambda a, b, fn=fn: fn(a, b, depth=3, activation=activation, beta=0.2), (x, y)
        )
    # the Gram matrix of x (identical points on the diagonal, angle 0): finite gradients
    assert torch.autograd.gradcheck(lambda a: ntk(a, depth=3, activation=activation), (x,))


def test_quadrature_activation_refuses_points_that_require_grad():
    x, _ = _points()
    with pytest.raises(ValueError, match="differentiable with respect to x, y and beta only"):
        ntk(x, depth=2, activation="tanh")
    assert ntk(x.detach(), depth=2, activation="tanh").shape == (3, 3)


@pytest.mark.parametrize("activation", ["relu", "erf"])
def test_gradcheck_through_beta(activation: str):
    """beta as a 0-d tensor that requires grad: d Theta / d beta and d Sigma / d beta against
    finite differences (gradcheck), alone and with x; and a float beta gives the same values."""
    x, y = _points()
    beta = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    for fn in (ntk, nngp):
        assert torch.autograd.gradcheck(
            lambda b, fn=fn: fn(x.detach(), y.detach(), depth=3, activation=activation, beta=b),
            (beta,),
        )
        assert torch.autograd.gradcheck(
            lambda a, b, fn=fn: fn(a, depth=3, activation=activation, beta=b), (x, beta)
        )
        torch.testing.assert_close(
            fn(x, y, depth=3, activation=activation, beta=beta).detach(),
            fn(x, y, depth=3, activation=activation, beta=0.3).detach(),
            rtol=1e-14,
            atol=0,
        )


def test_the_beta_derivative_of_the_first_layer_is_two_beta():
    """Sigma^(1) = x.y / n_0 + beta^2: its derivative is 2 beta, for every pair (closed form)."""
    x, y = _points()
    beta = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(nngp(x.detach(), y.detach(), depth=1, beta=beta).sum(), beta)
    torch.testing.assert_close(grad, torch.tensor(2 * 0.7 * 3 * 2, dtype=torch.float64))


def test_beta_that_requires_grad_is_refused_by_quadrature_and_must_be_one_number():
    x, _ = _points()
    beta = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match="differentiable with respect to x, y and beta"):
        ntk(x.detach(), depth=2, activation="tanh", beta=beta)
    with pytest.raises(ValueError, match="beta must be one number"):
        ntk(x.detach(), depth=2, beta=torch.ones(2, dtype=torch.float64, requires_grad=True))
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        ntk(x.detach(), depth=2, beta=torch.tensor(-0.1, requires_grad=True))
