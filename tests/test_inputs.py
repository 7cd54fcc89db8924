"""The input contract of the public functions, in one place.

Bad input raises a ValueError that names the problem, before any work: no points, empty or 2-d
times, starts with the wrong number of rows, 3-d targets, NaN or inf points, models without
trainable parameters, non-integer steps, unusable quadrature node counts, non-symmetric or
non-finite kernels, complex numbers. Integer arrays are accepted everywhere and mean the same
numbers as their floating-point copies (the networks compute in their own dtype, the flows in
float64).
"""

from __future__ import annotations

import pytest
import torch
from conftest import generator, points, random_psd
from hypothesis import settings
from torch import nn

from ntk_course import (
    NTKMLP,
    Linearized,
    RandomFeatures,
    dual_activation,
    empirical_ntk,
    gaussian_limit,
    gradient_descent,
    gradient_flow,
    hermite_coefficients,
    kernel_flow,
    kernel_pca,
    layer_kernels,
    limiting_kernels,
    nngp,
    ntk,
    train,
)
from ntk_course.activations import get_activation

F64 = torch.float64
NAN, INF = float("nan"), float("inf")


N, M = 5, 3
K = random_psd(N + M, p=2 * (N + M))
KTT, KXT, KXX = K[:N, :N], K[N:, :N], K[N:, N:]
Y = torch.linspace(-1, 1, N, dtype=F64)
X = points(N, 2, 1, dtype=torch.float32)
NET = NTKMLP([2, 8, 1], generator=generator(2))
ASYM = KTT + torch.triu(torch.full_like(KTT, 0.3), 1)
WITH_NAN = KTT.clone().index_put_(
    (torch.tensor([0]), torch.tensor([1])), torch.tensor(NAN, dtype=F64)
)
WITH_INF = KTT.clone().fill_diagonal_(INF)


def _gl(theta=KTT, sigma=KTT, y=Y, t=None, **kw):  # type: ignore[no-untyped-def]
    args = dict(theta_test_train=KXT, sigma_test_train=KXT, sigma_test=KXX) | kw
    return gaussian_limit(theta, sigma, y, t=t, **args)


