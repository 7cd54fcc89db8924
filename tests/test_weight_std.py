"""weight_std (sigma_w, neural-tangents' W_std; issue 22, item 8): the network multiplies every
W^(l) by sigma_w and the limits carry sigma_w^2, with the closed forms of relu and erf kept.

Checked against what does not share the code: ReLU's homogeneity (a closed-form identity), erf's
quadrature path against its arcsine closed form, the depth-1 network whose tangent kernel is exact
at any width, and Monte Carlo over finite networks with a tolerance in standard errors."""

import math

import pytest
import torch

from ntk_course import NTKCNN, NTKMLP, Architecture, ConvArchitecture, empirical_ntk, nngp, ntk
from ntk_course.conv import conv_kernels


def _points() -> torch.Tensor:
    return torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("s", [0.5, 1.7])
def test_relu_is_homogeneous_in_sigma_w(s: float) -> None:
    """With beta = 0 each layer multiplies Sigma and Theta by sigma_w^2 (ReLU is 1-homogeneous,
    its derivative 0-homogeneous), so Theta and Sigma scale by sigma_w^(2L)."""
    x, depth = _points(), 4
    scale = s ** (2 * depth)
    torch.testing.assert_close(
        ntk(x, depth=depth, beta=0.0, weight_std=s),
        scale * ntk(x, depth=depth, beta=0.0),
        rtol=1e-12,
        atol=0,
    )
    torch.testing.assert_close(
        nngp(x, depth=depth, beta=0.0, weight_std=s),
        scale * nngp(x, depth=depth, beta=0.0),
        rtol=1e-12,
        atol=0,
    )


def test_erf_closed_form_agrees_with_quadrature_at_another_sigma_w() -> None:
    x, kw = _points(), {"depth": 3, "beta": 0.3, "weight_std": 1.6}
    closed = ntk(x, activation="erf", **kw)
    numeric = ntk(x, activation=lambda z: torch.erf(z), **kw)
    torch.testing.assert_close(numeric, closed, rtol=1e-9, atol=0)
    assert not torch.allclose(closed, ntk(x, activation="erf", depth=3, beta=0.3), rtol=1e-3)


@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
def test_the_depth_one_network_has_sigma_w_squared_in_its_kernel(parametrization: str) -> None:
    """A linear network: its NNGP is exact at any width, Var f(x) = sigma_w^2 |x|^2 / n_0 + beta^2,
    here over 20,000 draws (the sample variance's relative standard error is sqrt(2/20,000))."""
    x = _points()
    net = NTKMLP(
        [4, 1],
        beta=0.3,
        weight_std=2.0,
        parametrization=parametrization,
        ensemble=20_000,
        dtype=torch.float64,
        generator=torch.Generator().manual_seed(0),
    )
    with torch.no_grad():
        out = net(x)[..., 0]  # (E, N)
    var = out.var(0)
    expected = 4.0 * (x * x).sum(1) / 4 + 0.09
    assert ((var / expected - 1).abs() < 5 * math.sqrt(2 / 20_000)).all()
    if parametrization == "ntk":  # Theta = Sigma^(1) exactly, for each network
        theta = empirical_ntk(net, x)
        torch.testing.assert_close(theta[0], 4.0 * x @ x.T / 4 + 0.09, rtol=1e-12, atol=1e-12)


def test_wide_networks_approach_the_limit_with_sigma_w() -> None:
    """Theorem 1 with sigma_w = 1.5: the mean empirical NTK of 64 erf networks of width 1,024
    is within 4 standard errors (over the networks) plus the O(1/n) bias bound 0.02 of the limit;
    the limit without sigma_w is far outside (power: it differs by more than 30 %)."""
    x = _points()
    arch = Architecture(depth=3, activation="erf", beta=0.2, weight_std=1.5)
    net = arch.network(
        4, 1024, ensemble=64, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    theta = empirical_ntk(net, x)  # (E, N, N)
    mean, se = theta.mean(0), theta.std(0) / math.sqrt(theta.shape[0])
    limit = arch.ntk(x)
    assert ((mean - limit).abs() <= 4 * se + 0.02 * limit.abs()).all()
    wrong = arch.replace(weight_std=1.0).ntk(x)
    assert ((wrong - limit).abs() > 0.3 * limit.abs()).any()


def test_bad_sigma_w_is_refused_with_a_clear_error() -> None:
    for bad in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="weight_std"):
            Architecture(depth=2, weight_std=bad)
        with pytest.raises(ValueError, match="weight_std"):
            ntk(_points(), depth=2, weight_std=bad)


