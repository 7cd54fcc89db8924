"""The one place that reads the experiment scale (``NTK_COURSE_SCALE``) and picks the device.

``quick`` is for CI (the whole book in minutes on 2 CPU cores), ``default`` for a reader's laptop,
``paper`` for the settings of Section 6 of Jacot, Gabriel & Hongler (2018), meant for a GPU.
"""

from __future__ import annotations

import os
from typing import TypeVar

import torch

SCALES = ("quick", "default", "paper")
T = TypeVar("T")


def scale() -> str:
    """The scale chosen by the environment variable ``NTK_COURSE_SCALE`` (``default`` if unset)."""
    value = os.environ.get("NTK_COURSE_SCALE", "default").strip().lower() or "default"
    if value not in SCALES:
        raise ValueError(
            f"NTK_COURSE_SCALE={value!r} is not a known scale; expected one of {SCALES}"
        )
    return value


def by_scale(quick: T, default: T, paper: T) -> T:
    """Pick the setting that matches the current :func:`scale`.

    The scale is read from ``NTK_COURSE_SCALE`` at each call: ``quick`` for CI, ``default`` for a
    laptop, ``paper`` for the settings of Section 6 of the paper.

    Parameters
    ----------
    quick, default, paper : object
        The setting for each scale (any type, the same for all three).

    Returns
    -------
    object
        The one of ``quick``, ``default`` or ``paper`` that matches the scale.

    Raises
    ------
    ValueError
        If ``NTK_COURSE_SCALE`` is set to a name other than quick, default or paper.
    """
    return {"quick": quick, "default": default, "paper": paper}[scale()]


def default_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
