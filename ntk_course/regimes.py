"""Where the kernel regime of Jacot, Gabriel & Hongler (2018) stops: small experiments on finite networks.

* Parametrisation (Remark 1): :func:`width_sweep` measures the empirical NTK at initialisation, and
  the largest stable learning rate 2N / lambda_max it allows, for growing widths in the NTK and the
  standard parametrisation; :func:`max_stable_learning_rate` is that bound for one Gram matrix.
* Laziness (Chizat, Oyallon & Bach 2019): :func:`lazy_training` trains alpha (f_theta - f_theta_0) with
  the cost C / alpha^2 for several output scales alpha at once, and reports how far the kernel and the
  weights moved and how far the trained network ends from the frozen-kernel prediction
  (:func:`kernel_gradient_descent`); :class:`Centered` is the centred network f_theta - f_theta_0.
* Finite width (Theorems 1 and 2 are limits): :func:`finite_width_sweep` measures the distance of the
  empirical NTK at initialisation from Theta_infinity and its drift during training against the width;
  :func:`ntk_course.finite_width.power_law_fit` fits the exponent.
* Depth: :func:`gain_activation` rescales sigma (a weight variance gain^2 in the hidden layers, e.g.
  He's gain sqrt(2) for ReLU), :func:`depth_profiles` and :func:`condition_numbers` follow the limiting
  NTK on the circle as the depth grows.

The cost is the paper's, C = 1/(2N) sum_i ||f(x_i) - y_i||^2, and time is t = lr x steps.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ._checks import as_inputs, finite_array, kernel_matrix, non_negative, positive_int, same_dimension
from .activations import Activation, Fn, get_activation
from .empirical import empirical_ntk
from .kernels import ntk
from .mlp import PARAMETRIZATIONS, NTKMLP
from .training import train


# --------------------------------------------------------------------------- small helpers


def max_stable_learning_rate(k_train: object) -> torch.Tensor:
    """2N / lambda_max(K): the largest learning rate for which gradient descent on the linearised
    network (kernel gradient descent with the Gram matrix K on N points, cost 1/(2N) sum (f - y)^2)
    does not diverge. The step multiplies the residual by I - lr K / N, stable iff lr lambda_max / N < 2.
    Accepts (N, N) or a batch (E, N, N); returns a 0-d or (E,) float64 tensor.
    """
    k = finite_array(k_train, "k_train", ndims=(2, 3))
    if k.shape[-1] != k.shape[-2]:
        raise ValueError(f"k_train must be square (N, N) or (E, N, N); got shape {tuple(k.shape)}")
    top = torch.linalg.eigvalsh((k + k.mT) / 2)[..., -1]
    if bool((top <= 0).any()):
        raise ValueError("k_train must have a positive largest eigenvalue (a non-zero PSD kernel)")
    return 2.0 * k.shape[-1] / top


def _points(x: object, device: torch.device | str | None) -> torch.Tensor:
    t = as_inputs(x, "x")
    return t.to(device) if device is not None else t


def _generator(seed: int, device: torch.device | str | None) -> torch.Generator:
    return torch.Generator(device=device or "cpu").manual_seed(positive_int(seed, "seed", 0))


# --------------------------------------------------------------------------- (a) parametrisation


@dataclass
class WidthSweep:
    """Empirical NTK at initialisation against the width (Remark 1).

    ``theta_diagonal`` (W,) is the mean of Theta(x_i, x_i) over the points and the ``ensemble``
    initialisations; ``lr_max`` (W,) the mean of 2N / lambda_max(Theta) over the initialisations.
    """

    widths: torch.Tensor
    theta_diagonal: torch.Tensor
    lr_max: torch.Tensor


def width_sweep(
    widths: Sequence[int],
    x: object,
    *,
    depth: int = 3,
    parametrization: str = "ntk",
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    ensemble: int = 8,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> WidthSweep:
    """The empirical NTK at initialisation of networks [n_0, w, ..., w, 1] for each width w.

    In the NTK parametrisation (Section 2) Theta(x, x) tends to Theta_infinity(x, x) (Theorem 1); in
    the standard one (Remark 1: W ~ N(0, 1/n_l), b ~ N(0, beta^2), no factors in the forward pass) the
    gradient with respect to W^(l) is sqrt(n_l) times larger and that with respect to b^(l) 1/beta
    times larger, so Theta grows linearly with the width and the stable learning rate shrinks like
    1/width. ``depth`` counts weight layers; float32 networks on ``device`` (CPU by default), seeded.
    """
    sizes = [positive_int(w, "width") for w in widths]
    if not sizes:
        raise ValueError("widths must list at least one width")
    depth = positive_int(depth, "depth", 2)
    if parametrization not in PARAMETRIZATIONS:
        raise ValueError(f"unknown parametrization {parametrization!r}; expected one of {PARAMETRIZATIONS}")
    ensemble = positive_int(ensemble, "ensemble")
    xt = _points(x, device).float()
    g = _generator(seed, xt.device)
    diag, lr = [], []
    for w in sizes:
        model = NTKMLP([xt.shape[1]] + [w] * (depth - 1) + [1], activation, beta,
                       parametrization=parametrization, ensemble=ensemble, generator=g, device=xt.device)
        k = empirical_ntk(model, xt).double()
        diag.append(k.diagonal(dim1=-2, dim2=-1).mean())
        lr.append(max_stable_learning_rate(k).mean())
    return WidthSweep(torch.tensor(sizes), torch.stack(diag).cpu(), torch.stack(lr).cpu())


def final_costs(
    widths: Sequence[int],
    x: object,
    y: object,
    *,
    lr: float,
    steps: int,
    depth: int = 3,
    parametrization: str = "ntk",
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Cost C after ``steps`` steps of gradient descent at one fixed ``lr``, for each width (W,).

    A run whose cost overflows (gradient descent diverged) gives ``inf``. Shows Remark 1 in action:
    at a fixed learning rate the standard parametrisation stops training once the width pushes
    2N / lambda_max below the learning rate, while the NTK parametrisation does not care.
    """
    sizes = [positive_int(w, "width") for w in widths]
    if not sizes:
        raise ValueError("widths must list at least one width")
    depth = positive_int(depth, "depth", 2)
    steps = positive_int(steps, "steps")
    lr = non_negative(lr, "lr")
    xt = _points(x, device).float()
    yt = finite_array(y, "y", ndims=(1, 2), rows=xt.shape[0], match="x", dtype=torch.float32, device=xt.device)
    g = _generator(seed, xt.device)
    out = []
    for w in sizes:
        model = NTKMLP([xt.shape[1]] + [w] * (depth - 1) + [1], activation, beta,
                       parametrization=parametrization, generator=g, device=xt.device)
        try:
            record = train(model, xt, yt, steps=steps, lr=lr, record_at=[steps])
            out.append(float(record.loss[-1]) if math.isfinite(float(record.loss[-1])) else math.inf)
        except ValueError:  # train() refuses to go on once the cost is not finite
            out.append(math.inf)
    return torch.tensor(out, dtype=torch.float64)


