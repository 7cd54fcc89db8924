"""Tests of ntk_course.flow: the least-squares flow and its Gaussian limit (Section 5), other costs
(Section 3).

Kernels are random-feature Gram matrices K = F F^T / P (+ ridge), PSD by construction, so the tests
do not depend on the kernel modules. Values are O(1), so absolute tolerances are relative ones.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import generator, randn, random_psd
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from ntk_course.flow import FlowResult, gradient_descent, gradient_flow
from ntk_course.gaussian import gaussian_limit, percentiles
from ntk_course.kernels import ntk
from ntk_course.numerical_flow import LOSSES, kernel_flow

F64 = torch.float64


def split(k: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return k[:n, :n], k[n:, :n], k[n:, n:]


N, M = 10, 4
K_ALL = random_psd(N + M)
K, KX, KXX = split(K_ALL, N)
Y = randn(N, seed=1)
F0, F0X = randn(N, seed=2), randn(M, seed=3)


def mse(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The paper's cost C = 1/(2N) sum_i (f_i - y_i)^2, over the last axis."""
    return 0.5 * ((f - y) ** 2).mean(-1)


# ---------------------------------------------------------------- gradient_flow


def test_time_zero_returns_the_start() -> None:
    r = gradient_flow(K, Y, [0.0], k_test_train=KX, f0_train=F0, f0_test=F0X)
    assert isinstance(r, FlowResult) and r.f_train.shape == (1, N) and r.f_test.shape == (1, M)
    # f_0 = y + V V^T (f0 - y): V orthogonal to ~N eps, entries O(1) -> 1e-12 is 100x above
    # round-off.
    torch.testing.assert_close(r.f_train[0], F0, rtol=0, atol=1e-12)
    torch.testing.assert_close(r.f_test[0], F0X, rtol=0, atol=1e-12)


def test_default_start_is_zero_and_eigenvalues_descend() -> None:
    r = gradient_flow(K, Y, [0.0, 1.0], k_test_train=KX)
    assert float(r.f_train[0].abs().max()) < 1e-12 and float(r.f_test[0].abs().max()) < 1e-12
    lam = r.eigenvalues
    assert bool((lam[:-1] >= lam[1:]).all())
    # eigenvalues of K/N sum to trace(K)/N (relative round-off of eigh ~ N eps).
    assert abs(float(lam.sum()) - float(K.trace()) / N) < 1e-12


def test_training_residual_vanishes_for_a_pd_kernel() -> None:
    # ridge 0.1 => every eigenvalue of K/N >= 0.01, so at t = 1e4 the residual is below e^{-100}
    # |r0|: what remains is round-off, ~1e-15.
    r = gradient_flow(K, Y, [1e4], f0_train=F0)
    assert float((r.f_train[-1] - Y).abs().max()) < 1e-12


def test_matches_a_fine_numerical_integration() -> None:
    ts = np.array([0.0, 0.3, 2.0, 15.0, 80.0])

    def rhs(
        _: float, s: np.ndarray
    ) -> np.ndarray:  # train and test jointly, d f/dt = -(1/N) K (f - y)
        resid = s[:N] - Y.numpy()
        return -np.concatenate([K.numpy() @ resid, KX.numpy() @ resid]) / N

    sol = solve_ivp(
        rhs,
        (0, ts[-1]),
        np.concatenate([F0.numpy(), F0X.numpy()]),
        method="DOP853",
        t_eval=ts,
        rtol=1e-12,
        atol=1e-14,
    )
    assert sol.success
    r = gradient_flow(K, Y, ts, k_test_train=KX, f0_train=F0, f0_test=F0X)
    # DOP853 at rtol 1e-12 keeps the global error below ~1e-10 over this stable, smooth flow;
    # a wrong sign or a missing 1/N would be off by O(1).
    torch.testing.assert_close(r.f_train, torch.as_tensor(sol.y[:N].T), rtol=0, atol=1e-9)
    torch.testing.assert_close(r.f_test, torch.as_tensor(sol.y[N:].T), rtol=0, atol=1e-9)


