"""The result store: every result kept as JSON, with its DICOM SR and SEG files.

Layout under the store directory (file names come from result ids and
hashes, never from DICOM values)::

    index.sqlite                          one row per result version
    <sha256(study uid)[:2]>/<result_id>.json
    <sha256(study uid)[:2]>/<result_id>.sr.dcm
    <sha256(study uid)[:2]>/<result_id>.seg.dcm   (segmenting models only)

Files are written to a temporary name, fsynced and renamed before the index
row commits, so a listed result always has its files. ``streamgale results
list | show`` reads this store.
"""

from __future__ import annotations

import builtins
import hashlib
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamgale.dicom.results.finding import StudyResult
from streamgale.errors import DicomError
from streamgale.fsutil import atomic_write, fsync_dir

__all__ = ["ResultStore", "StoredResult"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    result_id TEXT PRIMARY KEY,
    study_instance_uid TEXT NOT NULL,
    version INTEGER NOT NULL,
    model TEXT NOT NULL,
    model_version TEXT NOT NULL,
    created_at TEXT NOT NULL,
    present TEXT NOT NULL,
    json_path TEXT NOT NULL,
    sr_path TEXT,
    seg_path TEXT
);
CREATE INDEX IF NOT EXISTS results_study ON results (study_instance_uid, version);
"""


@dataclass(frozen=True)
class StoredResult:
    """Where one result version lives, and a summary for listings."""

    result_id: str
    study_instance_uid: str
    version: int
    model: str
    model_version: str
    created_at: str
    present: str
    """Comma-separated labels the model found present (empty: nothing found)."""
    json_path: Path
    sr_path: Path | None
    seg_path: Path | None

    def load(self) -> StudyResult:
        return StudyResult.from_json(self.json_path.read_bytes())

    def to_json(self) -> dict[str, Any]:
        return {
            "result_id": self.result_id,
            "study_instance_uid": self.study_instance_uid,
            "version": self.version,
            "model": self.model,
            "model_version": self.model_version,
            "created_at": self.created_at,
            "present": [p for p in self.present.split(",") if p],
            "json": str(self.json_path),
            "sr": str(self.sr_path) if self.sr_path else None,
            "seg": str(self.seg_path) if self.seg_path else None,
        }


class ResultStore:
    """Results of one state directory; safe to read while a pipeline writes."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(self.directory / "index.sqlite"),
            isolation_level=None,
            check_same_thread=False,
            timeout=10.0,
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def put(self, result: StudyResult, *, sr: bytes | None, seg: bytes | None) -> StoredResult:
        """Keep a result and its DICOM objects; durable on return; idempotent per result id."""
        folder = self.directory / hashlib.sha256(result.study_instance_uid.encode()).hexdigest()[:2]
        folder.mkdir(exist_ok=True)
        json_path = _write(folder / f"{result.result_id}.json", result.to_json(indent=2).encode())
        sr_path = _write(folder / f"{result.result_id}.sr.dcm", sr) if sr else None
        seg_path = _write(folder / f"{result.result_id}.seg.dcm", seg) if seg else None
        fsync_dir(folder)
        present = ",".join(f.label for f in result.findings if f.present)
        row = (
            result.result_id,
            result.study_instance_uid,
            result.version,
            result.model_name,
            result.model_version,
            result.created_at.isoformat(),
            present,
            str(json_path),
            str(sr_path) if sr_path else None,
            str(seg_path) if seg_path else None,
        )
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?,?)", row)
        return _stored(row)

    def list(
        self, *, study_instance_uid: str | None = None, limit: int = 100
    ) -> builtins.list[StoredResult]:
        """Newest first; only one study's versions with ``study_instance_uid``."""
        query, args = "SELECT * FROM results", tuple[str, ...]()
        if study_instance_uid:
            query, args = query + " WHERE study_instance_uid = ?", (study_instance_uid,)
        with self._lock:
            rows = self._db.execute(
                query + " ORDER BY created_at DESC, version DESC LIMIT ?", (*args, limit)
            ).fetchall()
        return [_stored(r) for r in rows]

    def get(self, result_id: str) -> StoredResult:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM results WHERE result_id = ?", (result_id,)
            ).fetchone()
        if row is None:
            raise DicomError(
                f"no result with id {result_id!r}; run 'streamgale results list' to see the ids"
            )
        return _stored(row)

    def latest(self, study_instance_uid: str, model: str) -> StoredResult | None:
        """The newest version for a study and model (a late series supersedes it)."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM results WHERE study_instance_uid = ? AND model = ? "
                "ORDER BY version DESC LIMIT 1",
                (study_instance_uid, model),
            ).fetchone()
        return _stored(row) if row else None

    def count(self) -> int:
        """How many result versions are stored (for metrics; one indexed count)."""
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM results").fetchone()
        return int(n)

    def close(self) -> None:
        self._db.close()


def _stored(row: tuple[Any, ...]) -> StoredResult:
    rid, study, version, model, model_version, created, present, js, sr, seg = row
    return StoredResult(
        result_id=rid,
        study_instance_uid=study,
        version=version,
        model=model,
        model_version=model_version,
        created_at=created,
        present=present,
        json_path=Path(js),
        sr_path=Path(sr) if sr else None,
        seg_path=Path(seg) if seg else None,
    )


def _write(path: Path, data: bytes) -> Path:
    atomic_write(path, data, sync_dir=False)  # one directory fsync after all files
    return path
