"""Durable file operations shared by every store: the log, snapshots, quarantine, results.

One place says what "durable on return" takes on Linux: write, fsync the
file, rename it into place, fsync the directory that holds the new name.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

__all__ = [
    "MIN_FREE_BYTES",
    "atomic_write",
    "fsync_dir",
    "is_out_of_space",
    "wait_for_space",
    "write_all",
]

log = logging.getLogger(__name__)

MIN_FREE_BYTES = 8 * 1024 * 1024
"""Free space a service needs to open its stores (SQLite's shared-memory files,
log segments, a snapshot); under it, a start waits for space."""

_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_out_of_space(exc: BaseException | None) -> bool:
    """Whether ``exc``, or an error it was raised from, says the disk is full.

    A full disk is a condition to wait out, not a bug: stores that see it
    refuse new work and retry, and the process stays up.

    >>> is_out_of_space(OSError(errno.ENOSPC, "No space left on device"))
    True
    >>> is_out_of_space(RuntimeError("boom"))
    False
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _FULL:
            return True
        if isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def wait_for_space(
    directory: Path,
    *,
    min_free: int = MIN_FREE_BYTES,
    interval: float = 1.0,
    stopping: threading.Event | None = None,
) -> bool:
    """Return once the disk holding ``directory`` has ``min_free`` bytes free.

    A service calls it before opening its stores, so that a start on a full
    disk waits (and says so, once) instead of exiting. False if ``stopping``
    was set first.
    """
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    warned = False
    while (free := shutil.disk_usage(existing).free) < min_free:
        if not warned:
            log.warning(
                "the disk holding %s is full (%d bytes free, %d needed to start); "
                "waiting for space, free some to go on",
                directory,
                free,
                min_free,
            )
            warned = True
        if stopping is None:
            time.sleep(interval)
        elif stopping.wait(interval):
            return False
    if warned:
        log.warning("the disk holding %s has space again; starting", directory)
    return True


def fsync_dir(directory: Path) -> None:
    """Make file creations, renames and deletions in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes, position: int) -> None:
    """Write all of ``data`` at ``position``, retrying short writes."""
    written = os.pwrite(fd, data, position)
    if written == len(data):
        return
    view = memoryview(data)
    while written < len(data):
        written += os.pwrite(fd, view[written:], position + written)


def atomic_write(path: Path, data: bytes, *, sync_dir: bool = True) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file.

    Writes a sibling ``.tmp`` file, fsyncs it and renames it over ``path``.
    With ``sync_dir`` (the default) the directory is fsynced too; a caller
    writing several files into one directory passes False and calls
    :func:`fsync_dir` once at the end.
    """
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data, 0)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if sync_dir:
        fsync_dir(path.parent)
