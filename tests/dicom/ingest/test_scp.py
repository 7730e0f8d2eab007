"""The storage SCP against real peers on loopback: dcmtk's storescu/echoscu, and pynetdicom."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from io import BytesIO
from pathlib import Path

import pydicom
import pytest

from streamgale.dicom.ingest import InstanceStore
from streamgale.dicom.ingest.association import AssociationState
from streamgale.dicom.ingest.scp import ScpConfig, StorageSCP
from streamgale.errors import ConfigError
from streamgale.log import MemoryLog

from .helpers import bundled, ct_files, dcmtk, instance_events, signals, write_files

ENV = {**os.environ, "TCP_NODELAY": "1"}
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"

# Bundled pydicom files and the storescu option that proposes their transfer syntax.
BUNDLED = [
    ("CT_small.dcm", "-xe"),
    ("MR_small.dcm", "-xe"),
    ("MR_small_bigendian.dcm", "-xb"),
    ("rtplan.dcm", "-xi"),
    ("waveform_ecg.dcm", "-xe"),
    ("test-SR.dcm", "-xe"),
    ("liver_1frame.dcm", "-xe"),
    ("JPEG2000.dcm", "-xw"),
    ("MR_small_RLE.dcm", "-xr"),
    ("SC_rgb_jpeg_dcmtk.dcm", "-xy"),
    ("JPGExtended.dcm", "-xx"),
    ("SC_rgb_jpeg_gdcm.dcm", "-xs"),
    ("MR_small_jpeg_ls_lossless.dcm", "-xt"),
    ("image_dfl.dcm", "-xd"),
]


def storescu(
    port: int, *paths: Path | str, args: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    command = [
        dcmtk("storescu"),
        "-v",
        "-R",
        "-aec",
        "STREAMGALE",
        *args,
        "127.0.0.1",
        str(port),
        *map(str, paths),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=ENV, check=False)


def echoscu(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    command = [dcmtk("echoscu"), *args, "-aec", "STREAMGALE", "127.0.0.1", str(port)]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, env=ENV, check=False)


def test_echoscu_gets_a_c_echo_response(scp: StorageSCP, log: MemoryLog) -> None:
    done = echoscu(scp.port, "-v")
    assert done.returncode == 0, done.stderr
    assert "Received Echo Response (Success)" in done.stderr
    assert signals(log) == []  # an association that stored nothing completes nothing


def test_storescu_stores_a_series_and_the_release_signals_completion(
    scp: StorageSCP, store: InstanceStore, log: MemoryLog, tmp_path: Path
) -> None:
    blobs = ct_files(5, size=64)
    done = storescu(scp.port, *write_files(blobs, tmp_path / "in"))
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("Received Store Response (Success)") == 5
    sent = [pydicom.dcmread(BytesIO(b)) for b in blobs]
    events = instance_events(log)
    assert [e.sop_instance_uid for e in events] == [ds.SOPInstanceUID for ds in sent]
    assert {(e.source, e.calling_ae) for e in events} == {("dimse", "STORESCU")}
    for ds, event in zip(sent, events, strict=True):
        back = pydicom.dcmread(event.path)
        assert back.preamble == bytes(128)
        assert back.PixelData == ds.PixelData and back.PatientID == ds.PatientID
        assert back.file_meta.TransferSyntaxUID == event.transfer_syntax_uid
    (signal,) = signals(log)
    assert (signal.scope, signal.calling_ae) == ("association", "STORESCU")
    assert signal.sop_instance_uids == tuple(ds.SOPInstanceUID for ds in sent)
    assert signal.study_instance_uids == (sent[0].StudyInstanceUID,)
    assert len(store) == 5


@pytest.mark.parametrize(("name", "option"), BUNDLED)
def test_bundled_files_are_stored_in_their_own_transfer_syntax(
    scp: StorageSCP, store: InstanceStore, name: str, option: str
) -> None:
    path = bundled(name)
    original = pydicom.dcmread(path)
    done = storescu(scp.port, path, args=(option,))
    assert done.returncode == 0, done.stderr
    stored = store.get(original.SOPInstanceUID)
    back = pydicom.dcmread(stored.path)
    syntax = original.file_meta.TransferSyntaxUID
    if syntax.is_compressed or syntax == "1.2.840.10008.1.2.1.99":
        assert stored.transfer_syntax_uid == syntax  # sent and kept as is, never decoded
    if "PixelData" in original and syntax.is_compressed:
        assert back.PixelData == original.PixelData
    assert back.SOPClassUID == original.SOPClassUID


def test_a_file_without_study_uid_is_refused_with_cannot_understand(
    scp: StorageSCP, store: InstanceStore, log: MemoryLog
) -> None:
    path = bundled("JPEGLSNearLossless_08.dcm")  # it has no Study Instance UID
    done = storescu(scp.port, path, args=("-xu",))
    assert "Received Store Response (Error: CannotUnderstand)" in done.stderr, done.stderr
    assert len(store) == 0 and instance_events(log) == []


def test_pynetdicom_sees_the_failure_statuses(
    scp: StorageSCP, store: InstanceStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pynetdicom import AE, _config

    # Send files as they are on disk: the request's SOP class then comes from the
    # file meta, so a dataset of another class can be sent under it.
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    good, no_study, wrong_class = (pydicom.dcmread(BytesIO(b)) for b in ct_files(3, size=16))
    del no_study.StudyInstanceUID
    wrong_class.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"  # MR; its file meta still says CT
    paths = []
    for n, ds in enumerate((good, no_study, wrong_class)):
        paths.append(tmp_path / f"{n}.dcm")
        ds.save_as(paths[-1], enforce_file_format=False)
    ae = AE(ae_title="PYNETDICOM")
    ae.add_requested_context(CT_IMAGE_STORAGE, "1.2.840.10008.1.2.1")
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="STREAMGALE")
    assert assoc.is_established
    statuses = [assoc.send_c_store(path) for path in paths]
    assoc.release()
    assert [s.Status for s in statuses] == [0x0000, 0xC000, 0xA900]
    assert "StudyInstanceUID is missing" in statuses[1].ErrorComment
    assert "is not the announced" in statuses[2].ErrorComment
    assert len(store) == 1 and store.get(good.SOPInstanceUID)


def test_a_resend_succeeds_without_new_events(
    scp: StorageSCP, log: MemoryLog, tmp_path: Path
) -> None:
    paths = write_files(ct_files(3, size=16), tmp_path / "in")
    assert storescu(scp.port, *paths).returncode == 0
    again = storescu(scp.port, *paths)
    assert again.returncode == 0 and again.stderr.count("(Success)") == 3
    assert len(instance_events(log)) == 3
    assert [len(s.sop_instance_uids) for s in signals(log)] == [3, 3]


def test_a_calling_ae_off_the_allow_list_is_rejected(store: InstanceStore, tmp_path: Path) -> None:
    config = ScpConfig(port=0, allowed_calling_aes=frozenset({"MODALITY1"}))
    paths = write_files(ct_files(1, size=16), tmp_path / "in")
    with StorageSCP(config, store) as server:
        refused = storescu(server.port, *paths, args=("-aet", "INTRUDER"))
        assert refused.returncode != 0
        assert "Association Rejected" in refused.stderr
        assert "Calling AE Title Not Recognized" in refused.stderr
        assert len(store) == 0
        allowed = storescu(server.port, *paths, args=("-aet", "MODALITY1"))
        assert allowed.returncode == 0, allowed.stderr
        assert len(store) == 1


def test_two_associations_at_once(
    scp: StorageSCP, store: InstanceStore, log: MemoryLog, tmp_path: Path
) -> None:
    first = write_files(ct_files(8, size=32, seed=1), tmp_path / "a")
    second = write_files(ct_files(8, size=32, seed=2), tmp_path / "b")
    processes = [
        subprocess.Popen(
            [
                dcmtk("storescu"),
                "-aet",
                aet,
                "-aec",
                "STREAMGALE",
                "127.0.0.1",
                str(scp.port),
                *map(str, paths),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=ENV,
        )
        for aet, paths in (("SENDER_A", first), ("SENDER_B", second))
    ]
    assert [p.wait(timeout=60) for p in processes] == [0, 0]
    assert len(store) == 16
    by_ae = {s.calling_ae: set(s.sop_instance_uids) for s in signals(log)}
    assert len(by_ae["SENDER_A"]) == len(by_ae["SENDER_B"]) == 8
    assert not by_ae["SENDER_A"] & by_ae["SENDER_B"]


def test_accepted_sockets_have_tcp_nodelay(scp: StorageSCP) -> None:
    with socket.create_connection(("127.0.0.1", scp.port)) as client:
        deadline = time.monotonic() + 5
        while not scp.connections() and time.monotonic() < deadline:
            time.sleep(0.01)
        (connection,) = scp.connections()
        assert connection.tcp_nodelay
        assert connection.state is AssociationState.AWAITING_ASSOCIATE_RQ
        assert connection.peer[1] == client.getsockname()[1]


def test_over_the_association_limit_is_rejected_transiently(store: InstanceStore) -> None:
    from pynetdicom import AE

    with StorageSCP(ScpConfig(port=0, max_associations=1), store) as server:
        ae = AE(ae_title="HOLDER")
        ae.add_requested_context("1.2.840.10008.1.1")
        held = ae.associate("127.0.0.1", server.port, ae_title="STREAMGALE")
        assert held.is_established
        refused = echoscu(server.port)
        held.release()
        assert refused.returncode != 0
        assert "Local Limit Exceeded" in refused.stderr


def test_garbage_is_aborted_and_the_scp_keeps_serving(scp: StorageSCP) -> None:
    with socket.create_connection(("127.0.0.1", scp.port), timeout=5) as client:
        client.sendall(b"\x09\x00\x00\x00\x00\x02hi")
        reply = client.recv(100)
    assert reply[:1] == b"\x07"  # A-ABORT
    assert echoscu(scp.port).returncode == 0


def test_stop_ends_open_associations(store: InstanceStore) -> None:
    server = StorageSCP(ScpConfig(port=0), store)
    server.start()
    client = socket.create_connection(("127.0.0.1", server.port))
    deadline = time.monotonic() + 5
    while not server.connections() and time.monotonic() < deadline:
        time.sleep(0.01)
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    stopper.join(10)
    assert not stopper.is_alive()
    assert server.connections() == []
    client.close()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ae_title", ""),
        ("ae_title", "BACK\\SLASH"),
        ("port", 70000),
        ("max_associations", 0),
        ("max_pdu", 100),
        ("allowed_calling_aes", "JUSTONE"),
        ("artim_timeout", 0),
        ("network_timeout", -1),
    ],
)
def test_bad_config_is_refused_with_its_key(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"key '{field}'"):
        ScpConfig(**{field: value})  # type: ignore[arg-type]


def test_a_connection_that_never_associates_is_aborted_by_the_artim_timer(
    store: InstanceStore,
) -> None:
    with (
        StorageSCP(ScpConfig(port=0, artim_timeout=0.3), store) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as client,
    ):
        started = time.monotonic()
        reply = client.recv(100)
        assert reply[:1] == b"\x07"  # A-ABORT
        assert 0.2 <= time.monotonic() - started < 4


def test_silent_connections_cannot_lock_senders_out(store: InstanceStore) -> None:
    config = ScpConfig(port=0, max_associations=2, artim_timeout=0.5)
    with StorageSCP(config, store) as server:
        squatters = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
        try:
            deadline = time.monotonic() + 10
            while len(server.connections()) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(server.connections()) == 3  # over the limit of 2: senders are locked out
            while server.connections() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.connections() == []  # all dropped by the ARTIM timer
            done = echoscu(server.port)
            assert done.returncode == 0, done.stderr
        finally:
            for squatter in squatters:
                squatter.close()


def test_an_idle_established_association_is_aborted_after_the_network_timeout(
    store: InstanceStore,
) -> None:
    from pynetdicom import AE

    config = ScpConfig(port=0, network_timeout=0.4, artim_timeout=30)
    with StorageSCP(config, store) as server:
        ae = AE(ae_title="IDLER")
        ae.add_requested_context("1.2.840.10008.1.1")
        assoc = ae.associate("127.0.0.1", server.port, ae_title="STREAMGALE")
        assert assoc.is_established
        deadline = time.monotonic() + 10
        while not assoc.is_aborted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert assoc.is_aborted
        assert server.connections() == []


def test_a_request_for_another_called_ae_title_is_rejected(
    store: InstanceStore, tmp_path: Path
) -> None:
    paths = write_files(ct_files(1, size=16), tmp_path / "in")
    with StorageSCP(ScpConfig(port=0, ae_title="STREAMGALE"), store) as server:
        command = [dcmtk("storescu"), "-aec", "PACS", "127.0.0.1", str(server.port)]
        refused = subprocess.run(
            [*command, *map(str, paths)], capture_output=True, text=True, timeout=30, check=False
        )
        assert refused.returncode != 0
        assert "Association Rejected" in refused.stderr
        assert "Called AE Title Not Recognized" in refused.stderr
        assert len(store) == 0


def test_accept_any_called_ae_takes_any_called_title(store: InstanceStore, tmp_path: Path) -> None:
    paths = write_files(ct_files(1, size=16), tmp_path / "in")
    config = ScpConfig(port=0, ae_title="STREAMGALE", accept_any_called_ae=True)
    with StorageSCP(config, store) as server:
        done = subprocess.run(
            [dcmtk("storescu"), "-aec", "ANY-SCP", "127.0.0.1", str(server.port), *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert len(store) == 1


def test_a_store_failure_is_out_of_resources(
    scp: StorageSCP, store: InstanceStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "put", disk_full)
    done = storescu(scp.port, *write_files(ct_files(1, size=16), tmp_path / "in"))
    assert "Received Store Response (Refused: OutOfResources)" in done.stderr, done.stderr
