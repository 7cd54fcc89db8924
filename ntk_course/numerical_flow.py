"""Kernel gradient flow for costs other than least squares, integrated numerically (Section 3).

Jacot, Gabriel & Hongler (2018), Section 3: for a cost C(f) = (1/N) sum_i loss(f(x_i), y_i), kernel
gradient descent is d f_t/dt = -(1/N) K d|f_t, with d|f(x_i) the gradient of the loss at f(x_i), and
the kernel gradient extends the flow to points off the data. Only the least-squares cost has the
closed-form solution of :mod:`ntk_course.flow`; :func:`kernel_flow` integrates the flow of the
cross-entropy (softmax over the k output columns) and logistic losses, and of the squared loss as a
check, on the CPU with SciPy. Cost, time and kernel conventions are those of :mod:`ntk_course.flow`.
"""

from __future__ import annotations

import numpy as np
import torch

from ._checks import finite_array, non_negative
from ._linalg import out_dtype
from .flow import FlowResult, _columns, _setup, _shape

LOSSES = ("mse", "cross_entropy", "logistic")
METHODS = ("DOP853", "LSODA", "RK45", "RK23", "Radau", "BDF")


def _targets(
    loss: str,
    y_train: object,
    n: int,
    f0_train: object | None,
    f0_test: object | None,
    dev: torch.device,
) -> torch.Tensor:
    """Targets for ``loss``: class labels become one-hot rows; each loss checks its own values."""
    y = finite_array(y_train, "y_train", rows=n, match="k_train's N training points", device=dev)
    if loss == "logistic" and not bool(((y == 1) | (y == -1)).all()):
        raise ValueError("logistic loss needs labels y in {-1, +1}")
    if loss != "cross_entropy":
        return y
    if y.ndim == 2:
        if bool((y < 0).any()) or not torch.allclose(y.sum(1), torch.ones_like(y[:, 0]), atol=1e-6):
            raise ValueError(
                "cross_entropy targets of shape (N, k) must be one-hot rows or probabilities "
                "(>= 0, summing to 1)"
            )
        return y
    if bool((y < 0).any()) or not bool((y == y.round()).all()):
        raise ValueError("cross_entropy labels of shape (N,) must be integer classes 0 .. k-1")
    f0 = (
        None
        if f0_train is None
        else finite_array(f0_train, "f0_train", rows=n, match="k_train", device=dev)
    )
    classes = f0.shape[1] if f0 is not None and f0.ndim == 2 else int(y.max()) + 1
    if int(y.max()) >= classes:
        raise ValueError(
            f"cross_entropy labels must be < k = {classes}, the number of columns of f0; "
            f"got {int(y.max())}"
        )
    return torch.nn.functional.one_hot(y.long(), classes).to(torch.float64)


