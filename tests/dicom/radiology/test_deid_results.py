"""On a de-identifying route, the results that go out name no patient.

The SR and SEG are rendered from the de-identified sources: pseudonymised
UIDs (so they land in the de-identified study), no patient name or ID, and
Patient Identity Removed set. A late series updates the result in that same
de-identified study.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.datadict import DicomDictionary
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from streamgale.dicom.deid import DeidConfig, Option
from streamgale.dicom.deid.pseudonyms import Pseudonymizer
from streamgale.dicom.routing import Route
from streamgale.dicom.synthetic import ct_series, write_instances
from streamgale.service import RadiologyService
from tests.dicom.radiology.helpers import fast_settings, organs_model, running, wait_for_results

SECRET = b"0123456789abcdef-test-secret"


@pytest.fixture
def app(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = fast_settings(
        tmp_path,
        models=(organs_model(tmp_path),),
        routes=(Route("research", modalities={"CT"}, models=("organs",), deidentify=True),),
        deid=DeidConfig(secret=SECRET),
        telemetry=False,
    )
    with running(settings) as app:
        yield app


def test_results_of_a_deidentifying_route_are_rendered_from_deidentified_sources(
    app: RadiologyService, tmp_path: Path
) -> None:
    series = ct_series(slices=4, size=64, lesion=True, seed=11)
    for ds in series:
        ds.PatientName = "Doe^Jane"
        ds.PatientID = "MRN-12345"
    write_instances(series, tmp_path / "inbox")
    wait_for_results(app, 1)
    [summary] = app.summaries
    assert summary.sr_path is not None and summary.seg_path is not None
    pseudonyms = Pseudonymizer(SECRET)
    study = pseudonyms.uid(str(series[0].StudyInstanceUID))
    sources = {pseudonyms.uid(str(ds.SOPInstanceUID)) for ds in series}
    for path in (summary.sr_path, summary.seg_path):
        obj = pydicom.dcmread(path)
        assert str(obj.StudyInstanceUID) == study
        assert str(obj.PatientName) != "Doe^Jane" and "Doe" not in str(obj.PatientName)
        assert str(obj.PatientID) != "MRN-12345"
        assert obj.PatientIdentityRemoved == "YES"
        raw = Path(path).read_bytes()
        assert b"Doe^Jane" not in raw and b"MRN-12345" not in raw
        assert str(series[0].StudyInstanceUID).encode() not in raw
    sr = pydicom.dcmread(summary.sr_path)
    referenced = {
        str(item.ReferencedSOPInstanceUID)
        for evidence in sr.CurrentRequestedProcedureEvidenceSequence
        for ser in evidence.ReferencedSeriesSequence
        for item in ser.ReferencedSOPSequence
    }
    assert sources <= referenced


def test_a_late_series_updates_the_deidentified_result(
    app: RadiologyService, tmp_path: Path
) -> None:
    first = ct_series(slices=3, size=64, lesion=True, seed=12)
    write_instances(first, tmp_path / "inbox")
    wait_for_results(app, 1)
    late = ct_series(slices=2, size=64, lesion=False, seed=13)
    for ds in late:
        ds.StudyInstanceUID = first[0].StudyInstanceUID
        ds.PatientID = first[0].PatientID
    write_instances(late, tmp_path / "inbox")
    wait_for_results(app, 2)
    update = app.summaries[1]
    assert update.version == 2
    assert update.sr_path is not None
    sr = pydicom.dcmread(update.sr_path)
    pseudonyms = Pseudonymizer(SECRET)
    referenced = {
        str(item.ReferencedSOPInstanceUID)
        for evidence in sr.CurrentRequestedProcedureEvidenceSequence
        for ser in evidence.ReferencedSeriesSequence
        for item in ser.ReferencedSOPSequence
    }
    # The update covers both versions' images, all under their pseudonyms.
    assert {pseudonyms.uid(str(ds.SOPInstanceUID)) for ds in first + late} <= referenced
    assert str(sr.StudyInstanceUID) == pseudonyms.uid(str(first[0].StudyInstanceUID))


MARKER = "PHIMARK"
TEXT_VRS = ("PN", "LO", "SH", "LT", "ST", "UT", "UC")


def plant_everywhere(ds: Any) -> int:
    """Put MARKER in every text attribute of ``ds`` and of the data dictionary
    (single-valued, not retired, outside the File Meta), nested in a sequence
    too; returns how many attributes carry it."""
    planted = 0
    for tag, (vr, vm, _name, retired, _keyword) in DicomDictionary.items():
        if vr not in TEXT_VRS or vm != "1" or retired or tag >> 16 in (0x0000, 0x0002, 0xFFFE):
            continue
        if tag in (0x00100020,):  # Patient ID keys the pseudonym: planted below instead
            continue
        ds.add(DataElement(tag, vr, f"{MARKER}^{MARKER}" if vr == "PN" else MARKER))
        planted += 1
    ds.PatientID = f"{MARKER}-ID"
    item = Dataset()
    item.RequestedProcedureDescription = MARKER
    item.ReasonForTheRequestedProcedure = f"seen by {MARKER}"
    item.ScheduledProcedureStepDescription = MARKER
    ds.RequestAttributesSequence = [item]
    return planted + 4


@pytest.mark.parametrize(
    "options",
    [frozenset(), frozenset({Option.CLEAN_DESCRIPTORS, Option.RETAIN_DEVICE_IDENTITY})],
    ids=["basic", "clean-descriptors"],
)
def test_results_carry_no_text_of_the_source_whatever_the_options(
    tmp_path: Path, options: frozenset[Option]
) -> None:
    series = ct_series(slices=3, size=64, lesion=True, seed=21)
    planted = [plant_everywhere(ds) for ds in series]
    assert min(planted) > 500, "the test must plant in hundreds of attributes"
    settings = fast_settings(
        tmp_path,
        models=(organs_model(tmp_path),),
        routes=(Route("research", modalities={"CT"}, models=("organs",), deidentify=True),),
        deid=DeidConfig(secret=SECRET, options=options),
        telemetry=False,
    )
    with running(settings) as app:
        write_instances(series, tmp_path / "inbox")
        wait_for_results(app, 1)
        [summary] = app.summaries
    assert summary.sr_path is not None and summary.seg_path is not None
    for path in (summary.sr_path, summary.seg_path):
        raw = Path(path).read_bytes()
        assert MARKER.encode() not in raw, f"{Path(path).name} carries planted text"
        assert pydicom.dcmread(path).PatientIdentityRemoved == "YES"
