"""The numbers of the committed paper-scale run (``book/_static/paper/results.json``), for the chapters.

``python -m ntk_course.reproduce`` wrote that file on a GPU; the chapters quote its numbers and assert
them, so an edit that changes a quoted number fails the build. The file is read from the book's
folder when the chapter runs inside the repository, and from the repository's web address otherwise
(a notebook opened on Colab).
"""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import ntk_course

URL = "https://raw.githubusercontent.com/ntk-course/ntk-course/main/book/_static/paper/results.json"
FIGURES = ("figure1", "figure2", "figure3")


def paper_results(figure: str) -> dict:
    """The entry of ``figure`` ("figure1", "figure2" or "figure3") in the committed ``results.json``,
    with the run's ``environment`` and ``wall_time_s`` added under those keys."""
    if figure not in FIGURES:
        raise ValueError(f"unknown figure {figure!r}; expected one of {FIGURES}")
    places = [Path("_static"), Path(ntk_course.__file__).resolve().parents[1] / "book" / "_static"]
    local = next((p / "paper" / "results.json" for p in places if (p / "paper" / "results.json").is_file()), None)
    report = json.loads(local.read_text() if local else urllib.request.urlopen(URL, timeout=30).read())
    return {**report["figures"][figure], "environment": report["environment"], "total_wall_time_s": report["wall_time_s"]}


__all__ = ["paper_results"]
