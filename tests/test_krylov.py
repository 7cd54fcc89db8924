"""The least-squares flow over a blocked kernel (Lanczos, ntk_course.krylov) agrees with the dense
eigendecomposition of gradient_flow at every time, and its t -> infinity limit with kernel
regression."""

from __future__ import annotations

import warnings

import pytest
import torch

from ntk_course import gradient_flow, kernel_regression, mnist, ntk
from ntk_course.blocked import BlockedKernel
from ntk_course.krylov import KrylovWarning, krylov_flow

TOL = 1e-6  # agreement asked of rtol = 1e-8
DEPTH = 3
GEN = torch.Generator().manual_seed(0)

X, LABELS = mnist(300, scaling="pixel")
X_TEST, _ = mnist(40, scaling="pixel", offset=300)
K, KX = ntk(X, depth=DEPTH), ntk(X_TEST, X, depth=DEPTH)
LAM_MIN = float(torch.linalg.eigvalsh(K)[0]) / 300  # smallest eigenvalue of Pi = K/N
Y = torch.nn.functional.one_hot(LABELS, 10).to(torch.float64)
F0 = 0.1 * torch.randn(300, 10, generator=GEN, dtype=torch.float64)
F0X = 0.1 * torch.randn(40, 10, generator=GEN, dtype=torch.float64)
# t = 0, a tiny t, the middle of training and t = 30 / lam_min, where e^{-t Pi} < e^{-30}
TIMES = [0.0, 1e-9, 0.1, 10.0, 1e3, 30 / LAM_MIN]


def _blocked(x: torch.Tensor, y: torch.Tensor | None = None, **options) -> BlockedKernel:
    return BlockedKernel(x, y, depth=DEPTH, block=128, **options)  # 128 does not divide 300


def _close(got: torch.Tensor, want: torch.Tensor) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype
    for a, b in zip(got, want, strict=True):  # per time, relative to the dense prediction
        gap, size = float((a - b).norm()), float(b.norm())
        assert gap <= TOL * size, (gap, size)


