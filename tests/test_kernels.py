"""Tests of ntk_course.kernels: Proposition 1 and Theorem 1 against wide random networks, and the
kernels' numerical properties (the Gaussian expectations themselves: tests/test_activations.py)."""

import math

import numpy as np
import pytest
import torch
from conftest import generator, points
from hypothesis import given, settings
from hypothesis import strategies as st

from ntk_course import limiting_kernels, nngp, ntk
from ntk_course.empirical import empirical_ntk
from ntk_course.mlp import NTKMLP

ACTS = ["relu", "erf", "tanh"]


@pytest.mark.parametrize("activation", ACTS)
def test_output_covariance_of_wide_networks_is_sigma(activation: str) -> None:
    """Prop. 1: across initialisations, Cov[f(x), f(x')] -> Sigma^(L)(x, x').

    beta = 1, so the bias terms are not lost in the tolerance: Sigma without the last layer's
    beta^2 is off by 1 in every entry, and the band is checked to be narrower than that.
    """
    beta = 1.0
    x = points(4, 3, 0)
    width, samples = 200, 3000
    net = NTKMLP(
        [3, width, width, 1], activation, beta=beta, ensemble=samples, generator=generator(1)
    )
    with torch.no_grad():
        f = net(x.float())[..., 0].double()  # (samples, N)
    products = f[:, :, None] * f[:, None, :]
    estimate, stderr = products.mean(0), products.std(0) / math.sqrt(samples)
    sigma = nngp(x, depth=3, activation=activation, beta=beta)
    # 5 standard errors of the Monte Carlo mean, plus the O(1/width) finite-width bias.
    band = 5 * stderr + 3.0 / width * sigma.abs().max()
    assert torch.all((estimate - sigma).abs() <= band)
    assert band.max() < 0.5 * beta**2  # a Sigma missing one beta^2 would fail
    assert torch.any((estimate - nngp(x, depth=3, activation=activation, beta=0.0)).abs() > band)


@pytest.mark.parametrize("activation", ACTS)
def test_empirical_ntk_of_wide_networks_converges_to_theta(activation: str) -> None:
    """Thm. 1: the empirical NTK at initialisation concentrates on Theta_infinity.

    beta = 1, so that a missing beta^2 cannot hide in the tolerance: Theta^(L) without the last
    layer's beta^2 (in Sigma^(L)) is off by exactly 1 in every entry, and the band (5 standard
    errors plus 2e-3 of max |Theta|) is checked to be narrower than half that; the kernel of a
    recursion without any beta^2 (``beta=0``) is checked to fall outside it.
    """
    beta = 1.0
    x = points(5, 4, 2)
    theta = ntk(x, depth=3, activation=activation, beta=beta)
    net = NTKMLP(
        [4, 2048, 2048, 1],
        activation,
        beta=beta,
        ensemble=8,
        dtype=torch.float64,
        generator=generator(3),
    )
    emp = empirical_ntk(net, x)
    mean, stderr = emp.mean(0), emp.std(0) / math.sqrt(emp.shape[0])
    band = 5 * stderr + 2e-3 * theta.abs().max()
    assert torch.all((mean - theta).abs() <= band)
    assert band.max() < 0.5 * beta**2
    assert torch.any((mean - ntk(x, depth=3, activation=activation, beta=0.0)).abs() > band)


def test_ntk_fluctuations_shrink_like_inverse_sqrt_width() -> None:
    """The spread of Theta over initialisations is O(1/sqrt(width)): x16 width -> /4 spread."""
    x = points(4, 3, 4)
    spread = []
    for width in (64, 1024):
        net = NTKMLP(
            [3, width, width, 1], ensemble=64, dtype=torch.float64, generator=generator(width)
        )
        spread.append(empirical_ntk(net, x).std(0).mean().item())
    assert 2.8 < spread[0] / spread[1] < 5.5


def test_depth_one_kernels_are_the_linear_kernel() -> None:
    """Theta^(1) = Sigma^(1) = x.y / n_0 + beta^2 (the paper's base case)."""
    x, y = points(5, 3, 5), points(4, 3, 6)
    expected = x @ y.T / 3 + 0.3**2
    for k in limiting_kernels(x, y, depth=1, beta=0.3):
        torch.testing.assert_close(k, expected)


