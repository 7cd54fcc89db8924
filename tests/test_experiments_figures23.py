"""Tests of ntk_course.chapters.figure2 and figure3 (Sections 6.2 and 6.3) at tiny sizes.

Each statistical tolerance is justified where it is used; all draws are seeded, so the tests are
deterministic, and the tolerances say how unlikely a failure would be for another seed.
"""

from __future__ import annotations

import json
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ntk_course.chapters import figure2, figure3  # noqa: E402
from ntk_course.digits import SHIPPED  # noqa: E402

# ---------------------------------------------------------------- settings


def test_paper_scales_are_the_papers_settings() -> None:
    s2 = figure2.Figure2Settings.for_scale("paper")
    assert (s2.depth, s2.widths, s2.ensemble, s2.steps, s2.lr, s2.beta, s2.n_train) == (
        4,
        (50, 1000),
        10,
        1000,
        1.0,
        0.1,
        4,
    )
    s3 = figure3.Figure3Settings.for_scale("paper")
    assert (
        s3.n_digits,
        s3.depth,
        s3.widths,
        s3.ensemble,
        s3.steps,
        s3.lr,
        s3.beta,
        s3.component,
        s3.amplitude,
    ) == (512, 5, (100, 1000, 10000), 2, 4000, 1.0, 0.1, 2, 0.5)
    # every scale reaches the paper's time t = lr x steps for Figure 3 (the quick one with fewer
    # steps)
    for scale in ("quick", "default"):
        s = figure3.Figure3Settings.for_scale(scale)
        assert s.lr * s.steps == 4000.0


def test_for_scale_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NTK_COURSE_SCALE", "quick")
    assert figure2.Figure2Settings.for_scale() == figure2.Figure2Settings.for_scale("quick")
    assert figure3.Figure3Settings.for_scale() == figure3.Figure3Settings.for_scale("quick")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(widths=()), "widths"),
        (dict(widths=(50, 0)), "width"),
        (dict(widths=5), "widths"),
        (dict(ensemble=1), "ensemble"),
        (dict(steps=0), "steps"),
        (dict(lr=0.0), "lr"),
        (dict(lr=-1.0), "lr"),
        (dict(beta=0.0), "beta"),
        (dict(depth=1), "depth"),
        (dict(n_circle=4), "n_circle"),
        (dict(seed=-1), "seed"),
        (dict(lr=float("nan")), "lr"),
    ],
)
def test_figure2_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        figure2.Figure2Settings(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(widths=()), "widths"),
        (dict(widths=(10, -1)), "width"),
        (dict(n_digits=1), "n_digits"),
        (dict(n_digits=SHIPPED + 1), "n_digits"),
        (dict(scaling="raw"), "scaling"),
        (dict(component=0), "component"),
        (dict(n_digits=8, component=9), "component"),
        (dict(amplitude=0.0), "amplitude"),
        (dict(record_every=0), "record_every"),
        (dict(ensemble=0), "ensemble"),
        (dict(lr=0.0), "lr"),
        (dict(depth=1), "depth"),
        (dict(beta=-0.1), "beta"),
    ],
)
def test_figure3_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        figure3.Figure3Settings(**kwargs)


def test_bad_scale_and_bad_run_arguments() -> None:
    with pytest.raises(ValueError, match="scale"):
        figure2.Figure2Settings.for_scale("huge")
    with pytest.raises(ValueError, match="scale"):
        figure3.Figure3Settings.for_scale("huge")
    with pytest.raises(ValueError, match="Figure2Settings"):
        figure2.run(figure3.Figure3Settings())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Figure3Settings"):
        figure3.run(figure2.Figure2Settings())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_components"):
        figure3.digits_pca(figure3.Figure3Settings().arch, 8, n_components=9)
    one_run = figure3.Figure3Result(
        figure3.Figure3Settings(ensemble=1),
        torch.ones(2),
        torch.ones(2, 2),
        torch.zeros(2),
        torch.zeros(1),
        h_norm={1: torch.ones(1, 1), 2: torch.ones(1, 1)},
    )
    with pytest.raises(ValueError, match="two runs"):
        figure3.deviation_slope(one_run)


# ---------------------------------------------------------------- Figure 2


@pytest.fixture(scope="module")
def fig2() -> figure2.Figure2Result:
    # Width 256, 10 initialisations, t = 150: the Gaussian at t differs from t = infinity by
    # ~e^{-0.04 t} ~ 3e-3.
    s = figure2.Figure2Settings(widths=(8, 256), ensemble=10, steps=150, n_circle=64, seed=1)
    return figure2.run(s, device="cpu")


