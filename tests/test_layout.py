"""The package's layout says what is what: the library at the top, the chapters' and assignments'
code in their own subpackages, which the library never imports, and no module too long to read."""
from __future__ import annotations

import ast
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
    bad = {m for m in _imported_modules(path) if m.split(".")[1:2] and m.split(".")[1] in SUBPACKAGES}
    assert not bad, f"{path.name} imports {sorted(bad)}; the library must not depend on {SUBPACKAGES}"


def test_the_import_check_sees_relative_imports() -> None:
    """The check above would be vacuous if it missed `from .chapters import x` style imports."""
    found = _imported_modules(PACKAGE / "reproduce.py")
    assert "ntk_course.chapters.reproduce" in found


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_too_long_to_read(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines; split it (about 400 at most)"


def test_public_names_are_importable_from_the_package() -> None:
    for name in ntk_course.__all__:
        assert getattr(ntk_course, name) is not None
    assert not hasattr(ntk_course, "kernels") or ntk_course.kernels.__name__ == "ntk_course.kernels"
