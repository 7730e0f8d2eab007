"""The source and sink contract every connector implements.

A connector has two halves:

* a picklable **builder** (:class:`Source`, :class:`Sink`) that holds only
  configuration and says which partitions exist; and
* a runtime **partition** (:class:`SourcePartition`, :class:`SinkPartition`)
  built from it, which reads or writes micro-batches without blocking and can
  snapshot and resume its position.

The runtime calls partitions from a single thread. A partition never has to be
thread-safe, but anything it starts (a server, a watcher) must hand work over
through thread-safe structures and may call :attr:`BuildContext.wake` so the
runtime polls it at once instead of at its next idle tick.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from streamgale.batch import Batch

__all__ = [
    "BadRecord",
    "BuildContext",
    "Sink",
    "SinkPartition",
    "Source",
    "SourcePartition",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
T_contra = TypeVar("T_contra", contravariant=True)


@dataclass(frozen=True)
class BuildContext:
    """What the runtime hands a partition when it builds it.

    ``state_dir`` is a private directory for the step (for example a journal),
    stable across restarts of the same pipeline. ``wake`` is set by a partition
    whose data arrived from another thread.
    """

    step_id: str
    state_dir: Path
    wake: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class BadRecord:
    """Input a source could read but not parse (a malformed JSON line, say).

    A source puts it in its batch in place of the record; the runtime takes it
    out and keeps it in the dead-letter store with ``reason``, so bad input is
    never silently dropped and never stops the pipeline.
    """

    source: str
    location: str
    raw: str | bytes
    reason: str

    def as_error(self) -> Exception:
        from streamgale.errors import IngestError

        return IngestError(f"{self.source} at {self.location}: {self.reason}")


class SourcePartition(ABC, Generic[T_co]):
    """One independently readable slice of a source."""

    @abstractmethod
    def next_batch(self) -> Batch:
        """Return the records available now, without blocking.

        Return an empty list when nothing is ready. Raise ``StopIteration``
        once the partition is exhausted; it is not polled again.
        """

    def next_awake(self) -> float | None:
        """Monotonic time at which to poll again when the last batch was empty.

        ``None`` means "poll again at the runtime's idle interval". A partition
        whose data arrives from another thread should set the context's
        ``wake`` event instead of returning a near deadline.
        """
        return None

    @abstractmethod
    def snapshot(self) -> Any:
        """Position just after the last batch returned, as a picklable value.

        The runtime stores it with the state of every downstream step and
        hands it back to :meth:`Source.build_partition` on restart, so the
        partition must resume exactly after that batch.
        """

    def on_commit(self) -> None:
        """The snapshot holding the last :meth:`snapshot` value is now durable.

        A partition reading a log commits its consumer offset here, so that
        retention never deletes what a restart would still need.
        """

    def close(self) -> None:
        """Release resources; called once, also after errors."""


class Source(ABC, Generic[T_co]):
    """Picklable configuration of an input."""

    @abstractmethod
    def list_parts(self) -> list[str]:
        """Names of the partitions; stable across restarts."""

    @abstractmethod
    def build_part(
        self, ctx: BuildContext, part: str, resume_state: Any | None
    ) -> SourcePartition[T_co]:
        """Build partition ``part``, resuming after ``resume_state`` if given."""


class SinkPartition(ABC, Generic[T_contra]):
    """One writer of a sink."""

    @abstractmethod
    def write_batch(self, batch: Batch) -> None:
        """Write a micro-batch.

        May raise; the runtime retries with backoff and, when retries are
        exhausted, sends the batch to the dead-letter store. Writing the same
        batch twice after a retry must be harmless (idempotent), or the sink
        must make a failed write leave no trace.
        """

    def flush(self) -> None:
        """Make everything written so far durable.

        This is the sink's acknowledgement: the runtime commits input offsets
        only after every sink has flushed.
        """

    def snapshot(self) -> Any:
        """Position to resume from, or ``None`` for sinks that need none.

        A transactional sink (a file, say) returns what it has made durable;
        on restart it discards anything written after that, which makes the
        output exactly-once.
        """
        return None

    def close(self) -> None:
        """Release resources; called once, also after errors."""


class Sink(ABC, Generic[T_contra]):
    """Picklable configuration of an output."""

    def list_parts(self) -> list[str]:
        """Names of the partitions; keyed streams are routed by key hash."""
        return ["0"]

    @abstractmethod
    def build_part(
        self, ctx: BuildContext, part: str, resume_state: Any | None
    ) -> SinkPartition[T_contra]:
        """Build partition ``part``, resuming after ``resume_state`` if given."""
