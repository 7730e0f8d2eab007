"""The one durable ingest path every door shares: store, index, announce, then acknowledge.

:meth:`InstanceStore.put` takes the bytes of one instance and, in order:

1. reads its header (:mod:`~streamgale.dicom.ingest.inspection`): the UIDs and
   routing attributes, refusing it with
   :class:`~streamgale.errors.InvalidInstanceError` if they are missing;
2. dedupes by SOP Instance UID (0008,0018): a resend is harmless;
3. writes the Part-10 file, preamble zeroed, named by its SHA-256
   (:mod:`~streamgale.dicom.ingest.objects`), fsynced with its directory;
4. indexes it in SQLite (:mod:`~streamgale.dicom.ingest.index`), unpublished;
5. appends an :class:`~streamgale.dicom.ingest.events.InstanceEvent` to the
   log topic and forces it to disk, then marks the row published.

Only then does ``put`` return, so a door that acknowledges after ``put``
never acknowledges anything a crash could lose.

**Which log.** Give the store a log opened with ``FsyncPolicy.ALWAYS``: its
appends are durable on return and concurrent appenders share the disk's
flushes (group commit). ``put`` also calls ``log.sync()`` after the append,
which makes other policies durable too, at the cost of one more fsync per
instance; but with ``INTERVAL`` a background flush running at the same time
can make ``sync()`` return before the flush finishes, so ``ALWAYS`` is the
policy to use.

**Crash recovery.** Opening a store replays the log past the index's last
published offset (the index may lag: it commits without fsync, see
:mod:`~streamgale.dicom.ingest.index`) and then publishes every row still
unpublished (:meth:`InstanceStore.republish_pending`). Each stored instance
therefore has exactly one instance event in the log, whatever the crash.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path

from streamgale.dicom.ingest.events import CompletionSignal, InstanceEvent, Scope, Source
from streamgale.dicom.ingest.index import IndexRow, InstanceIndex
from streamgale.dicom.ingest.inspection import Inspected, inspect_instance
from streamgale.dicom.ingest.objects import ObjectFiles
from streamgale.errors import ConfigError, DicomError, InvalidInstanceError, LogError
from streamgale.log.base import Log

__all__ = ["InstanceStore", "SopClassMismatchError", "StoredInstance"]

logger = logging.getLogger("streamgale.dicom.ingest")

_PARTITION = 0
_SCAN_BATCH = 1024


@dataclass(frozen=True)
class StoredInstance(InstanceEvent):
    """An instance as stored: its event fields, and whether it was already there.

    ``duplicate`` is True when the SOP Instance UID had been stored before;
    the fields then describe that first copy, which is the one kept.
    """

    duplicate: bool = False

    @property
    def event(self) -> InstanceEvent:
        """The instance event, without ``duplicate``."""
        return InstanceEvent(**{f.name: getattr(self, f.name) for f in fields(InstanceEvent)})


class _Claim:
    """A per-UID lock and how many threads hold or wait for it."""

    __slots__ = ("holders", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holders = 0


class SopClassMismatchError(InvalidInstanceError):
    """The dataset's SOP Class UID differs from the one the sender announced.

    A C-STORE SCP answers it with 0xA900 "Data Set does not match SOP Class"
    (PS3.4 B.2.3).
    """


class InstanceStore:
    """Durable, deduplicated storage of DICOM instances, announced on a log topic.

    ``directory`` holds the object files and the index; ``log`` receives the
    events on ``topic`` (created with one partition if absent, so that a
    completion signal always follows the instance events it covers).
    Instances larger than ``max_instance_bytes`` are refused. ``clock``
    gives the unix time stamped on events. All methods are thread-safe.

    ``fsync=False`` trades power-loss safety for speed: files are not forced
    to disk and the log is not synced by ``put`` (give it a log whose policy
    is not ``ALWAYS``), so an acknowledged instance survives ``kill -9`` of
    the process, which leaves the kernel's page cache intact, but may be lost
    if the machine loses power. It is what dcmtk's storescp does.
    """

    def __init__(
        self,
        directory: Path,
        log: Log,
        *,
        topic: str = "instances",
        max_instance_bytes: int = 2 * 1024**3,
        clock: Callable[[], float] = time.time,
        fsync: bool = True,
    ) -> None:
        if max_instance_bytes <= 0:
            msg = f"max_instance_bytes must be positive, got {max_instance_bytes}"
            raise ConfigError(msg, key="max_instance_bytes")
        self._directory = Path(directory)
        self._log = log
        self._topic = topic
        self._max_bytes = max_instance_bytes
        self._clock = clock
        self._fsync = fsync
        self._objects = ObjectFiles(self._directory, fsync=fsync)
        self._index = InstanceIndex(self._directory / "index.sqlite")
        self._claims: dict[str, _Claim] = {}
        self._claims_lock = threading.Lock()
        self._closed = False
        self._ensure_topic()
        self._replay_log()
        self.republish_pending()

    @property
    def directory(self) -> Path:
        """Where the object files and the index live."""
        return self._directory

    @property
    def max_instance_bytes(self) -> int:
        """The largest instance :meth:`put` accepts."""
        return self._max_bytes

    @property
    def topic(self) -> str:
        """The log topic events are published to."""
        return self._topic

    def put(
        self,
        data: bytes | bytearray | memoryview,
        *,
        source: Source,
        calling_ae: str | None = None,
        transfer_syntax_uid: str | None = None,
        sop_class_uid: str | None = None,
    ) -> StoredInstance:
        """Store one instance durably and publish its event; return what was stored.

        ``data`` is a Part-10 file or a bare dataset; a bare dataset is encoded
        in ``transfer_syntax_uid`` (guessed among the uncompressed syntaxes
        when not given; a Part-10 file's own file meta always wins).
        ``sop_class_uid``, when given, is the SOP class the sender announced
        (the C-STORE Affected SOP Class UID); a dataset of another class
        raises :class:`SopClassMismatchError`. ``data`` is not kept after
        return, so a reused receive buffer is fine.

        On return the file and its event are durable (the index row too, in
        effect: opening the store rebuilds it from the log). A SOP Instance
        UID already stored returns the first copy with ``duplicate=True`` and
        publishes nothing (unless a crash had kept its event from the log: it
        is published now); the first copy is kept even if the resent bytes
        differ.

        Raises :class:`~streamgale.errors.InvalidInstanceError` for bytes that
        cannot be stored (unreadable, a required UID missing, too large);
        ``OSError`` or :class:`~streamgale.errors.LogError` if the disk fails.
        """
        self._check_open()
        if len(data) > self._max_bytes:
            msg = (
                f"the instance is {len(data)} bytes, over the limit of {self._max_bytes}; "
                "raise max_instance_bytes if such instances are expected"
            )
            raise InvalidInstanceError(msg)
        found = inspect_instance(
            data, transfer_syntax_uid=transfer_syntax_uid, source_ae=calling_ae
        )
        if sop_class_uid is not None and sop_class_uid != found.sop_class_uid:
            msg = (
                f"SOP Class UID {found.sop_class_uid} is not the announced {sop_class_uid}; "
                "send the dataset under its own SOP class"
            )
            raise SopClassMismatchError(msg, sop_instance_uid=found.sop_instance_uid)
        with self._claim(found.sop_instance_uid):
            existing = self._index.get(found.sop_instance_uid)
            if existing is not None:
                if not existing.published:
                    self._publish(existing.event)
                return _stored(existing.event, duplicate=True)
            event = self._write(found, source, calling_ae)
            self._index.insert(event, log_hint=self._log.end_offset(self._topic, _PARTITION))
            self._publish(event)
            return _stored(event, duplicate=False)

    def get(self, sop_instance_uid: str) -> StoredInstance:
        """The stored instance with this SOP Instance UID; KeyError if there is none."""
        row = self._index.get(sop_instance_uid)
        if row is None:
            raise KeyError(f"no stored instance has SOP Instance UID {sop_instance_uid}")
        return _stored(row.event, duplicate=False)

    def path_of(self, sop_instance_uid: str) -> Path:
        """Path of the stored Part-10 file; KeyError if there is none."""
        return Path(self.get(sop_instance_uid).path)

    def read_bytes(self, sop_instance_uid: str) -> bytes:
        """The stored Part-10 file; KeyError if there is none."""
        return self.path_of(sop_instance_uid).read_bytes()

    def study(self, study_instance_uid: str) -> list[StoredInstance]:
        """Every stored instance of a study, in no particular order."""
        return [_stored(e, duplicate=False) for e in self._index.study(study_instance_uid)]

    def __len__(self) -> int:
        return self._index.count()

    def signal_complete(
        self, scope: Scope, calling_ae: str | None, sop_instance_uids: Iterable[str]
    ) -> CompletionSignal:
        """Publish that a sender is done with these instances; return the signal.

        Unknown UIDs are left out (they were refused, not stored); the study
        and series UIDs come from the index. The signal is durable on return.
        """
        self._check_open()
        events = [
            row.event for row in map(self._index.get, dict.fromkeys(sop_instance_uids)) if row
        ]
        signal = CompletionSignal(
            scope=scope,
            calling_ae=calling_ae,
            study_instance_uids=tuple(dict.fromkeys(e.study_instance_uid for e in events)),
            series_instance_uids=tuple(dict.fromkeys(e.series_instance_uid for e in events)),
            sop_instance_uids=tuple(e.sop_instance_uid for e in events),
            at=self._clock(),
        )
        self._append(signal.to_json())
        return signal

    def release(self, sop_instance_uid: str) -> InstanceEvent:
        """Publish a stored instance again, as let out of quarantine by an operator.

        The pipeline then processes it anew (source ``"release"``); durable on
        return. KeyError if no instance has this SOP Instance UID.
        """
        self._check_open()
        with self._claim(sop_instance_uid):
            event = replace(self.get(sop_instance_uid).event, source="release")
            self._append(event.to_json())
        return event

    def republish_pending(self) -> int:
        """Publish every stored instance whose event never reached the log; return how many.

        Run on opening; a row whose file a crash left missing is dropped
        (its sender was never acknowledged and will resend).
        """
        self._check_open()
        published = 0
        for row in self._index.pending():
            with self._claim(row.event.sop_instance_uid):
                current = self._index.get(row.event.sop_instance_uid)
                if current is None or current.published:
                    continue
                if not self._objects.verify(Path(current.event.path), current.event.sha256):
                    logger.warning(
                        "stored file %s of %s is missing or torn; forgetting the instance",
                        current.event.path,
                        current.event.sop_instance_uid,
                    )
                    self._index.delete(current.event.sop_instance_uid)
                    continue
                self._publish(current.event)
                published += 1
        return published

    def close(self) -> None:
        """Close the index; the log belongs to the caller and stays open."""
        if not self._closed:
            self._closed = True
            self._objects.close()
            self._index.close()

    def _write(self, found: Inspected, source: Source, calling_ae: str | None) -> InstanceEvent:
        sha, path = self._objects.write(found.chunks)
        return InstanceEvent(
            sop_instance_uid=found.sop_instance_uid,
            sop_class_uid=found.sop_class_uid,
            study_instance_uid=found.study_instance_uid,
            series_instance_uid=found.series_instance_uid,
            transfer_syntax_uid=found.transfer_syntax_uid,
            modality=found.modality,
            body_part_examined=found.body_part_examined,
            series_description=found.series_description,
            number_of_frames=found.number_of_frames,
            calling_ae=calling_ae,
            source=source,
            path=str(path),
            size=found.size,
            sha256=sha,
            received_at=self._clock(),
        )

    def _publish(self, event: InstanceEvent) -> None:
        offset = self._append(event.to_json())
        self._index.mark_published(event, offset)

    def _append(self, payload: bytes) -> int:
        offset = self._log.append(self._topic, _PARTITION, [payload])
        if self._fsync:
            self._log.sync()  # a no-op for an ALWAYS log, whose append already fsynced
        return offset

    @contextmanager
    def _claim(self, sop_instance_uid: str) -> Iterator[None]:
        """Serialise work on one SOP Instance UID; other UIDs proceed in parallel."""
        with self._claims_lock:
            claim = self._claims.setdefault(sop_instance_uid, _Claim())
            claim.holders += 1
        try:
            with claim.lock:
                yield
        finally:
            with self._claims_lock:
                claim.holders -= 1
                if not claim.holders:
                    del self._claims[sop_instance_uid]

    def _ensure_topic(self) -> None:
        try:
            partitions = self._log.partitions(self._topic)
        except LogError:  # unknown topic
            self._log.create_topic(self._topic, 1)
            return
        if partitions != 1:
            msg = (
                f"log topic {self._topic!r} has {partitions} partitions; ingest needs exactly 1 "
                "so that a completion signal follows its instances; use another topic name"
            )
            raise ConfigError(msg, key="topic")

    def _replay_log(self) -> None:
        """Index every instance event the index lost or did not mark published."""
        last = self._index.max_log_offset()
        starts = [r.log_hint for r in self._index.pending()]
        starts.append(last + 1 if last is not None else 0)
        offset = max(min(starts), self._log.start_offset(self._topic, _PARTITION))
        end = self._log.end_offset(self._topic, _PARTITION)
        while offset < end:
            records = self._log.read(self._topic, _PARTITION, offset, _SCAN_BATCH)
            for record in records:
                _replay_record(self._index, record.offset, record.payload)
            offset = records[-1].offset + 1 if records else end

    def _check_open(self) -> None:
        if self._closed:
            raise DicomError(f"the instance store at {self._directory} is closed; open a new one")


def _replay_record(index: InstanceIndex, offset: int, payload: bytes) -> None:
    from streamgale.dicom.ingest.events import decode_event

    try:
        event = decode_event(payload)
    except DicomError:
        logger.warning("log record %d is not an ingest event; skipped", offset)
        return
    if isinstance(event, InstanceEvent):
        row: IndexRow | None = index.get(event.sop_instance_uid)
        if row is None or not row.published:
            index.mark_published(event, offset)


def _stored(event: InstanceEvent, *, duplicate: bool) -> StoredInstance:
    values = {f.name: getattr(event, f.name) for f in fields(InstanceEvent)}
    return StoredInstance(**values, duplicate=duplicate)
