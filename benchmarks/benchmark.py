"""Speed of ntk_course against the obvious alternatives, measured side by side in one run.

    python benchmarks/benchmark.py            # every comparison
    python benchmarks/benchmark.py --only ntk # one of: ntk, empirical, quadrature, flow

Each line prints the timings (median of ``--repeat`` runs, the functions interleaved within each
run, so that a load on a shared machine hits both sides alike) and their ratio. The targets are in
benchmarks/README.md. Timings are wall-clock on whatever machine runs this; only ratios compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from unittest import mock

import numpy as np
import torch
from torch.func import functional_call, jacrev, vmap

from ntk_course import mehler, ntk
from ntk_course.digits import mnist
from ntk_course.empirical import empirical_ntk
from ntk_course.flow import gradient_flow
from ntk_course.mlp import NTKMLP


def best_of(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Run the functions in turn ``repeat`` times (alternating their order) and keep each one's
    median wall time."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(repeat):
        for name, fn in list(fns.items()) if r % 2 == 0 else list(fns.items())[::-1]:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def numpy_relu_ntk(x: np.ndarray, depth: int, beta: float) -> np.ndarray:
    """The ReLU Theta recursion written the plain NumPy way (arccos of the clipped correlation)."""
    sigma = x @ x.T / x.shape[1] + beta**2
    theta = sigma.copy()
    for _ in range(depth - 1):
        d = np.sqrt(np.diag(sigma))
        norm = np.outer(d, d)
        cos = np.clip(sigma / norm, -1.0, 1.0)
        angle = np.arccos(cos)
        sigma_dot = (np.pi - angle) / (2 * np.pi)
        sigma = norm * (np.sin(angle) + (np.pi - angle) * cos) / (2 * np.pi) + beta**2
        theta = theta * sigma_dot + sigma
    return theta


def torch_func_jacobian_ntk(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The torch.func tutorial's recipe: per-example Jacobians (N x P numbers), then contraction."""
    params = {k: v.detach() for k, v in model.named_parameters()}
    jac = vmap(jacrev(lambda p, z: functional_call(model, p, (z[None],))[0]), (None, 0))(params, x)
    flat = [j.flatten(2) for j in jac.values()]
    return sum(torch.einsum("naP,mbP->nmab", j, j) for j in flat)[..., 0, 0]


def bench_ntk(repeat: int) -> None:
    x, _ = mnist(4096, scaling="pixel")
    xn = x.numpy()
    t = best_of(
        {
            "ntk_course": lambda: ntk(x, depth=5),
            "numpy": lambda: numpy_relu_ntk(xn, 5, 0.1),
            "gram": lambda: torch.mm(x, x.T),
        },
        repeat,
    )
    err = np.abs(ntk(x, depth=5).numpy() - numpy_relu_ntk(xn, 5, 0.1)).max()
    print(
        f"ntk(x, depth=5), ReLU, 4,096 MNIST digits, float64: ntk_course {t['ntk_course']:.2f} s, "
        f"plain NumPy {t['numpy']:.2f} s -> {t['numpy'] / t['ntk_course']:.1f}x faster "
        f"(target >= 3x); max |diff| {err:.1e}"
    )
    print(
        f"  floor: its own float64 Gram product x @ x.T (4,096 x 784) {t['gram']:.2f} s -> "
        f"ntk = {t['ntk_course'] / t['gram']:.1f}x the Gram product"
    )


