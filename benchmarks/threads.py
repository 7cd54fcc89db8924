"""The kernels' thread policy (ntk_course._threads) on an idle and on a busy machine.

    python benchmarks/threads.py              # 2,000 MNIST digits, depth 3, ReLU
    python benchmarks/threads.py --n 1000     # smaller

Three ways to compute the same ``ntk(x, depth=3)``, side by side in one run, the times alternating
within each repeat (median printed):

- ``per-op``: the blocks in turn, each operation spread over torch's intra-op threads (torch's
  default, and ntk_course before the policy; reproduced by running the blocks in turn);
- ``policy``: ntk_course now, the blocks spread over the same number of threads, each operation
  single-threaded (:func:`ntk_course._threads.map_blocks`);
- ``1 thread``: ``torch.set_num_threads(1)``.

first on the machine as it is, then with ``--load`` (default: one per core) busy processes running
beside it, as on a shared machine or a laptop doing other work. Every result must be bitwise the
same. Run it on an otherwise idle machine to read the "idle" rows as idle.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time
from contextlib import contextmanager
from unittest import mock

import torch

import ntk_course.kernels as kernels
from ntk_course import mnist, ntk


def _spin(stop: mp.Event) -> None:  # a busy process: pure Python arithmetic, no threads
    x = 0
    while not stop.is_set():
        for i in range(100_000):
            x = (x + i * i) % 1_000_003


@contextmanager
def busy(processes: int):
    stop = mp.Event()
    workers = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(processes)]
    for w in workers:
        w.start()
    time.sleep(1.0)
    try:
        yield
    finally:
        stop.set()
        for w in workers:
            w.join()


def _in_turn(work, blocks, device, recorded) -> None:  # noqa: ANN001 - map_blocks' signature
    for block in blocks:
        work(block)


def one(x: torch.Tensor, how: str, threads: int) -> tuple[float, torch.Tensor]:
    torch.set_num_threads(1 if how == "1 thread" else threads)
    patch = mock.patch.object(kernels, "map_blocks", _in_turn) if how == "per-op" else None
    try:
        if patch:
            patch.start()
        start = time.perf_counter()
        k = ntk(x, depth=3)
        return time.perf_counter() - start, k
    finally:
        if patch:
            patch.stop()
        torch.set_num_threads(threads)


def measure(x: torch.Tensor, repeats: int, threads: int, label: str) -> None:
    times: dict[str, list[float]] = {"per-op": [], "policy": [], "1 thread": []}
    first = None
    for _ in range(repeats):
        for how in times:
            seconds, k = one(x, how, threads)
            times[how].append(seconds)
            if first is None:
                first = k
            elif not torch.equal(k, first):
                raise AssertionError(f"{how} gave a different kernel")
    med = {how: statistics.median(t) for how, t in times.items()}
    print(
        f"{label:<28} per-op {med['per-op']:7.2f} s   policy {med['policy']:7.2f} s   "
        f"1 thread {med['1 thread']:7.2f} s  per-op/policy {med['per-op'] / med['policy']:5.1f}x",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="MNIST digits")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--load", type=int, default=os.cpu_count() or 2, help="busy processes")
    args = parser.parse_args()
    threads = torch.get_num_threads()
    x, _ = mnist(args.n)
    print(
        f"torch {torch.__version__}, {threads} threads, {os.cpu_count()} cores, ntk depth 3 ReLU "
        f"on {args.n:,} digits; load average before: {os.getloadavg()[0]:.1f}"
    )
    measure(x, args.repeats, threads, "as the machine is")
    with busy(args.load):
        measure(x, args.repeats, threads, f"beside {args.load} busy processes")


if __name__ == "__main__":
    main()
