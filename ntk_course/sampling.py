"""Draws of networks at initialisation, to set against their Gaussian-process limit (Proposition 1).

* :func:`sample_outputs` draws many independent networks of an :class:`~ntk_course.Architecture`
  and evaluates them on a set of inputs, in ensembles (``arch.network(..., ensemble=E)``) small
  enough that memory stays bounded.
* :func:`sample_layerwise` draws the same law at a few inputs without forming any weight matrix:
  given the activations of one layer, the preactivations of the next are exactly Gaussian with the
  random covariance Sigma-tilde of the proof of Proposition 1, so each layer costs O(n m^2) for m
  inputs instead of O(n^2).
* :func:`monte_carlo_covariance` estimates E[f(x) f(x')] from such draws, with standard errors, to
  compare with Sigma^(L) of Proposition 1 (:meth:`Architecture.nngp`).
"""

from __future__ import annotations

import math

import torch

from ._checks import as_inputs, finite_array, positive_int, seeded_generator
from .activations import get_activation
from .architecture import Architecture

# Parameters held in memory at once while sampling (float32): 2^25 numbers = 128 MiB.
MAX_ELEMENTS = 2**25


def _architecture(arch: object) -> Architecture:
    if not isinstance(arch, Architecture):
        raise ValueError(f"arch must be an ntk_course.Architecture; got {type(arch).__name__}")
    return arch


