"""The dead-letter store: records a step could not process, kept with why.

A dead letter holds the step id, the error, its traceback and the original
payload (pickled, so replay hands back exactly what failed). The store is a
SQLite file in WAL mode, so the CLI can list and mark letters while a
pipeline runs. Letters are written inside a transaction that commits at
:meth:`DeadLetterStore.flush`, which the runtime calls before every
checkpoint: a letter is durable before the offset of its input is committed,
so nothing is ever lost between the two.

Replay: ``streamgale dlq replay`` marks letters ``replay``; the running (or
next) pipeline takes them with :meth:`take_replays`, feeds each payload back
into the step that failed, and marks it ``replayed``. If it fails again, a
new letter is written.
"""

from __future__ import annotations

import builtins
import contextlib
import enum
import pickle
import sqlite3
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamgale.errors import DeadLetterError

__all__ = ["DEAD_LETTER_FILE", "DeadLetter", "DeadLetterStatus", "DeadLetterStore", "stored_counts"]

DEAD_LETTER_FILE = "deadletters.sqlite"
"""The store's file name in a pipeline's state directory."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline TEXT NOT NULL,
    step_id TEXT NOT NULL,
    is_batch INTEGER NOT NULL,
    error_type TEXT NOT NULL,
    error TEXT NOT NULL,
    traceback TEXT NOT NULL,
    payload BLOB NOT NULL,
    preview TEXT NOT NULL,
    created_at REAL NOT NULL,
    status TEXT NOT NULL,
    replayed_at REAL
);
CREATE INDEX IF NOT EXISTS dead_letters_status ON dead_letters (pipeline, status);
"""

_PREVIEW_CHARS = 500


class DeadLetterStatus(enum.Enum):
    NEW = "new"
    REPLAY = "replay"
    REPLAYED = "replayed"


@dataclass(frozen=True)
class DeadLetter:
    """One failed record (or batch) and the reason it failed."""

    id: int
    pipeline: str
    step_id: str
    is_batch: bool
    error_type: str
    error: str
    traceback: str
    preview: str
    created_at: float
    status: DeadLetterStatus
    payload_bytes: bytes

    @property
    def payload(self) -> Any:
        """The original record or batch, unpickled."""
        return pickle.loads(self.payload_bytes)

    def to_json(self, *, with_traceback: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "pipeline": self.pipeline,
            "step": self.step_id,
            "batch": self.is_batch,
            "error_type": self.error_type,
            "error": self.error,
            "created_at": self.created_at,
            "status": self.status.value,
            "payload": self.preview,
        }
        if with_traceback:
            out["traceback"] = self.traceback
        return out


