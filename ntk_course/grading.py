"""Checks for the course assignments (``book/assignments``): ``check("a1.q2", answer)``.

A student passes the *function* they wrote (or, for a few questions, a number) to :func:`check`. The
grader of that question draws its own random inputs (seeded per call, never shown), runs the answer on
them, compares the result with the reference implementation in ``ntk_course`` (``nngp``, ``ntk``,
``empirical_ntk``, ``flow.gradient_flow``, ``spectral.kernel_pca``, ``hermite.*``) and prints a short
verdict: ✓ or ✗, the relative error on each input against the tolerance, and, for a wrong answer, what
was expected (kind and shape) and, when a known mistake explains the numbers, a hint. It never prints
a reference value.

A function that still raises ``NotImplementedError`` (the stub of the student notebook) is reported as
"not answered yet"; any other exception, a wrong shape, NaNs or a non-callable get a message that says
what was wrong. ``check`` returns a :class:`CheckResult`, true exactly when the answer passed.

With the environment variable ``NTK_COURSE_STRICT_CHECKS=1`` a failed check raises ``AssertionError``
instead of only printing, so that a CI run over the *solved* notebooks fails on a wrong model solution.
"""
from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.special import erf as _np_erf

from .activations import get_activation, polynomial
from .empirical import empirical_ntk
from .flow import gradient_flow
from .hermite import hermite_coefficients, rank_bound, schoenberg_positive_definite, sigma2_power_series
from .kernels import nngp, ntk
from .mlp import NTKMLP
from .spectral import kernel_pca
from .training import train

STRICT_ENV = "NTK_COURSE_STRICT_CHECKS"


# --------------------------------------------------------------------------------------------------
# Results and the check entry point
# --------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class CheckResult:
    """The verdict of one :func:`check`: true when the answer passed.

    ``error`` is the largest relative error met (None where the question compares something else),
    ``tolerance`` the accepted one, ``answered`` False while the answer is still the stub.
    """

    question: str
    passed: bool
    message: str
    answered: bool = True
    error: float | None = None
    tolerance: float | None = None
    _shown: bool = field(default=False, repr=False)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message

    def _ipython_display_(self) -> None:
        # check() has printed the message already; show it again only for a result kept and displayed later.
        if not self._shown:
            print(self.message)


@dataclass(frozen=True)
class Question:
    """One checkable question: its id (``"a1.q2"``), a short title, what the answer must be, its grader."""

    id: str
    title: str
    expects: str
    grader: Callable[[object, int], tuple[list[_Case], list[str]]] = field(repr=False)


class _NotAnswered(Exception):
    """The answer is still the stub (NotImplementedError, or the placeholder ``...``)."""


class _Wrong(Exception):
    """The answer has the wrong kind, shape or values to be compared at all: stop with this message."""


@dataclass
class _Case:
    label: str
    ok: bool
    error: float | None = None
    tolerance: float | None = None
    detail: str = ""
    measure: str = "relative error"


QUESTIONS: dict[str, Question] = {}
_CALLS: dict[str, int] = {}


def questions() -> list[str]:
    """The ids of every checkable question, in order."""
    return list(QUESTIONS)


def describe(question: str) -> str:
    """One line on a question: its title and the kind of answer :func:`check` expects."""
    q = _question(question)
    return f"{q.id} ({q.title}): {q.expects}"


def _question(question: object) -> Question:
    if not isinstance(question, str) or question.strip() not in QUESTIONS:
        raise ValueError(f"unknown question {question!r}; the known questions are: {', '.join(QUESTIONS)}")
    return QUESTIONS[question.strip()]


def _next_seed(qid: str) -> int:
    """A fresh seed for every call, reproducible from one run of a notebook to the next."""
    count = _CALLS.get(qid, 0)
    _CALLS[qid] = count + 1
    return (zlib.crc32(qid.encode()) + 7919 * count) % (2**31)


def check(question: str, answer: object, *, verbose: bool = True) -> CheckResult:
    """Check ``answer`` to ``question`` (e.g. ``"a1.q2"``) on fresh random inputs; print and return the verdict.

    ``answer`` is the object the question asks for, usually the function itself (not a call of it).
    Prints one verdict line and, for a wrong answer, the errors per input and hints; returns a
    :class:`CheckResult` (true when passed). An unknown question id raises ValueError listing the
    known ones. With ``NTK_COURSE_STRICT_CHECKS=1`` a failed check raises AssertionError.
    """
    q = _question(question)
    seed = _next_seed(q.id)
    head = f"{q.id} ({q.title})"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the checks' problems are tiny: threads only add synchronisation
    try:
        cases, hints = q.grader(answer, seed)
    except _NotAnswered as why:
        result = CheckResult(
            q.id, False,
            f"✗ {head}: not answered yet ({why}). Write your answer in place of the stub and run this "
            f"cell again.\n    expected: {q.expects}",
            answered=False,
        )
    except _Wrong as why:
        result = CheckResult(q.id, False, f"✗ {head}: {why}\n    expected: {q.expects}")
    else:
        result = _verdict(q, head, cases, hints)
    finally:
        torch.set_num_threads(threads)
    if verbose:
        print(result.message)
        result._shown = True
    if not result.passed and os.environ.get(STRICT_ENV, "").strip() not in ("", "0"):
        raise AssertionError(result.message)
    return result


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    return f"{value:.2g}" if abs(value) >= 1e-3 else f"{value:.1e}"


def _verdict(q: Question, head: str, cases: list[_Case], hints: list[str]) -> CheckResult:
    errors = [c.error for c in cases if c.error is not None]
    tols = [c.tolerance for c in cases if c.tolerance is not None]
    worst = max(errors) if errors else None
    tol = max(tols) if tols else None
    wrong = [c for c in cases if not c.ok]
    if not wrong:
        what = f"largest relative error {_fmt(worst)} (tolerance {_fmt(tol)})" if worst is not None else "all correct"
        return CheckResult(q.id, True, f"✓ {head}: correct on {len(cases)} random inputs; {what}.", error=worst, tolerance=tol)
    lines = [f"✗ {head}: wrong on {len(wrong)} of {len(cases)} random inputs"
             + (f" ({wrong[0].measure} up to {_fmt(max(c.error for c in wrong if c.error is not None))})"
                if any(c.error is not None for c in wrong) else "") + "."]
    for c in cases:
        mark = "✓" if c.ok else "✗"
        err = f"{c.measure} {_fmt(c.error)} (tolerance {_fmt(c.tolerance)})" if c.error is not None else ""
        info = "; ".join(s for s in (err, c.detail) if s)
        lines.append(f"    {mark} {c.label}" + (f": {info}" if info else ""))
    lines += [f"    hint: {h}" for h in hints]
    return CheckResult(q.id, False, "\n".join(lines), error=worst, tolerance=tol)


