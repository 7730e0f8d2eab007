"""The SQLite index of stored instances, keyed by SOP Instance UID (0008,0018).

One row per instance: its :class:`~streamgale.dicom.ingest.events.InstanceEvent`
as JSON, whether that event is in the log yet (``published``), and where:
``log_offset`` once published, ``log_hint`` (the log's end offset just before
the append) while not.

The durable log, not this index, is the record of what was acknowledged.
That is why commits run with ``synchronous=NORMAL`` (WAL mode, no fsync per
commit): a crash may roll back the newest rows, but SQLite's write-ahead log
always keeps a prefix of the commits, and :class:`InstanceStore` replays the
log past that prefix on start-up, so no row an acknowledgement depends on
stays lost. It saves one fsync per instance. The log may lose its newest
records too (a store opened with ``fsync=False`` does not sync it), so a
row may claim an offset the log no longer has:
:meth:`InstanceIndex.unpublish_from` turns such rows back into pending ones.

>>> index = InstanceIndex(Path(":memory:"))
>>> index.max_log_offset() is None, index.pending()
(True, [])
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from streamgale.dicom.ingest.events import InstanceEvent

__all__ = ["IndexRow", "InstanceIndex"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    sop_instance_uid TEXT PRIMARY KEY,
    study_instance_uid TEXT NOT NULL,
    series_instance_uid TEXT NOT NULL,
    event TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0,
    log_offset INTEGER,
    log_hint INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_study ON instances (study_instance_uid);
CREATE INDEX IF NOT EXISTS instances_pending ON instances (published) WHERE published = 0;
CREATE INDEX IF NOT EXISTS instances_log_offset ON instances (log_offset);
CREATE INDEX IF NOT EXISTS instances_series ON instances (series_instance_uid);
CREATE TABLE IF NOT EXISTS processed (
    sop_instance_uid TEXT PRIMARY KEY,
    processed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS reprocess_requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL,
    requested_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class IndexRow:
    """One indexed instance."""

    event: InstanceEvent
    published: bool
    log_offset: int | None
    log_hint: int


class InstanceIndex:
    """Rows of stored instances; every method is safe to call from many threads."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        # Another process (``streamgale reprocess``, ``store purge``) may write
        # too: wait for its short transactions rather than fail.
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def get(self, sop_instance_uid: str) -> IndexRow | None:
        """The row of an instance, or None if it was never stored."""
        with self._lock:
            found = self._db.execute(
                "SELECT event, published, log_offset, log_hint FROM instances "
                "WHERE sop_instance_uid = ?",
                (sop_instance_uid,),
            ).fetchone()
        return _row(found) if found is not None else None

    def insert(self, event: InstanceEvent, *, log_hint: int) -> None:
        """Add an unpublished row; the caller made sure the UID is not indexed yet."""
        self._insert_unpublished("INSERT", event, log_hint)

    def replace(self, event: InstanceEvent, *, log_hint: int) -> None:
        """Put an unpublished row in place of the instance's row (a new version of it)."""
        self._insert_unpublished("INSERT OR REPLACE", event, log_hint)

    def _insert_unpublished(
        self, verb: Literal["INSERT", "INSERT OR REPLACE"], event: InstanceEvent, log_hint: int
    ) -> None:
        with self._lock:
            self._db.execute(
                f"{verb} INTO instances (sop_instance_uid, study_instance_uid, "
                "series_instance_uid, event, published, log_hint) VALUES (?, ?, ?, ?, 0, ?)",
                (
                    event.sop_instance_uid,
                    event.study_instance_uid,
                    event.series_instance_uid,
                    event.to_json().decode(),
                    log_hint,
                ),
            )

    def mark_published(self, event: InstanceEvent, log_offset: int) -> None:
        """Record that ``event`` is in the log at ``log_offset``, adding or updating its row."""
        with self._lock:
            self._db.execute(
                "INSERT INTO instances (sop_instance_uid, study_instance_uid, "
                "series_instance_uid, event, published, log_offset, log_hint) "
                "VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (sop_instance_uid) "
                "DO UPDATE SET published = 1, log_offset = excluded.log_offset, "
                "event = excluded.event",
                (
                    event.sop_instance_uid,
                    event.study_instance_uid,
                    event.series_instance_uid,
                    event.to_json().decode(),
                    log_offset,
                    log_offset,
                ),
            )

    def unpublish_from(self, log_offset: int) -> int:
        """Mark rows published at ``log_offset`` or later as not published; return how many.

        For a log that lost its tail: those events are gone, and the rows must
        be published again. Their ``log_hint`` becomes ``log_offset``.
        """
        with self._lock:
            cursor = self._db.execute(
                "UPDATE instances SET published = 0, log_offset = NULL, log_hint = ? "
                "WHERE published = 1 AND log_offset >= ?",
                (log_offset, log_offset),
            )
        return int(cursor.rowcount)

    def delete(self, sop_instance_uid: str) -> None:
        """Forget an instance whose stored file is gone (never acknowledged)."""
        with self._lock:
            self._db.execute(
                "DELETE FROM instances WHERE sop_instance_uid = ?", (sop_instance_uid,)
            )

    def pending(self) -> list[IndexRow]:
        """Rows whose event is not known to be in the log, oldest log hint first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT event, published, log_offset, log_hint FROM instances "
                "WHERE published = 0 ORDER BY log_hint"
            ).fetchall()
        return [_row(r) for r in rows]

    def max_log_offset(self) -> int | None:
        """Highest log offset of a published row, or None if none is published."""
        with self._lock:
            (value,) = self._db.execute(
                "SELECT MAX(log_offset) FROM instances WHERE published = 1"
            ).fetchone()
        return int(value) if value is not None else None

    def study(self, study_instance_uid: str) -> list[InstanceEvent]:
        """Events of every instance stored for a study, in no particular order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT event FROM instances WHERE study_instance_uid = ?",
                (study_instance_uid,),
            ).fetchall()
        return [InstanceEvent.from_json(r[0].encode()) for r in rows]

    def matching(self, uid: str) -> list[str]:
        """SOP Instance UIDs of the instances whose study, series or instance UID is ``uid``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT sop_instance_uid FROM instances WHERE sop_instance_uid = ?1 "
                "OR series_instance_uid = ?1 OR study_instance_uid = ?1 "
                "ORDER BY log_offset",
                (uid,),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def request_reprocess(self, uid: str, at: float) -> None:
        """Queue a study, series or instance UID to be processed again (durable on return)."""
        with self._lock:
            self._db.execute("PRAGMA synchronous=FULL")
            try:
                self._db.execute(
                    "INSERT INTO reprocess_requests (uid, requested_at) VALUES (?, ?)", (uid, at)
                )
            finally:
                self._db.execute("PRAGMA synchronous=NORMAL")

    def reprocess_requests(self) -> list[tuple[int, str]]:
        """Queued reprocess requests as ``(seq, uid)``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, uid FROM reprocess_requests ORDER BY seq"
            ).fetchall()
        return [(int(seq), str(uid)) for seq, uid in rows]

    def forget_reprocess_request(self, seq: int) -> None:
        """Drop a reprocess request once it was carried out."""
        with self._lock:
            self._db.execute("DELETE FROM reprocess_requests WHERE seq = ?", (seq,))

    def mark_processed(self, sop_instance_uids: list[str], at: float) -> None:
        """Record that the pipeline is done with these instances (retention may purge them)."""
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO processed (sop_instance_uid, processed_at) VALUES (?, ?)",
                [(uid, at) for uid in sop_instance_uids],
            )

    def unmark_processed(self, sop_instance_uid: str) -> None:
        """The instance is in flight again (a new version, a release, a reprocess)."""
        with self._lock:
            self._db.execute(
                "DELETE FROM processed WHERE sop_instance_uid = ?", (sop_instance_uid,)
            )

    def retention_rows(self) -> list[tuple[InstanceEvent, bool]]:
        """Every instance with whether it is marked processed, for retention to choose from."""
        with self._lock:
            rows = self._db.execute(
                "SELECT i.event, p.sop_instance_uid IS NOT NULL FROM instances i "
                "LEFT JOIN processed p ON p.sop_instance_uid = i.sop_instance_uid"
            ).fetchall()
        return [(InstanceEvent.from_json(e.encode()), bool(done)) for e, done in rows]

    def forget(self, sop_instance_uid: str) -> None:
        """Drop an instance's row and processed mark (retention purged it)."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for table in ("instances", "processed"):
                    self._db.execute(
                        f"DELETE FROM {table} WHERE sop_instance_uid = ?", (sop_instance_uid,)
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def count(self) -> int:
        """Number of indexed instances."""
        with self._lock:
            (value,) = self._db.execute("SELECT COUNT(*) FROM instances").fetchone()
        return int(value)

    def close(self) -> None:
        """Checkpoint and close the database (a full sync of the WAL)."""
        with self._lock:
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()


def _row(found: tuple[str, int, int | None, int]) -> IndexRow:
    event, published, log_offset, log_hint = found
    return IndexRow(InstanceEvent.from_json(event.encode()), bool(published), log_offset, log_hint)
