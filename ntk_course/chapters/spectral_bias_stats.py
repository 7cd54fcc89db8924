"""Spectral bias on the circle: the statistics of the chapter's checks (Section 5).

:func:`rate_test` compares the learning rates of an ensemble of finite networks with the rates
that the limiting kernel predicts before any training (Jacot, Gabriel & Hongler 2018, Section 5:
the flow shrinks the k-th Fourier coefficient of the residual like exp(-lambda_k t)), by Student's
one-sample t-test over the networks, with its power against an alternative from the noncentral t
law. :func:`first_correction` fits the 1/k correction of an eigenvalue decay C k^-p (1 + c/k + ...)
on the sphere, which sets the local exponent log2(mu_2k / mu_k) = -p - c / (2 k ln 2) + O(k^-2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def first_correction(mu: torch.Tensor, power: float, k_min: int = 50) -> float:
    """The coefficient c of the expansion mu_k = C k^{-power} (1 + c/k + d/k^2 + ...).

    Least squares of mu_k k^power = C + C c / k + C d / k^2 (linear in C, Cc, Cd) over the even k
    from ``k_min`` to the last index of ``mu`` (even k only: at small depth the odd coefficients
    follow another curve). With it, the local exponent s(k) = log(mu_{2k} / mu_k) / log 2 is
    -power - c / (2 k ln 2) + O(k^-2): log(1 + c/(2k)) - log(1 + c/k) = -c/(2k) + O(k^-2), and
    the division by ln 2 turns the natural logarithm into the base-2 one.

    Parameters
    ----------
    mu : torch.Tensor
        (K + 1,) the eigenvalues mu_0 .. mu_K, positive at the even k used.
    power : float
        The exponent of the leading term (n0 for the ReLU NTK on S^{n0 - 1}, n0 + 2 for its NNGP).
    k_min : int
        The smallest k of the fit (even), with at least three even k up to K.

    Returns
    -------
    float
        c.

    Raises
    ------
    ValueError
        If fewer than three even k lie in [k_min, K] or a mu_k used is not positive.
    """
    start = k_min + k_min % 2
    k = torch.arange(start, mu.shape[0], 2, dtype=torch.float64)
    if k.numel() < 3:
        raise ValueError(f"need three even k in [{k_min}, {mu.shape[0] - 1}]; got {k.numel()}")
    g = mu.double().cpu()[start::2]
    if bool((g <= 0).any()):
        raise ValueError("the eigenvalues used by the fit must be positive")
    design = torch.stack([torch.ones_like(k), 1 / k, 1 / k**2], 1)
    coef = torch.linalg.lstsq(design, (g * k**power)[:, None]).solution[:, 0]
    return float(coef[1] / coef[0])


@dataclass
class RateTest:
    """:func:`rate_test`'s result, one entry per frequency (F,): the ``predicted`` rates, the
    networks' ``mean`` fitted rate and its standard error ``se`` over the E networks, the
    ``statistic`` (mean - predicted) / se, the two-sided ``critical`` value of Student's t with
    E - 1 degrees of freedom at level ``alpha``, the ``alternative`` rates and the test's
    ``power`` against them, and ``detectable``, the relative deviation of the mean rate that the
    test detects with probability 0.8."""

    predicted: torch.Tensor
    mean: torch.Tensor
    se: torch.Tensor
    statistic: torch.Tensor
    critical: float
    alpha: float
    alternative: torch.Tensor
    power: torch.Tensor
    detectable: torch.Tensor

    @property
    def passed(self) -> bool:
        """True if no frequency's mean rate is further than ``critical`` standard errors from its
        prediction."""
        return bool((self.statistic.abs() <= self.critical).all())


def rate_test(
    network_rates: torch.Tensor,
    predicted: torch.Tensor,
    alternative: torch.Tensor,
    alpha: float = 0.01,
) -> RateTest:
    """A two-sided one-sample t-test, per frequency, of the networks' mean rate against the
    predicted one, with its power against alternative rates.

    The E networks are independent draws of the initialisation, so the spread of their fitted rates
    holds all the sampling error (between-network variance included) and the mean's standard error
    is sd / sqrt(E). Under H0 (mean rate = prediction) the statistic has Student's t law with
    E - 1 degrees of freedom; if the true mean rate is an alternative a_k, it has the noncentral t
    law with noncentrality (a_k - rho_k) / (sd / sqrt(E)) (the sample sd standing in for the
    population's), which gives the power.

    Parameters
    ----------
    network_rates : torch.Tensor
        (E, F) the fitted rate of each network and frequency, E >= 2.
    predicted, alternative : torch.Tensor
        (F,) the rates under H0 and under the named alternative.
    alpha : float
        The level of each frequency's test, in (0, 1).

    Returns
    -------
    RateTest

    Raises
    ------
    ValueError
        For fewer than two networks, mismatched shapes or alpha outside (0, 1).
    """
    from scipy import stats

    rates = network_rates.double().cpu()
    if rates.ndim != 2 or rates.shape[0] < 2:
        raise ValueError(f"network_rates must be (E, F) with E >= 2; got {tuple(rates.shape)}")
    if predicted.shape != (rates.shape[1],) or alternative.shape != predicted.shape:
        raise ValueError(
            f"predicted and alternative must be ({rates.shape[1]},); got "
            f"{tuple(predicted.shape)} and {tuple(alternative.shape)}"
        )
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}")
    e = rates.shape[0]
    predicted, alternative = predicted.double().cpu(), alternative.double().cpu()
    mean, se = rates.mean(0), rates.std(0) / math.sqrt(e)
    critical = float(stats.t.ppf(1 - alpha / 2, e - 1))
    shift = ((alternative - predicted) / se).numpy()
    power = stats.nct.sf(critical, e - 1, shift) + stats.nct.cdf(-critical, e - 1, shift)
    # the relative shift detected with probability 0.8: solve power(delta) = 0.8 on a grid of delta
    grid = torch.linspace(0, 50, 5001, dtype=torch.float64).numpy()
    curve = stats.nct.sf(critical, e - 1, grid) + stats.nct.cdf(-critical, e - 1, grid)
    delta80 = float(grid[int((curve >= 0.8).argmax())])
    return RateTest(
        predicted=predicted,
        mean=mean,
        se=se,
        statistic=(mean - predicted) / se,
        critical=critical,
        alpha=alpha,
        alternative=alternative,
        power=torch.as_tensor(power, dtype=torch.float64),
        detectable=delta80 * se / predicted,
    )


__all__ = ["RateTest", "first_correction", "rate_test"]
