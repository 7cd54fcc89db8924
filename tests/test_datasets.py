"""Tests of ntk_course.datasets: the synthetic inputs of Sections 6.1-6.2 (the unit circle, Gaussian
inputs and the target x_1 x_2)."""

from __future__ import annotations

import math

import pytest
import torch

from ntk_course.datasets import circle_points, circle_training_set, gaussian_inputs, product_target


def test_circle_points_are_evenly_spaced_on_the_unit_circle():
    x, g = circle_points(12)
    assert x.shape == (12, 2) and g.shape == (12,) and x.dtype == torch.float64
    torch.testing.assert_close(x.norm(dim=1), torch.ones(12, dtype=torch.float64))
    torch.testing.assert_close(torch.atan2(x[:, 1], x[:, 0]), g)
    assert float(g[0]) == -math.pi and float(g[-1]) < math.pi
    torch.testing.assert_close(
        torch.diff(g), torch.full((11,), 2 * math.pi / 12, dtype=torch.float64)
    )
    assert bool(
        (x[6] == torch.tensor([1.0, 0.0], dtype=torch.float64)).all()
    )  # x_0 = (1, 0) of Figure 1


def test_circle_training_set():
    x, y = circle_training_set()
    assert x.shape == (4, 2) and y.shape == (4, 1)
    torch.testing.assert_close(x.norm(dim=1), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(y[:, 0], torch.tensor([0.4, -0.4, 0.4, -0.4], dtype=torch.float64))
    torch.testing.assert_close(y, 0.8 * product_target(x))


def test_gaussian_inputs_and_product_target():
    x = gaussian_inputs(2000, 3, seed=0)
    assert x.shape == (2000, 3) and x.dtype == torch.float32
    assert torch.equal(x, gaussian_inputs(2000, 3, generator=torch.Generator().manual_seed(0)))
    assert abs(float(x.mean())) < 0.05 and abs(float(x.var()) - 1) < 0.05
    assert not torch.equal(x, gaussian_inputs(2000, 3, seed=1))
    torch.testing.assert_close(product_target(x), (x[:, 0] * x[:, 1])[:, None])
    with pytest.raises(ValueError, match="not both"):
        gaussian_inputs(2, 2, seed=0, generator=torch.Generator())
    with pytest.raises(ValueError, match="n_0 >= 2"):
        product_target(torch.ones(3, 1))
