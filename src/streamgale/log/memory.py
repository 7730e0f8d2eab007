"""An in-memory log: the same contract as the durable one, for tests and demos.

Nothing survives the process. Records are grouped into "segments" of
``segment_records`` records so that retention drops whole segments, exactly
as :class:`~streamgale.log.segment.SegmentLog` does with files.

>>> log = MemoryLog()
>>> log.create_topic("events", partitions=2)
>>> log.append("events", 0, [b"a", b"b"])
0
>>> [r.payload for r in log.read("events", 0, offset=1, max_records=10)]
[b'b']
>>> log.end_offset("events", 0), log.end_offset("events", 1)
(2, 0)
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Sequence

from streamgale.errors import ConfigError, LogError
from streamgale.log.base import Log, LogRecord, Retention
from streamgale.log.checks import (
    check_commit_offset,
    check_group,
    check_partition,
    check_partition_count,
    check_read,
    check_retention,
    check_topic_name,
)
from streamgale.log.frame import HEADER_SIZE
from streamgale.log.retention import count_droppable

__all__ = ["MemoryLog"]


class _MemorySegment:
    """A run of consecutive records; sized as if framed on disk."""

    __slots__ = ("base_offset", "records", "size_bytes")

    def __init__(self, base_offset: int) -> None:
        self.base_offset = base_offset
        self.records: list[LogRecord] = []
        self.size_bytes = 0

    @property
    def end_offset(self) -> int:
        return self.base_offset + len(self.records)

    def newest_timestamp(self) -> float | None:
        return self.records[-1].timestamp if self.records else None


class _MemoryPartition:
    """One partition's segments, guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.segments = [_MemorySegment(0)]
        self.bases = [0]

    @property
    def start_offset(self) -> int:
        return self.segments[0].base_offset

    @property
    def end_offset(self) -> int:
        return self.segments[-1].end_offset

    def append(self, payloads: Sequence[bytes], timestamp: float, segment_records: int) -> int:
        with self.lock:
            first = self.end_offset
            offset = first
            for payload in payloads:
                active = self.segments[-1]
                if len(active.records) >= segment_records:
                    active = _MemorySegment(offset)
                    self.segments.append(active)
                    self.bases.append(offset)
                data = bytes(payload)
                active.records.append(LogRecord(offset, timestamp, data))
                active.size_bytes += HEADER_SIZE + len(data)
                offset += 1
            return first

    def read(self, name: tuple[str, int], offset: int, max_records: int) -> list[LogRecord]:
        out: list[LogRecord] = []
        with self.lock:
            check_read(*name, offset, max_records, start=self.start_offset, end=self.end_offset)
            index = bisect.bisect_right(self.bases, offset) - 1
            while len(out) < max_records and index < len(self.segments):
                segment = self.segments[index]
                start = offset + len(out) - segment.base_offset
                out.extend(segment.records[start : start + max_records - len(out)])
                index += 1
        return out

    def drop_expired(self, retention: Retention, now: float, keep_from: int | None) -> None:
        with self.lock:
            total = sum(s.size_bytes for s in self.segments)
            dropped = count_droppable(self.segments[:-1], total, retention, now, keep_from)
            del self.segments[:dropped]
            del self.bases[:dropped]


class MemoryLog(Log):
    """A :class:`~streamgale.log.base.Log` kept in process memory.

    ``clock`` stamps appended records (inject a fake one to test retention by
    age); ``segment_records`` is the unit retention drops.
    """

    def __init__(
        self,
        retention: Retention | None = None,
        *,
        segment_records: int = 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_retention(retention)
        if isinstance(segment_records, bool) or segment_records < 1:
            msg = f"segment_records must be a positive integer, got {segment_records!r}"
            raise ConfigError(msg, key="segment_records")
        self._retention = retention
        self._segment_records = segment_records
        self._clock = clock
        self._lock = threading.Lock()
        self._topics: dict[str, list[_MemoryPartition]] = {}
        self._committed: dict[tuple[str, str, int], int] = {}
        self._closed = False

    def create_topic(self, topic: str, partitions: int) -> None:
        """Create ``topic``; a no-op if it already has ``partitions`` partitions."""
        check_topic_name(topic)
        check_partition_count(topic, partitions)
        with self._lock:
            self._check_open()
            existing = self._topics.get(topic)
            if existing is None:
                self._topics[topic] = [_MemoryPartition() for _ in range(partitions)]
            elif len(existing) != partitions:
                msg = (
                    f"topic '{topic}' already exists with {len(existing)} partitions, "
                    f"not {partitions}; use the existing count or another topic name"
                )
                raise LogError(msg)

    def partitions(self, topic: str) -> int:
        """Number of partitions of ``topic``."""
        return len(self._topic(topic))

    def append(self, topic: str, partition: int, payloads: Sequence[bytes]) -> int:
        """Append ``payloads`` in order; return the offset of the first."""
        part = self._partition(topic, partition)
        return part.append(payloads, self._clock(), self._segment_records)

    def read(self, topic: str, partition: int, offset: int, max_records: int) -> list[LogRecord]:
        """Up to ``max_records`` records from ``offset``; empty at the end."""
        return self._partition(topic, partition).read((topic, partition), offset, max_records)

    def start_offset(self, topic: str, partition: int) -> int:
        """Lowest offset still readable."""
        return self._partition(topic, partition).start_offset

    def end_offset(self, topic: str, partition: int) -> int:
        """Offset the next appended record will get."""
        return self._partition(topic, partition).end_offset

    def commit(self, group: str, topic: str, partition: int, offset: int) -> None:
        """Record that ``group`` processed everything before ``offset``."""
        check_group(group)
        part = self._partition(topic, partition)
        check_commit_offset(topic, partition, offset, part.end_offset)
        with self._lock:
            self._committed[(group, topic, partition)] = offset

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        """Last offset ``group`` committed, or None."""
        check_group(group)
        self._partition(topic, partition)
        with self._lock:
            return self._committed.get((group, topic, partition))

    def sync(self) -> None:
        """Nothing to do: memory is as durable as it gets."""
        self._check_open()

    def apply_retention(self) -> None:
        """Drop the oldest segments the retention policy no longer keeps."""
        self._check_open()
        if self._retention is None:
            return
        now = self._clock()
        with self._lock:
            topics = list(self._topics.items())
            committed = dict(self._committed)
        for topic, parts in topics:
            for number, part in enumerate(parts):
                offsets = [o for (_, t, p), o in committed.items() if t == topic and p == number]
                keep_from = min(offsets) if offsets else None
                part.drop_expired(self._retention, now, keep_from)

    def close(self) -> None:
        """Forget everything; the log is unusable afterwards."""
        with self._lock:
            self._closed = True
            self._topics.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise LogError("this MemoryLog is closed; create a new one")

    def _topic(self, topic: str) -> list[_MemoryPartition]:
        self._check_open()
        parts = self._topics.get(topic)
        if parts is None:
            msg = f"unknown topic {topic!r}; create it first with create_topic()"
            raise LogError(msg)
        return parts

    def _partition(self, topic: str, partition: int) -> _MemoryPartition:
        parts = self._topic(topic)
        check_partition(topic, partition, len(parts))
        return parts[partition]