def gd_error(lr: float, t_end: float) -> tuple[float, float]:
    """Max deviation (train, test) of f_{k+1} = f_k - (lr/N) K (f_k - y) from the flow at t = lr
    k."""
    f, fx = F0.clone(), F0X.clone()
    for _ in range(round(t_end / lr)):
        resid = f - Y
        f, fx = f - lr / N * (K @ resid), fx - lr / N * (KX @ resid)
    r = gradient_flow(K, Y, [t_end], k_test_train=KX, f0_train=F0, f0_test=F0X)
    return float((r.f_train[0] - f).norm()), float((r.f_test[0] - fx).norm())


def test_matches_discrete_gradient_descent_to_first_order_in_lr() -> None:
    t_end, lr = 5.0, 0.05
    lam_max = float(torch.linalg.eigvalsh(K)[-1]) / N
    (err, err_x), (err_half, err_x_half) = gd_error(lr, t_end), gd_error(lr / 2, t_end)
    # Per eigenvalue, 0 <= e^{-x} - (1 - x) <= x^2/2 for x = lr lam <= 1, so after k = t/lr steps
    # |(1 - lr lam)^k - e^{-lam t}| <= lr t lam^2 / 2: a rigorous bound on the training error, and
    # (dividing by lam: the test points see the integral of the residual) lr t lam / 2 ||K_xX||/N on
    # the test.
    r0 = float((F0 - Y).norm())
    assert err <= lr * t_end * lam_max**2 / 2 * r0
    assert err_x <= lr * t_end * lam_max / 2 * float(torch.linalg.matrix_norm(KX, 2)) / N * r0
    # and it is first order: halving lr halves the error (ratio 2 up to O(lr lam) corrections).
    assert 1.8 < err / err_half < 2.2 and 1.8 < err_x / err_x_half < 2.2


def test_infinite_time_is_kernel_regression() -> None:
    r = gradient_flow(K, Y, [1e6], k_test_train=KX, f0_train=F0, f0_test=F0X)
    expected = KX @ torch.linalg.solve(K, Y - F0) + F0X
    # cond(K) ~ 1e2 here, so both sides agree to ~1e-14; e^{-lam_min t} is 0 in float64 at t = 1e6.
    torch.testing.assert_close(r.f_test[0], expected, rtol=0, atol=1e-11)


def test_singular_kernel_gives_finite_results_and_keeps_the_null_part() -> None:
    n, p = 12, 4  # rank 4 out of 12
    k_all = random_psd(n + M, p=p, ridge=0.0, seed=5)
    k, kx, _ = split(k_all, n)
    y, f0, f0x = randn(n, seed=6), randn(n, seed=7), randn(M, seed=8)
    ts = [0.0, 1.0, 1e3, 1e8]
    r = gradient_flow(k, y, ts, k_test_train=kx, f0_train=f0, f0_test=f0x)
    assert bool(torch.isfinite(r.f_train).all()) and bool(torch.isfinite(r.f_test).all())
    assert int((r.eigenvalues > 0).sum()) == p  # round-off eigenvalues are reported as exactly 0
    # Section 5: the part Delta^0 of f0 - y in the null space of K does not move.
    lam, v = torch.linalg.eigh(k)
    null = v[:, lam < 1e-10 * lam[-1]]
    for f in r.f_train:
        torch.testing.assert_close(null.T @ (f - y), null.T @ (f0 - y), rtol=0, atol=1e-10)
    # t -> inf on the test points: the minimum-norm kernel regression K_xX K^+ (y - f0) + f0_test.
    # The null directions multiply t/N = 1e8/12 by K_xX v ~ 1e-16, hence the 1e-6 tolerance.
    expected = kx @ torch.linalg.pinv(k, hermitian=True) @ (y - f0) + f0x
    torch.testing.assert_close(r.f_test[-1], expected, rtol=0, atol=1e-6)


