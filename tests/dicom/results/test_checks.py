"""The checks catch what viewers reject, and the Part 10 helpers round-trip."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from pydicom.dataset import Dataset

import streamgale.dicom.results as results
from streamgale.dicom.results import (
    StudyResult,
    build_seg,
    build_sr,
    check_result_object,
    dciodvfy_problems,
    dcmdump_problems,
    dsrdump_problems,
    read_part10_bytes,
    to_part10_bytes,
)
from streamgale.errors import DicomError

from .conftest import require_tool


@pytest.fixture(scope="module")
def sr(result: StudyResult, series: list[Any]) -> Any:
    return build_sr(result, series)


@pytest.fixture(scope="module")
def seg(series: list[Any], mask: np.ndarray) -> Any:
    return build_seg(series, mask, algorithm_name="demo", algorithm_version="1")


def _broken(ds: Any, **changes: Any) -> Any:
    out = copy.deepcopy(ds)
    for keyword, value in changes.items():
        if value is None:
            delattr(out, keyword)
        else:
            setattr(out, keyword, value)
    return out


def test_good_objects_have_no_problems(sr: Any, seg: Any, series: list[Any]) -> None:
    assert check_result_object(sr, series) == []
    assert check_result_object(seg, series) == []


def test_wrong_study_reused_series_and_foreign_patient_are_reported(
    sr: Any, series: list[Any]
) -> None:
    assert any(
        "StudyInstanceUID" in p
        for p in check_result_object(_broken(sr, StudyInstanceUID="1.2.3"), series)
    )
    reused = _broken(sr, SeriesInstanceUID=series[0].SeriesInstanceUID)
    assert any("reuses a source series" in p for p in check_result_object(reused, series))
    other = _broken(sr, PatientID="SOMEONE-ELSE")
    assert any("PatientID" in p for p in check_result_object(other, series))


def test_missing_attributes_and_meta_mismatch_are_reported(
    sr: Any, seg: Any, series: list[Any]
) -> None:
    problems = check_result_object(_broken(sr, CompletionFlag=None, PatientSex=None), series)
    assert "required attribute CompletionFlag is missing" in problems
    assert "required attribute PatientSex is missing" in problems
    assert any(
        "SegmentSequence" in p
        for p in check_result_object(_broken(seg, SegmentSequence=None), series)
    )
    renamed = _broken(sr, SOPInstanceUID="1.2.3.4.5")
    assert any("MediaStorageSOPInstanceUID" in p for p in check_result_object(renamed, series))


def test_dangling_and_mistyped_references_are_reported(
    sr: Any, seg: Any, series: list[Any]
) -> None:
    # Checked against fewer sources, the SR's references dangle.
    problems = check_result_object(sr, series[:1])
    assert any("not a source instance" in p for p in problems)
    wrong_class = copy.deepcopy(seg)
    source = wrong_class.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0]
    source.SourceImageSequence[0].ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"  # MR
    assert any("as SOP Class" in p for p in check_result_object(wrong_class, series))


def test_seg_frame_problems_are_reported(seg: Any, series: list[Any]) -> None:
    no_derivation = copy.deepcopy(seg)
    del no_derivation.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence
    assert any("frame 1" in p for p in check_result_object(no_derivation, series))
    assert any(
        "NumberOfFrames" in p for p in check_result_object(_broken(seg, NumberOfFrames=99), series)
    )


def test_predecessor_references_are_not_treated_as_sources(sr: Any, series: list[Any]) -> None:
    item = Dataset()
    item.ReferencedSOPClassUID = sr.SOPClassUID
    item.ReferencedSOPInstanceUID = "1.2.3.999"
    series_item = Dataset()
    series_item.ReferencedSOPSequence = [item]
    series_item.SeriesInstanceUID = sr.SeriesInstanceUID
    study = Dataset()
    study.ReferencedSeriesSequence = [series_item]
    study.StudyInstanceUID = sr.StudyInstanceUID
    with_predecessor = _broken(sr, PredecessorDocumentsSequence=[study])
    assert check_result_object(with_predecessor, series) == []


def test_part10_bytes_have_preamble_and_meta(sr: Any) -> None:
    data = to_part10_bytes(sr)
    assert data[:128] == b"\0" * 128 and data[128:132] == b"DICM"
    back = read_part10_bytes(data)
    assert back.SOPInstanceUID == sr.SOPInstanceUID
    assert back.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    with pytest.raises(DicomError, match="not a DICOM Part 10 file"):
        read_part10_bytes(b"not dicom at all")


def test_dcmdump_reports_a_damaged_file(sr: Any) -> None:
    require_tool("dcmdump")
    data = to_part10_bytes(sr)
    assert dcmdump_problems(data) == []
    problems = dcmdump_problems(data[:-3])
    assert problems and any("premature end of stream" in p for p in problems)


def test_dsrdump_and_dciodvfy_report_a_missing_type_1_attribute(sr: Any) -> None:
    require_tool("dsrdump")
    require_tool("dciodvfy")
    broken = to_part10_bytes(_broken(sr, CompletionFlag=None))
    assert any("CompletionFlag" in p for p in dsrdump_problems(broken))
    assert any("CompletionFlag" in p and "Error" in p for p in dciodvfy_problems(broken))
    assert dciodvfy_problems(to_part10_bytes(sr), include_warnings=True) == []


def test_missing_validator_is_a_problem_not_a_pass(
    sr: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("streamgale.dicom.results.checks.shutil.which", lambda _name: None)
    assert dciodvfy_problems(to_part10_bytes(sr)) == [
        "dciodvfy is not installed; install it with: apt-get install dicom3tools"
    ]
    assert "apt-get install dcmtk" in dcmdump_problems(to_part10_bytes(sr))[0]


def test_exported_names_exist() -> None:
    for name in results.__all__:
        assert getattr(results, name) is not None, name
    assert results.warm_up() < 10.0
