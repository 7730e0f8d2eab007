"""The keys of the rows a lake sink landed, so that a row recorded twice lands once.

Producers record telemetry at least once: a step replayed after a crash
records its rows again. Each lake table names the columns that identify a
row (:attr:`~streamgale.lake.schemas.TableSpec.key`); :class:`LandedKeys`
remembers a digest of every key landed, under the sink's sequence number, in
a SQLite file in the sink's state directory. Rows whose key is already there
are dropped before writing.

The keys follow the sink's exactly-once protocol: they are recorded once
the files are written (a failure to record them deletes the files, so the
rows are written again with their keys later), and a restart forgets the
keys of the sequence numbers whose files it deletes (those rows are
replayed).

Only the newest ``keep`` keys of each table are remembered, which bounds the
file (about 75 bytes a key). The bound is a count, not an age: a replay
repeats what was recorded just before a crash, however long the process was
down, and while it is down no key is landed. A row recorded again after more
than ``keep`` newer rows of its table landed would land twice.

>>> import tempfile
>>> from pathlib import Path
>>> from streamgale.lake.rows import rows_to_arrow
>>> keys = LandedKeys(Path(tempfile.mkdtemp()) / "keys.sqlite")
>>> rows = [{"ts": 0, "pipeline": "p", "result_id": r, "version": 1} for r in "aab"]
>>> fresh, digests = keys.admit("results", rows_to_arrow("results", rows))
>>> fresh.column("result_id").to_pylist()
['a', 'b']
>>> keys.record("results", digests, seq=0)  # once the rows are written
>>> keys.admit("results", rows_to_arrow("results", rows))[0].num_rows
0
>>> keys.forget_from(0)
>>> keys.admit("results", rows_to_arrow("results", rows[:1]))[0].num_rows
1
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from streamgale.lake.schemas import TABLES
from streamgale.lake.storage import pyarrow_modules

__all__ = ["DEFAULT_KEEP", "LandedKeys"]

DEFAULT_KEEP = 1_000_000
"""Keys remembered per table: hours of telemetry at 100 images/s (a replay
repeats seconds of it), years of results; about 75 MB a table when full."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS landed (
    digest BLOB PRIMARY KEY, tbl TEXT NOT NULL, seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS landed_by_table ON landed (tbl, seq);
"""
_LOOKUP_CHUNK = 500
"""Digests per ``IN (...)`` query, under SQLite's limit on parameters."""
_SLACK = 1.25
"""Prune once a table holds this many times ``keep`` keys, so pruning is rare."""


class LandedKeys:
    """Digests of the keys landed, by table and sink sequence number; one writer at a time."""

    def __init__(self, path: Path, *, keep: int = DEFAULT_KEEP) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._keep = keep
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # FULL: a key must be durable before the runtime's checkpoint covers its row.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._counts: dict[str, int] = dict(
            self._db.execute("SELECT tbl, count(*) FROM landed GROUP BY tbl").fetchall()
        )

    def admit(self, table: str, data: Any) -> tuple[Any, list[bytes]]:
        """The rows of ``data`` whose key was not landed yet, each key once, and
        the digests of their keys, for :meth:`record` once they are written.
        Tables without a key admit every row."""
        pa, _ = pyarrow_modules()
        names = TABLES[table].key
        if not names or data.num_rows == 0:
            return data, []
        digests = _digests(table, [data.column(n).to_pylist() for n in names])
        with self._lock:
            landed = self._landed({d for d in digests if d is not None})
        keep: list[int] = []
        fresh: dict[bytes, int] = {}
        for index, digest in enumerate(digests):
            if digest is None:  # no key (a writer that sets none): always landed
                keep.append(index)
            elif digest not in landed and digest not in fresh:
                fresh[digest] = index
                keep.append(index)
        if len(keep) < data.num_rows:
            data = data.take(pa.array(keep, type=pa.int64()))
        return data, list(fresh)

    def record(self, table: str, digests: list[bytes], *, seq: int) -> None:
        """Durably remember ``digests`` of ``table``'s rows, now written, under ``seq``."""
        if not digests:
            return
        with self._lock, self._transaction():
            added = self._db.executemany(
                "INSERT OR IGNORE INTO landed (digest, tbl, seq) VALUES (?, ?, ?)",
                ((d, table, seq) for d in digests),
            ).rowcount
        self._counts[table] = self._counts.get(table, 0) + added

    def _landed(self, digests: set[bytes]) -> set[bytes]:
        found: set[bytes] = set()
        pending = list(digests)
        for start in range(0, len(pending), _LOOKUP_CHUNK):
            chunk = pending[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT digest FROM landed WHERE digest IN ({marks})", chunk)
            found.update(row[0] for row in rows)
        return found

    def forget_from(self, seq: int) -> None:
        """Forget keys recorded at ``seq`` or later: their files are being deleted."""
        with self._lock, self._transaction():
            for table in list(self._counts):
                gone = self._db.execute(
                    "DELETE FROM landed WHERE tbl = ? AND seq >= ?", (table, seq)
                ).rowcount
                self._counts[table] -= gone

    def prune(self) -> None:
        """Forget all but the newest ``keep`` keys of a table that holds too many."""
        with self._lock:
            for table, count in list(self._counts.items()):
                if count <= self._keep * _SLACK:
                    continue
                (oldest_kept,) = self._db.execute(
                    "SELECT seq FROM landed WHERE tbl = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
                    (table, self._keep - 1),
                ).fetchone()
                with self._transaction():
                    gone = self._db.execute(
                        "DELETE FROM landed WHERE tbl = ? AND seq < ?", (table, oldest_kept)
                    ).rowcount
                self._counts[table] = count - gone

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """All or nothing; a failed commit (a full disk) leaves no transaction open."""
        self._db.execute("BEGIN")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # the first error is the one to see
                    self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _digests(table: str, columns: list[list[Any]]) -> list[bytes | None]:
    """A 16-byte digest per row of the key ``columns``; None for a row whose
    key columns are all null."""
    out: list[bytes | None] = []
    for values in zip(*columns, strict=True):
        if all(v is None for v in values):
            out.append(None)
            continue
        text = json.dumps([table, *values], default=str, separators=(",", ":"))
        out.append(hashlib.blake2b(text.encode(), digest_size=16).digest())
    return out
