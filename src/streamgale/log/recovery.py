"""Recovering the active segment of a partition after a crash.

A crash can leave the last segment with a *torn tail*: a frame only partly
written, or bytes that were never a frame. On open, every frame of the last
segment is checked; the file is truncated after the last good frame and a
warning names the file, the offset and the bytes dropped. Appends then
continue at the right offset.

A bad frame *followed by intact frames* is not a torn tail but damage in
the middle; it is not truncated away (that would drop good records). It is
logged as an error and reading it raises CorruptLogError.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from streamgale.log.frame import HEADER, HEADER_SIZE, check_frames
from streamgale.log.segment_file import INDEX_INTERVAL, READ_CHUNK, Segment, segment_path

__all__ = ["recover_segment"]

logger = logging.getLogger("streamgale.log")


def recover_segment(directory: Path, base_offset: int) -> Segment:
    """Open the last segment of a partition, truncating a torn tail."""
    path = segment_path(directory, base_offset)
    fd = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        position, offset, newest = 0, base_offset, None
        index = [(base_offset, 0)]
        reason = ""
        while position < size:
            data = _frames_at(fd, position, size)
            if data is None:
                reason = "the file ends inside a frame"
                break
            result = check_frames(data, 0, offset)
            position += result.position
            offset = result.offset
            newest = newest if result.newest_timestamp is None else result.newest_timestamp
            if position - index[-1][1] >= INDEX_INTERVAL:
                index.append((offset, position))
            if result.bad is None:
                continue
            if not _intact_after(fd, position, size, offset):
                reason = result.bad.reason
                break
            logger.error(
                "%s: record at offset %d (byte %d) is corrupt (%s) but later records are "
                "intact, so it is kept; reading it raises CorruptLogError",
                path,
                offset,
                position,
                result.bad.reason,
            )
            position += HEADER_SIZE + HEADER.unpack_from(data, result.position)[0]
            offset += 1
        if position < size:
            _truncate(fd, path, position, size, offset=offset, reason=reason)
    except BaseException:
        os.close(fd)
        raise
    return Segment(
        path, base_offset, size_bytes=position, end_offset=offset, newest=newest, fd=fd, index=index
    )


def _frames_at(fd: int, position: int, size: int) -> bytes | None:
    """Bytes from ``position`` holding at least one whole frame; None if the file ends first."""
    data = os.pread(fd, min(READ_CHUNK, size - position), position)
    if len(data) < HEADER_SIZE:
        return None
    needed = HEADER_SIZE + HEADER.unpack_from(data)[0]
    if len(data) >= needed:
        return data
    if position + needed > size:
        return None
    return os.pread(fd, needed, position)


def _intact_after(fd: int, position: int, size: int, offset: int) -> bool:
    """Whether the frame after the bad one at ``position`` is intact and in sequence."""
    header = os.pread(fd, HEADER_SIZE, position)
    following = position + HEADER_SIZE + HEADER.unpack(header)[0]
    if following >= size:
        return False
    data = _frames_at(fd, following, size)
    return data is not None and check_frames(data, 0, offset + 1).offset > offset + 1


def _truncate(fd: int, path: Path, position: int, size: int, *, offset: int, reason: str) -> None:
    os.ftruncate(fd, position)
    os.fsync(fd)
    logger.warning(
        "%s: torn tail at offset %d, byte %d (%s): dropped %d bytes; appends continue at offset %d",
        path,
        offset,
        position,
        reason,
        size - position,
        offset,
    )
