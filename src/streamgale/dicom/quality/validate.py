"""Validate an incoming instance before the pipeline trusts it.

An instance is accepted when it is readable, identifies itself (the SOP,
study and series UIDs of PS3.3 C.12.1 and C.7.2/C.7.3 with valid UID syntax,
Modality (0008,0060)), stays within the :class:`ValidationLimits`, and its
pixels are consistent: the Image Pixel module (PS3.3 C.7.6.3) is present and
sane, native Pixel Data has exactly the length it should, and encapsulated
Pixel Data decodes. Anything else raises :class:`InvalidInstanceError` whose
``reason`` an operator can act on; the pipeline quarantines the instance with
that reason (see :mod:`streamgale.dicom.quality.quarantine`).

>>> from streamgale.dicom.synthetic import ct_series
>>> ds = ct_series(slices=1, size=16)[0]
>>> validate_instance(ds, ValidationLimits(), size_bytes=1024)
>>> del ds.Modality
>>> try:
...     validate_instance(ds, ValidationLimits(), size_bytes=1024)
... except InvalidInstanceError as exc:
...     print(exc.reason)
missing required attribute Modality (0008,0060)
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from io import BytesIO
from typing import TYPE_CHECKING, Any

from streamgale.dicom._deps import require_dicom
from streamgale.dicom.quality._attributes import (
    describe,
    is_fatal,
    one_line,
    read,
    require,
    require_uid,
)
from streamgale.dicom.quality._pixels import PIXEL_KEYWORDS, check_pixel_data, check_pixel_module
from streamgale.dicom.quality._sop import is_image_storage
from streamgale.dicom.quality.inflate import DEFLATED_SYNTAX, check_inflated_size
from streamgale.errors import ConfigError, InvalidInstanceError

if TYPE_CHECKING:
    from pydicom import Dataset
    from pydicom.uid import UID

__all__ = [
    "DEFAULT_MAX_BYTES",
    "IDENTIFYING_UIDS",
    "ValidationLimits",
    "peek_uids",
    "validate_bytes",
    "validate_instance",
]

DEFAULT_MAX_BYTES = 1 << 30
"""1 GiB: a 4096-frame 512 x 512 16-bit series still fits; a runaway upload does not."""

IDENTIFYING_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
"""(0008,0016), (0008,0018), (0020,000D), (0020,000E): every stored instance needs them."""

_MAX_MODALITY_LENGTH = 16  # CS value length (PS3.5 6.2)
_UNDEFINED_LENGTH = 0xFFFFFFFF  # PS3.5 7.1.1
_TOO_DEEP = (
    "its sequences are nested deeper than can be read (each level inside the one before); "
    "a malformed or hostile file"
)
_PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})  # the PIXEL_KEYWORDS elements


@dataclass(frozen=True)
class ValidationLimits:
    """What an instance may be; the defaults accept any sane image from a modality.

    ``allowed_modalities`` (None: any) takes Modality (0008,0060) terms such as
    ``{"CT", "MR"}``. ``max_pixel_bytes`` bounds the decoded size of the
    pixels, checked before anything is decoded. ``require_pixels=True``
    refuses instances without pixel data (SR, RT Plan, waveforms ...), which
    an imaging model cannot use; with False they are checked for their
    identifying attributes only. Image
    Storage SOP classes must carry pixels either way.

    >>> sorted(ValidationLimits(max_rows=1024, allowed_modalities=["ct", "MR"]).allowed_modalities)
    ['CT', 'MR']
    >>> ValidationLimits(min_rows=0)
    Traceback (most recent call last):
    ...
    streamgale.errors.ConfigError: key 'min_rows': must be a whole number >= 1, got 0
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_rows: int = 8192
    max_columns: int = 8192
    max_frames: int = 4096
    min_rows: int = 8
    min_columns: int = 8
    max_pixel_bytes: int = DEFAULT_MAX_BYTES
    """What the pixels may decode to (Rows x Columns x samples x bits x frames); a
    compressed instance of a few kilobytes can claim terabytes (a decompression bomb)."""
    allowed_modalities: frozenset[str] | None = None
    require_pixels: bool = True

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name.startswith(("max_", "min_")) and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise ConfigError(f"must be a whole number >= 1, got {value!r}", key=field.name)
        for low, high in (("min_rows", "max_rows"), ("min_columns", "max_columns")):
            if getattr(self, low) > getattr(self, high):
                raise ConfigError(
                    f"{getattr(self, low)} is more than {high} ({getattr(self, high)})", key=low
                )
        if not isinstance(self.require_pixels, bool):
            raise ConfigError(
                f"must be true or false, got {self.require_pixels!r}", key="require_pixels"
            )
        object.__setattr__(self, "allowed_modalities", _modalities(self.allowed_modalities))


