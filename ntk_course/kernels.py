"""The infinite-width kernels: Sigma^(L) of Proposition 1 and Theta_infinity^(L) of Theorem 1.

    Sigma^(1)(x, x')       = x.x' / n_0 + beta^2                         (= Theta^(1))
    Sigma^(l+1)(x, x')     = E_{f ~ N(0, Sigma^(l))}[sigma(f(x)) sigma(f(x'))] + beta^2
    Sigma_dot^(l+1)(x, x') = E_{f ~ N(0, Sigma^(l))}[sigma_dot(f(x)) sigma_dot(f(x'))]
    Theta^(l+1)(x, x')     = Theta^(l)(x, x') Sigma_dot^(l+1)(x, x') + Sigma^(l+1)(x, x')

Names: ``sigma`` / ``sigma_dot`` are the activation and its derivative; the kernels are written
``Sigma``, ``Sigma_dot`` and ``Theta`` as in the paper. Depth L counts weight layers. With weights
of standard deviation sigma_w (``weight_std``, neural-tangents' ``W_std``; the paper's sigma_w = 1)
the x.x' / n_0 and both expectations are multiplied by sigma_w^2.

The recursion is memory-bound, so :func:`limiting_kernels` processes the N x M matrix in cache-sized
blocks carried through every layer at once; the diagonals (cheap) come first, and when y is x (or
equal to it) only the upper triangle of blocks is computed and mirrored, so the result is exactly
symmetric and ``ntk(x, x)`` is ``ntk(x)``. Identical points, wherever they occur (the diagonal, a
repeated training point, a test point that is a training point), are found by sorting rows and keep
the exact variance Sigma^(l)(x, x) at every layer: their angle is exactly 0, as in exact arithmetic,
rather than the ~1e-8 that sqrt(q q' - c^2) makes of a rounded Gram entry
(:mod:`ntk_course._same_points`). :func:`ntk_course.layers.layer_kernels` keeps every layer, for the
small point sets of the proof of Proposition 2; both run the same layer step, :func:`_layers`.
Activations without a closed form go through :mod:`ntk_course.quadrature`; one QuadratureWarning per
call reports an estimated error above its tolerance.
"""

from __future__ import annotations

import torch

from ._checks import as_inputs, non_negative, positive, positive_int, same_dimension
from ._linalg import mirror_upper
from ._recursion import Scales, _check_finite, _layers, _out_dtype, _variances
from ._same_points import _identical, _in_block
from ._threads import map_blocks
from .activations import Activation, Fn, get_activation
from .memory import ensure_fits, kernel_bytes
from .quadrature import warn_if_inaccurate

BLOCK = 256
Act = str | Activation | Fn


def _prepare(
    x: object,
    y: object | None,
    depth: int,
    activation: Act,
    beta: float | torch.Tensor,
    derivative: Fn | None,
    dtype: torch.dtype,
    quadrature_points: int,
    fits=None,
    weight_std: float = 1.0,
):
    """Validate the arguments, compute the variances of every layer, find the identical points.

    The arguments are checked before any work. A y equal to x is treated as y = None. A ``beta``
    tensor that requires grad stays in the computation (its beta^2 is a tensor in ``Scales``), so
    that autograd differentiates the kernels with respect to beta.
    ``fits(xt, yt)``, when given, checks the memory the kernel will take (KernelMemoryError) once
    the shapes are known, before any work.
    """
    depth = positive_int(depth, "depth")
    learned = isinstance(beta, torch.Tensor) and beta.requires_grad
    if learned and beta.numel() != 1:  # type: ignore[union-attr]
        raise ValueError(f"beta must be one number; got a tensor of shape {tuple(beta.shape)}")  # type: ignore[union-attr]
    value = non_negative(beta.detach() if learned else beta, "beta")  # type: ignore[union-attr]
    if value > 1e150:
        raise ValueError(f"beta must be at most 1e150 (beta^2 overflows float64); got {value!r}")
    weight_std = positive(weight_std, "weight_std")
    if weight_std > 1e150:
        raise ValueError(
            f"weight_std must be at most 1e150 (sigma_w^2 overflows float64); got {weight_std!r}"
        )
    if learned and not isinstance(dtype, torch.dtype):
        raise ValueError(f"dtype must be a floating torch dtype; got {dtype!r}")
    beta2 = beta.reshape(()).to(dtype) ** 2 if learned else value**2  # type: ignore[union-attr]
    scales = Scales(weight_std**2, beta2)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(
            f"dtype must be a floating torch dtype such as torch.float64; got {dtype!r}"
        )
    act = get_activation(activation, derivative, quadrature_points)
    xt = as_inputs(_two_d(x, "x"), "x", dtype)
    yt = xt if y is None else as_inputs(_two_d(y, "y"), "y", dtype).to(xt.device)
    same_dimension(xt, yt)
    if (xt.requires_grad or yt.requires_grad or learned) and act.closed_form is None:
        raise ValueError(
            f"the kernels are differentiable with respect to x, y and beta only for the "
            f"closed-form activations (relu, erf); {act.name!r} goes through quadrature, whose "
            "rules are not differentiated: pass x.detach() and a float beta, or use relu or erf"
        )
    if fits is not None:
        fits(xt, yt)
    symmetric = yt is xt or (yt.shape == xt.shape and bool(torch.equal(xt, yt)))
    yt = xt if symmetric else yt
    errors: list[float] = []
    qx, wx = _variances(scales.first(xt), depth, act, scales, errors)
    qy, wy = (qx, wx) if symmetric else _variances(scales.first(yt), depth, act, scales, errors)
    weights = [max(a, b) for a, b in zip(wx, wy)]
    same = _identical(xt, yt, qx, qy, symmetric)
    return xt, yt, qx, qy, act, scales, symmetric, same, errors, weights


