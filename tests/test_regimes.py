"""Experiments beyond the kernel regime: parametrisation (Remark 1), laziness, finite width,
depth."""

from __future__ import annotations

import copy
import math

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ntk_course import (  # noqa: E402
    Architecture,
    Centred,
    circle_points,
    circle_training_set,
    empirical_ntk,
    get_activation,
    gradient_descent,
    layer_kernels,
    max_stable_learning_rate,
    ntk,
    power_law_fit,
    train,
)
from ntk_course.chapters.depth import condition_number, gain_activation, normalised_ntk  # noqa: E402
from ntk_course.chapters.finite_width import finite_width_sweep  # noqa: E402
from ntk_course.chapters.laziness import (  # noqa: E402
    LazyTraining,
    LearningRateSweep,
    plot_leaving_the_lazy_regime,
    train_lazily,
)
from ntk_course.chapters.lazy_slopes import SlopeTest, alpha_slopes  # noqa: E402
from ntk_course.chapters.parametrisation import final_costs, plot_width_sweeps, width_sweep  # noqa: E402
from ntk_course.mlp import NTKMLP  # noqa: E402

X4, Y4 = circle_training_set(4)
X8, Y8 = circle_training_set(8)


def _kernel_gd_loop(k, y, steps, lr):
    f = torch.zeros_like(y)
    for _ in range(steps):
        f = f - lr * k @ (f - y) / len(y)
    return f


def test_max_stable_learning_rate_is_the_divergence_threshold():
    k = ntk(X8, depth=3)
    lr_max = float(max_stable_learning_rate(k))
    assert lr_max == pytest.approx(2 * 8 / float(torch.linalg.eigvalsh(k)[-1]), rel=1e-12)
    y = torch.linspace(0.1, 1.0, 8, dtype=torch.float64)  # has a component along every eigenvector
    below = _kernel_gd_loop(k, y, 400, 0.98 * lr_max)
    above = _kernel_gd_loop(k, y, 400, 1.02 * lr_max)
    # the top component is multiplied by |1 - lr lam_max / N| = 0.96 or 1.04 per step
    assert float((below - y).norm()) < float(y.norm())
    assert float((above - y).norm()) > 1e3 * float(y.norm())
    batch = max_stable_learning_rate(torch.stack([k, 2 * k]))
    torch.testing.assert_close(batch, torch.tensor([lr_max, lr_max / 2], dtype=torch.float64))
    with pytest.raises(ValueError, match="square"):
        max_stable_learning_rate(torch.ones(2, 3))
    with pytest.raises(ValueError, match="positive largest eigenvalue"):
        max_stable_learning_rate(torch.zeros(2, 2))


