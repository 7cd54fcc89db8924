"""Kernel regression and classification: the least-squares flow at t -> infinity (Section 5).

With the paper's cost C = 1/(2N) sum_i ||f(x_i) - y_i||^2 and a start f_0 = 0 (the mean over
initialisations), kernel gradient descent with a positive definite kernel K converges to

    f_infinity(x) = K(x, X) K(X, X)^{-1} Y,

the kernel regression (minimum-norm interpolation) of the targets Y. With the NNGP kernel Sigma it
is also the posterior mean of the Gaussian process with zero observation noise (Rasmussen &
Williams 2006, Sec. 2.2). A ridge rho >= 0, in the units of the eigenvalues lambda of K/N, replaces
the inverse by (K + N rho I)^{-1}: the filter lambda / (lambda + rho) on each eigen-direction of
K/N, where the flow stopped at time t has 1 - e^{-lambda t}.

Classification as in Lee et al. (2018, 2019): the targets are one-hot rows, centred (e_c - 1/k),
the predicted class is the argmax of the k outputs, and the accuracy on M test points has the
standard error sqrt(p (1 - p) / M) of a binomial proportion.
"""

from __future__ import annotations

import math

import torch

from ._checks import finite_array, kernel_matrix, non_negative, positive_int
from ._linalg import out_dtype
from .cg import blocked_regression, is_blocked


def one_hot_targets(labels: object, classes: int = 10, *, centred: bool = True) -> torch.Tensor:
    """Targets (N, classes) for integer ``labels`` (N,): the one-hot rows e_c.

    Minus 1/classes in every entry if ``centred``. For 10 classes the centred targets are 0.9 for
    the true class and -0.1 for the others (Lee et al. 2018): each row sums to zero. They turn
    classification into the least-squares regression of Section 5 (Lee et al. 2018, 2019).

    Parameters
    ----------
    labels : array_like of int, shape (N,)
        The classes, integers in 0 .. classes - 1 (not float, complex or bool).
    classes : int, default 10
        The number of classes k, >= 2.
    centred : bool, default True
        Subtract 1/classes from every entry, so that each row sums to zero.

    Returns
    -------
    torch.Tensor, shape (N, classes)
        float64, on the labels' device.

    Raises
    ------
    ValueError
        If ``classes`` is not an integer >= 2, ``labels`` is not a non-empty 1-d integer array, or
        a label lies outside 0 .. classes - 1.
    """
    classes = positive_int(classes, "classes", 2)
    y = torch.as_tensor(labels)
    if (
        y.ndim != 1
        or y.numel() == 0
        or y.is_floating_point()
        or y.is_complex()
        or y.dtype == torch.bool
    ):
        raise ValueError(
            "labels must be a non-empty 1-d array of integer classes; "
            f"got {y.dtype} of shape {tuple(y.shape)}"
        )
    if bool((y < 0).any()) or bool((y >= classes).any()):
        raise ValueError(
            f"labels must lie in 0 .. {classes - 1} for classes={classes}; "
            f"got {int(y.min())} .. {int(y.max())}"
        )
    out = torch.nn.functional.one_hot(y.long(), classes).to(torch.float64)
    return out - 1.0 / classes if centred else out


def _solve(k: torch.Tensor, ridge: float, name: str = "k_train") -> torch.Tensor:
    """The Cholesky factor of K + N rho I.

    A ValueError when it is not (numerically) positive definite.
    """
    n = k.shape[0]
    a = k + (n * ridge) * torch.eye(n, dtype=k.dtype, device=k.device) if ridge > 0 else k
    chol, info = torch.linalg.cholesky_ex(a)
    d = chol.diagonal()
    # cond(A) >= (max L_ii / min L_ii)^2: a tiny ratio proves A numerically singular.
    if int(info) != 0 or float((d.min() / d.max()) ** 2) < n * torch.finfo(a.dtype).eps:
        raise ValueError(
            f"{name} (+ N ridge I) must be positive definite on the training points "
            "for kernel regression; it is singular or indefinite: "
            "pass a ridge > 0 (in units of the eigenvalues of K/N)"
        )
    return chol


