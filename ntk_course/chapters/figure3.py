"""Figure 3 of Jacot, Gabriel & Hongler (2018), Section 6.3: convergence along a principal
component.

The limiting NTK Theta_infinity^(L) of a ReLU network on a batch of N MNIST digits defines the map
Pi = Theta/N (Section 5) whose eigenfunctions f^(1), f^(2), ... are the non-centred kernel principal
components. Networks of several widths are trained by gradient descent on the least-squares cost
with the target f* = f_theta(0) + a f^(i) (the paper: a = 0.5, i = 2), so that f_0 - f* = -a f^(i)
lies along one component. In the limit the function then moves on a straight line: writing f_t - f*
= g_t + h_t with g_t along f^(i) and h_t orthogonal to it (in p_in),

    ||g_t||_{p_in} = a exp(-lam_i t),    h_t = 0.

Figure 3a plots the digits by (f^(2), f^(3)), 3b the deviation ||h_t|| and 3c the convergence
||g_t|| for each width, against the limit. The paper's batch of 512 digits is unknown; this module
takes the first ``n_digits`` of the MNIST test set shipped with the package. With pixel values in
[0, 1], depth 5 (four hidden layers), ReLU and beta = 0.1 the first three eigenvalues for 512 digits
are 0.0443, 0.00118, 0.00085 (the paper: 0.0457, 0.00108, 0.00078).

Every width trains ONE ensemble ``arch.network(784, n, ensemble=E)``: the runs are batched, not
looped, and everything stays on ``device`` (CUDA when present). Time is t = lr x steps (the paper's
cost is a mean over the N digits). The chapter ``book/mnist.md`` writes the training loop of
:func:`run` on the page; this module keeps the settings, the result and the command's entry point.
The kernel PCA of the digits is in :mod:`.figure3_pca` and the three panels in
:mod:`.figure3_plots`; both are re-exported here, so that ``figure3.<name>`` reaches all of them.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from ..architecture import Architecture
from ..config import SCALES, default_device
from ..config import scale as current_scale
from ..digits import SCALINGS, SHIPPED
from ..power_laws import PowerLaw, bootstrap_slope
from ..spectral import decompose_along, rate_along
from ..training import train
from .figure3_pca import N_EIGEN, PAPER_EIGENVALUES, DigitsPCA, digits_pca
from .figure3_plots import plot_components, plot_convergence, plot_deviation


@dataclass(frozen=True)
class Figure3Settings:
    """The settings of Figure 3 (Section 6.3); the defaults are the paper's.

    ``n_digits`` MNIST test digits scaled by ``scaling`` (see :func:`ntk_course.digits.mnist`);
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
        ``default`` (a laptop: 128 digits, widths 100 and 500), both with four runs per width (so
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
                n_digits=128, widths=(100, 500), ensemble=4, steps=400, lr=10.0, record_every=5
            )
        return cls()


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
        ``rate`` (E, 2) from :func:`ntk_course.rate_along` before and after training, ``loss``
        (E,)."""
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
        """The infinite-width prediction ||g_t||_{p_in} = a exp(-lam_i t) (at the recorded times by
        default)."""
        tt = self.t if t is None else torch.as_tensor(t, dtype=torch.float64)
        return self.settings.amplitude * torch.exp(-self.lam * tt)

    def max_deviation(self) -> dict[int, float]:
        """max over runs and times of ||h_t||_{p_in}, per width: the distance from the straight
        line."""
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


def deviation_slope(result: Figure3Result) -> PowerLaw:
    """The width exponent s of max_t ||h_t||_{p_in} ~ c n^s, fitted to each width's mean over runs,
    with the bootstrap standard error of s from the spread of the runs (at least 2 per width).

    The fluctuations of a width-n network around the limit are O(n^{-1/2}) (Theorems 1 and 2), so
    s = -1/2 is the prediction. The error comes from the spread between the E networks of each
    width; with few networks the plain bootstrap underestimates it (resampling E draws has the
    variance of the ``ddof=0`` estimate), so it is multiplied by sqrt(E / (E - 1)), which makes it
    agree with the delta-method error sqrt(sum_w c_w^2 var_w / (E m_w^2)) of the least-squares slope
    sum_w c_w log m_w through the means m_w (sample variances var_w, ``ddof=1``).
    """
    widths = sorted(result.h_norm)
    runs = result.settings.ensemble
    if len(widths) < 2 or runs < 2:
        raise ValueError(
            f"need at least two widths and two runs per width; got widths {widths}, {runs} runs"
        )
    fit = bootstrap_slope(widths, torch.stack([result.h_norm[n].max(1).values for n in widths]))
    return replace(fit, std_error=fit.std_error * math.sqrt(runs / (runs - 1)))


def straight_line_gap(result: Figure3Result) -> np.ndarray:
    """Per width (sorted), the max over runs and times of ||g_t|| - limit, relative to the
    amplitude."""
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
    "run",
    "straight_line_gap",
]
