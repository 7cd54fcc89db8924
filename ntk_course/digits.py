"""The MNIST digits of Section 6.3 of Jacot, Gabriel & Hongler (2018) (Figures 3 and 4), n_0 = 784.

The package ships all 10,000 digits of the MNIST test set (``ntk_course/data/``): :func:`mnist`
reads them in file order and :func:`mnist_split` draws disjoint training and test sets from them;
:func:`load_mnist_idx` reads the full sets from IDX files the user already has (:func:`read_idx`).
Nothing here ever downloads. The points on the circle and the Gaussian inputs of Sections 6.1-6.2
are in :mod:`ntk_course.datasets`.
"""

from __future__ import annotations

import functools
import gzip
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ._checks import positive_int, seeded_generator

__all__ = [
    "MNIST_MEAN",
    "MNIST_STD",
    "SCALINGS",
    "SHIPPED",
    "SHIPPED_FILE",
    "SPLITS",
    "MnistSplit",
    "load_mnist_idx",
    "mnist",
    "mnist_split",
    "read_idx",
]

#: The scalings of the inputs that :func:`mnist`, :func:`mnist_split` and :func:`load_mnist_idx`
#: know.
SCALINGS = ("pixel", "standardize", "unit_norm")
#: The MNIST splits :func:`load_mnist_idx` reads: the 10,000 test and 60,000 training digits.
SPLITS = ("t10k", "train")
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # the usual MNIST normalisation (training-set statistics)
#: How many digits the package ships (the whole MNIST test set).
SHIPPED = 10_000
#: The file in ``ntk_course/data/`` that holds them.
SHIPPED_FILE = "mnist_test.npz"
_IDX_MAGIC = {2049: 1, 2051: 3}  # magic number -> number of dimensions (labels, images)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped (``.gz``) or not, as a uint8 array.

    The header is big-endian: magic 2051 for images -> (count, rows, cols), 2049 for labels ->
    (count,); then the raw uint8 data.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"IDX file {path} does not exist")
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise ValueError(f"could not read IDX file {path}: {err}") from err
    magic = int.from_bytes(data[:4], "big")
    if magic not in _IDX_MAGIC:
        raise ValueError(
            f"{path} is not a uint8 IDX file: magic number {magic}, "
            "expected 2051 (images) or 2049 (labels)"
        )
    start = 4 + 4 * _IDX_MAGIC[magic]
    if len(data) < start:
        raise ValueError(
            f"IDX file {path} is truncated: its header needs {start} bytes, "
            f"the file has {len(data)}"
        )
    shape = tuple(int.from_bytes(data[i : i + 4], "big") for i in range(4, start, 4))
    size = math.prod(shape)
    if len(data) - start != size:
        raise ValueError(
            f"IDX file {path} is truncated or corrupt: header says shape {shape} "
            f"({size} bytes of data), the file has {len(data) - start}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=start).reshape(shape).copy()


def _scaled(
    images: np.ndarray, scaling: str, dtype: torch.dtype, device: torch.device | str | None
) -> torch.Tensor:
    """Flatten uint8 images to (N, n_0) and scale them (pixel, standardize or unit_norm)."""
    x = torch.tensor(images.reshape(len(images), -1), device=device).to(dtype) / 255
    if scaling == "standardize":
        return (x - MNIST_MEAN) / MNIST_STD
    if scaling == "unit_norm":
        norm = torch.linalg.vector_norm(x, dim=1, keepdim=True)
        if bool((norm == 0).any()):
            raise ValueError("a blank image (all pixels 0) cannot be scaled to norm sqrt(n_0)")
        return x * (math.sqrt(x.shape[1]) / norm)
    return x


def _check_scaling(scaling: str) -> None:
    if scaling not in SCALINGS:
        raise ValueError(f"unknown scaling {scaling!r}; expected one of {SCALINGS}")


@functools.lru_cache(maxsize=1)
def _shipped() -> tuple[np.ndarray, np.ndarray]:
    """The shipped digits (see ``ntk_course/data/README.md``), read once."""
    with (resources.files("ntk_course") / "data" / SHIPPED_FILE).open("rb") as f, np.load(f) as z:
        return z["images"], z["labels"]


def mnist(
    n: int = 512,
    *,
    scaling: str = "unit_norm",
    offset: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Digits ``offset .. offset + n - 1``, in file order, of the 10,000 shipped MNIST test digits.

    Section 6.3 uses N = 512 (the course takes the first 512).

    Parameters
    ----------
    n : int, default 512
        The number of digits, >= 1, with ``n + offset <= 10,000``.
    scaling : {"pixel", "standardize", "unit_norm"}, default "unit_norm"
        ``pixel`` (values in [0, 1]); ``standardize`` (minus 0.1307, over 0.3081, the usual MNIST
        normalisation); ``unit_norm`` (each image scaled to Euclidean norm ``sqrt(n_0) = 28``, so
        that ``x.x / n_0 = 1`` and ``Sigma^(1)(x, x) = 1 + beta^2`` for every digit: the points lie
        on a sphere, as in the footnote of Section 6).
    offset : int, default 0
        The first digit's position in the file, >= 0.
    dtype, device
        Of the inputs (float64 by default).

    Returns
    -------
    x : torch.Tensor
        Shape (n, 784): the inputs.
    labels : torch.Tensor
        Shape (n,), int64.

    Raises
    ------
    ValueError
        If the scaling is unknown, n < 1, offset < 0 or n + offset > 10,000.
    """
    n, offset = positive_int(n, "n"), positive_int(offset, "offset", 0)
    _check_scaling(scaling)
    if n + offset > SHIPPED:
        raise ValueError(
            f"n + offset = {n + offset}, but the package ships the {SHIPPED:,} MNIST test digits "
            "only; for the 60,000 training digits, read your own copy of the IDX files with "
            "ntk_course.digits.load_mnist_idx(directory, split='train')"
        )
    images, labels = _shipped()
    return (
        _scaled(images[offset : offset + n], scaling, dtype, device),
        torch.tensor(labels[offset : offset + n], dtype=torch.int64, device=device),
    )


@dataclass
class MnistSplit:
    """Disjoint training and test digits drawn from the shipped ones by :func:`mnist_split`."""

    x_train: torch.Tensor  # (n_train, 784)
    labels_train: torch.Tensor  # (n_train,) int64
    x_test: torch.Tensor  # (n_test, 784)
    labels_test: torch.Tensor  # (n_test,) int64
    index_train: torch.Tensor  # (n_train,) positions in the MNIST test file
    index_test: torch.Tensor  # (n_test,)


def mnist_split(
    n_train: int,
    n_test: int,
    *,
    seed: int = 0,
    scaling: str = "unit_norm",
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> MnistSplit:
    """``n_train`` training and ``n_test`` test digits, disjoint, drawn from the 10,000 shipped.

    For the experiments of Section 6.3. One random permutation of the 10,000 digits
    (``torch.randperm`` seeded with ``seed``): the test digits are its first ``n_test`` entries,
    the training digits the next ``n_train``. So for a fixed ``seed`` and ``n_test`` the test set
    stays the same and the training sets are nested: the first 1,000 of ``mnist_split(4000, ...)``
    are ``mnist_split(1000, ...)`` (a learning curve can compute one kernel and slice it).

    Parameters
    ----------
    n_train, n_test : int
        The sizes of the two sets, each >= 1; ``n_train + n_test`` must be at most 10,000.
    seed : int, default 0
        Seeds the permutation.
    scaling : {"pixel", "standardize", "unit_norm"}, default "unit_norm"
        As in :func:`mnist`.
    dtype, device
        Of the inputs (float64 by default).

    Returns
    -------
    MnistSplit
        Inputs (n_train, 784) and (n_test, 784), int64 labels, and the digits' positions in the
        file.

    Raises
    ------
    ValueError
        If the scaling is unknown, a size is < 1, or ``n_train + n_test > 10,000``.
    """
    n_train, n_test = positive_int(n_train, "n_train"), positive_int(n_test, "n_test")
    _check_scaling(scaling)
    if n_train + n_test > SHIPPED:
        raise ValueError(
            f"n_train + n_test = {n_train + n_test:,}, but the package ships {SHIPPED:,} MNIST "
            "digits; expected at most that many in all (the two sets are disjoint)"
        )
    order = torch.randperm(SHIPPED, generator=seeded_generator(seed))
    test, train = order[:n_test], order[n_test : n_test + n_train]
    images, labels = _shipped()

    def take(index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        i = index.numpy()
        return _scaled(images[i], scaling, dtype, device), torch.tensor(
            labels[i], dtype=torch.int64, device=device
        )

    return MnistSplit(*take(train), *take(test), train, test)


def load_mnist_idx(
    directory: str | Path,
    *,
    split: str = "t10k",
    scaling: str = "unit_norm",
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """All digits of an MNIST split (Section 6.3) from IDX files in ``directory``.

    Reads ``{split}-images-idx3-ubyte[.gz]`` and ``{split}-labels-idx1-ubyte[.gz]``; nothing is
    downloaded.

    Parameters
    ----------
    directory : str or Path
        The folder holding the IDX files.
    split : {"t10k", "train"}, default "t10k"
        10,000 digits for ``t10k``, 60,000 for ``train``.
    scaling : {"pixel", "standardize", "unit_norm"}, default "unit_norm"
        As in :func:`mnist`.
    dtype, device
        Of the inputs (float64 by default).

    Returns
    -------
    x : torch.Tensor
        Shape (N, rows * cols): the inputs, scaled.
    labels : torch.Tensor
        Shape (N,), int64.

    Raises
    ------
    ValueError
        If the split or scaling is unknown, a file is missing, unreadable or corrupt, or the shapes
        of images and labels do not match.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    _check_scaling(scaling)
    arrays = []
    for name in (f"{split}-images-idx3-ubyte", f"{split}-labels-idx1-ubyte"):
        path = Path(directory) / name
        gz = path.with_name(name + ".gz")
        if not path.is_file() and not gz.is_file():
            raise ValueError(f"found neither {path} nor {gz}")
        arrays.append(read_idx(path if path.is_file() else gz))
    images, labels = arrays
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            "expected images (N, rows, cols) and labels (N,); "
            f"got shapes {images.shape} and {labels.shape}"
        )
    return _scaled(images, scaling, dtype, device), torch.tensor(
        labels, dtype=torch.int64, device=device
    )
