"""Durable delivery queues: one per destination, so a PACS that is down blocks nobody.

A :class:`DeliveryQueue` keeps the results waiting for one destination in
SQLite (WAL journal, ``synchronous=FULL``) under its own directory, and a
worker thread sends them oldest-first:

* :meth:`DeliveryQueue.enqueue` returns only once the item is committed to
  disk, so the pipeline may acknowledge its input right after. It is
  idempotent on ``key`` (a result id): enqueueing the same key again, after
  a crash say, is a no-op, even once the first copy was delivered.
* An item is marked delivered only after the destination confirmed every
  instance in it. A crash in the middle of a send resends the item on
  restart, which is harmless: a PACS stores a SOP Instance UID once.
* A failed send is retried after ``backoff * 2**(attempts - 1)`` seconds,
  capped at ``max_backoff``. The attempt count and the time of the next
  attempt are stored with the item, so a restart keeps the backoff instead of
  hammering a destination that is down. Items wait behind the oldest one, so
  the order of delivery is the order of results.
* With ``max_attempts``, an item that failed that many times is set aside as
  ``failed`` (kept, with its last error) and the queue moves on;
  :meth:`DeliveryQueue.retry_failed` puts such items back. Without it (the
  default) an item is retried for ever, which is right while the destination
  is merely down.

Times are wall-clock seconds (:class:`WallClock`) because they are stored and
must mean the same after a restart; tests inject a
:class:`~streamgale.runtime.logic.ManualClock` and call :meth:`DeliveryQueue.wake`
after moving it. A :class:`DeliveryManager` owns one queue per destination.

>>> import tempfile
>>> from pathlib import Path
>>> from streamgale.dicom.delivery.destinations import StowDestination
>>> from streamgale.runtime.logic import ManualClock
>>> sent = []
>>> queue = DeliveryQueue(Path(tempfile.mkdtemp()), StowDestination("pacs", "http://pacs"),
...                       clock=ManualClock(100.0), sender=sent.append)
>>> queue.enqueue([b"SR", b"SEG"], key="result-1"), queue.enqueue([b"SR"], key="result-1")
(True, False)
>>> queue.run_once(), sent
(True, [[b'SR', b'SEG']])
>>> queue.state()["pending"], queue.state()["delivered"]
(0, 1)
>>> queue.close()
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeAlias, TypedDict

from streamgale.dicom.delivery.destinations import Destination, Sender, sender_for
from streamgale.errors import ConfigError, DeliveryError
from streamgale.runtime.logic import Clock

__all__ = ["DeliveryListener", "DeliveryQueue", "QueueState", "WallClock"]

logger = logging.getLogger("streamgale.dicom.delivery")

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,            -- pending | delivered | failed
    enqueued_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS items_by_state ON items (state, seq);
CREATE TABLE IF NOT EXISTS payloads (
    seq INTEGER NOT NULL,
    part INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (seq, part)
);
"""
# The worker re-reads the clock at least this often (real seconds), so an
# injected clock that jumps ahead is noticed even without wake().
_MAX_SLEEP_S = 1.0


DeliveryListener: TypeAlias = Callable[[str, str, str | None], None]
"""Told ``(destination, key, error)`` when an item is delivered (error None) or
set aside after its last attempt."""


class WallClock:
    """Unix time in seconds: the clock whose readings survive a restart."""

    def now(self) -> float:
        return time.time()


class QueueState(TypedDict):
    """A snapshot of one queue, JSON-friendly for the CLI and the dashboard."""

    destination: str
    pending: int
    """Items waiting to be delivered."""
    failed: int
    """Items set aside after ``max_attempts`` failures."""
    delivered: int
    attempts: int
    """Failed attempts of the oldest pending item (0: not failed yet)."""
    next_attempt_in: float | None
    """Seconds until the oldest pending item is tried again; None when idle."""
    last_error: str | None
    """Why the oldest pending item last failed."""


@dataclass(frozen=True)
class _Head:
    seq: int
    key: str
    attempts: int
    next_attempt_at: float
    last_error: str | None


