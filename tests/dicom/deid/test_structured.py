"""SR content follows the profile: removed (X), or cleaned under Clean Structured Content.

A report's free text (TEXT content items), the names of people in it (PNAME)
and its dates are what an SR's Content Sequence (0040,A730) carries; none of
the planted values may reach the written bytes.
"""

from __future__ import annotations

import io
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from streamgale.dicom.deid import Option, deidentify
from tests.dicom.deid.conftest import code, config

MARKERS = ("Adler", "Irene", "Moriarty", "Baker")


def _text(value: str) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    item.ConceptNameCodeSequence = [code("121071", "DCM", "Finding")]
    item.TextValue = value
    return item


def _person(name: str) -> Dataset:
    item = Dataset()
    item.RelationshipType = "HAS OBS CONTEXT"
    item.ValueType = "PNAME"
    item.ConceptNameCodeSequence = [code("121008", "DCM", "Person Observer Name")]
    item.PersonName = name
    return item


@pytest.fixture
def report() -> Any:
    ds = pydicom.dcmread(get_testdata_file("test-SR.dcm"))
    nested = _text("Irene Adler at Baker Street said no mass in the left lung")
    container = Dataset()
    container.RelationshipType = "CONTAINS"
    container.ValueType = "CONTAINER"
    container.ContinuityOfContent = "SEPARATE"
    container.ConceptNameCodeSequence = [code("121070", "DCM", "Findings")]
    container.ContentSequence = [nested, _person("Moriarty^James")]
    ds.ContentSequence = [*ds.ContentSequence, _text("Dictated by Dr Adler"), container]
    return ds


def _written(ds: Any) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _items(sequence: Any) -> list[Any]:
    found = []
    for item in sequence:
        found.append(item)
        found.extend(_items(item.get("ContentSequence", [])))
    return found


@pytest.mark.parametrize("options", [(), (Option.CLEAN_DESCRIPTORS,)])
def test_without_clean_structured_content_the_content_is_removed(
    report: Any, options: tuple[Option, ...]
) -> None:
    out = deidentify(report, config(*options))
    assert "ContentSequence" not in out
    data = _written(out)
    for marker in MARKERS:
        assert marker.encode() not in data


def test_clean_structured_content_keeps_the_tree_and_cleans_its_text(report: Any) -> None:
    out = deidentify(report, config(Option.CLEAN_STRUCTURED_CONTENT))
    data = _written(out)
    for marker in MARKERS:
        assert marker.encode() not in data, marker
    items = _items(out.ContentSequence)
    assert len(items) == len(_items(report.ContentSequence))  # the tree is kept
    texts = [str(i.TextValue) for i in items if i.get("ValueType") == "TEXT"]
    assert "*** *** at *** *** *** no mass in the left lung" in texts
    assert "*** by Dr ***" in texts
    names = {str(i.PersonName) for i in items if i.get("ValueType") == "PNAME"}
    assert "Moriarty^James" not in names
    meanings = {
        i.ConceptNameCodeSequence[0].CodeMeaning for i in items if "ConceptNameCodeSequence" in i
    }
    assert {"Finding", "Findings", "Person Observer Name"} <= meanings  # codes kept
    declared = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert Option.CLEAN_STRUCTURED_CONTENT.code_value in declared
    back = pydicom.dcmread(io.BytesIO(data))
    assert len(_items(back.ContentSequence)) == len(items)
