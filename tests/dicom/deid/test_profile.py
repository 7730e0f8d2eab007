"""deidentify(): attribute by attribute, per option, as PS3.15 Table E.1-1 says."""

from __future__ import annotations

import copy
import io
from enum import Enum, auto
from typing import Any

import pytest

from streamgale.dicom.deid import Option, Pseudonymizer, deidentify
from streamgale.dicom.deid.dates import shift_value
from streamgale.errors import DeidentificationError
from tests.dicom.deid.conftest import (
    OTHER_SECRET,
    PATIENT_ID,
    SECRET,
    config,
    rich_series,
)


class Expect(Enum):
    REMOVED = auto()
    EMPTY = auto()
    KEPT = auto()
    UID = auto()  # the HMAC pseudonym of the original UID
    PSEUDONYM = auto()  # the patient pseudonym
    SHIFTED = auto()  # the original date moved by the patient's shift


REMOVED, EMPTY, KEPT, UID, PSEUDONYM, SHIFTED = Expect

BASIC: list[tuple[str, Any]] = [
    # Patient
    ("PatientName", PSEUDONYM),
    ("PatientID", PSEUDONYM),
    ("IssuerOfPatientID", REMOVED),
    ("OtherPatientIDs", REMOVED),
    ("OtherPatientNames", REMOVED),
    ("PatientMotherBirthName", REMOVED),
    ("PatientAddress", REMOVED),
    ("PatientTelephoneNumbers", REMOVED),
    ("PatientBirthDate", EMPTY),
    ("PatientBirthTime", REMOVED),
    ("PatientSex", EMPTY),
    ("PatientAge", REMOVED),
    ("PatientSize", REMOVED),
    ("PatientWeight", REMOVED),
    ("EthnicGroup", REMOVED),
    ("SmokingStatus", REMOVED),
    ("PregnancyStatus", REMOVED),
    ("Allergies", REMOVED),
    ("PatientComments", REMOVED),
    ("AdditionalPatientHistory", REMOVED),
    ("MedicalAlerts", REMOVED),
    # Study, series, request
    ("AccessionNumber", EMPTY),
    ("StudyID", EMPTY),
    ("StudyDescription", REMOVED),
    ("SeriesDescription", REMOVED),
    ("ProtocolName", REMOVED),
    ("ImageComments", REMOVED),
    ("ContrastBolusAgent", EMPTY),
    ("RequestAttributesSequence", REMOVED),
    ("ReferencedStudySequence", REMOVED),
    ("ReferencedPerformedProcedureStepSequence", REMOVED),
    ("IconImageSequence", REMOVED),
    # Dates and times
    ("StudyDate", EMPTY),
    ("StudyTime", EMPTY),
    ("SeriesDate", REMOVED),
    ("SeriesTime", REMOVED),
    ("AcquisitionDate", REMOVED),
    ("AcquisitionTime", REMOVED),
    ("AcquisitionDateTime", "19000101000000"),
    ("ContentDate", "19000101"),
    ("ContentTime", "000000"),
    ("TimezoneOffsetFromUTC", REMOVED),
    ("InstanceCreationDate", "19000101"),  # not in the table: the date rule
    ("DateOfLastCalibration", "19000101"),
    ("InstanceCreationTime", KEPT),  # times of day outside the table are kept
    ("TimeOfLastCalibration", KEPT),
    # People
    ("ReferringPhysicianName", EMPTY),
    ("PerformingPhysicianName", REMOVED),
    ("OperatorsName", REMOVED),
    ("NameOfPhysiciansReadingStudy", REMOVED),
    ("PhysiciansOfRecord", REMOVED),
    ("EvaluatorName", "ANONYMIZED"),  # PN not in the table: dummy
    # Institution and equipment
    ("InstitutionName", REMOVED),
    ("InstitutionAddress", REMOVED),
    ("InstitutionalDepartmentName", REMOVED),
    ("InstitutionCodeSequence", REMOVED),
    ("StationName", REMOVED),
    ("DeviceSerialNumber", "ANONYMIZED"),  # X/Z/D, Type 1 in Enhanced General Equipment
    ("DeviceUID", UID),
    ("Manufacturer", KEPT),
    ("ManufacturerModelName", KEPT),
    # UIDs
    ("StudyInstanceUID", UID),
    ("SeriesInstanceUID", UID),
    ("SOPInstanceUID", UID),
    ("FrameOfReferenceUID", UID),
    ("InstanceCreatorUID", UID),
    ("IrradiationEventUID", UID),
    ("VolumeFrameOfReferenceUID", UID),  # instance UID not in the table
    ("SOPClassUID", KEPT),
    # Image
    ("Modality", KEPT),
    ("BodyPartExamined", KEPT),
    ("ImageType", KEPT),
    ("ImagePositionPatient", KEPT),
    ("ImageOrientationPatient", KEPT),
    ("PixelSpacing", KEPT),
    ("RescaleIntercept", KEPT),
    ("BurnedInAnnotation", KEPT),
    ("PixelData", KEPT),
    # Set by the profile
    ("PatientIdentityRemoved", "YES"),
    ("LongitudinalTemporalInformationModified", "REMOVED"),
]

