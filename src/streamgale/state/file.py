"""File state store: the embedded durable default.

Each save writes ``snapshot-<epoch>.pkl`` through a temporary file, fsyncs
it, renames it into place and fsyncs the directory, so a crash leaves either
the new snapshot or the previous one, never half of one. A header holds a
CRC32 of the body: a damaged newest file is reported and the previous epoch,
which is kept, is used instead.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import zlib
from pathlib import Path

from streamgale.errors import StateError
from streamgale.state.base import Snapshot, StateStore

__all__ = ["FileStateStore"]

log = logging.getLogger(__name__)

_MAGIC = b"SGSNAP1\n"
_HEADER = struct.Struct("<IQ")  # crc32, body length
_KEEP = 2
"""Snapshots kept: the newest, and one to fall back on if it is damaged."""


class FileStateStore(StateStore):
    """Snapshots as files in ``directory``; see the module docstring."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def save(self, snapshot: Snapshot) -> None:
        body = pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL)
        data = _MAGIC + _HEADER.pack(zlib.crc32(body), len(body)) + body
        final = self.directory / f"snapshot-{snapshot.epoch:012d}.pkl"
        tmp = final.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
            _fsync_dir(self.directory)
        except OSError as exc:
            raise StateError(
                f"cannot save snapshot {snapshot.epoch} in {self.directory}: {exc}; "
                "check free disk space and permissions"
            ) from exc
        for old in self._files()[:-_KEEP]:
            old.unlink(missing_ok=True)

    def load(self) -> Snapshot | None:
        files = self._files()
        for path in reversed(files):
            snapshot = _read(path)
            if snapshot is not None:
                return snapshot
        if files:
            raise StateError(
                f"every snapshot in {self.directory} is damaged ({', '.join(f.name for f in files)}); "
                "move the directory aside to start from scratch, which reprocesses the input"
            )
        return None

    def _files(self) -> list[Path]:
        return sorted(self.directory.glob("snapshot-*.pkl"))


def _read(path: Path) -> Snapshot | None:
    data = path.read_bytes()
    head = len(_MAGIC) + _HEADER.size
    if len(data) < head or not data.startswith(_MAGIC):
        log.warning("snapshot %s is damaged (bad header); trying the previous one", path)
        return None
    crc, length = _HEADER.unpack_from(data, len(_MAGIC))
    body = data[head : head + length]
    if len(body) != length or zlib.crc32(body) != crc:
        log.warning("snapshot %s is damaged (checksum mismatch); trying the previous one", path)
        return None
    snapshot = pickle.loads(body)
    if not isinstance(snapshot, Snapshot):
        raise StateError(f"{path} does not hold a StreamGale snapshot")
    return snapshot


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
