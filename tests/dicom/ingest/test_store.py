"""InstanceStore: durable, deduplicated, content-addressed, announced exactly once."""

from __future__ import annotations

import hashlib
import threading
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from streamgale.dicom.ingest import InstanceStore, SopClassMismatchError
from streamgale.dicom.synthetic import ct_series
from streamgale.errors import ConfigError, DicomError, InvalidInstanceError, LogError
from streamgale.log import FsyncPolicy, MemoryLog, SegmentLog

from .helpers import abandon, bundled, ct_files, instance_events, part10, signals

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def test_put_stores_the_bytes_and_publishes_one_event(store: InstanceStore, log: MemoryLog) -> None:
    data = ct_files(1)[0]
    stored = store.put(data, source="folder", calling_ae="SCANNER")
    assert not stored.duplicate
    assert Path(stored.path).read_bytes() == data  # pydicom writes a zero preamble already
    assert stored.size == len(data) and stored.sha256 == hashlib.sha256(data).hexdigest()
    assert (stored.modality, stored.body_part_examined, stored.number_of_frames) == (
        "CT",
        "CHEST",
        1,
    )
    assert stored.series_description == "Synthetic chest CT"
    assert (stored.source, stored.calling_ae, stored.received_at) == ("folder", "SCANNER", 1234.5)
    assert instance_events(log) == [stored.event]
    assert store.get(stored.sop_instance_uid).event == stored.event
    assert store.read_bytes(stored.sop_instance_uid) == data


def test_file_is_named_by_its_hash_never_by_dicom_values(
    store: InstanceStore, tmp_path: Path
) -> None:
    ds = ct_series(slices=1, size=16)[0]
    ds.PatientName = "..^..^etc^passwd"
    ds.PatientID = "../../escape"
    stored = store.put(part10(ds), source="folder")
    relative = Path(stored.path).relative_to(tmp_path / "store")
    sha = stored.sha256
    assert relative == Path("objects", sha[:2], sha[2:4], f"{sha}.dcm")
    for value in (ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID, "escape", "CT"):
        assert value not in str(relative)


def test_preamble_is_zeroed_and_the_rest_kept(store: InstanceStore) -> None:
    data = bytearray(ct_files(1)[0])
    data[:128] = b"MZ" + b"\x90" * 126  # a polyglot executable header
    stored = store.put(bytes(data), source="folder")
    on_disk = Path(stored.path).read_bytes()
    assert on_disk[:128] == bytes(128)
    assert on_disk[128:] == bytes(data[128:])


def test_a_bare_dataset_gets_file_meta_with_its_transfer_syntax(store: InstanceStore) -> None:
    ds = ct_series(slices=1, size=16)[0]
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, True
    write_dataset(buffer, ds)
    stored = store.put(
        buffer.getvalue(), source="dimse", calling_ae="MOD", transfer_syntax_uid="1.2.840.10008.1.2"
    )
    back = pydicom.dcmread(stored.path)
    assert back.preamble == bytes(128)
    assert back.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"
    assert back.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert back.file_meta.SourceApplicationEntityTitle == "MOD"
    assert back.PixelData == ds.PixelData
    assert stored.transfer_syntax_uid == "1.2.840.10008.1.2"


@pytest.mark.parametrize(
    "name",
    ["CT_small.dcm", "MR_small_bigendian.dcm", "JPEG2000.dcm", "image_dfl.dcm", "rtplan.dcm"],
)
def test_bundled_files_are_stored_byte_for_byte(store: InstanceStore, name: str) -> None:
    data = bundled(name).read_bytes()
    stored = store.put(data, source="folder")
    expected = pydicom.dcmread(BytesIO(data), force=True)
    assert stored.sop_instance_uid == expected.SOPInstanceUID
    assert stored.transfer_syntax_uid == expected.file_meta.TransferSyntaxUID
    assert Path(stored.path).read_bytes()[128:] == data[128:]


