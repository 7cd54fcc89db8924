"""The grading side of the wall: which inputs go to the sandbox, and how what comes back is scored.

A question's grader (:mod:`.a1` .. :mod:`.a4`) draws its inputs from a seed, calls the answer, and
compares each result with a reference it computes. To grade without running the grader where the
student's code runs, it is run twice in the grading process:

1. :func:`make_plan` runs it on the model solution wrapped in a :class:`Recorder`, which notes the
   inputs of every call: those inputs, as plain data (:mod:`.plaindata`), are all the sandbox gets.
2. After the sandbox has called the student's function on them, :func:`score` runs the grader again
   on a :class:`Replay`, which hands back, call by call, what the student's function returned (or
   raises what it raised), after checking that the grader asks for the very inputs planned.

Every question has a public test (seed fixed, 1 point, what ``grader.check`` runs in the handout)
and one hidden test per part, on seeds drawn from the teacher's secret (:func:`graded_tests`); the
points of a part go to the answer when every input of that part passes, as in
:func:`.grading.require`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from .grading import QUESTIONS, _evaluate, _passes
from .otter_cells import seed_of
from .plaindata import decode, encode


@dataclass(frozen=True)
class GradedTest:
    """One test of a question: its name, seed, part (None: the whole question) and points.

    Attributes
    ----------
    name : str
        ``"public"`` or ``"hidden_1"``, ``"hidden_2"``, ...
    seed : int
        The seed of the grader's inputs.
    part : str or None
        The part of the question it grades.
    points : float
        What passing it is worth.
    """

    name: str
    seed: int
    part: str | None
    points: float


def graded_tests(question: str, secret: int) -> list[GradedTest]:
    """The public test and the hidden tests of ``question``, the hidden ones seeded by ``secret``.

    Parameters
    ----------
    question : str
        A question id, e.g. ``"a1.q2"``.
    secret : int
        The teacher's hidden-test seed (drawn by ``build``, kept in the handouts folder).

    Returns
    -------
    list of GradedTest
        One point for the public test, the rest shared by the parts.
    """
    q = QUESTIONS[question]
    parts = [name for name, _ in q.parts] or [None]
    tests = [GradedTest("public", seed_of(question, "public"), None, 1.0)]
    for k, part in enumerate(parts, 1):
        seed = seed_of(question, f"hidden {part or ''}", secret)
        tests.append(GradedTest(f"hidden_{k}", seed, part, (q.points - 1) / len(parts)))
    return tests


def _digest(tree: object, arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(json.dumps(tree, sort_keys=True).encode())
    for key in sorted(arrays):
        h.update(key.encode() + arrays[key].dtype.str.encode() + str(arrays[key].shape).encode())
        h.update(np.ascontiguousarray(arrays[key]).tobytes())
    return h.hexdigest()


class PlanMismatch(BaseException):
    """The grader asked for inputs that were not planned: a bug of the course, never the student's.

    A BaseException, so that the graders' handling of a student's exceptions does not catch it.
    """


class Recorder:
    """The model solution, noting the inputs of every call (for :func:`make_plan`)."""

    def __init__(self, fn) -> None:
        self.fn, self.calls = fn, []
        self.__name__ = getattr(fn, "__name__", "answer")

    def __call__(self, *args: object, **kwargs: object) -> object:
        self.calls.append((args, kwargs))
        return self.fn(*args, **kwargs)


class Replay:
    """What the student's function returned on the planned inputs, handed back call by call."""

    def __init__(
        self, name: str, outputs: list[dict], planned: list[str], arrays: dict, why: str = ""
    ) -> None:
        self.__name__ = name
        self._outputs, self._planned, self._arrays, self._next = outputs, planned, arrays, 0
        self._why = why or "no result: the answer did not finish its inputs in time"

    def __call__(self, *args: object, **kwargs: object) -> object:
        k, self._next = self._next, self._next + 1
        found: dict[str, np.ndarray] = {}
        if (
            k >= len(self._planned)
            or _digest(encode((args, kwargs), found), found) != self._planned[k]
        ):
            raise PlanMismatch(f"{self.__name__}: call {k} was not planned")
        if k >= len(self._outputs):
            raise TimeoutError(self._why)
        out = self._outputs[k]
        if "raised" in out:
            kind = str(out["raised"])[:60]
            if kind == "NotImplementedError":
                raise NotImplementedError(out.get("message", ""))
            raise type(kind if kind.isidentifier() else "Error", (Exception,), {})(
                str(out.get("message", ""))
            )
        return decode(out["value"], self._arrays, models=False)


