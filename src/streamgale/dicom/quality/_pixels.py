"""Pixel checks: the Image Pixel module (PS3.3 C.7.6.3), the Pixel Data length, decodability.

Native (uncompressed) Pixel Data must be as long as the Image Pixel
attributes say (PS3.5 8.1.1); trailing padding shorter than one frame is
tolerated, as pydicom and dcmtk tolerate it. Encapsulated (compressed) Pixel
Data (PS3.5 8.2, A.4) must split into Number of Frames frames, each JPEG-family
frame must end with its end marker (decoders fill a truncated frame with grey
rather than fail), and the first frame must decode with the installed
pydicom codec plugins to Rows x Columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamgale.dicom.quality._attributes import (
    describe,
    is_fatal,
    one_line,
    read,
    require,
    require_int,
)
from streamgale.errors import InvalidInstanceError

if TYPE_CHECKING:
    from pydicom import Dataset
    from pydicom.uid import UID

    from streamgale.dicom.quality.validate import ValidationLimits

__all__ = ["PIXEL_KEYWORDS", "PixelGeometry", "check_pixel_data", "check_pixel_module"]

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
"""(7FE0,0010), (7FE0,0008) and (7FE0,0009): the elements that hold an image."""

_SAMPLES_BY_PHOTOMETRIC = {
    "MONOCHROME1": 1,
    "MONOCHROME2": 1,
    "PALETTE COLOR": 1,
    "RGB": 3,
    "YBR_FULL": 3,
    "YBR_FULL_422": 3,
    "YBR_PARTIAL_420": 3,
    "YBR_ICT": 3,
    "YBR_RCT": 3,
    "XYB": 3,
}
"""Photometric Interpretation (0028,0004) terms still in the standard (PS3.3 C.7.6.3.1.2)."""

_INTEGER_BITS_ALLOCATED = (1, 8, 16, 32)
_EOI = b"\xff\xd9"
"""End of image (ISO 10918-1 B.1.1.3, ISO 14495-1) and end of code stream (ISO 15444-1 A.4.4)."""
_ITEM_TAG = b"\xfe\xff\x00\xe0"
"""Item (FFFE,E000), little endian: how an encapsulated fragment starts (PS3.5 A.4)."""
_FLOAT_BITS_ALLOCATED = {"FloatPixelData": 32, "DoubleFloatPixelData": 64}


@dataclass(frozen=True)
class PixelGeometry:
    """What the Image Pixel module says the Pixel Data holds."""

    keyword: str
    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    photometric_interpretation: str
    frames: int

    def expected_native_length(self) -> int:
        """Bytes of native Pixel Data, without the padding byte (PS3.5 8.1.1, 8.2)."""
        pixels = self.rows * self.columns * self.frames
        if self.bits_allocated == 1:
            return math.ceil(pixels * self.samples_per_pixel / 8)
        # YBR_FULL_422 stores two samples per pixel on average (PS3.3 C.7.6.3.1.2).
        samples = 2 if self.photometric_interpretation == "YBR_FULL_422" else self.samples_per_pixel
        return pixels * samples * self.bits_allocated // 8

    def formula(self) -> str:
        """How :meth:`expected_native_length` was computed, for a reason."""
        samples = (
            "2 (YBR_FULL_422)"
            if self.photometric_interpretation == "YBR_FULL_422"
            else (str(self.samples_per_pixel))
        )
        return (
            f"Rows {self.rows} x Columns {self.columns} x SamplesPerPixel {samples} x "
            f"BitsAllocated {self.bits_allocated} / 8 x NumberOfFrames {self.frames}"
        )


def check_pixel_module(ds: Dataset, keyword: str, limits: ValidationLimits) -> PixelGeometry:
    """Check the Image Pixel module attributes the pixels need; raise with the first problem."""
    rows = require_int(ds, "Rows", limits.min_rows, limits.max_rows)
    columns = require_int(ds, "Columns", limits.min_columns, limits.max_columns)
    samples = require_int(ds, "SamplesPerPixel", 1, 3)
    photometric = _photometric(ds, samples)
    frames = _frames(ds, limits.max_frames)
    integer = keyword == "PixelData"
    bits_allocated = _integer_bits(ds) if integer else _FLOAT_BITS_ALLOCATED[keyword]
    if samples > 1 and integer:
        require_int(ds, "PlanarConfiguration", 0, 1)
    geometry = PixelGeometry(keyword, rows, columns, samples, bits_allocated, photometric, frames)
    _check_decoded_size(geometry, limits.max_pixel_bytes)
    return geometry


def _check_decoded_size(geometry: PixelGeometry, limit: int) -> None:
    """Refuse pixels that would decode to more than ``limit`` bytes, before decoding any.

    Each axis may be within its limit while their product is not: 4096 frames of
    2048 x 2048 is 16 GiB, and a JPEG 2000 frame of a flat image is a few hundred bytes.
    """
    size = geometry.expected_native_length()
    if size > limit:
        raise InvalidInstanceError(
            f"the pixels would decode to {size} bytes ({geometry.formula()}); the limit is "
            f"{limit} (max_pixel_bytes): too large to process, or a decompression bomb"
        )


def check_pixel_data(ds: Dataset, geometry: PixelGeometry, transfer_syntax: UID | None) -> None:
    """Check native length, or that encapsulated frames are all there and the first decodes."""
    element = ds[geometry.keyword]
    encapsulated = bool(element.is_undefined_length) or (
        transfer_syntax is not None
        and transfer_syntax.is_transfer_syntax
        and transfer_syntax.is_encapsulated
    )
    if not encapsulated:
        _check_native_length(read(ds, geometry.keyword), geometry)
        return
    if transfer_syntax is None:
        raise InvalidInstanceError(
            "Pixel Data (7FE0,0010) is encapsulated but the Transfer Syntax UID (0002,0010) "
            "is missing, so its codec is unknown"
        )
    if transfer_syntax.is_transfer_syntax and not transfer_syntax.is_encapsulated:
        # Read as native, the item tags and the offset table would become pixels.
        raise InvalidInstanceError(
            f"{describe(geometry.keyword)} is encapsulated (undefined length, PS3.5 A.4) but "
            f"the transfer syntax {transfer_syntax.name} is native, so its bytes are no image; "
            "the sender must encode both alike"
        )
    _check_frames(ds, geometry, transfer_syntax)
    _check_first_frame_decodes(ds, geometry, transfer_syntax)


def _photometric(ds: Dataset, samples: int) -> str:
    value = str(require(ds, "PhotometricInterpretation")).strip()
    expected_samples = _SAMPLES_BY_PHOTOMETRIC.get(value)
    if expected_samples is None:
        raise InvalidInstanceError(
            f"{describe('PhotometricInterpretation')} is {value!r}; expected one of "
            f"{', '.join(_SAMPLES_BY_PHOTOMETRIC)}"
        )
    if expected_samples != samples:
        raise InvalidInstanceError(
            f"{describe('SamplesPerPixel')} is {samples} but "
            f"{describe('PhotometricInterpretation')} {value} needs {expected_samples}"
        )
    return value


def _frames(ds: Dataset, max_frames: int) -> int:
    """Number of Frames (0028,0008); absent or empty means a single frame, as pydicom reads it."""
    if read(ds, "NumberOfFrames") in (None, ""):
        return 1
    return require_int(ds, "NumberOfFrames", 1, max_frames)


def _integer_bits(ds: Dataset) -> int:
    allocated = require_int(ds, "BitsAllocated", 1, 32)
    if allocated not in _INTEGER_BITS_ALLOCATED:
        raise InvalidInstanceError(
            f"{describe('BitsAllocated')} is {allocated}; expected 1, 8, 16 or 32"
        )
    stored = require_int(ds, "BitsStored", 1, allocated)
    high_bit = require_int(ds, "HighBit", 0, allocated - 1)
    if high_bit != stored - 1:
        raise InvalidInstanceError(
            f"{describe('HighBit')} is {high_bit} but {describe('BitsStored')} is {stored}; "
            f"expected HighBit = BitsStored - 1 = {stored - 1} (PS3.5 8.1.1)"
        )
    require_int(ds, "PixelRepresentation", 0, 1)
    return allocated


def _check_native_length(value: Any, geometry: PixelGeometry) -> None:
    actual = len(value) if isinstance(value, bytes | bytearray) else None
    if actual is None:
        raise InvalidInstanceError(f"{describe(geometry.keyword)} holds no bytes")
    expected = geometry.expected_native_length()
    if actual > expected and bytes(value[:4]) == _ITEM_TAG:
        # Extra bytes are taken as trailing padding below; these lead, and are items.
        raise InvalidInstanceError(
            f"{describe(geometry.keyword)} holds encapsulation items (FFFE,E000; PS3.5 A.4) "
            "under a native transfer syntax, so its bytes are no image; the sender must "
            "encode both alike"
        )
    frame_bytes = max(1, expected // geometry.frames)
    # Less than a frame of trailing bytes is padding (pydicom and dcmtk drop it); a whole
    # frame or more means the image attributes do not describe these pixels.
    if expected <= actual < expected + frame_bytes:
        return
    what = "truncated" if actual < expected else "a frame or more longer than the attributes say"
    raise InvalidInstanceError(
        f"{describe(geometry.keyword)} has {actual} bytes ({what}); "
        f"{geometry.formula()} = {expected} expected"
    )


def _check_frames(ds: Dataset, geometry: PixelGeometry, transfer_syntax: UID) -> None:
    """Number of Frames frames are there and, for the JPEG family, each ends as it must."""
    from pydicom.encaps import generate_frames

    offsets = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        offsets = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    ends_with_eoi = _ends_with_eoi(transfer_syntax)
    count = 0
    try:
        for frame in generate_frames(
            ds.PixelData, number_of_frames=geometry.frames, extended_offsets=offsets
        ):
            count += 1
            if ends_with_eoi and not frame.rstrip(b"\x00\xff").endswith(_EOI):
                raise InvalidInstanceError(
                    f"frame {count} of the encapsulated Pixel Data (7FE0,0010) does not end with "
                    f"the end-of-image marker FFD9 (truncated or damaged); "
                    f"transfer syntax {transfer_syntax.name}"
                )
    except InvalidInstanceError:
        raise
    except Exception as exc:  # pydicom raises ValueError, KeyError, struct.error ...
        raise InvalidInstanceError(
            f"encapsulated Pixel Data (7FE0,0010) cannot be split into frames: {one_line(exc)}; "
            f"transfer syntax {transfer_syntax.name}"
        ) from exc
    if count != geometry.frames:
        raise InvalidInstanceError(
            f"encapsulated Pixel Data (7FE0,0010) holds {count} frame(s) but "
            f"{describe('NumberOfFrames')} says {geometry.frames}; "
            f"transfer syntax {transfer_syntax.name}"
        )


def _ends_with_eoi(transfer_syntax: UID) -> bool:
    """JPEG, JPEG-LS (EOI) and JPEG 2000 (EOC) code streams all end with FFD9."""
    from pydicom.uid import JPEG2000TransferSyntaxes, JPEGLSTransferSyntaxes, JPEGTransferSyntaxes

    return transfer_syntax in (
        *JPEGTransferSyntaxes,
        *JPEGLSTransferSyntaxes,
        *JPEG2000TransferSyntaxes,
    )


def _check_first_frame_decodes(ds: Dataset, geometry: PixelGeometry, transfer_syntax: UID) -> None:
    from pydicom.pixels.utils import pixel_array

    try:
        frame = pixel_array(ds, index=0)
    except BaseException as exc:  # each plugin raises its own types; Rust ones panic
        if is_fatal(exc):
            raise
        raise InvalidInstanceError(
            f"pixel data cannot be decoded: {one_line(exc)}; transfer syntax {transfer_syntax.name}"
        ) from exc
    if tuple(frame.shape[:2]) != (geometry.rows, geometry.columns):
        raise InvalidInstanceError(
            f"the first frame decodes to {frame.shape[0]} x {frame.shape[1]} pixels but "
            f"Rows x Columns say {geometry.rows} x {geometry.columns}; "
            f"transfer syntax {transfer_syntax.name}"
        )
