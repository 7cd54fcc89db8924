"""Assignment 2: the empirical NTK by hand.

The graders of questions a2.q*, registered with :func:`check`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..architecture import Architecture
from ..empirical import empirical_ntk
from ..mlp import NTKMLP
from ..training import train
from .answers import (
    _array,
    _call,
    _function,
    _gaussian,
    _gen,
    _grade_function,
    _Input,
    _np,
    _rel,
    _scalar,
)
from .grading import _register
from .verdicts import _Case


# --------------------------------------------------------------------------------------------------
# Assignment 2: the empirical NTK by hand
# --------------------------------------------------------------------------------------------------
def _small_models(g: torch.Generator) -> list[tuple[str, NTKMLP, torch.Tensor]]:
    out = []
    for widths, act in (([3, 12, 10, 1], "relu"), ([5, 16, 1], "tanh"), ([2, 8, 9, 7, 1], "relu")):
        beta = float(torch.empty(1).uniform_(0.05, 0.6, generator=g))
        model = NTKMLP(widths, act, beta, dtype=torch.float64, generator=g)
        n = int(torch.randint(3, 7, (1,), generator=g))
        out.append(
            (
                f"NTKMLP(widths={widths}, {act}, beta={beta:.2f}), {n} points",
                model,
                _gaussian(g, n, widths[0]),
            )
        )
    return out


@_register(
    "a2.q1",
    "the parameter Jacobian",
    "a function parameter_jacobian(model, x) returning the (N, P) matrix of derivatives d f(x_i) / "
    "d theta_p of a one-output model, one row per point, one column per parameter (every weight "
    "and bias)",
)
def _a2_q1(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    fn = _function(answer, "parameter_jacobian(model, x)")
    cases, tol = [], 1e-6
    for label, model, x in _small_models(_gen(seed)):
        p = sum(t.numel() for t in model.parameters())
        out = _call(fn, model, x.clone())
        jac = _array(
            out,
            "the Jacobian",
            (x.shape[0], p),
            f"(N, P): N = {x.shape[0]} points, P = {p} parameters of the model",
        )
        ref = _np(empirical_ntk(model, x))
        err = _rel(jac @ jac.T, ref)
        cases.append(
            _Case(
                label,
                err <= tol,
                err,
                tol,
                "compared through J J^T, which does not depend on the order of the parameters",
            )
        )
    return cases, []


@_register(
    "a2.q2",
    "the empirical NTK from Jacobians",
    "a function empirical_ntk_by_hand(model, x, y) returning Theta(x, y) = J(x) J(y)^T, shape (N, "
    "M), for a one-output model",
)
def _a2_q2(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    g = _gen(seed)
    inputs = []
    for label, model, x in _small_models(g):
        y = _gaussian(g, 4, x.shape[1])
        inputs.append(
            _Input(
                f"{label}, y {tuple(y.shape)}",
                (model, x, y),
                {},
                lambda model=model, x=x, y=y: _np(empirical_ntk(model, x, y)),
                (x.shape[0], 4),
                "(N, M): one row per point of x, one column per point of y",
            )
        )
    cases, hints, _, _ = _grade_function(
        answer,
        "empirical_ntk_by_hand(model, x, y)",
        inputs,
        1e-6,
        output="the result of empirical_ntk_by_hand",
    )
    return cases, hints


def _two_layer(
    w0, b0, w1, x, y, beta, *, last_bias=True, inner_bias=True, n0_scaling=True, w1_factor=True
) -> np.ndarray:
    """Closed-form NTK of a one-hidden-layer ReLU NTKMLP.

    With switches reproducing mistakes (hints only).
    """
    n1, n0 = w0.shape
    hx, hy = x @ w0.T / math.sqrt(n0) + beta * b0, y @ w0.T / math.sqrt(n0) + beta * b0
    ax, ay, dx, dy = hx.clamp(min=0), hy.clamp(min=0), (hx > 0).double(), (hy > 0).double()
    w2 = w1[0] ** 2 if w1_factor else torch.ones_like(w1[0])
    first = x @ y.T / (n0 if n0_scaling else 1) + (beta**2 if inner_bias else 0.0)
    return _np(ax @ ay.T / n1 + (beta**2 if last_bias else 0.0) + ((dx * w2) @ dy.T / n1) * first)


@_register(
    "a2.q3",
    "the NTK of a one-hidden-layer ReLU network in closed form",
    "a function two_layer_ntk(W0, b0, W1, x, y, beta) of float64 tensors W0 (n1, n0), b0 (n1,), W1 "
    "(1, n1), x (N, n0), y (M, n0) returning the empirical NTK Theta(x, y), shape (N, M), without "
    "autograd",
)
def _a2_q3(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    g = _gen(seed)
    inputs = []
    for n0, n1 in ((3, 20), (6, 50), (2, 7)):
        beta = float(torch.empty(1).uniform_(0.1, 0.8, generator=g))
        model = NTKMLP([n0, n1, 1], "relu", beta, dtype=torch.float64, generator=g)
        x, y = _gaussian(g, 5, n0), _gaussian(g, 4, n0)
        w0, b0, w1 = (t.detach() for t in (model.weights[0], model.biases[0], model.weights[1]))
        inputs.append(
            _Input(
                f"n0={n0}, n1={n1}, beta={beta:.2f}, x (5, {n0}), y (4, {n0})",
                (w0, b0, w1, x, y, beta),
                {},
                lambda model=model, x=x, y=y: _np(empirical_ntk(model, x, y)),
                (5, 4),
                "(N, M): one row per point of x, one column per point of y",
                lambda w0=w0, b0=b0, w1=w1, x=x, y=y, beta=beta: {
                    "the formula without the beta^2 of the output bias": _two_layer(
                        w0, b0, w1, x, y, beta, last_bias=False
                    ),
                    (
                        "the formula without the beta^2 of the hidden biases (x.x'/n0 alone)"
                    ): _two_layer(w0, b0, w1, x, y, beta, inner_bias=False),
                    "the formula without the 1/n0 in x.x'": _two_layer(
                        w0, b0, w1, x, y, beta, n0_scaling=False
                    ),
                    "the formula without the factor (W1_i)^2": _two_layer(
                        w0, b0, w1, x, y, beta, w1_factor=False
                    ),
                },
            )
        )
    cases, hints, _, _ = _grade_function(
        answer,
        "two_layer_ntk(W0, b0, W1, x, y, beta)",
        inputs,
        1e-6,
        output="the result of two_layer_ntk",
    )
    return cases, hints


def _factor_hint(values: list[float], refs: list[float]) -> list[str]:
    """A hint when every value is the reference times one constant (a normalisation slip)."""
    ratios = [v / r for v, r in zip(values, refs) if r != 0]
    if (
        len(ratios) == len(values)
        and ratios
        and abs(ratios[0] - 1) > 1e-2
        and max(ratios) - min(ratios) <= 1e-3 * abs(ratios[0])
    ):
        return [
            f"your numbers are the expected ones times a constant factor of about {ratios[0]:.4g}: "
            "look for a missing or extra normalisation."
        ]
    return []


def _prescribed_network(arch: Architecture, n0: int, width: int, seed: int) -> NTKMLP:
    """Network k of questions a2.q4 and a2.q5: drawn with ``manual_seed(seed + k)``, float32."""
    return arch.network(n0, width, generator=torch.Generator().manual_seed(seed))


@_register(
    "a2.q4",
    "the deviation of the empirical NTK from its limit",
    "a function ntk_deviation(width, x, depth, beta, ensemble, seed) returning one number: the "
    "mean over the networks k = 0 .. ensemble-1, each NTKMLP([n0] + [width] * (depth - 1) + [1], "
    "beta=beta, generator=torch.Generator().manual_seed(seed + k)), of ||Theta_k - Theta_inf||_F / "
    "||Theta_inf||_F on the points x",
)
def _a2_q4(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    fn = _function(answer, "ntk_deviation(width, x, depth, beta, ensemble, seed)")
    g = _gen(seed)
    cases, tol, hints = [], 1e-4, []
    values, refs = [], []
    for width, depth in ((16, 2), (128, 3)):
        x = _gaussian(g, 5, 4, 1.5)
        value = _scalar(
            _call(fn, width, x.clone(), depth, 0.1, 3, seed + width), "the result of ntk_deviation"
        )
        arch = Architecture(depth, "relu", beta=0.1)
        limit = arch.ntk(x)
        kernels = [
            empirical_ntk(_prescribed_network(arch, 4, width, seed + width + k), x).double()
            for k in range(3)
        ]
        ref = float(np.mean([float((k - limit).norm() / limit.norm()) for k in kernels]))
        values.append(value)
        refs.append(ref)
        err = abs(value - ref) / ref
        cases.append(
            _Case(f"width {width}, depth L={depth}, 3 networks, x (5, 4)", err <= tol, err, tol)
        )
        sigma = arch.nngp(x)
        if (
            err > tol
            and abs(value - np.mean([float((k - sigma).norm() / sigma.norm()) for k in kernels]))
            <= tol * ref
        ):
            hints = [
                "your numbers match a comparison with Sigma^(L); the limit of the NTK is "
                "Theta_inf^(L)."
            ]
        elif (
            err > tol
            and abs(value - np.mean([float((k - limit).norm()) for k in kernels])) <= tol * ref * 10
        ):
            hints = ["your numbers match the deviation without dividing by ||Theta_inf||_F."]
    if not hints and not all(c.ok for c in cases):
        hints = _factor_hint(values, refs) or [
            "draw network k exactly as prescribed (default float32, seed + k) so that it can be "
            "compared."
        ]
    return cases, hints


@_register(
    "a2.q5",
    "the drift of the empirical NTK during training",
    "a function ntk_drift(width, x, y, depth, beta, steps, lr, ensemble, seed) returning one "
    "number: the mean over the networks of a2.q4 (seed + k) of ||Theta_T - Theta_0||_F / "
    "||Theta_0||_F on x after `steps` steps of full-batch gradient descent with learning rate lr "
    "on C = 1/(2N) sum_i (f(x_i) - y_i)^2",
)
def _a2_q5(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    fn = _function(answer, "ntk_drift(width, x, y, depth, beta, steps, lr, ensemble, seed)")
    g = _gen(seed)
    cases, tol = [], 1e-3
    values, refs = [], []
    steps, lr = 10, 1.0
    for width, depth in ((16, 2), (48, 3)):
        x = _gaussian(g, 6, 2)
        y = x[:, 0] * x[:, 1]
        value = _scalar(
            _call(fn, width, x.clone(), y.clone(), depth, 0.1, steps, lr, 2, seed + width),
            "the result of ntk_drift",
        )
        drifts = []
        for k in range(2):
            model = _prescribed_network(
                Architecture(depth, "relu", beta=0.1), 2, width, seed + width + k
            )
            record = train(
                model,
                x.float(),
                y.float(),
                steps=steps,
                lr=lr,
                record_at=[0, steps],
                kernel_points=x.float(),
            )
            assert record.kernel_drift is not None
            drifts.append(float(record.kernel_drift[-1]))
        ref = float(np.mean(drifts))
        values.append(value)
        refs.append(ref)
        err = abs(value - ref) / ref
        cases.append(
            _Case(
                f"width {width}, depth L={depth}, {steps} steps of lr {lr}, 2 networks, 6 points",
                err <= tol,
                err,
                tol,
                "the tolerance allows float32 round-off along the training",
            )
        )
    hints = (
        []
        if all(c.ok for c in cases)
        else _factor_hint(values, refs)
        or [
            "draw network k exactly as in a2.q4, use the mean cost C (with its 1/N), and compare "
            "the kernels at step 0 and step `steps`."
        ]
    )
    return cases, hints
