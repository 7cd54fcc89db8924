"""Kernel principal components of the map Pi = K/N, and trajectories along them (Sections 5, 6.3).

With p_in the empirical distribution of the N training points,
Pi(f)(x) = (1/N) sum_j K(x, x_j) f(x_j) (Section 5). On the data it is the matrix K/N; its
eigenfunctions f^(i) are the non-centred kernel principal components, and its eigenvalues lam_i
the variance each captures. Under the least-squares flow, f_t - f* = e^{-t Pi}(f_0 - f*): a start
along f^(i) decays along a straight line at rate lam_i (Section 6.3, Figure 3).

Shapes: a function on the data is a tensor whose LAST axis runs over the N points, f of shape
(..., N); for a k-output function (N, k) pass ``f.mT``. The p_in seminorm of Section 2 is
||f||_{p_in}^2 = (1/N) sum_j f(x_j)^2.

:func:`rate_along` measures the rate of a finite network along a direction u of the data,
<u, Theta u>_{p_in} / N with its empirical NTK Theta, by one backward pass (no N x N kernel).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ._checks import as_inputs, finite_array, kernel_matrix, positive_int
from ._linalg import out_dtype, pi_spectrum

__all__ = [
    "KernelPCA",
    "decompose_along",
    "kernel_pca",
    "max_stable_learning_rate",
    "pin_norm",
    "rate_along",
]


@dataclass
class KernelPCA:
    """Non-centred kernel PCA of Pi = K/N (Section 5; Section 6.3 takes the first three for MNIST).

    The eigenfunctions f^(i) of Pi are the directions along which kernel gradient descent
    converges at the rates lambda_i (Section 5). Returned by :func:`kernel_pca`.

    Attributes
    ----------
    eigenvalues : torch.Tensor, shape (n_components,)
        Those of K/N, descending.
    components : torch.Tensor, shape (N, n_components)
        f^(i)(x_j), normalised in p_in: (1/N) sum_j f^(i)(x_j)^2 = 1, i.e. f^(i) = sqrt(N) v_i.
    """

    eigenvalues: torch.Tensor
    components: torch.Tensor

    def extend(self, k_test_train: object) -> torch.Tensor:
        """f^(i) at new points by the Nystrom formula.

        f^(i)(x) = (1/(N lam_i)) sum_j K(x, x_j) f^(i)(x_j). On a training point this gives back the
        training values (Pi f^(i) = lam_i f^(i)).

        Parameters
        ----------
        k_test_train : array_like
            Shape (M, N): K(x, x_j) between M new points and the N training points.

        Returns
        -------
        torch.Tensor
            Shape (M, n_components): f^(i) at the new points.

        Raises
        ------
        ValueError
            If k_test_train does not have N finite columns, or a component has lam_i = 0 (it has
            no such extension).
        """
        n = self.components.shape[0]
        kx = kernel_matrix(
            k_test_train,
            "k_test_train",
            cols=n,
            match="the N training points",
            device=self.components.device,
        )
        zero = (self.eigenvalues == 0).nonzero().flatten().tolist()
        if zero:
            raise ValueError(
                f"components {zero} have eigenvalue 0: the Nystrom extension divides by N lam_i; "
                "ask kernel_pca for fewer components"
            )
        comps = self.components.to(torch.float64)
        lam = self.eigenvalues.to(torch.float64)
        return ((kx @ comps) / (n * lam)).to(self.components.dtype)


def kernel_pca(k_train: object, n_components: int | None = None) -> KernelPCA:
    """Kernel principal components of the training data: eigenpairs of Pi = K/N (Section 5).

    Each component's sign is fixed so that its entry of largest magnitude is positive (within a
    repeated eigenvalue the basis is not unique). Eigenvalues at round-off level are reported as
    exactly 0.

    Parameters
    ----------
    k_train : array_like
        Shape (N, N): the symmetric PSD kernel on the data (e.g. Theta_infinity).
    n_components : int, optional
        How many components, 1 .. N; default N.

    Returns
    -------
    KernelPCA
        The ``n_components`` largest eigenvalues of K/N, descending, shape (n_components,), and
        the p_in-normalised eigenfunctions on the training points, shape (N, n_components).

    Raises
    ------
    ValueError
        If k_train is not a finite symmetric square matrix, or n_components is not in 1 .. N.
    """
    k = kernel_matrix(k_train, "k_train", symmetric=True)
    n = k.shape[0]
    count = n if n_components is None else positive_int(n_components, "n_components")
    if count > n:
        raise ValueError(f"n_components must be at most N = {n}; got {count}")
    lam, v = pi_spectrum(k)
    lam, v = lam.flip(0)[:count], v.flip(1)[:, :count]
    pivot = v.abs().argmax(0)
    sign = torch.sign(v.gather(0, pivot[None, :]))
    comps = v * torch.where(sign == 0, torch.ones_like(sign), sign) * n**0.5
    dtype = out_dtype(k_train)
    return KernelPCA(eigenvalues=lam.to(dtype), components=comps.to(dtype))


def pin_norm(f: object) -> torch.Tensor:
    """The p_in seminorm of Section 2 over the LAST axis: sqrt((1/N) sum_j f(x_j)^2).

    For a k-output function stored as (N, k), the paper's norm sqrt((1/N) sum_j ||f(x_j)||^2) is
    ``pin_norm(f.mT).square().sum(-1).sqrt()``.

    Parameters
    ----------
    f : array_like
        Shape (..., N): values on the N data points.

    Returns
    -------
    torch.Tensor
        Shape (...).

    Raises
    ------
    ValueError
        If f has non-finite entries.
    """
    ft = finite_array(f, "f", ndims=None, dtype=None)
    return ft.square().mean(-1).sqrt()


def decompose_along(
    f_t: object, f_star: object, component: object
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split f_t - f* into g_t along f^(i) and h_t orthogonal to it, in p_in (Sec. 6.3, Figure 3).

    The component is normalised in p_in first, u = f^(i) / ||f^(i)||_{p_in}; then
    c_t = <f_t - f*, u>_{p_in}, g_t = c_t u, h_t = f_t - f* - g_t, so ``||g_t||_{p_in} = |c_t|``.
    In the limit, a start f_0 - f* = c_0 u gives c_t = c_0 e^{-lam_i t} and h_t = 0.

    Parameters
    ----------
    f_t : array_like
        Shape (T, N) (any (..., N) works): a trajectory on the data.
    f_star : array_like
        Shape (N,): the target on the data.
    component : array_like
        Shape (N,): f^(i) on the data, not zero.

    Returns
    -------
    tuple of torch.Tensor
        ``(||g_t||_{p_in}, ||h_t||_{p_in}, c_t)``, each of shape (T,).

    Raises
    ------
    ValueError
        If an input has non-finite entries, f_star or component does not have N entries, or
        component is zero on the data.
    """
    ft = finite_array(f_t, "f_t", ndims=None, dtype=None)
    n = ft.shape[-1]
    fs = finite_array(
        f_star,
        "f_star",
        ndims=(1,),
        rows=n,
        match="the last axis of f_t",
        dtype=ft.dtype,
        device=ft.device,
    )
    u = finite_array(
        component,
        "component",
        ndims=(1,),
        rows=n,
        match="the last axis of f_t",
        dtype=ft.dtype,
        device=ft.device,
    )
    size = float(pin_norm(u))
    if size == 0:
        raise ValueError(
            "component is zero on the data; expected a non-zero function to decompose along"
        )
    u = u / size
    diff = ft - fs
    c = (diff * u).mean(-1)
    h = diff - c[..., None] * u
    return c.abs(), pin_norm(h), c


