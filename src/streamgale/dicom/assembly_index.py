"""Finished studies on disk: what late-series versioning needs, kept out of snapshots.

Study assembly holds only studies still arriving. When one completes, what a
late series or instance will need of it (its version, its series and their
instances) moves here, so that checkpoints pickle live work only and their
cost does not grow with history.

The index must agree with the snapshot it is restored with. Rows are written
in one transaction at each checkpoint, tagged with that checkpoint's
*generation* (a count of the assembly's snapshots). A restart from the
snapshot of generation ``g`` deletes the rows tagged after ``g``: they
describe studies whose completion the restart is about to replay, and
keeping them would make the replay look like a duplicate of itself.

Rows expire ``retain_seconds`` after their last instance arrived, measured
on the arrival times the log carries (``received_at``), so retention means
the same after a reboot and under replay.

>>> index = FinishedStudies(None, generation=0, retain_seconds=60)
>>> index.put("1.2", {"version": 1, "series": {}}, received_at=1000.0)
>>> index.get("1.2")["version"]
1
>>> index.commit(1)
>>> FinishedStudies.reopened(index, generation=0).get("1.2") is None
True
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from streamgale.errors import StateError

__all__ = ["FinishedStudies"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS finished (
    study_instance_uid TEXT NOT NULL,
    generation INTEGER NOT NULL,
    received_at REAL NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (study_instance_uid, generation)
);
CREATE INDEX IF NOT EXISTS finished_age ON finished (received_at);
"""


class FinishedStudies:
    """Finished studies by Study Instance UID, in SQLite (``path=None``: in memory)."""

    def __init__(self, path: Path | None, *, generation: int, retain_seconds: float) -> None:
        self._path = path
        self._retain = retain_seconds
        self._pending: dict[str, tuple[dict[str, Any], float]] = {}
        self._newest = 0.0
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(path) if path else ":memory:", isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            # Rows of a generation must be durable before its snapshot is.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._rewind(generation)
        except sqlite3.Error as exc:
            msg = f"cannot open the finished-study index {path}: {exc}; check the path and space"
            raise StateError(msg) from exc

    @classmethod
    def reopened(cls, index: FinishedStudies, *, generation: int) -> FinishedStudies:
        """The same index as a restart from ``generation`` sees it (for tests)."""
        if index._path is not None:
            index.close()
            return cls(index._path, generation=generation, retain_seconds=index._retain)
        index._pending.clear()
        index._rewind(generation)
        return index

    def _rewind(self, generation: int) -> None:
        with self._db:
            self._db.execute("DELETE FROM finished WHERE generation > ?", (generation,))
            # Only the newest row of a study is ever read; older ones are history.
            self._db.execute(
                "DELETE FROM finished WHERE generation < "
                "(SELECT MAX(f.generation) FROM finished f "
                "WHERE f.study_instance_uid = finished.study_instance_uid)"
            )

    def get(self, study_instance_uid: str) -> dict[str, Any] | None:
        """The newest body kept for a study, or None if it is unknown or expired."""
        if study_instance_uid in self._pending:
            return self._pending[study_instance_uid][0]
        row = self._db.execute(
            "SELECT body FROM finished WHERE study_instance_uid = ? "
            "ORDER BY generation DESC LIMIT 1",
            (study_instance_uid,),
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put(self, study_instance_uid: str, body: dict[str, Any], *, received_at: float) -> None:
        """Keep ``body`` (JSON-friendly); written at the next :meth:`commit`."""
        self._pending[study_instance_uid] = (body, received_at)
        self._newest = max(self._newest, received_at)

    def discard(self, study_instance_uid: str) -> None:
        """Forget a pending body (its study reopened before the checkpoint)."""
        self._pending.pop(study_instance_uid, None)

    def commit(self, generation: int) -> None:
        """Write what was put since the last commit, tagged ``generation``; expire old rows."""
        if not self._pending:
            return
        rows = [
            (uid, generation, at, json.dumps(body, separators=(",", ":")))
            for uid, (body, at) in self._pending.items()
        ]
        try:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO finished VALUES (?,?,?,?)", rows)
                self._db.execute(
                    "DELETE FROM finished WHERE received_at < ?", (self._newest - self._retain,)
                )
        except sqlite3.Error as exc:
            msg = f"cannot write the finished-study index {self._path}: {exc}; check free space"
            raise StateError(msg) from exc
        self._pending.clear()

    def __len__(self) -> int:
        (n,) = self._db.execute(
            "SELECT COUNT(DISTINCT study_instance_uid) FROM finished"
        ).fetchone()
        return int(n) + sum(1 for uid in self._pending if not self._stored(uid))

    def _stored(self, uid: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM finished WHERE study_instance_uid = ? LIMIT 1", (uid,)
        ).fetchone()
        return row is not None

    def close(self) -> None:
        self._db.close()
