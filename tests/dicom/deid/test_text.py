"""Descriptor cleaning: identifying values of the instance and date/ID shaped text go."""

from __future__ import annotations

import pytest

from streamgale.dicom.deid.text import Scrubber

SCRUB = Scrubber(["Moriarty^James", "MRN-77001", "19700101", "12 Baker Street, London", "Li^Wu"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CT chest James MORIARTY", "CT chest *** ***"),
        ("prior mrn-77001 compared", "prior *** compared"),
        ("born 01/01/1970", "born ***"),
        ("born 1970-01-01", "born ***"),
        ("lives at 12 Baker Street, London", "lives at ***"),
        ("moved from Baker Street", "moved from *** ***"),
        ("scan 2024/03/12 ok", "scan *** ok"),
        ("phone 07946095812", "phone ***"),
        ("Thorax 1.0 B70f", "Thorax 1.0 B70f"),  # technique text is left alone
        ("Jamesville", "Jamesville"),  # whole words only
        ("Li Wu", "Li Wu"),  # parts shorter than 3 characters are a documented gap
    ],
)
def test_clean(text: str, expected: str) -> None:
    assert SCRUB.clean(text) == expected


def test_cleaning_never_lengthens_a_value() -> None:
    text = "Moriarty 19700101 MRN-77001 x"
    assert len(SCRUB.clean(text)) <= len(text)
