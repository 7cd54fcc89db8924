"""Tests of ntk_course.spectral: kernel PCA of Pi = K/N (Section 5) and the straight-line flow of
Section 6.3.

The rate of a network along a direction (:func:`rate_along`, one backward pass) is checked against
the quadratic form of its empirical NTK. Kernels are random-feature Gram matrices
K = F F^T / P + ridge I (``conftest.random_psd``, PSD by construction); values O(1).
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import generator, randn, random_psd
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from ntk_course import NTKMLP, empirical_ntk
from ntk_course.flow import gradient_flow
from ntk_course.spectral import KernelPCA, decompose_along, kernel_pca, pin_norm, rate_along

F64 = torch.float64
N, M = 16, 5


K_ALL = random_psd(N + M)
K, KX = K_ALL[:N, :N], K_ALL[N:, :N]


def test_eigenvalues_descend_and_sum_to_the_trace() -> None:
    pca = kernel_pca(K)
    assert (
        isinstance(pca, KernelPCA)
        and pca.eigenvalues.shape == (N,)
        and pca.components.shape == (N, N)
    )
    lam = pca.eigenvalues
    assert bool((lam[:-1] >= lam[1:]).all()) and float(lam[-1]) > 0
    # sum of the eigenvalues of K/N = trace(K)/N; eigh is backward stable, error ~ N eps max|K|.
    assert abs(float(lam.sum()) - float(K.trace()) / N) < 1e-12
    # they are the eigenvalues of K/N (against an independent solver), to ~N eps.
    torch.testing.assert_close(lam, torch.linalg.eigvalsh(K / N).flip(0), rtol=0, atol=1e-13)


def test_components_are_orthonormal_in_pin_and_eigenfunctions() -> None:
    pca = kernel_pca(K)
    c, lam = pca.components, pca.eigenvalues
    # <f_i, f_j>_{p_in} = (1/N) sum_x f_i(x) f_j(x) = delta_ij, to the orthogonality of eigh's V
    # (~N eps).
    torch.testing.assert_close(c.T @ c / N, torch.eye(N, dtype=F64), rtol=0, atol=1e-12)
    torch.testing.assert_close(pin_norm(c.T), torch.ones(N, dtype=F64), rtol=0, atol=1e-12)
    # Pi f_i = lam_i f_i on the data (Section 5), residual ~ eps ||K||.
    torch.testing.assert_close((K / N) @ c, c * lam, rtol=0, atol=1e-12)


def test_signs_are_fixed_and_reproducible() -> None:
    pca = kernel_pca(K)
    pivot = pca.components.abs().argmax(0)
    assert bool(
        (pca.components[pivot, torch.arange(N)] > 0).all()
    )  # largest-magnitude entry positive
    # the same kernel presented with its points permuted gives the same (permuted) components:
    # eigh may return either sign of each eigenvector, the rule removes that freedom.
    perm = torch.randperm(N, generator=generator(3))
    pca_p = kernel_pca(K[perm][:, perm])
    torch.testing.assert_close(pca_p.components, pca.components[perm], rtol=0, atol=1e-10)


def test_n_components_truncates() -> None:
    pca = kernel_pca(K, n_components=3)
    full = kernel_pca(K)
    assert pca.components.shape == (N, 3)
    torch.testing.assert_close(pca.eigenvalues, full.eigenvalues[:3], rtol=0, atol=0)
    torch.testing.assert_close(pca.components, full.components[:, :3], rtol=0, atol=0)
    for bad in (0, N + 1, 2.5):
        with pytest.raises(ValueError, match="n_components"):
            kernel_pca(K, n_components=bad)  # type: ignore[arg-type]


def test_extend_reproduces_the_training_values() -> None:
    pca = kernel_pca(K)
    # Nystrom on a training point: (1/(N lam)) K f = f. The division by lam amplifies round-off by
    # lam_max/lam_min ~ 1e2 here, so 1e-10 keeps a wide margin.
    torch.testing.assert_close(pca.extend(K), pca.components, rtol=0, atol=1e-10)
    ext = pca.extend(KX)
    assert ext.shape == (M, N) and bool(torch.isfinite(ext).all())
    # a test point equal to a training point gets that point's values.
    torch.testing.assert_close(pca.extend(K[2:3]), pca.components[2:3], rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="columns"):
        pca.extend(KX[:, :-1])


def test_singular_kernel_reports_zero_eigenvalues_and_extend_refuses_them() -> None:
    p = 4
    k = random_psd(N, p=p, ridge=0.0, seed=5)  # rank 4
    pca = kernel_pca(k)
    assert int((pca.eigenvalues > 0).sum()) == p and bool((pca.eigenvalues[p:] == 0).all())
    with pytest.raises(ValueError, match="eigenvalue 0"):
        pca.extend(k)
    torch.testing.assert_close(
        kernel_pca(k, n_components=p).extend(k), pca.components[:, :p], rtol=0, atol=1e-9
    )


@pytest.mark.parametrize("i", [0, 1, 5])
def test_a_start_along_a_component_converges_along_a_straight_line(i: int) -> None:
    # Section 6.3: with f* = f_0 + 0.5 f^(i), f_t - f* = -0.5 e^{-lam_i t} f^(i): h_t = 0 and
    # ||g_t||_{p_in} = 0.5 e^{-lam_i t}.
    pca = kernel_pca(K)
    comp, lam = pca.components[:, i], float(pca.eigenvalues[i])
    f0 = randn(N, seed=i)
    f_star = f0 + 0.5 * comp
    ts = torch.tensor([0.0, 1.0, 10.0, 100.0, 1000.0], dtype=F64)
    r = gradient_flow(K, f_star, ts, f0_train=f0)
    g, h, c = decompose_along(r.f_train, f_star, comp)
    assert g.shape == h.shape == c.shape == (len(ts),)
    # the residual is O(1) and stays along f^(i) up to round-off of V e^{-lam t} V^T (~N eps).
    assert float(h.max()) < 1e-13
    decay = 0.5 * torch.exp(-lam * ts)
    torch.testing.assert_close(g, decay, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(c, -decay, rtol=1e-12, atol=1e-14)


@settings(max_examples=60)
@given(
    n=st.integers(1, 40),
    steps=st.integers(1, 6),
    seed=st.integers(0, 2**31 - 1),
    log_scale=st.floats(-3.0, 3.0),
    factor=st.floats(1e-3, 1e3) | st.floats(-1e3, -1e-3),
)
def test_decomposition_is_pythagorean_for_any_functions(
    n: int, steps: int, seed: int, log_scale: float, factor: float
) -> None:
    """Section 6.3's split f_t - f* = g_t + h_t, for random trajectories, targets and components on
    1..40 points, at any scale: Pythagoras in p_in, ||f_t - f*||^2 = ||g_t||^2 + ||h_t||^2 (h_t is
    orthogonal to the component); ||g_t|| = |c_t| with c_t = <f_t - f*, u> for the normalised
    component u; rescaling the component by any factor leaves (g_t, h_t) unchanged and multiplies
    c_t by the factor's sign. All to round-off (1e-12 relative to ||f_t - f*||)."""
    scale = 10.0**log_scale
    f_t, f_star, comp = (
        scale * randn(steps, n, seed=seed),
        scale * randn(n, seed=seed + 1),
        randn(n, seed=seed + 2),
    )
    g, h, c = decompose_along(f_t, f_star, comp)
    assert g.shape == h.shape == c.shape == (steps,)
    size = pin_norm(f_t - f_star)
    torch.testing.assert_close(g**2 + h**2, size**2, rtol=1e-12, atol=0)
    u = comp / pin_norm(comp)
    torch.testing.assert_close(
        c, ((f_t - f_star) * u).mean(-1), rtol=0, atol=1e-12 * float(size.max())
    )
    torch.testing.assert_close(g, c.abs(), rtol=0, atol=0)
    g2, h2, c2 = decompose_along(
        f_t, f_star, factor * comp
    )  # the component is normalised internally
    tolerance = dict(rtol=0, atol=1e-12 * float(size.max()))
    torch.testing.assert_close(g2, g, **tolerance)
    torch.testing.assert_close(h2, h, **tolerance)
    torch.testing.assert_close(c2, math.copysign(1.0, factor) * c, **tolerance)