def test_centered_network_starts_at_zero_with_the_same_kernel():
    model = NTKMLP([2, 32, 1], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    centred = Centred(model)
    assert float(centred(X8).detach().abs().max()) == 0.0
    assert sum(p.numel() for p in centred.parameters()) == sum(
        p.numel() for p in model.parameters()
    )
    torch.testing.assert_close(
        empirical_ntk(centred, X8, method="jacobian"),
        empirical_ntk(model, X8),
        rtol=1e-10,
        atol=1e-12,
    )


def test_width_sweep_ntk_is_flat_and_standard_grows_linearly():
    ntk_sweep = width_sweep([32, 512], X4, arch=Architecture(3), ensemble=4)
    std = width_sweep([32, 512], X4, arch=Architecture(3, parametrization="standard"), ensemble=4)
    theta_inf = float(ntk(X4, depth=3).diagonal().mean())
    assert float(ntk_sweep.theta_diagonal[-1]) == pytest.approx(theta_inf, rel=0.15)
    assert abs(power_law_fit(ntk_sweep.widths, ntk_sweep.theta_diagonal).slope) < 0.1
    assert 0.8 < power_law_fit(std.widths, std.theta_diagonal).slope < 1.1
    assert -1.1 < power_law_fit(std.widths, std.lr_max).slope < -0.8
    with pytest.raises(ValueError, match="at least one width"):
        width_sweep([], X4)
    with pytest.raises(ValueError, match="width must be an integer >= 1"):
        width_sweep([0], X4)
    left, right = plot_width_sweeps({"ntk": ntk_sweep, "standard": std}, theta_inf, lr=0.3)
    assert left.get_xlabel() == "hidden width $n$" and len(right.get_legend().get_texts()) == 3
    plt.close("all")


def test_final_costs_diverge_far_above_the_threshold():
    costs = final_costs(
        [16, 1024], X4, Y4, lr=0.3, steps=30, arch=Architecture(3, parametrization="standard")
    )
    assert float(costs[0]) < 1e-2 and math.isinf(float(costs[1]))  # eta/eta_max ~ 0.6 and ~ 20
    ntk_costs = final_costs([16, 1024], X4, Y4, lr=0.3, steps=30)
    assert bool(torch.isfinite(ntk_costs).all())
    with pytest.raises(ValueError, match="y must have 4 rows"):
        final_costs([16], X4, Y8, lr=0.1, steps=1)


def _train_lazily(alphas, width, steps, x_test):
    """The chapter's lazy-training run: one initialisation copied to every member, member a trains
    the centred network towards y / alpha_a."""
    net = Architecture(3).network(
        2, width, ensemble=len(alphas), generator=torch.Generator().manual_seed(0)
    )
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(p[:1].expand_as(p))
    k0, kx0 = empirical_ntk(net, X8)[0].double(), empirical_ntk(net, x_test, X8)[0].double()
    w0 = net.weights[0].detach().clone()
    y32, a = Y8.float(), torch.tensor(alphas)[:, None, None]
    record = train(Centred(net), X8, y32 / a, steps=steps, record_at=[steps], x_eval=x_test)
    frozen = gradient_descent(k0, y32[:, 0].double(), [steps], lr=1.0, k_test_train=kx0).f_test[-1]
    return LazyTraining.measure(alphas, net, X8, w0, k0, record, frozen), net


def test_lazy_training_becomes_lazy_as_alpha_grows():
    run, net = _train_lazily([0.1, 1.0, 10.0], 64, 100, circle_points(32)[0])
    drift, moved, dev = run.kernel_drift, run.weight_change, run.deviation
    assert float(drift[0]) > float(drift[1]) > float(drift[2]) and float(drift[0]) > 30 * float(
        drift[2]
    )
    assert float(moved[0]) > float(moved[1]) > float(moved[2])
    assert float(moved[1] / moved[2]) == pytest.approx(
        10.0, rel=0.5
    )  # movement ~ 1/alpha when lazy
    assert float(dev[2]) < float(dev[0]) and float(dev[2]) < 0.05
    assert bool(
        (run.cost < 0.1 * 0.5 * float(Y8.square().mean())).all()
    )  # every alpha fits the data
    assert run.f_test.shape == (3, 32) and run.f_kernel.shape == (32,)
    assert run.w_initial.shape == (64, 2) and run.w_final.shape == (3, 64, 2)
    assert float((run.w_final[2] - run.w_initial).norm() / run.w_initial.norm()) == pytest.approx(
        float(moved[2]), rel=1e-5
    )
    with pytest.raises(ValueError, match="alphas must be a non-empty list of finite numbers > 0"):
        LazyTraining.measure([0.0, 1.0, 2.0], net, X8, net.weights[0], torch.eye(8), None, None)
    with pytest.raises(ValueError, match="one member per alpha"):
        LazyTraining.measure([1.0], net, X8, net.weights[0], torch.eye(8), None, None)


def test_train_lazily_runs_independent_networks_and_smooth_ones_are_lazy_like_one_over_alpha():
    x_test = circle_points(16)[0]
    alphas = [0.3, 1.0, 3.0, 10.0]
    runs = train_lazily(
        Architecture(3, "tanh"), alphas, X8, Y8, x_test, width=64, steps=100, networks=2
    )
    assert (
        len(runs) == 2 and runs[0].f_test.shape == (4, 16) and runs[0].w_final.shape == (4, 64, 2)
    )
    assert not torch.equal(runs[0].w_initial, runs[1].w_initial)  # two independent draws
    assert not torch.equal(runs[0].f_kernel, runs[1].f_kernel)
    for run in runs:
        # member a started from the network's initial weights: its move is measured from them
        moved = (run.w_final - run.w_initial).flatten(1).norm(dim=1) / run.w_initial.norm()
        torch.testing.assert_close(moved.double(), run.weight_change, rtol=1e-5, atol=0)
    # Chizat, Oyallon & Bach (2019), finite-horizon bounds: with a Lipschitz Jacobian (tanh) the
    # weights, the kernel and the distance to the linearisation all move by O(1/alpha): slope -1
    # (a quantity that did not depend on alpha would give 0, a quadratic remainder -2).
    for quantity, tol in (("weight_change", 0.05), ("kernel_drift", 0.25), ("deviation", 0.25)):
        slopes = alpha_slopes(runs, quantity)
        assert slopes.shape == (2,) and bool(((slopes + 1).abs() < tol).all()), (quantity, slopes)


def test_alpha_slopes_fit_each_network_in_the_lazy_range():
    run = LazyTraining(
        alphas=torch.tensor([0.1, 1.0, 4.0, 16.0], dtype=torch.float64),
        kernel_drift=torch.tensor([50.0, 2.0, 2 * 4.0**-0.7, 2 * 16.0**-0.7], dtype=torch.float64),
        weight_change=torch.ones(4, dtype=torch.float64),
        cost=torch.zeros(4, dtype=torch.float64),
        f_test=torch.zeros(4, 3),
        f_kernel=torch.ones(3),
        deviation=torch.ones(4, dtype=torch.float64),
        w_initial=torch.ones(2, 2),
        w_final=torch.ones(4, 2, 2),
    )
    # alpha = 0.1 (outside the lazy range) would bend the fit; alpha >= 1 gives exactly -0.7
    torch.testing.assert_close(
        alpha_slopes([run, run], "kernel_drift"), torch.tensor([-0.7, -0.7], dtype=torch.float64)
    )
    assert float(alpha_slopes([run], "weight_change")[0]) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="quantity"):
        alpha_slopes([run], "cost")
    with pytest.raises(ValueError, match="two alphas"):
        alpha_slopes([run], "deviation", min_alpha=5.0)


