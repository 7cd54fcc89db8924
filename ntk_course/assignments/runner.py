"""Inside the sandbox: run a submission's cells, then call its answers on the hidden inputs.

    python -I -m ntk_course.assignments.runner JOB

Started by :mod:`.grade` through :mod:`.sandbox`, which shows this process nothing but the system's
libraries, Python, the course's package (read-only) and the folder ``JOB`` (read-write):

* ``JOB/cells.json``: the code cells of the notebook, as plain Python (IPython syntax turned into
  calls by the grader), without Otter's plumbing and without the ``check`` cells;
* ``JOB/plan.npz`` (:mod:`.plaindata`): the limits, and for each question the name of its answer
  and the inputs to call it with, as plain data. No seed, no test, no reference value.

Each cell runs in a process forked from the one that ran the cell before (so a cell that does not
end within ``cell_seconds`` is killed and the next cell starts from the state before it: an endless
loop costs its own question only); an exception is noted and the next cell runs. Then each
question's answer is called on its inputs in a forked process of its own, within ``answer_seconds``,
with a watch (``sys.setprofile``) on the library functions that compute that answer
(:mod:`.forbidden`). What comes back is written to ``JOB/out``: ``cells.json`` (what each cell did)
and one ``<question>.npz`` per question (what the answer returned, as plain data). The grading
process reads those files and nothing else; it compares them with references it computes itself.
"""

from __future__ import annotations

import ast
import json
import os
import resource
import select
import signal
import sys
import threading
import time
from pathlib import Path

_STUB = (
    "def get_ipython():\n"
    "    raise RuntimeError('IPython magics and shell commands are not run by the grader')\n"
    "def display(*objects, **options):\n"
    "    pass\n"
)


def _execute(source: str, namespace: dict, index: int) -> dict:
    """Run one cell, statement by statement; what happened, as JSON-ready data.

    As in Jupyter, the cell stops at a statement that raises, except a failed import: an unused
    ``import seaborn`` costs only what needs it, not the rest of the cell.
    """
    start = time.perf_counter()
    errors = []
    try:
        statements = ast.parse(source).body
    except SyntaxError as err:
        statements, errors = [], [f"SyntaxError: {err}"]
    for stmt in statements:
        try:
            code = compile(ast.Module([stmt], []), f"<cell {index}>", "exec")
            exec(code, namespace)  # noqa: S102 - in the sandbox
        except BaseException as err:  # noqa: BLE001 - a student's SystemExit is a cell's error too
            errors.append(f"{type(err).__name__}: {err}"[:300])
            if not (isinstance(err, ImportError) and isinstance(stmt, ast.Import | ast.ImportFrom)):
                break
    error = "; ".join(errors)[:400]
    return {"cell": index, "error": error, "seconds": round(time.perf_counter() - start, 3)}


def _in_child(step, limit: float) -> tuple[dict | None, bool]:
    """Run ``step()`` in a forked child within ``limit`` seconds.

    Returns ``(result, in_child)``: in the child, ``(its result, True)``, and the child goes on with
    the program; in the parent, ``(None, False)`` when the child timed out or died, after killing
    it. When the child finished in time, the parent waits for the child to end and ends with it:
    the child, holding the new state, has taken over.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        result = step()
        os.write(w, json.dumps(result).encode())
        os.close(w)
        return result, True
    os.close(w)
    ready, _, _ = select.select([r], [], [], limit)
    data = os.read(r, 1 << 16) if ready else b""
    os.close(r)
    try:
        result = json.loads(data)
    except ValueError:
        result = None
    if result is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return None, False
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status))


def _answers(plan: dict, arrays: dict, namespace: dict, out: Path, watch: dict) -> None:
    """Call every question's answer on its inputs, each question in a child with a time limit."""
    from .plaindata import decode, encode, save

    limit = float(plan["limits"]["answer_seconds"])
    for question, spec in plan["questions"].items():
        pid = os.fork()
        if pid == 0:
            codes, called = watch.get(question, {}), set()

            def hook(frame, event, arg, codes=codes, called=called):
                if event == "call" and frame.f_code in codes:
                    called.add(codes[frame.f_code])

            result: dict = {"kind": "missing"}
            found: dict[str, object] = {}
            obj = namespace.get(spec["answer"], _MISSING)
            if obj is not _MISSING and not callable(obj):
                result = {"kind": "value", "value": encode(obj, found)}
            elif obj is not _MISSING:
                outputs = []
                for call in spec["calls"]:
                    args, kwargs = decode(call, arrays)
                    sys.setprofile(hook)
                    threading.setprofile(hook)
                    try:
                        outputs.append({"value": encode(obj(*args, **kwargs), found)})
                    except BaseException as err:  # noqa: BLE001 - reported, as _call would
                        outputs.append({"raised": type(err).__name__, "message": str(err)[:300]})
                    finally:
                        sys.setprofile(None)
                        threading.setprofile(None)
                name = str(getattr(obj, "__name__", spec["answer"]))[:80]
                result = {"kind": "function", "name": name, "outputs": outputs}
                result["called"] = sorted(called)
            save(out / f"{question}.npz", result, found)
            os._exit(0)
        deadline = time.monotonic() + limit
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() >= deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                (out / f"{question}.timeout").write_text(f"{limit:g}")
                break
            time.sleep(0.02)


_MISSING = object()


def main(job: str) -> int:
    """Run the job in folder ``job`` (see the module's docstring); 0 when it wrote its results."""
    job_dir = Path(job)
    from .forbidden import code_objects
    from .plaindata import load

    plan, arrays = load(job_dir / "plan.npz")
    limits = plan["limits"]
    memory = int(limits["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    import torch

    torch.set_num_threads(1)  # forks and OpenMP thread pools do not mix
    watch = {q: code_objects(q) for q in plan["questions"]}  # before any student code runs
    cells = json.loads((job_dir / "cells.json").read_text())
    out = job_dir / "out"
    out.mkdir(exist_ok=True)
    namespace: dict = {"__name__": "__main__"}
    exec(_STUB, namespace)  # noqa: S102 - our own stub
    sink = os.open(os.devnull, os.O_WRONLY)
    os.dup2(sink, 1)  # what the cells print goes nowhere
    os.dup2(sink, 2)
    log = []
    for index, source in enumerate(cells):
        result, _ = _in_child(
            lambda s=source, i=index: _execute(s, namespace, i), float(limits["cell_seconds"])
        )
        log.append(
            result
            or {
                "cell": index,
                "error": f"did not finish within {limits['cell_seconds']:g} s, or crashed",
                "seconds": None,
            }
        )
    _answers(plan, arrays, namespace, out, watch)
    (out / "cells.json").write_text(json.dumps(log))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
