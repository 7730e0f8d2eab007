"""Assemble a 3-D volume from a series, in patient-position order.

Slices are ordered by where they are, not by Instance Number (which
modalities number in any order): each Image Position (Patient) (0020,0032)
is projected onto the slice normal, the cross product of the row and column
direction cosines of Image Orientation (Patient) (0020,0037) (PS3.3
C.7.6.2.1.1). Slice k + 1 lies further along the normal than slice k, so the
volume's (slice, row, column) axes follow the patient frame the orientation
defines, whatever order the instances arrived in.

A series that cannot form one regular volume is refused with an
:class:`~streamgale.errors.InvalidInstanceError` whose reason names the
offending instance and attribute: mixed orientations, sizes or pixel
spacings, two slices at one position, or uneven gaps (missing slices).

>>> import random
>>> from streamgale.dicom.synthetic import ct_series
>>> series = ct_series(slices=4, size=16)
>>> shuffled = random.Random(7).sample(series, k=4)
>>> volume = assemble_volume(shuffled)
>>> volume.voxels.shape, volume.spacing
((4, 16, 16), (2.5, 0.7, 0.7))
>>> [series.index(ds) for ds in series_geometry(shuffled).ordered(shuffled)]
[3, 2, 1, 0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, NoReturn, TypeVar

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from streamgale.dicom.pixels._groups import functional_group_item
from streamgale.dicom.pixels.decode import decode_frames, number_of_frames
from streamgale.dicom.pixels.lut import apply_modality_lut
from streamgale.errors import InvalidInstanceError

__all__ = [
    "SeriesGeometry",
    "Volume",
    "assemble_volume",
    "pixel_spacing",
    "series_geometry",
    "slice_normal",
]

FloatArray = npt.NDArray[np.float32]
T = TypeVar("T")

_COSINE_TOLERANCE = 1e-4  # direction cosines written with ~6 decimals differ by this
_SAME_POSITION = 1e-3  # mm; two slices closer than this are at the same place


class Volume(NamedTuple):
    """A series as one array, with its geometry."""

    voxels: FloatArray
    """(slices, rows, columns) float32 modality values (HU for CT)."""
    spacing: tuple[float, float, float]
    """(slice, row, column) spacing in mm; 0.0 where the instances do not say."""
    sop_instance_uids: tuple[str, ...]
    """The SOP Instance UID of each slice (repeated for the frames of a multi-frame)."""


@dataclass(frozen=True)
class SeriesGeometry:
    """How the instances (or the frames of one instance) of a series are arranged."""

    order: tuple[int, ...]
    """Indices into the input (or 0-based frame indices), in position order."""
    spacing: tuple[float, float, float]
    """(slice, row, column) spacing in mm; 0.0 where the instances do not say."""
    shape: tuple[int, int]
    """(Rows, Columns) of every slice."""

    def ordered(self, items: Sequence[T]) -> list[T]:
        """``items`` (one per input instance or frame) in position order."""
        return [items[index] for index in self.order]


def slice_normal(orientation: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The unit normal of a slice: row cosines x column cosines (PS3.3 C.7.6.2.1.1).

    >>> slice_normal([1, 0, 0, 0, 1, 0]).tolist()
    [0.0, 0.0, 1.0]
    """
    cosines = np.asarray(orientation, dtype=np.float64)
    if cosines.shape != (6,):
        raise ValueError(f"Image Orientation (Patient) needs 6 values; got {cosines.tolist()}")
    row, column = cosines[:3], cosines[3:]
    normal = np.cross(row, column)
    length = float(np.linalg.norm(normal))
    if (
        abs(np.linalg.norm(row) - 1) > 1e-2
        or abs(np.linalg.norm(column) - 1) > 1e-2
        or abs(float(row @ column)) > 1e-2
    ):
        raise ValueError(
            f"Image Orientation (Patient) {cosines.tolist()} is not two orthogonal unit vectors"
        )
    return normal / length


def pixel_spacing(ds: Dataset, frame: int = 0) -> tuple[float, float] | None:
    """(row, column) spacing in mm, or None when the instance does not say.

    Pixel Spacing (0028,0030) at the top level or in the Pixel Measures
    Sequence (0028,9110) of an enhanced image; else Imager Pixel Spacing
    (0018,1164) of projection radiographs, which is measured at the detector.
    """
    item = ds if "PixelSpacing" in ds else functional_group_item(ds, frame, "PixelMeasuresSequence")
    value = item.get("PixelSpacing") if item is not None else None
    value = value or ds.get("ImagerPixelSpacing")
    if not value:
        return None
    try:
        row, column = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise InvalidInstanceError(
            f"Pixel Spacing (0028,0030) must be two numbers of mm; got {value!r}",
            sop_instance_uid=ds.get("SOPInstanceUID"),
        ) from exc
    if not (row > 0 and column > 0):
        raise InvalidInstanceError(
            f"Pixel Spacing (0028,0030) must be positive; got {value!r}",
            sop_instance_uid=ds.get("SOPInstanceUID"),
        )
    return row, column


