"""Proposition 1 by simulation: ntk_course.sampling and the pictures of the chapter on networks at
initialisation (ntk_course.chapters.initialisation)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from scipy import stats  # noqa: E402

from ntk_course import Architecture, nngp  # noqa: E402
from ntk_course.chapters.initialisation import ellipse, gaussian_density, plot_joint, plot_marginal  # noqa: E402
from ntk_course.datasets import circle_points  # noqa: E402
from ntk_course.sampling import monte_carlo_covariance, sample_layerwise, sample_outputs  # noqa: E402

TWO = Architecture(2)  # ReLU, beta = 0.1, one hidden layer


def test_shapes_device_reproducibility_and_chunking(device):
    x, _ = circle_points(5, device=device)
    f = sample_outputs(x, TWO, 8, 3, ensemble=7, seed=1)
    assert f.shape == (7, 5, 3) and f.device == x.device and f.dtype == torch.float32
    assert torch.equal(f, sample_outputs(x, TWO, 8, 3, ensemble=7, seed=1))
    assert not torch.equal(f, sample_outputs(x, TWO, 8, 3, ensemble=7, seed=2))
    # A budget of one network's parameters per chunk: seven ensembles of one, same law, other draws.
    one_by_one = sample_outputs(x, TWO, 8, 3, ensemble=7, seed=1, max_elements=1)
    assert one_by_one.shape == f.shape and bool(torch.isfinite(one_by_one).all())
    # The first chunk of one network is the first network of an unchunked draw of one.
    assert torch.equal(one_by_one[0], sample_outputs(x, TWO, 8, 3, ensemble=1, seed=1)[0])


def test_depth_two_relu_covariance_is_exact_at_any_width():
    # With one hidden layer the preactivations are exactly Gaussian, so E[f(x) f(x')] = Sigma^(2)
    # at every width (only the shape of the law depends on the width). 20000 networks: the
    # estimate must lie within 4.5 standard errors at all 36 distinct entries.
    x, _ = circle_points(8)
    f = sample_outputs(x, TWO, 3, ensemble=20000, seed=0)[..., 0]
    cov, stderr = monte_carlo_covariance(f)
    z = (cov - nngp(x, depth=2)) / stderr
    assert float(z.abs().max()) < 4.5
    # ... and the check has power: the depth-1 or depth-3 covariance is far off.
    for wrong in (nngp(x, depth=1), nngp(x, depth=3)):
        assert float(((cov - wrong) / stderr).abs().max()) > 10


def test_wide_network_is_gaussian_and_narrow_is_not():
    # Excess kurtosis of f(x) is 0 for the Gaussian limit; at width n it is O(1/n) (about 14/n for
    # depth 2, ReLU, beta = 0.1 on the unit circle). Its standard error with 20000 draws is ~0.035.
    x, _ = circle_points(1)
    kurt = {}
    for n in (2, 400):
        f = sample_outputs(x, TWO, n, ensemble=20000, seed=n)[:, 0, 0].double()
        kurt[n] = float((f**4).mean() / (f**2).mean() ** 2 - 3)
    assert kurt[2] > 3 and abs(kurt[400]) < 0.2


def test_layerwise_depth_two_covariance_is_exact_at_any_width():
    # Drawn layer by layer (no weights), a depth-2 ReLU network of width 3 has E[f f^T] = Sigma^(2)
    # exactly, like the networks themselves: within 4.5 standard errors of the closed form at all 36
    # distinct entries, while the depth-1 and depth-3 kernels are far off.
    x, _ = circle_points(8)
    f = sample_layerwise(x, TWO, 3, ensemble=20000, seed=0)
    assert f.shape == (20000, 8) and f.dtype == torch.float64
    cov, stderr = monte_carlo_covariance(f)
    assert float(((cov - nngp(x, depth=2)) / stderr).abs().max()) < 4.5
    for wrong in (nngp(x, depth=1), nngp(x, depth=3)):
        assert float(((cov - wrong) / stderr).abs().max()) > 10


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_layerwise_has_the_law_of_the_networks(activation):
    # A narrow deep network is far from Gaussian; the layer-by-layer draw must reproduce its law,
    # jointly at two inputs (the marginal and the difference), and tell it from a wider one.
    x = circle_points(6)[0][[1, 3]]
    arch = Architecture(4, activation)
    layerwise = sample_layerwise(x, arch, 3, ensemble=20000, seed=1)
    networks = sample_outputs(x, arch, 3, ensemble=20000, seed=2)[..., 0].double()
    for statistic in (lambda f: f[:, 0], lambda f: f[:, 0] - f[:, 1]):
        assert stats.ks_2samp(statistic(layerwise), statistic(networks)).pvalue > 1e-3
    wider = sample_layerwise(x, arch, 12, ensemble=20000, seed=3)
    assert stats.ks_2samp(wider[:, 0], networks[:, 0]).pvalue < 1e-6


def test_layerwise_depth_one_is_exactly_gaussian_and_reproducible():
    x, _ = circle_points(3)
    f = sample_layerwise(x, Architecture(1), 5, ensemble=20000, seed=4)
    assert torch.equal(f, sample_layerwise(x, Architecture(1), 5, ensemble=20000, seed=4))
    s = float(nngp(x[:1], depth=1))
    assert stats.kstest((f[:, 0] / math.sqrt(s)).numpy(), "norm").pvalue > 1e-3


def test_erf_covariance_matches_the_closed_form():
    x, _ = circle_points(6)
    f = sample_outputs(x, Architecture(3, "erf"), 256, ensemble=3000, seed=0)[..., 0]
    cov, stderr = monte_carlo_covariance(f)
    assert float(((cov - nngp(x, depth=3, activation="erf")) / stderr).abs().max()) < 4.5


def test_monte_carlo_covariance_standard_error():
    # For Gaussian draws Var(f_i f_j) = S_ii S_jj + S_ij^2 (Isserlis): the estimated standard error
    # must match sqrt of that over E within a few percent.
    gen = torch.Generator().manual_seed(0)
    s = torch.tensor([[1.0, 0.6], [0.6, 2.0]], dtype=torch.float64)
    f = torch.randn(100000, 2, generator=gen, dtype=torch.float64) @ torch.linalg.cholesky(s).T
    cov, stderr = monte_carlo_covariance(f)
    expected = torch.sqrt((torch.outer(s.diagonal(), s.diagonal()) + s**2) / f.shape[0])
    torch.testing.assert_close(stderr, expected, rtol=0.03, atol=0)
    assert float(((cov - s) / stderr).abs().max()) < 4.5


def test_ellipse_and_density():
    s = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    curve = ellipse(s, 2.0)
    quad = torch.einsum("ni,ij,nj->n", curve, torch.linalg.inv(s), curve)
    torch.testing.assert_close(quad, torch.full_like(quad, 4.0))
    u = torch.linspace(-20, 20, 40001, dtype=torch.float64)
    dens = gaussian_density(u, 3.0)
    assert math.isclose(float(torch.trapezoid(dens, u)), 1.0, rel_tol=1e-6)
    assert math.isclose(float(torch.trapezoid(dens * u**2, u)), 3.0, rel_tol=1e-6)


def test_plots_draw():
    x, _ = circle_points(4)
    f = sample_outputs(x, TWO, 16, ensemble=50)[..., 0]
    fig, (ax, ax2) = plt.subplots(1, 2)
    plot_marginal(ax, f[:, 0], float(nngp(x[:1], depth=2)))
    plot_joint(ax2, f[:, :2], nngp(x[:2], depth=2))
    assert len(ax.patches) > 0 and len(ax2.lines) == 2
    plt.close(fig)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: sample_outputs(torch.zeros(3, 2), TWO, 4, ensemble=0), "ensemble"),
        (lambda: sample_outputs(torch.zeros(3, 2), TWO, 0, ensemble=2), "width"),
        (
            lambda: sample_outputs(torch.zeros(3, 2), (2, "relu", 0.1), 4, ensemble=2),
            "Architecture",
        ),
        (
            lambda: sample_outputs(torch.full((3, 2), float("nan")), TWO, 4, ensemble=2),
            "non-finite",
        ),
        (
            lambda: sample_outputs(torch.zeros(3, 2), TWO, 4, ensemble=2, max_elements=0),
            "max_elements",
        ),
        (lambda: monte_carlo_covariance(torch.zeros(1, 3)), "at least two draws"),
        (lambda: monte_carlo_covariance(torch.zeros(4)), "2-d"),
        (lambda: ellipse(torch.eye(3), 1.0), "shape \\(2, 2\\)"),
        (lambda: ellipse(torch.tensor([[1.0, 0.0], [0.0, -1.0]]), 1.0), "positive semi-definite"),
        (lambda: ellipse(torch.eye(2), -1.0), "radius"),
        (lambda: gaussian_density([0.0], 0.0), "variance"),
        (
            lambda: plot_joint(None, torch.zeros(5, 3), torch.eye(2)),
            "samples must have shape \\(E, 2\\)",
        ),
        (lambda: sample_layerwise(torch.zeros(3, 2), TWO, 0, ensemble=2), "width"),
        (lambda: sample_layerwise(torch.zeros(3, 2), TWO, 4, ensemble=0), "ensemble"),
        (
            lambda: sample_layerwise(torch.full((3, 2), float("nan")), TWO, 4, ensemble=2),
            "non-finite",
        ),
        (
            lambda: sample_layerwise(
                torch.zeros(3, 2), Architecture(2, parametrization="mup"), 4, ensemble=2
            ),
            "muP",
        ),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(depth=0), "depth"),
        (dict(beta=-1.0), "beta"),
        (dict(activation="nonsense"), "nonsense"),
    ],
)
def test_the_architecture_refuses_what_the_samplers_used_to_check(bad, match):
    """Depth, beta and activation are the Architecture's to check (issue 18): before any draw."""
    with pytest.raises(ValueError, match=match):
        Architecture(**({"depth": 2} | bad))
