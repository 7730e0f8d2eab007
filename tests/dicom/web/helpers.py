"""Helpers shared by the DICOMweb and delivery tests: raw HTTP and Part-10 bytes."""

from __future__ import annotations

import http.client
import json
from typing import Any

from pydicom.data import get_testdata_file

from streamgale.dicom.web import instance_bytes

BUNDLED = ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "SC_rgb_rle.dcm", "test-SR.dcm"]
"""pydicom test files (shipped in its wheel) with distinct SOP Instance UIDs."""


def bundled_bytes(name: str) -> bytes:
    path = get_testdata_file(name)
    assert path is not None, f"pydicom does not ship {name}"
    with open(path, "rb") as handle:
        return handle.read()


def without_attribute(dataset: Any, keyword: str) -> bytes:
    """Part-10 bytes of ``dataset`` with ``keyword`` deleted."""
    copy = dataset.copy()
    delattr(copy, keyword)
    return instance_bytes(copy)


def post(
    url: str, body: bytes, headers: dict[str, str], *, chunked: bool = False
) -> tuple[int, dict[str, str], Any]:
    """POST with http.client; returns status, headers and the JSON (or text) body."""
    parts = url.split("/", 3)
    connection = http.client.HTTPConnection(parts[2], timeout=10)
    try:
        if chunked:
            connection.putrequest("POST", "/" + parts[3])
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.putheader("Transfer-Encoding", "chunked")
            connection.endheaders()
            for start in range(0, len(body), 7000):
                piece = body[start : start + 7000]
                connection.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            connection.send(b"0\r\n\r\n")
        else:
            connection.request("POST", "/" + parts[3], body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        answer_headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()
    try:
        decoded: Any = json.loads(payload)
    except ValueError:
        decoded = payload.decode("utf-8", "replace")
    return response.status, answer_headers, decoded