def test_slope_test_size_and_power_match_a_simulation():
    # Four normal slopes with sd 0.1: a simulation of the t-test is the independent reference for
    # the size (at the predicted mean) and the power (at another mean) that SlopeTest computes.
    g = torch.Generator().manual_seed(0)
    sd, s = 0.1, 4
    template = SlopeTest.of(-1.0 + sd * torch.randn(s, generator=g, dtype=torch.float64), -1.0)
    fixed = SlopeTest(-1.0, sd / s**0.5, s, -1.0, 0.99, template.critical, 0.0, 0.05)
    for true in (-1.0, -0.8):
        draws = true + sd * torch.randn(20000, s, generator=g, dtype=torch.float64)
        rejected = [not SlopeTest.of(d, -1.0, allowance=0.05).consistent for d in draws[:4000]]
        simulated = sum(rejected) / len(rejected)
        # power() takes the standard error as known, the simulation estimates it: compare loosely
        assert fixed.power(true) == pytest.approx(simulated, abs=0.06), (true, simulated)
    assert SlopeTest.of([-1.02, -0.98, -1.01, -0.99], -1.0).consistent
    assert not SlopeTest.of([-0.52, -0.48, -0.51, -0.49], -1.0).consistent
    assert SlopeTest.of([-0.52, -0.48, -0.51, -0.49], -1.0).falls
    assert not SlopeTest.of([0.1, -0.1, 0.05, -0.02], -1.0).falls
    with pytest.raises(ValueError, match="two finite slopes"):
        SlopeTest.of([-1.0], -1.0)


