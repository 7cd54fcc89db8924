"""The convolutional NTK on MNIST: what the chapter ``book/convolutional.md`` runs.

The limiting kernels of a CNN, the CNN-GP Sigma and the CNTK Theta (Novak et al. 2019; Arora et
al. 2019), are computed by :mod:`ntk_course.conv` and described by
:class:`ntk_course.ConvArchitecture`. This module holds the chapter's experiments around them:
the digits average-pooled to small images (:func:`downsample`), the six kernels on the same
training and test digits (:func:`digit_kernels`; kernel regression and the learning curve are those
of :mod:`.generalisation`), the paired comparison of two classifiers on the same test digits
(:func:`paired`), the Monte Carlo check of finite CNNs of growing channel count against the limit
(:func:`empirical_cntks`, :func:`z_scores`, :func:`detection_power`). The figures, and the kernel
of a digit against its own translates for the widget, are in :mod:`.convolutional_plots`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from scipy.stats import binomtest

from ..architecture import Architecture
from ..config import scale as current_scale
from ..conv_architecture import ConvArchitecture
from ..digits import MnistSplit, mnist_split
from ..empirical import empirical_ntk
from ..regression import accuracy_difference
from .generalisation import power

__all__ = [
    "KERNELS",
    "Paired",
    "Settings",
    "detection_power",
    "digit_kernels",
    "digit_split",
    "downsample",
    "empirical_cntks",
    "paired",
    "z_scores",
]

#: The six kernels of the comparison: the CNTK and CNN-GP with global average pooling, the same
#: with a flattened readout, and the fully-connected NTK and NNGP on the same pixels.
KERNELS = ("CNTK", "CNN-GP", "CNTK flatten", "CNN-GP flatten", "NTK", "NNGP")


@dataclass(frozen=True)
class Settings:
    """The chapter's experiments at one scale (see :meth:`for_scale`).

    Digits average-pooled from 28 x 28 to ``side`` x ``side``; CNNs of ``depth`` convolutional
    layers with ``filter_size`` x ``filter_size`` filters, "same" padding, ReLU and beta; the
    fully-connected kernels have depth + 1 weight layers, as many as the CNN. Kernel regression on
    the training sizes ``sizes``, tested on ``n_test`` held-out digits. The Monte Carlo check draws
    ``ensemble`` CNNs of each channel count in ``channels`` on ``mc_points`` digits. The widget
    shifts one digit of side ``shift_side`` by up to ``max_shift`` pixels.
    """

    sizes: tuple[int, ...]
    n_test: int
    channels: tuple[int, ...]
    ensemble: int
    side: int = 7
    depth: int = 2
    filter_size: int = 3
    beta: float = 0.1
    mc_points: int = 4
    shift_side: int = 14
    max_shift: int = 3
    seed: int = 0

    @classmethod
    def for_scale(cls, scale: str | None = None) -> Settings:
        """quick (CI), default (a laptop) or paper (a GPU: more digits)."""
        s = scale or current_scale()
        if s == "quick":
            return cls(sizes=(25, 50, 100), n_test=200, channels=(8, 32, 128), ensemble=12)
        if s == "paper":
            return cls(
                sizes=(125, 250, 500, 1000, 2000),
                n_test=2000,
                channels=(8, 32, 128, 256),
                ensemble=16,
            )
        # default: the quick kernel-regression sizes; the CNTK Gram matrices on (N + n_test) x N
        # digit pairs are most of the chapter's time (issue 24: the book builds in minutes)
        return cls(sizes=(25, 50, 100), n_test=200, channels=(8, 32, 128), ensemble=12)

    @property
    def arch(self) -> ConvArchitecture:
        """The CNN of the comparison: ``depth`` layers, ReLU, "same" padding, average pooling."""
        return ConvArchitecture(self.depth, self.filter_size, "same", "gap", "relu", self.beta)

    @property
    def fc_arch(self) -> Architecture:
        """The fully-connected network with as many weight layers as :attr:`arch` (depth + 1)."""
        return Architecture(self.depth + 1, "relu", self.beta)


def downsample(x: object, side: int) -> torch.Tensor:
    """MNIST digits (N, 784) average-pooled to (N, 1, side, side), each scaled to x.x / n_0 = 1.

    Average pooling over (28 / side)^2 blocks of pixels (``torch.nn.functional.avg_pool2d``), then
    the scaling of ``scaling="unit_norm"``: Euclidean norm sqrt(n_0) = side, so that
    Sigma^(1)(x, x) = 1 + beta^2 for the fully-connected kernel of every image (Prop. 1 of Jacot et
    al. 2018). An all-zero image stays zero.

    Parameters
    ----------
    x : array_like
        Shape (N, 784): flattened 28 x 28 digits.
    side : int
        The side of the result; must divide 28 (1, 2, 4, 7, 14 or 28).

    Returns
    -------
    torch.Tensor
        Shape (N, 1, side, side), in x's floating dtype (float64 for integers).

    Raises
    ------
    ValueError
        If x is not (N, 784) or side does not divide 28.
    """
    t = torch.as_tensor(x)
    if t.ndim != 2 or t.shape[1] != 784:
        raise ValueError(f"x must be (N, 784) flattened MNIST digits; got {tuple(t.shape)}")
    if not isinstance(side, int) or side < 1 or 28 % side:
        raise ValueError(f"side must divide 28 (1, 2, 4, 7, 14 or 28); got {side!r}")
    if not torch.is_floating_point(t):
        t = t.to(torch.float64)
    images = F.avg_pool2d(t.reshape(-1, 1, 28, 28), 28 // side)
    norms = images.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1)
    return images * torch.where(norms > 0, side / norms, torch.zeros_like(norms))


def digit_split(settings: Settings, device: torch.device | str | None = None) -> MnistSplit:
    """Disjoint training (max(sizes)) and test (n_test) digits, downsampled to ``settings.side``.

    Parameters
    ----------
    settings : Settings
        Gives the sizes, the side and the seed.
    device : torch.device or str, optional
        Where the inputs and labels go.

    Returns
    -------
    MnistSplit
        The digits of :func:`ntk_course.digits.mnist_split` (seeded, nested training sets) with
        ``x_train`` and ``x_test`` the flattened :func:`downsample` images (N, side^2).
    """
    s = mnist_split(max(settings.sizes), settings.n_test, seed=settings.seed, scaling="pixel")
    small = [downsample(x, settings.side).flatten(1).to(device) for x in (s.x_train, s.x_test)]
    return MnistSplit(
        small[0], s.labels_train.to(device), small[1], s.labels_test.to(device),
        s.index_train, s.index_test,
    )  # fmt: skip


def digit_kernels(
    settings: Settings, split: MnistSplit
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The six kernels of :data:`KERNELS`, each as (K(X, X), K(x, X)) on the split's digits.

    The convolutional ones are eq. (eq-conv-output) of the chapter (Sigma and Theta_infinity of
    :class:`ntk_course.ConvArchitecture`) on the images (N, 1, side, side); the fully-connected
    ones are Prop. 1 and Thm. 1 of Jacot et al. (2018) on the same pixels flattened (N, side^2).

    Parameters
    ----------
    settings : Settings
        The architectures (:attr:`Settings.arch`, :attr:`Settings.fc_arch`) and the side.
    split : MnistSplit
        From :func:`digit_split`.

    Returns
    -------
    dict
        name -> (K(X, X) (N, N), K(x, X) (M, N)), float64, in the order of :data:`KERNELS`.
    """
    side = settings.side
    x, xt = (v.reshape(-1, 1, side, side) for v in (split.x_train, split.x_test))
    out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for suffix, arch in (
        ("", settings.arch),
        (" flatten", settings.arch.replace(readout="flatten")),
    ):
        sigma, theta = arch.kernels(x)
        sigma_x, theta_x = arch.kernels(xt, x)
        out["CNTK" + suffix], out["CNN-GP" + suffix] = (theta, theta_x), (sigma, sigma_x)
    sigma, theta = settings.fc_arch.kernels(split.x_train)
    sigma_x, theta_x = settings.fc_arch.kernels(split.x_test, split.x_train)
    out["NTK"], out["NNGP"] = (theta, theta_x), (sigma, sigma_x)
    return {name: out[name] for name in KERNELS}


