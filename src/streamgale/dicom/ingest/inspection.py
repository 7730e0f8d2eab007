"""Read just enough of an incoming instance to store and route it, and make it a clean Part-10 file.

Ingest stores the bytes it received, not a re-encoding, so the pixels and
every private element stay exactly as sent. Two things do change:

* the 128-byte File Preamble (PS3.10 7.1) is zeroed: it is free for any
  content, which is how "polyglot" files smuggle executables;
* a bare dataset (DIMSE delivers one, PS3.7 9.1.1) gets a File Meta
  Information header (PS3.10 7.1) naming its transfer syntax, so what lies on
  disk is always a valid Part-10 file.

Parsing stops before Pixel Data (7FE0,0010): routing needs the header only.
Before any parser sees the bytes, :func:`screen_instance` refuses, cheaply,
what no parser should be given: bytes that do not begin with a data element
(megabytes of junk would otherwise be read "element" by element), and a
Deflated data set (PS3.5 A.5) that inflates past the size limit (a
decompression bomb: pydicom inflates the whole data set into memory).

>>> from streamgale.dicom.synthetic import ct_series
>>> from pydicom.filebase import DicomBytesIO
>>> from pydicom.filewriter import write_dataset
>>> ds = ct_series(slices=1, size=16)[0]
>>> buffer = DicomBytesIO()
>>> buffer.is_little_endian, buffer.is_implicit_VR = True, False
>>> _ = write_dataset(buffer, ds)
>>> found = inspect_instance(buffer.getvalue(), transfer_syntax_uid="1.2.840.10008.1.2.1")
>>> found.modality, found.number_of_frames, bytes(found.header[128:132])
('CT', 1, b'DICM')
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from io import BytesIO
from typing import Any

from streamgale.dicom._deps import require_dicom
from streamgale.dicom.ingest.header import NotPlainHeaderError, read_routing_values
from streamgale.dicom.quality import check_inflated_size
from streamgale.errors import InvalidInstanceError

__all__ = [
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "MAX_INFLATED_BYTES",
    "Inspected",
    "inspect_instance",
    "inspect_received",
    "screen_instance",
]

IMPLEMENTATION_CLASS_UID = "2.25.318459549683482414023925909910028700764"
"""Implementation Class UID (0002,0012) of StreamGale's ingest: a UUID-derived UID
(PS3.5 B.2), the UUID being uuid5(URL, "https://github.com/streamgale/streamgale#implementation")."""

IMPLEMENTATION_VERSION_NAME = "STREAMGALE"
"""Implementation Version Name (0002,0013), at most 16 characters (SH)."""

MAX_INFLATED_BYTES = 2 * 1024**3
"""Default bound on what a Deflated data set may inflate to: the instance store's
default ``max_instance_bytes``."""

_PREAMBLE = bytes(128)
_MAGIC = b"DICM"
_DEFLATED = "1.2.840.10008.1.2.1.99"
_PIXEL_DATA_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
# PS3.5 9.1: digits and dots, at most 64 characters. Leading zeros are tolerated:
# real devices send them, and UIDs are keys here, never file names.
_UID_RE = re.compile(r"[0-9]+(\.[0-9]+)*")
_REQUIRED_UIDS = ("SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID")
_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_EXPLICIT_BE = "1.2.840.10008.1.2.2"
_UNDEFINED_LENGTH = 0xFFFFFFFF
_META_WINDOW = 1 << 20
"""Bytes handed to the File Meta reader first: the group is a few hundred bytes."""
_TOO_DEEP = (
    "sequences nested deeper than can be read (RecursionError); flatten the data set's sequences"
)


@dataclass(frozen=True)
class Inspected:
    """What ingest learned from an instance, and the Part-10 bytes to store.

    The file to write is ``header`` followed by ``body``: ``header`` is the
    zeroed preamble, ``DICM`` and (when ingest built it) the file meta;
    ``body`` is the rest exactly as received.
    """

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    modality: str | None
    body_part_examined: str | None
    series_description: str | None
    number_of_frames: int
    header: bytes
    body: memoryview

    @property
    def chunks(self) -> Sequence[bytes | memoryview]:
        """The stored file, in pieces, so that nothing large is copied to join them."""
        return (self.header, self.body)

    @property
    def size(self) -> int:
        """Length of the stored file in bytes."""
        return len(self.header) + len(self.body)


def inspect_instance(
    data: bytes | bytearray | memoryview,
    *,
    transfer_syntax_uid: str | None = None,
    source_ae: str | None = None,
    max_inflated_bytes: int = MAX_INFLATED_BYTES,
) -> Inspected:
    """Parse the header of ``data`` and lay out the Part-10 file to store.

    ``data`` is a Part-10 file (preamble and ``DICM``), a file meta group
    without preamble, or a bare dataset. A bare dataset is encoded in
    ``transfer_syntax_uid`` (the presentation context's, for DIMSE); when that
    is not given it is guessed among the uncompressed ones, as pydicom does.
    ``source_ae`` goes into Source Application Entity Title (0002,0016) of
    file meta built here. A Deflated data set that inflates to more than
    ``max_inflated_bytes`` is refused before it is inflated.

    Raises :class:`~streamgale.errors.InvalidInstanceError` when the bytes do
    not parse or lack a required UID.
    """
    require_dicom("DICOM ingest")
    view = memoryview(data).cast("B")
    offset = _part10_offset(view)
    if offset is not None:
        _screen_part10(view, offset, max_inflated_bytes)
        return _inspect_part10(view, offset=offset)
    return _inspect_bare(view, transfer_syntax_uid, source_ae, max_inflated_bytes)


def screen_instance(
    data: bytes | bytearray | memoryview,
    *,
    transfer_syntax_uid: str | None = None,
    max_inflated_bytes: int = MAX_INFLATED_BYTES,
) -> None:
    """Refuse bytes that no parser should be given, without parsing them.

    Raises :class:`~streamgale.errors.InvalidInstanceError` when ``data`` is
    empty, is no Part-10 file and does not begin with a data element (PS3.5
    7.1), or holds a Deflated data set inflating to more than
    ``max_inflated_bytes``. Passing says only that a parser may try.
    :func:`inspect_instance` does this itself; call it before any other reader.

    >>> screen_instance(bytes(1024))
    Traceback (most recent call last):
    ...
    streamgale.errors.InvalidInstanceError: the bytes are not DICOM: no DICM prefix, and ...
    """
    view = memoryview(data).cast("B")
    offset = _part10_offset(view)
    if offset is not None:
        _screen_part10(view, offset, max_inflated_bytes)
    else:
        _screen_bare(view, transfer_syntax_uid, max_inflated_bytes)


def _part10_offset(view: memoryview) -> int | None:
    """Where the File Meta group starts, or None for a bare data set."""
    if not len(view):
        raise InvalidInstanceError("the instance is empty (0 bytes); send the file's content")
    if len(view) >= 132 and view[128:132] == _MAGIC:
        return 132
    if len(view) >= 2 and bytes(view[0:2]) == b"\x02\x00":
        return 0  # file meta without a preamble
    return None


def _screen_part10(view: memoryview, offset: int, limit: int) -> None:
    """Refuse a Deflated data set (PS3.5 A.5) that inflates past ``limit``."""
    from pydicom.filereader import _read_file_meta_info

    for window in (view[: offset + _META_WINDOW], view):
        source = BytesIO(window)
        source.seek(offset)
        try:
            syntax = _read_file_meta_info(source).get("TransferSyntaxUID")
        except Exception:  # a File Meta larger than the window, or unreadable: see below
            if len(window) == len(view):
                return  # the parser that follows says what is wrong
            continue
        if syntax == _DEFLATED:
            check_inflated_size(view[source.tell() :], limit)
        return


def _screen_bare(view: memoryview, syntax: str | None, limit: int) -> None:
    if syntax == _DEFLATED:  # its first element is inside the deflate stream
        check_inflated_size(view, limit)
        return
    orders = ("<", ">") if syntax is None else (">" if syntax == _EXPLICIT_BE else "<",)
    if not any(_starts_with_element(view, order, syntax) for order in orders):
        group, element = struct.unpack_from("<HH", view) if len(view) >= 4 else (0, 0)
        msg = (
            "the bytes are not DICOM: no DICM prefix, and they do not begin with a data "
            f"element (the first bytes read as tag ({group:04X},{element:04X})); "
            "send a DICOM Part 10 file or dataset"
        )
        raise InvalidInstanceError(msg)


def _starts_with_element(view: memoryview, order: str, syntax: str | None) -> bool:
    """Whether the first 8 bytes can be a data element of a data set (PS3.5 7.1).

    Its group is 0004 or above (0000 is the command group, 0002 the File Meta,
    FFFE item delimiters); then come two upper-case VR letters (explicit VR)
    or a length within the bytes (implicit VR).
    """
    if len(view) < 8:
        return False
    group = struct.unpack_from(f"{order}H", view)[0]
    if not 0x0004 <= group < 0xFFFE:
        return False
    vr = bytes(view[4:6])
    explicit = vr.isalpha() and vr.isupper()
    length = struct.unpack_from(f"{order}L", view, 4)[0]
    implicit = length == _UNDEFINED_LENGTH or length <= len(view) - 8
    if syntax is None:
        return explicit or implicit
    return implicit if syntax == _IMPLICIT_LE else explicit


def _inspect_part10(view: memoryview, *, offset: int) -> Inspected:
    from pydicom import dcmread

    ds = _parse(lambda: dcmread(BytesIO(view), stop_before_pixels=True, force=True))
    syntax = str(ds.file_meta.get("TransferSyntaxUID", "") or "")
    if not syntax:
        raise InvalidInstanceError(
            "the file meta lacks Transfer Syntax UID (0002,0010), required by PS3.10 7.1; "
            "re-export the file with a complete file meta header"
        )
    return _inspected(ds, syntax, _PREAMBLE + _MAGIC, view[offset:])


def _inspect_bare(
    view: memoryview, syntax: str | None, source_ae: str | None, max_inflated_bytes: int
) -> Inspected:
    from pydicom import dcmread
    from pydicom.filereader import read_dataset

    _screen_bare(view, syntax, max_inflated_bytes)
    values = _plain_values(view, syntax)
    if values is not None:  # the common case, read without pydicom
        inspected = _inspected(values, syntax or "", b"", view)
        return replace(inspected, header=_PREAMBLE + _MAGIC + _file_meta(inspected, source_ae))
    if syntax is None:
        ds = _parse(lambda: dcmread(BytesIO(view), stop_before_pixels=True, force=True))
        syntax = _guess_syntax(ds)
    else:
        implicit, little = _encoding(syntax)
        readable = BytesIO(zlib.decompress(view, -zlib.MAX_WBITS)) if syntax == _DEFLATED else None
        ds = _parse(
            lambda: read_dataset(
                readable or BytesIO(view), implicit, little, stop_when=_at_pixel_data
            )
        )
    inspected = _inspected(ds, syntax, b"", view)
    return replace(inspected, header=_PREAMBLE + _MAGIC + _file_meta(inspected, source_ae))


def inspect_received(
    view: memoryview, *, transfer_syntax_uid: str, source_ae: str | None = None
) -> Inspected | None:
    """Inspect a bare dataset from its first bytes, once they hold its whole header.

    ``view`` is what has arrived so far. The result equals what
    :func:`inspect_instance` gives for the whole dataset, except that its
    ``body`` is ``view``; None means not yet (or not without pydicom, or not
    a valid instance): inspect the whole dataset when it is complete.
    """
    values = _plain_values(view, transfer_syntax_uid, up_to_pixel_data=True)
    if values is None:
        return None
    try:
        inspected = _inspected(values, transfer_syntax_uid, b"", view)
    except InvalidInstanceError:
        return None  # inspect_instance raises it with the whole dataset
    return replace(inspected, header=_PREAMBLE + _MAGIC + _file_meta(inspected, source_ae))


def _plain_values(
    view: memoryview, syntax: str | None, *, up_to_pixel_data: bool = False
) -> dict[str, str] | None:
    """The routing values read without pydicom, or None when pydicom must read them."""
    if syntax is None or syntax in (_DEFLATED, _EXPLICIT_BE):
        return None
    try:
        values = read_routing_values(
            view, implicit_vr=syntax == _IMPLICIT_LE, up_to_pixel_data=up_to_pixel_data
        )
    except NotPlainHeaderError:
        return None
    if not values.get("NumberOfFrames", "1").isdigit():
        return None  # let pydicom judge an odd Integer String (VR IS)
    return values


def _parse(read: Any) -> Any:
    try:
        ds = read()
        # Touch the required elements inside the guard: pydicom parses lazily.
        for keyword in _REQUIRED_UIDS:
            ds.get(keyword)
        return ds
    except InvalidInstanceError:
        raise
    except RecursionError as exc:  # pydicom reads each sequence level with a recursive call
        msg = f"the bytes are not a readable DICOM dataset: {_TOO_DEEP}"
        raise InvalidInstanceError(msg) from exc
    except Exception as exc:  # pydicom raises many types for damaged input
        msg = f"the bytes are not a readable DICOM dataset ({type(exc).__name__}: {exc})"
        raise InvalidInstanceError(msg) from exc


def _inspected(ds: Any, syntax: str, header: bytes, body: memoryview) -> Inspected:
    if not any(_present(ds, keyword) for keyword in _REQUIRED_UIDS):
        msg = (
            "the bytes are not DICOM: no DICM prefix, and none of SOP Class, SOP Instance, "
            "Study and Series Instance UID; send a DICOM Part 10 file or dataset"
        )
        raise InvalidInstanceError(msg)
    uids = {keyword: _required_uid(ds, keyword) for keyword in _REQUIRED_UIDS}
    return Inspected(
        sop_instance_uid=uids["SOPInstanceUID"],
        sop_class_uid=uids["SOPClassUID"],
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        transfer_syntax_uid=syntax,
        modality=_text(ds, "Modality"),
        body_part_examined=_text(ds, "BodyPartExamined"),
        series_description=_text(ds, "SeriesDescription"),
        number_of_frames=_frames(ds),
        header=header,
        body=body,
    )


def _present(ds: Any, keyword: str) -> bool:
    try:
        return bool(str(ds.get(keyword) or "").strip("\0 "))
    except Exception:  # unreadable counts as present: _required_uid says what is wrong
        return True


def _required_uid(ds: Any, keyword: str) -> str:
    try:
        value = ds.get(keyword)
    except Exception as exc:
        raise InvalidInstanceError(f"{keyword} cannot be read ({exc})") from exc
    text = str(value or "").strip("\0 ")
    if not text:
        msg = f"{keyword} is missing or empty; every stored instance needs it (PS3.3 C.12.1)"
        raise InvalidInstanceError(msg)
    if len(text) > 64 or not _UID_RE.fullmatch(text):
        msg = f"{keyword} {text[:80]!r} is not a UID (digits and dots, at most 64; PS3.5 9.1)"
        raise InvalidInstanceError(msg)
    return text


def _text(ds: Any, keyword: str) -> str | None:
    try:
        value = ds.get(keyword)
    except Exception:  # a damaged optional attribute must not refuse the instance
        return None
    text = str(value).strip() if value is not None else ""
    return text or None


def _frames(ds: Any) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames") or 1))
    except (TypeError, ValueError):
        return 1


def _at_pixel_data(tag: Any, vr: str | None, length: int) -> bool:
    return int(tag) in _PIXEL_DATA_TAGS


def _encoding(syntax: str) -> tuple[bool, bool]:
    """(implicit VR, little endian) of a transfer syntax (PS3.5 10)."""
    if syntax == _IMPLICIT_LE:
        return True, True
    if syntax == _EXPLICIT_BE:
        return False, False
    return False, True  # every other standard syntax is explicit VR little endian


def _guess_syntax(ds: Any) -> str:
    meta = getattr(ds, "file_meta", None)
    meta_syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if meta_syntax:
        return str(meta_syntax)
    implicit, little = ds.original_encoding
    if implicit is None or little is None:
        return _EXPLICIT_LE
    if implicit:
        return _IMPLICIT_LE
    return _EXPLICIT_LE if little else _EXPLICIT_BE


def _file_meta(inspected: Inspected, source_ae: str | None) -> bytes:
    """Encoded File Meta Information group (0002,eeee) for a bare dataset (PS3.10 7.1).

    Written directly (Explicit VR Little Endian, PS3.10 7.1): it is built for
    every DIMSE instance, and pydicom's writer costs milliseconds.
    """
    elements = [
        _meta_element(0x0001, b"OB", b"\x00\x01"),
        _meta_element(0x0002, b"UI", _padded(inspected.sop_class_uid, b"\0")),
        _meta_element(0x0003, b"UI", _padded(inspected.sop_instance_uid, b"\0")),
        _meta_element(0x0010, b"UI", _padded(inspected.transfer_syntax_uid, b"\0")),
        _meta_element(0x0012, b"UI", _padded(IMPLEMENTATION_CLASS_UID, b"\0")),
        _meta_element(0x0013, b"SH", _padded(IMPLEMENTATION_VERSION_NAME, b" ")),
    ]
    title = (source_ae or "").strip()[:16]
    if title and title.isprintable() and "\\" not in title:
        elements.append(_meta_element(0x0016, b"AE", _padded(title, b" ")))
    body = b"".join(elements)
    return _meta_element(0x0000, b"UL", struct.pack("<L", len(body))) + body


def _meta_element(element: int, vr: bytes, value: bytes) -> bytes:
    if vr == b"OB":  # PS3.5 7.1.2: OB has a reserved field and a 4-byte length
        return struct.pack("<HH2s2xL", 0x0002, element, vr, len(value)) + value
    return struct.pack("<HH2sH", 0x0002, element, vr, len(value)) + value


def _padded(text: str, pad: bytes) -> bytes:
    raw = text.encode("ascii", "replace")
    return raw + pad if len(raw) % 2 else raw
