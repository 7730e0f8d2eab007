"""The durable log interface.

A log holds named *topics*, each split into a fixed number of *partitions*.
A partition is an append-only sequence of records numbered by offset from 0.
Records carry opaque bytes; what they mean (one JSON record, a whole
:class:`~streamgale.batch.ColumnBatch`) is up to the writer.

The interface is deliberately small so that a distributed log (NATS
JetStream, Kafka) can implement it later; :mod:`streamgale.log.memory` and
:mod:`streamgale.log.segment` implement it now, and ``tests/log`` runs the same
contract tests against every backend.
"""

from __future__ import annotations

import enum
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FsyncPolicy", "Log", "LogRecord", "Retention"]


class FsyncPolicy(enum.Enum):
    """When appended records are forced to stable storage.

    ``ALWAYS``: every :meth:`Log.append` returns only after fsync, so an
    acknowledgement sent after it survives power loss. ``INTERVAL``: fsync at
    most every ``fsync_interval_ms``; a crash may lose that window but not
    corrupt the log. ``NEVER``: leave it to the operating system.
    """

    ALWAYS = "always"
    INTERVAL = "interval"
    NEVER = "never"


@dataclass(frozen=True)
class Retention:
    """How much of a partition to keep; ``None`` keeps everything.

    Retention drops whole segments, oldest first, never the active one, and
    never records past the lowest offset committed by any consumer group.
    """

    max_bytes: int | None = None
    max_age_s: float | None = None


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One record as read back: its offset, append time (unix s) and payload."""

    offset: int
    timestamp: float
    payload: bytes


class Log(ABC):
    """An append-only, partitioned, durable sequence of records."""

    @abstractmethod
    def create_topic(self, topic: str, partitions: int) -> None:
        """Create ``topic`` with ``partitions`` partitions; a no-op if it exists
        with that many, an error if it exists with a different number."""

    @abstractmethod
    def partitions(self, topic: str) -> int:
        """Number of partitions of ``topic``; raises LogError if unknown."""

    @abstractmethod
    def append(self, topic: str, partition: int, payloads: Sequence[bytes]) -> int:
        """Append records in order; return the offset of the first one.

        Durable on return according to the log's fsync policy.
        """

    def watch(self, topic: str, event: threading.Event) -> bool:
        """Set ``event`` after every append to ``topic`` made through this object, so a
        reader in the same process can sleep instead of polling; False if unsupported."""
        return False

    @abstractmethod
    def read(self, topic: str, partition: int, offset: int, max_records: int) -> list[LogRecord]:
        """Up to ``max_records`` records from ``offset`` on; empty at the end.

        Raises OffsetOutOfRangeError for offsets retention already deleted.
        """

    @abstractmethod
    def start_offset(self, topic: str, partition: int) -> int:
        """Lowest offset still readable (retention moves it forward)."""

    @abstractmethod
    def end_offset(self, topic: str, partition: int) -> int:
        """Offset the next appended record will get."""

    @abstractmethod
    def commit(self, group: str, topic: str, partition: int, offset: int) -> None:
        """Durably record that ``group`` has fully processed records before ``offset``."""

    @abstractmethod
    def committed(self, group: str, topic: str, partition: int) -> int | None:
        """Last committed offset of ``group``, or None if it never committed."""

    @abstractmethod
    def sync(self) -> None:
        """Force everything appended so far to stable storage."""

    @abstractmethod
    def apply_retention(self) -> None:
        """Drop what the retention policy no longer keeps."""

    @abstractmethod
    def close(self) -> None:
        """Sync and release files; the log is unusable afterwards."""
