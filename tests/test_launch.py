"""Binder and Colab: what can be checked without reaching them.

Binder builds from ``binder/`` (repo2docker reads that folder and ignores the top level); Colab
opens the plain-Markdown copy ``colab/<page>.ipynb`` of a chapter (Colab shows MyST as raw text),
which ``python tools/colab.py`` writes from the paired notebook and whose hidden first cell
installs the course from the repository URL that ``_config.yml`` holds (and that the launch
buttons are made from).
"""

from __future__ import annotations

import copy
import importlib.util
import re
import shutil
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from markdown_it.renderer import RendererHTML
from myst_parser.config.main import MdParserConfig
from myst_parser.parsers.mdit import create_md_parser
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
# tools/colab.py is a maintainer script of the checkout, not part of the package: load it by path.
_spec = importlib.util.spec_from_file_location("colab", ROOT / "tools" / "colab.py")
colab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(colab)
BINDER = ROOT / "binder"


def _requirements(path: Path) -> tuple[list[str], list[Requirement]]:
    """(options such as --extra-index-url and -r, requirements) of a pip requirements file."""
    options, reqs = [], []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-"):
            options.append(line)
        else:
            reqs.append(Requirement(line))
    return options, reqs


def test_binder_installs_a_cpu_build_of_torch_and_the_course() -> None:
    options, reqs = _requirements(BINDER / "requirements.txt")
    torch = [r for r in reqs if r.name == "torch"]
    assert len(torch) == 1, "binder/requirements.txt must pin torch once"
    (spec,) = torch[0].specifier
    assert spec.operator == "==" and spec.version.endswith("+cpu"), (
        f"Binder's torch must be a CPU build (==X+cpu); got {torch[0]}"
    )
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in options
    included = [o.split(None, 1)[1] for o in options if o.startswith("-r ")]
    assert (
        included == ["../requirements.txt"]
        and (BINDER / included[0]).resolve() == ROOT / "requirements.txt"
    )
    top_options, top = _requirements(ROOT / "requirements.txt")
    (top_torch,) = [r for r in top if r.name == "torch"]
    (top_spec,) = top_torch.specifier
    assert top_spec.version == spec.version.removesuffix("+cpu"), (
        "Binder's torch and requirements.txt's must be the same release"
    )
    assert "-e ." in top_options, (
        "requirements.txt installs the course itself (-e .), which Binder relies on"
    )
    assert all(len(r.specifier) == 1 and next(iter(r.specifier)).operator == "==" for r in top), (
        "every requirement is pinned"
    )