def series_geometry(datasets: Sequence[Dataset], *, gap_tolerance: float = 0.1) -> SeriesGeometry:
    """Check that ``datasets`` form one regular volume and find the slice order.

    A single multi-frame instance is ordered by the Plane Position Sequence
    (0020,9113) of its Per-frame Functional Groups when every frame has one;
    otherwise its frames are taken in stored order. Gaps between adjacent
    slices may differ from their median by ``gap_tolerance`` mm at most.
    """
    if not datasets:
        raise InvalidInstanceError("a volume needs at least one instance; got none")
    if len(datasets) == 1 and number_of_frames(datasets[0]) > 1:
        return _frames_geometry(datasets[0], gap_tolerance)
    first = datasets[0]
    shape = _shape(first)
    spacing = pixel_spacing(first) or (0.0, 0.0)
    orientation = _orientation(first)
    series_uid = first.get("SeriesInstanceUID")
    for ds in datasets:
        if number_of_frames(ds) > 1:
            _refuse("is multi-frame; a volume is one multi-frame instance or single frames", ds)
    for ds in datasets[1:]:
        if ds.get("SeriesInstanceUID") != series_uid:
            _refuse(f"belongs to series {ds.get('SeriesInstanceUID')}, not {series_uid}", ds)
        if _shape(ds) != shape:
            _refuse(f"is {_shape(ds)} (Rows, Columns) but the series is {shape}", ds)
        other = pixel_spacing(ds) or (0.0, 0.0)
        if not np.allclose(other, spacing, rtol=1e-4, atol=1e-6):
            _refuse(f"has Pixel Spacing {other} but the series has {spacing}", ds)
        if not np.allclose(_orientation(ds), orientation, atol=_COSINE_TOLERANCE):
            _refuse(
                f"has Image Orientation (Patient) {list(_orientation(ds))} but the series "
                f"has {list(orientation)}; an oblique reformat mixed with another stack?",
                ds,
            )
    positions = [_position(ds) for ds in datasets]
    labels = [f"instance {ds.get('SOPInstanceUID')}" for ds in datasets]
    order, gaps = _order(positions, orientation, labels)
    gap = _check_gaps(gaps, gap_tolerance, first) if len(datasets) > 1 else _stated_gap(first)
    return SeriesGeometry(tuple(order), (gap, *spacing), shape)


def assemble_volume(datasets: Sequence[Dataset], *, gap_tolerance: float = 0.1) -> Volume:
    """The series as a float32 (slices, rows, columns) volume after the modality LUT.

    ``datasets`` are the single-frame instances of one series in any order,
    or one multi-frame instance. See :func:`series_geometry` for the checks.
    """
    geometry = series_geometry(datasets, gap_tolerance=gap_tolerance)
    if len(datasets) == 1 and number_of_frames(datasets[0]) > 1:
        ds = datasets[0]
        frames = apply_modality_lut(decode_frames(ds), ds)
        uid = str(ds.get("SOPInstanceUID", ""))
        voxels = np.ascontiguousarray(frames[list(geometry.order)])
        return Volume(voxels, geometry.spacing, (uid,) * len(geometry.order))
    ordered = geometry.ordered(datasets)
    voxels = np.empty((len(ordered), *geometry.shape), dtype=np.float32)
    for index, ds in enumerate(ordered):
        voxels[index] = apply_modality_lut(decode_frames(ds)[0], ds)
    uids = tuple(str(ds.get("SOPInstanceUID", "")) for ds in ordered)
    return Volume(voxels, geometry.spacing, uids)


def _frames_geometry(ds: Dataset, gap_tolerance: float) -> SeriesGeometry:
    frames = number_of_frames(ds)
    shape = _shape(ds)
    spacing = pixel_spacing(ds) or (0.0, 0.0)
    positions = [functional_group_item(ds, i, "PlanePositionSequence") for i in range(frames)]
    if all(item is not None and "ImagePositionPatient" in item for item in positions):
        orientations = [_frame_orientation(ds, i) for i in range(frames)]
        if not all(np.allclose(o, orientations[0], atol=_COSINE_TOLERANCE) for o in orientations):
            _refuse("has frames with different Image Orientation (Patient) (0020,0037)", ds)
        points = [
            _vector(item.ImagePositionPatient, 3, "Image Position (Patient)", ds)
            for item in positions
            if item is not None
        ]
        labels = [f"frame {i + 1}" for i in range(frames)]
        order, gap = _order(points, orientations[0], labels)
        return SeriesGeometry(tuple(order), (_check_gaps(gap, gap_tolerance, ds), *spacing), shape)
    return SeriesGeometry(tuple(range(frames)), (_stated_gap(ds), *spacing), shape)


