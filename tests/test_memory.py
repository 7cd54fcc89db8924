"""Memory is predicted, not discovered: kernel_bytes against what the kernels allocate, and the
KernelMemoryError raised with the numbers and the ways out before any work; float32 storage."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import randn

import ntk_course.memory as memory
from ntk_course import (
    BlockedKernel,
    KernelMemoryError,
    available_bytes,
    kernel_bytes,
    kernels,
    layer_kernels,
    limiting_kernels,
    mnist,
    nngp,
    ntk,
)


def test_prediction_counts_the_returned_tensors():
    x, y = randn(50, 7, seed=1), randn(30, 7, seed=2)
    for with_theta, out in ((True, None), (False, None), (True, torch.float32)):
        Sigma, Theta = limiting_kernels(x, y, depth=3, with_theta=with_theta, out_dtype=out)
        parts = kernel_bytes(50, 30, n0=7, depth=3, matrices=2 if with_theta else 1, out_dtype=out)
        results = [v for k, v in parts.items() if "N x M" in k]
        stored = Sigma.nbytes + (0 if Theta is None else Theta.nbytes)
        assert results == [stored]
        assert parts["inputs"] >= x.nbytes + y.nbytes
        assert sum(parts.values()) > stored


def test_float32_halves_the_results():
    p64 = kernel_bytes(40_000, n0=784, depth=5)
    p32 = kernel_bytes(40_000, n0=784, depth=5, out_dtype=torch.float32)
    key = "2 N x M results (Sigma and Theta)"
    assert p64[key] == 2 * 40_000**2 * 8 == 12_800_000_000 * 2
    assert p32[key] == p64[key] // 2


def test_error_before_any_work_with_the_numbers(monkeypatch: pytest.MonkeyPatch):
    """40,000 digits' ntk (12.8 GB of Theta; Sigma is never held beyond a block) against 10 GB
    free: refused at once, before the variances (the first work) are computed and before any N x N
    buffer exists."""
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 10**10)

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the memory check")

    monkeypatch.setattr(kernels, "_variances", no_work)
    x = torch.zeros(40_000, 784, dtype=torch.float64)
    start = time.perf_counter()
    with pytest.raises(KernelMemoryError) as info:
        ntk(x, depth=5)
    assert time.perf_counter() - start < 5
    err = info.value
    assert isinstance(err, MemoryError)
    assert err.available == 10**10 and 12_800_000_000 < err.needed < 14_000_000_000
    text = str(err)
    for fragment in (
        f"{err.needed:,} bytes",
        "10,000,000,000 bytes",
        "12.8 GB",
        "out_dtype=torch.float32",
        "BlockedKernel",
        "Dask",
        "nothing was computed",
    ):
        assert fragment in text
    with pytest.raises(KernelMemoryError, match="nngp"):
        nngp(x, depth=5)
    with pytest.raises(KernelMemoryError, match="layer_kernels"):
        layer_kernels(x, depth=5)


def test_ntk_fits_where_theta_alone_fits(monkeypatch: pytest.MonkeyPatch):
    """Issue 22, item 3: with 14 GB free, 40,000 points' ntk (12.8 GB of Theta) passes the memory
    check and starts work, where Sigma and Theta together (25.6 GB, limiting_kernels) do not."""
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 14 * 10**9)

    class Started(Exception):
        pass

    def started(*args, **kwargs):
        raise Started

    monkeypatch.setattr(kernels, "_variances", started)
    x = torch.zeros(40_000, 784, dtype=torch.float64)
    with pytest.raises(Started):
        ntk(x, depth=5)
    with pytest.raises(KernelMemoryError, match="Sigma and Theta"):
        limiting_kernels(x, depth=5)


def test_error_names_what_fits(monkeypatch: pytest.MonkeyPatch):
    """With float32 storage the same kernel needs half: the error disappears where that fits."""
    x = randn(200, 5, seed=3)
    need64 = sum(kernel_bytes(200, n0=5, depth=2, matrices=1).values())
    need32 = sum(kernel_bytes(200, n0=5, depth=2, matrices=1, out_dtype=torch.float32).values())
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: (need32 + need64) // 2)
    with pytest.raises(KernelMemoryError):
        ntk(x, depth=2)
    assert ntk(x, depth=2, out_dtype=torch.float32).dtype == torch.float32


def test_blocked_cache_is_checked_when_made(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device=None: 150_000_000)
    x = torch.zeros(10_000, 3, dtype=torch.float64)
    with pytest.raises(KernelMemoryError, match="cached blocks"):
        BlockedKernel(x, depth=2, block=512)  # 10,000^2 / 2 float64 = 400 MB
    BlockedKernel(x, depth=2, block=512, cache=False)  # one block at a time fits


def test_available_bytes_is_plausible():
    free = available_bytes()
    total = next(
        int(line.split()[1]) * 1024
        for line in open("/proc/meminfo")
        if line.startswith("MemTotal:")
    )
    assert 0 < free <= total


def test_float32_output_is_the_float64_kernel_rounded_once():
    x, _ = mnist(300, scaling="pixel")
    k64 = ntk(x, depth=4)
    k32 = ntk(x, depth=4, out_dtype=torch.float32)
    assert k32.dtype == torch.float32
    assert torch.equal(k32, k64.to(torch.float32))  # computed in float64 per block, rounded once
    assert float(((k32.double() - k64).abs() / k64.abs()).max()) <= 2.0**-24
    assert torch.equal(k32, k32.T)
    s32 = nngp(x[:100], x[100:], depth=4, out_dtype=torch.float32)
    assert torch.equal(s32, nngp(x[:100], x[100:], depth=4).float())


def test_bad_out_dtype():
    with pytest.raises(ValueError, match="out_dtype must be a floating torch dtype"):
        ntk(randn(4, 3), depth=2, out_dtype=torch.int32)
    with pytest.raises(ValueError, match="out_dtype must be a floating torch dtype"):
        ntk(randn(4, 3), depth=2, out_dtype="float32")


def test_prediction_bounds_the_gpu_peak(gpu: torch.device):
    """On CUDA the allocator counts every byte: the prediction is an upper bound, within 1.5x."""
    x = randn(6000, 784, seed=4).to(gpu)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats(gpu)
    base = torch.cuda.memory_allocated(gpu)
    ntk(x, depth=5)
    peak = torch.cuda.max_memory_allocated(gpu) - base
    predicted = sum(kernel_bytes(6000, n0=784, depth=5, matrices=1).values())
    assert peak <= predicted <= 1.5 * peak, (peak, predicted)


PEAK_SCRIPT = """
import resource, torch
from ntk_course import {fn}
torch.manual_seed(0)
x = torch.randn(3000, 10, dtype=torch.float64)
{fn}(x[:300], depth=3)  # warm-up: libraries and rule tables loaded
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
k = {fn}(x, depth=3)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024, k.nbytes)
"""


def _peak(fn: str) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT.format(fn=fn)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout.split()
    return int(out[0]), int(out[1])


def test_ntk_peak_memory_is_thetas():
    """Issue 22, item 3: the peak resident memory ntk adds is Theta's 72 MB plus block temporaries
    (measured by the process's maximum resident set in a fresh interpreter), not Sigma and Theta
    (144 MB): Sigma is never held beyond a block."""
    peak, theta = _peak("ntk")
    assert theta == 3000 * 3000 * 8
    assert peak < 1.35 * theta, (peak, theta)
    nngp_peak, _ = _peak("nngp")
    assert peak < nngp_peak + 0.35 * theta, (peak, nngp_peak)


def _arccos_ntk(x: np.ndarray, depth: int, beta: float) -> np.ndarray:
    """The ReLU recursion (arc-cosine kernels, Cho & Saul 2009) on the whole matrix in NumPy."""
    s = x @ x.T / x.shape[1] + beta**2
    t = s.copy()
    for _ in range(depth - 1):
        d = np.sqrt(np.outer(np.diag(s), np.diag(s)))
        phi = np.arccos(np.clip(s / d, -1.0, 1.0))
        s_dot = (np.pi - phi) / (2 * np.pi)
        s = d * (np.sin(phi) + (np.pi - phi) * np.cos(phi)) / (2 * np.pi) + beta**2
        t = t * s_dot + s
    return t


def test_ntk_without_sigma_is_the_recursion_blockwise():
    """ntk (Sigma one block at a time, blocks of 16 over 50 x 37 and 50 x 50 points) against the
    whole-matrix arc-cosine recursion in NumPy."""
    x, y = randn(50, 6, seed=5), randn(37, 6, seed=6)
    for a, b in ((x, None), (x, y)):
        want = _arccos_ntk(np.concatenate([a.numpy()] + ([] if b is None else [b.numpy()])), 4, 0.3)
        got = ntk(a, b, depth=4, beta=0.3, block=16).numpy()
        ref = want[: len(a), : len(a)] if b is None else want[: len(a), len(a) :]
        assert np.abs(got - ref).max() < 1e-7 * np.abs(ref).max()
