"""Tests of ntk_course.training: training finite networks (Theorem 2, Section 5), trained ensembles
against the kernel flow."""

import copy
import math

import pytest
import torch
from conftest import generator

from ntk_course import (
    NTKMLP,
    Linearized,
    empirical_ntk,
    gaussian_limit,
    limiting_kernels,
    train,
)
from ntk_course.datasets import circle_points, circle_training_set


def test_trained_wide_ensemble_matches_the_gaussian_of_section_5() -> None:
    """Sec. 5 + Thm. 2: after training, wide networks are Gaussian with the mean and covariance
    that the NTK flow and the NNGP prior predict (here at t = lr x steps = 60)."""
    x, y = circle_training_set(4)
    xt, _ = circle_points(9)
    samples, width, steps = 300, 2048, 60
    net = NTKMLP([2, width, 1], ensemble=samples, dtype=torch.float64, generator=generator(0))
    record = train(net, x, y, steps=steps, lr=1.0, record_at=[steps], x_eval=xt)
    f = record.outputs[-1][..., 0]  # (samples, M)
    s_tr, th_tr = limiting_kernels(x, depth=2)
    s_te_tr, th_te_tr = limiting_kernels(xt, x, depth=2)
    s_te = limiting_kernels(xt, depth=2, with_theta=False)[0]
    mean, cov = gaussian_limit(
        th_tr,
        s_tr,
        y,
        theta_test_train=th_te_tr,
        sigma_test_train=s_te_tr,
        sigma_test=s_te,
        t=[float(steps)],
    )
    mean, var = mean[0].reshape(-1), cov[0].diagonal()
    se_mean = f.std(0) / math.sqrt(samples)
    # 5 Monte Carlo standard errors + O(1/sqrt(width)) finite-width and O(lr) discretisation
    # effects.
    assert torch.all((f.mean(0) - mean).abs() <= 5 * se_mean + 0.02)
    se_var = var * math.sqrt(2 / samples)
    assert torch.all((f.var(0) - var).abs() <= 5 * se_var + 0.02)


def test_linearised_network_is_kernel_descent_with_the_initial_kernel() -> None:
    """Gradient descent on f_lin is f_{k+1} = f_k - (lr/N) Theta_0 (f_k - y) exactly."""
    net = NTKMLP([2, 64, 64, 1], dtype=torch.float64, generator=generator(1))
    x, y = circle_training_set(4)
    lin = Linearized(net)
    with torch.no_grad():
        torch.testing.assert_close(lin(x), net(x))
    lr, steps = 0.5, 25
    record = train(lin, x, y, steps=steps, lr=lr, record_at=[steps])
    theta0 = empirical_ntk(net, x)
    f = net(x).detach()
    for _ in range(steps):
        f = f - lr / 4 * theta0 @ (f - y)
    torch.testing.assert_close(record.outputs[-1], f, rtol=1e-10, atol=1e-12)


def test_kernel_drift_and_weight_movement_shrink_with_width() -> None:
    """Thm. 2 / lazy training: relative drift of Theta and of the weights decrease with width."""
    x, y = circle_training_set(4)
    drift, moved = [], []
    for width in (64, 1024):
        net = NTKMLP([2, width, width, 1], ensemble=4, generator=generator(width))
        r = train(net, x, y, steps=50, record_at=[0, 50], kernel_points=x)
        assert torch.all(r.weight_change[0] == 0) and torch.all(r.kernel_drift[0] == 0)
        drift.append(r.kernel_drift[-1].mean().item())
        moved.append(r.weight_change[-1, :, 1].mean().item())  # the hidden-to-hidden layer
    assert drift[1] < drift[0] / 2 and moved[1] < moved[0] / 2


