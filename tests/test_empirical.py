"""Tests of ntk_course.empirical: the empirical NTK of Section 4: three methods against each other,
against closed forms derived by hand, and against Theorem 1's form; only trainable parameters
count."""

import copy
import math

import numpy as np
import pytest
import torch
from conftest import generator, points, seeded
from torch import nn

from ntk_course import NTKMLP, Linearized, empirical_ntk, ntk


@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("n_out", [1, 3])
def test_three_methods_agree_in_float64(parametrization: str, activation: str, n_out: int) -> None:
    net = NTKMLP(
        [4, 24, 16, n_out],
        activation,
        parametrization=parametrization,
        dtype=torch.float64,
        generator=generator(0),
    )
    x, y = points(5, 4, 1), points(3, 4, 2)
    for output_axes in (False, True):
        ref = empirical_ntk(net, x, y, method="structured", output_axes=output_axes)
        for method in ("jacobian", "ntvp"):
            torch.testing.assert_close(
                empirical_ntk(net, x, y, method=method, output_axes=output_axes),
                ref,
                rtol=1e-11,
                atol=1e-12,
            )


def test_three_methods_agree_to_float32_round_off() -> None:
    """In float32 the methods sum in different orders: agreement to a few ulps of the entries."""
    net = NTKMLP([10, 256, 256, 1], generator=generator(3))
    x = points(12, 10, 4, torch.float32)
    ref = empirical_ntk(net, x, method="structured")
    scale = ref.abs().max()
    for method in ("jacobian", "ntvp"):
        assert (empirical_ntk(net, x, method=method) - ref).abs().max() <= 1e-5 * scale


def test_generic_model_jacobian_and_ntvp_agree() -> None:
    """Any nn.Module works with the torch.func methods (here a LayerNorm MLP with two outputs)."""
    with seeded(5):
        model = nn.Sequential(
            nn.Linear(3, 32), nn.LayerNorm(32), nn.GELU(), nn.Linear(32, 2)
        ).double()
    x, y = points(6, 3, 6), points(4, 3, 7)
    a = empirical_ntk(model, x, y, output_axes=True)
    b = empirical_ntk(model, x, y, method="ntvp", output_axes=True)
    assert a.shape == (6, 4, 2, 2)
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    # Definition check against an explicit sum over parameters of d f(x) d f(y).
    grads = []
    for point in torch.cat([x, y]):
        out = model(point[None])[0, 0]
        grads.append(
            torch.cat([g.flatten() for g in torch.autograd.grad(out, list(model.parameters()))])
        )
    g = torch.stack(grads)
    torch.testing.assert_close(a[..., 0, 0], g[:6] @ g[6:].T, rtol=1e-10, atol=1e-12)


def test_wide_network_kernel_is_theta_times_identity_on_outputs() -> None:
    """Thm. 1: Theta -> Theta_inf (x) Id_{n_L}: off-diagonal output blocks vanish, diagonal ones
    agree.

    beta = 1, so that a missing beta^2 cannot hide in the tolerance: a Theta_inf without the last
    layer's beta^2 is off by exactly 1 in every entry, and the tolerance (0.06 max |Theta_inf|, the
    O(1/sqrt(width)) fluctuations) is checked to be below half of that.
    """
    beta = 1.0
    net = NTKMLP([3, 4096, 4096, 2], beta=beta, dtype=torch.float64, generator=generator(8))
    x = points(4, 3, 9)
    k = empirical_ntk(net, x, output_axes=True)
    limit = ntk(x, depth=3, beta=beta)
    tolerance = 0.06 * limit.abs().max()
    assert tolerance < 0.5 * beta**2
    assert (k[..., 0, 1]).abs().max() < tolerance
    for a in range(2):
        assert (k[..., a, a] - limit).abs().max() < tolerance  # O(1/sqrt(width)) fluctuations


def test_ensemble_kernels_match_members_built_alone() -> None:
    """An ensemble's kernels are those of its members (batched, not mixed)."""
    ens = NTKMLP([3, 32, 32, 1], ensemble=3, dtype=torch.float64, generator=generator(10))
    x = points(5, 3, 11)
    k = empirical_ntk(ens, x)
    assert k.shape == (3, 5, 5)
    for e in range(3):
        single = NTKMLP([3, 32, 32, 1], dtype=torch.float64)
        with torch.no_grad():
            for ws, wb in zip(single.weights, ens.weights):
                ws.copy_(wb[e])
            for bs, bb in zip(single.biases, ens.biases):
                bs.copy_(bb[e])
        torch.testing.assert_close(k[e], empirical_ntk(single, x, method="jacobian"))


