"""Generalisation on MNIST with the limiting kernels: what the chapter ``book/generalisation.md``
runs.

Kernel regression with the NTK Theta_infinity and the NNGP Sigma (Section 5: the t -> infinity limit
of the least-squares flow) on disjoint training and test digits of the shipped MNIST test set:
:func:`learning_curve` (test accuracy against the number N of training digits, one Cholesky factor
for every N), :func:`depth_scan` (against the depth), :func:`train_networks` (finite networks of
growing width against the kernel flow at the same time t) and :func:`early_stopping` (the flow along
t and the ridge zeta = 1/t, with clean and with partly random labels). Targets are centred one-hot
rows, the prediction is the argmax (Lee et al. 2018, 2019). The figures are drawn by
:mod:`.generalisation_plots` and re-exported here, so that ``gen.<name>`` reaches all of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from scipy.stats import norm

from ..architecture import Architecture
from ..config import scale as current_scale
from ..digits import MnistSplit
from ..flow import gradient_flow
from ..linearized import Centred
from ..regression import (
    accuracy,
    kernel_regression,
    nested_kernel_regression,
    one_hot_targets,
)
from ..training import train
from .generalisation_plots import (
    draw_errors,
    plot_depths,
    plot_early_stopping,
    plot_learning_curve,
    plot_widths,
)

KERNELS = ("NTK", "NNGP")


@dataclass(frozen=True)
class Settings:
    """The chapter's experiments at one scale (see :meth:`for_scale`); ReLU and beta = 0.1
    throughout.

    ``n_test`` held-out digits; learning curve with the kernels of :attr:`arch` (``depth`` weight
    layers) for the training sizes ``sizes``; depth scan over ``depths`` with the training sizes
    ``scan_sizes`` (the widget's grid; the last is the scan's N); networks of :attr:`net_arch`
    (``net_depth`` weight layers) and hidden ``widths`` (``ensemble`` initialisations each) on
    ``n_net`` digits, ``steps`` steps of learning rate ``lr``; early stopping on ``n_stop`` digits
    with a fraction ``noise`` of random labels, its time chosen on the last ``n_val`` digits of the
    training pool (disjoint from the ``n_stop`` training digits and from the test digits).
    """

    n_test: int
    sizes: tuple[int, ...]
    scan_sizes: tuple[int, ...]
    depths: tuple[int, ...]
    n_net: int
    widths: tuple[int, ...]
    steps: int
    depth: int = 3
    net_depth: int = 2
    ensemble: int = 4
    n_stop: int = 1000
    n_val: int = 1000
    lr: float = 2.0
    records: int = 6
    noise: float = 0.4
    seed: int = 0

    @classmethod
    def for_scale(cls, scale: str | None = None) -> Settings:
        """quick (CI), default (a laptop: learning curve to 4,000 digits, depths 2, 3, 5, 7,
        networks up to width 512 on 500 digits) or paper (a GPU: learning curve to 8,000 digits,
        depths 2 to 7, networks up to width 16,384 on 1,000 digits)."""
        s = scale or current_scale()
        if s == "quick":
            return cls(
                n_test=500,
                sizes=(100, 200, 400, 800),
                scan_sizes=(50, 100, 200, 400),
                depths=(2, 3, 4, 5),
                n_net=200,
                widths=(16, 64, 256),
                steps=60,
                n_stop=400,
                n_val=400,
                ensemble=3,
            )
        paper = cls(
            n_test=2000,
            sizes=(125, 250, 500, 1000, 2000, 4000, 8000),
            scan_sizes=(125, 250, 500, 750, 1000, 1500, 2000),
            depths=(2, 3, 4, 5, 6, 7),
            n_net=1000,
            widths=(16, 64, 256, 1024, 4096, 16384),
            steps=200,
        )
        if s == "paper":
            return paper
        # default: the paper's, smaller so that the chapter runs in about a minute on 2 CPU cores
        return replace(
            paper,
            sizes=(125, 250, 500, 1000, 2000, 4000),
            scan_sizes=(125, 250, 500, 1000, 2000),
            depths=(2, 3, 5, 7),
            n_net=500,
            widths=(16, 64, 256, 512),
        )

    @property
    def arch(self) -> Architecture:
        """The architecture of the learning curve's kernels: ReLU, ``depth``, beta = 0.1."""
        return Architecture(self.depth, "relu", 0.1)

    @property
    def net_arch(self) -> Architecture:
        """The architecture of the trained networks and of their kernel: ReLU, ``net_depth``, beta =
        0.1."""
        return Architecture(self.net_depth, "relu", 0.1)

    @property
    def t(self) -> float:
        """The time t = lr x steps the networks are trained for."""
        return self.lr * self.steps


