"""Two-sided windows on measured rates: power laws fitted across widths, with their sampling error.

The course checks rates such as the n^(-1/2) fluctuations of the empirical NTK behind Theorem 1,
or the drift of the kernel during training behind Theorem 2 (Jacot, Gabriel & Hongler 2018), by
fitting a slope on a log-log scale. A check on such a slope must be two-sided, and its window as
wide as the sampling error of the experiment: a one-sided bound, or a window picked by eye, would
also pass a wrong rate.

* :func:`power_law_fit`: value ~ c n^s by least squares on log value against log n;
* :func:`bootstrap_slope`: the same fit to a statistic of the draws (initialisations) of every
  width, with the bootstrap standard error of s: the draws of each width are resampled
  independently, with replacement, and the slope refitted; :meth:`PowerLaw.agrees_with` is the
  two-sided test and :meth:`PowerLaw.window` the interval it accepts;
* :func:`power_law_errors`: a learning curve's test error ~ c N^s against the training size N,
  refitted to bootstrap resamples of the test points;
* :func:`check_windows`: measured accuracies against expected ones, within k binomial standard
  errors sqrt(p (1 - p) / m), two-sided.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from ._checks import hidden_widths, positive_int
from .regression import accuracy_standard_error

__all__ = [
    "PowerLaw",
    "bootstrap_slope",
    "check_windows",
    "mean",
    "power_law_errors",
    "power_law_fit",
    "spread",
]


@dataclass(frozen=True)
class PowerLaw:
    """A fit ``value = prefactor * width ** slope``, with the sampling error of the slope.

    The course fits such slopes across widths n to check rates such as the n^(-1/2) fluctuations
    of the empirical NTK behind Theorem 1, or the kernel's drift during training behind Theorem 2.

    Attributes
    ----------
    slope : float
        The exponent s.
    prefactor : float
        The constant c.
    std_error : float, default NaN
        The sampling standard deviation of ``slope`` (NaN when not estimated, as for
        :func:`power_law_fit`).
    """

    slope: float
    prefactor: float
    std_error: float = math.nan

    def __call__(self, width: object) -> torch.Tensor:
        """The fitted ``prefactor * width ** slope``, float64, of the shape of ``width``."""
        return self.prefactor * torch.as_tensor(width, dtype=torch.float64) ** self.slope

    def window(self, z: float = 3.0) -> tuple[float, float]:
        """The interval slope -+ z standard errors."""
        return self.slope - z * self.std_error, self.slope + z * self.std_error

    def agrees_with(self, expected: float, z: float = 3.0) -> bool:
        """Two-sided: whether ``expected`` lies within ``z`` standard errors of the fitted slope."""
        if math.isnan(self.std_error):
            raise ValueError("this fit has no standard error; use bootstrap_slope to test a rate")
        return abs(self.slope - expected) <= z * self.std_error


def power_law_fit(widths: Sequence[int] | torch.Tensor, values: object) -> PowerLaw:
    """Fit ``values ~ c * widths ** s`` on a log-log scale and return (s, c).

    Parameters
    ----------
    widths : sequence of int or torch.Tensor
        Shape (W,): the widths, positive, at least two distinct.
    values : array_like
        Shape (W,): one positive, finite value per width.

    Returns
    -------
    PowerLaw
        ``slope`` s and ``prefactor`` c; ``std_error`` NaN.

    Raises
    ------
    ValueError
        If there are fewer than two widths, not one value per width, non-positive or non-finite
        entries, or all widths are equal.
    """
    n = torch.as_tensor(widths, dtype=torch.float64).reshape(-1)
    v = torch.as_tensor(values, dtype=torch.float64).reshape(-1)
    if n.numel() < 2 or n.numel() != v.numel():
        raise ValueError(
            "need at least two widths and one value per width; "
            f"got {n.numel()} widths, {v.numel()} values"
        )
    if not bool(torch.isfinite(v).all()) or bool((v <= 0).any()) or bool((n <= 0).any()):
        raise ValueError("widths and values must be positive and finite for a log-log fit")
    if float(n.log().std()) == 0.0:
        raise ValueError("widths must not all be equal")
    a = torch.stack([torch.ones_like(n), n.log()], dim=1)
    coef = torch.linalg.lstsq(a, v.log()[:, None]).solution[:, 0]
    return PowerLaw(slope=float(coef[1]), prefactor=float(coef[0].exp()))


def mean(sample: np.ndarray) -> float:
    """The mean over the draws (and any further axes): the default of :func:`bootstrap_slope`."""
    return float(np.mean(sample))


def spread(sample: np.ndarray) -> float:
    """The standard deviation over the draws (axis 0, ``ddof=1``), averaged over the other entries.

    The spread of the empirical NTK over initialisations (``std``), as the limiting_ntk chapter
    measures it.
    """
    return float(np.std(sample, axis=0, ddof=1).mean())


def bootstrap_slope(
    widths: Sequence[int] | torch.Tensor,
    samples: object,
    statistic: Callable[[np.ndarray], float] = mean,
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> PowerLaw:
    """:func:`power_law_fit` of ``statistic(samples[w])``, with the bootstrap error of the slope.

    Each of the ``resamples`` resamples redraws, width by width, the draws with replacement and
    refits the slope; ``std_error`` is the standard deviation of the refitted slopes (it slightly
    underestimates the spread when E is small, by about sqrt((E - 1) / E)).

    Parameters
    ----------
    widths : sequence of int or torch.Tensor
        Shape (W,): distinct widths, at least two.
    samples : array_like or sequence of array_like
        ``samples[w]`` holds the independent draws (initialisations) of width ``w`` along its first
        axis, at least two, all finite: a (W, E) array, or a sequence of per-width stacks
        (E_w, ...).
    statistic : callable, default :func:`mean`
        Maps one width's stack to a positive number.
    resamples : int, default 2000
        The number of bootstrap resamples, >= 2.
    seed : int, default 0
        Seeds the resampling, >= 0.

    Returns
    -------
    PowerLaw
        The fit of ``statistic(samples[w])`` against ``widths[w]`` and ``std_error`` of its slope.

    Raises
    ------
    ValueError
        If the widths are not distinct positive integers, there are fewer than two, not one sample
        per width, a sample has fewer than two draws or non-finite entries, or resamples < 2 or
        seed < 0.
    """
    ws = hidden_widths(
        [int(w) for w in torch.as_tensor(widths).reshape(-1).tolist()], distinct=True
    )
    stacks = [torch.as_tensor(s).detach().cpu().double().numpy() for s in samples]
    if len(stacks) != len(ws) or len(ws) < 2:
        raise ValueError(
            "need at least two widths and one sample per width; "
            f"got {len(ws)} widths, {len(stacks)} samples"
        )
    for w, s in zip(ws, stacks):
        if s.ndim < 1 or s.shape[0] < 2:
            raise ValueError(
                f"the sample of width {w} needs at least two draws along its first axis; "
                f"got shape {tuple(s.shape)}"
            )
        if not np.isfinite(s).all():
            raise ValueError(f"the sample of width {w} has non-finite entries")
    resamples = positive_int(resamples, "resamples", minimum=2)
    rng = np.random.default_rng(positive_int(seed, "seed", minimum=0))
    fit = power_law_fit(ws, [statistic(s) for s in stacks])
    x = np.log(ws) - np.log(ws).mean()
    # Shape (B, W): the log statistic of every resample and width.
    logs = np.array(
        [
            [math.log(statistic(s[rng.integers(0, s.shape[0], s.shape[0])])) for s in stacks]
            for _ in range(resamples)
        ]
    )
    slopes = (logs - logs.mean(1, keepdims=True)) @ x / (x @ x)
    return replace(fit, std_error=float(slopes.std(ddof=1)))


def power_law_errors(
    sizes: Sequence[int], hits: object, resamples: int = 1000, seed: int = 0
) -> tuple[PowerLaw, torch.Tensor]:
    """Fit test error ~ c N^s to a learning curve, and refit it to bootstrap test sets.

    The test error after training on ``sizes[i]`` points is the fraction of misses in
    ``hits[i]``; :func:`power_law_fit` gives (s, c). Each of the ``resamples`` resamples draws M
    test points with replacement (the same points for every N, as the curve shares its test set)
    and refits. The spread of the refitted slopes covers the sampling of the test points only, not
    the choice of the training points nor a departure from a power law.

    Parameters
    ----------
    sizes : sequence of int
        Shape (S,): the training sizes N, positive, at least two distinct.
    hits : array_like of bool
        Shape (S, M): whether test point m is classified correctly after training on ``sizes[s]``
        points (``Curve.hits`` of the generalisation chapter); every row must miss at least one
        point (an error of zero has no logarithm).
    resamples : int, default 1000
        The number of bootstrap resamples, >= 1.
    seed : int, default 0
        Seeds the resampling (its own generator), >= 0.

    Returns
    -------
    fit : PowerLaw
        The fit to the measured errors (``std_error`` NaN).
    table : torch.Tensor
        Shape (resamples, 2), float64: (slope, prefactor) of each resample's fit.

    Raises
    ------
    ValueError
        If ``hits`` is not a 2-d array with one row per size and at least one column, ``resamples``
        or ``seed`` is out of range, or an error (measured or resampled) is zero, or
        :func:`power_law_fit` refuses the sizes.
    """
    h = torch.as_tensor(hits).detach().cpu().to(torch.float64)
    if h.ndim != 2 or h.shape[0] != len(sizes) or h.shape[1] == 0:
        raise ValueError(
            f"hits must have shape (S, M) with one row per size (S = {len(sizes)}) and M >= 1; "
            f"got shape {tuple(h.shape)}"
        )
    resamples = positive_int(resamples, "resamples")
    g = torch.Generator().manual_seed(positive_int(seed, "seed", minimum=0))
    fit = power_law_fit(sizes, 1 - h.mean(1))
    draws = torch.randint(0, h.shape[1], (resamples, h.shape[1]), generator=g)
    err = 1 - h[:, draws].mean(-1)  # (S, resamples)
    table = [(f.slope, f.prefactor) for f in (power_law_fit(sizes, e) for e in err.T)]
    return fit, torch.tensor(table, dtype=torch.float64)


def check_windows(
    measured: Mapping[object, float], expected: Mapping[object, float], m: int, k: float = 3.0
) -> list[str]:
    """Two-sided check of measured accuracies against expected ones, within k binomial errors.

    An accuracy p measured on m independent test points has the standard error
    sqrt(p (1 - p) / m) (:func:`ntk_course.regression.accuracy_standard_error`); a measured value
    passes if it lies within ``k`` such errors, computed at the expected p, of the expected value.

    Parameters
    ----------
    measured : mapping
        The measured accuracies in [0, 1], by name; must hold every key of ``expected``.
    expected : mapping
        The expected accuracies in [0, 1] (measured before at this scale), by the same names.
    m : int
        The number of test points, >= 1.
    k : float, default 3.0
        The half-width of the window in standard errors, > 0.

    Returns
    -------
    list of str
        One line per failure, "name: measured p, expected q +- window"; empty when all pass.

    Raises
    ------
    ValueError
        If a key of ``expected`` is missing from ``measured``, ``k`` is not a finite number > 0,
        a measured value is not finite, or :func:`~ntk_course.regression.accuracy_standard_error`
        refuses an expected value or ``m``.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Real) or not 0 < float(k) < math.inf:
        raise ValueError(f"k must be a finite number > 0; got {k!r}")
    missing = [key for key in expected if key not in measured]
    if missing:
        raise ValueError(f"measured has no value for {missing}; expected one per key of expected")
    bad = []
    for key, p in expected.items():
        window = k * accuracy_standard_error(p, m)
        value = float(measured[key])
        if not math.isfinite(value):
            raise ValueError(f"measured[{key!r}] must be a finite accuracy; got {value}")
        if abs(value - p) > window:
            bad.append(f"{key}: measured {value:.4f}, expected {p:.4f} +- {window:.4f}")
    return bad
