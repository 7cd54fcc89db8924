"""What the grader takes from a submission: one notebook, which assignment it answers, its code.

A submission is a notebook (``.ipynb``) or the zip file of the handout's export cell. From a zip
only one notebook is read (:func:`read_notebook`), never extracted to disk; every other member (a
``.OTTER_LOG``, a package named like the course's) is ignored. The assignment is Otter's metadata
where present, or else recognised from the content (:func:`identify`): the ``check("a1.q2", ...)``
calls, the ``otter.Notebook("a1.ipynb")`` line, the names of the answers' functions. The code
cells are turned into plain Python (IPython's own transformer for ``%magics``), without Otter's
plumbing and the ``check`` cells, which the grading does not need (:func:`code_cells`); the written
answers are collected for the teacher (:func:`written_answers`).
"""

from __future__ import annotations

import ast
import json
import re
import zipfile
from collections import Counter
from pathlib import Path

MAX_NOTEBOOK = 20 * 2**20
SUFFIXES = (".ipynb", ".zip")
_MENTION = re.compile(r"""check\(\s*["'](a\d+)\.q\d+|otter\.Notebook\(\s*["'](a\d+)\.ipynb""")
_WRITTEN = re.compile(r"^\s*\*\*Your answer to (a\d+\.q\d+)\.\*\*")
_PLUMBING = {"check", "grader", "otter"}


def read_notebook(path: str | Path) -> dict:
    """The notebook of a submission, as JSON data; ValueError saying why when there is none.

    Parameters
    ----------
    path : str or Path
        A ``.ipynb`` file, or a ``.zip`` holding one (the largest ``a<k>.ipynb``, else the largest
        notebook, when there are several).

    Returns
    -------
    dict
        The notebook; nothing of the zip besides it is read.
    """
    path = Path(path)
    if path.suffix not in SUFFIXES or not path.is_file() or path.is_symlink():
        raise ValueError(f"{path.name} is not a notebook (.ipynb) or an Otter export (.zip)")
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as z:
                books = [
                    i
                    for i in z.infolist()
                    if i.filename.endswith(".ipynb") and not Path(i.filename).name.startswith(".")
                ]
                if not books:
                    raise ValueError(f"{path.name} holds no notebook")
                best = max(
                    books,
                    key=lambda i: (bool(re.fullmatch(r"a\d+", Path(i.filename).stem)), i.file_size),
                )
                if best.file_size > MAX_NOTEBOOK:
                    raise ValueError(f"{best.filename} in {path.name} is larger than 20 MiB")
                text = z.read(best)
        else:
            if path.stat().st_size > MAX_NOTEBOOK:
                raise ValueError(f"{path.name} is larger than 20 MiB")
            text = path.read_bytes()
        notebook = json.loads(text)
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path.name} cannot be read as a notebook: {err}") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise ValueError(f"{path.name} is not a Jupyter notebook (no list of cells)")
    return notebook


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def identify(notebook: dict, answers: dict[str, set[str]]) -> str | None:
    """The assignment a notebook answers: Otter's metadata, else what its content names.

    Parameters
    ----------
    notebook : dict
        The notebook.
    answers : dict of str to set of str
        For each assignment, the names of its answers' functions, e.g. ``{"a1": {"relu_nngp",
        ...}}``.

    Returns
    -------
    str or None
        The assignment, or None when nothing points to one of ``answers``.
    """
    meta = notebook.get("metadata", {})
    named = meta.get("otter", {}).get("assignment_name") if isinstance(meta, dict) else None
    if named in answers:
        return named
    votes: Counter[str] = Counter()
    for cell in notebook["cells"]:
        src = _source(cell)
        for m in _MENTION.finditer(src):
            votes[m.group(1) or m.group(2)] += 1
        for a, names in answers.items():
            votes[a] += sum(f"def {n}(" in src for n in names)
    found = [a for a, _ in votes.most_common() if a in answers]
    return found[0] if found else None


def _plumbing(tree: ast.Module) -> bool:
    """Whether a cell only checks (``check``, ``grader.check``) or sets up Otter."""

    def root(node: ast.AST) -> str | None:
        while isinstance(node, ast.Attribute | ast.Call):
            node = node.func if isinstance(node, ast.Call) else node.value
        return node.id if isinstance(node, ast.Name) else None

    for node in tree.body:
        if isinstance(node, ast.Import) and all(a.name == "otter" for a in node.names):
            continue
        if isinstance(node, ast.Expr) and root(node.value) in _PLUMBING:
            continue
        if isinstance(node, ast.Assign) and root(node.value) == "otter":
            continue
        return False
    return bool(tree.body)


def code_cells(notebook: dict) -> list[str]:
    """The notebook's code cells as plain Python, in order, without Otter's plumbing.

    Parameters
    ----------
    notebook : dict
        The notebook.

    Returns
    -------
    list of str
        One source per cell to run; a cell that does not parse is kept (it raises when run).
    """
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    cells = []
    for cell in notebook["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        try:
            src = transform(_source(cell))
            if _plumbing(ast.parse(src)):
                continue
        except (SyntaxError, ValueError):
            src = _source(cell)
        cells.append(src)
    return cells


def written_answers(notebook: dict) -> dict[str, str]:
    """The written answers (the handout's **Your answer to a1.q2.** cells), by question.

    Parameters
    ----------
    notebook : dict
        The notebook.

    Returns
    -------
    dict of str to str
        Question id to the cell's Markdown, as the student left it.
    """
    out = {}
    for cell in notebook["cells"]:
        if isinstance(cell, dict) and cell.get("cell_type") == "markdown":
            m = _WRITTEN.match(_source(cell))
            if m:
                out[m.group(1)] = _source(cell).strip()
    return out


__all__ = ["MAX_NOTEBOOK", "SUFFIXES", "code_cells", "identify", "read_notebook", "written_answers"]
