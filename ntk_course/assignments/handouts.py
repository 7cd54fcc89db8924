"""The handouts of the assignments, made by Otter-Grader from the pages of the website.

Each assignment has one source, ``book/assignments/a<k>.md``: the MyST page the website shows, with
every question in a sphinx-exercise ``exercise`` and its model solution folded in a
``solution-start`` / ``solution-end`` dropdown, followed by a ``check("a1.q2", answer)`` cell.
:func:`master_notebook` rewrites it as an Otter-Grader *master notebook*
(https://otter-grader.readthedocs.io/en/latest/otter_assign/notebook_format.html):

* the exercise opens a question (``# BEGIN QUESTION``, ``name: q2``) and becomes plain Markdown;
* the solution block becomes a ``# BEGIN SOLUTION`` block: its prose is dropped from the student
  notebook (a "Your answer" cell is left in a ``# BEGIN PROMPT`` block), and in its code cells every
  function keeps its signature and docstring while its body is marked ``# BEGIN SOLUTION NO PROMPT``
  behind a prompt that raises ``NotImplementedError``; any other statement (a plot) is marked too;
* after the ``check`` cell come the tests (``# BEGIN TESTS``): a public one, which a student runs
  with ``grader.check("q2")`` and which fails with the message and hints of ``check``, and hidden
  ones on other seeds, one per part of the question (:func:`.grading.require`); points as
  registered with the question's grader (1 public, the rest hidden).

:func:`build` runs ``otter assign`` on it: ``OUTDIR/a1/student/a1.ipynb`` is the handout (no
solution, no hidden test), ``OUTDIR/a1/autograder/`` holds the solved notebook and the autograder
zip that Gradescope takes; :mod:`.grade` grades a class without it.

The cells that are Otter's own, the marked solution code and the tests of each question, are made
in :mod:`.otter_cells`; this module reads the page and assembles the notebook. Nothing of Jacot,
Gabriel & Hongler (2018) is implemented here: the handouts carry the assignments on its results.
"""

from __future__ import annotations

import ast
import json
import re
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path

import jupytext
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell
from pybtex.database import parse_file

from .grading import QUESTIONS
from .otter_cells import mark_solution, test_cells

REPOSITORY = "https://github.com/ntk-course/ntk-course"
TORCH = "2.13.0"  # the CPU build the Gradescope autograder installs
_DIRECTIVE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}\s*(?P<arg>.*?)\s*$")
_OPTION = re.compile(r"^\s*:[\w-]+:")
_TARGET = re.compile(r"^\([\w.:-]+\)=\s*$")
_ROLE = re.compile(r"\{(?P<role>[\w:-]+)\}`(?P<text>[^`]*)`")
_QUESTION = re.compile(r"^(a\d+\.q\d+)\b")
_CHECK = re.compile(
    r"""^check\(\s*["'](?P<question>a\d+\.q\d+)["']\s*,\s*(?P<name>[A-Za-z_]\w*)\s*\)$"""
)
STUDENT_NOTE = (
    "**How to work.** Each answer cell raises `NotImplementedError`: replace that line by your "
    "code (keep the function's name and arguments) and run the cell. `check(...)` then tries your "
    "answer on random inputs of its own and says what is right, what is wrong and by how much; "
    '`grader.check("q1")` runs the public test of the question, which your work is graded with, '
    "together with hidden tests on other inputs. Written answers go in the cells marked "
    "**Your answer**. At the end, run the export cell and hand in the zip file it makes "
    "(or this notebook)."
)

GRADER_CELL = (
    '# Otter-Grader: grader.check("q1") runs the public test of question 1, which grades your work.'
    """
import otter

grader = otter.Notebook("{notebook}")"""
)


def source_dir() -> Path:
    """The folder of the assignment sources in this checkout: ``book/assignments``."""
    return Path(__file__).resolve().parents[2] / "book" / "assignments"


