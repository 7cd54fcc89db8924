"""Tests of ntk_course.assignments: the student notebooks hold no solution, keep every question and
check, and run from top to bottom with every check reporting "not answered yet" and nothing crashing."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import jupytext
import nbformat
import pytest

from ntk_course.assignments import questions
from ntk_course.assignments.__main__ import main
from ntk_course.assignments.notebooks import (
    SOLUTION_TAG,
    assignment_paths,
    plain_markdown,
    reference_answers,
    solved_notebook,
    stub_code,
    student_notebook,
    write_notebooks,
)

PATHS = assignment_paths()


# --------------------------------------------------------------------------------------------------
# The stubs
# --------------------------------------------------------------------------------------------------
def test_stub_keeps_signature_docstring_and_imports() -> None:
    source = '''# Question a9.q1
import math
from torch import nn


@staticmethod
def f(x,
      y=2):
    """Docstring kept."""
    z = math.sqrt(x)  # SECRET
    return z + y


def g(a): return a * 2
'''
    stub = stub_code(source, "a9.q1")
    assert stub.startswith("# Question a9.q1\nimport math\nfrom torch import nn\n")
    assert '@staticmethod\ndef f(x,\n      y=2):\n    """Docstring kept."""\n    raise NotImplementedError("Question a9.q1: write your answer here")' in stub
    assert 'def g(a):\n    raise NotImplementedError("Question a9.q1: write your answer here")' in stub
    assert "SECRET" not in stub and "return" not in stub
    namespace: dict[str, object] = {}
    exec(stub, namespace)  # the stub is valid Python whose functions raise NotImplementedError
    with pytest.raises(NotImplementedError, match="Question a9.q1"):
        namespace["g"](1)  # type: ignore[operator]


def test_stub_of_values_and_of_free_form_code() -> None:
    assert stub_code("slope = fit(x)\nk = 3\n", "a9.q2") == (
        "slope = ...  # Question a9.q2: your answer here\nk = ...  # Question a9.q2: your answer here\n")
    free = stub_code("import numpy as np\nx = np.arange(3)\nprint(x)\nfor i in x:\n    print(i)\n", "a9.q3")
    assert free == "import numpy as np\n\n# Question a9.q3: your code here\n"


def test_plain_markdown_for_jupyter() -> None:
    text = """(asg-x)=
# Title

```{exercise} a9.q1: the title
:label: a9-q1

Body with {cite:t}`jacot2018ntk`, {cite:p}`cho2009kernel` and {doc}`../limiting_ntk`.
```

