"""One Architecture makes the finite network and its limits: checked against simulation and against
the loose-argument functions, for every parametrisation."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ntk_course import Architecture, empirical_ntk, nngp, ntk

ACTS = ["relu", "erf", "tanh"]


def _points(n: int, n0: int, seed: int) -> torch.Tensor:
    return torch.randn(n, n0, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("activation", ACTS)
def test_network_output_covariance_is_the_architectures_nngp(activation: str) -> None:
    """Prop. 1 through the one object: Cov[f(x), f(x')] of ``arch.network`` -> ``arch.nngp``.

    3,000 networks of width 200: the test allows 5 Monte Carlo standard errors plus an O(1/width)
    bias of 3/width; a network whose beta or depth disagreed with the kernel's (beta 0.1 vs 0.5
    moves Sigma by beta^2 differences of 0.24, about 20 standard errors here) would fail it."""
    arch = Architecture(depth=3, activation=activation, beta=0.5)
    x = _points(4, 3, 0)
    width, samples = 200, 3000
    net = arch.network(3, width, ensemble=samples, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        f = net(x.float())[..., 0].double()
    products = f[:, :, None] * f[:, None, :]
    estimate, stderr = products.mean(0), products.std(0) / math.sqrt(samples)
    sigma = arch.nngp(x)
    assert torch.all((estimate - sigma).abs() <= 5 * stderr + 3.0 / width * sigma.abs().max())


@pytest.mark.parametrize("activation", ACTS)
def test_network_tangent_kernel_converges_to_the_architectures_ntk(activation: str) -> None:
    """Thm. 1 through the one object: the empirical NTK of wide ``arch.network`` -> ``arch.ntk``."""
    arch = Architecture(depth=3, activation=activation, beta=0.3)
    x = _points(5, 4, 2)
    net = arch.network(
        4, 2048, ensemble=8, dtype=torch.float64, generator=torch.Generator().manual_seed(3)
    )
    emp = empirical_ntk(net, x)
    mean, stderr = emp.mean(0), emp.std(0) / math.sqrt(emp.shape[0])
    theta = arch.ntk(x)
    assert torch.all((mean - theta).abs() <= 5 * stderr + 2e-3 * theta.abs().max())


def test_methods_are_the_loose_argument_functions() -> None:
    arch = Architecture(depth=4, activation="erf", beta=0.7)
    x, y = _points(6, 3, 4), _points(5, 3, 5)
    options = dict(depth=4, activation="erf", beta=0.7)
    assert torch.equal(arch.nngp(x, y), nngp(x, y, **options))
    assert torch.equal(arch.ntk(x, y), ntk(x, y, **options))
    Sigma, Theta = arch.kernels(x, y)
    assert torch.equal(Sigma, nngp(x, y, **options)) and torch.equal(Theta, ntk(x, y, **options))
    layers = arch.layers(x)
    assert len(layers.Theta) == 4 and torch.equal(layers.Theta[-1], ntk(x, **options))


def test_network_widths_and_settings_follow_the_architecture() -> None:
    arch = Architecture(depth=3, activation="tanh", beta=0.2, parametrization="standard")
    net = arch.network(7, 16, 2)
    assert net.widths == [7, 16, 16, 2] == arch.widths(7, 16, 2)
    assert (net.act.name, net.beta, net.parametrization, net.depth) == ("tanh", 0.2, "standard", 3)
    assert Architecture(depth=1).widths(3, 99) == [3, 1]


def test_same_generator_gives_the_same_network() -> None:
    arch = Architecture(depth=2)
    a, b = (arch.network(3, 8, generator=torch.Generator().manual_seed(0)) for _ in range(2))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_standard_parametrisation_shares_the_nngp_but_has_no_ntk_limit() -> None:
    x = _points(3, 2, 6)
    standard, ntk_param = Architecture(3, parametrization="standard"), Architecture(3)
    assert torch.equal(standard.nngp(x), ntk_param.nngp(x))
    with pytest.raises(ValueError, match="grows like the width"):
        standard.ntk(x)
    # ... and indeed its empirical NTK grows about linearly with the width (x8 width, about x8
    # kernel).
    k = [
        empirical_ntk(
            standard.network(2, n, ensemble=4, generator=torch.Generator().manual_seed(n)),
            x.float(),
        )
        .diagonal(dim1=-2, dim2=-1)
        .mean()
        for n in (64, 512)
    ]
    assert 5.0 < float(k[1] / k[0]) < 11.0


def test_mup_has_neither_limit_and_its_scaled_kernel_is_the_ntk_networks() -> None:
    """muP: f_muP = f_NTK / sqrt(n) on the same draws and lr_scale * Theta_muP = Theta_NTK (Jacobian
    method, independent of the structured formula); no Gaussian or kernel limit is offered."""
    x = _points(4, 3, 7)
    mup, ntk_param = Architecture(3, parametrization="mup"), Architecture(3)
    a = mup.network(3, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    b = ntk_param.network(3, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert a.lr_scale == 32 and b.lr_scale == 1
    torch.testing.assert_close(a(x), b(x) / math.sqrt(32), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(
        a.lr_scale * empirical_ntk(a, x, method="jacobian"),
        empirical_ntk(b, x),
        rtol=1e-10,
        atol=1e-14,
    )
    for method in (mup.nngp, mup.ntk, mup.kernels, mup.layers):
        with pytest.raises(ValueError, match="muP network has no infinite-width"):
            method(x)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(depth=0), "depth must be an integer >= 1"),
        (dict(depth=2.5), "depth must be an integer >= 1"),
        (dict(depth=2, beta=-0.1), "beta must be a finite number >= 0"),
        (dict(depth=2, beta=float("nan")), "beta must be a finite number >= 0"),
        (dict(depth=2, activation="swish"), "unknown activation"),
        (dict(depth=2, parametrization="lecun"), "unknown parametrization 'lecun'"),
        (dict(depth=1, parametrization="mup"), "muP network needs a hidden layer"),
    ],
)
def test_bad_architectures_are_refused_at_once(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Architecture(**kwargs)


def test_replace_validates_again_and_bad_sizes_are_refused() -> None:
    arch = Architecture(depth=2)
    assert arch.replace(depth=5).depth == 5 and arch.depth == 2
    with pytest.raises(ValueError, match="depth must be an integer >= 1"):
        arch.replace(depth=0)
    with pytest.raises(ValueError, match="width must be an integer >= 1"):
        arch.network(3, 0)
    with pytest.raises(ValueError, match="n_out must be an integer >= 1"):
        arch.widths(3, 4, 0)


@settings(max_examples=25)
@given(
    depth=st.integers(1, 5),
    activation=st.sampled_from(["relu", "erf", "tanh", "gelu", "identity"]),
    beta=st.floats(0.0, 2.0),
    seed=st.integers(0, 10_000),
)
def test_kernels_of_random_architectures_are_symmetric_and_psd(
    depth, activation, beta, seed
) -> None:
    """For any architecture, Sigma and Theta on random points are exactly symmetric and PSD (up to
    round-off relative to their largest eigenvalue)."""
    x = _points(12, 3, seed)
    Sigma, Theta = Architecture(depth, activation, beta).kernels(x)
    for k in (Sigma, Theta):
        assert torch.equal(k, k.T)
        eig = torch.linalg.eigvalsh(k)
        assert float(eig[0]) >= -1e-10 * float(eig[-1])


def test_str_names_the_architecture() -> None:
    assert str(Architecture(3, "erf", 0.25, "standard")) == (
        "erf network of depth 3, beta = 0.25, standard parametrisation"
    )
