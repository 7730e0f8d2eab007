"""The folder door: settle, ingest, move aside, reject with a reason, signal the batch."""

from __future__ import annotations

import time
from pathlib import Path

import pydicom
import pytest

from streamgale.dicom.ingest import InstanceStore
from streamgale.dicom.ingest.folder import FolderWatcher
from streamgale.errors import ConfigError
from streamgale.log import MemoryLog

from .helpers import ct_files, instance_events, signals, write_files


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_settled_files_are_stored_moved_and_signalled(
    tmp_path: Path, store: InstanceStore, log: MemoryLog
) -> None:
    inbox = tmp_path / "inbox"
    blobs = ct_files(3, size=16)
    write_files(blobs[:2], inbox)
    write_files(blobs[2:], inbox / "study" / "series")
    watcher = FolderWatcher(inbox, store, settle=0.0)
    first = watcher.scan_once()
    assert first.stored == () and first.waiting == 3  # seen once: maybe still being written
    second = watcher.scan_once()
    assert len(second.stored) == 3 and second.waiting == 0
    assert {e.source for e in instance_events(log)} == {"folder"}
    assert sorted(p.name for p in (inbox / ".done").rglob("*.dcm")) == [
        "0000.dcm",
        "0000.dcm",
        "0001.dcm",
    ]
    assert (inbox / ".done" / "study" / "series" / "0000.dcm").read_bytes() == blobs[2]
    assert [p for p in inbox.rglob("*.dcm") if ".done" not in p.parts] == []
    (signal,) = signals(log)
    assert signal.scope == "folder" and len(signal.sop_instance_uids) == 3


def test_a_file_still_growing_waits(tmp_path: Path, store: InstanceStore) -> None:
    clock = Clock()
    watcher = FolderWatcher(tmp_path / "inbox", store, settle=2.0, clock=clock)
    data = ct_files(1, size=32)[0]
    path = tmp_path / "inbox" / "growing.dcm"
    path.write_bytes(data[:1000])
    assert watcher.scan_once().waiting == 1
    clock.now = 5.0
    with path.open("ab") as handle:
        handle.write(data[1000:])  # it changed: the settle time starts again
    assert watcher.scan_once().waiting == 1
    clock.now = 6.0
    assert watcher.scan_once().waiting == 1  # unchanged, but only for 1 s of 2
    clock.now = 7.5
    (stored,) = watcher.scan_once().stored
    assert Path(stored.path).read_bytes() == data


def test_junk_is_rejected_with_a_reason_and_kept(
    tmp_path: Path, store: InstanceStore, log: MemoryLog
) -> None:
    inbox = tmp_path / "inbox"
    no_uid = pydicom.dcmread(write_files(ct_files(1, size=16), inbox)[0])
    del no_uid.SeriesInstanceUID
    no_uid.save_as(inbox / "0000.dcm", enforce_file_format=True)
    (inbox / "notes.txt").write_text("not DICOM at all")
    watcher = FolderWatcher(inbox, store, settle=0.0)
    watcher.scan_once()
    result = watcher.scan_once()
    assert sorted(p.name for p in result.rejected) == ["0000.dcm", "notes.txt"]
    rejected = inbox / ".rejected"
    assert (rejected / "notes.txt").read_text() == "not DICOM at all"
    reason = (rejected / "0000.dcm.reason.txt").read_text()
    assert "SeriesInstanceUID is missing" in reason
    assert (rejected / "notes.txt.reason.txt").read_text().startswith("notes.txt: ")
    assert instance_events(log) == [] and signals(log) == []


def test_a_resend_is_moved_to_done_without_a_new_event(
    tmp_path: Path, store: InstanceStore, log: MemoryLog
) -> None:
    data = ct_files(1, size=16)[0]
    inbox = tmp_path / "inbox"
    watcher = FolderWatcher(inbox, store, settle=0.0)
    for _ in range(2):
        (inbox / "same.dcm").write_bytes(data)
        watcher.scan_once()
        watcher.scan_once()
    assert len(instance_events(log)) == 1
    assert sorted(p.name for p in (inbox / ".done").iterdir()) == ["same.1.dcm", "same.dcm"]


def test_hidden_files_and_symlinks_are_ignored(tmp_path: Path, store: InstanceStore) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = write_files(ct_files(1, size=16), outside)[0]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / ".partial.dcm").write_bytes(target.read_bytes())
    (inbox / "link.dcm").symlink_to(target)
    watcher = FolderWatcher(inbox, store, settle=0.0)
    watcher.scan_once()
    assert watcher.scan_once() == type(watcher.scan_once())()
    assert len(store) == 0 and target.exists()


def test_the_thread_picks_up_dropped_files(tmp_path: Path, store: InstanceStore) -> None:
    inbox = tmp_path / "inbox"
    watcher = FolderWatcher(inbox, store, poll_interval=0.05, settle=0.0)
    watcher.start()
    try:
        staged = write_files(ct_files(2, size=16), inbox / ".staging")
        for path in staged:  # written elsewhere, renamed in: complete at once
            path.rename(inbox / path.name)
        deadline = time.monotonic() + 10
        while len(store) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        watcher.stop()
    assert len(store) == 2
    assert sorted(p.name for p in (inbox / ".done").iterdir()) == ["0000.dcm", "0001.dcm"]


@pytest.mark.parametrize(("key", "value"), [("poll_interval", 0.0), ("settle", -1.0)])
def test_bad_settings_are_refused(
    tmp_path: Path, store: InstanceStore, key: str, value: float
) -> None:
    with pytest.raises(ConfigError, match=key):
        FolderWatcher(tmp_path, store, **{key: value})  # type: ignore[arg-type]
