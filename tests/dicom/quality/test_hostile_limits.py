"""Hostile instances refused by validation before anything large is decoded or allocated."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from io import BytesIO

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from streamgale.dicom.pixels import decode_frame, decode_frames
from streamgale.dicom.quality import ValidationLimits, validate_bytes, validate_instance
from streamgale.errors import ConfigError, InvalidInstanceError, PixelDecodeError
from tests.dicom.quality.helpers import encode, synthetic_ct
from tests.dicom.quality.hostile import (
    deep_sequences,
    deflate_bomb,
    items_as_native_pixels,
    j2k_bomb,
    length_past_end,
    native_syntax_encapsulated,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _reason(data: bytes, limits: ValidationLimits) -> str:
    with pytest.raises(InvalidInstanceError) as caught:
        validate_bytes(data, limits)
    return caught.value.reason


def test_a_decompression_bomb_is_refused_before_any_frame_is_decoded() -> None:
    bomb = j2k_bomb("bomb")  # 4096 frames of 2048 x 2048: 16 GiB decoded
    assert len(bomb) < 2 << 20
    started = time.perf_counter()
    reason, peak = _traced(lambda: _reason(bomb, ValidationLimits()))
    assert "17179869184 bytes" in reason and "max_pixel_bytes" in reason
    assert time.perf_counter() - started < 5
    assert peak < 16 << 20, f"validation allocated {peak} bytes"


def test_the_decoded_size_limit_is_configurable() -> None:
    small = j2k_bomb("small", size=64, frames=4)  # 16 KiB decoded
    validate_bytes(small, ValidationLimits())
    reason = _reason(small, ValidationLimits(max_pixel_bytes=16383))
    assert reason.startswith("the pixels would decode to 16384 bytes (Rows 64 x Columns 64")


def test_the_decoded_size_limit_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="max_pixel_bytes"):
        ValidationLimits(max_pixel_bytes=0)


def test_a_length_that_runs_past_the_end_of_the_file_is_named() -> None:
    # Columns (0028,0011) claims 0xFFF0 bytes: pydicom keeps the 2 KiB there are, silently,
    # and every element after it (the pixels) is swallowed.
    reason = _reason(_part10(length_past_end("x")), ValidationLimits())
    assert reason.startswith("element (0028,0011) Columns declares a 65520-byte value but only ")
    assert "the file is truncated or the length is wrong" in reason


def test_truncated_pixel_data_still_gets_the_length_the_image_needs() -> None:
    cut = encode(synthetic_ct(size=16))[:-100]
    reason = _reason(cut, ValidationLimits(min_rows=1, min_columns=1))
    assert reason.startswith(
        "PixelData (7FE0,0010) has 412 bytes (truncated); Rows 16 x Columns 16"
    )


def _traced(call: Callable[[], str]) -> tuple[str, int]:
    """What ``call`` returns, and the most memory Python and numpy held meanwhile."""
    tracemalloc.start()
    try:
        return call(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _part10(data: bytes) -> bytes:
    """The builders' files start at the File Meta group, as the doors take them."""
    return bytes(128) + b"DICM" + data


def test_sequences_nested_too_deep_to_read_are_named() -> None:
    # pydicom recurses per sequence level; 5000 levels exceed Python's recursion limit.
    reason = _reason(_part10(deep_sequences(5000)("deep")), ValidationLimits())
    assert "sequences are nested deeper than can be read" in reason
    validate_bytes(_part10(deep_sequences(100)("shallow")), ValidationLimits())


def test_a_deflate_bomb_is_refused_without_inflating_it_into_memory() -> None:
    bomb = deflate_bomb("bomb", inflated_mib=96)  # ~100 KB that inflate to 96 MiB
    assert len(bomb) < 200_000
    reason, peak = _traced(lambda: _reason(bomb, ValidationLimits(max_bytes=32 << 20)))
    assert reason.startswith("the Deflated data set inflates to more than 33554432 bytes")
    assert peak < 4 << 20, f"validation allocated {peak} bytes"


def test_a_deflated_instance_within_the_limit_passes() -> None:
    validate_bytes(deflate_bomb("small", inflated_mib=2), ValidationLimits(max_bytes=32 << 20))


def test_one_frame_of_a_large_native_instance_copies_that_frame_only() -> None:
    # A thumbnail of a 1 GiB multi-frame instance used to copy (and bit-shift) all of it.
    ds = synthetic_ct(size=256)
    frames = 200  # 25 MiB of 16-bit pixels
    ds.NumberOfFrames = frames
    ds.BitsStored = 12  # the high bits are masked: done on the frame taken only
    pixels = (np.arange(frames * 256 * 256) % 65521).astype("<u2")
    ds.PixelData = pixels.tobytes()
    tracemalloc.start()
    try:
        frame = decode_frame(ds, 123)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * frame.nbytes, f"decoding one frame allocated {peak} bytes"
    assert np.array_equal(frame, pixels.reshape(frames, 256, 256)[123] & 0x0FFF)
    assert np.array_equal(decode_frames(ds)[123], frame)


def test_deep_sequences_of_defined_length_read_lazily_are_named_too() -> None:
    # dcmtk re-encodes sequences with defined lengths; pydicom then reads them lazily, and
    # the depth shows only when each element is converted (as storescu sent them, 5000 deep).
    # Built in memory here, where nothing recurses until validation does.
    ds = synthetic_ct(size=16)
    item = Dataset()
    for _ in range(3000):
        outer = Dataset()
        outer.ContentSequence = DicomSequence([item])
        item = outer
    ds.ContentSequence = item.ContentSequence
    with pytest.raises(InvalidInstanceError) as caught:
        validate_instance(ds, ValidationLimits(), size_bytes=1000)
    assert "sequences are nested deeper than can be read" in caught.value.reason


def test_encapsulated_pixels_under_a_native_syntax_are_refused_not_read_as_pixels() -> None:
    # They were: the item tags and the offset table became the first 8 pixels of the image.
    data = _part10(native_syntax_encapsulated("native"))
    reason = _reason(data, ValidationLimits())
    assert "is encapsulated (undefined length, PS3.5 A.4) but the transfer syntax" in reason
    ds = dcmread(BytesIO(data))
    with pytest.raises(PixelDecodeError, match="encapsulated"):
        decode_frames(ds)


def test_items_written_as_native_pixel_data_are_refused_not_taken_as_padding() -> None:
    reason = _reason(_part10(items_as_native_pixels("items")), ValidationLimits())
    assert "holds encapsulation items (FFFE,E000; PS3.5 A.4) under a native" in reason
