"""Kernel regression and classification (ntk_course.regression) and the experiments of the chapter
on generalisation (ntk_course.chapters.generalisation), checked against independent solvers, the
exact flow, closed forms and Monte Carlo with tolerances tied to the sample size."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from ntk_course import Architecture, gaussian_limit, gradient_flow, mnist_split, nngp, ntk
from ntk_course.chapters import generalisation as gen
from ntk_course.regression import (
    accuracy,
    accuracy_difference,
    accuracy_standard_error,
    kernel_regression,
    nested_kernel_regression,
    one_hot_targets,
)


def kernel_problem(n: int = 40, m: int = 15, seed: int = 0, device: torch.device | str = "cpu"):
    """The NTK and NNGP of depth 3 on n training and m test points of the sphere, and 3-column
    targets."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n + m, 5, generator=g, dtype=torch.float64)
    x = (x / x.norm(dim=1, keepdim=True)).to(device)
    theta, sigma = ntk(x, depth=3), nngp(x, depth=3)
    y = torch.randn(n, 3, generator=g, dtype=torch.float64).to(device)
    return theta, sigma, y, n


def test_one_hot_targets_are_centred_rows():
    y = one_hot_targets(torch.tensor([3, 0, 9]))
    assert y.shape == (3, 10) and y.dtype == torch.float64
    torch.testing.assert_close(y.sum(1), torch.zeros(3, dtype=torch.float64), atol=1e-15, rtol=0)
    assert y[0, 3] == pytest.approx(0.9) and y[0, 0] == pytest.approx(-0.1)
    assert y.argmax(1).tolist() == [3, 0, 9]
    assert torch.equal(
        one_hot_targets(torch.tensor([1]), 3, centred=False),
        torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64),
    )


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (torch.tensor([0.0, 1.0]), "integer"),
        (torch.tensor([[1, 2]]), "1-d"),
        (torch.tensor([0, 10]), "0 .. 9"),
        (torch.tensor([-1]), "0 .. 9"),
        (torch.tensor([], dtype=torch.int64), "non-empty"),
    ],
)
def test_one_hot_targets_reject_bad_labels(labels, message):
    with pytest.raises(ValueError, match=message):
        one_hot_targets(labels)


