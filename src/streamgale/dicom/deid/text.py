"""Cleaning free text (the "C" action on descriptors, PS3.15 E.3.5).

A description is kept but cleaned, in two passes:

1. Every identifying value found in the instance itself (the patient's names
   and their parts, IDs, accession number, birth date in common spellings,
   addresses, phone numbers, names of staff) is replaced by ``***``, and so
   is anything shaped like a date (``12/03/2024``, ``2024-03-12``) or a run of
   five or more digits (IDs, YYYYMMDD, phone numbers).
2. Every remaining word that is not a clinical or technical term of the
   standard (:func:`~streamgale.dicom.deid.vocabulary.descriptor_vocabulary`)
   is replaced by ``***`` too: a name the instance does not carry anywhere
   else (a relative, a colleague, a place) is not a known term, so it goes.
   Short technical codes with digits (``T2``, ``B70f``, ``120kV``) stay;
   longer digit groups (four or more) go, since they may be parts of IDs.

Limits, honestly: common English words that are also names ("Brown",
"White") are known terms and stay; narrative text keeps only its clinical
words, so it is cleaned, not readable.

>>> scrub = Scrubber(["Doe^John", "MRN12345"])
>>> scrub.clean("CT chest John DOE mrn12345 (prior 2023-04-01) by Dr Holmes")
'CT chest *** *** *** (prior ***) by Dr ***'
>>> scrub.clean("AX T2 FLAIR 5mm, Thorax 1.0 B70f")
'AX T2 FLAIR 5mm, Thorax 1.0 B70f'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from streamgale.dicom.deid.vocabulary import descriptor_vocabulary

__all__ = ["IDENTIFYING_KEYWORDS", "Scrubber"]

IDENTIFYING_KEYWORDS = frozenset(
    {
        "AccessionNumber",
        "AdmissionID",
        "ClinicalTrialSubjectID",
        "ConsultingPhysicianName",
        "FillerOrderNumberImagingServiceRequest",
        "IssuerOfPatientID",
        "MedicalRecordLocator",
        "MilitaryRank",
        "NameOfPhysiciansReadingStudy",
        "OperatorsName",
        "OtherPatientIDs",
        "OtherPatientNames",
        "PatientAddress",
        "PatientBirthDate",
        "PatientBirthName",
        "PatientID",
        "PatientMotherBirthName",
        "PatientName",
        "PatientTelephoneNumbers",
        "PerformingPhysicianName",
        "PersonName",
        "PhysiciansOfRecord",
        "PlacerOrderNumberImagingServiceRequest",
        "ReferringPhysicianName",
        "RequestedProcedureID",
        "RequestingPhysician",
        "ResponsiblePerson",
        "ScheduledPerformingPhysicianName",
        "ServiceEpisodeID",
    }
)
"""Attributes whose values are looked for, and removed, in cleaned text."""

_MIN_TOKEN = 3  # shorter parts ("J", "Li") would erase ordinary words everywhere
_REPLACEMENT = "***"
_DATE_SHAPED = r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
_LONG_DIGITS = r"\d{5,}"
_TOKEN = re.compile(r"[^\W_]+")
# A short code: at most 3 letters, 1-3 digits, at most 3 letters ("T2", "B70f", "120kV").
_TECHNICAL_CODE = re.compile(r"[^\W\d_]{0,3}\d{1,3}[^\W\d_]{0,3}")


class Scrubber:
    """Removes the given identifying values, and date or ID shaped text, from strings."""

    def __init__(self, values: Iterable[str]) -> None:
        tokens = set()
        for value in values:
            tokens.update(_tokens(value))
        alternatives = [re.escape(t) for t in sorted(tokens, key=len, reverse=True)]
        alternatives += [_DATE_SHAPED, _LONG_DIGITS]
        self._pattern = re.compile(
            r"(?<![0-9A-Za-z])(?:" + "|".join(alternatives) + r")(?![0-9A-Za-z])",
            re.IGNORECASE,
        )

    def clean(self, text: str) -> str:
        """``text`` with every identifying match, and every unknown word, replaced by ``***``."""
        return _TOKEN.sub(_known_or_replaced, self._pattern.sub(_REPLACEMENT, text))


def _known_or_replaced(match: re.Match[str]) -> str:
    token = match.group()
    if token.lower() in descriptor_vocabulary() or _TECHNICAL_CODE.fullmatch(token):
        return token
    return _REPLACEMENT[: len(token)]  # never longer than the word: VRs have maximum lengths


def _tokens(value: str) -> set[str]:
    text = value.strip()
    found = {text} if len(text) >= _MIN_TOKEN else set()
    for part in re.split(r"[\^=\\,;\s]+", text):
        if len(part.strip(".")) >= _MIN_TOKEN:
            found.add(part.strip("."))
    if re.fullmatch(r"\d{8}", text):  # a DA: also its common spellings
        y, m, d = text[:4], text[4:6], text[6:]
        found.update(
            {f"{y}-{m}-{d}", f"{y}/{m}/{d}", f"{d}/{m}/{y}", f"{m}/{d}/{y}", f"{d}.{m}.{y}"}
        )
    return found
