"""Tests of the handouts and the grading of the assignments (ntk_course.assignments.handouts,
.grade).

The four handouts are built once with ``otter assign``. The student notebooks must hold neither a
solution nor a hidden test; Otter's tests (read from the autograder zip) must give the model
solutions full marks, the stubs zero and known wrong formulas exactly the points of the parts they
get right (the grading of a class, in a sandbox, is tested in test_grade_class.py); the website
must still fold every solution."""

from __future__ import annotations

import ast
import json
import math
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jupytext
import numpy as np
import pytest
import torch
from otter.assign.solutions import replace_solutions
from otter.test_files.exception_test import ExceptionTestFile

from ntk_course import nngp, ntk
from ntk_course.assignments import grading, questions
from ntk_course.assignments.__main__ import main
from ntk_course.assignments.grade import secret_of
from ntk_course.assignments.handouts import (
    assignment_paths,
    master_notebook,
    reference_answers,
)
from ntk_course.assignments.otter_cells import mark_solution, seed_of
from ntk_course.assignments.replay import graded_tests

PATHS = assignment_paths()
NAMES = [p.stem for p in PATHS]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def handouts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("handouts")
    assert main(["build", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def answers() -> dict[str, object]:
    out: dict[str, object] = {}
    for path in PATHS:
        out.update(reference_answers(path))
    return out


def otter_tests(handouts: Path, question: str) -> ExceptionTestFile:
    """The Otter test file of ``question`` (e.g. ``a1.q2``) as the autograder zip holds it."""
    assignment, name = question.split(".")
    [zip_path] = (handouts / assignment / "autograder").glob("*.zip")
    with zipfile.ZipFile(zip_path) as z:
        return ExceptionTestFile.from_string(
            z.read(f"tests/{name}.py").decode(), path=f"tests/{name}.py"
        )


def otter_score(
    handouts: Path, question: str, answer: object, tests: ExceptionTestFile | None = None
) -> tuple[float, float]:
    """(points, possible) that Otter's tests of ``question`` give ``answer``."""
    tests = tests or otter_tests(handouts, question)
    name = re.search(r"def test_public\((\w+)\)", tests.source).group(1)  # type: ignore[union-attr]
    tests.run({name: answer})
    return tests.score, tests.possible


# --------------------------------------------------------------------------------------------------
# The master notebook
# --------------------------------------------------------------------------------------------------
def test_solution_markers_leave_signatures_and_prompts() -> None:
    source = '''# Question a9.q1
import math


@staticmethod
def f(x,
      y=2):
    """Docstring kept."""
    z = math.sqrt(x)  # SECRET
    return z + y


def g(a):
    return a * 2  # SECRET


print(f(1))  # SECRET
# a comment between two statements
for i in range(2):
    print(i)  # SECRET
'''
    marked = mark_solution(source, "a9.q1")
    master: dict[str, object] = {}
    exec(marked, master)  # the master runs the solution
    assert master["f"](4) == 4 and master["g"](3) == 6  # type: ignore[operator]
    student = "\n".join(replace_solutions(marked.splitlines(), "python"))  # Otter's own stripping
    assert "SECRET" not in student and "return" not in student
    # one prompt for the consecutive statements
    assert student.count("# Question a9.q1: your code here") == 1
    assert (
        '@staticmethod\ndef f(x,\n      y=2):\n    """Docstring kept."""\n'
        '    raise NotImplementedError("Question a9.q1: write your answer here")' in student
    )
    namespace: dict[str, object] = {}
    exec(student, namespace)
    with pytest.raises(NotImplementedError, match="Question a9.q1"):
        namespace["g"](1)  # type: ignore[operator]
    with pytest.raises(ValueError, match="write the body of h on its own lines"):
        mark_solution("def h(x): return x\n", "a9.q2")


def test_master_notebook_holds_every_question_and_its_tests() -> None:
    nb = master_notebook(PATHS[0])
    raw = [c.source for c in nb.cells if c.cell_type == "raw"]
    assert raw[0].startswith("# ASSIGNMENT CONFIG\nname: a1\n")
    asked = [q for q in questions() if q.startswith("a1.")]
    assert [r.split("name: ")[1] for r in raw if r.startswith("# BEGIN QUESTION")] == [
        q.split(".")[1] for q in asked
    ]
    assert (
        raw.count("# BEGIN TESTS")
        == raw.count("# END QUESTION")
        == raw.count("# BEGIN SOLUTION")
        == len(asked)
    )
    text = "\n".join(c.source for c in nb.cells)
    assert "{cite" not in text.split("# BEGIN SOLUTION")[0] and "Jacot et al. (2018)" in text
    for q in asked:  # public test 1 point, the hidden ones the rest, one per part
        parts = grading.QUESTIONS[q].parts or ((None, None),)
        assert text.count(f"require({q!r}") == 1 + len(parts)
        for name, _ in parts:
            assert f"seed={seed_of(q, f'hidden {name or str()}')}" in text


def test_a_question_without_its_check_cell_is_refused(tmp_path: Path) -> None:
    source = PATHS[0].read_text(encoding="utf-8")
    (tmp_path / "assignments").mkdir()
    (tmp_path / "assignments" / "a1.md").write_text(
        source.replace('check("a1.q3", relu_ntk)', "relu_ntk"), encoding="utf-8"
    )
    (tmp_path / "references.bib").write_text(
        (REPO / "book/references.bib").read_text(encoding="utf-8"), encoding="utf-8"
    )
    with pytest.raises(
        ValueError, match="is not a registered question, or a1.q3 has no check cell"
    ):
        master_notebook(tmp_path / "assignments" / "a1.md")


# --------------------------------------------------------------------------------------------------
# The student notebooks: no solution, no hidden test
# --------------------------------------------------------------------------------------------------
def solution_text(path: Path) -> list[str]:
    """Lines only a solution holds: bodies and statements of solution cells, prose of solution
    blocks."""
    source = path.read_text(encoding="utf-8")
    public = re.sub(r"\{solution-start\}.*?\{solution-end\}", "", source, flags=re.S)
    secret: list[str] = []
    for block in re.findall(
        r"\{solution-start\}.*?\n`{3,}\n(.*?)`{3,}\{solution-end\}", source, re.S
    ):
        secret += [
            ln.strip()
            for ln in re.sub(r"```\{code-cell\}.*?```", "", block, flags=re.S).splitlines()
            if len(ln.strip()) > 25
        ]
    for cell in jupytext.read(path).cells:
        if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []):
            lines = cell.source.splitlines()
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.FunctionDef):
                    body = node.body[1:] if isinstance(node.body[0], ast.Expr) else node.body
                    secret += [
                        ln.strip() for s in body for ln in lines[s.lineno - 1 : s.end_lineno]
                    ]
                elif not isinstance(node, ast.Import | ast.ImportFrom):
                    secret += [ln.strip() for ln in lines[node.lineno - 1 : node.end_lineno]]
    return [s for s in secret if len(s) > 12 and s not in public]


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_holds_no_solution_nor_hidden_test(name: str, handouts: Path) -> None:
    student = (handouts / name / "student" / f"{name}.ipynb").read_text(
        encoding="utf-8"
    )  # cells and metadata
    [zip_path] = (handouts / name / "autograder").glob("*.zip")
    with zipfile.ZipFile(zip_path) as z:
        autograder = "\n".join(z.read(n).decode() for n in z.namelist() if n.startswith("tests/"))
    solved = (handouts / name / "autograder" / f"{name}.ipynb").read_text(encoding="utf-8")
    secret = solution_text(REPO / "book/assignments" / f"{name}.md")
    assert len(secret) > 30
    assert all(
        json.dumps(s, ensure_ascii=False)[1:-1] in solved for s in secret
    )  # the solved notebook has them: the search finds text
    leaked = [s for s in secret if json.dumps(s, ensure_ascii=False)[1:-1] in student]
    assert not leaked, f"solution text in the student notebook: {leaked[:5]}"
    asked = [q for q in questions() if q.startswith(f"{name}.")]
    secret = secret_of(handouts)  # drawn by build, kept with the handouts only
    hidden = [t.seed for q in asked for t in graded_tests(q, secret)[1:]]
    assert all(f"seed={s}" in autograder for s in hidden) and "test_hidden_1" in autograder
    assert not [s for s in hidden if str(s) in student] and "test_hidden" not in student
    for q in asked:  # what the student does get: the stub, the instant check, the public test
        assert (
            f"Question {q}: write your answer here" in student and f'check(\\"{q}\\", ' in student
        )
        assert (
            f'grader.check(\\"{q.split(".")[1]}\\")' in student
            and f"seed={seed_of(q, 'public')}" in student
        )
    assert '"assignment_name": "' + name in student