def _register(qid: str, title: str, expects: str):
    def wrap(grader: Callable[[object, int], tuple[list[_Case], list[str]]]):
        QUESTIONS[qid] = Question(qid, title, expects, grader)
        return grader

    return wrap


# --------------------------------------------------------------------------------------------------
# Calling the student's answer and reading what it returns
# --------------------------------------------------------------------------------------------------
def _describe_value(v: object) -> str:
    if isinstance(v, torch.Tensor):
        return f"tensor of shape {tuple(v.shape)}"
    if isinstance(v, np.ndarray):
        return f"array of shape {v.shape}"
    if isinstance(v, NTKMLP):
        return f"NTKMLP(widths={v.widths})"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int | str | bool):
        return repr(v)
    if callable(v):
        return getattr(v, "__name__", "a function")
    return type(v).__name__


def _function(answer: object, signature: str) -> Callable:
    """The student's function, or a clear complaint about what was passed instead."""
    if answer is Ellipsis:
        raise _NotAnswered("the placeholder ... is still there")
    if isinstance(answer, CheckResult):
        raise _Wrong("got the result of another check; pass your function itself")
    if not callable(answer):
        extra = (" Pass the function itself, not the value of a call: check('…', my_function), not check('…', my_function(...))."
                 if answer is None or isinstance(answer, torch.Tensor | np.ndarray | float | int | tuple | list) else "")
        raise _Wrong(f"expected a function {signature}; got {_describe_value(answer)}.{extra}")
    return answer  # type: ignore[return-value]


def _call(fn: Callable, *args: object, **kwargs: object) -> object:
    name = getattr(fn, "__name__", "your function")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise _NotAnswered(f"{name} raises NotImplementedError") from None
    except Exception as err:  # the student's bug: report it, don't crash the notebook
        shown = ", ".join([_describe_value(a) for a in args] + [f"{k}={_describe_value(v)}" for k, v in kwargs.items()])
        raise _Wrong(f"{name}({shown}) raised {type(err).__name__}: {err}") from None


def _array(value: object, what: str, shape: tuple[int, ...] | None = None, meaning: str = "") -> np.ndarray:
    """The answer as a float64 numpy array of ``shape``, or a message saying how it is not."""
    if value is Ellipsis:
        raise _NotAnswered(f"{what} is still the placeholder ...")
    if value is None:
        raise _Wrong(f"{what} is None: did the function forget to `return` its result?")
    try:
        if isinstance(value, torch.Tensor):
            if value.is_complex():
                raise TypeError("complex")
            arr = value.detach().cpu().to(torch.float64).numpy()
        else:
            arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, RuntimeError):
        raise _Wrong(f"{what} must be a real array (a torch tensor or a numpy array); got {_describe_value(value)}") from None
    if shape is not None and arr.shape != tuple(shape):
        why = f" {meaning}" if meaning else ""
        if arr.size == math.prod(shape):
            why += " (it has the right number of entries: transposed, or an axis added or lost?)"
        raise _Wrong(f"{what} has shape {arr.shape}; expected {tuple(shape)}{why}")
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise _Wrong(f"{what} has {bad} non-finite entries (NaN or inf) out of {arr.size}")
    return arr


def _scalar(value: object, what: str) -> float:
    arr = _array(value, what)
    if arr.size != 1:
        raise _Wrong(f"{what} must be a single number; got an array of shape {arr.shape}")
    return float(arr.reshape(()))


def _rel(a: np.ndarray, r: np.ndarray, floor: float = 0.0) -> float:
    """Relative Frobenius error ||a - r|| / max(||r||, floor) (absolute when both are 0)."""
    scale = max(float(np.linalg.norm(r)), floor)
    return float(np.linalg.norm(a - r)) / (scale if scale > 0 else 1.0)


def _np(t: torch.Tensor | np.ndarray) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=np.float64)


@dataclass
class _Input:
    """One random input of a function question: arguments, the reference result, its shape, and
    the results of known mistakes (``variants``) used for hints."""

    label: str
    args: tuple
    kwargs: dict
    reference: Callable[[], np.ndarray]
    shape: tuple[int, ...]
    meaning: str = ""
    variants: Callable[[], dict[str, np.ndarray]] | None = None


def _grade_function(
    answer: object,
    signature: str,
    inputs: list[_Input],
    tol: float,
    *,
    output: str = "the result",
) -> tuple[list[_Case], list[str], list[np.ndarray], list[np.ndarray]]:
    """Run the student's function on every input (the first call first, so a stub stops at once)."""
    fn = _function(answer, signature)
    cases, answers, refs = [], [], []
    for inp in inputs:
        args = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in inp.args)
        out = _array(_call(fn, *args, **inp.kwargs), output, inp.shape, inp.meaning)
        ref = inp.reference()
        err = _rel(out, ref)
        cases.append(_Case(inp.label, err <= tol, err, tol))
        answers.append(out)
        refs.append(ref)
    return cases, _hints(inputs, answers, refs, cases, tol), answers, refs


def _hints(inputs: list[_Input], answers: list[np.ndarray], refs: list[np.ndarray], cases: list[_Case], tol: float) -> list[str]:
    """Name a known mistake that reproduces the answer, or a constant factor that does."""
    if all(c.ok for c in cases):
        return []
    close = max(tol, 1e-6)
    variants = [inp.variants() if inp.variants else {} for inp in inputs]
    for name in variants[0] if variants else {}:
        if all(name in v and _rel(a, v[name]) <= close for a, v in zip(answers, variants)):
            return [f"your numbers match {name}."]
    a = np.concatenate([x.ravel() for x in answers])
    r = np.concatenate([x.ravel() for x in refs])
    if float(r @ r) > 0:
        c = float(a @ r) / float(r @ r)
        if abs(c - 1) > 10 * close and _rel(a, c * r) <= close:
            return [f"your answer is the expected one times a constant factor of about {c:.4g}: look for a missing or extra normalisation."]
    wrong = [c for c in cases if not c.ok]
    if wrong and max(c.error or 0 for c in wrong) < 1e-3:
        return ["close but not within tolerance: compute in float64 and check small terms."]
    return []