def test_loss_is_non_increasing() -> None:
    ts = torch.linspace(0, 500, 201, dtype=F64)
    c = mse(gradient_flow(K, Y, ts, f0_train=F0).f_train, Y)
    # Section 3: dC/dt = -||d||_K^2 <= 0. Differences between neighbours may only be round-off
    # (~1e-16).
    assert bool((c[1:] - c[:-1] <= 1e-14).all())
    # and C_t <= e^{-2 lam_min t} C_0 with lam_min >= ridge/N = 0.01: below e^{-10} C_0 at t = 500.
    assert float(c[-1]) <= np.exp(-10) * float(c[0])


def test_columns_are_independent_flows() -> None:
    y2 = torch.stack([Y, -2 * Y, F0], 1)
    r = gradient_flow(K, y2, [0.5, 3.0], k_test_train=KX)
    assert r.f_train.shape == (2, N, 3) and r.f_test.shape == (2, M, 3)
    for j in range(3):
        rj = gradient_flow(K, y2[:, j], [0.5, 3.0], k_test_train=KX)
        # the same arithmetic in another order: equal to round-off.
        torch.testing.assert_close(r.f_train[..., j], rj.f_train, rtol=0, atol=1e-13)
        torch.testing.assert_close(r.f_test[..., j], rj.f_test, rtol=0, atol=1e-13)


def test_result_dtype_follows_the_kernel() -> None:
    r = gradient_flow(K.float(), Y, [1.0], k_test_train=KX.float())
    assert (
        r.f_train.dtype == torch.float32
        and r.f_test.dtype == torch.float32
        and r.t.dtype == torch.float32
    )


def test_float32_kernels_give_the_float64_flows_to_single_precision() -> None:
    """A float32 kernel is computed with in float64 and the result rounded: the same numbers as the
    float64 flow of the float32 kernel, and within cond(K) eps32 ~ 1e-5 of the float64 kernel's
    flow."""
    ts = [0.0, 1.0, 20.0, 1e3]
    k32, kx32 = K.float(), KX.float()
    runs = {
        "gradient_flow": lambda k, kx: (
            gradient_flow(k, Y, ts, k_test_train=kx, f0_train=F0, f0_test=F0X).f_test
        ),
        "gradient_descent": lambda k, kx: (
            gradient_descent(k, Y, [0, 5, 50], lr=2.0, k_test_train=kx, f0_train=F0).f_test
        ),
        "kernel_flow": lambda k, kx: (
            kernel_flow(k, Y, ts[:3], loss="mse", k_test_train=kx, rtol=1e-10, atol=1e-12).f_test
        ),
        "gaussian_limit": lambda k, kx: gaussian_limit(
            k, SIG, Y, theta_test_train=kx, sigma_test_train=SIGX, sigma_test=SIGXX, t=ts
        )[1],
    }
    for name, run in runs.items():
        low, high = run(k32, kx32), run(K, KX)
        assert low.dtype == torch.float32 and high.dtype == F64, name
        torch.testing.assert_close(low, run(k32.double(), kx32.double()).float(), rtol=0, atol=0)
        assert float((low.double() - high).abs().max()) < 1e-5 * (1 + float(high.abs().max())), name


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 10),
    p=st.integers(1, 12),
    seed=st.integers(0, 10_000),
    ts=st.lists(st.floats(0, 1e4, allow_nan=False), min_size=1, max_size=8),
)
def test_random_psd_kernels_give_finite_shrinking_residuals(
    n: int, p: int, seed: int, ts: list[float]
) -> None:
    k = random_psd(n, p=p, ridge=0.0, seed=seed)  # often singular (p < n)
    y, f0 = randn(n, seed=seed + 1), randn(n, seed=seed + 2)
    ts = sorted(ts)
    r = gradient_flow(k, y, ts, f0_train=f0)
    assert bool(torch.isfinite(r.f_train).all())
    # ||f_t - y|| = ||e^{-t Pi} (f0 - y)|| is non-increasing in t (Pi symmetric PSD); round-off
    # ~1e-15 |r0|.
    res = (r.f_train - y).norm(dim=-1)
    r0 = float((f0 - y).norm())
    assert bool((res[1:] <= res[:-1] + 1e-12 * (1 + r0)).all())
    assert float(res[0]) <= r0 + 1e-12 * (1 + r0)


