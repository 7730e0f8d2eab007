"""One partition of a :class:`~streamgale.log.segment.SegmentLog`: a directory of segments.

Two locks keep appends and reads apart. The *append lock* serialises
appenders (threads of an HTTP server, say). The *read lock* serialises
readers and guards the segment list; appenders take it only to roll to a new
segment, retention takes both. So a reader never waits for an fsync, and an
appender never waits for a reader.

Appends publish in a fixed order: bytes written, then the segment's size,
then the partition's end offset. A reader that saw an end offset therefore
only ever touches bytes that are completely written.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from streamgale.errors import CorruptLogError, LogError
from streamgale.log.base import FsyncPolicy, LogRecord, Retention
from streamgale.log.checks import check_read
from streamgale.log.codec import encode
from streamgale.log.frame import MAX_PAYLOAD, BadFrameError
from streamgale.log.fsutil import fsync_dir, write_all
from streamgale.log.reader import PartitionReader
from streamgale.log.recovery import recover_segment
from streamgale.log.retention import count_droppable
from streamgale.log.segment_file import Segment, list_segment_bases

__all__ = ["Partition", "PartitionConfig"]


@dataclass(frozen=True)
class PartitionConfig:
    """How a partition writes: when to fsync and when to roll to a new segment.

    With ``FsyncPolicy.INTERVAL`` the partition only reports that it became
    dirty; a :class:`~streamgale.log.flusher.Flusher` does the fsync.
    """

    fsync: FsyncPolicy
    segment_bytes: int


class Partition:
    """Append-only segments of one partition, recovered from ``directory``."""

    def __init__(
        self,
        directory: Path,
        topic: str,
        number: int,
        config: PartitionConfig,
        notify_dirty: Callable[[], None] | None = None,
    ) -> None:
        self._directory = directory
        self._name = (topic, number)
        self._config = config
        self._notify_dirty = notify_dirty
        self._append_lock = threading.Lock()
        self._sync_lock = threading.Lock()  # held across an fsync; see sync()
        self._read_lock = threading.Lock()
        self._reader = PartitionReader(topic, number)
        self._segments = _open_segments(directory)
        self._bases = [s.base_offset for s in self._segments]
        self._active = self._segments[-1]
        self._end_offset = self._active.end_offset
        self._dirty = False
        self._closed = False

    @property
    def start_offset(self) -> int:
        """Lowest offset still on disk."""
        return self._segments[0].base_offset

    @property
    def end_offset(self) -> int:
        """Offset the next appended record gets."""
        return self._end_offset

    def append(self, payloads: Sequence[bytes], timestamp: float) -> int:
        """Write ``payloads`` as one batch; return the first offset."""
        if payloads and max(map(len, payloads)) > MAX_PAYLOAD:
            msg = f"a record payload exceeds {MAX_PAYLOAD} bytes; split it into smaller records"
            raise LogError(msg)
        with self._append_lock:
            self._check_open()
            first = self._end_offset
            if not payloads:
                return first
            data = encode(first, timestamp, payloads)
            active = self._active
            if active.size_bytes and active.size_bytes + len(data) > self._config.segment_bytes:
                active = self._roll()
            position = active.size_bytes
            self._write(active, data, position)
            active.note_append(first, position, len(data), len(payloads), timestamp)
            self._end_offset = first + len(payloads)
            if self._config.fsync is not FsyncPolicy.ALWAYS:
                self._mark_dirty()
                return first
            # fsync a duplicate outside the lock: concurrent appenders then share
            # the disk's flushes instead of queueing for them one by one.
            fd = os.dup(active.ensure_fd())
        _fsync_and_close(fd, active.path)
        return first

    def read(self, offset: int, max_records: int) -> list[LogRecord]:
        """Up to ``max_records`` checked records from ``offset``."""
        with self._read_lock:
            self._check_open()
            end = self._end_offset
            check_read(*self._name, offset, max_records, start=self.start_offset, end=end)
            if offset == end:
                return []
            return self._reader.read(
                self._segments, self._bases, offset, min(end, offset + max_records)
            )

    def sync(self) -> None:
        """Fsync the active segment if anything was written since the last fsync.

        Returns only once everything appended before the call is durable. Syncs
        are serialised: a caller that finds the partition clean while another
        caller's fsync is still running waits for that fsync instead of
        returning early (the flag is cleared before the fsync, so appends made
        during it set it again and are synced by the next call).
        """
        with self._sync_lock:
            with self._append_lock:
                if self._closed or not self._dirty:
                    return
                self._dirty = False
                segment = self._active
                fd = os.dup(segment.ensure_fd())
            try:
                _fsync_and_close(fd, segment.path)
            except LogError:
                with self._append_lock:
                    self._dirty = True
                raise

    def drop_expired(self, retention: Retention, now: float, keep_from: int | None) -> None:
        """Delete the oldest closed segments that ``retention`` no longer keeps."""
        with self._append_lock, self._read_lock:
            self._check_open()
            total = sum(s.size_bytes for s in self._segments)
            try:
                count = count_droppable(self._segments[:-1], total, retention, now, keep_from)
            except BadFrameError as exc:
                msg = (
                    f"cannot apply retention to {self._name[0]}/{self._name[1]}: the last "
                    f"record of a segment is unreadable ({exc}); restore the segment from a backup"
                )
                raise CorruptLogError(msg) from exc
            if not count:
                return
            doomed = self._segments[:count]
            del self._segments[:count]
            del self._bases[:count]
            self._reader.forget(doomed)
            # Oldest first, so a crash half-way still leaves a contiguous run of segments.
            for segment in doomed:
                segment.close_fd()
                segment.path.unlink(missing_ok=True)
            fsync_dir(self._directory)

    def close(self) -> None:
        """Fsync and close every file; idempotent."""
        with self._append_lock, self._read_lock:
            if self._closed:
                return
            if self._dirty:
                _fsync_and_close(os.dup(self._active.ensure_fd()), self._active.path)
            for segment in self._segments:
                segment.close_fd()
            self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise LogError(f"partition {self._name[0]}/{self._name[1]} is closed")

    def _write(self, segment: Segment, data: bytes, position: int) -> None:
        try:
            write_all(segment.ensure_fd(), data, position)
        except OSError as exc:
            # Cut off any partial frame so the next append does not land after garbage.
            with contextlib.suppress(OSError):
                os.ftruncate(segment.ensure_fd(), position)
            msg = f"could not append to {segment.path}: {exc}; nothing was appended"
            raise LogError(msg) from exc

    def _mark_dirty(self) -> None:
        if not self._dirty:
            self._dirty = True
            if self._notify_dirty is not None:
                self._notify_dirty()

    def _roll(self) -> Segment:
        """Close the active segment and start a new one at the end offset."""
        old = self._active
        # Durable before its successor exists: a crash must never leave a hole,
        # even if an ALWAYS appender's own fsync of the old segment is still running.
        _fsync_and_close(os.dup(old.ensure_fd()), old.path)
        self._dirty = False
        new = Segment.create(self._directory, self._end_offset)
        with self._read_lock:
            old.close_fd()
            self._segments.append(new)
            self._bases.append(new.base_offset)
            self._active = new
        return new


def _open_segments(directory: Path) -> list[Segment]:
    """Recover the segments of a partition directory, creating the first if none."""
    if not directory.is_dir():
        directory.mkdir(parents=True)
        fsync_dir(directory.parent)
    bases = list_segment_bases(directory)
    if not bases:
        return [Segment.create(directory, 0)]
    segments = [Segment.closed(directory, b, e) for b, e in itertools.pairwise(bases)]
    segments.append(recover_segment(directory, bases[-1]))
    return segments


def _fsync_and_close(fd: int, path: Path) -> None:
    """Fsync ``fd`` (a duplicate descriptor of ``path``) and close it."""
    try:
        os.fsync(fd)
    except OSError as exc:
        msg = f"fsync of {path} failed: {exc}; recently appended records may not be durable"
        raise LogError(msg) from exc
    finally:
        os.close(fd)