def test_learning_rate_sweep_catapult_and_divergence():
    net0 = Architecture(3).network(2, 256, generator=torch.Generator().manual_seed(0))
    k0 = empirical_ntk(net0, X8).double()
    lr_max = float(max_stable_learning_rate(k0))
    runs = {}
    for f in (0.5, 2.0, 20.0):
        net = copy.deepcopy(net0)
        try:
            record = train(net, X8, Y8, steps=60, lr=f * lr_max, record_at=[60])
        except ValueError:
            continue
        runs[f] = (empirical_ntk(net, X8).double(), float(record.loss[-1]))
    run = LearningRateSweep.measure([0.5, 2.0, 20.0], lr_max, k0, runs)
    assert sorted(runs) == [0.5, 2.0] and run.lr_max == lr_max
    assert float(run.kernel_drift[0]) < 0.15 and float(run.top_eigenvalue_ratio[0]) > 0.85
    assert (
        float(run.kernel_drift[1]) > 0.3
        and float(run.top_eigenvalue_ratio[1]) < 0.7
        and float(run.cost[1]) < 1e-3
    )
    assert math.isinf(float(run.cost[2])) and math.isnan(float(run.kernel_drift[2]))
    with pytest.raises(ValueError, match="factors must be a non-empty list of finite numbers > 0"):
        LearningRateSweep.measure([-1.0], lr_max, k0, {})
    with pytest.raises(ValueError, match="keyed by factors"):
        LearningRateSweep.measure([0.5], lr_max, k0, runs)


def test_leaving_the_lazy_regime_is_drawn():
    lazy, _ = _train_lazily([0.3, 3.0], 16, 5, X8)
    sweep = LearningRateSweep.measure(
        [0.5, 9.0],
        1.0,
        torch.eye(8, dtype=torch.float64),
        {0.5: (2 * torch.eye(8, dtype=torch.float64), 1e-3)},
    )
    left, right = plot_leaving_the_lazy_regime(lazy, sweep)
    assert left.get_xlabel() == r"output scale $\tau$" and len(right.get_legend().get_texts()) == 3
    plt.close("all")


def test_finite_width_sweep_shrinks_with_width():
    run = finite_width_sweep([16, 512], X4, Y4, Architecture(3), steps=40, ensemble=4)
    assert run.init_deviation.shape == run.kernel_drift.shape == run.weight_change.shape == (2, 4)
    init, drift, moved = (
        v.mean(1) for v in (run.init_deviation, run.kernel_drift, run.weight_change)
    )
    # n^(-1/2) over a factor 32 in width is a factor 5.7; 0.4 leaves room for the spread of 4
    # networks.
    assert float(init[1]) < 0.4 * float(init[0])
    assert float(drift[1]) < 0.4 * float(drift[0])
    assert float(moved[1]) < 0.4 * float(moved[0])
    with pytest.raises(ValueError, match="ensemble"):
        finite_width_sweep([16], X4, Y4, Architecture(3), ensemble=0)


def test_gain_activation_scales_both_expectations():
    g = 1.5
    scaled = gain_activation("erf", g)
    by_quadrature = get_activation(
        lambda z: g * torch.erf(z), lambda z: g * 2 / math.sqrt(math.pi) * torch.exp(-z * z)
    )
    x = circle_points(7)[0]
    torch.testing.assert_close(
        ntk(x, depth=3, activation=scaled),
        ntk(x, depth=3, activation=by_quadrature),
        rtol=1e-9,
        atol=1e-10,
    )
    # He's ReLU: the diagonal obeys q -> q + beta^2 and Theta -> Theta + q (exercise of the
    # chapter).
    he = gain_activation("relu", math.sqrt(2.0))
    one = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    q = [0.5 + 0.01 + 0.01 * l for l in range(10)]
    # (1e-8: the library's ReLU angle of a point with itself carries ~1e-9 of round-off)
    assert float(ntk(one, depth=10, activation=he)) == pytest.approx(sum(q), rel=1e-8)
    z = torch.linspace(-2, 2, 5)
    torch.testing.assert_close(he(z), math.sqrt(2.0) * torch.relu(z))
    with pytest.raises(ValueError, match="gain"):
        gain_activation("relu", -1.0)


