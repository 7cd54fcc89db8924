"""Grading a class (ntk_course.assignments.grade and its sandbox) as a teacher would, with honest
work and with the cheats that used to score full marks.

One batch grades a folder that mixes assignments, in the bubblewrap sandbox that `.ci/run` installs:
the solved a1 notebook must get 15/15, the blank handouts 0, one wrong formula the points of the
other questions, and honest accidents (an unused failing import, an endless loop in one answer
cell or one answer function, lost Otter metadata, a renamed zip) must cost only what they break.
Each cheat must score 0 (or be flagged, for answers that call the library): replacing ``require``,
patching Otter's test runner, replacing ``numpy.linalg.norm``, a zip with a fake ``ntk_course``
package, a zip with a crafted ``.OTTER_LOG`` pickle, a cell that reads the teacher's secret and
leaves a process behind to rewrite ``grades.csv``, and a notebook whose answers call ``nngp``,
``ntk`` and friends."""

from __future__ import annotations

import csv
import json
import pickle
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from ntk_course.assignments import grading
from ntk_course.assignments.__main__ import main
from ntk_course.assignments.grade import Limits, grade_class, secret_of
from ntk_course.assignments.handouts import assignment_paths, reference_answers
from ntk_course.assignments.replay import graded_tests, make_plan
from ntk_course.assignments.sandbox import SandboxUnavailable, choose

POINTS = {q.split(".")[1]: grading.QUESTIONS[q].points for q in grading.QUESTIONS if "a1." in q}


def _sandbox_or_fail():
    if shutil.which("bwrap") is None:
        pytest.fail(
            "bubblewrap is not installed (apt-get install -y bubblewrap); .ci/run installs it"
        )
    return choose("bubblewrap")


def _edited(notebook: Path, target: Path, old: str, new: str) -> None:
    nb = nbformat.read(notebook, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and old in c.source]
    assert len(cells) == 1, old
    cells[0].source = cells[0].source.replace(old, new)
    nbformat.write(nb, target)


def _with_cell(notebook: Path, target: Path, source: str, after: str = "import math\n") -> None:
    """The notebook with a cell added after the one containing ``after``."""
    nb = nbformat.read(notebook, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and after in c.source)
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(source))
    nbformat.write(nb, target)