# --------------------------------------------------------------------------------------------------
# Otter's tests, question by question
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_otter_tests_give_model_solutions_full_marks_and_stubs_zero(
    name: str, handouts: Path, answers: dict[str, object]
) -> None:
    def stub(*args: object, **kwargs: object) -> object:
        raise NotImplementedError("write your answer here")

    for q in (q for q in questions() if q.startswith(f"{name}.")):
        assert otter_score(handouts, q, answers[q]) == (grading.QUESTIONS[q].points,) * 2, q
        assert otter_score(handouts, q, stub)[0] == 0, q
        assert otter_score(handouts, q, None)[0] == 0, q  # the function is missing or renamed


def ntk_without_sigma(
    x: torch.Tensor, y: torch.Tensor, depth: int, beta: float = 0.1
) -> torch.Tensor:
    """Theta^(l+1) = Theta^(l) Sigma_dot^(l+1): the NTK recursion without its + Sigma^(l+1) term."""
    theta = x @ y.T / x.shape[1] + beta**2
    for ell in range(1, depth):
        s, sx, sy = (
            nngp(x, y, depth=ell, beta=beta),
            nngp(x, depth=ell, beta=beta).diagonal(),
            nngp(y, depth=ell, beta=beta).diagonal(),
        )
        theta = (
            theta
            * (math.pi - torch.arccos((s / (sx[:, None] * sy[None, :]).sqrt()).clamp(-1, 1)))
            / (2 * math.pi)
        )
    return theta


