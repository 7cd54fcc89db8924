"""Finite-width scans: fluctuations at t = 0 (Thm 1), drift and lazy training (Thm 2), power-law
fits.

The chapters run the loops over widths on the page; ``_fluctuations`` and ``lazy_scan`` below are
those loops, in the same library nouns."""

import math

import pytest
import torch

from ntk_course import Architecture, empirical_ntk
from ntk_course.chapters import finite_width as fw
from ntk_course.datasets import circle_points, gaussian_inputs, product_target
from ntk_course.linearized import linearized_outputs
from ntk_course.power_laws import power_law_fit
from ntk_course.training import train


def _data(n: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = gaussian_inputs(n, 2, seed=seed)
    circle, _ = circle_points(10, dtype=torch.float32)
    return x, product_target(x), circle


def lazy_scan(
    arch: Architecture,
    x: torch.Tensor,
    y: torch.Tensor,
    widths: tuple,
    *,
    ensemble: int,
    steps: int,
    x_eval: torch.Tensor | None = None,
    seed: int = 0,
    linearized: bool = True,
) -> fw.LazyTrainingScan:
    """The loop of constant_kernel.md: one ensemble per width, trained, with its linearisation."""
    x_eval = x if x_eval is None else x_eval
    records, lin = [], []
    for k, n in enumerate(widths):
        nets = arch.network(
            x.shape[1],
            n,
            y.shape[1],
            ensemble=ensemble,
            generator=torch.Generator().manual_seed(seed * 1_000_003 + k),
        )
        lin.append(
            linearized_outputs(nets, x, y, x_eval, steps=steps, lr=1.0) if linearized else None
        )
        records.append(
            train(
                nets, x, y, steps=steps, record_at=[0, steps], x_eval=x_eval, kernel_points=x_eval
            )
        )
    return fw.LazyTrainingScan.from_records(widths, records, lin, t=float(steps))


def test_power_law_fit_recovers_an_exact_power() -> None:
    widths = [16, 64, 256, 1024]
    fit = power_law_fit(widths, [3.0 * n**-0.7 for n in widths])
    assert fit.slope == pytest.approx(-0.7, abs=1e-12) and fit.prefactor == pytest.approx(
        3.0, rel=1e-10
    )
    assert float(fit(64)) == pytest.approx(3.0 * 64**-0.7)


@pytest.mark.parametrize(
    "widths, values, match",
    [
        ([4], [1.0], "at least two widths"),
        ([4, 8], [1.0], "one value per width"),
        ([4, 8], [1.0, -1.0], "positive and finite"),
        ([4, 8], [1.0, math.nan], "positive and finite"),
        ([4, 4], [1.0, 2.0], "not all be equal"),
    ],
)
def test_power_law_fit_rejects_bad_input(widths: list, values: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        power_law_fit(widths, values)


def test_fluctuations_shrink_like_inverse_sqrt_width(device: torch.device) -> None:
    """Thm 1 + central limit: the spread over initialisations scales like n^(-1/2) (the loop of
    limiting_ntk.md: one ensemble per width, its empirical NTKs)."""
    _, _, circle = _data()
    points, arch, widths = circle[:5].to(device), Architecture(3), (32, 128, 512)
    kernels = [
        empirical_ntk(
            arch.network(
                2, n, ensemble=48, generator=torch.Generator(device).manual_seed(k), device=device
            ),
            points,
        )
        .double()
        .cpu()
        for k, n in enumerate(widths)
    ]
    limit = arch.ntk(points.double()).cpu()
    # 48 draws give each std to about 1/sqrt(2 x 47) = 10 %; over a factor 16 in width that moves
    # the slope by about 0.05; +-0.15 leaves room for the O(1/n) corrections at width 32.
    fit = power_law_fit(widths, torch.stack([k.std(0).mean() for k in kernels]))
    assert -0.65 < fit.slope < -0.35, fit
    assert limit.shape == (5, 5) and kernels[0].shape == (48, 5, 5)
    # the mean of 48 width-512 kernels is within 5 % of Theta_inf
    assert float((kernels[-1].mean(0) - limit).abs().max() / limit.abs().max()) < 0.05


def test_lazy_training_scan_follows_the_width_scalings() -> None:
    """Thm 2: drift and weight movement vanish with width, at the rates of the lazy-training
    count."""
    x, y, circle = _data()
    scan = lazy_scan(
        Architecture(3), x, y, (32, 128, 512), ensemble=4, steps=60, x_eval=circle, seed=2
    )
    assert scan.kernel_drift.shape == (3, 4) and scan.weight_change.shape == (3, 4, 3)
    drift = scan.fit(
        "kernel_drift"
    )  # ReLU: between the 1/n of smooth activations and the n^(-1/2) bound
    assert -1 - 3 * drift.std_error < drift.slope < -0.5 + 3 * drift.std_error, drift
    # first and last layers move like n^(-1/2), the hidden n x n layer like 1/n (see
    # constant_kernel.md)
    assert -0.8 < scan.fit("weight_change", 0).slope < -0.3
    assert -1.3 < scan.fit("weight_change", 1).slope < -0.7
    assert -0.8 < scan.fit("weight_change", -1).slope < -0.3
    gap = scan.fit(
        "linearization_gap"
    )  # between the drift's rate and the n^(-1/2) of Lee et al. (2019)
    assert -1 - 3 * gap.std_error < gap.slope < -0.5 + 3 * gap.std_error, gap
    assert torch.all(scan.linearization_gap[-1] < 0.2 * scan.function_change[-1])
    none = lazy_scan(Architecture(2), x, y, (8,), ensemble=2, steps=3, linearized=False)
    assert torch.isnan(none.linearization_gap).all() and none.t == 3.0


def test_bad_records_and_quantities_raise() -> None:
    x, y, _ = _data()
    scan = lazy_scan(Architecture(2), x, y, (8, 16), ensemble=2, steps=2)
    with pytest.raises(ValueError, match="needs a layer"):
        scan.fit("weight_change")
    with pytest.raises(ValueError, match="unknown quantity 'loss'"):
        scan.fit("loss")
    record = train(Architecture(2).network(2, 8), x, y, steps=2, record_at=[0, 2])
    with pytest.raises(ValueError, match="one record"):
        fw.LazyTrainingScan.from_records((8, 16), [record], t=2.0)
    with pytest.raises(ValueError, match="kernel_points"):
        fw.LazyTrainingScan.from_records((8,), [record], t=2.0)


def test_finite_width_sweep_with_an_architecture() -> None:
    """Theorem 1 at t = 0 (deviation falls with width) and the drift during training, per
    network."""
    x, y, _ = _data()
    sweep = fw.finite_width_sweep((16, 256), x, y, Architecture(3), steps=5, ensemble=3)
    assert sweep.init_deviation.shape == (2, 3) and sweep.widths.tolist() == [16, 256]
    assert float(sweep.init_deviation[1].mean()) < float(sweep.init_deviation[0].mean())
    assert bool((sweep.kernel_drift > 0).all())


@pytest.mark.parametrize(
    "arch, widths, match",
    [
        (Architecture(1), (8,), "depth >= 2"),
        ("relu", (8,), "must be an Architecture"),
        (Architecture(3), (), "at least one"),
        (Architecture(3, parametrization="standard"), (8,), "standard parametrisation"),
        (Architecture(3), (0,), "width"),
    ],
)
def test_finite_width_sweep_rejects_bad_input(arch: object, widths: tuple, match: str) -> None:
    x, y, _ = _data()
    with pytest.raises(ValueError, match=match):
        fw.finite_width_sweep(widths, x, y, arch, steps=2, ensemble=2)  # type: ignore[arg-type]
