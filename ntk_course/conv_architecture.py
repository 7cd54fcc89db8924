"""One description of a convolutional architecture that makes the finite CNN and its limit.

The convolutional counterpart of :class:`ntk_course.Architecture`: a :class:`ConvArchitecture`
holds the depth (convolutional layers), filter size, padding, readout, activation, bias factor
beta and weight standard deviation sigma_w of a CNN in the NTK parametrisation, and makes

- the finite network of any channel count, :meth:`ConvArchitecture.network`
  (an :class:`~ntk_course.NTKCNN`), and
- its infinite-channel kernels (Arora et al. 2019; Novak et al. 2019):
  :meth:`ConvArchitecture.nngp` (the CNN-GP), :meth:`ConvArchitecture.ntk` (the CNTK), both at
  once with :meth:`ConvArchitecture.kernels` (:func:`ntk_course.conv.conv_kernels`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ._checks import non_negative, positive
from .activations import Activation, Fn, get_activation
from .cnn import NTKCNN
from .conv import check_conv, conv_kernels

__all__ = ["ConvArchitecture"]


@dataclass(frozen=True)
class ConvArchitecture:
    """A convolutional architecture in the NTK parametrisation (see :mod:`ntk_course.conv`).

    Parameters
    ----------
    depth : int
        The number of convolutional layers (>= 1); with the dense readout the network has
        depth + 1 weight layers (a 1 x 1 image and filter give ``Architecture(depth + 1)``).
    filter_size : int, default 3
        The side k of the square filters, stride 1.
    padding : {"same", "valid"}, default "same"
        Zero padding keeping the image size, or none (each layer removes k - 1 pixels).
    readout : {"flatten", "gap"}, default "gap"
        A dense layer on the flattened last layer, or on its global average pool.
    activation : str, Activation or callable, default "relu"
        sigma, as for :func:`ntk_course.get_activation`.
    beta : float, default 0.1
        The bias factor beta >= 0 of every layer.
    weight_std : float, default 1.0
        sigma_w > 0, the weights' standard deviation (neural-tangents' ``W_std``).

    Raises
    ------
    ValueError
        If depth or filter_size < 1, the padding, readout or activation is unknown, beta < 0 or
        weight_std <= 0.

    Examples
    --------
    >>> import torch
    >>> arch = ConvArchitecture(depth=2, filter_size=3, readout="gap")
    >>> x = torch.randn(4, 1, 6, 6, dtype=torch.float64)
    >>> arch.ntk(x).shape
    torch.Size([4, 4])
    >>> net = arch.network((1, 6, 6), width=16, generator=torch.Generator().manual_seed(0))
    >>> net(x.float()).shape
    torch.Size([4, 1])
    """

    depth: int
    filter_size: int = 3
    padding: str = "same"
    readout: str = "gap"
    activation: str | Activation | Fn = "relu"
    beta: float = 0.1
    weight_std: float = 1.0

    def __post_init__(self) -> None:
        depth, k, _, _ = check_conv(self.depth, self.filter_size, self.padding, self.readout)
        object.__setattr__(self, "depth", depth)
        object.__setattr__(self, "filter_size", k)
        object.__setattr__(self, "beta", non_negative(self.beta, "beta"))
        object.__setattr__(self, "weight_std", positive(self.weight_std, "weight_std"))
        get_activation(self.activation)  # an unknown name fails here, listing the known ones

    @property
    def activation_name(self) -> str:
        """The activation's name (a callable's ``__name__``), for labels and tables."""
        return get_activation(self.activation).name

    def replace(self, **changes: object) -> ConvArchitecture:
        """A copy with some fields changed, e.g. ``arch.replace(readout="flatten")``; validated."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def network(
        self,
        in_shape: Sequence[int],
        width: int,
        n_out: int = 1,
        *,
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> NTKCNN:
        """The finite CNN of this architecture with ``width`` channels per layer.

        Parameters
        ----------
        in_shape : sequence of int
            (C, H, W) of the images.
        width, n_out : int
            Channels of every convolutional layer and outputs (each >= 1).
        ensemble : int, optional
            E independent networks stacked in one module (outputs (E, N, n_out)).
        generator : torch.Generator, optional
            The random generator of the initialisation (every parameter N(0, 1)).
        dtype, device
            Of the parameters (float32 on the CPU by default).

        Returns
        -------
        NTKCNN
            The network; see :mod:`ntk_course.cnn`.

        Raises
        ------
        ValueError
            As :class:`~ntk_course.NTKCNN`.
        """
        return NTKCNN(
            in_shape,
            width,
            self.depth,
            self.filter_size,
            self.padding,
            self.readout,
            self.activation,
            self.beta,
            n_out,
            weight_std=self.weight_std,
            ensemble=ensemble,
            generator=generator,
            dtype=dtype,
            device=device,
        )

    def _options(self) -> dict[str, object]:
        return {
            "depth": self.depth,
            "filter_size": self.filter_size,
            "padding": self.padding,
            "readout": self.readout,
            "activation": self.activation,
            "beta": self.beta,
            "weight_std": self.weight_std,
        }

    def nngp(self, x: object, y: object | None = None, **options: object) -> torch.Tensor:
        """The CNN-GP kernel Sigma(x, y): the output covariance at initialisation in the limit.

        Parameters
        ----------
        x, y : array_like
            Images (N, C, H, W) and (M, C, H, W), or y = None for y = x.
        **options
            Those of :func:`ntk_course.conv.conv_kernels` (``dtype``, ``max_bytes``, ...).

        Returns
        -------
        torch.Tensor
            Shape (N, M), float64 by default, on x's device.

        Raises
        ------
        ValueError
            For bad images (see :func:`ntk_course.conv.conv_kernels`).
        """
        return conv_kernels(x, y, with_theta=False, **self._options(), **options).nngp  # type: ignore[arg-type]

    def ntk(self, x: object, y: object | None = None, **options: object) -> torch.Tensor:
        """The CNTK Theta_infinity(x, y), the limiting tangent kernel of the scalar output.

        Parameters
        ----------
        x, y, **options
            As in :meth:`nngp`.

        Returns
        -------
        torch.Tensor
            Shape (N, M); the NTK of an n_out-output network is this times Id_{n_out}.

        Raises
        ------
        ValueError
            As :meth:`nngp`.
        """
        theta = self.kernels(x, y, **options)[1]
        return theta

    def kernels(
        self, x: object, y: object | None = None, **options: object
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Both limits at once, (Sigma, Theta_infinity), in one pass over the layers.

        Parameters
        ----------
        x, y, **options
            As in :meth:`nngp`.

        Returns
        -------
        tuple of torch.Tensor
            (Sigma, Theta_infinity), each (N, M).

        Raises
        ------
        ValueError
            As :meth:`nngp`.
        """
        out = conv_kernels(x, y, **self._options(), **options)  # type: ignore[arg-type]
        assert out.ntk is not None
        return out.nngp, out.ntk

    def __str__(self) -> str:
        return (
            f"{self.activation_name} CNN of depth {self.depth}, {self.filter_size} x "
            f"{self.filter_size} filters, {self.padding} padding, {self.readout} readout, "
            f"beta = {self.beta:g}, "
            + ("" if self.weight_std == 1.0 else f"sigma_w = {self.weight_std:g}, ")
            + "NTK parametrisation"
        )
