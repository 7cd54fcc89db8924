"""The numbers of the committed paper-scale run (``book/_static/paper/results.json``), for the
chapters.

``python -m ntk_course.reproduce`` wrote that file on a GPU; the chapters ``constant_kernel``
(Figure 1), ``least_squares`` (Figure 2) and ``mnist`` (Figure 3) quote its numbers and assert them,
so an edit that changes a quoted number fails the build. Nothing is downloaded: the file is part of
the repository's book, read from ``_static/paper/`` beside the running chapter (the book's folder)
or from the checkout the package was installed from.

A notebook opened on Colab (or anywhere else without a checkout) has no such file: its cells that
read the paper-scale run stop with a :class:`FileNotFoundError` that says so. The figures and
numbers of that run are shown on the book's website, and the rest of the chapter runs as usual.
"""

from __future__ import annotations

import json
from pathlib import Path

import ntk_course

FIGURES = ("figure1", "figure2", "figure3")
RESULTS = Path("paper") / "results.json"


def results_path() -> Path:
    """Where the committed ``results.json`` is: ``_static/paper/`` of the current folder (a chapter
    runs in ``book/``), else ``book/_static/paper/`` of the checkout that holds the package.

    Raises
    ------
    FileNotFoundError
        Without a checkout (the package installed from a wheel or from git, as on Colab).
    """
    places = [Path("_static"), Path(ntk_course.__file__).resolve().parents[1] / "book" / "_static"]
    for place in places:
        if (place / RESULTS).is_file():
            return place / RESULTS
    raise FileNotFoundError(
        "the paper-scale results (book/_static/paper/results.json) are part of the course's "
        "repository, not of the installed package, and nothing is downloaded: run this chapter "
        "from a checkout (git clone the repository, pip install -e .) to check them; the website "
        "shows the figures and numbers of that run. "
        f"Looked in: {', '.join(str(p / RESULTS) for p in places)}"
    )


def paper_results(figure: str) -> dict:
    """The entry of one figure in the committed paper-scale ``results.json``.

    Parameters
    ----------
    figure : {"figure1", "figure2", "figure3"}
        Which figure of the paper (Figure 1: kernel drift, Section 6.1; Figure 2: the Gaussian
        limit, Section 6.2; Figure 3: MNIST principal components, Section 6.3).

    Returns
    -------
    dict
        The figure's entry, with the run's ``environment`` and ``total_wall_time_s`` added.

    Raises
    ------
    ValueError
        For an unknown figure.
    FileNotFoundError
        Without a checkout (see :func:`results_path`).
    """
    if figure not in FIGURES:
        raise ValueError(f"unknown figure {figure!r}; expected one of {FIGURES}")
    report = json.loads(results_path().read_text())
    return {
        **report["figures"][figure],
        "environment": report["environment"],
        "total_wall_time_s": report["wall_time_s"],
    }


__all__ = ["paper_results", "results_path"]
