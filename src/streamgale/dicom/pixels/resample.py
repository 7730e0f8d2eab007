"""Resize images to a model's input size, or resample them to a pixel spacing in mm.

Everything works on float32 arrays whose last two axes are (rows, columns);
leading axes (frames, slices) are carried along, so a whole multi-frame
instance resizes in one call. Resizing is separable: each axis is resampled
with a small precomputed kernel (indices and weights), so the work is a few
vectorised passes, not a Python loop over pixels.

Where Pillow is faster (all but whole-factor "area" shrinks and "nearest",
see ``bench/resize.py``) :func:`resize` hands each frame to Pillow; the
numpy kernels here are the same and stay the reference, and resample other
axes (:func:`resize_axis`).

The kernels are Pillow's: pixel centres at (i + 0.5) * in / out, and, when
shrinking, a filter support widened by the scale factor, so that "bilinear"
averages over every input pixel instead of skipping most of them (what
Pillow and torchvision call antialiasing). "area" averages exactly the input
area each output pixel covers; "nearest" picks one input pixel.

>>> import numpy as np
>>> image = np.arange(16, dtype=np.float32).reshape(4, 4)
>>> resize(image, (2, 2), method="area").tolist()
[[2.5, 4.5], [10.5, 12.5]]
>>> resize(image, (2, 2), method="nearest").tolist()
[[5.0, 7.0], [13.0, 15.0]]
>>> resample_spacing(image, (0.5, 0.5), 1.0).shape
(2, 2)
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "Interpolation",
    "crop_or_pad",
    "resample_spacing",
    "resize",
    "resize_axis",
    "spacing_shape",
]

FloatArray = npt.NDArray[np.float32]


class Interpolation(enum.StrEnum):
    """How :func:`resize` computes an output pixel."""

    NEAREST = "nearest"
    BILINEAR = "bilinear"
    AREA = "area"

    @classmethod
    def parse(cls, value: Interpolation | str) -> Interpolation:
        """The method named ``value`` (any case); ValueError lists the allowed ones."""
        if isinstance(value, Interpolation):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            allowed = ", ".join(member.value for member in cls)
            raise ValueError(f"unknown interpolation {value!r}; allowed: {allowed}") from None


def resize(
    arr: npt.ArrayLike,
    size: tuple[int, int],
    *,
    method: Interpolation | str = Interpolation.BILINEAR,
) -> FloatArray:
    """Resize the last two axes of ``arr`` to ``size`` = (rows, columns), as float32."""
    kind = Interpolation.parse(method)
    rows, columns = _check_size(size, 2)
    values = _float_image(arr)
    if kind is Interpolation.NEAREST:
        row_index = _nearest(values.shape[-2], rows)
        column_index = _nearest(values.shape[-1], columns)
        return np.ascontiguousarray(values[..., row_index[:, np.newaxis], column_index])
    if not _block_mean(values.shape, (rows, columns), kind):
        return _pillow_resize(values, rows, columns, kind)
    return _separable_resize(values, rows, columns, kind)


def _block_mean(shape: tuple[int, ...], size: tuple[int, int], kind: Interpolation) -> bool:
    """Whether "area" shrinks by whole factors: a block mean, faster than Pillow.

    Everywhere else Pillow's C loops are faster (1.2x at 512 -> 128 bilinear,
    2x at 512 -> 358, 4x when upsampling; ``bench/resize.py``), give the same
    values (its kernels are the ones :func:`_kernel` computes) and release
    the GIL while they run. Nearest stays here: Pillow rounds centres apart.
    """
    return kind is Interpolation.AREA and shape[-2] % size[0] == 0 and shape[-1] % size[1] == 0


def _pillow_resize(values: FloatArray, rows: int, columns: int, kind: Interpolation) -> FloatArray:
    from PIL import Image

    resample = Image.Resampling.BOX if kind is Interpolation.AREA else Image.Resampling.BILINEAR
    frames = values.reshape(-1, *values.shape[-2:])
    out = np.empty((len(frames), rows, columns), dtype=np.float32)
    for index, frame in enumerate(frames):
        image = Image.fromarray(np.ascontiguousarray(frame))  # float32: mode "F"
        out[index] = np.asarray(image.resize((columns, rows), resample=resample))
    return out.reshape(*values.shape[:-2], rows, columns)


def _separable_resize(
    values: FloatArray, rows: int, columns: int, kind: Interpolation
) -> FloatArray:
    """Resize with the precomputed kernels of :func:`_kernel`, in numpy."""
    # Both passes gather whole rows (contiguous memory); the small intermediate
    # is transposed in between, which is cheaper than gathering columns.
    values = _resample_rows(values, rows, kind)
    values = _resample_rows(np.ascontiguousarray(np.swapaxes(values, -1, -2)), columns, kind)
    return np.ascontiguousarray(np.swapaxes(values, -1, -2))


def resize_axis(
    arr: npt.ArrayLike,
    length: int,
    *,
    axis: int,
    method: Interpolation | str = Interpolation.BILINEAR,
) -> FloatArray:
    """Resample one axis of ``arr`` to ``length`` samples (e.g. the slices of a volume).

    >>> resize_axis([[0.0], [2.0]], 4, axis=0).ravel().tolist()
    [0.0, 0.5, 1.5, 2.0]
    """
    kind = Interpolation.parse(method)
    (length,) = _check_size((length,), 1)
    values = np.asarray(arr, dtype=np.float32)
    if values.ndim == 0:
        raise ValueError("cannot resample a scalar")
    moved = np.moveaxis(values, axis, -2) if values.ndim > 1 else values[:, np.newaxis]
    out = _resample_rows(moved, length, kind)
    out = np.moveaxis(out, -2, axis) if values.ndim > 1 else out[:, 0]
    return np.ascontiguousarray(out)


def _resample_rows(values: FloatArray, length: int, kind: Interpolation) -> FloatArray:
    """Resample axis -2 of ``values`` to ``length``."""
    size_in = values.shape[-2]
    if size_in == 0:
        raise ValueError(f"cannot resample an empty axis of shape {values.shape}")
    if size_in == length:
        return values.copy()
    if kind is Interpolation.NEAREST:
        return values[..., _nearest(size_in, length), :]
    if kind is Interpolation.AREA and size_in % length == 0:
        factor = size_in // length
        shape = (*values.shape[:-2], length, factor, values.shape[-1])
        blocks: FloatArray = values.reshape(shape).sum(axis=-2, dtype=np.float32)
        blocks *= np.float32(1.0 / factor)
        return blocks
    index, weight = _kernel(size_in, length, kind)
    out = np.zeros((*values.shape[:-2], length, values.shape[-1]), dtype=np.float32)
    # One vectorised pass per kernel tap (a handful), not per pixel.
    for tap in range(index.shape[1]):
        out += weight[:, tap, np.newaxis] * values[..., index[:, tap], :]
    return out


def spacing_shape(
    shape: tuple[int, int],
    pixel_spacing: Sequence[float],
    target_spacing: float | Sequence[float],
) -> tuple[int, int]:
    """(rows, columns) an image of ``shape`` gets when resampled to ``target_spacing``.

    ``pixel_spacing`` is Pixel Spacing (0028,0030): the distance between
    adjacent rows, then between adjacent columns, in mm (PS3.3 C.7.6.2.1.1).

    >>> spacing_shape((512, 512), (0.7, 0.7), 1.0)
    (358, 358)
    """
    row_spacing, column_spacing = _pair(pixel_spacing, "pixel_spacing")
    target_row, target_column = _pair(target_spacing, "target_spacing")
    return (
        max(1, round(shape[0] * row_spacing / target_row)),
        max(1, round(shape[1] * column_spacing / target_column)),
    )


def resample_spacing(
    arr: npt.ArrayLike,
    pixel_spacing: Sequence[float],
    target_spacing: float | Sequence[float],
    *,
    method: Interpolation | str = Interpolation.BILINEAR,
) -> FloatArray:
    """Resample the last two axes from ``pixel_spacing`` to ``target_spacing`` (mm/pixel).

    The field of view is kept; the output has :func:`spacing_shape` pixels,
    so the spacing reached is the target up to rounding to whole pixels.
    """
    values = _float_image(arr)
    size = spacing_shape((values.shape[-2], values.shape[-1]), pixel_spacing, target_spacing)
    return resize(values, size, method=method)


def crop_or_pad(arr: npt.ArrayLike, size: tuple[int, int], *, fill: float = 0.0) -> FloatArray:
    """Centre-crop or pad the last two axes to ``size``, keeping the pixel spacing.

    Used after :func:`resample_spacing` to give a model a fixed field of view
    in mm; padding uses ``fill`` (0.0 is the bottom of a VOI window).

    >>> crop_or_pad([[1.0, 2.0, 3.0, 4.0]], (3, 2)).tolist()
    [[0.0, 0.0], [2.0, 3.0], [0.0, 0.0]]
    """
    rows, columns = _check_size(size, 2)
    values = _float_image(arr)
    out = np.full((*values.shape[:-2], rows, columns), fill, dtype=np.float32)
    source, target = [], []
    for have, want in ((values.shape[-2], rows), (values.shape[-1], columns)):
        start_in, start_out = max(0, (have - want) // 2), max(0, (want - have) // 2)
        span = min(have, want)
        source.append(slice(start_in, start_in + span))
        target.append(slice(start_out, start_out + span))
    out[..., target[0], target[1]] = values[..., source[0], source[1]]
    return out


def _kernel(
    size_in: int, size_out: int, kind: Interpolation
) -> tuple[npt.NDArray[np.intp], FloatArray]:
    """Indices and weights, shaped (size_out, taps), as Pillow's precompute_coeffs."""
    scale = size_in / size_out
    filter_scale = max(scale, 1.0)
    support = (1.0 if kind is Interpolation.BILINEAR else 0.5) * filter_scale
    taps = math.ceil(support) * 2 + 1
    centers = (np.arange(size_out, dtype=np.float64) + 0.5) * scale
    first = np.clip(np.trunc(centers - support + 0.5), 0, None).astype(np.intp)
    last = np.minimum(np.trunc(centers + support + 0.5), size_in).astype(np.intp)
    index = first[:, np.newaxis] + np.arange(taps)
    x = (index - centers[:, np.newaxis] + 0.5) / filter_scale
    if kind is Interpolation.BILINEAR:
        weight = np.clip(1.0 - np.abs(x), 0.0, None)
    else:
        weight = ((x > -0.5) & (x <= 0.5)).astype(np.float64)
    weight[index >= last[:, np.newaxis]] = 0.0
    weight /= np.maximum(weight.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)
    used = np.flatnonzero(weight.any(axis=0))  # drop taps no output pixel uses
    last_tap = int(used[-1]) + 1 if used.size else 1
    index = np.minimum(index[:, :last_tap], size_in - 1)
    return index, weight[:, :last_tap].astype(np.float32)


def _nearest(size_in: int, size_out: int) -> npt.NDArray[np.intp]:
    centers = (np.arange(size_out, dtype=np.float64) + 0.5) * (size_in / size_out)
    return np.minimum(np.floor(centers).astype(np.intp), size_in - 1)


def _float_image(arr: npt.ArrayLike) -> FloatArray:
    values = np.asarray(arr, dtype=np.float32)
    if values.ndim < 2:
        raise ValueError(f"expected an image (..., rows, columns); got shape {values.shape}")
    return values


def _check_size(size: Sequence[int], count: int) -> tuple[int, ...]:
    values = tuple(size)
    if len(values) != count or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) and v > 0 for v in values
    ):
        raise ValueError(f"expected {count} positive whole number(s) for a size; got {size!r}")
    return tuple(int(v) for v in values)


def _pair(value: float | Sequence[float], name: str) -> tuple[float, float]:
    pair = (value, value) if isinstance(value, int | float) else tuple(value)
    if len(pair) != 2 or not all(float(v) > 0 and math.isfinite(float(v)) for v in pair):
        raise ValueError(f"{name} must be one or two positive numbers of mm; got {value!r}")
    return float(pair[0]), float(pair[1])
