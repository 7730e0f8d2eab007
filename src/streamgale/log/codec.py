"""Framing records for a segment file: picks the fastest correct path per batch.

Large batches go through :mod:`streamgale.log.vectorized`, small ones and
records of varying length through the plain loops of
:mod:`streamgale.log.frame`. Both produce and accept the same bytes.

>>> out: list[LogRecord] = []
>>> data = encode(0, 1.0, [b"x"] * 1000)
>>> decode(data, 0, 0, 1000, out) == len(data), len(out), out[-1].offset
(True, 1000, 999)
"""

from __future__ import annotations

from collections.abc import Sequence

from streamgale.log.base import LogRecord
from streamgale.log.frame import decode_frames, encode_frames
from streamgale.log.vectorized import MIN_RUN, decode_run, encode_batch

__all__ = ["decode", "encode"]

# After this many one-by-one frames, look for an equal-length run again.
_SCALAR_SPAN = 256


def encode(first_offset: int, timestamp: float, payloads: Sequence[bytes]) -> bytes:
    """Frame ``payloads`` with consecutive offsets from ``first_offset`` as one buffer."""
    if len(payloads) >= MIN_RUN:
        return encode_batch(first_offset, timestamp, payloads)
    return encode_frames(first_offset, timestamp, payloads)


def decode(data: bytes, pos: int, offset: int, count: int, out: list[LogRecord]) -> int:
    """Decode up to ``count`` complete frames from ``pos`` into ``out``; see decode_frames."""
    while count > 0:
        before = len(out)
        if count >= MIN_RUN:
            pos = decode_run(data, pos, offset, count, out)
        if len(out) == before:
            pos = decode_frames(data, pos, offset, min(count, _SCALAR_SPAN), out)
            if len(out) == before:
                break  # an incomplete frame: the caller reads more
        offset += len(out) - before
        count -= len(out) - before
    return pos