PATIENT_CHARACTERISTICS: list[tuple[str, Any]] = [
    ("PatientSex", KEPT),
    ("PatientAge", KEPT),
    ("PatientSize", KEPT),
    ("PatientWeight", KEPT),
    ("EthnicGroup", KEPT),
    ("SmokingStatus", KEPT),
    ("PregnancyStatus", KEPT),
    ("Allergies", "penicillin, *** by ***"),  # C: cleaned
    ("PatientBirthDate", EMPTY),
    ("PatientName", PSEUDONYM),
    ("PatientComments", REMOVED),
]

DEVICE_IDENTITY: list[tuple[str, Any]] = [
    ("DeviceSerialNumber", KEPT),
    ("StationName", KEPT),
    ("DeviceUID", KEPT),
    ("Manufacturer", KEPT),
    ("InstitutionName", REMOVED),
]

INSTITUTION_IDENTITY: list[tuple[str, Any]] = [
    ("InstitutionName", KEPT),
    ("InstitutionAddress", KEPT),
    ("InstitutionalDepartmentName", KEPT),
    ("InstitutionCodeSequence", KEPT),
    ("StationName", REMOVED),
]

CLEAN_DESCRIPTORS: list[tuple[str, Any]] = [
    ("StudyDescription", "CT chest for *** *** ***"),
    ("SeriesDescription", "Chest *** ***"),
    ("ProtocolName", "Chest ***"),
    ("PatientComments", "*** *** prefers ***"),  # "mornings" is no term of the standard
    ("AdditionalPatientHistory", "Follow-up of ***"),
    ("MedicalAlerts", KEPT),  # nothing identifying in it
    ("ImageComments", KEPT),
    ("Allergies", "penicillin, *** by ***"),
    ("PerformingPhysicianName", REMOVED),
    ("PatientAge", REMOVED),
    ("AccessionNumber", EMPTY),
]

MODIFIED_DATES: list[tuple[str, Any]] = [
    ("StudyDate", SHIFTED),
    ("SeriesDate", SHIFTED),
    ("AcquisitionDate", SHIFTED),
    ("ContentDate", SHIFTED),
    ("AcquisitionDateTime", SHIFTED),
    ("InstanceCreationDate", SHIFTED),
    ("DateOfLastCalibration", SHIFTED),
    ("StudyTime", KEPT),
    ("SeriesTime", KEPT),
    ("AcquisitionTime", KEPT),
    ("ContentTime", KEPT),
    ("TimezoneOffsetFromUTC", KEPT),
    ("PatientBirthDate", EMPTY),  # Table E.1-1 gives birth date no temporal option
    ("PatientBirthTime", REMOVED),
    ("PatientAge", REMOVED),
    ("LongitudinalTemporalInformationModified", "MODIFIED"),
]