# --------------------------------------------------------------------------- (b) laziness


class Centered(nn.Module):
    """The centred network x -> f_theta(x) - f_theta_0(x), theta_0 the parameters at creation.

    It is 0 at initialisation and has the same tangent kernel as f_theta. The frozen copy that gives
    f_theta_0 is kept out of the module's parameters (it is not trained and not counted).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self._initial = (copy.deepcopy(model).requires_grad_(False),)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            f0 = self._initial[0](x)
        return self.model(x) - f0


def kernel_gradient_descent(
    k_train: object,
    y_train: object,
    *,
    steps: int,
    lr: float,
    k_test_train: object | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Discrete kernel gradient descent from f = 0 with a frozen kernel: the linearised network's GD.

    f_{k+1} = f_k - lr (1/N) K (f_k - y) on the N training points (cost 1/(2N) sum (f - y)^2), and on
    test points f_{k+1}(x) = f_k(x) - lr (1/N) K(x, X) (f_k - y). With K/N = V diag(lam) V^T the
    residual after k steps is V (1 - lr lam)^k V^T (-y). Same convention as
    :func:`ntk_course.flow.gradient_flow`, which is the lr -> 0 limit at t = lr x steps.
    Returns (f_train (N,) or (N, k), f_test (M, ...) or None) in float64 on the kernel's device.
    """
    k = kernel_matrix(k_train, "k_train", symmetric=True)
    n = k.shape[0]
    y = finite_array(y_train, "y_train", rows=n, match="k_train's N training points", device=k.device)
    steps = positive_int(steps, "steps", 0)
    lr = non_negative(lr, "lr")
    lam, v = torch.linalg.eigh((k + k.T) / (2 * n))
    lam = lam.clamp(min=0.0)
    y2 = y[:, None] if y.ndim == 1 else y
    decay = (1.0 - lr * lam) ** steps
    coef = v.T @ y2  # y in the eigenbasis
    f_train = y2 - v @ (decay[:, None] * coef)
    f_test = None
    if k_test_train is not None:
        kx = kernel_matrix(k_test_train, "k_test_train", cols=n, match="k_train's N training points", device=k.device)
        # sum_{j<steps} lr (1 - lr lam)^j = (1 - (1 - lr lam)^steps) / lam, and lr * steps at lam = 0
        pos = lam > 0
        total = torch.where(pos, (1.0 - decay) / torch.where(pos, lam, torch.ones_like(lam)), torch.full_like(lam, lr * steps))
        f_test = kx @ (v @ (total[:, None] * coef)) / n
        f_test = f_test.squeeze(-1) if y.ndim == 1 else f_test
    return (f_train.squeeze(-1) if y.ndim == 1 else f_train), f_test


