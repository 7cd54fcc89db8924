"""Shared fixtures and seeded factories for the test suite.

Devices: the ``device`` fixture runs a test on the CPU and on CUDA; the ``gpu`` fixture runs it on
CUDA only (a test that compares the GPU with the CPU). On a machine without CUDA their CUDA variants
are reported ``SKIPPED ... no GPU`` rather than silently replaced by a second CPU run, and no test
compares the CPU with itself. Every test taking either fixture is marked ``cuda``:
``bash tests/gpu_check.sh`` runs exactly these (and those marked by hand) on a GPU.

Factories: plain functions of a seed, so a module-level constant and a test body get the same
numbers (``from conftest import points, random_psd``). Each draws from its own
``torch.Generator().manual_seed(seed)``, never from the global generator.

Hypothesis runs derandomised for the whole suite (the examples are a fixed function of each test),
so a failure on CI is the same failure on a laptop; no example database is written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import torch
from hypothesis import settings

settings.register_profile(
    "ntk_course", derandomize=True, database=None, deadline=None, print_blob=True
)
settings.load_profile("ntk_course")

F64 = torch.float64
NO_GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
CUDA = pytest.param("cuda", marks=NO_GPU, id="cuda")


@pytest.fixture(params=["cpu", CUDA])
def device(request: pytest.FixtureRequest) -> torch.device:
    """The CPU, then CUDA (skipped: no GPU), for tests whose CPU run checks something by itself."""
    return torch.device(request.param)


@pytest.fixture(params=[CUDA])
def gpu(request: pytest.FixtureRequest) -> torch.device:
    """CUDA only (skipped: no GPU). For tests that compare a GPU result with the CPU's."""
    return torch.device(request.param)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``cuda`` every test that takes the ``device`` or ``gpu`` fixture (explicit
    ``@pytest.mark.cuda`` marks stay): ``bash tests/gpu_check.sh`` runs ``-m cuda``."""
    for item in items:
        if {"device", "gpu"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cuda)


# ------------------------------------------------------------------------------ seeded factories


def generator(seed: int) -> torch.Generator:
    """A fresh CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed the global generator inside the block (for torch.nn layers, which draw from it) and
    restore its state afterwards, so no test changes the random numbers of the next."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def randn(*shape: int, seed: int = 0, dtype: torch.dtype = F64) -> torch.Tensor:
    """Standard normal entries of the given shape, a function of ``seed`` only."""
    return torch.randn(*shape, generator=generator(seed), dtype=dtype)


def points(n: int, n0: int, seed: int, dtype: torch.dtype = F64) -> torch.Tensor:
    """N = ``n`` Gaussian input points in R^``n0``, shape (n, n0): |x|^2 / n0 is about 1."""
    return randn(n, n0, seed=seed, dtype=dtype)


def random_psd(n: int, p: int = 40, ridge: float = 0.1, seed: int = 0) -> torch.Tensor:
    """A random-feature Gram matrix K = F F^T / p + ridge I, F (n, p) Gaussian: symmetric to the
    last bit, PSD by construction (rank min(n, p) when ``ridge`` is 0), entries O(1), float64."""
    f = randn(n, p, seed=seed)
    k = f @ f.T / p + ridge * torch.eye(n, dtype=F64)
    return (k + k.T) / 2


def random_covariances(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` random 2x2 covariances [[q_xx, q_xy], [q_xy, q_yy]] as (q_xx, q_xy, q_yy), each (n,):
    variances in [0.1, 1.1), correlations uniform in (-1, 1)."""
    g = generator(seed)
    a = torch.rand(n, generator=g, dtype=F64) + 0.1
    b = torch.rand(n, generator=g, dtype=F64) + 0.1
    c = (2 * torch.rand(n, generator=g, dtype=F64) - 1) * torch.sqrt(a * b)
    return a, c, b
