"""The infinite-width kernels: Sigma^(L) of Proposition 1 and Theta_infinity^(L) of Theorem 1.

    Sigma^(1)(x, x')       = x.x' / n_0 + beta^2                         (= Theta^(1))
    Sigma^(l+1)(x, x')     = E_{f ~ N(0, Sigma^(l))}[sigma(f(x)) sigma(f(x'))] + beta^2
    Sigma_dot^(l+1)(x, x') = E_{f ~ N(0, Sigma^(l))}[sigma_dot(f(x)) sigma_dot(f(x'))]
    Theta^(l+1)(x, x')     = Theta^(l)(x, x') Sigma_dot^(l+1)(x, x') + Sigma^(l+1)(x, x')

Depth L counts weight layers. The recursion is memory-bound, so the N x M matrix is processed in
cache-sized blocks carried through every layer at once; the diagonals (cheap) come first, and when
y is x only the upper triangle of blocks is computed and mirrored, so the result is exactly symmetric.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from ._checks import as_inputs, non_negative, positive_int, same_dimension
from .activations import Activation, Fn, get_activation

BLOCK = 256


def _diagonal(q: torch.Tensor, depth: int, act: Activation, beta2: float) -> list[torch.Tensor]:
    """Sigma^(l)(x, x) for l = 1..depth; only these variances enter the off-diagonal recursion."""
    out = [q]
    for _ in range(depth - 1):
        s, _ = act.expectations(q, q, q)
        q = s + beta2
        out.append(q)
    return out


def _block(
    gram: torch.Tensor,
    qx: list[torch.Tensor],
    qy: list[torch.Tensor],
    act: Activation,
    beta2: float,
    with_theta: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Carry one block of Sigma^(1) = gram through every layer, in place where possible."""
    sigma = gram
    theta = gram.clone() if with_theta else None
    for l in range(1, len(qx)):
        e_s, e_d = act.expectations(qx[l - 1][:, None], sigma, qy[l - 1][None, :])
        sigma = e_s.add_(beta2)
        if theta is not None:
            theta = torch.addcmul(sigma, theta, e_d)
    return sigma, theta


def kernels(
    x: object,
    y: object | None = None,
    *,
    depth: int,
    activation: str | Activation | Fn = "relu",
    beta: float = 0.1,
    derivative: Fn | None = None,
    dtype: torch.dtype = torch.float64,
    block: int = BLOCK,
    with_theta: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Both limiting kernels at once: (Sigma^(depth), Theta_infinity^(depth)), each N x M.

    ``x`` is (N, n_0), ``y`` is (M, n_0) or None for y = x. Computes in ``dtype`` (float64 by
    default) on the device of ``x`` and returns there. ``derivative`` is sigma_dot for a callable
    activation (autograd is used when it is missing).
    """
    depth = positive_int(depth, "depth")
    beta2 = non_negative(beta, "beta") ** 2
    block = positive_int(block, "block")
    act = get_activation(activation, derivative)
    xt = as_inputs(x, "x", dtype)
    symmetric = y is None
    yt = xt if symmetric else as_inputs(y, "y", dtype).to(xt.device)
    same_dimension(xt, yt)
    n0 = xt.shape[1]

    qx = _diagonal((xt * xt).sum(1) / n0 + beta2, depth, act, beta2)
    qy = qx if symmetric else _diagonal((yt * yt).sum(1) / n0 + beta2, depth, act, beta2)

    n, m = xt.shape[0], yt.shape[0]
    sigma = torch.empty(n, m, dtype=dtype, device=xt.device)
    theta = torch.empty(n, m, dtype=dtype, device=xt.device) if with_theta else None
    xs = xt / n0
    for i in range(0, n, block):
        ri = slice(i, min(i + block, n))
        for j in range(i if symmetric else 0, m, block):
            cj = slice(j, min(j + block, m))
            gram = torch.addmm(torch.full((1, 1), beta2, dtype=dtype, device=xt.device), xs[ri], yt[cj].T)
            if symmetric and j == i:
                # Use the exact variances on the diagonal so that identical points have angle 0.
                gram.diagonal().copy_(qx[0][ri])
            s, t = _block(gram, [q[ri] for q in qx], [q[cj] for q in qy], act, beta2, with_theta)
            if symmetric and j == i:
                # A diagonal block is symmetric only up to the Gram product's round-off: mirror it.
                s = _mirror(s)
                t = None if t is None else _mirror(t)
            _check_finite(s, "Sigma")
            if t is not None:
                _check_finite(t, "Theta")
            sigma[ri, cj] = s
            if theta is not None:
                theta[ri, cj] = t
            if symmetric and j != i:
                sigma[cj, ri] = s.T
                if theta is not None:
                    theta[cj, ri] = t.T
    return sigma, theta


def _mirror(k: torch.Tensor) -> torch.Tensor:
    return torch.triu(k) + torch.triu(k, 1).T


def _check_finite(k: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(k).all()):
        raise ValueError(
            f"{name} has non-finite entries: the activation's Gaussian expectations overflowed; "
            "use smaller inputs, a smaller depth or a bounded activation"
        )


def nngp(
    x: object,
    y: object | None = None,
    *,
    depth: int,
    activation: str | Activation | Callable[[torch.Tensor], torch.Tensor] = "relu",
    beta: float = 0.1,
    **options: object,
) -> torch.Tensor:
    """Sigma^(depth)(x, y): the covariance of the output at initialisation in the limit (Proposition 1).

    ``depth`` counts weight layers, with Sigma^(1)(x, y) = x.y / n_0 + beta^2. Returns N x M in float64
    by default (``dtype=``). Accepts ``derivative=``, ``dtype=`` and ``block=`` as :func:`kernels`.
    """
    sigma, _ = kernels(x, y, depth=depth, activation=activation, beta=beta, with_theta=False, **options)  # type: ignore[arg-type]
    return sigma


def ntk(
    x: object,
    y: object | None = None,
    *,
    depth: int,
    activation: str | Activation | Callable[[torch.Tensor], torch.Tensor] = "relu",
    beta: float = 0.1,
    **options: object,
) -> torch.Tensor:
    """Theta_infinity^(depth)(x, y): the limiting neural tangent kernel of Theorem 1.

    Theta^(1) = Sigma^(1) and Theta^(l+1) = Theta^(l) Sigma_dot^(l+1) + Sigma^(l+1). Returns N x M
    in float64 by default. The full NTK of an n_L-output network is this kernel times Id_{n_L}.
    """
    _, theta = kernels(x, y, depth=depth, activation=activation, beta=beta, **options)  # type: ignore[arg-type]
    assert theta is not None
    return theta
