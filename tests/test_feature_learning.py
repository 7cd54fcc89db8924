"""Tests of ntk_course.chapters.feature_learning and kernel_dynamics: the muP network, how far
features and kernels move in the NTK and muP parametrisations, kernel velocity and kernel-target
alignment."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from ntk_course import Architecture
from ntk_course.chapters.feature_learning import feature_movement, plot_feature_movement
from ntk_course.chapters.kernel_dynamics import (
    kernel_alignment,
    kernel_distance,
    kernel_dynamics,
    kernel_velocity,
    plot_kernel_dynamics,
)
from ntk_course.datasets import circle_training_set
from ntk_course.empirical import empirical_ntk
from ntk_course.mlp import NTKMLP
from ntk_course.power_laws import bootstrap_slope


def _pair(widths: list[int], dtype: torch.dtype = torch.float64) -> tuple[NTKMLP, NTKMLP]:
    """An NTK and a muP network drawn from the same random numbers."""
    arch = Architecture(len(widths) - 1)
    make = lambda p: arch.replace(parametrization=p).network(  # noqa: E731
        widths[0], widths[1], generator=torch.Generator().manual_seed(3), dtype=dtype
    )
    return make("ntk"), make("mup")


@pytest.mark.parametrize("depth", [2, 3])
def test_mup_is_the_ntk_network_with_the_output_divided_by_sqrt_n(depth: int) -> None:
    # Same draws: f_muP = f_NTK / sqrt(n) (output weights 1/n instead of 1/sqrt(n), bias
    # beta/sqrt(n) instead of beta), and n Theta_muP = Theta_NTK: the learning rate eta n moves the
    # function as eta moves the NTK network. Theta_muP by torch.func Jacobians, independent of the
    # structured formula.
    n = 48
    widths = [3] + [n] * (depth - 1) + [1]
    ntk_net, mup_net = _pair(widths)
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    torch.testing.assert_close(mup_net(x), ntk_net(x) / math.sqrt(n), rtol=1e-12, atol=1e-14)
    theta_mup = empirical_ntk(mup_net, x, method="jacobian")
    torch.testing.assert_close(empirical_ntk(mup_net, x), theta_mup, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(
        mup_net.lr_scale * theta_mup, empirical_ntk(ntk_net, x), rtol=1e-10, atol=1e-14
    )


def test_mup_hidden_layers_keep_the_ntk_scales() -> None:
    mup_net = NTKMLP(
        [2, 16, 8, 1], parametrization="mup", generator=torch.Generator().manual_seed(3)
    )
    assert mup_net.scales(0) == (1 / math.sqrt(2), 0.1) and mup_net.scales(1) == (1 / 4, 0.1)
    assert mup_net.scales(2) == (1 / 8, 0.1 / math.sqrt(8)) and mup_net.lr_scale == 8
    assert "mup" in repr(mup_net)


def test_bad_networks_are_refused() -> None:
    with pytest.raises(ValueError, match="depth >= 2"):
        Architecture(1, parametrization="mup")
    with pytest.raises(ValueError, match="unknown parametrization"):
        Architecture(2, parametrization="lecun")


@pytest.fixture(scope="module")
def movement():
    x, y = circle_training_set(8)
    return feature_movement([32, 128, 512, 2048], x, y, steps=100, ensemble=6)


def test_ntk_features_settle_and_mup_features_keep_moving(movement) -> None:
    # Theorem 2: in the NTK parametrisation each neuron's preactivation moves by O(n^{-1/2}), so the
    # relative change of the features has slope -1/2 against the width; in muP it tends to a
    # non-zero limit (slope 0). The windows are 4 bootstrap standard errors of the fitted slopes (6
    # networks per width), plus 0.1 for the O(n^{-1/2}) corrections to the leading power at widths
    # >= 32.
    ntk_fit = bootstrap_slope(movement.widths, movement.feature_change["ntk"])
    mup_fit = bootstrap_slope(movement.widths, movement.feature_change["mup"])
    assert abs(ntk_fit.slope + 0.5) < 4 * ntk_fit.std_error + 0.1, ntk_fit
    assert abs(mup_fit.slope) < 4 * mup_fit.std_error + 0.1, mup_fit
    assert float(movement.feature_change["mup"].min()) > 0.2  # O(1), not merely slower to vanish
    # The kernel drift of the NTK network falls between n^{-1} and n^{-1/2}; muP's does not fall.
    drift = bootstrap_slope(movement.widths, movement.kernel_drift["ntk"])
    assert -1 - 4 * drift.std_error < drift.slope < -0.5 + 4 * drift.std_error, drift
    assert float(movement.kernel_drift["mup"].min()) > 0.3


def test_mup_starts_from_a_vanishing_function_and_both_learn(movement) -> None:
    # The same draws in both parametrisations: f_0 of muP is that of the NTK network divided by
    # sqrt(n).
    ratio = (
        movement.output_scale["mup"]
        * movement.widths.double().sqrt()
        / movement.output_scale["ntk"]
    )
    torch.testing.assert_close(ratio, torch.ones_like(ratio), rtol=0, atol=1e-6)
    for p in ("ntk", "mup"):
        assert float(movement.cost[p].max()) < 0.1 * 0.04, (
            p,
            movement.cost[p],
        )  # C = 0.04 for f = 0
    assert movement.w_final["mup"].shape == movement.w_initial["mup"].shape == (200, 2)
    left, right = plot_feature_movement(movement)
    assert left.get_xlabel() == "hidden width $n$" and len(left.get_legend().get_texts()) == 4
    assert right.get_xlabel() == "$w_{j1}$" and len(right.get_legend().get_texts()) == 3
    plt.close("all")


def test_feature_movement_refuses_bad_input() -> None:
    x, y = circle_training_set(4)
    with pytest.raises(ValueError, match="unknown parametrization"):
        feature_movement([8], x, y, parametrizations=("lecun",))
    with pytest.raises(ValueError, match="at least one parametrisation"):
        feature_movement([8], x, y, parametrizations=())
    with pytest.raises(ValueError, match="depth >= 2"):
        feature_movement([8], x, y, arch=Architecture(1))
    with pytest.raises(ValueError, match="widths must be distinct"):
        feature_movement([8, 8], x, y)
    with pytest.raises(ValueError, match="rows"):
        feature_movement([8], x, y[:3])
    with pytest.raises(ValueError, match="steps"):
        feature_movement([8], x, y, steps=0)


# ---------------------------------------------------------------- velocity and alignment


def test_kernel_velocity_is_fort_et_al_s_cosine_distance_per_unit_time() -> None:
    # Fort et al. (2020): S(t, t') = 1 - <K_t, K_t'>_F / (||K_t||_F ||K_t'||_F) and
    # v = S(t, t + dt) / dt.
    g = torch.Generator().manual_seed(0)
    a = torch.randn(5, 5, generator=g, dtype=torch.float64)
    k0, d = (
        a @ a.T + torch.eye(5, dtype=torch.float64),
        torch.randn(5, 5, generator=g, dtype=torch.float64),
    )
    t = torch.tensor([0.0, 0.5, 2.0, 3.0], dtype=torch.float64)
    kernels = k0 + t[:, None, None] * (d + d.T)
    flat = kernels.flatten(1).numpy()  # an independent computation of the cosines, in numpy
    cos = [
        float(np.dot(flat[r], flat[r + 1]) / np.linalg.norm(flat[r]) / np.linalg.norm(flat[r + 1]))
        for r in range(3)
    ]
    expected = torch.tensor(
        [(1 - c) / dt for c, dt in zip(cos, [0.5, 1.5, 1.0])], dtype=torch.float64
    )
    torch.testing.assert_close(kernel_velocity(kernels, t), expected, rtol=1e-10, atol=1e-15)
    assert bool((kernel_velocity(kernels, t) > 0).all())
    # only the direction counts: a constant kernel, and a kernel that only grows, do not move
    assert float(kernel_velocity(k0.expand(3, 5, 5), t[:3]).abs().max()) < 1e-15
    growing = (1 + t[:, None, None] ** 2) * k0
    assert float(kernel_velocity(growing, t).abs().max()) < 1e-15
    # the distance of a matrix to an orthogonal one (in the Frobenius product) is 1
    e1, e2 = torch.zeros(2, 2, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64)
    e1[0, 0], e2[1, 1] = 1.0, 1.0
    assert float(kernel_distance(e1, e2)) == pytest.approx(1.0, abs=1e-15)
    with pytest.raises(ValueError, match="increasing"):
        kernel_velocity(kernels, t.flip(0))
    with pytest.raises(ValueError, match="zero"):
        kernel_velocity(torch.zeros(2, 3, 3), [0.0, 1.0])


def test_kernel_alignment_closed_forms() -> None:
    y = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    yc = y - y.mean()
    assert float(kernel_alignment(torch.outer(yc, yc), y)) == pytest.approx(1.0, abs=1e-12)
    # The identity: H I H = H, ||H||_F = sqrt(N - 1), <H, yc yc^T> = ||yc||^2, so A = 1
    # / sqrt(N - 1).
    assert float(kernel_alignment(torch.eye(4, dtype=torch.float64), y)) == pytest.approx(
        1 / math.sqrt(3), abs=1e-12
    )
    # Centring: a constant added to every entry changes nothing; a negated kernel has alignment -A.
    k = torch.randn(4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    k = k @ k.T
    a = kernel_alignment(k, y)
    assert 0 <= float(a) <= 1  # a positive semi-definite kernel: H K H and y y^T are PSD
    torch.testing.assert_close(kernel_alignment(k + 7.0, y), a, rtol=1e-10, atol=0)
    torch.testing.assert_close(kernel_alignment(torch.stack([k, -k]), y), torch.stack([a, -a]))
    with pytest.raises(ValueError, match="constant"):
        kernel_alignment(k, torch.ones(4))
    with pytest.raises(ValueError, match="constant kernel"):
        kernel_alignment(torch.ones(4, 4), y)
    with pytest.raises(ValueError, match="square"):
        kernel_alignment(torch.ones(4, 3), y)


def test_feature_learning_runs_align_the_kernel_with_the_target() -> None:
    x, y = circle_training_set(16)
    dyn = kernel_dynamics(x, y, width=128, steps=60, ensemble=4)
    lazy, large, mup = (dyn.runs[k] for k in ("lazy", "large learning rate", "muP"))
    # the velocity is taken over intervals of 5 steps: steps 0, 5, ..., 60
    assert lazy.velocity.shape == (12, 4) and lazy.alignment.shape == (len(lazy.t), 4)
    torch.testing.assert_close(
        lazy.velocity_t, 5 * lazy.eta * torch.arange(12, dtype=torch.float64)
    )
    torch.testing.assert_close(lazy.alignment[0], mup.alignment[0])  # the same initial kernels
    assert large.eta == pytest.approx(4 * lazy.eta) and mup.lr == pytest.approx(128 * mup.eta)
    # |A(K') - A(K)| <= 2 ||H (K' - K) H|| / ||H K H|| <= 2 ||K' - K|| / ||H K H||: the lazy run's
    # alignment moves at most as its kernel, a few per cent; the feature-learning runs gain more
    # than 4 standard errors of their mean gain above the largest lazy change.
    lazy_gain = (lazy.alignment[-1] - lazy.alignment[0]).abs().max()
    for run in (large, mup):
        gain = run.alignment[-1] - run.alignment[0]
        assert float(gain.mean() - 4 * gain.std() / 2) > float(lazy_gain), (gain, lazy_gain)
        assert float(run.drift.min()) > 5 * float(lazy.drift.max()), (run.drift, lazy.drift)
        # in the first 30 steps every feature-learning network's kernel turns faster than any
        # lazy one's
        assert float(run.velocity[:6].mean(0).min()) > float(lazy.velocity[:6].mean(0).max())
    left, right = plot_kernel_dynamics(dyn)
    assert (
        left.get_xlabel() == right.get_xlabel() == "time $t$"
        and len(right.get_legend().get_texts()) == 3
    )
    plt.close("all")
    with pytest.raises(ValueError, match="runs"):
        kernel_dynamics(x, y, runs=())
    with pytest.raises(ValueError, match="unknown parametrization"):
        kernel_dynamics(x, y, runs=(("wrong", "lecun", 0.5),))
    with pytest.raises(ValueError, match="factors"):
        kernel_dynamics(x, y, runs=(("negative", "ntk", -1.0),))
