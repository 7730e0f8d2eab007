"""The file state store: the embedded, durable default.

Each save writes ``snapshot-<sequence>.pkl.tmp``, fsyncs it, renames it to
``snapshot-<sequence>.pkl`` and fsyncs the directory, so a crash leaves the
new snapshot or the previous one, never half of one. Files are numbered by a
save sequence rather than by epoch, so "latest saved" stays unambiguous
even if a pipeline is restarted with epochs counted afresh.

Every file starts with a header holding the epoch, the body length and a
CRC-32. The newest ``keep`` snapshots are kept (2 by default): if the newest
is damaged, :meth:`FileStateStore.load` warns and falls back to the one
before; if none is intact it raises :class:`~streamgale.errors.StateError`.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     store = FileStateStore(Path(tmp))
...     store.save(Snapshot(epoch=7, sources={"src/0": 42}))
...     FileStateStore(Path(tmp)).load().sources
{'src/0': 42}
"""

from __future__ import annotations

import logging
import struct
import threading
import zlib
from pathlib import Path

from streamgale.errors import ConfigError, StateError
from streamgale.fsutil import atomic_write
from streamgale.state.base import Snapshot, StateStore
from streamgale.state.serialize import dump_snapshot, load_snapshot

__all__ = ["FileStateStore"]

logger = logging.getLogger("streamgale.state")

_MAGIC = b"SGSNAP1\n"
_HEADER = struct.Struct("<8sQQI")  # magic, epoch, body length, crc32 of the rest
_PREFIX = "snapshot-"
_SUFFIX = ".pkl"
_TMP = ".tmp"


class _DamagedError(Exception):
    """A snapshot file failed its header or checksum (internal)."""


class FileStateStore(StateStore):
    """Snapshots as files in ``directory``, the newest ``keep`` of them kept."""

    def __init__(self, directory: Path, *, keep: int = 2, read_only: bool = False) -> None:
        """``read_only`` opens snapshots a running pipeline is writing, to inspect them:
        it changes nothing on disk, and :meth:`save` is refused."""
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            msg = f"must keep at least one snapshot, got {keep!r}"
            raise ConfigError(msg, key="keep")
        self._directory = Path(directory)
        self._keep = keep
        self._read_only = read_only
        self._lock = threading.Lock()
        try:
            if not read_only:
                self._directory.mkdir(parents=True, exist_ok=True)
                self._discard_unfinished()
        except OSError as exc:
            msg = (
                f"cannot use {self._directory} for snapshots: {exc}; check the path and permissions"
            )
            raise StateError(msg) from exc
        files = self._files()
        self._next = files[-1][0] + 1 if files else 1

    @property
    def directory(self) -> Path:
        """Where the snapshots live."""
        return self._directory

    def save(self, snapshot: Snapshot) -> None:
        """Write ``snapshot`` durably and atomically; then drop snapshots beyond ``keep``."""
        if self._read_only:
            raise StateError(f"{self._directory} was opened read-only; open it to save")
        body = dump_snapshot(snapshot)
        with self._lock:
            path = self._directory / f"{_PREFIX}{self._next:012d}{_SUFFIX}"
            try:
                atomic_write(path, _frame(snapshot.epoch, body))
            except OSError as exc:
                msg = (
                    f"cannot save the snapshot of epoch {snapshot.epoch} to {path}: {exc}; "
                    "check free disk space and permissions. The previous snapshot is intact"
                )
                raise StateError(msg) from exc
            self._next += 1
            for _, old in self._files()[: -self._keep]:
                old.unlink(missing_ok=True)

    def load(self) -> Snapshot | None:
        """The newest intact snapshot, or None if none was ever saved."""
        with self._lock:
            files = self._files()
        damage = []
        for _, path in reversed(files):
            try:
                body = _read_body(path)
            except FileNotFoundError:
                continue  # removed by the writer since listed (read-only use)
            except _DamagedError as exc:
                logger.warning("snapshot %s is damaged (%s); trying the one before it", path, exc)
                damage.append(f"{path.name}: {exc}")
                continue
            return load_snapshot(body, str(path))
        if not files:
            return None
        msg = (
            f"no intact snapshot in {self._directory} ({'; '.join(damage)}). Restore the "
            "directory from a backup, or move it aside to start from scratch, which "
            "reprocesses the input from the sources' configured start"
        )
        raise StateError(msg)

    def _files(self) -> list[tuple[int, Path]]:
        """Complete snapshot files, oldest first, with their sequence numbers."""
        found = []
        for path in self._directory.glob(f"{_PREFIX}*{_SUFFIX}"):
            number = path.name[len(_PREFIX) : -len(_SUFFIX)]
            if number.isdigit():
                found.append((int(number), path))
        return sorted(found)

    def _discard_unfinished(self) -> None:
        # A .tmp file is a save that crashed before its rename: it never happened.
        for path in self._directory.glob(f"{_PREFIX}*{_SUFFIX}{_TMP}"):
            path.unlink(missing_ok=True)


def _frame(epoch: int, body: bytes) -> bytes:
    header = _HEADER.pack(_MAGIC, epoch, len(body), 0)
    crc = zlib.crc32(body, zlib.crc32(header[:-4]))
    return _HEADER.pack(_MAGIC, epoch, len(body), crc) + body


def _read_body(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _DamagedError(f"unreadable: {exc}") from exc
    if len(data) < _HEADER.size or not data.startswith(_MAGIC):
        raise _DamagedError("not a snapshot file header")
    _, _, length, crc = _HEADER.unpack_from(data)
    body = data[_HEADER.size :]
    if len(body) != length:
        raise _DamagedError(f"body is {len(body)} bytes, header says {length}")
    if zlib.crc32(body, zlib.crc32(data[: _HEADER.size - 4])) != crc:
        raise _DamagedError("checksum mismatch")
    return body
