"""The book's API reference (book/api.md, Sphinx autodoc) cannot fall behind the library: every
public module is documented there, every public name is defined in one of them with a docstring
autodoc can show, and the page is in the table of contents with the extensions it needs."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import yaml

import ntk_course

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ntk_course"
PAGE = ROOT / "book" / "api.md"
COMMANDS = {"reproduce"}  # `python -m ntk_course.reproduce` forwards to the chapters


def _public_modules() -> set[str]:
    return {
        f"ntk_course.{p.stem}"
        for p in PACKAGE.glob("*.py")
        if not p.stem.startswith("_") and p.stem not in COMMANDS
    }


def _automodules() -> list[str]:
    return re.findall(r"^\.\. automodule:: (\S+)$", PAGE.read_text(), flags=re.M)


def _autosummary() -> list[str]:
    block = re.search(r"^\.\. autosummary::\n\n((?:   \S+\n)+)", PAGE.read_text(), flags=re.M)
    assert block, "book/api.md opens with an autosummary table of the modules"
    return block.group(1).split()


def test_every_public_module_is_documented_once() -> None:
    documented = _automodules()
    assert len(documented) == len(set(documented)), "a module documented twice (duplicate objects)"
    missing = _public_modules() - set(documented)
    assert not missing, f"add an automodule section for {sorted(missing)} to book/api.md"
    stale = set(documented) - _public_modules()
    assert not stale, f"book/api.md documents modules that no longer exist: {sorted(stale)}"
    assert _autosummary() == documented, "the autosummary table lists the modules in page order"


def test_every_public_name_appears_in_the_reference() -> None:
    documented = set(_automodules())
    for name in ntk_course.__all__:
        obj = getattr(ntk_course, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            where = obj.__module__
            assert where in documented, f"{name} is defined in {where}, not in book/api.md"
            assert obj.__doc__ and obj.__doc__.strip(), f"{name} has no docstring for autodoc"
        else:  # data: autodoc shows it only with a `#:` comment above its assignment
            sources = [PACKAGE / f"{m.split('.')[1]}.py" for m in documented]
            pattern = rf"^#:.*\n{name} = "
            assert any(re.search(pattern, p.read_text(), flags=re.M) for p in sources), (
                f"{name} needs a '#: ...' doc comment above its assignment for the API reference"
            )


def test_the_reference_is_in_the_book_with_its_extensions() -> None:
    toc = (ROOT / "_toc.yml").read_text()
    assert re.search(r"^\s+- file: book/api$", toc, flags=re.M), "_toc.yml must list book/api"
    sphinx = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]
    assert {"sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.napoleon"} <= set(
        sphinx["extra_extensions"]
    )
    assert sphinx["config"]["napoleon_numpy_docstring"] is True
