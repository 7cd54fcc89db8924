"""Blocked kernels: any block equals that block of the whole kernel; conjugate gradients over the
blocks (in this process, on disk, or a Dask array on a LocalCluster of 2 workers) give the dense
solve's predictions to the stated tolerance; bad input is refused with a ValueError."""

from __future__ import annotations

import warnings

import pytest
import torch
from conftest import randn

from ntk_course import (
    BlockedKernel,
    CGWarning,
    conjugate_gradient,
    kernel_regression,
    mnist,
    nngp,
    ntk,
    one_hot_targets,
)

DEPTH = 3
X, LABELS = mnist(360, scaling="pixel")
X_TRAIN, X_TEST = X[:300], X[300:]
Y = one_hot_targets(LABELS[:300])
K = ntk(X_TRAIN, depth=DEPTH)
K_TEST = ntk(X_TEST, X_TRAIN, depth=DEPTH)
DENSE = kernel_regression(K, Y, K_TEST)
RTOL = 1e-10


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("kernel, full", [("ntk", ntk), ("nngp", nngp)])
def test_blocks_are_the_blocks_of_the_whole_kernel(kernel, full):
    """Block size a multiple of the kernel's inner block (256): bitwise; any other: to 1e-12."""
    whole, cross = full(X_TRAIN, depth=DEPTH), full(X_TEST, X_TRAIN, depth=DEPTH)
    assert torch.equal(BlockedKernel(X_TRAIN, kernel=kernel, depth=DEPTH, block=256).dense(), whole)
    assert torch.equal(
        BlockedKernel(X_TEST, X_TRAIN, kernel=kernel, depth=DEPTH, block=256).dense(), cross
    )
    odd = BlockedKernel(X_TRAIN, kernel=kernel, depth=DEPTH, block=70, cache=False)
    assert float((odd.dense() - whole).abs().max()) <= 1e-12 * float(whole.abs().max())
    assert torch.equal(odd.dense(), odd.dense().T)
    part = odd.block_at(slice(13, 101), slice(150, 297))  # rows i:j against columns k:l, alone
    assert float((part - whole[13:101, 150:297]).abs().max()) <= 1e-12 * float(whole.abs().max())


def test_products_over_blocks():
    bk = BlockedKernel(X_TRAIN, depth=DEPTH, block=128)
    v = randn(300, 4, seed=5)
    assert float((bk @ v - K @ v).abs().max()) <= 1e-12 * float((K @ v).abs().max())
    assert torch.equal(bk.diagonal(), K.diagonal())
    assert bk.matmul(v[:, 0]).shape == (300,)


def test_cg_matches_the_dense_solve():
    bk = BlockedKernel(X_TRAIN, depth=DEPTH, block=128)
    result = conjugate_gradient(bk, Y, rtol=RTOL)
    assert float(result.residuals.max()) <= RTOL
    assert relative(K @ result.solution, Y) <= RTOL * 1.01
    f = kernel_regression(bk, Y, BlockedKernel(X_TEST, X_TRAIN, depth=DEPTH, block=128), rtol=RTOL)
    assert f.shape == DENSE.shape
    assert relative(f, DENSE) <= 1e-6
    assert torch.equal(f.argmax(1), DENSE.argmax(1))
    # a dense test-train kernel is accepted too, and a 1-d target gives 1-d predictions
    f1 = kernel_regression(bk, Y[:, 3], K_TEST, rtol=RTOL)
    assert f1.shape == (60,) and relative(f1, DENSE[:, 3]) <= 1e-6


def test_ridge_and_the_caches(tmp_path):
    dense = kernel_regression(K, Y, K_TEST, ridge=1e-3)
    for cache in (False, tmp_path / "blocks"):
        bk = BlockedKernel(X_TRAIN, depth=DEPTH, block=128, cache=cache)
        assert relative(kernel_regression(bk, Y, K_TEST, ridge=1e-3, rtol=RTOL), dense) <= 1e-8
    assert len(list((tmp_path / "blocks").glob("*.npy"))) == 6  # upper triangle of 3 x 3 blocks


def test_float32_blocks():
    bk = BlockedKernel(X_TRAIN, depth=DEPTH, block=128, out_dtype=torch.float32)
    assert torch.equal(bk.dense(), K.to(torch.float32))
    f = kernel_regression(bk, Y, K_TEST, rtol=1e-8)
    assert torch.equal(f.argmax(1), DENSE.argmax(1))


def test_dask_on_a_local_cluster_of_two_workers():
    pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            k = client.persist(BlockedKernel(X_TRAIN, depth=DEPTH, block=256).to_dask())
            kx = client.persist(BlockedKernel(X_TEST, X_TRAIN, depth=DEPTH, block=256).to_dask())
            assert k.chunks == ((256, 44), (256, 44))
            assert torch.equal(torch.as_tensor(k.compute()), K)
            f = kernel_regression(k, Y, kx, rtol=RTOL)
    assert relative(f, DENSE) <= 1e-6
    assert torch.equal(f.argmax(1), DENSE.argmax(1))


def test_not_converged_warns():
    with pytest.warns(CGWarning, match="relative residual"):
        conjugate_gradient(K, Y, maxiter=2)


def test_bad_input():
    x = randn(20, 3, seed=6)
    with pytest.raises(ValueError, match="kernel must be one of"):
        BlockedKernel(x, kernel="gauss")
    with pytest.raises(ValueError, match="block must be an integer >= 1"):
        BlockedKernel(x, block=0, depth=2)
    with pytest.raises(ValueError, match="cache must be True"):
        BlockedKernel(x, cache=3, depth=2)
    with pytest.raises(ValueError, match="feature dimension"):
        BlockedKernel(x, randn(4, 5), depth=2)
    with pytest.raises(ValueError, match="non-finite"):
        BlockedKernel(torch.full((3, 2), float("nan")), depth=2)
    bk = BlockedKernel(x, depth=2, block=8)
    cross = BlockedKernel(randn(5, 3, seed=7), x, depth=2)
    with pytest.raises(ValueError, match="square kernel of the training points"):
        kernel_regression(cross, torch.zeros(5), cross)
    with pytest.raises(ValueError, match="y_train must have 20 rows"):
        kernel_regression(bk, torch.zeros(19), cross)
    with pytest.raises(ValueError, match="k_test_train must have shape"):
        kernel_regression(bk, torch.zeros(20), BlockedKernel(x, randn(5, 3), depth=2))
    with pytest.raises(ValueError, match="rtol must be"):
        conjugate_gradient(bk, torch.ones(20), rtol=2.0)
    with pytest.raises(ValueError, match="preconditioner must be"):
        conjugate_gradient(bk, torch.ones(20), preconditioner="ilu")
    with pytest.raises(ValueError, match="rows and cols must be slices"):
        bk.block_at(0, 1)
    with pytest.raises(ValueError, match="not positive definite"):
        conjugate_gradient(
            torch.diag(torch.tensor([1.0, -3.0], dtype=torch.float64)),
            torch.ones(2),
            preconditioner=None,
        )
    with pytest.raises(ValueError, match="diagonal entry <= 0"):
        conjugate_gradient(-torch.eye(4, dtype=torch.float64), torch.ones(4))