@pytest.fixture(scope="module")
def handouts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("handouts")
    assert main(["build", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def batch(handouts: Path, tmp_path_factory: pytest.TempPathFactory):
    """Every submission below graded in one run of the command line, 2 at a time."""
    work = tmp_path_factory.mktemp("class")
    subs = work / "submissions"
    subs.mkdir()
    solved, blank = handouts / "a1/autograder/a1.ipynb", handouts / "a1/student/a1.ipynb"
    shutil.copy(solved, subs / "solved.ipynb")
    shutil.copy(blank, subs / "blank.ipynb")
    for name in ("a2", "a3", "a4"):
        shutil.copy(handouts / name / "student" / f"{name}.ipynb", subs / f"blank_{name}.ipynb")
    q2 = "return relu_kernels(x, y, depth, beta)[0]"
    _edited(solved, subs / "wrong_q2.ipynb", q2, "return relu_kernels(x, y, depth, beta**0.5)[0]")
    # Honest accidents
    _edited(
        solved,
        subs / "unused_import.ipynb",
        "import math\n",
        "import math\nimport seaborn_nowhere\n",
    )
    _edited(solved, subs / "loop_in_q3_cell.ipynb", "# Question a1.q3\n", "while True:\n    pass\n")
    _edited(solved, subs / "loop_in_q2_answer.ipynb", q2, "while True:\n        pass")
    nb = json.loads(solved.read_text())
    nb["metadata"].pop("otter")
    (subs / "no_metadata.ipynb").write_text(json.dumps(nb))
    with zipfile.ZipFile(subs / "renamed export.zip", "w") as z:
        z.write(solved, "my work (final).ipynb")
    # Cheats
    _with_cell(blank, subs / "cheat_require.ipynb",
               "import ntk_course.assignments as A, ntk_course.assignments.grading as G\n"
               "A.require = G.require = lambda *a, **k: None\n"
               "A.check = G.check = lambda *a, **k: True")  # fmt: skip
    _with_cell(blank, subs / "cheat_otter.ipynb",
               "from otter.test_files import abstract_test as T\n"
               "T.TestFile.passed_all = property(lambda self: True)\n"
               "T.TestFile.grade = property(lambda self: 1.0)")  # fmt: skip
    _with_cell(blank, subs / "cheat_norm.ipynb",
               "import numpy\nnumpy.linalg.norm = lambda *a, **k: 0.0")  # fmt: skip
    with zipfile.ZipFile(subs / "cheat_package.zip", "w") as z:
        z.write(blank, "a1.ipynb")
        z.writestr("ntk_course/__init__.py", "raise SystemExit('imported from the zip')\n")
    marker = work / "unpickled"

    class Bomb:
        def __reduce__(self):
            return (Path(marker).write_text, ("the grader unpickled a student's file",))

    with zipfile.ZipFile(subs / "cheat_log.zip", "w") as z:
        z.write(blank, "a1.ipynb")
        z.writestr(".OTTER_LOG", pickle.dumps(Bomb()))
    out = work / "grades.csv"
    leak = work / "leak.txt"
    escape = f"""
import os, subprocess, pathlib
for path in ({str(handouts / "secret.json")!r}, {str(subs)!r}):
    try:
        found = os.listdir(path) if os.path.isdir(path) else open(path).read()
        pathlib.Path({str(leak)!r}).write_text(str(found))
    except OSError:
        pass
line = "solved.ipynb,a1,3,3,3,3,3,0,15,,"
subprocess.Popen(["sh", "-c", f"sleep 4; echo {{line}} > {out}"], start_new_session=True)
"""
    _with_cell(blank, subs / "cheat_escape.ipynb", escape)
    library = {
        "return relu_kernels(x, y, depth, beta)[0]": "return nngp(x, y, depth=depth, beta=beta)",
    }
    _edited(solved, subs / "cheat_library.ipynb", *next(iter(library.items())))
    _with_cell(subs / "cheat_library.ipynb", subs / "cheat_library.ipynb",
               "from ntk_course import nngp, ntk", after="import math\n")  # fmt: skip
    (subs / "broken.ipynb").write_text("{not json", encoding="utf-8")
    args = ["grade", str(subs), "--out", str(out), "--handouts", str(handouts), "--jobs", "2"]
    args += ["--cell-timeout", "20", "--answer-timeout", "15", "--sandbox", "bubblewrap"]
    _sandbox_or_fail()
    start = time.perf_counter()
    assert main(args) == 0
    seconds = time.perf_counter() - start
    with open(out, encoding="utf-8") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    time.sleep(6)  # a process left behind would have rewritten grades.csv by now
    return {"rows": rows, "out": out, "work": work, "leak": leak, "marker": marker,
            "seconds": seconds, "subs": subs}  # fmt: skip


def _points(row: dict[str, str]) -> dict[str, float]:
    return {q: float(row[q] or 0) for q in POINTS}


def test_honest_work_is_scored_as_documented(batch) -> None:
    rows = batch["rows"]
    assert _points(rows["solved.ipynb"]) == POINTS and float(rows["solved.ipynb"]["total"]) == 15
    assert rows["solved.ipynb"]["flags"] == "" and rows["solved.ipynb"]["error"] == ""
    assert float(rows["blank.ipynb"]["total"]) == 0 and rows["blank.ipynb"]["assignment"] == "a1"
    for name in ("a2", "a3", "a4"):  # a mixed folder: each graded against its own assignment
        row = rows[f"blank_{name}.ipynb"]
        assert row["assignment"] == name and float(row["total"]) == 0, row
    assert _points(rows["wrong_q2.ipynb"]) == {**POINTS, "q2": 0}
    assert (
        rows["broken.ipynb"]["total"] == "0" and "cannot be read" in rows["broken.ipynb"]["error"]
    )


def test_honest_mistakes_cost_only_what_they_break(batch) -> None:
    rows = batch["rows"]
    unused = rows["unused_import.ipynb"]
    assert _points(unused) == POINTS and "No module named 'seaborn_nowhere'" in unused["error"]
    assert _points(rows["loop_in_q3_cell.ipynb"]) == {**POINTS, "q3": 0}
    assert "did not finish within 20 s" in rows["loop_in_q3_cell.ipynb"]["error"]
    assert _points(rows["loop_in_q2_answer.ipynb"]) == {**POINTS, "q2": 0}
    feedback = (batch["work"] / "grades-feedback" / "loop_in_q2_answer.txt").read_text()
    assert "no result within 15 s (an endless loop?)" in feedback
    assert _points(rows["no_metadata.ipynb"]) == POINTS
    assert _points(rows["renamed export.zip"]) == POINTS


@pytest.mark.parametrize(
    "name",
    [
        "cheat_require.ipynb",
        "cheat_otter.ipynb",
        "cheat_norm.ipynb",
        "cheat_package.zip",
        "cheat_log.zip",
        "cheat_escape.ipynb",
    ],  # fmt: skip
)
def test_each_cheat_scores_zero(batch, name: str) -> None:
    assert float(batch["rows"][name]["total"]) == 0, batch["rows"][name]


def test_nothing_leaves_the_sandbox(batch, handouts: Path) -> None:
    assert not batch["marker"].exists(), "a student's pickle was unpickled"
    assert not batch["leak"].exists(), "a student's cell wrote outside its job folder"
    with open(batch["out"], encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == len(batch["rows"]), "grades.csv was rewritten"
    assert (handouts / "secret.json").stat().st_mode & 0o077 == 0


def test_answers_computed_by_the_library_are_flagged(batch) -> None:
    row = batch["rows"]["cheat_library.ipynb"]
    assert "a1.q2 refers to ntk_course.kernels.nngp" in row["flags"]
    assert "a1.q2 called ntk_course.kernels.nngp at run time" in row["flags"]
    assert float(row["q2"]) == 3  # a flag is for the teacher: it costs nothing by itself


def test_teacher_outputs(batch, handouts: Path) -> None:
    work = batch["work"]
    feedback = (work / "grades-feedback" / "wrong_q2.txt").read_text()
    assert "## a1.q2: 0 points" in feedback and "hint:" in feedback
    written = (work / "grades-written" / "a1.q2.md").read_text()
    assert written.count("\n## ") == sum(r["assignment"] == "a1" for r in batch["rows"].values())
    assert (work / "grades-summary.png").stat().st_size > 10_000
    # Regrade one student with manual points: the other rows stay as they are.
    manual = work / "manual.csv"
    manual.write_text("submission,question,points\nblank.ipynb,a1.q2,2\n")
    before = dict(batch["rows"])
    args = ["grade", str(batch["subs"]), "--out", str(batch["out"]), "--handouts", str(handouts)]
    args += ["--only", "solved.ipynb", "--manual", str(manual), "--sandbox", "bubblewrap"]
    assert main(args) == 0
    with open(batch["out"], encoding="utf-8") as f:
        after = {r["submission"]: r for r in csv.DictReader(f)}
    assert after.keys() == before.keys()
    assert after["blank.ipynb"]["manual"] == "2" and after["blank.ipynb"]["total"] == "2"
    assert after["wrong_q2.ipynb"] == before["wrong_q2.ipynb"]


def test_hidden_inputs_come_from_the_teachers_secret(handouts: Path, tmp_path: Path) -> None:
    secret = secret_of(handouts)
    assert main(["build", str(tmp_path / "other"), "--only", "a4"]) == 0
    assert secret_of(tmp_path / "other") != secret  # drawn afresh for every handouts folder
    answers = reference_answers(assignment_paths()[3])
    ours, public_zero = make_plan("a4", answers, secret), make_plan("a4", answers, 0)
    for q in ours.answers:
        for test in graded_tests(q, secret)[1:]:
            first, end = ours.spans[q][test.name]
            theirs = public_zero.spans[q][test.name]
            assert ours.digests[q][first:end] != public_zero.digests[q][slice(*theirs)], q
    labels = [
        tuple(c.label for c in grading.QUESTIONS["a4.q4"].grader(answers["a4.q4"], s)[0])
        for s in (1, 2)
    ]
    assert set(labels[0]) != set(labels[1])  # fresh series, not the same battery reordered


def test_the_sandbox_isolates(tmp_path: Path) -> None:
    sandbox = _sandbox_or_fail()
    probe = tmp_path / "job"
    probe.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("teacher")
    code = (
        "import os, socket, json\n"
        "r = {'pids': len([p for p in os.listdir('/proc') if p.isdigit()])}\n"
        f"r['read'] = os.path.exists({str(outside)!r})\n"
        "s = socket.socket()\n"
        "try:\n    s.connect(('1.1.1.1', 53)); r['net'] = True\n"
        "except OSError:\n    r['net'] = False\n"
        "for p in ('/usr/x', '/etc/x'):\n"
        "    try:\n        open(p, 'w'); r['write'] = True\n"
        "    except OSError:\n        r.setdefault('write', False)\n"
        "open('/job/result.json', 'w').write(json.dumps(r))\n"
    )
    command = sandbox.command(probe)
    python = command.index(sys.executable)  # ... PYTHON -I -c "<run the runner>" /job
    subprocess.run([*command[:python], sys.executable, "-c", code], check=True, timeout=60)
    seen = json.loads((probe / "result.json").read_text())
    assert seen == {"pids": seen["pids"], "read": False, "net": False, "write": False}
    assert seen["pids"] <= 3  # bwrap's init and this process: no grader, no other submission


def test_no_sandbox_without_consent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SandboxUnavailable, match="install bubblewrap .* or pass --unsafe"):
        choose()
    with pytest.raises(SandboxUnavailable, match="needs --unsafe"):
        choose("none")
    assert choose(unsafe=True).kind == "none"
    with pytest.raises(ValueError, match="unknown sandbox 'chroot'"):
        choose("chroot")


def test_bad_limits_and_arguments(handouts: Path, tmp_path: Path) -> None:
    (tmp_path / "subs").mkdir()
    shutil.copy(handouts / "a1/student/a1.ipynb", tmp_path / "subs/a.ipynb")
    sandbox = choose(unsafe=True, kind="none")
    with pytest.raises(ValueError, match="limits must be positive"):
        grade_class(tmp_path / "subs", handouts, sandbox, limits=Limits(cell=0))
    with pytest.raises(ValueError, match="jobs must be at least 1"):
        grade_class(tmp_path / "subs", handouts, sandbox, jobs=0)
    with pytest.raises(ValueError, match="no submission named"):
        grade_class(tmp_path / "subs", handouts, sandbox, only=["b.ipynb"])
    with pytest.raises(ValueError, match="no secret.json .* build the handouts first"):
        grade_class(tmp_path / "subs", tmp_path, sandbox)
    with pytest.raises(ValueError, match="unknown assignment 'a9'"):
        grade_class(tmp_path / "subs", handouts, sandbox, assignment="a9")
