"""The library on a GPU: each result computed on CUDA equals the CPU result.

Every test here takes the ``gpu`` fixture, so it runs on CUDA only and is reported
``skipped: no GPU`` elsewhere (CI): on a CPU-only machine it would compare the CPU with itself.
``bash tests/gpu_check.sh`` runs them (they are marked ``cuda``). The CPU reference is computed in
float64 from CPU tensors.
"""

from __future__ import annotations

import torch
from conftest import generator

from ntk_course import (
    NTKMLP,
    Linearized,
    empirical_ntk,
    gaussian_limit,
    gradient_descent,
    gradient_flow,
    kernel_pca,
    limiting_kernels,
    ntk,
    train,
)
from ntk_course.datasets import circle_points
from ntk_course.digits import mnist


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float) -> None:
    torch.testing.assert_close(
        a.detach().cpu().double(),
        b.detach().cpu().double(),
        rtol=rtol,
        atol=rtol * float(b.abs().max()),
    )


def test_limiting_kernels_for_closed_forms_and_quadrature(gpu: torch.device) -> None:
    x, _ = mnist(32, scaling="unit_norm")
    for activation in ("relu", "erf", "tanh", "gelu"):
        s_cpu, t_cpu = limiting_kernels(x, depth=4, activation=activation)
        s_dev, t_dev = limiting_kernels(x.to(gpu), depth=4, activation=activation)
        assert t_dev.device.type == gpu.type and t_dev.dtype == torch.float64
        _close(s_dev, s_cpu, 1e-10)
        _close(t_dev, t_cpu, 1e-10)
        assert torch.equal(t_dev, t_dev.T)


def test_empirical_ntk_methods_and_training(gpu: torch.device) -> None:
    x, _ = circle_points(12, dtype=torch.float64)
    y = (x[:, :1] * x[:, 1:]).double()
    net = NTKMLP([2, 64, 64, 1], generator=generator(0), dtype=torch.float64)
    ref = empirical_ntk(net, x, method="jacobian")
    moved = net.to(gpu)
    for method in ("structured", "jacobian", "ntvp"):
        _close(empirical_ntk(moved, x.to(gpu), method=method), ref, 1e-10)
    record = train(
        moved, x.to(gpu), y.to(gpu), steps=20, lr=1.0, record_at=[0, 20], kernel_points=x.to(gpu)
    )
    assert record.outputs.device.type == gpu.type and float(record.loss[-1]) < float(record.loss[0])
    cpu_net = NTKMLP([2, 64, 64, 1], generator=generator(0), dtype=torch.float64)
    cpu_record = train(cpu_net, x, y, steps=20, lr=1.0, record_at=[0, 20], kernel_points=x)
    _close(record.outputs[-1], cpu_record.outputs[-1], 1e-9)
    _close(record.kernel_drift, cpu_record.kernel_drift, 1e-6)
    small = NTKMLP([2, 32, 1], generator=generator(1), dtype=torch.float64).to(gpu)
    _close(empirical_ntk(Linearized(small), x.to(gpu)), empirical_ntk(small, x.to(gpu)), 1e-10)


def test_flows_and_spectra(gpu: torch.device) -> None:
    x, _ = circle_points(16)
    xt, _ = circle_points(40)
    s, k = limiting_kernels(x, depth=3)
    sx, kx = limiting_kernels(xt, x, depth=3)
    sxx, _ = limiting_kernels(xt, depth=3, with_theta=False)
    y = torch.sin(3 * torch.atan2(x[:, 1], x[:, 0]))
    ts = [0.0, 10.0, 1000.0]
    d = lambda t: t.to(gpu)  # noqa: E731
    _close(
        gradient_flow(d(k), d(y), ts, k_test_train=d(kx)).f_test,
        gradient_flow(k, y, ts, k_test_train=kx).f_test,
        1e-9,
    )
    _close(
        gradient_descent(d(k), d(y), [5, 50], lr=2.0).f_train,
        gradient_descent(k, y, [5, 50], lr=2.0).f_train,
        1e-9,
    )
    mean_d, cov_d = gaussian_limit(
        d(k), d(s), d(y), theta_test_train=d(kx), sigma_test_train=d(sx), sigma_test=d(sxx), t=ts
    )
    mean_c, cov_c = gaussian_limit(
        k, s, y, theta_test_train=kx, sigma_test_train=sx, sigma_test=sxx, t=ts
    )
    assert mean_d.device.type == gpu.type
    _close(mean_d, mean_c, 1e-9)
    _close(cov_d, cov_c, 1e-8)
    pca_d, pca_c = kernel_pca(d(k), 4), kernel_pca(k, 4)
    _close(pca_d.eigenvalues, pca_c.eigenvalues, 1e-10)
    assert ntk(d(x), depth=2).device.type == gpu.type
