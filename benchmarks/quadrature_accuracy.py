"""Accuracy of the Gaussian expectations behind every kernel without a closed form, as a table.

    python benchmarks/quadrature_accuracy.py

For each activation and variance v (0.01 to 100) the worst error, over correlations from -1 to 1
and over the pairs of variances (v, v) and (v, v/4), of E[sigma(u) sigma(v)] and
E[sigma_dot(u) sigma_dot(v)] as the library computes them (default quadrature_points = 64), relative
to sqrt(E[f(u)^2] E[f(v)^2]); the references are those of tests/test_quadrature.py: scipy's adaptive
quadrature, or the arc-cosine closed forms for the kinked callables. The last column is the largest
error the library estimated for itself. A second table compares ntk of kinked callables with the
closed-form recursion at depths 4, 7 and 10. Takes a minute or two (the scipy references).
"""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import torch

from ntk_course import get_activation, ntk

spec = importlib.util.spec_from_file_location(
    "reference", pathlib.Path(__file__).resolve().parents[1] / "tests" / "test_quadrature.py"
)
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)  # type: ignore[union-attr]

VARIANCES = (0.01, 0.1, 1.0, 10.0, 100.0)
RHOS = (-1.0, -0.999, -0.5, 0.0, 0.3, 0.9, 0.999, 0.999999, 1.0)


def grid(v: float) -> list[tuple[float, float, float]]:
    return [(v, w, r) for w in (v, v / 4) for r in RHOS]


def closed_form_errors(fn, closed, v: float) -> tuple[float, float]:
    a, c, b = ref._covariances(grid(v))
    e_s, e_d, estimate = get_activation(fn).expectations_and_error(
        *(torch.tensor(t) for t in (a, c, b))
    )
    worst = 0.0
    for ours, exact, d_a, d_b in zip((e_s, e_d), closed(a, c, b), closed(a, a, a), closed(b, b, b)):
        worst = max(worst, float(np.max(np.abs(ours.numpy() - exact) / np.sqrt(np.abs(d_a * d_b)))))
    return worst, estimate


def main() -> None:
    rows = []
    for name in ref.SCIPY_CASES:
        cells = []
        for v in VARIANCES:
            refs = ref.reference_table({name: ref.SCIPY_CASES[name]}, grid(v))[name]
            err, estimate = ref.library_errors(name, refs, grid(v))
            cells.append((float(err.max()), estimate))
        rows.append((name, cells))
    for name, (fn, closed) in list(ref.KINKED.items())[:3]:
        rows.append((name + " (callable)", [closed_form_errors(fn, closed, v) for v in VARIANCES]))
    print(
        "worst error relative to sqrt(E f(u)^2 E f(v)^2) over rho in [-1, 1] "
        "and variances (v, v), (v, v/4);"
    )
    print("last column: the largest error the library estimated for itself")
    print(
        f"{'activation':26s}"
        + "".join(f"{'v = ' + format(v, 'g'):>11s}" for v in VARIANCES)
        + f"{'estimated':>11s}"
    )
    for name, cells in rows:
        line = "".join(f"{err:11.1e}" for err, _ in cells)
        print(f"{name:26s}{line}{max(e for _, e in cells):11.1e}")
    print()
    print(
        "ntk of kinked callables against the closed-form recursion "
        "(12 points in R^4 and 5 test points,"
    )
    print("2 of them training points; beta = 0.1): largest relative error")
    x = ref._points(12, 4, 1)
    y = torch.cat([ref._points(3, 4, 2, 3.0), x[:2]])
    print(f"{'activation':26s}" + "".join(f"{'depth ' + str(d):>11s}" for d in (4, 7, 10)))
    for name, (fn, closed) in list(ref.KINKED.items())[:3]:
        errs = []
        for depth in (4, 7, 10):
            ours = ntk(x, y, depth=depth, activation=fn).numpy()
            exact = ref.recursion(x.numpy(), y.numpy(), depth, 0.1, closed)
            errs.append(float(np.max(np.abs(ours - exact) / np.abs(exact))))
        print(f"{name:26s}" + "".join(f"{e:11.1e}" for e in errs))


if __name__ == "__main__":
    main()
