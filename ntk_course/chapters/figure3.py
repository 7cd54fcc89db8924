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

Every width trains ONE ensemble ``NTKMLP(..., ensemble=n_runs)``: the runs are batched, not looped,
and everything stays on ``device`` (CUDA when present). Time is t = lr x steps (the paper's cost is a
mean over the N digits).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import torch

from .._checks import non_negative, positive_int
from ..config import SCALES, default_device
from ..config import scale as current_scale
from ..datasets import SCALINGS, SHIPPED, mnist
from ..kernels import ntk
from ..mlp import NTKMLP
from ..spectral import decompose_along, kernel_pca
from ..training import train
from .plotting import new_axes
from ..power_laws import PowerLaw, bootstrap_slope

#: Eigenvalues of Pi reported in Section 6.3 (n = 10,000 network, power iteration, 512 digits).
PAPER_EIGENVALUES = (0.0457, 0.00108, 0.00078)
N_EIGEN = 10  # eigenvalues/components kept in the result (the chapter's widget browses them)


@dataclass(frozen=True)
class Figure3Settings:
    """The settings of Figure 3 (Section 6.3); the defaults are the paper's.

    ``n_digits`` MNIST test digits scaled by ``scaling`` (see :func:`ntk_course.datasets.mnist`);
    ReLU networks of ``depth`` weight layers (depth 5 = four hidden layers of width n) for each width
    in ``widths``; ``n_runs`` independent initialisations per width; ``steps`` steps of gradient
    descent with learning rate ``lr`` (t = lr x steps); f_t recorded every ``record_every`` steps;
    target f* = f_theta(0) + ``amplitude`` f^(``component``) (component 1 is the largest).
    """

    n_digits: int = 512
    depth: int = 5
    scaling: str = "pixel"
    widths: tuple[int, ...] = (100, 1000, 10000)
    n_runs: int = 2
    steps: int = 4000
    lr: float = 1.0
    beta: float = 0.1
    record_every: int = 20
    component: int = 2
    amplitude: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        n = positive_int(self.n_digits, "n_digits", minimum=2)
        if n > SHIPPED:
            raise ValueError(f"n_digits must be at most {SHIPPED} (the digits shipped with the package); got {n}")
        positive_int(self.depth, "depth", minimum=2)
        if self.scaling not in SCALINGS:
            raise ValueError(f"unknown scaling {self.scaling!r}; expected one of {SCALINGS}")
        widths = tuple(self.widths) if not isinstance(self.widths, int | str) else None
        if not widths:
            raise ValueError(f"widths must be a non-empty sequence of integers >= 1; got {self.widths!r}")
        object.__setattr__(self, "widths", tuple(positive_int(w, "each width") for w in widths))
        positive_int(self.n_runs, "n_runs")
        positive_int(self.steps, "steps")
        if non_negative(self.lr, "lr") == 0:
            raise ValueError("lr must be > 0; got 0")
        non_negative(self.beta, "beta")
        positive_int(self.record_every, "record_every")
        positive_int(self.component, "component")
        if self.component > n:
            raise ValueError(f"component must be at most n_digits = {n}; got {self.component}")
        if non_negative(self.amplitude, "amplitude") == 0:
            raise ValueError("amplitude must be > 0; got 0")
        positive_int(self.seed, "seed", minimum=0)

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
            return cls(n_digits=64, widths=(20, 200), n_runs=4, steps=400, lr=10.0, record_every=10)
        if name == "default":
            return cls(n_digits=128, widths=(100, 1000), n_runs=4, steps=400, lr=10.0, record_every=5)
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
    n_digits: int = 512,
    *,
    depth: int = 5,
    scaling: str = "pixel",
    beta: float = 0.1,
    offset: int = 0,
    n_components: int = N_EIGEN,
    device: torch.device | str | None = None,
) -> DigitsPCA:
    """Kernel PCA of digits ``offset .. offset + n_digits - 1`` w.r.t. the analytic Theta^(depth) (ReLU).

    The defaults are Section 6.3's batch size with the course's choices of depth and pixel scaling
    (the paper's batch is unknown). Computes Theta in float64 on ``device`` (CUDA when present) and
    returns CPU tensors.
    """
    n = positive_int(n_digits, "n_digits", minimum=2)
    count = positive_int(n_components, "n_components")
    if count > n:
        raise ValueError(f"n_components must be at most n_digits = {n}; got {count}")
    dev = torch.device(device) if device is not None else default_device()
    start = time.perf_counter()
    x, labels = mnist(n, scaling=scaling, offset=offset, device=dev)
    pca = kernel_pca(ntk(x, depth=depth, beta=beta), count)
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
    recorded times. For each width: ``g_norm[n]`` and ``h_norm[n]`` of shape (n_runs, R) hold
    ||g_t||_{p_in} and ||h_t||_{p_in}; ``rate[n]`` (n_runs, 2) the empirical decay rate along
    f^(i), <f^(i), Theta_t f^(i)>_{p_in} / N, at the start and at the end of training (the limit is
    lam_i); ``loss[n]`` (n_runs,) the final cost; ``seconds[n]`` the training time.
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


