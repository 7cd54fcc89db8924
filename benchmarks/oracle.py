"""The worst error per activation against an oracle, before and after issue 22, side by side.

    python benchmarks/oracle.py                    # before: b1ccb16, where issue 22 was filed
    python benchmarks/oracle.py --before <commit>  # another "before"

The library of each tree (the "before" commit's ``ntk_course/``, taken with ``git archive``, and
this checkout's) runs the same cases in its own interpreter; the oracles are the tests' own
references, which share no code with the library: closed forms evaluated in 50-digit mpmath
(exp, cosh, sin(3z)), the arc-cosine and arcsine kernels in NumPy (relu, erf, kinked callables,
sign), SciPy's adaptive quadrature (tanh, sigmoid, softplus, gelu, relu(z - 1)), each carried
through the recursion of Theorem 1 in float64 (mpmath for the tails). Per case: the worst error
relative to sqrt(K(x, x) K(y, y)) over the settings, whether the library warned
(QuadratureWarning), and "silent" when the error exceeds 1e-6 without a warning. Takes a few
minutes on 2 cores (the SciPy references).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import pathlib
import subprocess
import sys
import tempfile
import warnings

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOLERANCE = 1e-6


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _erf_kernel(a, c, b):
    """E[erf(u) erf(v)] and E[erf'(u) erf'(v)] (Williams 1997), in NumPy."""
    a, c, b = np.broadcast_arrays(*(np.asarray(t, dtype=float) for t in (a, c, b)))
    d = (1 + 2 * a) * (1 + 2 * b)
    return 2 / np.pi * np.arcsin(2 * c / np.sqrt(d)), 4 / np.pi / np.sqrt(d - 4 * c * c)


def _points(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """x, y: random points of norms 0.1 to 10 in R^3, with collinear and antipodal pairs."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)) * np.array([[0.1], [1.0], [3.0], [10.0]])
    if kind == "random":
        return x, rng.standard_normal((3, 3)) * 2
    # collinear (2x, 0.5x) and antipodal (-x / 3 * 3: not bitwise -x) partners
    return x, np.concatenate([2 * x[:2], 0.5 * x[2:], -(x / 3.0) * 3.0])


