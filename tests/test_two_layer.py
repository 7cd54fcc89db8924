"""ntk_course.two_layer: Du et al.'s two-layer network against independent references.

H^inf against a Monte Carlo average over many w and against the course's limiting kernels at
depth 2 (the Sigma-dot part of Theta); H(W) against the Jacobian Gram J J^T from torch.func; the
Hessian norm of the power iteration against the eigenvalues of the full Hessian from
torch.autograd.functional.hessian; the training run against the pathwise movement bound.
"""

from __future__ import annotations

import math

import pytest
import torch

from ntk_course import limiting_kernels
from ntk_course.datasets import sphere_points
from ntk_course.two_layer import (
    gram,
    gram_infinity,
    hessian_norm,
    init_two_layer,
    lambda_zero,
    movement_bound,
    outputs,
    perturbation_radius,
    sufficient_width,
    train_two_layer,
)


def test_gram_infinity_is_the_monte_carlo_mean_over_w() -> None:
    """H^inf_ij = E_w[x_i.x_j 1{w.x_i >= 0, w.x_j >= 0}], each entry within 5 standard errors of
    the sample mean of 400,000 draws (false alarm ~6e-7 per entry); a wrong gate (phi for
    pi - phi) moves the entries by hundreds of standard errors."""
    x = sphere_points(6, 3, seed=1)
    w = torch.randn(400_000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    on = (w @ x.T >= 0).double()  # (M, N)
    samples = (x @ x.T) * on[:, :, None] * on[:, None, :]  # (M, N, N)
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(w.shape[0])
    assert ((gram_infinity(x) - mean).abs() <= 5 * se + 1e-15).all()
    assert se.max() < 1e-3


def test_gram_infinity_is_n0_times_the_sigma_dot_part_of_theta_at_depth_two() -> None:
    """At depth 2 and beta = 0, Theta = Theta^(1) Sigma_dot^(2) + Sigma^(2) with Theta^(1) =
    x.x'/n_0 (Theorem 1), so H^inf = n_0 (Theta - Sigma): the first layer's share of the course's
    kernel, without the n_0^(-1/2) of the NTK parametrisation."""
    x = sphere_points(7, 4, seed=2)
    sigma, theta = limiting_kernels(x, depth=2, beta=0.0)
    torch.testing.assert_close(gram_infinity(x), 4 * (theta - sigma), rtol=0, atol=1e-12)


def test_gram_is_the_jacobian_gram_and_tends_to_h_infinity() -> None:
    x = sphere_points(5, 3, seed=3)
    w, a = init_two_layer(3, 40, ensemble=2, seed=4)
    for act in ("relu", "tanh"):
        for e in range(2):
            jac = torch.func.jacrev(lambda v, e=e, act=act: outputs(v, a[e], x, act)[0])(
                w[e]
            )  # (N, m, d)
            j = jac.reshape(5, -1)
            torch.testing.assert_close(gram(w, a, x, act)[e], j @ j.T, rtol=1e-12, atol=1e-12)
    # Hoeffding (Du Lemma 3.1): each entry is a mean of m terms in [-1, 1], so with probability
    # >= 1 - 1e-6 all N^2 entries lie within sqrt(2 log(2 N^2 / 1e-6) / m) of H^inf.
    m = 20_000
    w, a = init_two_layer(3, m, seed=5)
    gap = (gram(w, a, x)[0] - gram_infinity(x)).abs().max()
    assert gap <= math.sqrt(2 * math.log(2 * 25 / 1e-6) / m)


def test_lambda_zero_is_positive_for_distinct_directions_and_zero_for_a_repeated_point() -> None:
    x = sphere_points(6, 3, seed=6)
    assert lambda_zero(x) > 1e-3
    assert abs(lambda_zero(torch.cat([x, x[:1]]))) < 1e-12


def test_hessian_norm_is_the_largest_eigenvalue_of_the_full_hessian() -> None:
    """Power iteration with torch.func against the eigenvalues of the dense Hessian of
    torch.autograd.functional.hessian on a tiny tanh network; for ReLU the Hessian vanishes."""
    x = sphere_points(1, 3, seed=7)
    w, a = init_two_layer(3, 5, ensemble=3, seed=8)
    est = hessian_norm(w, a, x, iterations=500)
    for e in range(3):
        full = torch.autograd.functional.hessian(
            lambda v, e=e: outputs(v, a[e], x, "tanh")[0, 0], w[e]
        ).reshape(15, 15)
        torch.testing.assert_close(
            est[e], torch.linalg.eigvalsh(full).abs().max(), rtol=1e-6, atol=0
        )
    assert (hessian_norm(w, a, x, activation="relu", iterations=3) == 0).all()


def test_hessian_norm_falls_like_one_over_root_width() -> None:
    """The blocks are m^(-1/2) a_r tanh''(w_r.x) |x|^2: the norm times sqrt(m) approaches
    sup |tanh''| = 4 / (3 sqrt 3) from below as m grows."""
    x = sphere_points(1, 3, seed=9)
    w, a = init_two_layer(3, 400, seed=10)
    scaled = hessian_norm(w, a, x, iterations=300)[0] * math.sqrt(400)
    assert 0.95 * 4 / (3 * math.sqrt(3)) < scaled <= 4 / (3 * math.sqrt(3)) + 1e-9


def test_training_records_the_run_and_obeys_the_movement_bound() -> None:
    x = sphere_points(6, 3, seed=11)
    y = torch.sign(x[:, 0])
    w, a = init_two_layer(3, 512, ensemble=3, seed=12)
    run = train_two_layer(w, a, x, y, lr=2.0, steps=100, record_every=25)
    torch.testing.assert_close(
        run.times, torch.tensor([0.0, 50, 100, 150, 200], dtype=torch.float64)
    )
    torch.testing.assert_close(run.lambda_min[:, 0], torch.linalg.eigvalsh(gram(w, a, x))[:, 0])
    u0 = outputs(w, a, x)
    torch.testing.assert_close(run.loss[:, 0], ((u0 - y) ** 2).sum(1) / 12)
    assert (run.loss[:, -1] < 0.1 * run.loss[:, 0]).all()
    # Pathwise (Lemma 3.3's first step): each step moves w_r by at most lr |u - y| / sqrt(N m).
    assert (run.distance <= run.residual_integral / math.sqrt(6 * 512) + 1e-12).all()
    assert (run.distance[:, 1:] > 0).all()
    torch.testing.assert_close(run.distance[:, -1], (run.weights - w).norm(dim=2).max(dim=1).values)


def test_the_constants_of_the_proof() -> None:
    assert movement_bound(2.0, 4, 0.5, 16) == pytest.approx(2 * 2 * 2.0 / (4 * 0.5))
    assert perturbation_radius(4, 0.5, 0.1) == pytest.approx(math.sqrt(2 * math.pi) * 0.05 / 256)
    radius = perturbation_radius(4, 0.5, 0.1)
    assert sufficient_width(4, 0.5, 0.1, 2.0) == pytest.approx((2 * 2 * 2.0 / (0.5 * radius)) ** 2)


def test_bad_input_is_refused() -> None:
    x = sphere_points(4, 3)
    w, a = init_two_layer(3, 8)
    with pytest.raises(ValueError, match="unknown activation 'gelu'; known: relu, tanh"):
        gram(w, a, x, "gelu")
    with pytest.raises(ValueError, match="x has dimension 2 but the weights expect 3"):
        outputs(w, a, x[:, :2])
    with pytest.raises(ValueError, match="expected W of shape"):
        gram(w, a[:, :4], x)
    with pytest.raises(ValueError, match="one target per point"):
        train_two_layer(w, a, x, torch.ones(3), lr=1.0, steps=1)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        train_two_layer(w, a, x, torch.ones(4), lr=1.0, steps=0)
    with pytest.raises(ValueError, match="one input x"):
        hessian_norm(w, a, x)
    with pytest.raises(ValueError, match=r"delta must lie in \(0, 1\)"):
        perturbation_radius(4, 0.5, 1.0)
    with pytest.raises(ValueError, match="non-finite"):
        gram_infinity(torch.tensor([[float("nan"), 1.0]]))
    with pytest.raises(ValueError, match="width must be an integer >= 1"):
        init_two_layer(3, 0)


def test_the_chapters_width_scan_records_every_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """ntk_course.chapters.global_convergence on a small scan: one run per width (the narrow one
    included), distances below Du's R', and the plot of one width draws both panels."""
    import matplotlib

    matplotlib.use("Agg")
    from ntk_course.chapters.global_convergence import Settings, plot_run, width_scan
    from ntk_course.chapters.plotting import new_axes

    monkeypatch.setenv("NTK_COURSE_SCALE", "quick")
    assert Settings.for_scale() == Settings()
    s = Settings(widths=(64, 256), ensemble=2, steps=40, narrow=4, narrow_ensemble=3, iterations=20)
    scan = width_scan(s)
    assert list(scan.runs) == [4, 64, 256] and list(scan.hessian) == [64, 256]
    assert scan.lowest(4).shape == (3,) and scan.distance(64).shape == (2,)
    for m in (64, 256):
        assert (scan.distance(m) <= scan.bound[m]).all()
        assert (scan.rate_ratio(m) >= 1).all()  # the ratio is 1 at t = 0
    fig, axes = new_axes(2)
    plot_run(axes, scan, 64)
    assert len(axes[0].lines) == 2 + 2 and axes[1].get_yscale() == "log"
    fig.canvas.draw()  # the labels' mathtext parses (matplotlib needs \mathbf{G}, not \mathbf G)


def test_every_function_runs_on_the_weights_device(gpu: torch.device) -> None:
    """Weights on the GPU give results on the GPU, equal to the CPU's (skipped without one)."""
    x = sphere_points(5, 3, seed=13)
    y = torch.sign(x[:, 0])
    w, a = init_two_layer(3, 32, ensemble=2, seed=14)
    wd, ad = init_two_layer(3, 32, ensemble=2, seed=14, device=gpu)
    assert wd.gpu.type == gpu.type
    run, rund = (train_two_layer(v, b, x, y, lr=1.0, steps=5) for v, b in ((w, a), (wd, ad)))
    for cpu, dev in (
        (gram(w, a, x), gram(wd, ad, x)),
        (outputs(w, a, x, "tanh"), outputs(wd, ad, x, "tanh")),
        (run.loss, rund.loss),
        (run.distance, rund.distance),
        (hessian_norm(w, a, x[0], iterations=5), hessian_norm(wd, ad, x[0], iterations=5)),
    ):
        assert dev.gpu.type == gpu.type
        torch.testing.assert_close(dev.cpu(), cpu, rtol=1e-10, atol=1e-12)
