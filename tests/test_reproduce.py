"""Smoke test of the README command ``python -m ntk_course.reproduce`` at the quick scale.

It runs the command as a user would (a subprocess, on the CPU), then checks that every figure
file is written and is a PNG, that ``results.json`` holds the keys the README promises with
finite numbers, and that the MNIST eigenvalues of Figure 3 (64 digits at the quick scale) fall in
the window that sampling alone allows: over 200 random subsets of 64 of the first 2,048 shipped
digits, the top two eigenvalues of K/N (depth 5, beta = 0.1, pixels in [0, 1]) were
0.0445 +- 0.0006 and 0.0014 +- 0.0001 (mean +- standard deviation; measured once with
``ntk_course.ntk`` and ``torch.linalg.eigvalsh``), and the windows below are 5 standard deviations
wide on each side.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

FILES = ["figure1.png", "figure2.png", "figure3a.png", "figure3b.png", "figure3c.png", "results.json"]
LAMBDA_1 = (0.0445 - 5 * 0.0006, 0.0445 + 5 * 0.0006)
LAMBDA_2 = (0.0014 - 5 * 0.0001, 0.0014 + 5 * 0.0001)


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
        [sys.executable, "-m", "ntk_course.reproduce", "--scale", "quick", "--device", "cpu", "--out", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=900, env=dict(os.environ, MPLBACKEND="Agg"),
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
        assert {"kernel_drift", "distance_to_limit", "weight_change", "loss_final"} <= set(run_), width
    assert {"eigenvalues", "paper_eigenvalues", "limit_g_norm", "widths"} <= set(f3)
    assert all(f["wall_time_s"] > 0 for f in results["figures"].values())
    numbers = _numbers(results)
    assert numbers and all(math.isfinite(v) for v in numbers), "results.json holds a NaN or an infinity"


def test_mnist_eigenvalues_are_in_the_sampling_window(run: tuple[Path, dict, str]) -> None:
    _, results, _ = run
    lam = results["figures"]["figure3"]["eigenvalues"]
    assert LAMBDA_1[0] <= lam[0] <= LAMBDA_1[1], f"lambda_1 = {lam[0]:.5f} outside {LAMBDA_1}"
    assert LAMBDA_2[0] <= lam[1] <= LAMBDA_2[1], f"lambda_2 = {lam[1]:.5f} outside {LAMBDA_2}"
    assert lam[0] > lam[1] >= lam[2] > 0
