"""python -m ntk_course.assignments: write the student or solved notebooks, or list the questions."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import describe, questions
from .notebooks import write_notebooks


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ntk_course.assignments",
        description="Write the NTK course assignments as notebooks (student versions without solutions, or solved ones).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("student", "notebooks for students: answers replaced by stubs, solutions removed"),
                       ("solved", "the same notebooks with their model solutions")):
        p = sub.add_parser(name, help=text)
        p.add_argument("outdir", help="folder to write a1.ipynb, a2.ipynb, ... into (created if missing)")
        p.add_argument("--source", default=None, help="folder of the a<k>.md sources (default: book/assignments of this checkout)")
        p.add_argument("--only", nargs="+", default=None, metavar="NAME", help="only these assignments, e.g. a1 a3")
    sub.add_parser("list", help="list the questions that ntk_course.assignments.check knows")
    args = parser.parse_args(argv)
    if args.command == "list":
        for q in questions():
            print(describe(q))
        return 0
    try:
        paths = write_notebooks(args.outdir, solutions=args.command == "solved", source=args.source, only=args.only)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
