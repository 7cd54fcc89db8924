"""Grade a class: each submission's code in a sandbox, every comparison in the grading process.

:func:`grade_class` grades each notebook (``.ipynb``) or Otter export (``.zip``) of a folder:

1. the notebook is read (from a zip, only the notebook) and its assignment identified
   (:mod:`.intake`); a folder may mix assignments, each is graded against its own;
2. its code cells and the hidden inputs of its assignment (:mod:`.replay`, seeded by the
   teacher's secret that ``build`` drew) go into a job folder, and :mod:`.runner` runs them in a
   sandbox (:mod:`.sandbox`), which writes back what the answers returned, as plain data;
3. the graders score those results against references computed here (:func:`.replay.score`);
   the answers' code is read for forbidden library calls (:mod:`.forbidden`).

One submission that does not run costs only itself; nothing stops the batch. The class's
``grades.csv``, the per-student feedback, the written answers and the summary are written by
:mod:`.report`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .forbidden import static_flags
from .grading import QUESTIONS
from .handouts import assignment_paths, reference_answers
from .intake import SUFFIXES, code_cells, identify, read_notebook, written_answers
from .plaindata import load, save
from .replay import Plan, make_plan, score
from .sandbox import Sandbox

SECRET = "secret.json"


@dataclass
class Limits:
    """Time and memory allowed to one submission.

    Attributes
    ----------
    submission : float
        Seconds for the whole job (the sandbox is killed after it).
    cell : float
        Seconds for one cell of the notebook.
    answer : float
        Seconds for all the calls of one question's answer.
    memory : int
        Bytes of address space of the runner.
    """

    submission: float = 900.0
    cell: float = 300.0
    answer: float = 120.0
    memory: int = 6 * 2**30


@dataclass
class Grade:
    """The grade of one submission.

    Attributes
    ----------
    submission : str
        The file's name.
    assignment : str
        The assignment graded ("" when none could be identified).
    scores : dict of str to float
        Points per question, by Otter's names (``q1`` ...).
    flags : list of str
        Forbidden library calls found in the code or seen at run time.
    error : str
        Why it lost everything, or the first error of a cell.
    feedback : list of str
        Every test's message, for the student.
    written : dict of str to str
        The written answers, by question id.
    """

    submission: str
    assignment: str
    scores: dict[str, float]
    flags: list[str] = field(default_factory=list)
    error: str = ""
    feedback: list[str] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> float:
        """The sum of the points."""
        return sum(self.scores.values())


def secret_of(handouts: str | Path) -> int:
    """The hidden-test seed that ``build`` drew and kept in ``handouts/secret.json``.

    Parameters
    ----------
    handouts : str or Path
        The folder that ``python -m ntk_course.assignments build`` wrote.

    Returns
    -------
    int
        The seed; ValueError when the folder has none.
    """
    path = Path(handouts) / SECRET
    if not path.is_file():
        raise ValueError(
            f"no {SECRET} in {handouts}: build the handouts first "
            f"(python -m ntk_course.assignments build {handouts}), which draws the hidden seed"
        )
    return int(json.loads(path.read_text())["seed"])


def submissions(folder: str | Path) -> list[Path]:
    """The notebooks and zip files of ``folder``, in name order.

    Parameters
    ----------
    folder : str or Path
        The folder of submissions.

    Returns
    -------
    list of Path
        ValueError when the folder has none.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder of submissions")
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SUFFIXES)
    if not found:
        raise ValueError(f"no submissions (*.ipynb, *.zip) in {folder}")
    return found


def _questions(assignment: str) -> list[str]:
    return [q for q in QUESTIONS if q.startswith(f"{assignment}.")]


def _plan_file(plan: Plan, limits: Limits, folder: Path) -> Path:
    tree = {
        "limits": {
            "cell_seconds": limits.cell,
            "answer_seconds": limits.answer,
            "memory_bytes": limits.memory,
        },
        "questions": {q: {"answer": plan.answers[q], "calls": plan.calls[q]} for q in plan.answers},
    }
    path = folder / f"{plan.assignment}.npz"
    save(path, tree, plan.arrays)
    return path


