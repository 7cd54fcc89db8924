"""Assignment 3: least-squares gradient flow, early stopping, trained networks.

The graders of questions a3.q*, registered with :func:`check`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..empirical import empirical_ntk
from ..flow import gradient_flow
from ..kernels import ntk
from ..mlp import NTKMLP
from ..spectral import kernel_pca
from .answers import (
    _call,
    _function,
    _gaussian,
    _gen,
    _grade_function,
    _Input,
    _np,
    _scalar,
)
from .grading import _register
from .verdicts import _Case


# --------------------------------------------------------------------------------------------------
# Assignment 3: least-squares gradient flow, early stopping, trained networks
# --------------------------------------------------------------------------------------------------
def _flow_problem(g: torch.Generator, n: int, m: int = 0) -> dict[str, torch.Tensor]:
    n0 = 3
    x = _gaussian(g, n, n0)
    xt = _gaussian(g, m, n0) if m else None
    out = {
        "K": ntk(x, depth=3, beta=0.1),
        "y": torch.randn(n, generator=g, dtype=torch.float64),
        "f0": 0.5 * torch.randn(n, generator=g, dtype=torch.float64),
        "t": torch.tensor([0.0, 0.3, 3.0, 30.0, 300.0], dtype=torch.float64),
    }
    if xt is not None:
        out["Kx"] = ntk(xt, x, depth=3, beta=0.1)
        out["f0x"] = 0.5 * torch.randn(m, generator=g, dtype=torch.float64)
    return out


@_register(
    "a3.q1",
    "the least-squares flow on the training points",
    "a function flow_train(K, y, f0, t) of a float64 (N, N) kernel K, targets y (N,), start f0 "
    "(N,) and times t (T,) returning f_t on the training points, shape (T, N)",
)
def _a3_q1(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    g = _gen(seed)
    inputs = []
    for n in (6, 11):
        p = _flow_problem(g, n)
        inputs.append(
            _Input(
                f"N={n} training points, times {[float(v) for v in p['t']]}",
                (p["K"], p["y"], p["f0"], p["t"]),
                {},
                lambda p=p: _np(gradient_flow(p["K"], p["y"], p["t"], f0_train=p["f0"]).f_train),
                (5, n),
                "(T, N): one row per time, one column per training point",
                lambda p=p, n=n: {
                    "the flow d f/dt = -K (f - y), without the 1/N of the paper's cost": _np(
                        gradient_flow(p["K"] * n, p["y"], p["t"], f0_train=p["f0"]).f_train
                    ),
                    "a flow started from f_0 = 0 instead of f0": _np(
                        gradient_flow(p["K"], p["y"], p["t"]).f_train
                    ),
                },
            )
        )
    cases, hints, _, _ = _grade_function(
        answer, "flow_train(K, y, f0, t)", inputs, 1e-8, output="the result of flow_train"
    )
    return cases, hints


@_register(
    "a3.q2",
    "the least-squares flow off the training points",
    "a function flow_test(K, K_test, y, f0, f0_test, t) of K (N, N), K_test = K(x_test, x_train) "
    "(M, N), y (N,), f0 (N,), f0_test (M,), t (T,) returning f_t on the test points, shape (T, M)",
)
def _a3_q2(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    g = _gen(seed)
    inputs = []
    for n, m in ((6, 4), (10, 7)):
        p = _flow_problem(g, n, m)
        inputs.append(
            _Input(
                f"N={n} training and M={m} test points",
                (p["K"], p["Kx"], p["y"], p["f0"], p["f0x"], p["t"]),
                {},
                lambda p=p: _np(
                    gradient_flow(
                        p["K"],
                        p["y"],
                        p["t"],
                        k_test_train=p["Kx"],
                        f0_train=p["f0"],
                        f0_test=p["f0x"],
                    ).f_test
                ),
                (5, m),
                "(T, M): one row per time, one column per test point",
                lambda p=p, n=n: {
                    "the flow without the 1/N of the paper's cost": _np(
                        gradient_flow(
                            p["K"] * n,
                            p["y"],
                            p["t"],
                            k_test_train=p["Kx"] * n,
                            f0_train=p["f0"],
                            f0_test=p["f0x"],
                        ).f_test
                    ),
                    "a flow whose test values start at 0 instead of f0_test": _np(
                        gradient_flow(
                            p["K"], p["y"], p["t"], k_test_train=p["Kx"], f0_train=p["f0"]
                        ).f_test
                    ),
                    "a flow started from f_0 = 0 on every point": _np(
                        gradient_flow(p["K"], p["y"], p["t"], k_test_train=p["Kx"]).f_test
                    ),
                },
            )
        )
    cases, hints, _, _ = _grade_function(
        answer,
        "flow_test(K, K_test, y, f0, f0_test, t)",
        inputs,
        1e-8,
        output="the result of flow_test",
    )
    return cases, hints


@_register(
    "a3.q3",
    "the residual along the kernel principal components",
    "a function residual_energy(K, y, f0, t) returning the (T, N) array of c_i(t)^2, where c_i(t) "
    "= <f_t - f*, f^(i)>_p_in and f^(i) are the eigenfunctions of Pi = K/N normalised in p_in, in "
    "order of decreasing eigenvalue",
)
def _a3_q3(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    g = _gen(seed)
    inputs = []
    for n in (5, 9):
        p = _flow_problem(g, n)

        def energy(p=p, n=n, euclid=False, flip=False) -> np.ndarray:
            comps = kernel_pca(p["K"]).components / (math.sqrt(n) if euclid else 1.0)
            comps = comps.flip(1) if flip else comps
            res = gradient_flow(p["K"], p["y"], p["t"], f0_train=p["f0"]).f_train - p["y"]
            c = res @ comps / (1.0 if euclid else n)
            return _np(c**2)

        inputs.append(
            _Input(
                f"N={n} training points, times {[float(v) for v in p['t']]}",
                (p["K"], p["y"], p["f0"], p["t"]),
                {},
                energy,
                (5, n),
                "(T, N): one row per time, one column per component",
                lambda energy=energy: {
                    (
                        "components normalised to Euclidean length 1 instead of ||f^(i)||_p_in = 1"
                    ): energy(euclid=True),
                    "components in order of increasing eigenvalue": energy(flip=True),
                },
            )
        )
    cases, hints, _, _ = _grade_function(
        answer, "residual_energy(K, y, f0, t)", inputs, 1e-7, output="the result of residual_energy"
    )
    return cases, hints


def _stopping_problem(g: torch.Generator, n: int, noise: float) -> dict[str, torch.Tensor]:
    x, xt = _gaussian(g, n, 2), _gaussian(g, 200, 2)
    y = x[:, 0] * x[:, 1] + noise * torch.randn(n, generator=g, dtype=torch.float64)
    return {
        "K": ntk(x, depth=3, beta=0.1),
        "Kx": ntk(xt, x, depth=3, beta=0.1),
        "y": y,
        "yt": xt[:, 0] * xt[:, 1],
        "t": torch.logspace(-1, 4, 31, dtype=torch.float64),
    }


@_register(
    "a3.q4",
    "the early-stopping time",
    "a function early_stopping_time(K, K_test, y, y_test, t) returning the time in t (a number) at "
    "which the flow started from f_0 = 0 has the smallest test error "
    "mean((f_t(x_test) - y_test)^2)",
)
def _a3_q4(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    fn = _function(answer, "early_stopping_time(K, K_test, y, y_test, t)")
    g = _gen(seed)
    cases, hints = [], []
    for n, noise in ((24, 0.6), (40, 0.4)):
        p = _stopping_problem(g, n, noise)
        value = _scalar(
            _call(
                fn, p["K"].clone(), p["Kx"].clone(), p["y"].clone(), p["yt"].clone(), p["t"].clone()
            ),
            "the result of early_stopping_time",
        )
        times = p["t"].numpy()
        where = np.flatnonzero(np.isclose(times, value, rtol=1e-9, atol=0))
        label = f"N={n} noisy training points (noise {noise}), 200 test points, {len(times)} times"
        if where.size == 0:
            cases.append(
                _Case(
                    label,
                    False,
                    None,
                    None,
                    "your time is not one of the times in t: return an entry of t",
                )
            )
            continue
        f_test = gradient_flow(p["K"], p["y"], p["t"], k_test_train=p["Kx"]).f_test
        mse = _np(((f_test - p["yt"]) ** 2).mean(1))
        excess = float(mse[where[0]] / mse.min() - 1)
        cases.append(
            _Case(
                label,
                excess <= 1e-9,
                excess,
                1e-9,
                measure="excess test error (test error at your time / smallest one - 1)",
            )
        )
        if excess > 1e-9 and where[0] == len(times) - 1:
            hints = [
                "you returned the last time, which trains to convergence: the question asks where "
                "the test error is smallest."
            ]
        elif excess > 1e-9:
            train_mse = _np(((gradient_flow(p["K"], p["y"], p["t"]).f_train - p["y"]) ** 2).mean(1))
            if train_mse[where[0]] == train_mse.min():
                hints = [
                    "your time minimises the training error; the question asks for the test error."
                ]
    return cases, hints


@_register(
    "a3.q5",
    "the infinite-width prediction for a given network",
    "a function flow_prediction(model, x_train, y_train, x_test, t) returning the (T, M) values at "
    "x_test of the least-squares flow with the limiting NTK Theta_inf of the model's architecture, "
    "started from the model's own outputs f_0",
)
def _a3_q5(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    g = _gen(seed)
    inputs = []
    for widths in ([2, 64, 64, 1], [3, 32, 1]):
        model = NTKMLP(widths, beta=0.1, dtype=torch.float64, generator=g)
        x, xt = _gaussian(g, 6, widths[0]), _gaussian(g, 5, widths[0])
        y = torch.randn(6, generator=g, dtype=torch.float64)
        t = torch.tensor([0.0, 1.0, 10.0, 100.0], dtype=torch.float64)

        def reference(
            model=model, x=x, xt=xt, y=y, t=t, start=True, n_scale=1.0, empirical=False
        ) -> np.ndarray:
            kernel = (
                (lambda a, b=None: empirical_ntk(model, a, b))
                if empirical
                else (lambda a, b=None: ntk(a, b, depth=model.depth, beta=model.beta))
            )
            with torch.no_grad():
                f0, f0x = model(x)[:, 0], model(xt)[:, 0]
            kw = {"f0_train": f0, "f0_test": f0x} if start else {}
            return _np(
                gradient_flow(
                    kernel(x) * n_scale, y, t, k_test_train=kernel(xt, x) * n_scale, **kw
                ).f_test
            )

        inputs.append(
            _Input(
                f"NTKMLP(widths={widths}), 6 training and 5 test points, times "
                f"{[float(v) for v in t]}",
                (model, x, y, xt, t),
                {},
                reference,
                (4, 5),
                "(T, M): one row per time, one column per test point",
                lambda reference=reference: {
                    "a flow started from f_0 = 0 instead of the network's outputs": reference(
                        start=False
                    ),
                    "the flow without the 1/N of the paper's cost": reference(n_scale=6.0),
                    (
                        "the flow with the network's empirical NTK instead of the limiting "
                        "Theta_inf"
                    ): reference(empirical=True),
                },
            )
        )
    cases, hints, _, _ = _grade_function(
        answer,
        "flow_prediction(model, x_train, y_train, x_test, t)",
        inputs,
        1e-7,
        output="the result of flow_prediction",
    )
    return cases, hints
