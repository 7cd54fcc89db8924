"""How a network of finite width n departs from the infinite-width limit, measured against n.

Theorems 1 and 2 of Jacot, Gabriel & Hongler (2018) are limits n -> infinity; a reader can only
ever simulate finite n, so the checks of the course look at how the gaps shrink as n grows:

* :func:`kernel_fluctuations`: the spread over initialisations of the empirical NTK at t = 0, which
  the law of large numbers behind Theorem 1 makes O(1/sqrt(n)), and the bias of its mean.
* :func:`lazy_training_scan`: during training (Theorem 2 and Remark 4), the relative drift of the
  NTK, the relative movement of each layer's weights, and the gap between the network and its
  linearisation at initialisation (:class:`ntk_course.linearized.Linearized`) trained by the same
  gradient steps.
* :func:`power_law_fit`: the exponent s of a fit value ~ c n^s on a log-log scale;
  :func:`bootstrap_slope`: the same fit to means over initialisations, with the standard error of s
  from resampling the initialisations; :func:`plot_scaling`, which draws such a fit.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from matplotlib.ticker import NullLocator
from tqdm.auto import tqdm

from .._checks import (
    as_inputs,
    finite_array,
    hidden_widths,
    non_negative,
    positive_int,
    seeded_generator,
)
from ..activations import Activation, Fn
from ..config import default_device
from ..empirical import empirical_ntk
from ..flow import gradient_descent
from ..kernels import ntk
from ..linearized import Linearized
from ..mlp import NTKMLP
from ..training import train
from ..power_laws import PowerLaw, bootstrap_slope, power_law_fit


def _network(width: int, n0: int, n_out: int, depth: int, activation, beta: float, n_init: int,
             seed: int, device: torch.device, dtype: torch.dtype) -> NTKMLP:
    """An ensemble of ``n_init`` networks [n0, width, ..., width, n_out] of ``depth`` weight layers."""
    generator = seeded_generator(seed, device)
    return NTKMLP([n0] + [width] * (depth - 1) + [n_out], activation, beta, ensemble=n_init,
                  generator=generator, dtype=dtype, device=device)


@dataclass
class FluctuationScan:
    """Empirical NTKs at initialisation for several widths (tensors on the CPU, float64).

    ``std`` (W,): the standard deviation over initialisations of Theta(x, y), averaged over the
    entries; ``bias`` (W,): max |mean over initialisations - Theta_inf| / max |Theta_inf|;
    ``limit`` (N, M): Theta_inf^(depth)(x, y); ``kernels``: the empirical kernels of each width,
    each (n_init, N, M).
    """

    widths: tuple[int, ...]
    std: torch.Tensor
    bias: torch.Tensor
    limit: torch.Tensor
    kernels: tuple[torch.Tensor, ...]

    def fit(self) -> PowerLaw:
        """The power law std ~ c n^s (Theorem 1's law of large numbers predicts s = -1/2)."""
        return power_law_fit(self.widths, self.std)


def kernel_fluctuations(
    x: object,
    y: object | None = None,
    *,
    widths: Sequence[int],
    depth: int,
    n_init: int,
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> FluctuationScan:
    """The empirical NTK Theta(x, y) of ``n_init`` random networks for each width, against Theta_inf.

    Each width is one ensemble ``NTKMLP([n_0, n, ..., n, 1], ensemble=n_init)`` of ``depth`` weight
    layers (Section 2 parametrisation), its kernel computed by the structured method. Theorem 1 says
    the kernels converge in probability to ``ntk(x, y, depth=depth)``; the central limit theorem
    behind it makes their spread O(1/sqrt(n)).
    """
    widths = tuple(hidden_widths(widths, distinct=True))
    depth = positive_int(depth, "depth")
    n_init = positive_int(n_init, "n_init", minimum=2)
    beta = non_negative(beta, "beta")
    seed = positive_int(seed, "seed", minimum=0)
    device = default_device() if device is None else torch.device(device)
    xt = as_inputs(x, "x", dtype).to(device)
    yt = None if y is None else as_inputs(y, "y", dtype).to(device)
    limit = ntk(xt.double(), None if yt is None else yt.double(), depth=depth, activation=activation, beta=beta).cpu()
    stds, biases, kernels = [], [], []
    for k, width in enumerate(widths):
        net = _network(width, xt.shape[1], 1, depth, activation, beta, n_init, seed * 1_000_003 + k, device, dtype)
        theta = empirical_ntk(net, xt, yt).double().cpu()  # (n_init, N, M)
        del net
        kernels.append(theta)
        stds.append(theta.std(0).mean())
        biases.append((theta.mean(0) - limit).abs().max() / limit.abs().max())
    return FluctuationScan(widths, torch.stack(stds), torch.stack(biases), limit, tuple(kernels))


@dataclass
class LazyTrainingScan:
    """Networks of several widths trained by the same gradient steps (tensors on the CPU, float64).

    Per width and initialisation: ``kernel_drift`` (W, E): ||Theta_T - Theta_0||_F / ||Theta_0||_F on
    the kernel points; ``weight_change`` (W, E, L): ||W_T^(l) - W_0^(l)||_F / ||W_0^(l)||_F for each
    layer l = 0..L-1; ``function_change`` (W, E): the root mean square over the evaluation points
    of f_T - f_0 (how far the function moved); ``linearization_gap`` (W, E): the root mean square of
    f_T - f_T^lin, where f^lin is the network linearised at initialisation and trained by the same
    steps (NaN when ``linearized=False``); ``loss`` (W, E): the final cost C of the network.
    """

    widths: tuple[int, ...]
    t: float
    kernel_drift: torch.Tensor
    weight_change: torch.Tensor
    function_change: torch.Tensor
    linearization_gap: torch.Tensor
    loss: torch.Tensor

    def fit(self, quantity: str, layer: int | None = None) -> PowerLaw:
        """Power law, against width, of the mean over initialisations of ``quantity``
        (``"kernel_drift"``, ``"weight_change"`` with its ``layer``, ``"linearization_gap"``), with
        the bootstrap standard error of its slope when there are at least two initialisations."""
        if quantity == "weight_change":
            if layer is None or not -self.weight_change.shape[-1] <= layer < self.weight_change.shape[-1]:
                raise ValueError(f"weight_change needs a layer in 0..{self.weight_change.shape[-1] - 1}; got {layer!r}")
            values = self.weight_change[..., layer]
        elif quantity in ("kernel_drift", "linearization_gap", "function_change"):
            values = getattr(self, quantity)
        else:
            raise ValueError(f"unknown quantity {quantity!r}; expected kernel_drift, weight_change, "
                             "linearization_gap or function_change")
        return bootstrap_slope(self.widths, values) if values.shape[-1] > 1 else power_law_fit(self.widths, values.mean(-1))


LINEARIZED = ("kernel", "module", None)


@torch.no_grad()
def linearized_outputs(model: NTKMLP, x: torch.Tensor, y: torch.Tensor, x_eval: torch.Tensor, *,
                       steps: int, lr: float) -> torch.Tensor:
    """Outputs on ``x_eval`` of ``model`` linearised at its current parameters, after ``steps``
    gradient-descent steps of learning rate ``lr`` on C = 1/(2N) sum_i ||f(x_i) - y_i||^2.

    The linearisation f_lin(theta) = f(theta_0) + J (theta - theta_0) has a constant Jacobian, so one
    step moves its outputs by -lr J(.) J(X)^T r / N = -(lr / N) Theta_0(., X) r with r = f_lin(X) - Y:
    kernel gradient descent (Section 3) with the empirical NTK frozen at Theta_0, solved exactly by
    :func:`ntk_course.flow.gradient_descent` on the (N n_L) x (N n_L) kernel with its output axes.
    Same iterates as training ``Linearized(model)``. Computes in float64; returns ([E,] M, n_L) on
    the model's device.
    """
    n, n_out = x.shape[0], model.widths[-1]
    k_tt = empirical_ntk(model, x, output_axes=True).double()  # ([E,] N, N, n_L, n_L)
    k_et = empirical_ntk(model, x_eval, x, output_axes=True).double()  # ([E,] M, N, n_L, n_L)
    f_t, f_e = model(x).double(), model(x_eval).double()
    target = torch.broadcast_to(y.to(f_t), f_t.shape)
    lead = f_t.shape[:-2]
    flat = lambda k: k.transpose(-3, -2).reshape(*k.shape[:-4], k.shape[-4] * n_out, -1)  # noqa: E731
    kt, ke = flat(k_tt).reshape(-1, n * n_out, n * n_out), flat(k_et).reshape(-1, f_e.shape[-2] * n_out, n * n_out)
    ft, fe, yt = f_t.reshape(-1, n * n_out), f_e.reshape(-1, f_e.shape[-2] * n_out), target.reshape(-1, n * n_out)
    out = []
    for k, kx, f0, f0x, yy in zip(kt, ke, ft, fe, yt):
        # gradient_descent divides by its number of rows, N n_L; the cost divides by N: scale lr by n_L.
        run = gradient_descent((k + k.mT) / 2, yy, [steps], lr=lr * n_out, k_test_train=kx, f0_train=f0, f0_test=f0x)
        out.append(run.f_test[-1])
    return torch.stack(out).reshape(*lead, f_e.shape[-2], n_out)


def _rms(d: torch.Tensor) -> torch.Tensor:
    """Root mean square over the point and output axes (the last two)."""
    return d.pow(2).mean(dim=(-2, -1)).sqrt()


def lazy_training_scan(
    x: object,
    y: object,
    *,
    widths: Sequence[int],
    depth: int,
    n_init: int,
    steps: int,
    lr: float = 1.0,
    x_eval: object | None = None,
    kernel_points: tuple[object, object] | object | None = None,
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    seed: int = 0,
    linearized: str | None = "kernel",
    device: torch.device | str | None = None,
    progress: bool = False,
) -> LazyTrainingScan:
    """Train ``n_init`` networks of each width on (x, y) and measure how lazily they train.

    Gradient descent on the paper's cost C = 1/(2N) sum_i ||f(x_i) - y_i||^2 for ``steps`` steps of
    learning rate ``lr`` (time t = lr x steps), with :func:`ntk_course.training.train`. The kernel is
    recorded on ``kernel_points`` (default: the evaluation points ``x_eval``, which default to the
    training inputs). The network linearised in its parameters at initialisation is trained by the
    same steps and the two outputs are compared on ``x_eval``: with ``linearized="module"`` by
    training :class:`~ntk_course.linearized.Linearized` with ``train``; with ``"kernel"`` (default,
    much cheaper, the same iterates up to round-off) by the equivalent kernel gradient descent with
    the frozen empirical kernel Theta_0, f <- f - (lr / N) Theta_0(., X) (f(X) - Y) (see
    :func:`linearized_outputs`); with ``None`` the gap is not computed (NaN).
    Theorem 2 says the drift and the weight movement vanish as n grows; Lee et al. (2019) show that
    the gap to the linearised network does too.
    """
    if linearized not in LINEARIZED:
        raise ValueError(f"unknown linearized={linearized!r}; expected one of {LINEARIZED}")
    widths = tuple(hidden_widths(widths, distinct=True))
    depth = positive_int(depth, "depth")
    n_init = positive_int(n_init, "n_init")
    steps = positive_int(steps, "steps")
    lr = non_negative(lr, "lr")
    seed = positive_int(seed, "seed", minimum=0)
    device = default_device() if device is None else torch.device(device)
    xt = as_inputs(x, "x", torch.float32).to(device)
    xe = xt if x_eval is None else as_inputs(x_eval, "x_eval", torch.float32).to(device)
    if xe.shape[1] != xt.shape[1]:
        raise ValueError(f"x_eval must have n_0 = {xt.shape[1]} columns like x; got shape {tuple(xe.shape)}")
    yt = torch.as_tensor(y, dtype=torch.float32, device=device)
    if yt.ndim == 1:
        yt = yt[:, None]
    if yt.ndim != 2 or yt.shape[0] != xt.shape[0]:
        raise ValueError(f"y must have shape (N, n_L) with N = {xt.shape[0]}; got {tuple(yt.shape)}")
    kp = xe if kernel_points is None else kernel_points
    drift, moved, change, gap, loss = [], [], [], [], []
    for k, width in enumerate(tqdm(widths, disable=not progress, desc="widths", leave=False)):
        net = _network(width, xt.shape[1], yt.shape[1], depth, activation, beta, n_init,
                       seed * 1_000_003 + k, device, torch.float32)
        if linearized == "module":
            lin = Linearized(net)
            f_lin = train(lin, xt, yt, steps=steps, lr=lr, record_at=[steps], x_eval=xe).outputs[-1]
            del lin
        elif linearized == "kernel":
            f_lin = linearized_outputs(net, xt, yt, xe, steps=steps, lr=lr)
        rec = train(net, xt, yt, steps=steps, lr=lr, record_at=[0, steps], x_eval=xe, kernel_points=kp)
        assert rec.kernel_drift is not None
        drift.append(rec.kernel_drift[-1])
        moved.append(rec.weight_change[-1])
        change.append(_rms(rec.outputs[-1] - rec.outputs[0]))
        loss.append(rec.loss[-1])
        if linearized is None:
            gap.append(torch.full_like(drift[-1], math.nan))
        else:
            gap.append(_rms(rec.outputs[-1].double() - f_lin.double()))
        del net
    as64 = lambda ts: torch.stack(ts).detach().double().cpu()  # noqa: E731
    return LazyTrainingScan(widths, lr * steps, as64(drift), as64(moved), as64(change), as64(gap), as64(loss))


@dataclass
class FiniteWidth:
    """Finite-width effects against the width, one row per width and one column per initialisation (W, E).

    ``init_deviation`` ||Theta_0 - Theta_infinity||_F / ||Theta_infinity||_F (Theorem 1 at finite width);
    ``kernel_drift`` ||Theta_T - Theta_0||_F / ||Theta_0||_F after training (Theorem 2 at finite width);
    ``weight_change`` ||W_T^(0) - W_0^(0)||_F / ||W_0^(0)||_F of the first layer; ``cost`` the final cost.
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
    *,
    depth: int = 3,
    steps: int = 100,
    lr: float = 1.0,
    ensemble: int = 4,
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> FiniteWidth:
    """Distance of the empirical NTK from its limit at initialisation, and its drift during training.

    For each width w, ``ensemble`` independent NTK-parametrised networks [n_0, w, ..., w, 1] are
    compared with Theta_infinity^(depth) (Theorem 1), then trained together by ``steps`` steps of
    gradient descent with ``lr`` on (x, y) (t = lr x steps), and the change of their kernel and of
    their first-layer weights is measured. At initialisation the deviation is a fluctuation of order
    w^(-1/2); Lee et al. (2019) bound the drift during training by the same order. Float32 networks,
    float64 limit, on ``device`` (CPU by default); seeded.
    """
    sizes = hidden_widths(widths)
    depth = positive_int(depth, "depth", 2)
    steps = positive_int(steps, "steps")
    lr = non_negative(lr, "lr")
    ensemble = positive_int(ensemble, "ensemble")
    xt = as_inputs(x, "x").to(device or "cpu").float()
    yt = finite_array(y, "y", ndims=(1, 2), rows=xt.shape[0], match="x", dtype=torch.float32, device=xt.device)
    theta = ntk(xt.double(), depth=depth, activation=activation, beta=beta)
    g = seeded_generator(seed, xt.device)
    rows: dict[str, list[torch.Tensor]] = {"init": [], "drift": [], "weights": [], "cost": []}
    for w in sizes:
        model = NTKMLP([xt.shape[1]] + [w] * (depth - 1) + [1], activation, beta,
                       ensemble=ensemble, generator=g, device=xt.device)
        k0 = empirical_ntk(model, xt).double()
        record = train(model, xt, yt, steps=steps, lr=lr, record_at=[steps])
        k1 = empirical_ntk(model, xt).double()
        rows["init"].append((k0 - theta).flatten(1).norm(dim=1) / theta.norm())
        rows["drift"].append((k1 - k0).flatten(1).norm(dim=1) / k0.flatten(1).norm(dim=1))
        rows["weights"].append(record.weight_change[-1, :, 0].double())
        rows["cost"].append(record.loss[-1].double())
    stack = {k: torch.stack(v).cpu() for k, v in rows.items()}
    return FiniteWidth(torch.tensor(sizes), stack["init"], stack["drift"], stack["weights"], stack["cost"])


def plot_scaling(ax, widths: Sequence[int], values: object, *, label: str, color: str | None = None,
                 marker: str = "o", reference: float | None = None) -> PowerLaw:
    """Draw ``values`` against ``widths`` on log-log axes with their fitted power law; return the fit.

    ``values`` has one entry per width, or shape (W, E) for E initialisations: then each one is a
    faint dot and the mean over them is fitted (:func:`bootstrap_slope`, its standard error in the
    legend when E >= 2) and drawn. ``reference``: also draw a dotted line of that slope through the
    first fitted point. The x ticks are the widths themselves.
    """
    v = torch.as_tensor(values, dtype=torch.float64).cpu()
    n = torch.as_tensor(widths, dtype=torch.float64)
    mean = v.mean(-1) if v.ndim == 2 else v
    fit = bootstrap_slope(widths, v) if v.ndim == 2 and v.shape[1] > 1 else power_law_fit(widths, mean)
    if v.ndim == 2:
        ax.plot(n.repeat_interleave(v.shape[1]), v.reshape(-1), marker, color=color, alpha=0.25, ms=4)
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
