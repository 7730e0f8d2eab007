"""A small tmpfs for tests of what happens when the disk fills up.

The tests run as root (``make test`` runs them so): :func:`small_tmpfs` mounts
a tmpfs of a few MiB, :func:`fill` writes a file until the disk is full. A
test that cannot mount fails, saying why; it does not skip.
"""

from __future__ import annotations

import errno
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_tmpfs(directory: Path, size: str = "32m") -> Iterator[Path]:
    """``directory``, with a tmpfs of ``size`` mounted on it until the block exits."""
    directory.mkdir(parents=True, exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)]
    done = subprocess.run(mount, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(
            f"cannot mount a tmpfs at {directory} ({done.stderr.strip() or done.returncode}): "
            "the full-disk tests need root and the mount syscall (run them as root, or in a "
            "container started with --privileged or --cap-add SYS_ADMIN)"
        )
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def fill(directory: Path, *, leave: int = 0) -> Path:
    """Write a file in ``directory`` until its disk is full, or has only ``leave``
    bytes free; the file's path."""
    path = directory / "filler.bin"
    block = b"\0" * 65536
    with path.open("ab") as out:
        try:
            while (room := shutil.disk_usage(directory).free - leave) > 0:
                out.write(block[: min(len(block), room)])
                out.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return path