FULL_DATES: list[tuple[str, Any]] = [
    ("StudyDate", KEPT),
    ("StudyTime", KEPT),
    ("SeriesDate", KEPT),
    ("AcquisitionDateTime", KEPT),
    ("ContentDate", KEPT),
    ("InstanceCreationDate", KEPT),
    ("DateOfLastCalibration", KEPT),
    ("PatientBirthDate", EMPTY),
    ("LongitudinalTemporalInformationModified", "UNMODIFIED"),
]

RETAIN_UIDS: list[tuple[str, Any]] = [
    ("StudyInstanceUID", KEPT),
    ("SeriesInstanceUID", KEPT),
    ("SOPInstanceUID", KEPT),
    ("FrameOfReferenceUID", KEPT),
    ("InstanceCreatorUID", KEPT),
    ("IrradiationEventUID", KEPT),
    ("VolumeFrameOfReferenceUID", KEPT),
    ("DeviceUID", KEPT),
    ("ReferencedImageSequence", KEPT),
    ("ReferencedStudySequence", KEPT),
    ("ReferencedPerformedProcedureStepSequence", KEPT),
]

MODIFIED = Option.RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES
FULL = Option.RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_FULL_DATES
CASES = [pytest.param((), row, id=f"basic-{row[0]}") for row in BASIC] + [
    pytest.param((option,), row, id=f"{option.name.lower()}-{row[0]}")
    for option, rows in (
        (Option.RETAIN_PATIENT_CHARACTERISTICS, PATIENT_CHARACTERISTICS),
        (Option.RETAIN_DEVICE_IDENTITY, DEVICE_IDENTITY),
        (Option.RETAIN_INSTITUTION_IDENTITY, INSTITUTION_IDENTITY),
        (Option.CLEAN_DESCRIPTORS, CLEAN_DESCRIPTORS),
        (MODIFIED, MODIFIED_DATES),
        (FULL, FULL_DATES),
        (Option.RETAIN_UIDS, RETAIN_UIDS),
    )
    for row in rows
]


def check(original: Any, out: Any, keyword: str, expected: Any) -> None:
    """``out[keyword]`` is what ``expected`` says, given ``original[keyword]``."""
    pseudonyms = Pseudonymizer(SECRET)
    if expected is REMOVED:
        assert keyword not in out, f"{keyword} should be removed"
        return
    assert keyword in out, f"{keyword} should be present"
    value = out[keyword].value
    before = original[keyword].value if keyword in original else None
    if expected is EMPTY:
        assert value in ("", None, []), f"{keyword} should be empty, is {value!r}"
    elif expected is KEPT:
        assert value == before
    elif expected is UID:
        assert value == pseudonyms.uid(before) != before
        assert value.startswith("2.25.") and len(value) <= 64
    elif expected is PSEUDONYM:
        assert str(value) == pseudonyms.patient_id(original.PatientID)
    elif expected is SHIFTED:
        days = pseudonyms.date_shift_days(original.PatientID, max_days=365)
        assert value == shift_value(out[keyword].VR, before, days) != before
    else:
        assert value == expected


@pytest.mark.parametrize(("options", "row"), CASES)
def test_attribute(series: list[Any], options: tuple[Option, ...], row: tuple[str, Any]) -> None:
    keyword, expected = row
    original = series[0]
    assert keyword in original or keyword in (
        "PatientIdentityRemoved",
        "LongitudinalTemporalInformationModified",
    ), f"the rich dataset lacks {keyword}; the test would prove nothing"
    check(original, deidentify(original, config(*options)), keyword, expected)


def test_private_overlay_and_curve_groups_are_removed(series: list[Any]) -> None:
    out = deidentify(series[0], config())
    groups = {elem.tag.group for elem in out}
    assert not [g for g in groups if g & 1], "private groups remain"
    assert not [g for g in groups if g & 0xFF00 in (0x5000, 0x6000)], "curves/overlays remain"


