"""Hostile and real-world-broken instances, as a sender might produce them.

Each case is one single-instance study of its own (so its outcome is
isolated), built from a valid synthetic CT and then damaged. A case says how
it may end: ``processed`` (a result, or routed through), ``quarantined``
(with a reason), or ``refused`` (a DIMSE failure status / STOW-RS failure).
Several endings are allowed where the standard leaves the choice to the
receiver; what is never allowed is no ending at all, or two.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from io import BytesIO
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.pixels.encoders.base import get_encoder
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

from streamgale.dicom.synthetic import ct_series

__all__ = [
    "CASES",
    "HostileCase",
    "deep_sequences",
    "deflate_bomb",
    "good_study",
    "instance_uids",
    "items_as_native_pixels",
    "j2k_bomb",
    "length_past_end",
    "native_syntax_encapsulated",
]

PROCESSED = "processed"
QUARANTINED = "quarantined"
REFUSED = "refused"


@dataclass(frozen=True)
class HostileCase:
    """One damaged instance: its bytes and the endings it may have."""

    name: str
    build: Callable[[str], bytes]
    """Study-unique seed -> the Part 10 file to send."""
    ends: frozenset[str]
    reason: str = ""
    """Part of the reason a quarantine entry or a refusal must give (when it has one)."""
    dimse: bool = True
    """Whether dcmtk storescu can send it (it must load the file); if not, stock
    pynetdicom sends the data set unparsed (``tests/dicom/radiology/raw_scu.py``)."""


def _uid(text: str) -> str:
    return "2.25." + str(int(hashlib.sha256(text.encode()).hexdigest()[:30], 16))


def good_study(seed: str, slices: int = 2) -> list[Dataset]:
    """A valid chest CT study of its own (with a lesion, so it gets a finding)."""
    return ct_series(slices=slices, size=32, lesion=True, seed=7, study_uid=_uid(f"study-{seed}"))


def instance_uids(seed: str) -> tuple[str, str]:
    """(SOP Instance UID, Study Instance UID) a case built from ``seed`` starts from."""
    return _uid(f"sop-{seed}"), str(good_study(seed, slices=1)[0].StudyInstanceUID)


def _base(seed: str) -> Dataset:
    ds = good_study(seed, slices=1)[0]
    ds.SOPInstanceUID = _uid(f"sop-{seed}")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def _encode(ds: Dataset, *, check: bool = False) -> bytes:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=check)
    return buffer.getvalue()


def _with(**changes: Any) -> Callable[[str], bytes]:
    def build(seed: str) -> bytes:
        ds = _base(seed)
        for keyword, value in changes.items():
            if value is None:
                delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        return _encode(ds)

    return build


def _truncated(fraction: float) -> Callable[[str], bytes]:
    def build(seed: str) -> bytes:
        data = _encode(_base(seed))
        return data[: int(len(data) * fraction)]

    return build


def _short_pixels(seed: str) -> bytes:
    ds = _base(seed)
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
    return _encode(ds)


def _bits(allocated: int, stored: int) -> Callable[[str], bytes]:
    def build(seed: str) -> bytes:
        ds = _base(seed)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = allocated, stored, stored - 1
        pixels = ds.Rows * ds.Columns
        length = (pixels + 7) // 8 if allocated == 1 else pixels * allocated // 8
        ds.PixelData = bytes(length + length % 2)
        return _encode(ds)

    return build


def _float_pixels(seed: str) -> bytes:
    ds = _base(seed)
    del ds.PixelData
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 64, 64, 63
    ds.DoubleFloatPixelData = bytes(ds.Rows * ds.Columns * 8)
    return _encode(ds)


def _uid_everywhere(keyword: str, value: str) -> Callable[[str], bytes]:
    def build(seed: str) -> bytes:
        ds = _base(seed)
        setattr(ds, keyword, value)
        if keyword == "SOPInstanceUID":
            ds.file_meta.MediaStorageSOPInstanceUID = value
        return _encode(ds)

    return build


def _missing(keyword: str) -> Callable[[str], bytes]:
    def build(seed: str) -> bytes:
        ds = _base(seed)
        delattr(ds, keyword)
        return _encode(ds)

    return build


def _text_sr(seed: str) -> bytes:
    ds = _base(seed)
    del ds.PixelData
    for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit"):
        delattr(ds, keyword)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR Storage
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    return _encode(ds)


def _garbage_fragments(syntax: Any) -> Callable[[str], bytes]:
    def build(seed: str) -> bytes:
        ds = _base(seed)
        ds.file_meta.TransferSyntaxUID = syntax
        garbage = hashlib.sha256(seed.encode()).digest() * 40
        # A JPEG-family stream that even ends with its end marker, so only decoding finds it out.
        ds.PixelData = encapsulate([b"\xff\xd8" + garbage + b"\xff\xd9"])
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        return _encode(ds)

    return build


def _rle_garbage(seed: str) -> bytes:
    ds = _base(seed)
    ds.file_meta.TransferSyntaxUID = RLELossless
    header = struct.pack("<16L", 2, 64, 64 + 50, *([0] * 13))
    ds.PixelData = encapsulate([header + hashlib.sha256(seed.encode()).digest() * 8])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return _encode(ds)


@cache
def _flat_j2k_frame(size: int) -> bytes:
    """One flat ``size`` x ``size`` 8-bit frame as JPEG 2000: a few hundred bytes."""
    encoder = get_encoder(JPEG2000Lossless)
    return bytes(
        encoder.encode(
            np.zeros((size, size), np.uint8),
            rows=size,
            columns=size,
            samples_per_pixel=1,
            bits_allocated=8,
            bits_stored=8,
            pixel_representation=0,
            photometric_interpretation="MONOCHROME2",
            number_of_frames=1,
        )
    )


def j2k_bomb(seed: str, *, size: int = 2048, frames: int = 4096) -> bytes:
    """``frames`` flat JPEG 2000 frames: ~0.5 MB that decode to 16 GiB (each axis in limits)."""
    ds = _base(seed)
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.Rows = ds.Columns = size
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = frames
    ds.PixelData = encapsulate([_flat_j2k_frame(size)] * frames)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return _encode(ds, check=True)


def deflate_bomb(seed: str, *, inflated_mib: int = 4096) -> bytes:
    """A Deflated Explicit VR Little Endian file (PS3.5 A.5) whose data set holds a private
    OB of ``inflated_mib`` MiB of zeros: about 1 KB per MiB on the wire, streamed so that
    building it never holds the inflated bytes."""
    ds = _base(seed)
    body = _explicit_little(ds)
    at = body.index(b"\xe0\x7f\x10\x00OW")  # Pixel Data comes last
    creator = struct.pack("<HH2sH", 0x0099, 0x0010, b"LO", 8) + b"HOSTILE "
    size = inflated_mib << 20
    header = struct.pack("<HH2s2xL", 0x0099, 0x1001, b"OB", size)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [deflater.compress(body[:at] + creator + header)]
    zeros = bytes(1 << 20)
    parts += [deflater.compress(zeros) for _ in range(inflated_mib)]
    parts += [deflater.compress(body[at:]), deflater.flush()]
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    return bytes(128) + b"DICM" + _encode_meta(ds) + b"".join(parts)


def _explicit_little(ds: Dataset) -> bytes:
    """The data set alone, Explicit VR Little Endian, without File Meta."""
    encoded = DicomBytesIO()
    encoded.is_little_endian, encoded.is_implicit_VR = True, False
    write_dataset(encoded, ds)
    return bytes(encoded.getvalue())


def _encode_meta(ds: Dataset) -> bytes:
    buffer = DicomBytesIO()
    write_file_meta_info(buffer, ds.file_meta, enforce_standard=True)
    return buffer.getvalue()


def native_syntax_encapsulated(seed: str) -> bytes:
    """Encapsulated Pixel Data (items, undefined length) under a native transfer syntax."""
    ds = _base(seed)
    items = encapsulate([ds.PixelData])
    data = _encode(ds)
    at = data.index(b"\xe0\x7f\x10\x00OW")  # Pixel Data comes last
    header = struct.pack("<HH2s2xL", 0x7FE0, 0x0010, b"OB", 0xFFFFFFFF)
    return data[:at] + header + items + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)


def items_as_native_pixels(seed: str) -> bytes:
    """Native Pixel Data of defined length that holds encapsulation items: what pydicom
    writes for encapsulated pixels under a native syntax. Longer than the image by less
    than a frame, it passed as trailing padding, and the item tags became pixels."""
    ds = _base(seed)
    ds.PixelData = encapsulate([ds.PixelData])
    ds["PixelData"].VR = "OB"
    return _encode(ds)


def _encapsulated_syntax_native(seed: str) -> bytes:
    """A JPEG 2000 transfer syntax over native (defined length) Pixel Data."""
    ds = _base(seed)
    body = _explicit_little(ds)  # pydicom refuses to write it: the File Meta is set after
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    return _encode_meta(ds) + body


def _un_with_garbage_item(seed: str) -> bytes:
    """A private UN element of undefined length (read as a sequence, PS3.5 6.2.2) holding an
    item that claims 2 GB."""
    data = _encode(_base(seed))
    creator = struct.pack("<HH2sH", 0x0099, 0x0010, b"LO", 8) + b"HOSTILE "
    element = struct.pack("<HH2s2xL", 0x0099, 0x1010, b"UN", 0xFFFFFFFF)
    item = struct.pack("<HHL", 0xFFFE, 0xE000, 0x7FFFFFF0) + b"junk" * 8
    end = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
    at = data.index(b"\xe0\x7f\x10\x00OW")
    return data[:at] + creator + element + item + end + data[at:]


def _meta_says_mr(seed: str) -> bytes:
    """File Meta (and so the C-STORE a raw sender makes of it) says MR; the data set is CT."""
    ds = _base(seed)
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"  # MR Image Storage
    return _encode(ds)


def _huge_private(seed: str) -> bytes:
    ds = _base(seed)
    block = ds.private_block(0x0099, "HOSTILE", create=True)
    block.add_new(0x01, "OB", bytes(32 << 20))  # 32 MiB of nothing
    block.add_new(0x02, "LT", "x" * (1 << 20))
    return _encode(ds)


def deep_sequences(depth: int) -> Callable[[str], bytes]:
    """Content Sequence items nested ``depth`` deep, encoded by hand (undefined lengths).

    Built as bytes: pydicom itself recurses per level, so it cannot write (nor, in a
    test's traceback, print) a data set nested thousands deep.
    """

    def build(seed: str) -> bytes:
        data = _encode(_base(seed))
        sequence = struct.pack("<HH2sHL", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF)
        item = struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
        item_end = struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
        sequence_end = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
        nested = (sequence + item) * depth + (item_end + sequence_end) * depth
        at = data.index(b"\xe0\x7f\x10\x00OW")  # Pixel Data (7FE0,0010) comes last
        return data[:at] + nested + data[at:]

    return build


def _patched(find: bytes, replace: bytes) -> Callable[[str], bytes]:
    """The encoded file with the first ``find`` (after the file meta) replaced."""

    def build(seed: str) -> bytes:
        data = _encode(_base(seed))
        at = data.index(find, 132 + 200)
        return data[:at] + replace + data[at + len(find) :]

    return build


def _rows_bad_length(seed: str) -> bytes:
    # Rows (0028,0010) US with a 3-byte value: the element is as long as it says, but no US.
    return _patched(b"\x28\x00\x10\x00US\x02\x00", b"\x28\x00\x10\x00US\x03\x00")(seed)


def length_past_end(seed: str) -> bytes:
    # Columns (0028,0011) claims 0xFFF0 bytes: everything after it is swallowed.
    return _patched(b"\x28\x00\x11\x00US\x02\x00", b"\x28\x00\x11\x00US\xf0\xff")(seed)


def _duplicate_uid(seed: str) -> bytes:
    """Same SOP Instance UID as the good study sent first, in another study."""
    ds = _base(seed)
    ds.SOPInstanceUID = _uid("shared-sop")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return _encode(ds)


def _not_dicom(seed: str) -> bytes:
    return b"%PDF-1.4\n" + seed.encode() * 50


def _empty(seed: str) -> bytes:
    return b""


NOT_SENT = frozenset({REFUSED})  # nothing to process: the door says no
ANY_END = frozenset({PROCESSED, QUARANTINED, REFUSED})
STOPPED = frozenset({QUARANTINED, REFUSED})  # refused at the door or quarantined, either is fine
BAD_PIXELS = frozenset({QUARANTINED})

CASES: tuple[HostileCase, ...] = (
    HostileCase("truncated-header", _truncated(0.02), NOT_SENT, dimse=False),
    HostileCase("truncated-pixels", _truncated(0.8), STOPPED, "(truncated)", dimse=False),
    HostileCase("short-pixel-data", _short_pixels, STOPPED, "has 1024 bytes (truncated)"),
    HostileCase("rows-65535", _with(Rows=65535, Columns=65535), STOPPED, "is 65535"),
    HostileCase("frames-1e6", _with(NumberOfFrames=1_000_000), STOPPED, "is 1000000"),
    HostileCase("bits-1", _bits(1, 1), frozenset({PROCESSED, QUARANTINED})),
    HostileCase("bits-12", _bits(12, 12), STOPPED, "BitsAllocated (0028,0100) is 12"),
    HostileCase("bits-32", _bits(32, 32), frozenset({PROCESSED, QUARANTINED})),
    HostileCase("bits-64", _bits(64, 64), STOPPED, "BitsAllocated (0028,0100) is 64"),
    HostileCase("double-float", _float_pixels, frozenset({PROCESSED, QUARANTINED})),
    HostileCase("signed-as-unsigned", _with(PixelRepresentation=0), frozenset({PROCESSED})),
    HostileCase("pixel-representation-7", _with(PixelRepresentation=7), STOPPED, "is 7"),
    HostileCase(
        "missing-sop-uid", _missing("SOPInstanceUID"), NOT_SENT, "SOPInstanceUID", dimse=False
    ),
    HostileCase("missing-study-uid", _missing("StudyInstanceUID"), NOT_SENT, "StudyInstance"),
    HostileCase("uid-too-long", _uid_everywhere("StudyInstanceUID", "1." * 40 + "1"), NOT_SENT),
    HostileCase("uid-letters", _uid_everywhere("SeriesInstanceUID", "1.2.abc.4"), NOT_SENT),
    # The first copy (DIMSE) is processed; the second, another study's, must be refused.
    HostileCase("duplicate-sop-uid", _duplicate_uid, frozenset({PROCESSED, REFUSED}), "already"),
    HostileCase("text-sr", _text_sr, frozenset({QUARANTINED}), "no pixel data"),
    HostileCase("jpeg-garbage", _garbage_fragments(JPEGBaseline8Bit), BAD_PIXELS, "decoded"),
    HostileCase("j2k-garbage", _garbage_fragments(JPEG2000Lossless), BAD_PIXELS, "decoded"),
    HostileCase("jpegls-garbage", _garbage_fragments(JPEGLSLossless), BAD_PIXELS, "decoded"),
    HostileCase("rle-garbage", _rle_garbage, BAD_PIXELS, "decoded"),
    HostileCase("j2k-bomb-16gib", j2k_bomb, STOPPED, "max_pixel_bytes"),
    HostileCase(
        "deflate-bomb-64mib",
        partial(deflate_bomb, inflated_mib=64),  # over the test service's 48 MiB max_bytes
        STOPPED,
        "inflates to more than",
    ),
    HostileCase("huge-private", _huge_private, frozenset({PROCESSED})),
    HostileCase(
        "meta-says-mr", _meta_says_mr, frozenset({PROCESSED, REFUSED}), "announced", dimse=False
    ),
    HostileCase(
        "native-syntax-encapsulated",
        native_syntax_encapsulated,
        STOPPED,
        "undefined length",
        dimse=False,
    ),
    HostileCase("items-as-native-pixels", items_as_native_pixels, STOPPED, "items"),
    HostileCase(
        "j2k-syntax-native-pixels", _encapsulated_syntax_native, STOPPED, "frames", dimse=False
    ),
    HostileCase("un-garbage-item", _un_with_garbage_item, STOPPED, "not a readable", dimse=False),
    HostileCase("sequences-100-deep", deep_sequences(100), frozenset({PROCESSED})),
    HostileCase("sequences-5000-deep", deep_sequences(5000), STOPPED),
    HostileCase("rows-3-byte-us", _rows_bad_length, STOPPED, "Rows", dimse=False),
    HostileCase("length-past-end", length_past_end, STOPPED, "declares a 65520", dimse=False),
    HostileCase("not-dicom", _not_dicom, NOT_SENT, "not DICOM", dimse=False),
    HostileCase("empty", _empty, NOT_SENT, "empty", dimse=False),
)
"""Every hostile case; ``ends`` are the endings each may have (see the module doc)."""
