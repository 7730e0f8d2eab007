"""A rich synthetic CT series: every identifying attribute the tests look for, set."""

from __future__ import annotations

from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from streamgale.dicom.deid import DeidConfig, Option
from streamgale.dicom.synthetic import ct_series

SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(1, 33))
PATIENT_ID = "MRN-77001"
PATIENT_NAME = "Moriarty^James"


def config(*options: Option | str, **kwargs: Any) -> DeidConfig:
    """A DeidConfig with the test secret."""
    return DeidConfig(options=frozenset(options), secret=kwargs.pop("secret", SECRET), **kwargs)


def code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def rich_series(
    *,
    patient_id: str = PATIENT_ID,
    patient_name: str = PATIENT_NAME,
    seed: int = 0,
    study_date: str = "20260101",
) -> list[Any]:
    """Two CT instances of one series, carrying identifying attributes of every kind."""
    series = ct_series(
        slices=2, size=32, seed=seed, patient_id=patient_id, patient_name=patient_name
    )
    for index, ds in enumerate(series):
        _identify(ds, patient_id=patient_id, patient_name=patient_name, study_date=study_date)
        other = series[1 - index]
        ref = Dataset()
        ref.ReferencedSOPClassUID = other.SOPClassUID
        ref.ReferencedSOPInstanceUID = other.SOPInstanceUID
        ds.ReferencedImageSequence = Sequence([ref])
    return series


def _identify(ds: Any, *, patient_id: str, patient_name: str, study_date: str) -> None:
    family, given = [*patient_name.split("^"), ""][:2]
    ds.file_meta.SourceApplicationEntityTitle = "SCANNER_ROOM_3"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = study_date
    ds.InstanceCreationDate = study_date
    ds.InstanceCreationTime = "083100"
    ds.AcquisitionTime = "083015"
    ds.AcquisitionDateTime = f"{study_date}083015.123456"
    ds.DateOfLastCalibration = "20251224"
    ds.TimeOfLastCalibration = "070000"
    ds.TimezoneOffsetFromUTC = "+0100"
    ds.InstanceCreatorUID = "1.2.826.0.1.3680043.8.498.777"
    ds.IrradiationEventUID = "1.2.826.0.1.3680043.8.498.31337"
    ds.DeviceUID = "1.2.826.0.1.3680043.8.498.555"
    ds.OtherPatientIDs = ["OLD-778899", "NHS-9434765919"]
    ds.OtherPatientNames = "Smith^Jane"
    ds.PatientMotherBirthName = "Hudson^Martha"
    ds.PatientBirthTime = "061500"
    ds.PatientAddress = "12 Baker Street, London"
    ds.PatientTelephoneNumbers = "+44 20 7946 0958"
    ds.PatientSize = 1.78
    ds.PatientWeight = 72.5
    ds.EthnicGroup = "Fictional"
    ds.SmokingStatus = "NO"
    ds.PregnancyStatus = 4
    ds.Allergies = f"penicillin, noted by {family}"
    ds.PatientComments = f"{given} {family} prefers mornings"
    ds.AdditionalPatientHistory = f"Follow-up of {patient_id}"
    ds.MedicalAlerts = "None"
    ds.IssuerOfPatientID = "ST-BARTS"
    ds.PerformingPhysicianName = "Watson^John"
    ds.OperatorsName = "Hooper^Molly"
    ds.NameOfPhysiciansReadingStudy = "Holmes^Sherlock"
    ds.PhysiciansOfRecord = "Stamford^Mike"
    ds.InstitutionAddress = "221B Baker Street"
    ds.InstitutionalDepartmentName = "Radiology"
    ds.InstitutionCodeSequence = [code("BARTS", "99LOCAL", "St Bartholomew's")]
    ds.DeviceSerialNumber = "SN-12345"
    ds.ProtocolName = f"Chest {family}"
    ds.StudyDescription = f"CT chest for {given} {family} {patient_id}"
    ds.SeriesDescription = f"Chest {family.upper()} {study_date[:4]}-{study_date[4:6]}-01"
    ds.ContrastBolusAgent = "Iohexol"
    ds.EvaluatorName = "Lestrade^Greg"  # a PN that Table E.1-1 does not list
    ds.VolumeFrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.999"  # an unlisted instance UID
    ds.BurnedInAnnotation = "NO"
    request = Dataset()
    request.RequestedProcedureID = "RP-4455"
    request.ScheduledProcedureStepID = "SPS-0001"
    request.AccessionNumber = ds.AccessionNumber
    request.RequestedProcedureDescription = f"CT thorax {family}"
    request.ReasonForTheRequestedProcedure = f"cough since 2025-12-01, {patient_id}"
    request.RequestedProcedureCodeSequence = [code("CTCHEST", "99LOCAL", "CT chest")]
    ds.RequestAttributesSequence = [request]
    study_ref = Dataset()
    study_ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    study_ref.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.4242"
    ds.ReferencedStudySequence = [study_ref]
    ds.ReferencedPerformedProcedureStepSequence = [study_ref]
    icon = Dataset()
    icon.Rows = icon.Columns = 1
    ds.IconImageSequence = [icon]
    block = ds.private_block(0x0009, "ACME 1.0", create=True)
    block.add_new(0x10, "LO", patient_name)
    block.add_new(0x11, "LO", patient_id)
    ds.add_new(0x60000010, "US", 32)  # Overlay Rows
    ds.add_new(0x60000011, "US", 32)  # Overlay Columns
    ds.add_new(0x60003000, "OW", b"\x00" * 128)  # Overlay Data
    ds.add_new(0x60004000, "LT", f"drawn by {family}")  # Overlay Comments
    ds.add_new(0x50000005, "US", 1)  # Curve Dimensions (retired curve group)


@pytest.fixture
def series() -> list[Any]:
    return rich_series()
