"""Issue 22, items 6 and 8: inputs the kernels used to misread or fail on obscurely get a ValueError
that says what to do; a step built by comparison is differentiated as 0 (its derivative almost
everywhere), checked against the arcsine closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ntk_course import nngp, ntk

X = torch.tensor([[1.0, 0.0], [0.6, 0.8], [-0.3, 0.5]], dtype=torch.float64)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ntk(torch.linspace(-1, 1, 100), depth=3), r"pass x\[:, None\]"),
        (lambda: nngp(X, torch.ones(2), depth=3), r"y must be 2-d"),
        (lambda: ntk(X, depth=2, dtype=torch.int64), "dtype must be a floating torch dtype"),
        (lambda: ntk(X.to_sparse(), depth=2), r"to_dense\(\)"),
        (lambda: ntk(X, depth=2, beta=1e200), "beta must be at most 1e150"),
        (lambda: ntk(X, depth=2, activation=lambda z: z - z.mean()), "must act elementwise"),
        (
            lambda: ntk(X, depth=2, activation=lambda z: torch.tanh(z) * (1 + z.abs().mean())),
            "must act elementwise",
        ),
        (lambda: ntk(X, depth=2, activation=np.tanh), "autograd cannot differentiate"),
        (lambda: ntk(X, depth=2, activation=lambda z: np.tanh(z.numpy())), "torch tensor"),
        (lambda: ntk(X, depth=2, activation=lambda z: z > 0), r"\(z > 0\).to\(z.dtype\)"),
        (lambda: ntk(X, depth=2, activation=lambda z: torch.tanh(z).float()), "float32"),
        (lambda: ntk(X, depth=2, activation=lambda z: z.sum()), "must act elementwise"),
    ],
)
def test_bad_input_names_the_fix(call, message: str):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_step_by_comparison_is_the_arcsine_kernel():
    """(z > 0) as float64 has no autograd graph: its derivative is 0 and its NNGP is the step's,
    E[step(u) step(v)] = (pi - arccos rho) / (2 pi) (Cho & Saul's degree-0 arc-cosine kernel)."""
    s = nngp(X, depth=2, activation=lambda z: (z > 0).to(z.dtype), beta=0.0)
    rho = (X @ X.T) / (X.norm(dim=1)[:, None] * X.norm(dim=1)[None, :])
    exact = (math.pi - torch.arccos(rho.clamp(-1, 1))) / (2 * math.pi)
    torch.testing.assert_close(s, exact, rtol=1e-9, atol=1e-9)


def test_empirical_ntk_refuses_train_mode_batchnorm_and_dropout():
    from ntk_course import empirical_ntk

    for layer in (torch.nn.BatchNorm1d(4), torch.nn.Dropout(0.5)):
        model = torch.nn.Sequential(torch.nn.Linear(2, 4), layer, torch.nn.Linear(4, 1)).double()
        with pytest.raises(ValueError, match=r"model.eval\(\)"):
            empirical_ntk(model, X)
        model.eval()
        assert empirical_ntk(model, X).shape == (3, 3)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_ntkmlp_on_cuda_without_cuda_names_the_fix():
    from ntk_course import NTKMLP

    with pytest.raises(ValueError, match="CUDA is not available"):
        NTKMLP([2, 8, 1], device="cuda")
