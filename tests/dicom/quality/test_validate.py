"""Validation, attribute by attribute: each broken instance is refused with a reason naming it."""

from __future__ import annotations

from typing import Any

import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import ImplicitVRLittleEndian

from streamgale.dicom.quality import ValidationLimits, peek_uids, validate_bytes, validate_instance
from streamgale.errors import ConfigError, InvalidInstanceError

from .helpers import bundled, encode, synthetic_ct

LIMITS = ValidationLimits()
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns on odd values


def refusal(ds: Any, limits: ValidationLimits = LIMITS, size_bytes: int = 10_000) -> str:
    with pytest.raises(InvalidInstanceError) as caught:
        validate_instance(ds, limits, size_bytes=size_bytes)
    return caught.value.reason


def test_a_synthetic_ct_passes_as_a_dataset_and_as_bytes() -> None:
    ds = synthetic_ct()
    validate_instance(ds, LIMITS, size_bytes=9_000)
    parsed = validate_bytes(encode(ds), LIMITS)
    assert parsed.SOPInstanceUID == ds.SOPInstanceUID
    assert parsed.Rows == 64


@pytest.mark.parametrize(
    ("keyword", "tag"),
    [
        ("SOPClassUID", "(0008,0016)"),
        ("SOPInstanceUID", "(0008,0018)"),
        ("StudyInstanceUID", "(0020,000D)"),
        ("SeriesInstanceUID", "(0020,000E)"),
        ("Modality", "(0008,0060)"),
        ("Rows", "(0028,0010)"),
        ("Columns", "(0028,0011)"),
        ("SamplesPerPixel", "(0028,0002)"),
        ("PhotometricInterpretation", "(0028,0004)"),
        ("BitsAllocated", "(0028,0100)"),
        ("BitsStored", "(0028,0101)"),
        ("HighBit", "(0028,0102)"),
        ("PixelRepresentation", "(0028,0103)"),
    ],
)
def test_each_required_attribute_missing_is_named(keyword: str, tag: str) -> None:
    ds = synthetic_ct()
    uid = ds.SOPInstanceUID
    delattr(ds, keyword)

    with pytest.raises(InvalidInstanceError) as caught:
        validate_instance(ds, LIMITS, size_bytes=9_000)

    assert caught.value.reason == f"missing required attribute {keyword} {tag}"
    expected_uid = None if keyword == "SOPInstanceUID" else uid
    assert caught.value.sop_instance_uid == expected_uid
    assert str(caught.value) == (f"{uid}: " if expected_uid else "") + caught.value.reason


def test_missing_pixel_data_of_an_image_sop_class() -> None:
    ds = synthetic_ct()
    del ds.PixelData
    assert refusal(ds) == "missing required attribute PixelData (7FE0,0010) for CT Image Storage"
    # ... whatever require_pixels says: a CT image without an image is broken
    assert refusal(ds, ValidationLimits(require_pixels=False)).startswith("missing required")


