"""Finite-width scans: fluctuations at t = 0 (Thm 1), drift and lazy training (Thm 2), power-law fits."""
import math

import pytest
import torch

from ntk_course.chapters import finite_width as fw
from ntk_course.power_laws import power_law_fit
from ntk_course.datasets import circle_points, gaussian_inputs, product_target
from ntk_course.linearized import Linearized
from ntk_course.mlp import NTKMLP
from ntk_course.training import train


def _data(n: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = gaussian_inputs(n, 2, seed=seed)
    circle, _ = circle_points(10, dtype=torch.float32)
    return x, product_target(x), circle


def test_power_law_fit_recovers_an_exact_power() -> None:
    widths = [16, 64, 256, 1024]
    fit = power_law_fit(widths, [3.0 * n**-0.7 for n in widths])
    assert fit.slope == pytest.approx(-0.7, abs=1e-12) and fit.prefactor == pytest.approx(3.0, rel=1e-10)
    assert float(fit(64)) == pytest.approx(3.0 * 64**-0.7)


@pytest.mark.parametrize("widths, values, match", [
    ([4], [1.0], "at least two widths"), ([4, 8], [1.0], "one value per width"),
    ([4, 8], [1.0, -1.0], "positive and finite"), ([4, 8], [1.0, math.nan], "positive and finite"),
    ([4, 4], [1.0, 2.0], "not all be equal")])
def test_power_law_fit_rejects_bad_input(widths: list, values: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        power_law_fit(widths, values)


def test_fluctuations_shrink_like_inverse_sqrt_width(device: torch.device) -> None:
    """Thm 1 + central limit: the spread over initialisations scales like n^(-1/2)."""
    _, _, circle = _data()
    scan = fw.kernel_fluctuations(circle[:5], widths=(32, 128, 512), depth=3, n_init=48, seed=1, device=device)
    # 48 draws give each std to about 1/sqrt(2 x 47) = 10 %; over a factor 16 in width that moves the
    # slope by about 0.05; +-0.15 leaves room for the O(1/n) corrections at width 32.
    assert -0.65 < scan.fit().slope < -0.35, scan.std
    assert scan.limit.shape == (5, 5) and scan.kernels[0].shape == (48, 5, 5)
    assert float(scan.bias[-1]) < 0.05  # the mean of 48 width-512 kernels is within 5 % of Theta_inf


def test_linearised_module_and_frozen_kernel_descent_agree() -> None:
    """Training Linearized(net) by GD = kernel gradient descent with the frozen empirical NTK Theta_0."""
    x, y, circle = _data()
    net = NTKMLP([2, 24, 24, 2], ensemble=3, generator=torch.Generator().manual_seed(5))
    target = torch.cat([y, -0.5 * y], dim=1)
    by_kernel = fw.linearized_outputs(net, x, target, circle, steps=40, lr=1.0)
    by_module = train(Linearized(net), x, target, steps=40, record_at=[40], x_eval=circle).outputs[-1]
    assert torch.allclose(by_kernel.float(), by_module, atol=1e-4), (by_kernel - by_module).abs().max()


def test_lazy_training_scan_follows_the_width_scalings() -> None:
    """Thm 2: drift and weight movement vanish with width, at the rates of the lazy-training count."""
    x, y, circle = _data()
    scan = fw.lazy_training_scan(x, y, widths=(32, 128, 512), depth=3, n_init=4, steps=60, x_eval=circle, seed=2)
    assert scan.kernel_drift.shape == (3, 4) and scan.weight_change.shape == (3, 4, 3)
    drift = scan.fit("kernel_drift")  # ReLU: between the 1/n of smooth activations and the n^(-1/2) bound
    assert -1 - 3 * drift.std_error < drift.slope < -0.5 + 3 * drift.std_error, drift
    # first and last layers move like n^(-1/2), the hidden n x n layer like 1/n (see constant_kernel.md)
    assert -0.8 < scan.fit("weight_change", 0).slope < -0.3
    assert -1.3 < scan.fit("weight_change", 1).slope < -0.7
    assert -0.8 < scan.fit("weight_change", -1).slope < -0.3
    gap = scan.fit("linearization_gap")  # between the drift's rate and the n^(-1/2) of Lee et al. (2019)
    assert -1 - 3 * gap.std_error < gap.slope < -0.5 + 3 * gap.std_error, gap
    assert torch.all(scan.linearization_gap[-1] < 0.2 * scan.function_change[-1])
    none = fw.lazy_training_scan(x, y, widths=(8,), depth=2, n_init=2, steps=3, linearized=None)
    assert torch.isnan(none.linearization_gap).all()


@pytest.mark.parametrize("bad, match", [
    (dict(widths=()), "at least one width"), (dict(widths=(8, 8)), "distinct"), (dict(widths=(0,)), "widths\\[0\\]"),
    (dict(depth=0), "depth"), (dict(n_init=0), "n_init"), (dict(steps=0), "steps"), (dict(lr=-1.0), "lr"),
    (dict(linearized="exact"), "unknown linearized")])
def test_lazy_training_scan_rejects_bad_input(bad: dict, match: str) -> None:
    x, y, _ = _data()
    kwargs = dict(widths=(8,), depth=2, n_init=2, steps=2) | bad
    with pytest.raises(ValueError, match=match):
        fw.lazy_training_scan(x, y, **kwargs)


def test_bad_shapes_and_quantities_raise() -> None:
    x, y, circle = _data()
    with pytest.raises(ValueError, match="y must have shape \\(N, n_L\\) with N = 12"):
        fw.lazy_training_scan(x, y[:5], widths=(8,), depth=2, n_init=2, steps=2)
    with pytest.raises(ValueError, match="x_eval must have n_0 = 2 columns"):
        fw.lazy_training_scan(x, y, x_eval=torch.ones(3, 5), widths=(8,), depth=2, n_init=2, steps=2)
    with pytest.raises(ValueError, match="n_init must be an integer >= 2"):
        fw.kernel_fluctuations(circle, widths=(8, 16), depth=2, n_init=1)
    scan = fw.lazy_training_scan(x, y, widths=(8, 16), depth=2, n_init=2, steps=2)
    with pytest.raises(ValueError, match="needs a layer"):
        scan.fit("weight_change")
    with pytest.raises(ValueError, match="unknown quantity 'loss'"):
        scan.fit("loss")
