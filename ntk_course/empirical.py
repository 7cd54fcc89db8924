"""The empirical (finite-width) NTK of Section 4: Theta(x, y) = sum_p d_p f(x) d_p f(y)^T.

The sum runs over the trainable parameters only (``requires_grad``): those gradient descent moves,
so the kernel is the one of the training dynamics. A frozen copy inside a model (the base of
:class:`~ntk_course.linearized.Linearized`) or a frozen layer adds nothing.

Three methods that agree to round-off:

- ``"structured"`` (``NTKMLP`` only): for layer l, d f / d W^(l) = s_l delta^(l+1) alpha^(l)^T and
  d f / d b^(l) = t_l delta^(l+1), with delta^(l+1) = d f / d h^(l+1) and (s_l, t_l) the factors of
  Remark 1, so
  Theta = sum_l (delta_x^(l+1) . delta_y^(l+1)) (s_l^2 alpha_x^(l) . alpha_y^(l) + t_l^2):
  Gram matrices of activations times Gram matrices of back-propagated signals. No Jacobian is ever
  formed; memory is O(N width + N^2).
- ``"jacobian"``: per-parameter Jacobians with ``torch.func.jacrev`` contracted over parameters.
- ``"ntvp"``: NTK-vector products Theta v = J_x (J_y^T v) with ``torch.func.vjp`` and ``jvp``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, jacrev, jvp, vjp, vmap

from ._checks import as_inputs, same_dimension
from .mlp import NTKMLP

METHODS = ("auto", "structured", "jacobian", "ntvp")


_STOCHASTIC = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)


def _check_eval_mode(model: nn.Module) -> None:
    """Refuse BatchNorm or Dropout in train mode: the kernel of one point would mix the batch."""
    for name, module in model.named_modules():
        if isinstance(module, _STOCHASTIC) and module.training:
            raise ValueError(
                f"{type(module).__name__} {name!r} is in train mode, where its output depends on "
                "the batch (BatchNorm) or on random draws (Dropout); call model.eval() first"
            )


def empirical_ntk(
    model: nn.Module,
    x: object,
    y: object | None = None,
    *,
    method: str = "auto",
    output_axes: bool = False,
) -> torch.Tensor:
    """The empirical NTK of ``model`` between the points x and y (Section 4).

    Theta(x, y) = sum_p d_p f(x) d_p f(y)^T over the parameters with ``requires_grad``. Without
    output axes and n_L > 1 the result is the mean of the diagonal blocks, (1/n_L) sum_k Theta_kk,
    the estimate of the scalar Theta_infinity of Theorem 1 (whose full limit is
    Theta_infinity x Id_{n_L}). Computes in the dtype of the model's trainable parameters, on
    their device; the points (integers included) are cast to it.

    Parameters
    ----------
    model : torch.nn.Module
        The network; an ``NTKMLP`` with ``ensemble=E`` gives a leading axis E (structured method
        only).
    x : array_like
        Shape (N, n_0): the first points.
    y : array_like, optional
        Shape (M, n_0): the second points; y = x if None.
    method : {"auto", "structured", "jacobian", "ntvp"}, default "auto"
        ``"auto"`` picks ``"structured"`` for an ``NTKMLP`` and ``"jacobian"`` otherwise.
    output_axes : bool, default False
        Return the full kernel over pairs of outputs.

    Returns
    -------
    torch.Tensor
        Shape (N, M), or (N, M, n_L, n_L) with ``output_axes=True``; with a leading axis E for an
        ensemble.

    Raises
    ------
    ValueError
        If the method is unknown, the model has no trainable parameters, holds BatchNorm or
        Dropout in train mode (call ``model.eval()``), ``"structured"`` is asked
        of a model that is not an ``NTKMLP`` (or another method of an ensemble), the points are
        not finite (N, n_0) arrays of one dimension, or the kernel overflows.

    Examples
    --------
    >>> import torch
    >>> from ntk_course import Architecture, empirical_ntk
    >>> net = Architecture(depth=3).network(2, 256, generator=torch.Generator().manual_seed(0))
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    >>> theta = empirical_ntk(net, x)
    >>> theta.shape
    torch.Size([3, 3])
    >>> bool(torch.equal(theta, theta.mT))  # symmetric to the last bit
    True
    >>> torch.allclose(theta, empirical_ntk(net, x, method="jacobian"), rtol=1e-4)
    True
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    if method == "auto":
        method = "structured" if isinstance(model, NTKMLP) else "jacobian"
    param = next((p for p in model.parameters() if p.requires_grad), None)
    if param is None:
        raise ValueError(
            "model has no trainable parameters (requires_grad), so its tangent kernel is zero; "
            "expected a model with parameters to train"
        )
    _check_eval_mode(model)
    xt = as_inputs(x, "x", param.dtype).to(param.device)
    yt = xt if y is None else as_inputs(y, "y", param.dtype).to(param.device)
    same_dimension(xt, yt)
    if method == "structured":
        if not isinstance(model, NTKMLP):
            raise ValueError(
                f"method='structured' needs an NTKMLP; got {type(model).__name__} "
                "(use 'jacobian' or 'ntvp')"
            )
        theta = _structured(model, xt, yt, y is None, output_axes)
    else:
        if isinstance(model, NTKMLP) and model.ensemble is not None:
            raise ValueError(f"an ensemble NTKMLP needs method='structured'; got method={method!r}")
        full = (_jacobian if method == "jacobian" else _ntvp)(model, xt, yt)
        theta = full if output_axes else torch.diagonal(full, dim1=-2, dim2=-1).mean(-1)
    if not bool(torch.isfinite(theta).all()):
        raise ValueError(
            "the empirical NTK has non-finite entries: "
            "the network's outputs or gradients overflowed"
        )
    return theta


