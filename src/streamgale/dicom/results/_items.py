"""SR IMAGE content items for many images, built once and re-pointed per image.

A report on a 300-slice series holds one IMAGE item per referenced image: an
Image Library entry (TID 1601), a source of a measurement group, a source of
a segmentation. Built with highdicom, each costs about 1-2 ms (code and enum
checks, concept look-ups), which was most of the SR's time. Every such item
of one kind is the same but for its Referenced SOP Sequence (0008,1199), so
:func:`referencing` copies a highdicom-built prototype and gives the copy its
own reference: the same bytes, for a few microseconds each.

The copies share their other elements with the prototype. Nothing changes
an item once the report is built, and :func:`streamgale.dicom.results.sr.build_sr`
hands highdicom only a skeleton of the tree (see there), so no deep copy or
re-parse unshares them.
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["referencing"]

_REFERENCED_SOP_SEQUENCE = 0x00081199
_REFERENCED_SOP_CLASS_UID = 0x00081150
_REFERENCED_SOP_INSTANCE_UID = 0x00081155

ItemT = TypeVar("ItemT")


def referencing(prototype: ItemT, sop_class_uid: str, sop_instance_uid: str) -> ItemT:
    """A copy of IMAGE item ``prototype`` that references another image.

    >>> from highdicom.sr import SourceImageForMeasurementGroup
    >>> proto = SourceImageForMeasurementGroup(
    ...     referenced_sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
    ...     referenced_sop_instance_uid="1.2.3.1",
    ... )
    >>> other = referencing(proto, "1.2.840.10008.5.1.4.1.1.2", "1.2.3.2")
    >>> type(other).__name__, other.referenced_sop_instance_uid, other.name == proto.name
    ('SourceImageForMeasurementGroup', '1.2.3.2', True)
    >>> proto.referenced_sop_instance_uid
    '1.2.3.1'
    """
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    reference = Dataset()
    reference[_REFERENCED_SOP_CLASS_UID] = DataElement(
        _REFERENCED_SOP_CLASS_UID, "UI", sop_class_uid
    )
    reference[_REFERENCED_SOP_INSTANCE_UID] = DataElement(
        _REFERENCED_SOP_INSTANCE_UID, "UI", sop_instance_uid
    )
    cls: Any = type(prototype)
    item = cls.__new__(cls)
    Dataset.__init__(item, dict(prototype.items()))  # type: ignore[attr-defined]
    # A new element, not a new value: the old element is the prototype's too.
    item[_REFERENCED_SOP_SEQUENCE] = DataElement(
        _REFERENCED_SOP_SEQUENCE, "SQ", DicomSequence([reference])
    )
    return item  # type: ignore[no-any-return]
