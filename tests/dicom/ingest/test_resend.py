"""A resend of an instance that ended in the quarantine is a new version; reprocess requests."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamgale.dicom.ingest import InstanceEvent, InstanceStore
from streamgale.dicom.ingest.reprocess import request_reprocess
from streamgale.dicom.synthetic import ct_series
from streamgale.errors import DicomError
from streamgale.log import FsyncPolicy, MemoryLog, SegmentLog

from .helpers import abandon, instance_events, part10


class _Quarantine:
    """Stands in for the quarantine: which SOP Instance UIDs ended there, and when."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    def holds(self, event: InstanceEvent) -> bool:
        return event.sop_instance_uid in self.at and self.at[event.sop_instance_uid] >= (
            event.received_at
        )


def _pair() -> tuple[bytes, bytes]:
    """The same instance twice: as first sent, and corrected (other bytes, same UIDs)."""
    ds = ct_series(slices=1, size=16, seed=1)[0]
    first = part10(ds)
    ds.BodyPartExamined = "ABDOMEN"
    return first, part10(ds)


def test_a_corrected_resend_of_a_quarantined_instance_is_a_new_version(tmp_path: Path) -> None:
    log, quarantine, now = MemoryLog(), _Quarantine(), [100.0]
    store = InstanceStore(tmp_path / "s", log, clock=lambda: now[0], supersedes=quarantine.holds)
    first, corrected = _pair()
    stored = store.put(first, source="dimse")
    assert store.put(first, source="dimse").duplicate  # a plain resend stays a duplicate
    quarantine.at[stored.sop_instance_uid] = 101.0  # the pipeline quarantined it
    now[0] = 200.0
    again = store.put(corrected, source="dimse")
    assert not again.duplicate
    assert again.body_part_examined == "ABDOMEN" and again.received_at == 200.0
    assert [e.body_part_examined for e in instance_events(log)] == ["CHEST", "ABDOMEN"]
    assert store.read_bytes(stored.sop_instance_uid) == corrected
    assert not Path(stored.path).exists()  # the quarantine keeps its own copy
    # Processed once more without quarantine, a further resend is a duplicate again.
    assert store.put(corrected, source="dimse").duplicate
    assert len(instance_events(log)) == 2
    store.close()


def test_the_new_version_survives_a_crash_that_lost_the_index_update(tmp_path: Path) -> None:
    log = SegmentLog(tmp_path / "log", fsync=FsyncPolicy.ALWAYS)
    quarantine = _Quarantine()
    now = [100.0]
    first, corrected = _pair()
    store = InstanceStore(tmp_path / "s", log, clock=lambda: now[0])
    stored = store.put(first, source="dimse")
    store.close()
    quarantine.at[stored.sop_instance_uid] = 150.0
    now[0] = 200.0
    store = InstanceStore(tmp_path / "s", log, clock=lambda: now[0], supersedes=quarantine.holds)
    store._index.replace = lambda event, log_hint: None  # type: ignore[method-assign]
    store._index.mark_published = lambda event, offset: None  # type: ignore[method-assign]
    store.put(corrected, source="dimse")  # the row update is lost, the log has the event
    abandon(store)
    reopened = InstanceStore(tmp_path / "s", log)
    assert reopened.get(stored.sop_instance_uid).body_part_examined == "ABDOMEN"
    assert reopened.read_bytes(stored.sop_instance_uid) == corrected
    reopened.close()
    log.close()


def test_reprocess_requests_publish_a_study_series_or_instance_again(
    tmp_path: Path, log: MemoryLog
) -> None:
    store = InstanceStore(tmp_path / "s", log)
    series = ct_series(slices=3, size=16, seed=2)
    for ds in series:
        store.put(part10(ds), source="dimse")
    study, sop = str(series[0].StudyInstanceUID), str(series[1].SOPInstanceUID)
    assert len(request_reprocess(tmp_path / "s", study)) == 3
    assert request_reprocess(tmp_path / "s", sop) == [sop]
    assert store.reprocess_requested() == 4
    republished = instance_events(log)[3:]
    assert [e.source for e in republished] == ["release"] * 4
    assert republished[-1].sop_instance_uid == sop
    assert store.reprocess_requested() == 0  # carried out once
    store.close()


def test_reprocess_of_an_unknown_uid_says_so(tmp_path: Path, log: MemoryLog) -> None:
    InstanceStore(tmp_path / "s", log).close()
    with pytest.raises(DicomError, match="no stored instance has study, series or SOP"):
        request_reprocess(tmp_path / "s", "1.2.3.4")
