"""Content-addressed object files: each stored instance is named by the SHA-256 of its bytes.

Layout under the object directory::

    objects/ab/cd/abcd…ef.dcm    the Part-10 file whose SHA-256 hex digest is abcd…ef
    tmp/                         files being written; emptied on open

A name never comes from a DICOM value, so a crafted UID or patient name
cannot escape the directory or collide with another file, and a file is
either complete under its final name or absent: it is written to ``tmp/``,
fsynced, renamed into place, and the directory holding it is fsynced.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     objects = ObjectFiles(Path(tmp))
...     digest, path = objects.write([b"DICM", b" bytes"])
...     path.relative_to(tmp).parts[:3], path.read_bytes()
(('objects', '80', '7c'), b'DICM bytes')
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

__all__ = ["ObjectFiles"]


class ObjectFiles:
    """Durable, content-addressed files under ``directory``; safe from many threads."""

    def __init__(self, directory: Path) -> None:
        self._root = Path(directory)
        self._objects = self._root / "objects"
        self._tmp = self._root / "tmp"
        self._known_dirs: set[Path] = set()
        self._lock = threading.Lock()
        for path in (self._root, self._objects, self._tmp):
            self._ensure_dir(path)
        # Leftovers of writes a crash interrupted: never renamed, so never acknowledged.
        for leftover in self._tmp.iterdir():
            leftover.unlink(missing_ok=True)

    def path_for(self, sha256: str) -> Path:
        """Where the object with this hex digest lives (whether or not it exists)."""
        return self._objects / sha256[0:2] / sha256[2:4] / f"{sha256}.dcm"

    def write(self, chunks: Sequence[bytes | memoryview]) -> tuple[str, Path]:
        """Store the concatenation of ``chunks``; return its SHA-256 hex digest and path.

        Durable on return: the file is fsynced and so is its directory entry.
        Writing content that is already stored rewrites nothing, but still
        fsyncs it, since a crash may have cut the first writer short of its
        directory fsync.
        """
        digest = hashlib.sha256()
        for chunk in chunks:
            digest.update(chunk)
        sha = digest.hexdigest()
        path = self.path_for(sha)
        parent = path.parent
        self._ensure_dir(parent)
        if path.exists():
            _fsync_file(path)
        else:
            tmp = self._tmp / f"{uuid.uuid4().hex}.tmp"
            _write_file(tmp, chunks)
            os.replace(tmp, path)
        _fsync_dir(parent)
        return sha, path

    def _ensure_dir(self, directory: Path) -> None:
        """Create ``directory`` (and its parents) durably, once per process."""
        if directory in self._known_dirs:
            return
        with self._lock:
            missing = []
            walk = directory
            while not walk.is_dir():
                missing.append(walk)
                walk = walk.parent
            for path in reversed(missing):
                path.mkdir(exist_ok=True)
                _fsync_dir(path.parent)
            self._known_dirs.add(directory)


def _write_file(path: Path, chunks: Sequence[bytes | memoryview]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        pending = [memoryview(c) for c in chunks if len(c)]
        while pending:
            written = os.writev(fd, pending)
            pending = _advance(pending, written)
        os.fsync(fd)
    finally:
        os.close(fd)


def _advance(pending: list[memoryview], written: int) -> list[memoryview]:
    """Drop ``written`` bytes from the front of ``pending`` (writev may be short)."""
    while pending and written >= len(pending[0]):
        written -= len(pending[0])
        pending.pop(0)
    if pending and written:
        pending[0] = pending[0][written:]
    return pending


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
