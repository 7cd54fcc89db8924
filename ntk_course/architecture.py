"""One description of a fully connected architecture that makes the finite network and its limit.

The paper's object is an architecture: depth L (weight layers), activation sigma, bias factor beta
and a parametrisation (Section 2, Remark 1). An :class:`Architecture` holds exactly these and makes

- the finite network of any width, :meth:`Architecture.network` (an :class:`~ntk_course.NTKMLP`
  with widths ``[n_0, width, ..., width, n_out]``), and
- its infinite-width kernels: :meth:`Architecture.nngp` (Sigma^(L), Proposition 1),
  :meth:`Architecture.ntk` (Theta_infinity^(L), Theorem 1), both at once with
  :meth:`Architecture.kernels`, and every layer with :meth:`Architecture.layers`,

so that a network and the kernel it is compared with are never spelled twice. The loose-argument
functions :func:`~ntk_course.nngp` and :func:`~ntk_course.ntk` stay for one-line use; these
methods call them.

Which limits exist depends on the parametrisation:

- ``"ntk"``: both Sigma^(L) and Theta_infinity^(L) (Proposition 1, Theorem 1);
- ``"standard"`` (Remark 1): the same law at initialisation, so the same Sigma^(L); its tangent
  kernel grows like the width from depth 2 on, so it has no finite limit and :meth:`ntk` refuses;
- ``"mup"`` (the maximal-update parametrisation): f at initialisation is O(n^(-1/2)), so its
  Gaussian limit is 0, and its kernel moves by O(1) during training: neither limit describes it
  and both methods refuse, saying why.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from ._checks import non_negative, positive, positive_int
from .activations import Activation, Fn, get_activation
from .kernels import limiting_kernels, nngp, ntk
from .layers import LayerKernels, layer_kernels
from .mlp import NTKMLP, PARAMETRIZATIONS

Act = str | Activation | Fn


@dataclass(frozen=True)
class Architecture:
    """A fully connected architecture: depth L, activation sigma, bias factor beta, parametrisation.

    Parameters
    ----------
    depth : int
        L, the number of weight layers (>= 1): inputs n_0, hidden widths n_1..n_{L-1}, outputs n_L.
    activation : str, Activation or callable, default "relu"
        sigma: a name from :data:`ntk_course.ACTIVATIONS`, an :class:`~ntk_course.Activation`, or a
        callable (its kernels then come from quadrature).
    beta : float, default 0.1
        The bias factor beta >= 0 of Section 2 (Sigma^(1) = x.x'/n_0 + beta^2).
    parametrization : {"ntk", "standard", "mup"}, default "ntk"
        The NTK parametrisation of Section 2, the standard one of Remark 1, or muP.
    weight_std : float, default 1.0
        sigma_w > 0, the weights' standard deviation (neural-tangents' ``W_std``; 1 in the paper):
        the network multiplies every W^(l) by it, and the limits' Sigma and Sigma_dot carry
        sigma_w^2 (:func:`ntk_course.limiting_kernels`).

    Raises
    ------
    ValueError
        If depth < 1, beta < 0 or not finite, the activation is unknown, the parametrisation is
        not one of ``PARAMETRIZATIONS`` (muP also needs a hidden layer, depth >= 2), or
        weight_std is not positive.

    Examples
    --------
    >>> import torch
    >>> arch = Architecture(depth=3, activation="relu", beta=0.1)
    >>> arch.widths(784, 512)
    [784, 512, 512, 1]
    >>> x = torch.randn(4, 784, dtype=torch.float64)
    >>> arch.ntk(x).shape
    torch.Size([4, 4])
    >>> net = arch.network(784, 512, generator=torch.Generator().manual_seed(0))
    >>> net(x.float()).shape
    torch.Size([4, 1])
    """

    depth: int
    activation: Act = "relu"
    beta: float = 0.1
    parametrization: str = "ntk"
    weight_std: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "depth", positive_int(self.depth, "depth"))
        object.__setattr__(self, "beta", non_negative(self.beta, "beta"))
        object.__setattr__(self, "weight_std", positive(self.weight_std, "weight_std"))
        get_activation(self.activation)  # an unknown name fails here, listing the known ones
        if self.parametrization not in PARAMETRIZATIONS:
            raise ValueError(
                f"unknown parametrization {self.parametrization!r}; "
                f"expected one of {PARAMETRIZATIONS}"
            )
        if self.parametrization == "mup" and self.depth < 2:
            raise ValueError(
                f"a muP network needs a hidden layer (depth >= 2); got depth {self.depth}"
            )

    @property
    def activation_name(self) -> str:
        """The activation's name (a callable's ``__name__``), for labels and tables."""
        return get_activation(self.activation).name

    def replace(self, **changes: object) -> Architecture:
        """A copy with some fields changed, e.g. ``arch.replace(depth=5)``; validated again."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def widths(self, n0: int, width: int, n_out: int = 1) -> list[int]:
        """The layer sizes ``[n_0, width, ..., width, n_out]`` of the network of hidden ``width``.

        Parameters
        ----------
        n0, width, n_out : int
            Input dimension n_0, the hidden width n_1 = ... = n_{L-1}, the outputs n_L (each >= 1).

        Returns
        -------
        list of int
            ``depth + 1`` sizes. Raises ValueError for a size < 1.
        """
        n0, width = positive_int(n0, "n0"), positive_int(width, "width")
        return [n0] + [width] * (self.depth - 1) + [positive_int(n_out, "n_out")]

    def network(
        self,
        n0: int,
        width: int,
        n_out: int = 1,
        *,
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> NTKMLP:
        """The finite network of this architecture with hidden ``width`` (Section 2).

        Parameters
        ----------
        n0, width, n_out : int
            Layer sizes as in :meth:`widths`.
        ensemble : int, optional
            E independent networks stacked in one module (outputs (E, N, n_out)).
        generator : torch.Generator, optional
            The random generator of the initialisation (every parameter N(0, 1), scaled as the
            parametrisation says).
        dtype, device
            Of the parameters (float32 on the CPU by default).

        Returns
        -------
        NTKMLP
            Its ``lr_scale`` is the learning-rate factor of the parametrisation (n_{L-1} for muP).
        """
        return NTKMLP(
            self.widths(n0, width, n_out),
            self.activation,
            self.beta,
            parametrization=self.parametrization,
            weight_std=self.weight_std,
            ensemble=ensemble,
            generator=generator,
            dtype=dtype,
            device=device,
        )

    def _limit(self, kernel: str) -> None:
        """Refuse a limit the parametrisation does not have (see the module docstring)."""
        if self.parametrization == "mup":
            raise ValueError(
                f"a muP network has no infinite-width {kernel}: its output at initialisation "
                "vanishes like n^(-1/2) and its kernel moves by O(1) during training; use "
                "arch.replace(parametrization='ntk') for the kernels of the NTK parametrisation"
            )
        if kernel == "NTK" and self.parametrization == "standard":
            raise ValueError(
                "the standard parametrisation's tangent kernel grows like the width (Remark 1), "
                "so it has no finite limit; its NNGP is the NTK parametrisation's (arch.nngp), and "
                "arch.replace(parametrization='ntk').ntk gives Theta_infinity"
            )

    def _options(self) -> dict[str, object]:
        options = {"depth": self.depth, "activation": self.activation, "beta": self.beta}
        return options if self.weight_std == 1.0 else {**options, "weight_std": self.weight_std}

    def nngp(self, x: object, y: object | None = None, **options: object) -> torch.Tensor:
        """Sigma^(L)(x, y), the covariance of the output at initialisation in the limit (Prop. 1).

        ``x`` is (N, n_0), ``y`` is (M, n_0) or None for y = x; returns (N, M), float64 by default.
        ``options`` are those of :func:`ntk_course.limiting_kernels` (``dtype``, ``block``, ...).
        Raises ValueError for muP (no Gaussian limit) and for bad input.
        """
        self._limit("NNGP")
        return nngp(x, y, **self._options(), **options)  # type: ignore[arg-type]

    def ntk(self, x: object, y: object | None = None, **options: object) -> torch.Tensor:
        """Theta_infinity^(L)(x, y), the limiting neural tangent kernel of Theorem 1.

        ``x`` is (N, n_0), ``y`` is (M, n_0) or None for y = x; returns (N, M), float64 by default;
        the NTK of an n_L-output network is this times Id_{n_L}. ``options`` as :meth:`nngp`.
        Raises ValueError for the standard parametrisation and muP (no finite limit), and for
        bad input.
        """
        self._limit("NTK")
        return ntk(x, y, **self._options(), **options)  # type: ignore[arg-type]

    def kernels(
        self, x: object, y: object | None = None, **options: object
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Both limits at once, (Sigma^(L), Theta_infinity^(L)) (Proposition 1, Theorem 1).

        One pass over the layers (:func:`ntk_course.limiting_kernels`).

        Parameters
        ----------
        x, y, **options
            As in :meth:`ntk`.

        Returns
        -------
        tuple of torch.Tensor
            (Sigma^(L), Theta_infinity^(L)), each (N, M).

        Raises
        ------
        ValueError
            As :meth:`ntk`.
        """
        self._limit("NTK")
        Sigma, Theta = limiting_kernels(x, y, **self._options(), **options)  # type: ignore[arg-type]
        assert Theta is not None
        return Sigma, Theta

    def layers(self, x: object, **options: object) -> LayerKernels:
        """Sigma^(l), Sigma_dot^(l) and Theta^(l) for every l = 1..L on the points x.

        As the proof of Proposition 2 uses them (:func:`ntk_course.layer_kernels`).

        Parameters
        ----------
        x : array_like
            Shape (N, n_0): the points.
        **options
            As in :meth:`ntk`.

        Returns
        -------
        LayerKernels
            The per-layer kernels, each (N, N).

        Raises
        ------
        ValueError
            As :meth:`ntk`.
        """
        self._limit("NTK")
        return layer_kernels(x, **self._options(), **options)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return (
            f"{self.activation_name} network of depth {self.depth}, beta = {self.beta:g}, "
            + ("" if self.weight_std == 1.0 else f"sigma_w = {self.weight_std:g}, ")
            + f"{self.parametrization} parametrisation"
        )
