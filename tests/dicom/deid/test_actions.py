"""Table E.1-1 as data: every row well formed, options and combined actions resolved."""

from __future__ import annotations

import pytest
from pydicom.datadict import keyword_for_tag

from streamgale.dicom.deid import TABLE_E1_1, Action, Option
from streamgale.dicom.deid.actions import CONFORMANCE_TYPE, Row, action_for, action_plan

BASIC = frozenset({Option.BASIC_PROFILE})
SIMPLE = {Action.D, Action.Z, Action.X, Action.K, Action.C, Action.U}


def test_the_whole_table_is_transcribed() -> None:
    assert len(TABLE_E1_1) == 456
    assert len({row.tag for row in TABLE_E1_1.values()}) == 456


@pytest.mark.parametrize("keyword", sorted(TABLE_E1_1))
def test_row_keyword_tag_and_actions_are_valid(keyword: str) -> None:
    row = TABLE_E1_1[keyword]
    assert keyword_for_tag(row.tag) == keyword
    Action(row.basic)
    for column in (row.uids, row.device, row.institution, row.patient, row.descriptors):
        assert column is None or Action(column) in SIMPLE


@pytest.mark.parametrize(
    ("keyword", "row"),
    [  # spot checks against PS3.15 Table E.1-1
        ("PatientName", Row(0x00100010, "Z")),
        ("PatientID", Row(0x00100020, "Z")),
        ("StudyDate", Row(0x00080020, "Z", dates=True)),
        ("InstitutionName", Row(0x00080080, "X/Z/D", institution="K")),
        ("DeviceUID", Row(0x00181002, "U", uids="K", device="K")),
        ("Allergies", Row(0x00102110, "X", patient="C", descriptors="C")),
        ("ReferencedPatientSequence", Row(0x00081120, "X", uids="X")),
        ("ReferencedImageSequence", Row(0x00081140, "X/Z/U*", uids="K")),
        # X: an SR's content (its report text) goes, unless Clean Structured Content.
        ("ContentSequence", Row(0x0040A730, "X", structured="C")),
        ("SeriesDescription", Row(0x0008103E, "X", descriptors="C")),
        ("PatientBirthDate", Row(0x00100030, "Z")),
        ("DeviceSerialNumber", Row(0x00181000, "X/Z/D", device="K")),
    ],
)
def test_rows_match_the_standard(keyword: str, row: Row) -> None:
    assert TABLE_E1_1[keyword] == row


@pytest.mark.parametrize(
    ("keyword", "options", "expected"),
    [
        ("Allergies", {Option.RETAIN_PATIENT_CHARACTERISTICS}, Action.C),
        ("Allergies", {Option.CLEAN_DESCRIPTORS}, Action.C),
        ("Allergies", set(), Action.X),
        ("DeviceUID", {Option.RETAIN_DEVICE_IDENTITY}, Action.K),
        ("DeviceUID", {Option.RETAIN_UIDS}, Action.K),
        ("ReferencedPatientSequence", {Option.RETAIN_UIDS}, Action.X),
        ("StudyDate", {Option.RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_FULL_DATES}, Action.K),
        ("StudyDate", {Option.RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES}, Action.C),
        ("InstitutionName", {Option.RETAIN_INSTITUTION_IDENTITY}, Action.K),
        ("InstitutionName", {Option.RETAIN_DEVICE_IDENTITY}, Action.X),
        # Several options on one row: the most retaining wins (K over C).
        (
            "PatientAge",
            {Option.RETAIN_PATIENT_CHARACTERISTICS, Option.CLEAN_DESCRIPTORS},
            Action.K,
        ),
    ],
)
def test_option_columns_override_the_basic_profile(
    keyword: str, options: set[Option], expected: Action
) -> None:
    chosen = action_for(keyword, TABLE_E1_1[keyword], frozenset(options | BASIC))
    assert chosen is expected


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [
        ("AcquisitionDate", Action.X),  # X/Z, Type 3
        ("AcquisitionContextSequence", Action.Z),  # X/Z, Type 2
        ("SeriesDate", Action.X),  # X/D, Type 3
        ("StructureSetTime", Action.D),  # X/D, Type 2: D is the only non-X branch
        ("InstitutionName", Action.X),  # X/Z/D, Type 3
        ("DeviceSerialNumber", Action.D),  # X/Z/D, Type 1
        ("ContentDate", Action.D),  # Z/D, Type 1
        ("ContentCreatorName", Action.Z),  # Z/D, Type 2
        ("ReferencedImageSequence", Action.U),  # X/Z/U*: keep references, replace UIDs
        ("SourceImageSequence", Action.U),
        ("PatientID", Action.Z),
    ],
)
def test_combined_actions_resolve_by_iod_type(keyword: str, expected: Action) -> None:
    assert action_for(keyword, TABLE_E1_1[keyword], BASIC) is expected


def test_conformance_types_only_name_combined_rows() -> None:
    for keyword in CONFORMANCE_TYPE:
        assert "/" in TABLE_E1_1[keyword].basic, keyword


def test_the_plan_only_holds_simple_actions_and_is_cached() -> None:
    plan = action_plan(BASIC)
    assert {action for _, action in plan.values()} <= SIMPLE
    assert action_plan(BASIC) is plan
