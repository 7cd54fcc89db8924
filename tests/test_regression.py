"""Tests of ntk_course.regression: kernel regression, the t -> infinity limit of the flow
(Section 5).

(The regression tests written with the generalisation chapter, against SciPy and the Gaussian
limit, are in tests/test_generalisation.py.)
"""

from __future__ import annotations

import torch
from conftest import generator, randn
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ntk_course import Architecture, kernel_regression, sphere_points


@settings(max_examples=30)
@given(
    n=st.integers(1, 16),
    n0=st.integers(2, 6),
    depth=st.integers(1, 4),
    activation=st.sampled_from(["relu", "erf", "tanh"]),
    beta=st.floats(0.05, 1.0),
    outputs=st.sampled_from([(), (1,), (3,)]),
    seed=st.integers(0, 2**31 - 1),
)
def test_kernel_regression_interpolates_distinct_training_points(
    n: int, n0: int, depth: int, activation: str, beta: float, outputs: tuple[int, ...], seed: int
) -> None:
    """At ridge 0 the fit reproduces the training targets: with K = Theta(X, X) positive definite
    (distinct points of the sphere, beta > 0), f(X) = K K^{-1} Y = Y, for random architectures,
    point sets, target shapes (N,) and (N, k), and test points that are the training points in
    another order. The Cholesky solve is backward stable, so the residual is at most about
    cond(K) eps |Y|: checked to 1e-13 cond(K) max|Y| (examples with cond(K) > 1e9 are discarded,
    where that bound says little).
    """
    x = sphere_points(n, n0, seed=seed)
    k = Architecture(depth=depth, activation=activation, beta=beta).ntk(x)
    eig = torch.linalg.eigvalsh(k)
    assume(float(eig[0]) > 0 and float(eig[-1] / eig[0]) < 1e9)
    cond = float(eig[-1] / eig[0])
    y = randn(n, *outputs, seed=seed)
    perm = torch.randperm(n, generator=generator(seed))
    fit = kernel_regression(k, y, k[perm])
    assert fit.shape == y.shape and fit.dtype == torch.float64
    tolerance = 1e-13 * cond * float(y.abs().max())
    torch.testing.assert_close(fit, y[perm], rtol=0, atol=tolerance)