def test_cpu_points_are_moved_to_the_model_on_the_gpu(gpu: torch.device) -> None:
    """Points given on the CPU to a network on CUDA: the kernel is computed there, and equals the
    CPU network's kernel to float64 round-off, for every method."""
    net = NTKMLP([3, 64, 1], dtype=torch.float64, generator=generator(28))
    x = points(4, 3, 29)
    for method in ("structured", "jacobian", "ntvp"):
        k = empirical_ntk(copy.deepcopy(net).to(gpu), x, method=method)
        assert k.device.type == gpu.type
        torch.testing.assert_close(
            k.cpu(), empirical_ntk(net, x, method=method), rtol=1e-10, atol=1e-12
        )


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda net: empirical_ntk(net, torch.ones(2, 3), method="fast"), "unknown method"),
        (lambda net: empirical_ntk(net, torch.ones(2, 4)), "n_0"),
        (
            lambda net: empirical_ntk(net, torch.ones(2, 3), torch.ones(2, 5)),
            "same feature dimension",
        ),
        (lambda net: empirical_ntk(net, torch.tensor([[1.0, float("inf"), 0.0]])), "non-finite"),
        (
            lambda net: empirical_ntk(nn.Linear(3, 1), torch.ones(2, 3), method="structured"),
            "needs an NTKMLP",
        ),
        (
            lambda net: empirical_ntk(
                NTKMLP([3, 4, 1], ensemble=2), torch.ones(2, 3), method="jacobian"
            ),
            "ensemble",
        ),
    ],
)
def test_bad_input_raises_a_clear_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(NTKMLP([3, 8, 1]))


# ------------------------------------------------ exact closed forms, trainable parameters, dtypes


def _hand_jacobian(net: NTKMLP, x: torch.Tensor, output: int) -> np.ndarray:
    """d f_output / d theta for every parameter of a depth-1 or depth-2 NTKMLP, derived by hand.

    NTK parametrisation: h = W^(0) x / sqrt(n_0) + beta b^(0), f = W^(1) sigma(h) / sqrt(n_1) + beta
    b^(1); standard (Remark 1): the same without the factors 1/sqrt(n_l) and beta. Rows are points,
    columns the parameters (W^(0), b^(0)[, W^(1), b^(1)]), so Theta = J J^T sums over the
    parameters.
    """
    ntk_param = net.parametrization == "ntk"
    beta = net.beta if ntk_param else 1.0
    scale = [1 / math.sqrt(n) if ntk_param else 1.0 for n in net.widths[:-1]]
    xs = x.numpy()
    w = [p.detach().numpy() for p in net.weights]
    b = [p.detach().numpy() for p in net.biases]
    n = xs.shape[0]
    if net.depth == 1:
        d_w0 = np.zeros((n,) + w[0].shape)
        d_w0[:, output, :] = scale[0] * xs
        d_b0 = np.zeros((n,) + b[0].shape)
        d_b0[:, output] = beta
        return np.concatenate([d_w0.reshape(n, -1), d_b0], axis=1)
    h = scale[0] * xs @ w[0].T + beta * b[0]
    if net.act.name == "relu":
        a, da = np.maximum(h, 0.0), (h > 0).astype(float)
    else:  # tanh
        a, da = np.tanh(h), 1.0 - np.tanh(h) ** 2
    back = scale[1] * w[1][output] * da  # d f / d h, (N, n_1)
    d_w0 = back[:, :, None] * (scale[0] * xs)[:, None, :]
    d_b0 = back * beta
    d_w1 = np.zeros((n,) + w[1].shape)
    d_w1[:, output, :] = scale[1] * a
    d_b1 = np.zeros((n,) + b[1].shape)
    d_b1[:, output] = beta
    return np.concatenate([d_w0.reshape(n, -1), d_b0, d_w1.reshape(n, -1), d_b1], axis=1)


