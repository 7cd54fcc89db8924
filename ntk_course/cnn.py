"""A convolutional network in the NTK parametrisation, the finite network of :mod:`ntk_course.conv`.

``depth`` convolutional layers of ``width`` channels, filter size k, stride 1, zero padding "same"
or "valid", each followed by sigma; then a dense readout of the flattened last layer ("flatten") or
of its global average over pixels ("gap"). Every weight and bias is drawn N(0, 1); in the forward
pass a convolution's weights are scaled by sigma_w/sqrt(C_in k^2) (its fan-in; sigma_w is
``weight_std``, 1 by default) and the biases by beta, the readout's weights by sigma_w/sqrt(C H' W')
("flatten") or sigma_w/sqrt(C) ("gap"):

    h^(1) = sigma_w W^(0) * x / sqrt(C_0 k^2) + beta b^(0),
    h^(l+1) = sigma_w W^(l) * sigma(h^(l)) / sqrt(n k^2) + beta b^(l),
    f = sigma_w W^(L) . readout(sigma(h^(L))) / sqrt(fan-in) + beta b^(L).

As the width grows, f at initialisation tends to the Gaussian process of covariance
:func:`ntk_course.conv.conv_kernels`' ``nngp``, and its tangent kernel to ``ntk``. Its empirical
NTK: :func:`ntk_course.empirical_ntk` on the flattened images (the network takes (N, C H W) as well
as (N, C, H, W)) with ``method="jacobian"`` or ``"ntvp"``; there is no structured method for
convolutions here.

``ensemble=E`` stacks E independent networks in one module, evaluated by grouped convolutions
(outputs (E, N, n_out)), so that a Monte Carlo over initialisations is one batched pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import inspectable, non_negative, positive, positive_int
from ._conv_checks import check_conv, pads
from .activations import Activation, Fn, get_activation

__all__ = ["NTKCNN"]


class NTKCNN(nn.Module):
    """A CNN in the NTK parametrisation (see the module docstring).

    Parameters
    ----------
    in_shape : sequence of int
        (C, H, W) of the input images.
    width : int
        The channels n of every convolutional layer (>= 1).
    depth : int
        The number of convolutional layers (>= 1); depth + 1 weight layers with the readout.
    filter_size : int, default 3
        The side k of the square filters (stride 1).
    padding : {"same", "valid"}, default "same"
        Zero padding keeping H x W (the extra zero after, for even k), or none.
    readout : {"flatten", "gap"}, default "gap"
        A dense layer on the flattened last layer, or on its global average pool.
    activation : str, Activation or callable, default "relu"
        sigma, after every convolution.
    beta : float, default 0.1
        The bias factor beta >= 0.
    n_out : int, default 1
        The outputs n_L.
    weight_std : float, default 1.0
        sigma_w > 0, the factor of every weight in the forward pass (neural-tangents' ``W_std``).
    ensemble : int, optional
        E independent networks in one module: parameters with a leading axis E.
    generator : torch.Generator, optional
        Draws every parameter, N(0, 1).
    dtype, device
        Of the parameters: float32 on the CPU by default.

    Raises
    ------
    ValueError
        A bad ``in_shape``, width, depth, filter size, padding, readout, activation, beta,
        weight_std, n_out or ensemble, or a filter that does not fit a "valid" layer.

    Examples
    --------
    >>> import torch
    >>> net = NTKCNN((2, 6, 6), width=8, depth=2, generator=torch.Generator().manual_seed(0))
    >>> net(torch.randn(4, 2, 6, 6)).shape
    torch.Size([4, 1])
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        width: int,
        depth: int,
        filter_size: int = 3,
        padding: str = "same",
        readout: str = "gap",
        activation: str | Activation | Fn = "relu",
        beta: float = 0.1,
        n_out: int = 1,
        *,
        weight_std: float = 1.0,
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.depth, self.k, self.padding, self.readout = check_conv(
            depth, filter_size, padding, readout
        )
        if len(tuple(in_shape)) != 3:
            raise ValueError(f"in_shape must be (C, H, W); got {tuple(in_shape)}")
        c, h, w = (positive_int(s, "in_shape") for s in in_shape)
        self.in_shape = (c, h, w)
        shrink = 0 if self.padding == "same" else self.depth * (self.k - 1)
        if min(h, w) - shrink < 1:
            raise ValueError(
                f"a {self.k} x {self.k} filter with padding 'valid' does not fit {self.depth} "
                f"layer(s) on {h} x {w} images; expected a smaller filter or depth, or 'same'"
            )
        self.out_hw = (h - shrink, w - shrink)
        self.width = positive_int(width, "width")
        self.beta = non_negative(beta, "beta")
        self.weight_std = positive(weight_std, "weight_std")
        self.n_out = positive_int(n_out, "n_out")
        self.ensemble = None if ensemble is None else positive_int(ensemble, "ensemble")
        self.act = get_activation(activation)
        e = 1 if self.ensemble is None else self.ensemble
        kw = {"generator": generator, "dtype": dtype, "device": device}
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for l in range(self.depth):
            c_in = c if l == 0 else self.width
            self.weights.append(nn.Parameter(torch.randn(e, width, c_in, self.k, self.k, **kw)))
            self.biases.append(nn.Parameter(torch.randn(e, width, **kw)))
        fan_in = self.width * (self.out_hw[0] * self.out_hw[1] if self.readout == "flatten" else 1)
        self.weights.append(nn.Parameter(torch.randn(e, self.n_out, fan_in, **kw)))
        self.biases.append(nn.Parameter(torch.randn(e, self.n_out, **kw)))

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) or (N, C H W) images, checked and cast to the parameters' dtype."""
        x = torch.as_tensor(x)
        c, h, w = self.in_shape
        if x.ndim == 2 and x.shape[-1] == c * h * w:
            x = x.reshape(x.shape[0], c, h, w)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.in_shape or x.shape[0] == 0:
            raise ValueError(
                f"input must have shape (N, {c}, {h}, {w}) or (N, {c * h * w}); got "
                f"{tuple(x.shape)}"
            )
        if x.is_complex():
            raise ValueError(f"input must be real; got the complex dtype {x.dtype}")
        if inspectable(x) and not bool(torch.isfinite(x).all()):
            raise ValueError("input has non-finite entries (NaN or inf); expected finite numbers")
        return x.to(self.weights[0].dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """f(x): shape (N, n_out), or (E, N, n_out) for an ensemble.

        Parameters
        ----------
        x : torch.Tensor
            Shape (N, C, H, W), or (N, C H W) flattened (what :func:`ntk_course.empirical_ntk`
            passes).

        Returns
        -------
        torch.Tensor
            The outputs of the network (or of each network of the ensemble).

        Raises
        ------
        ValueError
            For images of another shape, complex or non-finite entries.
        """
        alpha = self._check_input(x)
        e = self.weights[0].shape[0]
        if e > 1:
            alpha = alpha.repeat(1, e, 1, 1)  # each network's copy of the input, grouped convs
        lo, hi = pads(self.k, self.padding)
        for l in range(self.depth):
            weight, bias = self.weights[l], self.biases[l]
            fan_in = weight.shape[2] * self.k * self.k
            if lo or hi:
                alpha = F.pad(alpha, (lo, hi, lo, hi))
            scale = math.sqrt(fan_in) / self.weight_std  # sqrt(fan-in) itself when sigma_w = 1
            h = F.conv2d(alpha, weight.flatten(0, 1), groups=e) / scale
            alpha = self.act(h + self.beta * bias.reshape(1, -1, 1, 1))
        n = alpha.shape[0]
        alpha = alpha.reshape(n, e, self.width, *self.out_hw)
        if self.readout == "gap":
            alpha = alpha.mean((-2, -1))
        features = alpha.reshape(n, e, -1)  # (N, E, fan-in)
        weight, bias = self.weights[-1], self.biases[-1]
        scale = math.sqrt(weight.shape[-1]) / self.weight_std
        out = torch.einsum("nef,eof->eno", features, weight) / scale
        out = out + self.beta * bias[:, None, :]
        return out if self.ensemble is not None else out[0]

    def extra_repr(self) -> str:
        """The architecture and the ensemble size, for ``repr``."""
        return (
            f"in_shape={self.in_shape}, width={self.width}, depth={self.depth}, k={self.k}, "
            f"padding={self.padding}, readout={self.readout}, activation={self.act.name}, "
            f"beta={self.beta}, weight_std={self.weight_std}, n_out={self.n_out}, "
            f"ensemble={self.ensemble}"
        )
