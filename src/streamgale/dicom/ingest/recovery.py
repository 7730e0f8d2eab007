"""What the instance store does about crashes it did not see: its lock, its clean mark, its tail.

* :func:`lock_directory`: one open store per directory (two would publish
  instances twice); the kernel drops the lock of a killed process.
* :func:`take_clean_mark` / :func:`leave_clean_mark`: a store that closed
  cleanly leaves ``clean`` with the log's end offset; the next open takes it
  away at once, so a crash from then on is seen as one.
* :func:`forget_torn_tail`: the store flushes a file and appends its event
  in the same flush round, so a power loss can keep an event whose file never
  reached the disk. That instance was never acknowledged. After an unclean
  stop the files of the last :data:`TAIL_CHECKED` events are verified, and an
  instance whose file is missing or torn is forgotten (row and file): the
  sender resends it, and it is stored and announced anew.
* :func:`refuse_journal`: a store directory an earlier version left with an
  ingest journal (since removed) may hold acknowledged instances only that
  version can replay.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable
from pathlib import Path

from streamgale.dicom.ingest.events import InstanceEvent, decode_event
from streamgale.dicom.ingest.index import InstanceIndex
from streamgale.dicom.ingest.objects import ObjectFiles
from streamgale.errors import DicomError, LogError
from streamgale.fsutil import atomic_write, fsync_dir
from streamgale.log.base import Log

__all__ = [
    "TAIL_CHECKED",
    "forget_torn_tail",
    "leave_clean_mark",
    "lock_directory",
    "refuse_journal",
    "take_clean_mark",
]

logger = logging.getLogger("streamgale.dicom.ingest")

TAIL_CHECKED = 256
"""Events at the log's end whose files are verified after an unclean stop: more
than the puts that can be in flight at once (associations, STOW-RS requests)."""
_CLEAN = "clean"
_PARTITION = 0


def lock_directory(directory: Path) -> int:
    """Lock ``directory`` for one store; return the descriptor holding the lock."""
    fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        msg = (
            f"the instance store {directory} is open in another InstanceStore or process; "
            "close that store first or use another directory"
        )
        raise DicomError(msg) from None
    return fd


def take_clean_mark(directory: Path, log_end: int) -> bool:
    """Whether the last store here closed cleanly with the log ending at ``log_end``.

    The mark is removed durably either way.
    """
    mark = directory / _CLEAN
    try:
        text = mark.read_text()
    except FileNotFoundError:
        return False
    mark.unlink()
    fsync_dir(directory)
    return text.strip() == str(log_end)


def leave_clean_mark(directory: Path, log_end: Callable[[], int]) -> None:
    """Record a clean close: every file the log names is durable. Best effort."""
    try:
        end = log_end()
    except (LogError, OSError, ValueError):
        return  # the log is closed already: leave no mark, the next open verifies
    try:
        atomic_write(directory / _CLEAN, f"{end}\n".encode())
    except OSError as exc:  # a full disk, say: the next open checks the files instead
        logger.warning("could not mark the instance store closed cleanly: %s", exc)


def forget_torn_tail(log: Log, topic: str, index: InstanceIndex, objects: ObjectFiles) -> int:
    """Forget instances whose event the log kept but whose file a power loss took.

    Returns how many were forgotten.
    """
    end = log.end_offset(topic, _PARTITION)
    start = max(log.start_offset(topic, _PARTITION), end - TAIL_CHECKED)
    forgotten = 0
    for record in log.read(topic, _PARTITION, start, TAIL_CHECKED):
        try:
            event = decode_event(record.payload)
        except DicomError:
            continue
        if not isinstance(event, InstanceEvent):
            continue
        row = index.get(event.sop_instance_uid)
        if row is None or row.event.sha256 != event.sha256:
            continue  # forgotten already, or a later version replaced it
        if not objects.verify(Path(event.path), event.sha256):
            logger.warning(
                "stored file %s of %s is missing or torn after a crash; the instance was "
                "never acknowledged and is forgotten until its sender resends it",
                event.path,
                event.sop_instance_uid,
            )
            index.delete(event.sop_instance_uid)
            Path(event.path).unlink(missing_ok=True)
            forgotten += 1
    return forgotten


def refuse_journal(directory: Path) -> None:
    """Refuse a directory with an ingest journal of an earlier version."""
    journal = directory / "journal"
    if journal.exists():
        msg = (
            f"{journal} is an ingest journal of an earlier StreamGale, which may hold "
            "acknowledged instances; open the store once with that version (it replays "
            "the journal on opening and checkpoints it on closing), then delete the file"
        )
        raise DicomError(msg)
