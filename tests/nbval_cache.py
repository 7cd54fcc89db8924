"""Execute each chapter once per test run: nbval runs it, and the book build reuses nbval's outputs.

``tests/run_all.sh`` loads this pytest plugin (``-p nbval_cache``, with ``tests/`` on PYTHONPATH).

* ``prepare`` (``python tests/nbval_cache.py prepare OUTDIR``) writes every chapter and solved
  assignment (``book/**/*.md`` with a kernelspec) as a notebook for nbval into OUTDIR, with the
  reference outputs of ``tests/reference_outputs.json`` filled into the cells tagged
  ``nbval-check-output``: those are the cells that print a chapter's key numbers, and nbval
  compares them (after the sanitizers of ``tests/nbval_sanitize.cfg``) so that a chapter whose
  numbers drift fails even where no assert guards them. The references belong to one scale
  (``quick``, CI's); at another scale the tagged cells are run but not compared.
* During the pytest run, the plugin keeps the outputs nbval's kernel produced for every code cell.
  When every cell of a notebook passed, it stores the executed notebook in the jupyter-cache given
  by ``NTK_COURSE_JUPYTER_CACHE``. The book build then runs with ``execute_notebooks: cache`` on
  that cache and finds every chapter there, so it renders nbval's outputs instead of executing again
  (``python tests/nbval_cache.py config PATH`` writes that configuration: ``_config.yml`` with
  ``execute_notebooks: cache`` on the cache of ``NTK_COURSE_JUPYTER_CACHE``).
* With ``NTK_COURSE_RECORD_OUTPUTS=1`` the outputs of the tagged cells become the new references
  (written to ``tests/reference_outputs.json`` at the end of the run): do this after a deliberate
  change of a chapter's numbers, and review the diff.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# NTK_COURSE_REFERENCES: another references file, for one chapter's run beside the others' edits
REFERENCES = Path(
    os.environ.get("NTK_COURSE_REFERENCES", ROOT / "tests" / "reference_outputs.json")
)
CHECK_TAG = "nbval-check-output"
CACHE_ENV = "NTK_COURSE_JUPYTER_CACHE"
RECORD_ENV = "NTK_COURSE_RECORD_OUTPUTS"
SOURCE_KEY = "ntk_course_source"  # notebook metadata: the MyST file the notebook was made from


def sources() -> list[Path]:
    """The chapters and assignments that execute: MyST notebooks (a kernelspec in the front
    matter)."""
    return sorted(
        p
        for p in (ROOT / "book").rglob("*.md")
        if re.match(r"---\n(?:.*\n)*?kernelspec:", p.read_text(encoding="utf-8"))
    )


def cell_key(source: str) -> str:
    return hashlib.sha1(source.strip().encode()).hexdigest()[:16]


def _scale() -> str:
    return os.environ.get("NTK_COURSE_SCALE", "default").strip().lower() or "default"


def load_references() -> dict:
    if REFERENCES.is_file():
        return json.loads(REFERENCES.read_text(encoding="utf-8"))
    return {"scale": "quick", "notebooks": {}}


def prepare(outdir: Path) -> list[Path]:
    """Write the nbval notebooks (see the module docstring) and return their paths."""
    import jupytext
    import nbformat

    refs = load_references()
    compare = refs.get("scale") == _scale()
    outdir.mkdir(parents=True, exist_ok=True)
    written, missing = [], []
    record = os.environ.get(RECORD_ENV, "").strip() not in ("", "0")
    for md in sources():
        rel = md.relative_to(ROOT).as_posix()
        nb = jupytext.read(md)
        nb.metadata[SOURCE_KEY] = rel
        stored = refs["notebooks"].get(rel, {}) if compare and not record else {}
        for cell in nb.cells:
            if cell.cell_type == "code" and CHECK_TAG in cell.metadata.get("tags", []):
                outputs = stored.get(cell_key(cell.source))
                if outputs is not None:
                    cell.outputs, cell.execution_count = [nbformat.from_dict(o) for o in outputs], 1
                elif compare and not record:
                    missing.append(f"{rel}: {cell.source.strip().splitlines()[0][:70]}")
        path = outdir / (
            md.relative_to(ROOT / "book").as_posix().replace("/", "_").removesuffix(".md")
            + ".ipynb"
        )
        jupytext.write(nb, path, fmt="ipynb")
        written.append(path)
    if missing:
        raise SystemExit(
            f"{len(missing)} cells tagged {CHECK_TAG} have no reference output at the {_scale()} "
            "scale (a changed cell, or a new one):\n  "
            + "\n  ".join(missing)
            + f"\nrecord them with {RECORD_ENV}=1 bash tests/run_all.sh and review the diff of "
            f"{REFERENCES}"
        )
    return written


def silenced(source: str) -> bool:
    """Whether a cell ends in ";" (its last code line, comments aside), which in Jupyter hides the
    value of the last expression. nbval's kernel runs cells without history, where IPython does
    not see the ";", so its executions keep an ``<Axes: ...>`` the reader's notebook never shows."""
    lines = [line.split("#")[0].rstrip() for line in source.strip().splitlines()]
    lines = [line for line in lines if line]
    return bool(lines) and lines[-1].endswith(";")