def _modalities(values: Any) -> frozenset[str] | None:
    if values is None:
        return None
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise ConfigError(
            f"must be a list of Modality terms such as ['CT', 'MR'], got {values!r}",
            key="allowed_modalities",
        )
    terms = frozenset(v.strip().upper() for v in values)
    bad = sorted(t for t in terms if not t or len(t) > _MAX_MODALITY_LENGTH)
    if bad or not terms:
        raise ConfigError(
            f"Modality terms are 1 to 16 characters (PS3.3 C.7.3.1.1.1), got {sorted(terms)!r}; "
            "leave it out to accept every modality",
            key="allowed_modalities",
        )
    return terms


def validate_instance(ds: Dataset, limits: ValidationLimits, *, size_bytes: int) -> None:
    """Return when ``ds`` is fit to process; raise :class:`InvalidInstanceError` saying why not.

    ``size_bytes`` is the size of the encoded instance as received. Any
    exception pydicom or a codec plugin raises on this dataset becomes an
    :class:`InvalidInstanceError`: bad input never surfaces as another type.
    """
    require_dicom("DICOM validation")
    try:
        _validate(ds, limits, size_bytes)
    except InvalidInstanceError as exc:
        raise InvalidInstanceError(exc.reason, sop_instance_uid=_sop_instance_uid(ds)) from exc
    except BaseException as exc:  # a malformed dataset must never crash the caller
        if is_fatal(exc):
            raise
        raise InvalidInstanceError(
            f"dataset cannot be read: {type(exc).__name__}: {one_line(exc)}",
            sop_instance_uid=_sop_instance_uid(ds),
        ) from exc


def validate_bytes(data: bytes, limits: ValidationLimits) -> Dataset:
    """Parse a DICOM Part 10 file (PS3.10 7.1), validate it and return the dataset.

    Bytes that are not a readable Part 10 file raise
    :class:`InvalidInstanceError` with pydicom's explanation.
    """
    require_dicom("DICOM validation")
    if len(data) > limits.max_bytes:
        raise InvalidInstanceError(_size_reason(len(data), limits))
    _check_inflated_size(data, limits.max_bytes)
    ds = _parse(data)
    validate_instance(ds, limits, size_bytes=len(data))
    return ds


def peek_uids(data: bytes) -> tuple[str | None, str | None]:
    """(SOP Instance UID, Study Instance UID) of encoded bytes, as far as they can be read.

    For quarantining input that failed before it was parsed: never raises,
    and gives None for what cannot be read.

    >>> peek_uids(b"not dicom")
    (None, None)
    """
    require_dicom("DICOM validation")
    from pydicom import dcmread

    try:
        ds = dcmread(
            BytesIO(data),
            force=True,
            stop_before_pixels=True,
            specific_tags=["SOPInstanceUID", "StudyInstanceUID"],
        )
        return _uid_or_none(ds, "SOPInstanceUID"), _uid_or_none(ds, "StudyInstanceUID")
    except Exception:  # the whole point is to get what can be got from damaged bytes
        return None, None


def _validate(ds: Dataset, limits: ValidationLimits, size_bytes: int) -> None:
    if size_bytes > limits.max_bytes:
        raise InvalidInstanceError(_size_reason(size_bytes, limits))
    _check_nesting(ds)
    uids = {keyword: require_uid(ds, keyword) for keyword in IDENTIFYING_UIDS}
    _check_modality(ds, limits)
    pixels = next((k for k in PIXEL_KEYWORDS if k in ds), None)
    if pixels is None:
        _check_without_pixels(uids["SOPClassUID"], limits)
        return
    geometry = check_pixel_module(ds, pixels, limits)
    check_pixel_data(ds, geometry, _transfer_syntax(ds))


def _check_nesting(ds: Dataset) -> None:
    """:func:`_check_readable`, with sequences nested too deep to read named as such."""
    try:
        _check_readable(ds)
    except RecursionError as exc:  # pydicom, and this check, recurse per sequence level
        raise InvalidInstanceError(_TOO_DEEP) from exc


