"""Validation of :class:`~streamgale.dicom.pixels.PreprocessConfig` values.

Each check accepts the forms a YAML file or a caller may use (an enum or its
string, a pair as a tuple or a mapping) and returns the one normalised form,
or raises :class:`~streamgale.errors.ConfigError` naming the key and the
allowed values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from streamgale.dicom.pixels.lut import DATASET_VOI, VoiPreset
from streamgale.dicom.pixels.normalise import Normalisation
from streamgale.errors import ConfigError

__all__ = ["DTYPES", "check_dims", "check_normalise", "check_voi", "parse_choice"]

DTYPES = ("float32", "float16", "float64")
"""Element types a model input may have."""


def check_voi(value: object) -> VoiPreset | tuple[float, float] | str:
    if isinstance(value, str) and value.strip().lower() == DATASET_VOI:
        return DATASET_VOI
    if isinstance(value, VoiPreset | str):
        try:
            return VoiPreset.parse(value)
        except ValueError:
            pass
    else:
        pair = _pair(value, ("center", "width"), "voi")
        if pair is not None:
            if not pair[1] >= 1:
                raise ConfigError(
                    f"a window width must be >= 1 (PS3.3 C.11.2.1.2); got {pair[1]:g}",
                    key="voi.width",
                )
            return pair
    allowed = ", ".join(preset.value for preset in VoiPreset)
    raise ConfigError(
        f"got {value!r}; allowed: {allowed}, {DATASET_VOI}, "
        "or a (center, width) pair / {center, width} mapping",
        key="voi",
    )


def check_normalise(value: object) -> Normalisation | tuple[float, float]:
    if isinstance(value, str):
        try:
            return Normalisation(value.strip().lower())
        except ValueError:
            pass
    else:
        pair = _pair(value, ("mean", "std"), "normalise")
        if pair is not None:
            if not pair[1] > 0:
                raise ConfigError(f"std must be > 0; got {pair[1]:g}", key="normalise.std")
            return pair
    allowed = ", ".join(method.value for method in Normalisation)
    raise ConfigError(
        f"got {value!r}; allowed: {allowed}, or a (mean, std) pair / {{mean, std}} mapping",
        key="normalise",
    )


def _pair(value: object, names: tuple[str, str], key: str) -> tuple[float, float] | None:
    if isinstance(value, Mapping):
        unknown = [name for name in value if name not in names]
        missing = [name for name in names if name not in value]
        if unknown or missing:
            raise ConfigError(
                f"expected exactly the keys {', '.join(names)}; got {', '.join(map(str, value))}",
                key=key,
            )
        items: Sequence[object] = [value[name] for name in names]
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes) and len(value) == 2:
        items = value
    else:
        return None
    numbers = []
    for name, item in zip(names, items, strict=True):
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            raise ConfigError(f"expected a finite number; got {item!r}", key=f"{key}.{name}")
        numbers.append(float(item))
    return numbers[0], numbers[1]


def check_dims(value: object, key: str, *, integer: bool) -> tuple[Any, ...] | None:
    if value is None:
        return None
    what, one = ("whole numbers", "whole number") if integer else ("numbers of mm", "number")
    example = "[128, 128]" if integer else "[0.7, 0.7]"
    if (
        isinstance(value, str | bytes)
        or not isinstance(value, Sequence)
        or len(value) not in (2, 3)
    ):
        raise ConfigError(
            f"expected 2 or 3 positive {what}, such as {example}; got {value!r}", key=key
        )
    out: list[Any] = []
    for index, item in enumerate(value):
        good = not isinstance(item, bool) and (
            isinstance(item, int) if integer else isinstance(item, int | float)
        )
        if not good or not item > 0 or not math.isfinite(item):
            raise ConfigError(f"expected a positive {one}; got {item!r}", key=f"{key}[{index}]")
        out.append(int(item) if integer else float(item))
    return tuple(out)


def parse_choice(parse: Any, value: object, key: str) -> Any:
    try:
        return parse(value)
    except ValueError as exc:
        raise ConfigError(str(exc), key=key) from None