@pytest.mark.parametrize(
    ("keyword", "value", "reason"),
    [
        ("Rows", 0, "Rows (0028,0010) is 0; expected 8..8192"),
        ("Rows", 4, "Rows (0028,0010) is 4; expected 8..8192"),
        ("Columns", 9000, "Columns (0028,0011) is 9000; expected 8..8192"),
        ("BitsAllocated", 12, "BitsAllocated (0028,0100) is 12; expected 1, 8, 16 or 32"),
        ("BitsStored", 17, "BitsStored (0028,0101) is 17; expected 1..16"),
        (
            "HighBit",
            11,
            "HighBit (0028,0102) is 11 but BitsStored (0028,0101) is 16; "
            "expected HighBit = BitsStored - 1 = 15 (PS3.5 8.1.1)",
        ),
        ("PixelRepresentation", 2, "PixelRepresentation (0028,0103) is 2; expected 0..1"),
        ("SamplesPerPixel", 4, "SamplesPerPixel (0028,0002) is 4; expected 1..3"),
        (
            "SamplesPerPixel",
            3,
            "SamplesPerPixel (0028,0002) is 3 but PhotometricInterpretation (0028,0004) "
            "MONOCHROME2 needs 1",
        ),
        ("NumberOfFrames", 0, "NumberOfFrames (0028,0008) is 0; expected 1..4096"),
        ("NumberOfFrames", 5000, "NumberOfFrames (0028,0008) is 5000; expected 1..4096"),
        ("Modality", "", "required attribute Modality (0008,0060) is empty"),
        (
            "StudyInstanceUID",
            "1.2.03.4",
            "StudyInstanceUID (0020,000D) '1.2.03.4' is not a valid UID: components are "
            "digits separated by dots, with no leading zeros (PS3.5 9.1)",
        ),
        (
            "SeriesInstanceUID",
            "1.2.abc",
            "SeriesInstanceUID (0020,000E) '1.2.abc' is not a valid UID: components are "
            "digits separated by dots, with no leading zeros (PS3.5 9.1)",
        ),
        (
            "SOPInstanceUID",
            "1." * 35 + "1",
            "SOPInstanceUID (0008,0018) '" + "1." * 35 + "1' is not a valid UID: "
            "it is 71 characters long; at most 64 are allowed",
        ),
    ],
)
def test_insane_values_are_refused(keyword: str, value: Any, reason: str) -> None:
    ds = synthetic_ct()
    setattr(ds, keyword, value)
    assert refusal(ds) == reason


def test_unknown_photometric_interpretation_lists_the_terms() -> None:
    ds = synthetic_ct()
    ds.PhotometricInterpretation = "GREEN"
    reason = refusal(ds)
    assert reason.startswith("PhotometricInterpretation (0028,0004) is 'GREEN'; expected one of")
    assert "MONOCHROME2" in reason and "YBR_FULL_422" in reason


def test_truncated_pixel_data() -> None:
    ds = synthetic_ct()
    ds.PixelData = ds.PixelData[:-100]
    assert refusal(ds) == (
        "PixelData (7FE0,0010) has 8092 bytes (truncated); Rows 64 x Columns 64 x "
        "SamplesPerPixel 1 x BitsAllocated 16 / 8 x NumberOfFrames 1 = 8192 expected"
    )


def test_rows_that_do_not_match_the_pixel_data() -> None:
    ds = synthetic_ct()
    ds.Rows = 128  # the pixels are 64 x 64
    assert "has 8192 bytes (truncated); Rows 128 x Columns 64" in refusal(ds)
    ds.Rows = 32  # now there is a whole frame too much
    assert "has 8192 bytes (a frame or more longer than the attributes say)" in refusal(ds)


def test_more_frames_claimed_than_the_pixel_data_holds() -> None:
    ds = synthetic_ct()
    ds.NumberOfFrames = 2
    assert "x NumberOfFrames 2 = 16384 expected" in refusal(ds)


def test_trailing_padding_shorter_than_a_frame_is_tolerated() -> None:
    ds = synthetic_ct()
    ds.PixelData = ds.PixelData + b"\0" * 128  # as pydicom's MR_small_padded.dcm
    validate_instance(ds, LIMITS, size_bytes=9_000)


def test_size_limit() -> None:
    data = encode(synthetic_ct())
    small = ValidationLimits(max_bytes=1000)

    with pytest.raises(InvalidInstanceError) as caught:
        validate_bytes(data, small)
    assert caught.value.reason == f"instance is {len(data)} bytes; the limit is 1000 (max_bytes)"

    assert refusal(synthetic_ct(), small, size_bytes=1001) == (
        "instance is 1001 bytes; the limit is 1000 (max_bytes)"
    )


def test_dimension_limits_are_configurable() -> None:
    limits = ValidationLimits(max_rows=32, max_columns=32, min_rows=1, min_columns=1)
    assert refusal(synthetic_ct(), limits) == "Rows (0028,0010) is 64; expected 1..32"
    validate_instance(synthetic_ct(size=16), limits, size_bytes=1000)


