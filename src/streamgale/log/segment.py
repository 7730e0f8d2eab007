"""The embedded durable log: append-only segment files on the local disk.

Layout under the log directory::

    .lock                                   held while a process has the log open
    <topic>/meta.json                       {"partitions": N}
    <topic>/<partition>/<base:020d>.log     segment files, framed records
    <topic>/offsets/<group>.json            committed offsets of a consumer group

Opening a directory recovers everything in it: topics, partitions, end
offsets (repairing a torn tail of the last segment) and committed offsets.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     with SegmentLog(Path(tmp)) as log:
...         log.create_topic("events", partitions=1)
...         first = log.append("events", 0, [b"a", b"b"])
...         log.commit("my-group", "events", 0, 2)
...     with SegmentLog(Path(tmp)) as log:  # reopened: everything is still there
...         records = log.read("events", 0, 0, 10)
...         [r.payload for r in records], log.committed("my-group", "events", 0)
([b'a', b'b'], 2)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from streamgale.errors import ConfigError, LogError
from streamgale.log.base import FsyncPolicy, Log, LogRecord, Retention
from streamgale.log.checks import (
    check_commit_offset,
    check_group,
    check_partition,
    check_partition_count,
    check_retention,
    check_topic_name,
)
from streamgale.log.flusher import Flusher
from streamgale.log.fsutil import DirectoryLock, atomic_write, fsync_dir
from streamgale.log.offsets import OffsetBook
from streamgale.log.partition import Partition, PartitionConfig

__all__ = ["SegmentLog"]

_META = "meta.json"
_OFFSETS = "offsets"


@dataclass
class _Topic:
    partitions: list[Partition]
    offsets: OffsetBook


class SegmentLog(Log):
    """A :class:`~streamgale.log.base.Log` stored in segment files under ``directory``.

    ``fsync`` says when appends reach stable storage (see
    :class:`~streamgale.log.base.FsyncPolicy`); ``segment_bytes`` is the size
    at which a partition rolls to a new segment file, the unit retention
    deletes; ``clock`` stamps records (inject one to test retention by age).
    Appends from several threads at once are safe, as are reads concurrent
    with appends.
    """

    def __init__(
        self,
        directory: Path,
        *,
        fsync: FsyncPolicy = FsyncPolicy.INTERVAL,
        fsync_interval_ms: float = 5.0,
        segment_bytes: int = 64 * 1024 * 1024,
        retention: Retention | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _check_config(fsync, fsync_interval_ms, segment_bytes)
        check_retention(retention)
        self._directory = Path(directory)
        self._config = PartitionConfig(fsync, segment_bytes)
        self._retention = retention
        self._clock = clock
        self._lock = threading.Lock()
        self._watchers: dict[str, tuple[threading.Event, ...]] = {}
        self._directory.mkdir(parents=True, exist_ok=True)
        self._dir_lock = DirectoryLock(self._directory)
        self._closed = False
        self._topics: dict[str, _Topic] = {}
        self._flusher: Flusher | None = None
        if fsync is FsyncPolicy.INTERVAL:
            name = f"streamgale-fsync-{self._directory.name}"
            self._flusher = Flusher(fsync_interval_ms / 1000.0, self._flush, name=name)
        try:
            self._topics = self._recover()
        except BaseException:
            self._release()
            raise

    def __enter__(self) -> SegmentLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def directory(self) -> Path:
        """Where the log lives."""
        return self._directory

    def create_topic(self, topic: str, partitions: int) -> None:
        """Create ``topic`` on disk; a no-op if it already has ``partitions`` partitions."""
        check_topic_name(topic)
        check_partition_count(topic, partitions)
        with self._lock:
            self._check_open()
            existing = self._topics.get(topic)
            if existing is not None:
                if len(existing.partitions) != partitions:
                    msg = (
                        f"topic '{topic}' already exists with {len(existing.partitions)} "
                        f"partitions, not {partitions}; use the existing count or another name"
                    )
                    raise LogError(msg)
                return
            path = self._directory / topic
            path.mkdir(exist_ok=True)
            fsync_dir(self._directory)
            atomic_write(path / _META, json.dumps({"partitions": partitions}).encode())
            self._topics[topic] = self._open_topic(path, topic, partitions)

    def partitions(self, topic: str) -> int:
        """Number of partitions of ``topic``."""
        return len(self._topic(topic).partitions)

    def append(self, topic: str, partition: int, payloads: Sequence[bytes]) -> int:
        """Append ``payloads`` as one write; return the offset of the first.

        Durable on return when the fsync policy is ``ALWAYS``.
        """
        offset = self._partition(topic, partition).append(payloads, self._clock())
        for event in self._watchers.get(topic, ()):
            event.set()
        return offset

    def watch(self, topic: str, event: threading.Event) -> bool:
        """Set ``event`` after every append to ``topic`` made through this object."""
        with self._lock:
            self._watchers[topic] = (*self._watchers.get(topic, ()), event)
        return True

    def read(self, topic: str, partition: int, offset: int, max_records: int) -> list[LogRecord]:
        """Up to ``max_records`` checksummed records from ``offset``; empty at the end."""
        return self._partition(topic, partition).read(offset, max_records)

    def start_offset(self, topic: str, partition: int) -> int:
        """Lowest offset still readable."""
        return self._partition(topic, partition).start_offset

    def end_offset(self, topic: str, partition: int) -> int:
        """Offset the next appended record will get."""
        return self._partition(topic, partition).end_offset

    def commit(self, group: str, topic: str, partition: int, offset: int) -> None:
        """Durably record that ``group`` processed every record before ``offset``."""
        check_group(group)
        part = self._partition(topic, partition)
        check_commit_offset(topic, partition, offset, part.end_offset)
        self._topic(topic).offsets.commit(group, partition, offset)

    def committed(self, group: str, topic: str, partition: int) -> int | None:
        """Last offset ``group`` committed on the partition, or None."""
        check_group(group)
        self._partition(topic, partition)
        return self._topic(topic).offsets.committed(group, partition)

    def sync(self) -> None:
        """Fsync every partition written since its last fsync."""
        self._check_open()
        self._flush()

    def apply_retention(self) -> None:
        """Delete whole closed segments the retention policy no longer keeps."""
        self._check_open()
        if self._retention is None:
            return
        now = self._clock()
        for topic in list(self._topics.values()):
            for number, part in enumerate(topic.partitions):
                part.drop_expired(self._retention, now, topic.offsets.lowest(number))

    def close(self) -> None:
        """Fsync and close every file and release the directory; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._flusher is not None:
                    self._flusher.stop()
                for topic in self._topics.values():
                    for part in topic.partitions:
                        part.close()
            finally:
                self._release()

    def _flush(self) -> None:
        for topic in list(self._topics.values()):
            for part in topic.partitions:
                part.sync()

    def _release(self) -> None:
        if self._flusher is not None:
            self._flusher.stop()
        self._dir_lock.release()

    def _recover(self) -> dict[str, _Topic]:
        topics: dict[str, _Topic] = {}
        for path in sorted(self._directory.iterdir()):
            meta = path / _META
            if not meta.is_file():
                continue
            try:
                partitions = int(json.loads(meta.read_bytes())["partitions"])
            except (ValueError, KeyError, TypeError) as exc:
                msg = f"topic metadata {meta} is unreadable ({exc}); restore or delete the topic"
                raise LogError(msg) from exc
            topics[path.name] = self._open_topic(path, path.name, partitions)
        return topics

    def _open_topic(self, path: Path, topic: str, partitions: int) -> _Topic:
        notify = self._flusher.notify if self._flusher is not None else None
        parts = [
            Partition(path / str(p), topic, p, self._config, notify) for p in range(partitions)
        ]
        return _Topic(parts, OffsetBook(path / _OFFSETS))

    def _check_open(self) -> None:
        if self._closed:
            raise LogError(f"the log at {self._directory} is closed; open a new SegmentLog")

    def _topic(self, topic: str) -> _Topic:
        self._check_open()
        found = self._topics.get(topic)
        if found is None:
            msg = f"unknown topic {topic!r} in {self._directory}; create it with create_topic()"
            raise LogError(msg)
        return found

    def _partition(self, topic: str, partition: int) -> Partition:
        parts = self._topic(topic).partitions
        check_partition(topic, partition, len(parts))
        return parts[partition]


def _check_config(fsync: FsyncPolicy, fsync_interval_ms: float, segment_bytes: int) -> None:
    if not isinstance(fsync, FsyncPolicy):
        allowed = ", ".join(p.name for p in FsyncPolicy)
        raise ConfigError(f"expected a FsyncPolicy ({allowed}), got {fsync!r}", key="fsync")
    if fsync_interval_ms < 0:
        msg = f"must be zero or more milliseconds, got {fsync_interval_ms!r}"
        raise ConfigError(msg, key="fsync_interval_ms")
    if isinstance(segment_bytes, bool) or not isinstance(segment_bytes, int) or segment_bytes < 1:
        msg = f"must be a positive number of bytes, got {segment_bytes!r}"
        raise ConfigError(msg, key="segment_bytes")
