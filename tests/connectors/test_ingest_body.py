"""parse_body: content types, JSON and NDJSON, and the messages of refusals."""

from __future__ import annotations

import json
import re

import pytest

from streamgale.connectors.ingest_body import parse_body
from streamgale.errors import IngestError


def test_json_object_and_array() -> None:
    one = parse_body("application/json; charset=utf-8", b'{"a": 1}')
    assert one.records == [{"a": 1}] and json.loads(one.array_json) == [{"a": 1}]
    many = parse_body("Application/JSON", b'[{"a": 1}, {"b": "\xc3\xa9"}]')
    assert many.records == [{"a": 1}, {"b": "é"}]
    assert json.loads(many.array_json) == many.records


def test_ndjson_skips_blank_lines_and_keeps_unicode_line_separators() -> None:
    body = '{"a": 1}\r\n\n{"s": "x\u2028y"}\n'.encode()
    parsed = parse_body("application/x-ndjson", body)
    assert parsed.records == [{"a": 1}, {"s": "x\u2028y"}]
    assert json.loads(parsed.array_json) == parsed.records


@pytest.mark.parametrize(
    ("content_type", "body", "status", "message"),
    [
        ("application/json", b'{"a": ', 400, "not valid JSON: Expecting value at line 1"),
        ("application/json", b"3", 400, "the body is a JSON number"),
        ("application/json", b'[{"a": 1}, 2]', 400, "element 1 of the array is a JSON number"),
        ("application/x-ndjson", b'{"a": 1}\n{oops}\n', 400, "line 2 is not valid JSON"),
        ("application/x-ndjson", b'{"a": 1}\n[1]\n', 400, "line 2 is a JSON array"),
        ("application/json", b"\xff", 400, "not valid UTF-8"),
        ("text/plain", b"{}", 415, "unsupported Content-Type 'text/plain'"),
        (None, b"{}", 415, "unsupported Content-Type '(none)'"),
        ("application/json; charset=latin-1", b"{}", 415, "unsupported charset"),
        ("text/csv", b"\xff", 415, "unsupported Content-Type 'text/csv'"),
    ],
)
def test_refusals(content_type: str | None, body: bytes, status: int, message: str) -> None:
    with pytest.raises(IngestError, match=re.escape(message)) as caught:
        parse_body(content_type, body)
    assert caught.value.status == status
