"""JSON encoding of records for the text sinks (JSON Lines, stdout).

Records coming out of a :class:`~streamgale.batch.ColumnBatch` hold numpy
scalars, and user records may hold numpy arrays or datetimes; the standard
``json`` module refuses all of them. :func:`to_json` converts them the obvious
way and, for anything else, raises an error that names the offending type.

>>> import numpy as np
>>> to_json({"n": np.int64(3), "v": np.array([0.5, 1.0])})
'{"n":3,"v":[0.5,1.0]}'
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np

from streamgale.errors import StreamGaleError

__all__ = ["json_default", "to_json"]


def json_default(value: Any) -> Any:
    """``default=`` hook for :func:`json.dumps` that understands numpy and datetimes."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(
            f"cannot write {type(value).__name__} as JSON; decode it to text or "
            "base64-encode it in a step before the sink"
        )
    raise TypeError(
        f"cannot write a value of type {type(value).__name__} as JSON; convert it to "
        "a dict, list, str, number, bool or None in a step before the sink"
    )


def to_json(record: Any) -> str:
    """One record as compact JSON text, without a trailing newline.

    Raises :class:`~streamgale.errors.StreamGaleError` naming the type that
    could not be encoded.
    """
    try:
        return json.dumps(record, default=json_default, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StreamGaleError(f"record is not JSON-serialisable: {exc}") from exc
