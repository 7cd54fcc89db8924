"""The first correction at finite width: the 1/n variance of the NTK at initialisation.

For the two-layer network of the NTK parametrisation (depth L = 2, one output, every parameter
N(0, 1)),

    Theta_n(x, x') = beta^2 + (1/n) sum_{i=1}^n Z_i(x, x'),
    Z_i = sigma(u_i) sigma(u'_i) + (W^(1)_i)^2 sigma_dot(u_i) sigma_dot(u'_i) Sigma^(1)(x, x'),

with u_i, u'_i the preactivations of unit i at x and x' (a centred Gaussian pair with covariance
Sigma^(1)) and W^(1)_i its output weight. The Z_i are independent and identically distributed, so
E Theta_n = Theta_infinity at every width and Var Theta_n = V(x, x') / n exactly, with
V = Var Z_1 (eq-fwc-variance of the chapter "The first correction at finite width"):

    V = E[s^2 s'^2] + 2 S E[s s' d d'] + m4 S^2 E[d^2 d'^2] - (E[s s'] + S E[d d'])^2,

s = sigma(u), d = sigma_dot(u), primes at x', S = Sigma^(1)(x, x') and m4 = E[(W^(1)_i)^4] = 3.
:func:`ntk_variance_two_layer` computes V, in closed form for ReLU (the arc-cosine kernels of
orders 0, 1, 2 of Cho & Saul 2009) and by the library's quadrature for other activations.
:func:`sample_ntk`, :func:`scaled_variance` and :func:`log_ratio_slope` measure the same
quantities on networks drawn at initialisation, and the depth dependence of Hanin & Nica (2020):
E[Theta(x, x)^2] / E[Theta(x, x)]^2 ~ exp(5 L / n) for deep ReLU networks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ._checks import as_inputs, non_negative, positive, positive_int, same_dimension
from .activations import get_activation
from .architecture import Architecture
from .empirical import empirical_ntk
from .power_laws import PowerLaw
from .quadrature import expectations_and_error, warn_if_inaccurate

__all__ = [
    "unit_moments",
    "ntk_variance_two_layer",
    "sample_ntk",
    "scaled_variance",
    "second_moment_ratio",
    "log_ratio_slope",
    "detection_power",
]


def _relu_moments(q, c, qp):
    """The five expectations of :func:`unit_moments` for ReLU, from J_0, J_1, J_2."""
    root = torch.sqrt(q * qp)
    phi = torch.atan2(torch.sqrt(torch.clamp(q * qp - c * c, min=0.0)), c)
    cos, sin = torch.cos(phi), torch.sin(phi)
    j0 = math.pi - phi
    j1 = sin + j0 * cos
    j2 = 3.0 * sin * cos + j0 * (1.0 + 2.0 * cos * cos)
    e_ss = root * j1 / (2.0 * math.pi)
    e_dd = j0 / (2.0 * math.pi)
    return e_ss, e_dd, q * qp * j2 / (2.0 * math.pi), e_ss, e_dd


def unit_moments(
    q_xx: torch.Tensor,
    q_xy: torch.Tensor,
    q_yy: torch.Tensor,
    activation: object = "relu",
    points: int = 64,
) -> tuple[torch.Tensor, ...]:
    """The Gaussian expectations of one hidden unit that V of eq-fwc-variance needs.

    For a centred Gaussian pair (u, v) with covariance [[q_xx, q_xy], [q_xy, q_yy]], with
    s = sigma(u), s' = sigma(v), d = sigma_dot(u), d' = sigma_dot(v), returns
    (E[s s'], E[d d'], E[s^2 s'^2], E[s s' d d'], E[d^2 d'^2]).

    Parameters
    ----------
    q_xx, q_xy, q_yy : torch.Tensor
        Variances and covariance, broadcastable to one shape, float64; q_xy^2 <= q_xx q_yy.
    activation : str, Activation or callable, default "relu"
        As for :func:`ntk_course.activations.get_activation`. ``"relu"`` has closed forms (the
        arc-cosine kernels J_0, J_1, J_2 of Cho & Saul 2009), and so has ``"identity"``
        (Isserlis' theorem); the others use the library's
        quadrature (:func:`ntk_course.quadrature.expectations_and_error`, kinks included) on the
        pairs (sigma, sigma_dot), (sigma^2, sigma_dot^2) and (sigma sigma_dot, sigma sigma_dot), and
        warn (``QuadratureWarning``) when its estimated relative error exceeds 1e-6.
    points : int, default 64
        Nodes per dimension of the quadrature rules (unused for ReLU).

    Returns
    -------
    tuple of torch.Tensor
        Five tensors of the broadcast shape.

    Examples
    --------
    >>> import torch
    >>> one = torch.tensor(1.0, dtype=torch.float64)
    >>> e = unit_moments(one, one, one)              # ReLU, u = v ~ N(0, 1)
    >>> [round(float(t), 4) for t in e]              # 1/2, 1/2, E[relu(u)^4] = 3/2, 1/2, 1/2
    [0.5, 0.5, 1.5, 0.5, 0.5]
    """
    q, c, qp = torch.broadcast_tensors(
        *(torch.as_tensor(t, dtype=torch.float64) for t in (q_xx, q_xy, q_yy))
    )
    act = get_activation(activation)
    if act.name == "relu":
        return _relu_moments(q, c, qp)
    if act.name == "identity":  # Isserlis: E[u^2 v^2] = q q' + 2 c^2
        one = torch.ones_like(c)
        return c, one, q * qp + 2.0 * c * c, c, one
    pair = act.sigma_and_dot

    def squares(z):
        s, d = pair(z)
        return s * s, d * d

    def products(z):
        s, d = pair(z)
        return s * d, s * d

    e_ss, e_dd, err1 = expectations_and_error(pair, q, c, qp, points, act.profile)
    e_s4, e_d4, err2 = expectations_and_error(squares, q, c, qp, points, act.profile)
    e_sd, _, err3 = expectations_and_error(products, q, c, qp, points, act.profile)
    warn_if_inaccurate(max(err1, err2, err3), act.name)
    return e_ss, e_dd, e_s4, e_sd, e_d4


def ntk_variance_two_layer(
    x: object,
    y: object | None = None,
    activation: str = "relu",
    beta: float = 0.1,
    *,
    weight_fourth_moment: float = 3.0,
    points: int = 64,
) -> torch.Tensor:
    """V(x, y) with Var Theta_n(x, y) = V(x, y) / n for a two-layer network (eq-fwc-variance).

    The network is the course's NTK-parametrised one of depth L = 2 with one output and every
    parameter N(0, 1) (``Architecture(depth=2, activation, beta).network(n0, n)``); the identity
    holds at every width n >= 1, not only asymptotically.

    Parameters
    ----------
    x : array_like
        Shape (N, n_0).
    y : array_like, optional
        Shape (M, n_0); y = x if None.
    activation : str, default "relu"
        See :func:`unit_moments`.
    beta : float, default 0.1
        The bias factor, >= 0.
    weight_fourth_moment : float, default 3.0
        E[(W^(1)_i)^4] of the output weights' law: 3 for N(0, 1). Other values give the variance
        a wrong law would predict (1 for random signs +-1).
    points : int, default 64
        Quadrature nodes per dimension for activations without a closed form.

    Returns
    -------
    torch.Tensor
        Shape (N, M), float64.

    Raises
    ------
    ValueError
        If the points are not finite (N, n_0) arrays of one dimension, beta < 0, the fourth
        moment is not positive, or the activation is unknown.

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0]])
    >>> v = ntk_variance_two_layer(x, beta=0.0)  # ReLU, |x|^2 / n_0 = 1/2: V = 3 q^2 = 3/4
    >>> round(float(v), 6)
    0.75
    """
    b = non_negative(beta, "beta")
    m4 = positive(weight_fourth_moment, "weight_fourth_moment")
    xt = as_inputs(x, "x", torch.float64)
    yt = xt if y is None else as_inputs(y, "y", torch.float64)
    same_dimension(xt, yt)
    n0 = xt.shape[1]
    s_xy = xt @ yt.T / n0 + b * b
    s_xx = ((xt * xt).sum(1) / n0 + b * b)[:, None]
    s_yy = ((yt * yt).sum(1) / n0 + b * b)[None, :]
    e_ss, e_dd, e_s4, e_sd, e_d4 = unit_moments(s_xx, s_xy, s_yy, activation, points)
    mean = e_ss + s_xy * e_dd
    second = e_s4 + 2.0 * s_xy * e_sd + m4 * s_xy * s_xy * e_d4
    v = second - mean * mean
    # The quadrature orders the pair by variance: symmetrise so that V(x, x') = V(x', x) bitwise.
    return 0.5 * (v + v.T) if y is None else v


@torch.no_grad()
def sample_ntk(
    arch: Architecture,
    x: object,
    width: int,
    ensemble: int,
    *,
    seed: int = 0,
    chunk: int = 256,
) -> torch.Tensor:
    """Theta_n(x_i, x_j) of ``ensemble`` independent networks of ``arch`` at initialisation.

    Draws the networks ``chunk`` at a time with ``arch.network(n0, width, ensemble=...)`` in
    float64 and contracts them with the structured :func:`~ntk_course.empirical_ntk` (Section 4).

    Parameters
    ----------
    arch : Architecture
        Depth, activation, beta (NTK parametrisation).
    x : array_like
        Shape (N, n_0): the points.
    width : int
        The hidden width n >= 1.
    ensemble : int
        The number E >= 2 of networks.
    seed : int, default 0
        Seeds the draws (chunk k uses seed + k).
    chunk : int, default 256
        Networks drawn at once, >= 1.

    Returns
    -------
    torch.Tensor
        Shape (E, N, N), float64.

    Raises
    ------
    ValueError
        If width < 1, ensemble < 2, chunk < 1, seed < 0 or the points are not finite (N, n_0).
    """
    n = positive_int(width, "width")
    e = positive_int(ensemble, "ensemble", minimum=2)
    size = positive_int(chunk, "chunk")
    s = positive_int(seed, "seed", minimum=0)
    xt = as_inputs(x, "x", torch.float64)
    out = []
    for k, start in enumerate(range(0, e, size)):
        g = torch.Generator().manual_seed(s + k)
        net = arch.network(
            xt.shape[1], n, ensemble=min(size, e - start), generator=g, dtype=torch.float64
        )
        out.append(empirical_ntk(net, xt))
    return torch.cat(out)


def _moments(samples: np.ndarray) -> tuple[float, float]:
    """The sample variance of the draws and its standard error, sqrt((m_4 - s^4) / E)."""
    e = samples.shape[0]
    centred = samples - samples.mean()
    var = float(centred.var(ddof=1))
    m4 = float((centred**4).mean())
    return var, math.sqrt(max(m4 - var * var, 0.0) / e)


def scaled_variance(widths: Sequence[int], samples: Sequence[object]) -> tuple[np.ndarray, ...]:
    """n Var Theta_n at each width, its standard error, and their inverse-variance mean.

    Each n s_n^2 estimates V of eq-fwc-variance; the standard error of a sample variance of E
    independent draws is sqrt((m_4 - s^4) / E) to leading order (m_4 the fourth central moment).

    Parameters
    ----------
    widths : sequence of int
        Shape (W,): the widths n.
    samples : sequence of array_like
        ``samples[w]``: the E_w >= 4 draws of Theta_n(x, x') at width ``widths[w]``.

    Returns
    -------
    tuple of numpy.ndarray
        (n s_n^2 of shape (W,), their standard errors (W,), the pooled estimate and its standard
        error as a pair).

    Raises
    ------
    ValueError
        If the lengths differ, a width is below 1 or a sample has fewer than 4 draws.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> draws = [rng.normal(0, 1 / np.sqrt(n), 4000) for n in (10, 40)]
    >>> est, se, pooled = scaled_variance([10, 40], draws)
    >>> bool(abs(pooled[0] - 1) < 3 * pooled[1])
    True
    """
    if len(widths) != len(samples):
        raise ValueError(
            f"need one sample per width; got {len(widths)} widths, {len(samples)} samples"
        )
    est, err = [], []
    for n, s in zip(widths, samples):
        n = positive_int(int(n), "width")
        a = np.asarray(torch.as_tensor(s).double().reshape(-1))
        if a.shape[0] < 4:
            raise ValueError(f"the sample of width {n} needs at least 4 draws; got {a.shape[0]}")
        var, se = _moments(a)
        est.append(n * var)
        err.append(n * se)
    est, err = np.array(est), np.array(err)
    weights = 1.0 / err**2
    pooled = float((weights * est).sum() / weights.sum())
    return est, err, np.array([pooled, float(weights.sum() ** -0.5)])


def second_moment_ratio(samples: object) -> float:
    """E[Theta^2] / E[Theta]^2 of draws of Theta(x, x) (Hanin & Nica 2020, Theorem 1).

    Parameters
    ----------
    samples : array_like
        Shape (E, ...): draws along the first axis, all entries averaged.

    Returns
    -------
    float
        The ratio of the second moment to the squared mean, >= 1.
    """
    a = np.asarray(torch.as_tensor(samples).double())
    return float((a**2).mean() / a.mean() ** 2)


def log_ratio_slope(
    depths: Sequence[int],
    width: int,
    samples: Sequence[object],
    *,
    resamples: int = 500,
    seed: int = 0,
) -> PowerLaw:
    """The slope of log(E[Theta^2] / E[Theta]^2) against L / n, with its bootstrap error.

    Hanin & Nica (2020) prove E[Theta(x, x)^2] / E[Theta(x, x)]^2 ~ exp(5 L / n) (up to factors
    bounded above and below) for ReLU networks without biases, so the log-ratio grows linearly in
    L / n at a fixed width n.

    Parameters
    ----------
    depths : sequence of int
        The depths L, at least two distinct.
    width : int
        The common hidden width n.
    samples : sequence of array_like
        ``samples[k]``: draws of Theta(x, x) at depth ``depths[k]`` (first axis), >= 2 each.
    resamples : int, default 500
        Bootstrap resamples, >= 2.
    seed : int, default 0
        Seeds the resampling.

    Returns
    -------
    PowerLaw
        ``slope`` the fitted slope, ``prefactor`` the intercept (the log-ratio at L = 0), and
        ``std_error`` the bootstrap standard error of the slope.

    Raises
    ------
    ValueError
        If fewer than two distinct depths, not one sample per depth, or a sample of fewer than two.
    """
    n = positive_int(width, "width")
    ls = [positive_int(int(d), "depth") for d in depths]
    if len(set(ls)) < 2 or len(ls) != len(samples):
        raise ValueError(
            "need at least two distinct depths and one sample per depth; "
            f"got depths {ls} and {len(samples)} samples"
        )
    stacks = [np.asarray(torch.as_tensor(s).double()).reshape(len(s), -1).mean(1) for s in samples]
    if min(a.shape[0] for a in stacks) < 2:
        raise ValueError("every depth needs at least two draws")
    x = np.array(ls, dtype=float) / n
    xc = x - x.mean()

    def fit(values: list[float]) -> np.ndarray:
        y = np.log(values)
        slope = float((y - y.mean()) @ xc / (xc @ xc))
        return np.array([slope, float(y.mean() - slope * x.mean())])

    rng = np.random.default_rng(positive_int(seed, "seed", minimum=0))
    base = fit([second_moment_ratio(a) for a in stacks])
    boot = [
        fit([second_moment_ratio(a[rng.integers(0, len(a), len(a))]) for a in stacks])[0]
        for _ in range(positive_int(resamples, "resamples", minimum=2))
    ]
    return PowerLaw(slope=base[0], prefactor=base[1], std_error=float(np.std(boot, ddof=1)))


def detection_power(shift: float, std_error: float, k: float = 3.0) -> float:
    """P(abs(estimate - null) > k se) when the truth is ``shift`` away from the null value.

    The power of a two-sided window of k standard errors against an alternative ``shift`` away,
    for a normal estimate: Phi(shift / se - k) + Phi(-shift / se - k).

    Examples
    --------
    >>> round(detection_power(0.0, 1.0), 4)   # the size of the test: 2 Phi(-3)
    0.0027
    >>> round(detection_power(6.0, 1.0), 4)
    0.9987
    """
    se = positive(std_error, "std_error")
    phi = lambda z: 0.5 * math.erfc(-z / math.sqrt(2.0))  # noqa: E731
    return phi(shift / se - k) + phi(-shift / se - k)
