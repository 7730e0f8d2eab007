"""Every common transfer syntax decodes to the values that were encoded.

The table encodes one synthetic CT source (single and multi-frame) into each
syntax with a real encoder, dcmtk's command-line tools or pydicom's encoder
plugins, reads the file back and compares the decoded frames with the
source: exactly for lossless syntaxes, within the codec's bound for lossy ones.
pydicom's bundled vendor files are checked against their lossless twins.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pydicom.uid import (
    JPEGLossless as JPEGLosslessP14,
)

from streamgale.dicom.pixels import (
    apply_modality_lut,
    decode_frame,
    decode_frames,
    number_of_frames,
    transfer_syntax,
)
from streamgale.errors import PixelDecodeError
from tests.dicom.pixels.helpers import bundled, ct_source, dcmtk, save, stored_values


@dataclass(frozen=True)
class Case:
    syntax: UID
    encode: Callable[[Dataset, Path], Dataset]
    bits: int = 12
    max_error: float = 0.0  # 0: lossless, exact
    mean_error: float = 0.0


def with_dcmtk(tool: str, *options: str) -> Callable[[Dataset, Path], Dataset]:
    def encode(source: Dataset, folder: Path) -> Dataset:
        src = save(source, folder / "source.dcm")
        out = folder / "encoded.dcm"
        dcmtk(tool, *options, src, out)
        return pydicom.dcmread(out)

    return encode


def with_pydicom(syntax: UID, **options: Any) -> Callable[[Dataset, Path], Dataset]:
    def encode(source: Dataset, folder: Path) -> Dataset:
        ds = copy.deepcopy(source)
        ds.compress(syntax, generate_instance_uid=False, **options)
        return pydicom.dcmread(save(ds, folder / "encoded.dcm"))

    return encode


CASES = {
    "implicit-le/dcmconv": Case(ImplicitVRLittleEndian, with_dcmtk("dcmconv", "+ti")),
    "explicit-le/pydicom": Case(
        ExplicitVRLittleEndian,
        lambda ds, folder: pydicom.dcmread(save(ds, folder / "encoded.dcm")),
    ),
    "explicit-be/dcmconv": Case(ExplicitVRBigEndian, with_dcmtk("dcmconv", "+tb")),
    "deflated/dcmconv": Case(DeflatedExplicitVRLittleEndian, with_dcmtk("dcmconv", "+td")),
    # IJG quality 90 (dcmcjpeg's default) on a noisy phantom: measured max 14
    # and mean 2.5 grey levels of 200 (8-bit), max 16 / mean 3 HU (12-bit).
    "jpeg-baseline/dcmcjpeg": Case(
        JPEGBaseline8Bit, with_dcmtk("dcmcjpeg", "+eb"), bits=8, max_error=20, mean_error=3.5
    ),
    "jpeg-extended/dcmcjpeg": Case(
        JPEGExtended12Bit, with_dcmtk("dcmcjpeg", "+ee"), max_error=24, mean_error=4
    ),
    "jpeg-lossless-p14/dcmcjpeg": Case(JPEGLosslessP14, with_dcmtk("dcmcjpeg", "+el")),
    "jpeg-lossless-sv1/dcmcjpeg": Case(JPEGLosslessSV1, with_dcmtk("dcmcjpeg", "+e1")),
    "jpeg-ls-lossless/dcmcjpls": Case(JPEGLSLossless, with_dcmtk("dcmcjpls", "+el")),
    "jpeg-ls-lossless/pydicom": Case(JPEGLSLossless, with_pydicom(JPEGLSLossless)),
    # JPEG-LS near-lossless guarantees |error| <= NEAR (dcmcjpls +en uses NEAR 2).
    "jpeg-ls-near/dcmcjpls": Case(
        JPEGLSNearLossless, with_dcmtk("dcmcjpls", "+en"), max_error=2, mean_error=2
    ),
    "jpeg-ls-near/pydicom": Case(
        JPEGLSNearLossless, with_pydicom(JPEGLSNearLossless, jls_error=3), max_error=3, mean_error=3
    ),
    "j2k-lossless/pydicom": Case(JPEG2000Lossless, with_pydicom(JPEG2000Lossless)),
    # Lossy JPEG 2000 at a PSNR of 80 dB: measured max 2 HU, mean 0.3.
    "j2k/pydicom": Case(JPEG2000, with_pydicom(JPEG2000, j2k_psnr=[80]), max_error=4, mean_error=1),
    "rle/dcmcrle": Case(RLELossless, with_dcmtk("dcmcrle")),
    "rle/pydicom": Case(RLELossless, with_pydicom(RLELossless)),
}


@pytest.mark.parametrize("frames", [1, 3])
@pytest.mark.parametrize("name", list(CASES))
def test_each_transfer_syntax_decodes_to_the_encoded_values(
    name: str, frames: int, tmp_path: Path
) -> None:
    case = CASES[name]
    source = ct_source(frames, bits=case.bits)
    expected = stored_values(source).astype(np.int64)

    ds = case.encode(source, tmp_path)

    assert transfer_syntax(ds) == case.syntax
    decoded = decode_frames(ds)
    assert decoded.shape == (frames, source.Rows, source.Columns)
    assert decoded.dtype.isnative
    if case.max_error == 0:
        np.testing.assert_array_equal(decoded, expected)
    else:
        # Lossy encoders may rescale stored values (dcmtk fits them to the
        # codec's precision and records a new Rescale Slope/Intercept), so
        # compare what they mean: modality values.
        error = np.abs(apply_modality_lut(decoded, ds) - apply_modality_lut(expected, source))
        assert error.max() <= case.max_error, f"{name}: max error {error.max()}"
        assert error.mean() <= case.mean_error, f"{name}: mean error {error.mean():.2f}"
    for index in range(frames):
        np.testing.assert_array_equal(decode_frame(ds, index), decoded[index])


# Bundled vendor files against a lossless twin of the same image.
TWINS = [
    ("MR_small_implicit.dcm", "MR_small.dcm", 0),
    ("MR_small_bigendian.dcm", "MR_small.dcm", 0),
    ("MR_small_expb.dcm", "MR_small.dcm", 0),
    ("MR_small_RLE.dcm", "MR_small.dcm", 0),
    ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm", 0),
    ("MR_small_jp2klossless.dcm", "MR_small.dcm", 0),
    ("rtdose_rle.dcm", "rtdose.dcm", 0),  # 15 frames, 32-bit
    ("rtdose_expb.dcm", "rtdose.dcm", 0),
    ("SC_rgb_jpeg_gdcm.dcm", "SC_rgb_rle.dcm", 0),  # JPEG lossless SV1, RGB
    ("SC_rgb_gdcm_KY.dcm", "SC_rgb_rle.dcm", 0),  # JPEG 2000, RGB
    ("SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_rle.dcm", 8),  # JPEG baseline, YBR_FULL -> RGB
    ("SC_rgb_dcmtk_+eb+cr.dcm", "SC_rgb_rle.dcm", 8),  # JPEG baseline, RGB
    ("SC_rgb_jls_lossy_line.dcm", "SC_rgb_rle.dcm", 2),  # JPEG-LS near-lossless
    ("SC_rgb_small_odd_big_endian.dcm", "SC_rgb_small_odd.dcm", 0),
    ("liver_expb_1frame.dcm", "liver_1frame.dcm", 0),  # 1-bit segmentation
]


@pytest.mark.parametrize(("name", "twin", "tolerance"), TWINS)
def test_bundled_files_match_their_lossless_twin(name: str, twin: str, tolerance: int) -> None:
    decoded = decode_frames(bundled(name)).astype(np.int64)
    reference = decode_frames(bundled(twin)).astype(np.int64)
    assert decoded.shape == reference.shape
    assert np.abs(decoded - reference).max() <= tolerance


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("image_dfl.dcm", (1, 512, 512)),  # Deflated Explicit VR Little Endian
        ("JPEG2000.dcm", (1, 1024, 256)),
        ("693_J2KI.dcm", (1, 512, 512)),  # CT, JPEG 2000, signed 14-bit
        ("JPEGLSNearLossless_16.dcm", (1, 50, 10)),
        ("examples_ybr_color.dcm", (30, 240, 320, 3)),  # multi-frame JPEG baseline
        ("SC_rgb_rle_2frame.dcm", (2, 100, 100, 3)),
        ("rtdose.dcm", (15, 10, 10)),
        ("examples_palette.dcm", (1, 350, 800)),
        ("JPGExtended.dcm", (1, 1024, 256)),  # 12-bit JPEG extended
    ],
)
def test_bundled_files_decode_with_frame_axis_first(name: str, shape: tuple[int, ...]) -> None:
    ds = bundled(name)
    decoded = decode_frames(ds)
    assert decoded.shape == shape
    assert number_of_frames(ds) == shape[0]
    assert np.ptp(decoded) > 0  # real content, not a zero buffer


def test_fast_native_path_matches_pydicom_for_signed_12_bit_data() -> None:
    # Signed 12-bit values in 16-bit words, with junk in the unused high bits:
    # PS3.5 8.1.1 says to ignore those bits and sign-extend from bit 11.
    ds = ct_source(2)
    values = np.array([-2048, -1, 0, 2047], dtype=np.int16)
    words = np.resize(values, (2, ds.Rows, ds.Columns)).astype(np.int16)
    junk = (words.view(np.uint16) & 0x0FFF) | 0xA000
    ds.PixelRepresentation = 1
    ds.PixelData = junk.astype(np.uint16).tobytes()

    decoded = decode_frames(ds)

    np.testing.assert_array_equal(decoded, words)
    np.testing.assert_array_equal(decoded, ds.pixel_array)


def test_damaged_compressed_frames_raise_pixel_decode_error(tmp_path: Path) -> None:
    good = bundled("MR_small_jpeg_ls_lossless.dcm")
    reference = decode_frames(bundled("MR_small.dcm"))
    frame = next(generate_frames(good.PixelData, number_of_frames=1))
    damaged = {
        "truncated": frame[: len(frame) // 2],
        "header only": frame[:10],
        "zeros": bytes(len(frame)),
    }
    for label, data in damaged.items():
        ds = copy.deepcopy(good)
        ds.PixelData = encapsulate([data + b"\0" * (len(data) % 2)])
        with pytest.raises(PixelDecodeError) as caught:
            decode_frames(ds)
        message = str(caught.value)
        assert "JPEG-LS Lossless" in message, label
        assert "resend" in message, label
    # The process is unharmed: the next instance decodes.
    np.testing.assert_array_equal(decode_frames(good), reference)


@pytest.mark.parametrize(
    "name", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "SC_rgb_jpeg_dcmtk.dcm"]
)
def test_truncated_frames_of_each_codec_are_refused(name: str) -> None:
    ds = bundled(name)
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    cut = frame[: len(frame) * 2 // 3]
    ds.PixelData = encapsulate([cut + b"\0" * (len(cut) % 2)])
    with pytest.raises(PixelDecodeError, match=str(ds.file_meta.TransferSyntaxUID)):
        decode_frames(ds)


def test_bundled_12_bit_jpeg_no_plugin_can_read_is_refused_with_its_syntax() -> None:
    # pydicom's JPEG-lossy.dcm has a scan layout libjpeg and Pillow reject;
    # it must come out as a reasoned PixelDecodeError (quarantine), not a crash.
    with pytest.raises(PixelDecodeError, match=r"JPEG Extended.*1\.2\.840\.10008\.1\.2\.4\.51"):
        decode_frames(bundled("JPEG-lossy.dcm"))


def test_truncated_native_pixel_data_is_refused() -> None:
    ds = ct_source(1)
    ds.PixelData = ds.PixelData[:100]
    with pytest.raises(PixelDecodeError, match="truncated"):
        decode_frames(ds)


def test_unknown_transfer_syntax_names_what_to_do() -> None:
    ds = ct_source(1)
    ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.100")  # MPEG2 video
    with pytest.raises(PixelDecodeError, match=r"no decoder exists.*convert"):
        decode_frames(ds)


def test_missing_plugin_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydicom.pixels.decoders.base import JPEG2000LosslessDecoder

    monkeypatch.setattr(type(JPEG2000LosslessDecoder), "is_available", property(lambda s: False))
    with pytest.raises(PixelDecodeError, match=r"streamgale\[dicom\].*pylibjpeg-openjpeg"):
        decode_frames(bundled("MR_small_jp2klossless.dcm"))


def test_instance_without_pixel_data_is_refused() -> None:
    ds = ct_source(1)
    del ds.PixelData
    with pytest.raises(PixelDecodeError, match=r"no Pixel Data \(7FE0,0010\)"):
        decode_frames(ds)


def test_transfer_syntax_without_file_meta_comes_from_the_read_encoding() -> None:
    ds = bundled("MR_small_implicit.dcm")
    reference = decode_frames(ds)
    del ds.file_meta
    assert transfer_syntax(ds) == ImplicitVRLittleEndian
    np.testing.assert_array_equal(decode_frames(ds), reference)

    built = ct_source(1)
    del built.file_meta
    with pytest.raises(PixelDecodeError, match=r"Transfer Syntax UID \(0002,0010\)"):
        decode_frames(built)


def test_decode_frame_reads_one_frame_and_checks_the_index() -> None:
    ds = bundled("examples_ybr_color.dcm")
    assert decode_frame(ds, 29).shape == (240, 320, 3)
    with pytest.raises(IndexError, match="30 frames"):
        decode_frame(ds, 30)


@pytest.mark.filterwarnings("ignore:Invalid value for VR IS")
def test_bad_number_of_frames_is_a_decode_error() -> None:
    ds = bundled("badVR.dcm")  # Number of Frames '1A'
    with pytest.raises(PixelDecodeError, match=r"Number of Frames \(0028,0008\) is '1A'"):
        decode_frames(ds)