def test_figure2_shapes_and_limit(fig2: figure2.Figure2Result) -> None:
    s = fig2.settings
    assert fig2.band.shape == (3, s.n_circle) and fig2.outputs[256].shape == (
        s.ensemble,
        s.n_circle,
    )
    # P10 <= P50 <= P90 everywhere, P50 is the mean (a Gaussian), the eigenvalues of Theta/N are
    # positive.
    assert bool((fig2.band[0] <= fig2.band[1]).all()) and bool((fig2.band[1] <= fig2.band[2]).all())
    torch.testing.assert_close(fig2.band[1], fig2.mean, rtol=0, atol=1e-12)
    assert bool((fig2.eigenvalues > 0).all())
    # The limit interpolates: at the training angles (on the grid, 64 divisible by 8) the variance
    # is 0 and the mean is the target, up to the round-off of a 4 x 4 Cholesky solve.
    idx = [int(torch.argmin((fig2.gamma - g).abs())) for g in fig2.gamma_train]
    assert float(fig2.covariance.diagonal()[idx].abs().max()) < 1e-10
    torch.testing.assert_close(fig2.mean[idx], fig2.y_train, rtol=0, atol=1e-10)
    # t = 200 is not infinity, but e^{-lambda_min t} (lambda_min ~ 0.040) times |y| = 0.4 bounds the
    # gap.
    bound = 0.4 * math.exp(-float(fig2.eigenvalues.min()) * s.t) * 4
    assert 0 < fig2.finite_time_gap < bound


def test_figure2_ensemble_mean_matches_the_finite_time_gaussian(
    fig2: figure2.Figure2Result,
) -> None:
    # The mean of E = 10 independent networks has standard deviation sd_t(x)/sqrt(10) at each x.
    # Over 64 correlated grid points a 5-sigma bound fails with probability < 1e-4 per seed for
    # exact Gaussian draws; the finite-width bias at n = 256 (the kernel's motion: about one
    # standard deviation of the limit along one direction, book/least_squares.md, figure2_bias) is
    # at most about 0.02 on the circle, well inside the bound. A wrong mean (e.g. 0, or the targets'
    # sign flipped) is off by up to 0.4, i.e. > 10 sd.
    f = fig2.outputs[256]
    sd = fig2.covariance_t.diagonal().clamp_min(0).sqrt()
    bound = 5 * sd.max() / math.sqrt(f.shape[0])
    err = (f.mean(0) - fig2.mean_t).abs().max()
    assert err < bound, (float(err), float(bound))


def test_figure2_wide_networks_pass_the_chi_square_check(fig2: figure2.Figure2Result) -> None:
    check = figure2.gaussian_check(fig2, 256)
    assert check["dof"] == 80 and 0.95 < check["variance_share"] < 1.0
    assert check["low"] < check["ratio"] < check["high"], check
    # Width 8 is far from the limit: its networks spread much more than the Gaussian allows.
    narrow = figure2.gaussian_check(fig2, 8)
    assert narrow["ratio"] > narrow["high"], narrow


@pytest.mark.parametrize("dof, factor", [(40, 1.35), (80, 0.65), (160, 1.35), (40, 1.0)])
def test_chi2_power_matches_a_simulated_test(dof: int, factor: float) -> None:
    # Simulate the test on z's whose spread is off by `factor`: Q = factor^2 chi2(dof), rejected
    # outside the central 99.9 % of chi2(dof). 40,000 draws estimate the rejection rate p within
    # sqrt(p (1 - p) / 40000) <= 0.0025; allow 5 of those. At factor 1 the rate is 1 - level
    # = 0.001.
    from scipy.stats import chi2

    q = factor**2 * np.random.default_rng(dof).chisquare(dof, 40_000)
    lo, hi = chi2.ppf([0.0005, 0.9995], dof)
    simulated = float(((q < lo) | (q > hi)).mean())
    assert figure2.chi2_power(dof, factor) == pytest.approx(simulated, abs=0.0125)
    with pytest.raises(ValueError, match="sd_factor"):
        figure2.chi2_power(dof, 0.0)


def test_figure2_from_json_recomputes_the_limit(fig2: figure2.Figure2Result) -> None:
    back = figure2.from_json(json.loads(json.dumps(fig2.to_json_dict())))
    torch.testing.assert_close(back.covariance, fig2.covariance)
    torch.testing.assert_close(back.outputs[256], fig2.outputs[256], rtol=0, atol=0)
    assert figure2.gaussian_check(back, 256) == figure2.gaussian_check(fig2, 256)
    with pytest.raises(ValueError, match="Figure 2"):
        figure2.from_json({"figure": 3})


def test_figure2_json_plot_and_errors(fig2: figure2.Figure2Result) -> None:
    d = json.loads(json.dumps(fig2.to_json_dict()))
    assert d["figure"] == 2 and set(d["widths"]) == {"8", "256"} and len(d["band_infinity"]) == 3
    ax = figure2.plot(fig2)
    assert ax.get_xlabel() == r"$\gamma$" and len(ax.get_legend().get_texts()) == 5
    assert (
        len(ax.get_lines()) == 2 * 10 + 3
    )  # at most 10 networks per width, and the three percentiles
    assert len(figure2.plot(fig2, max_curves=3).get_lines()) == 2 * 3 + 3
    figure2.plot(fig2, band="t")
    plt.close("all")
    with pytest.raises(ValueError, match="band"):
        figure2.plot(fig2, band="zero")
    with pytest.raises(ValueError, match="width"):
        figure2.gaussian_check(fig2, 3)
    with pytest.raises(ValueError, match="n_directions"):
        figure2.gaussian_check(fig2, 256, n_directions=0)
    with pytest.raises(ValueError, match="level"):
        figure2.gaussian_check(fig2, 256, level=1.0)


