"""A theory of the learning curve on MNIST: what the chapter ``book/learning_curves.md`` runs.

The NTK of :class:`Settings` (ReLU, depth 3, beta = 0.1, as the generalisation chapter) on a pool
of shipped digits: its spectrum and the target's powers (:func:`ntk_course.learning_curves.
target_powers`), kernel regression on random training sets drawn from the pool, scored on the
whole pool (the population of the theory) and on held-out digits (the generalisation chapter's
test), and the bound of Arora et al. on a two-class task. Plotting lives in :func:`plot_curves`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import torch
from scipy.stats import norm

from ..architecture import Architecture
from ..config import scale as current_scale
from ..digits import MnistSplit
from ..learning_curves import (
    arora_bound,
    arora_gram,
    extend_power_law,
    predicted_error,
    spectral_exponents,
    target_powers,
)
from ..regression import kernel_regression, one_hot_targets
from .plotting import label_values


@dataclass(frozen=True)
class Settings:
    """The chapter's experiments at one scale: ``pool`` digits for the spectrum, ``n_test``
    held-out digits, training sizes ``sizes`` on the held-out digits and ``pool_sizes`` (at most a
    quarter of the pool) on the pool, ``draws`` random training sets per
    size, the fit range ``start`` .. ``stop`` of the spectral exponents, ``depths`` for the widget
    (its pool ``widget_pool``), and ``arora_sizes`` for the bound."""

    pool: int
    n_test: int
    sizes: tuple[int, ...]
    draws: int
    start: int
    stop: int
    depths: tuple[int, ...]
    widget_pool: int
    arora_sizes: tuple[int, ...]
    pool_sizes: tuple[int, ...]
    depth: int = 3
    seed: int = 0

    @classmethod
    def for_scale(cls, scale: str | None = None) -> Settings:
        """quick (CI) or default (a laptop; the paper scale is the same)."""
        if (scale or current_scale()) == "quick":
            sizes = (100, 200, 400, 800)  # the generalisation chapter's quick sizes
            return cls(
                pool=1000,
                n_test=500,
                sizes=sizes,
                draws=3,
                start=10,
                stop=125,
                depths=(2, 3, 5),
                widget_pool=600,
                arora_sizes=sizes,
                pool_sizes=(40, 80, 160, 250),
            )
        sizes = (125, 250, 500, 1000, 2000)  # the generalisation chapter's first five
        return cls(
            pool=2500,  # above the largest size: its draws are different training sets
            n_test=2000,  # the generalisation chapter's held-out digits
            sizes=sizes,
            draws=6,
            start=10,
            stop=250,
            depths=(2, 3, 4, 5),
            widget_pool=1000,
            arora_sizes=sizes,
            pool_sizes=(60, 125, 250, 500),
        )

    @property
    def arch(self) -> Architecture:
        """ReLU, ``depth`` weight layers, beta = 0.1: the generalisation chapter's kernel."""
        return Architecture(self.depth, "relu", 0.1)


@dataclass
class Curves:
    """Spectrum, predictions and measurements for one kernel.

    ``eigenvalues``, ``powers``: the eigenvalues of K/N on the pool and the target's powers along
    the eigenfunctions; ``predicted``: the self-consistent test error at ``pool_sizes`` with the
    pool as population; ``extended``: at ``sizes``, with the spectrum continued past ``stop``;
    ``pool_errors`` (draws, len(pool_sizes)) and ``test_errors`` (draws, len(sizes)): the measured
    mean squared errors of each training set on the pool and on the held-out digits; ``test_hits``
    (draws, len(sizes), M) booleans.
    """

    sizes: tuple[int, ...]
    pool_sizes: tuple[int, ...]
    eigenvalues: torch.Tensor
    powers: torch.Tensor
    predicted: torch.Tensor
    extended: torch.Tensor
    pool_errors: torch.Tensor
    test_errors: torch.Tensor
    test_hits: torch.Tensor
    fits: tuple = field(default=())

    @property
    def alpha(self) -> float:
        return -self.fits[0].slope

    @property
    def b(self) -> float:
        return -self.fits[1].slope


def _regress(theta, theta_x, y, idx, pool):
    """Ridgeless kernel regression on the pool digits ``idx``: predictions on the pool, then on the
    test digits."""
    idx = idx.to(theta.device)
    kx = torch.cat([theta[:pool, idx], theta_x[:, idx]])
    return kernel_regression(theta[idx][:, idx], y[idx], kx)


