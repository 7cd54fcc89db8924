"""The infinite-channel kernels of a convolutional network: the CNN-GP (NNGP) and the CNTK.

Arora et al. (2019, "On exact computation with an infinitely wide neural net") and Novak et al.
(2019, "Bayesian deep convolutional networks with many channels are Gaussian processes"). The
network (:class:`ntk_course.NTKCNN`) has ``depth`` convolutional layers of filter size k, stride 1,
zero padding "same" or "valid", every one followed by sigma, then a dense readout of the flattened
last layer ("flatten") or of its global average over pixels ("gap"): depth + 1 weight layers, all in
the NTK parametrisation. As the channel counts grow, the pre-activations at pixel i of two images
x, x' become a Gaussian process with covariance Sigma^(l)(x, x')_{ij} over pixel pairs (i, j)::

    Sigma^(1)_{ij}   = sigma_w^2 A[x x'^T / C]_{ij} + beta^2              (= Theta^(1)_{ij})
    Sigma^(l+1)_{ij} = sigma_w^2 A[E_{Sigma^(l)}[sigma(u_i) sigma(v_j)]]_{ij} + beta^2
    Theta^(l+1)_{ij} = sigma_w^2 A[Theta^(l) * E_{Sigma^(l)}[sigma_dot(u_i) sigma_dot(v_j)]]_{ij}
                       + Sigma^(l+1)_{ij}

where C is the number of input channels, (x x'^T / C)_{ij} = sum_c x_{c,i} x'_{c,j} / C, sigma_w the
weights' standard deviation (``weight_std``, 1 by default), and A is
the patch average A[S]_{ij} = (1/k^2) sum_d S_{i+d, j+d} over the k x k filter offsets d, with the
zero padding's pixels contributing 0 (and "valid" shrinking the image by k - 1 per layer). The
Gaussian pair (u_i, v_j) has variances Sigma^(l)(x, x)_{ii}, Sigma^(l)(x', x')_{jj} and covariance
Sigma^(l)(x, x')_{ij}; its expectations are the activation's (closed forms for relu and erf,
quadrature otherwise, :meth:`ntk_course.Activation.expectations_and_error`). The readout layer is a
dense layer (beta^2 added once more) on

- "flatten": the mean over pixels of the pixel-wise terms (i, i) only, so only the diagonal pixel
  pairs are ever needed: cost O(H W k^2) per pair of images and layer;
- "gap": the mean over all pixel pairs (i, j): global average pooling couples every pair, cost
  O((H W)^2 k^2) per pair of images and layer.

A 1 x 1 image with a 1 x 1 filter is the fully connected network of depth + 1 weight layers: these
kernels are then :func:`ntk_course.nngp` and :func:`ntk_course.ntk` exactly. The normalisation is
that of neural-tangents' ``stax.Conv(W_std=sigma_w, b_std=beta, parameterization="ntk")``
followed by ``stax.Flatten()`` or ``stax.GlobalAvgPool()`` and ``stax.Dense(1, sigma_w, beta)``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ._checks import non_negative, positive, positive_int
from ._conv_checks import PADDINGS, READOUTS, check_conv, check_images, pads
from ._linalg import mirror_upper
from .activations import Activation, Fn, get_activation
from .quadrature import warn_if_inaccurate

__all__ = ["PADDINGS", "READOUTS", "ConvKernels", "conv_kernels", "check_conv", "check_images"]

MAX_BYTES = 2**22  # 4 MiB of block temporaries by default: cache-sized blocks
TEMPORARIES = 8  # arrays of one block's size alive at once (S, Theta, E[ss], E[s's'], padding...)
Act = str | Activation | Fn


class ConvKernels(NamedTuple):
    """The result of :func:`conv_kernels`.

    Attributes
    ----------
    nngp : torch.Tensor
        Sigma(x, y), the output covariance at initialisation in the limit, shape (N, M).
    ntk : torch.Tensor or None
        Theta_infinity(x, y), shape (N, M); None when not asked for.
    error : float
        The largest relative error the quadrature estimated at any layer (0.0 for closed forms).
    """

    nngp: torch.Tensor
    ntk: torch.Tensor | None
    error: float


def _patch_average(s: torch.Tensor, k: int, padding: str, pairs: bool) -> torch.Tensor:
    """A[S]_{ij} = (1/k^2) sum_d S_{i+d, j+d}, the covariance after a k x k convolution.

    ``s`` is (..., H, W) for the pixel-wise terms (i, i), or (..., H, W, H, W) for all pairs;
    zero padding contributes zeros (the padded pixels of a finite network are 0).
    """
    lo, hi = pads(k, padding)
    h, w = s.shape[-2:]
    ho, wo = (h, w) if padding == "same" else (h - k + 1, w - k + 1)
    if lo or hi:
        s = F.pad(s, (lo, hi, lo, hi) * (2 if pairs else 1))
    # Separable: first the column offsets v (both pixels of a pair shifted alike), then the rows u;
    # 2k passes over the block instead of k^2.
    out: torch.Tensor | None = None
    for v in range(k):
        piece = s[..., v : v + wo, :, v : v + wo] if pairs else s[..., v : v + wo]
        out = piece.clone() if out is None else out.add_(piece)
    assert out is not None
    s, out = out, None
    for u in range(k):
        if pairs:
            piece = s[..., u : u + ho, :, u : u + ho, :]
        else:
            piece = s[..., u : u + ho, :]
        out = piece.clone() if out is None else out.add_(piece)
    assert out is not None
    return out.div_(k * k)


def _variances(
    x: torch.Tensor,
    depth: int,
    k: int,
    padding: str,
    act: Activation,
    scales: tuple[float, float],
    errors: list[float],
) -> list[torch.Tensor]:
    """Sigma^(l)(x, x)_{ii} for l = 1..depth, each (N, H_l, W_l): the pixel variances.

    ``scales`` is (sigma_w^2, beta^2).
    """
    w2, beta2 = scales
    q = _scaled(_patch_average((x * x).sum(1).div_(x.shape[1]), k, padding, False), w2)
    out = [q.add_(beta2)]
    for _ in range(depth - 1):
        e_s, _, err = act.expectations_and_error(q, q, q)
        errors.append(err)
        q = _scaled(_patch_average(e_s, k, padding, False), w2).add_(beta2)
        out.append(q)
    return out


def _scaled(t: torch.Tensor, w2: float) -> torch.Tensor:
    """sigma_w^2 t in place; t itself (bitwise) when sigma_w = 1."""
    return t if w2 == 1.0 else t.mul_(w2)


def _block(
    xb: torch.Tensor,
    yb: torch.Tensor,
    qx: list[torch.Tensor],
    qy: list[torch.Tensor],
    spec: tuple[int, int, str, bool, Activation, tuple[float, float], bool],
    same: tuple[torch.Tensor, torch.Tensor] | None,
    errors: list[float],
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(Sigma, Theta) of the readout for one block of image pairs, carried through every layer.

    ``same`` holds the indices (a, c) of the pairs of identical images x_a = y_c in the block.
    """
    depth, k, padding, pairs, act, (w2, beta2), with_theta = spec
    n, m = xb.shape[0], yb.shape[0]
    if pairs:
        s = torch.einsum("nchw,mcuv->nmhwuv", xb, yb)
    else:
        s = torch.einsum("nchw,mchw->nmhw", xb, yb)
    s = _scaled(_patch_average(s.div_(xb.shape[1]), k, padding, pairs), w2).add_(beta2)
    theta = s.clone() if with_theta else None
    for l in range(depth):
        h, w = qx[l].shape[-2:]
        if pairs:
            qa = qx[l].reshape(n, 1, h, w, 1, 1).expand_as(s)
            qb = qy[l].reshape(1, m, 1, 1, h, w).expand_as(s)
        else:
            qa = qx[l].reshape(n, 1, h, w).expand_as(s)
            qb = qy[l].reshape(1, m, h, w).expand_as(s)
        if same is not None:  # the same image at the same pixel: exactly its variance (angle 0)
            a, c = same
            s = s.contiguous()
            p = torch.arange(h * w, device=s.device)
            if pairs:
                s.view(n, m, h * w, h * w)[a[:, None], c[:, None], p, p] = qx[l].reshape(n, -1)[a]
            else:
                s.view(n, m, h * w)[a, c] = qx[l].reshape(n, -1)[a]
        e_s, e_d, err = act.expectations_and_error(qa, s, qb)
        errors.append(err)
        e_s, e_d = _scaled(e_s, w2), _scaled(e_d, w2)
        if l < depth - 1:
            s = _patch_average(e_s, k, padding, pairs).add_(beta2)
            if theta is not None:
                theta = _patch_average(theta.mul_(e_d), k, padding, pairs).add_(s)
        else:  # the dense readout: the mean over pixel-wise terms, or over all pixel pairs
            dims = tuple(range(2, s.ndim))
            s = e_s.mean(dims).add_(beta2)
            if theta is not None:
                theta = theta.mul_(e_d).mean(dims).add_(s)
    return s, theta