def max_stable_learning_rate(k_train: object) -> torch.Tensor:
    """2N / lambda_max(K): the largest stable learning rate of gradient descent, linearised.

    The largest learning rate for which gradient descent on the linearised network (kernel gradient
    descent with the Gram matrix K on N points, cost 1/(2N) sum (f - y)^2, Section 5) does not
    diverge. The step multiplies the residual by I - lr K / N, stable iff lr lambda_max / N < 2.

    Parameters
    ----------
    k_train : array_like
        Shape (N, N) or a batch (E, N, N): the Gram matrices.

    Returns
    -------
    torch.Tensor
        Shape () or (E,), float64.

    Raises
    ------
    ValueError
        If k_train is not square, has non-finite entries, or its largest eigenvalue is not
        positive.
    """
    k = finite_array(k_train, "k_train", ndims=(2, 3))
    if k.shape[-1] != k.shape[-2]:
        raise ValueError(f"k_train must be square (N, N) or (E, N, N); got shape {tuple(k.shape)}")
    top = torch.linalg.eigvalsh((k + k.mT) / 2)[..., -1]
    if bool((top <= 0).any()):
        raise ValueError("k_train must have a positive largest eigenvalue (a non-zero PSD kernel)")
    return 2.0 * k.shape[-1] / top


def rate_along(model: nn.Module, x: object, u: object) -> torch.Tensor:
    """The decay rate of a network along u: <u, Theta u>_{p_in} / N = u^T Theta u / N^2.

    Under kernel gradient descent with the kernel Theta (Section 5) a residual along u shrinks at
    this rate; for the limiting NTK and u = f^(i), a p_in-normalised kernel principal component, it
    is lam_i, the eigenvalue of Pi (Section 6.3, Figure 3). With the empirical NTK Theta = J J^T,
    J the (N, P) Jacobian of the outputs in the trainable parameters, u^T Theta u = ||J^T u||^2 is
    the squared norm of the gradient of sum_j u_j f(x_j): one backward pass, no N x N kernel.

    Parameters
    ----------
    model : torch.nn.Module
        One network (N, n_0) -> (N, 1), or an ``NTKMLP`` ensemble of E networks (E, N, 1); the
        parameters with ``requires_grad`` are counted, as in :func:`ntk_course.empirical_ntk`.
    x : array_like
        Shape (N, n_0): the points, cast to the dtype of the model's parameters.
    u : array_like
        Shape (N,): the direction, usually p_in-normalised ((1/N) sum_j u_j^2 = 1).

    Returns
    -------
    torch.Tensor
        Shape (E,) for an ensemble, () for one network; float64, on the model's device.

    Raises
    ------
    ValueError
        If ``x`` is not a finite (N, n_0) array, ``u`` is not a finite vector of length N, the
        model has more than one output or no trainable parameters.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (requires_grad); nothing to count")
    xt = as_inputs(x, "x", params[0].dtype).to(params[0].device)
    ut = finite_array(u, "u", ndims=(1,), dtype=torch.float64, device=params[0].device)
    if ut.shape[0] != xt.shape[0]:
        raise ValueError(f"u must have one entry per point, N = {xt.shape[0]}; got {ut.shape[0]}")
    out = model(xt)
    if out.shape[-1] != 1:
        raise ValueError(f"the model must have one output (n_L = 1); got n_L = {out.shape[-1]}")
    out = out[..., 0]  # ([E,] N)
    grads = torch.autograd.grad((out * ut.to(out.dtype)).sum(), params)
    lead = 1 if out.ndim == 2 else 0  # an ensemble's parameters carry its leading axis E
    sq = sum(g.to(torch.float64).square().flatten(lead).sum(-1) for g in grads)
    return sq / ut.shape[0] ** 2
