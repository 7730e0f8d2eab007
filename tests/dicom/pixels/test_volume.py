"""Volumes are ordered by patient position along the slice normal, and checked."""

from __future__ import annotations

import copy
import random
from typing import Any

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from streamgale.dicom.pixels import (
    apply_modality_lut,
    assemble_volume,
    decode_frames,
    pixel_spacing,
    series_geometry,
    slice_normal,
)
from streamgale.dicom.synthetic import ct_series
from streamgale.errors import InvalidInstanceError
from tests.dicom.pixels.helpers import bundled

GAP = 2.5


def placed_series(orientation: list[float], *, slices: int = 6, gap: float = GAP) -> list[Any]:
    """A series whose slice k lies k * gap along the normal of ``orientation``.

    Instance Numbers run backwards, so ordering by them would be wrong.
    """
    series = ct_series(slices=slices, size=16, seed=11)
    normal = slice_normal(orientation)
    origin = np.array([-80.0, 30.0, 120.0])
    for k, ds in enumerate(series):
        ds.ImageOrientationPatient = orientation
        ds.ImagePositionPatient = [float(v) for v in origin + k * gap * normal]
        ds.InstanceNumber = slices - k
    return series


def hu(ds: Any) -> np.ndarray[Any, Any]:
    return apply_modality_lut(decode_frames(ds)[0], ds)