def _loss_gradient(loss: str, f: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d(x_i) = gradient of the loss at f(x_i): (f - y); softmax(f) - y; -y sigmoid(-y f)."""
    from scipy.special import expit, softmax  # here, not above: `import ntk_course` stays fast

    if loss == "mse":
        return f - y
    if loss == "cross_entropy":
        return softmax(f, axis=1) * y.sum(1, keepdims=True) - y
    return -y * expit(-y * f)


def kernel_flow(
    k_train: object,
    y_train: object,
    t: object,
    *,
    loss: str = "cross_entropy",
    k_test_train: object | None = None,
    f0_train: object | None = None,
    f0_test: object | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    method: str = "DOP853",
) -> FlowResult:
    """Kernel gradient descent for a general cost (cross-entropy, logistic), integrated numerically.

    Section 3: kernel gradient descent ``d f_t/dt = -(1/N) K d|f_t``. The cost is
    C(f) = (1/N) sum_i loss(f(x_i), y_i), ``d|f(x_i)`` its gradient in f(x_i), and test points
    follow ``d f_test/dt = -(1/N) K_test,train d|f_t`` (the kernel gradient extends off the data).
    ``loss``: "mse" (``1/2 ||f - y||^2``, the flow :func:`ntk_course.flow.gradient_flow` solves
    exactly), "cross_entropy" (softmax over the k columns of f; y integer labels (N,) or one-hot /
    probability rows (N, k); f has k columns, k taken from f0_train or else from the largest
    label), "logistic" (log(1 + e^{-y f}), y in {-1, +1}, each column independent). Shapes and
    starts are as in :func:`ntk_course.flow.gradient_flow`.

    Integrated on the CPU by scipy.integrate.solve_ivp (``method``, ``rtol``, ``atol``); the test
    points come from the integral of ``d|f_t``, carried along. An explicit method needs about
    lam_max x t_max steps; the implicit ones estimate an (Nk x Nk) Jacobian, for small N only.

    Parameters
    ----------
    k_train : array_like, shape (N, N)
        The kernel on the training points, finite and symmetric (e.g. the limiting NTK).
    y_train : array_like, shape (N,) or (N, k)
        Targets: for "cross_entropy", integer labels 0 .. k-1 (N,) or probability rows (N, k);
        for "logistic", labels in {-1, +1}.
    t : array_like, shape (T,), or float
        Times >= 0 (t = learning rate x steps), in any order; t = 0 gives the start.
    loss : {"cross_entropy", "mse", "logistic"}, default "cross_entropy"
        The loss of the cost.
    k_test_train : array_like, shape (M, N), optional
        The kernel between M test points and the training points; None (default): no test points.
    f0_train : array_like, shape (N,) or (N, k), optional
        The start f_0 on the training points; None (default): 0. A 1-d array broadcasts over the
        k columns.
    f0_test : array_like, shape (M,) or (M, k), optional
        The start on the test points (needs ``k_test_train``); None (default): 0.
    rtol, atol : float, default 1e-8 and 1e-10
        Relative and absolute tolerances of solve_ivp, finite and >= 0.
    method : {"DOP853", "LSODA", "RK45", "RK23", "Radau", "BDF"}, default "DOP853"
        The solve_ivp method.

    Returns
    -------
    FlowResult
        ``t`` (T,), ``f_train`` (T, N) or (T, N, k), ``f_test`` (T, M) or (T, M, k), or None
        without ``k_test_train``, in the dtype of ``k_train`` (float64 unless a floating tensor);
        1-d shapes only when the targets and starts were all 1-d (integer labels for
        "cross_entropy" give k columns). ``eigenvalues`` is None.

    Raises
    ------
    ValueError
        If ``loss`` or ``method`` is unknown; ``rtol`` or ``atol`` is negative or not finite;
        ``k_train`` is not a finite, square, symmetric matrix; ``k_test_train`` is not a finite
        (M, N) matrix; ``t`` is not 0-d or 1-d with finite times >= 0; ``y_train``, ``f0_train``
        or ``f0_test`` is not 1-d or 2-d, non-finite, complex, has the wrong number of rows or
        disagrees on k;
        ``f0_test`` comes without ``k_test_train``; or the targets do not suit the loss (labels not
        in {-1, +1} for "logistic"; for "cross_entropy", rows that are not probabilities, labels
        that are not integers >= 0 or not below the k columns of ``f0_train``).
    RuntimeError
        If solve_ivp fails, or the flow leaves the finite numbers (a too large t or a badly scaled
        kernel).
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {LOSSES}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    rtol, atol = non_negative(rtol, "rtol"), non_negative(atol, "atol")
    k, kx, tt = _setup(k_train, t, k_test_train)
    n, dev = k.shape[0], k.device
    y = _targets(loss, y_train, n, f0_train, f0_test, dev)
    y2, f0, f0x, vector = _columns(y, f0_train, f0_test, kx)
    c = y2.shape[1]

    kn, yn = k.cpu().numpy(), y2.cpu().numpy()
    s0 = f0.cpu().numpy().ravel()
    if kx is not None:
        # and the integral of d|f_s ds, for the test points
        s0 = np.concatenate([s0, np.zeros(n * c)])

    def rhs(_: float, s: np.ndarray) -> np.ndarray:
        d = _loss_gradient(loss, s[: n * c].reshape(n, c), yn)
        df = -(kn @ d).ravel() / n
        return df if kx is None else np.concatenate([df, d.ravel()])

    tn = tt.cpu().numpy()
    uniq, inverse = np.unique(tn, return_inverse=True)
    states = np.tile(s0, (uniq.size, 1))
    later = uniq > 0
    if later.any():
        from scipy.integrate import solve_ivp  # here, not above: `import ntk_course` stays fast

        sol = solve_ivp(
            rhs, (0.0, float(uniq[-1])), s0, method=method, t_eval=uniq[later], rtol=rtol, atol=atol
        )
        if not sol.success:
            raise RuntimeError(f"solve_ivp ({method}) failed: {sol.message}")
        states[later] = sol.y.T
    if not np.isfinite(states).all():
        raise RuntimeError(
            "the flow left the finite numbers; use a smaller t or a better-scaled kernel"
        )
    states = torch.as_tensor(states[inverse], device=dev)
    steps, dtype = tn.size, out_dtype(k_train)
    f_train = _shape(states[:, : n * c].reshape(steps, n, c), vector, dtype)
    f_test = None
    if kx is not None:
        f_test = _shape(f0x - kx @ states[:, n * c :].reshape(steps, n, c) / n, vector, dtype)
    return FlowResult(t=tt.to(dtype), f_train=f_train, f_test=f_test)
