"""Pieces shared by the file connectors: bad records, path expansion, durable files.

A malformed line or row is data, not a crash: the file sources put a
:class:`~streamgale.connectors.base.BadRecord` into the batch in its place,
and the runtime routes every ``BadRecord`` it sees to the dead-letter store
with its reason. Nothing is dropped silently. ``BadRecord`` is re-exported
here for convenience.
"""

from __future__ import annotations

import contextlib
import glob
import os
from abc import abstractmethod
from pathlib import Path
from typing import Any, BinaryIO

from streamgale.connectors.base import BadRecord, BuildContext, Source, SourcePartition
from streamgale.errors import ConfigError
from streamgale.fsutil import fsync_dir

__all__ = ["BadRecord", "FileSource", "TransactionalFile", "expand_paths"]


def expand_paths(path: str | os.PathLike[str]) -> list[Path]:
    """The files ``path`` names: the file itself, or the sorted matches of a glob.

    Raises :class:`~streamgale.errors.ConfigError` when nothing matches, since
    a source with no input is almost always a typo.
    """
    text = os.fspath(path)
    if glob.has_magic(text):
        matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not matches:
            raise ConfigError(
                f"the pattern '{text}' matches no file; check the path, or use a "
                "DirectorySource to wait for files that do not exist yet",
                key="path",
            )
        return matches
    file = Path(text)
    if not file.is_file():
        raise ConfigError(
            f"'{text}' is not an existing file; check the path", source=text, key="path"
        )
    return [file]


class FileSource(Source[Any]):
    """A source with one partition per file; the partition name is the file path."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)

    def list_parts(self) -> list[str]:
        """One partition per matching file, in name order."""
        return [str(p) for p in expand_paths(self.path)]

    def build_part(
        self, ctx: BuildContext, part: str, resume_state: Any | None
    ) -> SourcePartition[Any]:
        """Open file ``part``, resuming at the position in ``resume_state``."""
        return self.open_file(Path(part), resume_state)

    @abstractmethod
    def open_file(self, path: Path, resume_state: Any | None) -> SourcePartition[Any]:
        """A partition reading one file; also used by the directory watcher."""


class TransactionalFile:
    """An append-only file whose durable length is its checkpoint.

    Opening it with a length truncates everything past that length: bytes
    written after the last checkpoint belong to batches the runtime will
    replay, so keeping them would duplicate output. ``length=None`` starts the
    file empty.
    """

    def __init__(self, path: Path, length: int | None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        self._file: BinaryIO = open(path, "a+b")  # noqa: SIM115 - held until close()
        size = os.fstat(self._file.fileno()).st_size
        keep = 0 if length is None else length
        if keep > size:
            self._file.close()
            raise ConfigError(
                f"{path} is {size} bytes but the checkpoint says {keep} bytes were "
                "written durably; the file was truncated or replaced outside StreamGale. "
                "Restore it, or start the pipeline without its saved state",
                source=path,
            )
        self._file.truncate(keep)
        os.fsync(self._file.fileno())
        if created:
            fsync_dir(path.parent)
        self._durable = keep
        self._written = keep

    @property
    def durable_length(self) -> int:
        """Bytes made durable by the last :meth:`sync`."""
        return self._durable

    @property
    def written_length(self) -> int:
        """Bytes written so far, durable or not."""
        return self._written

    def append(self, data: bytes) -> None:
        """Append ``data`` whole, or leave the file as it was if writing fails."""
        try:
            self._file.write(data)
        except OSError:
            # A partial write (disk full) would glue half a record to the next
            # retry; cut it off. If even that fails, the next open truncates to
            # the checkpoint anyway.
            with contextlib.suppress(OSError):
                self._file.truncate(self._written)
            raise
        self._written += len(data)

    def sync(self) -> None:
        """Flush and fsync; everything appended so far is durable on return."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._durable = self._written

    def close(self) -> None:
        """Close without syncing (the runtime flushes at checkpoints)."""
        self._file.close()
