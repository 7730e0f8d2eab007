"""The one durable ingest path every door shares: store, index, announce, then acknowledge.

:meth:`InstanceStore.put` takes the bytes of one instance and, in order:

1. reads its header (:mod:`~streamgale.dicom.ingest.inspection`, or takes
   what an :class:`~streamgale.dicom.ingest.arrival.Arrival` read while the
   bytes came in): the UIDs and routing attributes, refusing it with
   :class:`~streamgale.errors.InvalidInstanceError` if they are missing;
2. dedupes by SOP Instance UID (0008,0018) against the index: a resend is
   harmless, unless the copy stored earlier was quarantined or discarded
   (``supersedes``): then the resend is stored and announced as a new
   version of the instance;
3. adds the SQLite row (:mod:`~streamgale.dicom.ingest.index`) and writes
   the Part-10 file (preamble zeroed) named by its SHA-256
   (:mod:`~streamgale.dicom.ingest.objects`);
4. fsyncs the file with its directory entries and, at the same time,
   appends the :class:`~streamgale.dicom.ingest.events.InstanceEvent` to the
   log topic, synced: one flush round per instance rather than two.

Once ``put`` returns no crash can lose the instance, and its event is in
the log, so a door may acknowledge and the pipeline may read it at once.
(An ingest journal that acknowledged after one journal write and wrote the
rest behind was measured and removed: it delayed instances reaching the
models, see BENCHMARKS.md.)

**Crash recovery.** Opening a store marks any index row whose event the log
lost as unpublished, replays the log past the index's last published offset
(the index may lag: it commits without fsync, see
:mod:`~streamgale.dicom.ingest.index`), and finally publishes every row
still unpublished whose file is intact (:meth:`InstanceStore.republish_pending`).
Each stored instance therefore has exactly one instance event in the log,
whatever the crash. Because step 4 flushes file and event together, a power
loss can keep an event whose file never reached the disk; that instance was
never acknowledged, and after an unclean stop it is forgotten so that its
sender's resend is stored anew (:mod:`~streamgale.dicom.ingest.recovery`).

**A full disk.** :meth:`InstanceStore.put` refuses (an ``ENOSPC`` OSError,
which the doors answer with 0xA700 or HTTP 507) any instance that would leave
less than ``reserve_bytes`` free, so the instances a sender pushes never take
the space that results and checkpoints of the work already accepted need.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TypeAlias

from streamgale.dicom.ingest.arrival import Arrival
from streamgale.dicom.ingest.claims import UidClaims
from streamgale.dicom.ingest.events import CompletionSignal, InstanceEvent, Scope, Source
from streamgale.dicom.ingest.index import IndexRow, InstanceIndex
from streamgale.dicom.ingest.inspection import Inspected, inspect_instance
from streamgale.dicom.ingest.objects import ObjectFiles
from streamgale.dicom.ingest.recovery import (
    forget_torn_tail,
    leave_clean_mark,
    lock_directory,
    refuse_journal,
    take_clean_mark,
)
from streamgale.dicom.ingest.retention import PurgeReport, RetentionPolicy, purge_instances
from streamgale.errors import ConfigError, DicomError, InvalidInstanceError, LogError
from streamgale.log.base import Log

__all__ = ["InstanceStore", "SopClassMismatchError", "StoredInstance"]

logger = logging.getLogger("streamgale.dicom.ingest")

_PARTITION = 0
_SCAN_BATCH = 1024
RESERVE_BYTES = 32 * 1024 * 1024
"""Free space :meth:`InstanceStore.put` leaves for the work already accepted."""


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


RefusalListener: TypeAlias = Callable[[str, str | None, int, str], None]
"""Told ``(source, calling_ae, size, reason)`` when :meth:`InstanceStore.put` refuses bytes."""


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
    gives the unix time stamped on events. All methods are thread-safe. A
    directory has one open store at a time (:class:`~streamgale.errors.DicomError`
    otherwise).

    ``fsync=False`` trades power-loss safety for speed: files
    are not forced to disk and the log is not synced by ``put`` (give it a
    log whose policy is not ``ALWAYS``), so an acknowledged instance
    survives ``kill -9`` of the process, which leaves the kernel's page cache
    intact, but may be lost if the machine loses power. It is what dcmtk's
    storescp does.

    ``supersedes`` is asked about the stored copy when an instance is sent
    again: True (it was quarantined, or discarded, after it was received)
    makes the resend a new version, stored on the direct path and announced
    like a new instance, so a corrected resend is processed rather than
    dropped as a duplicate; ``superseded`` is then told, once the new
    version is durable (to close the quarantine entries of the old one).

    ``retention`` bounds how long processed instances are kept
    (:mod:`~streamgale.dicom.ingest.retention`), applied by
    :meth:`apply_retention`; the pipeline tells which instances it is done
    with through :meth:`mark_processed`.
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
        on_refused: RefusalListener | None = None,
        supersedes: Callable[[InstanceEvent], bool] | None = None,
        superseded: Callable[[InstanceEvent], object] | None = None,
        retention: RetentionPolicy | None = None,
        reserve_bytes: int = RESERVE_BYTES,
    ) -> None:
        self._reserve = reserve_bytes
        self._on_refused = on_refused
        self._supersedes = supersedes
        self._on_superseded = superseded
        self._retention = retention or RetentionPolicy()
        self._retention_due = time.monotonic()
        if max_instance_bytes <= 0:
            msg = f"max_instance_bytes must be positive, got {max_instance_bytes}"
            raise ConfigError(msg, key="max_instance_bytes")
        self._directory = Path(directory)
        self._directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = lock_directory(self._directory)
        self._log = log
        self._topic = topic
        self._max_bytes = max_instance_bytes
        self._clock = clock
        self._fsync = fsync
        self._objects = ObjectFiles(self._directory, fsync=fsync)
        self._index = InstanceIndex(self._directory / "index.sqlite")
        self._claims = UidClaims()
        self._closed = False
        self._opened = False
        try:
            refuse_journal(self._directory)
            self._ensure_topic()
            clean = take_clean_mark(self._directory, self._log_end())
            self._index.unpublish_from(self._log.end_offset(self._topic, _PARTITION))
            self._replay_log()
            if not clean:
                forget_torn_tail(self._log, self._topic, self._index, self._objects)
            self.republish_pending()
            self._opened = True
        except BaseException:
            self.close()
            raise

    def _check_space(self, size: int) -> None:
        """Refuse an instance that would leave less than the reserve free: the
        reserve keeps room for the results and checkpoints of the work already
        accepted, so a disk filled by instances never stops the service."""
        free = shutil.disk_usage(self._directory).free
        if free - size < self._reserve:
            raise OSError(
                errno.ENOSPC,
                f"the disk of {self._directory} has {free} bytes free, and "
                f"{self._reserve} are kept for work in progress; free space to accept more",
            )

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
        arrival: Arrival | None = None,
    ) -> StoredInstance:
        """Store one instance durably and publish its event; return what was stored.

        ``data`` is a Part-10 file or a bare dataset; a bare dataset is encoded
        in ``transfer_syntax_uid`` (guessed among the uncompressed syntaxes
        when not given; a Part-10 file's own file meta always wins).
        ``sop_class_uid``, when given, is the SOP class the sender announced
        (the C-STORE Affected SOP Class UID); a dataset of another class
        raises :class:`SopClassMismatchError`. ``data`` is not kept after
        return, so a reused receive buffer is fine.

        On return the instance is durable (no crash can lose it), its file is
        in place and its event in the log.

        ``arrival``, when given, saw ``data`` arrive (a bare dataset in its
        transfer syntax) and has already done the inspection and hashing.

        A SOP Instance UID already stored returns the first copy with
        ``duplicate=True`` and publishes nothing (unless a crash had kept its
        event from the log: it is published now); the first copy is kept even
        if the resent bytes differ, unless ``supersedes`` says the first copy
        was quarantined or discarded: the resend then replaces it and is
        announced, a new version. An instance with a stored SOP Instance UID
        but another study or series is no resend: it is refused
        (:class:`~streamgale.errors.InvalidInstanceError`).

        Raises :class:`~streamgale.errors.InvalidInstanceError` for bytes that
        cannot be stored (unreadable, a required UID missing, too large);
        ``OSError``, :class:`~streamgale.errors.LogError` or
        :class:`~streamgale.errors.DicomError` if the disk fails.
        """
        with self._telling_refusals(source, calling_ae, len(data)):
            self._check_open()
            self._check_space(len(data))
            if len(data) > self._max_bytes:
                msg = (
                    f"the instance is {len(data)} bytes, over the limit of {self._max_bytes}; "
                    "raise max_instance_bytes if such instances are expected"
                )
                raise InvalidInstanceError(msg)
            prepared = _prepared(data, transfer_syntax_uid, calling_ae, arrival)
            if prepared is not None:
                found, sha = prepared
            else:
                found = inspect_instance(
                    data,
                    transfer_syntax_uid=transfer_syntax_uid,
                    source_ae=calling_ae,
                    max_inflated_bytes=self._max_bytes,
                )
                sha = None
            if sop_class_uid is not None and sop_class_uid != found.sop_class_uid:
                msg = (
                    f"SOP Class UID {found.sop_class_uid} is not the announced {sop_class_uid}; "
                    "send the dataset under its own SOP class"
                )
                raise SopClassMismatchError(msg, sop_instance_uid=found.sop_instance_uid)
            with self._claims.claim(found.sop_instance_uid):
                known = self._known(found.sop_instance_uid)
                if known is not None and self._superseded(known):
                    event = self._replace(known, found, source, calling_ae, sha)
                    return _stored(event, duplicate=False)
                if known is not None:
                    _refuse_uid_collision(known, found)
                    return _stored(known, duplicate=True)
                sha = sha or _sha256(found.chunks)
                event = self._event(found, source, calling_ae, sha, self._objects.path_for(sha))
                self._write_and_announce(found, event)
                return _stored(event, duplicate=False)

    @contextmanager
    def _telling_refusals(self, source: str, calling_ae: str | None, size: int) -> Iterator[None]:
        """Tell ``on_refused`` about bytes :meth:`put` refuses (the error still propagates)."""
        try:
            yield
        except InvalidInstanceError as exc:
            if self._on_refused is not None:
                self._on_refused(source, calling_ae, size, str(exc))
            raise

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
        with self._claims.claim(sop_instance_uid):
            event = replace(self.get(sop_instance_uid).event, source="release")
            self._index.unmark_processed(sop_instance_uid)
            self._append(event.to_json())
        return event

    def mark_processed(self, sop_instance_uids: Iterable[str]) -> None:
        """Record that the pipeline is done with these instances: retention may purge them.

        Best effort: a failure (a full disk) is logged, not raised, and the
        instances stay unmarked, so retention keeps them: the safe side. A
        result must not fail for want of this mark.
        """
        self._check_open()
        uids = list(sop_instance_uids)
        try:
            self._index.mark_processed(uids, self._clock())
        except (sqlite3.Error, OSError) as exc:
            logger.warning("could not mark %d instances processed (%s); kept", len(uids), exc)

    def apply_retention(self, *, force: bool = False) -> PurgeReport | None:
        """Purge what the retention policy no longer keeps, at most once per its interval.

        Returns the report, or None when the policy keeps everything or the
        interval has not passed yet (``force`` skips that wait).
        """
        self._check_open()
        policy = self._retention
        if not policy.limited or (not force and time.monotonic() < self._retention_due):
            return None
        self._retention_due = time.monotonic() + policy.interval
        return purge_instances(self._index, policy, now=self._clock(), quarantined=self._superseded)

    def reprocess_requested(self) -> int:
        """Publish again every instance queued by ``streamgale reprocess``; return how many.

        A request names a study, series or instance UID
        (:func:`~streamgale.dicom.ingest.reprocess.request_reprocess`); each
        stored instance it matches is published again (source ``"release"``),
        so the pipeline runs it through the routes and models it has now. A
        request is forgotten once carried out; one matching nothing (purged
        since) is dropped with a warning.
        """
        self._check_open()
        published = 0
        for seq, uid in self._index.reprocess_requests():
            matching = self._index.matching(uid)
            if not matching:
                logger.warning("reprocess request %s matches no stored instance; dropped", uid)
            for sop_instance_uid in matching:
                try:
                    self.release(sop_instance_uid)
                except KeyError:  # purged between the two reads
                    continue
                published += 1
            self._index.forget_reprocess_request(seq)
        return published

    def republish_pending(self) -> int:
        """Publish every stored instance whose event never reached the log; return how many.

        Run on opening; a row whose file a crash left missing is dropped
        (its sender was never acknowledged and will resend).
        """
        self._check_open()
        published = 0
        for row in self._index.pending():
            with self._claims.claim(row.event.sop_instance_uid):
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
        """Close the index and release the directory.

        The log belongs to the caller and stays open. Call it once no ``put``
        is running (stop the doors first).
        """
        if self._closed:
            return
        self._closed = True
        try:
            self._objects.close()
            self._index.close()
            if self._opened:
                leave_clean_mark(self._directory, self._log_end)
        finally:
            os.close(self._lock_fd)

    def _known(self, sop_instance_uid: str) -> InstanceEvent | None:
        """The event of an instance already stored (publishing it if a crash kept it back)."""
        row = self._index.get(sop_instance_uid)
        if row is None:
            return None
        if not row.published:
            self._publish(row.event)
        return row.event

    def _log_end(self) -> int:
        return self._log.end_offset(self._topic, _PARTITION)

    def _write_and_announce(self, found: Inspected, event: InstanceEvent) -> None:
        """Index the instance as pending, write its file, and publish its event while
        the file is flushed: one flush round. (The row goes first: an SQLite write
        during the fsync waits for the file system's commit, measured 1-5 ms.)"""
        self._index.insert(event, log_hint=self._log.end_offset(self._topic, _PARTITION))
        published = False

        def publish() -> None:
            nonlocal published
            published = True  # from here on a pending row is republished on the next open
            self._publish(event)

        try:
            self._objects.write(found.chunks, event.sha256, alongside=publish)
        except BaseException:
            if not published:  # the file could not be written: no row may name it
                self._index.delete(event.sop_instance_uid)
            raise

    def _superseded(self, known: InstanceEvent) -> bool:
        """Whether a resend should replace the stored copy (quarantined or discarded)."""
        return self._supersedes is not None and self._supersedes(known)

    def _replace(
        self,
        known: InstanceEvent,
        found: Inspected,
        source: Source,
        calling_ae: str | None,
        sha: str | None,
    ) -> InstanceEvent:
        """Store a resend as the new version of ``known``: file, row, event (direct path)."""
        event = self._write(found, source, calling_ae, sha)
        self._index.replace(event, log_hint=self._log.end_offset(self._topic, _PARTITION))
        self._index.unmark_processed(event.sop_instance_uid)
        self._publish(event)
        if event.sha256 != known.sha256:
            # The old bytes were quarantined (the quarantine keeps its own copy) or
            # discarded: nothing refers to this file any more.
            Path(known.path).unlink(missing_ok=True)
        logger.info("resend of %s stored as a new version", event.sop_instance_uid)
        if self._on_superseded is not None:
            self._on_superseded(event)
        return event

    def _write(
        self, found: Inspected, source: Source, calling_ae: str | None, sha: str | None
    ) -> InstanceEvent:
        """The direct path: the file durably written (fsync) before anything refers to it."""
        sha, path = self._objects.write(found.chunks, sha)
        return self._event(found, source, calling_ae, sha, path)

    def _event(
        self, found: Inspected, source: Source, calling_ae: str | None, sha: str, path: Path
    ) -> InstanceEvent:
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


def _refuse_uid_collision(known: InstanceEvent, found: Inspected) -> None:
    """A resend names the same study and series; another one is a different instance
    sharing the UID, which must be refused, not dropped as a duplicate."""
    if (known.study_instance_uid, known.series_instance_uid) == (
        found.study_instance_uid,
        found.series_instance_uid,
    ):
        return
    msg = (
        f"SOP Instance UID {found.sop_instance_uid} is already stored in study "
        f"{known.study_instance_uid}, series {known.series_instance_uid}; this instance says "
        f"study {found.study_instance_uid}, series {found.series_instance_uid}: two different "
        "instances share a UID; give this one a new SOP Instance UID"
    )
    raise InvalidInstanceError(msg, sop_instance_uid=found.sop_instance_uid)


def _sha256(chunks: Iterable[bytes | memoryview]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _prepared(
    data: bytes | bytearray | memoryview,
    transfer_syntax_uid: str | None,
    calling_ae: str | None,
    arrival: Arrival | None,
) -> tuple[Inspected, str] | None:
    """What ``arrival`` worked out on the way in, if it is for these very bytes."""
    same = arrival is not None and (
        arrival.transfer_syntax_uid == transfer_syntax_uid and arrival.source_ae == calling_ae
    )
    if arrival is None or not same:
        return None
    return arrival.finish(memoryview(data).cast("B"))


def _replay_record(index: InstanceIndex, offset: int, payload: bytes) -> None:
    from streamgale.dicom.ingest.events import decode_event

    try:
        event = decode_event(payload)
    except DicomError:
        logger.warning("log record %d is not an ingest event; skipped", offset)
        return
    if isinstance(event, InstanceEvent):
        row: IndexRow | None = index.get(event.sop_instance_uid)
        newer = (
            row is not None
            and row.log_offset is not None
            and offset > row.log_offset
            and event.source != "release"  # a release republishes the row's own event
        )
        if row is None or not row.published or newer:
            index.mark_published(event, offset)


def _stored(event: InstanceEvent, *, duplicate: bool) -> StoredInstance:
    values = {f.name: getattr(event, f.name) for f in _EVENT_FIELDS}
    return StoredInstance(**values, duplicate=duplicate)


_EVENT_FIELDS = fields(InstanceEvent)