def test_nested_request_attributes_are_cleaned_when_descriptors_are_kept(
    series: list[Any],
) -> None:
    out = deidentify(series[0], config(Option.CLEAN_DESCRIPTORS))
    (item,) = out.RequestAttributesSequence
    assert "RequestedProcedureID" not in item  # X inside a cleaned sequence
    assert "ScheduledProcedureStepID" not in item
    assert item.AccessionNumber == ""  # Z
    assert item.RequestedProcedureDescription == "CT thorax ***"
    assert item.ReasonForTheRequestedProcedure == "cough since ***, ***"
    assert item.RequestedProcedureCodeSequence[0].CodeMeaning == "CT chest"


def test_uids_are_consistent_across_a_series_and_across_runs(series: list[Any]) -> None:
    first, second = (deidentify(ds, config()) for ds in series)
    again = deidentify(series[0], config())
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        assert first[keyword].value == second[keyword].value == again[keyword].value
    assert first.SOPInstanceUID != second.SOPInstanceUID
    assert first.SOPInstanceUID == again.SOPInstanceUID
    assert first.file_meta.MediaStorageSOPInstanceUID == first.SOPInstanceUID
    assert first.file_meta.MediaStorageSOPClassUID == series[0].file_meta.MediaStorageSOPClassUID
    assert first.file_meta.TransferSyntaxUID == series[0].file_meta.TransferSyntaxUID
    assert "SourceApplicationEntityTitle" not in first.file_meta


def test_references_map_to_the_referenced_instances_new_uids(series: list[Any]) -> None:
    first, second = (deidentify(ds, config()) for ds in series)
    assert first.ReferencedImageSequence[0].ReferencedSOPInstanceUID == second.SOPInstanceUID
    assert second.ReferencedImageSequence[0].ReferencedSOPInstanceUID == first.SOPInstanceUID
    assert first.ReferencedImageSequence[0].ReferencedSOPClassUID == series[1].SOPClassUID


def test_one_patient_has_one_pseudonym_and_one_date_shift_across_studies() -> None:
    options = config(MODIFIED)
    early = deidentify(rich_series(seed=1, study_date="20250110")[0], options)
    late = deidentify(rich_series(seed=2, study_date="20250301")[0], options)
    assert early.StudyInstanceUID != late.StudyInstanceUID
    assert early.PatientID == late.PatientID == str(early.PatientName)
    import datetime as dt

    def day(text: str) -> dt.date:
        return dt.datetime.strptime(text, "%Y%m%d").date()

    assert (day(late.StudyDate) - day(early.StudyDate)).days == 50  # the interval survives
    assert early.StudyDate != "20250110"


def test_different_patients_and_secrets_give_unrelated_pseudonyms(series: list[Any]) -> None:
    ours = deidentify(series[0], config())
    other_secret = deidentify(series[0], config(secret=OTHER_SECRET))
    other_patient = deidentify(rich_series(patient_id="MRN-77002")[0], config())
    assert ours.PatientID != other_secret.PatientID
    assert ours.StudyInstanceUID != other_secret.StudyInstanceUID
    assert ours.PatientID != other_patient.PatientID


def test_pseudonym_prefix_is_used(series: list[Any]) -> None:
    out = deidentify(series[0], config(pseudonym_prefix="TRIAL7-"))
    assert out.PatientID.startswith("TRIAL7-")


@pytest.mark.parametrize(
    "options",
    [
        (),
        (Option.CLEAN_DESCRIPTORS, MODIFIED),
        (Option.RETAIN_PATIENT_CHARACTERISTICS, Option.RETAIN_DEVICE_IDENTITY, FULL),
    ],
    ids=["basic", "descriptors+modified", "patient+device+full"],
)
def test_method_code_sequence_lists_the_profile_and_every_option(
    series: list[Any], options: tuple[Option, ...]
) -> None:
    out = deidentify(series[0], config(*options))
    applied = [o for o in Option if o in {Option.BASIC_PROFILE, *options}]
    items = out.DeidentificationMethodCodeSequence
    assert [(i.CodeValue, i.CodingSchemeDesignator, i.CodeMeaning) for i in items] == [
        (o.code_value, "DCM", o.value) for o in applied
    ]
    methods = out["DeidentificationMethod"]
    assert (list(methods.value) if methods.VM > 1 else [methods.value]) == [
        o.value for o in applied
    ]
    assert out.PatientIdentityRemoved == "YES"


