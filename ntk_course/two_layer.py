"""The two-layer network of Du, Zhai, Poczos & Singh (ICLR 2019), trained for all times.

Du et al.'s setting: inputs on the unit sphere, ``norm(x_i) = 1``, and

    f(x) = m^(-1/2) sum_{r=1}^m a_r sigma(w_r . x),    w_r(0) ~ N(0, Id),  a_r = +-1 fixed,

with only the first layer W = (w_1, ..., w_m) trained. Its Gram matrix (the tangent kernel of the
first layer on the training points) and the infinite-width limit are

    H_ij(W) = x_i.x_j (1/m) sum_r a_r^2 sigma'(w_r.x_i) sigma'(w_r.x_j),
    H^inf_ij = x_i.x_j (pi - angle(x_i, x_j)) / (2 pi)                      (ReLU),

and lambda_0 = lambda_min(H^inf) > 0 when no two inputs are parallel (their Theorem 3.1).

Why not :class:`~ntk_course.NTKMLP`: it scales the first layer by n_0^(-1/2), draws a_r ~ N(0, 1)
and trains both layers. Without the n_0^(-1/2), the first layer's part of the course's
Theta_infinity^(2) at beta = 0 (the term Theta^(1) Sigma_dot^(2) of Theorem 1) is H^inf / n_0:
``H^inf = n_0 * (Theta - Sigma)`` with the course's :func:`~ntk_course.limiting_kernels`.

Conventions (DESIGN.md): the cost is C = 1/(2N) sum_i (f(x_i) - y_i)^2 and the time is
t = learning rate x steps, so the outputs move as du/dt = -(1/N) H (u - y). Du et al.'s cost has no
1/N: their time is t/N, their rate exp(-lambda_0 t/2) on norm(u - y) reads exp(-lambda_0 t/(2N))
here, and the distance travelled, a length in weight space, is the same in both.

Each function cites the lemma it implements; Liu, Zhu & Belkin (2020) give the Hessian's
O(m^(-1/2)) (:func:`hessian_norm`).

Letters: Du et al.'s, to check each formula against their paper; ``book/global_convergence.md``
writes the course's (``book/notation.md``): H is G, H^inf is G^inf, lambda_0 is lambda_G, u is
y-hat, the width m is n, delta is p_fail, and their time t is the course's t/N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._checks import as_inputs, non_negative, positive, positive_int

ACTIVATIONS = ("relu", "tanh")


def _activation(name: str) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return name


def _sigma(z: torch.Tensor, name: str) -> torch.Tensor:
    return torch.relu(z) if name == "relu" else torch.tanh(z)


def _sigma_dot(z: torch.Tensor, name: str) -> torch.Tensor:
    """sigma'(z); for ReLU Du's convention 1{z >= 0}."""
    return (z >= 0).to(z.dtype) if name == "relu" else 1 - torch.tanh(z) ** 2


def _weights(w: object, a: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Check W of shape (E, m, d) and a of shape (E, m); one network (m, d), (m,) gets E = 1."""
    w, a = torch.as_tensor(w), torch.as_tensor(a)
    if w.ndim == 2 and a.ndim == 1:
        w, a = w[None], a[None]
    if w.ndim != 3 or a.shape != w.shape[:2]:
        raise ValueError(
            "expected W of shape (E, m, d) and a of shape (E, m) (or (m, d) and (m,)); "
            f"got {tuple(w.shape)} and {tuple(a.shape)}"
        )
    if not (bool(torch.isfinite(w).all()) and bool(torch.isfinite(a).all())):
        raise ValueError("W and a must be finite")
    return w, a.to(w.dtype)


def _points(x: object, w: torch.Tensor) -> torch.Tensor:
    x = as_inputs(x, dtype=w.dtype).to(w.device)
    if x.shape[1] != w.shape[-1]:
        raise ValueError(
            f"x has dimension {x.shape[1]} but the weights expect {w.shape[-1]} (W is (E, m, d))"
        )
    return x


