"""Assignment 1: the ReLU NNGP and NTK recursions.

The graders of questions a1.q*, registered with :func:`check`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..activations import get_activation
from ..architecture import Architecture
from ..kernels import nngp, ntk
from ..mlp import NTKMLP
from .answers import (
    _array,
    _call,
    _describe_value,
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
from .verdicts import _Case, _Wrong


# --------------------------------------------------------------------------------------------------
# Assignment 1: the ReLU NNGP and NTK recursions
# --------------------------------------------------------------------------------------------------
def _relu_recursion(
    x: torch.Tensor,
    y: torch.Tensor,
    depth: int,
    beta: float,
    *,
    n0_scaling: bool = True,
    bias_in_recursion: bool = True,
    sigma_term: bool = True,
    beta_power: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """(Sigma^(L), Theta^(L)) for ReLU.

    With switches that reproduce common mistakes (for hints only).
    """
    relu = get_activation("relu")
    b2 = beta**beta_power
    d = x.shape[1] if n0_scaling else 1
    qx, qy = (x * x).sum(1) / d + b2, (y * y).sum(1) / d + b2
    s = x @ y.T / d + b2
    theta = s.clone()
    for _ in range(depth - 1):
        e_s, e_d = relu.expectations(qx[:, None], s, qy[None, :])
        s_new = e_s + (b2 if bias_in_recursion else 0.0)
        theta = theta * e_d + (s_new if sigma_term else 0.0)
        s = s_new
        qx = relu.expectations(qx, qx, qx)[0] + (b2 if bias_in_recursion else 0.0)
        qy = relu.expectations(qy, qy, qy)[0] + (b2 if bias_in_recursion else 0.0)
    return _np(s), _np(theta)


def _kernel_inputs(
    g: torch.Generator, depths: list[int]
) -> list[tuple[str, torch.Tensor, torch.Tensor, int, float]]:
    """Random (x, y, depth, beta) for the kernel questions: several n_0, one case with y = x."""
    out = []
    for i, depth in enumerate(depths):
        n0 = int(torch.randint(2, 9, (1,), generator=g))
        n, m = (
            int(torch.randint(3, 7, (1,), generator=g)),
            int(torch.randint(3, 7, (1,), generator=g)),
        )
        beta = [0.1, 0.5, 0.0, 0.3][i % 4]
        x = _gaussian(g, n, n0, 1.5)
        y = x.clone() if i == len(depths) - 1 else _gaussian(g, m, n0, 1.5)
        label = (
            f"depth L={depth}, n0={n0}, beta={beta}, x {tuple(x.shape)}, "
            f"y {'= x' if i == len(depths) - 1 else tuple(y.shape)}"
        )
        out.append((label, x, y, depth, beta))
    return out


def _base_case_hint(cases: list[_Case], hints: list[str]) -> list[str]:
    if hints:
        return hints
    base = [c for c in cases if c.label.startswith("depth L=1,")]
    rest = [c for c in cases if not c.label.startswith("depth L=1,")]
    if base and all(c.ok for c in base) and not all(c.ok for c in rest):
        return ["depth 1 is right, so the base case is: look at the step from layer l to l+1."]
    if base and not all(c.ok for c in base):
        return ["already wrong at depth 1: check the base case x.x'/n0 + beta^2."]
    return hints


@_register(
    "a1.q1",
    "ReLU Gaussian expectations",
    "a function relu_expectations(q_xx, q_xy, q_yy) of three float64 tensors of shape (K,) "
    "returning the pair (E[relu(u) relu(v)], E[step(u) step(v)]), two tensors of shape (K,)",
    parts={"E[relu(u) relu(v)]": r"E\[relu", "E[step(u) step(v)]": r"E\[step"},
)
def _a1_q1(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    fn = _function(answer, "relu_expectations(q_xx, q_xy, q_yy)")
    g = _gen(seed)
    k = 40
    var_x = torch.exp(torch.empty(k, dtype=torch.float64).uniform_(-2, 1, generator=g))
    var_y = torch.exp(torch.empty(k, dtype=torch.float64).uniform_(-2, 1, generator=g))
    corr = torch.empty(k, dtype=torch.float64).uniform_(-0.98, 0.98, generator=g)
    edge = (var_x * var_y).sqrt() * (1 + 4 * torch.finfo(torch.float64).eps)
    groups = {
        f"{k} random covariances": (var_x, corr * (var_x * var_y).sqrt(), var_y),
        "correlation +1 (x' = x)": (var_x[:8], var_x[:8].clone(), var_x[:8].clone()),
        "correlation -1 (x' = -x)": (var_y[:8], -var_y[:8], var_y[:8].clone()),
        # Rounding can push q_xy / sqrt(q_xx q_yy) a few ulps past +-1: the answer must clip it.
        "correlation rounded just above +1": (var_x[:8], edge[:8], var_y[:8]),
        "correlation rounded just below -1": (var_x[8:16], -edge[8:16], var_y[8:16]),
    }
    relu = get_activation("relu")
    cases: list[_Case] = []
    tol = 1e-6
    hints: list[str] = []
    for label, (a, b, c) in groups.items():
        out = _call(fn, a.clone(), b.clone(), c.clone())
        if not isinstance(out, tuple | list) or len(out) != 2:
            raise _Wrong(
                "relu_expectations must return a pair (E[relu(u)relu(v)], E[step(u)step(v)]); got "
                f"{_describe_value(out)}"
            )
        try:
            e_s = _array(
                out[0],
                "the first result E[relu(u) relu(v)]",
                (a.shape[0],),
                "(one value per covariance)",
            )
            e_d = _array(
                out[1],
                "the second result E[step(u) step(v)]",
                (a.shape[0],),
                "(one value per covariance)",
            )
        except _Wrong as why:
            if "non-finite" in str(why) and "correlation" in label:
                raise _Wrong(
                    f"{why}, at {label}: the cosine q_xy / sqrt(q_xx q_yy) can round to just above "
                    "1 there; clip it to [-1, 1] or form the angle with atan2"
                ) from None
            raise
        r_s, r_d = (_np(t) for t in relu.expectations(a, b, c))
        # Near correlation -1 both expectations vanish: measure the error on the scale of the values
        # at correlation 0 instead (q/(2 pi) and 1/4 per entry), not relative to zero.
        floors = (
            float(np.linalg.norm(_np((a * c).sqrt()))) / (2 * math.pi),
            0.25 * math.sqrt(a.shape[0]),
        )
        for (name, ans, ref), floor in zip(
            (("E[relu(u) relu(v)]", e_s, r_s), ("E[step(u) step(v)]", e_d, r_d)), floors
        ):
            err = _rel(ans, ref, floor)
            cases.append(_Case(f"{name}, {label}", err <= tol, err, tol))
    if not all(c.ok for c in cases):
        wrong_s = [c for c in cases if not c.ok and c.label.startswith("E[relu")]
        wrong_d = [c for c in cases if not c.ok and c.label.startswith("E[step")]
        if wrong_d and not wrong_s:
            hints.append(
                "E[relu relu] is right: only the step-function expectation (the angle term) is off."
            )
        if wrong_s and not wrong_d:
            hints.append(
                "E[step step] is right, so the angle is right: look at the terms of E[relu relu]."
            )
    return cases, hints


def _kernel_question(answer: object, seed: int, which: str) -> tuple[list[_Case], list[str]]:
    g = _gen(seed)
    name = "relu_nngp" if which == "sigma" else "relu_ntk"
    inputs = []
    for label, x, y, depth, beta in _kernel_inputs(g, [1, 2, 3, 5]):

        def reference(x=x, y=y, depth=depth, beta=beta) -> np.ndarray:
            f = nngp if which == "sigma" else ntk
            return _np(f(x, y, depth=depth, beta=beta))

        def variants(x=x, y=y, depth=depth, beta=beta) -> dict[str, np.ndarray]:
            pick = 0 if which == "sigma" else 1
            other = (
                {
                    "the NTK Theta^(L), not the NNGP Sigma^(L)": _np(
                        ntk(x, y, depth=depth, beta=beta)
                    )
                }
                if which == "sigma"
                else {
                    "the NNGP Sigma^(L), not the NTK Theta^(L)": _np(
                        nngp(x, y, depth=depth, beta=beta)
                    ),
                    "the recursion without the + Sigma^(l+1) term": _relu_recursion(
                        x, y, depth, beta, sigma_term=False
                    )[1],
                }
            )
            return {
                **other,
                "a base case without the 1/n0 (x.x' + beta^2)": _relu_recursion(
                    x, y, depth, beta, n0_scaling=False
                )[pick],
                "beta instead of beta^2": _relu_recursion(x, y, depth, beta, beta_power=1)[pick],
                "a recursion that adds beta^2 only in the base case": _relu_recursion(
                    x, y, depth, beta, bias_in_recursion=False
                )[pick],
                "depth L-1 (one layer too few)": _relu_recursion(x, y, max(depth - 1, 1), beta)[
                    pick
                ],
                "depth L+1 (one layer too many)": _relu_recursion(x, y, depth + 1, beta)[pick],
            }

        inputs.append(
            _Input(
                label,
                (x, y),
                {"depth": depth, "beta": beta},
                reference,
                (x.shape[0], y.shape[0]),
                "(N, M): one row per point of x, one column per point of y",
                variants,
            )
        )
    # 1e-6: far above round-off, including the sqrt(eps) sensitivity of the angle at x = x', far
    # below any formula slip.
    cases, hints, _, _ = _grade_function(
        answer, f"{name}(x, y, depth, beta)", inputs, 1e-6, output=f"the result of {name}"
    )
    return cases, _base_case_hint(cases, hints)


_DEPTH_PARTS = {
    "the base case (depth 1)": r"depth L=1,",
    "the recursion (depth > 1)": r"depth L=(?!1,)",
}


@_register(
    "a1.q2",
    "the ReLU NNGP Sigma^(L)",
    "a function relu_nngp(x, y, depth, beta) of float64 tensors x (N, n0), y (M, n0) returning "
    "Sigma^(L)(x, y), shape (N, M)",
    parts=_DEPTH_PARTS,
)
def _a1_q2(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    return _kernel_question(answer, seed, "sigma")


@_register(
    "a1.q3",
    "the ReLU NTK Theta^(L)",
    "a function relu_ntk(x, y, depth, beta) of float64 tensors x (N, n0), y (M, n0) returning "
    "Theta_inf^(L)(x, y), shape (N, M)",
    parts=_DEPTH_PARTS,
)
def _a1_q3(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    return _kernel_question(answer, seed, "theta")


def _covariance(
    widths: list[int], beta: float, count: int, seed: int, x: torch.Tensor
) -> np.ndarray:
    """(1/K) sum_k f_k(x) f_k(x)^T over the ensemble of ReLU networks that a1.q4 pins."""
    nets = NTKMLP(
        widths, "relu", beta, ensemble=count, generator=torch.Generator().manual_seed(seed)
    )
    with torch.no_grad():
        f = nets(x.float())[..., 0].double()
    return _np(f.T @ f / count)


@_register(
    "a1.q4",
    "the output covariance of wide networks",
    "a function network_covariance(x, width, depth, beta, ensemble, seed) returning the (N, N) "
    "matrix (1/ensemble) sum_k f_k(x) f_k(x)^T over the ReLU networks of NTKMLP([n0] + [width] "
    "* (depth - 1) + [1], beta=beta, ensemble=ensemble, "
    "generator=torch.Generator().manual_seed(seed))",
)
def _a1_q4(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    g = _gen(seed)
    fn = _function(answer, "network_covariance(x, width, depth, beta, ensemble, seed)")
    cases, hints, tol = [], [], 1e-5
    for depth, n0 in ((2, 3), (3, 5)):
        x = _gaussian(g, 4, n0, 1.2)
        width, count, beta = 128, 1000, float(torch.empty(()).uniform_(0.1, 0.6, generator=g))
        draw = seed + depth
        out = _array(
            _call(fn, x.clone(), width, depth, beta, count, draw),
            "the result of network_covariance",
            (4, 4),
            "(N, N) for N = 4 points",
        )
        arch = Architecture(depth, "relu", beta=beta)
        err = _rel(out, _covariance(arch.widths(n0, width), beta, count, draw, x))
        label = f"depth L={depth}, width {width}, beta={beta:.2f}, {count} networks, seed {draw}"
        cases.append(_Case(label, err <= tol, err, tol, "compared with the same draw of networks"))
        if err > tol and _rel(out, _covariance(arch.widths(n0, width), 0.0, count, draw, x)) <= tol:
            hints = ["your networks have no biases: NTKMLP's beta must be the argument beta."]
        elif err > tol and not hints:
            hints = [
                "build the networks exactly as the question says: one NTKMLP with "
                "ensemble=ensemble and generator=torch.Generator().manual_seed(seed)."
            ]
    return cases, hints


@_register(
    "a1.q5",
    "the ReLU kernels on the diagonal for beta = 0",
    "a function relu_diagonal(sq_norm, n0, depth) returning the pair of numbers (Sigma^(L)(x, x), "
    "Theta^(L)(x, x)) for ReLU with beta = 0 and ||x||^2 = sq_norm, in closed form",
    parts={"Sigma^(L)(x, x)": r"Sigma", "Theta^(L)(x, x)": r"Theta"},
)
def _a1_q5(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    fn = _function(answer, "relu_diagonal(sq_norm, n0, depth)")
    rng = np.random.default_rng(seed)
    cases, tol = [], 1e-6
    same = []
    for depth in (1, 2, 4, 7):
        n0 = int(rng.integers(1, 10))
        sq = float(rng.uniform(0.5, 6.0))
        out = _call(fn, sq, n0, depth)
        if not isinstance(out, tuple | list) or len(out) != 2:
            raise _Wrong(
                "relu_diagonal must return a pair of numbers (Sigma, Theta); got "
                f"{_describe_value(out)}"
            )
        s = _scalar(out[0], "the first number, Sigma^(L)(x, x)")
        t = _scalar(out[1], "the second number, Theta^(L)(x, x)")
        x = torch.zeros(1, n0, dtype=torch.float64)
        x[0, 0] = math.sqrt(sq)
        rs, rt = float(nngp(x, depth=depth, beta=0.0)), float(ntk(x, depth=depth, beta=0.0))
        es, et = abs(s - rs) / rs, abs(t - rt) / rt
        cases.append(
            _Case(
                f"Sigma^(L)(x, x), depth L={depth}, n0={n0}, ||x||^2={sq:.3g}", es <= tol, es, tol
            )
        )
        cases.append(
            _Case(
                f"Theta^(L)(x, x), depth L={depth}, n0={n0}, ||x||^2={sq:.3g}", et <= tol, et, tol
            )
        )
        if depth > 1:
            same.append(math.isclose(s, t, rel_tol=1e-12))
    wrong = not all(c.ok for c in cases)
    hints = (
        [
            "your Theta equals your Sigma beyond depth 1: the NTK also collects the terms of the "
            "lower layers."
        ]
        if wrong and all(same)
        else []
    )
    return cases, hints
