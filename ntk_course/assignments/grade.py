"""Grade a class on one machine, without Docker: every submission through ``otter run``.

The submissions are graded in parallel. :func:`grade_class` grades each notebook (``.ipynb``) or
Otter export (``.zip``) of a folder with the autograder zip that :func:`.handouts.build` made, one
``otter run`` (its Python entry point, ``otter.run.main``, in :mod:`.otter_worker`) per submission
in a process of its own, as many at a time as there are cores, each with a time limit. It writes one
CSV row per submission: the points of every question, the total, and an ``error`` column. A
submission that does not run (an invalid file, the wrong assignment, a time-out, or an error in a
cell before its first answer, such as a failed import) gets zeros and the reason; an error in an
answer cell is reported there but costs only the points its tests lose. Nothing stops the batch.

The student's notebook runs at the ``quick`` scale of the course (``NTK_COURSE_SCALE``), with
lenient checks (``NTK_COURSE_STRICT_CHECKS`` unset) and one thread per core left to each submission.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .grading import QUESTIONS, STRICT_ENV

SUFFIXES = (".ipynb", ".zip")
WORKER = Path(__file__).with_name(
    "otter_worker.py"
)  # run as a script: no torch to import in the worker


@dataclass
class Grade:
    """The grade of one submission: points per question (Otter's names, ``q1`` ...), and why it lost
    everything (or which answer cell raised), if anything went wrong."""

    submission: str
    scores: dict[str, float]
    error: str = ""

    @property
    def total(self) -> float:
        return sum(self.scores.values())


def submissions(folder: str | Path) -> list[Path]:
    """The notebooks and zip files of ``folder``, in name order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder of submissions")
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SUFFIXES)
    if not found:
        raise ValueError(f"no submissions (*.ipynb, *.zip) in {folder}")
    return found


def assignment_of(path: Path) -> str | None:
    """The assignment a submission says it answers, if readable.

    Read from Otter's ``assignment_name`` metadata.
    """
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as z:
                names = [n for n in z.namelist() if n.endswith(".ipynb")]
                text = z.read(names[0]) if len(names) == 1 else b"{}"
        else:
            text = path.read_bytes()
        return json.loads(text).get("metadata", {}).get("otter", {}).get("assignment_name")
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


def autograder_zip(handouts: str | Path, assignment: str) -> Path:
    """The newest autograder zip that the build wrote for ``assignment`` under ``handouts``."""
    found = sorted(
        (Path(handouts) / assignment / "autograder").glob(f"{assignment}-autograder_*.zip")
    )
    if not found:
        raise ValueError(
            f"no autograder for {assignment} in {handouts}; build it first: "
            f"python -m ntk_course.assignments build {handouts}"
        )
    return found[-1]


def grade_class(
    folder: str | Path,
    autograder: str | Path,
    assignment: str,
    out: str | Path,
    *,
    jobs: int | None = None,
    timeout: float = 900.0,
) -> list[Grade]:
    """Grade every submission of ``folder`` with ``autograder`` and write ``out`` (CSV).

    Returns the grades.
    """
    questions = [q.split(".")[1] for q in QUESTIONS if q.startswith(f"{assignment}.")]
    if not questions:
        raise ValueError(f"unknown assignment {assignment!r}")
    if timeout <= 0:
        raise ValueError(f"timeout must be positive (seconds per submission); got {timeout}")
    if jobs is not None and jobs < 1:
        raise ValueError(f"jobs must be at least 1 (submissions graded at once); got {jobs}")
    if not Path(out).resolve().parent.is_dir():
        raise ValueError(f"cannot write {out}: its folder does not exist")
    paths = submissions(folder)
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    jobs = max(1, min(jobs or cores, len(paths)))
    env = {
        **os.environ,
        "NTK_COURSE_SCALE": "quick",
        "OMP_NUM_THREADS": str(max(1, cores // jobs)),
        "MPLBACKEND": "agg",
    }
    env.pop(STRICT_ENV, None)
    with ThreadPoolExecutor(jobs) as pool:
        grades = list(
            pool.map(
                lambda p: _grade_one(p, Path(autograder), assignment, questions, env, timeout),
                paths,
            )
        )
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["submission", *questions, "total", "error"])
        for g in grades:
            writer.writerow(
                [g.submission, *(f"{g.scores[q]:g}" for q in questions), f"{g.total:g}", g.error]
            )
    return grades


def _grade_one(
    path: Path,
    autograder: Path,
    assignment: str,
    questions: list[str],
    env: dict[str, str],
    timeout: float,
) -> Grade:
    """One submission in a process (and process group) of its own, killed at the time limit.

    A notebook is graded under the handout's name (``a1.ipynb``), which its ``otter.Notebook``
    opens.
    """
    zeros = dict.fromkeys(questions, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        copy = Path(tmp) / (f"{assignment}.ipynb" if path.suffix == ".ipynb" else path.name)
        shutil.copyfile(path, copy)
        cmd = [sys.executable, str(WORKER), str(copy), str(autograder.resolve()), str(result)]
        proc = subprocess.Popen(
            cmd,
            cwd=tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and its kernel
            proc.communicate()
            return Grade(
                path.name, zeros, f"did not finish within {timeout:g} s (an endless loop?)"
            )
        if not result.is_file():
            tail = log.decode(errors="replace").strip().splitlines()[-1:] or [
                f"exit status {proc.returncode}"
            ]
            return Grade(path.name, zeros, f"the grader crashed: {tail[0]}")
        report = json.loads(result.read_text())
    if report.get("fatal"):
        return Grade(path.name, zeros, report["fatal"])
    scores = {q: float(report["scores"].get(q, 0.0)) for q in questions}
    return Grade(path.name, scores, report.get("error", ""))
