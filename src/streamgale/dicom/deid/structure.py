"""What a result needs of a de-identified source: its structure, none of its free text.

A de-identifying route renders its SR and SEG from de-identified sources. The
Basic Profile keeps every attribute that PS3.15 Table E.1-1 does not list
(Manufacturer, Body Part Examined, a vendor's Frame Label...), and Clean
Descriptors keeps what its vocabulary knows; either may still carry a
patient's name that a technologist typed in the wrong field. A result needs
none of that text: it copies the patient and study modules, the UIDs it
references and the image geometry. :func:`without_free_text` therefore takes
every free-text element out (PN, LO, SH, ST, LT, UT, UC, UR, AE), nested
ones too, except the few a result copies, whose values the profile has
already replaced (the patient pseudonym, emptied Type 2 attributes) or that
name codes rather than say anything.

>>> from pydicom.dataset import Dataset
>>> ds = Dataset()
>>> ds.PatientID, ds.Manufacturer, ds.Rows = "SGX", "seen by Irene Adler", 64
>>> sorted(elem.keyword for elem in without_free_text(ds))
['PatientID', 'Rows']
"""

from __future__ import annotations

from typing import Any

__all__ = ["without_free_text"]

_FREE_TEXT_VRS = frozenset({"PN", "LO", "SH", "ST", "LT", "UT", "UC", "UR", "AE"})
_KEPT = frozenset(
    {
        0x00080050,  # Accession Number: Z (emptied) by the profile
        0x00080090,  # Referring Physician's Name: Z
        0x00100010,  # Patient's Name: the pseudonym
        0x00100020,  # Patient ID: the pseudonym
        0x00120063,  # De-identification Method: the options applied (our own text)
        0x00200010,  # Study ID: Z
        0x00080100,  # Code Value
        0x00080102,  # Coding Scheme Designator
        0x00080103,  # Coding Scheme Version
    }
)
_METHOD_CODES = 0x00120064  # De-identification Method Code Sequence: written by the profile


def without_free_text(ds: Any) -> Any:
    """A copy of ``ds`` without free-text elements (see the module docstring).

    The File Meta Information is kept: the profile rewrote it already.
    """
    from pydicom.dataset import Dataset

    out = Dataset()
    for elem in ds:
        tag = int(elem.tag)
        if tag == _METHOD_CODES:
            out.add(elem)
        elif elem.VR == "SQ":
            out.add_new(elem.tag, "SQ", [without_free_text(item) for item in elem.value])
        elif elem.VR not in _FREE_TEXT_VRS or tag in _KEPT:
            out.add(elem)
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        out.file_meta = meta
    implicit, little = ds.original_encoding
    out.set_original_encoding(implicit, little, ds.original_character_set)
    return out
