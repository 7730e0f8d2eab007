"""STOW-RS end to end over HTTP on loopback: our client -> our server -> the real store."""

from __future__ import annotations

import io
import socket
import urllib.request

import pydicom
import pytest

from streamgale.dicom.ingest import CompletionSignal, InstanceStore, decode_event
from streamgale.dicom.synthetic import ct_series, ct_study
from streamgale.dicom.web import (
    FailureReason,
    StowClient,
    StowServer,
    bearer_auth,
    build_related,
    instance_bytes,
)
from streamgale.errors import ConfigError, DeliveryError
from streamgale.log import MemoryLog
from tests.dicom.web.helpers import BUNDLED, bundled_bytes, post, without_attribute

DICOM_CT = 'multipart/related; type="application/dicom"; boundary=B'


def signals(log: MemoryLog) -> list[CompletionSignal]:
    end = log.end_offset("instances", 0)
    records = log.read("instances", 0, 0, end) if end else []
    events = [decode_event(r.payload) for r in records]
    return [e for e in events if isinstance(e, CompletionSignal)]


def test_synthetic_ct_round_trip(client: StowClient, store: InstanceStore, log: MemoryLog) -> None:
    series = ct_series(slices=4, size=64, seed=3)
    result = client.store(series)
    assert result.status == 200 and not result.failed
    assert result.stored_uids == [ds.SOPInstanceUID for ds in series]
    assert {ref.sop_class_uid for ref in result.stored} == {"1.2.840.10008.5.1.4.1.1.2"}
    for ds in series:
        kept = pydicom.dcmread(store.path_of(ds.SOPInstanceUID))
        assert kept.PixelData == ds.PixelData and kept.StudyInstanceUID == ds.StudyInstanceUID
        assert store.get(ds.SOPInstanceUID).source == "stow"
    (signal,) = signals(log)
    assert signal.scope == "stow" and signal.sop_instance_uids == tuple(result.stored_uids)


def test_pydicom_bundled_files_round_trip(client: StowClient, store: InstanceStore) -> None:
    payloads = [bundled_bytes(name) for name in BUNDLED]
    result = client.store(payloads)
    assert result.status == 200, result.failed
    for payload, uid in zip(payloads, result.stored_uids, strict=True):
        assert pydicom.dcmread(io.BytesIO(payload)).SOPInstanceUID == uid
        stored = store.read_bytes(uid)
        assert stored[:128] == bytes(128)  # preamble zeroed on ingest
        assert stored[128:] == payload[128:]  # everything else as sent


def test_study_url_stores_its_own_study(client: StowClient, store: InstanceStore) -> None:
    study = ct_study(series=2, slices=2, size=32, seed=5)
    result = client.store(study, study_uid=study[0].StudyInstanceUID)
    assert result.status == 200 and len(result.stored) == 4
    assert len(store.study(study[0].StudyInstanceUID)) == 4


def test_study_url_refuses_other_studies_with_a900(
    server: StowServer, client: StowClient, store: InstanceStore
) -> None:
    mine = ct_series(slices=2, size=32, seed=1, patient_id="A")
    other = ct_series(slices=1, size=32, seed=2, patient_id="B")
    result = client.store(mine + other, study_uid=mine[0].StudyInstanceUID)
    assert result.status == 202
    assert result.stored_uids == [ds.SOPInstanceUID for ds in mine]
    (failure,) = result.failed
    assert failure.sop_instance_uid == other[0].SOPInstanceUID
    assert failure.sop_class_uid == other[0].SOPClassUID
    assert failure.reason == FailureReason.DATA_SET_DOES_NOT_MATCH
    assert int(failure.reason) == 0xA900
    assert other[0].StudyInstanceUID in failure.text and mine[0].StudyInstanceUID in failure.text
    with pytest.raises(KeyError):
        store.get(other[0].SOPInstanceUID)  # refused, not stored
    with pytest.raises(DeliveryError, match=r"HTTP 409.*0xA900"):
        client.store(other, study_uid=mine[0].StudyInstanceUID)
    with pytest.raises(DeliveryError, match=r"HTTP 409.*0xC000 part 1 has no readable Study"):
        client.store([b"garbage"], study_uid=mine[0].StudyInstanceUID)


