"""Write tests/data/conv_reference.npz: neural-tangents' convolutional NNGP and NTK, float64.

The reference the tests of :mod:`ntk_course.conv` compare with, made once in a separate environment
(the course never imports jax):

    python -m venv /tmp/ntvenv
    /tmp/ntvenv/bin/pip install jax==0.4.26 jaxlib==0.4.26 neural-tangents==0.6.5
    /tmp/ntvenv/bin/python tests/data/make_conv_reference.py

Each case is ``depth`` x [stax.Conv(1, (k, k), padding, W_std=1, b_std=beta,
parameterization="ntk"), activation], then stax.Flatten() or stax.GlobalAvgPool(), then
stax.Dense(1, 1, beta), evaluated on the images x followed by y (one symmetric (N + M) x (N + M)
matrix). The inputs are stored NCHW, as ntk_course takes them; neural-tangents gets them NHWC.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from neural_tangents import stax  # noqa: E402

OUT = Path(__file__).with_name("conv_reference.npz")
ACTIVATIONS = {"relu": stax.Relu, "erf": stax.Erf, "gelu": lambda: stax.Gelu(approximate=False)}
READOUTS = {"flatten": stax.Flatten, "gap": stax.GlobalAvgPool}


def kernels(images: np.ndarray, act: str, depth: int, k: int, padding: str, readout: str, beta):
    layers = []
    for _ in range(depth):
        layers += [
            stax.Conv(1, (k, k), padding=padding.upper(), W_std=1.0, b_std=beta),
            ACTIVATIONS[act](),
        ]
    layers += [READOUTS[readout](), stax.Dense(1, W_std=1.0, b_std=beta)]
    _, _, kernel_fn = stax.serial(*layers)
    nhwc = np.transpose(images, (0, 2, 3, 1))
    out = kernel_fn(nhwc, None, ("nngp", "ntk"))
    return np.asarray(out.nngp, dtype=np.float64), np.asarray(out.ntk, dtype=np.float64)


def main() -> None:
    rng = np.random.default_rng(20190410)
    inputs = {
        "a": rng.standard_normal((4, 1, 5, 5)),  # 3 images x and 1 image y, one channel
        "b": rng.standard_normal((5, 2, 7, 7)),  # 3 images x and 2 images y, two channels
        "g": rng.standard_normal((3, 1, 5, 5)),  # 2 images x and 1 image y: gelu's quadrature
    }
    inputs["b"][4] = inputs["b"][0]  # y holds one of the x: an identical pair across x and y
    cases = []
    for act, depth, padding, readout, beta in itertools.product(
        ("relu", "erf"), (1, 2, 3), ("same", "valid"), ("flatten", "gap"), (0.0, 0.3)
    ):
        cases.append(("b", act, depth, 3, padding, readout, beta))
    for act, padding, readout in itertools.product(
        ("relu", "erf"), ("same", "valid"), ("flatten", "gap")
    ):
        cases.append(("a", act, 2, 3, padding, readout, 0.3))
    for readout in ("flatten", "gap"):
        cases.append(("b", "relu", 2, 2, "same", readout, 0.3))  # even filter: the zero after
        cases.append(("b", "relu", 1, 5, "same", readout, 0.0))
        cases.append(("g", "gelu", 1, 2, "same", readout, 0.0))
        for padding in ("same", "valid"):  # the quadrature (slow): small images
            cases.append(("g", "gelu", 2, 3, padding, readout, 0.3))
    arrays: dict[str, np.ndarray] = {f"x_{name}": x for name, x in inputs.items()}
    for i, (name, act, depth, k, padding, readout, beta) in enumerate(cases):
        nngp, ntk = kernels(inputs[name], act, depth, k, padding, readout, beta)
        arrays[f"nngp_{i}"], arrays[f"ntk_{i}"] = nngp, ntk
        print(i, name, act, depth, k, padding, readout, beta, f"{ntk[0, 0]:.6f}")
    arrays["cases"] = np.array(["|".join(map(str, case)) for case in cases])
    arrays["versions"] = np.array([f"jax {jax.__version__}", "neural-tangents 0.6.5"])
    np.savez_compressed(OUT, **arrays)
    print(f"{len(cases)} cases written to {OUT}")


if __name__ == "__main__":
    main()
