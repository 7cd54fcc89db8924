"""Values as plain data: what crosses the wall between the grader and a student's sandbox.

The grader hands the hidden inputs to the sandbox, and the sandbox hands back what the student's
functions returned, as *plain data* only: a JSON tree whose leaves are numbers, strings and
references to arrays stored in a NumPy ``.npz`` file read with ``allow_pickle=False``. Nothing that
comes back is unpickled or imported, so a submission can send numbers, never code.

:func:`encode` turns a value (tensors, arrays, numbers, strings, ``None``, ``...``, tuples, lists,
string-keyed dicts, an :class:`~ntk_course.mlp.NTKMLP`, or a callable registered by name with
:func:`register_callable`) into such a tree and a dict of arrays; :func:`decode` builds the value
again. Any other object is encoded as its description (:class:`Opaque`), so that a grader can say
what was returned instead of an array. :func:`save` and :func:`load` write and read the pair as one
``.npz`` file with size limits, refusing links and anything but a regular file.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..mlp import NTKMLP

MAX_BYTES = 64 * 2**20  # a result file larger than this is refused unread
_CALLABLES: dict[str, Callable] = {}
_DTYPES = {"float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"}


@dataclass(frozen=True)
class Opaque:
    """An object that plain data cannot carry, kept as its description (for the grader's message).

    Attributes
    ----------
    description : str
        What the object was, e.g. ``"a generator"``.
    """

    description: str

    def __repr__(self) -> str:
        return self.description


def register_callable(name: str, fn: Callable) -> Callable:
    """Let ``fn`` cross the wall by its ``name`` (the graders' test activations, for instance).

    Parameters
    ----------
    name : str
        A name unique among the registered callables.
    fn : callable
        The function; both sides of the wall import the module that registers it.

    Returns
    -------
    callable
        ``fn`` itself.
    """
    if _CALLABLES.get(name, fn) is not fn:
        raise ValueError(f"a different callable is registered as {name!r} already")
    _CALLABLES[name] = fn
    return fn


def _describe(value: object) -> str:
    if callable(value):
        return f"a function {getattr(value, '__name__', type(value).__name__)}"
    return f"a {type(value).__name__}"


def encode(value: object, arrays: dict[str, np.ndarray]) -> object:
    """The JSON tree of ``value``; its arrays are added to ``arrays`` under fresh keys.

    Parameters
    ----------
    value : object
        What to encode (see the module's docstring for the kinds carried).
    arrays : dict of str to numpy.ndarray
        Filled with the arrays the tree refers to.

    Returns
    -------
    object
        A tree of dicts, lists, strings and numbers that :func:`json.dumps` accepts.
    """

    def array(a: np.ndarray, kind: str) -> dict:
        key = f"a{len(arrays)}"
        arrays[key] = np.ascontiguousarray(a)
        return {"$": kind, "key": key}

    if value is None or isinstance(value, bool | str):
        return {"$": "atom", "value": value}
    if value is Ellipsis:
        return {"$": "ellipsis"}
    if isinstance(value, int | float | np.integer | np.floating | np.bool_):
        return array(np.asarray(value), "scalar")
    if isinstance(value, NTKMLP):
        state = {k: encode(v.detach().cpu(), arrays) for k, v in value.state_dict().items()}
        return {
            "$": "ntkmlp",
            "widths": list(value.widths),
            "activation": value.act.name,
            "beta": float(value.beta),
            "parametrization": value.parametrization,
            "ensemble": value.ensemble,
            "dtype": str(next(value.parameters()).dtype).removeprefix("torch."),
            "state": state,
        }
    if isinstance(value, torch.Tensor):
        if value.is_complex() or value.layout != torch.strided:
            return {"$": "opaque", "description": f"a {value.dtype} tensor"}
        return array(value.detach().cpu().numpy(), "tensor")
    if isinstance(value, np.ndarray):
        if value.dtype.name not in _DTYPES:
            return {"$": "opaque", "description": f"an array of dtype {value.dtype}"}
        return array(value, "ndarray")
    if isinstance(value, tuple | list):
        return {"$": type(value).__name__, "items": [encode(v, arrays) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"$": "dict", "items": {k: encode(v, arrays) for k, v in value.items()}}
    for name, fn in _CALLABLES.items():
        if value is fn:
            return {"$": "callable", "name": name}
    return {"$": "opaque", "description": _describe(value)}


def decode(tree: object, arrays: dict[str, np.ndarray], *, models: bool = True) -> object:
    """The value that :func:`encode` encoded as ``tree`` (a fresh copy at every call).

    Parameters
    ----------
    tree : object
        A tree made by :func:`encode` (or read from a file: it is checked as it is read).
    arrays : dict of str to numpy.ndarray
        The arrays it refers to.
    models : bool
        Whether networks and registered callables may be built; False for what a sandbox sent.

    Returns
    -------
    object
        The value; an unknown or damaged tree raises ValueError.
    """
    if not isinstance(tree, dict) or "$" not in tree:
        raise ValueError(f"not an encoded value: {str(tree)[:80]}")
    kind = tree["$"]
    if kind in ("scalar", "tensor", "ndarray"):
        a = arrays.get(tree.get("key"))
        if a is None or a.dtype.name not in _DTYPES:
            raise ValueError(f"missing or unsupported array {tree.get('key')!r}")
        if kind == "scalar":
            return a.item()
        return torch.from_numpy(a.copy()) if kind == "tensor" else a.copy()
    if kind == "atom" and (tree["value"] is None or isinstance(tree["value"], bool | str)):
        return tree["value"]
    if kind == "ellipsis":
        return Ellipsis
    if kind in ("tuple", "list"):
        items = [decode(v, arrays, models=models) for v in tree["items"]]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {str(k): decode(v, arrays, models=models) for k, v in tree["items"].items()}
    if kind == "opaque":
        return Opaque(str(tree["description"])[:200])
    if not models:
        raise ValueError(f"a value of kind {kind!r} cannot come back from a sandbox")
    if kind == "callable" and tree.get("name") in _CALLABLES:
        return _CALLABLES[tree["name"]]
    if kind == "ntkmlp" and tree.get("dtype") in _DTYPES:
        net = NTKMLP(
            tree["widths"],
            tree["activation"],
            tree["beta"],
            parametrization=tree["parametrization"],
            ensemble=tree["ensemble"],
            dtype=getattr(torch, tree["dtype"]),
        )
        net.load_state_dict({k: decode(v, arrays) for k, v in tree["state"].items()})
        return net
    raise ValueError(f"unknown kind of encoded value {kind!r}")


def save(path: str | Path, tree: object, arrays: dict[str, np.ndarray]) -> None:
    """Write ``tree`` and its ``arrays`` to one ``.npz`` file (the tree as JSON text inside).

    Parameters
    ----------
    path : str or Path
        The file to write.
    tree : object
        A tree made by :func:`encode`.
    arrays : dict of str to numpy.ndarray
        Its arrays.
    """
    np.savez(path, __tree__=np.array(json.dumps(tree)), **arrays)


def load(path: str | Path, max_bytes: int = MAX_BYTES) -> tuple[object, dict[str, np.ndarray]]:
    """Read what :func:`save` wrote, trusting nothing: a regular file, no link, no pickles.

    Parameters
    ----------
    path : str or Path
        The file, possibly written by a student's code.
    max_bytes : int
        Larger files are refused without being read.

    Returns
    -------
    tuple
        ``(tree, arrays)``; a missing, oversized or damaged file raises ValueError.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as err:
        raise ValueError(f"cannot open {Path(path).name}: {err.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            raise ValueError(
                f"{Path(path).name} is not a regular file of at most {max_bytes} bytes"
            )
        try:
            with zipfile.ZipFile(f) as z:  # no zip bomb: sizes as stored, before reading
                if sum(i.file_size for i in z.infolist()) > max_bytes:
                    raise ValueError("too large once uncompressed")
            f.seek(0)
            with np.load(f, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise ValueError(f"{Path(path).name} is not a readable .npz file: {err}") from None
    tree = arrays.pop("__tree__", None)
    if tree is None or tree.dtype.kind != "U" or tree.ndim != 0:
        raise ValueError(f"{Path(path).name} holds no encoded tree")
    try:
        return json.loads(str(tree)), arrays
    except json.JSONDecodeError as err:
        raise ValueError(f"{Path(path).name}: damaged tree ({err})") from None


__all__ = ["MAX_BYTES", "Opaque", "decode", "encode", "load", "register_callable", "save"]
