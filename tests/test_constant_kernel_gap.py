"""ntk_course.chapters.constant_kernel: the linearisation gap and the quantity that bounds it."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import norm

from ntk_course import Architecture
from ntk_course.chapters.constant_kernel import gap_bound_scan, window_power
from ntk_course.datasets import gaussian_inputs, product_target
from ntk_course.training import train


def test_window_power_against_the_normal_tails() -> None:
    # no effect: the two tails beyond 3 standard errors, 2 Phi(-3)
    assert window_power(0.0, 0.1) == pytest.approx(2 * norm.cdf(-3.0), rel=1e-12)
    # symmetric in the sign of the effect, increasing in its size, and 1/2 at an effect of z se
    assert window_power(0.2, 0.1) == pytest.approx(window_power(-0.2, 0.1))
    assert window_power(0.3, 0.1) == pytest.approx(0.5 + norm.cdf(-6.0), rel=1e-9)
    assert window_power(0.5, 0.1) > window_power(0.4, 0.1) > 0.5
    # Monte Carlo: the share of N(effect, se^2) draws outside the window
    draws = torch.randn(200_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    effect, se = 0.25, 0.1
    share = ((effect + se * draws).abs() > 3 * se).double().mean().item()
    assert share == pytest.approx(window_power(effect, se), abs=0.005)
    with pytest.raises(ValueError, match="se > 0"):
        window_power(0.1, 0.0)


def test_a_network_without_hidden_layer_is_its_own_linearisation() -> None:
    x = gaussian_inputs(8, 2, seed=1)
    g = gap_bound_scan(Architecture(depth=1), (3,), x, product_target(x), steps=10, ensemble=2)
    assert g.kernel_change.abs().max() < 1e-6 and g.drive.abs().max() < 1e-6
    assert g.gap.max() < 1e-5 and (g.residual_integral > 0).all()


def test_the_gap_the_drive_and_the_bound_of_a_small_network() -> None:
    x = gaussian_inputs(16, 2, seed=2)
    y = product_target(x)
    arch = Architecture(3, "tanh")
    g = gap_bound_scan(arch, (16, 64), x, y, steps=20, ensemble=3, lr=0.5, seed=5)
    assert g.gap.shape == g.drive.shape == g.bound.shape == (2, 3) and g.t == 10.0
    # the chain of inequalities of the chapter: gap <= drive <= D_T sup ||Theta_t - Theta_0||_op
    assert (g.gap <= g.drive).all() and (g.drive <= g.bound * (1 + 1e-9)).all()
    # D_T against the recorded cost: ||d_k||_{p^in} = sqrt(2 C_k), C the paper's 1/(2N) cost
    nets = arch.network(2, 16, ensemble=3, generator=torch.Generator().manual_seed(5))
    rec = train(nets, x, y, steps=20, lr=0.5, record_at=list(range(21)))
    expected = 0.5 * (2 * rec.loss[:-1].double()).sqrt().sum(0)
    assert torch.allclose(g.residual_integral[0], expected, rtol=1e-4)
    assert math.isfinite(g.fit("kernel_change").std_error)
    with pytest.raises(ValueError, match="unknown quantity"):
        g.fit("drift")
