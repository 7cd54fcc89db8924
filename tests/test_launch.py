"""Binder and Colab: what can be checked without reaching them.

Binder builds from ``binder/`` (repo2docker reads that folder and ignores the top level); Colab
opens the paired ``.ipynb`` of a chapter, whose hidden first cell installs the course from the
repository URL that ``_config.yml`` holds (and that the launch buttons are made from).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml
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
