"""The radiology pipeline end to end: dcmtk storescu -> our SCP -> AI -> SR/SEG in the study."""

from __future__ import annotations

import time
from pathlib import Path

import pydicom
import pytest

from streamgale.dicom.ingest.scp import ScpConfig
from streamgale.dicom.routing import Route
from streamgale.dicom.synthetic import ct_series, write_instances
from streamgale.service import RadiologyService
from tests.dicom.radiology.helpers import (
    fast_settings,
    organs_model,
    running,
    send_with_storescu,
    wait_for_results,
)


@pytest.fixture
def app(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = fast_settings(
        tmp_path,
        models=(organs_model(tmp_path, thresholds={"organ": 0.5}),),
        routes=(Route("ct", modalities={"CT"}, models=("organs",)),),
        dimse=ScpConfig(port=0),
        folder=None,
    )
    with running(settings) as app:
        yield app


def test_a_study_sent_with_storescu_gets_sr_and_seg_in_the_same_study(
    app: RadiologyService, tmp_path: Path
) -> None:
    series = ct_series(slices=6, size=64, lesion=True, seed=3)
    send_with_storescu(app, write_instances(series, tmp_path / "send"))
    wait_for_results(app, 1)
    [summary] = app.summaries
    study_uid = str(series[0].StudyInstanceUID)
    assert summary.study_instance_uid == study_uid
    assert summary.instances == 6 and summary.quarantined == 0
    assert summary.present and summary.version == 1
    assert summary.sr_path is not None and summary.seg_path is not None
    sr = pydicom.dcmread(summary.sr_path)
    seg = pydicom.dcmread(summary.seg_path)
    source_series = {str(ds.SeriesInstanceUID) for ds in series}
    for obj in (sr, seg):
        assert str(obj.StudyInstanceUID) == study_uid
        assert str(obj.SeriesInstanceUID) not in source_series
    referenced = {
        str(item.ReferencedSOPInstanceUID)
        for evidence in sr.CurrentRequestedProcedureEvidenceSequence
        for ser in evidence.ReferencedSeriesSequence
        for item in ser.ReferencedSOPSequence
    }
    # The evidence lists every source image, and the SEG the SR's findings point to.
    assert referenced == {str(ds.SOPInstanceUID) for ds in series} | {str(seg.SOPInstanceUID)}
    assert "total" in summary.timings_ms and summary.timings_ms["infer"] >= 0
    [stored] = app.results.list(study_instance_uid=study_uid)
    assert stored.result_id == summary.result_id


def test_an_invalid_instance_is_quarantined_and_its_study_still_completes(
    app: RadiologyService, tmp_path: Path
) -> None:
    series = ct_series(slices=3, size=64, seed=4)
    series[1].Rows = 3  # pixel data no longer matches: validation refuses it
    send_with_storescu(app, write_instances(series, tmp_path / "send"))
    wait_for_results(app, 1)
    [summary] = app.summaries
    assert summary.instances == 2 and summary.quarantined == 1
    [entry] = app.quarantine.list()
    assert entry.sop_instance_uid == str(series[1].SOPInstanceUID)
    assert entry.stage == "validation"
    assert "Rows" in entry.reason


def test_files_dropped_in_the_inbox_folder_get_results(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    settings = fast_settings(
        tmp_path,
        models=(organs_model(tmp_path),),
        routes=(Route("ct", modalities={"CT"}, models=("organs",)),),
    )
    with running(settings) as app:
        series = ct_series(slices=4, size=64, seed=5)
        write_instances(series, tmp_path / "staging")
        for path in sorted((tmp_path / "staging").iterdir()):
            path.rename(inbox / path.name)  # atomic, as a careful writer would
        wait_for_results(app, 1)
        [summary] = app.summaries
        assert summary.instances == 4
        assert len(list((inbox / ".done").iterdir())) == 4


def test_a_released_instance_goes_through_the_pipeline_again(tmp_path: Path) -> None:
    from streamgale.dicom.quality import QuarantineStatus, ValidationLimits

    settings = fast_settings(
        tmp_path,
        models=(organs_model(tmp_path),),
        routes=(Route("ct", modalities={"CT"}, models=("organs",)),),
        dimse=ScpConfig(port=0),
        folder=None,
        limits=ValidationLimits(max_rows=32),  # 64-row images are refused into quarantine
    )
    with running(settings) as app:
        series = ct_series(slices=1, size=64, seed=6)
        send_with_storescu(app, write_instances(series, tmp_path / "send"))
        deadline = time.monotonic() + 30
        while not app.quarantine.list() and time.monotonic() < deadline:
            time.sleep(0.05)
        [first] = app.quarantine.list()
        assert app.quarantine.request_release([first.id]) == 1
        assert app.app.release_requested() == 1
        while len(app.quarantine.list()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        entries = {e.id: e for e in app.quarantine.list()}
        assert entries[first.id].status is QuarantineStatus.RELEASED
        [again] = [e for e in entries.values() if e.id != first.id]
        # Processed anew: refused again by the same limits, as a new entry with its reason.
        assert again.sop_instance_uid == first.sop_instance_uid
        assert "Rows" in again.reason