def _identical(
    xb: torch.Tensor, yb: torch.Tensor, diagonal: bool
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The indices (a, c) of the identical images x_a = y_c of a block, or None if there are none.

    Their pixel-wise covariances are set to the variances, so that the angle is exactly 0 (a
    rounded Gram entry would make it ~1e-8, and the step's kernel would keep that error).
    """
    if diagonal:
        a = torch.arange(xb.shape[0], device=xb.device)
        return a, a
    equal = torch.stack([(yb == row).flatten(1).all(1) for row in xb])
    if not bool(equal.any()):
        return None
    a, c = equal.nonzero(as_tuple=True)
    return a, c


def conv_kernels(
    x: object,
    y: object | None = None,
    *,
    depth: int,
    filter_size: int = 3,
    padding: str = "same",
    readout: str = "gap",
    activation: Act = "relu",
    beta: float = 0.1,
    weight_std: float = 1.0,
    with_theta: bool = True,
    dtype: torch.dtype = torch.float64,
    quadrature_points: int = 64,
    max_bytes: int = MAX_BYTES,
) -> ConvKernels:
    """The CNN-GP kernel and the CNTK of a convolutional network (see the module docstring).

    Computed block by block over pairs of images: a block of b x b' image pairs carries its
    pixel-pair covariances through every layer at once, so that the memory beyond the inputs and
    the two (N, M) results is at most about ``max_bytes``: b b' P itemsize x 8 arrays (the
    covariance, Theta, the two expectations, the patch average's padded copy and accumulator),
    with P = H W ("flatten") or (H W)^2 ("gap") of the input image, plus the quadrature's
    temporaries for an activation without a closed form; a single pair of images that needs more
    than ``max_bytes`` is computed alone. When y is x only the upper triangle of blocks is
    computed and mirrored, so the result is symmetric to the last bit.

    Parameters
    ----------
    x, y : array_like, shape (N, C, H, W) and (M, C, H, W)
        The images; ``y=None`` (default) is y = x. On any device: the result is on x's.
    depth : int
        The number of convolutional layers (>= 1); the network has depth + 1 weight layers.
    filter_size : int, default 3
        The side k of the square filters (stride 1).
    padding : {"same", "valid"}, default "same"
        Zero padding keeping H x W (the extra zero after, for even k), or none.
    readout : {"flatten", "gap"}, default "gap"
        A dense layer on the flattened last layer, or on its global average pool.
    activation : str, Activation or callable, default "relu"
        sigma, as for :func:`ntk_course.get_activation`.
    beta : float, default 0.1
        The bias factor beta >= 0 of every layer.
    weight_std : float, default 1.0
        sigma_w > 0, the weights' standard deviation (neural-tangents' ``W_std``): it multiplies
        every layer's covariance by sigma_w^2, the readout's too. With 1.0 nothing is scaled.
    with_theta : bool, default True
        Compute the CNTK as well (else ``ntk`` is None, and the work is about halved).
    dtype : torch.dtype, default torch.float64
        The dtype of the computation and of the results.
    quadrature_points : int, default 64
        Sizes the quadrature rules of an activation without a closed form (2 to 360).
    max_bytes : int, default 2**22
        The bound on the block temporaries described above.

    Returns
    -------
    ConvKernels
        (nngp, ntk, error): Sigma(x, y) and Theta_infinity(x, y) of the network's scalar output,
        each (N, M), and the largest relative error the quadrature estimated.

    Raises
    ------
    ValueError
        For images that are not finite (N, C, H, W) arrays, x and y of different (C, H, W), a
        filter that does not fit a "valid" layer, depth or filter_size < 1, beta < 0,
        weight_std <= 0, an unknown padding, readout or activation, max_bytes < 1, or a
        non-finite kernel (overflow).

    Warns
    -----
    QuadratureWarning
        When the quadrature's estimated error exceeds ``quadrature.TOLERANCE``.

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(3, 2, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> k = conv_kernels(x, depth=2, readout="gap")
    >>> k.ntk.shape, bool(torch.equal(k.ntk, k.ntk.T))
    (torch.Size([3, 3]), True)
    """
    depth, k, padding, readout = check_conv(depth, filter_size, padding, readout)
    scales = (positive(weight_std, "weight_std") ** 2, non_negative(beta, "beta") ** 2)
    max_bytes = positive_int(max_bytes, "max_bytes")
    act = get_activation(activation, quadrature_points=quadrature_points)
    xt = check_images(x, "x", dtype, depth, k, padding)
    yt = xt if y is None else check_images(y, "y", dtype, depth, k, padding).to(xt.device)
    if yt.shape[1:] != xt.shape[1:]:
        raise ValueError(
            f"x and y must have the same (C, H, W); got {tuple(xt.shape[1:])} and "
            f"{tuple(yt.shape[1:])}"
        )
    symmetric = yt is xt or (yt.shape == xt.shape and bool(torch.equal(xt, yt)))
    pairs = readout == "gap"
    errors: list[float] = []
    qx = _variances(xt, depth, k, padding, act, scales, errors)
    qy = qx if symmetric else _variances(yt, depth, k, padding, act, scales, errors)
    per_pair = xt.shape[-2] * xt.shape[-1]
    per_pair = (per_pair**2 if pairs else per_pair) * xt.element_size() * TEMPORARIES
    b = max(1, math.isqrt(max_bytes // per_pair))
    n, m = xt.shape[0], yt.shape[0]
    sigma = torch.empty(n, m, dtype=dtype, device=xt.device)
    theta = torch.empty(n, m, dtype=dtype, device=xt.device) if with_theta else None
    spec = (depth, k, padding, pairs, act, scales, with_theta)
    for i in range(0, n, b):
        ri = slice(i, min(i + b, n))
        for j in range(i if symmetric else 0, m, b):
            cj = slice(j, min(j + b, m))
            diagonal = symmetric and i == j
            xb, yb = xt[ri], (xt if symmetric else yt)[cj]
            s, t = _block(
                xb, yb, [q[ri] for q in qx], [q[cj] for q in qy], spec,
                _identical(xb, yb, diagonal), errors,
            )  # fmt: skip
            for out, val in ((sigma, s), (theta, t)):
                if out is None or val is None:
                    continue
                val = mirror_upper(val) if diagonal else val
                out[ri, cj] = val
                if symmetric and not diagonal:
                    out[cj, ri] = val.T
    for name, val in (("Sigma", sigma), ("Theta", theta)):
        if val is not None and not bool(torch.isfinite(val).all()):
            raise ValueError(f"the convolutional {name} overflowed (non-finite entries)")
    error = max(errors, default=0.0)
    warn_if_inaccurate(error, act.name, dtype)
    return ConvKernels(sigma, theta, error)
