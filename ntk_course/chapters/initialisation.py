"""Networks at initialisation against their Gaussian-process limit (Proposition 1 of Jacot et al. 2018).

* :func:`sample_outputs` draws many independent NTK-parametrised networks (Section 2) and evaluates
  them on a set of inputs, in chunks of ``NTKMLP(..., ensemble=E)`` so that memory stays bounded.
* :func:`sample_layerwise` draws the same law at a few inputs without forming any weight matrix:
  given the activations of one layer, the preactivations of the next are exactly Gaussian with the
  random covariance Sigma-tilde of the proof of Proposition 1, so each layer costs O(n m^2) for m
  inputs instead of O(n^2).
* :func:`monte_carlo_covariance` estimates E[f(x) f(x')] from such draws, with standard errors, to
  compare with Sigma^(L) of Proposition 1 (``ntk_course.nngp``).
* :func:`plot_marginal` and :func:`plot_joint` draw a histogram of f(x) against the N(0, Sigma(x, x))
  density, and a scatter of (f(x), f(x')) against the ellipses of N(0, Sigma).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from .._checks import as_inputs, finite_array, non_negative, positive_int, widths_list
from ..activations import Activation, Fn, get_activation
from ..mlp import NTKMLP

# Parameters held in memory at once while sampling (float32): 2^25 numbers = 128 MiB.
MAX_ELEMENTS = 2**25


def sample_outputs(
    x: object,
    widths: Sequence[int],
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    *,
    n_networks: int,
    seed: int = 0,
    max_elements: int = MAX_ELEMENTS,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Outputs f_theta(x) of ``n_networks`` independent initialisations, shape (E, N, n_L).

    Each network has widths ``[n_0, ..., n_L]`` and every parameter drawn iid N(0, 1) in the NTK
    parametrisation of Section 2. Draws are made in ensembles of at most ``max_elements`` parameters
    in total, with one generator seeded by ``seed``, so the result is reproducible for a given
    ``max_elements``. ``x`` (N, n_0) is moved to ``device`` (default: the device of ``x``); the
    outputs are float32 on that device.
    """
    widths = widths_list(widths)
    beta = non_negative(beta, "beta")
    n_networks = positive_int(n_networks, "n_networks")
    seed = positive_int(seed, "seed", 0)
    max_elements = positive_int(max_elements, "max_elements")
    xt = as_inputs(x, "x")
    if xt.shape[1] != widths[0]:
        raise ValueError(f"x must have n_0 = widths[0] = {widths[0]} columns; got shape {tuple(xt.shape)}")
    device = torch.device(device) if device is not None else xt.device
    xt = xt.to(device=device, dtype=torch.float32)
    per_network = sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))
    chunk = max(1, min(n_networks, max_elements // per_network))
    gen = torch.Generator(device=device).manual_seed(seed)
    out = []
    with torch.no_grad():
        for start in range(0, n_networks, chunk):
            size = min(chunk, n_networks - start)
            nets = NTKMLP(widths, activation, beta, ensemble=size, generator=gen, device=device)
            out.append(nets(xt))
    return torch.cat(out)


def sample_layerwise(
    x: object,
    *,
    width: int,
    depth: int,
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    n_networks: int,
    seed: int = 0,
) -> torch.Tensor:
    """Outputs f_theta(x) of ``n_networks`` independent networks, drawn layer by layer: shape (E, m), float64.

    The networks are those of :func:`sample_outputs` with widths ``[n_0, width, ..., width, 1]``
    (``depth`` weight layers), evaluated at the m rows of ``x``, but no weight is drawn. Given the
    activations alpha^(l) (n_l values at each input), the n_{l+1} preactivations of the next layer
    are iid centred Gaussian vectors over the m inputs with covariance

        Sigma-tilde^(l+1) = alpha^(l)T alpha^(l) / n_l + beta^2,

    exactly, at any width (the conditional Gaussianity in the proof of Proposition 1; alpha^(0) = x,
    n_0 its dimension). Each layer draws them as z S^T with z ~ N(0, Id) and S the symmetric square
    root of Sigma-tilde, so a layer costs O(n m^2) instead of the O(n^2) of a weight matrix. Meant for
    a few inputs m; float64 on the CPU, seeded by ``seed``.
    """
    width = positive_int(width, "width")
    depth = positive_int(depth, "depth")
    beta2 = non_negative(beta, "beta") ** 2
    n_networks = positive_int(n_networks, "n_networks")
    gen = torch.Generator().manual_seed(positive_int(seed, "seed", 0))
    act = get_activation(activation)
    xt = as_inputs(x, "x", torch.float64).cpu()
    alpha = xt.T.expand(n_networks, *xt.T.shape)                      # (E, n_0, m): alpha^(0) = x
    for layer in range(depth):
        rows = 1 if layer == depth - 1 else width
        cov = alpha.mT @ alpha / alpha.shape[1] + beta2                # (E, m, m): Sigma-tilde^(l+1)
        values, vectors = torch.linalg.eigh(cov)
        root = vectors * values.clamp(min=0.0).sqrt()[:, None, :]
        h = torch.randn(n_networks, rows, xt.shape[0], generator=gen, dtype=torch.float64) @ root.mT
        alpha = act.sigma(h) if rows > 1 else h
    return alpha[:, 0, :]


def monte_carlo_covariance(samples: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Estimate of the (non-centred) covariance E[f(x_i) f(x_j)] from draws of shape (E, N), and its standard error.

    Returns ``(cov, stderr)``, both (N, N) float64: ``cov`` is the mean over the E draws of
    f(x_i) f(x_j), ``stderr`` the standard deviation of those products divided by sqrt(E).
    The mean of f is known to be zero (Proposition 1), so nothing is subtracted.
    """
    f = finite_array(samples, "samples", ndims=(2,))
    if f.shape[0] < 2:
        raise ValueError(f"samples needs at least two draws (rows) to estimate a standard error; got shape {tuple(f.shape)}")
    products = f[:, :, None] * f[:, None, :]
    return products.mean(0), products.std(0) / math.sqrt(f.shape[0])


def gaussian_density(u: object, variance: float) -> torch.Tensor:
    """The N(0, variance) density at the points ``u``."""
    v = non_negative(variance, "variance")
    if v == 0:
        raise ValueError("variance must be > 0 for a density")
    t = torch.as_tensor(u, dtype=torch.float64)
    return torch.exp(-t * t / (2 * v)) / math.sqrt(2 * math.pi * v)


def ellipse(covariance: object, radius: float, points: int = 200) -> torch.Tensor:
    """The curve {v : v^T Sigma^{-1} v = radius^2} of a 2 x 2 covariance, shape (points, 2).

    With radius^2 the chi-square(2) quantile q, the ellipse holds a fraction q of N(0, Sigma):
    radius = sqrt(-2 log(1 - q)) (1.18 for 50%, 2.45 for 95%).
    """
    s = finite_array(covariance, "covariance", ndims=(2,), rows=2, cols=2)
    lam, vec = torch.linalg.eigh((s + s.T) / 2)
    if float(lam[0]) < 0:
        raise ValueError(f"covariance must be positive semi-definite; got eigenvalues {lam.tolist()}")
    angle = torch.linspace(0, 2 * math.pi, positive_int(points, "points"), dtype=torch.float64)
    circle = torch.stack([angle.cos(), angle.sin()], 1) * non_negative(radius, "radius")
    return circle * lam.sqrt() @ vec.T


def plot_marginal(ax, samples: object, variance: float, *, bins: int = 60, label: str = "networks") -> None:
    """Histogram (as a density) of the draws f(x) against the N(0, Sigma(x, x)) density of the limit."""
    f = finite_array(samples, "samples", ndims=(1,)).cpu()
    lim = 4.5 * math.sqrt(variance)
    ax.hist(f.numpy(), bins=np.linspace(-lim, lim, bins), density=True, alpha=0.55, label=label)
    u = torch.linspace(-lim, lim, 300, dtype=torch.float64)
    ax.plot(u, gaussian_density(u, variance), "k", lw=2, label=r"$\mathcal{N}(0, \Sigma^{(L)}(x, x))$")
    ax.set_xlim(-lim, lim)


def plot_joint(ax, samples: object, covariance: object, *, max_points: int = 2000) -> None:
    """Scatter of draws (f(x), f(x')) of shape (E, 2) with the 50% and 95% ellipses of N(0, Sigma)."""
    f = finite_array(samples, "samples", ndims=(2,), cols=2).cpu()[:max_points]
    ax.scatter(f[:, 0], f[:, 1], s=4, alpha=0.35, label="networks")
    for q, style in ((0.5, "--"), (0.95, "-")):
        curve = ellipse(torch.as_tensor(covariance).cpu(), math.sqrt(-2 * math.log(1 - q)))
        ax.plot(curve[:, 0], curve[:, 1], "k", ls=style, lw=1.8, label=rf"{q:.0%} ellipse of $\Sigma^{{(L)}}$")
    ax.set_aspect("equal", adjustable="datalim")