def assignment_paths(source: str | Path | None = None) -> list[Path]:
    """The assignment sources ``a<k>.md`` in ``source`` (default :func:`source_dir`), in order."""
    folder = Path(source) if source is not None else source_dir()
    paths = sorted(folder.glob("a[0-9]*.md"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
    if not paths:
        raise ValueError(
            f"no assignment sources a<k>.md in {folder}; "
            "run from a checkout of the course or pass --source DIR"
        )
    return paths


# --------------------------------------------------------------------------------------------------
# MyST Markdown to plain Jupyter Markdown (only what the question texts use)
# --------------------------------------------------------------------------------------------------
def _citations(bib: Path) -> dict[str, tuple[str, str]]:
    """citation key -> ('Jacot et al.', '2018')."""
    out = {}
    for key, entry in parse_file(str(bib)).entries.items():
        last = [
            "".join(p.last_names).replace("{", "").replace("}", "")
            for p in entry.persons.get("author", [])
        ]
        who = (
            last[0]
            if len(last) == 1
            else " and ".join(last)
            if len(last) == 2
            else f"{last[0]} et al."
        )
        out[key] = (who, entry.fields.get("year", "n.d."))
    return out


def plain_markdown(text: str, citations: dict[str, tuple[str, str]]) -> str:
    """MyST text as Markdown that plain Jupyter renders: labels dropped, citations written out."""

    def role(m: re.Match[str]) -> str:
        if m.group("role") not in ("cite:t", "cite:p"):
            raise ValueError(
                f"the handouts cannot render the role {{{m.group('role')}}} outside a solution: "
                f"{m.group(0)}"
            )
        refs = [citations[k.strip()] for k in m.group("text").split(",")]
        if m.group("role") == "cite:t":
            return "; ".join(f"{who} ({year})" for who, year in refs)
        return "(" + "; ".join(f"{who}, {year}" for who, year in refs) + ")"

    return "\n".join(_ROLE.sub(role, line) for line in text.splitlines() if not _TARGET.match(line))


# --------------------------------------------------------------------------------------------------
# The master notebook
# --------------------------------------------------------------------------------------------------
def _config(name: str) -> str:
    return f"""# ASSIGNMENT CONFIG
name: {name}
init_cell: false
check_all_cell: true
export_cell:
  pdf: false
  run_tests: false
show_question_points: true
requirements: requirements.txt
tests:
  ok_format: false"""


def _fence_end(lines: list[str], i: int, fence: str) -> tuple[int, int]:
    """(first body line, closing line) of the directive that opens at line ``i``."""
    j = i + 1
    while j < len(lines) and _OPTION.match(lines[j]):
        j += 1
    k = j
    while k < len(lines) and lines[k].strip() != fence:
        k += 1
    if k == len(lines):
        raise ValueError(f"unclosed directive: {lines[i]}")
    return j, k


def master_notebook(path: str | Path, *, salt: int = 0) -> nbformat.NotebookNode:
    """The Otter master notebook of one assignment source (see the module's docstring)."""
    path = Path(path)
    source = jupytext.read(path)
    citations = _citations(path.parent.parent / "references.bib")
    cells = [new_raw_cell(_config(path.stem))]
    question: str | None = None
    solution: list[nbformat.NotebookNode] | None = None
    text: list[str] = []
    grader_cell = True

    def flush() -> None:
        body = "\n".join(text).strip("\n")
        text.clear()
        if body.strip() and solution is not None:
            solution.append(new_markdown_cell(body))
        elif body.strip():
            cells.append(new_markdown_cell(plain_markdown(body, citations)))
            if len(cells) == 2:
                cells.append(new_markdown_cell(STUDENT_NOTE))

    for cell in source.cells:
        if cell.cell_type == "code":
            flush()
            check = _CHECK.match(cell.source.strip())
            if solution is not None:
                solution.append(new_code_cell(mark_solution(cell.source, question or "?")))
            elif check:
                if check.group("question") != question:
                    raise ValueError(
                        f"{path.name}: check of {check.group('question')} "
                        f"outside its question ({question})"
                    )
                cells += [
                    new_code_cell(cell.source),
                    new_raw_cell("# BEGIN TESTS"),
                    *test_cells(question, check.group("name"), salt),
                    new_raw_cell("# END TESTS"),
                    new_raw_cell("# END QUESTION"),
                ]
                question = None
            else:
                cells.append(new_code_cell(cell.source))
                if grader_cell and "remove-cell" not in cell.metadata.get("tags", []):
                    cells.append(new_code_cell(GRADER_CELL.format(notebook=f"{path.stem}.ipynb")))
                    grader_cell = False
            continue
        lines = cell.source.splitlines()
        i = 0
        while i < len(lines):
            m = _DIRECTIVE.match(lines[i])
            if not m:
                text.append(lines[i])
                i += 1
                continue
            body, end = _fence_end(lines, i, m.group("fence"))
            flush()
            if m.group("name") == "exercise":
                qid = _QUESTION.match(m.group("arg"))
                if question is not None or not qid or qid.group(1) not in QUESTIONS:
                    raise ValueError(
                        f"{path.name}: exercise {m.group('arg')!r} is not a registered question, "
                        f"or {question} has no check cell"
                    )
                question = qid.group(1)
                cells += [
                    new_raw_cell(f"# BEGIN QUESTION\nname: {question.split('.')[1]}"),
                    new_markdown_cell(
                        plain_markdown(
                            f"**Question {m.group('arg').rstrip('.')}.**\n\n"
                            + "\n".join(lines[body:end]).strip("\n"),
                            citations,
                        )
                    ),
                ]
            elif m.group("name") == "solution-start":
                solution = []
            elif m.group("name") == "solution-end" and solution is not None:
                if any(c.cell_type == "markdown" for c in solution):
                    cells += [
                        new_raw_cell("# BEGIN PROMPT"),
                        new_markdown_cell(
                            f"**Your answer to {question}.** *Derivations and explanations go "
                            "here: double-click to edit this cell (Markdown, with mathematics "
                            "between `$` signs).*"
                        ),
                        new_raw_cell("# END PROMPT"),
                    ]
                cells += [
                    new_raw_cell("# BEGIN SOLUTION"),
                    *solution,
                    new_raw_cell("# END SOLUTION"),
                ]
                solution = None
            else:
                raise ValueError(
                    f"{path.name}: the handouts cannot render the directive {lines[i]!r} "
                    "outside a solution"
                )
            i = end + 1
        flush()
    if question is not None or solution is not None:
        raise ValueError(f"{path.name}: {question} ends without its check cell or its solution-end")
    nb = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": dict(source.metadata["kernelspec"]),
            "language_info": {"name": "python"},
        },
    )
    nbformat.validate(nb)
    return nb


