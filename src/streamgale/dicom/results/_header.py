"""The patient and study attributes a result object copies, made conformant first.

An SR or SEG copies the Patient (PS3.3 C.7.1.1), General Study (C.7.2.1) and
Patient Study (C.7.2.2) modules from its first source image, and its
acquisition equipment into the Contributing Equipment Sequence. Real images carry
values that viewers accept but the standard does not: ACR-NEMA style
``StudyTime`` ``14:04:38`` or ``StudyDate`` ``2024.01.02``, a ``PatientSex``
of ``male``, a ``PatientAge`` of ``45``, ``PatientIdentityRemoved`` YES with
no method named. pydicom refuses some of them outright (the result could not
be built at all) and dciodvfy flags the rest in the copy.

:func:`conformant_header` returns a copy of the source in which each such
value is repaired where the intent is unambiguous (the legacy date and time
forms), emptied where the attribute is Type 2 (it must be present), and
dropped otherwise. Missing Type 2 attributes are added empty. The source
itself is left as it is.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["conformant_header"]

_TYPE2 = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyID",
)
"""Type 2 attributes of the Patient and General Study modules: present, maybe empty."""

_TYPE3 = (
    "IssuerOfPatientID",
    "TypeOfPatientID",
    "PatientBirthTime",
    "OtherPatientNames",
    "PatientComments",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "ConsultingPhysicianName",
    "StudyDescription",
    "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy",
    "RequestingService",
    "AdmittingDiagnosesDescription",
    "PatientAge",
    "PatientSize",
    "PatientBodyMassIndex",
    "MeasuredAPDimension",
    "MeasuredLateralDimension",
    "PatientWeight",
    "MedicalAlerts",
    "Allergies",
    "Occupation",
    "SmokingStatus",
    "AdditionalPatientHistory",
    "PregnancyStatus",
    "LastMenstrualDate",
    "AdmissionID",
    "ServiceEpisodeID",
    "ServiceEpisodeDescription",
    "PatientState",
)
"""Type 3 value attributes of those modules and of Patient Study (C.7.2.2)."""

_EQUIPMENT = (
    "Manufacturer",
    "ManufacturerModelName",
    "SoftwareVersions",
    "DeviceSerialNumber",
    "InstitutionName",
    "InstitutionalDepartmentName",
    "InstitutionAddress",
    "StationName",
    "AcquisitionDateTime",
    "AcquisitionDate",
    "AcquisitionTime",
)
"""What highdicom copies into the Contributing Equipment Sequence (0018,A001) as the
source's acquisition equipment (PS3.3 C.7.5.1, C.12.1); without a Manufacturer it
leaves that item out."""

_MULTI_VALUED = frozenset(
    {
        "OtherPatientNames",
        "SoftwareVersions",
        "PhysiciansOfRecord",
        "NameOfPhysiciansReadingStudy",
        "ConsultingPhysicianName",
        "AdmittingDiagnosesDescription",
        "MedicalAlerts",
        "Allergies",
    }
)
"""The attributes above whose Value Multiplicity is 1-n; the others take one value."""

_ENUMERATED = {
    "PatientSex": frozenset({"M", "F", "O"}),
    "PatientIdentityRemoved": frozenset({"YES", "NO"}),
    "SmokingStatus": frozenset({"YES", "NO", "UNKNOWN"}),
}
"""Defined/enumerated values (PS3.3 C.7.1.1, C.7.2.2)."""

_LEGACY_DATE = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2})$")
_LEGACY_TIME = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?$")


def conformant_header(ds: Any) -> Any:
    """A copy of ``ds`` whose patient and study values a result may copy as they are.

    >>> from pydicom.dataset import Dataset
    >>> source = Dataset()
    >>> source.StudyTime, source.StudyDate, source.PatientSex = "14:04:38", "2024.01.02", "male"
    >>> source.PatientIdentityRemoved = "YES"  # but no De-identification Method
    >>> header = conformant_header(source)
    >>> header.StudyTime, header.StudyDate, header.PatientSex, header.PatientID
    ('140438', '20240102', '', '')
    >>> "PatientIdentityRemoved" in header, source.StudyTime
    (False, '14:04:38')
    """
    from pydicom.dataset import Dataset

    out = Dataset(dict(ds.items()))  # the elements as they are, not converted
    if hasattr(ds, "file_meta"):
        out.file_meta = ds.file_meta
    for keyword in (*_TYPE2, *_TYPE3, *_EQUIPMENT):
        if keyword in out:
            _repair(out, keyword, required=keyword in _TYPE2)
    for keyword in _TYPE2:
        if keyword not in out:
            setattr(out, keyword, "")
    if out.get("PatientIdentityRemoved") == "YES" and not (
        out.get("DeidentificationMethod") or out.get("DeidentificationMethodCodeSequence")
    ):
        # Type 1C: a claim of removed identity must name how (C.7.1.1).
        del out.PatientIdentityRemoved
    return out


def _repair(ds: Any, keyword: str, *, required: bool) -> None:
    from pydicom import config
    from pydicom.valuerep import validate_value

    element = ds[keyword]
    value = element.value
    if value is None or value == "":
        return
    if element.VR in ("DA", "TM") and isinstance(value, str):
        value = _legacy(element.VR, value.strip())
    try:
        if element.VM > 1 and keyword not in _MULTI_VALUED:
            raise ValueError(f"{element.VM} values where one is allowed")
        for one in value if element.VM > 1 else [value]:
            validate_value(element.VR, one, config.RAISE)
        allowed = _ENUMERATED.get(keyword)
        if allowed is not None and str(value) not in allowed:
            raise ValueError(f"{value!r} is not one of {sorted(allowed)}")
    except (ValueError, TypeError):
        if required:
            _replace(ds, element, "")
        else:
            delattr(ds, keyword)
        return
    if value is not element.value:
        _replace(ds, element, value)


def _replace(ds: Any, element: Any, value: Any) -> None:
    # A new element: the copy shares its elements with the source, and
    # setting a value would change the source's too.
    from pydicom.dataelem import DataElement

    ds[element.tag] = DataElement(element.tag, element.VR, value)


def _legacy(vr: str, value: str) -> str:
    """ACR-NEMA forms (PS3.5 6.2, retired): ``YYYY.MM.DD`` and ``HH:MM:SS.frac``."""
    if vr == "DA":
        date = _LEGACY_DATE.match(value)
        return "".join(date.groups()) if date else value
    time = _LEGACY_TIME.match(value)
    if time is None:
        return value
    hours, minutes, seconds, fraction = time.groups()
    return f"{hours}{minutes}{seconds or ''}{fraction or '' if seconds else ''}"