def test_record_time_is_learning_rate_times_steps_and_loss_decreases() -> None:
    x, y = circle_training_set(4)
    net = NTKMLP([2, 256, 1], generator=generator(2))
    r = train(net, x, y, steps=20, lr=0.5)
    torch.testing.assert_close(r.t, 0.5 * torch.arange(21, dtype=torch.float64))
    assert torch.all(r.loss[1:] <= r.loss[:-1] + 1e-7)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(steps=-1), "steps"),
        (dict(steps=5, lr=-0.1), "lr"),
        (dict(steps=5, record_at=[7]), "record_at"),
        (dict(steps=5, y=torch.ones(3, 1)), "broadcast"),
        (dict(steps=200, lr=1e4), "diverged"),
        (dict(steps=5, record_at=[2.5]), "each step in record_at must be an integer"),
        (dict(steps=5, record_at=[]), "at least one step"),
        (dict(steps=5, record_at=3), "list of step numbers"),
        (dict(steps=5, y=torch.ones(1, 4, 1)), "broadcast"),
        (dict(steps=5, y=torch.full((4,), float("nan"))), "non-finite"),
        (dict(steps=5, x_eval=torch.ones(3, 5)), "same feature dimension"),
    ],
)
def test_bad_training_settings_raise(kwargs: dict, message: str) -> None:
    x, y = circle_training_set(4)
    kwargs.setdefault("y", y)
    with pytest.raises(ValueError, match=message):
        train(NTKMLP([2, 16, 1], generator=generator(3)), x, **kwargs)


def test_linearized_training_keeps_its_kernel_and_reports_finite_weight_changes() -> None:
    """Linearized(net) has a constant kernel by construction: its drift is round-off, its kernel
    that of net at theta_0, and the weights it reports are theta_0 + (theta - theta_0), which move
    by ||theta - theta_0|| / ||theta_0|| (not 0/0)."""
    net = NTKMLP([2, 32, 32, 1], dtype=torch.float64, generator=generator(4))
    x, y = circle_training_set(4)
    lin = Linearized(net)
    r = train(lin, x, y, steps=30, lr=1.0, record_at=[0, 10, 30], kernel_points=x)
    torch.testing.assert_close(r.kernels[0], empirical_ntk(net, x), rtol=1e-12, atol=1e-14)
    assert float(r.kernel_drift.max()) < 1e-12
    assert r.weight_change.shape == (3, 3) and bool(torch.isfinite(r.weight_change).all())
    offsets = dict(zip(lin.names, lin.delta))
    moved = torch.stack(
        [offsets[f"weights.{l}"].detach().norm() / w.norm() for l, w in enumerate(net.weights)]
    )
    torch.testing.assert_close(r.weight_change[-1], moved, rtol=1e-12, atol=0)
    assert bool((r.weight_change[-1] > 0).all())


def test_kernel_drift_is_measured_from_step_zero_even_when_step_zero_is_not_recorded() -> None:
    x, y = circle_training_set(4)
    net = NTKMLP([2, 32, 1], generator=generator(5))
    twin = copy.deepcopy(net)
    partial = train(net, x, y, steps=20, lr=2.0, record_at=[10, 20], kernel_points=x)
    full = train(twin, x, y, steps=20, lr=2.0, record_at=[0, 10, 20], kernel_points=x)
    assert partial.kernels.shape == (2, 4, 4) and full.kernels.shape == (3, 4, 4)
    torch.testing.assert_close(partial.kernel_drift, full.kernel_drift[1:], rtol=0, atol=0)
    k0 = full.kernels[0]
    expected = (partial.kernels - k0).flatten(1).norm(dim=1) / k0.norm()
    torch.testing.assert_close(partial.kernel_drift, expected, rtol=1e-6, atol=0)
    assert float(partial.kernel_drift[0]) > 0  # step 10 has moved away from Theta_0


