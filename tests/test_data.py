"""Tests of ntk_course.datasets: the inputs of Section 6 and the shipped MNIST digits."""
from __future__ import annotations

import gzip
import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ntk_course.datasets import (
    circle_points,
    circle_training_set,
    gaussian_inputs,
    load_mnist_idx,
    mnist,
    product_target,
    read_idx,
)

SOURCE = Path(__file__).parents[2] / "shared" / "data" / "mnist"
IMAGES_MD5 = "bdba6d4171faf978e24c1fc739237ea1"  # as in ntk_course/data/README.md
LABELS_MD5 = "91bab651f321395ac870825853418a9c"


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def test_shipped_digits_match_their_checksums():
    x, labels = mnist(4096, scaling="pixel")
    images = torch.round(x * 255).to(torch.uint8).numpy()
    assert hashlib.md5(images.tobytes()).hexdigest() == IMAGES_MD5
    assert hashlib.md5(labels.to(torch.uint8).numpy().tobytes()).hexdigest() == LABELS_MD5


def test_shipped_digits_are_the_first_4096_of_the_source():
    if not SOURCE.is_dir():
        pytest.skip(f"MNIST IDX source folder {SOURCE} is absent; cannot compare the shipped digits with it")
    x, labels = load_mnist_idx(SOURCE, scaling="pixel")
    assert x.shape == (10000, 784) and labels.shape == (10000,)
    shipped_x, shipped_labels = mnist(4096, scaling="pixel")
    assert torch.equal(shipped_x, x[:4096])
    assert torch.equal(shipped_labels, labels[:4096])


def test_shipped_labels_hold_every_digit():
    _, labels = mnist(4096)
    assert labels.dtype == torch.int64
    counts = torch.bincount(labels, minlength=10)
    assert counts.shape == (10,) and bool((counts > 300).all()) and int(counts.sum()) == 4096


def test_scalings():
    pixel, _ = mnist(64, scaling="pixel", offset=100)
    assert pixel.shape == (64, 784) and pixel.dtype == torch.float64
    assert float(pixel.min()) == 0.0 and float(pixel.max()) == 1.0
    unit, _ = mnist(4096, scaling="unit_norm", dtype=torch.float32)
    assert unit.dtype == torch.float32
    torch.testing.assert_close((unit * unit).sum(1) / 784, torch.ones(4096), rtol=1e-5, atol=0)
    standard, _ = mnist(64, scaling="standardize", offset=100)
    torch.testing.assert_close(standard, (pixel - 0.1307) / 0.3081)


def test_offset_selects_later_digits():
    x, labels = mnist(10, offset=5)
    x_all, labels_all = mnist(15)
    assert torch.equal(x, x_all[5:]) and torch.equal(labels, labels_all[5:])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 5000}, "4,096"),
        ({"n": 4000, "offset": 97}, "load_mnist_idx"),
        ({"n": 0}, "n must be"),
        ({"offset": -1}, "offset"),
        ({"scaling": "sphere"}, "unit_norm"),
    ],
)
def test_mnist_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mnist(**kwargs)


@pytest.mark.parametrize("name", ["t.idx", "t.idx.gz"])
def test_read_idx_round_trips(tmp_path, name):
    images = np.random.default_rng(0).integers(0, 256, size=(7, 3, 5), dtype=np.uint8)
    labels = np.arange(7, dtype=np.uint8)
    write_idx(tmp_path / ("images-" + name), images, 2051)
    write_idx(tmp_path / ("labels-" + name), labels, 2049)
    np.testing.assert_array_equal(read_idx(tmp_path / ("images-" + name)), images)
    np.testing.assert_array_equal(read_idx(tmp_path / ("labels-" + name)), labels)


def test_read_idx_rejects_bad_files(tmp_path):
    images = np.zeros((4, 2, 2), dtype=np.uint8)
    write_idx(tmp_path / "magic.idx", images, 2052)
    with pytest.raises(ValueError, match="magic number 2052"):
        read_idx(tmp_path / "magic.idx")
    write_idx(tmp_path / "short.idx", images, 2051)
    (tmp_path / "short.idx").write_bytes((tmp_path / "short.idx").read_bytes()[:-1])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "short.idx")
    (tmp_path / "header.idx").write_bytes((2051).to_bytes(4, "big") + b"\0\0")
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "header.idx")
    (tmp_path / "bad.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="bad.gz"):
        read_idx(tmp_path / "bad.gz")
    with pytest.raises(ValueError, match="missing.idx"):
        read_idx(tmp_path / "missing.idx")


def test_load_mnist_idx_reads_plain_and_gz_and_checks_its_arguments(tmp_path):
    images = np.random.default_rng(1).integers(1, 256, size=(6, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte", images, 2051)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(6), 2049)
    x, labels = load_mnist_idx(tmp_path, split="train", scaling="pixel", dtype=torch.float32)
    assert x.shape == (6, 784) and x.dtype == torch.float32
    torch.testing.assert_close(x, torch.from_numpy(images.reshape(6, -1)).float() / 255)
    assert labels.tolist() == list(range(6))
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte"):
        load_mnist_idx(tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_mnist_idx(tmp_path, split="test")
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(5), 2049)
    with pytest.raises(ValueError, match="shapes"):
        load_mnist_idx(tmp_path, split="train")


def test_circle_points_are_evenly_spaced_on_the_unit_circle():
    x, g = circle_points(12)
    assert x.shape == (12, 2) and g.shape == (12,) and x.dtype == torch.float64
    torch.testing.assert_close(x.norm(dim=1), torch.ones(12, dtype=torch.float64))
    torch.testing.assert_close(torch.atan2(x[:, 1], x[:, 0]), g)
    assert float(g[0]) == -math.pi and float(g[-1]) < math.pi
    torch.testing.assert_close(torch.diff(g), torch.full((11,), 2 * math.pi / 12, dtype=torch.float64))
    assert bool((x[6] == torch.tensor([1.0, 0.0], dtype=torch.float64)).all())  # x_0 = (1, 0) of Figure 1


def test_circle_training_set():
    x, y = circle_training_set()
    assert x.shape == (4, 2) and y.shape == (4, 1)
    torch.testing.assert_close(x.norm(dim=1), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(y[:, 0], torch.tensor([0.4, -0.4, 0.4, -0.4], dtype=torch.float64))
    torch.testing.assert_close(y, 0.8 * product_target(x))


def test_gaussian_inputs_and_product_target():
    x = gaussian_inputs(2000, 3, seed=0)
    assert x.shape == (2000, 3) and x.dtype == torch.float32
    assert torch.equal(x, gaussian_inputs(2000, 3, generator=torch.Generator().manual_seed(0)))
    assert abs(float(x.mean())) < 0.05 and abs(float(x.var()) - 1) < 0.05
    assert not torch.equal(x, gaussian_inputs(2000, 3, seed=1))
    torch.testing.assert_close(product_target(x), (x[:, 0] * x[:, 1])[:, None])
    with pytest.raises(ValueError, match="not both"):
        gaussian_inputs(2, 2, seed=0, generator=torch.Generator())
    with pytest.raises(ValueError, match="n_0 >= 2"):
        product_target(torch.ones(3, 1))