class Paired(NamedTuple):
    """Classifier a against classifier b on the same M test digits (see :func:`paired`)."""

    difference: float  # acc_a - acc_b
    std_error: float  # paired: std(d) / sqrt(M), d_m = hit_a[m] - hit_b[m]
    only_a: int  # digits only a classifies correctly
    only_b: int  # digits only b classifies correctly
    p_value: float  # McNemar's exact test: binomial(only_a; only_a + only_b, 1/2), two-sided


def paired(hits_a: object, hits_b: object) -> Paired:
    """The paired comparison of two classifiers on the same test digits (as in the generalisation
    chapter).

    The difference of accuracies with the paired standard error std(d) / sqrt(M) of the per-digit
    differences d_m = hit_a[m] - hit_b[m] (:func:`ntk_course.regression.accuracy_difference`), and
    McNemar's exact test: under "no difference" each of the n = only_a + only_b discordant digits
    is won by a with probability 1/2, so only_a ~ Binomial(n, 1/2) (p = 1 when n = 0).

    Parameters
    ----------
    hits_a, hits_b : array_like of bool, shape (M,)
        True where each classifier is right.

    Returns
    -------
    Paired
        (difference, std_error, only_a, only_b, p_value).

    Raises
    ------
    ValueError
        If they are not 1-d boolean (or 0/1) arrays of the same length M >= 2.
    """
    a, b = torch.as_tensor(hits_a), torch.as_tensor(hits_b)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"need two (M,) arrays of hits; got {tuple(a.shape)} and {tuple(b.shape)}")
    if not all(bool(((v == 0) | (v == 1)).all()) for v in (a, b)):
        raise ValueError("hits must be booleans or 0/1 (right or wrong on each test digit)")
    a, b = a.to(torch.bool), b.to(torch.bool).to(a.device)
    diff, se = accuracy_difference(a.double(), b.double())
    only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
    n = only_a + only_b
    p = float(binomtest(only_a, n).pvalue) if n else 1.0
    return Paired(diff, se, only_a, only_b, p)


