"""Figures are numbered per chapter (book/_ext/ntk_numbering.py), as equations are.

A two-page Sphinx project with two captioned figures on each page is built with and without the
extension: without it Sphinx counts across the book (the second page's figures are Fig. 3 and 4),
with it each page starts at Fig. 1, and a ``:numref:`` to another page's figure shows that page's
number.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
EXT = REPO / "book" / "_ext"


def _build(root: Path, extensions: list[str]) -> dict[str, list[str]]:
    """Build the two-page project; per page, the figure numbers and the numref texts."""
    root.mkdir()
    (root / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(EXT)!r})\n"
        f"extensions = {extensions!r}\nnumfig = True\n"
    )
    (root / "index.rst").write_text("Root\n====\n\n.. toctree::\n\n   a\n   b\n")
    plt.imsave(root / "x.png", np.zeros((1, 1, 3)))
    for page in "ab":
        (root / f"{page}.rst").write_text(
            f"Page {page}\n======\n\n"
            f".. figure:: x.png\n   :name: {page}-one\n\n   First of {page}.\n\n"
            f".. figure:: x.png\n   :name: {page}-two\n\n"
            f"   Second of {page}. See :numref:`a-two`.\n"
        )
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-W", "-b", "html", str(root), str(root / "_build")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    found = {}
    for page in "ab":
        html = (root / "_build" / f"{page}.html").read_text(encoding="utf-8")
        captions = re.findall(r'caption-number">Fig\. (\d+)', html)
        references = re.findall(r'<span class="std std-numref">Fig\. (\d+)', html)
        found[page] = captions + ["ref " + r for r in references]
    return found


def test_without_the_extension_sphinx_counts_across_the_book(tmp_path: Path) -> None:
    assert _build(tmp_path / "plain", []) == {
        "a": ["1", "2", "ref 2"],
        "b": ["3", "4", "ref 2"],
    }


def test_each_page_numbers_its_figures_from_one(tmp_path: Path) -> None:
    assert _build(tmp_path / "per_page", ["ntk_numbering"]) == {
        "a": ["1", "2", "ref 2"],
        "b": ["1", "2", "ref 2"],
    }


@pytest.mark.parametrize("name", ["ntk_numbering"])
def test_the_book_loads_the_extension(name: str) -> None:
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    assert config["sphinx"]["local_extensions"].get(name) == "book/_ext"