def _record_steps(steps: int, every: int) -> list[int]:
    return sorted(set(range(0, steps + 1, every)) | {steps})


def _rate(model: NTKMLP, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """<u, Theta u>_{p_in} / N = u^T Theta u / N^2 for each ensemble member (u p_in-normalised).

    Theta = J J^T with J the (N, P) Jacobian of the outputs, so u^T Theta u = ||J^T u||^2 is the squared
    norm of the gradient of sum_j u_j f(x_j): one backward pass, no N x N kernel.
    """
    params = list(model.parameters())
    out = model(x)[..., 0]  # (E, N)
    grads = torch.autograd.grad((out * u.to(out.dtype)).sum(), params)
    sq = sum(g.to(torch.float64).square().flatten(1).sum(1) for g in grads)
    return sq / u.shape[0] ** 2


def run(settings: Figure3Settings, *, device: torch.device | str | None = None, progress: bool = False) -> Figure3Result:
    """Compute Figure 3: the kernel PCA of the digits and the training of each width along f^(i).

    1. Theta_infinity^(depth) on the digits (float64, analytic, :func:`ntk_course.ntk`) and its
       non-centred kernel PCA (:func:`digits_pca`).
    2. For each width n: one ensemble of ``n_runs`` networks [784, n, ..., n, 1], each with its own
       target f* = f_theta(0) + a f^(i), trained by full-batch gradient descent; f_t on the digits is
       recorded every ``record_every`` steps and split into g_t + h_t (:func:`decompose_along`).
    """
    if not isinstance(settings, Figure3Settings):
        raise ValueError(f"settings must be a Figure3Settings; got {type(settings).__name__}")
    s = settings
    dev = torch.device(device) if device is not None else default_device()
    pca = digits_pca(s.n_digits, depth=s.depth, scaling=s.scaling, beta=s.beta,
                     n_components=min(max(N_EIGEN, s.component), s.n_digits), device=dev)
    x = pca.images.to(dev)  # float32, the networks' dtype
    u = pca.components[:, s.component - 1].to(dev)
    record = _record_steps(s.steps, s.record_every)
    result = Figure3Result(
        settings=s,
        eigenvalues=pca.eigenvalues,
        components=pca.components,
        labels=pca.labels,
        t=torch.tensor(record, dtype=torch.float64) * s.lr,
        kernel_seconds=pca.seconds,
        device=str(dev),
    )
    for k, n in enumerate(s.widths):
        begin = time.perf_counter()
        gen = torch.Generator(device=dev).manual_seed(s.seed + 1000 * k)
        model = NTKMLP([x.shape[1]] + [n] * (s.depth - 1) + [1], beta=s.beta, ensemble=s.n_runs, generator=gen, device=dev)
        rate0 = _rate(model, x, u)
        with torch.no_grad():
            f0 = model(x)  # (E, N, 1): each run's own f_theta(0)
        target = f0 + s.amplitude * u.to(f0.dtype)[None, :, None]
        rec = train(model, x, target, steps=s.steps, lr=s.lr, record_at=record, progress=progress)
        rate1 = _rate(model, x, u)
        f_t = rec.outputs[..., 0].to(torch.float64)  # (R, E, N)
        g, h = [], []
        for e in range(s.n_runs):
            ge, he, _ = decompose_along(f_t[:, e], target[e, :, 0].to(torch.float64), u)
            g.append(ge)
            h.append(he)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        result.g_norm[n] = torch.stack(g).cpu()
        result.h_norm[n] = torch.stack(h).cpu()
        result.rate[n] = torch.stack((rate0, rate1), 1).cpu()
        result.loss[n] = rec.loss[-1].to(torch.float64).cpu()
        result.seconds[n] = time.perf_counter() - begin
        del model, rec
    return result


# ---------------------------------------------------------------- plots

def _axes(ax: plt.Axes | None, width: float = 7.0, height: float = 4.2) -> plt.Axes:
    if ax is not None:
        return ax
    _, ax = new_axes(width=width, height=height)
    return ax


def plot_components(result: Figure3Result | DigitsPCA, ax: plt.Axes | None = None, *, i: int = 2, j: int = 3) -> plt.Axes:
    """Figure 3a: the digits at (f^(i)(x), f^(j)(x)), coloured by their label (default: 2nd and 3rd).

    ``result`` is a :class:`Figure3Result` or a :class:`DigitsPCA` (anything with ``components``
    (N, K) and ``labels`` (N,)).
    """
    k = result.components.shape[1]
    for name, c in (("i", i), ("j", j)):
        positive_int(c, name)
        if c > k:
            raise ValueError(f"{name} must be at most {k}, the number of components kept; got {c}")
    ax = _axes(ax, 6.0, 5.0)
    cmap = plt.get_cmap("tab10")
    for d in range(10):
        sel = result.labels == d
        if bool(sel.any()):
            ax.scatter(result.components[sel, i - 1], result.components[sel, j - 1], s=14, color=cmap(d), label=str(d), alpha=0.85)
    ax.set_xlabel(f"$f^{{({i})}}(x)$")
    ax.set_ylabel(f"$f^{{({j})}}(x)$")
    ax.legend(title="digit", loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, markerscale=1.5)
    ax.set_title(f"Kernel PCA of {result.components.shape[0]} digits")
    return ax


def _width_colors(widths: list[int]) -> dict[int, object]:
    cmap = plt.get_cmap("viridis")
    return {n: cmap(0.15 + 0.65 * k / max(1, len(widths) - 1)) for k, n in enumerate(sorted(widths))}


def _curves(result: Figure3Result, values: dict[int, torch.Tensor], ax: plt.Axes) -> None:
    colors = _width_colors(list(values))
    for n in sorted(values):
        for e, curve in enumerate(values[n]):
            ax.plot(result.t, curve, color=colors[n], lw=1.4, label=f"$n = {n:,}$" if e == 0 else None)
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
    ax.plot(tt, result.limit(tt), color="tab:blue", lw=2.2, ls="--",
            label=rf"$n = \infty$: ${result.settings.amplitude:g}\,e^{{-\lambda_{result.settings.component} t}}$")
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
    if len(widths) < 2 or result.settings.n_runs < 2:
        raise ValueError(f"need at least two widths and two runs per width; got widths {widths}, "
                         f"{result.settings.n_runs} runs")
    return bootstrap_slope(widths, torch.stack([result.h_norm[n].max(1).values for n in widths]))


def straight_line_gap(result: Figure3Result) -> np.ndarray:
    """Per width (sorted), the max over runs and times of ||g_t|| - limit, relative to the amplitude."""
    lim = result.limit()
    return np.array([float((result.g_norm[n] - lim).abs().max()) / result.settings.amplitude for n in sorted(result.g_norm)])


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
    "run",
    "straight_line_gap",
]
