"""Blocked conjugate gradients against the dense solve on the shipped MNIST digits.

Compares accuracy, time and peak memory (the resident set of a fresh process for each method).

    python benchmarks/blocked.py                 # 9,000 training and 1,000 test digits, depth 5
    python benchmarks/blocked.py --n 2000        # a quick check

Dense: ntk(x_train) and ntk(x_test, x_train) (each allocating Sigma and Theta), one Cholesky solve.
Blocked: BlockedKernel(x_train) keeps the upper triangle of 2048 x 2048 blocks in memory, the test
kernel is streamed block by block, and kernel_regression solves by Jacobi-preconditioned conjugate
gradients to a relative residual of 1e-8 per class.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ntk_course import (
    BlockedKernel,
    accuracy,
    conjugate_gradient,
    kernel_regression,
    mnist,
    ntk,
    one_hot_targets,
)


def run(method: str, n: int, depth: int, block: int, out: str) -> None:
    x, labels = mnist(n, scaling="pixel")
    test = max(n // 10, 1)
    xtr, xte, y = x[:-test], x[-test:], one_hot_targets(labels[:-test])
    start = time.perf_counter()
    iterations = 0
    if method == "dense":
        f = kernel_regression(ntk(xtr, depth=depth), y, ntk(xte, xtr, depth=depth))
    else:
        k = BlockedKernel(xtr, depth=depth, block=block)
        solve = conjugate_gradient(
            k, y, rtol=1e-8
        )  # what kernel_regression(k, y, k_test) runs, iterations counted
        iterations = solve.iterations
        f = BlockedKernel(xte, xtr, depth=depth, block=block, cache=False) @ solve.solution
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    torch.save(
        {"f": f, "acc": accuracy(f, labels[-test:]), "s": seconds, "peak": peak, "it": iterations},
        out,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--block", type=int, default=2048)
    parser.add_argument("--method", choices=["dense", "blocked"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.method:
        return run(a.method, a.n, a.depth, a.block, a.out)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in ("dense", "blocked"):
            out = str(Path(tmp) / f"{method}.pt")
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--method",
                    method,
                    "--n",
                    str(a.n),
                    "--depth",
                    str(a.depth),
                    "--block",
                    str(a.block),
                    "--out",
                    out,
                ],
                check=True,
            )
            results[method] = torch.load(out)
    d, b = results["dense"], results["blocked"]
    test = max(a.n // 10, 1)
    print(
        f"MNIST: {a.n - test} training, {test} test digits, ntk depth {a.depth}, torch threads "
        f"{torch.get_num_threads()}"
    )
    for name, r in (("dense Cholesky", d), ("blocked CG", b)):
        extra = f", {r['it']} CG iterations (rtol 1e-8), blocks of {a.block}" if r["it"] else ""
        print(
            f"{name:15s} accuracy {r['acc']:.4f}  time {r['s']:7.1f} s  peak memory "
            f"{r['peak'] / 1e9:.2f} GB{extra}"
        )
    rel = float((b["f"] - d["f"]).norm() / d["f"].norm())
    same = float((b["f"].argmax(1) == d["f"].argmax(1)).double().mean())
    print(
        f"predictions: relative difference {rel:.1e}, same class on {same:.4f} of the test digits; "
        f"peak memory ratio dense / blocked {d['peak'] / b['peak']:.2f}"
    )


if __name__ == "__main__":
    main()
