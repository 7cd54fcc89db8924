"""Grade one submission with ``otter run`` and write what :mod:`.grade` needs to a JSON file.

    python otter_worker.py SUBMISSION AUTOGRADER_ZIP RESULT_JSON

Run as a script by :func:`.grade.grade_class`, one process per submission, so that it imports Otter
and nothing of the course (the student's notebook imports the course in its own kernel). The result
holds the points of every question, or ``fatal``: why the submission gets zeros (Otter could not
grade it, or a cell before its first answer raised, e.g. a failed import), and ``error``: the first
error raised in an answer cell, for the teacher's information.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ANSWER_TAGS = {"otter_answer_cell", "otter_assign_solution_cell"}


def first_error(notebook: dict) -> tuple[str, bool]:
    """The first error raised in an executed notebook.

    Returns it with whether it came before the first answer cell.
    """
    answered = False
    for cell in notebook.get("cells", []):
        answer = bool(ANSWER_TAGS & set(cell.get("metadata", {}).get("tags", [])))
        answered = answered or answer
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                head = next((ln for ln in cell.get("source", "").splitlines() if ln.strip()), "")
                where = "an answer cell" if answer else "the cell"
                return f"{where} starting {head[:60]!r} raised {out['ename']}: {out['evalue']}"[
                    :300
                ], not answered
    return "", False


def main(submission: str, autograder: str, result: str) -> None:
    from otter.run import main as otter_run

    try:
        graded = otter_run(submission, autograder=autograder, output_dir=None, no_logo=True)
    except Exception as err:  # noqa: BLE001 - any failure of one submission is its reason for a zero
        report = {"fatal": f"Otter could not grade it: {type(err).__name__}: {err}"[:300]}
    else:
        error, fatal = first_error(graded.notebook or {})
        if graded.catastrophic_error is not None:
            report = {"fatal": f"Otter could not grade it: {graded.catastrophic_error}"[:300]}
        elif fatal:
            report = {"fatal": f"does not run: {error}"}
        else:
            report = {
                "scores": {name: graded.get_score(name) for name in graded.test_files},
                "error": error,
            }
    Path(result).write_text(json.dumps(report))


if __name__ == "__main__":
    here = Path(__file__).resolve().parent  # the course's modules are no top-level modules
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    main(*sys.argv[1:4])
