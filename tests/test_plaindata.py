"""Tests of ntk_course.assignments.plaindata and .forbidden: what crosses the sandbox's wall is
plain data, read without trusting it, and the library calls an answer must not make are found in
its code however they are imported."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from ntk_course.assignments import plaindata
from ntk_course.assignments.forbidden import code_objects, static_flags
from ntk_course.mlp import NTKMLP


def roundtrip(value: object, tmp_path: Path, **options: bool) -> object:
    arrays: dict[str, np.ndarray] = {}
    tree = plaindata.encode(value, arrays)
    plaindata.save(tmp_path / "v.npz", tree, arrays)
    return plaindata.decode(*plaindata.load(tmp_path / "v.npz"), **options)


def test_values_and_networks_cross_unchanged(tmp_path: Path) -> None:
    net = NTKMLP(
        [3, 5, 1], "tanh", 0.3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    value = (
        torch.arange(6.0).reshape(2, 3),
        np.eye(2),
        3,
        2.5,
        None,
        ...,
        "s",
        [True, {"k": 1}],
        net,
    )
    back = roundtrip(value, tmp_path)
    assert torch.equal(back[0], value[0]) and np.array_equal(back[1], value[1])
    assert back[2:8] == value[2:8]
    x = torch.randn(4, 3, dtype=torch.float64)
    assert torch.equal(back[8](x), net(x))  # same weights, same activation, same beta


def test_what_a_sandbox_sends_cannot_be_code(tmp_path: Path) -> None:
    net = NTKMLP([2, 3, 1])
    with pytest.raises(ValueError, match="cannot come back from a sandbox"):
        roundtrip(net, tmp_path, models=False)
    assert isinstance(roundtrip(lambda z: z, tmp_path), plaindata.Opaque)  # a description only
    # A pickled object inside an .npz is refused, not unpickled.
    marker = tmp_path / "ran"

    class Bomb:
        def __reduce__(self):
            return (marker.write_text, ("unpickled",))

    np.savez(tmp_path / "p.npz", __tree__=np.array('{"$": "atom", "value": null}'),
             a0=np.array([Bomb()], dtype=object))  # fmt: skip
    with pytest.raises(ValueError, match="not a readable .npz"):
        plaindata.load(tmp_path / "p.npz")
    assert not marker.exists()


def test_files_are_read_without_trust(tmp_path: Path) -> None:
    os.symlink("/etc/hostname", tmp_path / "link.npz")
    with pytest.raises(ValueError, match="cannot open link.npz"):
        plaindata.load(tmp_path / "link.npz")
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a0.npy", b"\0" * (80 * 2**20))  # 80 MiB of zeros, a few KiB compressed
    assert (tmp_path / "bomb.npz").stat().st_size < 2**20
    with pytest.raises(ValueError, match="too large once uncompressed"):
        plaindata.load(tmp_path / "bomb.npz")
    (tmp_path / "junk.npz").write_bytes(pickle.dumps("x"))
    with pytest.raises(ValueError, match="not a readable .npz"):
        plaindata.load(tmp_path / "junk.npz")


SETUP = "import torch\nimport ntk_course as nc\nfrom ntk_course import ntk as K\n"


@pytest.mark.parametrize(
    ("question", "code", "found"),
    [
        (
            "a1.q3",
            "def relu_ntk(x, y, depth, beta):\n    return helper(x)\n"
            "def helper(x):\n    return K(x, depth=2)\n",
            "refers to ntk_course.kernels.ntk",
        ),
        (
            "a1.q2",
            "def relu_nngp(x, y, depth, beta):\n    return nc.kernels.nngp(x, y)\n",
            "refers to ntk_course.kernels.nngp",
        ),
        (
            "a1.q1",
            "def relu_expectations(a, b, c):\n"
            "    return nc.get_activation('relu').expectations(a, b, c)\n",
            "refers to ntk_course.activations.Activation.expectations",
        ),
        (
            "a4.q1",
            "def hermite_coeffs(s, n):\n    import importlib\n"
            "    return getattr(importlib.import_module('ntk_course'), 'hermite_' + 'x')(s, n)\n",
            "uses importlib, getattr with a computed name",
        ),
        (
            "a2.q3",
            "def two_layer_ntk(W0, b0, W1, x, y, beta):\n    return torch.autograd.grad(x, y)\n",
            "refers to torch.autograd.grad",
        ),
    ],  # fmt: skip
)
def test_forbidden_calls_are_found_in_the_code(question: str, code: str, found: str) -> None:
    answer = code.split("(")[0].removeprefix("def ")
    flags = static_flags([SETUP, code], question, answer)
    assert any(found in f for f in flags), flags


def test_own_names_are_not_flagged() -> None:
    code = "def relu_ntk(x, y, depth, beta):\n    ntk = x @ y.T\n    return ntk\n"
    assert static_flags([code], "a1.q3", "relu_ntk") == []
    assert static_flags([SETUP, code], "a1.q4", "relu_ntk") == []  # a1.q4 forbids nothing


def test_runtime_watch_knows_the_library_code() -> None:
    from ntk_course import nngp
    from ntk_course.architecture import Architecture

    watched = code_objects("a1.q2")
    assert watched[nngp.__code__] == "ntk_course.kernels.nngp"
    assert watched[Architecture.ntk.__code__] == "ntk_course.architecture.Architecture.ntk"
