"""Figure 1 of Jacot, Gabriel & Hongler (2018), Section 6.1: convergence of the NTK.

Networks of depth L = 4 (three hidden layers of width n, ReLU, beta = 0.1, NTK parametrisation)
are trained by full-batch gradient descent (learning rate 1.0, 200 steps, so t = 200) on the
least-squares cost C = 1/(2N) sum_i (f(x_i) - f*(x_i))^2 with f*(x) = x_1 x_2 and N iid N(0, Id_2)
inputs. For ten initialisations of each width n = 500 and n = 10,000 the figure shows the empirical
kernel Theta^(4)(x_0, x) for x_0 = (1, 0) and x = (cos gamma, sin gamma) on the unit circle, at
t = 0 and at t = 200, next to the limiting kernel Theta_infinity^(4)(x_0, x) of Theorem 1.

What the paper leaves open, and the course's choice:

* N, the number of training inputs, is not given: ``n_train = 100`` at the default and paper scales
  (32 at the quick scale, to fit CI on two CPU cores).
* The points of the circle at which the kernel is drawn: ``n_circle`` evenly spaced angles in
  [-pi, pi) (200 at the default and paper scales).

All the initialisations of one width are one batched ``settings.arch.network(2, n, ensemble=E)``,
trained in a single pass; the empirical kernels come from the structured (Gram-matrix) method that
:func:`ntk_course.training.train` uses, so no Jacobian is formed even at width 10,000. The chapters
run that loop on the page (the data from :meth:`Figure1Settings.training_set` and
:meth:`Figure1Settings.circle`, the seeds from :meth:`Figure1Settings.generator`, the result from
:meth:`Figure1Result.from_records`); :func:`run` is the same loop for ``python -m
ntk_course.reproduce``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ..activations import ACTIVATIONS
from ..architecture import Architecture
from ..config import SCALES, default_device
from ..config import scale as current_scale
from ..datasets import circle_points, gaussian_inputs, product_target
from ..training import TrainingRecord, train

X0 = (1.0, 0.0)  # the fixed point x_0 of Figure 1
TIMES = ("initial", "final")
NAMED_ACTIVATIONS = tuple(
    a for a in ACTIVATIONS if a != "polynomial"
)  # settings hold a name, for JSON


def _count(value: object, name: str, minimum: int) -> None:
    """Refuse a setting that is not an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