def test_decompose_along_rejects_a_zero_component_and_a_mismatched_target() -> None:
    f_t, f_star, comp = randn(6, N, seed=7), randn(N, seed=8), randn(N, seed=9)
    with pytest.raises(ValueError, match="component is zero"):
        decompose_along(f_t, f_star, torch.zeros(N, dtype=F64))
    with pytest.raises(ValueError, match="f_star"):
        decompose_along(f_t, f_star[:-1], comp)


def test_pin_norm_is_the_root_mean_square_over_the_last_axis() -> None:
    f = torch.tensor([[3.0, 4.0], [1.0, 1.0]], dtype=F64)
    torch.testing.assert_close(
        pin_norm(f), torch.tensor([math.sqrt(12.5), 1.0], dtype=F64), rtol=1e-15, atol=0
    )
    assert pin_norm(torch.ones(2, 3, 7)).shape == (2, 3)
    with pytest.raises(ValueError, match="non-finite"):
        pin_norm(torch.tensor([1.0, float("inf")]))


@pytest.mark.parametrize(
    "k, match",
    [
        (K[:, :-1], "square"),
        (K + torch.triu(torch.ones_like(K), 1), "symmetric"),
        (-K, "positive semi-definite"),
        (torch.full((3, 3), float("nan")), "non-finite"),
    ],
)
def test_kernel_pca_rejects_bad_kernels(k: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        kernel_pca(k)


def test_results_stay_on_the_gpu_and_equal_the_cpu_results(gpu: torch.device) -> None:
    pca = kernel_pca(K.to(gpu))
    assert (
        pca.eigenvalues.device
        == pca.components.device
        == pca.extend(KX.to(gpu)).device
        == K.to(gpu).device
    )
    # the sign rule makes the components comparable across eigensolvers (here CPU vs GPU), to ~N
    # eps.
    torch.testing.assert_close(pca.components.cpu(), kernel_pca(K).components, rtol=0, atol=1e-10)
    g, h, c = decompose_along(
        pca.components.T[:3], torch.zeros(N, dtype=F64, gpu=gpu), pca.components[:, 0]
    )
    assert g.device == h.device == c.device == pca.components.device


def test_float32_and_integer_kernels() -> None:
    """A float32 kernel is decomposed in float64 and returned in float32; integers are read as
    float64."""
    p64, p32 = kernel_pca(K, n_components=3), kernel_pca(K.float(), n_components=3)
    assert p32.eigenvalues.dtype == p32.components.dtype == torch.float32
    # the float32 rounding of K moves eigenvalues by ~eps32 ||K|| / N and the well-separated leading
    # components by ~eps32 ||K|| / gap: 1e-5 is well above both, far below the O(1) values
    torch.testing.assert_close(p32.eigenvalues.double(), p64.eigenvalues, rtol=0, atol=1e-6)
    torch.testing.assert_close(p32.components.double(), p64.components, rtol=0, atol=1e-5)
    ki = torch.tensor([[2, 1, 0], [1, 3, 1], [0, 1, 4]])
    pi = kernel_pca(ki)
    assert pi.eigenvalues.dtype == F64
    torch.testing.assert_close(pi.eigenvalues, kernel_pca(ki.double()).eigenvalues, rtol=0, atol=0)
    torch.testing.assert_close(
        pin_norm(torch.tensor([3, 4])), torch.tensor(12.5, dtype=F64).sqrt(), rtol=1e-15, atol=0
    )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: kernel_pca(torch.zeros(0, 0)), "k_train is empty"),
        (lambda: kernel_pca(K.to(torch.complex128)), "k_train must be real"),
        (lambda: pin_norm(torch.zeros(0)), "f is empty"),
        (lambda: pin_norm(torch.tensor(1.0)), "f must be at least 1-d"),
        (
            lambda: decompose_along(torch.ones(3, N), torch.zeros(N), torch.ones(N - 1)),
            "component must have 16 rows",
        ),
        (
            lambda: decompose_along(torch.ones(3, N), torch.zeros(N, 2), torch.ones(N)),
            "f_star must be 1-d",
        ),
        (
            lambda: kernel_pca(K).extend(torch.full((2, N), float("nan"))),
            "k_test_train has non-finite",
        ),
    ],
)
def test_bad_input_raises(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()


def test_rate_along_is_the_quadratic_form_of_the_empirical_ntk() -> None:
    """u^T Theta u / N^2 per network of an ensemble, Theta from the structured empirical NTK."""
    model = NTKMLP(
        [5, 30, 30, 1], ensemble=3, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    u = torch.randn(7, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    theta = empirical_ntk(model, x)  # (3, 7, 7)
    expected = torch.einsum("i,eij,j->e", u, theta, u) / 49
    got = rate_along(model, x, u)
    assert got.shape == (3,) and got.dtype == torch.float64
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=0)


def test_rate_along_any_module_matches_its_jacobian_kernel() -> None:
    """A plain torch module (one network, no ensemble axis): the Jacobian-contraction NTK."""
    g = torch.Generator().manual_seed(4)
    model = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=F64))
    x = torch.randn(6, 3, generator=g, dtype=F64)
    u = torch.randn(6, generator=g, dtype=F64)
    theta = empirical_ntk(model, x, method="jacobian")
    got = rate_along(model, x, u)
    assert got.shape == ()
    torch.testing.assert_close(got, u @ theta @ u / 36, rtol=1e-10, atol=0)


@pytest.mark.parametrize(
    ("outputs", "x", "u", "match"),
    [
        (1, torch.ones(4, 3), torch.ones(5), "one entry per point, N = 4"),
        (1, torch.ones(4, 3), torch.ones(4, 1), "u must be 1-d"),
        (1, torch.ones(4, 3), torch.tensor([1.0, math.nan, 0, 0]), "u has non-finite"),
        (1, torch.ones(4, 2), torch.ones(4), "shape \\(N, 3\\)"),
        (2, torch.ones(4, 3), torch.ones(4), "one output"),
    ],
)
def test_rate_along_bad_input(outputs: int, x: torch.Tensor, u: torch.Tensor, match: str) -> None:
    net = NTKMLP([3, 8, outputs], generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=match):
        rate_along(net, x, u)


def test_rate_along_needs_trainable_parameters() -> None:
    net = NTKMLP([3, 8, 1], generator=torch.Generator().manual_seed(0))
    assert rate_along(net, torch.ones(3), torch.ones(1)).shape == ()  # one point, given 1-d
    with pytest.raises(ValueError, match="no trainable parameters"):
        rate_along(net.requires_grad_(False), torch.ones(4, 3), torch.ones(4))
