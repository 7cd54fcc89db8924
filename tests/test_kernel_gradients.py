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
    with pytest.raises(ValueError, match="differentiable with respect to x and y only"):
        ntk(x, depth=2, activation="tanh")
    assert ntk(x.detach(), depth=2, activation="tanh").shape == (3, 3)
