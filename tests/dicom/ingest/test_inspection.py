"""The door's screening: junk and decompression bombs are refused before any parser reads them."""

from __future__ import annotations

import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom
import pydicom.filereader
import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from streamgale.dicom.ingest import InstanceStore
from streamgale.dicom.ingest.inspection import inspect_instance, screen_instance
from streamgale.errors import InvalidInstanceError
from streamgale.log import MemoryLog
from tests.dicom.quality.hostile import deep_sequences, deflate_bomb, good_study

_DEFLATED = "1.2.840.10008.1.2.1.99"


def _peak_mib(action: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        action()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / (1 << 20)


def _refusal(action: Callable[[], Any]) -> str:
    with pytest.raises(InvalidInstanceError) as caught:
        action()
    return caught.value.reason


def test_a_deflate_bomb_is_refused_without_inflating_it() -> None:
    bomb = deflate_bomb("bomb", inflated_mib=64)  # ~70 KB on the wire
    reasons: list[str] = []
    peak = _peak_mib(
        lambda: reasons.append(_refusal(lambda: inspect_instance(bomb, max_inflated_bytes=1 << 20)))
    )
    assert "inflates to more than 1048576 bytes" in reasons[0]
    assert peak < 16, f"refusing the bomb held {peak:.0f} MiB"


def test_a_bare_deflated_dataset_is_bounded_too() -> None:
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bomb = deflater.compress(bytes(32 << 20)) + deflater.flush()
    reasons: list[str] = []
    peak = _peak_mib(
        lambda: reasons.append(
            _refusal(
                lambda: inspect_instance(
                    bomb, transfer_syntax_uid=_DEFLATED, max_inflated_bytes=1 << 20
                )
            )
        )
    )
    assert "inflates to more than 1048576 bytes" in reasons[0]
    assert peak < 16, f"refusing the bomb held {peak:.0f} MiB"


def test_the_store_bounds_inflation_by_max_instance_bytes(tmp_path: Path) -> None:
    store = InstanceStore(tmp_path / "store", MemoryLog(), max_instance_bytes=4 << 20)
    try:
        reason = _refusal(lambda: store.put(deflate_bomb("store", inflated_mib=16), source="stow"))
        assert "inflates to more than 4194304 bytes" in reason
        small = deflate_bomb("fits", inflated_mib=1)  # a Deflated instance under the limit
        assert store.put(small, source="stow").sop_instance_uid
    finally:
        store.close()


@pytest.mark.parametrize(
    ("junk", "syntax"),
    [
        (bytes(8 << 20), None),
        (b"%PDF-1.4\n" + bytes(1 << 20), None),
        (bytes(1 << 20), "1.2.840.10008.1.2"),
        (b"hello world, this is text and no data set" * 1000, "1.2.840.10008.1.2.1"),
    ],
    ids=["zeros", "pdf", "zeros-implicit", "text-explicit"],
)
def test_junk_is_refused_without_pydicom(
    junk: bytes, syntax: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pydicom was asked to read junk")

    monkeypatch.setattr(pydicom, "dcmread", forbidden)
    monkeypatch.setattr(pydicom.filereader, "read_dataset", forbidden)
    reason = _refusal(lambda: inspect_instance(junk, transfer_syntax_uid=syntax))
    assert "the bytes are not DICOM" in reason and "do not begin with a data element" in reason


@pytest.mark.parametrize("syntax", [None, "1.2.840.10008.1.2", "1.2.840.10008.1.2.1"])
def test_real_bare_datasets_pass_the_screen(syntax: str | None) -> None:
    ds = good_study("bare", slices=1)[0]
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, syntax == "1.2.840.10008.1.2"
    write_dataset(buffer, ds)
    data = buffer.getvalue()
    screen_instance(data, transfer_syntax_uid=syntax)
    assert inspect_instance(data, transfer_syntax_uid=syntax).sop_instance_uid == ds.SOPInstanceUID


def test_sequences_nested_too_deep_are_refused_with_a_reason() -> None:
    data = deep_sequences(5000)("deep")
    reason = _refusal(lambda: inspect_instance(data))
    assert "nested deeper than can be read" in reason