def test_gain_activation_is_a_fixed_gain_not_trained_weights_of_variance_gain_squared():
    """gain * ReLU is the network with the gain as a fixed factor next to 1/sqrt(n); weights drawn
    with variance gain^2 and trained directly give the same function (the same Sigma) but another
    Theta, Theta^(2) = Theta^(1) Sigma_dot^(2) + (Sigma^(2) - beta^2) / gain^2 + beta^2 (see the
    docstring).

    At depth 2 the empirical NTK of a random network is an unbiased estimate of its limit at any
    width (averages of i.i.d. hidden units whose preactivations are exactly Gaussian), so the mean
    over 400 networks must lie within 5 standard errors of the right formula, entry by entry."""
    g, beta, members = math.sqrt(2.0), 0.1, 400
    x = circle_points(6)[0]
    he = gain_activation("relu", g)
    by_gain = ntk(x, depth=2, activation=he, beta=beta)
    layers = layer_kernels(x, depth=2, activation=he, beta=beta)
    by_variance = (
        layers.Theta[0] * layers.Sigma_dot[1] + (layers.Sigma[1] - beta**2) / g**2 + beta**2
    )
    # the two differ by about 25 % on the unit circle (diagonal: 0.775 against 1.03)
    assert 0.24 < float(1 - (by_variance / by_gain).diagonal().mean()) < 0.26
    gain_net, variance_net = (
        NTKMLP(
            [2, 512, 1],
            act,
            beta,
            ensemble=members,
            dtype=torch.float64,
            generator=torch.Generator().manual_seed(3),
        )
        for act in (he, "relu")
    )
    with torch.no_grad():
        variance_net.weights[1].mul_(g)  # W^(1) ~ N(0, 2), trained as it is
        torch.testing.assert_close(
            variance_net(x), gain_net(x), rtol=1e-12, atol=1e-14
        )  # same function
    for net, limit, other in (
        (gain_net, by_gain, by_variance),
        (variance_net, by_variance, by_gain),
    ):
        k = empirical_ntk(net, x)
        se = k.std(0) / math.sqrt(members)
        assert bool(((k.mean(0) - limit).abs() <= 5 * se).all())
        assert bool(((k.mean(0) - other).abs().diagonal() > 20 * se.diagonal()).all())


def test_depth_profiles_and_condition_numbers():
    x, _ = circle_points(16)
    x0 = torch.tensor([1.0, 0.0], dtype=torch.float64)
    prof = torch.stack([normalised_ntk(Architecture(L), x0, x) for L in (1, 3, 20)])
    assert prof.shape == (3, 16)
    assert float(prof[:, 8].sub(1).abs().max()) < 1e-12  # x[8] is x0: the profile is 1 there
    torch.testing.assert_close(prof[1], ntk(x0[None], x, depth=3)[0] / ntk(x0[None], depth=3)[0, 0])
    assert float(prof[2].min()) > 0.99  # the paper's ReLU kernel is nearly constant at depth 20
    kappa = torch.stack([condition_number(Architecture(L), x) for L in (1, 3, 30)])
    assert math.isinf(float(kappa[0]))  # Theta^(1) has rank 3 < 16
    assert float(kappa[1]) == pytest.approx(float(torch.linalg.cond(ntk(x, depth=3))), rel=1e-6)
    assert float(kappa[2]) > 1e3 * float(kappa[1])
    with pytest.raises(ValueError, match="x0 must be one point"):
        normalised_ntk(Architecture(2), x[:2], x)
    with pytest.raises(ValueError, match="no finite limit"):
        condition_number(Architecture(2, parametrization="standard"), x)


def test_experiments_keep_the_device(device):
    x = X8.to(device)
    sweep = width_sweep([8], x, ensemble=2, device=device)
    assert torch.isfinite(sweep.theta_diagonal).all()
    model = copy.deepcopy(NTKMLP([2, 8, 1], device=device))
    assert Centred(model)(x).device == x.device
