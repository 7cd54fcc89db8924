"""The numbers of the committed paper-scale run, for the chapters.

``python -m ntk_course.reproduce`` wrote them on a GPU (its ``results.json``); the package ships
that file as ``ntk_course/data/paper_results.json`` and the figures it drew are in
``book/_static/paper/``. The chapters ``constant_kernel`` (Figure 1), ``least_squares`` (Figure 2)
and ``mnist`` (Figure 3) quote its numbers and assert them, so an edit that changes a quoted number
fails the build. Nothing is downloaded, and since the file travels with the package, the same cells
run wherever the package is installed (from a checkout, from git on Colab, from a wheel).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

FIGURES = ("figure1", "figure2", "figure3")


def results_path() -> Path:
    """The committed paper-scale results: ``data/paper_results.json`` inside the package."""
    return Path(str(resources.files("ntk_course") / "data" / "paper_results.json"))


def paper_results(figure: str) -> dict:
    """The entry of one figure in the committed paper-scale results.

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