# The convolutional kernels (ntk_course.conv) and the finite CNN take sigma_w the same way.


def _images(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(3, 2, 5, 5, dtype=torch.float64, generator=g)


@pytest.mark.parametrize("readout", ["flatten", "gap"])
def test_the_relu_cntk_is_homogeneous_in_sigma_w(readout: str) -> None:
    """depth convolutions and the readout: depth + 1 weight layers, each multiplying ReLU's
    Sigma and Theta by sigma_w^2 when beta = 0."""
    x, depth, s = _images(), 2, 1.6
    arch = ConvArchitecture(depth, 3, "same", readout, "relu", beta=0.0)
    sigma, theta = arch.replace(weight_std=s).kernels(x)
    base_sigma, base_theta = arch.kernels(x)
    scale = s ** (2 * (depth + 1))
    torch.testing.assert_close(sigma, scale * base_sigma, rtol=1e-12, atol=0)
    torch.testing.assert_close(theta, scale * base_theta, rtol=1e-12, atol=0)


@pytest.mark.parametrize("activation", ["erf", "tanh"])
def test_a_one_pixel_cnn_is_the_mlp_at_any_sigma_w(activation: str) -> None:
    """A 1 x 1 image with a 1 x 1 filter is the MLP of depth + 1 layers (a different code path:
    ntk_course.kernels; tanh by another quadrature there, hence 1e-10), at sigma_w = 1.4 and
    beta = 0.3; a dropped sigma_w^2 would be off by a factor near 2."""
    x = torch.randn(5, 3, 1, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    conv = ConvArchitecture(2, 1, "same", "gap", activation, beta=0.3, weight_std=1.4)
    mlp = Architecture(3, activation, beta=0.3, weight_std=1.4)
    sigma, theta = conv.kernels(x)
    torch.testing.assert_close(sigma, mlp.nngp(x.flatten(1)), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(theta, mlp.ntk(x.flatten(1)), rtol=1e-10, atol=1e-12)


def test_one_layer_cnns_with_sigma_w_have_the_limit_as_mean_covariance() -> None:
    """Depth 1 (one convolution and the readout): the output covariance over initialisations is
    exactly the limit at any channel count. 20,000 networks of 8 channels, erf, sigma_w = 1.5:
    the mean within 4 standard errors, while the sigma_w = 1 limit is far outside it."""
    x = _images(seed=3)
    arch = ConvArchitecture(1, 3, "same", "gap", "erf", beta=0.3, weight_std=1.5)
    net = arch.network((2, 5, 5), 8, ensemble=20000, generator=torch.Generator().manual_seed(4))
    f = net(x.float())[..., 0].double()
    products = f[:, :, None] * f[:, None, :]
    mean, se = products.mean(0), products.std(0) / products.shape[0] ** 0.5
    assert bool(((mean - arch.nngp(x)).abs() <= 4 * se).all()), (mean, arch.nngp(x), se)
    assert bool(((mean - arch.replace(weight_std=1.0).nngp(x)).abs() > 8 * se).any())


def test_conv_sigma_w_refused_when_not_positive() -> None:
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="weight_std"):
            ConvArchitecture(1, weight_std=bad)
        with pytest.raises(ValueError, match="weight_std"):
            conv_kernels(_images(), depth=1, weight_std=bad)
        with pytest.raises(ValueError, match="weight_std"):
            NTKCNN((2, 5, 5), 4, 1, weight_std=bad)
