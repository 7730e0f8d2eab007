"""Read a pipeline's input from the durable log, and write streams into it.

:class:`LogSource` turns each partition of a log topic into a source
partition. Its position is the next offset, kept in the runtime's snapshot;
after each checkpoint it commits that offset to the log under the consumer
group (the step id by default), so retention never deletes what a restart
still needs.

Payload encoding (:func:`encode_batch`/:func:`decode_payload`): a
:class:`~streamgale.batch.ColumnBatch` is stored in its compact binary form,
so one log record carries a whole columnar micro-batch; a list of records is
stored as a JSON array; a single JSON object is one record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streamgale.batch import Batch, ColumnBatch
from streamgale.connectors.base import BuildContext, Sink, SinkPartition, Source, SourcePartition
from streamgale.log.base import FsyncPolicy, Log

__all__ = ["LogSink", "LogSource", "decode_payload", "encode_batch"]

_DEFAULT_MAX_RECORDS = 64
"""Log records per poll: bounds a micro-batch while keeping per-poll overhead low."""


def encode_batch(batch: Batch) -> bytes:
    """One log payload for a whole micro-batch."""
    if isinstance(batch, ColumnBatch):
        return batch.to_bytes()
    return json.dumps(batch, separators=(",", ":"), default=_json_default).encode()


def decode_payload(payload: bytes) -> Batch:
    """The micro-batch a payload holds; a lone JSON object becomes a one-record list."""
    if ColumnBatch.is_encoded(payload):
        return ColumnBatch.from_bytes(payload)
    value = json.loads(payload)
    return value if isinstance(value, list) else [value]


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in the log as JSON")


def _open_log(target: Log | Path, fsync: FsyncPolicy) -> Log:
    if isinstance(target, Log):
        return target
    from streamgale.log import SegmentLog

    return SegmentLog(Path(target), fsync=fsync)


_WATCHED_POLL = 0.5
"""Poll interval (seconds) of a partition whose appends wake the runtime: what
another process appends is still read within this long, and an idle
pipeline does not spin every 5 ms."""


class LogSource(Source[Any]):
    """Every partition of ``topic`` in a log, as a source.

    ``log`` is a log directory (the embedded :class:`~streamgale.log.SegmentLog`)
    or an open :class:`~streamgale.log.Log`. With ``until_end=True`` each
    partition ends at the offset that was the end when the run started, which
    suits batch jobs and tests; otherwise the source follows the log forever.
    """

    def __init__(
        self,
        log: Log | str | Path,
        topic: str,
        *,
        group: str | None = None,
        until_end: bool = False,
        max_records: int = _DEFAULT_MAX_RECORDS,
        poll_interval: float = 0.005,
    ) -> None:
        self.log = log if isinstance(log, Log) else Path(log)
        self.topic = topic
        self.group = group
        self.until_end = until_end
        self.max_records = max_records
        self.poll_interval = poll_interval
        self._open: Log | None = None
        self._users = 0

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_open": None, "_users": 0}

    def _log(self) -> Log:
        if self._open is None:
            self._open = _open_log(self.log, FsyncPolicy.INTERVAL)
        return self._open

    def _release(self) -> None:
        """A partition closed; close a log this source opened once none is left."""
        self._users -= 1
        if self._users <= 0 and self._open is not None and not isinstance(self.log, Log):
            self._open.close()
            self._open = None

    def list_parts(self) -> list[str]:
        log = self._log()
        count = log.partitions(self.topic)
        if self._users == 0 and not isinstance(self.log, Log):
            # Only building partitions keeps the log open; listing alone must not.
            log.close()
            self._open = None
        return [str(p) for p in range(count)]

    def build_part(
        self, ctx: BuildContext, part: str, resume_state: Any | None
    ) -> SourcePartition[Any]:
        log = self._log()
        self._users += 1
        partition = int(part)
        group = self.group or ctx.step_id
        if resume_state is not None:
            offset = int(resume_state)
        else:
            committed = log.committed(group, self.topic, partition)
            offset = committed if committed is not None else log.start_offset(self.topic, partition)
        end = log.end_offset(self.topic, partition) if self.until_end else None
        # Appends in this process wake the runtime; polling is only for other writers.
        watched = log.watch(self.topic, ctx.wake)
        return _LogPartition(self, log, partition, group, offset=offset, end=end, watched=watched)


class _LogPartition(SourcePartition[Any]):
    def __init__(
        self,
        source: LogSource,
        log: Log,
        partition: int,
        group: str,
        *,
        offset: int,
        end: int | None,
        watched: bool = False,
    ) -> None:
        self._source = source
        self._interval = max(source.poll_interval, _WATCHED_POLL) if watched else None
        self._log = log
        self._partition = partition
        self._group = group
        self._offset = offset
        self._end = end
        self._snapshotted: int | None = None

    def next_batch(self) -> Batch:
        if self._end is not None and self._offset >= self._end:
            raise StopIteration
        limit = self._source.max_records
        if self._end is not None:
            limit = min(limit, self._end - self._offset)
        records = self._log.read(self._source.topic, self._partition, self._offset, limit)
        if not records:
            return []
        self._offset = records[-1].offset + 1
        batches = [decode_payload(r.payload) for r in records]
        return _concat(batches)

    def next_awake(self) -> float | None:
        import time

        return time.monotonic() + (self._interval or self._source.poll_interval)

    def snapshot(self) -> int:
        self._snapshotted = self._offset
        return self._offset

    def on_commit(self) -> None:
        # Runs on the checkpoint writer thread: commit what the snapshot holds.
        offset = self._snapshotted
        if offset is not None:
            self._log.commit(self._group, self._source.topic, self._partition, offset)

    def close(self) -> None:
        self._source._release()


def _concat(batches: list[Batch]) -> Batch:
    if len(batches) == 1:
        return batches[0]
    if all(isinstance(b, ColumnBatch) for b in batches):
        return ColumnBatch.concat(batches)  # type: ignore[arg-type]
    out: list[Any] = []
    for b in batches:
        out.extend(b.to_rows() if isinstance(b, ColumnBatch) else b)
    return out


class LogSink(Sink[Any]):
    """Appends each micro-batch as one record to a log topic (created if missing).

    Batches go to partitions round-robin. ``flush`` syncs the log, so a
    checkpoint commits input only once its output is on stable storage.
    """

    def __init__(
        self,
        log: Log | str | Path,
        topic: str,
        *,
        partitions: int = 1,
        fsync: FsyncPolicy = FsyncPolicy.INTERVAL,
    ) -> None:
        self.log = log if isinstance(log, Log) else Path(log)
        self.topic = topic
        self.partitions = partitions
        self.fsync = fsync

    def build_part(
        self, ctx: BuildContext, part: str, resume_state: Any | None
    ) -> SinkPartition[Any]:
        log = _open_log(self.log, self.fsync)
        log.create_topic(self.topic, self.partitions)
        return _LogSinkPartition(log, self.topic, self.partitions)


class _LogSinkPartition(SinkPartition[Any]):
    def __init__(self, log: Log, topic: str, partitions: int) -> None:
        self._log = log
        self._topic = topic
        self._partitions = partitions
        self._next = 0

    def write_batch(self, batch: Batch) -> None:
        self._log.append(self._topic, self._next % self._partitions, [encode_batch(batch)])
        self._next += 1

    def flush(self) -> None:
        self._log.sync()
