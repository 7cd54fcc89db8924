"""Spectral bias on the circle: the experiment's settings and its target (Section 5).

Jacot, Gabriel & Hongler (2018), Section 5: on N equally spaced points of the unit circle the
least-squares flow shrinks the residual's k-th Fourier coefficient by exp(-lambda_k t). The target
is a sum of a few cosines, f*(g) = sum_k a_k cos(k (g + phase)) (:func:`target`), learned by ReLU
networks of one architecture (:class:`SpectralBiasSettings`); :mod:`.spectral_bias` runs it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..architecture import Architecture
from ..config import SCALES
from ..config import scale as current_scale

FINE = 8  # evaluation points per training point (the training points are every FINE-th of them)


@dataclass(frozen=True)
class SpectralBiasSettings:
    """The experiment: target sum_k a_k cos(k (g + phase)) on ``n_points`` equally spaced points of
    the circle, ReLU networks [2, width, ..., width, 1] of ``depth`` weight layers and bias factor
    ``beta`` (:attr:`arch`), ``ensemble`` initialisations, gradient descent with learning rate
    ``lr`` up to time ``t`` (every step recorded).

    Raises
    ------
    ValueError
        For frequencies that are not distinct integers in [1, n_points/2), amplitudes that are not
        one positive number per frequency, and counts, depth, beta or times out of range (the
        architecture checks depth and beta).
    """

    frequencies: tuple[int, ...] = (1, 2, 4)
    amplitudes: tuple[float, ...] = (1.0, 0.6, 0.4)
    phase: float = 0.3
    n_points: int = 32
    depth: int = 2
    beta: float = 0.1
    width: int = 4096
    ensemble: int = 8
    lr: float = 2.0
    t: float = 1000.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_points < 4:
            raise ValueError(f"n_points must be an integer >= 4; got {self.n_points}")
        freqs = tuple(self.frequencies)
        if (
            not freqs
            or len(set(freqs)) != len(freqs)
            or not all(1 <= k < self.n_points / 2 for k in freqs)
        ):
            raise ValueError(
                f"frequencies must be distinct integers in [1, n_points/2); got {self.frequencies}"
            )
        if len(self.amplitudes) != len(freqs) or not all(
            a > 0 and math.isfinite(a) for a in self.amplitudes
        ):
            raise ValueError(
                f"amplitudes must be {len(freqs)} numbers > 0, one per frequency; "
                f"got {self.amplitudes}"
            )
        arch = self.arch  # depth >= 1 and beta >= 0, checked by the architecture
        if arch.depth < 2:
            raise ValueError(f"depth must be at least 2 (a hidden layer); got {arch.depth}")
        arch.widths(2, self.width)  # width >= 1
        if self.ensemble < 2:
            raise ValueError(f"ensemble must be an integer >= 2; got {self.ensemble}")
        if not (self.lr > 0 and math.isfinite(self.lr)) or not (
            self.t >= self.lr and math.isfinite(self.t)
        ):
            raise ValueError(f"lr must be > 0 and t >= lr; got lr={self.lr}, t={self.t}")
        if self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0; got {self.seed}")

    @property
    def arch(self) -> Architecture:
        """The architecture of the networks and of their limit: ReLU, ``depth``, ``beta``, NTK."""
        return Architecture(self.depth, "relu", self.beta)

    @property
    def steps(self) -> int:
        """The number of gradient-descent steps, t / lr."""
        return round(self.t / self.lr)

    @classmethod
    def for_scale(cls, scale: str | None = None) -> SpectralBiasSettings:
        """``quick``: width 1024, 4 networks; ``default``: width 2048, 8 networks; ``paper`` (a
        GPU): width 16384, 16 networks. Always one hidden layer, 32 points and 500 steps of lr 2 (t
        = 1000). ``None`` reads ``NTK_COURSE_SCALE``; an unknown name raises ValueError."""
        name = current_scale() if scale is None else scale
        if name not in SCALES:
            raise ValueError(f"unknown scale {name!r}; expected one of {SCALES}")
        return {
            "quick": cls(width=1024, ensemble=4),
            "default": cls(width=2048),
            "paper": cls(width=16384, ensemble=16),
        }[name]


def target(settings: SpectralBiasSettings, gamma: torch.Tensor) -> torch.Tensor:
    """f*(g) = sum_k a_k cos(k (g + phase))."""
    return sum(
        a * torch.cos(k * (gamma + settings.phase))
        for k, a in zip(settings.frequencies, settings.amplitudes)
    )


__all__ = ["FINE", "SpectralBiasSettings", "target"]