def test_frozen_parameters_stay_put_and_weights_that_start_at_zero_report_absolute_change() -> None:
    """Only requires_grad parameters train; a weight tensor that starts at zero (relative change
    0/0) reports ||W_t||; a model whose parameters are all vectors reports those."""
    x, y = circle_training_set(4)
    net = NTKMLP([2, 16, 1], dtype=torch.float64, generator=generator(6))
    net.weights[0].requires_grad_(False)
    w0 = net.weights[0].detach().clone()
    r = train(net, x, y, steps=5, record_at=[5])
    assert torch.equal(net.weights[0].detach(), w0) and float(r.weight_change[-1, 0]) == 0.0
    assert float(r.weight_change[-1, 1]) > 0

    model = torch.nn.Sequential(
        torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)
    ).double()
    with torch.no_grad():
        model[2].weight.zero_()
    r = train(model, x, y, steps=5, record_at=[0, 5])
    assert bool(torch.isfinite(r.weight_change).all())
    torch.testing.assert_close(
        r.weight_change[-1, 1], model[2].weight.detach().norm(), rtol=1e-12, atol=0
    )

    class Scale(torch.nn.Module):  # f(x) = a . x + c with vector parameters only
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
            self.c = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return (z @ self.a + self.c)[:, None]

    scale = Scale()
    r = train(scale, x, y, steps=3, record_at=[3])
    assert r.weight_change.shape == (1, 2) and bool(torch.isfinite(r.weight_change).all())
    torch.testing.assert_close(r.weight_change[-1, 0], (scale.a.detach() - 1).norm() / math.sqrt(2))


def test_float32_training_follows_float64_and_integer_data_are_cast() -> None:
    x, y = circle_training_set(4)
    net64 = NTKMLP([2, 64, 1], dtype=torch.float64, generator=generator(7))
    net32 = copy.deepcopy(net64).float()
    r64 = train(net64, x, y, steps=20, lr=1.0)
    r32 = train(net32, x.float(), y.float(), steps=20, lr=1.0)
    assert r32.outputs.dtype == torch.float32
    # 20 contracting steps with float32 round-off ~1e-7 per step: 1e-5 is a safe bound on O(1)
    # outputs
    torch.testing.assert_close(r32.outputs.double(), r64.outputs, rtol=0, atol=1e-5)
    # integer points and targets mean the same numbers in the network's dtype
    xi, yi = torch.tensor([[1, 0], [0, 1], [-1, 0]]), torch.tensor([1, -1, 2])
    a = NTKMLP([2, 16, 1], dtype=torch.float64, generator=generator(8))
    b = copy.deepcopy(a)
    ra, rb = train(a, xi, yi, steps=3), train(b, xi.double(), yi.double(), steps=3)
    assert torch.equal(ra.outputs, rb.outputs) and torch.equal(ra.loss, rb.loss)


def test_bad_kernel_points_are_refused_before_any_step() -> None:
    x, y = circle_training_set(4)
    net = NTKMLP([2, 16, 1], generator=generator(9))
    before = [p.detach().clone() for p in net.parameters()]
    for bad, match in (
        ((x, torch.ones(2, 3)), "same feature dimension"),
        ((x, x, x), "pair"),
        (torch.ones(0, 2), "at least one point"),
        (torch.full((2, 2), float("nan")), "non-finite"),
    ):
        with pytest.raises(ValueError, match=match):
            train(net, x, y, steps=3, kernel_points=bad)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before))


def test_a_model_without_trainable_parameters_is_refused() -> None:
    x, y = circle_training_set(4)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train(torch.nn.Identity(), x, y, steps=1)
    frozen = NTKMLP([2, 8, 1]).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train(frozen, x, y, steps=1)


def test_a_kernel_that_is_zero_at_step_zero_has_no_relative_drift() -> None:
    """f(x) = w . x has Theta(0, 0) = 0: ||Theta_t - Theta_0|| / ||Theta_0|| would be 0/0,
    refused."""
    x, y = circle_training_set(4)
    model = torch.nn.Linear(2, 1, bias=False).double()
    with pytest.raises(ValueError, match="zero on kernel_points"):
        train(model, x, y, steps=2, kernel_points=torch.zeros(2, 2))
