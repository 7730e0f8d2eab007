"""Arrival: inspecting and hashing while fragments arrive gives exactly what put would."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from streamgale.dicom.ingest import InstanceStore
from streamgale.dicom.ingest.arrival import Arrival
from streamgale.dicom.ingest.inspection import inspect_instance
from streamgale.dicom.synthetic import ct_series
from streamgale.log import MemoryLog

from .helpers import bundled

EXPLICIT = "1.2.840.10008.1.2.1"


def bare_ct(size: int = 64) -> memoryview:
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, ct_series(slices=1, size=size)[0])
    return memoryview(buffer.getvalue())


@pytest.mark.parametrize("fragment", [64, 1000, 4096])
def test_fed_in_fragments_it_matches_inspecting_the_whole(fragment: int) -> None:
    data = bare_ct()
    arrival = Arrival(EXPLICIT, source_ae="MOD")
    for end in range(fragment, len(data), fragment):
        arrival.feed(data[:end])
    prepared = arrival.finish(data)
    assert prepared is not None
    found, sha = prepared
    whole = inspect_instance(data, transfer_syntax_uid=EXPLICIT, source_ae="MOD")
    assert found == whole
    assert sha == hashlib.sha256(b"".join(whole.chunks)).hexdigest()


def test_a_dataset_without_pixel_data_is_left_to_the_store() -> None:
    sr = bundled("test-SR.dcm").read_bytes()
    arrival = Arrival("1.2.840.10008.1.2")
    arrival.feed(memoryview(sr)[:500])
    assert arrival.finish(memoryview(sr)) is None


def test_put_with_an_arrival_stores_what_put_without_one_stores(tmp_path: Path) -> None:
    data = bare_ct()
    arrival = Arrival(EXPLICIT, source_ae="MOD")
    arrival.feed(data[: len(data) // 2])
    stores = [InstanceStore(tmp_path / name, MemoryLog(), clock=lambda: 1.0) for name in "ab"]
    with_arrival = stores[0].put(
        data, source="dimse", calling_ae="MOD", transfer_syntax_uid=EXPLICIT, arrival=arrival
    )
    without = stores[1].put(data, source="dimse", calling_ae="MOD", transfer_syntax_uid=EXPLICIT)
    assert with_arrival.sha256 == without.sha256
    assert Path(with_arrival.path).read_bytes() == Path(without.path).read_bytes()
    for store in stores:
        store.close()


def test_an_arrival_for_other_bytes_is_ignored(tmp_path: Path) -> None:
    data = bare_ct()
    other = Arrival(EXPLICIT, source_ae="SOMEONE-ELSE")
    other.feed(data)
    store = InstanceStore(tmp_path / "s", MemoryLog())
    stored = store.put(
        data, source="dimse", calling_ae="MOD", transfer_syntax_uid=EXPLICIT, arrival=other
    )
    assert inspect_instance(Path(stored.path).read_bytes()).sop_instance_uid == (
        stored.sop_instance_uid
    )
    assert b"MOD" in Path(stored.path).read_bytes()[:400]  # the File Meta names the real sender
    store.close()