# ---------------------------------------------------------------- Figure 3


@pytest.fixture(scope="module")
def fig3() -> figure3.Figure3Result:
    s = figure3.Figure3Settings(
        n_digits=32, widths=(16, 256), ensemble=2, steps=100, lr=10.0, record_every=10
    )
    return figure3.run(s, device="cpu")


def test_figure3_spectrum(fig3: figure3.Figure3Result) -> None:
    lam = fig3.eigenvalues
    assert bool((lam > 0).all()) and bool((lam.diff() <= 0).all())
    # p_in-normalised and orthogonal components: (1/N) F^T F = Id up to float64 round-off.
    gram = fig3.components.T @ fig3.components / fig3.components.shape[0]
    torch.testing.assert_close(gram, torch.eye(gram.shape[0], dtype=gram.dtype), rtol=0, atol=1e-10)
    assert fig3.lam == float(lam[1])


def test_figure3_starts_on_the_line_and_wider_deviates_less(fig3: figure3.Figure3Result) -> None:
    # f_0 - f* = -0.5 f^(2) by construction, up to float32 rounding of the target (~1e-7).
    for n in fig3.g_norm:
        torch.testing.assert_close(
            fig3.g_norm[n][:, 0], torch.full((2,), 0.5, dtype=torch.float64), rtol=0, atol=1e-5
        )
        assert float(fig3.h_norm[n][:, 0].max()) < 1e-5
    # Fluctuations around the limit scale like 1/sqrt(n): 16x the width should divide the deviation
    # by ~4; we only ask for a factor 2, so two runs per width leave a wide margin.
    dev = fig3.max_deviation()
    assert dev[256] < 0.5 * dev[16], dev
    # and the progress along f^(2) of the wider network is closer to 0.5 exp(-lambda_2 t)
    gap = figure3.straight_line_gap(fig3)
    assert gap[1] < gap[0]
    # The fitted exponent is the slope through the two widths' mean maxima, with a finite error bar.
    fit = figure3.deviation_slope(fig3)
    means = [float(fig3.h_norm[n].max(1).values.mean()) for n in (16, 256)]
    assert fit.slope == pytest.approx(math.log(means[1] / means[0]) / math.log(16), rel=1e-9)
    assert 0 < fit.std_error < 1
    torch.testing.assert_close(fig3.limit(), 0.5 * torch.exp(-fig3.lam * fig3.t))


def test_figure3_json_and_plots(fig3: figure3.Figure3Result) -> None:
    d = json.loads(json.dumps(fig3.to_json_dict()))
    assert d["figure"] == 3 and d["paper_eigenvalues"] == list(figure3.PAPER_EIGENVALUES)
    assert len(d["widths"]["16"]["g_norm"][0]) == len(d["t"]) == 11
    assert figure3.plot_deviation(fig3).get_xlabel() == "$t$"
    assert figure3.plot_convergence(fig3).get_xlabel() == "$t$"
    assert figure3.plot_components(fig3, i=3, j=4).get_xlabel() == "$f^{(3)}(x)$"
    plt.close("all")
    with pytest.raises(ValueError, match="i must lie in"):
        figure3.plot_components(fig3, i=0)
    with pytest.raises(ValueError, match="j must lie in"):
        figure3.plot_components(fig3, j=fig3.components.shape[1] + 1)


def test_digits_pca_is_the_course_reproduction_of_the_paper() -> None:
    # Depth 5, pixel scaling, first 512 digits: the numbers quoted in the brief and the MNIST
    # chapter.
    pca = figure3.digits_pca(figure3.Figure3Settings().arch, 512, n_components=3, device="cpu")
    torch.testing.assert_close(
        pca.eigenvalues,
        torch.tensor([0.04430, 0.001176, 0.000848], dtype=torch.float64),
        rtol=5e-3,
        atol=0,
    )
    assert pca.images.shape == (512, 784) and pca.labels.shape == (512,)


def test_paper_results_reads_the_committed_run() -> None:
    from ntk_course.chapters.stored import paper_results

    fig2, fig3 = paper_results("figure2"), paper_results("figure3")
    assert fig2["figure"] == 2 and fig3["figure"] == 3 and "device_name" in fig3["environment"]
    # The stored Figure 2 functions, tested again with this edition's check: the analytic limit is
    # recomputed, so the check does not depend on anything the GPU run wrote but the networks'
    # outputs.
    stored = figure2.from_json(fig2)
    assert sorted(stored.outputs) == [50, 1000] and stored.outputs[1000].shape == (10, 200)
    wide, narrow = figure2.gaussian_check(stored, 1000), figure2.gaussian_check(stored, 50)
    assert wide["low"] < wide["ratio"] < wide["high"] < narrow["ratio"]
    with pytest.raises(ValueError, match="unknown figure"):
        paper_results("figure4")
