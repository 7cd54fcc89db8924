"""ntk_course.learning_curves against independent references: Monte Carlo ridgeless regression
with a kernel of known spectrum, planted power laws, numpy solves and Monte Carlo expectations."""

import math

import numpy as np
import pytest
import torch

from ntk_course.learning_curves import (
    arora_bound,
    arora_gram,
    extend_power_law,
    predicted_error,
    predicted_exponent,
    self_consistent_kappa,
    spectral_exponents,
    target_powers,
)
from ntk_course.power_laws import power_law_fit


def _linear_kernel_trials(eta, w, size, trials, seed=0):
    """Ridgeless regression with the linear kernel x.x' on x ~ N(0, diag(eta)), target y = w.x:
    the population eigenvalues are eta_k and the target's powers eta_k w_k^2, and the test error
    of the min-norm interpolant w_hat is sum_k eta_k (w_hat_k - w_k)^2 exactly."""
    g = torch.Generator().manual_seed(seed)
    errors = []
    for _ in range(trials):
        x = torch.randn(size, eta.numel(), generator=g, dtype=torch.float64) * eta.sqrt()
        w_hat = x.T @ torch.linalg.solve(x @ x.T, x @ w)
        errors.append(float((eta * (w_hat - w).square()).sum()))
    return torch.tensor(errors, dtype=torch.float64)


@pytest.mark.parametrize("size", [50, 100])
def test_prediction_matches_monte_carlo_ridgeless_regression(size):
    # Known spectrum eta_k = k^-1.5 on 400 features, target powers k^-2.5. The theory is exact as
    # P, K -> infinity; at finite P its relative error is about 1.5/P (measured with 400 trials:
    # +3.0 % at P = 50, +1.5 % at P = 100), so the window is 3 standard errors of the mean over the
    # trials plus 2/P of the prediction. Dropping the factor 1/(1 - gamma) moves the prediction by
    # more than 10 % and fails.
    trials = 150
    k = torch.arange(1, 401, dtype=torch.float64)
    eta, w = k**-1.5, k**-0.5
    errors = _linear_kernel_trials(eta, w, size, trials)
    predicted = float(predicted_error(eta, eta * w.square(), [size])[0])
    se = float(errors.std()) / math.sqrt(trials)
    assert abs(float(errors.mean()) - predicted) < 3 * se + 2 * predicted / size


def test_prediction_with_ridge_and_noise_matches_monte_carlo():
    # Kernel ridge regression (K + P ridge I) with label noise of variance 0.01 on the same model:
    # the error against the noise-free target within 3 standard errors plus 2/P of the prediction.
    trials, size, ridge, noise = 150, 60, 1e-3, 0.01
    k = torch.arange(1, 301, dtype=torch.float64)
    eta, w = k**-1.5, k**-0.5
    g = torch.Generator().manual_seed(1)
    errors = []
    for _ in range(trials):
        x = torch.randn(size, k.numel(), generator=g, dtype=torch.float64) * eta.sqrt()
        y = x @ w + math.sqrt(noise) * torch.randn(size, generator=g, dtype=torch.float64)
        w_hat = x.T @ torch.linalg.solve(
            x @ x.T + size * ridge * torch.eye(size, dtype=torch.float64), y
        )
        errors.append(float((eta * (w_hat - w).square()).sum()))
    errors = torch.tensor(errors)
    predicted = float(predicted_error(eta, eta * w.square(), [size], ridge=ridge, noise=noise)[0])
    se = float(errors.std()) / math.sqrt(trials)
    assert abs(float(errors.mean()) - predicted) < 3 * se + 2 * predicted / size


def test_kappa_solves_the_self_consistent_equation():
    eta = torch.arange(1, 501, dtype=torch.float64) ** -1.3
    for n, ridge in [(10, 0.0), (200, 0.0), (50, 1e-3)]:
        kappa = self_consistent_kappa(eta, n, ridge)
        lhs = float((eta / (eta + kappa)).sum()) + n * ridge / kappa
        assert lhs == pytest.approx(n, rel=1e-10)


def test_exponent_fit_recovers_planted_power_laws():
    k = torch.arange(1, 2001, dtype=torch.float64)
    eta = 3.0 * k**-1.7
    tail = torch.cat([torch.ones(1, dtype=torch.float64), 0.5 * k**-0.6])  # power beyond j modes
    powers = tail[:-1] - tail[1:]
    powers[-1] += tail[-1]
    eigen_fit, tail_fit = spectral_exponents(eta, powers, 10, 500)
    assert -eigen_fit.slope == pytest.approx(1.7, abs=1e-10)
    assert -tail_fit.slope == pytest.approx(0.6, abs=1e-10)
    ext_eta, ext_powers = extend_power_law(eta, powers, 10, 500, 5000)
    assert float(ext_powers.sum()) == pytest.approx(float(powers.sum()), rel=1e-12)
    assert torch.allclose(ext_eta[:2000], eta, rtol=1e-9)