@torch.no_grad()
def _signals(model: NTKMLP, x: torch.Tensor):
    """Yield, from the last layer down, (scaled alpha^(l), delta^(l+1), t_l) for each layer l.

    delta has shape (..., N, n_L, n_{l+1}) when output axes are kept, else (..., N, n_L * n_{l+1})
    flattened, so that the contraction over outputs happens inside one matrix product. A frozen
    W^(l) gives None instead of alpha^(l), a frozen b^(l) gives t_l = 0: they add nothing to Theta.
    """
    cache = model.forward_cache(x)
    n_out = model.widths[-1]
    lead = cache.output.shape[:-1]
    delta = torch.eye(n_out, dtype=x.dtype, device=x.device).expand(*lead, n_out, n_out)
    for l in range(model.depth - 1, -1, -1):
        s, t = model.scales(l)
        alpha = cache.activations[l] * s if model.weights[l].requires_grad else None
        yield alpha, delta, (t if model.biases[l].requires_grad else 0.0)
        if l > 0:
            # delta^(l) = sigma_dot(h^(l)) * (delta^(l+1) W^(l)) s_l, as one GEMM over
            # (points x outputs): broadcasting W over the point axis instead would materialise N
            # copies of it.
            shape = delta.shape
            flat = delta.reshape(*shape[:-3], shape[-3] * shape[-2], shape[-1])
            delta = torch.matmul(flat, model.weights[l]).reshape(*shape[:-1], -1)
            delta = delta.mul_(s).mul_(cache.derivatives[l - 1].unsqueeze(-2))


def _structured(
    model: NTKMLP, x: torch.Tensor, y: torch.Tensor, same: bool, output_axes: bool
) -> torch.Tensor:
    n_out = model.widths[-1]
    signals_y = None if same else _signals(model, y)
    theta = None
    for ax, dx, t in _signals(model, x):
        ay, dy, _ = (ax, dx, t) if signals_y is None else next(signals_y)
        if ax is None and t == 0 and theta is not None:
            continue  # a layer with nothing to train
        if ax is None:  # W^(l) frozen: only the bias term t^2
            gram = torch.tensor(t * t, dtype=dx.dtype, device=dx.device)
        else:
            gram = torch.matmul(ax, ay.mT).add_(t * t)  # s^2 alpha_x . alpha_y + t^2
        if output_axes:
            back = torch.einsum("...nai,...mbi->...nmab", dx, dy)
            term = back.mul_(gram[..., None, None])
        else:
            back = torch.matmul(dx.flatten(-2), dy.flatten(-2).mT).div_(n_out)
            term = back.mul_(gram)
        theta = term if theta is None else theta.add_(term)
    assert theta is not None
    if same and not output_axes:
        theta = (theta + theta.mT) / 2
    return theta


def _functional(model: nn.Module):
    """The trainable parameters and f(params, x); frozen ones keep their values inside the model."""
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def f(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, (p, buffers), (x,))
        return out.reshape(x.shape[0], -1)  # (N,) or (N, n_L) -> (N, n_L)

    return params, f


def _jacobian(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Jacobian contraction: J_x J_y^T summed over every parameter tensor (torch.func tutorial)."""
    params, f = _functional(model)

    def jac(points: torch.Tensor) -> list[torch.Tensor]:
        j = vmap(jacrev(lambda p, z: f(p, z[None])[0]), (None, 0))(params, points)
        return [v.flatten(2) for v in j.values()]  # each (N, n_L, P_tensor)

    jx = jac(x)
    jy = jx if y is x else jac(y)
    return sum(torch.einsum("naP,mbP->nmab", a, b) for a, b in zip(jx, jy))


def _ntvp(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk_size: int = 64) -> torch.Tensor:
    """NTK-vector products: column (m, b) of Theta is J_x (J_y^T e_(m,b)), one vjp and one jvp."""
    params, f = _functional(model)
    out_y, vjp_y = vjp(lambda p: f(p, y), params)

    def column(v: torch.Tensor) -> torch.Tensor:
        (cotangent,) = vjp_y(v)
        return jvp(lambda p: f(p, x), (params,), (cotangent,))[1]

    m, n_out = out_y.shape
    basis = torch.eye(m * n_out, dtype=out_y.dtype, device=out_y.device).reshape(-1, m, n_out)
    cols = vmap(column, chunk_size=chunk_size)(basis)  # (M n_L, N, n_L): [(m, b), n, a]
    return cols.reshape(m, n_out, x.shape[0], n_out).permute(2, 0, 3, 1)