def _relative(got: np.ndarray, ref: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> float:
    return float(np.max(np.abs(got - ref) / np.sqrt(np.abs(np.outer(dx, dy)))))


class Case:
    """One row: the worst error over the settings tried, whether any call warned, and whether
    any call was silently wrong (error above the tolerance, no QuadratureWarning)."""

    def __init__(self, name: str) -> None:
        self.row = {"case": name, "worst": 0.0, "warned": False, "silent": False, "note": ""}

    def call(self, compute):
        """compute() under a warnings record; ValueError -> None (its message becomes the note)."""
        from ntk_course.quadrature import QuadratureWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value = compute()
            except ValueError as err:
                self.row["note"] = "ValueError: " + str(err).split(";")[0][:50]
                return None
        self.warned = any(issubclass(w.category, QuadratureWarning) for w in caught)
        self.row["warned"] |= self.warned
        return value

    def error(self, err: float) -> None:
        """Record the error of the last call."""
        self.row["worst"] = max(self.row["worst"], err)
        self.row["silent"] |= err > TOLERANCE and not self.warned


def measure() -> list[dict]:
    """Every case on the library found on sys.path; rows of plain data."""
    import mpmath
    import torch

    from ntk_course import nngp, ntk

    quad, tails = _load("test_quadrature"), _load("test_quadrature_tails")
    cases: list[Case] = []

    # 1. tails: Sigma^(2) = E[f(u) f(v)] at variances up to 100, quadrature_points 64 to 360
    mpmath.mp.dps = 50
    for name, (fn, closed) in tails.CASES.items():
        case = Case(f"{name} (nngp, depth 2, |x| to 10, 64-360 points)")
        for s in (1.0, 3.0, 10.0):
            x = torch.tensor([[s], [-s / 2]], dtype=torch.float64)
            q = [[mpmath.mpf(v) for v in r] for r in (x @ x.T).tolist()]
            for points in (64, 144, 256, 360):
                options = {"activation": fn, "beta": 0.0, "quadrature_points": points}
                k = case.call(lambda x=x, o=options: nngp(x, depth=2, **o))
                for i in range(2):
                    for j in range(2):
                        exact = closed(q[i][i], q[i][j], q[j][j])[0]
                        scale = mpmath.sqrt(
                            closed(q[i][i], q[i][i], q[i][i])[0]
                            * closed(q[j][j], q[j][j], q[j][j])[0]
                        )
                        case.error(float(abs(mpmath.mpf(float(k[i, j])) - exact) / scale))
        cases.append(case)

    # 2. closed forms and kinked callables through the recursion of Theorem 1
    kernels = {
        "relu": ("relu", quad.arccos_relu),
        "erf": ("erf", _erf_kernel),
        "clamp-ReLU (callable)": (lambda z: torch.clamp(z, min=0.0), quad.arccos_relu),
        "abs (callable)": (torch.abs, quad.arccos_abs),
        "leaky ReLU (callable)": (
            lambda z: torch.nn.functional.leaky_relu(z, 0.1),
            quad.arccos_leaky(0.1),
        ),
    }
    for name, (act, kernel) in kernels.items():
        case = Case(f"{name} (ntk, depths 3-20, collinear/antipodal)")
        for kind in ("random", "collinear and antipodal"):
            x, y = _points(kind)
            for depth in (3, 7, 20):
                o = {"depth": depth, "activation": act, "beta": 0.1}
                t = case.call(lambda x=x, y=y, o=o: ntk(x, y, **o))
                ref = quad.recursion(x, y, depth, 0.1, kernel)
                dx = np.diag(quad.recursion(x, x, depth, 0.1, kernel))
                dy = np.diag(quad.recursion(y, y, depth, 0.1, kernel))
                case.error(_relative(t.numpy(), ref, dx, dy))
        cases.append(case)

    # 3. a jump: sign at antipodal points (not bitwise), the arcsine recursion gives -1 exactly
    x = np.random.default_rng(1).standard_normal((1, 3))
    y = -(x / 3.0) * 3.0
    case = Case("sign (nngp at x, -x, depths 2-8)")
    for depth in (2, 4, 6, 8):
        k = case.call(lambda d=depth: nngp(x, y, depth=d, activation=torch.sign, beta=0.0))
        case.error(abs(float(k[0, 0]) + 1.0))
    cases.append(case)

    # 4. smooth activations against SciPy, through the recursion (depth 3, beta 0.1)
    x, y = _points("random")
    x, y = x[:3], y[:2]
    for name, (lib, f, fd, kinks) in quad.SCIPY_CASES.items():
        if name in ("polynomial", "relu", "erf"):
            continue

        def kernel(a, c, b, f=f, fd=fd, kinks=kinks):
            a, c, b = np.broadcast_arrays(*(np.asarray(t, dtype=float) for t in (a, c, b)))
            one = np.vectorize(lambda p, q, r, g: quad.scipy_expectation(g, p, q, r, kinks))
            return one(a, c, b, f), one(a, c, b, fd)

        case = Case(f"{name} (ntk, depth 3)")
        t = case.call(lambda lib=lib: ntk(x, y, depth=3, activation=lib, beta=0.1))
        ref = quad.recursion(x, y, 3, 0.1, kernel)
        dx = np.diag(quad.recursion(x, x, 3, 0.1, kernel))
        dy = np.diag(quad.recursion(y, y, 3, 0.1, kernel))
        case.error(_relative(t.numpy(), ref, dx, dy))
        cases.append(case)

    # 5. relu(z - 1) where beta^2 dominates: exact, so a warning is a false alarm
    x = np.array([[0.6, 0.8, 0.0], [0.0, 0.6, -0.8]])
    case = Case("relu(z - 1), beta = 0.1 (nngp, depth 3)")
    s = case.call(lambda: nngp(x, depth=3, activation=lambda z: torch.relu(z - 1), beta=0.1))
    S = (x @ x.T / 3 + 0.01).tolist()
    for _ in range(2):
        S = [
            [
                tails._shifted_relu_expectations(S[i][i], S[i][j], S[j][j])[0] + 0.01
                for j in range(2)
            ]
            for i in range(2)
        ]
    S = np.array(S)
    case.error(_relative(s.numpy(), S, np.diag(S), np.diag(S)))
    if case.row["warned"] and case.row["worst"] < TOLERANCE:
        case.row["note"] = "false alarm"
    cases.append(case)

    # 6. a callable that is not elementwise: refused, or a silently meaningless kernel
    case = Case("z - mean(z) (not elementwise)")
    k = case.call(lambda: nngp(np.eye(3), depth=2, activation=lambda z: z - z.mean(), beta=0.1))
    case.row["worst"] = None
    if k is not None:
        case.row.update(silent=True, note="accepted silently")
    cases.append(case)
    return [c.row for c in cases]


def _child(tree: pathlib.Path) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, __file__, "--measure"], env=env, cwd=tree, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cell(r: dict) -> str:
    worst = "-" if r["worst"] is None else f"{r['worst']:.1e}"
    flag = "silent" if r["silent"] else ("warned" if r["warned"] else "")
    return f"{worst:>8} {flag:<7}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="b1ccb16")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure()))
        return
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.before, "ntk_course"],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        before = _child(pathlib.Path(tmp))
    after = _child(ROOT)
    print(f"worst error relative to sqrt(K(x,x) K(y,y)); 'silent': above {TOLERANCE:g}, no warning")
    print(f"{'case':<52} {'before (' + args.before + ')':<17} {'after':<17} note")
    for b, a in zip(before, after):
        note = " / ".join(n for n in (b["note"], a["note"]) if n)
        print(f"{a['case']:<52} {_cell(b)} {_cell(a)} {note}")
    silent = [sum(r["silent"] for r in rows) for rows in (before, after)]
    print(f"silent cases: before {silent[0]}, after {silent[1]} (of {len(after)})")
    if not math.isfinite(sum(r["worst"] or 0.0 for r in after)):
        sys.exit("a non-finite error after the fix")


if __name__ == "__main__":
    main()