# --------------------------------------------------------------------------------------------------
# Shared helpers for the graders
# --------------------------------------------------------------------------------------------------
def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _gaussian(g: torch.Generator, n: int, n0: int, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(n, n0, generator=g, dtype=torch.float64)


def _relu_recursion(
    x: torch.Tensor, y: torch.Tensor, depth: int, beta: float, *,
    n0_scaling: bool = True, bias_in_recursion: bool = True, sigma_term: bool = True, beta_power: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """(Sigma^(L), Theta^(L)) for ReLU with switches that reproduce common mistakes (for hints only)."""
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


def _kernel_inputs(g: torch.Generator, depths: list[int]) -> list[tuple[str, torch.Tensor, torch.Tensor, int, float]]:
    """Random (x, y, depth, beta) for the kernel questions: several n_0, one case with y = x."""
    out = []
    for i, depth in enumerate(depths):
        n0 = int(torch.randint(2, 9, (1,), generator=g))
        n, m = int(torch.randint(3, 7, (1,), generator=g)), int(torch.randint(3, 7, (1,), generator=g))
        beta = [0.1, 0.5, 0.0, 0.3][i % 4]
        x = _gaussian(g, n, n0, 1.5)
        y = x.clone() if i == len(depths) - 1 else _gaussian(g, m, n0, 1.5)
        label = f"depth L={depth}, n0={n0}, beta={beta}, x {tuple(x.shape)}, y {'= x' if i == len(depths) - 1 else tuple(y.shape)}"
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


# --------------------------------------------------------------------------------------------------
# Assignment 1: the ReLU NNGP and NTK recursions
# --------------------------------------------------------------------------------------------------
@_register("a1.q1", "ReLU Gaussian expectations",
           "a function relu_expectations(q_xx, q_xy, q_yy) of three float64 tensors of shape (K,) returning the pair "
           "(E[relu(u) relu(v)], E[step(u) step(v)]), two tensors of shape (K,)")
def _a1_q1(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    fn = _function(answer, "relu_expectations(q_xx, q_xy, q_yy)")
    g = _gen(seed)
    k = 40
    var_x = torch.exp(torch.empty(k, dtype=torch.float64).uniform_(-2, 1, generator=g))
    var_y = torch.exp(torch.empty(k, dtype=torch.float64).uniform_(-2, 1, generator=g))
    corr = torch.empty(k, dtype=torch.float64).uniform_(-0.98, 0.98, generator=g)
    groups = {
        f"{k} random covariances": (var_x, corr * (var_x * var_y).sqrt(), var_y),
        "correlation +1 (x' = x)": (var_x[:8], var_x[:8].clone(), var_x[:8].clone()),
        "correlation -1 (x' = -x)": (var_y[:8], -var_y[:8], var_y[:8].clone()),
    }
    relu = get_activation("relu")
    cases: list[_Case] = []
    tol = 1e-6
    hints: list[str] = []
    for label, (a, b, c) in groups.items():
        out = _call(fn, a.clone(), b.clone(), c.clone())
        if not isinstance(out, tuple | list) or len(out) != 2:
            raise _Wrong(f"relu_expectations must return a pair (E[relu(u)relu(v)], E[step(u)step(v)]); got {_describe_value(out)}")
        try:
            e_s = _array(out[0], "the first result E[relu(u) relu(v)]", (a.shape[0],), "(one value per covariance)")
            e_d = _array(out[1], "the second result E[step(u) step(v)]", (a.shape[0],), "(one value per covariance)")
        except _Wrong as why:
            if "non-finite" in str(why) and "correlation" in label:
                raise _Wrong(f"{why}, at {label}: the cosine q_xy / sqrt(q_xx q_yy) can round to just above 1 there; "
                             "clip it to [-1, 1] or form the angle with atan2") from None
            raise
        r_s, r_d = (_np(t) for t in relu.expectations(a, b, c))
        # Near correlation -1 both expectations vanish: measure the error on the scale of the values
        # at correlation 0 instead (q/(2 pi) and 1/4 per entry), not relative to zero.
        floors = (float(np.linalg.norm(_np((a * c).sqrt()))) / (2 * math.pi), 0.25 * math.sqrt(a.shape[0]))
        for (name, ans, ref), floor in zip((("E[relu(u) relu(v)]", e_s, r_s), ("E[step(u) step(v)]", e_d, r_d)), floors):
            err = _rel(ans, ref, floor)
            cases.append(_Case(f"{name}, {label}", err <= tol, err, tol))
    if not all(c.ok for c in cases):
        wrong_s = [c for c in cases if not c.ok and c.label.startswith("E[relu")]
        wrong_d = [c for c in cases if not c.ok and c.label.startswith("E[step")]
        if wrong_d and not wrong_s:
            hints.append("E[relu relu] is right: only the step-function expectation (the angle term) is off.")
        if wrong_s and not wrong_d:
            hints.append("E[step step] is right, so the angle is right: look at the terms of E[relu relu].")
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
            other = {"the NTK Theta^(L), not the NNGP Sigma^(L)": _np(ntk(x, y, depth=depth, beta=beta))} if which == "sigma" else {
                "the NNGP Sigma^(L), not the NTK Theta^(L)": _np(nngp(x, y, depth=depth, beta=beta)),
                "the recursion without the + Sigma^(l+1) term": _relu_recursion(x, y, depth, beta, sigma_term=False)[1],
            }
            return {
                **other,
                "a base case without the 1/n0 (x.x' + beta^2)": _relu_recursion(x, y, depth, beta, n0_scaling=False)[pick],
                "beta instead of beta^2": _relu_recursion(x, y, depth, beta, beta_power=1)[pick],
                "a recursion that adds beta^2 only in the base case": _relu_recursion(x, y, depth, beta, bias_in_recursion=False)[pick],
                "depth L-1 (one layer too few)": _relu_recursion(x, y, max(depth - 1, 1), beta)[pick],
                "depth L+1 (one layer too many)": _relu_recursion(x, y, depth + 1, beta)[pick],
            }

        inputs.append(_Input(label, (x, y), {"depth": depth, "beta": beta}, reference,
                             (x.shape[0], y.shape[0]), "(N, M): one row per point of x, one column per point of y", variants))
    # 1e-6: far above round-off, including the sqrt(eps) sensitivity of the angle at x = x', far below any formula slip.
    cases, hints, _, _ = _grade_function(answer, f"{name}(x, y, depth, beta)", inputs, 1e-6, output=f"the result of {name}")
    return cases, _base_case_hint(cases, hints)


@_register("a1.q2", "the ReLU NNGP Sigma^(L)",
           "a function relu_nngp(x, y, depth, beta) of float64 tensors x (N, n0), y (M, n0) returning Sigma^(L)(x, y), shape (N, M)")
def _a1_q2(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    return _kernel_question(answer, seed, "sigma")


@_register("a1.q3", "the ReLU NTK Theta^(L)",
           "a function relu_ntk(x, y, depth, beta) of float64 tensors x (N, n0), y (M, n0) returning Theta_inf^(L)(x, y), shape (N, M)")
def _a1_q3(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    return _kernel_question(answer, seed, "theta")


def _mc_tolerance(sigma: np.ndarray, count: int, bias: float) -> float:
    """4 standard errors of the sample second moment of ``count`` Gaussian vectors of covariance
    ``sigma`` (E||S - Sigma||_F^2 = ((tr Sigma)^2 + ||Sigma||_F^2) / count), plus a finite-width bias."""
    se = math.sqrt((np.trace(sigma) ** 2 + (sigma**2).sum()) / count) / float(np.linalg.norm(sigma))
    return 4 * se + bias


@_register("a1.q4", "the output covariance of wide networks",
           "a function network_covariance(x, width, depth, beta, n_networks, seed) returning the (N, N) matrix "
           "(1/n_networks) sum_k f_k(x) f_k(x)^T over independently initialised ReLU NTKMLPs with hidden widths `width`")
def _a1_q4(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    g = _gen(seed)
    fn = _function(answer, "network_covariance(x, width, depth, beta, n_networks, seed)")
    cases, hints = [], []
    for depth, n0 in ((2, 3), (3, 5)):
        x = _gaussian(g, 4, n0, 1.2)
        width, count = 128, 1000
        out = _array(_call(fn, x.clone(), width, depth, 0.1, count, seed + depth), "the result of network_covariance",
                     (4, 4), "(N, N) for N = 4 points")
        ref = _np(nngp(x, depth=depth, beta=0.1))
        tol = _mc_tolerance(ref, count, 0.05)
        err = _rel(out, ref)
        cases.append(_Case(f"depth L={depth}, width {width}, {count} networks, x {tuple(x.shape)}", err <= tol, err, tol,
                           "the tolerance is 4 Monte-Carlo standard errors plus 0.05 for the finite width"))
        if err > tol and _rel(out, _np(ntk(x, depth=depth, beta=0.1))) <= tol:
            hints = ["your matrix is close to the NTK Theta^(L): the question asks for the covariance of the outputs f(x)."]
    return cases, hints


@_register("a1.q5", "the ReLU kernels on the diagonal for beta = 0",
           "a function relu_diagonal(sq_norm, n0, depth) returning the pair of numbers (Sigma^(L)(x, x), Theta^(L)(x, x)) "
           "for ReLU with beta = 0 and ||x||^2 = sq_norm, in closed form")
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
            raise _Wrong(f"relu_diagonal must return a pair of numbers (Sigma, Theta); got {_describe_value(out)}")
        s = _scalar(out[0], "the first number, Sigma^(L)(x, x)")
        t = _scalar(out[1], "the second number, Theta^(L)(x, x)")
        x = torch.zeros(1, n0, dtype=torch.float64)
        x[0, 0] = math.sqrt(sq)
        rs, rt = float(nngp(x, depth=depth, beta=0.0)), float(ntk(x, depth=depth, beta=0.0))
        es, et = abs(s - rs) / rs, abs(t - rt) / rt
        cases.append(_Case(f"Sigma^(L)(x, x), depth L={depth}, n0={n0}, ||x||^2={sq:.3g}", es <= tol, es, tol))
        cases.append(_Case(f"Theta^(L)(x, x), depth L={depth}, n0={n0}, ||x||^2={sq:.3g}", et <= tol, et, tol))
        if depth > 1:
            same.append(math.isclose(s, t, rel_tol=1e-12))
    wrong = not all(c.ok for c in cases)
    hints = ["your Theta equals your Sigma beyond depth 1: the NTK also collects the terms of the lower layers."] if wrong and all(same) else []
    return cases, hints


# --------------------------------------------------------------------------------------------------
# Assignment 2: the empirical NTK by hand
# --------------------------------------------------------------------------------------------------
def _small_models(g: torch.Generator) -> list[tuple[str, NTKMLP, torch.Tensor]]:
    out = []
    for widths, act in (([3, 12, 10, 1], "relu"), ([5, 16, 1], "tanh"), ([2, 8, 9, 7, 1], "relu")):
        beta = float(torch.empty(1).uniform_(0.05, 0.6, generator=g))
        model = NTKMLP(widths, act, beta, dtype=torch.float64, generator=g)
        n = int(torch.randint(3, 7, (1,), generator=g))
        out.append((f"NTKMLP(widths={widths}, {act}, beta={beta:.2f}), {n} points", model, _gaussian(g, n, widths[0])))
    return out


@_register("a2.q1", "the parameter Jacobian",
           "a function parameter_jacobian(model, x) returning the (N, P) matrix of derivatives d f(x_i) / d theta_p "
           "of a one-output model, one row per point, one column per parameter (every weight and bias)")
def _a2_q1(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    fn = _function(answer, "parameter_jacobian(model, x)")
    cases, tol = [], 1e-6
    for label, model, x in _small_models(_gen(seed)):
        p = sum(t.numel() for t in model.parameters())
        out = _call(fn, model, x.clone())
        jac = _array(out, "the Jacobian", (x.shape[0], p), f"(N, P): N = {x.shape[0]} points, P = {p} parameters of the model")
        ref = _np(empirical_ntk(model, x))
        err = _rel(jac @ jac.T, ref)
        cases.append(_Case(label, err <= tol, err, tol, "compared through J J^T, which does not depend on the order of the parameters"))
    return cases, []


@_register("a2.q2", "the empirical NTK from Jacobians",
           "a function empirical_ntk_by_hand(model, x, y) returning Theta(x, y) = J(x) J(y)^T, shape (N, M), "
           "for a one-output model")
def _a2_q2(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    g = _gen(seed)
    inputs = []
    for label, model, x in _small_models(g):
        y = _gaussian(g, 4, x.shape[1])
        inputs.append(_Input(f"{label}, y {tuple(y.shape)}", (model, x, y), {},
                             lambda model=model, x=x, y=y: _np(empirical_ntk(model, x, y)),
                             (x.shape[0], 4), "(N, M): one row per point of x, one column per point of y"))
    cases, hints, _, _ = _grade_function(answer, "empirical_ntk_by_hand(model, x, y)", inputs, 1e-6,
                                         output="the result of empirical_ntk_by_hand")
    return cases, hints


def _two_layer(w0, b0, w1, x, y, beta, *, last_bias=True, inner_bias=True, n0_scaling=True, w1_factor=True) -> np.ndarray:
    """Closed-form NTK of a one-hidden-layer ReLU NTKMLP, with switches reproducing mistakes (hints only)."""
    n1, n0 = w0.shape
    hx, hy = x @ w0.T / math.sqrt(n0) + beta * b0, y @ w0.T / math.sqrt(n0) + beta * b0
    ax, ay, dx, dy = hx.clamp(min=0), hy.clamp(min=0), (hx > 0).double(), (hy > 0).double()
    w2 = w1[0] ** 2 if w1_factor else torch.ones_like(w1[0])
    first = x @ y.T / (n0 if n0_scaling else 1) + (beta**2 if inner_bias else 0.0)
    return _np(ax @ ay.T / n1 + (beta**2 if last_bias else 0.0) + ((dx * w2) @ dy.T / n1) * first)


@_register("a2.q3", "the NTK of a one-hidden-layer ReLU network in closed form",
           "a function two_layer_ntk(W0, b0, W1, x, y, beta) of float64 tensors W0 (n1, n0), b0 (n1,), W1 (1, n1), "
           "x (N, n0), y (M, n0) returning the empirical NTK Theta(x, y), shape (N, M), without autograd")
def _a2_q3(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    g = _gen(seed)
    inputs = []
    for n0, n1 in ((3, 20), (6, 50), (2, 7)):
        beta = float(torch.empty(1).uniform_(0.1, 0.8, generator=g))
        model = NTKMLP([n0, n1, 1], "relu", beta, dtype=torch.float64, generator=g)
        x, y = _gaussian(g, 5, n0), _gaussian(g, 4, n0)
        w0, b0, w1 = (t.detach() for t in (model.weights[0], model.biases[0], model.weights[1]))
        inputs.append(_Input(
            f"n0={n0}, n1={n1}, beta={beta:.2f}, x (5, {n0}), y (4, {n0})", (w0, b0, w1, x, y, beta), {},
            lambda model=model, x=x, y=y: _np(empirical_ntk(model, x, y)), (5, 4),
            "(N, M): one row per point of x, one column per point of y",
            lambda w0=w0, b0=b0, w1=w1, x=x, y=y, beta=beta: {
                "the formula without the beta^2 of the output bias": _two_layer(w0, b0, w1, x, y, beta, last_bias=False),
                "the formula without the beta^2 of the hidden biases (x.x'/n0 alone)": _two_layer(w0, b0, w1, x, y, beta, inner_bias=False),
                "the formula without the 1/n0 in x.x'": _two_layer(w0, b0, w1, x, y, beta, n0_scaling=False),
                "the formula without the factor (W1_i)^2": _two_layer(w0, b0, w1, x, y, beta, w1_factor=False),
            }))
    cases, hints, _, _ = _grade_function(answer, "two_layer_ntk(W0, b0, W1, x, y, beta)", inputs, 1e-6,
                                         output="the result of two_layer_ntk")
    return cases, hints


def _factor_hint(values: list[float], refs: list[float]) -> list[str]:
    """A hint when every value is the reference times one constant (a normalisation slip)."""
    ratios = [v / r for v, r in zip(values, refs) if r != 0]
    if len(ratios) == len(values) and ratios and abs(ratios[0] - 1) > 1e-2 and max(ratios) - min(ratios) <= 1e-3 * abs(ratios[0]):
        return [f"your numbers are the expected ones times a constant factor of about {ratios[0]:.4g}: look for a missing or extra normalisation."]
    return []


def _prescribed_network(n0: int, width: int, depth: int, beta: float, seed: int) -> NTKMLP:
    """Network k of questions a2.q4 and a2.q5: drawn with ``manual_seed(seed + k)``, float32, ReLU."""
    return NTKMLP([n0] + [width] * (depth - 1) + [1], beta=beta, generator=torch.Generator().manual_seed(seed))


@_register("a2.q4", "the deviation of the empirical NTK from its limit",
           "a function ntk_deviation(width, x, depth, beta, n_networks, seed) returning one number: the mean over the "
           "networks k = 0 .. n_networks-1, each NTKMLP([n0] + [width] * (depth - 1) + [1], beta=beta, "
           "generator=torch.Generator().manual_seed(seed + k)), of ||Theta_k - Theta_inf||_F / ||Theta_inf||_F on the points x")
def _a2_q4(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    fn = _function(answer, "ntk_deviation(width, x, depth, beta, n_networks, seed)")
    g = _gen(seed)
    cases, tol, hints = [], 1e-4, []
    values, refs = [], []
    for width, depth in ((16, 2), (128, 3)):
        x = _gaussian(g, 5, 4, 1.5)
        value = _scalar(_call(fn, width, x.clone(), depth, 0.1, 3, seed + width), "the result of ntk_deviation")
        limit = ntk(x, depth=depth, beta=0.1)
        kernels = [empirical_ntk(_prescribed_network(4, width, depth, 0.1, seed + width + k), x).double() for k in range(3)]
        ref = float(np.mean([float((k - limit).norm() / limit.norm()) for k in kernels]))
        values.append(value)
        refs.append(ref)
        err = abs(value - ref) / ref
        cases.append(_Case(f"width {width}, depth L={depth}, 3 networks, x (5, 4)", err <= tol, err, tol))
        sigma = nngp(x, depth=depth, beta=0.1)
        if err > tol and abs(value - np.mean([float((k - sigma).norm() / sigma.norm()) for k in kernels])) <= tol * ref:
            hints = ["your numbers match a comparison with Sigma^(L); the limit of the NTK is Theta_inf^(L)."]
        elif err > tol and abs(value - np.mean([float((k - limit).norm()) for k in kernels])) <= tol * ref * 10:
            hints = ["your numbers match the deviation without dividing by ||Theta_inf||_F."]
    if not hints and not all(c.ok for c in cases):
        hints = _factor_hint(values, refs) or ["draw network k exactly as prescribed (default float32, seed + k) so that it can be compared."]
    return cases, hints


@_register("a2.q5", "the drift of the empirical NTK during training",
           "a function ntk_drift(width, x, y, depth, beta, steps, lr, n_networks, seed) returning one number: the mean "
           "over the networks of a2.q4 (seed + k) of ||Theta_T - Theta_0||_F / ||Theta_0||_F on x after `steps` steps of "
           "full-batch gradient descent with learning rate lr on C = 1/(2N) sum_i (f(x_i) - y_i)^2")
def _a2_q5(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    fn = _function(answer, "ntk_drift(width, x, y, depth, beta, steps, lr, n_networks, seed)")
    g = _gen(seed)
    cases, tol = [], 1e-3
    values, refs = [], []
    steps, lr = 10, 1.0
    for width, depth in ((16, 2), (48, 3)):
        x = _gaussian(g, 6, 2)
        y = x[:, 0] * x[:, 1]
        value = _scalar(_call(fn, width, x.clone(), y.clone(), depth, 0.1, steps, lr, 2, seed + width), "the result of ntk_drift")
        drifts = []
        for k in range(2):
            model = _prescribed_network(2, width, depth, 0.1, seed + width + k)
            record = train(model, x.float(), y.float(), steps=steps, lr=lr, record_at=[0, steps], kernel_points=x.float())
            assert record.kernel_drift is not None
            drifts.append(float(record.kernel_drift[-1]))
        ref = float(np.mean(drifts))
        values.append(value)
        refs.append(ref)
        err = abs(value - ref) / ref
        cases.append(_Case(f"width {width}, depth L={depth}, {steps} steps of lr {lr}, 2 networks, 6 points", err <= tol, err, tol,
                           "the tolerance allows float32 round-off along the training"))
    hints = [] if all(c.ok for c in cases) else _factor_hint(values, refs) or [
        "draw network k exactly as in a2.q4, use the mean cost C (with its 1/N), and compare the kernels at step 0 and step `steps`."]
    return cases, hints


# --------------------------------------------------------------------------------------------------
# Assignment 3: least-squares gradient flow, early stopping, trained networks
# --------------------------------------------------------------------------------------------------
def _flow_problem(g: torch.Generator, n: int, m: int = 0) -> dict[str, torch.Tensor]:
    n0 = 3
    x = _gaussian(g, n, n0)
    xt = _gaussian(g, m, n0) if m else None
    out = {"K": ntk(x, depth=3, beta=0.1), "y": torch.randn(n, generator=g, dtype=torch.float64),
           "f0": 0.5 * torch.randn(n, generator=g, dtype=torch.float64),
           "t": torch.tensor([0.0, 0.3, 3.0, 30.0, 300.0], dtype=torch.float64)}
    if xt is not None:
        out["Kx"] = ntk(xt, x, depth=3, beta=0.1)
        out["f0x"] = 0.5 * torch.randn(m, generator=g, dtype=torch.float64)
    return out


@_register("a3.q1", "the least-squares flow on the training points",
           "a function flow_train(K, y, f0, t) of a float64 (N, N) kernel K, targets y (N,), start f0 (N,) and times t (T,) "
           "returning f_t on the training points, shape (T, N)")
def _a3_q1(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    g = _gen(seed)
    inputs = []
    for n in (6, 11):
        p = _flow_problem(g, n)
        inputs.append(_Input(
            f"N={n} training points, times {[float(v) for v in p['t']]}", (p["K"], p["y"], p["f0"], p["t"]), {},
            lambda p=p: _np(gradient_flow(p["K"], p["y"], p["t"], f0_train=p["f0"]).f_train), (5, n),
            "(T, N): one row per time, one column per training point",
            lambda p=p, n=n: {
                "the flow d f/dt = -K (f - y), without the 1/N of the paper's cost": _np(gradient_flow(p["K"] * n, p["y"], p["t"], f0_train=p["f0"]).f_train),
                "a flow started from f_0 = 0 instead of f0": _np(gradient_flow(p["K"], p["y"], p["t"]).f_train),
            }))
    cases, hints, _, _ = _grade_function(answer, "flow_train(K, y, f0, t)", inputs, 1e-8, output="the result of flow_train")
    return cases, hints


@_register("a3.q2", "the least-squares flow off the training points",
           "a function flow_test(K, K_test, y, f0, f0_test, t) of K (N, N), K_test = K(x_test, x_train) (M, N), y (N,), "
           "f0 (N,), f0_test (M,), t (T,) returning f_t on the test points, shape (T, M)")
def _a3_q2(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    g = _gen(seed)
    inputs = []
    for n, m in ((6, 4), (10, 7)):
        p = _flow_problem(g, n, m)
        inputs.append(_Input(
            f"N={n} training and M={m} test points", (p["K"], p["Kx"], p["y"], p["f0"], p["f0x"], p["t"]), {},
            lambda p=p: _np(gradient_flow(p["K"], p["y"], p["t"], k_test_train=p["Kx"], f0_train=p["f0"], f0_test=p["f0x"]).f_test),
            (5, m), "(T, M): one row per time, one column per test point",
            lambda p=p, n=n: {
                "the flow without the 1/N of the paper's cost": _np(gradient_flow(p["K"] * n, p["y"], p["t"], k_test_train=p["Kx"] * n, f0_train=p["f0"], f0_test=p["f0x"]).f_test),
                "a flow whose test values start at 0 instead of f0_test": _np(gradient_flow(p["K"], p["y"], p["t"], k_test_train=p["Kx"], f0_train=p["f0"]).f_test),
                "a flow started from f_0 = 0 on every point": _np(gradient_flow(p["K"], p["y"], p["t"], k_test_train=p["Kx"]).f_test),
            }))
    cases, hints, _, _ = _grade_function(answer, "flow_test(K, K_test, y, f0, f0_test, t)", inputs, 1e-8, output="the result of flow_test")
    return cases, hints


@_register("a3.q3", "the residual along the kernel principal components",
           "a function residual_energy(K, y, f0, t) returning the (T, N) array of c_i(t)^2, where c_i(t) = <f_t - f*, f^(i)>_p_in "
           "and f^(i) are the eigenfunctions of Pi = K/N normalised in p_in, in order of decreasing eigenvalue")
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

        inputs.append(_Input(
            f"N={n} training points, times {[float(v) for v in p['t']]}", (p["K"], p["y"], p["f0"], p["t"]), {},
            energy, (5, n), "(T, N): one row per time, one column per component",
            lambda energy=energy: {
                "components normalised to Euclidean length 1 instead of ||f^(i)||_p_in = 1": energy(euclid=True),
                "components in order of increasing eigenvalue": energy(flip=True),
            }))
    cases, hints, _, _ = _grade_function(answer, "residual_energy(K, y, f0, t)", inputs, 1e-7, output="the result of residual_energy")
    return cases, hints


def _stopping_problem(g: torch.Generator, n: int, noise: float) -> dict[str, torch.Tensor]:
    x, xt = _gaussian(g, n, 2), _gaussian(g, 200, 2)
    y = x[:, 0] * x[:, 1] + noise * torch.randn(n, generator=g, dtype=torch.float64)
    return {"K": ntk(x, depth=3, beta=0.1), "Kx": ntk(xt, x, depth=3, beta=0.1), "y": y,
            "yt": xt[:, 0] * xt[:, 1], "t": torch.logspace(-1, 4, 31, dtype=torch.float64)}


@_register("a3.q4", "the early-stopping time",
           "a function early_stopping_time(K, K_test, y, y_test, t) returning the time in t (a number) at which the flow "
           "started from f_0 = 0 has the smallest test error mean((f_t(x_test) - y_test)^2)")
def _a3_q4(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    fn = _function(answer, "early_stopping_time(K, K_test, y, y_test, t)")
    g = _gen(seed)
    cases, hints = [], []
    for n, noise in ((24, 0.6), (40, 0.4)):
        p = _stopping_problem(g, n, noise)
        value = _scalar(_call(fn, p["K"].clone(), p["Kx"].clone(), p["y"].clone(), p["yt"].clone(), p["t"].clone()),
                        "the result of early_stopping_time")
        times = p["t"].numpy()
        where = np.flatnonzero(np.isclose(times, value, rtol=1e-9, atol=0))
        label = f"N={n} noisy training points (noise {noise}), 200 test points, {len(times)} times"
        if where.size == 0:
            cases.append(_Case(label, False, None, None, "your time is not one of the times in t: return an entry of t"))
            continue
        f_test = gradient_flow(p["K"], p["y"], p["t"], k_test_train=p["Kx"]).f_test
        mse = _np(((f_test - p["yt"]) ** 2).mean(1))
        excess = float(mse[where[0]] / mse.min() - 1)
        cases.append(_Case(label, excess <= 1e-9, excess, 1e-9, measure="excess test error (test error at your time / smallest one - 1)"))
        if excess > 1e-9 and where[0] == len(times) - 1:
            hints = ["you returned the last time, which trains to convergence: the question asks where the test error is smallest."]
        elif excess > 1e-9:
            train_mse = _np(((gradient_flow(p["K"], p["y"], p["t"]).f_train - p["y"]) ** 2).mean(1))
            if train_mse[where[0]] == train_mse.min():
                hints = ["your time minimises the training error; the question asks for the test error."]
    return cases, hints


@_register("a3.q5", "the infinite-width prediction for a given network",
           "a function flow_prediction(model, x_train, y_train, x_test, t) returning the (T, M) values at x_test of the "
           "least-squares flow with the limiting NTK Theta_inf of the model's architecture, started from the model's "
           "own outputs f_0")
def _a3_q5(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    g = _gen(seed)
    inputs = []
    for widths in ([2, 64, 64, 1], [3, 32, 1]):
        model = NTKMLP(widths, beta=0.1, dtype=torch.float64, generator=g)
        x, xt = _gaussian(g, 6, widths[0]), _gaussian(g, 5, widths[0])
        y = torch.randn(6, generator=g, dtype=torch.float64)
        t = torch.tensor([0.0, 1.0, 10.0, 100.0], dtype=torch.float64)

        def reference(model=model, x=x, xt=xt, y=y, t=t, start=True, n_scale=1.0, empirical=False) -> np.ndarray:
            kernel = (lambda a, b=None: empirical_ntk(model, a, b)) if empirical else (lambda a, b=None: ntk(a, b, depth=model.depth, beta=model.beta))
            with torch.no_grad():
                f0, f0x = model(x)[:, 0], model(xt)[:, 0]
            kw = {"f0_train": f0, "f0_test": f0x} if start else {}
            return _np(gradient_flow(kernel(x) * n_scale, y, t, k_test_train=kernel(xt, x) * n_scale, **kw).f_test)

        inputs.append(_Input(
            f"NTKMLP(widths={widths}), 6 training and 5 test points, times {[float(v) for v in t]}", (model, x, y, xt, t), {},
            reference, (4, 5), "(T, M): one row per time, one column per test point",
            lambda reference=reference: {
                "a flow started from f_0 = 0 instead of the network's outputs": reference(start=False),
                "the flow without the 1/N of the paper's cost": reference(n_scale=6.0),
                "the flow with the network's empirical NTK instead of the limiting Theta_inf": reference(empirical=True),
            }))
    cases, hints, _, _ = _grade_function(answer, "flow_prediction(model, x_train, y_train, x_test, t)", inputs, 1e-7,
                                         output="the result of flow_prediction")
    return cases, hints


# --------------------------------------------------------------------------------------------------
# Assignment 4: Hermite expansions and positive-definiteness
# --------------------------------------------------------------------------------------------------
def _both(np_fn: Callable, torch_fn: Callable, name: str) -> Callable:
    """An activation that accepts numpy arrays and torch tensors alike."""

    def sigma(z: object) -> object:
        if isinstance(z, torch.Tensor):
            return torch_fn(z)
        return np_fn(np.asarray(z, dtype=np.float64))

    sigma.__name__ = name
    return sigma


_TEST_ACTIVATIONS = {
    "tanh": _both(np.tanh, torch.tanh, "tanh"),
    "erf": _both(_np_erf, torch.erf, "erf"),
    "sin": _both(np.sin, torch.sin, "sin"),
    "z^3 - 2z": _both(lambda z: z**3 - 2 * z, lambda z: z**3 - 2 * z, "cubic"),
    "softplus": _both(lambda z: np.logaddexp(0.0, z), torch.nn.functional.softplus, "softplus"),
}


@_register("a4.q1", "Hermite coefficients of an activation",
           "a function hermite_coeffs(sigma, n_terms) returning the array (n_terms,) of a_i = E[sigma(X) h_i(X)], "
           "X ~ N(0, 1), h_i = He_i / sqrt(i!); sigma accepts a numpy array")
def _a4_q1(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    rng = np.random.default_rng(seed)
    names = list(rng.choice(list(_TEST_ACTIVATIONS), size=3, replace=False))
    inputs = []
    for name in names:
        k = int(rng.integers(8, 16))
        sigma = _TEST_ACTIVATIONS[name]

        def variants(sigma=sigma, k=k) -> dict[str, np.ndarray]:
            ref = hermite_coefficients(sigma, k)
            fact = np.sqrt([math.factorial(i) for i in range(k)])
            return {"the coefficients of He_i without the 1/sqrt(i!) (a_i sqrt(i!))": ref * fact,
                    "E[sigma(X) He_i(X)] / i! (dividing by i! instead of sqrt(i!))": ref / fact}

        inputs.append(_Input(f"sigma = {name}, n_terms = {k}", (sigma, k), {},
                             lambda sigma=sigma, k=k: hermite_coefficients(sigma, k), (k,), "(n_terms,)", variants))
    cases, hints, _, _ = _grade_function(answer, "hermite_coeffs(sigma, n_terms)", inputs, 1e-6, output="the result of hermite_coeffs")
    return cases, hints


@_register("a4.q2", "the dual activation as a power series",
           "a function dual_from_coeffs(a, rho) of Hermite coefficients a (K,) and correlations rho (M,) returning "
           "mu_hat(rho) = E[mu(X) mu(Y)], shape (M,)")
def _a4_q2(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    rng = np.random.default_rng(seed)
    inputs = []
    for name in ("tanh", "sin", "softplus"):
        k = int(rng.integers(10, 25))
        a = hermite_coefficients(_TEST_ACTIVATIONS[name], k, scale=float(rng.uniform(0.5, 1.5)))
        rho = np.concatenate([[-1.0, 0.0, 1.0], rng.uniform(-1, 1, 12)])
        inputs.append(_Input(
            f"Hermite coefficients of a rescaled {name}, K = {k}, 15 values of rho in [-1, 1]", (a, rho), {},
            lambda a=a, rho=rho: np.polynomial.polynomial.polyval(rho, a * a), (15,), "(M,): one value per rho",
            lambda a=a, rho=rho: {"sum_i a_i rho^i, with a_i in place of a_i^2": np.polynomial.polynomial.polyval(rho, a)}))
    cases, hints, _, _ = _grade_function(answer, "dual_from_coeffs(a, rho)", inputs, 1e-10, output="the result of dual_from_coeffs")
    return cases, hints


def _sigma2_variant(a: np.ndarray, n0: int, beta: float, *, square: bool = True, add_beta: bool = True) -> np.ndarray:
    from numpy.polynomial import Polynomial

    c = n0 * beta**2
    nu = Polynomial(a * a if square else a)(Polynomial([c / (c + 1.0), 1.0 / (c + 1.0)])) + (beta**2 if add_beta else 0.0)
    b = np.zeros(a.size)
    b[: nu.coef.size] = nu.coef[: a.size]
    return b


@_register("a4.q3", "the power series of Sigma^(2) on the sphere",
           "a function sigma2_coeffs(a, n0, beta) of the Hermite coefficients a (K,) of mu(z) = sigma(z sqrt(1/n0 + beta^2)) "
           "returning b (K,), the coefficients of Sigma^(2)(x, x') = sum_n b_n (x.x')^n for unit vectors x, x'")
def _a4_q3(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    rng = np.random.default_rng(seed)
    inputs = []
    for name, n0, beta in (("tanh", int(rng.integers(2, 6)), 0.1), ("erf", int(rng.integers(2, 9)), 0.5), ("relu", 3, float(rng.uniform(0.05, 0.4)))):
        k = 30
        sigma = "relu" if name == "relu" else _TEST_ACTIVATIONS[name]
        a = hermite_coefficients(sigma, k, scale=math.sqrt(1 / n0 + beta**2))
        inputs.append(_Input(
            f"sigma = {name}, n0 = {n0}, beta = {beta:.3g}, K = {k}", (a, n0, beta), {},
            lambda sigma=sigma, n0=n0, beta=beta, k=k: sigma2_power_series(sigma, n0=n0, beta=beta, n_terms=k), (k,), "(K,)",
            lambda a=a, n0=n0, beta=beta: {
                "the series with a_i in place of a_i^2 (the paper's display drops the square of Lemma 2)": _sigma2_variant(a, n0, beta, square=False),
                "the series without the + beta^2 of the last bias": _sigma2_variant(a, n0, beta, add_beta=False),
            }))
    cases, hints, _, _ = _grade_function(answer, "sigma2_coeffs(a, n0, beta)", inputs, 1e-9, output="the result of sigma2_coeffs")
    return cases, hints


def _schoenberg_battery() -> list[tuple[str, np.ndarray]]:
    n = np.arange(40)
    geometric = 0.8**n
    return [
        ("a geometric series 0.8^n", geometric),
        ("a polynomial of degree 3", np.r_[[1.0, 0.5, 0.2, 0.1], np.zeros(36)]),
        ("a series with only even powers", np.where(n % 2 == 0, geometric, 0.0)),
        ("a series with only odd powers", np.where(n % 2 == 1, geometric, 0.0)),
        ("a positive series with one negative coefficient", np.where(n == 3, -0.2, geometric)),
        ("a series that starts at n = 20", np.where(n >= 20, 0.9 ** (n - 20), 0.0)),
        ("a polynomial plus a tail of size 1e-20", np.r_[[1.0, 1.0, 1.0], np.full(37, 1e-20)]),
        ("Sigma^(2) of tanh on S^2 with beta = 0.1", sigma2_power_series("tanh", n0=3, beta=0.1, n_terms=40)),
        ("Sigma^(2) of ReLU on S^2 with beta = 0", sigma2_power_series("relu", n0=3, beta=0.0, n_terms=40)),
        ("Sigma^(2) of erf on S^2 with beta = 0", sigma2_power_series("erf", n0=3, beta=0.0, n_terms=40)),
        ("Sigma^(2) of z^2 + z on S^2 with beta = 0.1", sigma2_power_series(polynomial([0.0, 1.0, 1.0]), n0=3, beta=0.1, n_terms=40)),
    ]


@_register("a4.q4", "Schoenberg's criterion (Theorem 3) on a finite series",
           "a function schoenberg_test(b) of a coefficient array b (K,) returning True or False: no b_n < -1e-12 max|b|, and "
           "some even and some odd n >= K // 2 with b_n > 1e-12 max|b|")
def _a4_q4(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    fn = _function(answer, "schoenberg_test(b)")
    battery = _schoenberg_battery()
    order = np.random.default_rng(seed).permutation(len(battery))
    cases = []
    for i in order:
        label, b = battery[i]
        out = _call(fn, b.copy())
        if out is Ellipsis:
            raise _NotAnswered("the placeholder ... is still there")
        if not isinstance(out, bool | np.bool_) and not (isinstance(out, torch.Tensor) and out.numel() == 1 and out.dtype == torch.bool):
            raise _Wrong(f"schoenberg_test must return True or False; got {_describe_value(out)}")
        ref = schoenberg_positive_definite(b, rtol=1e-12, tail_start=b.size // 2)
        cases.append(_Case(label, bool(out) == ref, None, None, "" if bool(out) == ref else "wrong verdict"))
    return cases, []


@_register("a4.q5", "the rank of the NTK Gram matrix of a polynomial activation",
           "a function polynomial_rank_bound(degree, n0, depth) returning an integer: the largest possible rank of the "
           "Gram matrix of Theta^(L) on points of the unit sphere S^(n0-1) for a polynomial sigma of that degree (beta > 0)")
def _a4_q5(answer: object, seed: int) -> tuple[list[_Case], list[str]]:
    fn = _function(answer, "polynomial_rank_bound(degree, n0, depth)")
    pool = [(1, 3, 2), (1, 5, 4), (2, 3, 2), (2, 2, 3), (3, 4, 2), (2, 5, 2), (3, 2, 3), (2, 4, 3), (4, 3, 2)]
    rng = np.random.default_rng(seed)
    cases = []
    for i in rng.choice(len(pool), size=6, replace=False):
        d, n0, depth = pool[i]
        value = _scalar(_call(fn, d, n0, depth), "the result of polynomial_rank_bound")
        ref = rank_bound(d, n0, depth)
        label = f"degree {d}, n0 = {n0}, depth L = {depth}"
        if value != round(value):
            cases.append(_Case(label, False, None, None, "a rank is an integer"))
            continue
        detail = "" if value == ref else ("your bound is too small" if value < ref else "your bound is too large")
        cases.append(_Case(label, value == ref, None, None, detail))
    return cases, []