def test_a_resend_is_a_duplicate_and_publishes_nothing(
    store: InstanceStore, log: MemoryLog
) -> None:
    data = ct_files(1)[0]
    first = store.put(data, source="dimse")
    again = store.put(data, source="stow")
    assert again.duplicate and again.event == first.event
    assert len(instance_events(log)) == 1
    assert len(store) == 1


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda ds: delattr(ds, "SOPInstanceUID"), "SOPInstanceUID is missing"),
        (lambda ds: delattr(ds, "StudyInstanceUID"), "StudyInstanceUID is missing"),
        (lambda ds: setattr(ds, "SeriesInstanceUID", "../../x"), "not a UID"),
    ],
)
def test_missing_or_bad_uids_are_refused(
    store: InstanceStore, log: MemoryLog, mutate: object, reason: str
) -> None:
    ds = ct_series(slices=1, size=16)[0]
    mutate(ds)  # type: ignore[operator]
    with pytest.raises(InvalidInstanceError, match=reason):
        store.put(part10(ds), source="folder")
    assert instance_events(log) == [] and len(store) == 0


def test_unreadable_and_oversized_bytes_are_refused(tmp_path: Path, log: MemoryLog) -> None:
    store = InstanceStore(tmp_path / "s", log, max_instance_bytes=10_000)
    with pytest.raises(InvalidInstanceError, match=r"not a readable DICOM dataset|not DICOM"):
        store.put(b"\x00" * 200 + b"garbage", source="folder")
    with pytest.raises(InvalidInstanceError, match="over the limit of 10000"):
        store.put(ct_files(1, size=128)[0], source="folder")
    assert list((tmp_path / "s" / "objects").rglob("*.dcm")) == []
    store.close()


def test_a_sop_class_other_than_announced_is_refused(store: InstanceStore) -> None:
    with pytest.raises(SopClassMismatchError, match="is not the announced"):
        store.put(ct_files(1)[0], source="dimse", sop_class_uid=MR_IMAGE_STORAGE)


def test_durable_across_reopen_with_a_segment_log(tmp_path: Path) -> None:
    blobs = ct_files(3)
    with SegmentLog(tmp_path / "log", fsync=FsyncPolicy.ALWAYS) as log:
        store = InstanceStore(tmp_path / "store", log)
        uids = [store.put(b, source="dimse").sop_instance_uid for b in blobs]
        store.close()
    with SegmentLog(tmp_path / "log", fsync=FsyncPolicy.ALWAYS) as log:
        store = InstanceStore(tmp_path / "store", log)
        assert [store.read_bytes(u) for u in uids] == blobs
        assert store.put(blobs[0], source="dimse").duplicate
        assert [e.sop_instance_uid for e in instance_events(log)] == uids
        store.close()


