"""The journaled ingest path: flush one record, acknowledge, write everything else behind.

:class:`WriteBehind` is what :class:`~streamgale.dicom.ingest.store.InstanceStore`
uses for every instance that fits its journal:

1. :meth:`WriteBehind.store` appends the event and the Part-10 bytes to the
   journal (:mod:`~streamgale.dicom.ingest.journal`) and flushes it: from
   here on a crash cannot lose the instance, and the sender may be told so;
2. the :mod:`~streamgale.dicom.ingest.publisher` thread then writes the
   content-addressed file (copied from the journal inside the kernel),
   appends the event to the log and indexes it, none of it flushed;
3. a checkpoint of the journal flushes a batch of such files, their
   directories and the log at once, and only then drops their records.

Until step 2 finishes, :meth:`WriteBehind.in_flight` answers for the
instance, so a resend is still recognised as a duplicate. On opening,
:meth:`WriteBehind.replay` redoes steps 2 and 3 for every record past the
last checkpoint: a file a power loss took is written again from the journal,
an event the log lost is published again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from streamgale.dicom.ingest.events import InstanceEvent
from streamgale.dicom.ingest.index import InstanceIndex
from streamgale.dicom.ingest.journal import Journal, JournalEntry
from streamgale.dicom.ingest.objects import ObjectFiles
from streamgale.dicom.ingest.publisher import Publisher, Task
from streamgale.errors import DicomError
from streamgale.log.base import Log

__all__ = ["WriteBehind"]

logger = logging.getLogger("streamgale.dicom.ingest")

_PARTITION = 0
# Room for an instance's event in its journal record, next to the file itself.
_EVENT_ROOM = 4096


class WriteBehind:
    """Journal, write-behind publisher and checkpoints of one instance store.

    ``log`` and ``topic`` receive the events, ``index`` the rows, ``objects``
    the files; the store keeps ownership of all four. ``capacity`` is the
    journal's size in bytes.
    """

    def __init__(
        self,
        directory: Path,
        *,
        capacity: int,
        objects: ObjectFiles,
        index: InstanceIndex,
        log: Log,
        topic: str,
    ) -> None:
        self._name = directory.name
        self._objects = objects
        self._index = index
        self._log = log
        self._topic = topic
        self._journal = Journal(directory / "journal", capacity=capacity, checkpoint=self._flush)
        self._publisher: Publisher | None = None
        self._in_flight: dict[str, InstanceEvent] = {}
        self._tasks: dict[str, Task] = {}
        """The announcement task of each instance in flight (popped lazily)."""

    def fits(self, size: int) -> bool:
        """Whether an instance of ``size`` bytes goes through the journal."""
        return self._journal.fits(size + _EVENT_ROOM)

    def replay(self, publish: Callable[[InstanceEvent], None]) -> int:
        """Redo the work of every record past the last checkpoint; return how many there were.

        ``publish`` announces (durably) an event the log lacks. Run once, on
        opening, after the index caught up with the log and before any
        :meth:`store`.
        """
        paths: list[Path] = []
        for record in self._journal.replay(_record_intact):
            event = InstanceEvent.from_json(record.meta)
            paths.append(self._objects.materialize(event.sha256, [record.data]))
            row = self._index.get(event.sop_instance_uid)
            if row is None or not row.published:
                publish(event)
        self._flush(list(paths))
        self._journal.checkpoint_now()
        self._publisher = Publisher(self._name)
        return len(paths)

    def in_flight(self, sop_instance_uid: str) -> InstanceEvent | None:
        """The event of an instance stored but not yet indexed, if this is one."""
        return self._in_flight.get(sop_instance_uid)

    def store(
        self, event: InstanceEvent, chunks: Sequence[bytes | memoryview]
    ) -> tuple[InstanceEvent, Task]:
        """Make the instance durable; return its event and the task announcing it.

        ``event`` names the file by the SHA-256 of ``chunks``. On return the
        instance survives any crash; ``chunks`` are no longer needed. The
        caller holds the claim on the SOP Instance UID.
        """
        publisher = self._running()
        payload = event.to_json()
        entry = self._journal.append(payload, chunks)
        try:
            self._journal.sync(entry)
            self._in_flight[event.sop_instance_uid] = event
            task = publisher.submit(_Announcement(self, entry, event, payload))
            self._tasks[event.sop_instance_uid] = task
        except BaseException:
            self._in_flight.pop(event.sop_instance_uid, None)
            self._journal.complete(entry, None)
            raise
        return event, task

    def wait_for(self, sop_instance_uid: str) -> bool:
        """Wait until this one instance is announced; False if it was not in flight.

        Waiting for one instance, not for all written behind, matters to a
        pipeline reading events: it must not queue behind newer arrivals.
        """
        task = self._tasks.pop(sop_instance_uid, None)
        if task is None:
            return False
        if sop_instance_uid in self._in_flight:
            self.wait(task)
        return True

    def wait(self, task: Task) -> None:
        """Wait until ``task`` announced its instance (raise if that is failing)."""
        self._running().wait(task)

    def drain(self) -> None:
        """Wait until everything stored so far is announced."""
        if self._publisher is not None:
            self._publisher.drain()

    def close(self) -> None:
        """Announce what is queued, checkpoint, and release the journal."""
        try:
            if self._publisher is not None:
                self._publisher.close()
            self._journal.checkpoint_now()
        except (OSError, DicomError):
            logger.exception("final checkpoint of the ingest journal failed; it replays on opening")
        finally:
            self._journal.close()

    def abandon(self) -> None:
        """Release the journal without a checkpoint, as a killed process leaves it (for tests).

        Queued announcements still finish, or get one last try if failing.
        """
        if self._publisher is not None:
            self._publisher.close()
        self._journal.close()

    def _running(self) -> Publisher:
        if self._publisher is None:
            raise DicomError("replay the ingest journal before storing")
        return self._publisher

    def _flush(self, items: list[object]) -> None:
        """The checkpoint's work: flush the files of the records it drops, then the log."""
        self._objects.make_durable([p for p in items if isinstance(p, Path)])
        self._log.sync()


class _Announcement:
    """Step 2 for one instance; retried from where it failed, so nothing is done twice."""

    def __init__(
        self, owner: WriteBehind, entry: JournalEntry, event: InstanceEvent, payload: bytes
    ) -> None:
        self._journal = owner._journal
        self._objects = owner._objects
        self._log = owner._log
        self._topic = owner._topic
        self._index = owner._index
        self._in_flight = owner._in_flight
        self._tasks = owner._tasks
        self._entry = entry
        self._event = event
        self._payload = payload
        self._path: Path | None = None
        self._offset: int | None = None

    def __call__(self) -> None:
        if self._path is None:
            journal, entry = self._journal, self._entry
            self._path = self._objects.materialize(
                self._event.sha256, lambda fd: journal.copy_data(entry, fd)
            )
        if self._offset is None:
            self._offset = self._log.append(self._topic, _PARTITION, [self._payload])
        self._index.mark_published(self._event, self._offset)
        # Only now: a resend must find the instance in the index or in flight.
        self._in_flight.pop(self._event.sop_instance_uid, None)
        self._tasks.pop(self._event.sop_instance_uid, None)
        self._journal.complete(self._entry, self._path)


def _record_intact(meta: bytes, data: bytes) -> bool:
    """Whether a journal record's file bytes are those its event names (not torn)."""
    try:
        event = InstanceEvent.from_json(meta)
    except DicomError:
        return False
    return hashlib.sha256(data).hexdigest() == event.sha256
