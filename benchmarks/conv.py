"""The convolutional NTK (ntk_course.conv) against a plain per-pair reference recursion.

    python benchmarks/conv.py            # side by side, then the cost as N and the image grow
    python benchmarks/conv.py --quick    # smaller sizes

The reference loops over the pairs of images in Python and, for each pair, runs the recursion of
Arora et al. (2019) on its own pixel-pair matrices in NumPy float64 (the ReLU arc-cosine closed
form, the patch average as a sum of k^2 shifted slices): the obvious implementation of the
equations. ntk_course carries blocks of image pairs through every layer at once in torch. Both run
on the same shipped MNIST digits, average-pooled to the side asked for and scaled to unit pixel
variance; the times alternate within each repeat and the median is printed with the ratio. torch
runs on one thread by default, as NumPy's elementwise loops do (``--threads 2`` to compare); on a
shared machine extra torch threads can cost more than they give.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from ntk_course import mnist
from ntk_course.conv import conv_kernels


def digits(n: int, side: int) -> torch.Tensor:
    x, _ = mnist(n, scaling="pixel")
    images = x.reshape(n, 1, 28, 28).double()
    if side != 28:
        images = F.adaptive_avg_pool2d(images, side)
    return (images - images.mean()) / images.std()


def _patch(s: np.ndarray, k: int, pairs: bool) -> np.ndarray:
    """(1/k^2) sum_d S_{i+d, j+d} with zero 'same' padding, S (H, W) or (H, W, H, W)."""
    lo, hi = (k - 1) // 2, k - 1 - (k - 1) // 2
    h, w = s.shape[:2]
    p = np.pad(s, [(lo, hi)] * s.ndim)
    out = np.zeros_like(s)
    for u in range(k):
        for v in range(k):
            out += (
                p[u : u + h, v : v + w, u : u + h, v : v + w] if pairs else p[u : u + h, v : v + w]
            )
    return out / (k * k)


def _relu(qa: np.ndarray, c: np.ndarray, qb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.sqrt(np.maximum(qa * qb - c * c, 0.0))
    phi = np.arctan2(s, c)
    return (s + (np.pi - phi) * c) / (2 * np.pi), (np.pi - phi) / (2 * np.pi)


def reference(x: np.ndarray, depth: int, k: int, readout: str, beta: float) -> np.ndarray:
    """The CNTK by a Python loop over pairs of images (same padding, ReLU)."""
    pairs = readout == "gap"
    n, c = x.shape[:2]
    var = []  # per image, the pixel variances of every layer
    for a in range(n):
        q = _patch(np.einsum("chw,chw->hw", x[a], x[a]) / c, k, False) + beta**2
        qs = [q]
        for _ in range(depth - 1):
            q = _patch(_relu(q, q, q)[0], k, False) + beta**2
            qs.append(q)
        var.append(qs)
    theta = np.empty((n, n))
    for a in range(n):
        for b in range(a, n):
            spec = "chw,cuv->hwuv" if pairs else "chw,chw->hw"
            s = _patch(np.einsum(spec, x[a], x[b]) / c, k, pairs) + beta**2
            t = s.copy()
            for l in range(depth):
                qa, qb = var[a][l], var[b][l]
                if pairs:
                    qa, qb = qa[:, :, None, None], qb[None, None, :, :]
                if a == b:  # identical images: the variance on the pixel diagonal (angle 0)
                    if pairs:
                        h, w = s.shape[:2]
                        s.reshape(h * w, h * w)[np.diag_indices(h * w)] = var[a][l].reshape(-1)
                    else:
                        s = var[a][l].copy()
                e_s, e_d = _relu(qa, s, qb)
                if l < depth - 1:
                    s = _patch(e_s, k, pairs) + beta**2
                    t = _patch(t * e_d, k, pairs) + s
                else:
                    s = e_s.mean() + beta**2
                    t = (t * e_d).mean() + s
            theta[a, b] = theta[b, a] = t
    return theta


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def side_by_side(n: int, side: int, depth: int, readout: str, repeat: int) -> None:
    x = digits(n, side)
    times_lib, times_ref = [], []
    for _ in range(repeat):
        t_lib, lib = timed(conv_kernels, x, depth=depth, readout=readout, beta=0.1)
        t_ref, ref = timed(reference, x.numpy(), depth, 3, readout, 0.1)
        times_lib.append(t_lib)
        times_ref.append(t_ref)
    a, b = float(np.median(times_lib)), float(np.median(times_ref))
    diff = float(np.abs(lib.ntk.numpy() - ref).max())
    print(
        f"CNTK {readout}, depth {depth}, 3x3 same, ReLU, {n} digits {side}x{side}: ntk_course "
        f"{a:.3f} s, per-pair reference {b:.3f} s -> {b / a:.1f}x faster; max |diff| {diff:.1e}"
    )


def scaling(readout: str, sizes: list[tuple[int, int]], depth: int) -> None:
    for n, side in sizes:
        x = digits(n, side)
        t, _ = timed(conv_kernels, x, depth=depth, readout=readout, beta=0.1)
        pairs = n * (n + 1) // 2
        print(
            f"  {readout:7s} N = {n:4d}, {side:2d}x{side:2d}: {t:7.3f} s "
            f"({1e6 * t / pairs:8.1f} us per pair of images)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (NumPy's: 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    n = 16 if args.quick else 32
    side_by_side(n, 28, 3, "flatten", args.repeat)
    side_by_side(n // 2, 10, 3, "gap", args.repeat)
    print("cost as N and the image side grow (depth 3, 3x3 same, ReLU, both kernels):")
    big = 1 if args.quick else 2
    scaling("flatten", [(16 * big, 28), (32 * big, 28), (64 * big, 28), (32, 7), (32, 14)], 3)
    scaling("gap", [(8 * big, 7), (16 * big, 7), (32 * big, 7), (16, 10), (16, 14)], 3)


if __name__ == "__main__":
    main()
