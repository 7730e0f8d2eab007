"""User functions of the sensors example pipeline (``sensors.yaml`` names them).

The pipeline file refers to them as ``sensor_rules:parse`` and
``sensor_rules:is_hot``; StreamGale finds this module next to the file.
"""

from __future__ import annotations

from typing import Any

HOT_CELSIUS = 30.0
"""A window whose peak reaches this is reported as hot."""


def parse(reading: dict[str, Any]) -> dict[str, Any]:
    """Convert a raw reading to Celsius.

    A reading whose temperature is not a number raises ``ValueError``; the
    pipeline keeps it in the dead-letter store (see ``streamgale dlq list``)
    and goes on.

    >>> parse({"sensor": "s1", "ts": 0.0, "temp_f": 212.0})
    {'sensor': 's1', 'ts': 0.0, 'celsius': 100.0}
    """
    fahrenheit = float(reading["temp_f"])
    celsius = round((fahrenheit - 32.0) * 5.0 / 9.0, 2)
    return {"sensor": reading["sensor"], "ts": float(reading["ts"]), "celsius": celsius}


def is_hot(window: dict[str, Any]) -> bool:
    """Whether a window's peak temperature reached :data:`HOT_CELSIUS`.

    >>> is_hot({"key": "s1", "peak": 31.0}), is_hot({"key": "s1", "peak": 20.0})
    (True, False)
    """
    return bool(window["peak"] >= HOT_CELSIUS)
