"""One question of an Otter-Grader master notebook: its solution code and its tests.

:func:`.handouts.master_notebook` writes each question of an assignment source in Otter's format
(https://otter-grader.readthedocs.io/en/latest/otter_assign/notebook_format.html). This module makes
the two kinds of cell that are Otter's own: :func:`mark_solution` marks the model solution's code
(every function keeps its signature and docstring, its body becomes ``# BEGIN SOLUTION NO PROMPT``
behind a prompt that raises ``NotImplementedError``; any other statement except imports is marked
too), and :func:`test_cells` writes the tests (``# BEGIN TESTS``): the public one and one hidden
test per part of the question, each calling :func:`.grading.require` on the seed of
:func:`seed_of`, with the points registered with the question's grader.

Nothing of Jacot, Gabriel & Hongler (2018) is implemented here: this is how the handouts grade the
assignments' questions on its results (Prop 1, Thm 1, Thm 2, Sec 3-5, App. A.4).
"""

from __future__ import annotations

import ast
import zlib

import nbformat
from nbformat.v4 import new_code_cell

from .grading import QUESTIONS


def seed_of(question: str, test: str, salt: int = 0) -> int:
    """The seed of one Otter test.

    Fixed for the public test, changed by ``salt`` for the hidden ones.
    """
    return zlib.crc32(f"{question}|{test}|{salt if test != 'public' else 0}".encode()) % 2**31


def mark_solution(source: str, question: str) -> str:
    """A solution cell with Otter's markers.

    Functions keep signature and docstring, their bodies and every other statement except imports
    are solution; the student sees prompts instead.
    """
    lines = source.splitlines()
    spans: list[tuple[int, int, int, str]] = []  # (first line, last line, indent, prompt), 0-based
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0]
            documented = (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            )
            body = node.body[1:] if documented else node.body
            if not body:
                continue
            if body[0].lineno == node.lineno:
                raise ValueError(f"{question}: write the body of {node.name} on its own lines")
            start = (
                first.end_lineno if documented else body[0].lineno - 1
            )  # comments after the docstring are solution
            spans.append(
                (
                    start,
                    node.end_lineno - 1,
                    body[0].col_offset,
                    f'raise NotImplementedError("Question {question}: write your answer here")',
                )
            )
        elif (
            spans
            and spans[-1][3].startswith("#")
            and not any(
                ln.strip() and not ln.lstrip().startswith("#")
                for ln in lines[spans[-1][1] + 1 : node.lineno - 1]
            )
        ):
            spans[-1] = (
                spans[-1][0],
                node.end_lineno - 1,
                0,
                spans[-1][3],
            )  # one block for consecutive statements
        else:
            spans.append(
                (node.lineno - 1, node.end_lineno - 1, 0, f"# Question {question}: your code here")
            )
    for first, last, indent, prompt in reversed(spans):
        pad = " " * indent
        lines[first : last + 1] = [
            f'{pad}""" # BEGIN PROMPT',
            pad + prompt,
            f'{pad}""" # END PROMPT',
            f"{pad}# BEGIN SOLUTION NO PROMPT",
            *lines[first : last + 1],
            f"{pad}# END SOLUTION",
        ]
    return "\n".join(lines)


def _test_cell(
    name: str, question: str, answer: str, seed: int, points: float, part: str | None
) -> nbformat.NotebookNode:
    config = f"points: {points:g}" + ("\nhidden: true" if name != "public" else "")
    call = f"require({question!r}, {answer}, seed={seed}" + (f", part={part!r})" if part else ")")
    return new_code_cell(
        f'""" # BEGIN TEST CONFIG\n{config}\n""" # END TEST CONFIG\n'
        f"def test_{name}({answer}):\n"
        "    from ntk_course.assignments import require\n\n"
        f"    {call}\n\n\n"
        f"test_{name}({answer})"
    )


def test_cells(question: str, answer: str, salt: int = 0) -> list[nbformat.NotebookNode]:
    """The Otter tests of one question: the public one (1 point) and one hidden test per part."""
    q = QUESTIONS[question]
    parts = [name for name, _ in q.parts] or [None]
    share = (q.points - 1) / len(parts)
    cells = [_test_cell("public", question, answer, seed_of(question, "public"), 1, None)]
    for k, part in enumerate(parts, 1):
        cells.append(
            _test_cell(
                f"hidden_{k}",
                question,
                answer,
                seed_of(question, f"hidden {part or ''}", salt),
                share,
                part,
            )
        )
    return cells
