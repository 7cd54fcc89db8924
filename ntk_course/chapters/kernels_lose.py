"""Where kernels lose: learning curves of the NTK predictor and of a muP network on a single-index
target (the chapter ``kernels_lose``).

:func:`learning_curves` draws, for each input dimension n_0, seed and sample size N, the training
set x ~ uniform on the sphere of radius sqrt(n_0), y = He_k(x_1) / sqrt(k!)
(:mod:`ntk_course.single_index`), and measures the relative test error of

* the NTK predictor: ridgeless kernel regression with the limiting NTK of a two-layer ReLU network
  (the t -> infinity limit of the linearised network, Section 5 of the paper), and
* a two-layer network in the maximal-update parametrisation (``parametrization="mup"``, the
  mean-field network of the chapter ``beyond``) trained by full-batch gradient descent on the
  paper's cost, with the learning rate eta x ``lr_scale`` as in :mod:`.feature_learning`.

Both see the same training set for each seed, so their errors are paired.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..architecture import Architecture
from ..regression import kernel_regression
from ..single_index import crossing_size, hermite_target, relative_error, sphere_inputs
from .plotting import label_values, new_axes


@dataclass
class LearningCurves:
    """Relative test errors ``kernel`` and ``network``, shape (D, S, K): D dimensions n_0, S seeds
    (training sets), K sample sizes N; ``network`` is the mean over the ensemble of networks."""

    n0s: np.ndarray
    sizes: np.ndarray
    kernel: np.ndarray
    network: np.ndarray
    degree: int

    def crossings(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """The N at which each (n_0, seed) curve falls below ``level``: two (D, S) arrays."""
        return tuple(
            np.array([[crossing_size(self.sizes, c, level) for c in per_n0] for per_n0 in e])
            for e in (self.kernel, self.network)
        )


def nested_descent(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    sizes: Sequence[int],
    steps: int,
    etas: Sequence[float],
) -> None:
    """Train ensemble member j of ``model`` on the first ``sizes[j]`` points of (x, y), in place.

    Full-batch gradient descent on each member's own cost C_j = 1/(2 N_j) sum_{i < N_j}
    (f_j(x_i) - y_i)^2 (the paper's cost on the nested training set of size N_j) with the time
    step ``etas[j]``, that is the learning rate eta_j x ``model.lr_scale`` as
    :func:`ntk_course.training.train` runs it: the members are independent, so one backward pass
    of sum_j eta_j C_j at the learning rate ``lr_scale`` gives every member its own step.
    """
    n = torch.as_tensor(list(sizes), dtype=x.dtype)
    eta = torch.as_tensor(list(etas), dtype=x.dtype)
    if n.shape != (model.ensemble,) or eta.shape != n.shape:
        raise ValueError(f"sizes and etas must give one value per member ({model.ensemble})")
    if int(n.max()) > x.shape[0] or int(n.min()) < 1 or not bool((eta > 0).all()):
        raise ValueError(f"sizes must lie in [1, {x.shape[0]}] and etas be positive")
    mask = (torch.arange(x.shape[0])[None, :] < n[:, None]).to(x.dtype)
    mask = mask * (eta / (2 * n))[:, None]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=model.lr_scale)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = ((model(x)[..., 0] - y).square() * mask).sum()
        loss.backward()
        optimizer.step()
    if not math.isfinite(float(loss.detach())):
        raise ValueError("gradient descent diverged (non-finite cost); use a smaller eta")


def stable_steps(k_pool: torch.Tensor, sizes: Sequence[int], eta: float) -> list[float]:
    """min(eta, 1/lambda_max(Pi_N)) for each nested size N, Pi_N = K(X_N, X_N)/N the paper's Pi.

    Gradient descent on the linearised network is stable for time steps below 2/lambda_max; half
    of that keeps the small training sets (large Pi) of a scan from diverging.
    """
    return [min(eta, 1.0 / float(torch.linalg.eigvalsh(k_pool[:n, :n] / n)[-1])) for n in sizes]


def learning_curves(
    n0s: Sequence[int],
    sizes: Sequence[int],
    *,
    degree: int = 2,
    seeds: int = 2,
    width: int = 128,
    steps: int = 300,
    eta: float = 2.0,
    beta: float = 0.1,
    ensemble: int = 1,
    test_points: int = 1000,
) -> LearningCurves:
    """Test error against N for the NTK predictor and a muP two-layer network, per n_0 and seed.

    Parameters
    ----------
    n0s : sequence of int
        Input dimensions, each >= 2.
    sizes : sequence of int
        Increasing sample sizes N, each >= 1.
    degree : int, default 2
        k of the target He_k(x_1) / sqrt(k!).
    seeds : int, default 2
        Nested training sets per n_0: seed s draws a pool of max(sizes) points (seed 1000 (s + 1)
        + n_0) and size N trains on its first N points.
    width, steps, eta : int, int, float
        The network's hidden width n, its gradient-descent steps and time step (lr = eta x n;
        lowered to :func:`stable_steps` for the small training sets).
    beta : float, default 0.1
        The bias factor of both the kernel and the network.
    ensemble : int, default 1
        Networks (initialisations) per training set; all the networks of one pool train at once as
        one ensemble (:func:`nested_descent`).
    test_points : int, default 1000
        Test points per n_0 (seed 999).

    Returns
    -------
    LearningCurves

    Raises
    ------
    ValueError
        For sizes that are not increasing, seeds < 1, and (from the library) bad dimensions,
        widths, steps or degrees.
    """
    dims, ns = [int(d) for d in n0s], [int(n) for n in sizes]
    if not ns or any(b <= a for a, b in zip(ns, ns[1:], strict=False)) or ns[0] < 1:
        raise ValueError(f"sizes must be increasing positive integers; got {ns}")
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1; got {seeds}")
    kernel_arch = Architecture(2, beta=beta)
    net_arch = kernel_arch.replace(parametrization="mup")
    kern = np.zeros((len(dims), seeds, len(ns)))
    net = np.zeros((len(dims), seeds, len(ns), ensemble))
    for i, n0 in enumerate(dims):
        x_test = sphere_inputs(test_points, n0, seed=999)
        y_test = hermite_target(x_test, degree)
        for s in range(seeds):
            pool = sphere_inputs(ns[-1], n0, seed=1000 * (s + 1) + n0)
            y = hermite_target(pool, degree)
            k_pool, k_test = kernel_arch.ntk(pool), kernel_arch.ntk(x_test, pool)
            for j, n in enumerate(ns):
                f = kernel_regression(k_pool[:n, :n], y[:n], k_test[:, :n])
                kern[i, s, j] = float(relative_error(f, y_test))
            g = torch.Generator().manual_seed(1000 * (s + 1) + n0)
            model = net_arch.network(n0, width, ensemble=len(ns) * ensemble, generator=g)
            etas = stable_steps(k_pool, ns, eta) * ensemble
            nested_descent(model, pool.float(), y.float(), ns * ensemble, steps, etas)
            with torch.no_grad():
                out = model(x_test.float())[..., 0].reshape(ensemble, len(ns), -1)
            net[i, s] = relative_error(out, y_test).T.numpy()
    return LearningCurves(np.array(dims), np.array(ns), kern, net.mean(-1), degree)


def crossover_size(curves: LearningCurves) -> np.ndarray:
    """Per n_0, the N at which the seed-mean learning curves cross for the last time: the network
    leads (lower error) just below it and the kernel from there on, shape (D,).

    Interpolated in (log N, log ratio of the errors) between the last size where the network
    leads and the next; nan where the network still leads at the largest N or never leads.
    """
    ratio = curves.network.mean(1) / curves.kernel.mean(1)
    out = np.full(len(curves.n0s), math.nan)
    for i, row in enumerate(ratio):
        lead = np.flatnonzero(row < 1)
        if lead.size and lead[-1] + 1 < row.size:
            j = int(lead[-1])
            out[i] = crossing_size(curves.sizes[j : j + 2], 1 / row[j : j + 2], 1.0)
    return out


def plot_learning_curves(
    curves: LearningCurves, n0: int, level: float, bound: Sequence[float] | None = None
) -> plt.Figure:
    """The two learning curves of one n_0 (seed means, the seeds as thin lines), the level and, if
    given, the kernel's lower bound at each N of the grid (dotted)."""
    i = int(np.flatnonzero(curves.n0s == n0)[0])
    fig, ax = new_axes()
    for e, colour, name in (
        (curves.kernel, "C0", "NTK predictor"),
        (curves.network, "C1", "muP network"),
    ):
        ax.loglog(curves.sizes, e[i].T, color=colour, lw=0.6, alpha=0.5)
        ax.loglog(curves.sizes, e[i].mean(0), color=colour, lw=2.2, marker="o", label=name)
    ax.axhline(level, color="0.4", ls="--", label="level")
    if bound is not None:
        n = curves.sizes[np.asarray(bound) > 0]
        ax.loglog(
            n,
            np.asarray(bound)[np.asarray(bound) > 0],
            "k:",
            lw=2,
            label="lower bound for any kernel",
        )
    ax.set_xlabel("training points N")
    ax.set_ylabel("relative test error")
    ax.set_title(f"n0 = {n0}, degree k = {curves.degree}")
    ax.legend(fontsize="small", loc="lower left")
    return fig


def plot_crossings(
    curves: LearningCurves, level: float, bound: Sequence[float], dims: Sequence[float]
) -> plt.Figure:
    """The N at which each learner's curve falls below ``level``, against n_0 (log-log).

    The seeds as dots and their geometric mean joined, beside the kernel's lower bound ``bound``
    (from the projection argument) and the dimension ``dims`` of the polynomials of degree <= k.
    """
    kern, net = curves.crossings(level)
    fig, ax = new_axes()
    for n, colour, name in ((kern, "C0", "NTK predictor"), (net, "C1", "muP network")):
        for s in range(n.shape[1]):
            ax.loglog(curves.n0s, n[:, s], ls="none", marker="o", ms=3, color=colour, alpha=0.5)
        ax.loglog(curves.n0s, np.exp(np.nanmean(np.log(n), 1)), color=colour, lw=2, label=name)
    ax.loglog(curves.n0s, dims, "k--", label="dimension of degree <= k")
    ax.loglog(curves.n0s, bound, "k:", label="kernel lower bound")
    label_values(ax, curves.n0s)
    ax.set_xlabel("input dimension n0")
    ax.set_ylabel(f"training points N to reach error {level:g}")
    ax.legend(fontsize="small")
    return fig
