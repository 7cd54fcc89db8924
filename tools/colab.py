r"""Colab: the install cell of every notebook, and the plain-Markdown copies its button opens.

A notebook opened on Colab has no checkout of the course, so its first (hidden) cell installs the
library from the repository: ``%pip install --quiet "ntk_course @ git+<url>"``. The URL is
``repository.url`` in ``_config.yml``, which also makes the website's launch buttons. After changing
it, run ``python tools/colab.py`` (from a checkout) to rewrite the install line of every notebook
(``book/**/*.md`` and their paired ``.ipynb``).

Colab renders plain Markdown and ``$...$`` math only: the MyST of the paired notebooks
(``{prf:theorem}`` blocks, ``{cite:t}`` roles, glued numbers) would show as raw text (issue 21). So
the same command writes ``colab/<page>.ipynb`` for every chapter and assignment (``book/<page>.md``
with a kernelspec), which the website's Colab button opens (``book/_ext/ntk_site.py``): the code
cells as they are, without outputs; in the markdown cells, found with the MyST parser, theorems,
proofs, exercises, solutions and admonitions become blockquotes with a bold heading ("Theorem 2
(Title)."), figures images from the repository, citations "Author (Year)" / "(Author, Year)" from
``book/references.bib``, references the text the website shows ("Eq. 3", "Lemma 1", a section's
title, a chapter's title linking to its Colab copy), glued numbers their key in code style (a note
at the top says the cells print them), and targets and equation labels go (labelled equations keep
their number with ``\tag``). Run it again after editing a chapter. ``--check`` only reports the
install lines and copies that differ (tests/test_launch.py runs that check).
"""

from __future__ import annotations

import argparse
import posixpath
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]  # the checkout: tools/ sits at its top level
INSTALL_RE = re.compile(r'%pip install --quiet \\?"ntk_course @ git\+([^"\\]+)\\?"')


def repository_url(config: Path = ROOT / "_config.yml") -> str:
    """``repository.url`` of the Jupyter Book configuration."""
    url = (yaml.safe_load(config.read_text(encoding="utf-8")).get("repository") or {}).get("url")
    if not isinstance(url, str) or not url.startswith("https://"):
        raise ValueError(
            f"{config} must set repository.url to the course's https:// repository; got {url!r}"
        )
    return url.rstrip("/")


def notebooks(root: Path = ROOT) -> list[Path]:
    """Every notebook of the book that carries an install cell.

    Both the MyST sources and their .ipynb pairs.
    """
    return sorted(
        p
        for p in (root / "book").rglob("*")
        if p.suffix in {".md", ".ipynb"} and INSTALL_RE.search(p.read_text(encoding="utf-8"))
    )


def installed_urls(path: Path) -> list[str]:
    """The repository URLs the install lines of one notebook point at."""
    return INSTALL_RE.findall(path.read_text(encoding="utf-8"))


