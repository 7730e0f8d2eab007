"""Bound what a Deflated data set (PS3.5 A.5) inflates to, without inflating it into memory.

Deflate packs 1 MiB of zeros into about 1 KB, and pydicom (like
``zlib.decompress``) inflates a whole data set before reading it: a 300 KB
file made the reader hold 600 MiB. :func:`check_inflated_size` inflates the
stream a piece at a time only to count it, so a door or a validator can
refuse a decompression bomb before anything reads it.

>>> import zlib
>>> deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
>>> stream = deflater.compress(bytes(10_000_000)) + deflater.flush()
>>> len(stream) < 20_000
True
>>> check_inflated_size(stream, 10_000_000)
>>> try:
...     check_inflated_size(stream, 1_000_000)
... except InvalidInstanceError as exc:
...     print(exc.reason[:60])
the Deflated data set inflates to more than 1000000 bytes (m
"""

from __future__ import annotations

import zlib

from streamgale.errors import InvalidInstanceError

__all__ = ["DEFLATED_SYNTAX", "check_inflated_size"]

DEFLATED_SYNTAX = "1.2.840.10008.1.2.1.99"
"""Deflated Explicit VR Little Endian (PS3.5 A.5)."""

_CHUNK = 1 << 16
"""Bytes fed in, and taken out, at a time: ``unconsumed_tail`` copies what is left of
each piece fed in, so large pieces would make counting quadratic."""


def check_inflated_size(stream: bytes | memoryview, limit: int) -> None:
    """Raise :class:`InvalidInstanceError` if the raw deflate ``stream`` (RFC 1951, the
    bytes after the File Meta Information) inflates to more than ``limit`` bytes.

    Memory stays at a few chunks whatever the stream holds. A damaged stream
    returns quietly: the reader that parses it says what is wrong.
    """
    view = memoryview(stream).cast("B")
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    inflated = 0
    try:
        for start in range(0, len(view), _CHUNK):
            pending: bytes | memoryview = view[start : start + _CHUNK]
            while pending and not inflater.eof:
                inflated += len(inflater.decompress(pending, _CHUNK))
                if inflated > limit:
                    raise InvalidInstanceError(
                        f"the Deflated data set inflates to more than {limit} bytes "
                        f"(max_bytes) from {len(view)} sent: too large to process, "
                        "or a decompression bomb"
                    )
                pending = inflater.unconsumed_tail
    except zlib.error:
        return
