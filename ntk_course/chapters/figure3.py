"""Figure 3 of Jacot, Gabriel & Hongler (2018), Section 6.3: convergence along a principal component.

The limiting NTK Theta_infinity^(L) of a ReLU network on a batch of N MNIST digits defines the map
Pi = Theta/N (Section 5) whose eigenfunctions f^(1), f^(2), ... are the non-centred kernel principal
components. Networks of several widths are trained by gradient descent on the least-squares cost with
the target f* = f_theta(0) + a f^(i) (the paper: a = 0.5, i = 2), so that f_0 - f* = -a f^(i) lies along
one component. In the limit the function then moves on a straight line: writing
f_t - f* = g_t + h_t with g_t along f^(i) and h_t orthogonal to it (in p_in),

    ||g_t||_{p_in} = a exp(-lam_i t),    h_t = 0.

Figure 3a plots the digits by (f^(2), f^(3)), 3b the deviation ||h_t|| and 3c the convergence ||g_t||
for each width, against the limit. The paper's batch of 512 digits is unknown; this module takes the
first ``n_digits`` of the MNIST test set shipped with the package. With pixel values in [0, 1],
depth 5 (four hidden layers), ReLU and beta = 0.1 the first three eigenvalues for 512 digits are
0.0443, 0.00118, 0.00085 (the paper: 0.0457, 0.00108, 0.00078).

Every width trains ONE ensemble ``arch.network(784, n, ensemble=E)``: the runs are batched, not
looped, and everything stays on ``device`` (CUDA when present). Time is t = lr x steps (the paper's
cost is a mean over the N digits). The chapter ``book/mnist.md`` writes the training loop of
:func:`run` on the page; this module keeps the settings, the result with its plots, and the
command's entry point.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..architecture import Architecture
from ..config import SCALES, default_device
from ..config import scale as current_scale
from ..datasets import SCALINGS, SHIPPED, mnist
from ..mlp import NTKMLP
from ..power_laws import PowerLaw, bootstrap_slope
from ..spectral import decompose_along, kernel_pca
from ..training import train
from .plotting import new_axes

#: Eigenvalues of Pi reported in Section 6.3 (n = 10,000 network, power iteration, 512 digits).
PAPER_EIGENVALUES = (0.0457, 0.00108, 0.00078)
N_EIGEN = 10  # eigenvalues/components kept in the result (the chapter's widget browses them)


@dataclass(frozen=True)
class Figure3Settings:
    """The settings of Figure 3 (Section 6.3); the defaults are the paper's.

    ``n_digits`` MNIST test digits scaled by ``scaling`` (see :func:`ntk_course.datasets.mnist`);
    ReLU networks of ``depth`` weight layers and bias factor ``beta`` (:attr:`arch`; depth 5 = four
    hidden layers of width n) for each width in ``widths``; ``ensemble`` independent initialisations
    per width; ``steps`` steps of gradient descent with learning rate ``lr`` (t = lr x steps); f_t
    recorded every ``record_every`` steps; target f* = f_theta(0) + ``amplitude`` f^(``component``)
    (component 1 is the largest).

    Raises
    ------
    ValueError
        For a setting out of range (the architecture's own checks, then the counts, the learning
        rate, the component and the amplitude), saying which and what was expected.
    """

    n_digits: int = 512
    depth: int = 5
    scaling: str = "pixel"
    widths: tuple[int, ...] = (100, 1000, 10000)
    ensemble: int = 2
    steps: int = 4000
    lr: float = 1.0
    beta: float = 0.1
    record_every: int = 20
    component: int = 2
    amplitude: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        arch = self.arch  # depth >= 1 and beta >= 0, checked by the architecture
        if arch.depth < 2:
            raise ValueError(
                f"depth must be at least 2 (a hidden layer to widen); got {arch.depth}"
            )
        if not 2 <= self.n_digits <= SHIPPED:
            raise ValueError(
                f"n_digits must lie in [2, {SHIPPED}] (the digits shipped with the package); "
                f"got {self.n_digits}"
            )
        if self.scaling not in SCALINGS:
            raise ValueError(f"unknown scaling {self.scaling!r}; expected one of {SCALINGS}")
        widths = tuple(self.widths) if not isinstance(self.widths, int | str) else ()
        if not widths:
            raise ValueError(
                f"widths must be a non-empty sequence of integers >= 1; got {self.widths!r}"
            )
        object.__setattr__(self, "widths", tuple(arch.widths(1, w)[1] for w in widths))  # each >= 1
        for name in ("ensemble", "steps", "record_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {getattr(self, name)}")
        if not self.lr > 0 or not math.isfinite(self.lr):
            raise ValueError(f"lr must be a finite number > 0; got {self.lr}")
        if not 1 <= self.component <= self.n_digits:
            raise ValueError(
                f"component must lie in [1, n_digits = {self.n_digits}]; got {self.component}"
            )
        if not self.amplitude > 0 or not math.isfinite(self.amplitude):
            raise ValueError(f"amplitude must be a finite number > 0; got {self.amplitude}")
        if self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0; got {self.seed}")

    @property
    def arch(self) -> Architecture:
        """The architecture of the networks and of their limit: ReLU, ``depth``, ``beta``, NTK."""
        return Architecture(self.depth, "relu", self.beta)

    @property
    def record_at(self) -> list[int]:
        """The steps at which f_t is recorded: every ``record_every``-th, and the last."""
        return sorted(set(range(0, self.steps + 1, self.record_every)) | {self.steps})

    @classmethod
    def for_scale(cls, scale: str | None = None) -> Figure3Settings:
        """Settings for a scale: ``quick`` (seconds on 2 CPU cores: 64 digits, widths 20 and 200),
        ``default`` (a laptop: 128 digits, widths 100 and 1,000), both with four runs per width (so
        that the spread of the runs gives the sampling error of the width exponent) and 400 steps of
        lr 10, so t still reaches 4,000; or ``paper`` (Section 6.3 exactly). ``None`` reads
        ``NTK_COURSE_SCALE``."""
        name = current_scale() if scale is None else scale
        if name not in SCALES:
            raise ValueError(f"unknown scale {name!r}; expected one of {SCALES}")
        if name == "quick":
            return cls(
                n_digits=64, widths=(20, 200), ensemble=4, steps=400, lr=10.0, record_every=10
            )
        if name == "default":
            return cls(
                n_digits=128, widths=(100, 1000), ensemble=4, steps=400, lr=10.0, record_every=5
            )
        return cls()


@dataclass
class DigitsPCA:
    """Non-centred kernel PCA of a batch of digits w.r.t. Theta_infinity (Sections 5 and 6.3).

    ``eigenvalues`` (K,) of Pi = Theta/N, descending; ``components`` (N, K) the p_in-normalised
    f^(1..K) on the digits ((1/N) sum_j f^(i)(x_j)^2 = 1); ``labels`` (N,) the digits' classes;
    ``images`` (N, 784) the scaled inputs (on the CPU, float32); ``seconds`` the time it took.
    """

    eigenvalues: torch.Tensor
    components: torch.Tensor
    labels: torch.Tensor
    images: torch.Tensor
    seconds: float = 0.0


def digits_pca(
    arch: Architecture,
    n_digits: int = 512,
    *,
    scaling: str = "pixel",
    offset: int = 0,
    n_components: int = N_EIGEN,
    device: torch.device | str | None = None,
) -> DigitsPCA:
    """Kernel PCA of digits ``offset .. offset + n_digits - 1`` w.r.t. ``arch.ntk`` (Sections 5, 6.3).

    Parameters
    ----------
    arch : Architecture
        Whose limiting NTK Theta_infinity^(L) (Theorem 1) defines Pi = Theta / N.
    n_digits : int
        N, the number of MNIST test digits (Section 6.3 uses 512; its batch is unknown).
    scaling, offset
        As :func:`ntk_course.datasets.mnist`.
    n_components : int
        K <= N, the components kept.
    device
        Where Theta is computed (float64; CUDA when present); the result is on the CPU.

    Returns
    -------
    DigitsPCA
        Eigenvalues (K,), components (N, K), labels (N,), images (N, 784).

    Raises
    ------
    ValueError
        If ``n_components`` exceeds ``n_digits``, and for what :func:`~ntk_course.datasets.mnist`
        and :meth:`~ntk_course.Architecture.ntk` refuse.
    """
    if n_components > n_digits:
        raise ValueError(f"n_components must be at most n_digits = {n_digits}; got {n_components}")
    dev = torch.device(device) if device is not None else default_device()
    start = time.perf_counter()
    x, labels = mnist(n_digits, scaling=scaling, offset=offset, device=dev)
    pca = kernel_pca(arch.ntk(x), n_components)
    return DigitsPCA(
        eigenvalues=pca.eigenvalues.cpu(),
        components=pca.components.cpu(),
        labels=labels.cpu(),
        images=x.to(torch.float32).cpu(),
        seconds=time.perf_counter() - start,
    )


@dataclass
class Figure3Result:
    """What :func:`run` measured (CPU tensors, float64).

    ``eigenvalues`` (K,) of Pi = Theta/N, descending, and ``components`` (N, K) the p_in-normalised
    f^(1..K) on the digits (K = min(10, N)); ``labels`` (N,) the digits' classes. ``t`` (R,) are the
    recorded times. For each width: ``g_norm[n]`` and ``h_norm[n]`` of shape (E, R) hold
    ||g_t||_{p_in} and ||h_t||_{p_in} of the E networks; ``rate[n]`` (E, 2) the empirical decay
    rate along f^(i), <f^(i), Theta_t f^(i)>_{p_in} / N, at the start and at the end of training
    (the limit is lam_i); ``loss[n]`` (E,) the final cost; ``seconds[n]`` the training time.
    Start one with :meth:`start` and fill it width by width with :meth:`add`.
    """

    settings: Figure3Settings
    eigenvalues: torch.Tensor
    components: torch.Tensor
    labels: torch.Tensor
    t: torch.Tensor
    g_norm: dict[int, torch.Tensor] = field(default_factory=dict)
    h_norm: dict[int, torch.Tensor] = field(default_factory=dict)
    rate: dict[int, torch.Tensor] = field(default_factory=dict)
    loss: dict[int, torch.Tensor] = field(default_factory=dict)
    seconds: dict[int, float] = field(default_factory=dict)
    kernel_seconds: float = 0.0
    device: str = "cpu"

    @classmethod
    def start(cls, settings: Figure3Settings, pca: DigitsPCA) -> Figure3Result:
        """An empty result for ``settings`` on the digits of ``pca``, with the recorded times
        t = lr x ``settings.record_at``."""
        if not isinstance(settings, Figure3Settings):
            raise ValueError(f"settings must be a Figure3Settings; got {type(settings).__name__}")
        return cls(
            settings=settings,
            eigenvalues=pca.eigenvalues.cpu(),
            components=pca.components.cpu(),
            labels=pca.labels.cpu(),
            t=torch.tensor(settings.record_at, dtype=torch.float64) * settings.lr,
            kernel_seconds=pca.seconds,
        )

    def add(
        self,
        width: int,
        g: torch.Tensor,
        h: torch.Tensor,
        rate: torch.Tensor,
        loss: torch.Tensor,
        seconds: float = 0.0,
    ) -> None:
        """Store one width's ensemble: ``g``, ``h`` (R, E) from :func:`ntk_course.decompose_along`,
        ``rate`` (E, 2) from :func:`rate_along` before and after training, ``loss`` (E,)."""
        if g.shape != h.shape or g.shape[0] != self.t.shape[0]:
            raise ValueError(
                f"g and h must be (R, E) with R = {self.t.shape[0]} recorded times; "
                f"got {tuple(g.shape)} and {tuple(h.shape)}"
            )
        self.g_norm[width] = g.T.to(torch.float64).cpu()
        self.h_norm[width] = h.T.to(torch.float64).cpu()
        self.rate[width] = rate.to(torch.float64).cpu()
        self.loss[width] = loss.to(torch.float64).cpu()
        self.seconds[width] = seconds

    @property
    def lam(self) -> float:
        """lam_i of the component the networks were trained along."""
        return float(self.eigenvalues[self.settings.component - 1])

    def limit(self, t: object | None = None) -> torch.Tensor:
        """The infinite-width prediction ||g_t||_{p_in} = a exp(-lam_i t) (at the recorded times by default)."""
        tt = self.t if t is None else torch.as_tensor(t, dtype=torch.float64)
        return self.settings.amplitude * torch.exp(-self.lam * tt)

    def max_deviation(self) -> dict[int, float]:
        """max over runs and times of ||h_t||_{p_in}, per width: the distance from the straight line."""
        return {n: float(h.max()) for n, h in self.h_norm.items()}

    def to_json_dict(self) -> dict[str, object]:
        """Settings, eigenvalues (with the paper's) and per-width curves as plain JSON types."""
        return {
            "figure": 3,
            "section": "6.3",
            "settings": asdict(self.settings),
            "device": self.device,
            "eigenvalues": self.eigenvalues[:3].tolist(),
            "paper_eigenvalues": list(PAPER_EIGENVALUES),
            "t": self.t.tolist(),
            "limit_g_norm": self.limit().tolist(),
            "kernel_seconds": self.kernel_seconds,
            "widths": {
                str(n): {
                    "g_norm": self.g_norm[n].tolist(),
                    "h_norm": self.h_norm[n].tolist(),
                    "max_h_norm": float(self.h_norm[n].max()),
                    "rate_start_end": self.rate[n].tolist(),
                    "final_loss": self.loss[n].tolist(),
                    "seconds": self.seconds[n],
                }
                for n in self.g_norm
            },
        }


def rate_along(model: NTKMLP, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The decay rate along u, <u, Theta u>_{p_in} / N = u^T Theta u / N^2 (Section 6.3), per network.

    Theta = J J^T with J the (N, P) Jacobian of the outputs, so u^T Theta u = ||J^T u||^2 is the squared
    norm of the gradient of sum_j u_j f(x_j): one backward pass, no N x N kernel. For the limiting
    kernel and u = f^(i) (p_in-normalised) it is lam_i.

    Parameters
    ----------
    model : NTKMLP
        One network or an ensemble of E, with one output.
    x : torch.Tensor
        (N, n_0) inputs in the model's dtype.
    u : torch.Tensor
        (N,) the direction, p_in-normalised ((1/N) sum u_j^2 = 1).

    Returns
    -------
    torch.Tensor
        (E,) float64 for an ensemble, () for one network.
    """
    params = list(model.parameters())
    out = model(x)[..., 0]  # (E, N)
    grads = torch.autograd.grad((out * u.to(out.dtype)).sum(), params)
    sq = sum(g.to(torch.float64).square().flatten(1 if out.ndim == 2 else 0).sum(-1) for g in grads)
    return sq / u.shape[0] ** 2


def run(
    settings: Figure3Settings, *, device: torch.device | str | None = None, progress: bool = False
) -> Figure3Result:
    """Compute Figure 3: the kernel PCA of the digits and the training of each width along f^(i).

    The loop ``book/mnist.md`` shows: Theta_infinity on the digits and its kernel PCA
    (:func:`digits_pca`); then for each width n one ensemble of E networks ``arch.network(784, n)``,
    each with its own target f* = f_theta(0) + a f^(i), trained by full-batch gradient descent, f_t
    on the digits recorded and split into g_t + h_t (:func:`ntk_course.decompose_along`).
    """
    if not isinstance(settings, Figure3Settings):
        raise ValueError(f"settings must be a Figure3Settings; got {type(settings).__name__}")
    s, arch = settings, settings.arch
    dev = torch.device(device) if device is not None else default_device()
    pca = digits_pca(
        arch,
        s.n_digits,
        scaling=s.scaling,
        n_components=min(max(N_EIGEN, s.component), s.n_digits),
        device=dev,
    )
    x, u = (
        pca.images.to(dev),
        pca.components[:, s.component - 1].to(dev),
    )  # x in float32, the networks' dtype
    result = Figure3Result.start(s, pca)
    result.device = str(dev)
    for k, n in enumerate(s.widths):
        begin = time.perf_counter()
        gen = torch.Generator(device=dev).manual_seed(s.seed + 1000 * k)
        net = arch.network(x.shape[1], n, ensemble=s.ensemble, generator=gen, device=dev)
        rate0 = rate_along(net, x, u)
        with torch.no_grad():
            target = net(x) + s.amplitude * u.float()[:, None]  # (E, N, 1): each network's own f*
        rec = train(
            net, x, target, steps=s.steps, lr=s.lr, record_at=s.record_at, progress=progress
        )
        g, h, _ = decompose_along(
            rec.outputs[..., 0].double() - target[..., 0].double(), torch.zeros_like(u), u
        )
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        result.add(
            n,
            g,
            h,
            torch.stack((rate0, rate_along(net, x, u)), 1),
            rec.loss[-1],
            time.perf_counter() - begin,
        )
        del net, rec
    return result


# ---------------------------------------------------------------- plots


def _axes(ax: plt.Axes | None, width: float = 7.0, height: float = 4.2) -> plt.Axes:
    if ax is not None:
        return ax
    _, ax = new_axes(width=width, height=height)
    return ax


def plot_components(
    result: Figure3Result | DigitsPCA, ax: plt.Axes | None = None, *, i: int = 2, j: int = 3
) -> plt.Axes:
    """Figure 3a: the digits at (f^(i)(x), f^(j)(x)), coloured by their label (default: 2nd and 3rd).

    ``result`` is a :class:`Figure3Result` or a :class:`DigitsPCA` (anything with ``components``
    (N, K) and ``labels`` (N,)).
    """
    k = result.components.shape[1]
    for name, c in (("i", i), ("j", j)):
        if not 1 <= c <= k:
            raise ValueError(f"{name} must lie in [1, {k}], the components kept; got {c}")
    ax = _axes(ax, 6.0, 5.0)
    cmap = plt.get_cmap("tab10")
    for d in range(10):
        sel = result.labels == d
        if bool(sel.any()):
            ax.scatter(
                result.components[sel, i - 1],
                result.components[sel, j - 1],
                s=14,
                color=cmap(d),
                label=str(d),
                alpha=0.85,
            )
    ax.set_xlabel(f"$f^{{({i})}}(x)$")
    ax.set_ylabel(f"$f^{{({j})}}(x)$")
    ax.legend(
        title="digit", loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, markerscale=1.5
    )
    ax.set_title(f"Kernel PCA of {result.components.shape[0]} digits")
    return ax


def _width_colors(widths: list[int]) -> dict[int, object]:
    cmap = plt.get_cmap("viridis")
    return {
        n: cmap(0.15 + 0.65 * k / max(1, len(widths) - 1)) for k, n in enumerate(sorted(widths))
    }


def _curves(result: Figure3Result, values: dict[int, torch.Tensor], ax: plt.Axes) -> None:
    colors = _width_colors(list(values))
    for n in sorted(values):
        for e, curve in enumerate(values[n]):
            ax.plot(
                result.t, curve, color=colors[n], lw=1.4, label=f"$n = {n:,}$" if e == 0 else None
            )
    ax.set_xlabel("$t$")


def plot_deviation(result: Figure3Result, ax: plt.Axes | None = None) -> plt.Axes:
    """Figure 3b: ||h_t||_{p_in}, the distance from the straight line, for each width and run."""
    ax = _axes(ax)
    _curves(result, result.h_norm, ax)
    ax.axhline(0.0, color="tab:blue", lw=2, label=r"$n = \infty$")
    ax.set_ylabel(r"$\|h_t\|_{p^{in}}$")
    ax.set_title("Deviation from the straight line")
    ax.legend()
    return ax


def plot_convergence(result: Figure3Result, ax: plt.Axes | None = None) -> plt.Axes:
    """Figure 3c: ||g_t||_{p_in} along f^(i) for each width and run, and the limit a exp(-lam_i t)."""
    ax = _axes(ax)
    _curves(result, result.g_norm, ax)
    tt = torch.linspace(0, float(result.t[-1]), 400, dtype=torch.float64)
    ax.plot(
        tt,
        result.limit(tt),
        color="tab:blue",
        lw=2.2,
        ls="--",
        label=rf"$n = \infty$: ${result.settings.amplitude:g}\,e^{{-\lambda_{result.settings.component} t}}$",
    )
    ax.set_ylabel(r"$\|g_t\|_{p^{in}}$")
    ax.set_title(f"Convergence along $f^{{({result.settings.component})}}$")
    ax.legend()
    return ax


def deviation_slope(result: Figure3Result) -> PowerLaw:
    """The width exponent s of max_t ||h_t||_{p_in} ~ c n^s, fitted to each width's mean over runs, with
    the bootstrap standard error of s from the spread of the runs (at least 2 per width).

    The fluctuations of a width-n network around the limit are O(n^{-1/2}) (Theorems 1 and 2), so
    s = -1/2 is the prediction.
    """
    widths = sorted(result.h_norm)
    if len(widths) < 2 or result.settings.ensemble < 2:
        raise ValueError(
            f"need at least two widths and two runs per width; got widths {widths}, "
            f"{result.settings.ensemble} runs"
        )
    return bootstrap_slope(widths, torch.stack([result.h_norm[n].max(1).values for n in widths]))


def straight_line_gap(result: Figure3Result) -> np.ndarray:
    """Per width (sorted), the max over runs and times of ||g_t|| - limit, relative to the amplitude."""
    lim = result.limit()
    return np.array(
        [
            float((result.g_norm[n] - lim).abs().max()) / result.settings.amplitude
            for n in sorted(result.g_norm)
        ]
    )


__all__ = [
    "PAPER_EIGENVALUES",
    "DigitsPCA",
    "Figure3Result",
    "Figure3Settings",
    "deviation_slope",
    "digits_pca",
    "plot_components",
    "plot_convergence",
    "plot_deviation",
    "rate_along",
    "run",
    "straight_line_gap",
]