def stamp(paths: Sequence[Path], url: str) -> list[Path]:
    """Rewrite the install line of each notebook to install from ``url``.

    Returns
    -------
    list of Path
        The files changed.
    """
    changed = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        new = INSTALL_RE.sub(lambda m: m.group(0).replace(m.group(1), url), text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


# ---- Colab copies: the chapters' notebooks with MyST turned into plain Markdown ----------------

COLAB = ROOT / "colab"
BOOK = ROOT / "book"
_GLUE_NOTE = (
    "*The Colab copy of a page of the course website. Numbers that the website writes into the "
    "text appear here as their names in code style, such as `name`: the cells of this notebook "
    'compute them (each in the cell that calls `glue("name", ...)`), and the website shows '
    "their values.*"
)
_ROLE_RE = re.compile(r"\{([^{}\s`]+)\}(`+)(.+?)(?<!`)\2(?!`)", re.S)
_EXPLICIT = re.compile(r"^(.*?)\s*<([^<>]+)>$", re.S)
_OPTION = re.compile(r"^:([\w-]+):\s*(.*)$")
_PRF_NAMES = {"prf:proof": "Proof", "exercise": "Exercise", "solution": "Solution"}
_NUMBERED = ("prf:", "exercise")


def myst_parser() -> Any:
    """The MyST Markdown parser with the extensions ``_config.yml`` switches on."""
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    extensions = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["parse"]
    config = MdParserConfig(enable_extensions=set(extensions["myst_enable_extensions"]))
    return create_md_parser(config, RendererHTML)


def chapter_notebooks(root: Path = ROOT) -> list[Path]:
    """The paired notebook of every chapter and assignment (a ``book/**.md`` with a kernelspec)."""
    return sorted(
        p.with_suffix(".ipynb")
        for p in (root / "book").rglob("*.md")
        if "kernelspec:" in p.read_text(encoding="utf-8")[:1000]
        and p.with_suffix(".ipynb").exists()
        and "_build" not in p.parts
    )


def _split_directive(content: str) -> tuple[dict[str, str], str]:
    """(options, body) of a directive's content: ``:key: value`` lines or a ``---`` YAML block."""
    lines = content.split("\n")
    options: dict[str, str] = {}
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), 0)
        options = {
            str(k): str(v) for k, v in (yaml.safe_load("\n".join(lines[1:end])) or {}).items()
        }
        lines = lines[end + 1 :]
    else:
        while lines and (m := _OPTION.match(lines[0])):
            options[m.group(1)] = m.group(2).strip()
            lines = lines[1:]
    return options, "\n".join(lines).strip("\n")


def _quote(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.split("\n"))


