"""The folder door: DICOM files dropped into a directory are ingested, then moved aside.

This is the local equivalent of "upload to a bucket, let an event trigger
the pipeline". A file is picked up once it has stopped changing: on the
first scan that finds its size and modification time unchanged since the
previous scan, and at least ``settle`` seconds after it last changed. (A
file moved in with ``rename`` is complete at once, and is picked up on the
next scan that confirms it.) Then:

* stored (or already stored: a resend) -> moved to ``<dir>/.done/``;
* refused (not DICOM, a required UID missing, too large) -> moved to
  ``<dir>/.rejected/``, with ``<name>.reason.txt`` beside it saying why;
* the store failing (disk full...) -> left in place and retried next scan.

Originals are never deleted. Subfolders are scanned too, and keep their
relative path under ``.done/`` and ``.rejected/``; hidden files and folders
(a leading dot, as rsync and many uploaders use for partial files) and
symbolic links are ignored. Each scan that stored something publishes one
:class:`~streamgale.dicom.ingest.events.CompletionSignal` of scope "folder".
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from streamgale.dicom.ingest.store import InstanceStore, StoredInstance
from streamgale.errors import ConfigError, InvalidInstanceError

__all__ = ["FolderWatcher", "ScanResult"]

logger = logging.getLogger("streamgale.dicom.folder")

DONE = ".done"
REJECTED = ".rejected"


@dataclass(frozen=True)
class ScanResult:
    """What one scan did: instances stored, files rejected, files still settling."""

    stored: tuple[StoredInstance, ...] = ()
    rejected: tuple[Path, ...] = ()
    waiting: int = 0
    failed: tuple[Path, ...] = field(default=())
    """Files the store could not take now (left in place, retried next scan)."""


class FolderWatcher:
    """Ingest files dropped into ``directory`` into ``store``, by polling.

    ``poll_interval`` is the seconds between scans when running on a thread
    (:meth:`start`); ``settle`` the seconds a file must have stayed unchanged.
    ``clock`` (monotonic seconds) is injectable for tests; :meth:`scan_once`
    runs one scan on the caller's thread.
    """

    def __init__(
        self,
        directory: Path,
        store: InstanceStore,
        *,
        poll_interval: float = 0.5,
        settle: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if poll_interval <= 0:
            raise ConfigError(
                f"poll_interval must be positive, got {poll_interval}", key="poll_interval"
            )
        if settle < 0:
            raise ConfigError(f"settle must be 0 or more seconds, got {settle}", key="settle")
        self._directory = Path(directory)
        self._store = store
        self._poll_interval = poll_interval
        self._settle = settle
        self._clock = clock
        # path -> ((size, mtime_ns), monotonic time that signature was first seen)
        self._seen: dict[Path, tuple[tuple[int, int], float]] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._directory.mkdir(parents=True, exist_ok=True)

    @property
    def directory(self) -> Path:
        """The watched directory."""
        return self._directory

    def start(self) -> None:
        """Scan every ``poll_interval`` seconds on a background thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"folder-watch-{self._directory.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after the scan in progress."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(timeout)
        self._thread = None

    def scan_once(self) -> ScanResult:
        """Ingest every settled file; return what happened."""
        now = self._clock()
        stored: list[StoredInstance] = []
        rejected: list[Path] = []
        failed: list[Path] = []
        waiting = 0
        present: set[Path] = set()
        for path, signature in self._candidates():
            present.add(path)
            if not self._settled(path, signature, now):
                waiting += 1
                continue
            outcome = self._ingest(path)
            if isinstance(outcome, StoredInstance):
                stored.append(outcome)
            elif outcome == "rejected":
                rejected.append(path)
            else:
                failed.append(path)
        self._seen = {p: v for p, v in self._seen.items() if p in present}
        if stored:
            uids = [s.sop_instance_uid for s in stored]
            self._store.signal_complete("folder", None, uids)
        return ScanResult(tuple(stored), tuple(rejected), waiting, tuple(failed))

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.scan_once()
            except Exception:  # a scan must never kill the watcher; the next one retries
                logger.exception("scanning %s failed", self._directory)
            self._stopping.wait(self._poll_interval)

    def _candidates(self) -> Iterator[tuple[Path, tuple[int, int]]]:
        """Regular, visible files under the directory, with (size, mtime_ns)."""
        for root, dirs, files in os.walk(self._directory):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith("."):
                    continue
                path = Path(root) / name
                try:
                    info = path.lstat()
                except FileNotFoundError:
                    continue
                if path.is_symlink() or not path.is_file():
                    continue
                yield path, (info.st_size, info.st_mtime_ns)

    def _settled(self, path: Path, signature: tuple[int, int], now: float) -> bool:
        previous = self._seen.get(path)
        if previous is None or previous[0] != signature:
            self._seen[path] = (signature, now)
            return False
        return now - previous[1] >= self._settle

    def _ingest(self, path: Path) -> StoredInstance | str:
        try:
            if path.stat().st_size > self._store.max_instance_bytes:
                msg = (
                    f"the file is {path.stat().st_size} bytes, over the limit of "
                    f"{self._store.max_instance_bytes}"
                )
                raise InvalidInstanceError(msg)
            stored = self._store.put(path.read_bytes(), source="folder")
        except InvalidInstanceError as exc:
            self._move(path, REJECTED, reason=exc.reason)
            logger.info("rejected %s: %s", path, exc.reason)
            return "rejected"
        except Exception:  # the store or the disk failed: keep the file, retry later
            logger.exception("could not ingest %s; it stays and is retried", path)
            return "failed"
        self._move(path, DONE, reason=None)
        return stored

    def _move(self, path: Path, folder: str, *, reason: str | None) -> None:
        relative = path.relative_to(self._directory)
        target = _free_name(self._directory / folder / relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        if reason is not None:
            note = target.with_name(target.name + ".reason.txt")
            note.write_text(f"{relative}: {reason}\n", encoding="utf-8")
        self._seen.pop(path, None)


def _free_name(target: Path) -> Path:
    """``target``, or ``target`` with a counter when a file of that name was moved before."""
    if not target.exists():
        return target
    for n in range(1, 1_000_000):
        candidate = target.with_name(f"{target.stem}.{n}{target.suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(f"no free name for {target}")