@pytest.mark.parametrize(("alpha", "b"), [(2.0, 0.5), (1.5, 1.0)])
def test_predicted_curve_has_the_power_law_exponent(alpha, b):
    # For eta_k ~ k^-alpha and tail ~ k^-b with b < 2 alpha, E_g ~ n^-b: the slope of the
    # self-consistent curve between n = 1,000 and 10,000 (one million modes) within 0.05 of -b.
    # A curve that followed the capacity alone, n^-(alpha - 1), fails for both cases.
    modes = 1_000_000
    k = torch.arange(1, modes + 2, dtype=torch.float64)
    tail = k**-b
    powers = tail[:-1] - tail[1:]
    eta = k[:-1] ** -alpha
    sizes = [1000, 3000, 10000]
    slope = power_law_fit(sizes, predicted_error(eta, powers, sizes)).slope
    assert slope == pytest.approx(predicted_exponent(alpha, b), abs=0.05)
    assert predicted_exponent(alpha, b) == -b


def test_target_powers_against_numpy_eigh():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5))
    k = np.exp(-((x[:, None] - x[None]) ** 2).sum(-1) / 4)
    y = rng.standard_normal((40, 3))
    eta, powers = target_powers(k, y)
    lam, v = np.linalg.eigh(k / 40)
    order = np.argsort(lam)[::-1]
    np.testing.assert_allclose(eta.numpy(), lam[order], rtol=1e-10, atol=1e-14)
    # v_k^2 = sum_c <y_c, sqrt(N) v_k>_{p_in}^2 = sum_c (v_k . y_c)^2 / N
    np.testing.assert_allclose(
        powers.numpy(), ((v[:, order].T @ y) ** 2).sum(1) / 40, rtol=1e-8, atol=1e-14
    )
    assert float(powers.sum()) == pytest.approx((y**2).sum() / 40, rel=1e-12)


def test_arora_bound_against_numpy_solve():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 8))
    y = np.sign(rng.standard_normal(30))
    h = arora_gram(x).numpy()
    assert arora_bound(h, y) == pytest.approx(
        math.sqrt(2 * y @ np.linalg.solve(h, y) / 30), rel=1e-10
    )


def test_arora_gram_against_monte_carlo():
    # H_ij = E_w[u_i.u_j 1{w.u_i >= 0} 1{w.u_j >= 0}], w ~ N(0, I): 200,000 draws, within 4 standard
    # errors entrywise (a factor 2 pi instead of pi, or a missing u_i.u_j, fails by far more).
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3))
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    w = rng.standard_normal((200_000, 3))
    on = (w @ u.T >= 0).astype(float)
    samples = (u @ u.T)[None] * on[:, :, None] * on[:, None, :]
    se = samples.std(0) / math.sqrt(len(w))
    assert (np.abs(samples.mean(0) - arora_gram(x).numpy()) <= 4 * se + 1e-12).all()
    assert np.allclose(np.diag(arora_gram(x).numpy()), 0.5)


def test_bad_input_raises():
    eta = torch.arange(1, 11, dtype=torch.float64) ** -2.0
    with pytest.raises(ValueError, match="ridgeless kernel regression needs n below"):
        self_consistent_kappa(eta, 10)
    with pytest.raises(ValueError, match="eigenvalues must be >= 0"):
        predicted_error(-eta, eta, [3])
    with pytest.raises(ValueError, match="powers must have 10 rows"):
        predicted_error(eta, eta[:5], [3])
    with pytest.raises(ValueError, match="need 1 <= start < stop"):
        spectral_exponents(eta, eta, 5, 10)
    with pytest.raises(ValueError, match="alpha must be > 1"):
        predicted_exponent(0.9, 0.5)
    with pytest.raises(ValueError, match="modes must exceed stop"):
        extend_power_law(eta, eta, 2, 6, 6)
    with pytest.raises(ValueError, match="zero row"):
        arora_gram(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="positive definite"):
        arora_bound(np.ones((3, 3)), np.ones(3))
    with pytest.raises(ValueError, match="y must have 3 rows"):
        arora_bound(np.eye(3), np.ones(4))


def test_chapter_window_power_and_small_run():
    # The chapter's helpers on a small pool: the power formula against a direct normal computation,
    # and measure / arora_curve shapes and their basic invariants.
    from scipy.stats import norm

    from ntk_course.chapters import learning_curves as lc
    from ntk_course.digits import mnist_split

    assert lc.window_power(0.0, 1.0, 3.0) == pytest.approx(2 * norm.sf(3.0), rel=1e-12)
    assert lc.window_power(10.0, 1.0, 3.0) == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(ValueError, match="need se > 0"):
        lc.window_power(1.0, 0.0, 3.0)
    settings = lc.Settings.for_scale("quick")
    split = mnist_split(200, 50)
    curves = lc.measure(split, settings.arch, settings, pool=200, draws=2)
    assert curves.sizes == (100, 200) and curves.pool_sizes == (40,)
    assert curves.test_errors.shape == (2, 2) and curves.pool_errors.shape == (2, 1)
    assert float(curves.powers.sum()) == pytest.approx(
        0.9, rel=1e-10
    )  # centred one-hot: 0.81 + 9 x 0.01
    arora = lc.arora_curve(split, (50, 100))
    assert set(arora) == {"bound", "random", "error", "ramp"}
    assert bool((arora["error"] <= arora["ramp"]).all())