@dataclass
class Plan:
    """The inputs of every test of an assignment, as plain data, and their fingerprints.

    Attributes
    ----------
    assignment : str
        ``"a1"`` ... ``"a4"``.
    answers : dict
        Question id to the name of the answer's function in the notebook.
    tests : dict
        Question id to its :class:`GradedTest` list.
    calls : dict
        Question id to the encoded ``(args, kwargs)`` of every call, all tests in order.
    spans : dict
        Question id to ``{test name: (first call, end)}``.
    digests : dict
        Question id to the fingerprint of every call.
    arrays : dict
        The arrays the encoded calls refer to.
    """

    assignment: str
    answers: dict[str, str]
    tests: dict[str, list[GradedTest]]
    calls: dict[str, list] = field(default_factory=dict)
    spans: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    digests: dict[str, list[str]] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def make_plan(assignment: str, model_answers: dict[str, object], secret: int) -> Plan:
    """Record the inputs of every test of ``assignment`` by grading its model solution.

    Parameters
    ----------
    assignment : str
        ``"a1"`` ... ``"a4"``.
    model_answers : dict
        Question id to the model solution's function (:func:`.handouts.reference_answers`).
    secret : int
        The teacher's hidden-test seed.

    Returns
    -------
    Plan
        Raises RuntimeError if a model solution fails its own test.
    """
    ids = [q for q in QUESTIONS if q.startswith(f"{assignment}.")]
    plan = Plan(assignment, {}, {q: graded_tests(q, secret) for q in ids})
    for q in ids:
        fn = model_answers[q]
        plan.answers[q] = fn.__name__
        plan.calls[q], plan.spans[q], plan.digests[q] = [], {}, []
        for test in plan.tests[q]:
            rec = Recorder(fn)
            result = _evaluate(QUESTIONS[q], rec, test.seed)
            if not result.passed:
                raise RuntimeError(f"the model solution fails {q} {test.name}:\n{result.message}")
            start = len(plan.calls[q])
            for call in rec.calls:
                found: dict[str, np.ndarray] = {}
                tree = encode(call, found)
                plan.digests[q].append(_digest(tree, found))
                renamed = {f"{q}.{len(plan.arrays) + i}": a for i, a in enumerate(found.values())}
                keys = dict(zip(found, renamed))
                plan.calls[q].append(_rekey(tree, keys))
                plan.arrays.update(renamed)
            plan.spans[q][test.name] = (start, len(plan.calls[q]))
    return plan


def _rekey(tree: object, keys: dict[str, str]) -> object:
    if isinstance(tree, dict):
        return {k: (keys[v] if k == "key" else _rekey(v, keys)) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_rekey(v, keys) for v in tree]
    return tree


@dataclass
class Scored:
    """The points and messages of one question.

    Attributes
    ----------
    points : float
        The points earned.
    messages : list of str
        One message per test, ``"public: ✓ ..."``, for the student's feedback.
    """

    points: float
    messages: list[str]


def score(plan: Plan, question: str, returned: dict, arrays: dict) -> Scored:
    """Score what the sandbox sent back for ``question`` with the grader, on trusted references.

    Parameters
    ----------
    plan : Plan
        The plan the sandbox ran.
    question : str
        The question id.
    returned : dict
        The decoded tree of the question's result file: ``{"kind": "missing"}``, ``{"kind":
        "value", "value": ...}`` or ``{"kind": "function", "name": ..., "outputs": [...]}``.
    arrays : dict
        The arrays of that file.

    Returns
    -------
    Scored
        Points and one message per test.
    """
    q = QUESTIONS[question]
    total, messages = 0.0, []
    for test in plan.tests[question]:
        if returned.get("kind") == "missing":
            messages.append(f"{test.name}: ✗ {plan.answers[question]} is not defined")
            continue
        if returned.get("kind") == "value":
            answer: object = decode(returned["value"], arrays, models=False)
        else:
            first, end = plan.spans[question][test.name]
            answer = Replay(
                str(returned.get("name", plan.answers[question])),
                list(returned.get("outputs", []))[first:end],
                plan.digests[question][first:end],
                arrays,
                str(returned.get("why", "")),
            )
        result = _evaluate(q, answer, test.seed)
        passed = _passes(q, result, test.part)
        total += test.points if passed else 0.0
        what = f"part '{test.part}'" if test.part else "whole question"
        mark = "✓" if passed else "✗"
        unit = "point" if test.points == 1 else "points"
        messages.append(f"{test.name} ({what}, {test.points:g} {unit}): {mark}\n{result.message}")
    return Scored(total, messages)


__all__ = [
    "Plan",
    "PlanMismatch",
    "Recorder",
    "Replay",
    "Scored",
    "GradedTest",
    "make_plan",
    "score",
    "graded_tests",
]