def test_the_input_is_not_changed(series: list[Any]) -> None:
    original = series[0]
    written = _bytes(original)  # first: writing itself settles ambiguous VRs in place
    snapshot = copy.deepcopy(original)
    deidentify(original, config(Option.CLEAN_DESCRIPTORS, MODIFIED))
    assert original == snapshot
    assert original.file_meta == snapshot.file_meta
    assert _bytes(original) == written


def test_the_output_does_not_share_elements_with_the_input(series: list[Any]) -> None:
    original = series[0]
    out = deidentify(original, config(Option.RETAIN_PATIENT_CHARACTERISTICS))
    out.ImagePositionPatient[2] = 999.0
    out.PatientWeight = 1.0
    assert original.ImagePositionPatient[2] != 999.0
    assert original.PatientWeight == 72.5


def test_no_identifying_value_is_left_in_the_written_bytes(series: list[Any]) -> None:
    data = _bytes(deidentify(series[0], config()))
    for text in (
        "Moriarty",
        "James",
        PATIENT_ID,
        "OLD-778899",
        "Baker Street",
        "Watson",
        "Hooper",
        "Holmes",
        "Lestrade",
        "SCANNER_ROOM_3",
        "SN-12345",
        "20260101",
        series[0].AccessionNumber,
        series[0].StudyInstanceUID,
        series[0].SOPInstanceUID,
    ):
        assert text.encode() not in data, f"{text!r} leaked"


def test_burned_in_annotation_is_refused_unless_cleaned_or_allowed(series: list[Any]) -> None:
    ds = copy.deepcopy(series[0])
    ds.BurnedInAnnotation = "YES"
    with pytest.raises(DeidentificationError, match="Burned In Annotation"):
        deidentify(ds, config())
    assert deidentify(ds, config(allow_burned_in=True)).BurnedInAnnotation == "YES"
    cleaned = deidentify(ds, config(Option.CLEAN_PIXEL_DATA, clean_pixel_regions=[(0, 0, 4, 32)]))
    assert cleaned.BurnedInAnnotation == "NO"


def test_a_failing_element_becomes_a_deidentification_error_naming_it(
    series: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Pseudonymizer, original: str) -> str:
        raise ValueError("boom")

    monkeypatch.setattr(Pseudonymizer, "uid", broken)
    with pytest.raises(DeidentificationError, match=r"\(0008,0014\) InstanceCreatorUID: boom"):
        deidentify(series[0], config())


def _bytes(ds: Any) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_shifted_dates_and_patient_characteristics_combine(series: list[Any]) -> None:
    original = series[0]
    out = deidentify(original, config(MODIFIED, Option.RETAIN_PATIENT_CHARACTERISTICS))
    check(original, out, "StudyDate", SHIFTED)
    check(original, out, "AcquisitionDateTime", SHIFTED)
    check(original, out, "PatientAge", KEPT)  # ages are never shifted, only kept or removed
    check(original, out, "PatientSex", KEPT)


def test_without_a_patient_id_the_name_keys_the_pseudonym() -> None:
    first, second = (copy.deepcopy(ds) for ds in rich_series())
    for ds in (first, second):
        ds.PatientID = ""
    a, b = deidentify(first, config()), deidentify(second, config())
    assert a.PatientID == b.PatientID == str(a.PatientName) != ""
    other = copy.deepcopy(first)
    other.PatientName = "Adler^Irene"
    assert deidentify(other, config()).PatientID != a.PatientID


def test_float_pixel_data_is_not_silently_left_dirty(series: list[Any]) -> None:
    ds = copy.deepcopy(series[0])
    ds.FloatPixelData = b"\x00" * 16
    with pytest.raises(DeidentificationError, match="Float"):
        deidentify(ds, config(Option.CLEAN_PIXEL_DATA, clean_pixel_regions=[(0, 0, 1, 1)]))
