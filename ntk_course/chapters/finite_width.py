"""How a network of finite width n departs from the infinite-width limit, measured against n.

Theorems 1 and 2 of Jacot, Gabriel & Hongler (2018) are limits n -> infinity; a reader can only
ever simulate finite n, so the checks of the course look at how the gaps shrink as n grows. The
chapters run the loops over widths on the page (``arch.network``, :func:`ntk_course.train`,
:func:`ntk_course.empirical_ntk`); this module collects and draws what they measure:

* :class:`LazyTrainingScan`: during training (Theorem 2 and Remark 4), the relative drift of the
  NTK, the relative movement of each layer's weights, and the gap between the network and its
  linearisation at initialisation, from the training records of each width
  (:meth:`LazyTrainingScan.from_records`; the linearisation's outputs come from
  :func:`ntk_course.linearized.linearized_outputs`);
* :func:`finite_width_sweep`: distance of Theta_0 from Theta_infinity and its drift, per width;
* :func:`plot_scaling`, which draws a power-law fit (:mod:`ntk_course.power_laws`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from matplotlib.ticker import NullLocator

from ..architecture import Architecture
from ..empirical import empirical_ntk
from ..power_laws import PowerLaw, bootstrap_slope, power_law_fit
from ..training import TrainingRecord, train


@dataclass
class LazyTrainingScan:
    """Networks of several widths trained by the same gradient steps (tensors on the CPU, float64).

    Per width and initialisation: ``kernel_drift`` (W, E): ||Theta_T - Theta_0||_F / ||Theta_0||_F
    on the kernel points; ``weight_change`` (W, E, L): ||W_T^(l) - W_0^(l)||_F / ||W_0^(l)||_F for
    each layer l = 0..L-1; ``function_change`` (W, E): the root mean square over the evaluation
    points of f_T - f_0 (how far the function moved); ``linearization_gap`` (W, E): the root mean
    square of f_T - f_T^lin, where f^lin is the network linearised at initialisation and trained by
    the same steps (NaN when ``linearized=False``); ``loss`` (W, E): the final cost C of the
    network.
    """

    widths: tuple[int, ...]
    t: float
    kernel_drift: torch.Tensor
    weight_change: torch.Tensor
    function_change: torch.Tensor
    linearization_gap: torch.Tensor
    loss: torch.Tensor

    @classmethod
    def from_records(
        cls,
        widths: Sequence[int],
        records: Sequence[TrainingRecord],
        linearized: Sequence[torch.Tensor | None] | None = None,
        *,
        t: float,
    ) -> LazyTrainingScan:
        """Collect the training records of one ensemble per width.

        ``records[i]`` is what :func:`ntk_course.train` returned for the ensemble of width
        ``widths[i]``, recorded at steps ``[0, steps]`` with ``x_eval`` and ``kernel_points``;
        ``linearized[i]`` (E, M, n_L) the outputs on ``x_eval`` of the same networks linearised at
        initialisation and trained by the same steps
        (:func:`ntk_course.linearized.linearized_outputs`), or None (the gap is then NaN);
        ``t`` = lr x steps. Raises ValueError if the lengths differ or a record has no kernel drift
        or outputs.
        """
        widths = tuple(int(n) for n in widths)
        lin = [None] * len(widths) if linearized is None else list(linearized)
        if not len(records) == len(lin) == len(widths):
            raise ValueError(
                f"one record (and linearised output) per width: {len(widths)} widths, "
                f"{len(records)} records, {len(lin)} linearised outputs"
            )
        drift, moved, change, gap, loss = [], [], [], [], []
        for rec, f_lin in zip(records, lin):
            if rec.kernel_drift is None or rec.outputs is None:
                raise ValueError("each record needs train(..., x_eval=..., kernel_points=...)")
            drift.append(rec.kernel_drift[-1])
            moved.append(rec.weight_change[-1])
            change.append(_rms(rec.outputs[-1] - rec.outputs[0]))
            loss.append(rec.loss[-1])
            if f_lin is None:
                gap.append(torch.full_like(drift[-1], math.nan))
            else:
                gap.append(_rms(rec.outputs[-1].double() - f_lin.double()))
        as64 = lambda ts: torch.stack(ts).detach().double().cpu()  # noqa: E731
        return cls(widths, float(t), as64(drift), as64(moved), as64(change), as64(gap), as64(loss))

    def fit(self, quantity: str, layer: int | None = None) -> PowerLaw:
        """Power law, against width, of the mean over initialisations of ``quantity``
        (``"kernel_drift"``, ``"weight_change"`` with its ``layer``, ``"linearization_gap"``), with
        the bootstrap standard error of its slope when there are at least two initialisations."""
        if quantity == "weight_change":
            if (
                layer is None
                or not -self.weight_change.shape[-1] <= layer < self.weight_change.shape[-1]
            ):
                raise ValueError(
                    f"weight_change needs a layer in 0..{self.weight_change.shape[-1] - 1}; "
                    f"got {layer!r}"
                )
            values = self.weight_change[..., layer]
        elif quantity in ("kernel_drift", "linearization_gap", "function_change"):
            values = getattr(self, quantity)
        else:
            raise ValueError(
                f"unknown quantity {quantity!r}; expected kernel_drift, weight_change, "
                "linearization_gap or function_change"
            )
        return (
            bootstrap_slope(self.widths, values)
            if values.shape[-1] > 1
            else power_law_fit(self.widths, values.mean(-1))
        )


def _rms(d: torch.Tensor) -> torch.Tensor:
    """Root mean square over the point and output axes (the last two)."""
    return d.pow(2).mean(dim=(-2, -1)).sqrt()


@dataclass
class FiniteWidth:
    """Finite-width effects against the width, one row per width and one column per initialisation
    (W, E).

    ``init_deviation`` ||Theta_0 - Theta_infinity||_F / ||Theta_infinity||_F (Theorem 1 at finite
    width); ``kernel_drift`` ||Theta_T - Theta_0||_F / ||Theta_0||_F after training (Theorem 2 at
    finite width); ``weight_change`` ||W_T^(0) - W_0^(0)||_F / ||W_0^(0)||_F of the first layer;
    ``cost`` the final cost.
    """

    widths: torch.Tensor
    init_deviation: torch.Tensor
    kernel_drift: torch.Tensor
    weight_change: torch.Tensor
    cost: torch.Tensor


def finite_width_sweep(
    widths: Sequence[int],
    x: object,
    y: object,
    arch: Architecture,
    *,
    steps: int = 100,
    lr: float = 1.0,
    ensemble: int = 4,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> FiniteWidth:
    """Distance of the empirical NTK from its limit at initialisation, and its drift during
    training.

    For each width w, ``ensemble`` independent networks ``arch.network(n_0, w)`` are compared with
    Theta_infinity^(L) = ``arch.ntk`` (Theorem 1), then trained together by ``steps`` steps of
    gradient descent with ``lr`` on (x, y) (t = lr x steps), and the change of their kernel and of
    their first-layer weights is measured. At initialisation the deviation is a fluctuation of order
    w^(-1/2); Lee et al. (2019) bound the drift during training by the same order.

    Parameters
    ----------
    widths : sequence of int
        The hidden widths w.
    x : array of shape (N, n_0)
        Training inputs (the kernels are compared on them).
    y : array of shape (N,) or (N, 1)
        Targets.
    arch : Architecture
        Depth (>= 2), activation, beta; a parametrisation with a limiting NTK.
    steps, lr, ensemble, seed
        Gradient-descent steps, learning rate, networks per width, seed of the one generator.
    device : torch.device or str, optional
        Float32 networks there (CPU by default); the limit in float64.

    Returns
    -------
    FiniteWidth
        One row per width, one column per network (W, E).

    Raises
    ------
    ValueError
        If ``arch`` is not an Architecture of depth >= 2 with a limiting NTK, or the library refuses
        the data, a width, ``steps``, ``lr`` or ``ensemble``.
    """
    if not isinstance(arch, Architecture) or arch.depth < 2:
        raise ValueError(
            f"arch must be an Architecture of depth >= 2 (a hidden layer); got {arch!r}"
        )
    if len(widths) == 0:
        raise ValueError("widths must list at least one hidden width")
    xt = torch.as_tensor(x).to(device or "cpu").float()
    theta = arch.ntk(xt.double())  # checks x and that arch has a limiting NTK
    g = torch.Generator(device=xt.device).manual_seed(seed)
    rows: dict[str, list[torch.Tensor]] = {"init": [], "drift": [], "weights": [], "cost": []}
    for w in widths:
        model = arch.network(xt.shape[1], w, ensemble=ensemble, generator=g, device=xt.device)
        k0 = empirical_ntk(model, xt).double()
        record = train(model, xt, y, steps=steps, lr=lr, record_at=[steps])
        k1 = empirical_ntk(model, xt).double()
        rows["init"].append((k0 - theta).flatten(1).norm(dim=1) / theta.norm())
        rows["drift"].append((k1 - k0).flatten(1).norm(dim=1) / k0.flatten(1).norm(dim=1))
        rows["weights"].append(record.weight_change[-1, :, 0].double())
        rows["cost"].append(record.loss[-1].double())
    stack = {k: torch.stack(v).cpu() for k, v in rows.items()}
    return FiniteWidth(
        torch.tensor(list(widths)), stack["init"], stack["drift"], stack["weights"], stack["cost"]
    )


def plot_scaling(
    ax,
    widths: Sequence[int],
    values: object,
    *,
    label: str,
    color: str | None = None,
    marker: str = "o",
    reference: float | None = None,
) -> PowerLaw:
    """Draw ``values`` against ``widths`` on log-log axes with their fitted power law; return the
    fit.

    ``values`` has one entry per width, or shape (W, E) for E initialisations: then each one is a
    faint dot and the mean over them is fitted (:func:`bootstrap_slope`, its standard error in the
    legend when E >= 2) and drawn. ``reference``: also draw a dotted line of that slope through the
    first fitted point. The x ticks are the widths themselves.
    """
    v = torch.as_tensor(values, dtype=torch.float64).cpu()
    n = torch.as_tensor(widths, dtype=torch.float64)
    mean = v.mean(-1) if v.ndim == 2 else v
    fit = (
        bootstrap_slope(widths, v)
        if v.ndim == 2 and v.shape[1] > 1
        else power_law_fit(widths, mean)
    )
    if v.ndim == 2:
        ax.plot(
            n.repeat_interleave(v.shape[1]), v.reshape(-1), marker, color=color, alpha=0.25, ms=4
        )
    (line,) = ax.plot(n, mean, marker, color=color, ms=7)
    spread = "" if math.isnan(fit.std_error) else f" ± {fit.std_error:.2f}"
    ax.plot(n, fit(n), "-", color=line.get_color(), label=f"{label}: slope {fit.slope:.2f}{spread}")
    if reference is not None:
        ax.plot(n, fit(n[0]) * (n / n[0]) ** reference, ":", color="gray")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks([float(w) for w in widths], [str(int(w)) for w in widths])
    ax.xaxis.set_minor_locator(NullLocator())
    return fit
