"""What a check of the assignments reports: the verdict, its cases and its message.

:func:`.grading.check` and :func:`.grading.require` run a question's grader (:mod:`.answers`, the
graders of :mod:`.a1` .. :mod:`.a4`) and turn what it found into a :class:`CheckResult`: ✓ or ✗, the
relative error on each random input against the tolerance, and for a wrong answer the hints that a
known mistake explains. A grader stops early with :class:`_NotAnswered` (the stub is still there) or
:class:`_Wrong` (an answer that cannot be compared at all). The message never shows a reference
value.

Nothing of Jacot, Gabriel & Hongler (2018) is implemented here: this is the reporting side of the
checks on its results (Prop 1, Thm 1, Thm 2, Sec 5, App. A.4) that the assignments ask for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .grading import Question


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
        # check() has printed the message already; show it again only for a result kept and
        # displayed later.
        if not self._shown:
            print(self.message)


class _NotAnswered(Exception):
    """The answer is still the stub (NotImplementedError, or the placeholder ``...``)."""


class _Wrong(Exception):
    """The answer has the wrong kind, shape or values to be compared at all.

    Stop with this message.
    """


@dataclass
class _Case:
    label: str
    ok: bool
    error: float | None = None
    tolerance: float | None = None
    detail: str = ""
    measure: str = "relative error"


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
            f" ({wrong[0].measure} up to "
            f"{_fmt(max(c.error for c in wrong if c.error is not None))})"
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
