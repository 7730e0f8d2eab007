"""Coded concepts used in StreamGale's SR and SEG objects, and why each was chosen.

DICOM results carry codes, not free text, so that viewers and registries can
read them (PS3.16). The choices:

- **Finding type** (TID 1501 row "Finding", DCM 121071; and the SEG Segmented
  Property Type, CID 7151): a known label maps to SNOMED CT — ``lesion`` to
  (SCT 52988006 "Lesion"), ``nodule`` to (SCT 27925004 "Nodule"), ``mass`` to
  (SCT 4147007 "Mass"), ``neoplasm``/``tumor`` to (SCT 108369006 "Neoplasm").
  Any other label gets a local code in the private scheme ``99SGALE``
  (designators starting "99" are local, PS3.16 section 8.2), with the label as
  the meaning; the objects then carry a Coding Scheme Identification item.
- **Finding category** (SCT 276214006, CID 7150) and SEG Segmented Property
  Category: (SCT 49755003 "Morphologically Abnormal Structure").
- **Presence** (TID 1501 qualitative evaluation): the finding concept as the
  question, answered (SCT 52101004 "Present") or (SCT 272519000 "Absent").
- **Measurements** (TID 300, CID 7469): ``area`` (SCT 42798000), ``diameter``
  (SCT 81827009), ``volume`` (SCT 118565006); the model's probability is
  (DCM 122157 "Probability") in UCUM ``1`` ("no units"). Other measurement
  keys get local ``99SGALE`` codes.
- **Procedure reported** (CID 100): by modality, e.g. CT gives
  (LN 25045-6 "CT unspecified body region"); unknown modalities give
  (SCT 363679005 "Imaging procedure").
- **Algorithm family** (CID 7162): (DCM 123110 "Artificial Intelligence").
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = [
    "LOCAL_SCHEME",
    "finding_code",
    "is_local",
    "local_scheme_item",
    "measurement_code",
    "procedure_code",
    "unit_code",
]

LOCAL_SCHEME = "99SGALE"
"""Coding Scheme Designator (0008,0102) of StreamGale's local codes."""

_FINDINGS = {
    "lesion": ("52988006", "Lesion"),
    "nodule": ("27925004", "Nodule"),
    "mass": ("4147007", "Mass"),
    "neoplasm": ("108369006", "Neoplasm"),
    "tumor": ("108369006", "Neoplasm"),
    "tumour": ("108369006", "Neoplasm"),
}
_MEASUREMENTS = {
    "area": ("42798000", "Area"),
    "diameter": ("81827009", "Diameter"),
    "volume": ("118565006", "Volume"),
}
_UNITS = {
    "mm": "millimeter",
    "mm2": "square millimeter",
    "mm3": "cubic millimeter",
    "cm": "centimeter",
    "cm2": "square centimeter",
    "cm3": "cubic centimeter",
    "ml": "milliliter",
    "1": "no units",
    "[hnsf'U]": "Hounsfield unit",
}
_PROCEDURES = {
    "CT": ("25045-6", "LN", "CT unspecified body region"),
    "MR": ("25056-3", "LN", "MRI unspecified body region"),
    "PT": ("44136-0", "LN", "PET unspecified body region"),
    "NM": ("49118-3", "LN", "NM unspecified body region"),
    "CR": ("43468-8", "LN", "XR unspecified body region"),
    "DX": ("43468-8", "LN", "XR unspecified body region"),
}


def _code(value: str, scheme: str, meaning: str) -> Any:
    from pydicom.sr.coding import Code

    return Code(value, scheme, meaning)


def _local(prefix: str, text: str) -> Any:
    # Code Value is SH (16 chars): a hash keeps long labels distinct; the
    # meaning (LO, 64 chars) carries the readable text.
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return _code(f"{prefix}{digest}", LOCAL_SCHEME, text[:64])


def finding_code(label: str) -> Any:
    """The coded concept for a finding label (a pydicom ``Code``).

    >>> finding_code("Lesion").value, finding_code("Lesion").scheme_designator
    ('52988006', 'SCT')
    >>> finding_code("pneumothorax").scheme_designator
    '99SGALE'
    """
    known = _FINDINGS.get(label.strip().lower())
    if known:
        return _code(known[0], "SCT", known[1])
    return _local("F", label)


def measurement_code(key: str, name: str) -> Any:
    """The concept name for a measurement keyed ``key`` (``name`` for local codes)."""
    known = _MEASUREMENTS.get(key.strip().lower())
    if known:
        return _code(known[0], "SCT", known[1])
    return _local("M", name)


def unit_code(unit: str) -> Any:
    """A UCUM unit code; the meaning is spelled out for the common units."""
    return _code(unit, "UCUM", _UNITS.get(unit, unit))


def procedure_code(modality: str) -> Any:
    """Procedure Reported (CID 100) for a source Modality (0008,0060)."""
    known = _PROCEDURES.get(modality)
    if known:
        return _code(*known)
    return _code("363679005", "SCT", "Imaging procedure")


def is_local(code: Any) -> bool:
    """True if ``code`` is in StreamGale's local scheme."""
    return bool(code.scheme_designator == LOCAL_SCHEME)


def local_scheme_item() -> Any:
    """Coding Scheme Identification Sequence (0008,0110) item for ``99SGALE``."""
    from highdicom.coding_schemes import CodingSchemeIdentificationItem

    return CodingSchemeIdentificationItem(
        designator=LOCAL_SCHEME,
        name="StreamGale local codes",
        responsible_organization="StreamGale",
    )
