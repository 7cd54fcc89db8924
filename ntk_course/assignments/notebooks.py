"""Write the course assignments as notebooks: the student version (no solutions) or the solved one.

The source of each assignment is one jupytext MyST notebook, ``book/assignments/a<k>.md``, that holds
the questions *and* their model solutions:

* a code cell tagged ``solution`` is the student's answer cell. In the student version its function
  definitions keep their signature and docstring and get the body
  ``raise NotImplementedError("Question a1.q2: write your answer here")``; a top-level assignment
  ``name = ...`` becomes ``name = ...`` with the placeholder ``...``; imports and leading comments are kept;
  any other statement (a plot, a loop) is replaced by one comment asking for the student's code.
  The question id is read from the cell (``# Question a1.q2``) or from the enclosing solution block;
* a ``solution-start`` / ``solution-end`` block (sphinx-exercise, shown as a dropdown on the website)
  is dropped, except for the ``solution`` cells inside it, which become stubs as above; if the block
  held a written answer, a "Your answer" Markdown cell takes its place;
* MyST syntax that plain Jupyter does not render (exercise and other directives, roles such as
  citations, labels) becomes ordinary Markdown.

``check(...)`` cells stay as they are: on a stub they print "not answered yet" (``ntk_course.assignments.check``).

Command line (from a checkout of the course; ``ntk_course/assignments/__main__.py``)::

    python -m ntk_course.assignments student OUTDIR     # student notebooks, no solutions
    python -m ntk_course.assignments solved OUTDIR      # the same notebooks with the solutions
    python -m ntk_course.assignments list               # the questions and what each check expects
"""
from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from pathlib import Path

import jupytext
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

SOLUTION_TAG = "solution"
ANSWER_TAG = "answer"
QUESTION_RE = re.compile(r"\b(a\d+\.q\d+)\b")
_DIRECTIVE_RE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\{(?P<name>[^}]+)\}\s*(?P<arg>.*?)\s*$")
_OPTION_RE = re.compile(r"^\s*:[\w-]+:.*$")
_TARGET_RE = re.compile(r"^\s*\([\w.:-]+\)=\s*$")
_ROLE_RE = re.compile(r"\{(?P<role>[\w:-]+)\}`(?P<text>[^`]*)`")
_EQ_LABEL_RE = re.compile(r"^(\s*\$\$)\s*\([\w.:-]+\)\s*$")
STUDENT_NOTE = (
    "*Student version, written by `python -m ntk_course.assignments student`.* Each answer cell below a "
    "question still raises `NotImplementedError`: replace that line by your code (keep the function's name "
    "and arguments), run the cell, then run the `check(...)` cell that follows. A check tries your answer on "
    "random inputs of its own and tells you what is right, what is wrong and by how much. Written answers go "
    "in the Markdown cells marked **Your answer**."
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
            f"no assignment sources a<k>.md in {folder}; run from a checkout of the course or pass --source DIR"
        )
    return paths


