"""Descriptor cleaning: identifying values, date/ID shaped text and unknown words go."""

from __future__ import annotations

import pytest

from streamgale.dicom.deid.text import Scrubber
from streamgale.dicom.deid.vocabulary import descriptor_vocabulary

SCRUB = Scrubber(["Moriarty^James", "MRN-77001", "19700101", "12 Baker Street, London", "Li^Wu"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CT chest James MORIARTY", "CT chest *** ***"),
        ("prior mrn-77001 compared", "prior *** compared"),
        ("born 01/01/1970", "born ***"),
        ("born 1970-01-01", "born ***"),
        ("lives at 12 Baker Street, London", "lives at ***"),
        ("moved from Baker Street", "*** from *** ***"),
        ("scan 2024/03/12 ok", "scan *** ok"),
        ("phone 07946095812", "phone ***"),
        ("Thorax 1.0 B70f", "Thorax 1.0 B70f"),  # technique text is left alone
        ("AX T2 FLAIR 5mm post contrast", "AX T2 FLAIR 5mm post contrast"),
        ("Jamesville", "***"),  # not a known word
        ("Li Wu", "** **"),  # short parts go too, and the value never grows
        # Third parties the instance names nowhere else: not known words, so they go.
        ("wife Irene Adler called", "wife *** *** called"),
        ("read by Dr Holmes and Dr. Watson", "read by Dr *** and Dr. ***"),
        ("ref RP-4455", "ref RP-***"),  # an acronym of the standard stays, the digits go
        ("Müller, Jürgen; 山田太郎", "***, ***; ***"),
    ],
)
def test_clean(text: str, expected: str) -> None:
    assert SCRUB.clean(text) == expected


def test_cleaning_never_lengthens_a_value() -> None:
    text = "Moriarty 19700101 MRN-77001 x Li"
    assert len(SCRUB.clean(text)) <= len(text)


@pytest.mark.parametrize(
    "name", ["holmes", "watson", "moriarty", "adler", "lestrade", "hudson", "hodgkin", "london"]
)
def test_names_are_not_in_the_vocabulary(name: str) -> None:
    assert name not in descriptor_vocabulary()


@pytest.mark.parametrize(
    "term", ["chest", "thorax", "abdomen", "contrast", "helical", "axial", "routine", "lung"]
)
def test_clinical_and_technical_terms_are(term: str) -> None:
    assert term in descriptor_vocabulary()
