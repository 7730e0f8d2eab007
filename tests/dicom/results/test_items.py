"""Re-pointed IMAGE items are the items highdicom would build, and leave their prototype alone."""

from __future__ import annotations

from typing import Any

import pytest
from highdicom.sr import SourceImageForMeasurementGroup, SourceImageForSegmentation

from streamgale.dicom.results import build_sr, read_part10_bytes, to_part10_bytes
from streamgale.dicom.results._items import referencing
from streamgale.dicom.results._library import _entry, image_library
from streamgale.dicom.synthetic import ct_series

from .conftest import content_items, make_result


def _highdicom(kind: Any, ds: Any) -> Any:
    if kind is _entry:
        return _entry(ds)
    return kind(
        referenced_sop_class_uid=ds.SOPClassUID, referenced_sop_instance_uid=ds.SOPInstanceUID
    )


@pytest.mark.parametrize(
    "kind", [SourceImageForMeasurementGroup, SourceImageForSegmentation, _entry]
)
def test_a_re_pointed_item_equals_the_one_highdicom_builds(kind: Any) -> None:
    first, second = ct_series(slices=2, size=16, seed=2)
    prototype = _highdicom(kind, first)
    copy = referencing(prototype, second.SOPClassUID, second.SOPInstanceUID)
    assert type(copy) is type(prototype)
    assert copy == _highdicom(kind, second)
    assert prototype == _highdicom(kind, first)  # the prototype still points at its image


def test_library_entries_keep_each_image_s_matrix() -> None:
    images = ct_series(slices=4, size=16, seed=3)
    images[2].Rows = images[2].Columns = 32
    [group] = image_library(images).ContentSequence
    entries = [item for item in group.ContentSequence if item.ValueType == "IMAGE"]
    assert [e.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for e in entries] == [
        ds.SOPInstanceUID for ds in images
    ]
    rows = [float(e.ContentSequence[0].MeasuredValueSequence[0].NumericValue) for e in entries]
    assert rows == [16.0, 16.0, 32.0, 16.0]


def test_the_written_sr_holds_every_reference_of_its_tree(series: list[Any], mask: Any) -> None:
    result = make_result(series, mask)
    sr = read_part10_bytes(to_part10_bytes(build_sr(result, series)))
    lesion = list(result.findings[0].source_sop_instance_uids)
    library = [
        str(item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
        for item in content_items(sr, "260753009", "SCT")
    ]
    measured = [
        str(item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
        for item in content_items(sr, "121112", "DCM")
    ]
    assert library == lesion and measured == lesion


def _decode_all(ds: Any) -> None:
    """Turn every raw element back into a DataElement and forget the encoding."""
    for tag in list(ds.keys()):
        element = ds[tag]  # decodes a raw element
        if element.VR == "SQ":
            for item in element.value:
                _decode_all(item)
    ds.set_original_encoding(None, None)


def test_shared_elements_are_encoded_as_pydicom_would(series: list[Any], mask: Any) -> None:
    result = make_result(series, mask)
    encoded = build_sr(result, series)
    assert any(element.is_raw for element in _all_elements(encoded))
    written = to_part10_bytes(encoded)
    plain = build_sr(result, series)
    _decode_all(plain)
    for mine, theirs in zip(
        plain.ContributingEquipmentSequence, encoded.ContributingEquipmentSequence, strict=True
    ):
        if "ContributionDateTime" in theirs:  # highdicom stamps the wall clock
            mine.ContributionDateTime = theirs.ContributionDateTime
    assert not any(element.is_raw for element in _all_elements(plain))
    assert to_part10_bytes(plain) == written
    # In memory, the encoded report reads as before.
    assert len(list(content_items(encoded, "260753009", "SCT"))) == len(
        result.findings[0].source_sop_instance_uids
    )


def _all_elements(ds: Any) -> list[Any]:
    out = []
    for element in ds.values():
        out.append(element)
        if not element.is_raw and element.VR == "SQ":
            for item in element.value:
                out.extend(_all_elements(item))
    return out