CASES = {
    # no points (N = 0)
    "ntk N=0": (lambda: ntk(torch.zeros(0, 2), depth=2), "at least one point"),
    "forward N=0": (lambda: NET(torch.zeros(0, 2)), "at least one point"),
    "empirical_ntk N=0": (lambda: empirical_ntk(NET, torch.zeros(0, 2)), "at least one point"),
    "empirical_ntk M=0": (lambda: empirical_ntk(NET, X, torch.zeros(0, 2)), "at least one point"),
    "train N=0": (
        lambda: train(NET, torch.zeros(0, 2), torch.zeros(0, 1), steps=1),
        "at least one point",
    ),
    "gradient_flow N=0": (
        lambda: gradient_flow(torch.zeros(0, 0), torch.zeros(0), [1.0]),
        "k_train is empty",
    ),
    "gradient_descent N=0": (
        lambda: gradient_descent(torch.zeros(0, 0), torch.zeros(0), [1], lr=0.1),
        "k_train is empty",
    ),
    "kernel_flow N=0": (
        lambda: kernel_flow(torch.zeros(0, 0), torch.zeros(0), [1.0], loss="mse"),
        "k_train is empty",
    ),
    "gaussian_limit N=0": (
        lambda: gaussian_limit(
            torch.zeros(0, 0),
            torch.zeros(0, 0),
            torch.zeros(0),
            theta_test_train=torch.zeros(1, 0),
            sigma_test_train=torch.zeros(1, 0),
            sigma_test=torch.ones(1, 1),
        ),
        "theta_train is empty",
    ),
    "kernel_pca N=0": (lambda: kernel_pca(torch.zeros(0, 0)), "k_train is empty"),
    "RandomFeatures N=0": (lambda: RandomFeatures(torch.zeros(0, 0), 3), "kernel is empty"),
    # empty or 2-d times
    "gradient_flow t empty": (lambda: gradient_flow(KTT, Y, []), "t is empty"),
    "gradient_flow t 2-d": (lambda: gradient_flow(KTT, Y, [[1.0, 2.0]]), "t must be 0-d or 1-d"),
    "kernel_flow t 2-d": (
        lambda: kernel_flow(KTT, Y, [[1.0], [2.0]], loss="mse"),
        "t must be 0-d or 1-d",
    ),
    "gaussian_limit t empty": (lambda: _gl(t=[]), "t is empty"),
    "gaussian_limit t 2-d": (lambda: _gl(t=torch.ones(2, 2)), "t must be 0-d or 1-d"),
    "gradient_descent steps 2-d": (
        lambda: gradient_descent(KTT, Y, [[1, 2]], lr=0.1),
        "steps must be 0-d or 1-d",
    ),
    "gradient_descent steps empty": (
        lambda: gradient_descent(KTT, Y, [], lr=0.1),
        "steps is empty",
    ),
    # starts with the wrong number of rows
    "gradient_flow f0_train rows": (
        lambda: gradient_flow(KTT, Y, [1.0], f0_train=torch.ones(N + 1)),
        "f0_train must have 5 rows",
    ),
    "gradient_flow f0_test rows": (
        lambda: gradient_flow(KTT, Y, [1.0], k_test_train=KXT, f0_test=torch.ones(M + 1, 2)),
        "f0_test must have 3 rows",
    ),
    "gradient_descent f0_train rows": (
        lambda: gradient_descent(KTT, Y, [1], lr=0.1, f0_train=torch.ones(N - 1, 2)),
        "f0_train must have 5 rows",
    ),
    "kernel_flow f0_train rows": (
        lambda: kernel_flow(KTT, Y, [1.0], loss="mse", f0_train=torch.ones(N + 2)),
        "f0_train must have 5 rows",
    ),
    "kernel_flow f0_test rows": (
        lambda: kernel_flow(KTT, Y, [1.0], loss="mse", k_test_train=KXT, f0_test=torch.ones(1)),
        "f0_test must have 3 rows",
    ),
    "kernel_flow cross-entropy f0_train rows": (
        lambda: kernel_flow(KTT, torch.tensor([0, 1, 0, 1, 0]), [1.0], f0_train=torch.zeros(4, 2)),
        "f0_train must have 5 rows",
    ),
    # 3-d targets
    "gradient_flow y 3-d": (
        lambda: gradient_flow(KTT, Y[:, None, None], [1.0]),
        "y_train must be 1-d or 2-d",
    ),
    "gradient_descent y 3-d": (
        lambda: gradient_descent(KTT, Y[:, None, None], [1], lr=0.1),
        "y_train must be 1-d or 2-d",
    ),
    "kernel_flow y 3-d": (
        lambda: kernel_flow(KTT, Y[:, None, None], [1.0], loss="mse"),
        "y_train must be 1-d or 2-d",
    ),
    "gaussian_limit y 3-d": (lambda: _gl(y=Y[:, None, None]), "y_train must be 1-d or 2-d"),
    "train y 3-d": (
        lambda: train(NET, X, Y[None, :, None], steps=1),
        "y must broadcast to the output shape",
    ),
    "RandomFeatures.train y 3-d": (
        lambda: RandomFeatures(KTT, 4, seed=0).train(Y[:, None, None], steps=1, lr=0.1),
        "y must be 1-d or 2-d",
    ),
    # NaN or inf points
    "forward NaN": (lambda: NET(torch.tensor([[NAN, 0.0]])), "non-finite"),
    "forward inf": (lambda: NET(torch.tensor([[0.0, -INF]])), "non-finite"),
    "empirical_ntk NaN": (lambda: empirical_ntk(NET, torch.tensor([[NAN, 0.0]])), "non-finite"),
    "empirical_ntk inf in y": (
        lambda: empirical_ntk(NET, X, torch.tensor([[INF, 0.0]])),
        "non-finite",
    ),
    "empirical_ntk jacobian NaN": (
        lambda: empirical_ntk(NET, torch.tensor([[NAN, 0.0]]), method="jacobian"),
        "non-finite",
    ),
    "train NaN points": (
        lambda: train(NET, torch.tensor([[NAN, 0.0]]), torch.ones(1), steps=1),
        "non-finite",
    ),
    # models without trainable parameters
    "train no parameters": (lambda: train(nn.Identity(), X, Y, steps=1), "no trainable parameters"),
    "empirical_ntk no parameters": (
        lambda: empirical_ntk(nn.Identity(), X),
        "no trainable parameters",
    ),
    "empirical_ntk frozen": (
        lambda: empirical_ntk(NTKMLP([2, 4, 1]).requires_grad_(False), X),
        "no trainable parameters",
    ),
    # non-integer steps
    "train record_at 2.5": (
        lambda: train(NET, X, Y, steps=5, record_at=[0, 2.5]),
        "record_at must be an integer",
    ),
    "train record_at '3'": (
        lambda: train(NET, X, Y, steps=5, record_at=["3"]),
        "record_at must be an integer",
    ),
    "train steps 2.5": (lambda: train(NET, X, Y, steps=2.5), "steps must be an integer"),
    "gradient_descent steps 1.5": (
        lambda: gradient_descent(KTT, Y, [1.5], lr=0.1),
        "whole numbers",
    ),
    # non-symmetric or non-finite kernels
    "gradient_flow asymmetric": (
        lambda: gradient_flow(ASYM, Y, [1.0]),
        "k_train must be symmetric",
    ),
    "gradient_flow NaN": (lambda: gradient_flow(WITH_NAN, Y, [1.0]), "k_train has non-finite"),
    "gradient_flow inf test": (
        lambda: gradient_flow(KTT, Y, [1.0], k_test_train=KXT * INF),
        "k_test_train has non-finite",
    ),
    "gradient_descent asymmetric": (
        lambda: gradient_descent(ASYM, Y, [1], lr=0.1),
        "k_train must be symmetric",
    ),
    "gradient_descent inf": (
        lambda: gradient_descent(WITH_INF, Y, [1], lr=0.1),
        "k_train has non-finite",
    ),
    "kernel_flow asymmetric": (
        lambda: kernel_flow(ASYM, Y, [1.0], loss="mse"),
        "k_train must be symmetric",
    ),
    "kernel_flow NaN": (
        lambda: kernel_flow(WITH_NAN, Y, [1.0], loss="mse"),
        "k_train has non-finite",
    ),
    "gaussian_limit asymmetric theta": (lambda: _gl(theta=ASYM), "theta_train must be symmetric"),
    "gaussian_limit asymmetric sigma": (lambda: _gl(sigma=ASYM), "sigma_train must be symmetric"),
    "gaussian_limit NaN sigma": (lambda: _gl(sigma=WITH_NAN), "sigma_train has non-finite"),
    "gaussian_limit inf sigma_test": (
        lambda: _gl(sigma_test=KXX * INF),
        "sigma_test has non-finite",
    ),
    "kernel_pca asymmetric": (lambda: kernel_pca(ASYM), "k_train must be symmetric"),
    "RandomFeatures inf": (lambda: RandomFeatures(WITH_INF, 3), "kernel has non-finite"),
    # complex numbers
    "gradient_flow complex": (
        lambda: gradient_flow(KTT.to(torch.complex128), Y, [1.0]),
        "k_train must be real",
    ),
    "empirical_ntk complex": (lambda: empirical_ntk(NET, X.to(torch.complex64)), "x must be real"),
    "forward complex": (lambda: NET(X.to(torch.complex64)), "real"),
    "train complex y": (lambda: train(NET, X, Y.to(torch.complex128), steps=1), "y must be real"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_raises_a_value_error_naming_the_problem(name: str) -> None:
    call, match = CASES[name]
    with pytest.raises(ValueError, match=match):
        call()


def test_a_refused_training_leaves_the_model_untouched() -> None:
    net = NTKMLP([2, 8, 1], generator=generator(3))
    before = [p.detach().clone() for p in net.parameters()]
    for kwargs in (
        dict(record_at=[1, 2.5]),
        dict(y=Y[None, :, None]),
        dict(x_eval=torch.ones(2, 3)),
    ):
        with pytest.raises(ValueError, match="record_at|broadcast|feature dimension"):
            train(net, X, **(dict(y=Y, steps=3) | kwargs))
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before))