# ---------------------------------------------------------------- gaussian_limit

THETA_ALL = K_ALL
SIGMA_ALL = random_psd(N + M, p=30, ridge=0.05, seed=11)
SIG, SIGX, SIGXX = split(SIGMA_ALL, N)


def limit(t: object = None, y: torch.Tensor = Y) -> tuple[torch.Tensor, torch.Tensor]:
    return gaussian_limit(
        K, SIG, y, theta_test_train=KX, sigma_test_train=SIGX, sigma_test=SIGXX, t=t
    )


def test_infinite_time_equals_a_large_finite_time() -> None:
    mean, cov = limit()
    mean_t, cov_t = limit([1.0, 1e6])
    assert (
        mean.shape == (M,)
        and cov.shape == (M, M)
        and mean_t.shape == (2, M)
        and cov_t.shape == (2, M, M)
    )
    # e^{-lam_min 1e6} = 0 exactly; solve vs eigh differ by cond(K) eps ~ 1e-14.
    torch.testing.assert_close(mean_t[-1], mean, rtol=0, atol=1e-11)
    torch.testing.assert_close(cov_t[-1], cov, rtol=0, atol=1e-11)
    # and the mean is the ensemble mean of gradient_flow (f0 = 0).
    torch.testing.assert_close(
        mean_t, gradient_flow(K, Y, [1.0, 1e6], k_test_train=KX).f_test, rtol=0, atol=1e-11
    )


def test_covariance_is_psd_and_zero_at_time_zero_is_the_prior() -> None:
    for t in (None, [0.0, 0.5, 5.0, 50.0]):
        _, cov = limit(t)
        assert bool((cov == cov.mT).all())  # exactly symmetric
        # PSD up to round-off of the subtractions (entries O(1)): eigenvalues >= -1e-12.
        assert float(torch.linalg.eigvalsh(cov).min()) > -1e-12
    mean0, cov0 = limit([0.0])
    # at t = 0 nothing has been learnt: f_0 ~ N(0, Sigma) on the test points.
    torch.testing.assert_close(mean0[0], torch.zeros(M, dtype=F64), rtol=0, atol=1e-13)
    torch.testing.assert_close(cov0[0], SIGXX, rtol=0, atol=1e-13)


def test_variance_vanishes_on_the_training_points() -> None:
    # Section 5: "a centered Gaussian whose variance vanishes on the points of the dataset".
    mean, cov = gaussian_limit(K, SIG, Y, theta_test_train=K, sigma_test_train=SIG, sigma_test=SIG)
    # A = K K^{-1} = I up to cond(K) eps ~ 1e-14, so cov = Sigma - Sigma - Sigma + Sigma ~ 1e-14.
    assert float(cov.abs().max()) < 1e-11
    torch.testing.assert_close(mean, Y, rtol=0, atol=1e-11)


def test_monte_carlo_of_the_flow_matches_the_gaussian() -> None:
    samples, ts = 20_000, [0.5, 5.0, 1e6]
    chol = torch.linalg.cholesky(SIGMA_ALL)
    draws = chol @ torch.randn(N + M, samples, generator=generator(21), dtype=F64)
    r = gradient_flow(K, Y, ts, k_test_train=KX, f0_train=draws[:N], f0_test=draws[N:])
    assert r.f_test.shape == (len(ts), M, samples)
    mean, cov = limit(ts)
    emp_mean = r.f_test.mean(-1)
    centred = r.f_test - emp_mean[..., None]
    emp_cov = centred @ centred.mT / (samples - 1)
    var = cov.diagonal(dim1=-2, dim2=-1)
    # Standard errors: var/S for a mean, (S_ii S_jj + S_ij^2)/S for a covariance entry (Gaussian
    # data). With a fixed seed and 4-5 standard errors the check is deterministic, yet a wrong cross
    # term in the covariance (e.g. a missing -A Sigma_Xx) is off by far more.
    se_mean = (var / samples).sqrt()
    se_cov = ((var[..., :, None] * var[..., None, :] + cov**2) / samples).sqrt()
    assert bool(((emp_mean - mean).abs() <= 4 * se_mean).all())
    assert bool(((emp_cov - cov).abs() <= 5 * se_cov).all())
    # t = infinity matches the last (effectively infinite) time.
    mean_inf, cov_inf = limit()
    assert bool(((emp_mean[-1] - mean_inf).abs() <= 4 * se_mean[-1]).all())
    # Figure 2's percentiles: the sample quantiles agree with the Gaussian ones
    # (quantile se ~ 0.02 sd).
    pct = percentiles(mean_inf, cov_inf)
    emp_pct = torch.quantile(r.f_test[-1], torch.tensor([0.1, 0.5, 0.9], dtype=F64), dim=-1)
    assert bool(((emp_pct - pct).abs() <= 0.05 * var[-1].sqrt()).all())


