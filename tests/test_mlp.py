"""Tests of ntk_course.mlp: the network of Section 2 and Remark 1."""

import copy
import math

import pytest
import torch
from conftest import generator, points

from ntk_course import NTKMLP, empirical_ntk, nngp


@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
@pytest.mark.parametrize("widths", [[2, 1], [2, 128, 1]])
def test_both_parametrisations_have_the_nngp_law_at_initialisation(
    parametrization: str, widths: list
) -> None:
    """Remark 1: the two parametrisations define the same random function at initialisation.

    At depths 1 and 2 the covariance E[f(x) f(x')] is Sigma^(L) exactly at every width (the last
    layer is linear in its Gaussian weights), so the only error is Monte Carlo: 5 standard errors.
    beta = 1, so a Sigma missing the last layer's beta^2 (off by 1 everywhere) would fail: the band
    is checked to be narrower than half of that."""
    x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.2]], dtype=torch.float64)
    samples, beta = 4000, 1.0
    net = NTKMLP(
        widths,
        beta=beta,
        parametrization=parametrization,
        ensemble=samples,
        dtype=torch.float64,
        generator=generator(0),
    )
    with torch.no_grad():
        f = net(x)[..., 0]
    cov = f.T @ f / samples
    se = (f[:, :, None] * f[:, None, :]).std(0) / math.sqrt(samples)
    assert float(5 * se.max()) < 0.5 * beta**2
    assert torch.all((cov - nngp(x, depth=len(widths) - 1, beta=beta)).abs() <= 5 * se)


@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
def test_parameters_are_drawn_as_documented(parametrization: str) -> None:
    """NTK parametrisation: W, b ~ N(0, 1). Standard: W^(l) ~ N(0, 1/n_l) as in Remark 1, and
    b ~ N(0, beta^2) (Remark 1's classical b ~ N(0, 1) is beta = 1), so the laws at t = 0 agree.
    Sample variances within 5 standard errors (relative se sqrt(2 / draws))."""
    beta, members = 0.3, 2000
    net = NTKMLP(
        [3, 64, 1],
        beta=beta,
        parametrization=parametrization,
        ensemble=members,
        dtype=torch.float64,
        generator=generator(4),
    )
    standard = parametrization == "standard"
    for l, (w, b) in enumerate(zip(net.weights, net.biases)):
        for p, var in (
            (w, 1.0 / net.widths[l] if standard else 1.0),
            (b, beta**2 if standard else 1.0),
        ):
            draws = p.detach().reshape(-1)
            assert abs(float(draws.var()) / var - 1) < 5 * math.sqrt(2 / draws.numel()), (
                l,
                p.shape,
            )


def test_forward_casts_integers_and_agrees_in_float32_and_float64() -> None:
    net64 = NTKMLP([3, 64, 64, 2], "tanh", dtype=torch.float64, generator=generator(5))
    net32 = copy.deepcopy(net64).float()
    xi = torch.randint(-2, 3, (7, 3), generator=generator(6))
    with torch.no_grad():
        out = net64(xi)
        assert out.dtype == torch.float64 and torch.equal(out, net64(xi.double()))
        out32 = net32(xi.double())  # float64 points are cast to the float32 network
        assert out32.dtype == torch.float32
        # float32 round-off through two 64-wide layers: ~1e-6 relative; 1e-5 of the largest output
        assert float((out32.double() - out).abs().max()) <= 1e-5 * float(out.abs().max())


def test_forward_still_works_inside_torch_func_transforms() -> None:
    """The finiteness check must not break vmap (torch.func cannot branch on batched values)."""
    net = NTKMLP([3, 16, 1], dtype=torch.float64, generator=generator(7))
    x = points(5, 3, 8)
    per_point = torch.func.vmap(lambda z: net(z[None])[0])(x)
    torch.testing.assert_close(per_point, net(x), rtol=1e-14, atol=0)


def test_standard_parametrisation_kernel_grows_with_width_ntk_one_does_not() -> None:
    """Remark 1: without the 1/sqrt(n) factors the tangent kernel scales with the width."""
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    diag = {}
    for p in ("ntk", "standard"):
        diag[p] = [
            empirical_ntk(
                NTKMLP(
                    [2, n, n, 1], parametrization=p, dtype=torch.float64, generator=generator(n)
                ),
                x,
            )
            .diagonal()
            .mean()
            .item()
            for n in (64, 1024)
        ]
    assert 0.7 < diag["ntk"][1] / diag["ntk"][0] < 1.4
    assert diag["standard"][1] / diag["standard"][0] > 8  # ~16x: linear in the width


def test_ensemble_members_are_independent_networks() -> None:
    net = NTKMLP([2, 16, 1], ensemble=4, generator=generator(1))
    out = net(points(5, 2, 2, dtype=torch.float32))
    assert out.shape == (4, 5, 1)
    assert len({round(v, 6) for v in out[:, 0, 0].tolist()}) == 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(widths=[3]), "at least two"),
        (dict(widths=[3, 0, 1]), "widths\\[1\\] must be an integer >= 1"),
        (dict(widths=[3, 4, 1], beta=-1.0), "beta"),
        (dict(widths=[3, 4, 1], parametrization="lecun"), "unknown parametrization"),
        (dict(widths=[3, 1], parametrization="mup"), "muP network needs a hidden layer"),
        (dict(widths=[3, 4, 1], activation="swish"), "unknown activation"),
        (dict(widths=[3, 4, 1], ensemble=0), "ensemble"),
    ],
)
def test_bad_settings_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NTKMLP(**kwargs)


@pytest.mark.parametrize(
    "x, message",
    [
        (torch.ones(2, 5), "n_0"),
        (torch.ones(3), "shape \\(N, 3\\)"),
        (torch.ones(0, 3), "at least one point"),
        (torch.tensor([[1.0, float("nan"), 0.0]]), "non-finite"),
        (torch.tensor([[1.0, float("inf"), 0.0]]), "non-finite"),
        (torch.ones(2, 3, dtype=torch.complex64), "real"),
    ],
)
def test_bad_inputs_raise(x: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NTKMLP([3, 4, 1])(x)
