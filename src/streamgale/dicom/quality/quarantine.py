"""The quarantine: inputs that could not be processed, kept with their original bytes and why.

Every input ends processed, refused to its sender, or here. An entry holds
the bytes exactly as received, a human-readable reason, the stage that gave
up ("validation", "decode", "deid", "inference", "delivery" ...), the door it
came in by ("dimse", "stow", "folder" ...) and, when they could be read, its
SOP Instance and Study Instance UIDs.

Layout of ``directory``: ``index.sqlite`` (SQLite in WAL mode, so the
``streamgale quarantine`` commands work while a pipeline holds the store
open) and ``objects/<ab>/<id>.dcm``, named by a generated id, never by a DICOM
value. :meth:`QuarantineStore.put` is durable on return: the file is fsynced
and renamed into place before the row that points at it commits.

Release works like dead-letter replay: ``streamgale quarantine release``
only marks entries ``release_requested``; the running (or next) pipeline
takes them with :meth:`QuarantineStore.take_release_requests`, re-ingests the
bytes and calls :meth:`QuarantineStore.mark_released`. The command never
needs the pipeline's log, which the running process holds locked.

>>> import tempfile, pathlib
>>> store = QuarantineStore(pathlib.Path(tempfile.mkdtemp()) / "quarantine")
>>> entry = store.put(b"not dicom", reason="not a readable DICOM Part 10 file",
...                   stage="validation", source="folder")
>>> entry.status.value, store.read_bytes(entry.id)
('quarantined', b'not dicom')
>>> store.request_release([entry.id]), [e.id for e in store.take_release_requests()] == [entry.id]
(1, True)
>>> store.close()
"""

from __future__ import annotations

import builtins
import enum
import hashlib
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from streamgale.errors import DicomError
from streamgale.fsutil import fsync_dir

__all__ = [
    "INDEX_FILE",
    "QuarantineEntry",
    "QuarantineError",
    "QuarantineSource",
    "QuarantineStage",
    "QuarantineStatus",
    "QuarantineStore",
]

