"""Every number a chapter's prose quotes is the number the page computed (issue 20).

A chapter quotes a computed number with myst-nb's glue: a code cell runs
``glue("key", value, display=False)`` and the prose writes ``{glue:text}`key:.2f```, so the sentence
shows, at every scale, what that scale's run printed. These tests read the MyST sources (no
execution) and check that:

* the prose holds no digits outside glue roles, math, code, citations and cross-references, apart
  from references to numbered things ("Section 5", "Theorem 2", "Figure 2"), years, ordinals, and
  the phrases of the chapter's allow-list ``tests/prose_allow/<chapter>.txt`` (facts quoted from
  the paper and the literature, and settings that are the same at every scale). An allow-list
  phrase must occur in the chapter, so no entry outlives its sentence;
* every glue role names a key that a code cell of the same chapter glues (a literal key: a typo
  would otherwise surface only as a build warning);
* asserts, and the ``by_scale`` settings, sit in collapsed cells (tag ``hide-cell``) whose first
  line is a comment saying what the cell checks or sets: the reader sees the number and the
  sentence, and opens the check to see how it can fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest
from markdown_it.renderer import RendererHTML
from myst_parser.config.main import MdParserConfig
from myst_parser.parsers.mdit import create_md_parser

REPO = Path(__file__).resolve().parents[1]
ALLOW = REPO / "tests" / "prose_allow"
CHAPTERS = sorted(p for p in (REPO / "book").glob("*.md") if "\nkernelspec:" in p.read_text())

_PARSER = create_md_parser(
    MdParserConfig(
        enable_extensions={"amsmath", "dollarmath", "colon_fence", "deflist", "substitution"}
    ),
    RendererHTML,
)
# "Section 6.2", "Figures 1 and 2", "Theorems 1-2", "Eq. 3", "Exercise 4": a numbered thing
_REFERENCE = re.compile(
    r"\b(?:Sections?|Theorems?|Figures?|Fig\.|Lemmas?|Propositions?|Corollar(?:y|ies)|Chapters?|"
    r"Eqs?\.|Equations?|Exercises?|Assignments?|Parts?|Steps?|Appendi(?:x|ces)|Definitions?|"
    r"Remarks?|Examples?|Tables?|Questions?|Assumptions?)"
    r"\s+[A-Z]?\d+(?:\.\d+)*(?:\s*(?:,|-|–|and|or|to)\s*[A-Z]?\d+(?:\.\d+)*)*"
)
_YEAR = re.compile(r"(?<![\w.,])(?:19|20)\d\d[a-z]?(?![\w.,]\d)")
_ORDINAL = re.compile(r"(?<![\w.])\d+(?:st|nd|rd|th)\b")
# a number: digits with thousands commas and a decimal part; not part of a word ("L2", "x1")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?(?![\w])")
_GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([^`]+)`")
_GLUE_CALL = re.compile(r"""\bglue\(\s*(["'])([^"']+)\1""")
_CHECK = re.compile(r"^\s*assert\b|\bassert_close\(|\bby_scale\(", re.M)


def _split_front_matter(text: str) -> tuple[int, str]:
    """The body after the YAML front matter, and the lines the front matter takes (so that the
    reported line numbers are the file's)."""
    if not text.startswith("---\n"):
        return 0, text
    end = text.index("\n---\n", 3) + 5
    return text[:end].count("\n"), text[end:]


def _prose(source: str, first_line: int = 0) -> list[tuple[int, str]]:
    """The reader-visible text of a MyST source, one entry per paragraph, heading or table cell,
    with math, code, roles (citations, cross-references, glue) and HTML blanked out."""
    out: list[tuple[int, str]] = []
    for token in _PARSER.parse(source):
        line = first_line + (token.map[0] if token.map else 0)
        if token.type == "fence":
            info = token.info.strip()
            if not info.startswith("{") or info.startswith(("{code-cell}", "{math}", "{raw}")):
                continue
            title = info.split("}", 1)[1]
            body = "\n".join(
                "" if re.match(r"\s*:[\w-]+:", row) else row for row in token.content.splitlines()
            )
            out.append((line, title))
            out.extend(_prose(body, line + 1))
        elif token.type == "inline":
            text = "".join(
                child.content if child.type == "text" else " "
                for child in token.children or []
                if child.type not in ("link_open", "link_close")
            )
            out.append((line, text))
    return out


def _chapter(path: Path) -> tuple[list[tuple[int, str]], list]:
    offset, body = _split_front_matter(path.read_text(encoding="utf-8"))
    return _prose(body, offset), jupytext.read(path).cells


def _allowed_phrases(path: Path) -> list[str]:
    allow = ALLOW / f"{path.stem}.txt"
    if not allow.is_file():
        return []
    rows = allow.read_text(encoding="utf-8").splitlines()
    return [row.strip() for row in rows if row.strip() and not row.lstrip().startswith("#")]


def typed_numbers(path: Path) -> list[str]:
    """The numbers in a chapter's prose that no rule and no allow-list phrase accounts for, as
    "line: number in context"."""
    prose, _ = _chapter(path)
    return [
        f"{line + 1}: {match.group()} in '...{_context(text, match)}...'"
        for line, text in prose
        for match in _uncovered(text, _allowed_phrases(path))
    ]


def _uncovered(text: str, phrases: list[str]) -> list[re.Match]:
    """The numbers of one piece of prose that no rule and no allowed phrase covers."""
    covered = [False] * len(text)
    patterns = [_REFERENCE, _YEAR, _ORDINAL, *(re.compile(re.escape(p)) for p in phrases)]
    for pattern in patterns:
        for match in pattern.finditer(text):
            covered[match.start() : match.end()] = [True] * (match.end() - match.start())
    return [m for m in _NUMBER.finditer(text) if not all(covered[m.start() : m.end()])]


def _context(text: str, match: re.Match) -> str:
    return text[max(0, match.start() - 40) : match.end() + 30].replace("\n", " ")


def _ids(path: Path) -> str:
    return path.stem


def test_the_scan_sees_typed_numbers_and_ignores_the_rest() -> None:
    """The scan itself, on a made-up chapter: what it must flag, and what it must let through."""
    source = (
        "Section 6.2 and Figures 1 and 2 of the 2018 paper, the 10th percentile, $x = 0.5$,\n"
        "`n = 3`, {cite:t}`jacot2018ntk`, {glue:text}`slope:.2f`, and a slope of -0.37 over\n"
        "1,000 digits.\n\n```{prf:theorem} Theorem 2 (Section 5)\n:label: thm-x\n\n"
        "It is 4.43.\n```\n"
    )
    flagged = [m.group() for _, text in _prose(source) for m in _uncovered(text, [])]
    assert flagged == ["0.37", "1,000", "4.43"]
    allowed = [m.group() for _, text in _prose(source) for m in _uncovered(text, ["1,000 digits"])]
    assert allowed == ["0.37", "4.43"]


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids)
def test_prose_quotes_no_number_by_hand(path: Path) -> None:
    found = typed_numbers(path)
    assert not found, (
        f"book/{path.name} quotes numbers that no cell glued; glue them "
        "(glue('key', value, display=False) and {glue:text}`key:.2f`), write them as math if "
        f"they are symbols, or add the phrase to tests/prose_allow/{path.stem}.txt if it is a "
        "fact quoted from the literature or a setting that is the same at every scale:\n  "
        + "\n  ".join(found)
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids)
def test_every_allowed_phrase_is_still_in_the_chapter(path: Path) -> None:
    prose = " ".join(text for _, text in _chapter(path)[0])
    stale = [p for p in _allowed_phrases(path) if p not in prose]
    assert not stale, f"tests/prose_allow/{path.stem}.txt lists phrases not in the prose: {stale}"


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids)
def test_every_glued_key_is_glued_by_a_cell(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    cells = jupytext.read(path).cells
    glued = {
        m.group(2) for c in cells if c.cell_type == "code" for m in _GLUE_CALL.finditer(c.source)
    }
    used = {
        m.group(1).rsplit(":", 1)[0] if ":" in m.group(1) else m.group(1)
        for m in _GLUE_ROLE.finditer(text)
    }
    missing = sorted(used - glued)
    assert not missing, f"book/{path.name} shows glue keys that no code cell glues: {missing}"


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids)
def test_checks_and_scale_settings_sit_in_collapsed_cells(path: Path) -> None:
    bad = []
    for cell in jupytext.read(path).cells:
        if cell.cell_type != "code" or not _CHECK.search(cell.source):
            continue
        tags = cell.metadata.get("tags", [])
        first = cell.source.strip().splitlines()[0]
        if "hide-cell" not in tags and "remove-cell" not in tags or not first.startswith("#"):
            bad.append(first[:70])
    assert not bad, (
        f"book/{path.name}: cells with asserts or by_scale must be tagged hide-cell and open with "
        f"a comment saying what they check or set; these are not: {bad}"
    )