class Book:
    """What the conversion needs from the whole book: citations, pages, the labels they define."""

    def __init__(self, root: Path = ROOT) -> None:
        self.root = root
        config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
        parts = config["repository"]["url"].rstrip("/").split("/")
        self.raw = f"https://raw.githubusercontent.com/{parts[-2]}/{parts[-1]}/"
        branch = config["repository"].get("branch", "main")
        self.raw += branch + "/"
        # a chapter's Colab copy, opened as the launch button opens it
        self.colab = (
            f"{config['launch_buttons']['colab_url'].rstrip('/')}/github/{parts[-2]}/{parts[-1]}"
            f"/blob/{branch}/colab/"
        )
        self.citations = self._citations(root / "book" / "references.bib")
        self.md = myst_parser()
        self.titles: dict[str, str] = {}  # page (relative to book/, no suffix) -> title
        self.labels: dict[str, tuple[str, str]] = {}  # label -> (page, text a reference shows)
        self.equations: dict[str, tuple[str, int]] = {}  # equation label -> (page, number)
        self.unresolved: list[str] = []  # references the conversion could not resolve
        for page in sorted((root / "book").rglob("*.md")):
            if "_build" not in page.parts:
                self._index(page)

    @staticmethod
    def _citations(bib: Path) -> dict[str, tuple[str, str]]:
        """key -> (authors, year): "Jacot et al.", "Cho and Saul"; twins get a, b by title."""
        from pybtex.database import parse_file
        from pybtex.richtext import Text

        entries = parse_file(str(bib)).entries
        out = {}
        for key, entry in entries.items():
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            names = [
                Text.from_latex(" ".join(p.prelast_names + p.last_names)).render_as("text")
                for p in people
            ]
            who = f"{names[0]} et al." if len(names) > 2 else " and ".join(names) or key
            out[key] = (who, entry.fields.get("year", ""), entry.fields.get("title", ""))
        groups: dict[tuple[str, str], list[str]] = {}
        for key, (who, year, _) in out.items():
            groups.setdefault((who, year), []).append(key)
        result = {}
        for (who, year), keys in groups.items():
            keys.sort(key=lambda k: out[k][2].lower())
            for i, key in enumerate(keys):
                result[key] = (who, year + ("abcdefghij"[i] if len(keys) > 1 else ""))
        return result

    def _index(self, page: Path) -> None:
        name = page.relative_to(self.root / "book").with_suffix("").as_posix()
        self._index_text(name, page.read_text(encoding="utf-8"), {"counters": {}, "equations": 0})

    def _index_text(self, name: str, text: str, state: dict) -> None:
        """Labels, numbers and the title of a page, in the order the conversion numbers them."""
        pending: list[str] = []
        for token in self.md.parse(text):
            if token.type == "myst_target":
                pending.append(token.content)
            elif token.type == "inline" and pending:
                for label in pending:  # a section: its heading, in italics as a title
                    self.labels[label] = (name, f"*{token.content}*")
                pending = []
            elif token.type == "heading_open" and token.tag == "h1" and name not in self.titles:
                self.titles[name] = ""  # filled by the next inline token
            if token.type == "inline" and self.titles.get(name) == "":
                self.titles[name] = token.content
            if token.type == "math_block_label":
                state["equations"] += 1
                self.equations[token.info] = (name, state["equations"])
            if token.type in ("fence", "colon_fence") and token.info.startswith("{"):
                kind, _, _ = token.info[1:].partition("}")
                options, body = _split_directive(token.content)
                number = self._number(kind, state["counters"])
                label = options.get("label") or options.get("name")
                if label and number:
                    self.labels[label] = (name, number)
                elif label and kind == "figure":
                    state["counters"]["figure"] = state["counters"].get("figure", 0) + 1
                    self.labels[label] = (name, f"Fig. {state['counters']['figure']}")
                if kind not in ("math", "eval-rst", "raw"):
                    self._index_text(name, body, state)

    @staticmethod
    def _number(kind: str, counters: dict) -> str:
        """The name and number of a numbered directive in its page ("Theorem 2"); "" for others."""
        if not kind.startswith(_NUMBERED) or kind in ("prf:proof",):
            return ""
        counters[kind] = counters.get(kind, 0) + 1
        title = _PRF_NAMES.get(kind, kind.split(":")[-1].title())
        return f"{title} {counters[kind]}"

    @staticmethod
    def resolve(target: str, page: str) -> str:
        """The page (relative to book/, no suffix) that ``{doc}`target``` on ``page`` names."""
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(page), target))
        return resolved.removeprefix("/").removesuffix(".md").removesuffix(".ipynb")

    # -- roles ---------------------------------------------------------------------------------
    def role(self, name: str, content: str, page: str, glued: list[str]) -> str:
        """The plain Markdown of one role; a glued key is appended to ``glued``."""
        explicit = _EXPLICIT.match(content)
        if name in ("doc", "ref", "numref", "prf:ref", "eq", "download") and explicit:
            return explicit.group(1)
        target = content.strip()
        known = self.equations if name == "eq" else self.labels
        if name.startswith("cite"):
            missing = [k.strip() for k in content.split(",") if k.strip() not in self.citations]
            self.unresolved += [f"{page}: {{{name}}}`{k}`" for k in missing]
            cited = [self.citations.get(k.strip(), (k.strip(), "")) for k in content.split(",")]
            if name in ("cite:t", "cite:ts", "cite:author"):
                return ", ".join(f"{who} ({year})" for who, year in cited)
            return "(" + "; ".join(f"{who}, {year}" for who, year in cited) + ")"
        if name.startswith("glue"):
            glued.append(content)
            return f"`{content.split(':')[0]}`"
        if name == "math":
            return f"${content}$"
        if name in ("ref", "numref", "prf:ref", "eq") and target not in known:
            self.unresolved.append(f"{page}: {{{name}}}`{target}`")
        if name == "doc":
            target = self.resolve(content, page)
            if target not in self.titles:
                self.unresolved.append(f"{page}: {{doc}}`{content}`")
            title = self.titles.get(target, content)
            if (self.root / "book" / f"{target}.ipynb").exists():
                return f"[{title}]({self.colab}{target}.ipynb)"
            return title
        if name == "eq":
            where, number = self.equations.get(content, (page, 0))
            shown = f"Eq. {number}" if number else content
            return shown if where == page else f"{shown} of {self.titles.get(where, where)}"
        if name in ("ref", "numref", "prf:ref"):
            where, text = self.labels.get(content, (page, content))
            text = self.inline(text, where, glued) if "{" in text else text
            return text if where == page else f"{text} of {self.titles.get(where, where)}"
        return f"`{content}`" if name in ("code", "literal", "file", "command") else content

    def inline(self, text: str, page: str, glued: list[str]) -> str:
        """``text`` with every role the MyST parser finds replaced by plain Markdown."""
        expected = [
            (child.meta["name"], child.content)
            for token in self.md.parse(text)
            for child in (token.children or [])
            if child.type == "myst_role"
        ]
        out, last, i = [], 0, 0
        for match in _ROLE_RE.finditer(text):
            if i < len(expected) and (match.group(1), match.group(3)) == expected[i]:
                out += [text[last : match.start()], self.role(*expected[i], page, glued)]
                last, i = match.end(), i + 1
        if i != len(expected):
            raise ValueError(f"{page}: could not place the roles {expected[i:]} in {text[:200]!r}")
        return "".join(out) + text[last:]

    # -- blocks --------------------------------------------------------------------------------
    def directive(self, info: str, content: str, page: str, state: dict) -> str:
        """The plain Markdown of one directive (``info`` is ``{name} argument``)."""
        kind, _, argument = info[1:].partition("}")
        argument = argument.strip()
        options, body = _split_directive(content)
        number = self._number(kind, state["counters"])  # before the directives inside it
        body = self.markdown(body, page, state) if kind not in ("math",) else body
        if kind in ("figure", "image"):
            source = posixpath.normpath(posixpath.join("book", posixpath.dirname(page), argument))
            url = argument if "://" in argument else self.raw + source
            alt = options.get("alt") or body.replace("\n", " ") or argument
            caption = f"\n\n*{body}*" if kind == "figure" and body else ""
            return f"![{alt}]({url}){caption}"
        if kind == "math":
            return f"$$\n{body}\n$$"
        if kind in ("eval-rst", "bibliography", "tableofcontents", "solution-end", "raw"):
            return ""
        if kind == "solution-start" or kind == "solution":
            target = self.labels.get(argument, (page, argument))[1]
            return f"**Solution to {target}.**" + (f"\n\n{body}" if body else "")
        if kind == "prf:proof":
            return _quote(f"**Proof.** {body}".rstrip() + " $\\square$")
        if number:
            head = f"**{number}" + (f" ({argument})" if argument else "") + ".**"
        else:
            head = f"**{argument or kind.split(':')[-1].title()}**"
        return _quote(f"{head}\n\n{body}" if body else head)

    def markdown(self, text: str, page: str, state: dict) -> str:
        """One markdown cell (or a directive's body) in plain Markdown."""
        lines = text.split("\n")
        out: list[str] = []
        done = 0
        for token in self.md.parse(text):
            if token.map is None or token.map[0] < done:
                continue
            start, end = token.map
            new = None
            if token.type in ("fence", "colon_fence") and token.info.startswith("{"):
                new = self.directive(token.info, token.content, page, state)
            elif token.type == "myst_target":
                new = ""
            elif token.type == "math_block_label":
                state["equations"] += 1
                new = f"$$\n{token.content.strip()}\n\\tag{{{state['equations']}}}\n$$"
            elif token.type == "amsmath":
                end = start + token.content.count("\n") + 1
                new = f"$$\n{token.content}\n$$"
            if new is None:
                continue
            indent = re.match(r"[ \t>]*", lines[start]).group(0)
            out += lines[done:start]
            if token.type == "myst_target":
                done = end
                continue
            block = [
                (indent + line).rstrip() if line else indent.rstrip() for line in new.split("\n")
            ]
            if token.type.endswith("fence") and new:  # a paragraph of its own
                before = [indent.rstrip()] if out and out[-1].strip(" >") else []
                after = [indent.rstrip()] if end < len(lines) and lines[end].strip(" >") else []
                block = before + block + after
            out += block
            done = end
        out += lines[done:]
        result = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")
        return self.inline(result, page, state["glued"])

    def notebook(self, path: Path) -> Any:
        """The Colab copy of one paired notebook (an ``nbformat.NotebookNode``)."""
        import nbformat

        page = path.relative_to(self.root / "book").with_suffix("").as_posix()
        nb = nbformat.read(path, as_version=4)
        state: dict[str, Any] = {"counters": {}, "equations": 0, "glued": []}
        cells = []
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                source = self.markdown(cell.source, page, state)
                if not source.strip():
                    continue
                new = nbformat.v4.new_markdown_cell(source, metadata=dict(cell.metadata))
            elif cell.cell_type == "code":
                new = nbformat.v4.new_code_cell(cell.source, metadata=dict(cell.metadata))
            else:
                new = nbformat.v4.new_raw_cell(cell.source, metadata=dict(cell.metadata))
            new.id = cell.get("id") or f"cell-{len(cells)}"
            cells.append(new)
        if state["glued"]:
            cells.insert(0, nbformat.v4.new_markdown_cell(_GLUE_NOTE))
            cells[0].id = "colab-note"
        metadata = {k: nb.metadata[k] for k in ("kernelspec", "language_info") if k in nb.metadata}
        metadata["colab"] = {"provenance": []}
        copy = nbformat.v4.new_notebook(cells=cells, metadata=metadata)
        nbformat.validate(copy)
        return copy


