"""ntk_course.chapters.beyond_plots: the figures of book/beyond.md draw what they are given.

The widgets' figures must pick the entry of the value asked for (the output scale alpha, the
depth); the static figures must draw one line per curve with the data passed in."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ntk_course import Architecture, circle_points  # noqa: E402
from ntk_course.chapters import beyond_plots as bp  # noqa: E402
from ntk_course.chapters.depth import normalised_ntk  # noqa: E402
from ntk_course.chapters.laziness import LazyTraining  # noqa: E402


def _lazy() -> LazyTraining:
    g = torch.Generator().manual_seed(0)
    a, m, width = 3, 16, 5
    return LazyTraining(
        alphas=torch.tensor([0.1, 1.0, 10.0], dtype=torch.float64),
        kernel_drift=torch.tensor([1.5, 0.25, 0.0125], dtype=torch.float64),
        weight_change=torch.tensor([0.8, 0.07, 0.004], dtype=torch.float64),
        cost=torch.zeros(a, dtype=torch.float64),
        f_test=torch.randn(a, m, generator=g),
        f_kernel=torch.randn(m, generator=g),
        deviation=torch.zeros(a, dtype=torch.float64),
        w_initial=torch.randn(width, 2, generator=g),
        w_final=torch.randn(a, width, 2, generator=g),
    )


def test_draw_lazy_shows_the_run_of_the_alpha_asked_for() -> None:
    lazy = _lazy()
    x, gamma = circle_points(16)
    fig = bp.draw_lazy(1.0, lazy, gamma, x[:4], torch.zeros(4, 1))
    left, right = fig.axes[:2]
    np.testing.assert_array_equal(left.lines[1].get_ydata(), lazy.f_test[1].numpy())
    assert right.get_title() == "first layer moved by 7%, kernel by 25%"
    plt.close("all")


def test_draw_depth_asks_for_the_kernels_of_that_depth() -> None:
    x_test, gamma = circle_points(12, dtype=torch.float64)
    x0 = torch.tensor([1.0, 0.0], dtype=torch.float64)
    inits = {"paper: weight variance 1": Architecture(2), "b: weight variance 2": Architecture(3)}
    seen = []

    def predict(arch: Architecture, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
        seen.append(arch.depth)
        return torch.zeros(12, 1, dtype=torch.float64), 10.0

    fig = bp.draw_depth(7, inits, predict, x0, x_test, gamma, x_test[:3], torch.ones(3, 1))
    assert seen == [7, 7]
    np.testing.assert_allclose(
        fig.axes[0].lines[0].get_ydata(), normalised_ntk(Architecture(7), x0, x_test).numpy()
    )
    assert fig._suptitle.get_text() == "limiting NTK of depth 7"
    plt.close("all")


def test_static_figures_draw_one_line_per_curve() -> None:
    widths, g = torch.tensor([32, 64, 128]), torch.Generator().manual_seed(1)
    curves = {k: torch.rand(3, 4, generator=g, dtype=torch.float64) for k in "ab"}
    ax = bp.plot_finite_width_rates(widths, curves, {"a": -0.5, "b": -1.0})
    labels = [line.get_label() for line in ax.lines]
    assert "a, slope -0.50" in labels and "b, slope -1.00" in labels
    np.testing.assert_allclose(ax.lines[0].get_ydata(), curves["a"].mean(1).numpy())
    _, gamma = circle_points(8)
    profiles = {"p": torch.rand(3, 8, generator=g), "q": torch.ones(3, 8)}
    axes = bp.plot_depth_profiles(gamma, profiles, [1, 2, 3])
    assert [len(a.lines) for a in axes] == [3, 3]
    ax = bp.plot_condition_numbers([1, 2, 3], {"paper": torch.tensor([1e9, 10.0, 100.0])})
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [10.0, 100.0])  # depth 1 left out
    plt.close("all")
