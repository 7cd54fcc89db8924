"""The teacher's budget: grade a class of N submissions of a1 on this machine, in the sandbox.

    python benchmarks/grading.py [N]     # default 50; half solved notebooks, half blank handouts

Builds the handouts into a temporary folder, copies the solved notebook and the blank handout N/2
times each, runs `python -m ntk_course.assignments grade` on them as a teacher would (bubblewrap,
as many submissions at once as there are cores) and prints the wall time, the time per submission
and whether every grade came out as expected (15 for a solved notebook, 0 for a blank one). The
target (issue 19): a class of 50 within 10 minutes on 2 cores.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(n: int = 50) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cmd = [sys.executable, "-m", "ntk_course.assignments"]
        subprocess.run([*cmd, "build", str(work / "h"), "--only", "a1"], check=True,
                       capture_output=True)  # fmt: skip
        subs = work / "subs"
        subs.mkdir()
        for k in range(n):
            kind = "solved" if k % 2 == 0 else "blank"
            source = work / "h/a1" / ("autograder" if kind == "solved" else "student") / "a1.ipynb"
            shutil.copy(source, subs / f"{kind}_{k:03d}.ipynb")
        start = time.perf_counter()
        subprocess.run([*cmd, "grade", str(subs), "--handouts", str(work / "h"), "--out",
                        str(work / "g.csv")], check=True, capture_output=True)  # fmt: skip
        seconds = time.perf_counter() - start
        with open(work / "g.csv", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        right = sum(float(r["total"]) == (15 if r["submission"].startswith("solved") else 0)
                    for r in rows)  # fmt: skip
    cores = len(os.sched_getaffinity(0))
    print(f"{n} submissions of a1 graded in {seconds:.0f} s on {cores} cores "
          f"({seconds / n:.1f} s per submission); {right} of {n} grades as expected")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
