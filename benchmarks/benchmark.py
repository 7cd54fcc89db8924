"""Speed of ntk_course against the obvious alternatives, measured side by side in one run.

    python benchmarks/benchmark.py            # all three comparisons
    python benchmarks/benchmark.py --only ntk # one of: ntk, empirical, flow

Each line prints the two timings (best of ``--repeat`` runs, interleaved) and their ratio. The
targets are in benchmarks/README.md. Timings are wall-clock on whatever machine runs this.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from torch.func import functional_call, jacrev, vmap

from ntk_course import ntk
from ntk_course.datasets import mnist
from ntk_course.empirical import empirical_ntk
from ntk_course.flow import gradient_flow
from ntk_course.mlp import NTKMLP


def best_of(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Run the functions in turn ``repeat`` times and keep each one's fastest wall time."""
    best = {k: float("inf") for k in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


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
    t = best_of({"ntk_course": lambda: ntk(x, depth=5), "numpy": lambda: numpy_relu_ntk(xn, 5, 0.1)}, repeat)
    err = np.abs(ntk(x, depth=5).numpy() - numpy_relu_ntk(xn, 5, 0.1)).max()
    print(f"ntk(x, depth=5), ReLU, 4,096 MNIST digits, float64: ntk_course {t['ntk_course']:.2f} s, "
          f"plain NumPy {t['numpy']:.2f} s -> {t['numpy'] / t['ntk_course']:.1f}x faster (target >= 3x); max |diff| {err:.1e}")


def bench_empirical(repeat: int) -> None:
    x, _ = mnist(512, scaling="pixel")
    x = x.float()
    torch.manual_seed(0)
    model = NTKMLP([784, 512, 512, 512, 512, 1])
    t = best_of({"structured": lambda: empirical_ntk(model, x, method="structured"),
                 "jacobian": lambda: torch_func_jacobian_ntk(model, x)}, max(1, repeat - 1))
    diff = (empirical_ntk(model, x) - torch_func_jacobian_ntk(model, x)).abs().max().item()
    print(f"empirical NTK, width 512, depth 5, 512 MNIST digits: structured {t['structured']:.3f} s, "
          f"torch.func Jacobian {t['jacobian']:.2f} s -> {t['jacobian'] / t['structured']:.0f}x faster (target >= 50x); "
          f"max |diff| {diff:.1e}")
    wide = NTKMLP([784, 2048, 2048, 2048, 2048, 1])
    t = best_of({"structured": lambda: empirical_ntk(wide, x)}, repeat)
    print(f"empirical NTK, width 2,048, depth 5, 512 MNIST digits: structured {t['structured']:.3f} s "
          f"(target: well under 1 s on 2 CPU cores; a Jacobian would hold 512 x {sum(p.numel() for p in wide.parameters()):,} numbers)")


def bench_flow(repeat: int) -> None:
    x, _ = mnist(4096, scaling="pixel")
    k = ntk(x, depth=5)
    y = torch.randn(4096, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    times = torch.logspace(-1, 4, 100, dtype=torch.float64)
    t = best_of({"flow": lambda: gradient_flow(k, y, times), "eigh": lambda: torch.linalg.eigh(k)}, repeat)
    print(f"gradient_flow, N = 4,096, 100 times: {t['flow']:.2f} s, one eigh(K) {t['eigh']:.2f} s -> "
          f"ratio {t['flow'] / t['eigh']:.2f} (target <= 1.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["ntk", "empirical", "flow"], default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, bench in (("ntk", bench_ntk), ("empirical", bench_empirical), ("flow", bench_flow)):
        if args.only in (None, name):
            bench(args.repeat)


if __name__ == "__main__":
    main()
