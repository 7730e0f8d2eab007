"""How Python objects cross a process boundary without copying their big buffers.

An object is pickled with protocol 5; its out-of-band buffers (the data of
numpy arrays, :class:`pickle.PickleBuffer` objects) are copied once into ONE
POSIX shared memory block, and only a small :class:`Payload` (the pickle
stream, the block's name and the buffers' offsets) travels through the pipe.
The receiver maps the block and rebuilds the arrays as views into it, so the
data is never copied on the receiving side. Small objects travel inline.

We manage blocks with ``os.open`` on ``/dev/shm`` and :mod:`mmap` rather than
:class:`multiprocessing.shared_memory.SharedMemory`, for three reasons, each a
failure we hit otherwise:

* On Python 3.11, *attaching* to a ``SharedMemory`` registers it with the
  resource tracker, which then unlinks it (or warns) when the attaching process
  exits. Here only the creating parent registers a block, once.
* ``SharedMemory`` only ``ftruncate``-s the block, so a full ``/dev/shm``
  (64 MiB by default in containers) turns into a ``SIGBUS`` on first write.
  We ``posix_fallocate`` the block, so a full ``/dev/shm`` is an ``OSError``
  and the object falls back to the pipe.
* ``SharedMemory.close()`` raises ``BufferError`` while zero-copy views are
  alive. A bare ``mmap`` is unmapped when the last view is garbage collected.

Blocks are unlinked exactly once, by the process that consumes them: see
:mod:`streamgale.runtime.workers` for who owns which block.
"""

from __future__ import annotations

import mmap
import os
import pickle
import sys
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "DEFAULT_SHM_THRESHOLD",
    "SHM_DIR",
    "Payload",
    "decode",
    "encode",
    "release_block",
    "shm_available",
    "unlink_block",
]

SHM_DIR = Path("/dev/shm")
"""Where Linux keeps POSIX shared memory objects (a tmpfs)."""

DEFAULT_SHM_THRESHOLD = 64 * 1024
"""Objects with fewer pickled bytes than this travel inline through the pipe:
below it, creating and mapping a block costs more than copying the bytes."""

_ALIGN = 64
"""Buffers start on 64-byte boundaries, so every numpy dtype (and SIMD loads)
finds its data aligned in the block."""

_TRACKER_TYPE = "shared_memory"


class Payload(NamedTuple):
    """A pickled object as it travels through a pipe.

    ``data`` is the pickle stream, or ``None`` when it lies in the block at
    ``[0:data_len]``. Inline payloads carry their out-of-band buffers in
    ``buffers``; block payloads give ``(offset, length)`` spans into ``block``.
    """

    data: bytes | None
    buffers: list[bytearray]
    block: str | None
    block_size: int
    data_len: int
    spans: list[tuple[int, int]]


def shm_available() -> bool:
    """Whether this platform has the ``/dev/shm`` tmpfs that blocks live in."""
    return sys.platform.startswith("linux") and SHM_DIR.is_dir()


def encode(obj: Any, block_name: str, *, threshold: int, track: bool) -> Payload:
    """Pickle ``obj``; put it in a shared memory block named ``block_name`` if large.

    The block is created only when the pickled size reaches ``threshold`` and
    shared memory is available and has room; otherwise the payload is inline.
    With ``track``, the block is registered with the resource tracker so that
    it is removed even if this process dies; release it with
    :func:`release_block` (``track=True``) to keep the registrations balanced.
    """
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    raws = [buf.raw() for buf in buffers]
    total = len(data) + sum(raw.nbytes for raw in raws)
    if total >= threshold and shm_available():
        try:
            return _write_block(block_name, data, raws, track=track)
        except OSError:
            pass  # /dev/shm is full or refused: the pipe is slower but works
    return Payload(data, [bytearray(raw) for raw in raws], None, 0, len(data), [])


def decode(payload: Payload, *, unlink: bool) -> Any:
    """Rebuild the object; its arrays are views into the mapped block.

    With ``unlink``, the block's name is removed right after it is mapped (the
    mapping stays valid until the last view is gone); the caller then owns no
    further cleanup. Unlinking is tracker-free: only the creator tracks.
    """
    if payload.block is None:
        return pickle.loads(payload.data or b"", buffers=payload.buffers)
    block = _map_block(payload.block, payload.block_size, unlink=unlink)
    view = memoryview(block)
    data = payload.data if payload.data is not None else view[: payload.data_len]
    buffers = [view[start : start + length] for start, length in payload.spans]
    return pickle.loads(data, buffers=buffers)


def release_block(payload: Payload) -> None:
    """Unlink a block created by :func:`encode` with ``track=True``; once only."""
    if payload.block is not None:
        unlink_block(payload.block)
        resource_tracker.unregister("/" + payload.block, _TRACKER_TYPE)


def unlink_block(name: str) -> bool:
    """Remove the name of block ``name``; ``False`` if it did not exist."""
    try:
        os.unlink(SHM_DIR / name)
    except FileNotFoundError:
        return False
    return True


def _write_block(name: str, data: bytes, raws: list[memoryview], *, track: bool) -> Payload:
    # The pickle stream goes into the block too only when it is big (a large
    # bytes object is pickled in-band); small streams ride in the message.
    data_in_block = len(data) >= DEFAULT_SHM_THRESHOLD
    offset = _aligned(len(data)) if data_in_block else 0
    spans = []
    for raw in raws:
        spans.append((offset, raw.nbytes))
        offset = _aligned(offset + raw.nbytes)
    size = max(offset, 1)
    block = _create_block(name, size)
    if track:
        resource_tracker.register("/" + name, _TRACKER_TYPE)
    try:
        if data_in_block:
            block.write(data)
        for (start, _), raw in zip(spans, raws, strict=True):
            block.seek(start)
            block.write(raw)
    except BaseException:
        block.close()
        unlink_block(name)
        if track:
            resource_tracker.unregister("/" + name, _TRACKER_TYPE)
        raise
    block.close()
    inline = None if data_in_block else data
    return Payload(inline, [], name, size, len(data), spans)


def _create_block(name: str, size: int) -> mmap.mmap:
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(SHM_DIR / name, flags, 0o600)
    try:
        # Reserve the pages now: on a full tmpfs this raises ENOSPC here
        # instead of killing the process with SIGBUS in the middle of a copy.
        os.posix_fallocate(fd, 0, size)
        return mmap.mmap(fd, size)
    except BaseException:
        unlink_block(name)
        raise
    finally:
        os.close(fd)


def _map_block(name: str, size: int, *, unlink: bool) -> mmap.mmap:
    fd = os.open(SHM_DIR / name, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if unlink:
            unlink_block(name)
        return mmap.mmap(fd, size)
    finally:
        os.close(fd)


def _aligned(offset: int) -> int:
    return (offset + _ALIGN - 1) // _ALIGN * _ALIGN