def _two_d(x: object, name: str) -> object:
    """Refuse 1-d points: (N,) is ambiguous between N points of dimension 1 and one point."""
    if getattr(x, "ndim", None) == 1 or (
        isinstance(x, list | tuple) and x and all(isinstance(v, int | float) for v in x)
    ):
        n = len(x)  # type: ignore[arg-type]
        raise ValueError(
            f"{name} must be 2-d, shape (N, n_0); got 1-d shape ({n},): pass {name}[:, None] "
            f"for {n} points of dimension 1, or {name}[None] for one point of dimension {n}"
        )
    return x


def limiting_kernels(
    x: object,
    y: object | None = None,
    *,
    depth: int,
    activation: Act = "relu",
    beta: float | torch.Tensor = 0.1,
    derivative: Fn | None = None,
    quadrature_points: int = 64,
    dtype: torch.dtype = torch.float64,
    block: int = BLOCK,
    with_theta: bool = True,
    out_dtype: torch.dtype | None = None,
    with_sigma: bool = True,
    weight_std: float = 1.0,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Sigma^(depth) of Proposition 1 and Theta_infinity^(depth) of Theorem 1 at once, each N x M.

    Parameters
    ----------
    x, y : array_like, shape (N, n_0) and (M, n_0)
        The points (integer or boolean arrays become ``dtype``); ``y=None`` (default) is y = x.
    depth : int
        L >= 1, the number of weight layers.
    activation : str, Activation or callable, default "relu"
        sigma: a name from ``ACTIVATIONS``, an :class:`Activation` or an elementwise callable.
    beta : float or 0-d torch.Tensor, default 0.1
        The bias factor beta >= 0: Sigma^(1)(x, y) = x.y / n_0 + beta^2.
        A tensor that requires grad makes the kernels differentiable with respect to beta
        (relu and erf: the closed forms), as they are with respect to x and y.
    derivative : callable, optional
        sigma_dot for a callable activation (autograd when it is missing; refused for a named one).
    quadrature_points : int, default 64
        2 to 360: sizes the rules of activations without a closed form.
    dtype, out_dtype : torch.dtype, default torch.float64 and None (``dtype``)
        Computed in ``dtype`` on the device of ``x``, block by block, and stored in ``out_dtype``:
        with ``torch.float32`` each block is rounded once when stored, half the bytes.
    block, with_theta : int, default 256, and bool, default True
        The side of the square blocks of the N x M matrix; ``with_theta=False`` skips Theta (None).
    with_sigma : bool, default True
        ``False`` returns None for Sigma and never holds it beyond a block, so that the peak memory
        is Theta's (what :func:`ntk` does).
    weight_std : float, default 1.0
        sigma_w > 0, the standard deviation of the weights (neural-tangents' ``W_std``): every
        layer's Sigma and Sigma_dot are multiplied by sigma_w^2 before beta^2 is added (module
        docstring); the closed forms of relu and erf still apply.

    Returns
    -------
    Sigma, Theta : torch.Tensor, shape (N, M)
        Sigma^(depth)(x, y) (or None) and Theta_infinity^(depth)(x, y) (or None) in ``out_dtype``.

    Raises
    ------
    ValueError
        For bad points (empty, complex, non-finite, not 2-d, unequal n_0), depth or block < 1,
        beta < 0, a bad activation, derivative, quadrature_points or out_dtype, neither Sigma nor
        Theta asked for, or an overflow.
    KernelMemoryError
        Before any work, when both results, the inputs and the block temporaries exceed the
        device's free memory; it says how much is missing and the ways out.

    Warns
    -----
    QuadratureWarning
        When the quadrature's estimated error exceeds ``quadrature.TOLERANCE``.
    """
    block = positive_int(block, "block")
    store = _out_dtype(out_dtype, dtype)
    if not (with_sigma or with_theta):
        raise ValueError("with_sigma and with_theta are both False: nothing to compute")

    def fits(xt: torch.Tensor, yt: torch.Tensor) -> None:
        parts = kernel_bytes(
            xt.shape[0],
            yt.shape[0],
            n0=xt.shape[1],
            depth=depth,
            matrices=int(with_sigma) + int(with_theta),
            dtype=dtype,
            out_dtype=store,
            block=block,
        )
        what = {
            (True, True): "limiting_kernels (Sigma and Theta)",
            (True, False): "nngp (Sigma)",
            (False, True): "ntk (Theta)",
        }[(with_sigma, with_theta)]
        ensure_fits(f"{what} on {xt.shape[0]:,} x {yt.shape[0]:,} points", parts, xt.device)

    xt, yt, qx, qy, act, scales, symmetric, same, errors, weights = _prepare(
        x, y, depth, activation, beta, derivative, dtype, quadrature_points, fits, weight_std
    )
    n, m = xt.shape[0], yt.shape[0]
    Sigma = torch.empty(n, m, dtype=store, device=xt.device) if with_sigma else None
    Theta = torch.empty(n, m, dtype=store, device=xt.device) if with_theta else None
    xs = scales.scaled(xt)

    def compute(corner: tuple[int, int]) -> None:
        ri, cj = (
            slice(corner[0], min(corner[0] + block, n)),
            slice(corner[1], min(corner[1] + block, m)),
        )
        gram = torch.addmm(scales.bias(dtype, xt.device), xs[ri], yt[cj].T)
        diagonal = symmetric and corner[0] == corner[1]
        pairs = _in_block(same, ri, cj, diagonal, xt.device)
        *_, (s, _, t) = _layers(
            gram,
            [q[ri] for q in qx],
            [q[cj] for q in qy],
            act,
            scales,
            with_theta,
            pairs,
            errors,
            weights,
        )
        _check_finite(s, "Sigma")
        for out, k in ((Sigma, s), (Theta, t)):
            if out is None or k is None:
                continue
            # A diagonal block is symmetric only up to the Gram product's round-off: mirror it.
            k = (mirror_upper(k) if diagonal else k).to(store)
            _check_finite(k, "Theta" if out is Theta else "Sigma")
            out[ri, cj] = k
            if symmetric and not diagonal:
                out[cj, ri] = k.T

    corners = [(i, j) for i in range(0, n, block) for j in range(i if symmetric else 0, m, block)]
    recorded = torch.is_grad_enabled() and (
        xt.requires_grad or yt.requires_grad or isinstance(scales.beta2, torch.Tensor)
    )
    map_blocks(compute, corners, xt.device, recorded)
    warn_if_inaccurate(max(errors, default=0.0), act.name, dtype)
    return Sigma, Theta


def nngp(
    x: object,
    y: object | None = None,
    *,
    depth: int,
    activation: Act = "relu",
    beta: float | torch.Tensor = 0.1,
    **options: object,
) -> torch.Tensor:
    """Sigma^(depth)(x, y): the limiting covariance of the output at initialisation.

    Proposition 1: as the widths grow, the network's outputs at initialisation tend to a centred
    Gaussian process with this covariance, the NNGP. ``depth`` counts weight layers, with
    Sigma^(1)(x, y) = x.y / n_0 + beta^2. Computed block by block by :func:`limiting_kernels`
    (``with_theta=False``); the memory it takes is checked before any work.

    Parameters
    ----------
    x : array_like, shape (N, n_0)
        The points (integer or boolean arrays are converted).
    y : array_like, shape (M, n_0), optional
        The second points; None (default) is y = x, and the result is then exactly symmetric.
    depth : int
        L >= 1, the number of weight layers.
    activation : str, Activation or callable, default "relu"
        sigma, as in :func:`limiting_kernels`.
    beta : float or 0-d torch.Tensor, default 0.1
        The bias factor beta >= 0.
        A tensor that requires grad makes the kernels differentiable with respect to beta
        (relu and erf: the closed forms), as they are with respect to x and y.
    **options
        ``derivative=``, ``quadrature_points=``, ``dtype=``, ``block=`` and ``out_dtype=`` as in
        :func:`limiting_kernels`; e.g. ``out_dtype=torch.float32`` computes in float64 per block
        and stores in float32.

    Returns
    -------
    torch.Tensor, shape (N, M)
        Sigma^(depth)(x, y), float64 by default, on the device of ``x``.

    Raises
    ------
    ValueError
        For the bad input :func:`limiting_kernels` refuses (points, depth, beta, activation,
        options) or an overflow of the Gaussian expectations.
    KernelMemoryError
        Before any work, when Sigma and its temporaries do not fit the device's free memory.
    TypeError
        For an option :func:`limiting_kernels` does not take.

    Warns
    -----
    QuadratureWarning
        When the quadrature's estimated error exceeds ``quadrature.TOLERANCE``.

    Examples
    --------
    >>> import torch
    >>> from ntk_course import nngp
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    >>> sigma = nngp(x, depth=3, beta=0.1)
    >>> sigma.shape, sigma.dtype
    (torch.Size([3, 3]), torch.float64)
    >>> sigma[0]
    tensor([0.1425, 0.0783, 0.1089], dtype=torch.float64)
    """
    Sigma, _ = limiting_kernels(
        x, y, depth=depth, activation=activation, beta=beta, with_theta=False, **options
    )  # type: ignore[arg-type]
    assert Sigma is not None
    return Sigma


def ntk(
    x: object,
    y: object | None = None,
    *,
    depth: int,
    activation: Act = "relu",
    beta: float | torch.Tensor = 0.1,
    **options: object,
) -> torch.Tensor:
    """Theta_infinity^(depth)(x, y): the limiting neural tangent kernel of Theorem 1.

    Theta^(1) = Sigma^(1) and Theta^(l+1) = Theta^(l) Sigma_dot^(l+1) + Sigma^(l+1). The full NTK of
    an n_L-output network is this kernel times Id_{n_L}. Computed block by block by
    :func:`limiting_kernels` (``with_sigma=False``): Sigma is held one block at a time, so the
    peak memory is Theta's and its block temporaries; the bytes are checked before any work.

    Parameters
    ----------
    x : array_like, shape (N, n_0)
        The points (integer or boolean arrays are converted).
    y : array_like, shape (M, n_0), optional
        The second points; None (default) is y = x, and the result is then exactly symmetric.
    depth : int
        L >= 1, the number of weight layers.
    activation : str, Activation or callable, default "relu"
        sigma, as in :func:`limiting_kernels`.
    beta : float or 0-d torch.Tensor, default 0.1
        The bias factor beta >= 0.
        A tensor that requires grad makes the kernels differentiable with respect to beta
        (relu and erf: the closed forms), as they are with respect to x and y.
    **options
        ``derivative=``, ``quadrature_points=``, ``dtype=``, ``block=`` and ``out_dtype=`` as in
        :func:`limiting_kernels` (``out_dtype=torch.float32`` included).

    Returns
    -------
    torch.Tensor, shape (N, M)
        Theta_infinity^(depth)(x, y), float64 by default, on the device of ``x``.

    Raises
    ------
    ValueError
        For the bad input :func:`limiting_kernels` refuses (points, depth, beta, activation,
        options) or an overflow of the Gaussian expectations.
    KernelMemoryError
        Before any work, when Theta and its block temporaries do not fit the device's free
        memory; it gives the numbers and the ways out.
    TypeError
        For an option :func:`limiting_kernels` does not take.

    Warns
    -----
    QuadratureWarning
        When the quadrature's estimated error exceeds ``quadrature.TOLERANCE``.

    Examples
    --------
    >>> import torch
    >>> from ntk_course import ntk
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    >>> theta = ntk(x, depth=3, beta=0.1)
    >>> theta
    tensor([[0.4025, 0.1078, 0.2183],
            [0.1078, 0.4025, 0.2805],
            [0.2183, 0.2805, 0.4025]], dtype=torch.float64)
    >>> torch.equal(theta, theta.T)  # symmetric to the last bit
    True
    """
    _, Theta = limiting_kernels(
        x, y, depth=depth, activation=activation, beta=beta, with_sigma=False, **options
    )  # type: ignore[arg-type]
    assert Theta is not None
    return Theta