def init_two_layer(
    n0: int,
    width: int,
    *,
    ensemble: int = 1,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw Du et al.'s initialisation: w_r(0) ~ N(0, Id_{n0}) and a_r uniform on {-1, +1}.

    Parameters
    ----------
    n0, width : int
        The input dimension d and the number m of hidden units (each >= 1).
    ensemble : int, default 1
        E, the number of independent networks drawn at once.
    seed : int, default 0
        Seeds the draw (>= 0).
    dtype, device : torch.dtype (default float64) and device (drawn on the CPU, then moved)

    Returns
    -------
    (W, a) : tensors of shapes (E, m, n0) and (E, m)

    Examples
    --------
    >>> w, a = init_two_layer(3, 5, ensemble=2)
    >>> tuple(w.shape), sorted(set(a.flatten().tolist()))
    ((2, 5, 3), [-1.0, 1.0])
    """
    n0, m = positive_int(n0, "n0"), positive_int(width, "width")
    e = positive_int(ensemble, "ensemble")
    g = torch.Generator().manual_seed(positive_int(seed, "seed", 0))
    w = torch.randn(e, m, n0, generator=g, dtype=dtype)
    a = torch.randint(0, 2, (e, m), generator=g).to(dtype) * 2 - 1
    return w.to(device), a.to(device)


def outputs(w: object, a: object, x: object, activation: str = "relu") -> torch.Tensor:
    """f(x_i) = m^(-1/2) sum_r a_r sigma(w_r . x_i) for every network: shape (E, N) (Du eq. (1)).

    Parameters
    ----------
    w, a : tensors of shapes (E, m, d) and (E, m)
        First-layer weights and output signs, as :func:`init_two_layer` returns them.
    x : array_like, shape (N, d)
        The inputs.
    activation : {"relu", "tanh"}, default "relu"
    """
    w, a = _weights(w, a)
    x, name = _points(x, w), _activation(activation)
    return torch.einsum("enm,em->en", _sigma(torch.einsum("nd,emd->enm", x, w), name), a) / (
        math.sqrt(w.shape[1])
    )


def gram(w: object, a: object, x: object, activation: str = "relu") -> torch.Tensor:
    """The Gram matrix H(W) of Du et al. (Section 3): the first layer's tangent kernel.

    H_ij = x_i.x_j (1/m) sum_r a_r^2 sigma'(w_r.x_i) sigma'(w_r.x_j), which for ReLU and a_r = +-1
    is x_i.x_j times the fraction of units active at both x_i and x_j. It equals J J^T, with J the
    Jacobian of the outputs in W.

    Parameters
    ----------
    w, a, x, activation : as for :func:`outputs`

    Returns
    -------
    torch.Tensor
        Shape (E, N, N), symmetric positive semi-definite.
    """
    w, a = _weights(w, a)
    x, name = _points(x, w), _activation(activation)
    s = _sigma_dot(torch.einsum("nd,emd->enm", x, w), name) * a[:, None, :]
    pattern = s @ s.transpose(1, 2) / w.shape[1]
    h = (x @ x.T) * pattern
    return (h + h.transpose(1, 2)) / 2


def gram_infinity(x: object) -> torch.Tensor:
    """H^inf_ij = x_i.x_j (pi - angle(x_i, x_j)) / (2 pi), the limit of H(0) (Du eq. (3), ReLU).

    The angle is atan2(sin, cos) of the two points, accurate for nearly equal inputs.

    Parameters
    ----------
    x : array_like, shape (N, d)
        Finite inputs (Du et al. take unit vectors).

    Returns
    -------
    torch.Tensor
        Shape (N, N), float64 unless ``x`` is float32.

    Examples
    --------
    >>> gram_infinity(torch.eye(2, dtype=torch.float64))
    tensor([[0.5000, 0.0000],
            [0.0000, 0.5000]], dtype=torch.float64)
    """
    x = as_inputs(x)
    x = x.double() if x.dtype not in (torch.float32, torch.float64) else x
    c = x @ x.T
    norms = x.norm(dim=1)
    sine = (torch.outer(norms, norms) ** 2 - c**2).clamp(min=0).sqrt()
    h = c * (math.pi - torch.atan2(sine, c)) / (2 * math.pi)
    return (h + h.T) / 2


def lambda_zero(x: object) -> float:
    """lambda_0 = lambda_min(H^inf), positive when no two inputs are parallel (Du Theorem 3.1).

    Parameters
    ----------
    x : array_like, shape (N, d)
    """
    return float(torch.linalg.eigvalsh(gram_infinity(x).double())[0])


def movement_bound(residual: float, n: int, lam0: float, width: int) -> float:
    """R' = 2 sqrt(N) norm(y - u(0)) / (sqrt(m) lambda_0) (Du Lemma 3.3).

    While lambda_min(H(s)) >= lambda_0/2 for s <= t, no w_r moves further than R' from w_r(0).

    Parameters
    ----------
    residual : float
        norm(y - u(0)), the Euclidean norm of the initial residual over the N points.
    n, width : int
        N (points) and m (hidden units).
    lam0 : float
        lambda_0 > 0.
    """
    residual = non_negative(residual, "residual")
    n, m, lam0 = positive_int(n, "n"), positive_int(width, "width"), positive(lam0, "lam0")
    return 2 * math.sqrt(n) * residual / (math.sqrt(m) * lam0)


def perturbation_radius(n: int, lam0: float, delta: float) -> float:
    """R = sqrt(2 pi) delta lambda_0 / (16 N^2) (Du Lemma 3.2, with its constant made explicit).

    With probability >= 1 - delta over W(0), every W with all norm(w_r - w_r(0)) <= R has
    norm(H(W) - H(W(0))) <= lambda_0 / 4: a unit's sign at x_i can flip only if
    abs(w_r(0).x_i) < R, an event of probability <= 2R/sqrt(2 pi), and Markov's inequality bounds
    the sum of the flips.

    Parameters
    ----------
    n : int
        N, the number of points.
    lam0 : float
        lambda_0 > 0.
    delta : float
        The failure probability, in (0, 1).
    """
    n, lam0, delta = positive_int(n, "n"), positive(lam0, "lam0"), positive(delta, "delta")
    if delta >= 1:
        raise ValueError(f"delta must lie in (0, 1); got {delta}")
    return math.sqrt(2 * math.pi) * delta * lam0 / (16 * n**2)


def sufficient_width(n: int, lam0: float, delta: float, residual: float) -> float:
    """A width m from which the proof of Du et al. applies with the explicit constants.

    The larger of 32 N^2 log(2N^2/delta) / lambda_0^2 (Lemma 3.1 via Hoeffding:
    norm(H(0) - H^inf) <= lambda_0/4) and (2 sqrt(N) residual / (lambda_0 R))^2 with R of
    :func:`perturbation_radius` (Lemma 3.4: R' < R); each lemma fails with probability ``delta``.

    Parameters
    ----------
    n, lam0, delta : as for :func:`perturbation_radius`
    residual : float
        A bound on norm(y - u(0)).
    """
    radius = perturbation_radius(n, lam0, delta)
    hoeffding = 32 * n**2 * math.log(2 * n**2 / delta) / lam0**2
    moving = (2 * math.sqrt(n) * non_negative(residual, "residual") / (lam0 * radius)) ** 2
    return max(hoeffding, moving)


@dataclass(frozen=True)
class TwoLayerRun:
    """A gradient-descent run of E two-layer networks (:func:`train_two_layer`).

    Attributes
    ----------
    times : torch.Tensor
        Shape (T,): the recorded times t = learning rate x steps.
    loss : torch.Tensor
        Shape (E, T): C = 1/(2N) sum_i (f(x_i) - y_i)^2.
    lambda_min : torch.Tensor
        Shape (E, T): the smallest eigenvalue of H(W(t)).
    distance : torch.Tensor
        Shape (E, T): max_r norm(w_r(t) - w_r(0)).
    residual_integral : torch.Tensor
        Shape (E, T): the Riemann sum of norm(u(s) - y) ds up to t, so that (Lemma 3.3's first step)
        distance <= residual_integral / sqrt(N m) holds along every run.
    weights : torch.Tensor
        Shape (E, m, d): W at the last step.
    """

    times: torch.Tensor
    loss: torch.Tensor
    lambda_min: torch.Tensor
    distance: torch.Tensor
    residual_integral: torch.Tensor
    weights: torch.Tensor


def train_two_layer(
    w: object,
    a: object,
    x: object,
    y: object,
    *,
    lr: float,
    steps: int,
    record_every: int = 1,
    activation: str = "relu",
) -> TwoLayerRun:
    """Gradient descent on W only, the discrete version of the flow of Du et al. (Theorem 3.2).

    Each step is W <- W - lr dC/dW, dC/dw_r = (1/N) sum_i (u_i - y_i) a_r sigma'(w_r.x_i) x_i /
    sqrt(m) (ReLU: Du's 1{w.x >= 0}); t = lr x steps, and a small ``lr`` approximates the flow.

    Parameters
    ----------
    w, a : tensors of shapes (E, m, d) and (E, m)
        The initial weights (not modified).
    x : array_like, shape (N, d)
    y : array_like, shape (N,)
        One target per point, shared by the E networks.
    lr : float
        The learning rate, > 0.
    steps : int
        The number of steps, >= 1.
    record_every : int, default 1
        Records at steps 0, record_every, 2 record_every, ..., and at the last step.
    activation : {"relu", "tanh"}, default "relu"

    Returns
    -------
    TwoLayerRun
    """
    w0, a = _weights(w, a)
    x, name = _points(x, w0), _activation(activation)
    y = as_inputs(torch.as_tensor(y).reshape(1, -1), "y", dtype=w0.dtype)[0].to(w0.device)
    if y.numel() != x.shape[0]:
        raise ValueError(f"need one target per point; got {y.numel()} for {x.shape[0]} points")
    lr, steps = positive(lr, "lr"), positive_int(steps, "steps")
    every = positive_int(record_every, "record_every")
    n, m = x.shape[0], w0.shape[1]
    w, rows, integral = w0.clone(), [], w0.new_zeros(w0.shape[0])
    xx = x @ x.T
    for k in range(steps + 1):
        pre = w @ x.T  # (E, m, N)
        r = torch.einsum("emn,em->en", _sigma(pre, name), a) / math.sqrt(m) - y
        s = _sigma_dot(pre, name) * a[:, :, None]
        if k % every == 0 or k == steps:
            h = xx * (s.transpose(1, 2) @ s) / m
            rows.append(
                (
                    k * lr,
                    (r**2).sum(1) / (2 * n),
                    torch.linalg.eigvalsh((h + h.transpose(1, 2)) / 2)[:, 0],
                    (w - w0).norm(dim=2).max(dim=1).values,
                    integral.clone(),
                )
            )
        if k == steps:
            break
        integral += lr * r.norm(dim=1)
        w -= (lr / (n * math.sqrt(m))) * ((s * r[:, None, :]) @ x)
    t, loss, lam, dist, ints = zip(*rows)
    return TwoLayerRun(
        times=torch.tensor(t, dtype=w0.dtype, device=w0.device),
        loss=torch.stack(loss, 1),
        lambda_min=torch.stack(lam, 1),
        distance=torch.stack(dist, 1),
        residual_integral=torch.stack(ints, 1),
        weights=w,
    )


def hessian_norm(
    w: object,
    a: object,
    x: object,
    *,
    activation: str = "tanh",
    iterations: int = 100,
    seed: int = 0,
) -> torch.Tensor:
    """The operator norm of the Hessian d^2 f(x) / dW^2 of the output in W, by power iteration.

    Liu, Zhu & Belkin (2020, Theorem 3.2): for a twice-differentiable sigma the Hessian is
    block-diagonal, blocks m^(-1/2) a_r sigma''(w_r.x) x x^T, so its norm is O(m^(-1/2)) (for ReLU
    it is zero almost everywhere). Each iteration is one Hessian-vector product, ``torch.func.vjp``
    of ``torch.func.grad``; norm(H v) for the unit iterate v grows to the largest abs(eigenvalue).

    Parameters
    ----------
    w, a : tensors of shapes (E, m, d) and (E, m)
    x : array_like, shape (d,) or (1, d)
        One input.
    activation : {"relu", "tanh"}, default "tanh"
    iterations : int, default 100
        Power iterations (>= 1).
    seed : int, default 0
        Seeds the starting vector.

    Returns
    -------
    torch.Tensor
        Shape (E,): one norm per network.
    """
    w, a = _weights(w, a)
    x, name = _points(x, w), _activation(activation)
    if x.shape[0] != 1:
        raise ValueError(f"hessian_norm takes one input x; got {x.shape[0]} points")
    iterations = positive_int(iterations, "iterations")
    g = torch.Generator().manual_seed(positive_int(seed, "seed", 0))

    def total(v: torch.Tensor) -> torch.Tensor:  # sum over the E networks: a block-diagonal Hessian
        return (_sigma(v @ x[0], name) * a).sum() / math.sqrt(v.shape[1])

    _, vjp = torch.func.vjp(torch.func.grad(total), w)  # v -> v^T H = H v, H being symmetric
    v = torch.randn(w.shape, generator=g, dtype=w.dtype).to(w.device)
    v = v / v.flatten(1).norm(dim=1)[:, None, None]
    estimate = w.new_zeros(w.shape[0])
    for _ in range(iterations):
        (hv,) = vjp(v)
        estimate = hv.flatten(1).norm(dim=1)
        v = hv / estimate.clamp(min=torch.finfo(w.dtype).tiny)[:, None, None]
    return estimate