class DeadLetterStore:
    """Dead letters of every pipeline sharing one state directory.

    ``path=None`` keeps them in memory (for runs without a state directory).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                str(path) if path else ":memory:", isolation_level=None, timeout=10.0
            )
            if path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise DeadLetterError(
                f"cannot open dead-letter store {path}: {exc}; "
                "move the file aside to start a fresh store"
            ) from exc
        # Letters wait here until flush commits them: a failed commit (a full
        # disk) leaves them pending for the next flush instead of losing them.
        self._pending: list[tuple[Any, ...]] = []

    def add(
        self, pipeline: str, step_id: str, payload: Any, error: BaseException, *, batch: bool
    ) -> None:
        """Record a failure; durable at the next :meth:`flush` (touches no disk)."""
        blob = _pickle_payload(payload, error)
        tb = getattr(error, "remote_traceback", None) or "".join(traceback.format_exception(error))
        self._pending.append(
            (
                pipeline,
                step_id,
                int(batch),
                type(error).__name__,
                str(error),
                tb,
                blob,
                _preview(payload),
                time.time(),
                DeadLetterStatus.NEW.value,
            )
        )

    def flush(self) -> None:
        """Commit what :meth:`add` recorded; durable on return.

        If the commit fails (the disk is full), nothing is committed, the
        letters stay pending for the next flush, and the error is raised, so
        the checkpoint calling it does not commit their inputs either.
        """
        if not self._pending:
            return
        try:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO dead_letters (pipeline, step_id, is_batch, error_type, error, "
                "traceback, payload, preview, created_at, status) VALUES (?,?,?,?,?,?,?,?,?,?)",
                self._pending,
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # the commit's error is the one to see
                    self._db.execute("ROLLBACK")
            raise DeadLetterError(
                f"cannot store {len(self._pending)} dead letter(s) in {self.path}: {exc}; "
                "they are kept in memory and stored at the next checkpoint (free disk space)"
            ) from exc
        self._pending.clear()

    def list(
        self,
        pipeline: str | None = None,
        status: DeadLetterStatus | None = None,
        step_id: str | None = None,
        limit: int = 100,
    ) -> builtins.list[DeadLetter]:
        where, args = _filters(pipeline=pipeline, status=status, step_id=step_id)
        rows = self._db.execute(
            f"SELECT * FROM dead_letters {where} ORDER BY id LIMIT ?", (*args, limit)
        ).fetchall()
        return [_row(r) for r in rows]

    def count(self, pipeline: str | None = None, status: DeadLetterStatus | None = None) -> int:
        where, args = _filters(pipeline=pipeline, status=status)
        (n,) = self._db.execute(f"SELECT COUNT(*) FROM dead_letters {where}", args).fetchone()
        return int(n)

    def get(self, letter_id: int) -> DeadLetter:
        row = self._db.execute("SELECT * FROM dead_letters WHERE id = ?", (letter_id,)).fetchone()
        if row is None:
            raise DeadLetterError(
                f"no dead letter with id {letter_id}; run 'streamgale dlq list' to see the ids"
            )
        return _row(row)

    def request_replay(self, ids: Iterable[int]) -> int:
        """Mark letters for replay; returns how many were marked."""
        ids = list(ids)
        for letter_id in ids:
            self.get(letter_id)  # raises a clear error for an unknown id
        cur = self._db.executemany(
            "UPDATE dead_letters SET status = ? WHERE id = ? AND status != ?",
            [(DeadLetterStatus.REPLAY.value, i, DeadLetterStatus.REPLAYED.value) for i in ids],
        )
        return cur.rowcount

    def take_replays(self, pipeline: str) -> builtins.list[DeadLetter]:
        """Letters of ``pipeline`` marked for replay, oldest first."""
        return self.list(pipeline, DeadLetterStatus.REPLAY, limit=10_000)

    def mark_replayed(self, ids: Iterable[int]) -> None:
        now = time.time()
        self._db.executemany(
            "UPDATE dead_letters SET status = ?, replayed_at = ? WHERE id = ?",
            [(DeadLetterStatus.REPLAYED.value, now, i) for i in ids],
        )

    def close(self) -> None:
        self.flush()
        self._db.close()


def stored_counts(
    path: Path, pipeline: str | None = None
) -> dict[tuple[str, DeadLetterStatus], int]:
    """Letters per ``(step id, status)`` in the store file at ``path``; empty if none.

    Reads through its own read-only connection, so any thread may call it
    (a metrics scrape) while the runtime writes the store: it sees what the
    runtime has flushed.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / DEAD_LETTER_FILE
    >>> stored_counts(path)
    {}
    >>> store = DeadLetterStore(path)
    >>> store.add("orders", "parse", b"{", ValueError("bad JSON"), batch=False)
    >>> store.flush()
    >>> stored_counts(path, "orders")
    {('parse', <DeadLetterStatus.NEW: 'new'>): 1}
    >>> store.close()
    """
    if not path.exists():
        return {}
    where, args = _filters(pipeline=pipeline)
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
    try:
        rows = db.execute(
            f"SELECT step_id, status, COUNT(*) FROM dead_letters {where} GROUP BY step_id, status",
            args,
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise DeadLetterError(f"cannot read dead-letter store {path}: {exc}") from exc
    finally:
        db.close()
    return {(step, DeadLetterStatus(status)): int(n) for step, status, n in rows}


def _filters(**conditions: Any) -> tuple[str, tuple[Any, ...]]:
    clauses, args = [], []
    for column, value in conditions.items():
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value.value if isinstance(value, enum.Enum) else value)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), tuple(args)


def _row(row: tuple[Any, ...]) -> DeadLetter:
    (lid, pipeline, step_id, is_batch, etype, err, tb, payload, preview, created, status, _) = row
    return DeadLetter(
        id=lid,
        pipeline=pipeline,
        step_id=step_id,
        is_batch=bool(is_batch),
        error_type=etype,
        error=err,
        traceback=tb,
        preview=preview,
        created_at=created,
        status=DeadLetterStatus(status),
        payload_bytes=payload,
    )


def _pickle_payload(payload: Any, error: BaseException) -> bytes:
    try:
        return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        # An unpicklable payload must still leave a trace: keep its repr.
        return pickle.dumps(
            {"unpicklable_payload": repr(payload)[:10_000], "pickle_error": str(exc)}
        )


def _preview(payload: Any) -> str:
    text = repr(payload)
    return text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 3] + "..."
