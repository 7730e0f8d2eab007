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
re-parse unshares them. :func:`encode_shared` then encodes each shared
element once, so writing the report copies bytes instead of encoding the
same code sequences a few hundred times.
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["encode_shared", "referencing"]

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


def encode_shared(root: Any) -> None:
    """Encode once every element that several items of ``root``'s tree share.

    Each shared element becomes a raw element (its Explicit VR Little Endian
    value bytes), and every dataset of the tree is marked as encoded that
    way, so pydicom writes those bytes as they are instead of walking and
    encoding each copy (PS3.5 7.1.2). Written in another transfer syntax,
    pydicom decodes and re-encodes them. Readers of the dataset in memory see
    the same values (pydicom decodes a raw element when it is read).
    """
    seen: dict[int, int] = {}
    _count(root, seen)
    shared = {key for key, count in seen.items() if count > 1}
    _replace(root, shared, {}, _charset(root))


def _count(ds: Any, seen: dict[int, int]) -> None:
    for element in ds.values():
        if element.is_raw:
            continue
        key = id(element)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == 1 and element.VR == "SQ":
            for item in element.value:
                _count(item, seen)


def _replace(ds: Any, shared: set[int], raw: dict[int, Any], charset: Any) -> None:
    for tag, element in list(ds.items()):
        if element.is_raw:
            continue
        key = id(element)
        if key in shared:
            if key not in raw:
                raw[key] = _raw(element, charset)
            ds[tag] = raw[key]
        elif element.VR == "SQ":
            for item in element.value:
                _replace(item, shared, raw, charset)
    ds.set_original_encoding(False, True, ds._character_set)


def _raw(element: Any, charset: Any) -> Any:
    from pydicom.dataelem import RawDataElement
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_data_element

    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_data_element(buffer, element, charset)
    encoded = buffer.getvalue()
    # Explicit VR header: tag, VR, then a 2-byte length, or 2 reserved bytes
    # and a 4-byte length for the VRs of PS3.5 Table 7.1-1.
    header = 12 if element.VR in _LONG_HEADER else 8
    value = encoded[header:]
    return RawDataElement(element.tag, element.VR, len(value), value, 0, False, True)


_LONG_HEADER = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)


def _charset(root: Any) -> Any:
    from pydicom.charset import convert_encodings

    value = root.get("SpecificCharacterSet")
    return convert_encodings(value) if value else None
