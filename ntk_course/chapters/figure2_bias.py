"""Where the ensemble mean of Figure 2 leaves the limit's mean (Section 6.2, book/least_squares.md).

The trained networks of Figure 2 pass the chi-square test of :func:`figure2.gaussian_check` on their
spread, but their *mean* sits away from the limiting mean m = Theta_xX Theta_XX^{-1} y along one
direction of the limiting covariance. This module splits that deviation into the parts a reader
could blame:

* the random initial kernel: the network linearised at its initialisation theta_0 and trained by
  the same discrete gradient descent, f_lin,k = f_0 + Theta_0,xX Theta_0,XX^{-1}
  (I - (I - eta Theta_0,XX / N)^k) (y - f_0(X)) (:func:`ntk_course.linearized.linearized_outputs`,
  Lee et al. 2019), carries the finite-width randomness of Theta_0, the learning rate eta and the
  finite time, but no motion of the kernel;
* the motion of the kernel during training: the paired difference f_net - f_lin, network by network
  (same initialisation), which vanishes for a kernel that stays at Theta_0.

In the standardised coordinates z_j = psi_j . (f - m) / sqrt(omega_j) of
:func:`figure2.gaussian_check` (omega_j, psi_j the eigenpairs of the limiting covariance), the
average of z_j over E independent networks has a between-network standard error s_j / sqrt(E);
:func:`width_exponent` compares the sizes of the bias at two widths with the rates n^-1 and n^-1/2.
"""

from __future__ import annotations

import math

import torch
from scipy.stats import norm

from .figure2 import Figure2Result