@dataclass(frozen=True)
class Figure1Settings:
    """The settings of Figure 1 (Section 6.1); the defaults are the paper's.

    ``depth`` counts weight layers (4: three hidden layers of width n each); ``widths`` are the
    hidden widths n compared; ``ensemble`` independent initialisations per width; ``steps`` of
    gradient descent with learning rate ``lr`` (time t = lr x steps; ``steps = 0`` gives the
    kernels at initialisation only); ``beta`` the bias factor of Remark 1; ``n_train`` the number
    of N(0, Id_2) training inputs (not given in the paper; the course uses 100); ``n_circle`` the
    number of points x = (cos gamma, sin gamma) at which Theta(x_0, x) is evaluated; ``seed`` seeds
    the training inputs and the initialisations; ``activation`` is ReLU in the paper. The network
    and its limit are :attr:`arch`.

    Raises
    ------
    ValueError
        For a depth, beta or activation that :class:`~ntk_course.Architecture` refuses, an
        activation that is not a name (the settings go to JSON), widths that are not distinct
        positive integers, or a count below its minimum.
    """

    depth: int = 4
    widths: tuple[int, ...] = (500, 10_000)
    ensemble: int = 10
    steps: int = 200
    lr: float = 1.0
    beta: float = 0.1
    n_train: int = 100
    n_circle: int = 200
    seed: int = 0
    activation: str = "relu"

    def __post_init__(self) -> None:
        if self.activation not in NAMED_ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; expected one of {NAMED_ACTIVATIONS}"
            )
        arch = self.arch  # the Architecture checks depth, beta and the activation
        object.__setattr__(self, "beta", arch.beta)
        if (
            isinstance(self.widths, int | str)
            or not isinstance(self.widths, Sequence)
            or len(self.widths) == 0
        ):
            raise ValueError(
                f"widths must be a non-empty sequence of hidden widths n; got {self.widths!r}"
            )
        for i, n in enumerate(self.widths):
            _count(n, f"widths[{i}]", 1)
        if len(set(self.widths)) != len(self.widths):
            raise ValueError(f"widths must be distinct; got {tuple(self.widths)}")
        object.__setattr__(self, "widths", tuple(int(n) for n in self.widths))
        for name, minimum in (
            ("ensemble", 1),
            ("steps", 0),
            ("n_train", 1),
            ("n_circle", 1),
            ("seed", 0),
        ):
            _count(getattr(self, name), name, minimum)
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr >= 0):
            raise ValueError(f"lr must be a finite number >= 0; got {self.lr!r}")
        object.__setattr__(self, "lr", float(self.lr))

    @property
    def arch(self) -> Architecture:
        """The architecture of Figure 1: ``Architecture(depth, activation, beta)`` (NTK
        parametrisation)."""
        return Architecture(self.depth, self.activation, self.beta)

    def training_set(
        self, device: torch.device | str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``n_train`` inputs x ~ N(0, Id_2) (drawn on the CPU with ``seed``, so the same on
        every device) and the targets f*(x) = x_1 x_2: shapes (n_train, 2) and (n_train, 1), on
        ``device``."""
        x = gaussian_inputs(self.n_train, 2, seed=self.seed).to(device or "cpu")
        return x, product_target(x)

    def circle(
        self, device: torch.device | str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x_0 = (1, 0) (1, 2), the ``n_circle`` points x = (cos gamma, sin gamma) (n_circle, 2) and
        their angles gamma (n_circle,), float32 on ``device``: the kernel Theta(x_0, x) is drawn
        over them."""
        circle, gamma = circle_points(self.n_circle, dtype=torch.float32, device=device)
        return torch.tensor([X0], dtype=torch.float32, device=device), circle, gamma

    def generator(self, k: int, device: torch.device | str | None = None) -> torch.Generator:
        """The generator that draws the ensemble of the k-th width (seeded ``seed * 1_000_003 + k +
        1``)."""
        return torch.Generator(device=device or "cpu").manual_seed(self.seed * 1_000_003 + k + 1)

    @property
    def t(self) -> float:
        """The time reached by the gradient flow, t = lr x steps (Section 5 convention)."""
        return self.lr * self.steps

    @classmethod
    def for_scale(cls, scale: str | None = None) -> Figure1Settings:
        """Settings for a scale: ``quick`` (CI, seconds on 2 CPU cores: widths 64 and 256, 4
        initialisations, 32 training inputs), ``default`` (a laptop, seconds: widths 128 and 512, 6
        initialisations, 100 inputs) or ``paper`` (exactly Section 6.1, for a GPU: widths
        500 and 10,000; about 20 s on one H100). ``None``: the scale chosen by ``NTK_COURSE_SCALE``
        (see :func:`ntk_course.config.scale`).

        Every scale keeps the paper's depth, learning rate, beta, 200 steps (t = 200) and target;
        the smaller ones only narrow the networks, draw fewer initialisations and training inputs.
        """
        scale = current_scale() if scale is None else scale
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; expected one of {SCALES}")
        if scale == "quick":
            return cls(widths=(64, 256), ensemble=4, n_train=32, n_circle=100)
        if scale == "default":
            return cls(widths=(128, 512), ensemble=6)
        return cls()


@dataclass
class WidthRun:
    """What one width of Figure 1 gives, for its E = ``ensemble`` initialisations (tensors on the
    CPU).

    ``kernel_initial`` / ``kernel_final`` (E, n_circle): Theta(x_0, x) at t = 0 and t = lr x steps;
    ``kernel_drift`` (E,): ||Theta_T - Theta_0|| / ||Theta_0|| over the circle;
    ``distance_to_limit`` (E,): ||Theta_0 - Theta_inf|| / ||Theta_inf||; ``weight_change``
    (E, depth): ||W_T^(l) - W_0^(l)||_F / ||W_0^(l)||_F per layer; ``loss`` (2, E): the cost C at
    t = 0 and at the end; ``seconds``: wall time of the initialisation and training (NaN if not
    measured).
    """

    width: int
    kernel_initial: torch.Tensor
    kernel_final: torch.Tensor
    kernel_drift: torch.Tensor
    distance_to_limit: torch.Tensor
    weight_change: torch.Tensor
    loss: torch.Tensor
    seconds: float

    def mean_distance_to_limit(self, limit: torch.Tensor) -> float:
        """||mean over initialisations of Theta_0 - Theta_inf|| / ||Theta_inf||: the bias of the
        average."""
        return float((self.kernel_initial.mean(0) - limit).norm() / limit.norm())


@dataclass
class Figure1Result:
    """The outcome of :func:`run`: the limit Theta_inf(x_0, x) on the circle and one
    :class:`WidthRun` per width, in the order of ``settings.widths``."""

    settings: Figure1Settings
    gamma: torch.Tensor
    limit: torch.Tensor
    runs: tuple[WidthRun, ...]
    device: str

    @classmethod
    def from_records(
        cls,
        settings: Figure1Settings,
        records: Mapping[int, TrainingRecord],
        limit: torch.Tensor,
        gamma: torch.Tensor,
        *,
        seconds: Mapping[int, float] | None = None,
        device: torch.device | str = "cpu",
    ) -> Figure1Result:
        """Collect the training record of each width into a result.

        ``records[n]`` is what :func:`ntk_course.train` returned for the ensemble of width n,
        recorded at steps ``[0, settings.steps]`` with ``kernel_points=(x0, circle)``; ``limit``
        (n_circle,) is Theta_inf(x_0, x) on the circle, ``gamma`` (n_circle,) its angles.
        Raises ValueError if a width of the settings has no record or a record has no kernels.
        """
        lim = limit.double().cpu()
        runs = []
        for n in settings.widths:
            record = records.get(n)
            if record is None or record.kernels is None or record.kernel_drift is None:
                raise ValueError(
                    f"width {n} needs a training record with kernels "
                    "(train(..., kernel_points=...))"
                )
            k0 = record.kernels[0, :, 0, :].double().cpu()
            kt = record.kernels[-1, :, 0, :].double().cpu()
            runs.append(
                WidthRun(
                    width=n,
                    kernel_initial=k0,
                    kernel_final=kt,
                    kernel_drift=(kt - k0).norm(dim=-1) / k0.norm(dim=-1),
                    distance_to_limit=(k0 - lim).norm(dim=-1) / lim.norm(),
                    weight_change=record.weight_change[-1].double().cpu(),
                    loss=record.loss[[0, -1]].double().cpu(),
                    seconds=math.nan if seconds is None else seconds[n],
                )
            )
        return cls(
            settings=settings,
            gamma=gamma.double().cpu(),
            limit=lim,
            runs=tuple(runs),
            device=str(device),
        )

    def run_for(self, width: int) -> WidthRun:
        """The :class:`WidthRun` of hidden width ``width``."""
        for r in self.runs:
            if r.width == width:
                return r
        raise ValueError(f"width {width} was not run; the widths are {self.settings.widths}")

    def to_json_dict(self) -> dict[str, object]:
        """Plain numbers and lists (no tensors), ready for ``json.dump``."""
        widths = {}
        for r in self.runs:
            widths[str(r.width)] = {
                "kernel_initial": r.kernel_initial.tolist(),
                "kernel_final": r.kernel_final.tolist(),
                "kernel_drift": r.kernel_drift.tolist(),
                "kernel_drift_mean": float(r.kernel_drift.mean()),
                "distance_to_limit": r.distance_to_limit.tolist(),
                "mean_distance_to_limit": r.mean_distance_to_limit(self.limit),
                "weight_change": r.weight_change.tolist(),
                "loss_initial": r.loss[0].tolist(),
                "loss_final": r.loss[-1].tolist(),
                "seconds": r.seconds,
            }
        return {
            "figure": "Jacot, Gabriel & Hongler (2018), Figure 1 (Section 6.1)",
            "settings": dataclasses.asdict(self.settings),
            "t": self.settings.t,
            "x0": list(X0),
            "device": self.device,
            "gamma": self.gamma.tolist(),
            "limit": self.limit.tolist(),
            "widths": widths,
        }


def run(
    settings: Figure1Settings, *, device: torch.device | str | None = None, progress: bool = False
) -> Figure1Result:
    """Run the experiment of Figure 1 with ``settings`` on ``device`` (default: CUDA when present).

    The loop the chapters show on the page: for each width, one ensemble ``settings.arch.network(2,
    n, ensemble=E)`` is trained on f*(x) = x_1 x_2 by :func:`ntk_course.training.train`, which
    records the empirical kernel Theta(x_0, x) on the circle at step 0 and at the last step.
    Networks compute in float32; the limit Theta_inf^(depth) in float64. Seeded by ``settings.seed``
    (see :meth:`Figure1Settings.training_set` and :meth:`Figure1Settings.generator`). Raises
    ValueError if ``settings`` is not Figure1Settings.
    """
    if not isinstance(settings, Figure1Settings):
        raise ValueError(f"settings must be a Figure1Settings; got {type(settings).__name__}")
    device = default_device() if device is None else torch.device(device)
    s = settings
    x_train, y_train = s.training_set(device)
    x0, circle, gamma = s.circle(device)
    limit = s.arch.ntk(x0.double(), circle.double())[0]
    records, seconds = {}, {}
    for k, width in enumerate(tqdm(s.widths, disable=not progress, desc="widths", leave=False)):
        start = time.perf_counter()
        nets = s.arch.network(
            2, width, ensemble=s.ensemble, generator=s.generator(k, device), device=device
        )
        records[width] = train(
            nets,
            x_train,
            y_train,
            steps=s.steps,
            lr=s.lr,
            record_at=[0, s.steps],
            kernel_points=(x0, circle),
            progress=progress,
        )
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds[width] = time.perf_counter() - start
        del nets
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return Figure1Result.from_records(s, records, limit, gamma, seconds=seconds, device=device)


def plot(result: Figure1Result, ax=None, *, times: Sequence[str] | None = None):
    """Draw Figure 1: Theta^(L)(x_0, x) against gamma, x = (cos gamma, sin gamma).

    One thin curve per initialisation for each (width, time) in ``times`` (a subset of
    ``("initial", "final")``; default both, or only ``"initial"`` when no step was taken), and the
    limit Theta_inf as a thick dashed line. Returns the axes (a new figure when ``ax`` is None).
    """
    if not isinstance(result, Figure1Result):
        raise ValueError(
            f"result must be a Figure1Result from figure1.run; got {type(result).__name__}"
        )
    s = result.settings
    if times is None:
        times = TIMES if s.steps > 0 else ("initial",)
    times = tuple(times)
    if not times or any(t not in TIMES for t in times):
        raise ValueError(f"times must be a non-empty subset of {TIMES}; got {times!r}")
    if ax is None:
        from .plotting import new_axes

        _, ax = new_axes()
    from .plotting import PALETTE

    g = result.gamma.numpy()
    for k, r in enumerate(result.runs):
        colour = PALETTE[k % len(PALETTE)]  # one per width: 3:1 on white, colour-blind safe
        for which in times:
            # t = 0 dotted when both times are shown (a pale tint would fall under 3:1 on white)
            style = ":" if which == "initial" and len(times) > 1 else "-"
            curves = (r.kernel_initial if which == "initial" else r.kernel_final).numpy()
            t = 0 if which == "initial" else s.t
            number = f"{r.width:,}".replace(
                ",", "{,}"
            )  # a thousands comma that mathtext does not space
            label = f"$n = {number}$, $t = {t:g}$"
            for i, curve in enumerate(curves):
                ax.plot(
                    g, curve, color=colour, ls=style, lw=0.9, alpha=0.75,
                    label=label if i == 0 else None,
                )  # fmt: skip
    ax.plot(
        g, result.limit.numpy(), color="black", ls="--", lw=2.6, label=r"$n = \infty$ (Theorem 1)"
    )
    ax.set_xlim(-math.pi, math.pi)
    ax.set_xlabel(r"$\gamma$")
    ax.set_ylabel(rf"$\Theta^{{({s.depth})}}(x_0, x)$")
    ax.legend(loc="upper right", fontsize=9)
    return ax