def colab_copies(root: Path = ROOT, book: Book | None = None) -> dict[Path, str]:
    """Path of each Colab copy -> its text, freshly converted from the chapters' notebooks.

    ``book.unresolved`` lists afterwards the references that no page defines.
    """
    import nbformat

    book = book or Book(root)
    out = {}
    for path in chapter_notebooks(root):
        target = root / "colab" / path.relative_to(root / "book")
        out[target] = nbformat.writes(book.notebook(path)) + "\n"
    return out


def stale_copies(root: Path = ROOT) -> tuple[dict[Path, str], list[Path], list[str]]:
    """(copies to write: path -> text, copies to delete, references no page defines)."""
    book = Book(root)
    fresh = colab_copies(root, book)
    changed = {
        p: text
        for p, text in fresh.items()
        if not p.exists() or p.read_text(encoding="utf-8") != text
    }
    extra = sorted(set((root / "colab").rglob("*.ipynb")) - set(fresh))
    return changed, extra, book.unresolved


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the install lines and the Colab copies that differ, or with ``--check`` list them.

    Install lines differ from ``_config.yml``, copies from a fresh conversion of their chapter.

    Returns
    -------
    int
        The exit status: 1 when ``--check`` found a notebook that differs, else 0.
    """
    parser = argparse.ArgumentParser(
        prog="python tools/colab.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only list the notebooks whose install line or Colab copy differs",
    )
    args = parser.parse_args(argv)
    url = repository_url()
    wrong = [p for p in notebooks() if set(installed_urls(p)) != {url}]
    if args.check:
        for p in wrong:
            print(
                f"{p.relative_to(ROOT)}: installs from {installed_urls(p)}, _config.yml says {url}"
            )
        changed, extra, unresolved = stale_copies()
        for reference in unresolved:
            print(f"unresolved reference (shown as its label): {reference}")
        for p in changed:
            print(f"{p.relative_to(ROOT)}: differs from its chapter (run python tools/colab.py)")
        for p in extra:
            print(f"{p.relative_to(ROOT)}: no chapter of that name (run python tools/colab.py)")
        return 1 if wrong or changed or extra else 0
    for p in stamp(wrong, url):
        print(f"rewrote {p.relative_to(ROOT)}")
    changed, extra, unresolved = stale_copies()
    for reference in unresolved:
        print(f"warning: unresolved reference (shown as its label): {reference}")
    for p, text in changed.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        print(f"wrote {p.relative_to(ROOT)}")
    for p in extra:
        p.unlink()
        print(f"removed {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
