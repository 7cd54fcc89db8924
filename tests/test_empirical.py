"""The empirical NTK of Section 4: three methods against each other, and against Theorem 1's form."""
import pytest
import torch
from torch import nn

from ntk_course import NTKMLP, empirical_ntk, ntk


def _x(n: int, n0: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(n, n0, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("n_out", [1, 3])
def test_three_methods_agree_in_float64(parametrization: str, activation: str, n_out: int) -> None:
    net = NTKMLP([4, 24, 16, n_out], activation, parametrization=parametrization, dtype=torch.float64,
                 generator=torch.Generator().manual_seed(0))
    x, y = _x(5, 4, 1), _x(3, 4, 2)
    for output_axes in (False, True):
        ref = empirical_ntk(net, x, y, method="structured", output_axes=output_axes)
        for method in ("jacobian", "ntvp"):
            torch.testing.assert_close(empirical_ntk(net, x, y, method=method, output_axes=output_axes), ref,
                                       rtol=1e-11, atol=1e-12)


def test_three_methods_agree_to_float32_round_off() -> None:
    """In float32 the methods sum in different orders: agreement to a few ulps of the entries."""
    net = NTKMLP([10, 256, 256, 1], generator=torch.Generator().manual_seed(3))
    x = _x(12, 10, 4, torch.float32)
    ref = empirical_ntk(net, x, method="structured")
    scale = ref.abs().max()
    for method in ("jacobian", "ntvp"):
        assert (empirical_ntk(net, x, method=method) - ref).abs().max() <= 1e-5 * scale


def test_generic_model_jacobian_and_ntvp_agree() -> None:
    """Any nn.Module works with the torch.func methods (here a LayerNorm MLP with two outputs)."""
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(3, 32), nn.LayerNorm(32), nn.GELU(), nn.Linear(32, 2)).double()
    x, y = _x(6, 3, 6), _x(4, 3, 7)
    a = empirical_ntk(model, x, y, output_axes=True)
    b = empirical_ntk(model, x, y, method="ntvp", output_axes=True)
    assert a.shape == (6, 4, 2, 2)
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    # Definition check against an explicit sum over parameters of d f(x) d f(y).
    grads = []
    for point in torch.cat([x, y]):
        out = model(point[None])[0, 0]
        grads.append(torch.cat([g.flatten() for g in torch.autograd.grad(out, list(model.parameters()))]))
    g = torch.stack(grads)
    torch.testing.assert_close(a[..., 0, 0], g[:6] @ g[6:].T, rtol=1e-10, atol=1e-12)


def test_wide_network_kernel_is_theta_times_identity_on_outputs() -> None:
    """Thm. 1: Theta -> Theta_inf (x) Id_{n_L}: off-diagonal output blocks vanish, diagonal ones agree."""
    net = NTKMLP([3, 4096, 4096, 2], dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    x = _x(4, 3, 9)
    k = empirical_ntk(net, x, output_axes=True)
    limit = ntk(x, depth=3)
    scale = limit.abs().max()
    assert (k[..., 0, 1]).abs().max() < 0.06 * scale
    for a in range(2):
        assert (k[..., a, a] - limit).abs().max() < 0.06 * scale  # O(1/sqrt(width)) fluctuations


def test_ensemble_kernels_match_members_built_alone() -> None:
    """An ensemble's kernels are those of its members (batched, not mixed)."""
    ens = NTKMLP([3, 32, 32, 1], ensemble=3, dtype=torch.float64, generator=torch.Generator().manual_seed(10))
    x = _x(5, 3, 11)
    k = empirical_ntk(ens, x)
    assert k.shape == (3, 5, 5)
    for e in range(3):
        single = NTKMLP([3, 32, 32, 1], dtype=torch.float64)
        with torch.no_grad():
            for ws, wb in zip(single.weights, ens.weights):
                ws.copy_(wb[e])
            for bs, bb in zip(single.biases, ens.biases):
                bs.copy_(bb[e])
        torch.testing.assert_close(k[e], empirical_ntk(single, x, method="jacobian"))


def test_runs_on_the_model_device(device: torch.device) -> None:
    net = NTKMLP([3, 64, 1], device=device)
    k = empirical_ntk(net, torch.randn(4, 3))
    assert k.device.type == device.type


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda net: empirical_ntk(net, torch.ones(2, 3), method="fast"), "unknown method"),
        (lambda net: empirical_ntk(net, torch.ones(2, 4)), "n_0"),
        (lambda net: empirical_ntk(net, torch.ones(2, 3), torch.ones(2, 5)), "same feature dimension"),
        (lambda net: empirical_ntk(net, torch.tensor([[1.0, float("inf"), 0.0]])), "non-finite"),
        (lambda net: empirical_ntk(nn.Linear(3, 1), torch.ones(2, 3), method="structured"), "needs an NTKMLP"),
        (lambda net: empirical_ntk(NTKMLP([3, 4, 1], ensemble=2), torch.ones(2, 3), method="jacobian"), "ensemble"),
    ],
)
def test_bad_input_raises_a_clear_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(NTKMLP([3, 8, 1]))