def empirical_cntks(
    arch: ConvArchitecture,
    images: torch.Tensor,
    channels: tuple[int, ...],
    ensemble: int,
    seed: int = 0,
) -> dict[int, torch.Tensor]:
    """Empirical NTKs of ``ensemble`` independent CNNs of ``arch`` for each channel count.

    Theta_n(x, x') = sum_p d_p f(x) d_p f(x') (the definition of Jacot et al. 2018, Sec. 4) for
    :meth:`ntk_course.ConvArchitecture.network` of width n on the m ``images`` (m, C, H, W),
    computed in float64 by :func:`ntk_course.empirical_ntk` (Jacobian method). As n grows they
    tend to ``arch.ntk(images)`` (Arora et al. 2019, Theorem 3.1), with a spread of order
    1/sqrt(n).

    Parameters
    ----------
    arch : ConvArchitecture
        The CNN.
    images : torch.Tensor
        (m, C, H, W).
    channels : tuple of int
        The channel counts n.
    ensemble : int
        Networks E per channel count, drawn one after the other from one seeded generator.
    seed : int, default 0
        Seeds that generator.

    Returns
    -------
    dict
        n -> (E, m, m) float64 empirical NTKs.
    """
    g = torch.Generator().manual_seed(seed)
    x = images.to(torch.float64)
    out = {}
    for n in channels:
        nets = (
            arch.network(x.shape[1:], n, generator=g, dtype=torch.float64) for _ in range(ensemble)
        )
        out[n] = torch.stack([empirical_ntk(net, x.flatten(1), method="jacobian") for net in nets])
    return out


def z_scores(sample: object, limit: object) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean - limit) / se entry by entry, and se: the Monte Carlo test of a sample against a limit.

    se is the standard error of the mean, std / sqrt(E) (unbiased std). For E empirical NTKs of n
    channels, se is of order 1 / sqrt(n E): the tolerance of a check |z| < k shrinks with both.

    Parameters
    ----------
    sample : array_like
        (E, ...) independent draws, E >= 2.
    limit : array_like
        (...) the value they estimate.

    Returns
    -------
    z, se : torch.Tensor
        Each of the limit's shape, float64.

    Raises
    ------
    ValueError
        If the sample has fewer than two draws or its entries' shape is not the limit's.
    """
    s, lim = (
        torch.as_tensor(sample, dtype=torch.float64),
        torch.as_tensor(limit, dtype=torch.float64),
    )
    if s.ndim < 1 or s.shape[0] < 2 or tuple(s.shape[1:]) != tuple(lim.shape):
        raise ValueError(
            f"need a sample (E >= 2, *shape) and a limit of that shape; got {tuple(s.shape)} and "
            f"{tuple(lim.shape)}"
        )
    se = s.std(0) / math.sqrt(s.shape[0])
    return (s.mean(0) - lim.to(s.device)) / se, se


def detection_power(alternative: object, limit: object, se: object, k: float = 4.0) -> float:
    """The probability that the check "every |z| < k" fails when the truth is ``alternative``.

    Entry by entry the mean is taken as normal with mean ``alternative`` and standard deviation
    ``se``; the check fails if any entry lies k se or more from ``limit``. Treating the entries as
    independent gives 1 - prod(1 - p_e) with p_e the two-sided z-test power
    (:func:`.generalisation.power`) at the effect alternative - limit. The entries of one kernel
    matrix are positively correlated, so this is an estimate, not a bound; the single largest p_e
    is a lower bound.

    Parameters
    ----------
    alternative, limit, se : array_like
        The wrong limit, the limit the check tests against, and the standard errors, one shape.
    k : float, default 4.0
        The check's threshold in standard errors.

    Returns
    -------
    float
        The probability that at least one entry fails the check.

    Raises
    ------
    ValueError
        If the three do not have as many entries.
    """
    alt, lim = torch.as_tensor(alternative), torch.as_tensor(limit)
    errors = torch.as_tensor(se).flatten().tolist()
    effects = (alt - lim).flatten().tolist()
    if len(effects) != len(errors):
        raise ValueError(
            f"alternative, limit and se need one shape; got {len(effects)}, {len(errors)}"
        )
    miss = 1.0
    for e, s in zip(effects, errors):
        miss *= 1.0 - power(float(e), float(s), k)
    return 1.0 - miss
