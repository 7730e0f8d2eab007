"""How records are laid out on disk in a segment file.

Every record is one *frame*: a fixed 24-byte header, then the payload::

    length    u32   payload length in bytes
    crc       u32   zlib.crc32 over offset, timestamp and payload
    offset    u64   the record's offset in its partition
    timestamp f64   append time, unix seconds
    payload   length bytes

All integers are little-endian. Because ``offset``, ``timestamp`` and the
payload are contiguous, a reader checks a frame with one crc call over
``frame[8:]``. Storing the offset in every frame lets a reader notice a frame
that is intact but in the wrong place (a stale or misdirected write).

>>> data = encode_frames(7, 1.5, [b"a", b"bc"])
>>> len(data) == 2 * HEADER_SIZE + 3
True
>>> out: list[LogRecord] = []
>>> decode_frames(data, 0, 7, 10, out) == len(data)
True
>>> [(r.offset, r.payload) for r in out]
[(7, b'a'), (8, b'bc')]
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import NamedTuple

from streamgale.log.base import LogRecord
from streamgale.log.records import build_records

__all__ = [
    "HEADER",
    "HEADER_SIZE",
    "MAX_PAYLOAD",
    "BadFrameError",
    "CheckResult",
    "check_frames",
    "decode_frames",
    "encode_frames",
    "skip_frames",
]

HEADER = struct.Struct("<IIQd")
HEADER_SIZE = HEADER.size
MAX_PAYLOAD = 2**32 - 1

_PREFIX = struct.Struct("<Qd")
_LENGTH_CRC = struct.Struct("<II")
_crc32 = zlib.crc32


class BadFrameError(Exception):
    """A complete frame failed its checksum or carries the wrong offset.

    Internal: callers turn it into :class:`~streamgale.errors.CorruptLogError`
    with the topic, partition and file, which only they know.
    """

    def __init__(self, offset: int, position: int, reason: str) -> None:
        self.offset = offset
        self.position = position
        self.reason = reason
        super().__init__(f"offset {offset} at byte {position}: {reason}")


def encode_frames(first_offset: int, timestamp: float, payloads: Sequence[bytes]) -> bytes:
    """Frame ``payloads`` with consecutive offsets from ``first_offset`` as one buffer.

    One buffer means one write system call for the whole batch.
    """
    parts: list[bytes] = []
    add = parts.append
    pack_prefix = _PREFIX.pack
    pack_length_crc = _LENGTH_CRC.pack
    crc32 = _crc32
    offset = first_offset
    for payload in payloads:
        prefix = pack_prefix(offset, timestamp)
        add(pack_length_crc(len(payload), crc32(payload, crc32(prefix))))
        add(prefix)
        add(payload)
        offset += 1
    return b"".join(parts)


def _bad_reason(found_offset: int, expected_offset: int) -> str:
    if found_offset != expected_offset:
        return f"frame carries offset {found_offset}, expected {expected_offset}"
    return "checksum mismatch"


def decode_frames(data: bytes, pos: int, offset: int, count: int, out: list[LogRecord]) -> int:
    """Decode up to ``count`` complete frames of ``data`` from ``pos`` into ``out``.

    Frames must carry consecutive offsets from ``offset``. Returns the
    position after the last decoded frame; decoding stops early at an
    incomplete frame (the caller reads more). Raises BadFrameError.
    """
    view = memoryview(data)
    end = len(data)
    unpack = HEADER.unpack_from
    crc32 = _crc32
    timestamps: list[float] = []
    payloads: list[bytes] = []
    first = offset
    while count > 0 and pos + HEADER_SIZE <= end:
        length, crc, found, timestamp = unpack(data, pos)
        stop = pos + HEADER_SIZE + length
        if stop > end:
            break
        if found != offset or crc32(view[pos + 8 : stop]) != crc:
            raise BadFrameError(offset, pos, _bad_reason(found, offset))
        timestamps.append(timestamp)
        payloads.append(data[pos + HEADER_SIZE : stop])
        pos = stop
        offset += 1
        count -= 1
    out.extend(build_records(range(first, offset), timestamps, payloads, offset - first))
    return pos


def skip_frames(data: bytes, pos: int, offset: int, target: int) -> tuple[int, int]:
    """Walk frame headers from ``pos`` (holding ``offset``) towards ``target``.

    Payloads are skipped by length, not read or checked, so the returned
    position may lie past the end of ``data``. Returns ``(position, offset)``
    reached; the offset is below ``target`` only when a header is missing
    from ``data``.
    """
    end = len(data)
    unpack = HEADER.unpack_from
    while offset < target and pos + HEADER_SIZE <= end:
        length = unpack(data, pos)[0]
        pos += HEADER_SIZE + length
        offset += 1
    return pos, offset


class CheckResult(NamedTuple):
    """Outcome of :func:`check_frames`: how far the frames are intact."""

    position: int
    offset: int
    newest_timestamp: float | None
    bad: BadFrameError | None


def check_frames(data: bytes, pos: int, offset: int) -> CheckResult:
    """Verify complete frames of ``data`` from ``pos``, used to recover a segment.

    Stops at the first incomplete frame (``bad`` is None; the caller reads
    more) or the first bad frame (``bad`` says why).
    """
    view = memoryview(data)
    end = len(data)
    unpack = HEADER.unpack_from
    newest: float | None = None
    while pos + HEADER_SIZE <= end:
        length, crc, found, timestamp = unpack(data, pos)
        stop = pos + HEADER_SIZE + length
        if stop > end:
            break
        if found != offset or _crc32(view[pos + 8 : stop]) != crc:
            return CheckResult(
                pos, offset, newest, BadFrameError(offset, pos, _bad_reason(found, offset))
            )
        newest = timestamp
        pos = stop
        offset += 1
    return CheckResult(pos, offset, newest, None)