def wrong_answers(answers: dict[str, object]) -> dict[str, tuple[object, float]]:
    """Known wrong formulas and the points they keep: those of the parts that they get right."""
    a = answers
    return {
        "a1.q2": (
            lambda x, y, depth, beta=0.1: nngp(x, y, depth=depth, beta=math.sqrt(beta)),
            0,
        ),  # beta for beta^2
        "a1.q3": (
            ntk_without_sigma,
            1,
        ),  # right at depth 1, where Theta = Sigma: the base-case part
        "a1.q4": (
            lambda x, width, depth, beta, n_networks, seed: ntk(x, depth=depth, beta=beta),
            0,
        ),
        "a1.q5": (
            lambda sq_norm, n0, depth: (sq_norm / n0 / 2 ** (depth - 1),) * 2,
            1,
        ),  # Theta = Sigma: the Sigma part
        "a2.q3": (
            lambda W0, b0, W1, x, y, beta: a["a2.q3"](W0, b0, torch.ones_like(W1), x, y, beta),
            0,
        ),  # no (W1_i)^2
        "a3.q1": (
            lambda K, y, f0, t: a["a3.q1"](K * K.shape[0], y, f0, t),
            0,
        ),  # the flow without the 1/N
        "a3.q4": (lambda K, K_test, y, y_test, t: float(t[-1]), 0),  # trained to convergence
        "a4.q2": (
            lambda coeffs, rho: np.polynomial.polynomial.polyval(rho, coeffs),
            0,
        ),  # a_i for a_i^2
    }


