"""Parsing and checking request bodies for the ingest endpoint, independent of HTTP.

A body is accepted whole or refused whole: any problem raises
:class:`~streamgale.errors.IngestError` carrying the status to answer with
and a message saying what was wrong and how to fix it.

>>> parse_body("application/x-ndjson", b'{"a": 1}\\n{"a": 2}\\n').records
[{'a': 1}, {'a': 2}]
>>> parse_body("application/json", b'{"a": 1').records
Traceback (most recent call last):
...
streamgale.errors.IngestError: the body is not valid JSON: Expecting ',' delimiter \
at line 1, column 8; send one JSON object or an array of objects
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from streamgale.errors import IngestError

__all__ = ["JSON_TYPES", "NDJSON_TYPES", "ParsedBody", "parse_body"]

JSON_TYPES = frozenset({"application/json"})
NDJSON_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)


@dataclass(frozen=True)
class ParsedBody:
    """The records of one request, and the same records as one JSON array.

    ``array_json`` reuses the request's own bytes where it can, so storing a
    request costs no re-encoding.
    """

    records: list[dict[str, Any]]
    array_json: bytes


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, lower-cased, without parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_body(content_type: str | None, body: bytes) -> ParsedBody:
    """Parse a JSON (object or array of objects) or NDJSON body into records.

    Raises IngestError with status 415 for another content type or charset,
    400 for a body that is not UTF-8, not JSON, or holds something other than
    objects.
    """
    kind = media_type(content_type)
    if kind not in JSON_TYPES | NDJSON_TYPES:
        accepted = ", ".join(sorted(JSON_TYPES | NDJSON_TYPES))
        raise IngestError(
            f"unsupported Content-Type {content_type or '(none)'!r}; send application/json "
            "(an object or an array of objects) or application/x-ndjson (one object per "
            f"line). Accepted types: {accepted}",
            status=415,
        )
    _check_charset(content_type)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"the body is not valid UTF-8 (byte {exc.start}); encode the JSON as UTF-8"
        ) from exc
    return _parse_json(text, body) if kind in JSON_TYPES else _parse_ndjson(text)


def _check_charset(content_type: str | None) -> None:
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip(' "').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise IngestError(
                f"unsupported charset {value.strip()!r}; send the body as UTF-8", status=415
            )


def _parse_json(text: str, body: bytes) -> ParsedBody:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}; "
            "send one JSON object or an array of objects"
        ) from exc
    if isinstance(value, dict):
        return ParsedBody([value], b"[" + body + b"]")
    if not isinstance(value, list):
        raise IngestError(
            f"the body is a JSON {_kind(value)}; send one JSON object or an array of objects"
        )
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise IngestError(
                f"element {index} of the array is a JSON {_kind(item)}, not an object; "
                "every record must be a JSON object"
            )
    return ParsedBody(value, body)


def _parse_ndjson(text: str) -> ParsedBody:
    records: list[dict[str, Any]] = []
    lines: list[str] = []
    # split("\n"), not splitlines(): JSON strings may hold U+2028 and friends.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IngestError(
                f"line {number} is not valid JSON: {exc.msg} at column {exc.colno}; "
                "send one complete JSON object per line; nothing was accepted"
            ) from exc
        if not isinstance(value, dict):
            raise IngestError(
                f"line {number} is a JSON {_kind(value)}, not an object; "
                "send one JSON object per line; nothing was accepted"
            )
        records.append(value)
        lines.append(line)
    return ParsedBody(records, ("[" + ",".join(lines) + "]").encode())


def _kind(value: Any) -> str:
    names = {list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")
