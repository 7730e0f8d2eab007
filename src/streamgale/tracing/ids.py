"""Trace and span ids derived from what a telemetry row describes, not drawn at random.

A study's stages are recorded by different steps at different times, and may
reach the trace sink in different batches, before and after a restart. Deriving
the trace id from the Study Instance UID (and the root span id likewise) makes
every span of a study join one trace without remembering anything; deriving a
stage span's id from the row itself makes a row replayed after a crash export
the same span again, which a tracing backend can recognise as a repeat.

>>> trace_id_of("1.2.840.1") == trace_id_of("1.2.840.1") != trace_id_of("1.2.840.2")
True
>>> f"{trace_id_of('1.2.840.1'):032x}"
'f9a13599155b7052d882ea71eee89407'
>>> 0 < root_span_id_of("1.2.840.1") < 2**64
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

__all__ = ["root_span_id_of", "span_id_of", "trace_id_of"]

_SPAN_FIELDS = (
    "pipeline",
    "study_uid",
    "series_uid",
    "instance_uid",
    "step",
    "stage",
    "level",
    "model",
    "variant",
    "ts",
)
"""The columns that tell one recorded stage from another (ts tells a redo apart)."""


def trace_id_of(key: str) -> int:
    """The 128-bit trace id of a study (``key`` is its Study Instance UID).

    The first 16 bytes of the SHA-256 of the UID; never 0, which OpenTelemetry
    reserves for "no trace".
    """
    return _nonzero(hashlib.sha256(key.encode()).digest()[:16])


def root_span_id_of(key: str) -> int:
    """The 64-bit span id of a study's root span; stages recorded late attach to it."""
    return _nonzero(hashlib.sha256(b"root\0" + key.encode()).digest()[:8])


def span_id_of(row: Mapping[str, Any]) -> int:
    """The 64-bit span id of the stage one telemetry row records.

    >>> row = {"study_uid": "1.2", "stage": "validated", "ts": 10.5}
    >>> span_id_of(row) == span_id_of(dict(row)) != span_id_of({**row, "ts": 11.0})
    True
    """
    text = "\0".join(repr(row.get(name)) for name in _SPAN_FIELDS)
    return _nonzero(hashlib.sha256(b"span\0" + text.encode()).digest()[:8])


def _nonzero(digest: bytes) -> int:
    return int.from_bytes(digest, "big") or 1