COS30, SIN30 = float(np.cos(np.pi / 6)), float(np.sin(np.pi / 6))
ORIENTATIONS = {
    "axial": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
    "axial-reversed": [-1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
    "sagittal": [0.0, 1.0, 0.0, 0.0, 0.0, -1.0],
    "coronal": [1.0, 0.0, 0.0, 0.0, 0.0, -1.0],
    "oblique": [1.0, 0.0, 0.0, 0.0, COS30, SIN30],
}


@pytest.mark.parametrize("name", list(ORIENTATIONS))
def test_shuffled_instances_come_out_in_position_order(name: str) -> None:
    series = placed_series(ORIENTATIONS[name])
    shuffled = random.Random(name).sample(series, k=len(series))

    volume = assemble_volume(shuffled)

    assert volume.sop_instance_uids == tuple(ds.SOPInstanceUID for ds in series)
    for k, ds in enumerate(series):
        np.testing.assert_array_equal(volume.voxels[k], hu(ds))
    assert volume.voxels.dtype == np.float32
    assert volume.spacing == pytest.approx((GAP, 0.7, 0.7))


def test_synthetic_series_is_ordered_feet_to_head_not_by_instance_number() -> None:
    # ct_series places slice n at z = -2.5 n; the normal (0, 0, 1) points to the head.
    series = ct_series(slices=5, size=16)
    volume = assemble_volume(random.Random(2).sample(series, k=5))
    assert volume.sop_instance_uids == tuple(ds.SOPInstanceUID for ds in reversed(series))


def test_series_geometry_reports_the_order() -> None:
    series = placed_series(ORIENTATIONS["oblique"], slices=4)
    shuffled = [series[2], series[0], series[3], series[1]]
    geometry = series_geometry(shuffled)
    assert geometry.order == (1, 3, 0, 2)
    assert geometry.ordered(shuffled) == series
    assert geometry.shape == (16, 16)


def test_a_single_slice_takes_its_stated_thickness() -> None:
    (ds,) = ct_series(slices=1, size=16)
    volume = assemble_volume([ds])
    assert volume.voxels.shape == (1, 16, 16)
    assert volume.spacing == (2.5, 0.7, 0.7)


def refuse(datasets: list[Any], match: str) -> InvalidInstanceError:
    with pytest.raises(InvalidInstanceError, match=match) as caught:
        assemble_volume(datasets)
    return caught.value


def test_mixed_orientation_is_refused_naming_the_instance() -> None:
    series = placed_series(ORIENTATIONS["axial"])
    series[3].ImageOrientationPatient = ORIENTATIONS["oblique"]
    error = refuse(series, r"Image Orientation \(Patient\)")
    assert error.sop_instance_uid == series[3].SOPInstanceUID


def test_mixed_sizes_are_refused() -> None:
    series = placed_series(ORIENTATIONS["axial"])
    other = ct_series(slices=1, size=32, seed=11)[0]
    other.SeriesInstanceUID = series[0].SeriesInstanceUID
    other.ImagePositionPatient = [0, 0, 500]
    refuse([*series, other], r"is \(32, 32\) \(Rows, Columns\) but the series is \(16, 16\)")


def test_mixed_pixel_spacing_is_refused() -> None:
    series = placed_series(ORIENTATIONS["axial"])
    series[1].PixelSpacing = [0.8, 0.8]
    refuse(series, "Pixel Spacing")


def test_two_slices_at_one_position_are_refused() -> None:
    series = placed_series(ORIENTATIONS["axial"])
    duplicate = copy.deepcopy(series[2])
    duplicate.SOPInstanceUID = "1.2.3.4"
    error = refuse([*series, duplicate], "same position")
    assert "1.2.3.4" in str(error)


def test_a_missing_slice_is_refused_as_uneven_gaps() -> None:
    series = placed_series(ORIENTATIONS["axial"], slices=8)
    del series[4]
    refuse(series, r"slice gaps are uneven: 5\.000 mm .* 2\.500 mm")


def test_small_position_jitter_is_tolerated() -> None:
    series = placed_series(ORIENTATIONS["axial"])
    position = [float(v) for v in series[2].ImagePositionPatient]
    series[2].ImagePositionPatient = [position[0] + 0.3, position[1], position[2] + 0.02]
    assert assemble_volume(series).voxels.shape == (6, 16, 16)


def test_missing_position_is_refused() -> None:
    series = placed_series(ORIENTATIONS["axial"])
    del series[0].ImagePositionPatient
    refuse(series, r"no Image Position \(Patient\) \(0020,0032\)")


def test_instances_of_another_series_are_refused() -> None:
    series = placed_series(ORIENTATIONS["axial"])
    series[5].SeriesInstanceUID = "1.2.9"
    refuse(series, "belongs to series 1.2.9")


def test_non_orthogonal_orientation_is_refused() -> None:
    series = placed_series(ORIENTATIONS["axial"])
    for ds in series:
        ds.ImageOrientationPatient = [1, 0, 0, 0.7, 0.7, 0]
    refuse(series, "not two orthogonal unit vectors")


def test_a_multiframe_instance_among_others_is_refused() -> None:
    series = placed_series(ORIENTATIONS["axial"])
    series[0].NumberOfFrames = 2
    refuse(series, "is multi-frame")


def test_empty_series_is_refused() -> None:
    refuse([], "at least one instance")


def enhanced_ct(order: list[int]) -> tuple[Dataset, list[Any]]:
    """A Legacy Converted Enhanced CT (highdicom) with its frames stored in ``order``."""
    import highdicom as hd
    from highdicom.legacy import LegacyConvertedEnhancedCTImage

    series = placed_series(ORIENTATIONS["oblique"], slices=len(order))
    image = LegacyConvertedEnhancedCTImage(
        legacy_datasets=series,
        series_instance_uid=hd.UID(),
        series_number=9,
        sop_instance_uid=hd.UID(),
        instance_number=1,
    )
    # highdicom stores frames in its own order; restore position order, then
    # apply ``order`` to both the per-frame groups and the pixel data.
    frames = decode_frames(image)
    groups = list(image.PerFrameFunctionalGroupsSequence)
    normal = slice_normal(ORIENTATIONS["oblique"])
    where = [float(np.dot(g.PlanePositionSequence[0].ImagePositionPatient, normal)) for g in groups]
    by_position = list(np.argsort(where))
    stored = [by_position[i] for i in order]
    image.PerFrameFunctionalGroupsSequence = Sequence([groups[i] for i in stored])
    image.PixelData = np.ascontiguousarray(frames[stored]).tobytes()
    return image, series


def test_enhanced_multiframe_frames_are_ordered_by_plane_position() -> None:
    image, series = enhanced_ct([2, 0, 3, 1])

    volume = assemble_volume([image])

    assert volume.voxels.shape == (4, 16, 16)
    for k, ds in enumerate(series):
        np.testing.assert_array_equal(volume.voxels[k], hu(ds))
    assert volume.spacing == pytest.approx((GAP, 0.7, 0.7))
    assert volume.sop_instance_uids == (image.SOPInstanceUID,) * 4
    assert series_geometry([image]).order == (1, 3, 0, 2)


def test_legacy_multiframe_keeps_stored_order_with_grid_offsets() -> None:
    ds = bundled("rtdose.dcm")  # RT Dose: 15 frames, Grid Frame Offset Vector
    volume = assemble_volume([ds])
    offsets = [float(v) for v in ds.GridFrameOffsetVector]
    assert volume.voxels.shape == (15, 10, 10)
    # Dose Grid Scaling is not a modality LUT: the stored values stay as stored.
    np.testing.assert_array_equal(volume.voxels, decode_frames(ds).astype(np.float32))
    assert volume.spacing[0] == pytest.approx(abs(offsets[1] - offsets[0]))
    assert volume.spacing[1:] == tuple(float(v) for v in ds.PixelSpacing)


def test_pixel_spacing_from_pixel_measures_sequence() -> None:
    measures = Dataset()
    measures.PixelSpacing = [0.5, 0.25]
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    ds = Dataset()
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    assert pixel_spacing(ds) == (0.5, 0.25)
    assert pixel_spacing(Dataset()) is None