def test_partial_failure_answers_202_with_reasons(client: StowClient, store: InstanceStore) -> None:
    good = ct_series(slices=2, size=32, seed=7)
    no_series = ct_series(slices=1, size=32, seed=8)[0]
    parts = [
        instance_bytes(good[0]),
        b"this is not DICOM at all",
        without_attribute(no_series, "SeriesInstanceUID"),
        instance_bytes(good[1]),
    ]
    result = client.store(parts)
    assert result.status == 202
    assert result.stored_uids == [good[0].SOPInstanceUID, good[1].SOPInstanceUID]
    assert len(result.failed) == 2
    by_uid = {f.sop_instance_uid: f for f in result.failed}
    garbage, missing = by_uid[None], by_uid[no_series.SOPInstanceUID]
    assert garbage.reason == missing.reason == FailureReason.CANNOT_UNDERSTAND
    assert garbage.sop_class_uid is None and "the bytes are not DICOM" in garbage.text
    assert missing.sop_class_uid == no_series.SOPClassUID
    assert "SeriesInstanceUID is missing" in missing.text
    assert len(store) == 2


def test_response_is_dicom_json_with_the_standard_tags(server: StowServer) -> None:
    good = instance_bytes(ct_series(slices=1, size=32, seed=9)[0])
    header, body = build_related([good, b"junk"])
    status, headers, answer = post(f"{server.url}/studies", body, {"Content-Type": header})
    assert status == 202
    assert headers["content-type"] == "application/dicom+json"
    assert answer["00081190"] == {"vr": "UR"}  # Retrieve URL, Type 2, empty: no WADO-RS here
    (ref,) = answer["00081199"]["Value"]
    assert ref["00081150"]["vr"] == "UI" and ref["00081155"]["vr"] == "UI"
    (other,) = answer["0008119A"]["Value"]  # the unreadable part has no SOP UIDs
    assert other["00081197"] == {"vr": "US", "Value": [0xC000]}
    assert other["00090010"]["Value"] == ["STREAMGALE"]
    assert "the bytes are not DICOM" in other["00091001"]["Value"][0]


def test_all_failed_is_409(server: StowServer) -> None:
    header, body = build_related([b"junk one", b"junk two"])
    status, _, answer = post(f"{server.url}/studies", body, {"Content-Type": header})
    assert status == 409
    assert len(answer["0008119A"]["Value"]) == 2 and "00081199" not in answer


def test_duplicate_resend_is_harmless(
    client: StowClient, store: InstanceStore, log: MemoryLog
) -> None:
    series = ct_series(slices=3, size=32, seed=11)
    first = client.store(series)
    again = client.store(series)
    assert first.status == again.status == 200
    assert again.stored_uids == first.stored_uids
    assert len(store) == 3
    instance_events = log.end_offset("instances", 0) - len(signals(log))
    assert instance_events == 3  # the resend published nothing new


