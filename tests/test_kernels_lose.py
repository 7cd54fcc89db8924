"""Tests of the chapter code of ``kernels_lose`` (learning curves of the NTK and a muP network)."""

import math

import matplotlib
import numpy as np
import pytest
import torch

from ntk_course import Architecture
from ntk_course.chapters.kernels_lose import (
    LearningCurves,
    crossover_size,
    learning_curves,
    nested_descent,
    plot_learning_curves,
    stable_steps,
)
from ntk_course.regression import kernel_regression
from ntk_course.single_index import hermite_target, relative_error, sphere_inputs
from ntk_course.training import train

matplotlib.use("Agg")


def test_nested_descent_matches_train():
    # Member j trained on the first N_j points equals a lone network trained by the library's
    # train() on those points with the same initialisation and time step.
    x = sphere_inputs(20, 4, seed=0).float()
    y = hermite_target(x, 2).float()
    arch = Architecture(2, beta=0.1, parametrization="mup")
    ens = arch.network(4, 16, ensemble=2, generator=torch.Generator().manual_seed(1))
    lone = arch.network(4, 16, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        for p_ens, p_lone in zip(ens.parameters(), lone.parameters()):
            p_lone.copy_(p_ens[1])
    nested_descent(ens, x, y, [20, 10], steps=30, etas=[1.0, 0.5])
    train(lone, x[:10], y[:10, None], steps=30, lr=0.5 * lone.lr_scale, record_at=[30])
    with torch.no_grad():
        torch.testing.assert_close(ens(x)[1], lone(x), rtol=1e-4, atol=1e-5)


def test_stable_steps():
    k = Architecture(2, beta=0.1).ntk(sphere_inputs(30, 3, seed=2))
    etas = stable_steps(k, [5, 30], 100.0)
    for n, e in zip([5, 30], etas):
        assert e == pytest.approx(1 / float(torch.linalg.eigvalsh(k[:n, :n] / n)[-1]))
    assert stable_steps(k, [30], 1e-3) == [1e-3]


def test_learning_curves_kernel_column():
    c = learning_curves([4], [8, 16], seeds=1, width=8, steps=2, test_points=50)
    assert c.kernel.shape == c.network.shape == (1, 1, 2)
    # Recompute the kernel error of N = 8 independently.
    arch = Architecture(2, beta=0.1)
    pool = sphere_inputs(16, 4, seed=1004)[:8]
    xt = sphere_inputs(50, 4, seed=999)
    f = kernel_regression(arch.ntk(pool), hermite_target(pool, 2), arch.ntk(xt, pool))
    assert c.kernel[0, 0, 0] == pytest.approx(float(relative_error(f, hermite_target(xt, 2))))


def test_crossings_and_crossover():
    sizes = np.array([10, 20, 40, 80])
    kern = np.array([[[1.0, 0.8, 0.2, 0.05]]])
    net = np.array([[[1.2, 0.4, 0.1, 0.1]]])
    c = LearningCurves(np.array([6]), sizes, kern, net, 2)
    nk, nn = c.crossings(0.3)
    assert 20 < nn[0, 0] < nk[0, 0] < 40
    # network leads at 20 and 40, kernel at 80: the curves cross between 40 and 80 where the log
    # ratio log(0.1 / e_K) = 0, e_K interpolated log-linearly: 0.2 * (0.25)^u = 0.1 at u = 1/2.
    assert crossover_size(c)[0] == pytest.approx(40 * math.sqrt(2))
    c2 = LearningCurves(np.array([6]), sizes, kern, net * 0.1, 2)
    assert math.isnan(crossover_size(c2)[0])
    fig = plot_learning_curves(c, 6, 0.3, bound=[0.9, 0.5, 0.0, 0.0])
    assert fig.axes[0].get_xlabel() and fig.axes[0].get_legend() is not None


def test_bad_input():
    with pytest.raises(ValueError, match="increasing"):
        learning_curves([4], [16, 8])
    with pytest.raises(ValueError, match="seeds"):
        learning_curves([4], [8], seeds=0)
    net = Architecture(2, parametrization="mup").network(3, 4, ensemble=2)
    with pytest.raises(ValueError, match="one value per member"):
        nested_descent(net, torch.zeros(5, 3), torch.zeros(5), [5], 1, [1.0])
