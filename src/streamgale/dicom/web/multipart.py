"""Multipart/related bodies as DICOMweb uses them (PS3.18 8.6, RFC 2387, RFC 2046 5.1).

A STOW-RS request carries one DICOM Part 10 file per body part::

    Content-Type: multipart/related; type="application/dicom"; boundary=XYZ

    --XYZ
    Content-Type: application/dicom

    <DICOM file bytes>
    --XYZ--

:func:`parse_related` splits such a body into :class:`BodyPart` objects and
:func:`build_related` writes one. The parser accepts what senders in the
field produce: a quoted or unquoted boundary, a preamble before the first
delimiter and an epilogue after the last, transport padding (spaces, tabs)
after a delimiter, and bare LF line ends instead of CRLF. The line end is
taken from the first delimiter line and then used for the whole body, so a
part whose binary content happens to end in a CR is not clipped in a CRLF
body. Searching uses :meth:`bytes.find` on the original buffer, and each part
is copied exactly once, so parsing is linear in the body size.

Malformed input raises :class:`MultipartError`, an
:class:`~streamgale.errors.IngestError` (HTTP 400) that is also a
:class:`ValueError`; its message says what was wrong and what to do.

>>> header, body = build_related([b"first", b"second"], boundary="b0")
>>> header
'multipart/related; type="application/dicom"; boundary=b0'
>>> [part.body for part in parse_related(header, body)]
[b'first', b'second']
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from streamgale.errors import IngestError

__all__ = [
    "DICOM_MEDIA_TYPE",
    "BodyPart",
    "MultipartError",
    "build_related",
    "parse_content_type",
    "parse_related",
    "related_boundary",
]

DICOM_MEDIA_TYPE = "application/dicom"
"""The media type of a DICOM Part 10 file (PS3.18 8.7.3)."""

# RFC 2046 5.1.1: a boundary is 1 to 70 characters; some senders exceed 70,
# which costs us nothing to accept, so only absurd lengths are refused.
_MAX_BOUNDARY = 200
_MAX_HEADER_BLOCK = 16 * 1024
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM = re.compile(rf';\s*({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_PADDING = b" \t"


class MultipartError(IngestError, ValueError):
    """A multipart body or its Content-Type is malformed (answered with HTTP 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=400)


@dataclass(frozen=True)
class BodyPart:
    """One part of a multipart body: its headers (names lower-cased) and its bytes."""

    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)

    @property
    def content_type(self) -> str | None:
        """The part's media type, lower-cased and without parameters, if it has one."""
        value = self.headers.get("content-type")
        return parse_content_type(value)[0] if value else None

    @property
    def content_location(self) -> str | None:
        """The part's Content-Location header (PS3.18 8.6.1.2), if it has one."""
        return self.headers.get("content-location")

    def __repr__(self) -> str:
        return f"BodyPart(content_type={self.content_type!r}, size={len(self.body)})"


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """Split a Content-Type value into its media type and parameters (RFC 9110 8.3).

    The media type and the parameter names are lower-cased; quoted values are
    unquoted.

    >>> parse_content_type('Multipart/Related; type="application/dicom"; boundary="a b"')
    ('multipart/related', {'type': 'application/dicom', 'boundary': 'a b'})
    """
    media, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for match in _PARAM.finditer(";" + rest):
        raw = match.group(2).strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[match.group(1).lower()] = raw
    return media.strip().lower(), params


def related_boundary(content_type: str) -> str:
    """The boundary of a ``multipart/related`` Content-Type, validated."""
    media, params = parse_content_type(content_type)
    if media != "multipart/related":
        raise MultipartError(
            f"Content-Type is {media!r}, expected multipart/related; "
            'send multipart/related; type="application/dicom"; boundary=...'
        )
    boundary = params.get("boundary", "")
    if not boundary:
        raise MultipartError(
            "the multipart/related Content-Type has no boundary parameter; "
            "add boundary=<the delimiter used in the body>"
        )
    if len(boundary) > _MAX_BOUNDARY:
        raise MultipartError(
            f"the boundary is {len(boundary)} characters long; RFC 2046 allows at most 70"
        )
    return boundary


def parse_related(content_type: str, body: bytes) -> list[BodyPart]:
    """Split a ``multipart/related`` body into its parts (RFC 2046 5.1.1).

    Raises :class:`MultipartError` when the Content-Type has no boundary, the
    body does not contain it, a part's headers are malformed, the closing
    delimiter is missing (a truncated body), or there is no part at all.
    """
    delimiter = b"--" + related_boundary(content_type).encode("latin-1")
    start, newline = _first_delimiter(body, delimiter)
    separator = newline + delimiter
    parts: list[BodyPart] = []
    cursor = start
    while True:
        after = cursor + len(delimiter)
        if body.startswith(b"--", after):  # close delimiter; the rest is epilogue
            break
        content_start = _end_of_delimiter_line(body, after, newline, len(parts))
        end = _next_delimiter(body, separator, content_start, len(parts))
        parts.append(_parse_part(body, content_start, end, newline, len(parts)))
        cursor = end + len(newline)
    if not parts:
        raise MultipartError("the multipart body has no parts; send at least one DICOM instance")
    return parts


