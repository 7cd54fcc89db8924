"""The checks of a convolutional network's settings and images.

Shared by the kernels (:mod:`ntk_course.conv`) and the finite network (:mod:`ntk_course.cnn`).
"""

from __future__ import annotations

import torch

from ._checks import as_tensor, positive_int

#: The zero paddings of a convolution: "same" keeps H x W, "valid" shrinks it by k - 1 per layer.
PADDINGS = ("same", "valid")
#: The readouts: a dense layer on the flattened last layer, or on its global average pool.
READOUTS = ("flatten", "gap")


def check_conv(
    depth: object, filter_size: object, padding: object, readout: object
) -> tuple[int, int, str, str]:
    """Validate the convolutional hyper-parameters and return them as (int, int, str, str).

    Parameters
    ----------
    depth, filter_size : int
        The number of convolutional layers (>= 1) and the filter side k (>= 1).
    padding, readout : str
        One of :data:`PADDINGS` and one of :data:`READOUTS`.

    Returns
    -------
    tuple
        (depth, filter_size, padding, readout).

    Raises
    ------
    ValueError
        Naming the bad argument and the values expected.
    """
    depth = positive_int(depth, "depth")
    k = positive_int(filter_size, "filter_size")
    if padding not in PADDINGS:
        raise ValueError(f"unknown padding {padding!r}; expected one of {PADDINGS}")
    if readout not in READOUTS:
        raise ValueError(f"unknown readout {readout!r}; expected one of {READOUTS}")
    return depth, k, str(padding), str(readout)


def check_images(
    x: object,
    name: str,
    dtype: torch.dtype | None,
    depth: int,
    filter_size: int,
    padding: str,
) -> torch.Tensor:
    """Return ``x`` as a finite (N, C, H, W) tensor that the convolutions can take.

    Parameters
    ----------
    x : array_like
        Shape (N, C, H, W): N images of C channels.
    name : str
        Its name in messages.
    dtype : torch.dtype or None
        Cast to it (None: keep a floating dtype, integers to the default dtype).
    depth, filter_size, padding
        As in :func:`check_conv`: with "valid" every layer shrinks the image by k - 1.

    Returns
    -------
    torch.Tensor
        Shape (N, C, H, W).

    Raises
    ------
    ValueError
        If ``x`` is not 4-d, is empty, complex or not finite, or if the filter does not fit
        the image at every "valid" layer.
    """
    try:
        t = as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{name} must be an array of shape (N, C, H, W); got {x!r}") from err
    if t.is_complex():
        raise ValueError(f"{name} must be real; got the complex dtype {t.dtype}")
    if t.ndim != 4:
        raise ValueError(
            f"{name} must have shape (N, C, H, W) (images with channels); got shape "
            f"{tuple(t.shape)}"
        )
    if min(t.shape) == 0:
        raise ValueError(f"{name} must hold at least one non-empty image; got {tuple(t.shape)}")
    if dtype is not None:
        t = t.to(dtype)
    elif not torch.is_floating_point(t):
        t = t.to(torch.get_default_dtype())
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} has non-finite entries (NaN or inf); expected finite numbers")
    if padding == "valid":
        side = min(t.shape[-2:]) - depth * (filter_size - 1)
        if side < 1:
            raise ValueError(
                f"a {filter_size} x {filter_size} filter with padding 'valid' does not fit "
                f"{depth} layer(s) on {tuple(t.shape[-2:])} images (each layer removes "
                f"{filter_size - 1} pixels per side length); expected a filter_size <= "
                f"1 + (min(H, W) - 1) / depth, a smaller depth, or padding='same'"
            )
    return t


def pads(k: int, padding: str) -> tuple[int, int]:
    """Zeros before and after each spatial axis (SAME: the extra one after, as torch and lax)."""
    if padding == "valid":
        return 0, 0
    return (k - 1) // 2, k - 1 - (k - 1) // 2