def test_direct_path_crash_between_write_and_publish_is_published_on_reopen(
    tmp_path: Path, log: MemoryLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = ct_files(1)[0]
    store = InstanceStore(tmp_path / "store", log, fsync=False)  # no journal: the direct path

    def crash(*args: object) -> int:
        raise LogError("simulated crash before the append")

    monkeypatch.setattr(log, "append", crash)
    with pytest.raises(LogError):
        store.put(data, source="dimse")  # no acknowledgement was sent
    monkeypatch.undo()
    assert instance_events(log) == []
    abandon(store)  # the process dies before the sender could resend
    reopened = InstanceStore(tmp_path / "store", log, fsync=False)  # reopening republishes
    assert [e.sha256 for e in instance_events(log)] == [hashlib.sha256(data).hexdigest()]
    assert reopened.republish_pending() == 0
    assert reopened.put(data, source="dimse").duplicate
    assert len(instance_events(log)) == 1


def test_direct_path_resend_after_the_crash_publishes_the_pending_instance(
    tmp_path: Path, log: MemoryLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = ct_files(1)[0]
    store = InstanceStore(tmp_path / "store", log, fsync=False)
    real_append = log.append
    monkeypatch.setattr(log, "append", lambda *a: (_ for _ in ()).throw(LogError("down")))
    with pytest.raises(LogError):
        store.put(data, source="dimse")
    monkeypatch.setattr(log, "append", real_append)
    assert store.put(data, source="dimse").duplicate  # the sender's retry
    assert len(instance_events(log)) == 1


def test_direct_path_crash_after_the_append_does_not_publish_twice(
    tmp_path: Path, log: MemoryLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = InstanceStore(tmp_path / "store", log, fsync=False)
    index = store._index  # the crash point: the event is in the log, the row not marked

    def crash(*args: object) -> None:
        raise OSError("simulated crash after the append")

    monkeypatch.setattr(index, "mark_published", crash)
    with pytest.raises(OSError):
        store.put(ct_files(1)[0], source="dimse")
    monkeypatch.undo()
    abandon(store)
    InstanceStore(tmp_path / "store", log, fsync=False)
    assert len(instance_events(log)) == 1


def test_an_index_that_lost_rows_is_rebuilt_from_the_log(tmp_path: Path, log: MemoryLog) -> None:
    blobs = ct_files(2)
    store = InstanceStore(tmp_path / "store", log)
    uids = [store.put(b, source="dimse").sop_instance_uid for b in blobs]
    store.close()
    for path in (tmp_path / "store").glob("index.sqlite*"):
        path.unlink()  # as if a power loss rolled the index back to empty
    reopened = InstanceStore(tmp_path / "store", log)
    assert [reopened.read_bytes(u) for u in uids] == blobs
    assert reopened.put(blobs[1], source="dimse").duplicate
    assert len(instance_events(log)) == 2


def test_concurrent_puts_store_each_uid_once(store: InstanceStore, log: MemoryLog) -> None:
    blobs = ct_files(12, size=16)
    errors: list[BaseException] = []

    def send(offset: int) -> None:
        try:
            for n in range(len(blobs)):
                store.put(blobs[(n + offset) % len(blobs)], source="dimse")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    uids = [e.sop_instance_uid for e in instance_events(log)]
    assert len(uids) == len(set(uids)) == 12


def test_signal_complete_lists_studies_series_and_known_instances(
    store: InstanceStore, log: MemoryLog
) -> None:
    stored = [store.put(b, source="stow") for b in ct_files(3)]
    signal = store.signal_complete("stow", "AE", [s.sop_instance_uid for s in stored] + ["9.9"])
    assert signals(log) == [signal]
    assert signal.sop_instance_uids == tuple(s.sop_instance_uid for s in stored)
    assert signal.study_instance_uids == (stored[0].study_instance_uid,)
    assert signal.series_instance_uids == (stored[0].series_instance_uid,)
    assert store.study(stored[0].study_instance_uid)[0].study_instance_uid == (
        stored[0].study_instance_uid
    )


def test_get_of_an_unknown_uid_raises_key_error(store: InstanceStore) -> None:
    with pytest.raises(KeyError, match=r"1\.2\.3"):
        store.get("1.2.3")


def test_a_topic_with_several_partitions_is_refused(tmp_path: Path, log: MemoryLog) -> None:
    log.create_topic("instances", 2)
    with pytest.raises(ConfigError, match="exactly 1"):
        InstanceStore(tmp_path / "s", log)


def test_put_publishes_before_it_returns(tmp_path: Path, log: MemoryLog) -> None:
    store = InstanceStore(tmp_path / "store", log)
    stored = store.put(ct_files(1)[0], source="dimse")
    # The event is in the log, and the file in place, when the door acknowledges.
    assert [e.sop_instance_uid for e in instance_events(log)] == [stored.sop_instance_uid]
    assert Path(stored.path).is_file()
    store.close()


def test_a_second_store_on_one_directory_is_refused(tmp_path: Path, log: MemoryLog) -> None:
    store = InstanceStore(tmp_path / "store", log)
    with pytest.raises(DicomError, match="is open in another InstanceStore or process"):
        InstanceStore(tmp_path / "store", log)
    store.close()
    InstanceStore(tmp_path / "store", log).close()  # free again once closed


def test_a_journal_left_by_an_earlier_version_is_refused_with_what_to_do(
    tmp_path: Path, log: MemoryLog
) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "journal").write_bytes(bytes(4096))
    with pytest.raises(DicomError, match="open the store once with that version"):
        InstanceStore(tmp_path / "store", log)
    (tmp_path / "store" / "journal").unlink()
    InstanceStore(tmp_path / "store", log).close()  # the lock was released by the failure


def test_after_a_power_loss_an_event_whose_file_never_landed_is_forgotten(
    tmp_path: Path, log: MemoryLog
) -> None:
    data = ct_files(1)[0]
    store = InstanceStore(tmp_path / "store", log)
    stored = store.put(data, source="dimse")
    abandon(store)  # the event's flush landed, the file's had not: power lost
    Path(stored.path).write_bytes(data[: len(data) // 3])
    reopened = InstanceStore(tmp_path / "store", log)
    with pytest.raises(KeyError):
        reopened.get(stored.sop_instance_uid)  # never acknowledged: forgotten
    again = reopened.put(data, source="dimse")  # so the sender's resend is stored anew
    assert not again.duplicate
    assert reopened.read_bytes(stored.sop_instance_uid) == data
    assert [e.sha256 for e in instance_events(log)] == [stored.sha256] * 2
    reopened.close()


def test_a_clean_close_spares_the_next_open_the_check_and_a_crash_does_not(
    tmp_path: Path, log: MemoryLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamgale.dicom.ingest.objects import ObjectFiles

    store = InstanceStore(tmp_path / "store", log)
    store.put(ct_files(1)[0], source="dimse")
    store.close()
    checked: list[Path] = []
    real_verify = ObjectFiles.verify

    def verify(self: ObjectFiles, path: Path, sha256: str) -> bool:
        checked.append(path)
        return real_verify(self, path, sha256)

    monkeypatch.setattr(ObjectFiles, "verify", verify)
    reopened = InstanceStore(tmp_path / "store", log)
    assert checked == []  # closed cleanly: every file the log names is durable
    abandon(reopened)  # this time the process dies
    InstanceStore(tmp_path / "store", log).close()
    assert len(checked) == 1


def test_a_close_on_a_full_disk_still_closes_and_the_next_open_checks(
    tmp_path: Path, log: MemoryLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamgale.dicom.ingest.recovery as module

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    store = InstanceStore(tmp_path / "store", log)
    stored = store.put(ct_files(1)[0], source="dimse")
    monkeypatch.setattr(module, "atomic_write", full)
    store.close()  # no clean mark, and no error
    monkeypatch.undo()
    assert not (tmp_path / "store" / "clean").exists()
    Path(stored.path).unlink()  # so the check that now runs has something to find
    reopened = InstanceStore(tmp_path / "store", log)
    with pytest.raises(KeyError):
        reopened.get(stored.sop_instance_uid)
    reopened.close()


def test_a_stored_uid_in_another_study_is_refused_not_dropped(store: InstanceStore) -> None:
    first = ct_series(slices=1, size=16, seed=31)[0]
    store.put(part10(first), source="stow")
    other = ct_series(slices=1, size=16, seed=32)[0]
    other.SOPInstanceUID = first.SOPInstanceUID  # two different images, one UID
    with pytest.raises(InvalidInstanceError, match="two different instances share a UID"):
        store.put(part10(other), source="stow")
    assert store.put(part10(first), source="stow").duplicate  # a true resend stays harmless


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the instance is empty"),
        (b"%PDF-1.4 not an image at all", "the bytes are not DICOM"),
    ],
)
def test_empty_or_non_dicom_bytes_are_refused_with_what_they_are(
    store: InstanceStore, data: bytes, reason: str
) -> None:
    with pytest.raises(InvalidInstanceError, match=reason):
        store.put(data, source="stow")


def test_a_file_that_cannot_be_written_leaves_no_row_to_announce(
    store: InstanceStore, log: MemoryLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamgale.dicom.ingest.objects as objects

    def full(fd: int, chunks: object) -> None:
        raise OSError(28, "No space left on device")

    data = ct_files(1)[0]
    monkeypatch.setattr(objects, "_write_all", full)
    with pytest.raises(OSError, match="No space"):
        store.put(data, source="dimse")
    monkeypatch.undo()
    assert store._index.pending() == [] and instance_events(log) == []
    again = store.put(data, source="dimse")  # the sender's retry is stored, not a duplicate
    assert not again.duplicate and store.read_bytes(again.sop_instance_uid) == data
