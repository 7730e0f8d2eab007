"""One segment file of a partition: its bounds, its sparse index, its file descriptor.

A segment is named after the offset of its first record
(``00000000000000000000.log``), so the segment holding an offset is found by
bisecting file names. Inside a segment, a *sparse index* of ``(offset,
byte position)`` pairs, one about every :data:`INDEX_INTERVAL` bytes, bounds
how many frame headers a random seek has to walk.
"""

from __future__ import annotations

import bisect
import math
import os
from pathlib import Path

from streamgale.log.frame import HEADER, HEADER_SIZE, BadFrameError, skip_frames
from streamgale.log.fsutil import fsync_dir

__all__ = [
    "INDEX_INTERVAL",
    "READ_CHUNK",
    "Segment",
    "list_segment_bases",
    "segment_path",
]

# A random seek walks at most this many bytes of headers past an index entry.
INDEX_INTERVAL = 64 * 1024
# Bytes fetched per read system call: large enough to amortise the call over
# thousands of small records, small enough to keep a reader's memory flat.
READ_CHUNK = 1024 * 1024
# Walking headers only needs the headers; a smaller read wastes less on large records.
_WALK_CHUNK = 64 * 1024
_SUFFIX = ".log"


def segment_path(directory: Path, base_offset: int) -> Path:
    """The file of the segment whose first record has ``base_offset``."""
    return directory / f"{base_offset:020d}{_SUFFIX}"


def list_segment_bases(directory: Path) -> list[int]:
    """Base offsets of the segment files in ``directory``, ascending."""
    bases = []
    for entry in directory.iterdir():
        stem = entry.name.removesuffix(_SUFFIX)
        if entry.name.endswith(_SUFFIX) and stem.isdigit() and len(stem) == 20:
            bases.append(int(stem))
    return sorted(bases)


class Segment:
    """Bounds and file of one segment.

    Only the partition's append lock holder changes ``size_bytes``,
    ``end_offset`` and the index of the active segment; readers see each
    attribute change atomically. ``size_bytes`` grows only after the bytes
    are written, so bytes below it are always complete.
    """

    __slots__ = ("_newest", "base_offset", "end_offset", "fd", "index", "path", "size_bytes")

    def __init__(
        self,
        path: Path,
        base_offset: int,
        *,
        size_bytes: int,
        end_offset: int,
        newest: float | None = None,
        fd: int | None = None,
        index: list[tuple[int, int]] | None = None,
    ) -> None:
        self.path = path
        self.base_offset = base_offset
        self.size_bytes = size_bytes
        self.end_offset = end_offset
        self.fd = fd
        self._newest = newest
        # One list of pairs, not two lists, so a reader never sees half an entry.
        self.index = index if index is not None else [(base_offset, 0)]

    @classmethod
    def create(cls, directory: Path, base_offset: int) -> Segment:
        """Create an empty segment file and make its creation durable."""
        path = segment_path(directory, base_offset)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fsync_dir(directory)
        return cls(path, base_offset, size_bytes=0, end_offset=base_offset, fd=fd)

    @classmethod
    def closed(cls, directory: Path, base_offset: int, end_offset: int) -> Segment:
        """A closed segment found on disk; its file is opened only when read."""
        path = segment_path(directory, base_offset)
        size = path.stat().st_size
        return cls(path, base_offset, size_bytes=size, end_offset=end_offset)

    def ensure_fd(self) -> int:
        """The segment's file descriptor, opening the file if needed."""
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDWR)
        return self.fd

    def close_fd(self) -> None:
        """Close the file descriptor, if open."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def note_append(self, first: int, position: int, nbytes: int, count: int, ts: float) -> None:
        """Account for ``count`` records written at ``position`` (append lock held)."""
        if position - self.index[-1][1] >= INDEX_INTERVAL:
            self.index.append((first, position))
        self.size_bytes = position + nbytes
        self._newest = ts
        self.end_offset = first + count

    def newest_timestamp(self) -> float | None:
        """Append time of the last record; read from the file once if unknown."""
        if self._newest is None and self.end_offset > self.base_offset:
            last = self.end_offset - 1
            fd = os.open(self.path, os.O_RDONLY)
            try:
                position = self._walk(fd, last, record_index=False)
                header = os.pread(fd, HEADER_SIZE, position)
            finally:
                os.close(fd)
            if len(header) < HEADER_SIZE:
                raise BadFrameError(last, position, "segment ends inside a frame header")
            self._newest = HEADER.unpack(header)[3]
        return self._newest

    def position_of(self, offset: int, *, record_index: bool) -> int:
        """Byte position of the frame of ``offset``, walking headers from the index.

        ``record_index`` adds index entries on the way; only safe for a closed
        segment, whose index no appender touches.
        """
        return self._walk(self.ensure_fd(), offset, record_index=record_index)

    def _walk(self, fd: int, target: int, *, record_index: bool) -> int:
        entry = bisect.bisect_right(self.index, (target, math.inf)) - 1
        offset, position = self.index[entry]
        while offset < target:
            data = os.pread(fd, _WALK_CHUNK, position)
            step, offset = skip_frames(data, 0, offset, target)
            if step == 0:
                msg = f"segment ends at byte {position}, before offset {target}"
                raise BadFrameError(offset, position, msg)
            position += step
            last_offset, last_position = self.index[-1]
            far = position - last_position >= INDEX_INTERVAL
            if record_index and offset > last_offset and far:
                self.index.append((offset, position))
        return position
