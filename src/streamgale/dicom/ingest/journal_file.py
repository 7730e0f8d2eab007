"""The ingest journal's file: its header slots, its record format, and how records are written.

Layout (all integers little endian)::

    offset 0     header slot A (4 KiB)   "SGJH", version, sequence, checkpoint lsn, capacity, CRC
    offset 4096  header slot B (4 KiB)   the same; the valid slot with the higher sequence wins
    offset 8192  the ring of records, each starting on a 4 KiB boundary:
                 "SGJR", lsn, metadata length, data length, CRC, metadata, data, zero padding

A record's CRC covers its metadata and its header fields; its data is
checked by the journal's owner (the data's SHA-256 is in the metadata).

Records are written with ``O_DIRECT | O_DSYNC`` where the file system allows
it: the bytes go from a reused, page-aligned buffer (:class:`AlignedBuffers`)
straight to the disk, durable when the write returns. That skips the page
cache, whose fresh pages cost more than the copy on a virtual machine, and
the separate flush. Where ``O_DIRECT`` is refused, records are written
through the page cache and flushed with ``fdatasync``.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import struct
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from streamgale.errors import DicomError
from streamgale.fsutil import fsync_dir

__all__ = [
    "START",
    "AlignedBuffers",
    "RecordHeader",
    "open_locked",
    "probe_direct",
    "pwrite_all",
    "read_or_create_header",
    "read_record",
    "record_size",
    "round_up",
    "write_direct",
    "write_header_slot",
]

PAGE = 4096
START = 2 * PAGE
"""Where the ring of records begins, after the two header slots."""

_SLOT_FORMAT = struct.Struct("<4sIQQQ")  # magic, version, sequence, checkpoint lsn, capacity
_SLOT_MAGIC = b"SGJH"
_RECORD = struct.Struct("<4sQIQI")  # magic, lsn, meta length, data length, crc
_RECORD_MAGIC = b"SGJR"
_VERSION = 1
# open() or a write refused O_DIRECT: this file system cannot bypass the page cache.
_NO_DIRECT = frozenset({errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP})


@dataclass(frozen=True)
class RecordHeader:
    """The fixed header of a record."""

    SIZE = _RECORD.size

    lsn: int
    meta_length: int
    data_length: int

    def encode(self, meta: bytes) -> bytes:
        """The header bytes for a record with this metadata."""
        return _RECORD.pack(
            _RECORD_MAGIC, self.lsn, self.meta_length, self.data_length, self._crc(meta)
        )

    @classmethod
    def decode(cls, raw: bytes, lsn: int) -> RecordHeader | None:
        """The header in ``raw`` if it is one for ``lsn``; its CRC is checked by :meth:`valid`."""
        if len(raw) < _RECORD.size:
            return None
        magic, found, meta_length, data_length, _ = _RECORD.unpack_from(raw)
        if magic != _RECORD_MAGIC or found != lsn:
            return None
        return cls(lsn, meta_length, data_length)

    def valid(self, raw: bytes, meta: bytes) -> bool:
        """Whether ``raw`` (this header's bytes) carries the right CRC for ``meta``."""
        return len(meta) == self.meta_length and _RECORD.unpack_from(raw)[4] == self._crc(meta)

    def _crc(self, meta: bytes) -> int:
        fields = _RECORD.pack(_RECORD_MAGIC, self.lsn, self.meta_length, self.data_length, 0)
        return zlib.crc32(fields, zlib.crc32(meta))


class AlignedBuffers:
    """A pool of page-aligned buffers for ``O_DIRECT`` writes, reused to spare page faults.

    Free buffers are kept up to ``keep_bytes`` in all; more go back to the system.
    """

    def __init__(self, keep_bytes: int = 32 * 1024 * 1024) -> None:
        self._free: list[mmap.mmap] = []
        self._keep_bytes = keep_bytes
        self._lock = threading.Lock()

    def take(self, size: int) -> mmap.mmap:
        """A buffer of at least ``size`` bytes (contents undefined)."""
        with self._lock:
            fitting = [b for b in self._free if len(b) >= size]
            if fitting:
                buffer = min(fitting, key=len)
                self._free.remove(buffer)
                return buffer
        return mmap.mmap(-1, max(round_up(size), 64 * 1024))

    def give(self, buffer: mmap.mmap) -> None:
        """Return a buffer taken from :meth:`take`; nothing may use it afterwards."""
        with self._lock:
            if sum(map(len, self._free)) + len(buffer) <= self._keep_bytes:
                self._free.append(buffer)


def record_size(payload: int) -> int:
    """Bytes a record with ``payload`` bytes of metadata and data occupies in the ring."""
    return round_up(_RECORD.size + payload)


def round_up(size: int) -> int:
    """``size`` rounded up to a whole number of 4 KiB pages."""
    return -(-size // PAGE) * PAGE


def open_locked(path: Path) -> int:
    """Open (creating it durably) and exclusively lock the journal file."""
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        msg = (
            f"the ingest journal {path} is open in another InstanceStore or process; "
            "close that store first or use another directory"
        )
        raise DicomError(msg) from None
    if created:
        fsync_dir(path.parent)
    return fd


def probe_direct(path: Path, fd: int, sequence: int) -> int | None:
    """A descriptor writing around the page cache and durably, or None where refused.

    Some file systems accept ``O_DIRECT`` at open and refuse the writes, so
    the new descriptor is tried once on the current header slot (``fd``
    reads it): it rewrites bytes already there and changes nothing either way.
    """
    flags = getattr(os, "O_DIRECT", 0)
    if not flags:
        return None
    try:
        direct = os.open(path, os.O_RDWR | flags | os.O_DSYNC)
    except OSError as exc:
        if exc.errno in _NO_DIRECT:
            return None
        raise
    slot = (sequence % 2) * PAGE
    probe = mmap.mmap(-1, PAGE)
    probe[:] = os.pread(fd, PAGE, slot).ljust(PAGE, b"\0")
    try:
        with memoryview(probe) as view:
            os.pwrite(direct, view, slot)
    except OSError as exc:
        os.close(direct)
        if exc.errno in _NO_DIRECT:
            return None
        raise
    return direct


def write_direct(fd: int, buffer: mmap.mmap, header: bytes, size: int, position: int) -> None:
    """Write the record prepared in ``buffer``, its ``header`` filled in now, through ``fd``."""
    buffer[: len(header)] = header
    with memoryview(buffer) as view:
        written = os.pwrite(fd, view[:size], position)
    if written != size:
        raise OSError(errno.EIO, f"short write of {written} of {size} bytes")


def read_record(fd: int, position: int, lsn: int, room: int) -> tuple[bytes, bytes] | None:
    """(metadata, data) of the record for ``lsn`` at ``position``, or None if it is not there.

    ``room`` is how many bytes of the ring are left from ``position``: a
    record claiming more is not one. The data is not checked here.
    """
    if room < RecordHeader.SIZE:
        return None
    raw = os.pread(fd, RecordHeader.SIZE, position)
    header = RecordHeader.decode(raw, lsn)
    if header is None or record_size(header.meta_length + header.data_length) > room:
        return None
    meta = os.pread(fd, header.meta_length, position + RecordHeader.SIZE)
    if not header.valid(raw, meta):
        return None
    data = os.pread(fd, header.data_length, position + RecordHeader.SIZE + header.meta_length)
    if len(data) < header.data_length:
        return None
    return meta, data


def read_or_create_header(fd: int, path: Path, capacity: int) -> tuple[int, int, int]:
    """(sequence, checkpoint lsn, capacity) of the newest valid header slot.

    A new (empty) file gets its first slot, flushed, before any record can be written.
    """
    best: tuple[int, int, int] | None = None
    for slot in range(2):
        parsed = _parse_slot(os.pread(fd, PAGE, slot * PAGE))
        if parsed is not None and (best is None or parsed[0] > best[0]):
            best = parsed
    if best is not None:
        return best
    if os.fstat(fd).st_size > START:
        # Records are only written after a header is durable, and header writes
        # alternate slots, so records without any readable slot mean damage.
        msg = (
            f"the ingest journal {path} has records but no readable header; it is damaged. "
            "Move it aside to start afresh (instances it held may need resending)"
        )
        raise DicomError(msg)
    write_header_slot(fd, 1, 0, capacity)
    os.fsync(fd)
    return 1, 0, capacity


def write_header_slot(fd: int, sequence: int, checkpoint: int, capacity: int) -> None:
    """Write (not flush) the header slot for ``sequence``: slots alternate by parity."""
    body = _SLOT_FORMAT.pack(_SLOT_MAGIC, _VERSION, sequence, checkpoint, capacity)
    pwrite_all(fd, [body + struct.pack("<I", zlib.crc32(body))], (sequence % 2) * PAGE)


def pwrite_all(fd: int, parts: Sequence[bytes | memoryview], position: int) -> None:
    """Write ``parts`` one after the other at ``position``, retrying short writes."""
    pending = [memoryview(p) for p in parts if len(p)]
    while pending:
        written = os.pwritev(fd, pending, position)
        position += written
        while pending and written >= len(pending[0]):
            written -= len(pending[0])
            pending.pop(0)
        if pending and written:
            pending[0] = pending[0][written:]


def _parse_slot(raw: bytes) -> tuple[int, int, int] | None:
    size = _SLOT_FORMAT.size
    if len(raw) < size + 4:
        return None
    magic, version, sequence, checkpoint, capacity = _SLOT_FORMAT.unpack_from(raw)
    (crc,) = struct.unpack_from("<I", raw, size)
    if magic != _SLOT_MAGIC or version != _VERSION or crc != zlib.crc32(raw[:size]):
        return None
    return sequence, checkpoint, capacity
