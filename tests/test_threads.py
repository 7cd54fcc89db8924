"""The kernels' thread policy (ntk_course._threads): blocks spread over threads give the same
numbers as blocks in turn, leave the caller's thread setting alone, and report a block's error."""

from unittest import mock

import pytest
import torch

import ntk_course.kernels as kernels
from ntk_course import nngp, ntk


def _in_turn(work, blocks, device, recorded):  # noqa: ANN001, ARG001 - map_blocks' signature
    for block in blocks:
        work(block)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_threads_give_bitwise_the_blocks_in_turn(activation: str) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(300, 5, dtype=torch.float64), torch.randn(70, 5, dtype=torch.float64)
    previous = torch.get_num_threads()
    torch.set_num_threads(3)  # more threads than this machine may have: the policy must not care
    try:
        spread = [ntk(x, depth=3, activation=activation, block=64), ntk(x, y, depth=3, block=64)]
        assert torch.get_num_threads() == 3  # the caller's setting, restored
        with mock.patch.object(kernels, "map_blocks", _in_turn):
            in_turn = [
                ntk(x, depth=3, activation=activation, block=64),
                ntk(x, y, depth=3, block=64),
            ]
    finally:
        torch.set_num_threads(previous)
    for a, b in zip(spread, in_turn):
        assert torch.equal(a, b)


def test_an_error_in_a_block_reaches_the_caller() -> None:
    # x.x' / n_0 overflows in every block (relu's closed form, cheap): a worker's error surfaces
    x = torch.full((300, 1), 1e200, dtype=torch.float64) + torch.arange(300.0)[:, None]
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(ValueError, match="non-finite"):
            nngp(x, depth=2, block=64)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
