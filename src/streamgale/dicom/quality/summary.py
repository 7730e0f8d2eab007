"""A short description of kept bytes, for an operator deciding what to do with an entry.

>>> from pydicom.filebase import DicomBytesIO
>>> from streamgale.dicom.synthetic import ct_series
>>> buffer = DicomBytesIO()
>>> ct_series(slices=1, size=16)[0].save_as(buffer, enforce_file_format=True)
>>> summary = summarize(buffer.getvalue())
>>> summary.sop_class_name, summary.modality, summary.rows, summary.columns
('CT Image Storage', 'CT', 16, 16)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from io import BytesIO
from typing import TYPE_CHECKING, Any

from streamgale.dicom._deps import require_dicom
from streamgale.dicom.quality._attributes import one_line
from streamgale.errors import InvalidInstanceError

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = ["InstanceSummary", "summarize"]

_SUMMARY_TAGS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "Modality",
    "Rows",
    "Columns",
    "NumberOfFrames",
)


@dataclass(frozen=True)
class InstanceSummary:
    """What the header says; None for what is absent or unreadable."""

    sop_class_uid: str | None
    sop_class_name: str | None
    sop_instance_uid: str | None
    modality: str | None
    study_instance_uid: str | None
    series_instance_uid: str | None
    rows: int | None
    columns: int | None
    frames: int | None
    transfer_syntax: str | None

    def to_json(self) -> dict[str, Any]:
        """The summary as a JSON-ready dict."""
        return asdict(self)


def summarize(data: bytes) -> InstanceSummary:
    """Summarize encoded DICOM; :class:`InvalidInstanceError` when nothing can be read."""
    require_dicom("the DICOM summary")
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError
    from pydicom.uid import UID

    try:
        try:
            ds = dcmread(BytesIO(data), stop_before_pixels=True)
        except InvalidDicomError:  # no preamble: maybe a bare dataset
            ds = dcmread(BytesIO(data), stop_before_pixels=True, force=True)
        values = {keyword: _text(ds, keyword) for keyword in _SUMMARY_TAGS}
        syntax = _text(getattr(ds, "file_meta", {}), "TransferSyntaxUID")
    except Exception as exc:  # damaged bytes: report, never crash the command
        raise InvalidInstanceError(f"not readable as DICOM: {one_line(exc)}") from exc
    if not any(values.values()):
        raise InvalidInstanceError("not readable as DICOM: none of the usual attributes found")
    sop_class = values["SOPClassUID"]
    return InstanceSummary(
        sop_class_uid=sop_class,
        sop_class_name=UID(sop_class).name if sop_class else None,
        sop_instance_uid=values["SOPInstanceUID"],
        modality=values["Modality"],
        study_instance_uid=values["StudyInstanceUID"],
        series_instance_uid=values["SeriesInstanceUID"],
        rows=_int(values["Rows"]),
        columns=_int(values["Columns"]),
        frames=_int(values["NumberOfFrames"]),
        transfer_syntax=UID(syntax).name if syntax else None,
    )


def _text(ds: Dataset | Any, keyword: str) -> str | None:
    try:
        value = ds.get(keyword)
    except Exception:  # one unreadable value must not hide the others
        return None
    return str(value).strip() or None if value is not None else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