def test_allowed_modalities() -> None:
    reason = refusal(synthetic_ct(), ValidationLimits(allowed_modalities=frozenset({"MR", "us"})))
    assert reason == "Modality (0008,0060) is 'CT'; this pipeline takes MR, US (allowed_modalities)"
    validate_instance(
        synthetic_ct(), ValidationLimits(allowed_modalities=frozenset({"ct"})), size_bytes=1
    )


def test_objects_without_pixels_need_require_pixels_false() -> None:
    sr = pydicom.dcmread(bundled("test-SR.dcm"))
    assert refusal(sr) == (
        "no pixel data: Comprehensive SR Storage carries no image, and this pipeline takes "
        "images only (set require_pixels: false to accept non-image objects)"
    )
    validate_instance(sr, ValidationLimits(require_pixels=False), size_bytes=1)


def test_an_unreadable_element_is_named() -> None:
    ds = synthetic_ct()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    data = encode(ds)
    # Samples per Pixel (0028,0002), US, implicit VR: give it an odd length of 3 bytes.
    element = b"\x28\x00\x02\x00\x02\x00\x00\x00\x01\x00"
    assert data.count(element) == 1
    broken = data.replace(element, b"\x28\x00\x02\x00\x03\x00\x00\x00\x01\x00\x00")

    with pytest.raises(InvalidInstanceError) as caught:
        validate_bytes(broken, LIMITS)

    reason = caught.value.reason
    assert reason.startswith("element (0028,0002) SamplesPerPixel cannot be read: ")
    assert "even multiple of bytes per value" in reason
    assert caught.value.sop_instance_uid == ds.SOPInstanceUID


def test_any_unexpected_error_becomes_an_invalid_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object) -> None:
        raise RuntimeError("codec blew up")

    monkeypatch.setattr("streamgale.dicom.quality.validate.check_pixel_module", explode)
    assert refusal(synthetic_ct()) == "dataset cannot be read: RuntimeError: codec blew up"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not a readable DICOM Part 10 file: "),
        (b"hello, not DICOM at all", "not a readable DICOM Part 10 file: "),
    ],
)
def test_malformed_bytes_are_refused_with_pydicoms_message(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidInstanceError) as caught:
        validate_bytes(data, LIMITS)
    assert caught.value.reason.startswith(reason)
    assert len(caught.value.reason) > len(reason)  # pydicom's explanation follows
    assert "force=True" not in caught.value.reason  # advice meant for programmers


def test_a_preamble_with_nothing_after_it_is_refused() -> None:
    with pytest.raises(InvalidInstanceError) as caught:
        validate_bytes(b"\0" * 128 + b"DICM", LIMITS)
    assert caught.value.reason == "missing required attribute SOPClassUID (0008,0016)"


def test_truncated_file_is_refused() -> None:
    data = encode(synthetic_ct())
    with pytest.raises(InvalidInstanceError) as caught:
        validate_bytes(data[: len(data) - 3000], LIMITS)
    assert "(truncated)" in caught.value.reason or "not a readable" in caught.value.reason


# -- compressed pixel data ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "SC_rgb_jpeg_dcmtk.dcm",  # JPEG Baseline
        "JPGExtended.dcm",  # JPEG Extended, NM
        "SC_rgb_jpeg_gdcm.dcm",  # JPEG Lossless SV1
        "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS
        "693_J2KI.dcm",  # JPEG 2000, CT
        "MR_small_jp2klossless.dcm",  # JPEG 2000 lossless
        "MR_small_RLE.dcm",  # RLE
        "SC_rgb_rle_2frame.dcm",  # RLE, two frames
        "examples_ybr_color.dcm",  # JPEG, US
    ],
)
def test_compressed_files_decode_and_pass(name: str) -> None:
    validate_bytes(bundled(name).read_bytes(), LIMITS)


def _with_first_frame(name: str, frame: bytes | None = None, *, frames: int = 1) -> Any:
    """A bundled compressed file whose first frame is replaced by ``frame``."""
    ds = pydicom.dcmread(bundled(name))
    original = next(
        generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames") or 1))
    )
    ds.PixelData = encapsulate([original if frame is None else frame] * frames)
    return ds, original