class DeliveryQueue:
    """The durable queue and worker of one destination, stored in ``directory``.

    ``sender`` replaces the destination's real sender (for tests); by default
    it comes from :func:`~streamgale.dicom.delivery.destinations.sender_for`.
    One process at a time may open a directory: a second one raises
    :class:`~streamgale.errors.DeliveryError`.
    """

    def __init__(
        self,
        directory: Path,
        destination: Destination,
        *,
        backoff: float = 1.0,
        max_backoff: float = 300.0,
        max_attempts: int | None = None,
        clock: Clock | None = None,
        sender: Sender | None = None,
        listener: DeliveryListener | None = None,
    ) -> None:
        if not 0 < backoff <= max_backoff:
            raise ConfigError(
                f"need 0 < backoff <= max_backoff, got backoff={backoff}, "
                f"max_backoff={max_backoff}",
                key="backoff",
            )
        if max_attempts is not None and max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, got {max_attempts}")
        self.destination = destination
        self.backoff, self.max_backoff, self.max_attempts = backoff, max_backoff, max_attempts
        self._clock: Clock = clock or WallClock()
        self._sender = sender or sender_for(destination)
        self._listener = listener
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = _lock_directory(self.directory, destination.name)
        try:
            self._db = _open(self.directory / "queue.sqlite")
        except BaseException:
            self._lock_file.close()
            raise
        self._db_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        """The destination's name."""
        return self.destination.name

    def enqueue(self, items: Sequence[bytes], key: str) -> bool:
        """Queue ``items`` (Part-10 files sent together) under ``key``; durable on return.

        Returns False, and changes nothing, when ``key`` was queued before.
        """
        if not key:
            raise ValueError("enqueue needs a non-empty key (a result id)")
        if not items:
            raise ValueError(f"enqueue of {key!r} has no instances to deliver")
        now = self._clock.now()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO items (key, state, enqueued_at, next_attempt_at) "
                "VALUES (?, 'pending', ?, ?)",
                (key, now, now),
            )
            if cursor.rowcount == 0:
                return False
            seq = cursor.lastrowid
            db.executemany(
                "INSERT INTO payloads (seq, part, data) VALUES (?, ?, ?)",
                [(seq, part, bytes(data)) for part, data in enumerate(items)],
            )
        self._wake.set()
        return True

    def run_once(self) -> bool:
        """Try the oldest pending item if it is due; True if an attempt was made."""
        with self._send_lock:
            head = self._head()
            if head is None or self._wait(head) > 0:
                return False
            with self._db_lock:
                rows = self._db.execute(
                    "SELECT data FROM payloads WHERE seq = ? ORDER BY part", (head.seq,)
                ).fetchall()
            try:
                self._sender([bytes(row[0]) for row in rows])
            except Exception as exc:  # a boundary: the worker must outlive any failure
                self._record_failure(head, exc)
            else:
                self._record_delivery(head)
            return True

    def backlog(self) -> int:
        """How many items wait for delivery."""
        with self._db_lock:
            row = self._db.execute("SELECT COUNT(*) FROM items WHERE state = 'pending'").fetchone()
        return int(row[0])

    def pending_keys(self) -> list[str]:
        """Keys of the pending items, oldest first."""
        with self._db_lock:
            rows = self._db.execute(
                "SELECT key FROM items WHERE state = 'pending' ORDER BY seq"
            ).fetchall()
        return [str(row[0]) for row in rows]

    def state(self) -> QueueState:
        """Counts, and the retry state of the oldest pending item."""
        with self._db_lock:
            counts = dict(
                self._db.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall()
            )
        head = self._head()
        return QueueState(
            destination=self.name,
            pending=int(counts.get("pending", 0)),
            failed=int(counts.get("failed", 0)),
            delivered=int(counts.get("delivered", 0)),
            attempts=head.attempts if head else 0,
            next_attempt_in=self._wait(head) if head else None,
            last_error=head.last_error if head else None,
        )

    def retry_failed(self) -> int:
        """Put the items set aside after ``max_attempts`` back in line; how many."""
        now = self._clock.now()
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE items SET state = 'pending', attempts = 0, next_attempt_at = ? "
                "WHERE state = 'failed'",
                (now,),
            )
        self._wake.set()
        return cursor.rowcount

    def wake(self) -> None:
        """Make the worker look at the queue now (after moving an injected clock)."""
        self._wake.set()

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"streamgale-delivery-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None, *, wait: bool = True) -> None:
        """Stop the worker; a send in progress finishes (bounded by its timeout) first.

        With ``wait=False`` only signal the worker, so several queues can stop in parallel.
        """
        self._stop.set()
        self._wake.set()
        if wait and self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        """Stop the worker and close the database (idempotent)."""
        self.stop()
        with self._db_lock:
            self._db.close()
        self._lock_file.close()

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` real seconds for an empty backlog; whether it emptied."""
        deadline = time.monotonic() + timeout
        while self.backlog():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def __enter__(self) -> DeliveryQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if self.run_once():
                    continue
                head = self._head()
            except Exception:  # keep the worker alive; the next pass retries
                logger.exception("delivery queue %r failed; retrying", self.name)
                head = None
            self._wake.wait(_MAX_SLEEP_S if head is None else min(self._wait(head), _MAX_SLEEP_S))

    def _wait(self, head: _Head) -> float:
        """Seconds until ``head`` is due (0: now)."""
        wait = head.next_attempt_at - self._clock.now()
        # No stored retry time is ever more than max_backoff ahead, unless the
        # wall clock stepped back (NTP, a restored VM): then retry now rather
        # than stall the queue for as long as the step.
        return 0.0 if wait > self.max_backoff else max(wait, 0.0)

    def _head(self) -> _Head | None:
        with self._db_lock:
            row = self._db.execute(
                "SELECT seq, key, attempts, next_attempt_at, last_error FROM items "
                "WHERE state = 'pending' ORDER BY seq LIMIT 1"
            ).fetchone()
        return _Head(*row) if row else None

    def _record_delivery(self, head: _Head) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE items SET state = 'delivered', finished_at = ?, last_error = NULL "
                "WHERE seq = ?",
                (self._clock.now(), head.seq),
            )
            db.execute("DELETE FROM payloads WHERE seq = ?", (head.seq,))
        logger.debug("delivered %r to %r", head.key, self.name)
        self._notify(head.key, None)

    def _record_failure(self, head: _Head, exc: Exception) -> None:
        attempts = head.attempts + 1
        delay = min(self.max_backoff, self.backoff * 2.0 ** min(attempts - 1, 62))
        give_up = self.max_attempts is not None and attempts >= self.max_attempts
        error = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
        with self._transaction() as db:
            db.execute(
                "UPDATE items SET attempts = ?, next_attempt_at = ?, last_error = ?, state = ? "
                "WHERE seq = ?",
                (
                    attempts,
                    self._clock.now() + delay,
                    error,
                    "failed" if give_up else "pending",
                    head.seq,
                ),
            )
        if give_up:
            self._notify(head.key, error)
        if not isinstance(exc, DeliveryError):
            logger.error("sending %r to %r raised unexpectedly", head.key, self.name, exc_info=exc)
        what = "setting it aside" if give_up else f"retrying in {delay:.1f} s"
        logger.warning(
            "delivery of %r to %r failed (attempt %d), %s: %s",
            head.key,
            self.name,
            attempts,
            what,
            error,
        )

    def _notify(self, key: str, error: str | None) -> None:
        if self._listener is None:
            return
        try:
            self._listener(self.name, key, error)
        except Exception:  # telemetry must never stop deliveries
            logger.exception("delivery listener failed for %r to %r", key, self.name)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._db_lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")


def _open(path: Path) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is fsynced before enqueue() returns, so an
        # acknowledged result survives a power cut, not only a crash.
        db.execute("PRAGMA synchronous = FULL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, _SCHEMA_VERSION):
            raise DeliveryError(
                f"{path} has queue schema version {version}, this StreamGale reads "
                f"version {_SCHEMA_VERSION}; upgrade StreamGale or drain the queue first"
            )
        db.executescript(_SCHEMA)
        db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
    except sqlite3.Error as exc:
        raise DeliveryError(f"cannot open the delivery queue {path}: {exc}") from exc
    return db


def _lock_directory(directory: Path, name: str) -> IO[bytes]:
    """Hold an exclusive lock on the queue directory for this process's lifetime."""
    handle = (directory / "lock").open("ab")
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process guard
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise DeliveryError(
            f"the delivery queue of {name!r} in {directory} is open in another process "
            "(or another DeliveryQueue); stop that one first, two senders would interleave"
        ) from exc
    return handle
