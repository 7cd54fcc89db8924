"""The checks of the course assignments (``book/assignments``): ``check("a1.q2", answer)``.

A student passes the *function* they wrote (or, for a few questions, a number) to :func:`check`.
The grader of that question draws its own random inputs (seeded per call, never shown), runs the
answer on them, compares the result with the reference implementation in ``ntk_course``
(``nngp``, ``ntk``, ``empirical_ntk``, ``flow.gradient_flow``, ``spectral.kernel_pca``,
``hermite.*``) and prints a short verdict: ✓ or ✗, the relative error on each input against the
tolerance, and, for a wrong answer, what was expected (kind and shape) and, when a known mistake
explains the numbers, a hint. It never prints a reference value.

A function that still raises ``NotImplementedError`` (the stub of the student notebook) is
reported as "not answered yet"; any other exception, a wrong shape, NaNs or a non-callable get a
message that says what was wrong. ``check`` returns a :class:`.verdicts.CheckResult`, true exactly
when the answer passed.

With the environment variable ``NTK_COURSE_STRICT_CHECKS=1`` a failed check raises
``AssertionError`` instead of only printing, so that a CI run over the *solved* notebooks fails on
a wrong model solution.

:func:`require` is the same verdict as an assertion, with a given seed and optionally restricted
to one *part* of a question (the inputs whose labels a regular expression matches): it is the body
of every Otter-Grader test of the handouts (:mod:`.handouts`), so that a student's
``grader.check("q2")`` shows the message and hints of ``check``, and the hidden tests grade fresh
inputs part by part.

This module holds the entry points and the registry of questions (:class:`Question`,
``QUESTIONS``, the per-call seeds); the graders themselves are in :mod:`.a1` .. :mod:`.a4`, built
on :mod:`.answers` (calling the answer, comparing it, hints), and the verdict and its message are
in :mod:`.verdicts`. Nothing of Jacot, Gabriel & Hongler (2018) is implemented here: the questions
registered here check the reader's code on its results (Prop 1, Thm 1, Thm 2, Sec 3-5, App. A.4).
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .verdicts import CheckResult, _Case, _NotAnswered, _verdict, _Wrong

STRICT_ENV = "NTK_COURSE_STRICT_CHECKS"


@dataclass(frozen=True)
class Question:
    """One checkable question: its id, a short title, what the answer must be, its grader.

    The id is a string such as ``"a1.q2"``.
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
    """Check ``answer`` to ``question`` on fresh random inputs; print and return the verdict.

    ``question`` is an id such as ``"a1.q2"``; ``answer`` is the object the question asks for,
    usually the function itself (not a call of it). Prints one verdict line and, for a wrong answer,
    the errors per input and hints; returns a :class:`CheckResult` (true when passed). ``seed``
    fixes the inputs (default: fresh ones at every call, the same from one run to the next). An
    unknown question id raises ValueError listing the known ones. With
    ``NTK_COURSE_STRICT_CHECKS=1`` a failed check raises AssertionError.
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
    """Raise AssertionError with the verdict of :func:`check` unless ``answer`` passes.

    The inputs are those of ``seed``. With ``part`` (a name from the question's ``parts``) only the
    inputs of that part must pass, and at least one of them must have been reached. This is the body
    of the handouts' Otter tests.
    """
    q = _question(question)
    if part is not None and part not in dict(q.parts):
        raise ValueError(
            f"{q.id} has no part {part!r}; its parts are {[name for name, _ in q.parts]}"
        )
    result = _evaluate(q, answer, _seed(seed))
    if not _passes(q, result, part):
        raise AssertionError(
            result.message if part is None else f"part '{part}' of {q.id}:\n{result.message}"
        )


def _passes(q: Question, result: CheckResult, part: str | None) -> bool:
    """Whether ``result`` passes the whole question (``part`` None) or every input of ``part``."""
    if part is None:
        return result.passed
    mine = [ok for label, ok in result.cases if re.match(dict(q.parts)[part], label)]
    return bool(mine) and all(mine)


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
            f"✗ {head}: not answered yet ({why}). "
            "Write your answer in place of the stub and run this "
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


def _register(
    qid: str, title: str, expects: str, *, points: int = 3, parts: dict[str, str] | None = None
):
    if points < 2:
        raise ValueError(
            f"{qid}: a question is worth at least 2 points (1 public, the rest hidden); "
            f"got {points}"
        )

    def wrap(grader: Callable[[object, int], tuple[list[_Case], list[str]]]):
        QUESTIONS[qid] = Question(qid, title, expects, grader, points, tuple((parts or {}).items()))
        return grader

    return wrap
