"""The convolutional NNGP and NTK (ntk_course.conv) against references no one here wrote.

- neural-tangents 0.6.5 (jax 0.4.26, float64): stax.Conv/Relu/Erf/Gelu/Flatten/GlobalAvgPool/Dense,
  computed once by tests/data/make_conv_reference.py and stored in tests/data/conv_reference.npz
  (this file never imports jax);
- the fully connected kernels: a 1 x 1 image with a 1 x 1 filter is an MLP of depth + 1 layers;
- Monte Carlo over finite CNNs (ntk_course.NTKCNN): with one convolutional layer the expectation
  over the initialisation of the output covariance and of the empirical NTK is the limit at every
  width (the pre-activations of the first layer are exactly Gaussian), so the tolerance is 4
  standard errors of the sample; with two, the finite width adds an O(1/n) bias (bound stated).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ntk_course import Architecture, empirical_ntk
from ntk_course.cnn import NTKCNN
from ntk_course.conv import conv_kernels
from ntk_course.conv_architecture import ConvArchitecture

REFERENCE = np.load(Path(__file__).parent / "data" / "conv_reference.npz", allow_pickle=False)
CASES = [str(c) for c in REFERENCE["cases"]]
N_X = {"a": 3, "b": 3, "g": 2}  # each stored input holds the images x, then the images y


def _case(i: int) -> tuple[torch.Tensor, int, dict]:
    name, act, depth, k, padding, readout, beta = CASES[i].split("|")
    images = torch.from_numpy(REFERENCE[f"x_{name}"])
    options = {
        "depth": int(depth),
        "filter_size": int(k),
        "padding": padding,
        "readout": readout,
        "activation": act,
        "beta": float(beta),
    }
    return images, N_X[name], options


def _identical(images: torch.Tensor) -> np.ndarray:
    flat = images.flatten(1)
    return (flat[:, None, :] == flat[None, :, :]).all(-1).numpy()


@pytest.mark.parametrize("i", range(len(CASES)), ids=CASES)
def test_matches_neural_tangents(i: int) -> None:
    """Every entry to 1e-10 (plus 4x the quadrature's own error estimate for gelu), x with x and
    x with y. At pairs of identical images neural-tangents forms the ReLU angle with arccos of a
    ratio that rounds to ~1 - 1e-16, an angle of ~1e-8 instead of 0: there its NTK is off by up
    to ~1e-8 relative (seen: 1.2e-9), and ours (angle exactly 0) is held to that bound."""
    images, n_x, options = _case(i)
    ref = {"nngp": REFERENCE[f"nngp_{i}"], "ntk": REFERENCE[f"ntk_{i}"]}
    full = conv_kernels(images, **options)
    cross = conv_kernels(images[:n_x], images[n_x:], **options)
    same = _identical(images)
    for kind in ("nngp", "ntk"):
        for got, want, twin in (
            (getattr(full, kind), ref[kind], same),
            (getattr(cross, kind), ref[kind][:n_x, n_x:], same[:n_x, n_x:]),
        ):
            got = got.numpy()
            tol = 1e-10 + 4 * max(full.error, cross.error) * np.abs(want)
            if options["activation"] == "relu" and kind == "ntk":
                tol = np.where(twin, 1e-8 * np.abs(want), tol)
            assert np.all(np.abs(got - want) <= tol), (kind, np.abs(got - want).max())


def test_the_reference_has_distinct_and_identical_pairs() -> None:
    """The comparison above would miss the arccos rounding if no pair of images were identical,
    and would test nothing beyond the diagonal if every pair were."""
    images, n_x, _ = _case(0)
    same = _identical(images)
    assert same[0, n_x + 1] and not same[0, 1] and same.sum() == images.shape[0] + 2
    assert {case.split("|")[1] for case in CASES} == {"relu", "erf", "gelu"}


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
@pytest.mark.parametrize("readout", ["flatten", "gap"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_one_pixel_and_one_by_one_filter_is_the_mlp(activation, readout, depth) -> None:
    x = torch.randn(6, 4, 1, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(depth))
    conv = ConvArchitecture(depth, 1, "valid", readout, activation, beta=0.4)
    mlp = Architecture(depth + 1, activation, beta=0.4)
    sigma, theta = conv.kernels(x)
    torch.testing.assert_close(sigma, mlp.nngp(x.flatten(1)), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(theta, mlp.ntk(x.flatten(1)), rtol=1e-11, atol=1e-12)


def _images(n: int = 3, c: int = 2, side: int = 5, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, side, side, dtype=torch.float64, generator=g)


def _within(sample: torch.Tensor, limit: torch.Tensor, bias: float = 0.0) -> None:
    """The sample mean over axis 0 within 4 of its standard errors (+ a bias bound) of limit."""
    mean = sample.mean(0)
    se = sample.std(0) / sample.shape[0] ** 0.5
    excess = (mean - limit).abs() - (4 * se + bias)
    assert bool((excess <= 0).all()), (mean, limit, se)


@pytest.mark.parametrize(
    "padding, readout, activation",
    [("same", "gap", "relu"), ("valid", "flatten", "erf"), ("same", "flatten", "relu")],
)
def test_monte_carlo_nngp_one_layer_is_exact_in_expectation(padding, readout, activation) -> None:
    x = _images()
    arch = ConvArchitecture(1, 3, padding, readout, activation, beta=0.3)
    net = arch.network((2, 5, 5), 8, ensemble=20000, generator=torch.Generator().manual_seed(1))
    f = net(x.float())[..., 0].double()  # (E, N)
    products = f[:, :, None] * f[:, None, :]
    _within(products, arch.nngp(x))


def test_monte_carlo_nngp_two_layers_within_the_finite_width_bias() -> None:
    """Depth 2 at n = 64 channels: the layer-2 covariance is a mean of n products, unbiased with
    variance <= 2 q^2 / n, and the bounded curvature of the erf kernel turns it into a bias of the
    output covariance below (max variance) / n, which the tolerance adds to 4 standard errors."""
    x = _images(seed=2)
    arch = ConvArchitecture(2, 3, "same", "gap", "erf", beta=0.3)
    n = 64
    net = arch.network((2, 5, 5), n, ensemble=3000, generator=torch.Generator().manual_seed(3))
    f = net(x.float())[..., 0].double()
    limit = arch.nngp(x)
    _within(f[:, :, None] * f[:, None, :], limit, bias=float(limit.diagonal().max()) / n)


@pytest.mark.parametrize("readout", ["gap", "flatten"])
def test_monte_carlo_ntk_one_layer_is_exact_in_expectation(readout) -> None:
    x = _images(seed=4)
    arch = ConvArchitecture(1, 3, "same", readout, "relu", beta=0.3)
    g = torch.Generator().manual_seed(5)
    sample = torch.stack(
        [
            empirical_ntk(arch.network((2, 5, 5), 32, generator=g), x.flatten(1), method="ntvp")
            for _ in range(40)
        ]
    ).double()
    _within(sample, arch.ntk(x))


def test_symmetric_positive_semidefinite_and_blocked_alike() -> None:
    x = _images(n=7, side=6, seed=6)
    arch = ConvArchitecture(2, 3, "same", "gap", "relu", beta=0.2)
    sigma, theta = arch.kernels(x)
    for k in (sigma, theta):
        assert torch.equal(k, k.T)
        assert float(torch.linalg.eigvalsh(k)[0]) > -1e-12 * float(k.abs().max())
    one_pair_blocks = arch.kernels(x, max_bytes=1)
    torch.testing.assert_close(one_pair_blocks[1], theta, rtol=1e-14, atol=1e-15)
    cross = arch.ntk(x[:3], x[3:])
    torch.testing.assert_close(cross, theta[:3, 3:], rtol=1e-14, atol=1e-15)


def test_even_filters_pad_the_extra_zero_after_as_the_network() -> None:
    """k = 2, 'same': the finite network pads after (as torch and lax); the kernel must agree."""
    x = _images(seed=7)
    arch = ConvArchitecture(1, 2, "same", "flatten", "relu", beta=0.0)
    net = arch.network((2, 5, 5), 4, ensemble=20000, generator=torch.Generator().manual_seed(8))
    f = net(x.float())[..., 0].double()
    _within(f[:, :, None] * f[:, None, :], arch.nngp(x))


def test_cuda_matches_the_cpu(gpu: torch.device) -> None:
    x = _images(n=5, seed=9)
    arch = ConvArchitecture(2, 3, "same", "gap", "erf")
    on_gpu = arch.ntk(x.to(gpu))
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), arch.ntk(x), rtol=1e-12, atol=1e-13)


def test_the_network_and_the_kernel_share_their_description() -> None:
    arch = ConvArchitecture(2, 3, "valid", "flatten", "erf", beta=0.2)
    net = arch.network((1, 6, 6), 5, n_out=3)
    assert isinstance(net, NTKCNN) and net.out_hw == (2, 2)
    assert net(torch.randn(4, 36)).shape == (4, 3)
    assert "erf CNN of depth 2" in str(arch) and arch.replace(depth=1).depth == 1


@pytest.mark.parametrize("readout, padding", [("gap", "same"), ("flatten", "valid")])
def test_an_ensemble_member_is_the_single_network_with_its_parameters(readout, padding) -> None:
    """The grouped convolutions of an ensemble compute each network alone; the Jacobian and the
    NTK-vector-product empirical NTKs of the CNN agree."""
    arch = ConvArchitecture(2, 3, padding, readout, "erf", beta=0.5)
    g = torch.Generator().manual_seed(10)
    many = arch.network((2, 6, 6), 4, n_out=2, ensemble=3, generator=g, dtype=torch.float64)
    x = torch.randn(5, 2, 6, 6, dtype=torch.float64, generator=g)
    out = many(x)
    for e in range(3):
        one = arch.network((2, 6, 6), 4, n_out=2, dtype=torch.float64)
        with torch.no_grad():
            for p, q in zip(one.parameters(), many.parameters()):
                p.copy_(q[e : e + 1])
        torch.testing.assert_close(one(x), out[e], rtol=1e-13, atol=1e-13)
    jac = empirical_ntk(one, x.flatten(1), method="jacobian")
    torch.testing.assert_close(
        jac, empirical_ntk(one, x.flatten(1), method="ntvp"), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: conv_kernels(torch.zeros(3, 5, 5), depth=1), r"shape \(N, C, H, W\)"),
        (lambda: conv_kernels(torch.zeros(2, 1, 4, 4), depth=2, padding="valid"), "does not fit"),
        (lambda: conv_kernels(torch.zeros(2, 1, 4, 4), depth=1, padding="full"), "unknown padding"),
        (lambda: conv_kernels(torch.zeros(2, 1, 4, 4), depth=1, readout="max"), "unknown readout"),
        (
            lambda: conv_kernels(torch.zeros(2, 1, 4, 4), torch.zeros(2, 2, 4, 4), depth=1),
            "same",
        ),
        (lambda: conv_kernels(torch.full((1, 1, 3, 3), np.nan), depth=1), "non-finite"),
        (lambda: conv_kernels(torch.zeros(1, 1, 3, 3), depth=0), "depth"),
        (lambda: ConvArchitecture(1, beta=-1.0), "beta"),
        (lambda: ConvArchitecture(1, activation="swish"), "unknown activation"),
        (lambda: ConvArchitecture(2, 4, "valid").network((1, 6, 6), 3), "does not fit"),
        (lambda: NTKCNN((1, 5, 5), 3, 1)(torch.zeros(2, 1, 4, 4)), r"input must have shape"),
    ],
)
def test_bad_input_is_refused(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call()
