"""Figure 1 (Section 6.1) at a tiny size: Theorem 1 at t = 0, Theorem 2 at t = T, bad settings."""
import dataclasses
import json

import matplotlib
import pytest
import torch

from ntk_course.chapters import figure1
from ntk_course.chapters.figure1 import Figure1Settings

matplotlib.use("Agg")

TINY = Figure1Settings(widths=(32, 512), n_init=16, steps=0, n_train=16, n_circle=24, seed=3)


def test_paper_settings_are_the_papers() -> None:
    s = Figure1Settings.for_scale("paper")
    assert (s.depth, s.widths, s.n_init, s.steps, s.lr, s.beta, s.activation) == (4, (500, 10_000), 10, 200, 1.0, 0.1, "relu")
    for scale in ("quick", "default"):
        small = Figure1Settings.for_scale(scale)
        # the smaller scales narrow the networks but keep the meaning: depth, t = 200, lr, beta
        assert (small.depth, small.steps, small.lr, small.beta) == (4, 200, 1.0, 0.1)


def test_initial_kernels_average_to_the_limit(device: torch.device) -> None:
    """Thm 1: at width 512 the mean of 16 kernels is within a few standard errors of Theta_inf."""
    result = figure1.run(TINY, device=device)
    wide = result.run_for(512)
    k0 = wide.kernel_initial
    stderr = k0.std(0) / k0.shape[0] ** 0.5
    # 4 standard errors of the Monte Carlo mean, plus a finite-width bias of order 1/n (3/512 of the peak).
    gap = (k0.mean(0) - result.limit).abs()
    assert torch.all(gap <= 4 * stderr + 3.0 / 512 * result.limit.max()), gap.max()
    # and the spread shrinks with width: 16 times wider, about 4 times smaller (O(1/sqrt(n)))
    narrow = result.run_for(32)
    ratio = float(narrow.kernel_initial.std(0).mean() / k0.std(0).mean())
    assert 2.5 < ratio < 6.5, ratio
    assert float(wide.distance_to_limit.mean()) < float(narrow.distance_to_limit.mean())


def test_drift_is_smaller_for_the_wider_network() -> None:
    """Thm 2: after t = 200 the relative kernel drift at width 256 is well below that at width 32."""
    s = dataclasses.replace(TINY, widths=(32, 256), n_init=4, steps=200)
    result = figure1.run(s, device="cpu")
    narrow, wide = result.run_for(32), result.run_for(256)
    # the drift scales like n^(-1/2) or faster: x8 width gives at least a factor 2 (ideal: 2.8 to 8)
    assert float(wide.kernel_drift.mean()) * 2 < float(narrow.kernel_drift.mean())
    assert torch.all(wide.loss[-1] < wide.loss[0])  # training did decrease the cost
    assert wide.weight_change.shape == (4, 4)
    assert torch.allclose(result.run_for(32).kernel_initial, figure1.run(
        dataclasses.replace(s, steps=0), device="cpu").run_for(32).kernel_initial)  # seeded


def test_result_to_json_and_plot() -> None:
    s = dataclasses.replace(TINY, widths=(8, 16), n_init=2, steps=3, n_circle=6)
    result = figure1.run(s, device="cpu")
    d = json.loads(json.dumps(result.to_json_dict()))
    assert d["settings"]["widths"] == [8, 16] and len(d["limit"]) == 6
    assert len(d["widths"]["16"]["kernel_final"]) == 2 and d["t"] == 3.0
    ax = figure1.plot(result)
    assert ax.get_xlabel() == r"$\gamma$" and "Theta^{(4)}" in ax.get_ylabel()
    assert len(ax.lines) == 2 * 2 * 2 + 1  # widths x times x initialisations + the limit
    with pytest.raises(ValueError):
        figure1.plot(result, times=("middle",))
    with pytest.raises(ValueError):
        result.run_for(17)


@pytest.mark.parametrize("bad", [
    dict(depth=0), dict(widths=()), dict(widths=(0, 4)), dict(widths=(4, 4)), dict(widths=5),
    dict(n_init=0), dict(steps=-1), dict(lr=-1.0), dict(lr=float("nan")), dict(beta=-0.1),
    dict(n_train=0), dict(n_circle=0), dict(seed=-2), dict(activation="swish"), dict(steps=2.5),
])
def test_bad_settings_raise(bad: dict) -> None:
    with pytest.raises(ValueError):
        Figure1Settings(**bad)


def test_bad_scale_and_arguments_raise() -> None:
    with pytest.raises(ValueError):
        Figure1Settings.for_scale("huge")
    with pytest.raises(ValueError):
        figure1.run({"widths": (4,)})  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        figure1.plot("not a result")  # type: ignore[arg-type]


def test_scale_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NTK_COURSE_SCALE", "quick")
    assert Figure1Settings.for_scale() == Figure1Settings.for_scale("quick")
    monkeypatch.setenv("NTK_COURSE_SCALE", "paper")
    assert Figure1Settings.for_scale() == Figure1Settings()
