"""The transport-independent half of an ingest endpoint: a durable inbox.

An :class:`IngestLog` stores accepted requests in a :class:`~streamgale.log.base.Log`
(topic ``"ingest"``) and answers only once they are durable; an
:class:`IngestPartition` reads them back for the pipeline and commits its
consumer offset when the runtime's checkpoint is durable, so that retention
may drop what is consumed. The HTTP server in :mod:`streamgale.connectors.http`
is one transport on top of it.

Each request is stored as *one* log record: a 16-byte header (magic, number
of the first record, record count) followed by the records as one JSON array.
Records are numbered per partition from 0; those numbers are the offsets
reported to the sender.

>>> import threading
>>> from streamgale.connectors.ingest_body import parse_body
>>> from streamgale.log.memory import MemoryLog
>>> inbox = IngestLog(MemoryLog(), partitions=1, group="web")
>>> inbox.accept(parse_body("application/json", b'[{"n": 1}, {"n": 2}]')).as_json()
{'accepted': 2, 'partition': 0, 'offsets': [0, 1]}
>>> part = IngestPartition(inbox, 0, None, batch_size=100)
>>> part.next_batch(), part.snapshot()
([{'n': 1}, {'n': 2}], 1)
"""

from __future__ import annotations

import json
import math
import struct
import threading
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streamgale.batch import Batch
from streamgale.connectors.base import SourcePartition
from streamgale.connectors.ingest_body import ParsedBody
from streamgale.errors import BackpressureError, CorruptLogError, IngestError
from streamgale.log.base import Log, LogRecord

__all__ = [
    "TOPIC",
    "IngestLog",
    "IngestPartition",
    "Receipt",
    "decode_payload",
    "encode_payload",
    "payload_span",
]

TOPIC = "ingest"

_HEADER = struct.Struct("<4sQI")
_MAGIC = b"SGI1"
_READ_CHUNK = 64  # log records (requests) fetched per read


def encode_payload(first: int, count: int, array_json: bytes) -> bytes:
    """One stored request: header, then the records as a JSON array."""
    return _HEADER.pack(_MAGIC, first, count) + array_json


def payload_span(payload: bytes) -> tuple[int, int]:
    """``(number of the first record, record count)`` of one stored request."""
    magic, first, count = _HEADER.unpack_from(payload)
    if magic != _MAGIC:
        raise CorruptLogError(
            f"an ingest log record starts with {magic!r}, not {_MAGIC!r}; the log directory "
            "holds data from something else; point the source at its own state directory"
        )
    return int(first), int(count)


def decode_payload(payload: bytes) -> tuple[int, list[dict[str, Any]]]:
    """``(number of the first record, records)`` of one stored request."""
    first, count = payload_span(payload)
    records: list[dict[str, Any]] = json.loads(payload[_HEADER.size :])
    if len(records) != count:
        raise CorruptLogError(
            f"an ingest log record says it holds {count} records but holds {len(records)}"
        )
    return first, records


@dataclass(frozen=True)
class Receipt:
    """What one accepted request became: ``(partition, first, last)`` record numbers."""

    accepted: int
    spans: tuple[tuple[int, int, int], ...]

    def as_json(self) -> dict[str, Any]:
        """The response body: ``offsets`` for one partition, ``partitions`` for several."""
        if len(self.spans) == 1:
            partition, first, last = self.spans[0]
            return {"accepted": self.accepted, "partition": partition, "offsets": [first, last]}
        if not self.spans:
            return {"accepted": 0, "offsets": None}
        return {
            "accepted": self.accepted,
            "partitions": {str(p): [first, last] for p, first, last in self.spans},
        }