def _circle(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    angle = torch.rand(n, generator=g, dtype=torch.float64) * 6.283
    return torch.stack([angle.cos(), angle.sin()], 1), angle


def test_blocked_flow_matches_the_dense_flow_on_digits() -> None:
    dense = gradient_flow(K, Y, TIMES, k_test_train=KX, f0_train=F0, f0_test=F0X)
    blocked = gradient_flow(
        _blocked(X), Y, TIMES, k_test_train=_blocked(X_TEST, X), f0_train=F0, f0_test=F0X
    )
    assert blocked.f_train.shape == (6, 300, 10) and blocked.f_test.shape == (6, 40, 10)
    _close(blocked.f_train, dense.f_train)
    _close(blocked.f_test, dense.f_test)
    torch.testing.assert_close(blocked.t, dense.t)
    assert blocked.eigenvalues is None
    torch.testing.assert_close(blocked.f_train[0], F0, rtol=0, atol=1e-12)  # t = 0 is the start
    torch.testing.assert_close(blocked.f_test[0], F0X, rtol=0, atol=0)


def test_infinite_time_is_kernel_regression() -> None:
    flow = gradient_flow(
        _blocked(X), Y, [30 / LAM_MIN], k_test_train=_blocked(X_TEST, X), f0_train=F0, f0_test=F0X
    )
    limit = F0X + kernel_regression(_blocked(X), Y - F0, _blocked(X_TEST, X))
    assert float((flow.f_test[0] - limit).norm()) <= TOL * float(limit.norm())
    assert float((flow.f_train[0] - Y).norm()) <= TOL * float(Y.norm())  # the targets are fitted


def test_wide_spectrum_and_one_column() -> None:
    x, angle = _circle(250, seed=1)
    x_test, _ = _circle(30, seed=2)
    k = ntk(x, depth=DEPTH, beta=0.1)
    lam = torch.linalg.eigvalsh(k) / 250
    assert float(lam[-1] / lam[0]) > 1e6  # close points: a condition number above a million
    y = torch.sign(torch.cos(angle))
    f0 = 0.3 * torch.randn(250, generator=GEN, dtype=torch.float64)
    times = [0.0, 1e-8, 1.0, 1e2, 1e4, 10 / float(lam[0])]
    k_test = ntk(x_test, x, depth=DEPTH, beta=0.1)
    dense = gradient_flow(k, y, times, k_test_train=k_test, f0_train=f0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # converges within maxiter = N: no KrylovWarning
        blocked = gradient_flow(
            BlockedKernel(x, depth=DEPTH, beta=0.1, block=96),
            y,
            times,
            k_test_train=BlockedKernel(x_test, x, depth=DEPTH, beta=0.1, block=96),
            f0_train=f0,
            maxiter=250,
        )
    assert blocked.f_train.shape == (6, 250) and blocked.f_test.shape == (6, 30)
    _close(blocked.f_train, dense.f_train)
    _close(blocked.f_test[1:], dense.f_test[1:])  # f_0 = 0 off the data: f_test at t = 0 is 0
    assert float(blocked.f_test[0].abs().max()) == 0.0


def test_dense_and_dask_kernels_take_the_same_path() -> None:
    dense = gradient_flow(K, Y[:, :3], TIMES[:4], k_test_train=KX)
    _close(krylov_flow(K, Y[:, :3], TIMES[:4], k_test_train=KX).f_test, dense.f_test)
    da = pytest.importorskip("dask.array")
    flow = gradient_flow(
        da.from_array(K.numpy(), chunks=128),
        Y[:, :3],
        TIMES[:4],
        k_test_train=da.from_array(KX.numpy(), chunks=128),
    )
    _close(flow.f_test, dense.f_test)


def test_an_invariant_subspace_stops_lanczos_exactly() -> None:
    # A rank-3 kernel: the Krylov space of any r is invariant after at most 4 steps (breakdown).
    x = torch.randn(50, 3, generator=GEN, dtype=torch.float64)
    k = x @ x.mT
    y = torch.randn(50, 2, generator=GEN, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flow = krylov_flow(k, y, [0.0, 0.5, 1e3], k_test_train=k[:7], f0_train=y / 3, maxiter=5)
    dense = gradient_flow(k, y, [0.0, 0.5, 1e3], k_test_train=k[:7], f0_train=y / 3)
    _close(flow.f_train, dense.f_train)
    _close(flow.f_test[1:], dense.f_test[1:])


def test_maxiter_warns_with_the_accuracy_reached() -> None:
    with pytest.warns(KrylovWarning, match=r"relative accuracy .* > rtol = 1e-08 .* maxiter = 10"):
        gradient_flow(
            _blocked(X), Y[:, 0], [30 / LAM_MIN], k_test_train=_blocked(X_TEST, X), maxiter=10
        )


def test_bad_input() -> None:
    bk = _blocked(X)
    with pytest.raises(ValueError, match="t must hold finite times >= 0"):
        gradient_flow(bk, Y, [1.0, -1.0])
    with pytest.raises(ValueError, match="y_train"):
        gradient_flow(bk, Y[:299], [1.0])
    with pytest.raises(ValueError, match="k_test_train must have shape"):
        gradient_flow(bk, Y, [1.0], k_test_train=BlockedKernel(X_TEST, X[:200], depth=DEPTH))
    with pytest.raises(ValueError, match="f0_test was given without k_test_train"):
        gradient_flow(bk, Y, [1.0], f0_test=F0X)
    with pytest.raises(ValueError, match="f0_train"):
        gradient_flow(bk, Y, [1.0], f0_train=F0[:10])
    with pytest.raises(ValueError, match="must share the number of output columns"):
        gradient_flow(bk, Y, [1.0], f0_train=F0[:, :3])
    with pytest.raises(ValueError, match="k_train must be the square kernel"):
        gradient_flow(_blocked(X_TEST, X), Y, [1.0])
    for rtol in (0.0, 1.0, True):
        with pytest.raises(ValueError, match="rtol must be a relative tolerance"):
            gradient_flow(bk, Y, [1.0], rtol=rtol)
    with pytest.raises(ValueError, match="maxiter must be an integer >= 1"):
        gradient_flow(bk, Y, [1.0], maxiter=0)
    with pytest.raises(ValueError, match="positive semi-definite"):
        krylov_flow(-K, Y[:, 0], [1.0])
