"""The package's layout says what is what: the library at the top, the chapters' and assignments'
code in their own subpackages, which the library never imports, and no module too long to read."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest

import ntk_course

PACKAGE = Path(ntk_course.__file__).parent
SUBPACKAGES = ("chapters", "assignments")
COMMANDS = {"reproduce.py"}  # `python -m ntk_course.reproduce` forwards to the chapters by design
LIBRARY = sorted(p for p in PACKAGE.glob("*.py") if p.name not in COMMANDS)
MAX_LINES = 420


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of the ntk_course modules ``path`` imports (relative imports resolved)."""
    here = path.relative_to(PACKAGE.parent).with_suffix("").parts
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = list(here[: len(here) - node.level]) if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            out |= {module} | {f"{module}.{a.name}" for a in node.names}
    return {m for m in out if m.startswith("ntk_course")}


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.name)
def test_the_library_never_imports_the_chapters_or_the_assignments(path: Path) -> None:
    bad = {
        m for m in _imported_modules(path) if m.split(".")[1:2] and m.split(".")[1] in SUBPACKAGES
    }
    assert not bad, (
        f"{path.name} imports {sorted(bad)}; the library must not depend on {SUBPACKAGES}"
    )


def test_the_import_check_sees_relative_imports() -> None:
    """The check above would be vacuous if it missed `from .chapters import x` style imports."""
    found = _imported_modules(PACKAGE / "reproduce.py")
    assert "ntk_course.chapters.reproduce" in found


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_no_module_is_too_long_to_read(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, (
        f"{path.relative_to(PACKAGE)} has {lines} lines; split it (about 400 at most)"
    )


def test_all_lists_exactly_the_documented_public_names_of_the_library() -> None:
    """``ntk_course.__all__`` has no duplicates and is exactly the public names the package binds
    (submodules aside): nothing exported is missing from it, nothing in it is missing from the
    package. Every function and class in it is defined by a library module (not the chapters or the
    assignments) and has a docstring."""
    names = ntk_course.__all__
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    bound = {
        n for n, v in vars(ntk_course).items() if not n.startswith("_") and not inspect.ismodule(v)
    }
    assert set(names) == bound, (sorted(bound - set(names)), sorted(set(names) - bound))
    for name in names:
        obj = getattr(ntk_course, name)
        if not callable(obj):  # a constant such as ACTIVATIONS
            continue
        module = obj.__module__.split(".")
        assert module[0] == "ntk_course" and module[1:2] and module[1] not in SUBPACKAGES, (
            name,
            obj.__module__,
        )
        assert inspect.getdoc(obj), f"ntk_course.{name} has no docstring"


def _has_section(doc: str, title: str) -> bool:
    """Whether the numpydoc ``doc`` has the section ``title`` (a line, then its dashes)."""
    lines = [line.strip() for line in doc.splitlines()]
    return any(a == title and b == "-" * len(title) for a, b in zip(lines, lines[1:]))


def test_every_public_callable_with_arguments_documents_them_numpydoc_style() -> None:
    """Issue 18: each callable of ``ntk_course.__all__`` that takes an argument documents it in a
    numpydoc ``Parameters`` section (``Attributes`` for a dataclass, whose fields are its
    arguments), as ``inspect.getdoc`` sees it, so that the API reference lists them."""
    missing = []
    for name in ntk_course.__all__:
        obj = getattr(ntk_course, name)
        if not callable(obj):
            continue
        try:
            takes = bool(inspect.signature(obj).parameters)
        except (TypeError, ValueError):  # a builtin without a signature takes nothing we document
            continue
        if not takes:
            continue
        doc = inspect.getdoc(obj) or ""
        titles = ("Parameters", "Attributes") if dataclasses.is_dataclass(obj) else ("Parameters",)
        if not any(_has_section(doc, t) for t in titles):
            missing.append(name)
    assert not missing, f"no numpydoc Parameters (or Attributes) section: {sorted(missing)}"
