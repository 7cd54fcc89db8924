"""Figure 2 of Jacot, Gabriel & Hongler (2018), Section 6.2: trained networks against the limiting
Gaussian.

Networks of depth 4 (three hidden layers of width n, ReLU, beta = 0.1) are trained on 4 points of
the unit circle by gradient descent on the least-squares cost, from ``ensemble`` independent
initialisations, and their functions x = (cos g, sin g) -> f(x) are compared with the t -> infinity
limit of Section 5. In the infinite-width limit f_0 ~ GP(0, Sigma^(4)) (Proposition 1) and training
follows the constant kernel Theta^(4) (Theorem 2), so f_t is Gaussian with

    mean_t = A_t y,   cov_t = Sigma_xx - A_t Sigma_Xx - Sigma_xX A_t^T + A_t Sigma_XX A_t^T,
    A_t = Theta_xX Theta_XX^{-1} (I - exp(-t Theta_XX / N)),     A_infinity = Theta_xX Theta_XX^{-1}

(:func:`ntk_course.gaussian_limit`). The paper approximated Theta and Sigma by a width-10,000
network; here they are the analytic kernels (:func:`ntk_course.ntk`, :func:`ntk_course.nngp`), so
the 10th/50th/90th percentiles of the limit are exact. The networks are trained for a finite time t
= lr x steps, so the Gaussian at that t is computed too, and the gap between the two reported.

The training set is :func:`ntk_course.datasets.circle_training_set` (the paper does not say which 4
points or targets it used). Every width trains ONE batched ensemble ``arch.network(2, n,
ensemble=E)``; the chapter ``book/least_squares.md`` writes that loop on the page, :func:`run` is
the same loop for ``python -m ntk_course.reproduce``.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import matplotlib.pyplot as plt
import torch
from scipy.stats import chi2

from ..architecture import Architecture
from ..config import SCALES, default_device
from ..config import scale as current_scale
from ..datasets import circle_points, circle_training_set
from ..gaussian import gaussian_limit, percentiles
from ..training import train
from .plotting import PALETTE, new_axes

QUANTILES = (10, 50, 90)


@dataclass(frozen=True)
class Figure2Settings:
    """The settings of Figure 2 (Section 6.2); the defaults are the paper's.

    ReLU networks [2, n, ..., n, 1] of ``depth`` weight layers and bias factor ``beta``
    (:attr:`arch`) for each n in ``widths``, ``ensemble`` initialisations each, ``steps`` steps of
    gradient descent with learning rate ``lr`` (t = lr x steps) on ``n_train`` points of the unit
    circle; the functions are evaluated on ``n_circle`` evenly spaced angles gamma in [-pi, pi).

    Raises
    ------
    ValueError
        For a setting out of range (the architecture's checks, then beta = 0, the counts and the
        learning rate), saying which and what was expected.
    """

    depth: int = 4
    widths: tuple[int, ...] = (50, 1000)
    ensemble: int = 10
    steps: int = 1000
    lr: float = 1.0
    beta: float = 0.1
    n_train: int = 4
    n_circle: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        arch = self.arch  # depth >= 1 and beta >= 0, checked by the architecture
        if arch.depth < 2:
            raise ValueError(
                f"depth must be at least 2 (a hidden layer to widen); got {arch.depth}"
            )
        if arch.beta == 0:
            raise ValueError(
                "beta must be > 0 so that Theta is positive definite on the circle "
                "(t = infinity limit)"
            )
        widths = tuple(self.widths) if not isinstance(self.widths, int | str) else ()
        if not widths:
            raise ValueError(
                f"widths must be a non-empty sequence of integers >= 1; got {self.widths!r}"
            )
        object.__setattr__(self, "widths", tuple(arch.widths(1, w)[1] for w in widths))  # each >= 1
        for name, least in (
            ("ensemble", 2),
            ("steps", 1),
            ("n_train", 1),
            ("n_circle", 8),
            ("seed", 0),
        ):
            if getattr(self, name) < least:
                raise ValueError(f"{name} must be an integer >= {least}; got {getattr(self, name)}")
        if not self.lr > 0 or not math.isfinite(self.lr):
            raise ValueError(f"lr must be a finite number > 0; got {self.lr}")

    @property
    def arch(self) -> Architecture:
        """The architecture of the networks and of their limit: ReLU, ``depth``, ``beta``, NTK."""
        return Architecture(self.depth, "relu", self.beta)

    @property
    def t(self) -> float:
        """The training time t = lr x steps."""
        return self.lr * self.steps

    @classmethod
    def for_scale(cls, scale: str | None = None) -> Figure2Settings:
        """Settings for a scale: ``quick`` (seconds on 2 CPU cores: widths 50 and 200, 20 networks
        each, 150 steps of lr 2), ``default`` (the website's build, seconds too: widths 50 and 250,
        20 networks each, 200 steps of lr 2) or ``paper`` (Section 6.2 exactly: widths 50 and
        1,000, 10 networks each, 1,000 steps of lr 1). The smaller scales train twice the paper's
        number of networks, which gives the chi-square test of :func:`gaussian_check` its power, and
        reach t = 300 or 400 instead of the paper's t = 1000 in fewer steps (lr 2 is far below
        2 / lambda_max(Theta_XX / N) = 15; e^(-lambda_min t) is already below 1e-5 at t = 300).
        ``None`` reads ``NTK_COURSE_SCALE``."""
        name = current_scale() if scale is None else scale
        if name not in SCALES:
            raise ValueError(f"unknown scale {name!r}; expected one of {SCALES}")
        if name == "quick":
            return cls(widths=(50, 200), ensemble=20, steps=150, lr=2.0, n_circle=120)
        if name == "default":
            return cls(widths=(50, 250), ensemble=20, steps=200, lr=2.0, n_circle=120)
        return cls()


@dataclass
class Figure2Result:
    """What :func:`run` computed (CPU float64 tensors).

    ``gamma`` (M,) the angles of the evaluation points; ``gamma_train`` (N,) and ``y_train`` (N,)
    the training set. ``outputs[n]`` (E, M): each trained network of width n on the circle at t = lr
    x steps; ``loss[n]`` (E,) their final costs; ``seconds[n]`` the training time (all three filled
    by :meth:`add`). ``mean`` (M,), ``covariance`` (M, M) and ``band`` (3, M) (the 10th, 50th, 90th
    percentiles) of the t -> infinity Gaussian; ``mean_t``, ``covariance_t``, ``band_t`` the same at
    the finite t. ``eigenvalues`` of Pi = Theta_XX / N on the training set (they set the convergence
    rates).
    """

    settings: Figure2Settings
    gamma: torch.Tensor
    gamma_train: torch.Tensor
    y_train: torch.Tensor
    mean: torch.Tensor
    covariance: torch.Tensor
    band: torch.Tensor
    mean_t: torch.Tensor
    covariance_t: torch.Tensor
    band_t: torch.Tensor
    eigenvalues: torch.Tensor
    outputs: dict[int, torch.Tensor] = field(default_factory=dict)
    loss: dict[int, torch.Tensor] = field(default_factory=dict)
    seconds: dict[int, float] = field(default_factory=dict)
    device: str = "cpu"

    def add(
        self, width: int, outputs: torch.Tensor, loss: torch.Tensor, seconds: float = 0.0
    ) -> None:
        """Store the trained ensemble of one width: ``outputs`` (E, M) on the circle, ``loss``
        (E,)."""
        if outputs.ndim != 2 or outputs.shape[1] != self.gamma.shape[0]:
            raise ValueError(
                f"outputs must be (E, {self.gamma.shape[0]}), the networks on the circle points; "
                f"got {tuple(outputs.shape)}"
            )
        self.outputs[width] = outputs.to(torch.float64).cpu()
        self.loss[width] = loss.to(torch.float64).cpu()
        self.seconds[width] = seconds

    @property
    def finite_time_gap(self) -> float:
        """max over the circle and the three percentiles of |band at t - band at infinity|."""
        return float((self.band_t - self.band).abs().max())

    def to_json_dict(self) -> dict[str, object]:
        """Settings, the limiting band, the finite-time gap and the networks' functions as JSON
        types."""
        return {
            "figure": 2,
            "section": "6.2",
            "settings": asdict(self.settings),
            "device": self.device,
            "gamma": self.gamma.tolist(),
            "gamma_train": self.gamma_train.tolist(),
            "y_train": self.y_train.tolist(),
            "percentiles": list(QUANTILES),
            "band_infinity": self.band.tolist(),
            "band_t": self.band_t.tolist(),
            "finite_time_gap": self.finite_time_gap,
            "eigenvalues": self.eigenvalues.tolist(),
            "widths": {
                str(n): {
                    "outputs": self.outputs[n].tolist(),
                    "final_loss": self.loss[n].tolist(),
                    "seconds": self.seconds[n],
                    "gaussian_check": gaussian_check(self, n),
                }
                for n in self.outputs
            },
        }


def limit(settings: Figure2Settings, *, device: torch.device | str | None = None) -> Figure2Result:
    """The analytic half of Figure 2: the limiting Gaussian at t -> infinity and at t = lr x steps,
    from Sigma^(depth) (NNGP) and Theta^(depth) (NTK) of ``settings.arch`` in float64; no network is
    trained (:meth:`Figure2Result.add` stores the networks)."""
    if not isinstance(settings, Figure2Settings):
        raise ValueError(f"settings must be a Figure2Settings; got {type(settings).__name__}")
    s = settings
    dev = torch.device(device) if device is not None else default_device()
    x, y = circle_training_set(s.n_train, device=dev)
    xe, gamma = circle_points(s.n_circle, device=dev)
    arch = s.arch
    sig, th = arch.kernels(x)
    sig_x, th_x = arch.kernels(xe, x)
    sig_xx = arch.nngp(xe)
    common = dict(theta_test_train=th_x, sigma_test_train=sig_x, sigma_test=sig_xx)
    mean, cov = gaussian_limit(th, sig, y[:, 0], **common)
    mean_t, cov_t = gaussian_limit(th, sig, y[:, 0], t=[s.t], **common)
    return Figure2Result(
        settings=s,
        gamma=gamma.cpu(),
        gamma_train=torch.atan2(x[:, 1], x[:, 0]).cpu(),
        y_train=y[:, 0].cpu(),
        mean=mean.cpu(),
        covariance=cov.cpu(),
        band=percentiles(mean, cov, QUANTILES).cpu(),
        mean_t=mean_t[0].cpu(),
        covariance_t=cov_t[0].cpu(),
        band_t=percentiles(mean_t[0], cov_t[0], QUANTILES).cpu(),
        eigenvalues=(torch.linalg.eigvalsh(th).flip(0) / s.n_train).cpu(),
        device=str(dev),
    )


def run(
    settings: Figure2Settings, *, device: torch.device | str | None = None, progress: bool = False
) -> Figure2Result:
    """Compute Figure 2: the analytic limiting Gaussian (:func:`limit`) and one trained ensemble per
    width.

    The networks ``settings.arch.network(2, n, ensemble=E)`` train in float32 on ``device`` (CUDA
    when present), all E initialisations of a width in one batch, and are evaluated on the circle
    once, at the end.
    """
    result = limit(settings, device=device)
    s, dev = settings, torch.device(result.device)
    x, y = circle_training_set(s.n_train, device=dev)
    x_circle, _ = circle_points(s.n_circle, device=dev)
    for k, n in enumerate(s.widths):
        begin = time.perf_counter()
        seed = torch.Generator(device=dev).manual_seed(s.seed + 1000 * k)
        net = s.arch.network(2, n, ensemble=s.ensemble, generator=seed, device=dev)
        rec = train(
            net,
            x.float(),
            y.float(),
            steps=s.steps,
            lr=s.lr,
            record_at=[s.steps],
            x_eval=x_circle.float(),
            progress=progress,
        )
        result.add(n, rec.outputs[-1, :, :, 0], rec.loss[-1], time.perf_counter() - begin)
    return result


def gaussian_check(
    result: Figure2Result, width: int, *, n_directions: int = 8, level: float = 0.999
) -> dict[str, float]:
    """Test the trained networks of one width against the limiting Gaussian N(mean, covariance).

    Project each network's deviation f_i - mean on the top ``n_directions`` eigenvectors v_j of the
    limiting covariance (eigenvalues mu_j) and standardise: z_ij = v_j . (f_i - mean) / sqrt(mu_j).
    If the E functions were independent draws of the limit, the z_ij would be iid N(0, 1), so Q =
    sum z_ij^2 follows a chi-square law with E x n_directions degrees of freedom: a single number
    that is too large when the mean or the spread is off, too small when the networks agree more
    than the limit says. Returns Q / dof, the central ``level`` interval of that ratio, the fraction
    of the limit's variance the directions carry, the standardised mean deviation max_j |mean_i
    z_ij| sqrt(E) (N(0, 1) entries under the limit), and the test's power against a spread 35 % too
    large or too small (:func:`chi2_power`). The 8 default directions carry 97 % of the variance of
    Figure 2's limit (the top 4, 89 %).
    """
    if width not in result.outputs:
        raise ValueError(f"width {width} was not trained; expected one of {sorted(result.outputs)}")
    m, k = result.covariance.shape[0], n_directions
    if not 1 <= k <= m:
        raise ValueError(f"n_directions must lie in [1, {m}], the circle points; got {k}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1; got {level}")
    mu, v = torch.linalg.eigh(result.covariance)
    mu, v = mu.flip(0)[:k], v.flip(1)[:, :k]
    if float(mu[-1]) <= 0:
        raise ValueError(
            f"the limiting covariance has fewer than {k} positive eigenvalues; "
            "ask for fewer directions"
        )
    f = result.outputs[width]
    z = (f - result.mean) @ v / mu.sqrt()  # (E, k)
    dof = z.numel()
    lo, hi = chi2.ppf([(1 - level) / 2, (1 + level) / 2], dof) / dof
    return {
        "ratio": float(z.square().sum()) / dof,
        "dof": int(dof),
        "low": float(lo),
        "high": float(hi),
        "variance_share": float(mu.sum() / result.covariance.trace()),
        "mean_z": float(z.mean(0).abs().max()) * math.sqrt(z.shape[0]),
        "power_wide": chi2_power(dof, 1.35, level),
        "power_narrow": chi2_power(dof, 0.65, level),
    }


def chi2_power(dof: int, sd_factor: float, level: float = 0.999) -> float:
    """The probability that the test of :func:`gaussian_check` rejects when the spread is off by
    ``sd_factor``.

    If every z_ij has standard deviation ``sd_factor`` instead of 1 (the networks spread
    ``sd_factor`` times as much as the limit says, in every direction), Q / sd_factor^2 follows the
    chi-square law with ``dof`` degrees of freedom, and the test, which accepts Q / dof in the
    central ``level`` interval of chi2(dof) / dof, rejects with probability P(chi2 > q_hi /
    sd_factor^2) + P(chi2 < q_lo / sd_factor^2). At ``sd_factor`` = 1 this is 1 - level.
    """
    factor = float(sd_factor)
    if dof < 1:
        raise ValueError(f"dof must be an integer >= 1; got {dof}")
    if not factor > 0 or not math.isfinite(factor):
        raise ValueError(f"sd_factor must be a finite number > 0; got {sd_factor}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1; got {level}")
    lo, hi = chi2.ppf([(1 - level) / 2, (1 + level) / 2], dof)
    return float(chi2.sf(hi / factor**2, dof) + chi2.cdf(lo / factor**2, dof))


def from_json(data: dict) -> Figure2Result:
    """A :class:`Figure2Result` from what :meth:`Figure2Result.to_json_dict` wrote (``results.json``
    of ``python -m ntk_course.reproduce``): the trained networks' functions as stored, and the limit
    recomputed from the analytic kernels for the stored settings (no network is trained)."""
    if not isinstance(data, dict) or data.get("figure") != 2 or "widths" not in data:
        raise ValueError(
            "data must be the Figure 2 entry of results.json (a dict with figure = 2 and widths)"
        )
    stored = {"n_init": "ensemble"}  # the name results.json of the first edition used
    settings = Figure2Settings(
        **{
            stored.get(k, k): tuple(v) if isinstance(v, list) else v
            for k, v in data["settings"].items()
        }
    )
    result = limit(settings, device="cpu")
    for n, entry in data["widths"].items():
        result.outputs[int(n)] = torch.tensor(entry["outputs"], dtype=torch.float64)
        result.loss[int(n)] = torch.tensor(entry["final_loss"], dtype=torch.float64)
        result.seconds[int(n)] = float(entry["seconds"])
    return result


def plot(
    result: Figure2Result,
    ax: plt.Axes | None = None,
    *,
    band: str = "infinity",
    max_curves: int = 10,
) -> plt.Axes:
    """Figure 2: f(cos gamma, sin gamma) of the first ``max_curves`` trained networks of each width
    (thin curves, one colour per width; the paper drew 10), the limit's 50th percentile (solid) and
    10th/90th percentiles (dashed), the training points.

    ``band="infinity"`` draws the t -> infinity Gaussian (the paper's), ``"t"`` the one at t = lr x
    steps.
    """
    if band not in ("infinity", "t"):
        raise ValueError(f"band must be 'infinity' or 't'; got {band!r}")
    if max_curves < 1:
        raise ValueError(f"max_curves must be an integer >= 1; got {max_curves}")
    if ax is None:
        _, ax = new_axes()
    g = result.gamma.numpy()
    # the course palette (Okabe-Ito, >= 3:1 on white): the limit in blue, the widths in the rest
    colors, limit_colour = [PALETTE[i] for i in (1, 2, 3, 5, 6)], PALETTE[0]
    for k, n in enumerate(sorted(result.outputs)):
        c = colors[k % len(colors)]
        for i, f in enumerate(result.outputs[n][:max_curves]):
            ax.plot(
                g, f.numpy(), color=c, lw=0.8, alpha=0.75, label=f"$n = {n:,}$" if i == 0 else None
            )
    pct = (result.band if band == "infinity" else result.band_t).numpy()
    when = r"t \to \infty" if band == "infinity" else f"t = {result.settings.t:g}"
    ax.plot(g, pct[1], color=limit_colour, lw=2.2, label=rf"$n = \infty$, ${when}$: $P_{{50}}$")
    ax.plot(g, pct[0], color=limit_colour, lw=1.8, ls="--", label=r"$n = \infty$: $P_{10}, P_{90}$")
    ax.plot(g, pct[2], color=limit_colour, lw=1.8, ls="--")
    ax.scatter(
        result.gamma_train.numpy(),
        result.y_train.numpy(),
        s=60,
        color="black",
        zorder=5,
        label="training points",
    )
    ax.set_xlabel(r"$\gamma$")
    ax.set_ylabel(r"$f(\cos\gamma, \sin\gamma)$")
    ax.set_xlim(-math.pi, math.pi)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return ax


__all__ = [
    "QUANTILES",
    "Figure2Result",
    "Figure2Settings",
    "chi2_power",
    "from_json",
    "gaussian_check",
    "limit",
    "plot",
    "run",
]
