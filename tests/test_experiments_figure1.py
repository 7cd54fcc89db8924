"""Figure 1 (Section 6.1) at a tiny size: Theorem 1 at t = 0, Theorem 2 at t = T, bad settings."""

import dataclasses
import json

import matplotlib
import pytest
import torch

from ntk_course import Architecture, train
from ntk_course.chapters import figure1
from ntk_course.chapters.figure1 import Figure1Settings

matplotlib.use("Agg")

TINY = Figure1Settings(widths=(32, 512), ensemble=16, steps=0, n_train=16, n_circle=24, seed=3)


def test_paper_settings_are_the_papers() -> None:
    s = Figure1Settings.for_scale("paper")
    assert (s.depth, s.widths, s.ensemble, s.steps, s.lr, s.beta, s.activation) == (
        4,
        (500, 10_000),
        10,
        200,
        1.0,
        0.1,
        "relu",
    )
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
    # 4 standard errors of the Monte Carlo mean, plus a finite-width bias of order 1/n (3/512 of the
    # peak).
    gap = (k0.mean(0) - result.limit).abs()
    assert torch.all(gap <= 4 * stderr + 3.0 / 512 * result.limit.max()), gap.max()
    # and the spread shrinks with width: 16 times wider, about 4 times smaller (O(1/sqrt(n)))
    narrow = result.run_for(32)
    ratio = float(narrow.kernel_initial.std(0).mean() / k0.std(0).mean())
    assert 2.5 < ratio < 6.5, ratio
    assert float(wide.distance_to_limit.mean()) < float(narrow.distance_to_limit.mean())


def test_drift_is_smaller_for_the_wider_network() -> None:
    """Thm 2: after t = 200 the relative kernel drift at width 256 is well below that at width
    32."""
    s = dataclasses.replace(TINY, widths=(32, 256), ensemble=4, steps=200)
    result = figure1.run(s, device="cpu")
    narrow, wide = result.run_for(32), result.run_for(256)
    # the drift scales like n^(-1/2) or faster: x8 width gives at least a factor 2 (ideal: 2.8 to 8)
    assert float(wide.kernel_drift.mean()) * 2 < float(narrow.kernel_drift.mean())
    assert torch.all(wide.loss[-1] < wide.loss[0])  # training did decrease the cost
    assert wide.weight_change.shape == (4, 4)
    assert torch.allclose(
        result.run_for(32).kernel_initial,
        figure1.run(dataclasses.replace(s, steps=0), device="cpu").run_for(32).kernel_initial,
    )  # seeded


def test_result_to_json_and_plot() -> None:
    s = dataclasses.replace(TINY, widths=(8, 16), ensemble=2, steps=3, n_circle=6)
    result = figure1.run(s, device="cpu")
    d = json.loads(json.dumps(result.to_json_dict()))
    assert d["settings"]["widths"] == [8, 16] and len(d["limit"]) == 6
    assert len(d["widths"]["16"]["kernel_final"]) == 2 and d["t"] == 3.0
    ax = figure1.plot(result)
    assert ax.get_xlabel() == r"$\gamma$" and "Theta^{(4)}" in ax.get_ylabel()
    assert len(ax.lines) == 2 * 2 * 2 + 1  # widths x times x initialisations + the limit
    with pytest.raises(ValueError, match="times must be a non-empty subset"):
        figure1.plot(result, times=("middle",))
    with pytest.raises(ValueError, match="width 17 was not run"):
        result.run_for(17)


def test_the_loop_on_the_page_is_run() -> None:
    """The chapters train the ensembles on the page with the settings' data, seeds and arch: the
    same numbers as figure1.run, and an Architecture that makes both the networks and the limit."""
    s = dataclasses.replace(TINY, widths=(8, 16), ensemble=2, steps=3, n_circle=6)
    assert s.arch == Architecture(4, "relu", 0.1)
    x_train, y_train = s.training_set()
    x0, circle, gamma = s.circle()
    records = {}
    for k, n in enumerate(s.widths):
        nets = s.arch.network(2, n, ensemble=s.ensemble, generator=s.generator(k))
        records[n] = train(
            nets,
            x_train,
            y_train,
            steps=s.steps,
            lr=s.lr,
            record_at=[0, s.steps],
            kernel_points=(x0, circle),
        )
    on_page = figure1.Figure1Result.from_records(
        s, records, s.arch.ntk(x0.double(), circle.double())[0], gamma
    )
    by_run = figure1.run(s, device="cpu")
    for a, b in zip(on_page.runs, by_run.runs):
        assert torch.equal(a.kernel_final, b.kernel_final) and torch.equal(a.loss, b.loss)
    assert torch.equal(on_page.limit, by_run.limit)
    with pytest.raises(ValueError, match="width 16 needs a training record"):
        figure1.Figure1Result.from_records(s, {8: records[8]}, on_page.limit, gamma)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(depth=0), "depth"),
        (dict(widths=()), "non-empty"),
        (dict(widths=(0, 4)), "widths\\[0\\]"),
        (dict(widths=(4, 4)), "distinct"),
        (dict(widths=5), "non-empty sequence"),
        (dict(ensemble=0), "ensemble"),
        (dict(steps=-1), "steps"),
        (dict(lr=-1.0), "lr"),
        (dict(lr=float("nan")), "lr"),
        (dict(beta=-0.1), "beta"),
        (dict(n_train=0), "n_train"),
        (dict(n_circle=0), "n_circle"),
        (dict(seed=-2), "seed"),
        (dict(activation="swish"), "unknown activation"),
        (dict(steps=2.5), "steps"),
    ],
)
def test_bad_settings_raise(bad: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Figure1Settings(**bad)


def test_bad_scale_and_arguments_raise() -> None:
    with pytest.raises(ValueError, match="unknown scale"):
        Figure1Settings.for_scale("huge")
    with pytest.raises(ValueError, match="must be a Figure1Settings"):
        figure1.run({"widths": (4,)})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be a Figure1Result"):
        figure1.plot("not a result")  # type: ignore[arg-type]


def test_scale_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NTK_COURSE_SCALE", "quick")
    assert Figure1Settings.for_scale() == Figure1Settings.for_scale("quick")
    monkeypatch.setenv("NTK_COURSE_SCALE", "paper")
    assert Figure1Settings.for_scale() == Figure1Settings()