@pytest.mark.parametrize(
    "name", ["SC_rgb_jpeg_dcmtk.dcm", "MR_small_jpeg_ls_lossless.dcm", "693_J2KI.dcm"]
)
def test_a_damaged_frame_header_cannot_be_decoded(name: str) -> None:
    ds, original = _with_first_frame(name)
    ds, _ = _with_first_frame(name, b"\0\0" + original[2:])  # no SOI / SOC marker

    reason = refusal(ds)

    assert reason.startswith("pixel data cannot be decoded: ")
    assert reason.endswith(f"; transfer syntax {ds.file_meta.TransferSyntaxUID.name}")
    assert "\n" not in reason


def test_garbled_rle_cannot_be_decoded() -> None:
    ds, _ = _with_first_frame("MR_small_RLE.dcm", b"\x07" * 64)
    reason = refusal(ds)
    assert reason.startswith("pixel data cannot be decoded: ")
    assert reason.endswith("; transfer syntax RLE Lossless")


@pytest.mark.parametrize(
    "name", ["SC_rgb_jpeg_dcmtk.dcm", "MR_small_jpeg_ls_lossless.dcm", "693_J2KI.dcm"]
)
def test_a_truncated_frame_is_refused_although_decoders_would_fill_it(name: str) -> None:
    ds, original = _with_first_frame(name)
    ds, _ = _with_first_frame(name, original[: len(original) // 2])

    reason = refusal(ds)

    assert reason.startswith(
        "frame 1 of the encapsulated Pixel Data (7FE0,0010) does not end with the end-of-image "
        "marker FFD9 (truncated or damaged); transfer syntax "
    )


def test_missing_frames_of_encapsulated_pixel_data() -> None:
    ds, _ = _with_first_frame("SC_rgb_jpeg_dcmtk.dcm")
    ds.NumberOfFrames = 3
    ds.PixelData = encapsulate([next(generate_frames(ds.PixelData, number_of_frames=1))] * 2)
    assert refusal(ds) == (
        "encapsulated Pixel Data (7FE0,0010) holds 2 frame(s) but NumberOfFrames (0028,0008) "
        "says 3; transfer syntax JPEG Baseline (Process 1)"
    )


def test_a_codec_that_panics_is_a_refusal_not_a_crash() -> None:
    ds = pydicom.dcmread(bundled("MR_small_RLE.dcm"))
    ds.Rows = ds.Columns = 32  # the RLE segments hold 64 x 64: the Rust decoder panics
    reason = refusal(ds)
    assert reason.startswith("pixel data cannot be decoded: ")
    assert reason.endswith("; transfer syntax RLE Lossless")


# -- helpers --------------------------------------------------------------------------------


def test_peek_uids_reads_what_it_can() -> None:
    ds = synthetic_ct()
    data = encode(ds)
    assert peek_uids(data) == (ds.SOPInstanceUID, ds.StudyInstanceUID)
    assert peek_uids(data[:600]) == (ds.SOPInstanceUID, None)  # cut before (0020,000D)
    assert peek_uids(b"\x00\x01garbage") == (None, None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_rows": 0}, "key 'max_rows': must be a whole number >= 1, got 0"),
        ({"max_bytes": 1.5}, "key 'max_bytes': must be a whole number >= 1, got 1.5"),
        (
            {"min_columns": 100, "max_columns": 50},
            "key 'min_columns': 100 is more than max_columns",
        ),
        ({"allowed_modalities": "CT"}, "key 'allowed_modalities': must be a list of Modality"),
        ({"allowed_modalities": []}, "key 'allowed_modalities': Modality terms are 1 to 16"),
        ({"require_pixels": "yes"}, "key 'require_pixels': must be true or false"),
    ],
)
def test_limits_are_validated(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ValidationLimits(**kwargs)
    assert str(caught.value).startswith(message)


def test_limits_are_frozen() -> None:
    limits = ValidationLimits()
    with pytest.raises(AttributeError):
        limits.max_rows = 3  # type: ignore[misc]
