"""The project's housekeeping cannot drift: each part (the library, the course, the assignments, the
tests, the tools) declares in pyproject.toml every third-party package its code imports (the
library: what it imports at import time; an optional-feature extra such as `cluster`: what the
library imports inside the functions of that feature), requirements.txt pins exactly what is
declared, the version is written in one place, and the licence is where the README says it is."""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import jupytext
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

import ntk_course

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ntk_course"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
NAME = PROJECT["name"]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(extras: tuple[str, ...]) -> set[str]:
    """Distributions (canonical names) that ``pip install ntk_course[extras]`` asks for by name,
    self-references such as ``ntk_course[course]`` followed."""
    optional = PROJECT.get("optional-dependencies", {})
    out: set[str] = set()
    todo, seen = [None, *extras], set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for spec in PROJECT["dependencies"] if extra is None else optional[extra]:
            req = Requirement(spec)
            if _canonical(req.name) == _canonical(NAME):
                todo.extend(req.extras)
            else:
                out.add(_canonical(req.name))
    return out


def _library_files() -> list[Path]:
    return sorted(PACKAGE.glob("*.py"))


def _notebooks(folder: Path) -> list[Path]:
    """The jupytext MyST notebooks directly in ``folder``."""
    return sorted(p for p in folder.glob("*.md") if "jupytext:" in p.read_text()[:1000])


# Extras that are optional features of the library (imported inside the functions that need them),
# not parts of the project.
FEATURES = ("cluster",)

# part -> (what it must be installable with: the extras, and the code that must be)
PARTS = {
    "library": ((), lambda: _library_files()),
    "library, when a feature is used": (FEATURES, lambda: _library_files()),
    "course": (
        ("course",),
        lambda: (
            sorted((PACKAGE / "chapters").rglob("*.py"))
            + _notebooks(ROOT / "book")
            + sorted((ROOT / "book" / "_ext").glob("*.py"))
        ),
    ),
    "assignments": (
        ("assignments",),
        lambda: (
            sorted((PACKAGE / "assignments").rglob("*.py"))
            + _notebooks(ROOT / "book" / "assignments")
        ),
    ),
    # tests/data/ holds scripts that made stored references in environments of their own (e.g. jax
    # and neural-tangents for the convolutional kernels); they say what they need.
    "test": (
        ("test",),
        lambda: sorted(p for p in (ROOT / "tests").rglob("*.py") if "data" not in p.parts),
    ),
    "dev": (("dev",), lambda: sorted((ROOT / "benchmarks").rglob("*.py"))),
}


def _source(path: Path) -> str:
    """Python source of a module, or of a notebook's code cells (shell and magic lines -> pass)."""
    if path.suffix == ".py":
        return path.read_text()
    cells = [c.source for c in jupytext.read(path).cells if c.cell_type == "code"]
    lines = "\n".join(cells).splitlines()
    return "\n".join(re.sub(r"^(\s*)[!%].*", r"\1pass", line) for line in lines)


def _imports(path: Path, lazy: bool = True) -> set[str]:
    """Names of the absolute imports in ``path``: all of them, or with ``lazy=False`` only those
    made when the module is imported (not inside a function)."""
    tree = ast.parse(_source(path), filename=str(path))
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    skip = (
        set()
        if lazy
        else {
            id(n)
            for f in ast.walk(tree)
            if isinstance(f, functions)
            for n in ast.walk(f)
            if n is not f
        }
    )
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return out


@cache
def _distributions() -> dict[str, list[str]]:
    return packages_distributions()


def _third_party(module: str, path: Path) -> set[str] | None:
    """Candidate distributions providing ``module``; None for the standard library, the project
    itself and modules that live beside ``path`` (test helpers, benchmark scripts)."""
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top in {"__future__", NAME}:
        return None
    if (path.parent / f"{top}.py").exists() or (path.parent / top / "__init__.py").exists():
        return None
    if (ROOT / "book" / "_ext" / f"{top}.py").exists():  # the book's own Sphinx extensions
        return None
    # Not installed here (tomli on Python >= 3.11): assume the distribution has the module's name.
    dists = _distributions().get(top) or [top]
    if len(dists) > 1 and "." in module:  # a namespace package such as sphinxcontrib
        second = module.split(".")[1]
        narrowed = [d for d in dists if second.lower() in _canonical(d)]
        dists = narrowed or dists
    return {_canonical(d) for d in dists}


