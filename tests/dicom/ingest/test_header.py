"""The fast header reader agrees with pydicom, or steps aside for it."""

from __future__ import annotations

import struct
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_preamble
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence

import streamgale.dicom.ingest.inspection as inspection
from streamgale.dicom.ingest.header import NotPlainHeaderError, read_routing_values
from streamgale.dicom.synthetic import ct_series
from streamgale.errors import InvalidInstanceError

IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"


def bare(ds: Dataset, *, implicit: bool) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, implicit
    write_dataset(buffer, ds)
    return buffer.getvalue()


def by_pydicom(data: bytes, syntax: str, monkeypatch: pytest.MonkeyPatch) -> object:
    with monkeypatch.context() as patch:
        patch.setattr(inspection, "_plain_values", lambda *a, **k: None)
        return outcome(data, syntax)


def outcome(data: bytes, syntax: str) -> object:
    try:
        return inspection.inspect_instance(data, transfer_syntax_uid=syntax)
    except InvalidInstanceError as exc:
        return type(exc)


def bundled_datasets() -> list[tuple[str, bytes, str]]:
    """Every little-endian file pydicom ships, as (name, bare dataset, transfer syntax)."""
    folder = Path(pydicom.__file__).parent / "data" / "test_files"
    found = []
    for path in sorted(folder.glob("*.dcm")):
        try:
            meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
            with path.open("rb") as handle:
                read_preamble(handle, False)
                pydicom.filereader._read_file_meta_info(handle)
                start = handle.tell()
        except Exception:  # files pydicom itself cannot open are not ours to test
            continue
        syntax = str(meta.get("TransferSyntaxUID", ""))
        if syntax and syntax not in ("1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"):
            found.append((path.name, path.read_bytes()[start:], syntax))
    return found


def test_every_bundled_file_reads_the_same_with_or_without_pydicom(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    datasets = bundled_datasets()
    assert len(datasets) > 40
    fast = 0
    for name, data, syntax in datasets:
        fast += inspection._plain_values(memoryview(data), syntax) is not None
        assert outcome(data, syntax) == by_pydicom(data, syntax, monkeypatch), name
    assert fast > 0.8 * len(datasets)  # pydicom is the exception, not the rule


@pytest.mark.parametrize("implicit", [False, True])
def test_sequences_of_undefined_length_are_stepped_over(implicit: bool) -> None:
    ds = ct_series(slices=1, size=16)[0]
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.3"
    item.ReferencedSOPInstanceUID = "1.2.3.4"
    inner = Dataset()
    inner.CodeValue = "X"
    item.PurposeOfReferenceCodeSequence = Sequence([inner])
    ds.ReferencedImageSequence = Sequence([item, item])
    ds["ReferencedImageSequence"].is_undefined_length = True
    for sequence_item in ds.ReferencedImageSequence:
        sequence_item.is_undefined_length_sequence_item = True
    data = bare(ds, implicit=implicit)
    assert data.count(struct.pack("<HHL", 0xFFFE, 0xE00D, 0)) == 2  # items of undefined length
    values = read_routing_values(memoryview(data), implicit_vr=implicit)
    assert values["SOPInstanceUID"] == ds.SOPInstanceUID
    assert values["SeriesInstanceUID"] == ds.SeriesInstanceUID  # after the sequence


def test_a_un_sequence_of_undefined_length_is_read_as_implicit_inside() -> None:
    ds = ct_series(slices=1, size=16)[0]
    body = bare(ds, implicit=False)
    item = struct.pack("<HHL", 0x0008, 0x1150, 6) + b"1.2.3\0"  # implicit VR inside
    un = (
        struct.pack("<HH2s2xL", 0x0009, 0x1010, b"UN", 0xFFFFFFFF)
        + struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
        + item
        + struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
        + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
    )
    split = body.index(struct.pack("<HH", 0x0010, 0x0010))  # before Patient's Name
    data = body[:split] + un + body[split:]
    values = read_routing_values(memoryview(data), implicit_vr=False)
    assert values["StudyInstanceUID"] == ds.StudyInstanceUID


@pytest.mark.parametrize(
    ("keyword", "value"),
    [("SeriesDescription", "Poumons \u00e9largis"), ("Modality", "CT\\MR")],
)
def test_values_pydicom_would_decode_differently_fall_back(keyword: str, value: str) -> None:
    ds = ct_series(slices=1, size=16)[0]
    ds.SpecificCharacterSet = "ISO_IR 100"
    setattr(ds, keyword, value)
    data = bare(ds, implicit=False)
    with pytest.raises(NotPlainHeaderError):
        read_routing_values(memoryview(data), implicit_vr=False)
    found = inspection.inspect_instance(data, transfer_syntax_uid=EXPLICIT)  # pydicom reads it
    assert found.sop_instance_uid == ds.SOPInstanceUID


def test_truncated_bytes_and_unknown_vrs_fall_back() -> None:
    data = bare(ct_series(slices=1, size=16)[0], implicit=False)
    with pytest.raises(NotPlainHeaderError):
        read_routing_values(memoryview(data[:101]), implicit_vr=False)
    garbled = data[:4] + b"ZZ" + data[6:]
    with pytest.raises(NotPlainHeaderError, match="unknown VR"):
        read_routing_values(memoryview(garbled), implicit_vr=False)


def test_the_first_bytes_suffice_once_they_reach_pixel_data() -> None:
    data = bare(ct_series(slices=1, size=64)[0], implicit=False)
    pixels = data.index(struct.pack("<HH", 0x7FE0, 0x0010))
    head = memoryview(data[: pixels + 12])  # the Pixel Data header, none of its value
    whole = read_routing_values(memoryview(data), implicit_vr=False)
    assert read_routing_values(head, implicit_vr=False, up_to_pixel_data=True) == whole
    with pytest.raises(NotPlainHeaderError, match="before Pixel Data"):
        read_routing_values(head[:pixels], implicit_vr=False, up_to_pixel_data=True)
