"""The experiments of the chapter on the convolutional NTK (ntk_course.chapters.convolutional),
checked against explicit loops, hand counts, scipy's binomial distribution and the library's
kernels, and refusing bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import binom, norm

from ntk_course import Architecture, ConvArchitecture
from ntk_course.chapters import convolutional as cv
from ntk_course.chapters import convolutional_plots as cp
from ntk_course.chapters import generalisation as gen
from ntk_course.digits import mnist_split


def test_downsample_is_the_block_mean_scaled_to_unit_pixel_variance() -> None:
    x = torch.rand(3, 784, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = cv.downsample(x, 7)
    assert out.shape == (3, 1, 7, 7)
    images = x.reshape(3, 28, 28)
    for n in range(3):
        block = torch.empty(7, 7, dtype=torch.float64)
        for r in range(7):
            for c in range(7):
                block[r, c] = images[n, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4].sum() / 16
        block *= 7 / math.sqrt(float((block**2).sum()))
        torch.testing.assert_close(out[n, 0], block, rtol=1e-13, atol=1e-13)
        assert math.isclose(float((out[n] ** 2).sum()) / 49, 1.0, rel_tol=1e-12)


def test_downsample_keeps_a_blank_image_blank_and_refuses_bad_input() -> None:
    assert bool((cv.downsample(torch.zeros(1, 784), 14) == 0).all())
    assert cv.downsample(torch.ones(2, 784, dtype=torch.int64), 28).dtype == torch.float64
    with pytest.raises(ValueError, match="divide 28"):
        cv.downsample(torch.zeros(1, 784), 5)
    with pytest.raises(ValueError, match=r"\(N, 784\)"):
        cv.downsample(torch.zeros(1, 28, 28), 7)


def test_paired_counts_and_mcnemar_by_hand() -> None:
    # 10 digits: both right on 0-4, only a on 5-7, only b on 8, both wrong on 9
    a = torch.tensor([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], dtype=torch.bool)
    b = torch.tensor([1, 1, 1, 1, 1, 0, 0, 0, 1, 0], dtype=torch.bool)
    r = cv.paired(a, b)
    assert (r.only_a, r.only_b) == (3, 1)
    assert math.isclose(r.difference, (8 - 6) / 10)
    d = np.array([0, 0, 0, 0, 0, 1, 1, 1, -1, 0], dtype=float)
    assert math.isclose(r.std_error, d.std(ddof=1) / math.sqrt(10), rel_tol=1e-12)
    # two-sided exact binomial test of 3 successes in 4 at 1/2: P(X <= 1) + P(X >= 3) = 10/16
    assert math.isclose(r.p_value, 2 * (binom.sf(2, 4, 0.5)), rel_tol=1e-12)
    assert math.isclose(r.p_value, 10 / 16, rel_tol=1e-12)
    same = cv.paired(a, a)
    assert (same.difference, same.only_a, same.only_b, same.p_value) == (0.0, 0, 0, 1.0)


@pytest.mark.parametrize(
    "a, b, match",
    [
        (torch.ones(3, dtype=torch.bool), torch.ones(4, dtype=torch.bool), "two"),
        (torch.ones(2, 2, dtype=torch.bool), torch.ones(2, 2, dtype=torch.bool), "two"),
        (torch.tensor([0.5, 1.0]), torch.tensor([1.0, 0.0]), "0/1"),
    ],
)
def test_paired_refuses_bad_hits(a, b, match) -> None:
    with pytest.raises(ValueError, match=match):
        cv.paired(a, b)


def test_z_scores_against_an_explicit_formula_and_bad_shapes() -> None:
    g = torch.Generator().manual_seed(1)
    sample = torch.randn(5, 2, 2, generator=g, dtype=torch.float64)
    limit = torch.randn(2, 2, generator=g, dtype=torch.float64)
    z, se = cv.z_scores(sample, limit)
    for i in range(2):
        for j in range(2):
            v = sample[:, i, j].numpy()
            s = v.std(ddof=1) / math.sqrt(5)
            assert math.isclose(float(se[i, j]), s, rel_tol=1e-12)
            assert math.isclose(float(z[i, j]), (v.mean() - float(limit[i, j])) / s, rel_tol=1e-12)
    with pytest.raises(ValueError, match="E >= 2"):
        cv.z_scores(sample[:1], limit)
    with pytest.raises(ValueError, match="E >= 2"):
        cv.z_scores(sample, limit[0])


def test_detection_power_is_the_probability_that_some_entry_fails() -> None:
    se = torch.tensor([0.1, 0.2], dtype=torch.float64)
    limit = torch.zeros(2, dtype=torch.float64)
    alt = torch.tensor([0.3, 0.0], dtype=torch.float64)
    # entry 1: z-test power at effect 3 se, threshold 4; entry 2 at effect 0: the false alarm rate
    p1 = norm.sf(4 - 3) + norm.cdf(-4 - 3)
    p2 = 2 * norm.sf(4)
    expected = 1 - (1 - p1) * (1 - p2)
    assert math.isclose(cv.detection_power(alt, limit, se, 4), expected, rel_tol=1e-12)
    assert cv.detection_power(limit, limit, se, 4) < 1e-3
    with pytest.raises(ValueError, match="one shape"):
        cv.detection_power(torch.zeros(3), torch.zeros(3), se)


def test_shifted_against_an_explicit_loop_and_refuses_large_shifts() -> None:
    x = torch.arange(2 * 3 * 5, dtype=torch.float64).reshape(2, 3, 5)
    shifts = (-2, 0, 1, 4)
    out = cp.shifted(x, shifts)
    for n, s in enumerate(shifts):
        for col in range(5):
            src = col - s
            want = x[..., src] if 0 <= src < 5 else torch.zeros(2, 3, dtype=torch.float64)
            torch.testing.assert_close(out[n, ..., col], want)
    with pytest.raises(ValueError, match="smaller than the width"):
        cp.shifted(x, (5,))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        cp.shifted(x[0], (1,))


def test_shift_profile_is_the_cosine_to_the_centre() -> None:
    k = torch.tensor([[4.0, 2.0, 1.0], [2.0, 1.0, 0.5], [1.0, 0.5, 9.0]], dtype=torch.float64)
    torch.testing.assert_close(
        cp.shift_profile(k), torch.tensor([2 / 2, 1.0, 0.5 / 3], dtype=torch.float64)
    )
    with pytest.raises(ValueError, match="odd size"):
        cp.shift_profile(torch.eye(2))


def test_pooled_cntk_ignores_a_shift_that_stays_clear_of_the_border() -> None:
    """Zero padding and a digit with blank margins: translation leaves the pooled kernel's sum over
    all pixel pairs unchanged (exactly for beta = 0: with beta > 0 the padding breaks the
    invariance of the blank background slightly), while the flattened one (pixel-wise terms only)
    drops."""
    image = torch.zeros(1, 10, 10, dtype=torch.float64)
    image[0, 4:6, 4:7] = torch.tensor([[1.0, 2.0, 0.5], [0.3, 1.0, 1.5]])
    profiles = cp.shift_profiles(image, 1, filter_sizes=(3,), depths=(2,), beta=0.0)
    ones = torch.ones(3, dtype=torch.float64)
    torch.testing.assert_close(profiles[(3, 2, "gap")], ones, rtol=1e-12, atol=1e-12)
    biased = cp.shift_profiles(image, 1, filter_sizes=(3,), depths=(2,), beta=0.1)
    torch.testing.assert_close(biased[(3, 2, "gap")], ones, rtol=0, atol=1e-3)
    assert float(profiles[(3, 2, "flatten")][0]) < 0.9
    assert float(profiles[(0, 2, "fc")][0]) < 0.9


def test_digit_kernels_are_the_library_kernels_on_the_same_digits() -> None:
    s = cv.Settings(sizes=(3, 6), n_test=4, channels=(2,), ensemble=2, depth=1)
    split = cv.digit_split(s)
    raw = mnist_split(6, 4, scaling="pixel")
    torch.testing.assert_close(split.x_train, cv.downsample(raw.x_train, 7).flatten(1))
    assert torch.equal(split.labels_test, raw.labels_test)
    ks = cv.digit_kernels(s, split)
    assert tuple(ks) == cv.KERNELS
    x, xt = split.x_train.reshape(-1, 1, 7, 7), split.x_test.reshape(-1, 1, 7, 7)
    flat = ConvArchitecture(1, 3, "same", "flatten", "relu", 0.1)
    torch.testing.assert_close(ks["CNN-GP flatten"][1], flat.nngp(xt, x))
    torch.testing.assert_close(ks["NTK"][0], Architecture(2, "relu", 0.1).ntk(split.x_train))
    curve = gen.learning_curve(split, ks, s.sizes)
    assert curve.hits("CNTK").shape == (2, 4)


def test_empirical_cntks_shapes_and_their_mean_near_the_limit() -> None:
    """One layer: the empirical NTK is unbiased for the limit, so the mean of E draws is within
    4 standard errors (a false alarm about 6e-5 per entry)."""
    arch = ConvArchitecture(1, 3, "same", "gap", "relu", 0.3)
    images = torch.randn(
        3, 1, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2)
    )
    samples = cv.empirical_cntks(arch, images, (4, 16), ensemble=30, seed=3)
    assert samples[4].shape == (30, 3, 3) and samples[16].dtype == torch.float64
    z, _ = cv.z_scores(samples[16], arch.ntk(images))
    assert float(z.abs().max()) < 4


def test_settings_by_scale() -> None:
    quick, default = cv.Settings.for_scale("quick"), cv.Settings.for_scale("default")
    assert max(quick.sizes) <= max(default.sizes) and quick.side == 7
    assert quick.fc_arch.depth == quick.arch.depth + 1
    assert cv.Settings.for_scale("paper").n_test >= default.n_test
