"""Every file pydicom ships for its tests goes through validation: none may crash it.

Real vendor CT, MR, US and NM, compressed variants, DICOMDIRs, and malformed
or non-DICOM files: each either validates or is refused with an
:class:`InvalidInstanceError` whose reason is one readable line. Any other
exception is a bug.
"""

from __future__ import annotations

import collections
import warnings

import pytest

from streamgale.dicom.quality import ValidationLimits, validate_bytes
from streamgale.errors import InvalidInstanceError

from .helpers import BUNDLED_DIR, bundled_files

Outcomes = dict[str, str | None]
"""File (relative to pydicom's test_files) -> None when valid, else the refusal reason."""


def _run(limits: ValidationLimits) -> tuple[Outcomes, list[str]]:
    outcomes: Outcomes = {}
    crashes = []
    for path in bundled_files():
        name = str(path.relative_to(BUNDLED_DIR))
        try:
            validate_bytes(path.read_bytes(), limits)
            outcomes[name] = None
        except InvalidInstanceError as exc:
            outcomes[name] = exc.reason
        except BaseException as exc:  # the property under test: nothing else escapes
            crashes.append(f"{name}: {type(exc).__name__}: {exc}")
    return outcomes, crashes


@pytest.fixture(scope="module")
def outcomes() -> Outcomes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about many of these files
        found, crashes = _run(ValidationLimits())
    assert not crashes, "validation crashed instead of refusing:\n" + "\n".join(crashes)
    return found


pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns on odd files


def test_all_bundled_files_were_tried(outcomes: Outcomes) -> None:
    assert len(outcomes) >= 170  # pydicom 3.0 ships 176 data files in its wheel


def test_every_refusal_is_one_readable_line(outcomes: Outcomes) -> None:
    for name, reason in outcomes.items():
        if reason is not None:
            assert reason.strip() and "\n" not in reason, name
            assert len(reason) < 1000, name


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",  # CT, explicit little endian
        "693_J2KI.dcm",  # CT, JPEG 2000
        "MR_small.dcm",
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_padded.dcm",  # 128 bytes of trailing padding: tolerated
        "ExplVR_BigEnd.dcm",  # US, big endian
        "examples_jpeg2k.dcm",  # US, JPEG 2000
        "examples_ybr_color.dcm",  # US multi-frame, JPEG
        "examples_palette.dcm",  # US, palette colour
        "JPGExtended.dcm",  # NM, JPEG extended
        "JPEG2000.dcm",  # NM, JPEG 2000
        "image_dfl.dcm",  # deflated explicit little endian
        "SC_ybr_full_422_uncompressed.dcm",  # native YBR_FULL_422: 2 samples a pixel
        "SC_rgb_rle_32bit_2frame.dcm",
        "liver_1frame.dcm",  # Segmentation, 1 bit a pixel
        "rtdose.dcm",  # RT Dose, multi-frame
        "dicomdirtests/77654033/CT2/17106",  # CT from a DICOMDIR set
    ],
)
def test_valid_vendor_files_pass(outcomes: Outcomes, name: str) -> None:
    assert outcomes[name] is None, outcomes[name]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("MR_truncated.dcm", "PixelData (7FE0,0010) has 8130 bytes (truncated); Rows 64 x"),
        ("JPEG-lossy.dcm", "pixel data cannot be decoded: "),
        ("JPEG2000-embedded-sequence-delimiter.dcm", "pixel data cannot be decoded: "),
        ("badVR.dcm", "NumberOfFrames (0028,0008) is '1A'; expected a whole number in 1..4096"),
        ("no_meta.dcm", "not a readable DICOM Part 10 file: File is missing DICOM File Meta"),
        ("README.txt", "not a readable DICOM Part 10 file: "),
        ("zipMR.gz", "not a readable DICOM Part 10 file: "),
        ("dicomdirtests/DICOMDIR", "missing required attribute SOPClassUID (0008,0016)"),
        ("SC_jpeg_no_color_transform.dcm", "missing required attribute Modality (0008,0060)"),
        ("JPEGLSNearLossless_08.dcm", "missing required attribute StudyInstanceUID (0020,000D)"),
        ("SC_rgb_small_odd.dcm", "Rows (0028,0010) is 3; expected 8..8192"),
        ("test-SR.dcm", "no pixel data: Comprehensive SR Storage carries no image"),
        ("waveform_ecg.dcm", "no pixel data: 12-lead ECG Waveform Storage carries no image"),
        (  # a CT stripped of its pixels to keep the DICOMDIR test set small
            "dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000000",
            "missing required attribute PixelData (7FE0,0010) for CT Image Storage",
        ),
    ],
)
def test_broken_files_are_refused_with_the_reason(
    outcomes: Outcomes, name: str, reason: str
) -> None:
    found = outcomes[name]
    assert found is not None and found.startswith(reason), found


def test_non_image_objects_pass_when_pixels_are_not_required() -> None:
    relaxed, crashes = _run(ValidationLimits(require_pixels=False))
    assert not crashes
    for name in ("test-SR.dcm", "reportsi.dcm", "rtplan.dcm", "waveform_ecg.dcm"):
        assert relaxed[name] is None, relaxed[name]
    assert (
        relaxed["dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000/IM000000"] is not None
    )  # a CT still needs pixels


def test_summary(outcomes: Outcomes) -> None:
    """Prints the tally (``pytest -s`` shows it); asserts the share that must pass."""
    refused = collections.Counter(
        reason.split(":")[0] if reason.startswith(("not a readable", "pixel data")) else reason
        for reason in outcomes.values()
        if reason is not None
    )
    passed = sum(reason is None for reason in outcomes.values())
    print(f"\n{passed} of {len(outcomes)} bundled pydicom files pass; refused:")
    for reason, n in refused.most_common():
        print(f"  {n:3d}  {reason}")
    assert passed >= 75