def test_binder_opens_the_chapters_as_notebooks_and_uses_the_tested_python() -> None:
    post = (BINDER / "postBuild").read_text()
    assert "jupytext-config set-default-viewer" in post
    assert (BINDER / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"
    assert re.fullmatch(r"python-3\.11\s*", (BINDER / "runtime.txt").read_text())
    assert not (ROOT / "postBuild").exists(), (
        "a top-level postBuild would be ignored by Binder (binder/ wins): keep one"
    )


def test_colab_install_cells_and_launch_buttons_use_the_one_repository_url() -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = colab.repository_url()
    assert url == config["repository"]["url"].rstrip("/")
    books = colab.notebooks()
    chapters = [p for p in (ROOT / "book").glob("*.md") if "kernelspec:" in p.read_text()]
    assert {p.with_suffix(".md") for p in books} >= set(chapters), (
        "every chapter has a Colab install cell"
    )
    wrong = {
        str(p.relative_to(ROOT)): colab.installed_urls(p)
        for p in books
        if set(colab.installed_urls(p)) != {url}
    }
    assert not wrong, (
        f"install cells that do not install from {url} (fix with python tools/colab.py): {wrong}"
    )
    assert config["launch_buttons"]["colab_url"] and config["launch_buttons"]["binderhub_url"]


def test_the_stamp_rewrites_an_install_line(tmp_path: Path) -> None:
    page = tmp_path / "x.md"
    page.write_text('    %pip install --quiet "ntk_course @ git+https://github.com/old/place"\n')
    assert colab.stamp([page], "https://example.org/new/place") == [page]
    assert colab.installed_urls(page) == ["https://example.org/new/place"]
    assert colab.stamp([page], "https://example.org/new/place") == []


def test_paper_results_travel_with_the_package(tmp_path: Path, monkeypatch) -> None:
    # On Colab the package comes from git without the book, and nothing is downloaded: the
    # paper-scale results are package data, found from any working directory.
    from ntk_course.chapters import stored

    assert stored.results_path().resolve() == (ROOT / "ntk_course" / "data" / "paper_results.json")
    monkeypatch.chdir(tmp_path)
    assert stored.paper_results("figure1")["figure"].endswith("Figure 1 (Section 6.1)")
    with pytest.raises(ValueError, match="unknown figure"):
        stored.paper_results("figure4")


# -- the Colab copies (colab/): MyST turned into plain Markdown ---------------------------------


def _copies() -> list[Path]:
    return sorted((ROOT / "colab").rglob("*.ipynb"))


def test_every_chapter_has_a_current_colab_copy() -> None:
    chapters = sorted(
        p.relative_to(ROOT / "book").with_suffix(".ipynb")
        for p in (ROOT / "book").rglob("*.md")
        if "kernelspec:" in p.read_text(encoding="utf-8")[:1000]
    )
    assert chapters and [p.relative_to(ROOT / "colab") for p in _copies()] == chapters
    changed, extra, unresolved = colab.stale_copies()
    assert not unresolved, f"references no page defines (shown as labels on Colab): {unresolved}"
    assert not changed and not extra, (
        f"Colab copies that differ from their chapters: {[p.name for p in changed]}, without a "
        f"chapter: {[p.name for p in extra]}; regenerate them with python tools/colab.py"
    )


def _myst_left(text: str) -> list[str]:
    """The MyST constructs a MyST parser (with _config.yml's extensions) finds in ``text``."""
    extensions = yaml.safe_load((ROOT / "_config.yml").read_text())["parse"][
        "myst_enable_extensions"
    ]
    md = create_md_parser(MdParserConfig(enable_extensions=set(extensions)), RendererHTML)
    found = []
    for token in md.parse(text):
        if token.type in ("myst_target", "math_block_label"):
            found.append(f"{token.type} {token.info or token.content}")
        elif token.type in ("fence", "colon_fence") and token.info.startswith("{"):
            found.append(f"directive {token.info}")
        for child in token.children or []:
            if child.type == "myst_role":
                found.append(f"role {{{child.meta['name']}}}`{child.content}`")
    found += [line for line in text.splitlines() if re.match(r"^[\s>]*:label:", line)]
    return found


def test_the_scan_finds_myst() -> None:
    # The scan below must see what Colab would show raw: one of each kind here.
    found = _myst_left(
        "(sec-a)=\n# A\n\n```{prf:lemma}\n:label: lem-a\n\nx\n```\n\n:::{note}\ny\n:::\n\n"
        "$$\nx\n$$ (eq-a)\n\nSee {cite:t}`jacot2018ntk`.\n\n> :label: b\n"
    )
    kinds = [f.split()[0] for f in found]
    assert kinds == [
        "myst_target",
        "directive",
        "directive",
        "math_block_label",
        "role",
        ":label:",
        ">",
    ]


@pytest.mark.parametrize("path", _copies(), ids=lambda p: str(p.relative_to(ROOT / "colab")))
def test_a_colab_copy_is_valid_plain_markdown_with_the_chapters_code(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    left = {i: _myst_left(c.source) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"}
    left = {i: found for i, found in left.items() if found}
    assert not left, f"MyST left in the markdown cells of {path.name} (cell: constructs): {left}"
    paired = nbformat.read(ROOT / "book" / path.relative_to(ROOT / "colab"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.source for c in code] == [c.source for c in paired.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert colab.installed_urls(path) == [colab.repository_url()], "the install cell comes along"


SNIPPET = """(sec-snippet)=
## A section

```{prf:theorem} Wide limit
:label: thm-snippet

As {cite:t}`jacot2018ntk` show {cite:p}`jacot2018ntk,cho2009kernel`, the gap is
{glue:text}`snippet-gap:.2f` (see {doc}`gaussian_process`):

$$
x = y
$$ (eq-snippet)
```

By {prf:ref}`thm-snippet` and {eq}`eq-snippet`, read {ref}`sec-snippet` or
{doc}`the intro <intro>`.
"""


def test_a_known_snippet_converts_to_plain_markdown(tmp_path: Path) -> None:
    # A one-chapter book: the snippet as its text, then one code cell; two other pages to link to.
    for name in ("_config.yml", "book/references.bib"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    for name, title in (("gaussian_process", "Gaussian processes"), ("intro", "Introduction")):
        (tmp_path / "book" / f"{name}.md").write_text(f"# {title}\n")
        (tmp_path / "book" / f"{name}.ipynb").write_text("{}")  # pages with a Colab copy
    chapter = tmp_path / "book" / "x.md"
    header = "---\njupytext:\n  formats: ipynb,md:myst\nkernelspec:\n  name: python3\n"
    header += "  display_name: Python 3\n  language: python\n---\n\n# X\n\n"
    cell = "```{code-cell} ipython3\n:tags: [hide-cell]\n\nprint(1)\n```\n"
    chapter.write_text(header + SNIPPET + "\n" + cell)
    jupytext.write(jupytext.read(chapter), chapter.with_suffix(".ipynb"))
    book = colab.Book(tmp_path)
    link = "https://colab.research.google.com/github/ntk-course/ntk-course/blob/main/colab/"
    # Written by hand from the rules in tools/colab.py's docstring, not from its output.
    expected = f"""# X

## A section

> **Theorem 1 (Wide limit).**
>
> As Jacot et al. (2018) show (Jacot et al., 2018; Cho and Saul, 2009), the gap is
> `snippet-gap` (see [Gaussian processes]({link}gaussian_process.ipynb)):
>
> $$
> x = y
> \\tag{{1}}
> $$

By Theorem 1 and Eq. 1, read *A section* or
the intro."""
    copies = colab.colab_copies(tmp_path, book)
    assert book.unresolved == []
    assert book.role("ref", "sec-nowhere", "x", []) == "sec-nowhere"
    assert book.unresolved == ["x: {ref}`sec-nowhere`"]
    assert list(copies) == [tmp_path / "colab" / "x.ipynb"]
    nb = nbformat.reads(copies[tmp_path / "colab" / "x.ipynb"], as_version=4)
    assert [c.cell_type for c in nb.cells] == ["markdown", "markdown", "code"]
    assert "Numbers" in nb.cells[0].source and "website" in nb.cells[0].source, "the glue note"
    assert nb.cells[1].source == expected
    assert nb.cells[2].source == "print(1)" and nb.cells[2].metadata["tags"] == ["hide-cell"]
    assert book.citations["arora2019exact"][1] + book.citations["arora2019fine"][1] == "2019b2019a"


def _site():
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        import ntk_site
    finally:
        sys.path.remove(str(ROOT / "book" / "_ext"))
    return ntk_site


def _buttons(page: str) -> dict:
    """header_buttons as sphinx-book-theme makes them for ``page`` (path_to_book is "")."""
    blob = f"ntk-course/ntk-course/blob/main/{page}.ipynb"
    return {
        "header_buttons": [
            {"type": "link", "url": f"https://github.com/{blob}", "label": "repository"},
            {
                "type": "group",
                "label": "launch-buttons",
                "buttons": [
                    {
                        "type": "link",
                        "text": "Binder",
                        "tooltip": "Launch on Binder",
                        "url": "https://mybinder.org/v2/gh/ntk-course/ntk-course/main"
                        f"?urlpath=lab/tree/{page}.ipynb",
                    },
                    {
                        "type": "link",
                        "text": "Colab",
                        "tooltip": "Launch on Colab",
                        "url": f"https://colab.research.google.com/github/{blob}",
                    },
                ],
            },
        ]
    }


def _urls(context: dict) -> dict[str, str]:
    repository, group = context["header_buttons"]
    return {"repository": repository["url"]} | {b["text"]: b["url"] for b in group["buttons"]}


@pytest.mark.parametrize(
    ("page", "binder", "target"),
    [
        ("book/limiting_ntk", "book/limiting_ntk.ipynb", "colab/limiting_ntk.ipynb"),
        ("book/assignments/a2", "handouts/a2/student/a2.ipynb", "colab/assignments/a2.ipynb"),
        ("book/notation", "book/notation.ipynb", "book/notation.ipynb"),  # no copy: unchanged
    ],
)
def test_the_colab_button_opens_the_copy(page: str, binder: str, target: str) -> None:
    site = _site()
    context = _buttons(page)
    before = _urls(copy.deepcopy(context))
    site._launch_buttons(None, page, "page.html", context, None)
    after = _urls(context)
    assert (
        after["Colab"]
        == f"https://colab.research.google.com/github/ntk-course/ntk-course/blob/main/{target}"
    )
    assert after["Binder"].endswith(f"?urlpath=lab/tree/{binder}")
    assert after["repository"] == before["repository"], "other buttons are left alone"
    assert (ROOT / target).is_file() or target.startswith("book/")
