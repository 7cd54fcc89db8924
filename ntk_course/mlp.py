"""Fully connected networks in the NTK parametrisation of Section 2, the standard one of Remark 1.

NTK parametrisation: alpha^(0) = x, h^(l+1) = W^(l) alpha^(l) / sqrt(n_l) + beta b^(l),
alpha^(l) = sigma(h^(l)), f = h^(L), with every W^(l)_ij and b^(l)_j drawn N(0, 1).
Standard (LeCun) parametrisation: h^(l+1) = W^(l) alpha^(l) + b^(l) with W^(l)_ij ~ N(0, 1/n_l) and
b^(l)_j ~ N(0, beta^2). Remark 1 describes the classical network with b^(l)_j ~ N(0, 1) (or b = 0),
which is this one at beta = 1 (or beta = 0); the library draws the biases with variance beta^2
instead, so that for the same beta both parametrisations give the same law of f at initialisation
(Proposition 1, Sigma^(1) = x.x'/n_0 + beta^2). Only the gradients differ, by the factors
1/sqrt(n_l) on d f / d W^(l) and beta on d f / d b^(l) (Remark 1), and so do the NTK and training:
at depth 1 the NTK parametrisation has Theta = x.x'/n_0 + beta^2, the standard one x.x' + 1.
``weight_std`` = sigma_w (neural-tangents' ``W_std``; 1 in the paper) multiplies every W^(l): the
weights' standard deviation, whose square multiplies Sigma and Sigma_dot in the limit.
Maximal-update parametrisation (muP, Yang & Hu 2021, "Tensor programs IV"): the NTK
parametrisation's hidden layers, and an output layer f = W^(L-1) alpha^(L-1) / n_{L-1}
+ beta b^(L-1) / sqrt(n_{L-1}), every parameter N(0, 1). Trained with the learning rate
eta * ``lr_scale`` (``lr_scale`` = n_{L-1}), its tangent kernel times the learning rate has the
size of the NTK parametrisation's, while f at initialisation is O(n^{-1/2}) and the hidden
features move by O(1): the feature-learning regime that the kernel limit leaves out.

Inputs of any real dtype (integers included) are cast to the network's dtype; NaN, inf, complex
inputs and empty batches raise ValueError.

``ensemble=E`` stacks E independent networks in one module (parameters with a leading axis E), so
many initialisations train in one batched pass instead of a Python loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ._checks import inspectable, non_negative, positive, positive_int, widths_list
from .activations import Activation, Fn, get_activation

PARAMETRIZATIONS = ("ntk", "standard", "mup")


@dataclass
class ForwardCache:
    """What the structured empirical NTK needs from a forward pass: alpha^(l), sigma_dot(h^(l))."""

    activations: list[torch.Tensor]  # alpha^(0..L-1), each (..., N, n_l)
    derivatives: list[torch.Tensor]  # sigma_dot(h^(1..L-1)), each (..., N, n_l)
    output: torch.Tensor  # f = h^(L), (..., N, n_L)


class NTKMLP(nn.Module):
    """A multilayer perceptron with widths [n_0, n_1, ..., n_L] (depth L = len(widths) - 1).

    The network of Section 2 (NTK parametrisation), Remark 1 (standard) or muP; see the module
    docstring. :meth:`ntk_course.Architecture.network` makes one from an architecture.

    Parameters
    ----------
    widths : sequence of int
        ``[n_0, n_1, ..., n_L]``, at least two sizes, each >= 1.
    activation : str, Activation or callable, default "relu"
        sigma, applied after every layer but the last.
    beta : float, default 0.1
        The bias factor beta >= 0.
    parametrization : {"ntk", "standard", "mup"}, default "ntk"
        Where the factors 1/sqrt(n_l) and beta stand (:meth:`scales`).
    weight_std : float, default 1.0
        sigma_w > 0: every W^(l) is multiplied by it (in the factor of :meth:`scales`, or at
        initialisation in the standard parametrisation); 1 in the paper.
    ensemble : int, optional
        E independent networks in one module: parameters with a leading axis E.
    generator : torch.Generator, optional
        Draws every W^(l)_ij and b^(l)_j (N(0, 1), then scaled for "standard").
    dtype, device
        Of the parameters: float32 on the CPU by default.

    Raises
    ------
    ValueError
        Widths that are not at least two integers >= 1, beta < 0, an unknown activation or
        parametrisation, muP without a hidden layer, ensemble < 1, or a CUDA device on a
        machine without CUDA.

    Notes
    -----
    ``forward(x)`` maps (N, n_0) to (N, n_L), or to (E, N, n_L) when ``ensemble=E``; inputs of the
    wrong shape, complex or non-finite inputs raise ValueError.

    Examples
    --------
    >>> import torch
    >>> net = NTKMLP([3, 16, 16, 2], ensemble=4, generator=torch.Generator().manual_seed(0))
    >>> net(torch.randn(5, 3)).shape
    torch.Size([4, 5, 2])
    """

    def __init__(
        self,
        widths: Sequence[int],
        activation: str | Activation | Fn = "relu",
        beta: float = 0.1,
        *,
        parametrization: str = "ntk",
        weight_std: float = 1.0,
        ensemble: int | None = None,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if device is not None and torch.device(device).type == "cuda":
            if not torch.cuda.is_available():
                raise ValueError(
                    f"device={device!r} but CUDA is not available on this machine; "
                    "pass device='cpu' (or None)"
                )
        self.widths = widths_list(widths)
        self.beta = non_negative(beta, "beta")
        if parametrization not in PARAMETRIZATIONS:
            raise ValueError(
                f"unknown parametrization {parametrization!r}; expected one of {PARAMETRIZATIONS}"
            )
        if parametrization == "mup" and len(self.widths) < 3:
            raise ValueError(
                f"a muP network needs a hidden layer (depth >= 2); got widths {self.widths}"
            )
        self.parametrization = parametrization
        self.weight_std = positive(weight_std, "weight_std")
        self.ensemble = None if ensemble is None else positive_int(ensemble, "ensemble")
        self.act = get_activation(activation)
        lead = () if self.ensemble is None else (self.ensemble,)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for n_in, n_out in zip(self.widths[:-1], self.widths[1:]):
            w = torch.randn(*lead, n_out, n_in, generator=generator, dtype=dtype, device=device)
            b = torch.randn(*lead, n_out, generator=generator, dtype=dtype, device=device)
            if parametrization == "standard":
                w /= math.sqrt(n_in)
                w *= self.weight_std
                b *= self.beta
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(b))

    @property
    def depth(self) -> int:
        """L, the number of weight layers."""
        return len(self.widths) - 1

    @property
    def lr_scale(self) -> int:
        """The factor between gradient descent's learning rate and the time step eta.

        n_{L-1} for muP (see the module docstring), 1 for the NTK and standard parametrisations.
        """
        return self.widths[-2] if self.parametrization == "mup" else 1

    def scales(self, layer: int) -> tuple[float, float]:
        """The factors (on W^(l), on b^(l)) in front of the parameters of layer l (Remark 1).

        sigma_w/sqrt(n_l) and beta in the NTK parametrisation, 1 and 1 in the standard one (whose
        initialisation carries sigma_w/sqrt(n_l)); for muP, sigma_w/n and beta/sqrt(n) at the output
        layer, the NTK parametrisation's elsewhere (sigma_w = ``weight_std``, 1 in the paper).

        Parameters
        ----------
        layer : int
            The layer l, 0 .. L-1.

        Returns
        -------
        tuple of float
            (factor on W^(l), factor on b^(l)).
        """
        n = self.widths[layer]
        if self.parametrization == "standard":
            return 1.0, 1.0
        if self.parametrization == "mup" and layer == self.depth - 1:
            return self.weight_std / n, self.beta / math.sqrt(n)
        return self.weight_std / math.sqrt(n), self.beta

    def weight_tensors(self) -> list[torch.Tensor]:
        """The connection weights W^(0), ..., W^(L-1) (what ``train`` reports the movement of)."""
        return list(self.weights)

    def _check_input(self, x: torch.Tensor, finite: bool = True) -> torch.Tensor:
        """Check the points (N, n_0) (or (E, N, n_0)) and cast them to the network's dtype."""
        x = torch.as_tensor(x)
        if x.ndim not in (2, 3) or x.shape[-1] != self.widths[0]:
            raise ValueError(
                f"input must have shape (N, {self.widths[0]}) to match n_0; got {tuple(x.shape)}"
            )
        if x.shape[-2] == 0:
            raise ValueError(f"input must hold at least one point; got shape {tuple(x.shape)}")
        if x.is_complex():
            raise ValueError(f"input must be real; got the complex dtype {x.dtype}")
        if finite and inspectable(x) and not bool(torch.isfinite(x).all()):
            raise ValueError("input has non-finite entries (NaN or inf); expected finite numbers")
        return x.to(self.weights[0].dtype)

    def forward_cache(self, x: torch.Tensor) -> ForwardCache:
        """Forward pass that keeps alpha^(l) and sigma_dot(h^(l)) for every hidden layer.

        The values of ``x`` are not checked here (``empirical_ntk`` checks them once, before).
        """
        alpha = self._check_input(x, finite=False)
        activations, derivatives = [], []
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            activations.append(alpha)
            sw, sb = self.scales(l)
            h = torch.matmul(alpha, w.mT).mul_(sw).add_(b.unsqueeze(-2), alpha=sb)
            if l == self.depth - 1:
                return ForwardCache(activations, derivatives, h)
            derivatives.append(self.act.sigma_dot(h))
            alpha = self.act.sigma(h)
        raise AssertionError("unreachable")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """f_theta(x) = h^(L): shape (N, n_L), or (E, N, n_L) for an ensemble (Section 2)."""
        alpha = self._check_input(x)
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            sw, sb = self.scales(l)
            h = torch.matmul(alpha, w.mT) * sw + b.unsqueeze(-2) * sb
            alpha = h if l == self.depth - 1 else self.act.sigma(h)
        return alpha

    def extra_repr(self) -> str:
        """The widths, activation, beta, parametrisation and ensemble size, for ``repr``."""
        return (
            f"widths={self.widths}, activation={self.act.name}, beta={self.beta}, "
            f"parametrization={self.parametrization}, ensemble={self.ensemble}"
        )