QUADRATURE_USERS = {
    "ntk": lambda q: ntk(X, depth=2, activation="tanh", quadrature_points=q),
    "nngp": lambda q: nngp(X, depth=2, activation="gelu", quadrature_points=q),
    "limiting_kernels": lambda q: limiting_kernels(
        X, depth=3, activation=torch.sin, quadrature_points=q
    ),
    "layer_kernels": lambda q: layer_kernels(
        X, depth=2, activation="softplus", quadrature_points=q
    ),
    "get_activation": lambda q: get_activation(torch.tanh, quadrature_points=q),
    "hermite_coefficients": lambda q: hermite_coefficients("tanh", 4, quadrature_points=q),
    "dual_activation": lambda q: dual_activation("tanh", [0.5], n_terms=4, quadrature_points=q),
}


@pytest.mark.parametrize("user", list(QUADRATURE_USERS))
@pytest.mark.parametrize("nodes", [1.5, 0, -3, 10**6, "64", True, None])
def test_unusable_quadrature_node_counts_are_refused(user: str, nodes: object) -> None:
    with pytest.raises(ValueError, match="quadrature_points"):
        QUADRATURE_USERS[user](nodes)


def test_integer_arrays_mean_the_same_numbers_everywhere() -> None:
    """Integers are cast: to the network's dtype for networks, empirical_ntk and train; to float64
    for the flows (whose results are then float64)."""
    xi = torch.tensor([[1, 0], [0, 1], [-1, 2], [2, -1]])
    yi = torch.tensor([1, -1, 0, 2])
    net = NTKMLP([2, 16, 1], dtype=F64, generator=generator(4))
    with torch.no_grad():
        assert torch.equal(net(xi), net(xi.double()))
    assert torch.equal(empirical_ntk(net, xi), empirical_ntk(net, xi.double()))
    a, b = Linearized(net), Linearized(net)
    assert torch.equal(
        train(a, xi, yi, steps=2).outputs, train(b, xi.double(), yi.double(), steps=2).outputs
    )
    ki = torch.tensor([[3, 1, 0, 1], [1, 4, 1, 0], [0, 1, 5, 2], [1, 0, 2, 6]])
    for flow in (
        lambda k, y: gradient_flow(k, y, [0, 1, 2]).f_train,
        lambda k, y: gradient_descent(k, y, [0, 3], lr=0.2).f_train,
        lambda k, y: kernel_flow(k, y, [0.5], loss="mse").f_train,
        lambda k, y: gaussian_limit(
            k, k, y, theta_test_train=k, sigma_test_train=k, sigma_test=k, t=[1]
        )[0],
    ):
        out = flow(ki, yi)
        assert out.dtype == F64
        torch.testing.assert_close(out, flow(ki.double(), yi.double()), rtol=0, atol=0)


def test_hypothesis_examples_are_derandomised_for_the_whole_suite() -> None:
    """tests/conftest.py loads a profile with derandomize=True, so a failing example reproduces."""
    assert settings.default.derandomize is True
    assert settings.default.database is None


def test_python_floats_keep_float64_precision() -> None:
    """Lists of Python floats are float64 numbers: torch.as_tensor alone would round them to
    float32."""
    from ntk_course import gradient_flow, ntk

    k = ntk(torch.eye(3, dtype=torch.float64), depth=2)
    times = [0.9999, 1.0001, 1.0 + 1e-12]
    result = gradient_flow(k, [1.0, 0.5, -0.25], times)
    assert result.t.tolist() == times
    x = [[0.1, 1.0 + 1e-12], [0.3, 0.4]]
    assert ntk(x, depth=1)[0, 0].item() == (0.1**2 + (1.0 + 1e-12) ** 2) / 2 + 0.01
