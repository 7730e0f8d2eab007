"""The SR measurement report, written to a Part 10 file and read back."""

from __future__ import annotations

import dataclasses
from typing import Any

import highdicom as hd
import numpy as np
import pytest

from streamgale.dicom.results import (
    Finding,
    StudyResult,
    build_seg,
    build_sr,
    check_result_object,
    read_part10_bytes,
    sr_uids,
    to_part10_bytes,
    validate_part10,
)
from streamgale.dicom.results.sr import COMPREHENSIVE_3D_SR_STORAGE
from streamgale.dicom.synthetic import ct_series
from streamgale.errors import DicomError

from .conftest import code_of, content_items, make_result, require_tool


def _round_trip(ds: Any) -> Any:
    return read_part10_bytes(to_part10_bytes(ds))


@pytest.fixture(scope="module")
def sr(result: StudyResult, series: list[Any]) -> Any:
    return _round_trip(build_sr(result, series, demo=True))


def _groups(sr: Any) -> dict[str, Any]:
    """Measurement groups (DCM 125007) keyed by their Tracking Identifier text."""
    groups = {}
    for group in content_items(sr, "125007", "DCM"):
        tracking = next(content_items(group, "112039", "DCM"))
        groups[str(tracking.TextValue)] = group
    return groups


def _num(group: Any, value: str, scheme: str) -> tuple[float, str]:
    item = next(i for i in group.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == value)
    assert item.ConceptNameCodeSequence[0].CodingSchemeDesignator == scheme
    measured = item.MeasuredValueSequence[0]
    return float(measured.NumericValue), str(measured.MeasurementUnitsCodeSequence[0].CodeValue)


def test_sr_goes_into_the_source_study_in_a_new_series(sr: Any, series: list[Any]) -> None:
    source = series[0]
    assert sr.SOPClassUID == COMPREHENSIVE_3D_SR_STORAGE and sr.Modality == "SR"
    assert sr.StudyInstanceUID == source.StudyInstanceUID
    assert sr.SeriesInstanceUID not in {ds.SeriesInstanceUID for ds in series}
    assert sr.SOPInstanceUID not in {ds.SOPInstanceUID for ds in series}
    for keyword in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "AccessionNumber",
    ):
        assert sr.get(keyword) == source.get(keyword), keyword
    assert sr.SeriesDescription == "StreamGale AI results (DEMO)"
    assert (sr.ContentDate, sr.ContentTime) == ("20260102", "091530")
    assert (sr.CompletionFlag, sr.VerificationFlag, sr.PreliminaryFlag) == (
        "COMPLETE",
        "UNVERIFIED",
        "PRELIMINARY",
    )
    assert sr.file_meta.MediaStorageSOPInstanceUID == sr.SOPInstanceUID


def test_root_is_a_tid_1500_imaging_measurement_report(sr: Any) -> None:
    assert sr.ValueType == "CONTAINER"
    root = sr.ConceptNameCodeSequence[0]
    assert (root.CodeValue, root.CodingSchemeDesignator, root.CodeMeaning) == (
        "126000",
        "DCM",
        "Imaging Measurement Report",
    )
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    procedure = next(content_items(sr, "121058", "DCM"))  # Procedure reported
    assert code_of(procedure) == ("25045-6", "LN")
    assert len(list(content_items(sr, "111028", "DCM"))) == 1  # one Image Library
    assert len(list(content_items(sr, "126010", "DCM"))) == 1  # Imaging Measurements


def test_device_observer_and_algorithm_identify_the_model(sr: Any) -> None:
    observer_type = next(content_items(sr, "121005", "DCM"))
    assert code_of(observer_type) == ("121007", "DCM")  # Device
    assert next(content_items(sr, "121013", "DCM")).TextValue == "demo-lesion"
    for group in _groups(sr).values():
        assert next(content_items(group, "111001", "DCM")).TextValue == "demo-lesion"
        assert next(content_items(group, "111003", "DCM")).TextValue == "0.3.1"


