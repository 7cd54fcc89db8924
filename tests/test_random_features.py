"""Tests of ntk_course.random_features (Section 3.1): random functions f^(p) ~ N(0, K), the linear
model they span and its tangent kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import generator, randn

from ntk_course.datasets import sphere_points
from ntk_course.flow import gradient_flow
from ntk_course.kernels import ntk
from ntk_course.random_features import RandomFeatures, relative_kernel_error

SEEDS = range(16)


@pytest.fixture(scope="module")
def kernel() -> torch.Tensor:
    """The ReLU NTK Theta^(2) on 20 points of S^4 (effective rank (tr K)^2 / ||K||_F^2 about 6)."""
    return ntk(sphere_points(20, 5, seed=0), depth=2)


def errors(kernel: torch.Tensor, p: int) -> np.ndarray:
    return np.array(
        [
            relative_kernel_error(RandomFeatures(kernel, p, seed=s).tangent_kernel(), kernel)
            for s in SEEDS
        ]
    )


def test_shapes_reproducibility_and_device(kernel, device):
    k = kernel.to(device)
    rf = RandomFeatures(k, 7, seed=3)
    assert rf.features.shape == (20, 7) and (rf.n_points, rf.n_functions) == (20, 7)
    assert rf.features.dtype == torch.float64 and rf.features.device == k.device
    assert torch.equal(rf.features, RandomFeatures(k, 7, seed=3).features)
    g = torch.Generator(device=device).manual_seed(3)
    assert torch.equal(rf.features, RandomFeatures(k, 7, generator=g).features)
    k_tilde = rf.tangent_kernel()
    assert k_tilde.device == k.device and torch.equal(k_tilde, k_tilde.T)
    theta = torch.randn(7, dtype=torch.float64)
    torch.testing.assert_close(
        rf.function(theta), rf.features @ theta.to(device) / math.sqrt(7), rtol=0, atol=0
    )
    values = rf.train(torch.ones(20), steps=2, lr=0.1)
    assert values.device == k.device and values.shape == (3, 20)


def test_tangent_kernel_error_shrinks_like_one_over_sqrt_p(kernel):
    # E||K_tilde - K||_F^2 = ((tr K)^2 + ||K||_F^2) / P exactly (Isserlis), so the ratio of the
    # root-mean-square errors at P and 16 P is 4. Over 16 seeds each its spread, measured on 25
    # independent batches, is 0.22 (relative error of one draw ~16% at this effective rank):
    # the band [3.2, 4.8] is 3.6 standard deviations wide on each side.
    rms = [math.sqrt((errors(kernel, p) ** 2).mean()) for p in (100, 1600)]
    assert 3.2 < rms[0] / rms[1] < 4.8
    # The level too, not only the rate: P E[err^2] = ((tr K)^2 + ||K||_F^2) / ||K||_F^2 within 25%
    # (3 standard deviations of a mean of 16 squared errors).
    norm2 = float((kernel**2).sum())
    expected = (float(kernel.trace()) ** 2 + norm2) / norm2
    assert 100 * rms[0] ** 2 == pytest.approx(expected, rel=0.25)


@pytest.mark.parametrize("shape", [(), (3,)])
def test_training_equals_discrete_kernel_gradient_descent(kernel, shape):
    # One step of size lr on C = 1/(2N)||f - y||^2 moves f by -(lr/N) K_tilde (f - y), hence
    # f_k - y = (I - lr K_tilde / N)^k (f_0 - y).
    n, steps = kernel.shape[0], 30
    rf = RandomFeatures(kernel, 50, seed=1)
    g = generator(2)
    y = torch.randn(n, *shape, generator=g, dtype=torch.float64)
    theta0 = torch.randn(50, *shape, generator=g, dtype=torch.float64)
    k_tilde = rf.tangent_kernel()
    lr = n / float(torch.linalg.eigvalsh(k_tilde)[-1])  # half the stability limit 2N / lambda_max
    values = rf.train(y, steps=steps, lr=lr, theta=theta0)
    assert values.shape == (steps + 1, n, *shape)
    step = torch.eye(n, dtype=torch.float64) - lr * k_tilde / n
    for k in (0, 1, 7, steps):
        expected = y + torch.linalg.matrix_power(step, k) @ (rf.function(theta0) - y)
        torch.testing.assert_close(values[k], expected, rtol=0, atol=1e-12)  # round-off, |f| ~ 1
    assert float((values[-1] - y).norm()) < float((values[0] - y).norm())  # it does learn


def test_small_steps_follow_the_exact_kernel_flow(kernel):
    # Gradient descent is the Euler scheme of the flow df/dt = -(1/N) K_tilde (f - y), t = lr x
    # steps. Per eigenvalue lam of K_tilde/N, |(1 - h)^k - e^{-hk}| <= k h^2 / 2 for h = lr lam in
    # [0, 1], so ||f_k - f(t_k)|| <= k (lr lam_max)^2 / 2 ||f_0 - y||: a bound, not a fitted
    # tolerance.
    n, steps = kernel.shape[0], 200
    rf = RandomFeatures(kernel, 40, seed=4)
    y = randn(n, seed=5)
    k_tilde = rf.tangent_kernel()
    lam_max = float(torch.linalg.eigvalsh(k_tilde)[-1]) / n
    lr = 0.01 / lam_max  # h <= 0.01, flow time lr x steps = 2 / lam_max
    values = rf.train(y, steps=steps, lr=lr)
    t = lr * torch.arange(steps + 1, dtype=torch.float64)
    exact = gradient_flow(k_tilde, y, t, f0_train=values[0]).f_train
    gap = (values - exact).norm(dim=1)
    bound = torch.arange(steps + 1) * (lr * lam_max) ** 2 / 2 * float((values[0] - y).norm())
    assert bool((gap <= bound + 1e-12).all())
    assert float((gap[1:] / bound[1:]).max()) > 0.1  # and of the right order (observed 0.36)


def test_singular_kernel_is_sampled_in_its_range():
    v = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    k = torch.outer(v, v)  # rank 1: Cholesky would fail, eigh with clamping does not
    rf = RandomFeatures(k, 1000, seed=0)
    residual = rf.features - torch.outer(v, v @ rf.features) / float(v @ v)
    assert float(residual.abs().max()) < 1e-12 * float(rf.features.abs().max())
    assert (
        relative_kernel_error(rf.tangent_kernel(), k) < 0.2
    )  # |chi^2_1000/1000 - 1| < 0.2: 9 sigma


def test_training_defaults_and_zero_steps(kernel):
    rf = RandomFeatures(kernel, 10, seed=0)
    y = torch.ones(20, dtype=torch.float64)
    values = rf.train(y, steps=0, lr=0.1)
    assert values.shape == (1, 20) and torch.equal(values[0], torch.zeros(20, dtype=torch.float64))


@pytest.mark.parametrize("p", [0, -1, 2.5])
def test_bad_number_of_functions(kernel, p):
    with pytest.raises(ValueError, match="n_functions"):
        RandomFeatures(kernel, p)


@pytest.mark.parametrize(
    "bad, match",
    [
        (torch.ones(3, 4), "square"),
        (torch.ones(3), "2-d"),
        (torch.tensor([[1.0, 0.0], [0.0, -1.0]]), "positive semi-definite"),
        (torch.tensor([[1.0, 2.0], [0.0, 1.0]]), "symmetric"),
        (torch.tensor([[1.0, float("nan")], [float("nan"), 1.0]]), "non-finite"),
    ],
)
def test_bad_kernels(bad, match):
    with pytest.raises(ValueError, match=match):
        RandomFeatures(bad, 5)


def test_bad_training_and_seed_arguments(kernel):
    rf = RandomFeatures(kernel, 10, seed=0)
    with pytest.raises(ValueError, match="y must have 20 rows"):
        rf.train(torch.ones(19), steps=3, lr=0.1)
    with pytest.raises(ValueError, match="y must be 1-d or 2-d"):
        rf.train(torch.ones(20, 1, 1), steps=3, lr=0.1)
    with pytest.raises(ValueError, match="y has non-finite"):
        rf.train(torch.full((20,), float("nan")), steps=3, lr=0.1)
    with pytest.raises(ValueError, match="theta must have 10 rows"):
        rf.train(torch.ones(20), steps=3, lr=0.1, theta=torch.ones(9))
    with pytest.raises(ValueError, match="lr"):
        rf.train(torch.ones(20), steps=3, lr=-0.1)
    with pytest.raises(ValueError, match="steps"):
        rf.train(torch.ones(20), steps=-1, lr=0.1)
    with pytest.raises(ValueError, match="theta must have 10 rows"):
        rf.function(torch.ones(9))
    with pytest.raises(ValueError, match="theta must be a numeric array"):
        rf.function("ones")
    with pytest.raises(ValueError, match="either generator or seed"):
        RandomFeatures(kernel, 5, seed=0, generator=torch.Generator())


def test_relative_kernel_error_checks():
    k = torch.eye(3, dtype=torch.float64)
    assert relative_kernel_error(2 * k, k) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same shape"):
        relative_kernel_error(torch.eye(2), k)
    with pytest.raises(ValueError, match="non-zero"):
        relative_kernel_error(k, torch.zeros(3, 3))


def test_float32_features_train_like_the_float64_recursion(kernel):
    """In float32 the model follows f_k - y = (I - lr K_tilde / N)^k (f_0 - y), computed in float64
    from the same (float32) features, to single precision; integer kernels are read as float64."""
    n, steps = kernel.shape[0], 20
    rf = RandomFeatures(kernel, 50, seed=6, dtype=torch.float32)
    assert rf.features.dtype == torch.float32
    y = torch.linspace(-1, 1, n, dtype=torch.float64)
    k_tilde = rf.features.double() @ rf.features.double().T / 50
    lr = n / float(torch.linalg.eigvalsh(k_tilde)[-1])
    values = rf.train(y, steps=steps, lr=lr)
    assert values.dtype == torch.float32
    expected = y + torch.linalg.matrix_power(
        torch.eye(n, dtype=torch.float64) - lr * k_tilde / n, steps
    ) @ (0 - y)
    # 20 steps, each with float32 round-off ~1e-7 on O(1) values, contracting: below 1e-5
    torch.testing.assert_close(values[-1].double(), expected, rtol=0, atol=1e-5)
    ki = torch.tensor([[2, 1], [1, 2]])
    assert torch.equal(
        RandomFeatures(ki, 4, seed=0).features, RandomFeatures(ki.double(), 4, seed=0).features
    )