def measure(
    split: MnistSplit,
    arch: Architecture,
    settings: Settings,
    pool: int | None = None,
    draws: int | None = None,
) -> Curves:
    """Spectrum of ``arch``'s NTK on the first ``pool`` training digits, the two predictions, and
    ``draws`` training sets per size (centred one-hot targets, ridgeless regression).

    On the pool (the theory's population): for N in ``pool_sizes``, N distinct digits drawn at
    random from the pool, scored on the whole pool. On the held-out digits, for N in ``sizes``: the
    first draw is the nested prefix of the pool (the generalisation chapter's training sets), the
    others random subsets.
    """
    pool, draws = pool or settings.pool, draws or settings.draws
    x, labels = split.x_train[:pool], split.labels_train[:pool]
    theta = arch.ntk(x)
    theta_x = arch.ntk(split.x_test, x)
    y, y_test = one_hot_targets(labels).to(theta), one_hot_targets(split.labels_test).to(theta)
    eta, v2 = target_powers(theta, y)
    sizes = tuple(s for s in settings.sizes if s <= pool)
    pool_sizes = tuple(s for s in settings.pool_sizes if 4 * s <= pool)
    stop = min(settings.stop, pool // 8)
    fits = spectral_exponents(eta, v2, settings.start, stop)
    ext = extend_power_law(eta, v2, settings.start, stop, 200_000)
    g = torch.Generator().manual_seed(settings.seed)
    pool_err, test_err, hits = [], [], []
    for draw in range(draws):
        order = torch.arange(pool) if draw == 0 else torch.randperm(pool, generator=g)
        row_p, row_t, row_h = [], [], []
        for n in sizes:
            f = _regress(theta, theta_x, y, order[:n], pool)[pool:]
            row_t.append((f - y_test).square().sum(1).mean())
            row_h.append(f.argmax(1) == split.labels_test)
        for n in pool_sizes:
            f = _regress(theta, theta_x, y, torch.randperm(pool, generator=g)[:n], pool)
            row_p.append((f[:pool] - y).square().sum(1).mean())
        pool_err.append(torch.stack(row_p))
        test_err.append(torch.stack(row_t))
        hits.append(torch.stack(row_h))
    return Curves(
        sizes,
        pool_sizes,
        eta.cpu(),
        v2.cpu(),
        predicted_error(eta, v2, pool_sizes),
        predicted_error(*ext, sizes),
        torch.stack(pool_err).cpu(),
        torch.stack(test_err).cpu(),
        torch.stack(hits).cpu(),
        fits,
    )


def arora_curve(
    split: MnistSplit, sizes: tuple[int, ...], seed: int = 0
) -> dict[str, torch.Tensor]:
    """Arora et al.'s bound for even against odd digits (labels +-1) on the first N training
    digits ("bound"), and for the same labels shuffled ("random"), beside the held-out 0-1 error
    and ramp loss min(1, max(0, 1 - y f)) of the ridgeless regression with the same Gram matrix H
    (:func:`~ntk_course.learning_curves.arora_gram`)."""
    n = max(sizes)
    h = arora_gram(torch.cat([split.x_train[:n], split.x_test]))
    sign = lambda labels: 1.0 - 2.0 * (labels % 2).to(h)  # noqa: E731  (+1 even, -1 odd)
    y, y_test = sign(split.labels_train[:n]), sign(split.labels_test)
    shuffled = y[torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(y.device)]
    out = {"bound": [], "random": [], "error": [], "ramp": []}
    for s in sizes:
        out["bound"].append(arora_bound(h[:s, :s], y[:s]))
        out["random"].append(arora_bound(h[:s, :s], shuffled[:s]))
        f = kernel_regression(h[:s, :s], y[:s], h[n:, :s])
        out["error"].append(float((f * y_test <= 0).double().mean()))
        out["ramp"].append(float((1 - f * y_test).clamp(0, 1).mean()))
    return {k: torch.tensor(v, dtype=torch.float64) for k, v in out.items()}


def plot_curves(axes: tuple[plt.Axes, plt.Axes], curves: Curves) -> None:
    """Left: on the pool, measured (mean over draws) and predicted with the pool as population.
    Right: on the held-out digits, measured and predicted with the spectrum continued. Log-log."""
    for ax, sizes, measured, predicted, where, how in (
        (
            axes[0],
            curves.pool_sizes,
            curves.pool_errors,
            curves.predicted,
            "the pool",
            "pool as population",
        ),
        (
            axes[1],
            curves.sizes,
            curves.test_errors,
            curves.extended,
            "held-out digits",
            "spectrum continued",
        ),
    ):
        n = torch.tensor(sizes, dtype=torch.float64)
        ax.loglog(n, measured.mean(0), "o", label=f"measured on {where}")
        ax.loglog(n, predicted, "--", label=f"predicted ({how})")
        label_values(ax, sizes)
        ax.set_xlabel("training digits $N$")
        ax.set_ylabel(r"mean squared error $\mathcal{E}_{\rm test}$")
        ax.legend(fontsize="small")


def window_power(effect: float, se: float, window: float) -> float:
    """Probability that a check "abs(estimate) < window" fails when the estimate is normal with mean
    ``effect`` and standard deviation ``se``: the power of the check against that alternative."""
    if not se > 0 or not window > 0:
        raise ValueError(f"need se > 0 and window > 0; got se = {se}, window = {window}")
    return float(norm.sf((window - effect) / se) + norm.cdf((-window - effect) / se))