class IngestLog:
    """A durable, partitioned inbox on top of a :class:`~streamgale.log.base.Log`.

    ``accept`` may be called from many threads. With ``group_commit=True`` the
    log is expected to append without fsync, and ``accept`` returns only after
    a :meth:`~streamgale.log.base.Log.sync` covering its append; concurrent
    requests share one fsync. Readers never see records before they are
    durable, so the pipeline never acts on input the sender was not told was
    accepted.

    Routing: with ``key=None``, each request goes whole to the next partition
    in turn; with a ``key`` field name, each record goes to the partition its
    key value hashes to (CRC-32 of its JSON), keeping the records of one key
    in order. A keyed request spanning several partitions is one append per
    partition: if the disk fails between them, the part already appended is
    kept although the sender gets an error.

    Backpressure: while the records accepted but not yet committed by the
    pipeline number ``max_backlog_records`` or more, ``accept`` raises
    :class:`~streamgale.errors.BackpressureError`. A single request larger than
    the limit is still accepted when the backlog is empty.
    """

    def __init__(
        self,
        log: Log,
        partitions: int,
        group: str,
        *,
        key: str | None = None,
        max_backlog_records: int = 1_000_000,
        group_commit: bool = False,
        retry_after_s: float = 1.0,
    ) -> None:
        log.create_topic(TOPIC, partitions)
        if group_commit:
            # Records a crashed process appended but never fsynced become readable
            # now; make them durable first, as if their sync had finished.
            log.sync()
        self._log = log
        self._partitions = partitions
        self._group = group
        self._key = key
        self._max_backlog = max_backlog_records
        self._group_commit = group_commit
        self._retry_after = retry_after_s
        self._append_locks = [threading.Lock() for _ in range(partitions)]
        self._state_lock = threading.Condition()
        self._next_partition = 0
        self._closed = False
        self._syncing = False
        self._appended = self._synced = 0  # sequence numbers of appends, for group commit
        self._next_record = [self._recover_next_record(p) for p in range(partitions)]
        self._committed_record = [self._recover_committed_record(p) for p in range(partitions)]
        self._visible_end = [log.end_offset(TOPIC, p) for p in range(partitions)]
        self._wakes: dict[int, threading.Event] = {}

    @property
    def log(self) -> Log:
        """The underlying log."""
        return self._log

    @property
    def partitions(self) -> int:
        """Number of partitions."""
        return self._partitions

    # Recovery ------------------------------------------------------------
    def _recover_next_record(self, partition: int) -> int:
        end = self._log.end_offset(TOPIC, partition)
        if end == self._log.start_offset(TOPIC, partition):
            return 0
        (last,) = self._log.read(TOPIC, partition, end - 1, 1)
        first, count = payload_span(last.payload)
        return first + count

    def _recover_committed_record(self, partition: int) -> int:
        offset = self.resume_offset(partition)
        if offset >= self._log.end_offset(TOPIC, partition):
            return self._next_record[partition]
        (record,) = self._log.read(TOPIC, partition, offset, 1)
        return payload_span(record.payload)[0]

    def resume_offset(self, partition: int) -> int:
        """Where a partition with no snapshot starts: the committed offset, or the start."""
        committed = self._log.committed(self._group, TOPIC, partition)
        start = self._log.start_offset(TOPIC, partition)
        return start if committed is None else max(committed, start)

    # Writing ---------------------------------------------------------------
    def backlog(self) -> int:
        """Records accepted but not yet committed by the pipeline."""
        with self._state_lock:
            return sum(self._next_record) - sum(self._committed_record)

    def check_backlog(self) -> None:
        """Raise BackpressureError while the backlog is at its limit; cheap."""
        backlog = self.backlog()
        if backlog >= self._max_backlog:
            raise BackpressureError(
                f"the pipeline is {backlog} records behind (limit {self._max_backlog}); "
                f"nothing was accepted; retry after {math.ceil(self._retry_after)} s",
                retry_after=self._retry_after,
            )

    def accept(self, body: ParsedBody) -> Receipt:
        """Store a parsed request durably and say where its records went.

        Raises BackpressureError (the sender should retry later),
        IngestError (status 400: a record lacks the routing key; 503: closing)
        or LogError (the disk failed; nothing or, see the class docstring, part
        of a keyed request was stored).
        """
        if not body.records:
            return Receipt(0, ())
        self.check_backlog()
        groups = self._route(body)
        spans = []
        seq = 0
        for partition, array_json, count in groups:
            first, seq = self._append(partition, array_json, count)
            spans.append((partition, first, first + count - 1))
        self._make_visible(seq, [p for p, _, _ in groups])
        return Receipt(len(body.records), tuple(spans))

    def _route(self, body: ParsedBody) -> list[tuple[int, bytes, int]]:
        if self._key is None:
            with self._state_lock:
                partition = self._next_partition
                self._next_partition = (partition + 1) % self._partitions
            return [(partition, body.array_json, len(body.records))]
        by_partition: dict[int, list[dict[str, Any]]] = {}
        for index, record in enumerate(body.records):
            if self._key not in record:
                raise IngestError(
                    f"record {index} has no field {self._key!r}; every record needs one "
                    "because this source routes records by it; nothing was accepted"
                )
            by_partition.setdefault(self.partition_of(record[self._key]), []).append(record)
        if len(by_partition) == 1:
            ((partition, records),) = by_partition.items()
            return [(partition, body.array_json, len(records))]
        return [
            (p, json.dumps(records, separators=(",", ":")).encode(), len(records))
            for p, records in sorted(by_partition.items())
        ]

    def partition_of(self, key: Any) -> int:
        """The partition records with this key value go to; stable across processes."""
        encoded = json.dumps(key, sort_keys=True, separators=(",", ":")).encode()
        return zlib.crc32(encoded) % self._partitions

    def _append(self, partition: int, array_json: bytes, count: int) -> tuple[int, int]:
        """Append one request's records; return (first record number, append sequence)."""
        with self._append_locks[partition]:
            if self._closed:
                raise IngestError("the source is shutting down; retry shortly", status=503)
            first = self._next_record[partition]
            offset = self._log.append(TOPIC, partition, [encode_payload(first, count, array_json)])
            with self._state_lock:
                self._next_record[partition] = first + count
                self._appended += 1
                if not self._group_commit:
                    self._visible_end[partition] = max(self._visible_end[partition], offset + 1)
                return first, self._appended

    def _make_visible(self, seq: int, partitions: list[int]) -> None:
        if self._group_commit:
            self._wait_durable(seq)
        with self._state_lock:
            wakes = [self._wakes.get(p) for p in partitions]
        for wake in wakes:
            if wake is not None:
                wake.set()

    def _wait_durable(self, seq: int) -> None:
        """Return once a sync covering append ``seq`` finished; one thread syncs for all."""
        with self._state_lock:
            while self._synced < seq:
                if not self._syncing:
                    break
                self._state_lock.wait()
            else:
                return
            self._syncing = True
            target = self._appended
            ends = [self._log.end_offset(TOPIC, p) for p in range(self._partitions)]
        try:
            self._log.sync()
        except BaseException:
            with self._state_lock:
                self._syncing = False
                self._state_lock.notify_all()
            raise
        with self._state_lock:
            self._syncing = False
            self._synced = max(self._synced, target)
            self._visible_end = [max(a, b) for a, b in zip(self._visible_end, ends, strict=True)]
            self._state_lock.notify_all()
            # A waiter appended after `target` was taken may still be behind; it
            # loops and syncs again.

    # Reading -----------------------------------------------------------------
    def set_wake(self, partition: int, wake: threading.Event) -> None:
        """Set ``wake`` whenever records for ``partition`` become readable."""
        with self._state_lock:
            self._wakes[partition] = wake

    def read(self, partition: int, offset: int, max_records: int) -> list[LogRecord]:
        """Up to ``max_records`` stored requests from ``offset``, durable ones only."""
        with self._state_lock:
            visible = self._visible_end[partition]
        count = min(max_records, visible - offset)
        if count <= 0:
            return []
        return self._log.read(TOPIC, partition, offset, count)

    def commit(self, partition: int, offset: int, next_record: int | None) -> None:
        """The pipeline durably processed everything before ``offset``."""
        self._log.commit(self._group, TOPIC, partition, offset)
        if next_record is not None:
            with self._state_lock:
                self._committed_record[partition] = max(
                    self._committed_record[partition], next_record
                )
        self._log.apply_retention()

    def close(self) -> None:
        """Refuse new requests, make the accepted ones durable, then close the log."""
        for lock in self._append_locks:
            lock.acquire()
        try:
            self._closed = True
        finally:
            for lock in self._append_locks:
                lock.release()
        try:
            if self._group_commit:
                # Requests still waiting for their fsync get it here and succeed,
                # rather than failing on a closed log after their append.
                self._wait_durable(self._appended)
        finally:
            self._log.close()


