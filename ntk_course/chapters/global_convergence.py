"""What the global_convergence chapter runs: Du et al.'s two-layer networks over a range of widths.

:func:`width_scan` trains E networks of every width on the same N points of the sphere (gradient
descent on the first layer, :func:`ntk_course.two_layer.train_two_layer`), and measures the
Hessian norm of tanh networks of the same widths at initialisation
(:func:`ntk_course.two_layer.hessian_norm`); :func:`plot_run` draws one width's runs for the
widget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..config import by_scale
from ..datasets import sphere_points
from ..two_layer import (
    TwoLayerRun,
    hessian_norm,
    init_two_layer,
    lambda_zero,
    movement_bound,
    outputs,
    train_two_layer,
)


@dataclass(frozen=True)
class Settings:
    """The scan's settings: N points on the sphere S^(n0 - 1), the widths and E networks each,
    gradient descent at learning rate ``lr`` for ``steps`` steps (t = lr x steps), a narrow width
    run ``narrow_ensemble`` times, and the power iterations of the Hessian norm."""

    n: int = 8
    n0: int = 4
    widths: tuple[int, ...] = (16, 64, 256, 1024, 4096)
    ensemble: int = 6
    lr: float = 4.0
    steps: int = 200
    record_every: int = 5
    narrow: int = 8
    narrow_ensemble: int = 64
    iterations: int = 100

    @classmethod
    def for_scale(cls) -> Settings:
        """The settings of the current scale (``NTK_COURSE_SCALE``)."""
        return by_scale(
            quick=cls(),
            default=cls(ensemble=16, lr=2.0, steps=400),  # quick's widths, up to 4096
            paper=cls(
                widths=(16, 64, 256, 1024, 4096, 16384, 65536), ensemble=16, lr=1.0, steps=800
            ),
        )

    def data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The N inputs (float64, on the unit sphere) and the targets y_i = sign(x_i1)."""
        x = sphere_points(self.n, self.n0, seed=0)
        return x, torch.sign(x[:, 0])


@dataclass
class WidthScan:
    """The runs of :func:`width_scan`, by width (the narrow width included)."""

    settings: Settings
    x: torch.Tensor
    y: torch.Tensor
    lam0: float
    runs: dict[int, TwoLayerRun] = field(default_factory=dict)
    bound: dict[int, torch.Tensor] = field(default_factory=dict)  # R' of Du's Lemma 3.3, (E,)
    hessian: dict[int, torch.Tensor] = field(default_factory=dict)  # tanh, at init, (E,)

    def distance(self, width: int) -> torch.Tensor:
        """sup_t max_r norm(w_r(t) - w_r(0)) of each network of this width: (E,)."""
        return self.runs[width].distance.max(dim=1).values

    def lowest(self, width: int) -> torch.Tensor:
        """min_t lambda_min(H(t)) / lambda_0 of each network: (E,)."""
        return self.runs[width].lambda_min.min(dim=1).values / self.lam0

    def rate_ratio(self, width: int) -> torch.Tensor:
        """max_t C(t) / (C(0) exp(-lambda_0 t / N)) per network: <= 1 where the theorem holds."""
        run = self.runs[width]
        predicted = torch.exp(-self.lam0 * run.times / self.settings.n)
        return (run.loss / run.loss[:, :1] / predicted).max(dim=1).values


def width_scan(settings: Settings) -> WidthScan:
    """Train ``settings.ensemble`` networks of every width (``narrow_ensemble`` of the narrow one)
    and, except at the narrow width, the Hessian norm of the tanh networks with the same weights,
    at the first input."""
    x, y = settings.data()
    scan = WidthScan(settings, x, y, lambda_zero(x))
    for k, m in enumerate((settings.narrow, *settings.widths)):
        e = settings.narrow_ensemble if k == 0 else settings.ensemble
        w, a = init_two_layer(settings.n0, m, ensemble=e, seed=1000 + k)
        scan.runs[m] = train_two_layer(
            w, a, x, y, lr=settings.lr, steps=settings.steps, record_every=settings.record_every
        )
        residual = (outputs(w, a, x) - y).norm(dim=1)
        scan.bound[m] = torch.tensor(
            [movement_bound(r, settings.n, scan.lam0, m) for r in residual]
        )
        if k > 0:
            scan.hessian[m] = hessian_norm(w, a, x[0], iterations=settings.iterations)
    return scan


def plot_run(axes, scan: WidthScan, width: int) -> None:
    """Left: lambda_min(H(t)) / lambda_0 of each network against 1/2; right: C(t) / C(0) against
    the rate exp(-lambda_0 t / N) of the theorem."""
    run, left, right = scan.runs[width], axes[0], axes[1]
    t = run.times
    left.plot(t, (run.lambda_min / scan.lam0).T, color="C0", lw=1, alpha=0.6)
    left.plot([], [], color="C0", lw=1, label="one network each")
    left.axhline(0.5, color="k", ls="--", label=r"$\lambda_{\mathbf{G}}/2$")
    left.set_xlabel("time $t$ (learning rate x steps)")
    left.set_ylabel(r"$\lambda_{\min}(\mathbf{G}(t))\,/\,\lambda_{\mathbf{G}}$")
    left.set_ylim(0, 1.6)
    left.legend(loc="lower right")
    right.semilogy(t, (run.loss / run.loss[:, :1]).T, color="C1", lw=1, alpha=0.6)
    right.semilogy([], [], color="C1", lw=1, label="one network each")
    right.semilogy(t, torch.exp(-scan.lam0 * t / scan.settings.n), "k--", label="theorem's rate")
    right.set_xlabel("time $t$ (learning rate x steps)")
    right.set_ylabel("loss $C(t)\\,/\\,C(0)$")
    right.set_ylim(1e-14, 10)
    right.legend(loc="lower left")