def test_findings_are_coded_with_presence_and_measurements(sr: Any, result: StudyResult) -> None:
    groups = _groups(sr)
    assert set(groups) == {"lesion", "nodule"}
    lesion, nodule = groups["lesion"], groups["nodule"]
    assert code_of(next(content_items(lesion, "121071", "DCM"))) == ("52988006", "SCT")
    assert code_of(next(content_items(nodule, "121071", "DCM"))) == ("27925004", "SCT")
    assert code_of(next(content_items(lesion, "52988006", "SCT"))) == ("52101004", "SCT")
    assert code_of(next(content_items(nodule, "27925004", "SCT"))) == ("272519000", "SCT")
    assert code_of(next(content_items(lesion, "276214006", "SCT"))) == ("49755003", "SCT")

    expected = result.findings[0].measurements
    assert _num(lesion, "122157", "DCM") == (0.93, "1")  # probability
    assert _num(nodule, "122157", "DCM") == (0.04, "1")
    assert _num(lesion, "42798000", "SCT") == pytest.approx((expected["area"].value, "mm2"))
    assert _num(lesion, "81827009", "SCT") == pytest.approx((expected["diameter"].value, "mm"))
    assert _num(lesion, "118565006", "SCT") == pytest.approx((expected["volume"].value, "mm3"))