def draw_secret(outdir: str | Path, salt: int | None = None) -> int:
    """The hidden-test seed of the handouts in ``outdir``, kept in ``outdir/secret.json`` (0600).

    Parameters
    ----------
    outdir : str or Path
        The handouts folder.
    salt : int, optional
        A seed chosen by the teacher; default: the one already kept there, else a fresh random one.

    Returns
    -------
    int
        The seed; the grader reads it back (:func:`.grade.secret_of`).
    """
    path = Path(outdir) / "secret.json"
    if salt is None and path.is_file():
        return int(json.loads(path.read_text())["seed"])
    seed = secrets.randbelow(2**31) if salt is None else int(salt)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(json.dumps({"seed": seed}))
    return seed


def build(
    outdir: str | Path,
    *,
    salt: int | None = None,
    source: str | Path | None = None,
    only: Sequence[str] | None = None,
) -> list[Path]:
    """Write the master notebooks into ``outdir/master`` and run ``otter assign`` on each.

    The hidden tests are seeded by :func:`draw_secret` (``salt``, or a random seed kept in
    ``outdir/secret.json``). The autograder's requirements pin the course's version and a CPU
    build of torch.

    Returns the student notebooks ``outdir/a<k>/student/a<k>.ipynb`` (the autograders lie beside
    them).
    """
    from otter.assign import main as otter_assign

    from .. import __version__

    paths = assignment_paths(source)
    unknown = sorted(set(only or ()) - {p.stem for p in paths})
    if unknown:
        raise ValueError(
            f"no assignment named {unknown}; the assignments are {[p.stem for p in paths]}"
        )
    out = Path(outdir).resolve()
    (out / "master").mkdir(parents=True, exist_ok=True)
    secret = draw_secret(out, salt)
    (out / "master" / "requirements.txt").write_text(
        "--extra-index-url https://download.pytorch.org/whl/cpu\n"
        f"torch=={TORCH}+cpu\nntk_course @ git+{REPOSITORY}@v{__version__}\n"
    )
    written = []
    for path in paths:
        if only and path.stem not in only:
            continue
        master = out / "master" / f"{path.stem}.ipynb"
        nbformat.write(master_notebook(path, salt=secret), master)
        shutil.rmtree(out / path.stem, ignore_errors=True)
        otter_assign(str(master), str(out / path.stem), no_run_tests=True, no_pdfs=True)
        written.append(out / path.stem / "student" / f"{path.stem}.ipynb")
    return written


def reference_answers(path: str | Path) -> dict[str, object]:
    """The model answers of one assignment, keyed by question id: ``{"a1.q2": relu_nngp, ...}``.

    Runs the source's first code cell that is not tagged ``remove-cell`` (its imports) and the
    imports and function definitions of its ``solution`` cells, then looks up the name passed to
    each ``check("a1.q2", name)`` cell. The tests use it to grade the model solutions without the
    notebook.
    """
    code = [
        c
        for c in jupytext.read(Path(path)).cells
        if c.cell_type == "code" and "remove-cell" not in c.metadata.get("tags", [])
    ]
    namespace: dict[str, object] = {"__name__": f"reference_{Path(path).stem}"}
    exec(compile(code[0].source, f"{Path(path).name}:setup", "exec"), namespace)  # noqa: S102 - our own notebook
    for cell in code[1:]:
        if "solution" in cell.metadata.get("tags", []):
            tree = ast.parse(cell.source)
            tree.body = [
                n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom | ast.FunctionDef)
            ]
            exec(compile(tree, f"{Path(path).name}:solution", "exec"), namespace)  # noqa: S102
    answers = {}
    for cell in code:
        m = _CHECK.match(cell.source.strip())
        if m:
            answers[m.group("question")] = namespace[m.group("name")]
    return answers