def _arguments(
    k_train: object, y_train: object, k_test_train: object
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    k = kernel_matrix(k_train, "k_train", symmetric=True)
    n = k.shape[0]
    y = finite_array(
        y_train, "y_train", rows=n, match="k_train's N training points", device=k.device
    )
    kx = kernel_matrix(
        k_test_train, "k_test_train", cols=n, match="k_train's N training points", device=k.device
    )
    return k, y, kx


def kernel_regression(
    k_train: object,
    y_train: object,
    k_test_train: object,
    *,
    ridge: float = 0.0,
    rtol: float = 1e-8,
    maxiter: int | None = None,
) -> torch.Tensor:
    """Predictions f(x) = K(x, X) (K(X, X) + N rho I)^{-1} Y: the flow at t = infinity.

    The limit of kernel gradient descent on the least-squares cost from f_0 = 0 (Section 5): the
    kernel regression of the targets, and with the NNGP kernel the Gaussian-process posterior mean.
    ``ridge`` is in the units of the eigenvalues of K/N (the paper's Pi). One Cholesky
    factorisation; no eigendecomposition (on 2 CPU cores the Cholesky factor of an 8,000 x 8,000
    kernel takes seconds, its eigendecomposition minutes). Equals the mean of
    :func:`ntk_course.gaussian.gaussian_limit` at ``t=None``.

    Large N: ``k_train`` may be a :class:`ntk_course.BlockedKernel` on the training points or a
    ``dask.array`` (``BlockedKernel.to_dask()``, persisted on a cluster), and ``k_test_train`` one
    on the test points against them (or a dense (M, N) matrix). The system is then solved by
    Jacobi-preconditioned conjugate gradients over the blocks
    (:func:`ntk_course.cg.conjugate_gradient`), never forming the whole matrix, to the relative
    residual ``rtol`` per output column.

    Parameters
    ----------
    k_train : array_like, BlockedKernel or dask.array, shape (N, N)
        The kernel K(X, X) on the training points: symmetric positive definite (or PSD with
        ``ridge`` rho > 0).
    y_train : array_like, shape (N,) or (N, k)
        The training targets, finite.
    k_test_train : array_like, BlockedKernel or dask.array, shape (M, N)
        The kernel K(x, X) between the M test points and the N training points.
    ridge : float, default 0.0
        rho >= 0, in the units of the eigenvalues of K/N.
    rtol : float, default 1e-8
        Blocked kernels only: the relative residual of conjugate gradients per output column, in
        (0, 1).
    maxiter : int, optional
        Blocked kernels only: the most conjugate-gradient iterations (default max(100, 2 N)).

    Returns
    -------
    torch.Tensor, shape (M,) or (M, k)
        The predictions, in ``k_train``'s floating dtype (float64 for a non-float input and for
        a blocked kernel).

    Raises
    ------
    ValueError
        If ``k_train`` is not a finite, square, symmetric matrix, ``y_train`` does not have N
        finite rows, ``k_test_train`` does not have N finite columns, ``ridge`` < 0, or
        K + N rho I is not (numerically) positive definite (pass a ridge > 0). Blocked kernels
        also: ``rtol`` outside (0, 1), ``maxiter`` < 1, or non-finite predictions.

    Warns
    -----
    CGWarning
        Blocked kernels: when ``maxiter`` iterations do not reach the residual ``rtol``.

    Examples
    --------
    >>> import torch
    >>> from ntk_course import gradient_flow, kernel_regression, ntk
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=torch.float64)
    >>> y = torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64)
    >>> x_test = torch.tensor([[0.8, 0.6]], dtype=torch.float64)
    >>> kernel_regression(ntk(x, depth=3), y, ntk(x_test, x, depth=3))
    tensor([0.7712], dtype=torch.float64)
    >>> gradient_flow(ntk(x, depth=3), y, t=[1e6], k_test_train=ntk(x_test, x, depth=3)).f_test
    tensor([[0.7712]], dtype=torch.float64)
    """
    if is_blocked(k_train):
        return blocked_regression(
            k_train, y_train, k_test_train, ridge=ridge, rtol=rtol, maxiter=maxiter
        )
    k, y, kx = _arguments(k_train, y_train, k_test_train)
    ridge = non_negative(ridge, "ridge")
    chol = _solve(k, ridge)
    return (
        (kx @ torch.cholesky_solve(y if y.ndim == 2 else y[:, None], chol))
        .reshape(kx.shape[0], *y.shape[1:])
        .to(out_dtype(k_train))
    )


def nested_kernel_regression(
    k_train: object, y_train: object, k_test_train: object, sizes: object
) -> list[torch.Tensor]:
    """:func:`kernel_regression` (no ridge) trained on the first n points, for every n in ``sizes``.

    The flow at t = infinity of Section 5 for nested training sets. The Cholesky factor of a
    leading block K[:n, :n] is the leading block L[:n, :n] of the factor of K, so one factorisation
    of the largest kernel serves every training set that is a prefix of the points (as
    :func:`ntk_course.digits.mnist_split` draws them): a learning curve at the cost of one fit.

    Parameters
    ----------
    k_train : array_like, shape (N, N)
        The kernel on all N training points, symmetric positive definite (dense only).
    y_train : array_like, shape (N,) or (N, k)
        The training targets, finite.
    k_test_train : array_like, shape (M, N)
        The kernel between the M test points and the N training points.
    sizes : int or array_like of int
        The training-set sizes n, each in 1 .. N.

    Returns
    -------
    list of torch.Tensor
        One prediction of shape (M,) or (M, k) per size, in ``k_train``'s floating dtype.

    Raises
    ------
    ValueError
        If the kernels or targets are malformed (as in :func:`kernel_regression`), ``sizes`` is
        empty or holds a size outside 1 .. N, or the leading block of ``k_train`` for the largest
        size is not (numerically) positive definite.
    """
    k, y, kx = _arguments(k_train, y_train, k_test_train)
    n = k.shape[0]
    counts = [positive_int(s, "each of sizes") for s in torch.as_tensor(sizes).reshape(-1).tolist()]
    if not counts or max(counts) > n:
        raise ValueError(f"sizes must list training-set sizes between 1 and N = {n}; got {counts}")
    chol = _solve(k[: max(counts), : max(counts)], 0.0)
    y2 = y if y.ndim == 2 else y[:, None]
    out = []
    for s in counts:
        alpha = torch.cholesky_solve(y2[:s], chol[:s, :s])
        out.append((kx[:, :s] @ alpha).reshape(kx.shape[0], *y.shape[1:]).to(out_dtype(k_train)))
    return out


def accuracy(outputs: object, labels: object) -> float | torch.Tensor:
    """The fraction of points whose largest output is the label.

    The largest output is the argmax over the last axis, the k classes: the classification rule of
    Lee et al. (2018, 2019) for the outputs of a regression on one-hot targets.

    Parameters
    ----------
    outputs : array_like, shape (..., M, k)
        Finite outputs; leading axes (times, ensemble members) give an array of accuracies.
    labels : array_like of int, shape (M,)
        The true classes.

    Returns
    -------
    float or torch.Tensor
        A float for ``outputs`` of shape (M, k), else float64 accuracies of shape (...).

    Raises
    ------
    ValueError
        If ``outputs`` has non-finite entries or fewer than two axes, ``labels`` is not 1-d, or
        their numbers of points M differ.
    """
    f = finite_array(outputs, "outputs", ndims=None, dtype=None)
    y = torch.as_tensor(labels, device=f.device)
    if f.ndim < 2 or y.ndim != 1 or f.shape[-2] != y.shape[0]:
        raise ValueError(
            "outputs must be (..., M, k) and labels (M,); "
            f"got shapes {tuple(f.shape)} and {tuple(y.shape)}"
        )
    hits = (f.argmax(-1) == y).to(torch.float64).mean(-1)
    return float(hits) if hits.ndim == 0 else hits


def accuracy_difference(hits_a: object, hits_b: object) -> tuple[float, float]:
    """The difference of two accuracies on the SAME M test points, and its standard error.

    The per-point differences d_m are paired, so the standard error is std(d) / sqrt(M): only the
    points where the two disagree count, far fewer than the sqrt(p (1 - p) / M) of each accuracy
    alone when the classifiers are alike (McNemar's test).

    Parameters
    ----------
    hits_a, hits_b : array_like, shape (M,)
        1 where a classifier is right, 0 where it is wrong (or a mean over several classifiers,
        in [0, 1]).

    Returns
    -------
    difference : float
        mean(hits_a - hits_b).
    standard_error : float
        std(d) / sqrt(M), d = hits_a - hits_b.

    Raises
    ------
    ValueError
        If either is not a finite 1-d array, their lengths differ, or M < 2.
    """
    a = finite_array(hits_a, "hits_a", ndims=(1,))
    b = finite_array(hits_b, "hits_b", ndims=(1,), rows=a.shape[0], match="hits_a", device=a.device)
    if a.shape[0] < 2:
        raise ValueError(f"need at least two test points for a standard error; got {a.shape[0]}")
    d = a - b
    return float(d.mean()), float(d.std() / math.sqrt(d.shape[0]))


def accuracy_standard_error(p: float, m: int) -> float:
    """sqrt(p (1 - p) / m): the standard error of an accuracy p on m independent test points.

    The standard deviation of a binomial proportion, the error bar of an accuracy measured on a
    test set (as in Lee et al. 2018, 2019).

    Parameters
    ----------
    p : float
        The accuracy, in [0, 1].
    m : int
        The number of test points, >= 1.

    Returns
    -------
    float
        sqrt(p (1 - p) / m).

    Raises
    ------
    ValueError
        If p is not a finite number in [0, 1] or m is not an integer >= 1.
    """
    p, m = non_negative(p, "p"), positive_int(m, "m")
    if p > 1:
        raise ValueError(f"p must be an accuracy in [0, 1]; got {p}")
    return math.sqrt(p * (1 - p) / m)