def test_hidden_tests_catch_known_wrong_formulas(
    handouts: Path, answers: dict[str, object]
) -> None:
    for q, (answer, kept) in wrong_answers(answers).items():
        tests = otter_tests(handouts, q)
        assert otter_score(handouts, q, answer, tests) == (kept, grading.QUESTIONS[q].points), q
        hidden = [r for r in tests.test_case_results if r.test_case.hidden]
        assert hidden and sum(not r.passed for r in hidden) >= 1, q


# --------------------------------------------------------------------------------------------------
# The website: the same sources, solutions folded
# --------------------------------------------------------------------------------------------------
def _assignment_site(tmp_path: Path, solutions: str = "show") -> Path:
    """The four assignment pages built by Sphinx with the book's extensions, unexecuted, with
    ``NTK_COURSE_SOLUTIONS=solutions`` (book/_ext/ntk_solutions.py); returns the HTML folder."""
    src = tmp_path / "src"
    (src / "assignments").mkdir(parents=True)
    for path in PATHS:
        shutil.copy(path, src / "assignments" / path.name)
    shutil.copy(REPO / "book/references.bib", src / "references.bib")
    (src / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(REPO / 'book/_ext')!r})\n"
        'extensions = ["myst_nb", "sphinx_exercise", "sphinx_togglebutton", "ntk_solutions",'
        ' "sphinxcontrib.bibtex"]\n'
        'nb_execution_mode = "off"\nmyst_enable_extensions = ["amsmath", "dollarmath"]\n'
        'bibtex_bibfiles = ["references.bib"]\n',
        encoding="utf-8",
    )
    (src / "index.md").write_text(
        "# Assignments\n\n```{toctree}\n"
        + "\n".join(f"assignments/{n}" for n in NAMES)
        + "\n```\n",
        encoding="utf-8",
    )
    html = tmp_path / "html"
    env = {**os.environ, "NTK_COURSE_SOLUTIONS": solutions}
    subprocess.run([sys.executable, "-m", "sphinx", "-q", "-b", "html", str(src), str(html)],
                   check=True, capture_output=True, env=env)  # fmt: skip
    return html


def test_website_folds_every_solution(tmp_path: Path, answers: dict[str, object]) -> None:
    """A Sphinx build of the four pages with the book's extensions (unexecuted): every exercise has
    a solution in a dropdown, which sphinx-togglebutton folds, holding the model code."""
    html = _assignment_site(tmp_path)
    for name in NAMES:
        page = (html / "assignments" / f"{name}.html").read_text(encoding="utf-8")
        asked = [q for q in questions() if q.startswith(f"{name}.")]
        assert (
            page.count('<div class="exercise admonition"')
            == page.count('<div class="solution dropdown admonition"')
            == len(asked)
        )
        assert "togglebutton" in page
        solutions = [
            c.split('<div class="exercise admonition"')[0]
            for c in page.split('<div class="solution dropdown admonition"')[1:]
        ]
        for q, solution in zip(asked, solutions):  # each model answer sits in its folded solution
            assert f'<span class="nf">{answers[q].__name__}</span>' in solution, q


def test_website_without_solutions_for_a_class(tmp_path: Path, answers: dict[str, object]) -> None:
    """NTK_COURSE_SOLUTIONS=hide (book/_ext/ntk_solutions.py): the same pages with no solution,
    no model code and no copied page source; the exercises stay."""
    html = _assignment_site(tmp_path, "hide")
    site = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in html.rglob("*.*")
                     if p.suffix in (".html", ".txt", ".md", ".ipynb", ".js"))  # fmt: skip
    for name in NAMES:
        page = (html / "assignments" / f"{name}.html").read_text(encoding="utf-8")
        asked = [q for q in questions() if q.startswith(f"{name}.")]
        assert page.count('<div class="exercise admonition"') == len(asked)
        assert 'class="solution' not in page and "Solution to" not in page
    for q in questions():  # the model answers' code appears nowhere in the site
        assert f'<span class="nf">{answers[q].__name__}</span>' not in site, q
    assert not (html / "_sources").exists()