@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
def test_depth_one_kernel_is_exactly_the_linear_kernel_plus_the_bias_term(
    parametrization: str,
) -> None:
    """Depth 1: Theta(x, x') = x.x'/n_0 + beta^2 (Theta^(1) of the paper) in the NTK
    parametrisation, x.x' + 1 in the standard one, at every width: checked to round-off, far below
    the beta^2 = 0.01 term."""
    net = NTKMLP(
        [4, 2],
        parametrization=parametrization,
        beta=0.1,
        dtype=torch.float64,
        generator=generator(12),
    )
    x, y = points(5, 4, 13), points(3, 4, 14)
    expected = x @ y.T / 4 + 0.01 if parametrization == "ntk" else x @ y.T + 1.0
    eye = torch.eye(2, dtype=torch.float64)
    for method in ("structured", "jacobian", "ntvp"):
        torch.testing.assert_close(
            empirical_ntk(net, x, y, method=method), expected, rtol=1e-13, atol=0
        )
        full = empirical_ntk(net, x, y, method=method, output_axes=True)
        torch.testing.assert_close(full, expected[..., None, None] * eye, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_depth_two_kernel_is_the_sum_over_parameters_derived_by_hand(
    parametrization: str, activation: str
) -> None:
    """Depth 2: Theta(x, x') = sum over W^(0), b^(0), W^(1), b^(1) of d f(x) d f(x'), each gradient
    written out by hand (see _hand_jacobian): exact to round-off for both parametrisations."""
    net = NTKMLP(
        [3, 40, 2],
        activation,
        beta=0.1,
        parametrization=parametrization,
        dtype=torch.float64,
        generator=generator(15),
    )
    x, y = points(6, 3, 16), points(4, 3, 17)
    for a in range(2):
        jx, jy = _hand_jacobian(net, x, a), _hand_jacobian(net, y, a)
        expected = torch.as_tensor(jx @ jy.T)
        # what is left without the hand-derived sum over W^(0), b^(0), W^(1) is the last bias's
        # term: beta^2 (NTK) or 1 (standard) in every entry, to round-off
        without = torch.as_tensor(jx[:, :-2] @ jy[:, :-2].T)
        bias = torch.full_like(without, 0.01 if parametrization == "ntk" else 1.0)
        for method in ("structured", "jacobian", "ntvp"):
            full = empirical_ntk(net, x, y, method=method, output_axes=True)
            torch.testing.assert_close(full[..., a, a], expected, rtol=1e-12, atol=1e-14)
            torch.testing.assert_close(full[..., a, a] - without, bias, rtol=0, atol=1e-12)
        cross = _hand_jacobian(net, x, 0) @ _hand_jacobian(net, y, 1).T
        torch.testing.assert_close(full[..., 0, 1], torch.as_tensor(cross), rtol=1e-12, atol=1e-13)


def _kernel_by_autograd(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """sum over the parameters with requires_grad of d f(x) d f(y), gradient by gradient (first
    output)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    grads = []
    for point in torch.cat([x, y]):
        out = model(point[None]).reshape(-1)[0]
        grads.append(torch.cat([g.flatten() for g in torch.autograd.grad(out, trainable)]))
    g = torch.stack(grads)
    return g[: len(x)] @ g[len(x) :].T


def test_frozen_parameters_do_not_count() -> None:
    """Only trainable parameters enter Theta: freeze W^(0) and b^(1) and every method drops their
    terms."""
    net = NTKMLP([3, 24, 16, 1], "tanh", dtype=torch.float64, generator=generator(18))
    x, y = points(5, 3, 19), points(4, 3, 20)
    full = empirical_ntk(net, x, y)
    net.weights[0].requires_grad_(False)
    net.biases[1].requires_grad_(False)
    expected = _kernel_by_autograd(net, x, y)
    assert float((full - expected).abs().min()) > 1e-3  # the frozen terms were not negligible
    for method in ("structured", "jacobian", "ntvp"):
        torch.testing.assert_close(
            empirical_ntk(net, x, y, method=method), expected, rtol=1e-11, atol=1e-13
        )
    # with every weight matrix frozen only the biases are left: beta^2 (1 + back-propagated terms)
    for w in net.weights:
        w.requires_grad_(False)
    torch.testing.assert_close(
        empirical_ntk(net, x, y), _kernel_by_autograd(net, x, y), rtol=1e-11, atol=1e-13
    )


@pytest.mark.parametrize("base", ["ntkmlp", "sequential"])
def test_linearized_model_has_the_kernel_of_the_network(base: str) -> None:
    """Linearized(net) trains only theta - theta_0, whose Jacobian is J(theta_0): the same kernel as
    net (the frozen copy theta_0 must not be counted a second time)."""
    if base == "ntkmlp":
        net = NTKMLP([3, 32, 16, 2], dtype=torch.float64, generator=generator(21))
    else:
        with seeded(21):
            net = nn.Sequential(nn.Linear(3, 32), nn.Tanh(), nn.Linear(32, 2)).double()
    x, y = points(5, 3, 22), points(3, 3, 23)
    expected = empirical_ntk(net, x, y, method="jacobian", output_axes=True)
    lin = Linearized(net)
    for method in ("jacobian", "ntvp"):
        torch.testing.assert_close(
            empirical_ntk(lin, x, y, method=method, output_axes=True),
            expected,
            rtol=1e-12,
            atol=1e-13,
        )


def test_float32_kernel_matches_float64_to_single_precision() -> None:
    """The same network in float32 and float64: kernels agree to float32 round-off (relative
    1e-5)."""
    net64 = NTKMLP([5, 256, 256, 2], dtype=torch.float64, generator=generator(24))
    net32 = copy.deepcopy(net64).float()
    x = points(10, 5, 25)
    for method in ("structured", "jacobian", "ntvp"):
        k64 = empirical_ntk(net64, x, method=method)
        k32 = empirical_ntk(net32, x, method=method)
        assert k32.dtype == torch.float32 and k64.dtype == torch.float64
        # ~ sqrt(width) eps32 relative accumulation in the Gram products: 1e-5 is a few times that
        assert float((k32.double() - k64).abs().max()) <= 1e-5 * float(k64.abs().max())


def test_integer_points_are_cast_to_the_model_dtype() -> None:
    """Integer points are accepted and mean the same numbers in the model's dtype."""
    net = NTKMLP([3, 16, 1], dtype=torch.float64, generator=generator(26))
    xi = torch.randint(-3, 4, (5, 3), generator=generator(27))
    for method in ("structured", "jacobian"):
        k = empirical_ntk(net, xi, method=method)
        assert k.dtype == torch.float64
        assert torch.equal(k, empirical_ntk(net, xi.double(), method=method))
    assert torch.equal(empirical_ntk(net, xi.tolist()), empirical_ntk(net, xi.double()))
