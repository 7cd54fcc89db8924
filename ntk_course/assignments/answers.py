"""Calling a student's answer and comparing what it returns with the reference, for the graders.

The graders of :mod:`.a1` .. :mod:`.a4` take the answer a student passed to :func:`.grading.check`:
:func:`_function` makes sure it is a function (or says what was passed instead), :func:`_call` runs
it and turns a stub or a crash into a message, :func:`_array` and :func:`_scalar` read what it
returned (kind, shape, finite entries), :func:`_grade_function` runs it on every random
:class:`_Input` and measures the relative error against the reference implementation in
``ntk_course``, and :func:`_hints` names a known mistake or a constant factor that reproduces a
wrong answer. :func:`_gen` and :func:`_gaussian` draw the graders' random inputs.

These are the tools with which the assignments check the reader's code against Jacot, Gabriel &
Hongler (2018): the limiting kernels of Prop 1 and Thm 1, the empirical NTK and its training of
Thm 2 and Sec 4, the kernel gradient flow and principal components of Sec 3 and 5, the dual
activations of App. A.4; they implement none of it themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .._checks import seeded_generator
from ..mlp import NTKMLP
from .verdicts import CheckResult, _Case, _NotAnswered, _Wrong


def _describe_value(v: object) -> str:
    if isinstance(v, torch.Tensor):
        return f"tensor of shape {tuple(v.shape)}"
    if isinstance(v, np.ndarray):
        return f"array of shape {v.shape}"
    if isinstance(v, NTKMLP):
        return f"NTKMLP(widths={v.widths})"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int | str | bool):
        return repr(v)
    if callable(v):
        return getattr(v, "__name__", "a function")
    return type(v).__name__


def _function(answer: object, signature: str) -> Callable:
    """The student's function, or a clear complaint about what was passed instead."""
    if answer is Ellipsis:
        raise _NotAnswered("the placeholder ... is still there")
    if isinstance(answer, CheckResult):
        raise _Wrong("got the result of another check; pass your function itself")
    if not callable(answer):
        extra = (
            " Pass the function itself, not the value of a call: "
            "check('…', my_function), not check('…', my_function(...))."
            if answer is None
            or isinstance(answer, torch.Tensor | np.ndarray | float | int | tuple | list)
            else ""
        )
        raise _Wrong(f"expected a function {signature}; got {_describe_value(answer)}.{extra}")
    return answer  # type: ignore[return-value]


def _call(fn: Callable, *args: object, **kwargs: object) -> object:
    name = getattr(fn, "__name__", "your function")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise _NotAnswered(f"{name} raises NotImplementedError") from None
    except Exception as err:  # the student's bug: report it, don't crash the notebook
        shown = ", ".join(
            [_describe_value(a) for a in args]
            + [f"{k}={_describe_value(v)}" for k, v in kwargs.items()]
        )
        raise _Wrong(f"{name}({shown}) raised {type(err).__name__}: {err}") from None


def _array(
    value: object, what: str, shape: tuple[int, ...] | None = None, meaning: str = ""
) -> np.ndarray:
    """The answer as a float64 numpy array of ``shape``, or a message saying how it is not."""
    if value is Ellipsis:
        raise _NotAnswered(f"{what} is still the placeholder ...")
    if value is None:
        raise _Wrong(f"{what} is None: did the function forget to `return` its result?")
    try:
        if isinstance(value, torch.Tensor):
            if value.is_complex():
                raise TypeError("complex")
            arr = value.detach().cpu().to(torch.float64).numpy()
        else:
            arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, RuntimeError):
        raise _Wrong(
            f"{what} must be a real array (a torch tensor or a numpy array); "
            f"got {_describe_value(value)}"
        ) from None
    if shape is not None and arr.shape != tuple(shape):
        why = f" {meaning}" if meaning else ""
        if arr.size == math.prod(shape):
            why += " (it has the right number of entries: transposed, or an axis added or lost?)"
        raise _Wrong(f"{what} has shape {arr.shape}; expected {tuple(shape)}{why}")
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise _Wrong(f"{what} has {bad} non-finite entries (NaN or inf) out of {arr.size}")
    return arr


def _scalar(value: object, what: str) -> float:
    arr = _array(value, what)
    if arr.size != 1:
        raise _Wrong(f"{what} must be a single number; got an array of shape {arr.shape}")
    return float(arr.reshape(()))


def _rel(a: np.ndarray, r: np.ndarray, floor: float = 0.0) -> float:
    """Relative Frobenius error ||a - r|| / max(||r||, floor) (absolute when both are 0)."""
    scale = max(float(np.linalg.norm(r)), floor)
    return float(np.linalg.norm(a - r)) / (scale if scale > 0 else 1.0)


def _np(t: torch.Tensor | np.ndarray) -> np.ndarray:
    return (
        t.detach().cpu().to(torch.float64).numpy()
        if isinstance(t, torch.Tensor)
        else np.asarray(t, dtype=np.float64)
    )


@dataclass
class _Input:
    """One random input of a function question: arguments, the reference result, its shape, and
    the results of known mistakes (``variants``) used for hints."""

    label: str
    args: tuple
    kwargs: dict
    reference: Callable[[], np.ndarray]
    shape: tuple[int, ...]
    meaning: str = ""
    variants: Callable[[], dict[str, np.ndarray]] | None = None


def _grade_function(
    answer: object,
    signature: str,
    inputs: list[_Input],
    tol: float,
    *,
    output: str = "the result",
) -> tuple[list[_Case], list[str], list[np.ndarray], list[np.ndarray]]:
    """Run the student's function on every input (the first call first, so a stub stops at once)."""
    fn = _function(answer, signature)
    cases, answers, refs = [], [], []
    for inp in inputs:
        args = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in inp.args)
        out = _array(_call(fn, *args, **inp.kwargs), output, inp.shape, inp.meaning)
        ref = inp.reference()
        err = _rel(out, ref)
        cases.append(_Case(inp.label, err <= tol, err, tol))
        answers.append(out)
        refs.append(ref)
    return cases, _hints(inputs, answers, refs, cases, tol), answers, refs


def _hints(
    inputs: list[_Input],
    answers: list[np.ndarray],
    refs: list[np.ndarray],
    cases: list[_Case],
    tol: float,
) -> list[str]:
    """Name a known mistake that reproduces the answer, or a constant factor that does."""
    if all(c.ok for c in cases):
        return []
    close = max(tol, 1e-6)
    variants = [inp.variants() if inp.variants else {} for inp in inputs]
    for name in variants[0] if variants else {}:
        if all(name in v and _rel(a, v[name]) <= close for a, v in zip(answers, variants)):
            return [f"your numbers match {name}."]
    a = np.concatenate([x.ravel() for x in answers])
    r = np.concatenate([x.ravel() for x in refs])
    if float(r @ r) > 0:
        c = float(a @ r) / float(r @ r)
        if abs(c - 1) > 10 * close and _rel(a, c * r) <= close:
            return [
                f"your answer is the expected one times a constant factor of about {c:.4g}: "
                "look for a missing or extra normalisation."
            ]
    wrong = [c for c in cases if not c.ok]
    if wrong and max(c.error or 0 for c in wrong) < 1e-3:
        return ["close but not within tolerance: compute in float64 and check small terms."]
    return []


# --------------------------------------------------------------------------------------------------
# Drawing the graders' random inputs
# --------------------------------------------------------------------------------------------------
def _gen(seed: int) -> torch.Generator:
    return seeded_generator(seed)


def _gaussian(g: torch.Generator, n: int, n0: int, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(n, n0, generator=g, dtype=torch.float64)