def test_user_callable_with_autograd_matches_named_activation() -> None:
    """A user's callable (derivative by autograd) gives the kernel of the built-in tanh."""
    x = points(6, 3, 8)
    mine = ntk(x, depth=3, activation=lambda z: torch.tanh(z))
    builtin = ntk(x, depth=3, activation="tanh")
    torch.testing.assert_close(mine, builtin, rtol=1e-10, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 12),
    n0=st.integers(1, 6),
    depth=st.integers(1, 6),
    beta=st.floats(0.0, 1.0),
    activation=st.sampled_from(["relu", "erf", "tanh", "gelu"]),
    seed=st.integers(0, 2**31 - 1),
    scale=st.floats(1e-3, 1.0),
)
def test_kernels_are_symmetric_and_positive_semidefinite(
    n, n0, depth, beta, activation, seed, scale
) -> None:
    """Theta and Sigma are covariances (of gradients and outputs): symmetric PSD for any inputs.

    ReLU and erf (closed forms) are tried up to |x|^2 / n_0 = 10^4, the quadrature activations up to
    |x|^2 / n_0 = 100 (their rule is accurate to ~1e-10 there).
    """
    x = points(n, n0, seed)
    x = x / x.norm(dim=1, keepdim=True).clamp(min=1e-12) * math.sqrt(n0) * scale
    closed = activation in ("relu", "erf")
    x = x * (100.0 if closed else 10.0)
    for k in limiting_kernels(x, depth=depth, activation=activation, beta=beta):
        assert torch.equal(k, k.T)
        eig = torch.linalg.eigvalsh(k)
        # Nearly parallel inputs fix the angle between them only to sqrt(machine eps) ~ 1.5e-8
        # (it comes from sqrt(q q' - c^2)), so PSD holds up to that relative error.
        assert eig.min() >= -1e-7 * max(eig.max().item(), 1e-300)


def test_blocking_does_not_change_the_result() -> None:
    x, y = points(37, 5, 9), points(23, 5, 10)
    full = ntk(x, y, depth=4, block=1000)
    for block in (1, 7, 16):
        torch.testing.assert_close(ntk(x, y, depth=4, block=block), full, rtol=1e-12, atol=1e-14)
    # y = x takes the symmetric path (identical points keep their exact variances), so only the
    # block size differs here: round-off.
    torch.testing.assert_close(ntk(x, depth=4, block=8), ntk(x, x, depth=4), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
def test_degenerate_inputs_give_finite_kernels(activation: str) -> None:
    """A zero input, identical points and depth 50: finite, never NaN (atan2, not arccos)."""
    x = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1e-20, 0.0, 0.0]])
    for beta in (0.0, 0.1):
        for k in limiting_kernels(x, depth=50, activation=activation, beta=beta):
            assert torch.isfinite(k).all()
            # Identical points keep the exact variance, so their rows agree to round-off (they used
            # to differ by the sqrt(eps) amplification of the Gram product's round-off).
            torch.testing.assert_close(k[1], k[2], rtol=1e-12, atol=1e-14)


def test_relu_kernel_of_identical_points_is_the_diagonal() -> None:
    """At phi = 0 the arc-cosine formulas give E[relu(u)^2] = q/2 and E[step^2] = 1/2 exactly."""
    x = torch.tensor([[3.0, -1.0]])
    s, t = limiting_kernels(x, torch.cat([x, x]), depth=2, beta=0.0)
    q = (x * x).sum() / 2
    torch.testing.assert_close(s[0], torch.full((2,), q.item() / 2, dtype=torch.float64))
    torch.testing.assert_close(
        t[0], torch.full((2,), q.item() / 2 + q.item() / 2, dtype=torch.float64)
    )


def test_float32_points_give_a_float64_kernel_on_their_device(device: torch.device) -> None:
    """float32 points are cast to float64 first: the kernel is the float64 points' kernel to the
    last bits (a float32 computation cast afterwards would be off by ~1e-7 relative), on their
    device."""
    x = points(6, 3, 11, dtype=torch.float32).to(device)
    k = ntk(x, depth=3)
    assert k.dtype == torch.float64 and k.device == x.device
    torch.testing.assert_close(k, ntk(x.double(), depth=3), rtol=1e-14, atol=0)


def test_the_gpu_kernel_is_the_cpu_kernel(gpu: torch.device) -> None:
    """The same points on CUDA and on the CPU: the kernels agree to float64 round-off."""
    x = points(6, 3, 11)
    for k_gpu, k_cpu in zip(limiting_kernels(x.to(gpu), depth=3), limiting_kernels(x, depth=3)):
        assert k_gpu.device == x.to(gpu).device
        torch.testing.assert_close(k_gpu.cpu(), k_cpu, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(x=np.ones((3, 2)), y=np.ones((3, 4)), depth=2), "same feature dimension"),
        (dict(x=np.array([[1.0, np.nan]]), depth=2), "non-finite"),
        (dict(x=np.ones((3, 2)), depth=0), "depth must be an integer >= 1"),
        (dict(x=np.ones((3, 2)), depth=2.5), "depth must be an integer"),
        (dict(x=np.ones((3, 2)), depth=2, beta=-0.1), "beta must be a finite number >= 0"),
        (dict(x=np.ones((3, 2)), depth=2, activation="swish"), "expected one of"),
        (dict(x=np.ones((2, 3, 4)), depth=2), "shape \\(N, n_0\\)"),
    ],
)
def test_bad_input_raises_a_clear_value_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ntk(**kwargs)