def _check_readable(ds: Dataset) -> None:
    """Convert every element (pydicom parses values lazily) so a bad one fails here, named."""
    for tag in list(ds.keys()):
        _check_complete(ds, tag)
        try:
            element = ds[tag]
        except RecursionError:
            raise  # named once, by _check_nesting
        except Exception as exc:  # pydicom raises many types for a malformed value
            raise InvalidInstanceError(
                f"element {tag} {_keyword(tag)}cannot be read: {one_line(exc)}"
            ) from exc
        if element.VR == "SQ":
            for item in element.value:
                _check_readable(item)


def _check_complete(ds: Dataset, tag: Any) -> None:
    """An element whose value the file cut short: pydicom keeps the bytes there are, silently.

    A length field that claims more than is left swallows every element after it, so
    without this the reason would name whatever went missing (often the pixels). Pixel
    Data is left to the pixel checks, which say what length the image needs.
    """
    from pydicom.dataelem import RawDataElement

    raw = ds.get_item(tag)
    if not isinstance(raw, RawDataElement) or raw.value is None or int(tag) in _PIXEL_TAGS:
        return
    if raw.length != _UNDEFINED_LENGTH and len(raw.value) < raw.length:
        raise InvalidInstanceError(
            f"element {tag} {_keyword(tag)}declares a {raw.length}-byte value but only "
            f"{len(raw.value)} bytes follow it: the file is truncated or the length is wrong "
            "(PS3.5 7.1); ask the sender to resend it"
        )


def _check_modality(ds: Dataset, limits: ValidationLimits) -> None:
    modality = str(require(ds, "Modality")).strip().upper()
    allowed = limits.allowed_modalities
    if allowed is not None and modality not in allowed:
        raise InvalidInstanceError(
            f"{describe('Modality')} is {modality!r}; this pipeline takes "
            f"{', '.join(sorted(allowed))} (allowed_modalities)"
        )


def _check_without_pixels(sop_class_uid: str, limits: ValidationLimits) -> None:
    from pydicom.uid import UID

    name = UID(sop_class_uid).name
    if is_image_storage(sop_class_uid):
        raise InvalidInstanceError(f"missing required attribute PixelData (7FE0,0010) for {name}")
    if limits.require_pixels:
        raise InvalidInstanceError(
            f"no pixel data: {name} carries no image, and this pipeline takes images only "
            "(set require_pixels: false to accept non-image objects)"
        )


def _transfer_syntax(ds: Dataset) -> UID | None:
    from pydicom.uid import UID

    meta = getattr(ds, "file_meta", None)
    value = read(meta, "TransferSyntaxUID") if meta is not None else None
    return UID(str(value)) if value else None


def _parse(data: bytes) -> Dataset:
    from pydicom import dcmread

    try:
        return dcmread(BytesIO(data))
    except RecursionError as exc:  # pydicom reads each sequence level with a recursive call
        raise InvalidInstanceError(f"not a readable DICOM Part 10 file: {_TOO_DEEP}") from exc
    except Exception as exc:  # InvalidDicomError, EOFError, struct.error, ValueError ...
        message = one_line(exc).replace(" Use force=True to force reading.", "")
        raise InvalidInstanceError(f"not a readable DICOM Part 10 file: {message}") from exc


def _check_inflated_size(data: bytes, limit: int) -> None:
    """A Deflated data set (PS3.5 A.5) must inflate to at most ``limit`` bytes.

    pydicom inflates the whole data set into memory before reading it, so this
    counts it first (see :func:`check_inflated_size`).
    """
    from pydicom.filereader import _read_file_meta_info, read_preamble

    source = BytesIO(data)
    try:
        read_preamble(source, False)
        syntax = _read_file_meta_info(source).get("TransferSyntaxUID")
    except Exception:  # an unreadable header is for _parse to report
        return
    if syntax == DEFLATED_SYNTAX:
        check_inflated_size(memoryview(data)[source.tell() :], limit)


def _size_reason(size: int, limits: ValidationLimits) -> str:
    return f"instance is {size} bytes; the limit is {limits.max_bytes} (max_bytes)"


def _sop_instance_uid(ds: Dataset) -> str | None:
    return _uid_or_none(ds, "SOPInstanceUID")


def _uid_or_none(ds: Dataset, keyword: str) -> str | None:
    try:
        value = ds.get(keyword)
    except Exception:  # an unreadable UID is reported by the checks, not here
        return None
    return str(value)[:64] if value else None


def _keyword(tag: Any) -> str:
    from pydicom.datadict import keyword_for_tag

    keyword = keyword_for_tag(tag)
    return f"{keyword} " if keyword else ""
