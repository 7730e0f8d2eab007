"""Reading records out of a partition's segment files, fast when sequential.

A :class:`PartitionReader` remembers where the last read stopped (segment,
byte position, next offset) and keeps the last chunk it read, so a consumer
reading forward never rescans headers and usually needs no system call at
all. Any other offset is found by bisecting segment base offsets, then the
segment's sparse index, then walking frame headers.

Every record handed out has passed its checksum; a bad one raises
:class:`~streamgale.errors.CorruptLogError`, never garbage.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass

from streamgale.errors import CorruptLogError
from streamgale.log.base import LogRecord
from streamgale.log.codec import decode
from streamgale.log.frame import HEADER, HEADER_SIZE, BadFrameError
from streamgale.log.segment_file import READ_CHUNK, Segment

__all__ = ["PartitionReader"]


@dataclass(slots=True)
class _Cursor:
    segment: Segment
    position: int
    offset: int


@dataclass(slots=True)
class _Chunk:
    segment: Segment
    position: int
    data: bytes


class PartitionReader:
    """Read state of one partition; the caller holds the partition's read lock."""

    def __init__(self, topic: str, partition: int) -> None:
        self._name = f"{topic}/{partition}"
        self._cursor: _Cursor | None = None
        self._chunk: _Chunk | None = None
        self._holding: Segment | None = None
        self._active: Segment | None = None

    def read(
        self, segments: list[Segment], bases: list[int], offset: int, limit: int
    ) -> list[LogRecord]:
        """Records from ``offset`` up to (not including) ``limit``, which must be readable."""
        out: list[LogRecord] = []
        self._active = segments[-1]
        index = bisect.bisect_right(bases, offset) - 1
        segment = segments[index]
        position = self._start_position(segment, offset)
        while True:
            last = segment is segments[-1]
            stop = limit if last else min(limit, segment.end_offset)
            if offset < stop:
                position = self._decode(segment, position, offset, stop - offset, out)
                offset = stop
            if offset >= limit or last:
                break
            index += 1
            segment, position = segments[index], 0
        self._cursor = _Cursor(segment, position, offset)
        if self._chunk is not None and len(self._chunk.data) > READ_CHUNK:
            self._chunk = None  # do not pin one huge record in memory
        return out

    def forget(self, segments: list[Segment]) -> None:
        """Drop any state pointing into ``segments`` (deleted by retention)."""
        doomed = {id(s) for s in segments}
        if self._cursor is not None and id(self._cursor.segment) in doomed:
            self._cursor = None
        if self._chunk is not None and id(self._chunk.segment) in doomed:
            self._chunk = None
        if self._holding is not None and id(self._holding) in doomed:
            self._holding = None

    def _start_position(self, segment: Segment, offset: int) -> int:
        cursor = self._cursor
        if cursor is not None and cursor.segment is segment and cursor.offset == offset:
            return cursor.position
        self._hold(segment)
        try:
            return segment.position_of(offset, record_index=segment is not self._active)
        except BadFrameError as exc:
            raise self._corrupt(segment, exc) from None

    def _hold(self, segment: Segment) -> None:
        """Keep at most one closed segment's file open on the reader's behalf.

        The active segment's file stays open for the appender anyway.
        """
        if segment is self._active or segment is self._holding:
            return
        if self._holding is not None:
            self._holding.close_fd()
        self._holding = segment
        segment.ensure_fd()

    def _decode(
        self, segment: Segment, position: int, offset: int, count: int, out: list[LogRecord]
    ) -> int:
        """Decode ``count`` records of ``segment`` from ``position``; return the end position."""
        while count > 0:
            chunk = self._chunk
            if chunk is None or chunk.segment is not segment:
                chunk = self._fill(segment, position, offset, HEADER_SIZE)
            relative = position - chunk.position
            data = chunk.data
            if not 0 <= relative < len(data):
                chunk = self._fill(segment, position, offset, HEADER_SIZE)
                continue
            before = len(out)
            try:
                after = decode(data, relative, offset, count, out)
            except BadFrameError as exc:
                exc.position += chunk.position
                raise self._corrupt(segment, exc) from None
            decoded = len(out) - before
            position += after - relative
            offset += decoded
            count -= decoded
            if count and not decoded:
                needed = HEADER_SIZE
                if len(data) - relative >= HEADER_SIZE:
                    needed += HEADER.unpack_from(data, relative)[0]
                self._fill(segment, position, offset, needed)
        return position

    def _fill(self, segment: Segment, position: int, offset: int, needed: int) -> _Chunk:
        """Read a chunk of at least ``needed`` bytes from ``position``."""
        self._hold(segment)
        # Only bytes below size_bytes are known to be completely written.
        available = segment.size_bytes - position
        data = b""
        if available >= needed:
            data = os.pread(segment.ensure_fd(), max(min(READ_CHUNK, available), needed), position)
        if len(data) < needed:
            reason = f"segment ends at byte {position + len(data)}, inside the frame"
            raise self._corrupt(segment, BadFrameError(offset, position, reason))
        self._chunk = _Chunk(segment, position, data)
        return self._chunk

    def _corrupt(self, segment: Segment, exc: BadFrameError) -> CorruptLogError:
        msg = (
            f"record at offset {exc.offset} of {self._name} is corrupt ({exc.reason}; "
            f"file {segment.path}, byte {exc.position}); refusing to return it. Restore the "
            f"file from a backup or replica, or skip the record by reading from offset "
            f"{exc.offset + 1}"
        )
        return CorruptLogError(msg)