def _run(job: Path, sandbox: Sandbox, seconds: float) -> str:
    """Run the job in the sandbox; "" or why it produced nothing."""
    proc = subprocess.Popen(
        sandbox.command(job),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return f"did not finish within {seconds:g} s"
    if not (job / "out" / "cells.json").is_file():
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return f"the sandbox returned no result: {tail[0][:200]}"
    return ""


def _grade_one(
    path: Path, plans: dict[str, Path], plan_of: dict[str, Plan], sandbox: Sandbox, limits: Limits
) -> Grade:
    try:
        notebook = read_notebook(path)
    except ValueError as err:
        return Grade(path.name, "", {}, error=str(err))
    names = {a: set(p.answers.values()) for a, p in plan_of.items()}
    assignment = identify(notebook, names)
    if assignment is None:
        return Grade(path.name, "", {}, error=f"answers none of {sorted(plan_of)}")
    plan = plan_of[assignment]
    grade = Grade(path.name, assignment, {q.split(".")[1]: 0.0 for q in plan.answers})
    grade.written = written_answers(notebook)
    cells = code_cells(notebook)
    with tempfile.TemporaryDirectory(prefix="ntk-grade-") as tmp:
        job = Path(tmp)
        (job / "cells.json").write_text(json.dumps(cells))
        shutil.copyfile(plans[assignment], job / "plan.npz")
        os.chmod(tmp, 0o777)  # the sandbox's user may differ from ours
        failure = _run(job, sandbox, limits.submission)
        if failure:
            grade.error = failure
            return grade
        log = json.loads((job / "out" / "cells.json").read_text())[: len(cells)]
        errors = [f"cell {c['cell'] + 1}: {c['error']}" for c in log if c.get("error")]
        grade.error = "; ".join(errors[:3])[:400]
        for q in plan.answers:
            grade.flags += static_flags(cells, q, plan.answers[q])
            returned, arrays = _returned(job / "out", q, limits)
            grade.flags += [f"{q} called {name} at run time" for name in returned.get("called", [])]
            scored = score(plan, q, returned, arrays)
            grade.scores[q.split(".")[1]] = scored.points
            grade.feedback += [f"## {q}: {scored.points:g} points", *scored.messages]
    grade.flags = list(dict.fromkeys(str(f)[:200] for f in grade.flags))
    return grade


def _returned(out: Path, question: str, limits: Limits) -> tuple[dict, dict]:
    """What the sandbox sent back for ``question``, read as untrusted plain data."""
    if (out / f"{question}.timeout").exists():
        why = f"no result within {limits.answer:g} s (an endless loop?)"
        return {"kind": "function", "outputs": [], "why": why}, {}
    try:
        tree, arrays = load(out / f"{question}.npz")
        if not isinstance(tree, dict):
            raise ValueError("not a result")
        outputs = tree.get("outputs", [])
        if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
            raise ValueError("damaged outputs")
        called = tree.get("called", [])
        tree["called"] = [str(c) for c in called] if isinstance(called, list) else []
        return tree, arrays
    except ValueError as err:
        return {"kind": "function", "outputs": [], "why": f"no readable result ({err})"}, {}


def grade_class(
    folder: str | Path,
    handouts: str | Path,
    sandbox: Sandbox,
    *,
    assignment: str | None = None,
    only: list[str] | None = None,
    jobs: int | None = None,
    limits: Limits | None = None,
    source: str | Path | None = None,
) -> list[Grade]:
    """Grade the submissions of ``folder`` (see the module's docstring).

    Parameters
    ----------
    folder : str or Path
        The submissions, one file per student.
    handouts : str or Path
        The folder ``build`` wrote (its ``secret.json`` seeds the hidden tests).
    sandbox : Sandbox
        Where the students' code runs (:func:`.sandbox.choose`).
    assignment : str, optional
        Grade only submissions of this assignment; the others get a row saying what they are.
    only : list of str, optional
        File names to grade (regrading some students); default every submission.
    jobs : int, optional
        Submissions graded at once (default: the number of cores).
    limits : Limits, optional
        Time and memory per submission.
    source : str or Path, optional
        The assignment sources (default: ``book/assignments`` of this checkout).

    Returns
    -------
    list of Grade
        One per submission, in name order.
    """
    limits = limits or Limits()
    if min(limits.submission, limits.cell, limits.answer) <= 0 or limits.memory <= 0:
        raise ValueError(f"time and memory limits must be positive; got {limits}")
    if jobs is not None and jobs < 1:
        raise ValueError(f"jobs must be at least 1 (submissions graded at once); got {jobs}")
    paths = submissions(folder)
    if only:
        unknown = sorted(set(only) - {p.name for p in paths})
        if unknown:
            raise ValueError(f"no submission named {unknown} in {folder}")
        paths = [p for p in paths if p.name in only]
    secret = secret_of(handouts)
    sources = {p.stem: p for p in assignment_paths(source)}
    if assignment is not None and assignment not in sources:
        raise ValueError(f"unknown assignment {assignment!r}; expected one of {sorted(sources)}")
    wanted = [assignment] if assignment else sorted(sources)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    jobs = max(1, min(jobs or cores or 1, len(paths)))
    with tempfile.TemporaryDirectory(prefix="ntk-plans-") as tmp:
        plan_of = {a: make_plan(a, reference_answers(sources[a]), secret) for a in wanted}
        plans = {a: _plan_file(p, limits, Path(tmp)) for a, p in plan_of.items()}
        if assignment is not None:  # others are named, not graded
            names = {a: set(_answer_names(sources[a])) for a in sources}
        with ThreadPoolExecutor(jobs) as pool:
            grades = list(pool.map(lambda p: _grade_one(p, plans, plan_of, sandbox, limits), paths))
    if assignment is not None:
        for g in grades:
            if not g.assignment and g.error.startswith("answers none"):
                other = identify(read_notebook(Path(folder) / g.submission), names)
                if other:
                    g.error = (
                        f"this is {other}, not {assignment}: grade it with --assignment {other}"
                    )
    return grades


def _answer_names(source: Path) -> list[str]:
    return [fn.__name__ for fn in reference_answers(source).values()]


__all__ = ["Grade", "Limits", "SECRET", "grade_class", "secret_of", "submissions"]
