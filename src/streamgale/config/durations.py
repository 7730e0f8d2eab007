"""Durations as people write them in configuration: ``500ms``, ``10s``, ``5m``, ``1h``.

A bare number (or a string holding one) means seconds. Every duration comes
back as a float number of seconds, which is what the API takes.
"""

from __future__ import annotations

import math
import re

__all__ = ["DURATION_FORMATS", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(ms|s|m|h|d)?\s*$")

DURATION_FORMATS = "a number of seconds, or a number with a unit: 500ms, 10s, 1.5m, 1h, 1d"
"""How to write a duration; error messages quote it."""


def parse_duration(value: object) -> float:
    """Seconds in ``value``: a number, or a string like ``"500ms"``, ``"10s"``, ``"5m"``.

    Raises :class:`ValueError` naming the accepted formats otherwise.

    >>> parse_duration("500ms"), parse_duration("10s"), parse_duration("1.5m"), parse_duration(2)
    (0.5, 10.0, 90.0, 2.0)
    >>> parse_duration("10 sec")
    Traceback (most recent call last):
    ...
    ValueError: bad duration '10 sec'; use a number of seconds, or a number with a unit: \
500ms, 10s, 1.5m, 1h, 1d
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        number, unit = match.groups()
        seconds = float(number) * _UNITS[unit or "s"]
    else:
        raise ValueError(f"bad duration {value!r}; use {DURATION_FORMATS}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"bad duration {value!r}: it must be finite and >= 0")
    return seconds
