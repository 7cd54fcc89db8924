"""Training finite networks (Theorem 2, Section 5): trained ensembles against the kernel flow."""
import math

import pytest
import torch

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
    net = NTKMLP([2, width, 1], ensemble=samples, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    record = train(net, x, y, steps=steps, lr=1.0, record_at=[steps], x_eval=xt)
    f = record.outputs[-1][..., 0]  # (samples, M)
    s_tr, th_tr = limiting_kernels(x, depth=2)
    s_te_tr, th_te_tr = limiting_kernels(xt, x, depth=2)
    s_te = limiting_kernels(xt, depth=2, with_theta=False)[0]
    mean, cov = gaussian_limit(th_tr, s_tr, y, theta_test_train=th_te_tr, sigma_test_train=s_te_tr,
                               sigma_test=s_te, t=[float(steps)])
    mean, var = mean[0].reshape(-1), cov[0].diagonal()
    se_mean = f.std(0) / math.sqrt(samples)
    # 5 Monte Carlo standard errors + O(1/sqrt(width)) finite-width and O(lr) discretisation effects.
    assert torch.all((f.mean(0) - mean).abs() <= 5 * se_mean + 0.02)
    se_var = var * math.sqrt(2 / samples)
    assert torch.all((f.var(0) - var).abs() <= 5 * se_var + 0.02)


def test_linearised_network_is_kernel_descent_with_the_initial_kernel() -> None:
    """Gradient descent on f_lin is f_{k+1} = f_k - (lr/N) Theta_0 (f_k - y) exactly."""
    torch.manual_seed(1)
    net = NTKMLP([2, 64, 64, 1], dtype=torch.float64)
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
        net = NTKMLP([2, width, width, 1], ensemble=4, generator=torch.Generator().manual_seed(width))
        r = train(net, x, y, steps=50, record_at=[0, 50], kernel_points=x)
        assert torch.all(r.weight_change[0] == 0) and torch.all(r.kernel_drift[0] == 0)
        drift.append(r.kernel_drift[-1].mean().item())
        moved.append(r.weight_change[-1, :, 1].mean().item())  # the hidden-to-hidden layer
    assert drift[1] < drift[0] / 2 and moved[1] < moved[0] / 2


def test_record_time_is_learning_rate_times_steps_and_loss_decreases() -> None:
    x, y = circle_training_set(4)
    net = NTKMLP([2, 256, 1], generator=torch.Generator().manual_seed(2))
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
    ],
)
def test_bad_training_settings_raise(kwargs: dict, message: str) -> None:
    x, y = circle_training_set(4)
    kwargs.setdefault("y", y)
    with pytest.raises(ValueError, match=message):
        train(NTKMLP([2, 16, 1], generator=torch.Generator().manual_seed(3)), x, **kwargs)
