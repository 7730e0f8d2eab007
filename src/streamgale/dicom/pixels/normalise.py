"""Scale pixel values the way a model was trained: min-max, z-score or fixed statistics.

Statistics are taken per image by default (over the last two axes), so a
slice gets the same values whether it is preprocessed alone or as part of a
series. A constant image has no spread; it maps to zeros rather than NaN.

>>> import numpy as np
>>> minmax(np.array([[2.0, 4.0], [6.0, 10.0]])).tolist()
[[0.0, 0.25], [0.5, 1.0]]
>>> standardise([0.5, 1.0], mean=0.5, std=0.25).tolist()
[0.0, 2.0]
"""

from __future__ import annotations

import enum

import numpy as np
import numpy.typing as npt

__all__ = ["Normalisation", "minmax", "standardise", "zscore"]

FloatArray = npt.NDArray[np.float32]
Axes = tuple[int, ...] | None

_IMAGE_AXES = (-2, -1)


class Normalisation(enum.StrEnum):
    """How values are scaled after windowing (a fixed (mean, std) is the fourth way)."""

    NONE = "none"
    MINMAX = "minmax"
    ZSCORE = "zscore"


def minmax(arr: npt.ArrayLike, *, axes: Axes = _IMAGE_AXES) -> FloatArray:
    """(x - min) / (max - min) over ``axes`` (None: the whole array), in [0, 1]."""
    values = _values(arr, axes)
    low = values.min(axis=axes, keepdims=True)
    spread = values.max(axis=axes, keepdims=True) - low
    out = values - low
    return _divide(out, spread)


def zscore(arr: npt.ArrayLike, *, axes: Axes = _IMAGE_AXES) -> FloatArray:
    """(x - mean) / std over ``axes`` (None: the whole array).

    >>> zscore([[1.0, 3.0]]).tolist()
    [[-1.0, 1.0]]
    """
    values = _values(arr, axes)
    mean = values.mean(axis=axes, keepdims=True, dtype=np.float64).astype(np.float32)
    std = values.std(axis=axes, keepdims=True, dtype=np.float64).astype(np.float32)
    out = values - mean
    return _divide(out, std)


def standardise(arr: npt.ArrayLike, *, mean: float, std: float) -> FloatArray:
    """(x - mean) / std with a model's fixed training statistics."""
    if not std > 0:
        raise ValueError(f"std must be > 0; got {std!r}")
    out = np.subtract(np.asarray(arr, dtype=np.float32), np.float32(mean))
    out *= np.float32(1.0 / std)
    return out


def _divide(out: FloatArray, spread: FloatArray) -> FloatArray:
    """out / spread in place; where there is no spread (a constant image) the result is 0."""
    flat = ~(spread > 0)
    np.divide(out, spread, out=out, where=~flat)
    if flat.any():
        out[np.broadcast_to(flat, out.shape)] = 0.0
    return out


def _values(arr: npt.ArrayLike, axes: Axes) -> FloatArray:
    values = np.asarray(arr, dtype=np.float32)
    if values.size == 0:
        raise ValueError("cannot normalise an empty array")
    if axes is not None and values.ndim < len(axes):
        raise ValueError(f"expected at least {len(axes)} axes; got shape {values.shape}")
    return values
