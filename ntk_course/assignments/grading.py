"""The checking machinery of the course assignments (``book/assignments``): ``check("a1.q2", answer)``.

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

:func:`require` is the same verdict as an assertion, with a given seed and optionally restricted to one
*part* of a question (the inputs whose labels a regular expression matches): it is the body of every
Otter-Grader test of the handouts (:mod:`.handouts`), so that a student's ``grader.check("q2")`` shows
the message and hints of ``check``, and the hidden tests grade fresh inputs part by part.
"""

from __future__ import annotations

import math
import os
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .._checks import seeded_generator
from ..mlp import NTKMLP

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
    cases: tuple[tuple[str, bool], ...] = field(default=(), repr=False)
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
    """One checkable question: its id (``"a1.q2"``), a short title, what the answer must be, its grader.

    ``points`` is what the question is worth in the handouts (one point on the public test, the rest
    on the hidden ones); ``parts`` names groups of inputs, ``{name: regular expression on the input
    labels}``, that the hidden tests grade separately (partial credit).
    """

    id: str
    title: str
    expects: str
    grader: Callable[[object, int], tuple[list[_Case], list[str]]] = field(repr=False)
    points: int = 3
    parts: tuple[tuple[str, str], ...] = ()


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
        raise ValueError(
            f"unknown question {question!r}; the known questions are: {', '.join(QUESTIONS)}"
        )
    return QUESTIONS[question.strip()]


def _next_seed(qid: str) -> int:
    """A fresh seed for every call, reproducible from one run of a notebook to the next."""
    count = _CALLS.get(qid, 0)
    _CALLS[qid] = count + 1
    return (zlib.crc32(qid.encode()) + 7919 * count) % (2**31)


def _seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**31:
        raise ValueError(f"seed must be an integer in [0, 2**31); got {seed!r}")
    return int(seed)


def check(
    question: str, answer: object, *, verbose: bool = True, seed: int | None = None
) -> CheckResult:
    """Check ``answer`` to ``question`` (e.g. ``"a1.q2"``) on fresh random inputs; print and return the verdict.

    ``answer`` is the object the question asks for, usually the function itself (not a call of it).
    Prints one verdict line and, for a wrong answer, the errors per input and hints; returns a
    :class:`CheckResult` (true when passed). ``seed`` fixes the inputs (default: fresh ones at every
    call, the same from one run to the next). An unknown question id raises ValueError listing the
    known ones. With ``NTK_COURSE_STRICT_CHECKS=1`` a failed check raises AssertionError.
    """
    q = _question(question)
    result = _evaluate(q, answer, _next_seed(q.id) if seed is None else _seed(seed))
    if verbose:
        print(result.message)
        result._shown = True
    if not result.passed and os.environ.get(STRICT_ENV, "").strip() not in ("", "0"):
        raise AssertionError(result.message)
    return result


def require(question: str, answer: object, *, seed: int, part: str | None = None) -> None:
    """Raise AssertionError with the verdict of :func:`check` unless ``answer`` passes on the inputs of ``seed``.

    With ``part`` (a name from the question's ``parts``) only the inputs of that part must pass, and
    at least one of them must have been reached. This is the body of the handouts' Otter tests.
    """
    q = _question(question)
    if part is not None and part not in dict(q.parts):
        raise ValueError(
            f"{q.id} has no part {part!r}; its parts are {[name for name, _ in q.parts]}"
        )
    result = _evaluate(q, answer, _seed(seed))
    if part is None:
        passed = result.passed
    else:
        mine = [ok for label, ok in result.cases if re.match(dict(q.parts)[part], label)]
        passed = bool(mine) and all(mine)
    if not passed:
        raise AssertionError(
            result.message if part is None else f"part '{part}' of {q.id}:\n{result.message}"
        )