def _clean(output: dict):
    """nbval's record of one output as an nbformat output (only the fields nbformat allows)."""
    import nbformat

    out = {
        k: v
        for k, v in output.items()
        if k
        in {
            "output_type",
            "name",
            "text",
            "data",
            "metadata",
            "execution_count",
            "ename",
            "evalue",
            "traceback",
        }
    }
    if out["output_type"] == "execute_result":
        out.setdefault("execution_count", None)
    return nbformat.from_dict(out)


class _Collector:
    def __init__(self) -> None:
        self.outputs: dict[str, dict[int, list]] = {}
        self.failed: set[str] = set()
        self.notebooks: dict[str, object] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):  # noqa: ANN001 - pytest hook signature
        report = (yield).get_result()
        if type(item).__name__ != "IPyNbCell":
            return
        path = str(item.parent.path)
        self.notebooks.setdefault(path, item.parent)
        if report.failed:
            self.failed.add(path)
        if call.when == "call" and report.passed and item.test_outputs is not None:
            self.outputs.setdefault(path, {})[item.cell_num] = [
                _clean(o) for o in item.test_outputs
            ]

    def executed(self, path: str):
        """The notebook with every code cell's outputs, or None if a cell failed or did not run."""
        if path in self.failed:
            return None
        nb = copy.deepcopy(self.notebooks[path].nb)
        got = self.outputs.get(path, {})
        code = [c for c in nb.cells if c.cell_type == "code"]
        if len(got) != len(code):
            return None
        for i, cell in enumerate(code):
            outputs = got[i]
            if silenced(cell.source):  # Jupyter hides the value of a last line ending in ";"
                outputs = [o for o in outputs if o.get("output_type") != "execute_result"]
            cell.outputs, cell.execution_count = outputs, i + 1
        return nb

    def pytest_sessionfinish(self, session) -> None:  # noqa: ANN001
        # Under pytest-xdist each worker ends its own session and writes the notebooks it ran:
        # each write holds a lock, and the references are read, merged and written under it.
        done = {path: nb for path in self.notebooks if (nb := self.executed(path)) is not None}
        cache_dir = os.environ.get(CACHE_ENV)
        if cache_dir and done:
            from jupyter_cache import get_cache
            from jupyter_cache.base import CacheBundleIn

            with _exclusive(Path(cache_dir)):
                cache = get_cache(cache_dir)
                for path, nb in done.items():
                    source = nb.metadata.get(SOURCE_KEY, path)
                    cache.cache_notebook_bundle(
                        CacheBundleIn(nb, str(ROOT / source)), check_validity=False, overwrite=True
                    )
        if os.environ.get(RECORD_ENV, "").strip() in ("", "0"):
            return
        tagged = {}
        for path, nb in done.items():
            source = nb.metadata.get(SOURCE_KEY, path)
            tagged[source] = {
                cell_key(c.source): c.outputs
                for c in nb.cells
                if c.cell_type == "code" and CHECK_TAG in c.metadata.get("tags", [])
            }
            pictures = [
                k
                for k, outs in tagged[source].items()
                if any(o.get("output_type") != "stream" for o in outs)
            ]
            # figures and rich outputs are not numbers to compare: tag a cell that prints
            if pictures:
                raise RuntimeError(
                    f"{source}: cells tagged {CHECK_TAG} must only print text; "
                    f"cells {pictures} show more"
                )
        with _exclusive(REFERENCES):
            refs = load_references()
            if refs.get("scale") != _scale():
                refs = {"scale": _scale(), "notebooks": {}}
            refs["notebooks"] = dict(sorted({**refs["notebooks"], **tagged}.items()))
            REFERENCES.write_text(
                json.dumps(refs, indent=1, sort_keys=True) + "\n", encoding="utf-8"
            )


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock named after ``path`` (a file in the temporary folder) in the block."""
    import fcntl

    name = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"ntk_course-{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def pytest_configure(config) -> None:  # noqa: ANN001
    config.pluginmanager.register(_Collector(), "ntk_nbval_cache_collector")


def build_config(path: Path) -> None:
    """Write the book's _config.yml with the notebooks' outputs taken from the jupyter-cache."""
    import yaml

    cache = os.environ.get(CACHE_ENV)
    if not cache:
        raise SystemExit(f"{CACHE_ENV} must name the jupyter-cache the nbval run filled")
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config["execute"].update(execute_notebooks="cache", cache=cache)
    # Jupyter Book resolves local_extensions against the folder of the configuration file.
    extensions = config["sphinx"].get("local_extensions") or {}
    config["sphinx"]["local_extensions"] = {
        name: str(ROOT / where) for name, where in extensions.items()
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


if __name__ == "__main__":
    commands = {"prepare": lambda out: [print(p) for p in prepare(out)], "config": build_config}
    if len(sys.argv) != 3 or sys.argv[1] not in commands:
        sys.exit("usage: python tests/nbval_cache.py prepare OUTDIR | config CONFIG_PATH")
    commands[sys.argv[1]](Path(sys.argv[2]))
