"""Multipart/related parsing and building (PS3.18 8.6, RFC 2046 5.1)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamgale.dicom.web.multipart import (
    MultipartError,
    build_related,
    parse_content_type,
    parse_related,
)
from streamgale.errors import IngestError

CT = 'multipart/related; type="application/dicom"; boundary=XyZ'


def test_round_trip_keeps_binary_content_exactly() -> None:
    tricky = [b"\r\n--XyZ not at line start? yes it is\r\n", b"", b"\x00\xff" * 100, b"ends\r"]
    header, body = build_related(tricky)
    parts = parse_related(header, body)
    assert [p.body for p in parts] == tricky
    assert {p.content_type for p in parts} == {"application/dicom"}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=5))
def test_round_trip_property(payloads: list[bytes]) -> None:
    header, body = build_related(payloads)
    assert [p.body for p in parse_related(header, body)] == payloads


def test_boundary_that_is_a_prefix_of_a_content_line_is_not_a_delimiter() -> None:
    body = b"--XyZ\r\nContent-Type: application/dicom\r\n\r\nA\r\n--XyZW\r\nB\r\n--XyZ--\r\n"
    (part,) = parse_related(CT, body)
    assert part.body == b"A\r\n--XyZW\r\nB"


def test_quoted_boundary_preamble_epilogue_and_padding() -> None:
    body = (
        b"This is a preamble.\r\n--XyZ-longer\r\n"  # a longer boundary-like line in the preamble
        b"--a b  \t\r\n"
        b"Content-Type: application/dicom\r\n"
        b"Content-Location: http://example/1\r\n\r\n"
        b"DATA\r\n--a b--\r\nepilogue with --a b inside"
    )
    (part,) = parse_related('multipart/related; type="application/dicom"; boundary="a b"', body)
    assert part.body == b"DATA"
    assert part.content_location == "http://example/1"


def test_bare_lf_line_ends_are_accepted() -> None:
    body = b"--XyZ\nContent-Type: application/dicom\n\nONE\n--XyZ\n\nTWO\n--XyZ--"
    parts = parse_related(CT, body)
    assert [p.body for p in parts] == [b"ONE", b"TWO"]
    assert parts[1].headers == {} and parts[1].content_type is None


def test_crlf_body_keeps_a_trailing_cr_in_content() -> None:
    body = b"--XyZ\r\n\r\nA\r\r\n--XyZ--\r\n"
    assert parse_related(CT, body)[0].body == b"A\r"


def test_folded_and_case_insensitive_headers() -> None:
    body = b"--XyZ\r\ncontent-TYPE: Application/DICOM;\r\n  transfer-syntax=1.2\r\n\r\nX\r\n--XyZ--"
    (part,) = parse_related(CT, body)
    assert part.content_type == "application/dicom"
    assert part.headers["content-type"] == "Application/DICOM; transfer-syntax=1.2"


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/dicom", b"x", "expected multipart/related"),
        ("multipart/related; type=application/dicom", b"x", "no boundary parameter"),
        (CT, b"no delimiter here", "does not contain the boundary '--XyZ'"),
        (CT, b"--XyZ--\r\n", "has no parts"),
        (CT, b"--XyZ\r\nContent-Type: application/dicom\r\n\r\ntruncated", "looks truncated"),
        (CT, b"--XyZ\r\nno colon here\r\n\r\nX\r\n--XyZ--", "malformed header line"),
        (CT, b"--XyZ\r\nContent-Type: a/b\r\nX\r\n--XyZ--", "no empty line ending its headers"),
        (CT, b"--XyZ junk\r\n\r\nX\r\n--XyZ--", "has no parts"),  # all preamble
    ],
)
def test_malformed_bodies_say_what_is_wrong(content_type: str, body: bytes, message: str) -> None:
    with pytest.raises(MultipartError, match=message) as caught:
        parse_related(content_type, body)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, IngestError)
    assert caught.value.status == 400


def test_parse_content_type_handles_quotes_and_escapes() -> None:
    media, params = parse_content_type(
        'Multipart/Related ; Type="application/dicom" ; boundary="x\\"y" ; start=<a@b>'
    )
    assert media == "multipart/related"
    assert params == {"type": "application/dicom", "boundary": 'x"y', "start": "<a@b>"}


def test_build_refuses_a_boundary_found_in_a_part() -> None:
    with pytest.raises(ValueError, match="part 2 contains the boundary"):
        build_related([b"ok", b"xx--bound\r\n"], boundary="bound")
    with pytest.raises(ValueError, match="at least one part"):
        build_related([])


def test_build_quotes_a_boundary_with_spaces() -> None:
    header, body = build_related([b"x"], boundary="a b:c")
    assert header.endswith('boundary="a b:c"')
    assert parse_related(header, body)[0].body == b"x"


def test_build_picks_a_fresh_random_boundary() -> None:
    first, _ = build_related([b"a"])
    second, _ = build_related([b"a"])
    assert first != second
    assert parse_content_type(first)[1]["type"] == "application/dicom"


def test_parsing_is_linear_in_body_size() -> None:
    # 200 parts of 256 KiB each: a quadratic parser would take minutes here.
    payload = bytes(range(256)) * 1024
    header, body = build_related([payload] * 200)
    parts = parse_related(header, body)
    assert len(parts) == 200 and all(p.body == payload for p in parts)
