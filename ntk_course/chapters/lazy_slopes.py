"""The powers of the output scale alpha at which lazy training's quantities fall, per network.

Chizat, Oyallon & Bach (2019) bound, over a finite horizon, the kernel's drift, the weights' move
and the distance to the linearised model by O(1/alpha) when the model has a Lipschitz Jacobian
(a smooth activation such as tanh; ReLU has none). :func:`alpha_slopes` fits, network by network,
the log-log slope of each quantity against alpha over the lazy range of
:class:`~ntk_course.chapters.laziness.LazyTraining` runs, and :class:`SlopeTest` tests the mean of
those independent slopes against a prediction with a Student t over the networks (so the
between-network variance is the test's error), with its power against an alternative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from scipy import stats

from ..power_laws import power_law_fit
from .laziness import LazyTraining


def alpha_slopes(
    runs: Sequence[LazyTraining], quantity: str, min_alpha: float = 1.0
) -> torch.Tensor:
    """The log-log slope of ``quantity`` ("kernel_drift", "weight_change" or "deviation") against
    alpha over the output scales alpha >= ``min_alpha``, one per network: (S,) float64.

    Each network gives an independent slope, so their mean and its standard error (the standard
    deviation over networks divided by sqrt(S)) estimate the power of the lazy regime with its
    sampling error, between-network variance included."""
    if quantity not in ("kernel_drift", "weight_change", "deviation"):
        raise ValueError(
            f"quantity must be kernel_drift, weight_change or deviation; got {quantity!r}"
        )
    slopes = []
    for run in runs:
        keep = run.alphas >= min_alpha
        if int(keep.sum()) < 2:
            raise ValueError(f"need at least two alphas >= {min_alpha}; got {run.alphas.tolist()}")
        slopes.append(power_law_fit(run.alphas[keep], getattr(run, quantity)[keep]).slope)
    return torch.tensor(slopes, dtype=torch.float64)


@dataclass(frozen=True)
class SlopeTest:
    """A t-test of the mean of S independent per-network slopes against a predicted value.

    ``mean`` and ``std_error`` (the standard deviation over networks / sqrt(S)); ``critical`` the
    Student-t quantile with S - 1 degrees of freedom at the test's level (two-sided, or one-sided
    for :meth:`falls`); ``t`` = (mean - predicted) / std_error; ``allowance`` a fixed tolerance
    added to the window for a known systematic error (the next order of an expansion), 0 for a
    purely statistical test."""

    mean: float
    std_error: float
    networks: int
    predicted: float
    level: float
    critical: float
    t: float
    allowance: float = 0.0

    @classmethod
    def of(
        cls,
        slopes: Sequence[float] | torch.Tensor,
        predicted: float,
        level: float = 0.99,
        allowance: float = 0.0,
    ) -> SlopeTest:
        """Two-sided test of mean slope = ``predicted`` at ``level``, from S >= 2 slopes."""
        v = torch.as_tensor(slopes, dtype=torch.float64).reshape(-1)
        if v.numel() < 2 or not bool(torch.isfinite(v).all()):
            raise ValueError(f"need at least two finite slopes; got {v.tolist()}")
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1); got {level}")
        s = v.numel()
        mean, se = float(v.mean()), float(v.std() / s**0.5)
        crit = float(stats.t.ppf((1 + level) / 2, s - 1))
        t = (mean - predicted) / se
        return cls(mean, se, s, float(predicted), float(level), crit, t, float(allowance))

    @property
    def window(self) -> float:
        """The half-width of the window around ``predicted``: critical x std_error + allowance."""
        return self.critical * self.std_error + self.allowance

    @property
    def consistent(self) -> bool:
        """|mean - predicted| < :attr:`window`: the level-``level`` t-interval, widened by the
        allowance, holds the prediction."""
        return abs(self.mean - self.predicted) < self.window

    @property
    def falls(self) -> bool:
        """The one-sided test at the same level rejects a mean slope >= 0 (no decay)."""
        return self.mean + float(stats.t.ppf(self.level, self.networks - 1)) * self.std_error < 0

    def power(self, alternative: float, one_sided: bool = False) -> float:
        """The probability that the test rejects when the true mean slope is ``alternative``,
        with the observed spread between networks: a noncentral t with S - 1 degrees of freedom
        (two-sided against ``predicted``, or, ``one_sided``, the test of :attr:`falls`)."""
        df = self.networks - 1
        if one_sided:
            nc = -alternative / self.std_error
            return float(stats.nct.sf(stats.t.ppf(self.level, df), df, nc))
        nc = (alternative - self.predicted) / self.std_error
        c = self.window / self.std_error
        # P(T > c) + P(T < -c), the lower tail as P(T > c) under -nc (scipy's cdf is unstable there)
        return float(stats.nct.sf(c, df, nc) + stats.nct.sf(c, df, -nc))


__all__ = ["SlopeTest", "alpha_slopes"]