def directions(result: Figure2Result, n_directions: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """The top ``n_directions`` eigenvalues omega_j (descending) and unit eigenvectors psi_j
    (columns) of the limiting covariance on the circle, each psi_j signed so that psi_j . m >= 0 (m
    the limiting mean): a deviation along +psi_j then points the way the limit's mean does."""
    m = result.covariance.shape[0]
    if not 1 <= n_directions <= m:
        raise ValueError(
            f"n_directions must lie in [1, {m}], the circle points; got {n_directions}"
        )
    omega, psi = torch.linalg.eigh(result.covariance)
    omega, psi = omega.flip(0)[:n_directions], psi.flip(1)[:, :n_directions]
    sign = torch.where(psi.T @ result.mean < 0, -1.0, 1.0).to(psi)
    return omega, psi * sign


def along_mean(result: Figure2Result, n_directions: int = 8) -> int:
    """The direction (1-based) of :func:`directions` with the largest |psi_j . m|: the one the
    limiting mean m lies along. Chosen from the limit alone, before any network is looked at."""
    _, psi = directions(result, n_directions)
    return int((psi.T @ result.mean).abs().argmax()) + 1


def standardised(
    result: Figure2Result, outputs: torch.Tensor, *, n_directions: int = 8
) -> torch.Tensor:
    """z_ij = psi_j . (f_i - m) / sqrt(omega_j): functions (E, M) on the circle in the coordinates
    of the top ``n_directions`` eigenpairs of the limiting covariance (:func:`directions`, those of
    :func:`figure2.gaussian_check`); independent N(0, 1) entries if the f_i are draws of the limit.
    Returns (E, n_directions), float64."""
    omega, psi = directions(result, n_directions)
    f = torch.as_tensor(outputs).to(torch.float64).cpu()
    if f.ndim != 2 or f.shape[1] != psi.shape[0] or f.shape[0] < 2:
        raise ValueError(
            f"outputs must be (E, {psi.shape[0]}) with E >= 2, networks on the circle points; "
            f"got {tuple(f.shape)}"
        )
    return (f - result.mean) @ psi / omega.sqrt()


def _mean_se(z: torch.Tensor) -> tuple[float, float]:
    """The average of a column and its between-network standard error s / sqrt(E)."""
    return float(z.mean()), float(z.std() / math.sqrt(z.shape[0]))


def mean_bias(
    result: Figure2Result,
    width: int,
    linearised: torch.Tensor,
    *,
    direction: int | None = None,
    n_directions: int = 8,
) -> dict[str, float]:
    """The ensemble-mean deviation of the width-``width`` networks from the limiting mean, along one
    direction psi_j, split into the linearised part and the part due to the kernel's motion.

    ``linearised`` (E, M) holds the same networks (same initialisations, same order) linearised at
    theta_0 and trained by the same gradient descent
    (:func:`ntk_course.linearized.linearized_outputs`).
    ``direction`` (1-based) defaults to :func:`along_mean`, the direction the limiting mean lies
    along, fixed by the limit alone (no selection on the networks).

    Returns, in units of the limit's standard deviation sqrt(omega_j) along psi_j (per network: the
    z-scores of :func:`figure2.gaussian_check` are these means times sqrt(E)): ``network`` and
    ``linearised`` (the mean z_j of each ensemble) with their between-network standard errors
    ``*_se``; ``moving`` the mean of the paired differences z_j(net) - z_j(lin) and ``moving_se``
    the standard error of those differences; ``direction``; ``scale`` = sqrt(omega_j);
    ``ensemble`` E.
    """
    if width not in result.outputs:
        raise ValueError(f"width {width} was not trained; expected one of {sorted(result.outputs)}")
    net = standardised(result, result.outputs[width], n_directions=n_directions)
    lin = standardised(result, linearised, n_directions=n_directions)
    if lin.shape != net.shape:
        raise ValueError(
            f"linearised must hold the same {net.shape[0]} networks as outputs[{width}]; "
            f"got {tuple(torch.as_tensor(linearised).shape)}"
        )
    j = (along_mean(result, n_directions) if direction is None else int(direction)) - 1
    if not 0 <= j < n_directions:
        raise ValueError(f"direction must lie in [1, {n_directions}]; got {direction}")
    omega, _ = directions(result, n_directions)
    out = {"direction": j + 1, "scale": float(omega[j].sqrt()), "ensemble": net.shape[0]}
    for name, z in (
        ("network", net[:, j]),
        ("linearised", lin[:, j]),
        ("moving", net[:, j] - lin[:, j]),
    ):
        out[name], out[f"{name}_se"] = _mean_se(z)
    return out


def paired_shift(
    result: Figure2Result,
    outputs: torch.Tensor,
    reference: torch.Tensor,
    *,
    direction: int | None = None,
    n_directions: int = 8,
) -> tuple[float, float]:
    """The mean over networks of z_j(outputs_i) - z_j(reference_i), the same E initialisations
    trained two ways (paired), and the standard error of those E differences. ``direction``
    (1-based) defaults to :func:`along_mean`."""
    a = standardised(result, outputs, n_directions=n_directions)
    b = standardised(result, reference, n_directions=n_directions)
    if a.shape != b.shape:
        raise ValueError(
            f"outputs and reference must hold the same networks; got {tuple(a.shape)} and "
            f"{tuple(b.shape)} in the standardised coordinates"
        )
    j = (along_mean(result, n_directions) if direction is None else int(direction)) - 1
    if not 0 <= j < n_directions:
        raise ValueError(f"direction must lie in [1, {n_directions}]; got {direction}")
    return _mean_se(a[:, j] - b[:, j])


def width_exponent(
    narrow: dict[str, float],
    wide: dict[str, float],
    n_narrow: int,
    n_wide: int,
    key: str = "moving",
) -> dict[str, float]:
    """How the bias ``key`` of :func:`mean_bias` falls from width ``n_narrow`` to ``n_wide``
    (independent ensembles).

    Returns ``slope`` = ln(|b_wide| / |b_narrow|) / ln(n_wide / n_narrow), the exponent of a power
    law through the two sizes, with its delta-method standard error ``slope_se``; ``z_inverse_n``,
    the standardised excess of b_wide over the value b_narrow n_narrow / n_wide that a 1/n law
    predicts, (|b_wide| - |b_narrow| r) / sqrt(se_wide^2 + r^2 se_narrow^2) with
    r = n_narrow / n_wide (N(0, 1) if the law holds), ``z_inverse_sqrt_n`` the same for
    r = sqrt(n_narrow / n_wide), and
    ``power_inverse_n``: the probability that z_inverse_n exceeds 3 if the bias in truth fell like
    n^-1/2 from its measured size at n_narrow.
    """
    if not 1 <= n_narrow < n_wide:
        raise ValueError(f"widths must satisfy 1 <= n_narrow < n_wide; got {n_narrow}, {n_wide}")
    b1, s1, b2, s2 = abs(narrow[key]), narrow[f"{key}_se"], abs(wide[key]), wide[f"{key}_se"]
    if b1 <= 0 or b2 <= 0:
        raise ValueError("the biases must be non-zero to fit an exponent")
    span = math.log(n_wide / n_narrow)

    def excess(r: float) -> float:
        return (b2 - r * b1) / math.hypot(s2, r * s1)

    r1, rh = n_narrow / n_wide, math.sqrt(n_narrow / n_wide)
    shift = (rh - r1) * b1 / math.hypot(s2, r1 * s1)
    return {
        "slope": math.log(b2 / b1) / span,
        "slope_se": math.hypot(s1 / b1, s2 / b2) / span,
        "z_inverse_n": excess(r1),
        "z_inverse_sqrt_n": excess(rh),
        "power_inverse_n": float(norm.sf(3 - shift)),
    }


__all__ = [
    "along_mean",
    "directions",
    "mean_bias",
    "paired_shift",
    "standardised",
    "width_exponent",
]