def sample_outputs(
    x: object,
    arch: Architecture,
    width: int,
    n_out: int = 1,
    *,
    ensemble: int,
    seed: int = 0,
    max_elements: int = MAX_ELEMENTS,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Outputs f_theta(x) of ``ensemble`` independent networks at initialisation (Section 2).

    Each network is ``arch.network(n_0, width, n_out)``: widths
    ``[n_0, width, ..., width, n_out]``, every parameter drawn iid N(0, 1) and scaled as the
    parametrisation says. The networks are drawn in
    ensembles of at most ``max_elements`` parameters in total, with one generator seeded by
    ``seed``, so the result is reproducible for a given ``max_elements``.

    Parameters
    ----------
    x : array of shape (N, n_0)
        The inputs; moved to ``device`` (default: the device of ``x``) in float32.
    arch : Architecture
        Depth, activation, beta and parametrisation of the networks.
    width : int
        The hidden width n_1 = ... = n_{L-1}.
    n_out : int, default 1
        The number of outputs n_L.
    ensemble : int
        E, the number of networks drawn.
    seed : int, default 0
        Seeds the one generator (on ``device``) that draws every network.
    max_elements : int, default 2^25
        The most parameters held at once.
    device : torch.device or str, optional
        Where the networks are drawn and evaluated.

    Returns
    -------
    torch.Tensor
        (E, N, n_out), float32 on ``device``. By Proposition 1 each column tends in law, as the
        width grows, to the centred Gaussian process of covariance Sigma^(L).

    Raises
    ------
    ValueError
        If ``arch`` is not an Architecture, ``x`` is not a finite (N, n_0) array, or a count
        (width, n_out, ensemble, seed, max_elements) is not a positive integer (seed >= 0).
    """
    arch = _architecture(arch)
    ensemble = positive_int(ensemble, "ensemble")
    seed = positive_int(seed, "seed", 0)
    max_elements = positive_int(max_elements, "max_elements")
    xt = as_inputs(x, "x")
    widths = arch.widths(xt.shape[1], width, n_out)
    device = torch.device(device) if device is not None else xt.device
    xt = xt.to(device=device, dtype=torch.float32)
    per_network = sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))
    chunk = max(1, min(ensemble, max_elements // per_network))
    gen = torch.Generator(device=device).manual_seed(seed)
    out = []
    with torch.no_grad():
        for start in range(0, ensemble, chunk):
            size = min(chunk, ensemble - start)
            nets = arch.network(
                xt.shape[1], width, n_out, ensemble=size, generator=gen, device=device
            )
            out.append(nets(xt))
    return torch.cat(out)


def sample_layerwise(
    x: object,
    arch: Architecture,
    width: int,
    *,
    ensemble: int,
    seed: int = 0,
) -> torch.Tensor:
    """Outputs f_theta(x) of ``ensemble`` independent networks, drawn layer by layer, no weights.

    The networks are those of :func:`sample_outputs` (``arch.network(n_0, width)``), evaluated at
    the m rows of ``x``. Given the activations alpha^(l) (n_l values at each input), the n_{l+1}
    preactivations of the next layer are iid centred Gaussian vectors over the m inputs with
    covariance

        Sigma-tilde^(l+1) = alpha^(l)T alpha^(l) / n_l + beta^2,

    exactly, at any width (the conditional Gaussianity in the proof of Proposition 1; alpha^(0) = x,
    n_0 its dimension). Each layer draws them as z S^T with z ~ N(0, Id) and S the symmetric square
    root of Sigma-tilde, so a layer costs O(n m^2) instead of the O(n^2) of a weight matrix.

    Parameters
    ----------
    x : array of shape (m, n_0)
        A few inputs (the cost grows like m^3 per layer).
    arch : Architecture
        Its NTK or standard parametrisation (both have this law at initialisation).
    width : int
        The hidden width.
    ensemble : int
        E, the number of networks drawn.
    seed : int, default 0
        Seeds the draws (on the CPU).

    Returns
    -------
    torch.Tensor
        (E, m), float64 on the CPU.

    Raises
    ------
    ValueError
        For a muP architecture (its output law at initialisation is not this one), bad ``x`` or a
        count that is not a positive integer.
    """
    arch = _architecture(arch)
    if arch.parametrization == "mup":
        raise ValueError(
            "sample_layerwise draws the NTK (and standard) parametrisation's law; "
            "got a muP architecture, use sample_outputs"
        )
    width = positive_int(width, "width")
    ensemble = positive_int(ensemble, "ensemble")
    gen = seeded_generator(seed)
    act = get_activation(arch.activation)
    beta2 = arch.beta**2
    xt = as_inputs(x, "x", torch.float64).cpu()
    alpha = xt.T.expand(ensemble, *xt.T.shape)  # (E, n_0, m): alpha^(0) = x
    for layer in range(arch.depth):
        rows = 1 if layer == arch.depth - 1 else width
        cov = alpha.mT @ alpha / alpha.shape[1] + beta2  # (E, m, m): Sigma-tilde^(l+1)
        values, vectors = torch.linalg.eigh(cov)
        root = vectors * values.clamp(min=0.0).sqrt()[:, None, :]
        h = torch.randn(ensemble, rows, xt.shape[0], generator=gen, dtype=torch.float64) @ root.mT
        alpha = act.sigma(h) if rows > 1 else h
    return alpha[:, 0, :]


def monte_carlo_covariance(samples: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Estimate of the (non-centred) covariance E[f(x_i) f(x_j)] from draws, with standard error.

    The mean of f is known to be zero (Proposition 1), so nothing is subtracted.

    Parameters
    ----------
    samples : array of shape (E, N)
        E draws of f at N points (at least two draws).

    Returns
    -------
    cov, stderr : torch.Tensor
        Both (N, N), float64: ``cov`` is the mean over the draws of f(x_i) f(x_j), ``stderr`` the
        standard deviation of those products divided by sqrt(E).

    Raises
    ------
    ValueError
        If ``samples`` is not a finite 2-d array of at least two rows.
    """
    f = finite_array(samples, "samples", ndims=(2,))
    if f.shape[0] < 2:
        raise ValueError(
            "samples needs at least two draws (rows) to estimate a standard error; "
            f"got shape {tuple(f.shape)}"
        )
    products = f[:, :, None] * f[:, None, :]
    return products.mean(0), products.std(0) / math.sqrt(f.shape[0])
