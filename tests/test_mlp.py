"""The network of Section 2 and Remark 1."""
import math

import pytest
import torch

from ntk_course import NTKMLP, empirical_ntk, nngp


@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
def test_both_parametrisations_have_the_nngp_law_at_initialisation(parametrization: str) -> None:
    """Remark 1: the two parametrisations define the same random function at initialisation."""
    x = torch.tensor([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.2]], dtype=torch.float64)
    samples = 4000
    net = NTKMLP([2, 128, 1], parametrization=parametrization, ensemble=samples, dtype=torch.float64,
                 generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        f = net(x)[..., 0]
    cov = f.T @ f / samples
    se = (f[:, :, None] * f[:, None, :]).std(0) / math.sqrt(samples)
    assert torch.all((cov - nngp(x, depth=2)).abs() <= 5 * se + 0.02)


def test_standard_parametrisation_kernel_grows_with_width_ntk_one_does_not() -> None:
    """Remark 1: without the 1/sqrt(n) factors the tangent kernel scales with the width."""
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    diag = {}
    for p in ("ntk", "standard"):
        diag[p] = [empirical_ntk(NTKMLP([2, n, n, 1], parametrization=p, dtype=torch.float64,
                                        generator=torch.Generator().manual_seed(n)), x).diagonal().mean().item()
                   for n in (64, 1024)]
    assert 0.7 < diag["ntk"][1] / diag["ntk"][0] < 1.4
    assert diag["standard"][1] / diag["standard"][0] > 8  # ~16x: linear in the width


def test_ensemble_members_are_independent_networks() -> None:
    net = NTKMLP([2, 16, 1], ensemble=4, generator=torch.Generator().manual_seed(1))
    out = net(torch.randn(5, 2))
    assert out.shape == (4, 5, 1)
    assert len({round(v, 6) for v in out[:, 0, 0].tolist()}) == 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(widths=[3]), "at least two"),
        (dict(widths=[3, 0, 1]), "widths\\[1\\] must be an integer >= 1"),
        (dict(widths=[3, 4, 1], beta=-1.0), "beta"),
        (dict(widths=[3, 4, 1], parametrization="mup"), "unknown parametrization"),
        (dict(widths=[3, 4, 1], activation="swish"), "unknown activation"),
        (dict(widths=[3, 4, 1], ensemble=0), "ensemble"),
    ],
)
def test_bad_settings_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NTKMLP(**kwargs)


def test_wrong_input_dimension_raises() -> None:
    with pytest.raises(ValueError, match="n_0"):
        NTKMLP([3, 4, 1])(torch.ones(2, 5))