$$
x = 1
$$ (eq-x)
"""
    out = plain_markdown(text, {"jacot2018ntk": "Jacot et al. (2018)", "cho2009kernel": "Cho and Saul (2009)"})
    assert "(asg-x)=" not in out and "{exercise}" not in out and ":label:" not in out
    assert "**Question a9.q1: the title.**" in out
    assert "Body with Jacot et al. (2018), (Cho and Saul, 2009) and the chapter *limiting ntk*." in out
    assert "$$ (eq-x)" not in out and out.rstrip().endswith("$$")


# --------------------------------------------------------------------------------------------------
# The student notebooks
# --------------------------------------------------------------------------------------------------
def solution_text(path: Path) -> list[str]:
    """Lines that only a solution holds: function bodies of solution cells and the text of solution blocks."""
    source = path.read_text(encoding="utf-8")
    secret: list[str] = []
    for block in re.findall(r"\{solution-start\}.*?\n`{3,}\n(.*?)`{3,}\{solution-end\}", source, re.S):
        prose = re.sub(r"```\{code-cell\}.*?```", "", block, flags=re.S)
        secret += [ln.strip() for ln in prose.splitlines() if len(ln.strip()) > 25]
    nb = jupytext.read(path)
    for cell in nb.cells:
        if cell.cell_type == "code" and SOLUTION_TAG in cell.metadata.get("tags", []):
            tree = ast.parse(cell.source)
            lines = cell.source.splitlines()
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef):
                    body = node.body[1:] if isinstance(node.body[0], ast.Expr) else node.body
                    for stmt in body:
                        secret += [ln.strip() for ln in lines[stmt.lineno - 1 : stmt.end_lineno] if len(ln.strip()) > 12]
            secret += [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith(("#", "def ", "from ", "import ", '"""'))
                       and not any(isinstance(n, ast.FunctionDef) for n in tree.body)]
    return secret


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_student_version_has_no_solution(path: Path) -> None:
    nb = student_notebook(path)
    text = "\n".join(c.source for c in nb.cells)
    source = path.read_text(encoding="utf-8")
    public = re.sub(r"\{solution-start\}.*?\{solution-end\}", "", source, flags=re.S)  # the questions themselves
    secret = [s for s in solution_text(path) if s not in public]
    assert len(secret) > 10
    leaked = [s for s in secret if s in text]
    assert not leaked, f"solution text in the student notebook: {leaked[:5]}"
    assert "solution-start" not in text and "{exercise}" not in text and "{cite" not in text
    assert all(SOLUTION_TAG not in c.metadata.get("tags", []) for c in nb.cells)


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_student_version_keeps_every_question_and_check(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    nb = student_notebook(path)
    text = "\n".join(c.source for c in nb.cells)
    checks = re.findall(r'check\("(a\d\.q\d)"', source)
    assert len(checks) >= 3 and checks == re.findall(r'check\("(a\d\.q\d)"', text)
    for q in checks:
        assert f'raise NotImplementedError("Question {q}: write your answer here")' in text
        assert f"**Question {q}" in text
    written = re.findall(r"\*\*Your answer to (a\d\.q\d)\.\*\*", text)
    assert written, "no cell for written answers"
    nbformat.validate(nb)


def test_reference_answers_cover_every_question() -> None:
    found = {}
    for path in PATHS:
        found.update(reference_answers(path))
    assert sorted(found) == sorted(questions())
    assert all(callable(a) for a in found.values())


def test_solved_notebook_is_the_source() -> None:
    nb = solved_notebook(PATHS[0])
    source = PATHS[0].read_text(encoding="utf-8")
    assert sum(c.cell_type == "code" for c in nb.cells) == source.count("```{code-cell}")
    assert nb.metadata["kernelspec"]["name"] == "python3" and "jupytext" not in nb.metadata


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["student", str(tmp_path / "s"), "--only", "a1"]) == 0
    assert [p.name for p in (tmp_path / "s").iterdir()] == ["a1.ipynb"]
    assert main(["solved", str(tmp_path / "k")]) == 0
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == [f"{p.stem}.ipynb" for p in PATHS]
    assert main(["student", str(tmp_path / "x"), "--only", "a7"]) == 2
    assert "no assignment named ['a7']" in capsys.readouterr().err
    assert main(["list"]) == 0
    assert capsys.readouterr().out.count("\n") == len(questions())
    with pytest.raises(ValueError, match="no assignment sources"):
        write_notebooks(tmp_path / "y", source=tmp_path)


# --------------------------------------------------------------------------------------------------
# Running the student notebooks: every check says "not answered yet", nothing crashes
# --------------------------------------------------------------------------------------------------
def test_student_notebooks_run_and_every_check_fails_helpfully(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from nbclient import NotebookClient

    monkeypatch.setenv("NTK_COURSE_SCALE", "quick")
    monkeypatch.delenv("NTK_COURSE_STRICT_CHECKS", raising=False)
    targets = write_notebooks(tmp_path)
    notebooks = [nbformat.read(t, as_version=4) for t in targets]

    async def run_all() -> None:  # the kernels start and import concurrently
        await asyncio.gather(*(NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                                              resources={"metadata": {"path": str(tmp_path)}}).async_execute()
                               for nb in notebooks))

    asyncio.run(run_all())
    for target, nb in zip(targets, notebooks):
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            errors = [o for o in cell.outputs if o.output_type == "error"]
            assert not errors, f"{target.name}: cell crashed with {errors[0].ename}: {errors[0].evalue}\n{cell.source}"
            calls = re.findall(r'check\("(a\d\.q\d)"', cell.source)
            printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            for q in calls:
                verdict = re.search(rf"^✗ {re.escape(q)} \(.+\): not answered yet \(.+\)\..*\n    expected: .+", printed, re.M)
                assert verdict, f"{target.name}: check of {q} printed {printed!r}"
            assert printed.count("✗") == len(calls) and "✓" not in printed
        json.dumps(nb)  # the executed notebook is still a valid JSON document