@pytest.mark.parametrize("part", PARTS)
def test_every_third_party_import_is_declared_by_its_part(part: str) -> None:
    extras, files = PARTS[part]
    declared = _declared(extras)
    missing = {}
    for path in files():
        for module in sorted(_imports(path, lazy=part != "library")):
            dists = _third_party(module, path)
            if dists is not None and not dists & declared:
                missing.setdefault("/".join(sorted(dists)), []).append(str(path.relative_to(ROOT)))
    where = "[project] dependencies" if not extras else f"the extra(s) {extras}"
    assert not missing, (
        f"declare in {where} of pyproject.toml the distributions that the {part} imports: {missing}"
    )


def test_the_book_extensions_are_declared_by_the_course() -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    extensions = config.get("sphinx", {}).get("extra_extensions", [])
    declared = _declared(("course",))
    for ext in extensions:
        dists = _third_party(ext, ROOT / "_config.yml")
        assert dists is None or dists & declared, f"_config.yml loads {ext}: declare {dists}"


def test_the_library_declares_nothing_it_does_not_import() -> None:
    """The library's own dependencies are exactly what it imports when it is imported (matplotlib
    was declared once and never imported)."""
    used = set()
    for path in _library_files():
        for module in _imports(path, lazy=False):
            used |= _third_party(module, path) or set()
    unused = _declared(()) - used
    assert not unused, f"[project] dependencies: {sorted(unused)}, which the library never imports"


def test_requirements_pin_exactly_the_declared_distributions() -> None:
    pinned, others = {}, []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-"):
            others.append(line)
            continue
        req = Requirement(line)
        assert len(req.specifier) == 1 and next(iter(req.specifier)).operator == "==", (
            f"requirements.txt must pin {line} with =="
        )
        assert _canonical(req.name) not in pinned, f"requirements.txt pins {req.name} twice"
        pinned[_canonical(req.name)] = req
    declared = _declared(tuple(PROJECT["optional-dependencies"]))
    assert set(pinned) == declared, (
        f"pinned but not declared: {sorted(set(pinned) - declared)}; "
        f"declared but not pinned: {sorted(declared - set(pinned))}"
    )
    for spec in PROJECT["dependencies"] + sum(PROJECT["optional-dependencies"].values(), []):
        req = Requirement(spec)
        if _canonical(req.name) in pinned:
            version = next(iter(pinned[_canonical(req.name)].specifier)).version
            assert req.specifier.contains(version, prereleases=True), (
                f"requirements.txt pins {req.name}=={version}, outside pyproject's {spec}"
            )
    assert any(o.startswith("-e .") for o in others), "requirements.txt installs the project (-e .)"


def _version_assignments() -> list[tuple[Path, ast.Assign]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets
            ):
                out.append((path, node))
    return out


def test_the_version_is_written_in_one_place() -> None:
    assert "version" not in PROJECT and "version" in PROJECT.get("dynamic", []), (
        "pyproject.toml must not repeat the version: [project] dynamic = ['version']"
    )
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "ntk_course.__version__"
    found = _version_assignments()
    assert [p for p, _ in found] == [PACKAGE / "__init__.py"], (
        f"__version__ must be assigned once, in ntk_course/__init__.py; found {found}"
    )
    node = found[0][1].value
    assert isinstance(node, ast.Constant) and isinstance(node.value, str), (
        "__version__ must be a string literal, so that the build reads it without importing torch"
    )
    assert node.value == ntk_course.__version__
    Version(ntk_course.__version__)  # PEP 440
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation.get("version", ntk_course.__version__) == ntk_course.__version__, (
        "CITATION.cff repeats another version; leave its version out"
    )


def test_the_changelog_has_a_section_for_the_version() -> None:
    version = Version(ntk_course.__version__)
    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), flags=re.M)
    if version.is_devrelease or version.is_prerelease:
        expected = f"[Unreleased] ({version})"
        assert headings and headings[0] == expected, f"CHANGELOG.md must open with '## {expected}'"
    else:
        assert any(h.startswith(f"[{version}]") for h in headings), (
            f"no [{version}] in CHANGELOG.md"
        )


def test_the_licence_is_where_the_readme_says() -> None:
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and PROJECT["license"] == {"text": "MIT"}
    assert "Code and text: MIT" in (ROOT / "README.md").read_text()
    assert "CC BY-SA 3.0" in licence and "ntk_course/data/README.md" in licence, (
        "LICENSE must say that the shipped MNIST digits keep their own licence"
    )
    assert "CC BY-SA 3.0" in (PACKAGE / "data" / "README.md").read_text()