def kernels(
    arch: Architecture, x_train: torch.Tensor, x_test: torch.Tensor
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{"NTK": (Theta(X, X), Theta(x, X)), "NNGP": (Sigma(X, X), Sigma(x, X))} of ``arch`` (Prop. 1,
    Thm. 1).

    ``x_train`` is (N, n_0), ``x_test`` (M, n_0); the blocks are (N, N) and (M, N), float64.
    Raises ValueError as :meth:`ntk_course.Architecture.kernels`.
    """
    sigma, theta = arch.kernels(x_train)
    sigma_x, theta_x = arch.kernels(x_test, x_train)
    return {"NTK": (theta, theta_x), "NNGP": (sigma, sigma_x)}


@dataclass
class Curve:
    """Predicted classes (S, M) of kernel regression for the training sizes ``sizes`` (S,), per
    kernel."""

    sizes: tuple[int, ...]
    labels_test: torch.Tensor
    predicted: dict[str, torch.Tensor] = field(default_factory=dict)

    def hits(self, name: str) -> torch.Tensor:
        """(S, M) booleans: test digit m classified correctly after training on sizes[s] digits."""
        return self.predicted[name] == self.labels_test

    def accuracy(self, name: str) -> torch.Tensor:
        return self.hits(name).to(torch.float64).mean(-1)


def learning_curve(
    split: MnistSplit, ks: dict[str, tuple[torch.Tensor, torch.Tensor]], sizes: tuple[int, ...]
) -> Curve:
    """Kernel regression (no ridge) on the first N training digits for N in ``sizes``, for each
    kernel.

    ``ks`` from :func:`kernels` on at least max(sizes) training digits; one Cholesky factor per
    kernel serves every N (:func:`ntk_course.regression.nested_kernel_regression`).
    """
    y = one_hot_targets(split.labels_train).to(split.x_train.device)
    curve = Curve(tuple(sizes), split.labels_test)
    for name, (k, kx) in ks.items():
        preds = nested_kernel_regression(k, y[: k.shape[0]], kx, sizes)
        curve.predicted[name] = torch.stack([p.argmax(-1) for p in preds])
    return curve


def depth_scan(
    split: MnistSplit,
    arch: Architecture,
    depths: tuple[int, ...],
    sizes: tuple[int, ...],
    known: dict[int, dict[str, tuple[torch.Tensor, torch.Tensor]]] | None = None,
) -> dict[int, Curve]:
    """:func:`learning_curve` for ``arch.replace(depth=L)`` at every L in ``depths``, with kernels
    on the first max(sizes) digits.

    ``known`` maps a depth to kernels already computed (on at least max(sizes) training digits);
    they are sliced instead of computed again.
    """
    n, known = max(sizes), known or {}
    out = {}
    for d in depths:
        ks = (
            {name: (k[:n, :n], kx[:, :n]) for name, (k, kx) in known[d].items()}
            if d in known
            else None
        )
        out[d] = learning_curve(
            split, ks or kernels(arch.replace(depth=d), split.x_train[:n], split.x_test), sizes
        )
    return out


@dataclass
class NetworkRun:
    """Test accuracy of trained networks and of the kernel flow at the recorded times ``t`` (R,).

    ``networks[width]`` is (E, R), one row per initialisation; ``kernel`` (R,) is the flow of the
    mean (f_0 = 0) at the same times and ``kernel_limit`` its t -> infinity accuracy.
    """

    t: torch.Tensor
    networks: dict[int, torch.Tensor]
    kernel: torch.Tensor
    kernel_limit: float
    hits: dict[int, torch.Tensor]  # (E, M) at the last time, per width
    kernel_hits: torch.Tensor  # (M,) at the last time
    limit_hits: torch.Tensor | None = None  # (M,) of kernel regression, t -> infinity


def train_networks(
    split: MnistSplit, settings: Settings, device: torch.device | str = "cpu"
) -> NetworkRun:
    """Centred networks ``Centred(settings.net_arch.network(784, width, 10))`` of each width,
    trained on the first ``n_net`` digits.

    g = f_theta - f_theta0 (:class:`ntk_course.Centred`) has the gradients, hence the NTK, of
    f_theta and starts at g_0 = 0, the mean over initialisations; its limit is the kernel flow from
    f_0 = 0 (Section 5). Networks are drawn on the CPU (seeded) and moved to ``device``, so every
    device trains the same initialisation.
    """
    n, s = settings.n_net, settings
    x, xt = split.x_train[:n].to(device, torch.float32), split.x_test.to(device, torch.float32)
    y = one_hot_targets(split.labels_train[:n]).to(device)
    record = np.unique(np.linspace(0, s.steps, s.records).round().astype(int)).tolist()
    t = torch.tensor(record, dtype=torch.float64) * s.lr
    labels = split.labels_test.to(device)
    networks, hits = {}, {}
    for width in s.widths:
        seed = torch.Generator().manual_seed(s.seed + width)
        net = Centred(
            s.net_arch.network(x.shape[1], width, 10, ensemble=s.ensemble, generator=seed).to(
                device
            )
        )
        rec = train(net, x, y.float(), steps=s.steps, lr=s.lr, record_at=record, x_eval=xt)
        g = rec.outputs  # (R, E, M, 10)
        networks[width] = accuracy(g, labels).T.cpu()
        hits[width] = (g[-1].argmax(-1) == labels).cpu()
    ks = kernels(s.net_arch, split.x_train[:n].to(device), split.x_test.to(device))
    k, kx = ks["NTK"]
    flow = gradient_flow(k, y, t.to(device), k_test_train=kx).f_test
    limit = kernel_regression(k, y, kx)
    return NetworkRun(
        t,
        networks,
        accuracy(flow, labels).cpu(),
        accuracy(limit, labels),
        hits,
        (flow[-1].argmax(-1) == labels).cpu(),
        (limit.argmax(-1) == labels).cpu(),
    )


def noisy_labels(labels: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    """``labels`` with a random ``fraction`` of them replaced by uniformly random classes 0..9
    (seeded)."""
    g = torch.Generator().manual_seed(seed)
    out = labels.clone()
    flip = (torch.rand(len(labels), generator=g) < fraction).to(labels.device)
    out[flip] = torch.randint(0, 10, (int(flip.sum()),), generator=g).to(labels.device)
    return out


def early_stopping(
    k: torch.Tensor,
    kx: torch.Tensor,
    labels_train: torch.Tensor,
    labels_test: torch.Tensor,
    t: torch.Tensor,
    k_val: torch.Tensor | None = None,
    labels_val: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The flow from f_0 = 0 along the times ``t`` (T,) and the ridge zeta = 1/t (Section 5; the
    ridge as a stand-in for early stopping, Lee et al. 2020), on test and validation digits.

    Returns (T,) accuracies "flow" and "ridge" on the test digits, (T, M) booleans "hits" and
    "ridge_hits" (which test digits each gets right) and, if ``k_val`` (V, N) and ``labels_val``
    (V,) are given, the validation accuracies "flow_val" and "ridge_val" (T,) and the indices
    "chosen" and "ridge_chosen" of the times that maximise them (the first maximum): the time a
    practitioner would pick without looking at the test digits.
    """
    y = one_hot_targets(labels_train).to(k.device)
    blocks = kx if k_val is None else torch.cat([kx, k_val.to(kx.device)])
    m = kx.shape[0]
    flow = gradient_flow(k, y, t.to(k.device), k_test_train=blocks).f_test  # (T, M + V, 10)
    ridge = torch.stack([kernel_regression(k, y, blocks, ridge=1 / float(s)) for s in t])
    out = {
        "flow": accuracy(flow[:, :m], labels_test).cpu(),
        "hits": (flow[:, :m].argmax(-1) == labels_test).cpu(),
        "ridge": accuracy(ridge[:, :m], labels_test).cpu().to(torch.float64),
        "ridge_hits": (ridge[:, :m].argmax(-1) == labels_test).cpu(),
    }
    if k_val is not None:
        if labels_val is None:
            raise ValueError("k_val needs labels_val, the labels of its rows")
        lv = labels_val.to(flow.device)
        out["flow_val"] = accuracy(flow[:, m:], lv).cpu()
        out["ridge_val"] = accuracy(ridge[:, m:], lv).cpu().to(torch.float64)
        out["chosen"] = torch.tensor(int(out["flow_val"].argmax()))
        out["ridge_chosen"] = torch.tensor(int(out["ridge_val"].argmax()))
    return out


def network_gap(hits: torch.Tensor, kernel_hits: torch.Tensor) -> tuple[float, float]:
    """Mean test accuracy of E networks minus that of the kernel, on the same M test digits, and its
    standard error with the between-network variance included.

    ``hits`` (E, M) and ``kernel_hits`` (M,) are 1 where a classifier is right. The estimate is
    mean_e(acc_e) - acc_kernel. Its variance has two parts: the test digits (the paired per-digit
    differences d_m = mean_e hits[e, m] - kernel_hits[m], var(d) / M, as in McNemar's test) and
    the initialisations (the networks' accuracies vary from draw to draw: var_e(acc_e) / E, with
    the unbiased variance over the E >= 2 networks). The two are added; the second also holds part
    of the digit noise, so the sum errs on the large side.
    """
    h = torch.as_tensor(hits, dtype=torch.float64)
    kh = torch.as_tensor(kernel_hits, dtype=torch.float64).to(h.device)
    if h.ndim != 2 or kh.ndim != 1 or h.shape[1] != kh.shape[0]:
        raise ValueError(
            f"need hits (E, M) and kernel_hits (M,); got {tuple(h.shape)}, {tuple(kh.shape)}"
        )
    e, m = h.shape
    if e < 2 or m < 2:
        raise ValueError(f"need at least two networks and two test digits; got E = {e}, M = {m}")
    d = h.mean(0) - kh
    between = h.mean(1).var() / e
    return float(d.mean()), float(math.sqrt(d.var() / m + between))


def power(effect: float, se: float, k: float, two_sided: bool = True) -> float:
    """Probability that a check "|estimate| >= k se" (or "estimate >= k se", one-sided) fires when
    the estimate is normal with mean ``effect`` and standard deviation ``se``.

    This is the power of a z-test at the threshold k standard errors against the alternative
    ``effect``; for a check that asserts the opposite ("|estimate| < k se": no difference), it is
    the probability that the assert fails when the true difference is ``effect``.
    """
    if not se > 0 or not k > 0:
        raise ValueError(f"need se > 0 and k > 0; got se = {se}, k = {k}")
    z = effect / se
    upper = float(norm.sf(k - z))
    return upper + float(norm.cdf(-k - z)) if two_sided else upper


__all__ = [
    "KERNELS",
    "Curve",
    "NetworkRun",
    "Settings",
    "depth_scan",
    "draw_errors",
    "early_stopping",
    "kernels",
    "learning_curve",
    "network_gap",
    "noisy_labels",
    "plot_depths",
    "plot_early_stopping",
    "plot_learning_curve",
    "plot_widths",
    "power",
    "train_networks",
]