# --------------------------------------------------------------------------------------------------
# Code: solution cells become stubs
# --------------------------------------------------------------------------------------------------
def stub_code(source: str, question: str) -> str:
    """The student's version of a solution cell: signatures, docstrings and imports, no solution code."""
    tree = ast.parse(source)
    lines = source.splitlines()
    message = f'raise NotImplementedError("Question {question}: write your answer here")'
    first = tree.body[0].lineno if tree.body else len(lines) + 1
    if tree.body and getattr(tree.body[0], "decorator_list", None):
        first = min(d.lineno for d in tree.body[0].decorator_list)  # type: ignore[union-attr]
    out = [ln for ln in lines[: first - 1] if ln.strip().startswith("#") or not ln.strip()]
    while out and not out[-1].strip():
        out.pop()
    # A cell made only of imports, definitions and assignments keeps its shape (names = ...); any
    # other statement (a plot, a loop) makes it a free-form cell: one comment asks for the code.
    free_form = any(not isinstance(n, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.Assign) for n in tree.body)
    asked = False
    for node in tree.body:
        keep = isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef) or (
            isinstance(node, ast.Assign) and not free_form and all(isinstance(t, ast.Name) for t in node.targets))
        if not keep and asked:
            continue
        if out and isinstance(node, ast.FunctionDef):  # PEP 8: two blank lines around definitions
            out += [""] * (2 if out[-1].startswith((" ", "\t")) else 1)
        elif out and out[-1].startswith((" ", "\t")):
            out += ["", ""]
        elif out and not keep:
            out.append("")
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.extend(lines[node.lineno - 1 : node.end_lineno])
        elif isinstance(node, ast.FunctionDef):
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            body = node.body
            doc = body[0] if isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str) else None
            if body[0].lineno == node.lineno:  # a one-line function: rebuild its signature
                bare = ast.FunctionDef(node.name, node.args, [ast.Pass()], node.decorator_list, node.returns, type_params=[])
                head = ast.unparse(ast.fix_missing_locations(ast.copy_location(bare, node))).splitlines()[:-1]
                out.extend(head)
                indent = " " * (node.col_offset + 4)
            else:
                end = doc.end_lineno if doc is not None else body[0].lineno - 1
                out.extend(lines[start - 1 : end])
                indent = " " * body[0].col_offset
            out.append(indent + message)
        elif keep:
            names = " = ".join(t.id for t in node.targets)  # type: ignore[attr-defined]
            out.append(" " * node.col_offset + f"{names} = ...  # Question {question}: your answer here")
        else:
            out.append(f"# Question {question}: your code here")
            asked = True
    return "\n".join(out).rstrip() + "\n"


def _question_of(cell_source: str, label: str | None) -> str:
    for line in cell_source.splitlines():
        if line.strip().startswith("#"):
            m = QUESTION_RE.search(line)
            if m:
                return m.group(1)
    if label:
        return label.replace("-", ".", 1)
    raise ValueError(f"a solution cell names no question (start it with '# Question a1.q2'):\n{cell_source[:200]}")


# --------------------------------------------------------------------------------------------------
# Markdown: MyST to plain Jupyter Markdown
# --------------------------------------------------------------------------------------------------
def _bibliography(path: Path) -> dict[str, str]:
    """citation key -> 'Author et al. (year)' from a BibTeX file (enough for inline citations)."""
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    out = {}
    for m in re.finditer(r"@\w+\{([^,\s]+),(.*?)\n\}", text, re.S):
        key, body = m.group(1), m.group(2)
        authors = re.search(r"author\s*=\s*\{(.*?)\},?\s*\n", body, re.S)
        year = re.search(r"year\s*=\s*\{?(\d{4})", body)
        names = [a.strip() for a in (authors.group(1) if authors else key).split(" and ")]
        last = [re.sub(r"[{}\\'`\"]", "", n.split(",")[0] if "," in n else n.split()[-1]) for n in names]
        who = last[0] if len(last) == 1 else f"{last[0]} and {last[1]}" if len(last) == 2 else f"{last[0]} et al."
        out[key] = f"{who} ({year.group(1) if year else 'n.d.'})"
    return out


