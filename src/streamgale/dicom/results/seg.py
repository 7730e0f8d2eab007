"""A model's mask as a DICOM Segmentation (PS3.3 A.51), in the source study.

One segment per call: the finding label, coded as in the SR (Segmented
Property Category (SCT 49755003 "Morphologically Abnormal Structure"), type
from :func:`._codes.finding_code`), Segment Algorithm Type AUTOMATIC with an
Algorithm Identification Sequence (family DCM 123110 "Artificial
Intelligence", name and version of the model).

Speed matters (the study-latency target is 1 s for 300 slices), so only frames
with segmented pixels are encoded, and only their source images are handed to
highdicom: it spends about 0.7 ms per source image looking SOP classes up in
the IOD tables, and ~150 ms for a 300-slice series, for frames it would then
drop. Each encoded frame still references its own source image through the
Derivation Image Sequence (0008,9124) > Source Image Sequence (0008,2112), and
the Referenced Series Sequence (0008,1115) lists every source image, as
highdicom does when it omits frames itself: a listed image without a frame is
segmented and empty. A mask with nothing in it gives a one-frame, empty SEG (the model looked
and found nothing), never an object without frames.

BINARY masks are bit-packed (1 bit per pixel, PS3.5 8.1.1); FRACTIONAL ones
(probabilities) use 8 bits, with ``max_fractional_value`` meaning 1.0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from streamgale.dicom._deps import require_dicom
from streamgale.dicom.results import _codes
from streamgale.dicom.results._header import conformant_header
from streamgale.dicom.results._uids import seg_uids, tracking_uid
from streamgale.dicom.results.finding import Measurement
from streamgale.errors import DicomError

__all__ = [
    "DEFAULT_SEG_SERIES_NUMBER",
    "SegmentationType",
    "build_seg",
    "mask_measurements",
    "upsample_mask",
]

DEFAULT_SEG_SERIES_NUMBER = 9002


class SegmentationType(StrEnum):
    """Segmentation Type (0062,0001) values StreamGale writes."""

    BINARY = "BINARY"
    FRACTIONAL = "FRACTIONAL"


def upsample_mask(mask: npt.ArrayLike, rows: int, cols: int) -> npt.NDArray[Any]:
    """Resize the last two axes of ``mask`` to ``rows`` x ``cols``, nearest neighbour.

    Pixel centres are aligned (output pixel i takes input pixel
    ``floor((i + 0.5) * in / out)``), so a 128 -> 512 upsample repeats each
    pixel 4 times. The dtype is kept.

    >>> upsample_mask(np.array([[1, 0], [0, 1]], dtype=bool), 4, 4).astype(int)
    array([[1, 1, 0, 0],
           [1, 1, 0, 0],
           [0, 0, 1, 1],
           [0, 0, 1, 1]])
    """
    arr = np.asarray(mask)
    if arr.ndim < 2:
        raise DicomError(
            f"mask has shape {arr.shape}; expected (rows, cols) or (frames, rows, cols)"
        )
    in_rows, in_cols = arr.shape[-2:]
    if (in_rows, in_cols) == (rows, cols):
        return arr
    row_index = ((np.arange(rows) + 0.5) * in_rows / rows).astype(np.intp)
    col_index = ((np.arange(cols) + 0.5) * in_cols / cols).astype(np.intp)
    # Two one-axis gathers: the row gather copies whole rows, which is much
    # faster than one fancy index over both axes.
    out: npt.NDArray[Any] = np.take(np.take(arr, row_index, axis=-2), col_index, axis=-1)
    return out


def mask_measurements(
    mask: npt.ArrayLike,
    pixel_spacing: Sequence[float],
    *,
    slice_thickness: float | None = None,
    threshold: float = 0.5,
) -> dict[str, Measurement]:
    """Area, diameter and (with ``slice_thickness``) volume of a mask, in mm.

    ``area`` is the largest cross-section (mm2), ``diameter`` the diameter of
    the circle of that area (mm), ``volume`` the voxel count times the voxel
    volume (mm3). Probabilities count where they reach ``threshold``. An empty
    mask has no measurements.

    >>> m = mask_measurements(np.ones((2, 10, 10), bool), (0.5, 0.5), slice_thickness=2.0)
    >>> m["area"].value, m["volume"].value, m["area"].unit
    (25.0, 100.0, 'mm2')
    """
    arr = np.asarray(mask)
    binary = arr >= threshold if arr.dtype.kind == "f" else arr.astype(bool, copy=False)
    if binary.ndim == 2:
        binary = binary[np.newaxis]
    per_frame = np.count_nonzero(binary.reshape(binary.shape[0], -1), axis=1)
    if not per_frame.any():
        return {}
    pixel_area = float(pixel_spacing[0]) * float(pixel_spacing[1])
    area = float(per_frame.max()) * pixel_area
    out = {
        "area": Measurement(area, "mm2", "Area"),
        "diameter": Measurement(2.0 * math.sqrt(area / math.pi), "mm", "Diameter"),
    }
    if slice_thickness is not None:
        volume = float(per_frame.sum()) * pixel_area * float(slice_thickness)
        out["volume"] = Measurement(volume, "mm3", "Volume")
    return out


def build_seg(
    source_datasets: Sequence[Any],
    mask: npt.ArrayLike,
    *,
    algorithm_name: str,
    algorithm_version: str,
    label: str = "Lesion",
    segmentation_type: SegmentationType | str | None = None,
    series_number: int = DEFAULT_SEG_SERIES_NUMBER,
    instance_number: int = 1,
    manufacturer: str = "StreamGale",
    uid_seed: str | None = None,
    demo: bool = False,
    upsample: bool = False,
    max_fractional_value: int = 255,
) -> Any:
    """Encode ``mask`` (frames, rows, cols) over ``source_datasets`` as a Segmentation.

    ``source_datasets`` is one series in the order of the mask frames
    (``mask[i]`` covers ``source_datasets[i]``), or one multi-frame image.
    ``segmentation_type`` defaults to BINARY for boolean/integer masks and
    FRACTIONAL for floating-point probabilities. A mask at a lower resolution
    than the images is an error unless ``upsample`` is set, which resizes the
    kept frames with :func:`upsample_mask`. ``uid_seed`` (e.g. the result id
    and version) makes the SOP Instance UID deterministic.

    Returns a ``highdicom.seg.Segmentation`` (a pydicom Dataset); raises
    :class:`DicomError` when the mask and the sources do not fit.
    """
    require_dicom("DICOM SEG results")
    import highdicom as hd

    all_sources = list(source_datasets)
    arr = _checked_mask(all_sources, mask)
    peaks = _frame_peaks(arr)
    kind = _segmentation_type(arr, segmentation_type, peaks)
    sources, frames = _frames_to_encode(all_sources, arr, kind, peaks, max_fractional_value)
    rows, cols = int(sources[0].Rows), int(sources[0].Columns)
    if frames.shape[-2:] != (rows, cols):
        if not upsample:
            raise DicomError(
                f"mask frames are {frames.shape[-2]}x{frames.shape[-1]} but the images are "
                f"{rows}x{cols}; resize with upsample_mask(mask, {rows}, {cols}) or pass "
                "upsample=True"
            )
        frames = upsample_mask(frames, rows, cols)
    # The SEG copies the patient and study modules from its first source.
    sources[0] = first = conformant_header(sources[0])
    series_uid, sop_uid = seg_uids(
        str(first.StudyInstanceUID), algorithm_name, str(first.SeriesInstanceUID), uid_seed
    )
    description = _segment_description(first, label, algorithm_name, algorithm_version)
    try:
        seg = hd.seg.Segmentation(
            source_images=sources,
            pixel_array=frames,
            segmentation_type=hd.seg.SegmentationTypeValues(kind.value),
            segment_descriptions=[description],
            series_instance_uid=series_uid,
            series_number=series_number,
            sop_instance_uid=sop_uid,
            instance_number=instance_number,
            manufacturer=manufacturer,
            manufacturer_model_name="StreamGale",
            software_versions=f"{algorithm_name} {algorithm_version}",
            device_serial_number="0",
            max_fractional_value=max_fractional_value,
            # Empty frames are already dropped (see _frames_to_encode); for a
            # multi-frame source highdicom drops them.
            omit_empty_frames=len(sources) == 1 and frames.shape[0] > 1,
            series_description=_series_description(label, demo),
            content_label=_content_label(label),
            content_description=f"{label} by {algorithm_name} {algorithm_version}"[:64],
        )
    except (ValueError, TypeError) as exc:
        raise DicomError(f"could not build the SEG for '{label}': {exc}") from exc
    seg.ReferencedSeriesSequence = _referenced_series(all_sources)
    if "FrameOfReferenceUID" not in first and "PatientOrientation" not in seg:
        # General Image (PS3.3 C.7.6.1): Type 2C for images no Image Plane places
        # (Secondary Capture sources, for one).
        seg.PatientOrientation = first.get("PatientOrientation") or ""
    return seg


def _referenced_series(sources: list[Any]) -> Any:
    """Referenced Series Sequence (0008,1115) listing every source image.

    What highdicom writes when it omits empty frames itself: readers take a
    listed image without a frame as segmented and empty, rather than unknown.
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    instances = []
    for ds in sources:
        item = Dataset()
        item.ReferencedSOPClassUID = ds.SOPClassUID
        item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
        instances.append(item)
    series = Dataset()
    series.ReferencedInstanceSequence = DicomSequence(instances)
    series.SeriesInstanceUID = sources[0].SeriesInstanceUID
    return DicomSequence([series])


