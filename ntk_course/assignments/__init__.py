"""The course's assignments (``book/assignments/a1.md`` .. ``a4.md``) and their checks.

``check("a1.q2", my_function)`` tests a student's answer on fresh random inputs against the library
and prints a verdict with hints, never the solution (:mod:`.grading`, built on :mod:`.answers` and
:mod:`.verdicts`); each assignment's questions live in their own module (:mod:`.a1` .. :mod:`.a4`).
Otter-Grader makes the handouts and grades them: :mod:`.handouts` turns each page into Otter's
master notebook and runs ``otter assign``, whose tests call :func:`require`; :mod:`.grade` grades a
class, each submission in a sandbox (:mod:`.sandbox`, :mod:`.runner`) with the comparisons made
outside it (:mod:`.replay`). Command line: ``python -m ntk_course.assignments build|grade|list``.
The library (``ntk_course``) never imports from here.
"""

from . import a1, a2, a3, a4  # noqa: F401  (each registers its questions with check)
from .grading import STRICT_ENV, CheckResult, check, describe, questions, require

__all__ = ["STRICT_ENV", "CheckResult", "check", "describe", "questions", "require"]
