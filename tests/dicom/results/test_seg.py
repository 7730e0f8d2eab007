"""The Segmentation: frames, references, codes and pixels, read back from a Part 10 file."""

from __future__ import annotations

from typing import Any

import highdicom as hd
import numpy as np
import pytest

from streamgale.dicom.results import (
    SegmentationType,
    build_seg,
    check_result_object,
    mask_measurements,
    read_part10_bytes,
    to_part10_bytes,
    upsample_mask,
    validate_part10,
)
from streamgale.dicom.synthetic import ct_series
from streamgale.errors import DicomError

from .conftest import require_tool


def _build(series: list[Any], mask: np.ndarray, **kwargs: Any) -> Any:
    seg = build_seg(series, mask, algorithm_name="demo-lesion", algorithm_version="0.3.1", **kwargs)
    return read_part10_bytes(to_part10_bytes(seg))


@pytest.fixture(scope="module")
def seg(series: list[Any], mask: np.ndarray) -> Any:
    return _build(series, mask, uid_seed="res-0001/1", demo=True)


def _frame_sources(seg: Any) -> list[str]:
    return [
        str(item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
        for item in seg.PerFrameFunctionalGroupsSequence
    ]


def test_seg_goes_into_the_source_study_in_a_new_series(seg: Any, series: list[Any]) -> None:
    assert seg.Modality == "SEG" and seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    assert seg.StudyInstanceUID == series[0].StudyInstanceUID
    assert seg.SeriesInstanceUID != series[0].SeriesInstanceUID
    assert seg.FrameOfReferenceUID == series[0].FrameOfReferenceUID
    assert seg.PatientID == series[0].PatientID
    assert seg.SeriesDescription.endswith("(DEMO)")
    assert check_result_object(seg, series) == []


def test_only_segmented_frames_are_encoded_each_on_its_source(
    seg: Any, series: list[Any], mask: np.ndarray
) -> None:
    kept = np.flatnonzero(mask.any(axis=(1, 2)))
    assert 0 < len(kept) < len(series)
    assert seg.NumberOfFrames == len(kept)
    assert _frame_sources(seg) == [series[i].SOPInstanceUID for i in kept]
    for item, i in zip(seg.PerFrameFunctionalGroupsSequence, kept, strict=True):
        position = item.PlanePositionSequence[0].ImagePositionPatient
        assert [float(v) for v in position] == [float(v) for v in series[i].ImagePositionPatient]
    referenced = seg.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == series[0].SeriesInstanceUID
    # Every source is listed, so the omitted frames read as segmented-and-empty.
    assert [r.ReferencedSOPInstanceUID for r in referenced.ReferencedInstanceSequence] == [
        ds.SOPInstanceUID for ds in series
    ]


def test_pixels_equal_the_mask(seg: Any, series: list[Any], mask: np.ndarray) -> None:
    kept = np.flatnonzero(mask.any(axis=(1, 2)))
    assert seg.BitsAllocated == 1  # BINARY is bit-packed
    assert np.array_equal(seg.pixel_array.reshape(len(kept), 64, 64).astype(bool), mask[kept])
    # Through highdicom's reader, by source instance, including the omitted frames.
    back = hd.seg.Segmentation.from_dataset(seg)
    volume = back.get_pixels_by_source_instance(
        source_sop_instance_uids=[ds.SOPInstanceUID for ds in series], segment_numbers=[1]
    )
    assert np.array_equal(volume[..., 0].astype(bool), mask)


def test_segment_description_is_coded(seg: Any) -> None:
    segment = seg.SegmentSequence[0]
    assert segment.SegmentNumber == 1 and segment.SegmentLabel == "Lesion"
    category = segment.SegmentedPropertyCategoryCodeSequence[0]
    kind = segment.SegmentedPropertyTypeCodeSequence[0]
    assert (category.CodeValue, category.CodingSchemeDesignator) == ("49755003", "SCT")
    assert (kind.CodeValue, kind.CodingSchemeDesignator) == ("52988006", "SCT")
    assert segment.SegmentAlgorithmType == "AUTOMATIC"
    algorithm = segment.SegmentationAlgorithmIdentificationSequence[0]
    assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("demo-lesion", "0.3.1")
    family = algorithm.AlgorithmFamilyCodeSequence[0]
    assert (family.CodeValue, family.CodingSchemeDesignator) == ("123110", "DCM")
    assert seg.SegmentationType == "BINARY"


def test_uids_are_deterministic_with_a_seed(seg: Any, series: list[Any], mask: np.ndarray) -> None:
    again = _build(series, mask, uid_seed="res-0001/1")
    other = _build(series, mask, uid_seed="res-0002/2")
    assert again.SOPInstanceUID == seg.SOPInstanceUID != other.SOPInstanceUID
    assert other.SeriesInstanceUID == seg.SeriesInstanceUID


def test_probabilities_make_a_fractional_seg(series: list[Any], mask: np.ndarray) -> None:
    probabilities = mask.astype(np.float32) * 0.8
    seg = _build(series, probabilities)
    assert seg.SegmentationType == "FRACTIONAL"
    assert seg.SegmentationFractionalType == "PROBABILITY"
    kept = np.flatnonzero(mask.any(axis=(1, 2)))
    pixels = seg.pixel_array.reshape(len(kept), 64, 64)
    assert np.array_equal(pixels, np.rint(probabilities[kept] * 255).astype(np.uint8))
    # A background of tiny probabilities encodes to zero, so its frames are omitted.
    noisy = probabilities + np.float32(0.001)
    assert _build(series, noisy).NumberOfFrames == len(kept)


def test_empty_mask_gives_one_empty_frame(series: list[Any]) -> None:
    seg = _build(series, np.zeros((len(series), 64, 64), dtype=bool))
    assert seg.NumberOfFrames == 1
    assert _frame_sources(seg) == [series[0].SOPInstanceUID]
    assert not seg.pixel_array.any()
    assert check_result_object(seg, series) == []


def test_low_resolution_masks_are_upsampled_on_request(series: list[Any], mask: np.ndarray) -> None:
    small = mask[:, ::4, ::4]
    with pytest.raises(DicomError, match="upsample_mask"):
        _build(series, small)
    seg = _build(series, small, upsample=True)
    kept = np.flatnonzero(small.any(axis=(1, 2)))
    expected = upsample_mask(small, 64, 64)[kept]
    assert np.array_equal(seg.pixel_array.reshape(len(kept), 64, 64).astype(bool), expected)


def test_upsample_mask_is_nearest_neighbour() -> None:
    low = np.arange(6, dtype=np.uint8).reshape(1, 2, 3)
    high = upsample_mask(low, 4, 6)
    assert high.dtype == np.uint8 and high.shape == (1, 4, 6)
    assert high[0].tolist() == [
        [0, 0, 1, 1, 2, 2],
        [0, 0, 1, 1, 2, 2],
        [3, 3, 4, 4, 5, 5],
        [3, 3, 4, 4, 5, 5],
    ]
    mask = np.zeros((128, 128), dtype=bool)
    mask[10:20, 30:40] = True
    big = upsample_mask(mask, 512, 512)
    assert big.sum() == mask.sum() * 16 and big[40:80, 120:160].all()


def test_mask_measurements() -> None:
    mask = np.zeros((3, 20, 20), dtype=bool)
    mask[1, 5:15, 5:15] = True  # 100 px
    mask[2, 5:10, 5:10] = True  # 25 px
    found = mask_measurements(mask, (0.5, 0.5), slice_thickness=2.0)
    assert found["area"].value == pytest.approx(25.0) and found["area"].unit == "mm2"
    assert found["diameter"].value == pytest.approx(2 * (25.0 / np.pi) ** 0.5)
    assert found["volume"].value == pytest.approx(125 * 0.25 * 2.0)
    assert "volume" not in mask_measurements(mask, (0.5, 0.5))
    assert mask_measurements(np.zeros((2, 4, 4)), (1.0, 1.0)) == {}


def test_masks_that_do_not_fit_are_refused(series: list[Any], mask: np.ndarray) -> None:
    with pytest.raises(DicomError, match="frames"):
        _build(series, mask[:-1])
    with pytest.raises(DicomError, match="BINARY"):
        _build(series, mask.astype(np.float32), segmentation_type=SegmentationType.BINARY)
    with pytest.raises(DicomError, match=r"0\.0 \.\. 1\.0"):
        _build(series, mask.astype(np.float32) * 2)
    with pytest.raises(DicomError, match="negative"):
        _build(series, mask.astype(np.float32) - 0.5)
    with pytest.raises(DicomError, match="NaN"):
        _build(series, np.full(mask.shape, np.nan, dtype=np.float32))
    with pytest.raises(DicomError, match="only 0 and 1"):
        _build(series, mask.astype(np.uint8) * 3)
    with pytest.raises(DicomError, match="not supported"):
        _build(series, mask, segmentation_type="LABELMAP")
    other = ct_series(
        slices=1, size=64, seed=3, series_number=2, study_uid=series[0].StudyInstanceUID
    )
    with pytest.raises(DicomError, match="one series"):
        _build([*series, *other], np.zeros((len(series) + 1, 64, 64), dtype=bool))


def test_seg_is_valid_for_dcmdump_and_dciodvfy(series: list[Any], mask: np.ndarray) -> None:
    for tool in ("dcmdump", "dciodvfy"):
        require_tool(tool)
    binary = build_seg(series, mask, algorithm_name="demo", algorithm_version="1")
    fractional = build_seg(
        series, mask.astype(np.float32) * 0.7, algorithm_name="demo", algorithm_version="1"
    )
    assert validate_part10(binary, series) == []
    assert validate_part10(fractional, series) == []
