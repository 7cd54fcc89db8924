"""Smoke test of the README command ``python -m ntk_course.reproduce`` at the quick scale.

It runs the command as a user would (a subprocess, on the CPU), then checks that every figure
file is written and is a PNG, that ``results.json`` holds the keys the README promises with
finite numbers, and that the MNIST eigenvalues of Figure 3 (the first 64 digits at the quick scale)
are those of an independent computation: the ReLU NTK recursion of Theorem 1 written out here in
NumPy (arc-cosine formulas, no ntk_course code) on the same digits, and numpy.linalg.eigvalsh.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FILES = [
    "figure1.png",
    "figure2.png",
    "figure3a.png",
    "figure3b.png",
    "figure3c.png",
    "results.json",
]


def _relu_ntk_eigenvalues(x: np.ndarray, depth: int, beta: float, count: int) -> np.ndarray:
    """The top ``count`` eigenvalues of Theta^(depth)/N for ReLU (Theorem 1), in NumPy float64."""
    sigma = x @ x.T / x.shape[1] + beta**2  # Sigma^(1)
    theta = sigma.copy()
    for _ in range(depth - 1):
        qq = np.outer(np.diag(sigma), np.diag(sigma))
        angle = np.arctan2(
            np.sqrt(np.maximum(qq - sigma**2, 0.0)), sigma
        )  # accurate near 0, unlike arccos
        sigma_next = (np.sqrt(np.maximum(qq - sigma**2, 0.0)) + (np.pi - angle) * sigma) / (
            2 * np.pi
        ) + beta**2
        sigma_dot = (np.pi - angle) / (2 * np.pi)
        theta = theta * sigma_dot + sigma_next
        sigma = sigma_next
    return np.linalg.eigvalsh(theta / x.shape[0])[::-1][:count]


def _numbers(node: object) -> list[float]:
    if isinstance(node, dict):
        return [v for child in node.values() for v in _numbers(child)]
    if isinstance(node, list):
        return [v for child in node for v in _numbers(child)]
    return [float(node)] if isinstance(node, int | float) and not isinstance(node, bool) else []


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    out = tmp_path_factory.mktemp("reproduction")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ntk_course.reproduce",
            "--scale",
            "quick",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ, MPLBACKEND="Agg"),
    )
    assert done.returncode == 0, f"python -m ntk_course.reproduce failed:\n{done.stderr[-4000:]}"
    return out, json.loads((out / "results.json").read_text()), done.stdout


def test_every_file_is_written(run: tuple[Path, dict, str]) -> None:
    out, _, stdout = run
    for name in FILES:
        path = out / name
        assert path.is_file() and path.stat().st_size > 0, f"{name} missing"
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"
    assert "results.json" in stdout


def test_results_hold_the_promised_keys_with_finite_numbers(run: tuple[Path, dict, str]) -> None:
    _, results, _ = run
    assert results["scale"] == "quick" and results["environment"]["device"] == "cpu"
    assert set(results["figures"]) == {"figure1", "figure2", "figure3"}
    f1, f3 = results["figures"]["figure1"], results["figures"]["figure3"]
    for width, run_ in f1["widths"].items():
        assert {"kernel_drift", "distance_to_limit", "weight_change", "loss_final"} <= set(run_), (
            width
        )
    assert {"eigenvalues", "paper_eigenvalues", "limit_g_norm", "widths"} <= set(f3)
    assert all(f["wall_time_s"] > 0 for f in results["figures"].values())
    numbers = _numbers(results)
    assert numbers and all(math.isfinite(v) for v in numbers), (
        "results.json holds a NaN or an infinity"
    )


def test_mnist_eigenvalues_match_an_independent_computation(run: tuple[Path, dict, str]) -> None:
    """Both computations are deterministic float64: they agree to round-off, far below the 3rd
    digit."""
    from ntk_course.digits import mnist

    _, results, _ = run
    f3 = results["figures"]["figure3"]
    s = f3["settings"]
    x, _ = mnist(s["n_digits"], scaling=s["scaling"])
    expected = _relu_ntk_eigenvalues(x.numpy(), s["depth"], s["beta"], 3)
    np.testing.assert_allclose(f3["eigenvalues"], expected, rtol=1e-12, atol=0)
    assert expected[0] > expected[1] >= expected[2] > 0