def test_percentiles_are_mean_plus_z_sd_with_clamped_variance() -> None:
    mean = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    cov = torch.diag(torch.tensor([4.0, 0.0, -1e-18], dtype=F64))  # round-off negative variance
    p = percentiles(mean, cov, q=(10, 50, 90))
    assert p.shape == (3, 3)
    z90 = 1.2815515655446004  # Phi^{-1}(0.9)
    torch.testing.assert_close(p[1], mean, rtol=0, atol=0)
    torch.testing.assert_close(
        p[2] - p[1], torch.tensor([2 * z90, 0.0, 0.0], dtype=F64), rtol=0, atol=1e-14
    )
    torch.testing.assert_close(p[0] - p[1], -(p[2] - p[1]), rtol=0, atol=1e-14)
    assert percentiles(torch.zeros(2, 3), torch.eye(3).expand(2, 3, 3)).shape == (3, 2, 3)
    with pytest.raises(ValueError, match="percentiles"):
        percentiles(mean, cov, q=(0, 50))


def test_singular_theta_raises_at_infinity_only() -> None:
    k_all = random_psd(N + M, p=4, ridge=0.0, seed=3)
    th, thx, _ = split(k_all, N)
    with pytest.raises(ValueError, match="positive definite"):
        gaussian_limit(th, SIG, Y, theta_test_train=thx, sigma_test_train=SIGX, sigma_test=SIGXX)
    mean, cov = gaussian_limit(
        th, SIG, Y, theta_test_train=thx, sigma_test_train=SIGX, sigma_test=SIGXX, t=[1.0, 1e3]
    )
    assert bool(torch.isfinite(mean).all()) and bool(torch.isfinite(cov).all())


# ---------------------------------------------------------------- kernel_flow


def test_kernel_flow_mse_agrees_with_the_exact_flow() -> None:
    ts = [0.0, 0.7, 4.0, 30.0]
    num = kernel_flow(
        K, Y, ts, loss="mse", k_test_train=KX, f0_train=F0, f0_test=F0X, rtol=1e-11, atol=1e-13
    )
    ex = gradient_flow(K, Y, ts, k_test_train=KX, f0_train=F0, f0_test=F0X)
    assert num.eigenvalues is None and num.f_train.shape == ex.f_train.shape
    # DOP853 at rtol 1e-11: global error ~1e-10 on O(1) values.
    torch.testing.assert_close(num.f_train, ex.f_train, rtol=0, atol=1e-8)
    torch.testing.assert_close(num.f_test, ex.f_test, rtol=0, atol=1e-8)


def test_kernel_flow_keeps_the_order_of_the_given_times() -> None:
    a = kernel_flow(K, Y, [5.0, 0.0, 1.0, 5.0], loss="mse")
    b = kernel_flow(K, Y, [0.0, 1.0, 5.0], loss="mse")
    torch.testing.assert_close(a.f_train, b.f_train[[2, 0, 1, 2]], rtol=0, atol=0)


