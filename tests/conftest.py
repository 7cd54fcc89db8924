"""Shared fixtures: every device the machine has (CPU always, CUDA when present).

Hypothesis runs derandomised for the whole suite (the examples are a fixed function of each test),
so a failure on CI is the same failure on a laptop; no example database is written.
"""
import pytest
import torch
from hypothesis import settings

settings.register_profile("ntk_course", derandomize=True, database=None, deadline=None, print_blob=True)
settings.load_profile("ntk_course")

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    return torch.device(request.param)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``cuda`` every test that runs on each device (it takes the ``device`` fixture), and keep
    explicit ``@pytest.mark.cuda`` marks: ``bash tests/gpu_check.sh`` runs exactly these on a GPU."""
    for item in items:
        if "device" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cuda)