@dataclass
class LazyTraining:
    """What training alpha (f_theta - f_theta_0) did, one entry per output scale alpha (A,).

    ``kernel_drift`` ||Theta_T - Theta_0||_F / ||Theta_0||_F of the empirical NTK of f_theta on the
    training points (the NTK of the scaled model is alpha^2 times it; the relative drift is the same);
    ``weight_change`` ||W_T^(0) - W_0^(0)||_F / ||W_0^(0)||_F of the first layer; ``cost`` the cost
    C(alpha (f_T - f_0)) of the scaled model; ``f_test`` (A, M) alpha (f_T - f_0) on the test points;
    ``f_kernel`` (M,) the prediction of gradient descent with the frozen kernel Theta_0 (the same for
    every alpha), and ``deviation`` (A,) = ||f_test - f_kernel|| / ||f_kernel||. ``w_initial``
    (width, n_0) and ``w_final`` (A, width, n_0) are the first-layer weights before and after training.
    """

    alphas: torch.Tensor
    kernel_drift: torch.Tensor
    weight_change: torch.Tensor
    cost: torch.Tensor
    f_test: torch.Tensor
    f_kernel: torch.Tensor
    deviation: torch.Tensor
    w_initial: torch.Tensor
    w_final: torch.Tensor


def lazy_training(
    alphas: Sequence[float],
    x: object,
    y: object,
    *,
    x_test: object,
    width: int = 256,
    depth: int = 3,
    steps: int = 200,
    lr: float = 1.0,
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> LazyTraining:
    """Train the scaled model alpha (f_theta - f_theta_0) on (x, y) for every alpha, from ONE initialisation.

    Chizat, Oyallon & Bach (2019): gradient descent with learning rate ``lr`` on the cost
    C(alpha (f_theta - f_theta_0)) / alpha^2 moves the function at a speed that does not depend on
    alpha at initialisation (its tangent kernel is alpha^2 Theta times lr / alpha^2), while the
    parameters travel a distance of order 1/alpha: large alpha is lazy (the kernel regime of Theorem 2),
    small alpha leaves it. The division by alpha^2 makes this exactly gradient descent with ``lr`` on
    1/(2N) sum (f_theta - f_theta_0 - y / alpha)^2, which is what runs here: all alphas at once, as an
    ensemble of identical copies of one NTK-parametrised network [n_0, width, ..., width, 1], with
    member a aiming at y / alpha_a. Float32 on ``device`` (CPU by default); seeded.
    """
    a = finite_array(alphas, "alphas", ndims=(1,))
    if bool((a <= 0).any()):
        raise ValueError(f"alphas must be > 0; got {a.tolist()}")
    width = positive_int(width, "width")
    depth = positive_int(depth, "depth", 2)
    steps = positive_int(steps, "steps")
    lr = non_negative(lr, "lr")
    xt = _points(x, device).float()
    xe = as_inputs(x_test, "x_test").float().to(xt.device)
    same_dimension(xt, xe)
    yt = finite_array(y, "y", ndims=(1, 2), rows=xt.shape[0], match="x", dtype=torch.float32, device=xt.device)
    yt = yt[:, None] if yt.ndim == 1 else yt
    if yt.shape[1] != 1:
        raise ValueError(f"y must hold one output per point, shape (N,) or (N, 1); got {tuple(yt.shape)}")
    n_alpha = a.shape[0]
    model = NTKMLP([xt.shape[1]] + [width] * (depth - 1) + [1], activation, beta,
                   ensemble=n_alpha, generator=_generator(seed, xt.device), device=xt.device)
    with torch.no_grad():  # every member starts from member 0's parameters
        for p in model.parameters():
            p.copy_(p[:1].expand_as(p))
    k0 = empirical_ntk(model, xt)[0].double()
    kx0 = empirical_ntk(model, xe, xt)[0].double()
    w0 = model.weights[0].detach().clone()
    scale = a.to(device=xt.device, dtype=torch.float32)[:, None, None]
    record = train(Centered(model), xt, yt[None] / scale, steps=steps, lr=lr, record_at=[steps], x_eval=xe)
    k1 = empirical_ntk(model, xt).double()
    drift = (k1 - k0).flatten(1).norm(dim=1) / k0.norm()
    moved = (model.weights[0].detach() - w0).flatten(1).norm(dim=1) / w0[0].norm()
    f_test = (record.outputs[-1, :, :, 0] * scale[:, :, 0]).double()
    _, f_kernel = kernel_gradient_descent(k0, yt[:, 0].double(), steps=steps, lr=lr, k_test_train=kx0)
    assert f_kernel is not None
    deviation = (f_test - f_kernel).norm(dim=1) / f_kernel.norm()
    cost = record.loss[-1].double() * a.to(xt.device) ** 2
    return LazyTraining(a.cpu(), drift.cpu(), moved.double().cpu(), cost.cpu(), f_test.cpu(), f_kernel.cpu(),
                        deviation.cpu(), w0[0].cpu(), model.weights[0].detach().cpu())


@dataclass
class LearningRateSweep:
    """Gradient descent at learning rates lr = factor x 2N / lambda_max(Theta_0), one entry per factor (F,).

    ``lr_max`` is 2N / lambda_max(Theta_0) of the initial network; ``kernel_drift`` the relative change
    of its empirical NTK; ``top_eigenvalue_ratio`` lambda_max(Theta_T) / lambda_max(Theta_0); ``cost``
    the final cost. A diverged run (non-finite cost) has ``inf`` cost and NaN drift and ratio.
    """

    factors: torch.Tensor
    lr_max: float
    kernel_drift: torch.Tensor
    top_eigenvalue_ratio: torch.Tensor
    cost: torch.Tensor


def learning_rate_sweep(
    factors: Sequence[float],
    x: object,
    y: object,
    *,
    width: int = 512,
    depth: int = 3,
    steps: int = 200,
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> LearningRateSweep:
    """Train copies of ONE network at learning rates factor x 2N / lambda_max(Theta_0).

    Below factor 1 the linearised network converges and a wide network stays close to it (Theorem 2
    with t = lr x steps). Above 1 the linearised network diverges along the top eigenvector; a real
    network can instead move to a region where lambda_max is smaller and then converge, with a large
    change of its kernel (the "catapult" of Lewkowycz et al. 2020), and diverges for larger factors.
    """
    fs = finite_array(factors, "factors", ndims=(1,))
    if bool((fs <= 0).any()):
        raise ValueError(f"factors must be > 0; got {fs.tolist()}")
    width = positive_int(width, "width")
    depth = positive_int(depth, "depth", 2)
    steps = positive_int(steps, "steps")
    xt = _points(x, device).float()
    yt = finite_array(y, "y", ndims=(1, 2), rows=xt.shape[0], match="x", dtype=torch.float32, device=xt.device)
    initial = NTKMLP([xt.shape[1]] + [width] * (depth - 1) + [1], activation, beta,
                     generator=_generator(seed, xt.device), device=xt.device)
    k0 = empirical_ntk(initial, xt).double()
    top0 = torch.linalg.eigvalsh(k0)[-1]
    lr_max = float(max_stable_learning_rate(k0))
    drift, ratio, cost = [], [], []
    for f in fs.tolist():
        model = copy.deepcopy(initial)
        try:
            record = train(model, xt, yt, steps=steps, lr=f * lr_max, record_at=[steps])
        except ValueError:  # train() stops once the cost is not finite: diverged
            drift.append(math.nan), ratio.append(math.nan), cost.append(math.inf)
            continue
        k1 = empirical_ntk(model, xt).double()
        drift.append(float((k1 - k0).norm() / k0.norm()))
        ratio.append(float(torch.linalg.eigvalsh(k1)[-1] / top0))
        cost.append(float(record.loss[-1]))
    as_t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    return LearningRateSweep(fs.cpu(), lr_max, as_t(drift), as_t(ratio), as_t(cost))


# --------------------------------------------------------------------------- (c) finite width


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
    sizes = [positive_int(w, "width") for w in widths]
    if not sizes:
        raise ValueError("widths must list at least one width")
    depth = positive_int(depth, "depth", 2)
    steps = positive_int(steps, "steps")
    lr = non_negative(lr, "lr")
    ensemble = positive_int(ensemble, "ensemble")
    xt = _points(x, device).float()
    yt = finite_array(y, "y", ndims=(1, 2), rows=xt.shape[0], match="x", dtype=torch.float32, device=xt.device)
    theta = ntk(xt.double(), depth=depth, activation=activation, beta=beta)
    g = _generator(seed, xt.device)
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


# --------------------------------------------------------------------------- (d) depth


def gain_activation(activation: str | Activation | Fn, gain: float) -> Activation:
    """sigma_g(z) = gain * sigma(z): hidden weights of variance gain^2 instead of 1 (He: gain sqrt(2), ReLU).

    In the recursions of Proposition 1 and Theorem 1 only the products sigma(u) sigma(v) and
    sigma_dot(u) sigma_dot(v) enter, so both expectations are gain^2 times those of sigma; the closed
    forms of ReLU and erf carry over exactly. This equals drawing W^(l) ~ N(0, gain^2) for l >= 1.
    """
    gain = non_negative(gain, "gain")
    base = get_activation(activation)
    g2 = gain * gain

    def closed_form(q_xx: torch.Tensor, q_xy: torch.Tensor, q_yy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e_s, e_d = base.expectations(q_xx, q_xy, q_yy)
        return g2 * e_s, g2 * e_d

    return Activation(f"{gain:g}*{base.name}", lambda z: gain * base.sigma(z), lambda z: gain * base.sigma_dot(z),
                      closed_form, base.quadrature_points)


def depth_profiles(
    depths: Sequence[int],
    x0: object,
    x: object,
    *,
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
) -> torch.Tensor:
    """Theta^(L)(x_0, x) / Theta^(L)(x_0, x_0) for every depth L in ``depths``: (D, M), float64.

    The normalised limiting NTK seen from one point x_0 (a single point, shape (n_0,) or (1, n_0)).
    """
    ds = [positive_int(d, "depth") for d in depths]
    if not ds:
        raise ValueError("depths must list at least one depth")
    p = as_inputs(x0, "x0", torch.float64)
    if p.shape[0] != 1:
        raise ValueError(f"x0 must be one point, shape (n_0,) or (1, n_0); got {tuple(p.shape)}")
    xs = as_inputs(x, "x", torch.float64).to(p.device)
    same_dimension(p, xs)
    rows = []
    for d in ds:
        row = ntk(p, xs, depth=d, activation=activation, beta=beta)[0]
        rows.append(row / ntk(p, depth=d, activation=activation, beta=beta)[0, 0])
    return torch.stack(rows)


def condition_numbers(
    depths: Sequence[int],
    x: object,
    *,
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
) -> torch.Tensor:
    """lambda_max / lambda_min of the Gram matrix Theta^(L)(x_i, x_j) for every L in ``depths`` (D,).

    The number of gradient-descent steps needed to fit the slowest direction at the largest stable
    learning rate is of this order (Section 5: the component along eigenvalue lambda decays like
    (1 - lr lambda / N)^k with lr < 2N / lambda_max). ``inf`` when lambda_min <= 0 (singular in float64).
    """
    ds = [positive_int(d, "depth") for d in depths]
    if not ds:
        raise ValueError("depths must list at least one depth")
    xs = as_inputs(x, "x", torch.float64)
    out = []
    for d in ds:
        values = torch.linalg.eigvalsh(ntk(xs, depth=d, activation=activation, beta=beta))
        out.append(values[-1] / values[0] if values[0] > 0 else torch.tensor(math.inf, dtype=torch.float64))
    return torch.stack(out).cpu()