def bench_quadrature(repeat: int, direct: int = 256) -> None:
    """tanh and gelu against the ReLU closed form at N = 1,024 and 4,096 (depth 5), and against the
    direct rules of ntk_course.quadrature (the path before the Mehler series) on ``direct`` digits
    (256: the second edition's 5.4 s case) for speed and agreement."""
    x, _ = mnist(direct, scaling="pixel")
    fast = {a: ntk(x, depth=5, activation=a) for a in ("tanh", "gelu")}
    with mock.patch.object(mehler, "series_expectations", _none_fast):
        t = best_of({"direct": lambda: ntk(x, depth=5, activation="tanh")}, 1)
        slow = {a: ntk(x, depth=5, activation=a) for a in ("tanh", "gelu")}
    t.update(best_of({"series": lambda: ntk(x, depth=5, activation="tanh")}, repeat))
    diff = max(float(((fast[a] - slow[a]).abs() / slow[a].abs()).max()) for a in fast)
    print(
        f"tanh ntk, {direct} MNIST digits, depth 5: direct rules {t['direct']:.2f} s, Mehler "
        f"series {t['series']:.3f} s -> {t['direct'] / t['series']:.0f}x faster; tanh and gelu "
        f"agree to {diff:.1e} relative (target 1e-8)"
    )
    for n in (1024, 4096):
        x, _ = mnist(n, scaling="pixel")
        t = best_of(
            {a: (lambda a=a, x=x: ntk(x, depth=5, activation=a)) for a in ("relu", "tanh", "gelu")},
            repeat if n < 4096 else max(1, repeat - 1),
        )
        print(
            f"ntk(x, depth=5), {n:,} MNIST digits: relu {t['relu']:.2f} s, tanh {t['tanh']:.2f} s "
            f"({t['tanh'] / t['relu']:.1f}x), gelu {t['gelu']:.2f} s "
            f"({t['gelu'] / t['relu']:.1f}x) (target <= 10x)"
        )


def _none_fast(pair, a, c, b, points):
    """A stand-in for the series that leaves every entry to the direct rules."""
    shape = torch.broadcast_shapes(a.shape, c.shape, b.shape)
    return (
        torch.zeros(shape, dtype=c.dtype),
        torch.zeros(shape, dtype=c.dtype),
        0.0,
        torch.ones(shape, dtype=torch.bool),
    )


def bench_empirical(repeat: int) -> None:
    x, _ = mnist(512, scaling="pixel")
    x = x.float()
    torch.manual_seed(0)
    model = NTKMLP([784, 512, 512, 512, 512, 1])
    t = best_of(
        {
            "structured": lambda: empirical_ntk(model, x, method="structured"),
            "jacobian": lambda: torch_func_jacobian_ntk(model, x),
        },
        max(1, repeat - 1),
    )
    diff = (empirical_ntk(model, x) - torch_func_jacobian_ntk(model, x)).abs().max().item()
    print(
        f"empirical NTK, width 512, depth 5, 512 MNIST digits: structured {t['structured']:.3f} s, "
        f"torch.func Jacobian {t['jacobian']:.2f} s -> {t['jacobian'] / t['structured']:.0f}x "
        f"faster (target >= 50x); max |diff| {diff:.1e}"
    )
    wide = NTKMLP([784, 2048, 2048, 2048, 2048, 1])
    t = best_of({"structured": lambda: empirical_ntk(wide, x)}, repeat)
    print(
        "empirical NTK, width 2,048, depth 5, 512 MNIST digits: "
        f"structured {t['structured']:.3f} s "
        "(target: well under 1 s on 2 CPU cores; a Jacobian would hold 512 x "
        f"{sum(p.numel() for p in wide.parameters()):,} numbers)"
    )


def bench_flow(repeat: int) -> None:
    x, _ = mnist(4096, scaling="pixel")
    k = ntk(x, depth=5)
    y = torch.randn(4096, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    times = torch.logspace(-1, 4, 100, dtype=torch.float64)
    t = best_of(
        {"flow": lambda: gradient_flow(k, y, times), "eigh": lambda: torch.linalg.eigh(k)}, repeat
    )
    print(
        f"gradient_flow, N = 4,096, 100 times: {t['flow']:.2f} s, one eigh(K) {t['eigh']:.2f} s -> "
        f"ratio {t['flow'] / t['eigh']:.2f} (target <= 1.5)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["ntk", "empirical", "quadrature", "flow"], default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--direct", type=int, default=256, help="digits for the direct-rules reference"
    )
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} "
        f"on {os.cpu_count()} cores"
    )
    for name, bench in (
        ("ntk", bench_ntk),
        ("empirical", bench_empirical),
        ("quadrature", bench_quadrature),
        ("flow", bench_flow),
    ):
        if args.only in (None, name):
            bench(args.repeat, args.direct) if name == "quadrature" else bench(args.repeat)


if __name__ == "__main__":
    main()