def _order(
    positions: Sequence[npt.NDArray[np.float64]],
    orientation: npt.NDArray[np.float64],
    labels: Sequence[Any],
) -> tuple[list[int], npt.NDArray[np.float64]]:
    """Indices sorted along the slice normal, and the gaps between neighbours."""
    try:
        normal = slice_normal(orientation)
    except ValueError as exc:
        raise InvalidInstanceError(str(exc)) from exc
    distance = np.array([float(p @ normal) for p in positions])
    order = [int(i) for i in np.argsort(distance, kind="stable")]
    gaps = np.diff(distance[order])
    for k in np.flatnonzero(gaps < _SAME_POSITION):
        a, b = labels[order[k]], labels[order[k + 1]]
        raise InvalidInstanceError(
            f"{a} and {b} are at the same position ({distance[order[k]]:.3f} mm along the "
            "slice normal): a duplicate, or two stacks in one series; split the series"
        )
    return order, gaps


def _check_gaps(gaps: npt.NDArray[np.float64], tolerance: float, ds: Dataset) -> float:
    if gaps.size == 0:
        return _stated_gap(ds)
    median = float(np.median(gaps))
    worst = int(np.argmax(np.abs(gaps - median)))
    if abs(float(gaps[worst]) - median) > tolerance:
        raise InvalidInstanceError(
            f"slice gaps are uneven: {gaps[worst]:.3f} mm between slices {worst + 1} and "
            f"{worst + 2} (in position order) against {median:.3f} mm elsewhere; slices are "
            "missing or the series mixes stacks; wait for the rest or split the series",
            sop_instance_uid=ds.get("SOPInstanceUID"),
        )
    return median


def _stated_gap(ds: Dataset) -> float:
    """Slice spacing a lone slice or a plain multi-frame states, or 0.0 (unknown)."""
    offsets = ds.get("GridFrameOffsetVector")  # RT Dose (PS3.3 C.8.8.3.2)
    if offsets and len(offsets) > 1:
        return abs(float(offsets[1]) - float(offsets[0]))
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = ds.get(keyword)
        if value not in (None, ""):
            return abs(float(value))
    return 0.0


def _shape(ds: Dataset) -> tuple[int, int]:
    try:
        return int(ds.Rows), int(ds.Columns)
    except (AttributeError, TypeError, ValueError):
        _refuse("has no valid Rows (0028,0010) / Columns (0028,0011)", ds)


def _orientation(ds: Dataset) -> npt.NDArray[np.float64]:
    if "ImageOrientationPatient" not in ds:
        _refuse("has no Image Orientation (Patient) (0020,0037); its slice order is unknown", ds)
    return _vector(ds.ImageOrientationPatient, 6, "Image Orientation (Patient)", ds)


def _frame_orientation(ds: Dataset, frame: int) -> npt.NDArray[np.float64]:
    item = functional_group_item(ds, frame, "PlaneOrientationSequence")
    if item is None or "ImageOrientationPatient" not in item:
        return _orientation(ds)
    return _vector(item.ImageOrientationPatient, 6, "Image Orientation (Patient)", ds)


def _position(ds: Dataset) -> npt.NDArray[np.float64]:
    if "ImagePositionPatient" not in ds:
        _refuse("has no Image Position (Patient) (0020,0032); its slice order is unknown", ds)
    return _vector(ds.ImagePositionPatient, 3, "Image Position (Patient)", ds)


def _vector(value: Any, size: int, name: str, ds: Dataset) -> npt.NDArray[np.float64]:
    try:
        vector = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        _refuse(f"has a {name} that is not numbers: {value!r}", ds)
    if vector.shape != (size,) or not np.isfinite(vector).all():
        _refuse(f"has a {name} of {list(vector)}; expected {size} finite numbers", ds)
    return vector


def _refuse(reason: str, ds: Dataset) -> NoReturn:
    uid = ds.get("SOPInstanceUID")
    raise InvalidInstanceError(f"instance {reason}", sop_instance_uid=str(uid) if uid else None)