class IngestPartition(SourcePartition[Any]):
    """Reads one partition of an :class:`IngestLog`.

    The snapshot is the log offset of the next stored request; records come
    out as the dicts that were posted. :meth:`on_commit` commits that offset
    for the step's consumer group.
    """

    def __init__(
        self,
        inbox: IngestLog,
        partition: int,
        resume_state: Any | None,
        *,
        batch_size: int = 1024,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._inbox = inbox
        self._partition = partition
        self._batch_size = batch_size
        self._offset = inbox.resume_offset(partition) if resume_state is None else int(resume_state)
        self._next_record: int | None = None
        self._snapshot: tuple[int, int | None] | None = None
        self._fetched: deque[LogRecord] = deque()  # read from the log, not yet returned
        self._committed: int | None = None
        self._on_close = on_close

    def next_batch(self) -> Batch:
        """Records of whole stored requests, until ``batch_size`` is reached or none is left."""
        batch: list[Any] = []
        while len(batch) < self._batch_size:
            if not self._fetched:
                # Everything before self._offset is consumed, so read on from there.
                self._fetched.extend(self._inbox.read(self._partition, self._offset, _READ_CHUNK))
                if not self._fetched:
                    break
            item = self._fetched.popleft()
            first, records = decode_payload(item.payload)
            batch.extend(records)
            self._offset = item.offset + 1
            self._next_record = first + len(records)
        return batch

    def snapshot(self) -> int:
        """Log offset of the next request to read."""
        self._snapshot = (self._offset, self._next_record)
        return self._offset

    def on_commit(self) -> None:
        """Commit the last snapshot's offset, so retention may drop what it covers."""
        if self._snapshot is None or self._snapshot[0] == self._committed:
            return  # nothing new: spare the log a durable write
        offset, next_record = self._snapshot
        self._inbox.commit(self._partition, offset, next_record)
        self._committed = offset

    def close(self) -> None:
        """Release this partition's hold on the shared server and log."""
        if self._on_close is not None:
            callback, self._on_close = self._on_close, None
            callback()
