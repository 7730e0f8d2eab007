"""Validation of the values of a model config, one function per kind of value.

Each check takes the value and its key path (``inputs[0].dtype``) and either
returns the value normalised (lists become tuples, ``-1`` becomes ``None``)
or raises :class:`~streamgale.errors.ConfigError` naming the key and, where
the choice is closed, the allowed values. The YAML loader turns the key
path back into a line of the file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NoReturn

from streamgale.errors import ConfigError

__all__ = [
    "DTYPES",
    "NORMALISE_METHODS",
    "PREPROCESSING_KEYS",
    "TASKS",
    "VOI_PRESETS",
    "check_choice",
    "check_int",
    "check_name",
    "check_names",
    "check_number",
    "check_preprocessing",
    "check_shape",
    "check_text",
    "check_thresholds",
    "fail",
    "thaw",
]

TASKS = ("classification", "segmentation", "detection")
"""What a model does; downstream steps pick the result object from it (SR, SEG)."""

DTYPES = (
    "float32",
    "float16",
    "float64",
    "uint8",
    "int8",
    "uint16",
    "int16",
    "int32",
    "int64",
    "bool",
)
"""Tensor element types, spelt as numpy spells them."""

PREPROCESSING_KEYS = (
    "voi",
    "size",
    "normalise",
    "spacing",
    "channels_first",
    "dtype",
    "voi_function",
    "interpolation",
)
"""Keys of ``preprocessing``: fields of ``streamgale.dicom.pixels.PreprocessConfig``."""

# Mirrors streamgale.dicom.pixels (VoiPreset, PREPROCESS_KEYS), which needs the dicom
# extra; inference must load without it. tests/inference checks the two agree.
VOI_PRESETS = (
    "lung",
    "mediastinum",
    "soft_tissue",
    "bone",
    "brain",
    "liver",
    "abdomen",
    "dataset",
)
"""Named VOI windows (PS3.3 C.11.2 Window Center/Width presets) a model may ask for."""

NORMALISE_METHODS = ("none", "minmax", "zscore")
"""How pixel values are scaled after windowing."""

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def fail(key: str, message: str) -> NoReturn:
    """Raise :class:`ConfigError` for ``key``."""
    raise ConfigError(message, key=key)


def check_name(value: object, key: str, *, what: str = "a name") -> str:
    """A plain name: letters, digits, ``_``, ``-`` and ``.`` (no ``@``, no spaces)."""
    if not isinstance(value, str) or not _NAME.match(value):
        fail(
            key,
            f"expected {what} made of letters, digits, '_', '-' and '.'; got {value!r}",
        )
    return value


def check_text(value: object, key: str, *, what: str) -> str:
    """A non-empty string (tensor names are the model's, so any characters go)."""
    if not isinstance(value, str) or not value.strip():
        fail(key, f"expected {what} (non-empty text); got {value!r}")
    return value


def check_names(value: object, key: str, *, allow_empty: bool) -> tuple[str, ...]:
    """A list of distinct non-empty strings."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        fail(key, f"expected a list of names; got {type(value).__name__} {value!r}")
    names: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            fail(f"{key}[{i}]", f"expected a non-empty string; got {item!r}")
        if item in names:
            fail(f"{key}[{i}]", f"'{item}' is listed twice; names must be distinct")
        names.append(item)
    if not names and not allow_empty:
        fail(key, "expected at least one name")
    return tuple(names)


def check_choice(value: object, key: str, allowed: Sequence[str]) -> str:
    """One of ``allowed``."""
    if value not in allowed:
        fail(key, f"got {value!r}; allowed: {', '.join(allowed)}")
    return str(value)


def check_int(value: object, key: str, *, minimum: int, maximum: int) -> int:
    """A whole number within ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        fail(key, f"expected a whole number between {minimum} and {maximum}; got {value!r}")
    return value


def check_number(
    value: object, key: str, *, minimum: float, maximum: float, open_minimum: bool = False
) -> float:
    """A finite number within the bounds (``minimum`` excluded with ``open_minimum``)."""
    number = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    low_ok = number > minimum if open_minimum else number >= minimum
    if not (math.isfinite(number) and low_ok and number <= maximum):
        low = f"> {minimum:g}" if open_minimum else f">= {minimum:g}"
        fail(key, f"expected a number {low} and <= {maximum:g}; got {value!r}")
    return number


def check_shape(value: object, key: str) -> tuple[int | None, ...]:
    """A tensor shape whose first (batch) dimension is dynamic: ``-1`` or ``null``.

    Other dimensions are positive, or dynamic too; ``-1`` becomes ``None``.
    """
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        fail(key, f"expected a list of dimensions such as [-1, 1, 128, 128]; got {value!r}")
    dims: list[int | None] = []
    for i, dim in enumerate(value):
        if dim is None or dim == -1:
            dims.append(None)
        elif isinstance(dim, int) and not isinstance(dim, bool) and dim > 0:
            dims.append(dim)
        else:
            fail(f"{key}[{i}]", f"expected a positive whole number, -1 or null; got {dim!r}")
    if dims[0] is not None:
        fail(
            f"{key}[0]",
            f"the first dimension is the batch and must be dynamic (-1 or null); got {dims[0]}",
        )
    return tuple(dims)


def check_thresholds(
    value: object, key: str, labels: Sequence[str]
) -> MappingProxyType[str, float]:
    """Per-label decision thresholds in ``[0, 1]``; every key must be a label."""
    if not isinstance(value, Mapping):
        fail(key, f"expected a mapping of label: threshold; got {value!r}")
    out: dict[str, float] = {}
    for label, threshold in value.items():
        if label not in labels:
            allowed = ", ".join(labels) if labels else "(no labels are declared)"
            fail(f"{key}.{label}", f"'{label}' is not one of the labels; allowed: {allowed}")
        out[label] = check_number(threshold, f"{key}.{label}", minimum=0.0, maximum=1.0)
    return MappingProxyType(out)


def check_preprocessing(value: object, key: str) -> MappingProxyType[str, Any]:
    """The ``preprocessing`` mapping, normalised for ``PreprocessConfig(**mapping)``.

    * ``voi``: a preset name (:data:`VOI_PRESETS`) or ``{center, width}`` in
      the units of the modality LUT output (HU for CT; PS3.3 C.11.2.1.2);
    * ``size``: the output ``[rows, columns]`` (or ``[slices, rows, columns]``);
    * ``normalise``: one of :data:`NORMALISE_METHODS` or ``{mean, std}``;
    * ``spacing``: resample to this pixel spacing in mm, ``[row, column]``
      (PS3.3 C.7.6.2.1.1 Pixel Spacing) or ``[slice, row, column]``.
    """
    if not isinstance(value, Mapping):
        fail(key, f"expected a mapping with keys {', '.join(PREPROCESSING_KEYS)}; got {value!r}")
    out: dict[str, Any] = {}
    for name, item in value.items():
        sub = f"{key}.{name}"
        if name == "voi":
            out[name] = _check_voi(item, sub)
        elif name == "size":
            out[name] = _check_dims(item, sub, integer=True)
        elif name == "normalise":
            out[name] = _check_normalise(item, sub)
        elif name == "spacing":
            out[name] = _check_dims(item, sub, integer=False)
        else:
            fail(sub, f"unknown key '{name}'; allowed: {', '.join(PREPROCESSING_KEYS)}")
    return MappingProxyType(out)


def _check_voi(value: object, key: str) -> str | MappingProxyType[str, float]:
    if isinstance(value, Mapping):
        window = _check_pair(value, key, ("center", "width"))
        if window["width"] < 1:
            fail(f"{key}.width", f"a VOI window width must be >= 1 (PS3.3 C.11.2.1.2); got {value}")
        return window
    if isinstance(value, str) and value in VOI_PRESETS:
        return value
    fail(key, f"got {value!r}; allowed: {', '.join(VOI_PRESETS)} or a mapping {{center, width}}")


def _check_normalise(value: object, key: str) -> str | MappingProxyType[str, float]:
    if isinstance(value, Mapping):
        stats = _check_pair(value, key, ("mean", "std"))
        if stats["std"] <= 0:
            fail(f"{key}.std", f"std must be > 0; got {stats['std']}")
        return stats
    if isinstance(value, str) and value in NORMALISE_METHODS:
        return value
    fail(key, f"got {value!r}; allowed: {', '.join(NORMALISE_METHODS)} or a mapping {{mean, std}}")


def _check_pair(
    value: Mapping[Any, Any], key: str, names: tuple[str, str]
) -> MappingProxyType[str, float]:
    for name in value:
        if name not in names:
            fail(f"{key}.{name}", f"unknown key '{name}'; allowed: {', '.join(names)}")
    for name in names:
        if name not in value:
            fail(key, f"missing required key '{name}'")
    return MappingProxyType(
        {n: check_number(value[n], f"{key}.{n}", minimum=-1e9, maximum=1e9) for n in names}
    )


def _check_dims(value: object, key: str, *, integer: bool) -> tuple[float, ...] | tuple[int, ...]:
    what = "whole numbers" if integer else "numbers (mm)"
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) not in (2, 3):
        fail(key, f"expected 2 or 3 positive {what}, such as [256, 256]; got {value!r}")
    if integer:
        return tuple(
            check_int(v, f"{key}[{i}]", minimum=1, maximum=65535) for i, v in enumerate(value)
        )
    return tuple(
        check_number(v, f"{key}[{i}]", minimum=0.0, maximum=1e4, open_minimum=True)
        for i, v in enumerate(value)
    )


def thaw(value: Any) -> Any:
    """A plain, YAML- and pickle-friendly copy: mappings become dicts, tuples lists."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value