def test_kernel_regression_matches_scipy_and_the_gaussian_limit(device):
    theta, sigma, y, n = kernel_problem(device=device)
    k, kx = theta[:n, :n], theta[n:, :n]
    f = kernel_regression(k, y, kx)
    assert f.device.type == torch.device(device).type and f.shape == (15, 3)
    reference = kx.cpu().numpy() @ scipy.linalg.solve(
        k.cpu().numpy(), y.cpu().numpy(), assume_a="pos"
    )
    np.testing.assert_allclose(f.cpu().numpy(), reference, rtol=1e-9, atol=1e-11)
    mean, _ = gaussian_limit(
        k,
        sigma[:n, :n],
        y,
        theta_test_train=kx,
        sigma_test_train=sigma[n:, :n],
        sigma_test=sigma[n:, n:],
    )
    torch.testing.assert_close(f, mean, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(kernel_regression(k, y[:, 0], kx), f[:, 0], rtol=1e-12, atol=1e-14)


def test_kernel_regression_is_the_end_of_the_flow():
    """Proposition (chapter): the flow from f_0 = 0 tends to kernel regression, on and off the
    data."""
    theta, _, y, n = kernel_problem()
    k, kx = theta[:n, :n], theta[n:, :n]
    flow = gradient_flow(
        k, y, [50.0 / float(torch.linalg.eigvalsh(k / n)[0])], k_test_train=kx
    )  # e^{-50}
    torch.testing.assert_close(flow.f_test[0], kernel_regression(k, y, kx), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(flow.f_train[0], y, rtol=1e-9, atol=1e-9)  # it interpolates


def test_ridge_is_the_regularised_solution_and_filters_like_early_stopping():
    theta, _, y, n = kernel_problem()
    k, kx = theta[:n, :n], theta[n:, :n]
    rho = 0.03
    reference = kx.numpy() @ scipy.linalg.solve(
        k.numpy() + n * rho * np.eye(n), y.numpy(), assume_a="pos"
    )
    np.testing.assert_allclose(
        kernel_regression(k, y, kx, ridge=rho).numpy(), reference, rtol=1e-9, atol=1e-12
    )
    # On the data, ridge 1/t and the flow at t apply the filters u/(1+u) and 1 - e^{-u}
    # (u = lambda t) to orthonormal components of Y; the filters differ by at most max_u 1/(1+u)
    # - e^{-u} = 0.2036.
    for t in (0.3, 3.0, 30.0, 300.0):
        ridge = kernel_regression(k, y, k, ridge=1 / t)
        flow = gradient_flow(k, y, [t]).f_train[0]
        gap = (flow - ridge).norm(dim=0) / y.norm(dim=0)
        assert bool((gap <= 0.2037).all()), (t, gap)
    big = kernel_regression(k, y, kx, ridge=1e6)  # rho -> infinity: f ~ K_xX Y / (N rho)
    torch.testing.assert_close(big, kx @ y / (n * 1e6), rtol=1e-4, atol=0)


def test_a_singular_kernel_needs_a_ridge():
    x = torch.randn(30, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    lin = ntk(x, depth=1)  # x.x'/n_0 + beta^2: rank <= n_0 + 1 = 5 < 30
    y = torch.randn(30, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with pytest.raises(ValueError, match="ridge"):
        kernel_regression(lin, y, lin)
    with pytest.raises(ValueError, match="ridge"):
        nested_kernel_regression(lin, y, lin, [10, 30])
    f = kernel_regression(lin, y, lin, ridge=1e-3)
    assert bool(torch.isfinite(f).all())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k_train": torch.ones(3, 4)}, "square"),
        ({"y_train": torch.ones(5)}, "rows"),
        ({"k_test_train": torch.ones(2, 5)}, "columns"),
        ({"ridge": -1.0}, "ridge"),
        ({"y_train": torch.tensor([1.0, float("nan"), 0.0, 0.0])}, "non-finite"),
    ],
)
def test_kernel_regression_rejects_bad_input(kwargs, message):
    args = {
        "k_train": 2 * torch.eye(4, dtype=torch.float64),
        "y_train": torch.ones(4),
        "k_test_train": torch.ones(2, 4),
    }
    with pytest.raises(ValueError, match=message):
        kernel_regression(**(args | kwargs))


def test_nested_regression_equals_separate_fits(device):
    theta, _, y, n = kernel_problem(device=device)
    k, kx = theta[:n, :n], theta[n:, :n]
    sizes = [5, 17, n]
    for size, f in zip(sizes, nested_kernel_regression(k, y, kx, sizes)):
        torch.testing.assert_close(
            f, kernel_regression(k[:size, :size], y[:size], kx[:, :size]), rtol=1e-9, atol=1e-10
        )
    with pytest.raises(ValueError, match="sizes"):
        nested_kernel_regression(k, y, kx, [n + 1])
    with pytest.raises(ValueError, match="sizes"):
        nested_kernel_regression(k, y, kx, [0])


def test_accuracy_counts_argmax_hits():
    outputs = torch.tensor([[0.9, 0.1], [0.2, 0.3], [0.6, 0.4], [0.0, 1.0]])
    assert accuracy(outputs, torch.tensor([0, 1, 1, 1])) == 0.75
    stacked = accuracy(torch.stack([outputs, -outputs]), torch.tensor([0, 1, 1, 1]))
    assert stacked.tolist() == [0.75, 0.25]
    with pytest.raises(ValueError, match="labels"):
        accuracy(outputs, torch.tensor([0, 1]))


def test_standard_errors_match_monte_carlo():
    """sqrt(p(1-p)/M) and the paired error of a difference, against 4,000 simulated test sets."""
    g = torch.Generator().manual_seed(0)
    m, reps, p = 500, 4000, 0.9
    hits = (torch.rand(reps, m, generator=g) < p).double()
    sd = (
        hits.mean(1).std().item()
    )  # its own relative sampling error is about 1/sqrt(2 reps) = 1.1 %
    assert abs(sd / accuracy_standard_error(p, m) - 1) < 0.05
    # Two classifiers that disagree on about 4 % of the points: b wrong where a is right 2 %, and
    # back.
    flip = torch.rand(reps, m, generator=g)
    other = torch.where(flip < 0.02, 1 - hits, hits)
    diffs, ses = zip(*(accuracy_difference(a, b) for a, b in zip(hits, other)))
    assert abs(torch.tensor(diffs).std().item() / np.mean(ses) - 1) < 0.05
    assert np.mean(ses) < 0.5 * accuracy_standard_error(p, m)  # pairing is what makes it small
    assert accuracy_difference(hits[0], hits[0]) == (0.0, 0.0)
    with pytest.raises(ValueError, match="accuracy"):
        accuracy_standard_error(1.5, 10)
    with pytest.raises(ValueError, match="rows"):
        accuracy_difference(hits[0], hits[0, :10])


def test_noisy_labels_replace_the_asked_fraction():
    labels = torch.arange(10).repeat(1000)
    noisy = gen.noisy_labels(labels, 0.4, seed=3)
    changed = (noisy != labels).double().mean().item()
    # A replaced label is a random class, the same as before with probability 1/10: 0.4 x 0.9
    # = 0.36.
    assert abs(changed - 0.36) < 4 * math.sqrt(0.36 * 0.64 / 10_000)
    assert torch.equal(noisy, gen.noisy_labels(labels, 0.4, seed=3)) and int(noisy.max()) <= 9


def test_learning_curve_is_kernel_regression_on_nested_digits():
    split = mnist_split(120, 80, seed=2)
    arch = Architecture(depth=3)
    ks = gen.kernels(arch, split.x_train, split.x_test)
    curve = gen.learning_curve(split, ks, (30, 120))
    y = one_hot_targets(split.labels_train)
    direct = kernel_regression(ks["NNGP"][0][:30, :30], y[:30], ks["NNGP"][1][:, :30]).argmax(1)
    assert torch.equal(curve.predicted["NNGP"][0], direct)
    assert curve.accuracy("NTK")[-1] == accuracy(
        kernel_regression(*ks["NTK"][:1], y, ks["NTK"][1]), split.labels_test
    )
    scan = gen.depth_scan(split, arch, (2, 3), (30, 60), known={3: ks})
    assert torch.equal(
        scan[3].predicted["NTK"][1], gen.learning_curve(split, ks, (60,)).predicted["NTK"][0]
    )


def test_wide_centred_networks_follow_the_kernel_flow():
    """g = f - f_0 starts at 0 and, for a wide network, tracks the kernel flow's test accuracy."""
    split = mnist_split(100, 300, seed=5)
    settings = gen.Settings(
        n_test=300,
        sizes=(100,),
        scan_sizes=(100,),
        depths=(2,),
        n_net=100,
        widths=(8, 4096),
        steps=30,
        ensemble=1,
        records=2,
    )
    run = gen.train_networks(split, settings)
    assert run.t.tolist() == [0.0, 60.0]
    assert (
        run.networks[8][0, 0] == run.networks[4096][0, 0] == run.kernel[0]
    )  # all start at g = 0 (class 0)
    wide_gap = accuracy_difference(run.hits[4096][0].double(), run.kernel_hits.double())
    narrow_gap = accuracy_difference(run.hits[8][0].double(), run.kernel_hits.double())
    assert abs(wide_gap[0]) <= 3 * max(wide_gap[1], 1 / 300) and narrow_gap[0] < wide_gap[0]


def test_settings_fit_the_shipped_digits():
    for scale in ("quick", "default", "paper"):
        s = gen.Settings.for_scale(scale)
        assert max(s.sizes) + s.n_test <= 10_000 and max(s.scan_sizes) <= max(s.sizes)
        assert s.n_net <= max(s.sizes) and s.n_stop <= max(s.sizes) and s.depth in s.depths
        # the validation digits are the pool's last n_val, disjoint from the first n_stop
        assert s.n_stop + s.n_val <= max(s.sizes) and s.ensemble >= 3


def test_power_matches_simulated_checks():
    """The power of "|z| >= k" and "z >= k" against an effect, against 200,000 simulated
    estimates (binomial error of a probability near 0.5: about 0.0011)."""
    g = torch.Generator().manual_seed(1)
    est = 0.7 + 0.25 * torch.randn(200_000, generator=g, dtype=torch.float64)  # effect 0.7, se 0.25
    assert abs(gen.power(0.7, 0.25, 3) - (est.abs() >= 0.75).double().mean().item()) < 0.005
    assert (
        abs(gen.power(0.7, 0.25, 2, two_sided=False) - (est >= 0.5).double().mean().item()) < 0.005
    )
    assert abs(gen.power(0.0, 1.0, 1.959964) - 0.05) < 1e-6  # the size of the test at effect 0
    with pytest.raises(ValueError, match="se > 0"):
        gen.power(1.0, 0.0, 3)


def test_network_gap_includes_the_between_network_variance():
    """Networks whose accuracies vary from draw to draw: the standard error of the mean gap must
    match the spread of the gap over 2,000 simulated ensembles, which the paired per-digit error
    alone underestimates."""
    g = torch.Generator().manual_seed(2)
    e, m, reps = 4, 400, 2000
    kernel = (torch.rand(m, generator=g) < 0.9).double()
    gaps, ses, paired = [], [], []
    for _ in range(reps):
        # each network is the kernel with its own rate of flipped digits (the initialisation's
        # effect): rates spread from 2 % to 12 %
        rate = 0.02 + 0.1 * torch.rand(e, 1, generator=g, dtype=torch.float64)
        flip = torch.rand(e, m, generator=g, dtype=torch.float64) < rate
        hits = torch.where(flip, 1 - kernel, kernel)
        gap, se = gen.network_gap(hits, kernel)
        gaps.append(gap)
        ses.append(se)
        paired.append(accuracy_difference(hits.mean(0), kernel)[1])
    spread = float(np.std(gaps))  # the kernel's digits are fixed: this is the networks' spread
    assert 0.9 < np.mean(ses) / spread < 1.6  # errs on the large side, by design
    assert np.mean(paired) < 0.8 * spread  # the per-digit paired error alone is too small
    with pytest.raises(ValueError, match="two networks"):
        gen.network_gap(hits[:1], kernel)


def test_early_stopping_chooses_the_time_on_the_validation_digits():
    split = mnist_split(300, 100, seed=4)
    ks = gen.kernels(Architecture(depth=2), split.x_train, split.x_test)
    k, kx = ks["NTK"][0][:200, :200], ks["NTK"][1][:, :200]
    kv = ks["NTK"][0][200:, :200]
    t = torch.logspace(0, 4, 9, dtype=torch.float64)
    res = gen.early_stopping(
        k, kx, split.labels_train[:200], split.labels_test, t, kv, split.labels_train[200:]
    )
    y = one_hot_targets(split.labels_train[:200])
    val = gradient_flow(k, y, t, k_test_train=kv).f_test
    val_acc = accuracy(val, split.labels_train[200:])
    assert int(res["chosen"]) == int(val_acc.argmax()) and torch.allclose(res["flow_val"], val_acc)
    ridge = kernel_regression(k, y, kx, ridge=1 / float(t[3]))
    assert torch.equal(res["ridge_hits"][3], ridge.argmax(1) == split.labels_test)
    assert res["hits"].shape == (9, 100) and "chosen" not in gen.early_stopping(
        k, kx, split.labels_train[:200], split.labels_test, t
    )
