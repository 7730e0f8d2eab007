"""File-system primitives the durable log needs: full writes, atomic replace, locking.

A rename is only durable once the directory holding it is fsynced, and a
write may be short; these helpers make both facts impossible to forget.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from streamgale.errors import LogError
from streamgale.fsutil import atomic_write, fsync_dir, write_all

__all__ = ["DirectoryLock", "atomic_write", "fsync_dir", "write_all"]


class DirectoryLock:
    """An exclusive advisory lock on a directory, held until :meth:`release`.

    Two processes appending to the same segment files would interleave frames
    and corrupt them, so a log directory has one owner at a time. The kernel
    drops the lock when the owner dies, even by SIGKILL.
    """

    def __init__(self, directory: Path) -> None:
        path = directory / ".lock"
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            msg = (
                f"log directory {directory} is already open in another process "
                f"(lock file {path}); close that log first or use another directory"
            )
            raise LogError(msg) from None

    def release(self) -> None:
        """Release the lock; safe to call twice."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