INDEX_FILE = "index.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS quarantine (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    sop_instance_uid TEXT,
    study_instance_uid TEXT,
    source TEXT NOT NULL,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    quarantined_at REAL NOT NULL,
    status TEXT NOT NULL,
    released_at REAL
);
CREATE INDEX IF NOT EXISTS quarantine_status ON quarantine (status, stage);
"""
_COLUMNS = (
    "id, sop_instance_uid, study_instance_uid, source, stage, reason, size, sha256, "
    "quarantined_at, status, released_at"
)
_ID_BYTES = 8
"""16 hex digits: short enough to type, 2**64 ids (a colliding file name is retried)."""
_TAKE_LIMIT = 10_000
_E = TypeVar("_E", bound=enum.StrEnum)


class QuarantineError(DicomError):
    """The quarantine store could not do what was asked (unknown id, unreadable store)."""


class QuarantineStatus(enum.StrEnum):
    """Where an entry stands; only ``quarantined`` entries can be released or discarded."""

    QUARANTINED = "quarantined"
    RELEASE_REQUESTED = "release_requested"
    RELEASED = "released"
    DISCARDED = "discarded"


class QuarantineStage(enum.StrEnum):
    """The pipeline stage that gave up on the input."""

    VALIDATION = "validation"
    DECODE = "decode"
    DEID = "deid"
    ROUTING = "routing"
    INFERENCE = "inference"
    RESULTS = "results"
    DELIVERY = "delivery"


class QuarantineSource(enum.StrEnum):
    """The door the input came in by."""

    DIMSE = "dimse"
    STOW = "stow"
    FOLDER = "folder"
    RELEASE = "release"
    """Re-ingested from the quarantine by an operator, and failed again."""
    API = "api"


@dataclass(frozen=True)
class QuarantineEntry:
    """One quarantined input; its bytes are read with :meth:`QuarantineStore.read_bytes`."""

    id: str
    sop_instance_uid: str | None
    study_instance_uid: str | None
    source: QuarantineSource
    stage: QuarantineStage
    reason: str
    size: int
    sha256: str
    quarantined_at: float
    status: QuarantineStatus
    released_at: float | None

    def to_json(self) -> dict[str, Any]:
        """The entry as JSON-ready values (enums as their strings)."""
        return {
            "id": self.id,
            "sop_instance_uid": self.sop_instance_uid,
            "study_instance_uid": self.study_instance_uid,
            "source": self.source.value,
            "stage": self.stage.value,
            "reason": self.reason,
            "size": self.size,
            "sha256": self.sha256,
            "quarantined_at": self.quarantined_at,
            "status": self.status.value,
            "released_at": self.released_at,
        }


class QuarantineStore:
    """Quarantined inputs under ``directory``; safe to share between threads and processes.

    ``clock`` gives the wall-clock time stamped on entries (seconds since the
    epoch); tests pass their own.
    """

    def __init__(self, directory: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.directory = Path(directory)
        self._objects = self.directory / "objects"
        self._clock = clock
        self._lock = threading.Lock()
        self._objects.mkdir(parents=True, exist_ok=True)
        path = self.directory / INDEX_FILE
        try:
            self._db = sqlite3.connect(
                str(path), isolation_level=None, timeout=10.0, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise QuarantineError(
                f"cannot open quarantine index {path}: {exc}; move the directory aside to start "
                "a fresh store (the kept files are under objects/)"
            ) from exc

    def put(
        self,
        data: bytes,
        *,
        reason: str,
        stage: QuarantineStage | str,
        source: QuarantineSource | str,
        sop_instance_uid: str | None = None,
        study_instance_uid: str | None = None,
    ) -> QuarantineEntry:
        """Keep ``data`` with its reason; durable on return (file fsynced, row committed)."""
        stage, source = _parse(QuarantineStage, stage), _parse(QuarantineSource, source)
        if not reason.strip():
            raise QuarantineError("a quarantine entry needs a reason an operator can act on")
        entry_id = self._write_object(data)
        entry = QuarantineEntry(
            id=entry_id,
            sop_instance_uid=sop_instance_uid or None,
            study_instance_uid=study_instance_uid or None,
            source=source,
            stage=stage,
            reason=reason,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            quarantined_at=self._clock(),
            status=QuarantineStatus.QUARANTINED,
            released_at=None,
        )
        row = tuple(entry.to_json().values())  # to_json keys are in _COLUMNS order
        with self._lock:
            self._db.execute(
                f"INSERT INTO quarantine ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", row
            )
        return entry

    def list(
        self,
        status: QuarantineStatus | str | None = None,
        stage: QuarantineStage | str | None = None,
        limit: int = 100,
    ) -> builtins.list[QuarantineEntry]:
        """Entries, oldest first, optionally only those with ``status`` and/or ``stage``."""
        clauses, args = [], []
        if status is not None:
            clauses.append("status = ?")
            args.append(_parse(QuarantineStatus, status).value)
        if stage is not None:
            clauses.append("stage = ?")
            args.append(_parse(QuarantineStage, stage).value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM quarantine {where} ORDER BY seq LIMIT ?", (*args, limit)
            ).fetchall()
        return [_entry(row) for row in rows]

    def get(self, entry_id: str) -> QuarantineEntry:
        """The entry with ``entry_id``; :class:`QuarantineError` when there is none."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM quarantine WHERE id = ?", (entry_id,)
            ).fetchone()
        if row is None:
            raise QuarantineError(
                f"no quarantined input with id {entry_id!r}; "
                "run 'streamgale quarantine list' to see the ids"
            )
        return _entry(row)

    def read_bytes(self, entry_id: str) -> bytes:
        """The original bytes of an entry; gone once it is discarded."""
        entry = self.get(entry_id)
        if entry.status is QuarantineStatus.DISCARDED:
            raise QuarantineError(f"quarantined input {entry_id} was discarded; its bytes are gone")
        try:
            return self._object_path(entry_id).read_bytes()
        except FileNotFoundError:
            raise QuarantineError(
                f"the file of quarantined input {entry_id} is missing from {self._objects}"
            ) from None

    def request_release(self, ids: Iterable[str]) -> int:
        """Mark ``quarantined`` entries for release; returns how many were marked.

        Unknown ids raise before anything is marked. Entries already released,
        discarded or marked are left as they are.
        """
        return self._transition(
            ids, QuarantineStatus.RELEASE_REQUESTED, (QuarantineStatus.QUARANTINED,)
        )

    def take_release_requests(self) -> builtins.list[QuarantineEntry]:
        """Entries marked for release, oldest first: the pipeline re-ingests these.

        Taking marks nothing: call :meth:`mark_released` once an entry is
        re-ingested. An operator may discard an entry in between; its
        :meth:`read_bytes` then raises :class:`QuarantineError`: skip it.
        """
        return self.list(QuarantineStatus.RELEASE_REQUESTED, limit=_TAKE_LIMIT)

    def mark_released(self, ids: Iterable[str]) -> int:
        """Record that the pipeline re-ingested these entries; returns how many changed."""
        return self._transition(
            ids,
            QuarantineStatus.RELEASED,
            (QuarantineStatus.QUARANTINED, QuarantineStatus.RELEASE_REQUESTED),
            stamp=True,
        )

    def discard(self, ids: Iterable[str]) -> int:
        """Delete the bytes of entries for good, keeping their rows; returns how many changed."""
        ids = builtins.list(ids)
        changed = self._transition(
            ids,
            QuarantineStatus.DISCARDED,
            (
                QuarantineStatus.QUARANTINED,
                QuarantineStatus.RELEASE_REQUESTED,
                QuarantineStatus.RELEASED,
            ),
        )
        for entry_id in ids:  # after the commit: a crash here leaves a file, never a dangling row
            self._object_path(entry_id).unlink(missing_ok=True)
        return changed

    def holds(self, sop_instance_uid: str, *, since: float) -> bool:
        """Whether the instance was quarantined at or after ``since`` and not released.

        Discarded entries count: the instance stored at ``since`` ended in the
        quarantine, so a corrected resend of it must be processed anew.
        """
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM quarantine WHERE sop_instance_uid = ? AND quarantined_at >= ? "
                "AND status != ? LIMIT 1",
                (sop_instance_uid, since, QuarantineStatus.RELEASED.value),
            ).fetchone()
        return row is not None

    def mark_superseded(self, sop_instance_uid: str) -> int:
        """A corrected copy of the instance was received: its open entries count as released.

        Entries still ``quarantined`` or ``release_requested`` become
        ``released`` (the instance is being processed anew); returns how many.
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM quarantine WHERE sop_instance_uid = ? AND status IN (?, ?)",
                (
                    sop_instance_uid,
                    QuarantineStatus.QUARANTINED.value,
                    QuarantineStatus.RELEASE_REQUESTED.value,
                ),
            ).fetchall()
        return self.mark_released(row[0] for row in rows) if rows else 0

    def counts(self) -> dict[QuarantineStatus, int]:
        """How many entries are in each status (every status is a key)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT status, COUNT(*) FROM quarantine GROUP BY status"
            ).fetchall()
        found = {QuarantineStatus(status): int(n) for status, n in rows}
        return {status: found.get(status, 0) for status in QuarantineStatus}

    def close(self) -> None:
        """Close the index; the store can be opened again, by this or another process."""
        with self._lock:
            self._db.close()

    def _transition(
        self,
        ids: Iterable[str],
        to: QuarantineStatus,
        allowed_from: tuple[QuarantineStatus, ...],
        *,
        stamp: bool = False,
    ) -> int:
        ids = builtins.list(dict.fromkeys(ids))
        for entry_id in ids:
            self.get(entry_id)  # a clear error for an unknown id, before anything changes
        marks = ",".join("?" * len(allowed_from))
        released_at = self._clock() if stamp else None
        rows = [(to.value, released_at, i, *(s.value for s in allowed_from)) for i in ids]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # all ids change, or none
            try:
                cursor = self._db.executemany(
                    "UPDATE quarantine SET status = ?, released_at = COALESCE(?, released_at) "
                    f"WHERE id = ? AND status IN ({marks})",
                    rows,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return cursor.rowcount

    def _object_path(self, entry_id: str) -> Path:
        return self._objects / entry_id[:2] / f"{entry_id}.dcm"

    def _write_object(self, data: bytes) -> str:
        """Write ``data`` under a fresh id, fsynced; returns the id.

        The file is created exclusively, so a (2**-64) id collision retries
        instead of overwriting. A crash before the row commits leaves a file
        no row points at: harmless, and never an entry without its bytes.
        """
        while True:
            entry_id = secrets.token_hex(_ID_BYTES)
            path = self._object_path(entry_id)
            if not path.parent.is_dir():
                path.parent.mkdir(exist_ok=True)
                fsync_dir(self._objects)  # the new fan-out directory must survive too
            try:
                file = path.open("xb")
            except FileExistsError:
                continue
            with file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            fsync_dir(path.parent)
            return entry_id


def _parse(kind: type[_E], value: _E | str) -> _E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise QuarantineError(
            f"unknown {kind.__name__} {value!r}; expected one of {allowed}"
        ) from None


def _entry(row: tuple[Any, ...]) -> QuarantineEntry:
    (entry_id, sop, study, source, stage, reason, size, sha, at, status, released_at) = row
    return QuarantineEntry(
        id=entry_id,
        sop_instance_uid=sop,
        study_instance_uid=study,
        source=QuarantineSource(source),
        stage=QuarantineStage(stage),
        reason=reason,
        size=size,
        sha256=sha,
        quarantined_at=at,
        status=QuarantineStatus(status),
        released_at=released_at,
    )