def test_references_are_the_source_images(
    sr: Any, series: list[Any], lesion_uids: tuple[str, ...]
) -> None:
    lesion = _groups(sr)["lesion"]
    sources = [
        str(item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
        for item in content_items(lesion, "121112", "DCM")  # Source of Measurement
    ]
    assert sources == list(lesion_uids)
    library = next(content_items(sr, "111028", "DCM"))
    library_uids = [
        str(item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
        for item in content_items(library)
        if item.ValueType == "IMAGE"
    ]
    assert library_uids == list(lesion_uids)
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == series[0].StudyInstanceUID
    referenced = evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence
    assert [r.ReferencedSOPInstanceUID for r in referenced] == [ds.SOPInstanceUID for ds in series]
    assert check_result_object(sr, series) == []


def test_highdicom_reads_the_report_back(sr: Any) -> None:
    report = hd.sr.Comprehensive3DSR.from_dataset(sr)
    groups = report.content.get_image_measurement_groups()
    assert [g.finding_type.value for g in groups] == ["52988006", "27925004"]
    assert groups[0].get_measurements()[0].value == pytest.approx(0.93)


def test_uids_are_deterministic_and_versions_share_a_series(
    result: StudyResult, series: list[Any], sr: Any
) -> None:
    again = build_sr(result, series, demo=True)
    assert again.SOPInstanceUID == sr.SOPInstanceUID
    assert (sr.SeriesInstanceUID, sr.SOPInstanceUID) == sr_uids(
        result.study_instance_uid, result.model_name, result.result_id, result.version
    )


def test_version_2_references_version_1(
    result: StudyResult, series: list[Any], mask: np.ndarray, sr: Any
) -> None:
    update = make_result(series, mask, result_id="res-0002", version=2, supersedes="res-0001")
    for previous in (None, [sr]):  # derived from the record, or given explicitly
        v2 = _round_trip(build_sr(update, series, previous_versions=previous))
        assert v2.SOPInstanceUID != sr.SOPInstanceUID
        assert v2.SeriesInstanceUID == sr.SeriesInstanceUID and v2.InstanceNumber == 2
        predecessor = v2.PredecessorDocumentsSequence[0]
        assert predecessor.StudyInstanceUID == sr.StudyInstanceUID
        referenced = predecessor.ReferencedSeriesSequence[0]
        assert referenced.SeriesInstanceUID == sr.SeriesInstanceUID
        assert referenced.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == sr.SOPInstanceUID
        assert referenced.ReferencedSOPSequence[0].ReferencedSOPClassUID == sr.SOPClassUID
        assert check_result_object(v2, series) == []
    assert "PredecessorDocumentsSequence" not in sr


def test_sr_links_findings_to_the_segmentation(
    result: StudyResult, series: list[Any], mask: np.ndarray, lesion_uids: tuple[str, ...]
) -> None:
    seg = build_seg(series, mask, algorithm_name="demo-lesion", algorithm_version="0.3.1")
    sr = _round_trip(build_sr(result, series, segmentation=seg))
    lesion = _groups(sr)["lesion"]
    assert lesion.ContentTemplateSequence[0].TemplateIdentifier == "1411"  # volumetric ROI
    segment = next(content_items(lesion, "121191", "DCM"))  # Referenced Segment
    reference = segment.ReferencedSOPSequence[0]
    assert reference.ReferencedSOPInstanceUID == seg.SOPInstanceUID
    assert reference.ReferencedSegmentNumber == 1
    segmented = [
        str(i.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
        for i in content_items(lesion, "121233", "DCM")  # Source image for segmentation
    ]
    assert segmented == list(lesion_uids)
    tracking = next(content_items(lesion, "112040", "DCM")).UID
    assert tracking == seg.SegmentSequence[0].TrackingUID  # one finding, one tracking UID
    assert check_result_object(sr, series, related=[seg]) == []
    problems = check_result_object(sr, series)
    assert any(seg.SOPInstanceUID in p for p in problems)  # the SEG is not a source


def test_unknown_labels_get_local_codes_with_a_scheme_item(
    series: list[Any], mask: np.ndarray
) -> None:
    extra = Finding("ground-glass opacity", 0.7, True, {}, (str(series[3].SOPInstanceUID),))
    sr = _round_trip(build_sr(make_result(series, mask, extra_findings=(extra,)), series))
    group = _groups(sr)["ground-glass opacity"]
    finding = next(content_items(group, "121071", "DCM")).ConceptCodeSequence[0]
    assert finding.CodingSchemeDesignator == "99SGALE"
    assert finding.CodeMeaning == "ground-glass opacity"
    assert sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == "99SGALE"


def test_sources_that_do_not_fit_the_result_are_refused(
    result: StudyResult, series: list[Any]
) -> None:
    other_study = ct_series(slices=2, size=16, seed=99, patient_id="OTHER")
    with pytest.raises(DicomError, match="study"):
        build_sr(result, other_study)
    with pytest.raises(DicomError, match="not among"):
        build_sr(result, series[:2])
    with pytest.raises(DicomError, match="no findings"):
        build_sr(dataclasses.replace(result, findings=()), series)
    with pytest.raises(DicomError, match="no source"):
        build_sr(result, [])


def test_absent_only_result_still_has_an_image_library(
    result: StudyResult, series: list[Any]
) -> None:
    absent = dataclasses.replace(result, findings=(Finding("lesion", 0.01, False),))
    sr = _round_trip(build_sr(absent, series))
    library = next(content_items(sr, "111028", "DCM"))
    images = [i for i in content_items(library) if i.ValueType == "IMAGE"]
    assert len(images) == 1
    assert images[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == series[0].SOPInstanceUID
    assert check_result_object(sr, series) == []


def test_sr_is_valid_for_dcmdump_dsrdump_and_dciodvfy(
    result: StudyResult, series: list[Any], mask: np.ndarray
) -> None:
    for tool in ("dcmdump", "dsrdump", "dciodvfy"):
        require_tool(tool)
    seg = build_seg(series, mask, algorithm_name="demo-lesion", algorithm_version="0.3.1")
    update = make_result(series, mask, result_id="res-0002", version=2, supersedes="res-0001")
    assert validate_part10(build_sr(result, series), series) == []
    assert validate_part10(build_sr(update, series, segmentation=seg), series, related=[seg]) == []