def _roles(line: str, bib: dict[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        role, text = m.group("role"), m.group("text")
        if role.startswith("cite"):
            refs = [bib.get(k.strip(), k.strip()) for k in text.split(",")]
            return "; ".join(refs) if role == "cite:t" else "(" + "; ".join(r.replace(" (", ", ").rstrip(")") for r in refs) + ")"
        shown = re.match(r"^(.*?)\s*<[^>]+>$", text)
        if shown:
            return shown.group(1)
        if role == "doc":
            return f"the chapter *{Path(text).name.replace('_', ' ')}*"
        if role in ("eq", "numref", "ref", "prf:ref"):
            return "(see the course website)"
        return text

    return _ROLE_RE.sub(repl, line)


def plain_markdown(text: str, bib: dict[str, str] | None = None) -> str:
    """MyST Markdown as plain Jupyter Markdown: directives become bold-titled paragraphs, roles text."""
    bib = bib or {}
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _DIRECTIVE_RE.match(line)
        if m:
            fence, name, arg = m.group("fence"), m.group("name"), m.group("arg")
            j = i + 1
            while j < len(lines) and _OPTION_RE.match(lines[j]):
                j += 1
            k = j
            while k < len(lines) and lines[k].strip() != fence:
                k += 1
            body = plain_markdown("\n".join(lines[j:k]), bib).strip("\n")
            if name in ("math",):
                out += ["$$", body, "$$"]
            elif name in ("code", "code-block"):
                out += [f"```{arg}", body, "```"]
            else:
                kind = name.split(":")[-1]
                title = "Question " + arg if kind == "exercise" else (arg or kind.capitalize())
                if kind in ("note", "tip", "important", "warning", "hint", "admonition") or name.startswith("prf:"):
                    title = f"{kind.capitalize()}: {arg}" if arg and kind != "admonition" else title
                out += [f"**{_roles(title, bib).rstrip('.')}.**", ""] + body.splitlines()
            i = k + 1
            continue
        if _TARGET_RE.match(line):
            i += 1
            continue
        line = _EQ_LABEL_RE.sub(r"\1", line)
        out.append(_roles(line, bib))
        i += 1
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------
# Notebooks
# --------------------------------------------------------------------------------------------------
def _start_of_solution(line: str) -> re.Match[str] | None:
    m = _DIRECTIVE_RE.match(line)
    return m if m and m.group("name") == "solution-start" else None


def _end_of_solution(line: str) -> re.Match[str] | None:
    m = _DIRECTIVE_RE.match(line)
    return m if m and m.group("name") == "solution-end" else None


def _tokens(nb: nbformat.NotebookNode) -> list[tuple[str, object]]:
    """The notebook as a flat list: ('md', line), ('break', None) between Markdown cells, ('code', cell)."""
    tokens: list[tuple[str, object]] = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            tokens += [("md", ln) for ln in cell.source.splitlines()]
            tokens.append(("break", None))
        elif cell.cell_type == "code":
            tokens.append(("code", cell))
    return tokens


def _skip_directive(tokens: list[tuple[str, object]], i: int, fence: str) -> int:
    """Index after a directive's options and closing fence (the solution-start/end directives are empty)."""
    i += 1
    while i < len(tokens) and tokens[i][0] == "md" and str(tokens[i][1]).strip() != fence:
        i += 1
    return i + 1


def student_notebook(path: str | Path) -> nbformat.NotebookNode:
    """The student version of one assignment source: solutions removed, answer cells stubbed."""
    path = Path(path)
    nb = jupytext.read(path)
    bib = _bibliography(path.parent.parent / "references.bib")
    tokens = _tokens(nb)
    cells: list[nbformat.NotebookNode] = []
    buffer: list[str] = []

    def flush() -> None:
        text = "\n".join(buffer).strip("\n")
        buffer.clear()
        if text.strip():
            cells.append(new_markdown_cell(plain_markdown(text, bib)))

    def stub(cell: nbformat.NotebookNode, label: str | None) -> None:
        question = _question_of(cell.source, label)
        cells.append(new_code_cell(stub_code(cell.source, question), metadata={"tags": [ANSWER_TAG]}))

    i = 0
    while i < len(tokens):
        kind, item = tokens[i]
        if kind == "md" and (m := _start_of_solution(str(item))):
            flush()
            label = m.group("arg") or None
            j = _skip_directive(tokens, i, m.group("fence"))
            block: list[tuple[str, object]] = []
            while j < len(tokens) and not (tokens[j][0] == "md" and _end_of_solution(str(tokens[j][1]))):
                block.append(tokens[j])
                j += 1
            if j == len(tokens):
                raise ValueError(f"{path.name}: solution-start {label} has no solution-end")
            end = _end_of_solution(str(tokens[j][1]))
            assert end is not None
            written = any(k == "md" and str(v).strip() for k, v in block)
            question = label.replace("-", ".", 1) if label else "this question"
            if written:
                cells.append(new_markdown_cell(
                    f"**Your answer to {question}.** *Derivations and explanations go here: double-click to edit "
                    "this cell (Markdown, with mathematics between `$` signs).*", metadata={"tags": [ANSWER_TAG]}))
            for k, v in block:
                if k == "code" and SOLUTION_TAG in v.metadata.get("tags", []):  # type: ignore[union-attr]
                    stub(v, label)  # type: ignore[arg-type]
            i = _skip_directive(tokens, j, end.group("fence"))
            continue
        if kind == "md":
            buffer.append(str(item))
        elif kind == "break":
            flush()
        else:
            flush()
            cell = item  # type: ignore[assignment]
            if SOLUTION_TAG in cell.metadata.get("tags", []):  # type: ignore[union-attr]
                stub(cell, None)  # type: ignore[arg-type]
            else:
                tags = [t for t in cell.metadata.get("tags", []) if t != "hide-input"]  # type: ignore[union-attr]
                cells.append(new_code_cell(cell.source, metadata={"tags": tags} if tags else {}))  # type: ignore[union-attr]
        i += 1
    flush()
    if cells and cells[0].cell_type == "markdown":
        cells.insert(1, new_markdown_cell(STUDENT_NOTE))
    out = new_notebook(cells=cells, metadata=_metadata(nb))
    nbformat.validate(out)
    return out


def solved_notebook(path: str | Path) -> nbformat.NotebookNode:
    """The assignment with its solutions, as a plain notebook (what CI runs through nbval)."""
    nb = jupytext.read(Path(path))
    nb.metadata = _metadata(nb)
    return nb


_CHECK_RE = re.compile(r"""check\(\s*["'](a\d+\.q\d+)["']\s*,\s*([A-Za-z_]\w*)\s*\)""")


def reference_answers(path: str | Path) -> dict[str, object]:
    """The model answers of one assignment, keyed by question id: ``{"a1.q2": relu_nngp, ...}``.

    Runs the notebook's first code cell (its imports; set-up cells tagged ``remove-cell`` are
    skipped) and the *definitions* of its ``solution`` cells
    (imports and function definitions; plots and other statements are skipped), then looks up the
    name passed to each ``check("a1.q2", name)`` cell. Used by the tests to check the model solutions
    without executing the whole notebook.
    """
    nb = jupytext.read(Path(path))
    # Cells tagged remove-cell (the Colab install cell) are environment set-up, not the assignment.
    code = [c for c in nb.cells if c.cell_type == "code" and "remove-cell" not in c.metadata.get("tags", [])]
    namespace: dict[str, object] = {"__name__": f"reference_{Path(path).stem}"}
    if code:
        exec(compile(code[0].source, f"{Path(path).name}:setup", "exec"), namespace)  # noqa: S102 - our own notebook
    for cell in code[1:]:
        if SOLUTION_TAG not in cell.metadata.get("tags", []):
            continue
        tree = ast.parse(cell.source)
        tree.body = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom | ast.FunctionDef)]
        exec(compile(tree, f"{Path(path).name}:solution", "exec"), namespace)  # noqa: S102
    answers = {}
    for cell in code:
        for question, name in _CHECK_RE.findall(cell.source):
            if name not in namespace:
                raise ValueError(f"{Path(path).name}: check({question!r}, {name}) names no function defined in a solution cell")
            answers[question] = namespace[name]
    return answers


def _metadata(nb: nbformat.NotebookNode) -> dict:
    return {
        "kernelspec": dict(nb.metadata.get("kernelspec") or {"display_name": "Python 3", "language": "python", "name": "python3"}),
        "language_info": {"name": "python"},
    }


def write_notebooks(outdir: str | Path, *, solutions: bool = False, source: str | Path | None = None,
                    only: Sequence[str] | None = None) -> list[Path]:
    """Write ``a<k>.ipynb`` for every assignment into ``outdir``: student versions, or solved ones."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in assignment_paths(source):
        if only and path.stem not in only:
            continue
        nb = solved_notebook(path) if solutions else student_notebook(path)
        target = out / f"{path.stem}.ipynb"
        nbformat.write(nb, target)
        written.append(target)
    if only and len(written) != len(set(only)):
        missing = sorted(set(only) - {p.stem for p in written})
        raise ValueError(f"no assignment named {missing}; the assignments are {[p.stem for p in assignment_paths(source)]}")
    return written