def _checked_mask(sources: list[Any], mask: npt.ArrayLike) -> npt.NDArray[Any]:
    if not sources:
        raise DicomError("no source datasets; pass the series the mask was computed on")
    series = {str(ds.SeriesInstanceUID) for ds in sources}
    if len(series) != 1:
        raise DicomError(
            f"source datasets span {len(series)} series; a SEG covers one series, "
            "call build_seg once per series"
        )
    arr = np.asarray(mask)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.ndim != 3:
        raise DicomError(f"mask has shape {arr.shape}; expected (frames, rows, cols)")
    expected = int(sources[0].get("NumberOfFrames", 1)) if len(sources) == 1 else len(sources)
    if arr.shape[0] != expected:
        raise DicomError(
            f"mask has {arr.shape[0]} frames but the source has {expected}; "
            "mask[i] must cover source_datasets[i]"
        )
    return arr


def _frame_peaks(arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Per-frame maximum: one pass over the mask decides which frames to encode."""
    flat = arr.reshape(arr.shape[0], -1)
    if flat.shape[1] == 0:
        raise DicomError(f"mask has shape {arr.shape}; its frames are empty")
    peaks: npt.NDArray[Any] = flat.max(axis=1)
    return peaks


def _segmentation_type(
    arr: npt.NDArray[Any], requested: SegmentationType | str | None, peaks: npt.NDArray[Any]
) -> SegmentationType:
    floating = arr.dtype.kind == "f"
    # NaN survives max, so checking the peaks finds a NaN anywhere.
    if not np.isfinite(peaks).all() or peaks.max() > 1:
        raise DicomError(
            "a mask must hold probabilities in 0.0 .. 1.0 (FRACTIONAL, no NaN or inf) "
            "or only 0 and 1 (BINARY)"
        )
    if requested is None:
        return SegmentationType.FRACTIONAL if floating else SegmentationType.BINARY
    try:
        kind = SegmentationType(str(getattr(requested, "value", requested)).upper())
    except ValueError as exc:
        raise DicomError(
            f"segmentation_type {requested!r} is not supported; use 'BINARY' or 'FRACTIONAL'"
        ) from exc
    if kind is SegmentationType.BINARY and floating:
        raise DicomError(
            "a floating-point mask cannot be BINARY; threshold it (mask >= 0.5) "
            "or use segmentation_type='FRACTIONAL'"
        )
    return kind


def _frames_to_encode(
    sources: list[Any],
    arr: npt.NDArray[Any],
    kind: SegmentationType,
    peaks: npt.NDArray[Any],
    max_value: int,
) -> tuple[list[Any], npt.NDArray[Any]]:
    if len(sources) == 1:  # one multi-frame source: highdicom omits empty frames
        frames = arr
    else:
        # A frame is empty when it encodes to zeros: probabilities below half
        # a fractional step round to 0.
        cutoff = 0.5 / max_value if kind is SegmentationType.FRACTIONAL else 0
        keep = np.flatnonzero(peaks > cutoff)
        if keep.size == 0:
            keep = np.array([0])
        sources, frames = [sources[i] for i in keep], arr[keep]
    # Negative values are checked on the frames that get encoded; dropped
    # frames are all at or below zero-after-encoding anyway.
    if frames.dtype != np.bool_ and frames.min() < 0:
        raise DicomError("a mask must not hold negative values")
    if kind is SegmentationType.BINARY and frames.dtype != np.bool_:
        frames = frames.astype(bool)
    return sources, frames


def _segment_description(
    source: Any, label: str, algorithm_name: str, algorithm_version: str
) -> Any:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    return hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=label[:64],
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=_codes.finding_code(label),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name=algorithm_name,
            family=codes.cid7162.ArtificialIntelligence,
            version=algorithm_version,
        ),
        tracking_uid=tracking_uid(str(source.StudyInstanceUID), algorithm_name, label),
        tracking_id=label[:64],
    )


def _content_label(label: str) -> str:
    # Content Label (0070,0080) is CS: upper case, digits, space, underscore; 16 chars.
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in label)
    return cleaned.upper()[:16] or "SEGMENT"


def _series_description(label: str, demo: bool) -> str:
    suffix = " (DEMO)" if demo else ""
    return f"StreamGale AI segmentation: {label}"[: 64 - len(suffix)] + suffix
