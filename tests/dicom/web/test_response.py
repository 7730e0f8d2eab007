"""The Store Instances Response Module in DICOM JSON (PS3.18 Annex I), both directions."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pydicom
import pytest

from streamgale.dicom.web import (
    FailureReason,
    InstanceFailure,
    InstanceReference,
    StoreInstancesResponse,
    StowClient,
)
from streamgale.errors import DeliveryError


def test_round_trip_and_statuses() -> None:
    ok = StoreInstancesResponse(referenced=(InstanceReference("1.2", "1.2.3"),))
    assert ok.http_status == 200
    assert StoreInstancesResponse.from_json(json.loads(json.dumps(ok.to_json()))) == ok
    mixed = StoreInstancesResponse(
        referenced=(InstanceReference("1.2", "1.2.3"),),
        failed=(
            InstanceFailure("1.2", "1.2.4", FailureReason.DATA_SET_DOES_NOT_MATCH, "other study"),
            InstanceFailure(None, None, FailureReason.CANNOT_UNDERSTAND, "not DICOM"),
        ),
    )
    assert mixed.http_status == 202
    assert StoreInstancesResponse.from_json(mixed.to_json()) == mixed
    assert StoreInstancesResponse(failed=mixed.failed).http_status == 409
    warned = StoreInstancesResponse(referenced=(InstanceReference("1.2", "1.2.3", 0xB000),))
    assert warned.http_status == 202
    assert StoreInstancesResponse.from_json(warned.to_json()) == warned


def test_nothing_stored_for_a_full_disk_is_507() -> None:
    full = InstanceFailure("1.2", "1.2.5", FailureReason.REFUSED_OUT_OF_RESOURCES, "disk full")
    bad = InstanceFailure(None, None, FailureReason.CANNOT_UNDERSTAND, "not DICOM")
    assert StoreInstancesResponse(failed=(full, full)).http_status == 507
    assert StoreInstancesResponse(failed=(full, bad)).http_status == 409  # the data is at fault too
    stored = (InstanceReference("1.2", "1.2.3"),)
    assert StoreInstancesResponse(referenced=stored, failed=(full,)).http_status == 202


def test_json_is_valid_dicom_json_for_pydicom() -> None:
    response = StoreInstancesResponse(
        referenced=(InstanceReference("1.2", "1.2.3"),),
        failed=(InstanceFailure("1.2", "1.2.4", FailureReason.PROCESSING_FAILURE, "disk"),),
    )
    ds = pydicom.Dataset.from_json(response.to_json())
    assert ds.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == "1.2.3"
    failed = ds.FailedSOPSequence[0]
    assert failed.FailureReason == 0x0110
    assert failed.private_block(0x0009, "STREAMGALE")[0x01].value == "disk"
    assert "RetrieveURL" in ds and not ds.RetrieveURL  # present (Type 2) and empty


def test_reads_another_servers_response() -> None:
    # Orthanc writes Failure Reason as a string and its own private blocks elsewhere.
    foreign = {
        "00081198": {
            "vr": "SQ",
            "Value": [
                {
                    "00081150": {"vr": "UI", "Value": ["1.2"]},
                    "00081155": {"vr": "UI", "Value": ["1.2.9"]},
                    "00081197": {"vr": "US", "Value": ["272"]},
                    "00090010": {"vr": "LO", "Value": ["OTHER"]},
                    "00090011": {"vr": "LO", "Value": ["STREAMGALE"]},
                    "00091101": {"vr": "UT", "Value": ["found in block 0x11"]},
                }
            ],
        }
    }
    (failure,) = StoreInstancesResponse.from_json(foreign).failed
    assert failure == InstanceFailure("1.2", "1.2.9", 0x0110, "found in block 0x11")
    with pytest.raises(ValueError, match="JSON object"):
        StoreInstancesResponse.from_json([])  # type: ignore[arg-type]


class _Canned(BaseHTTPRequestHandler):
    status = 200
    body = b"<html>not json</html>"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def canned() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_client_reports_a_non_dicom_answer(canned: ThreadingHTTPServer) -> None:
    client = StowClient(f"http://127.0.0.1:{canned.server_address[1]}/web", timeout=5)
    with pytest.raises(DeliveryError, match=r"answered 200 with a body.*<html>not json"):
        client.store([b"x"])
    _Canned.status, _Canned.body = 500, b"boom " * 200
    try:
        with pytest.raises(DeliveryError, match=r"HTTP 500: (boom ){50,}.*\.\.\.$"):
            client.store([b"x"])
    finally:
        _Canned.status, _Canned.body = 200, b"<html>not json</html>"
