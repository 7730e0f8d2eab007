"""Writing behind the acknowledgement: resends caught in flight, the journal redoes lost work."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from streamgale.dicom.ingest import InstanceStore
from streamgale.dicom.ingest.objects import ObjectFiles
from streamgale.log import MemoryLog

from .helpers import abandon, ct_files, instance_events


def test_a_resend_while_the_first_copy_is_in_flight_is_a_duplicate(
    tmp_path: Path, log: MemoryLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = InstanceStore(tmp_path / "store", log)
    gate = threading.Event()
    real = ObjectFiles.materialize

    def held_back(self: ObjectFiles, *args: object) -> Path:
        gate.wait(10)
        return real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ObjectFiles, "materialize", held_back)
    data = ct_files(1)[0]
    first = store.put(data, source="dimse", wait_for_publication=False)
    again = store.put(data, source="dimse", wait_for_publication=False)
    assert not first.duplicate and again.duplicate and again.event == first.event
    assert instance_events(log) == []  # acknowledged, not yet announced
    gate.set()
    assert store.read_bytes(first.sop_instance_uid) == data  # reading waits for the announcement
    assert instance_events(log) == [first.event]
    store.close()


def test_reopening_writes_the_files_and_events_a_crash_kept_back(
    tmp_path: Path, log: MemoryLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = InstanceStore(tmp_path / "store", log)

    def dies_first(self: ObjectFiles, *args: object) -> Path:
        raise OSError("the process is being killed")

    monkeypatch.setattr(ObjectFiles, "materialize", dies_first)
    blobs = ct_files(3)
    acknowledged = [store.put(b, source="dimse", wait_for_publication=False) for b in blobs]
    abandon(store)
    monkeypatch.undo()
    assert instance_events(log) == [] and not list((tmp_path / "store" / "objects").rglob("*.dcm"))

    reopened = InstanceStore(tmp_path / "store", log)
    assert [e.sop_instance_uid for e in instance_events(log)] == [
        s.sop_instance_uid for s in acknowledged
    ]
    assert [reopened.read_bytes(s.sop_instance_uid) for s in acknowledged] == blobs
    reopened.close()


def test_after_a_power_loss_lost_files_and_log_records_are_redone(tmp_path: Path) -> None:
    blobs = ct_files(3)
    store = InstanceStore(tmp_path / "store", MemoryLog())
    stored = [store.put(b, source="dimse") for b in blobs]
    abandon(store)  # no checkpoint: the files and the log were never flushed
    Path(stored[0].path).unlink()  # its data never reached the disk
    with open(stored[1].path, "r+b") as handle:  # half of it did
        handle.truncate(len(blobs[1]) // 2)
    survivor = MemoryLog()  # the log lost every record since its last sync

    reopened = InstanceStore(tmp_path / "store", survivor)
    assert [e.sha256 for e in instance_events(survivor)] == [
        hashlib.sha256(b).hexdigest() for b in blobs
    ]
    assert [reopened.read_bytes(s.sop_instance_uid) for s in stored] == blobs
    assert reopened.republish_pending() == 0
    reopened.close()


def test_checkpointed_instances_are_not_replayed(tmp_path: Path, log: MemoryLog) -> None:
    store = InstanceStore(tmp_path / "store", log)
    for blob in ct_files(2):
        store.put(blob, source="dimse")
    store.close()  # a clean close checkpoints everything
    for path in (tmp_path / "store" / "objects").rglob("*.dcm"):
        path.unlink()  # were the journal replayed, these would come back
    InstanceStore(tmp_path / "store", log).close()
    assert not list((tmp_path / "store" / "objects").rglob("*.dcm"))
    assert len(instance_events(log)) == 2


def test_an_instance_over_half_the_journal_takes_the_direct_path(
    tmp_path: Path, log: MemoryLog
) -> None:
    store = InstanceStore(tmp_path / "store", log, journal_bytes=1024 * 1024)
    data = ct_files(1, size=512)[0]
    assert len(data) > 512 * 1024
    stored = store.put(data, source="dimse", wait_for_publication=False)
    assert Path(stored.path).read_bytes() == data  # written before put returned
    assert instance_events(log) == [stored.event]
    assert (tmp_path / "store" / "journal").stat().st_size <= 8192  # header slots, no record
    store.close()


def test_a_second_store_on_the_same_directory_is_refused(tmp_path: Path, log: MemoryLog) -> None:
    from streamgale.errors import DicomError

    store = InstanceStore(tmp_path / "store", log)
    with pytest.raises(DicomError, match="open in another InstanceStore"):
        InstanceStore(tmp_path / "store", log)
    store.close()
    InstanceStore(tmp_path / "store", log).close()
