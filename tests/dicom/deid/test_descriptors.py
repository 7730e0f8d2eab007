"""Clean Descriptors removes identifying free text the instance names nowhere else.

Every attribute that PS3.15 Table E.1-1 marks C under the Clean Descriptors
Option gets a third party's name (a colleague, a relative) that appears in no
other attribute; none may survive in the written bytes, while the clinical
words around it stay and the option is declared only because it was applied.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.datadict import DicomDictionary, dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from streamgale.dicom.deid import TABLE_E1_1, Option, deidentify
from streamgale.dicom.deid.actions import Action, action_plan
from tests.dicom.deid.conftest import code, config, rich_series

THIRD_PARTY = ("Irene", "Adler")
TEXT_VRS = {"SH", "LO", "ST", "LT", "UT", "UC"}
PLAN = action_plan(frozenset({Option.BASIC_PROFILE, Option.CLEAN_DESCRIPTORS}))
CLEANED = sorted(
    keyword
    for keyword, row in TABLE_E1_1.items()
    if PLAN[row.tag][1] is Action.C and row.descriptors == "C"
)


def _plant(ds: Any, keyword: str) -> None:
    row = TABLE_E1_1[keyword]
    vr = dictionary_VR(row.tag)
    if vr in TEXT_VRS:
        value = "Dr Irene Adler" if vr == "SH" else "chest pain, seen by Dr Irene Adler"
        ds.add(DataElement(row.tag, vr, value))
    elif vr == "SQ":
        item = code("99001", "99LOCAL", "contrast allergy per Irene Adler")
        item.ContainerDescription = "Adler Irene"  # free text nested in the item too
        ds.add(DataElement(row.tag, vr, [item]))


def _written(ds: Any) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def test_every_attribute_marked_c_is_listed() -> None:
    # The table marks about a hundred descriptors C; the test must cover them, not a few.
    assert len(CLEANED) > 90
    assert {"PatientComments", "AdditionalPatientHistory", "StudyDescription"} <= set(CLEANED)
    assert {"SeriesDescription", "ProtocolName", "ImageComments"} <= set(CLEANED)


@pytest.mark.parametrize("keyword", CLEANED)
def test_a_third_party_name_in_a_cleaned_descriptor_does_not_survive(keyword: str) -> None:
    original = rich_series()[0]
    _plant(original, keyword)
    out = deidentify(original, config(Option.CLEAN_DESCRIPTORS))
    data = _written(out)
    for part in THIRD_PARTY:
        assert part.encode() not in data, f"{part!r} of {keyword} survived"
    codes = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert Option.CLEAN_DESCRIPTORS.code_value in codes


def test_clinical_words_stay_and_codes_are_not_mangled() -> None:
    original = rich_series()[0]
    original.PatientComments = "chest pain, seen by Dr Irene Adler"
    original.AdmittingDiagnosesCodeSequence = [code("29857009", "SCT", "Chest pain")]
    out = deidentify(original, config(Option.CLEAN_DESCRIPTORS))
    assert out.PatientComments == "chest pain, seen by Dr *** ***"
    (item,) = out.AdmittingDiagnosesCodeSequence
    assert (item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning) == (
        "29857009",
        "SCT",
        "Chest pain",
    )


def test_text_that_cannot_be_read_is_removed_not_kept() -> None:
    original = rich_series()[0]
    del original.PatientComments
    original.add(DataElement(0x00104000, "UN", b"Irene Adler "))  # Patient Comments, undecoded
    request = Dataset()
    request.add(DataElement(0x00321060, "UN", b"Irene Adler "))  # Requested Procedure Desc.
    original.RequestAttributesSequence = [request]
    out = deidentify(original, config(Option.CLEAN_DESCRIPTORS))
    assert "PatientComments" not in out
    assert b"Adler" not in _written(out)
    back = dcmread(io.BytesIO(_written(out)))
    assert "PatientComments" not in back


def _unlisted_text_tags() -> list[tuple[int, str]]:
    listed = {row.tag for row in TABLE_E1_1.values()}
    return [
        (tag, vr)
        for tag, (vr, vm, _name, retired, _keyword) in DicomDictionary.items()
        if tag not in listed
        and vm == "1"
        and not retired
        and (
            (tag >> 16 in (0x0010, 0x0012, 0x0038) and vr in TEXT_VRS | {"PN"})
            or vr in {"ST", "LT", "UT", "UC"}
        )
        and tag >> 16 not in (0x0000, 0x0002)
        and tag != 0x00120063  # De-identification Method: the profile writes its own
        and tag not in (0x00080119, 0x00080120)  # Long and URN Code Value: codes, kept
    ]


@pytest.mark.parametrize("options", [(), (Option.CLEAN_DESCRIPTORS,)], ids=["basic", "clean"])
def test_text_the_table_does_not_list_is_removed_or_cleaned(options: tuple[Option, ...]) -> None:
    """Newer editions list attributes this table lacks (Patient Birth Date in
    Alternative Calendar...); narrative text anywhere may name anyone."""
    original = rich_series()[0]
    tags = _unlisted_text_tags()
    assert len(tags) > 100
    for tag, vr in tags:
        original.add(DataElement(tag, vr, "Adler^Irene" if vr == "PN" else "Irene Adler"))
    data = _written(deidentify(original, config(*options)))
    for part in THIRD_PARTY:
        assert part.encode() not in data
