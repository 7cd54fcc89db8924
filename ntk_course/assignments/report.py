"""What a teacher gets from grading a class: the CSV, feedback, written answers, a summary.

:func:`write_csv` writes one row per submission (``submission, assignment, q1 ... q5, manual,
total, flags, error``); when some students were regraded (``--only``) only their rows change.
``manual`` is the sum of the points the teacher gave by hand in a ``manual.csv`` (``submission,
question, points``), merged by :func:`manual_points`. :func:`write_feedback` writes one text file
per student with every test's message and hint; :func:`write_written` one Markdown file per
question with every student's written answer; :func:`summary` the mean and a histogram of each
question, as text and as a PNG.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from .grade import Grade

_FIXED = ["submission", "assignment"]
_TAIL = ["manual", "total", "flags", "error"]


def manual_points(path: str | Path | None) -> dict[str, float]:
    """The teacher's points per submission from a CSV ``submission, question, points``.

    Parameters
    ----------
    path : str or Path, optional
        The CSV file; None gives no points.

    Returns
    -------
    dict of str to float
        Submission to the sum of its manual points; ValueError naming a bad row.
    """
    if path is None:
        return {}
    out: dict[str, float] = defaultdict(float)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"submission", "points"} <= set(reader.fieldnames):
            raise ValueError(f"{path} needs the columns submission, question, points")
        for i, row in enumerate(reader, 2):
            try:
                out[row["submission"]] += float(row["points"])
            except ValueError:
                raise ValueError(
                    f"{path}, line {i}: points {row['points']!r} is no number"
                ) from None
    return dict(out)


def write_csv(grades: list[Grade], out: str | Path, manual: dict[str, float] | None = None) -> None:
    """Write (or update, for regraded students) the class's CSV.

    Parameters
    ----------
    grades : list of Grade
        The grades to write.
    out : str or Path
        The CSV; rows of other submissions already in it are kept.
    manual : dict, optional
        Manual points per submission (:func:`manual_points`).
    """
    manual = manual or {}
    rows: dict[str, dict[str, str]] = {}
    if Path(out).is_file():
        with open(out, newline="", encoding="utf-8") as f:
            rows = {r["submission"]: r for r in csv.DictReader(f)}
    for g in grades:
        row = {"submission": g.submission, "assignment": g.assignment, "flags": "; ".join(g.flags)}
        row |= {q: f"{p:g}" for q, p in g.scores.items()}
        row["error"] = g.error
        rows[g.submission] = row
    questions = sorted({k for r in rows.values() for k in r} - set(_FIXED) - set(_TAIL),
                       key=lambda q: (len(q), q))  # fmt: skip
    for name, row in rows.items():
        extra = manual.get(name, float(row.get("manual") or 0))
        row["manual"] = f"{extra:g}"
        row["total"] = f"{sum(float(row.get(q) or 0) for q in questions) + extra:g}"
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, [*_FIXED, *questions, *_TAIL], restval="")
        writer.writeheader()
        for name in sorted(rows):
            writer.writerow(rows[name])


def write_feedback(grades: list[Grade], folder: str | Path) -> None:
    """One ``<submission>.txt`` per student: points, flags, errors and every test's message.

    Parameters
    ----------
    grades : list of Grade
        The grades.
    folder : str or Path
        Created if missing.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for g in grades:
        lines = [f"# {g.submission}: {g.assignment or 'not graded'}, {g.total:g} points"]
        lines += [f"error: {g.error}"] if g.error else []
        lines += [f"flag: {f}" for f in g.flags]
        (folder / f"{Path(g.submission).stem}.txt").write_text(
            "\n\n".join([*lines, *g.feedback]) + "\n", encoding="utf-8"
        )


def write_written(grades: list[Grade], folder: str | Path) -> list[Path]:
    """One Markdown file per question with every student's written answer, for reading.

    Parameters
    ----------
    grades : list of Grade
        The grades (their ``written`` answers).
    folder : str or Path
        Created if missing.

    Returns
    -------
    list of Path
        The files written, ``<question>.md``.
    """
    by_question: dict[str, list[str]] = defaultdict(list)
    for g in grades:
        for q, text in g.written.items():
            by_question[q].append(f"## {g.submission}\n\n{text}\n")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for q, answers in sorted(by_question.items()):
        path = folder / f"{q}.md"
        path.write_text(f"# Written answers to {q}\n\n" + "\n".join(answers), encoding="utf-8")
        paths.append(path)
    return paths


def summary(grades: list[Grade], png: str | Path | None = None) -> str:
    """The mean and a histogram of each question's points, as text (and as a PNG if asked).

    Parameters
    ----------
    grades : list of Grade
        The grades.
    png : str or Path, optional
        Where to draw the histograms.

    Returns
    -------
    str
        One block per assignment: per question, mean points and a text histogram.
    """
    blocks = []
    by_assignment: dict[str, list[Grade]] = defaultdict(list)
    for g in grades:
        by_assignment[g.assignment or "not graded"].append(g)
    panels = []
    for a, gs in sorted(by_assignment.items()):
        questions = sorted({q for g in gs for q in g.scores}, key=lambda q: (len(q), q))
        lines = [f"{a}: {len(gs)} submissions, mean total {sum(g.total for g in gs) / len(gs):.2f}"]
        for q in questions:
            points = [g.scores.get(q, 0.0) for g in gs]
            counts = defaultdict(int)
            for p in points:
                counts[round(p, 2)] += 1
            bars = "  ".join(f"{p:g}: {'#' * n} {n}" for p, n in sorted(counts.items()))
            lines.append(f"  {q}: mean {sum(points) / len(points):.2f}   {bars}")
            panels.append((f"{a}.{q}", points))
        blocks.append("\n".join(lines))
    if png is not None and panels:
        _draw(panels, png)
    return "\n".join(blocks)


def _draw(panels: list[tuple[str, list[float]]], png: str | Path) -> None:
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    cols = min(5, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.2 * rows), squeeze=False)
    for ax, (name, points) in zip(axes.flat, panels):
        ax.hist(points, bins=[x / 2 - 0.25 for x in range(8)], color="#0072B2", edgecolor="white")
        mean = sum(points) / len(points)
        ax.set_title(f"{name}: mean {mean:.2f}", fontsize=10)
        ax.set_xlabel("points")
        ax.set_ylabel("students")
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


__all__ = ["manual_points", "summary", "write_csv", "write_feedback", "write_written"]
