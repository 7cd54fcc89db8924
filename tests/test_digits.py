"""Tests of ntk_course.digits: the 10,000 shipped MNIST test digits of Section 6.3, checked against
the published checksums and statistics, and the IDX reader."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

import ntk_course.digits
from ntk_course.digits import load_mnist_idx, mnist, mnist_split, read_idx

# The shipped digits are the MNIST test set in file order: the IDX files they came from are the
# header below followed by the arrays, and the md5 of the decompressed image file is the one
# published with the source (ntk_course/data/README.md; ../shared/data/mnist/README.md).
SOURCE_IMAGES_MD5 = "2646ac647ad5339dbf082846283269ea"  # t10k-images-idx3-ubyte
SOURCE_LABELS_MD5 = "27ae3e4e09519cfbb04c329615203637"  # t10k-labels-idx1-ubyte
FIRST_4096_IMAGES_MD5 = (
    "bdba6d4171faf978e24c1fc739237ea1"  # the 4,096 digits the package shipped before
)
FIRST_4096_LABELS_MD5 = "91bab651f321395ac870825853418a9c"
LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # digits 0..9, as published


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def shipped_uint8() -> tuple[np.ndarray, np.ndarray]:
    x, labels = mnist(10_000, scaling="pixel")
    images = torch.round(x * 255).to(torch.uint8).numpy().reshape(10_000, 28, 28)
    return images, labels.to(torch.uint8).numpy()


def test_shipped_digits_are_the_source_idx_files():
    images, labels = shipped_uint8()
    image_file = b"".join(v.to_bytes(4, "big") for v in (2051, 10_000, 28, 28)) + images.tobytes()
    label_file = b"".join(v.to_bytes(4, "big") for v in (2049, 10_000)) + labels.tobytes()
    assert hashlib.md5(image_file).hexdigest() == SOURCE_IMAGES_MD5
    assert hashlib.md5(label_file).hexdigest() == SOURCE_LABELS_MD5


def test_the_first_4096_digits_are_unchanged():
    """The chapters that used the 4,096 digits shipped before see the same digits now."""
    images, labels = shipped_uint8()
    assert hashlib.md5(images[:4096].tobytes()).hexdigest() == FIRST_4096_IMAGES_MD5
    assert hashlib.md5(labels[:4096].tobytes()).hexdigest() == FIRST_4096_LABELS_MD5


def test_shipped_digits_match_the_published_statistics():
    x, labels = mnist(10_000, scaling="pixel")
    assert labels.dtype == torch.int64
    assert torch.bincount(labels, minlength=10).tolist() == LABEL_COUNTS
    assert (
        round(float(x.mean()), 5) == 0.13251 and round(float(x.std(unbiased=False)), 5) == 0.31048
    )


def test_the_shipped_file_is_compact():
    path = Path(ntk_course.digits.__file__).parent / "data" / ntk_course.digits.SHIPPED_FILE
    assert path.stat().st_size < 2_000_000  # uint8, compressed: 7.8 MB raw


def test_scalings():
    pixel, _ = mnist(64, scaling="pixel", offset=100)
    assert pixel.shape == (64, 784) and pixel.dtype == torch.float64
    assert float(pixel.min()) == 0.0 and float(pixel.max()) == 1.0
    unit, _ = mnist(10_000, scaling="unit_norm", dtype=torch.float32)
    assert unit.dtype == torch.float32
    torch.testing.assert_close((unit * unit).sum(1) / 784, torch.ones(10_000), rtol=1e-5, atol=0)
    standard, _ = mnist(64, scaling="standardize", offset=100)
    torch.testing.assert_close(standard, (pixel - 0.1307) / 0.3081)


def test_offset_selects_later_digits():
    x, labels = mnist(10, offset=9_990)
    x_all, labels_all = mnist(10_000)
    assert torch.equal(x, x_all[9_990:]) and torch.equal(labels, labels_all[9_990:])


def test_mnist_split_is_disjoint_nested_and_seeded():
    small, large = mnist_split(1_000, 2_000), mnist_split(4_000, 2_000)
    assert small.x_train.shape == (1_000, 784) and small.x_test.shape == (2_000, 784)
    assert not set(large.index_train.tolist()) & set(large.index_test.tolist())
    assert (
        len(set(large.index_train.tolist())) == 4_000
        and len(set(large.index_test.tolist())) == 2_000
    )
    assert torch.equal(small.x_test, large.x_test) and torch.equal(
        small.labels_test, large.labels_test
    )
    assert torch.equal(small.x_train, large.x_train[:1_000]) and torch.equal(
        small.index_train, large.index_train[:1_000]
    )
    other = mnist_split(1_000, 2_000, seed=1)
    overlap = len(set(other.index_test.tolist()) & set(small.index_test.tolist()))
    assert abs(overlap - 400) < 100  # hypergeometric: mean 2,000 x 0.2 = 400, standard deviation 16
    assert torch.equal(mnist_split(1_000, 2_000).index_test, small.index_test)


def test_mnist_split_takes_the_digits_and_labels_it_names():
    split = mnist_split(300, 200, seed=3, scaling="pixel", dtype=torch.float32)
    x_all, labels_all = mnist(10_000, scaling="pixel", dtype=torch.float32)
    assert torch.equal(split.x_train, x_all[split.index_train]) and torch.equal(
        split.x_test, x_all[split.index_test]
    )
    assert torch.equal(split.labels_train, labels_all[split.index_train])
    assert torch.equal(split.labels_test, labels_all[split.index_test])
    full = mnist_split(8_000, 2_000)
    assert sorted(full.index_train.tolist() + full.index_test.tolist()) == list(range(10_000))
    # A random test set of 2,000 holds each class in proportion, up to binomial noise (4 standard
    # deviations).
    counts = torch.bincount(full.labels_test, minlength=10).double()
    p = torch.tensor(LABEL_COUNTS, dtype=torch.float64) / 10_000
    assert bool(((counts - 2_000 * p).abs() < 4 * (2_000 * p * (1 - p)).sqrt()).all())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_train": 8_001, "n_test": 2_000}, "10,000"),
        ({"n_train": 0, "n_test": 10}, "n_train"),
        ({"n_train": 10, "n_test": 0}, "n_test"),
        ({"n_train": 10, "n_test": 10, "seed": -1}, "seed"),
        ({"n_train": 10, "n_test": 10, "scaling": "sphere"}, "unit_norm"),
    ],
)
def test_mnist_split_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mnist_split(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 10_001}, "10,000"),
        ({"n": 9_000, "offset": 1_001}, "load_mnist_idx"),
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
