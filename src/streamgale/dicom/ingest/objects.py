"""Content-addressed object files: each stored instance is named by the SHA-256 of its bytes.

Layout under the object directory::

    objects/ab/cd/abcd…ef.dcm    the Part-10 file whose SHA-256 hex digest is abcd…ef
    tmp/                         replacements of torn files being written; emptied on open

A name never comes from a DICOM value, so a crafted UID or patient name
cannot escape the directory or collide with another file.

:meth:`ObjectFiles.write` is durable on return, with two
flush rounds overlapped into one: the
file is created under its final name, written, and then the file and its
directory (and any directory just created for it) are fsynced in parallel,
so the disk sees one batch of flushes rather than three in a row. A crash
in the middle can leave a torn file under a final name; a later write of the
same content checks the digest of what is there and replaces it if it does
not match. Only a caller that flushes alongside (``write(alongside=...)``)
lets something name the file before it is durable, and checks it after a
crash (:class:`~streamgale.dicom.ingest.InstanceStore` does).

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     objects = ObjectFiles(Path(tmp))
...     digest, path = objects.write([b"DICM", b" bytes"])
...     objects.close()
...     path.relative_to(tmp).parts[:3], path.read_bytes()
(('objects', '80', '7c'), b'DICM bytes')
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from streamgale.fsutil import fsync_dir

__all__ = ["Content", "ObjectFiles"]

Content = Sequence[bytes | memoryview]
"""An object's bytes, in pieces."""

logger = logging.getLogger("streamgale.dicom.ingest")


class ObjectFiles:
    """Durable, content-addressed files under ``directory``; safe from many threads.

    With ``fsync=False`` nothing is forced to disk: a file survives a crash of
    the process (the kernel holds it) but not necessarily a power loss.
    """

    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        self._fsync = fsync
        self._root = Path(directory)
        self._objects = self._root / "objects"
        self._tmp = self._root / "tmp"
        self._flushers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sg-objects-fsync")
        self._root.mkdir(parents=True, exist_ok=True)
        self._objects.mkdir(exist_ok=True)
        self._tmp.mkdir(exist_ok=True)
        _fsync_all([self._root.parent, self._root])
        # Directories whose entry in their parent is known to be on disk.
        self._durable_dirs: set[Path] = {self._root, self._objects, self._tmp}
        # Directories known to exist, durable or not: no mkdir call needed.
        self._created_dirs: set[Path] = set()
        # Leftovers of replacements a crash interrupted: never renamed, never referenced.
        for leftover in self._tmp.iterdir():
            leftover.unlink(missing_ok=True)

    def path_for(self, sha256: str) -> Path:
        """Where the object with this hex digest lives (whether or not it exists)."""
        return self._objects / sha256[0:2] / sha256[2:4] / f"{sha256}.dcm"

    def write(
        self,
        chunks: Sequence[bytes | memoryview],
        sha256: str | None = None,
        *,
        alongside: Callable[[], object] | None = None,
    ) -> tuple[str, Path]:
        """Store the concatenation of ``chunks``; return its SHA-256 hex digest and path.

        ``sha256``, when the caller already has it, spares hashing the bytes
        again. Durable on return: the file's bytes and its directory entry are
        on disk.

        ``alongside``, when given, runs on this thread once the bytes are
        written (readable by anyone), while the file and its directories are
        flushed on the pool: the caller's own flush (a synced log append of
        the event naming this file) overlaps with them, one flush round
        instead of two. If it raises, the file is kept and the error raised
        once the flushes are done.
        """
        sha = sha256 or _digest(chunks)
        path = self.path_for(sha)
        dirty = [path.parent, *self._unsynced_parents(path.parent)]
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            self._keep_or_replace(path, sha, chunks)
            if self._fsync:
                _fsync_all(dirty)
            self._mark_durable(path.parent)
            if alongside is not None:
                alongside()
            return sha, path
        try:
            try:
                _write_all(fd, chunks)
            except BaseException:
                path.unlink(missing_ok=True)  # nothing refers to it yet
                raise
            pending = (
                [self._flushers.submit(os.fsync, fd)]
                + [self._flushers.submit(fsync_dir, d) for d in dirty]
                if self._fsync
                else []
            )
            try:
                if alongside is not None:
                    alongside()
            finally:
                for future in pending:
                    future.result()
            self._mark_durable(path.parent)
        finally:
            os.close(fd)
        return sha, path

    def verify(self, path: Path, sha256: str) -> bool:
        """Whether ``path`` exists and holds exactly the bytes with this digest."""
        try:
            with path.open("rb") as handle:
                return hashlib.file_digest(handle, "sha256").hexdigest() == sha256
        except FileNotFoundError:
            return False

    def close(self) -> None:
        """Stop the flushing threads."""
        self._flushers.shutdown(wait=True)

    def _keep_or_replace(
        self, path: Path, sha: str, content: Content, *, flush: bool = True
    ) -> None:
        """The name exists: keep it if intact (fsynced again), else replace it atomically."""
        flush = flush and self._fsync
        if self.verify(path, sha):
            if flush:
                _fsync_file(path)  # a crash may have cut its first writer short of the fsync
            return
        tmp = self._tmp / f"{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            _write_all(fd, content)
            if flush:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def _mark_durable(self, directory: Path) -> None:
        while directory not in self._durable_dirs and directory != directory.parent:
            self._durable_dirs.add(directory)
            directory = directory.parent

    def _unsynced_parents(self, directory: Path) -> list[Path]:
        """Create ``directory`` if needed; return the parents to fsync to make it durable.

        A directory another thread created may not be durable yet either, so
        any directory not known durable has its parent fsynced (cheap when
        there is nothing new to flush).
        """
        if directory in self._durable_dirs:
            return []
        if directory not in self._created_dirs:
            directory.mkdir(parents=True, exist_ok=True)
            self._created_dirs.add(directory)
        parents = []
        walk = directory
        while walk not in self._durable_dirs and walk != walk.parent:
            parents.append(walk.parent)
            walk = walk.parent
        return parents


def _digest(chunks: Sequence[bytes | memoryview]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _write_all(fd: int, chunks: Sequence[bytes | memoryview]) -> None:
    pending = [memoryview(c) for c in chunks if len(c)]
    while pending:
        written = os.writev(fd, pending)
        pending = _advance(pending, written)


def _advance(pending: list[memoryview], written: int) -> list[memoryview]:
    """Drop ``written`` bytes from the front of ``pending`` (writev may be short)."""
    while pending and written >= len(pending[0]):
        written -= len(pending[0])
        pending.pop(0)
    if pending and written:
        pending[0] = pending[0][written:]
    return pending


def _fsync_all(directories: list[Path]) -> None:
    for directory in directories:
        fsync_dir(directory)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
