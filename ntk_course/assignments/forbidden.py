"""Library calls an answer must not make: the questions whose answer ``ntk_course`` computes.

A question that asks for ``nngp`` by hand is no exercise if the answer calls ``ntk_course.nngp``.
Each question lists the library functions and methods that compute its answer (``FORBIDDEN``, by
qualified name). :func:`static_flags` reads the answer's code in the grading process (never running
it): the answer's function and every function of the notebook it calls, with the notebook's imports
resolved, and names each forbidden function it refers to, and each construct that could hide such
a call (``exec``, ``eval``, ``__import__``, ``importlib``, ``getattr`` with a computed name,
``sys.setprofile``, ...). The sandbox adds what it saw at run time (:mod:`.runner`), using
:func:`code_objects`. Both go to the ``flags`` column of the grades; a flag is for the teacher to
read, it costs no points by itself.
"""

from __future__ import annotations

import ast
import importlib

_KERNELS = (
    "ntk_course.kernels.nngp",
    "ntk_course.kernels.ntk",
    "ntk_course.kernels.limiting_kernels",
    "ntk_course.layers.layer_kernels",
    "ntk_course.architecture.Architecture.nngp",
    "ntk_course.architecture.Architecture.ntk",
    "ntk_course.architecture.Architecture.kernels",
    "ntk_course.architecture.Architecture.layers",
    "ntk_course.activations.Activation.expectations",
    "ntk_course.activations.Activation.expectations_and_error",
)
_FLOWS = (
    "ntk_course.flow.gradient_flow",
    "ntk_course.flow.gradient_descent",
    "ntk_course.numerical_flow.kernel_flow",
    "ntk_course.regression.kernel_regression",
)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "a1.q1": _KERNELS,
    "a1.q2": _KERNELS,
    "a1.q3": _KERNELS,
    "a1.q5": _KERNELS,
    "a2.q1": ("ntk_course.empirical.empirical_ntk",),
    "a2.q2": ("ntk_course.empirical.empirical_ntk",),
    "a2.q3": ("ntk_course.empirical.empirical_ntk", "torch.autograd.grad", "torch.func.jacrev"),
    "a3.q1": _FLOWS,
    "a3.q2": _FLOWS,
    "a3.q3": (*_FLOWS, "ntk_course.spectral.kernel_pca", "ntk_course.spectral.decompose_along"),
    "a3.q4": _FLOWS,
    "a4.q1": ("ntk_course.hermite.hermite_coefficients",),
    "a4.q2": ("ntk_course.hermite.dual_activation", "ntk_course.hermite.hermite_coefficients"),
    "a4.q3": ("ntk_course.hermite.sigma2_power_series",),
    "a4.q4": ("ntk_course.hermite.schoenberg_positive_definite",),
    "a4.q5": ("ntk_course.hermite.rank_bound",),
}
HIDING = {
    "exec",
    "eval",
    "compile",
    "__import__",
    "importlib",
    "setprofile",
    "settrace",
    "globals",
    "__builtins__",
    "modules",
}


def _is_method(qualified: str) -> bool:
    return qualified.split(".")[-2][:1].isupper()


def code_objects(question: str) -> dict[object, str]:
    """The code objects of the forbidden functions of ``question``: ``{code: qualified name}``.

    Parameters
    ----------
    question : str
        A question id such as ``"a1.q2"``.

    Returns
    -------
    dict
        For the runtime watch of the sandbox; names that do not import are left out.
    """
    out: dict[object, str] = {}
    for name in FORBIDDEN.get(question, ()):
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            try:
                obj: object = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attr in parts[cut:]:
                obj = getattr(obj, attr, None)
            code = getattr(getattr(obj, "__func__", obj), "__code__", None)
            if code is not None:
                out[code] = name
            break
    return out


class _Closure(ast.NodeVisitor):
    """Names and attributes used by a set of functions."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.attrs: list[tuple[str | None, str]] = []  # (dotted path to it, or None; attribute)
        self.called: set[str] = set()  # attributes called as methods: x.name(...)
        self.dynamic_getattr = False

    def visit_Name(self, node: ast.Name) -> None:
        self.names.add(node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        parts, value = [node.attr], node.value
        while isinstance(value, ast.Attribute):
            parts.append(value.attr)
            value = value.value
        base = value.id if isinstance(value, ast.Name) else None
        self.attrs.append((base and ".".join([base, *reversed(parts[1:])]), node.attr))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        if isinstance(f, ast.Attribute):
            self.called.add(f.attr)
        if isinstance(f, ast.Name) and f.id in ("getattr", "setattr") and len(node.args) > 1:
            self.dynamic_getattr |= not isinstance(node.args[1], ast.Constant)
        self.generic_visit(node)


def static_flags(sources: list[str], question: str, answer: str) -> list[str]:
    """What the answer's code refers to that ``question`` forbids, read without running it.

    Parameters
    ----------
    sources : list of str
        The notebook's code cells (cells that do not parse are skipped).
    question : str
        The question id.
    answer : str
        The name of the answer's function in the notebook, e.g. ``"relu_nngp"``.

    Returns
    -------
    list of str
        One message per forbidden function referred to or hiding construct used, in order.
    """
    forbidden = FORBIDDEN.get(question, ())
    imports: dict[str, str] = {}  # local name -> qualified name
    defs: dict[str, ast.AST] = {}
    for src in sources:
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    local = a.asname or a.name.split(".")[0]
                    imports[local] = a.name if a.asname else local
            elif isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    imports[a.asname or a.name] = f"{node.module}.{a.name}"
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                defs[node.name] = node
    if answer not in defs:
        return []
    seen, todo, visitor = set(), [answer], _Closure()
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        before = set(visitor.names)
        visitor.visit(defs[name])
        todo += sorted(visitor.names - before)
    used = visitor.names | {n for n in imports if n in visitor.names}
    flags = []
    for qualified in forbidden:
        last = qualified.split(".")[-1]
        module = qualified.split(".")[0]
        if _is_method(qualified):
            hit = last in visitor.called
        else:
            hit = any(
                imports[n].split(".")[0] == module and imports[n].split(".")[-1] == last
                for n in used
                if n in imports
            )
            for path, attr in visitor.attrs:
                head = path.split(".")[0] if path else None
                full = f"{imports[head]}{path[len(head) :]}" if head in imports else None
                hit |= attr == last and full is not None and full.split(".")[0] == module
        if hit:
            flags.append(f"{question} refers to {qualified}")
    hiding = sorted(
        (visitor.names | {a for _, a in visitor.attrs} | {imports.get(n, n) for n in used}) & HIDING
    )
    if visitor.dynamic_getattr:
        hiding.append("getattr with a computed name")
    if hiding and forbidden:
        flags.append(f"{question} uses {', '.join(hiding)} (can hide a forbidden call)")
    return flags


__all__ = ["FORBIDDEN", "HIDING", "code_objects", "static_flags"]