def _evaluate(q: Question, answer: object, seed: int) -> CheckResult:
    """The verdict of ``q``'s grader on ``answer`` with the inputs of ``seed``, not printed."""
    head = f"{q.id} ({q.title})"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the checks' problems are tiny: threads only add synchronisation
    try:
        cases, hints = q.grader(answer, seed)
    except _NotAnswered as why:
        result = CheckResult(
            q.id,
            False,
            f"✗ {head}: not answered yet ({why}). Write your answer in place of the stub and run this "
            f"cell again.\n    expected: {q.expects}",
            answered=False,
        )
    except _Wrong as why:
        result = CheckResult(q.id, False, f"✗ {head}: {why}\n    expected: {q.expects}")
    else:
        result = _verdict(q, head, cases, hints)
        result.cases = tuple((c.label, c.ok) for c in cases)
    finally:
        torch.set_num_threads(threads)
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
        what = (
            f"largest relative error {_fmt(worst)} (tolerance {_fmt(tol)})"
            if worst is not None
            else "all correct"
        )
        return CheckResult(
            q.id,
            True,
            f"✓ {head}: correct on {len(cases)} random inputs; {what}.",
            error=worst,
            tolerance=tol,
        )
    lines = [
        f"✗ {head}: wrong on {len(wrong)} of {len(cases)} random inputs"
        + (
            f" ({wrong[0].measure} up to {_fmt(max(c.error for c in wrong if c.error is not None))})"
            if any(c.error is not None for c in wrong)
            else ""
        )
        + "."
    ]
    for c in cases:
        mark = "✓" if c.ok else "✗"
        err = (
            f"{c.measure} {_fmt(c.error)} (tolerance {_fmt(c.tolerance)})"
            if c.error is not None
            else ""
        )
        info = "; ".join(s for s in (err, c.detail) if s)
        lines.append(f"    {mark} {c.label}" + (f": {info}" if info else ""))
    lines += [f"    hint: {h}" for h in hints]
    return CheckResult(q.id, False, "\n".join(lines), error=worst, tolerance=tol)


def _register(
    qid: str, title: str, expects: str, *, points: int = 3, parts: dict[str, str] | None = None
):
    if points < 2:
        raise ValueError(
            f"{qid}: a question is worth at least 2 points (1 public, the rest hidden); got {points}"
        )

    def wrap(grader: Callable[[object, int], tuple[list[_Case], list[str]]]):
        QUESTIONS[qid] = Question(qid, title, expects, grader, points, tuple((parts or {}).items()))
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
        extra = (
            " Pass the function itself, not the value of a call: check('…', my_function), not check('…', my_function(...))."
            if answer is None
            or isinstance(answer, torch.Tensor | np.ndarray | float | int | tuple | list)
            else ""
        )
        raise _Wrong(f"expected a function {signature}; got {_describe_value(answer)}.{extra}")
    return answer  # type: ignore[return-value]


def _call(fn: Callable, *args: object, **kwargs: object) -> object:
    name = getattr(fn, "__name__", "your function")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise _NotAnswered(f"{name} raises NotImplementedError") from None
    except Exception as err:  # the student's bug: report it, don't crash the notebook
        shown = ", ".join(
            [_describe_value(a) for a in args]
            + [f"{k}={_describe_value(v)}" for k, v in kwargs.items()]
        )
        raise _Wrong(f"{name}({shown}) raised {type(err).__name__}: {err}") from None


def _array(
    value: object, what: str, shape: tuple[int, ...] | None = None, meaning: str = ""
) -> np.ndarray:
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
        raise _Wrong(
            f"{what} must be a real array (a torch tensor or a numpy array); got {_describe_value(value)}"
        ) from None
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
    return (
        t.detach().cpu().to(torch.float64).numpy()
        if isinstance(t, torch.Tensor)
        else np.asarray(t, dtype=np.float64)
    )


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


def _hints(
    inputs: list[_Input],
    answers: list[np.ndarray],
    refs: list[np.ndarray],
    cases: list[_Case],
    tol: float,
) -> list[str]:
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
            return [
                f"your answer is the expected one times a constant factor of about {c:.4g}: look for a missing or extra normalisation."
            ]
    wrong = [c for c in cases if not c.ok]
    if wrong and max(c.error or 0 for c in wrong) < 1e-3:
        return ["close but not within tolerance: compute in float64 and check small terms."]
    return []


# --------------------------------------------------------------------------------------------------
# Shared helpers for the graders
# --------------------------------------------------------------------------------------------------
def _gen(seed: int) -> torch.Generator:
    return seeded_generator(seed)


def _gaussian(g: torch.Generator, n: int, n0: int, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(n, n0, generator=g, dtype=torch.float64)
