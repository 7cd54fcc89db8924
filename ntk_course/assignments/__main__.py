"""python -m ntk_course.assignments: the command line of the assignments.

Build the handouts with Otter-Grader, grade a class, list the questions:

python -m ntk_course.assignments build handouts/
    # handouts/a1/student/a1.ipynb ... and the autograders
python -m ntk_course.assignments grade SUBMISSIONS_DIR --out grades.csv
python -m ntk_course.assignments list
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import describe, questions


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ntk_course.assignments",
        description="The NTK course assignments: handouts and grading with Otter-Grader.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "build",
        help="student notebooks (no solutions, no hidden tests) and autograders, by otter assign",
    )
    p.add_argument(
        "outdir",
        help="folder for <a>/student/<a>.ipynb, <a>/autograder/ and master/ (created if missing)",
    )
    p.add_argument(
        "--only", nargs="+", default=None, metavar="NAME", help="only these assignments, e.g. a1 a3"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="changes the inputs of the hidden tests (default 0)"
    )
    p.add_argument(
        "--source",
        default=None,
        help="folder of the a<k>.md sources (default: book/assignments of this checkout)",
    )
    g = sub.add_parser(
        "grade",
        help="grade a folder of submissions with otter run, without Docker, into a CSV file",
    )
    g.add_argument(
        "submissions",
        help="folder of submitted notebooks (.ipynb) or Otter exports (.zip), one per student",
    )
    g.add_argument("--out", default="grades.csv", help="the CSV file to write (default grades.csv)")
    g.add_argument(
        "--handouts", default="handouts", help="the folder that `build` wrote (default handouts)"
    )
    g.add_argument(
        "--assignment", default=None, help="a1 ... a4 (default: read from the submissions)"
    )
    g.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="submissions graded at once (default: the number of cores)",
    )
    g.add_argument(
        "--timeout", type=float, default=900.0, help="seconds allowed per submission (default 900)"
    )
    sub.add_parser("list", help="list the questions that ntk_course.assignments.check knows")
    args = parser.parse_args(argv)
    if args.command == "list":
        for q in questions():
            print(describe(q))
        return 0
    try:
        if args.command == "build":
            from .handouts import build

            for path in build(args.outdir, salt=args.seed, source=args.source, only=args.only):
                print(path)
            return 0
        from .grade import assignment_of, autograder_zip, grade_class, submissions

        named = {assignment_of(p) for p in submissions(args.submissions)} - {None}
        assignment = args.assignment or (named.pop() if len(named) == 1 else None)
        if assignment is None:
            raise ValueError(
                f"the submissions name {sorted(named) or 'no assignment'}; "
                "say which with --assignment a1"
            )
        grades = grade_class(
            args.submissions,
            autograder_zip(args.handouts, assignment),
            assignment,
            args.out,
            jobs=args.jobs,
            timeout=args.timeout,
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    failed = sum(bool(g.error) for g in grades)
    print(
        f"{len(grades)} submissions of {assignment} graded into {args.out}; "
        f"{failed} with an error (see its column)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