def build_related(
    parts: Iterable[bytes],
    *,
    media_type: str = DICOM_MEDIA_TYPE,
    boundary: str | None = None,
) -> tuple[str, bytes]:
    """Write a ``multipart/related`` body; returns ``(Content-Type header, body)``.

    Each part gets ``Content-Type: <media_type>``. Without ``boundary`` a random
    one is chosen, and chosen again in the (astronomically unlikely) case that
    a part contains it.
    """
    payloads = [bytes(part) for part in parts]
    if not payloads:
        raise ValueError("build_related needs at least one part")
    chosen = boundary or _fresh_boundary(payloads)
    if boundary is not None:
        _check_boundary_absent(chosen, payloads)
    delimiter = b"--" + chosen.encode("ascii")
    head = delimiter + b"\r\nContent-Type: " + media_type.encode("ascii") + b"\r\n\r\n"
    chunks: list[bytes] = []
    for payload in payloads:
        chunks += [head, payload, b"\r\n"]
    chunks.append(delimiter + b"--\r\n")
    shown = chosen if re.fullmatch(_TOKEN, chosen) else f'"{chosen}"'  # RFC 2046 bchars
    header = f'multipart/related; type="{media_type}"; boundary={shown}'
    return header, b"".join(chunks)


def _first_delimiter(body: bytes, delimiter: bytes) -> tuple[int, bytes]:
    """Where the first delimiter starts, and the line end (CRLF or LF) the body uses."""
    search_from = 0
    index: int | None = 0 if body.startswith(delimiter) else None
    while True:
        if index is None:
            found = body.find(b"\n" + delimiter, search_from)
            if found < 0:
                raise MultipartError(
                    f"the body does not contain the boundary {delimiter.decode('latin-1')!r} "
                    "named in Content-Type; check that the header and the body agree"
                )
            index = found + 1
        after = index + len(delimiter)
        line_end = _line_end_after(body, after)
        if line_end is not None:
            return index, line_end
        if body.startswith(b"--", after):
            return index, b"\r\n"  # a close delimiter first: no parts, reported later
        search_from, index = index, None  # a longer boundary-like line in the preamble


def _line_end_after(body: bytes, position: int) -> bytes | None:
    """The line end that follows optional transport padding at ``position``, if any."""
    while position < len(body) and body[position] in _PADDING:
        position += 1
    if body.startswith(b"\r\n", position):
        return b"\r\n"
    if body.startswith(b"\n", position):
        return b"\n"
    return None


def _end_of_delimiter_line(body: bytes, position: int, newline: bytes, index: int) -> int:
    """The offset just past a delimiter line's padding and line end."""
    while position < len(body) and body[position] in _PADDING:
        position += 1
    if not body.startswith(newline, position):
        raise MultipartError(
            f"the delimiter before part {index + 1} is followed by unexpected bytes; "
            "a boundary line must end with a line break"
        )
    return position + len(newline)


def _next_delimiter(body: bytes, separator: bytes, start: int, index: int) -> int:
    """The offset of the line end that starts the delimiter closing part ``index``."""
    position = start
    while True:
        found = body.find(separator, position)
        if found < 0:
            raise MultipartError(
                f"part {index + 1} is not followed by a boundary line; the body looks "
                "truncated (it must end with the close delimiter --<boundary>--)"
            )
        after = found + len(separator)
        if body.startswith(b"--", after) or _line_end_after(body, after) is not None:
            return found
        position = found + 1  # the boundary text continued: part of the content


def _parse_part(body: bytes, start: int, end: int, newline: bytes, index: int) -> BodyPart:
    """Headers up to the first empty line, then the content (RFC 2046 5.1.1)."""
    if body.startswith(newline, start):  # no headers at all: the default type applies
        return BodyPart({}, body[start + len(newline) : end])
    blank = body.find(newline + newline, start, end)
    if blank < 0 or blank - start > _MAX_HEADER_BLOCK:
        raise MultipartError(
            f"part {index + 1} has no empty line ending its headers; each part needs "
            "headers such as Content-Type: application/dicom, then an empty line"
        )
    headers = _parse_headers(body[start:blank].decode("latin-1"), newline.decode(), index)
    return BodyPart(headers, body[blank + 2 * len(newline) : end])


def _parse_headers(text: str, newline: str, index: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    last = ""
    for line in text.split(newline):
        if line[:1] in (" ", "\t") and last:  # obsolete line folding (RFC 5322 2.2.3)
            headers[last] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon or not re.fullmatch(_TOKEN, name.strip()):
            raise MultipartError(
                f"part {index + 1} has a malformed header line {line[:80]!r}; "
                "headers look like 'Name: value'"
            )
        last = name.strip().lower()
        headers[last] = value.strip()
    return headers


def _fresh_boundary(payloads: list[bytes]) -> str:
    while True:
        boundary = "streamgale-" + secrets.token_hex(16)
        if not any(boundary.encode() in payload for payload in payloads):
            return boundary


def _check_boundary_absent(boundary: str, payloads: list[bytes]) -> None:
    marker = b"--" + boundary.encode("ascii")
    for number, payload in enumerate(payloads, start=1):
        if marker in payload:
            raise ValueError(
                f"part {number} contains the boundary {boundary!r}; choose another boundary "
                "or let build_related pick a random one"
            )
