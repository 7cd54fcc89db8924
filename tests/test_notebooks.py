"""Each chapter and assignment (a MyST .md) has a paired .ipynb beside it, which is what the Colab
and Binder buttons open: it must hold exactly the chapter's cells."""

from pathlib import Path

import jupytext
import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    p
    for p in [*(REPO / "book").glob("*.md"), *(REPO / "book/assignments").glob("*.md")]
    if "\nkernelspec:" in p.read_text()
)


def test_every_chapter_is_a_notebook() -> None:
    assert len(SOURCES) >= 13  # 9 chapters and 4 assignments


@pytest.mark.parametrize("md", SOURCES, ids=lambda p: str(p.relative_to(REPO / "book")))
def test_paired_notebook_holds_the_same_cells(md: Path) -> None:
    fix = f"run: jupytext --sync {md.relative_to(REPO)}"
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{ipynb.relative_to(REPO)} is missing; {fix}"
    text, notebook = jupytext.read(md), jupytext.read(ipynb)
    cells = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    assert cells(notebook) == cells(text), f"{ipynb.relative_to(REPO)} is out of date; {fix}"
    assert not any(c.get("outputs") for c in notebook.cells if c.cell_type == "code"), (
        "commit notebooks without outputs"
    )


def test_no_sanitizer_changes_a_stored_reference() -> None:
    """The sanitizers of tests/nbval_sanitize.cfg may only erase what cannot be a compared number
    (addresses, progress bars): applied to every stored reference output they must change nothing,
    so a number a chapter prints (a z-score written "+0.35 s.e." included) is always compared."""
    import configparser
    import json
    import re

    config = configparser.ConfigParser(interpolation=None)
    config.read(REPO / "tests" / "nbval_sanitize.cfg")
    rules = [(re.compile(config[s]["regex"]), config[s]["replace"]) for s in config.sections()]
    refs = json.loads((REPO / "tests" / "reference_outputs.json").read_text())
    texts = [
        "".join(o.get("text", ""))
        for cells in refs["notebooks"].values()
        for outputs in cells.values()
        for o in outputs
    ]
    assert texts, "no stored reference outputs to check"
    changed = [t for t in texts if any(r.search(t) for r, _ in rules)]
    assert not changed, (
        f"sanitizers erase parts of {len(changed)} reference outputs, e.g. {changed[0][:120]!r}"
    )


def test_a_cell_ending_in_a_semicolon_is_silenced() -> None:
    """The book shows no ``<Axes: ...>`` under a plotting cell ending in ";", as Jupyter would."""
    import sys

    sys.path.insert(0, str(REPO / "tests"))
    from nbval_cache import silenced

    assert silenced("fig = plot(x)\nax.legend();  # keep the figure only")
    assert silenced("plot(x);\n\n")
    assert not silenced("plot(x)")
    assert not silenced("plot(x);\nvalue")
    assert not silenced("print('a;')  # a string ending in ;")
