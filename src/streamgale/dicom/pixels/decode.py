"""Decode Pixel Data (7FE0,0010) into numpy arrays, frame axis first.

Native transfer syntaxes (PS3.5 A.1, A.2, A.3 and Deflated A.5) and the
encapsulated ones a PACS commonly sends (PS3.5 A.4: JPEG baseline, extended
and lossless, JPEG-LS, JPEG 2000, RLE) are decoded with pydicom 3's pixel
decoders, which use the codec plugins of the ``dicom`` extra
(pylibjpeg-libjpeg, pylibjpeg-openjpeg, pylibjpeg-rle, pyjpegls, Pillow).

Every failure becomes one :class:`~streamgale.errors.PixelDecodeError` that
names the transfer syntax and says what to do: install a plugin, convert the
data, or treat it as damaged. A stream step catches it and quarantines the
instance; nothing else is affected.

The common case, a native little-endian monochrome image, skips pydicom's
generic machinery: a 512x512 CT decodes in tens of microseconds instead of
half a millisecond, which matters at 100 images/s.

>>> from streamgale.dicom.synthetic import ct_series
>>> ds = ct_series(slices=1, size=32)[0]
>>> decode_frames(ds).shape, decode_frames(ds).dtype.name
((1, 32, 32), 'uint16')
>>> decode_frame(ds, 0).shape
(32, 32)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000TransferSyntaxes,
    JPEGLSTransferSyntaxes,
    JPEGTransferSyntaxes,
    RLELossless,
)

from streamgale.errors import PixelDecodeError

__all__ = ["decode_frame", "decode_frames", "number_of_frames", "transfer_syntax"]

_NATIVE_LITTLE = (ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian)
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# JPEG (ITU T.81), JPEG-LS (T.87) and JPEG 2000 (15444-1) codestreams all end in
# the marker FFD9 (EOI / EOC). Entropy-coded data never contains FFD9 (byte and
# bit stuffing forbid it), so a frame without it near its end was cut short.
# libjpeg happily "decodes" such a frame into garbage, so we check ourselves.
_END_MARKER = b"\xff\xd9"
_END_SEARCH = 64  # bytes; allows trailing padding some encoders add after the marker
_MARKER_ENDED = (*JPEGTransferSyntaxes, *JPEGLSTransferSyntaxes, *JPEG2000TransferSyntaxes)


def transfer_syntax(ds: Dataset) -> UID:
    """The Transfer Syntax UID (0002,0010) of ``ds``.

    Taken from the File Meta Information, or, for a dataset that has none (one
    read from the network without its meta), inferred from the encoding it
    was read with; such data is never encapsulated, since an encapsulated
    syntax cannot be recognised from the dataset alone.

    >>> from streamgale.dicom.synthetic import ct_series
    >>> transfer_syntax(ct_series(slices=1, size=8)[0]).name
    'Explicit VR Little Endian'
    """
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if uid:
        return UID(str(uid))
    implicit, little = ds.original_encoding
    if implicit is None:
        raise PixelDecodeError(
            "the dataset has no Transfer Syntax UID (0002,0010) in its File Meta "
            "Information and was not read from a file, so its pixel encoding is unknown; "
            "set ds.file_meta.TransferSyntaxUID to the syntax the data was received in"
        )
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def number_of_frames(ds: Dataset) -> int:
    """Number of Frames (0028,0008), or 1 when absent, empty or zero (PS3.3 C.7.6.6)."""
    value = ds.get("NumberOfFrames")
    try:
        return max(int(value), 1) if value not in (None, "") else 1
    except (TypeError, ValueError) as exc:
        raise PixelDecodeError(
            f"Number of Frames (0028,0008) is {value!r}, not a whole number; "
            "the instance is malformed and should be quarantined"
        ) from exc


def decode_frames(ds: Dataset) -> npt.NDArray[Any]:
    """All frames of ``ds``, shaped (frames, rows, columns[, samples]).

    Values are the stored values (no modality LUT): unsigned or signed
    integers per Pixel Representation (0028,0103), with the bits above Bits
    Stored (0028,0101) ignored as PS3.5 8.1.1 requires. Colour data in
    YBR_FULL / YBR_FULL_422 is converted to RGB.

    Raises :class:`PixelDecodeError` naming the transfer syntax and what to do.
    """
    syntax = transfer_syntax(ds)
    _check_pixels_present(ds)
    frames = number_of_frames(ds)
    fast = _native_fast_path(ds, syntax, frames)
    if fast is not None:
        return fast
    arr = _decode(ds, syntax, index=None)
    single = 2 if int(ds.get("SamplesPerPixel", 1) or 1) == 1 else 3
    return arr[np.newaxis] if arr.ndim == single else arr


def decode_frame(ds: Dataset, index: int) -> npt.NDArray[Any]:
    """Frame ``index`` (0-based) of ``ds``, shaped (rows, columns[, samples]).

    Only that frame is decompressed, so reading one frame of a large
    multi-frame instance is cheap. Raises :class:`IndexError` for an index
    outside the Number of Frames, :class:`PixelDecodeError` otherwise.
    """
    syntax = transfer_syntax(ds)
    _check_pixels_present(ds)
    frames = number_of_frames(ds)
    if not 0 <= index < frames:
        raise IndexError(f"frame index {index} is out of range; the instance has {frames} frames")
    fast = _native_fast_path(ds, syntax, frames, only=index)
    if fast is not None:
        frame: npt.NDArray[Any] = fast[0]
        return frame
    return _decode(ds, syntax, index=index)


def _check_pixels_present(ds: Dataset) -> None:
    if not any(keyword in ds for keyword in _PIXEL_KEYWORDS):
        raise PixelDecodeError(
            "the instance has no Pixel Data (7FE0,0010), Float Pixel Data (7FE0,0008) or "
            "Double Float Pixel Data (7FE0,0009); it is not an image and cannot be decoded"
        )


def _native_fast_path(
    ds: Dataset, syntax: UID, frames: int, *, only: int | None = None
) -> npt.NDArray[Any] | None:
    """Little-endian monochrome integer data straight from the buffer, or None.

    ``only`` copies just that frame (shaped (1, rows, columns)): a thumbnail of a
    1 GiB multi-frame instance must not copy all of it.
    """
    if syntax not in _NATIVE_LITTLE or "PixelData" not in ds:
        return None
    if ds["PixelData"].is_undefined_length:  # item tags and offset table are no pixels
        raise PixelDecodeError(
            f"Pixel Data (7FE0,0010) is encapsulated (undefined length, PS3.5 A.4) but the "
            f"transfer syntax {syntax.name} is native; the sender must encode both alike"
        )
    try:
        allocated = int(ds.BitsAllocated)
        stored = int(ds.BitsStored)
        signed = int(ds.PixelRepresentation) == 1
        rows, columns = int(ds.Rows), int(ds.Columns)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        return None  # let pydicom produce its precise complaint
    if samples != 1 or allocated not in (8, 16, 32) or not 0 < stored <= allocated:
        return None
    dtype = np.dtype(f"<{'i' if signed else 'u'}{allocated // 8}")
    count = frames * rows * columns
    buffer = ds.PixelData
    if len(buffer) < count * dtype.itemsize:
        raise PixelDecodeError(
            f"{syntax.name} Pixel Data (7FE0,0010) holds {len(buffer)} bytes but "
            f"{frames} frame(s) of {rows}x{columns} at {allocated} bits need "
            f"{count * dtype.itemsize}; the data is truncated: ask the sender to resend it"
        )
    first, taken = (0, frames) if only is None else (only, 1)
    offset = first * rows * columns * dtype.itemsize
    arr = np.frombuffer(buffer, dtype=dtype, count=taken * rows * columns, offset=offset)
    arr = arr.reshape(taken, rows, columns).copy()
    if stored < allocated:
        # Ignore the unused high bits (PS3.5 8.1.1): shift them out and back,
        # which also sign-extends signed data.
        shift = allocated - stored
        np.left_shift(arr, shift, out=arr)
        np.right_shift(arr, shift, out=arr)
    return arr


def _decode(ds: Dataset, syntax: UID, *, index: int | None) -> npt.NDArray[Any]:
    from pydicom.pixels.decoders.base import get_decoder

    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as exc:
        raise PixelDecodeError(
            f"no decoder exists for transfer syntax {_describe(syntax)}; convert the "
            "instance to a supported syntax (e.g. JPEG 2000 or Explicit VR Little Endian, "
            "with dcmtk's dcmconv/dcmdjpeg or gdcmconv) before sending it"
        ) from exc
    if not decoder.is_available:
        raise PixelDecodeError(
            f"no decoding plugin for {_describe(syntax)} is installed "
            f"(missing: {'; '.join(decoder.missing_dependencies)}); "
            f"install it with: pip install 'streamgale[dicom]' ({_plugin_hint(syntax)})"
        )
    if syntax in _MARKER_ENDED:
        _check_codestreams_complete(ds, syntax, index)
    preferred = _preferred_plugin(syntax)
    if preferred in decoder.available_plugins:
        try:
            arr, _ = decoder.as_array(ds, index=index, validate=True, decoding_plugin=preferred)
            return _native_order(arr)
        except Exception:  # every plugin gets a go below, and reports its error
            pass
    try:
        arr, _ = decoder.as_array(ds, index=index, validate=True)
    except Exception as exc:  # codec plugins raise anything; all of it means "bad data"
        raise PixelDecodeError(
            f"cannot decode {_describe(syntax)} pixel data: {_first_line(exc)}; "
            "the data looks damaged or does not match its Image Pixel attributes "
            "(Rows, Columns, Bits Allocated, Samples per Pixel): ask the sender to resend it"
        ) from exc
    return _native_order(arr)


def _native_order(arr: Any) -> npt.NDArray[Any]:
    result: npt.NDArray[Any] = np.asarray(arr)
    if not result.dtype.isnative:  # big-endian data: callers expect native byte order
        result = result.astype(result.dtype.newbyteorder("="))
    return result


def _preferred_plugin(syntax: UID) -> str:
    """The plugin to try first, where pydicom's default order is slower.

    CharLS (pyjpegls) decodes a 512x512 16-bit JPEG-LS frame in ~6 ms where
    libjpeg (pylibjpeg, pydicom's first choice) takes ~22 ms.
    """
    return "pyjpegls" if syntax in JPEGLSTransferSyntaxes else ""


def _check_codestreams_complete(ds: Dataset, syntax: UID, index: int | None) -> None:
    from pydicom.encaps import generate_frames

    frames = number_of_frames(ds)
    extended = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        extended = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    try:
        for number, frame in enumerate(
            generate_frames(ds.PixelData, number_of_frames=frames, extended_offsets=extended)
        ):
            if number >= frames:
                break
            if (index is None or number == index) and _END_MARKER not in frame[-_END_SEARCH:]:
                raise PixelDecodeError(
                    f"frame {number + 1} of the {_describe(syntax)} pixel data is truncated: "
                    "its codestream has no end marker (FFD9); ask the sender to resend it"
                )
    except PixelDecodeError:
        raise
    except Exception as exc:  # malformed item tags or lengths in the encapsulation
        raise PixelDecodeError(
            f"the encapsulated {_describe(syntax)} Pixel Data (PS3.5 A.4) is malformed: "
            f"{_first_line(exc)}; the data is damaged: ask the sender to resend it"
        ) from exc


def _describe(syntax: UID) -> str:
    name = syntax.name
    return f"'{name}' ({syntax})" if name != str(syntax) else f"'{syntax}'"


def _plugin_hint(syntax: UID) -> str:
    if syntax in JPEG2000TransferSyntaxes:
        return "JPEG 2000 needs pylibjpeg-openjpeg"
    if syntax in JPEGLSTransferSyntaxes:
        return "JPEG-LS needs pyjpegls or pylibjpeg-libjpeg"
    if syntax in JPEGTransferSyntaxes:
        return "JPEG needs pylibjpeg-libjpeg (Pillow covers baseline and extended only)"
    if syntax == RLELossless:
        return "RLE is faster with pylibjpeg-rle"
    return "see pydicom's pixel data decoding guide for this syntax"


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__
