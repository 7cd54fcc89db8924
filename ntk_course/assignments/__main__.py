"""python -m ntk_course.assignments: the command line of the assignments.

Build the handouts with Otter-Grader, grade a class, list the questions:

python -m ntk_course.assignments build handouts/
    # handouts/a1/student/a1.ipynb ... and the autograders
python -m ntk_course.assignments grade SUBMISSIONS_DIR --out grades.csv
    # each submission in a sandbox; grades.csv, grades-feedback/, grades-written/, a summary
python -m ntk_course.assignments list
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import describe, questions
from .sandbox import KINDS


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
        "--seed",
        type=int,
        default=None,
        help="the hidden tests' seed (default: kept in OUTDIR/secret.json, else a random one)",
    )
    p.add_argument(
        "--source",
        default=None,
        help="folder of the a<k>.md sources (default: book/assignments of this checkout)",
    )
    g = sub.add_parser(
        "grade",
        help="grade a folder of submissions, each in a sandbox, into a CSV file",
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
        "--assignment", default=None, help="grade only a1 ... a4 (default: each its own)"
    )
    g.add_argument(
        "--only", nargs="+", default=None, metavar="FILE", help="regrade these submissions only"
    )
    g.add_argument(
        "--manual", default=None, help="CSV of hand-given points: submission,question,points"
    )
    g.add_argument(
        "--sandbox",
        choices=KINDS,
        default=None,
        help="bubblewrap, docker or none (default: the first available)",
    )
    g.add_argument(
        "--unsafe", action="store_true", help="allow grading without a sandbox (see the README)"
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
    g.add_argument(
        "--cell-timeout", type=float, default=300.0, help="seconds allowed per cell (default 300)"
    )
    g.add_argument(
        "--answer-timeout",
        type=float,
        default=120.0,
        help="seconds for one answer's calls on the hidden inputs (default 120)",
    )
    g.add_argument(
        "--memory", type=float, default=6.0, help="GiB of memory per submission (default 6)"
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
        from .grade import Limits, grade_class
        from .report import manual_points, summary, write_csv, write_feedback, write_written
        from .sandbox import choose

        if not Path(args.out).resolve().parent.is_dir():
            raise ValueError(f"cannot write {args.out}: its folder does not exist")
        manual = manual_points(args.manual)
        sandbox = choose(args.sandbox, unsafe=args.unsafe)
        limits = Limits(
            args.timeout, args.cell_timeout, args.answer_timeout, int(args.memory * 2**30)
        )
        grades = grade_class(
            args.submissions,
            args.handouts,
            sandbox,
            assignment=args.assignment,
            only=args.only,
            jobs=args.jobs,
            limits=limits,
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    write_csv(grades, out, manual)
    write_feedback(grades, out.with_name(f"{out.stem}-feedback"))
    written = write_written(grades, out.with_name(f"{out.stem}-written"))
    print(summary(grades, out.with_name(f"{out.stem}-summary.png")))
    failed = sum(bool(g.error) for g in grades)
    flagged = sum(bool(g.flags) for g in grades)
    print(
        f"{len(grades)} submissions graded in a {sandbox.kind} sandbox into {out}; "
        f"{failed} with an error, {flagged} flagged (see those columns); feedback in "
        f"{out.stem}-feedback/, written answers of {len(written)} questions in {out.stem}-written/"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
