"""The kernels' thread policy on the CPU: the blocks, not the operations, are spread over threads.

Torch runs each elementwise operation on its intra-op threads (``torch.get_num_threads()``), one
parallel region ending on a barrier per operation. A kernel matrix computed block by block makes
thousands of short operations, and on a machine whose cores are busy with other work a thread
descheduled inside a region stalls the whole operation: ``ntk`` on 2,000 points took 35-47 s with
2 threads against 1.6-1.9 s with 1 (2 cores at load 5-15, ``benchmarks/threads.py`` measures it).
So :func:`map_blocks` runs whole blocks on ``torch.get_num_threads()`` Python threads, each doing
single-threaded operations (torch releases the GIL inside them): a descheduled thread then delays
its own block only, and an idle machine still uses every thread. The caller's thread setting is
unchanged afterwards; on a GPU, with one thread, or when autograd records the computation (its
in-place writes into one result tensor must stay in order), the blocks run in turn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

__all__ = ["map_blocks"]

T = TypeVar("T")


def _single_threaded(work: Callable[[T], None]) -> Callable[[T], None]:
    def run(block: T) -> None:
        torch.set_num_threads(1)  # this worker thread's operations only
        work(block)

    return run


def map_blocks(
    work: Callable[[T], None], blocks: Sequence[T], device: torch.device, recorded: bool
) -> None:
    """Call ``work(block)`` for every block, spread over threads on the CPU (module docstring).

    ``work`` must write its results to places no other block writes; ``recorded`` says that
    autograd records the computation (then, as on a GPU, the blocks run in turn).
    """
    threads = torch.get_num_threads()
    if threads == 1 or len(blocks) < 2 or device.type != "cpu" or recorded:
        for block in blocks:
            work(block)
        return
    pool = ThreadPoolExecutor(min(threads, len(blocks)))
    try:
        for done in pool.map(_single_threaded(work), blocks):
            del done  # re-raises a block's exception here
    finally:
        # after an error the blocks not yet started are dropped, not computed
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(threads)  # new threads would otherwise start with one