def cross_entropy(f: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return (
        -torch.log_softmax(f, -1)
        .gather(-1, labels.expand(f.shape[:-1])[..., None])
        .squeeze(-1)
        .mean(-1)
    )


def test_cross_entropy_lowers_the_loss_and_raises_the_correct_logit() -> None:
    n, classes = 15, 3
    k = random_psd(n, p=20, ridge=0.5, seed=4)  # a strong diagonal: each point mostly pulls itself
    labels = torch.arange(n) % classes
    f0 = 0.5 * randn(n, classes, seed=9)
    ts = torch.tensor([0.0, 0.5, 2.0, 10.0, 50.0, 200.0], dtype=F64)
    r = kernel_flow(k, labels, ts, f0_train=f0)
    assert r.f_train.shape == (len(ts), n, classes)
    loss = cross_entropy(r.f_train, labels)
    # Section 3: dC/dt = -||d||_K^2 <= 0; solver error (rtol 1e-8) is far below the steps between
    # times.
    assert bool((loss[1:] < loss[:-1]).all())
    assert float(loss[-1]) < 0.1 * float(loss[0])
    margin = r.f_train.gather(-1, labels.expand(len(ts), n)[..., None]).squeeze(
        -1
    ) - r.f_train.mean(-1)
    assert bool(
        (margin[-1] > margin[0]).all()
    )  # the correct logit rose against the others, point by point
    assert bool((r.f_train[-1].argmax(-1) == labels).all())
    # one-hot targets are the same problem.
    r2 = kernel_flow(k, torch.nn.functional.one_hot(labels, classes).to(F64), ts, f0_train=f0)
    torch.testing.assert_close(r2.f_train, r.f_train, rtol=0, atol=1e-12)


def test_logistic_fits_the_signs() -> None:
    y = torch.where(Y > 0, 1.0, -1.0).to(F64)
    r = kernel_flow(K, y, [0.0, 5.0, 100.0], loss="logistic", k_test_train=KX)
    loss = torch.nn.functional.softplus(-y * r.f_train).mean(-1)
    assert bool((loss[1:] < loss[:-1]).all())
    assert bool((torch.sign(r.f_train[-1]) == y).all())
    assert r.f_test.shape == (3, M)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: gradient_flow(K, Y, [1.0, -0.5]), ">= 0"),
        (lambda: gradient_flow(K, Y[:-1], [1.0]), "y_train must have 10 rows"),
        (lambda: gradient_flow(K[:, :-1], Y, [1.0]), "square"),
        (lambda: gradient_flow(K + torch.triu(torch.ones_like(K), 1), Y, [1.0]), "symmetric"),
        (
            lambda: gradient_flow(K, Y, [1.0], k_test_train=KX[:, :-1]),
            "k_test_train must have 10 columns",
        ),
        (lambda: gradient_flow(K, Y, [1.0], f0_test=F0X), "f0_test"),
        (lambda: gradient_flow(K, torch.full((N,), float("nan")), [1.0]), "non-finite"),
        (lambda: gradient_flow(K, randn(N, 2), [1.0], f0_train=randn(N, 3)), "columns"),
        (lambda: gradient_flow(-K, Y, [1.0]), "positive semi-definite"),
        (lambda: kernel_flow(K, Y, [1.0], loss="hinge"), "mse"),
        (lambda: kernel_flow(K, Y, [-1.0], loss="mse"), ">= 0"),
        (lambda: kernel_flow(K, Y[:-1], [1.0], loss="mse"), "rows"),
        (lambda: kernel_flow(K[:-1], Y, [1.0], loss="mse"), "square"),
        (lambda: kernel_flow(K, Y, [1.0], loss="logistic"), "-1, \\+1"),
        (lambda: kernel_flow(K, torch.arange(N) % 3, [1.0], f0_train=randn(N, 2)), "< k = 2"),
        (lambda: kernel_flow(K, Y, [1.0]), "integer classes"),
        (
            lambda: gaussian_limit(
                K, SIG[:-1, :-1], Y, theta_test_train=KX, sigma_test_train=SIGX, sigma_test=SIGXX
            ),
            "sigma_train",
        ),
        (
            lambda: gaussian_limit(
                K, SIG, Y, theta_test_train=KX, sigma_test_train=SIGX, sigma_test=SIGXX, t=[-1.0]
            ),
            ">= 0",
        ),
    ],
)
def test_bad_input_raises_value_error(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()


def test_unknown_loss_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown loss 'hinge'") as err:
        kernel_flow(K, Y, [1.0], loss="hinge")
    assert all(name in str(err.value) for name in LOSSES)


def test_results_stay_on_the_gpu_and_equal_the_cpu_results(gpu: torch.device) -> None:
    k, kx, sg, sgx, sgxx = (a.to(gpu) for a in (K, KX, SIG, SIGX, SIGXX))
    r = gradient_flow(
        k, Y, [0.0, 2.0], k_test_train=kx, f0_train=F0.to(gpu)
    )  # CPU targets are moved over
    assert r.f_train.device == r.f_test.device == r.eigenvalues.device == r.t.device == k.device
    cpu = gradient_flow(K, Y, [0.0, 2.0], k_test_train=KX, f0_train=F0)
    # another BLAS / eigensolver on the GPU: agreement to ~cond(K) eps.
    torch.testing.assert_close(r.f_test.cpu(), cpu.f_test, rtol=0, atol=1e-11)
    mean, cov = gaussian_limit(
        k, sg, Y, theta_test_train=kx, sigma_test_train=sgx, sigma_test=sgxx, t=[1.0]
    )
    assert mean.device == cov.device == k.device
    assert percentiles(mean, cov).device == k.device
    assert kernel_flow(k, Y, [1.0], loss="mse", k_test_train=kx).f_test.device == k.device


def test_gradient_descent_matches_the_recursion_and_the_flow() -> None:
    """The exact discrete solution equals the step-by-step recursion, on and off the data, from any
    start."""
    g = generator(11)
    x, xt = (
        torch.randn(8, 3, generator=g, dtype=torch.float64),
        torch.randn(16, 3, generator=g, dtype=torch.float64),
    )
    k, kx = ntk(x, depth=3), ntk(xt, x, depth=3)
    y, f0, f0x = (torch.randn(n, generator=g, dtype=torch.float64) for n in (8, 8, 16))
    run = gradient_descent(k, y, [0, 5, 37], lr=2.0, k_test_train=kx, f0_train=f0, f0_test=f0x)
    f, h = f0.clone(), f0x.clone()
    loop = {}
    for step in range(38):
        if step in (0, 5, 37):
            loop[step] = (f.clone(), h.clone())
        h = h - 2.0 * kx @ (f - y) / 8
        f = f - 2.0 * k @ (f - y) / 8
    for i, step in enumerate((0, 5, 37)):
        torch.testing.assert_close(run.f_train[i], loop[step][0], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(run.f_test[i], loop[step][1], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(run.t, torch.tensor([0.0, 10.0, 74.0], dtype=torch.float64))
    # lr -> 0 at fixed t = lr x steps is the gradient flow of Section 5.
    small = gradient_descent(k, y, [20_000], lr=1e-3, k_test_train=kx).f_test[0]
    flow = gradient_flow(k, y, [20.0], k_test_train=kx).f_test[0]
    torch.testing.assert_close(small, flow, rtol=0, atol=1e-3)


def test_gradient_descent_rejects_bad_input_and_divergence() -> None:
    k = ntk(torch.eye(3, dtype=torch.float64), depth=2)
    y = torch.ones(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="k_test_train"):
        gradient_descent(k, y, [1], lr=1.0, k_test_train=torch.ones(3, 5))
    with pytest.raises(ValueError, match="whole numbers"):
        gradient_descent(k, y, [1.5], lr=1.0)
    lr_max = 2 * 3 / float(torch.linalg.eigvalsh(k)[-1])
    with pytest.raises(ValueError, match="diverges"), pytest.warns(RuntimeWarning):
        gradient_descent(k, y, [100_000], lr=1.5 * lr_max)
    # Above the limit it says so at once, long before the iterates overflow; below it is silent.
    with pytest.warns(RuntimeWarning, match=r"above the stable limit 2N / lambda_max\(K\)"):
        grown = gradient_descent(k, y, [3], lr=1.1 * lr_max)
    assert bool(torch.isfinite(grown.f_train).all())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gradient_descent(k, y, [3, 1000], lr=0.95 * lr_max)