def test_malformed_multipart_is_400_with_a_message(server: StowServer) -> None:
    body = b"--B\r\nContent-Type: application/dicom\r\n\r\ntruncated without close delimiter"
    status, headers, answer = post(f"{server.url}/studies", body, {"Content-Type": DICOM_CT})
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert "looks truncated" in answer["error"]
    status, _, answer = post(f"{server.url}/studies", b"x", {"Content-Type": DICOM_CT})
    assert status == 400 and "does not contain the boundary '--B'" in answer["error"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/dicom",
        "application/json",
        'multipart/related; type="application/dicom+json"; boundary=B',
        "multipart/form-data; boundary=B",
        None,
    ],
)
def test_other_media_types_are_415(server: StowServer, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    status, _, answer = post(f"{server.url}/studies", b"--B--", headers)
    assert status == 415
    assert 'multipart/related; type="application/dicom"' in answer["error"]


def test_a_part_of_another_media_type_fails_alone(server: StowServer) -> None:
    good = instance_bytes(ct_series(slices=1, size=32, seed=12)[0])
    body = (
        b"--B\r\nContent-Type: application/dicom\r\n\r\n" + good + b"\r\n"
        b'--B\r\nContent-Type: application/dicom+json\r\n\r\n{"a": 1}\r\n--B--\r\n'
    )
    status, _, answer = post(f"{server.url}/studies", body, {"Content-Type": DICOM_CT})
    assert status == 202
    (failure,) = answer["0008119A"]["Value"]
    assert "application/dicom+json" in failure["00091001"]["Value"][0]


def test_chunked_request_body(server: StowServer, store: InstanceStore) -> None:
    series = ct_series(slices=2, size=64, seed=13)
    header, body = build_related([instance_bytes(ds) for ds in series])
    status, _, answer = post(f"{server.url}/studies", body, {"Content-Type": header}, chunked=True)
    assert status == 200 and len(answer["00081199"]["Value"]) == 2
    assert len(store) == 2


def test_body_over_the_limit_is_413(store: InstanceStore) -> None:
    with StowServer(store, max_body=10_000) as small:
        header, body = build_related([bytes(20_000)])
        status, _, answer = post(f"{small.url}/studies", body, {"Content-Type": header})
        assert status == 413 and "limit of 10000" in answer["error"]
        status, _, _ = post(f"{small.url}/studies", body, {"Content-Type": header}, chunked=True)
        assert status == 413
    assert len(store) == 0


def test_auth_refuses_without_the_token(store: InstanceStore) -> None:
    series = ct_series(slices=1, size=32, seed=14)
    with StowServer(store, auth=bearer_auth("s3cret")) as guarded:
        with pytest.raises(DeliveryError, match="HTTP 401"):
            StowClient(guarded.url).store(series)
        assert len(store) == 0
        allowed = StowClient(guarded.url, headers={"Authorization": "Bearer s3cret"})
        assert allowed.store(series).status == 200


def test_routes_health_and_methods(server: StowServer) -> None:
    with urllib.request.urlopen(f"{server.url}/healthz", timeout=5) as answer:
        assert answer.status == 200
    for method, path, expected in [
        ("GET", "/studies", 405),
        ("POST", "/series", 404),
        ("POST", "/studies/1.2/series", 404),
        ("POST", "/healthz", 405),
    ]:
        request = urllib.request.Request(f"{server.url}{path}", data=None, method=method)
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=5)
        assert caught.value.code == expected, (method, path)
    status, _, answer = post(f"{server.url}/studies/not-a-uid", b"", {"Content-Type": DICOM_CT})
    assert status == 400 and "not a Study Instance UID" in answer["error"]
    xml_only = {"Content-Type": DICOM_CT, "Accept": "application/dicom+xml"}
    status, _, answer = post(f"{server.url}/studies", b"--B--", xml_only)
    assert status == 406 and "application/dicom+json" in answer["error"]


def test_expect_100_continue_refuses_an_oversized_body_before_it_is_sent(
    store: InstanceStore,
) -> None:
    with StowServer(store, max_body=1000) as small:
        host, port = small.address
        with socket.create_connection((host, port), timeout=5) as raw:
            raw.sendall(
                b"POST /dicomweb/studies HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                b"Content-Type: " + DICOM_CT.encode() + b"\r\nContent-Length: 5000\r\n\r\n"
            )
            answer = b""
            while chunk := raw.recv(4096):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b"limit of 1000" in answer


def test_configuration_errors(store: InstanceStore) -> None:
    with pytest.raises(ConfigError, match="path_prefix"):
        StowServer(store, path_prefix="dicomweb")
    with StowServer(store) as running, pytest.raises(ConfigError, match="cannot listen"):
        StowServer(store, port=running.address[1]).start()
    with pytest.raises(ConfigError, match="http"):
        StowClient("pacs:8080")


def test_client_reports_an_unreachable_server() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DeliveryError, match="cannot reach the STOW-RS server"):
        StowClient(f"http://127.0.0.1:{port}/dicomweb", timeout=2).store([b"x"])
