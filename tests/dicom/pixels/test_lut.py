"""Modality LUT, VOI windowing and MONOCHROME1 against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from streamgale.dicom.pixels import (
    VoiFunction,
    VoiPreset,
    Window,
    apply_dataset_voi,
    apply_modality_lut,
    apply_voi,
    invert_monochrome1,
    rescale_parameters,
    window_from_dataset,
)
from streamgale.errors import InvalidInstanceError
from tests.dicom.pixels.helpers import bundled


def test_rescale_slope_and_intercept() -> None:
    ds = Dataset()
    ds.RescaleSlope, ds.RescaleIntercept = "0.5", "-100"
    out = apply_modality_lut(np.array([[0, 100], [200, 4095]], dtype=np.uint16), ds)
    assert out.dtype == np.float32
    assert out.tolist() == [[-100.0, -50.0], [0.0, 1947.5]]


def test_no_rescale_is_identity_and_never_modifies_the_input() -> None:
    stored = np.array([[1, 2]], dtype=np.int16)
    out = apply_modality_lut(stored, Dataset())
    assert out.tolist() == [[1.0, 2.0]]
    out += 1
    assert stored.tolist() == [[1, 2]]


def test_modality_lut_sequence_is_looked_up() -> None:
    # LUT Descriptor: 4 entries, first mapped value 10, 16-bit entries (PS3.3 C.11.1.1).
    item = Dataset()
    item.LUTDescriptor = [4, 10, 16]
    item.LUTData = [100, 200, 300, 400]
    item["LUTData"].VR = "US"
    ds = Dataset()
    ds.ModalityLUTSequence = Sequence([item])
    stored = np.array([[5, 10, 11, 12, 13, 99]], dtype=np.uint16)
    # Below the first mapped value -> first entry; above the last -> last entry.
    assert apply_modality_lut(stored, ds).tolist() == [[100, 100, 200, 300, 400, 400]]


def test_enhanced_multiframe_rescale_per_frame() -> None:
    ds = Dataset()
    frames = []
    for intercept in (-1024, 0):
        transform = Dataset()
        transform.RescaleSlope, transform.RescaleIntercept = 1, intercept
        group = Dataset()
        group.PixelValueTransformationSequence = Sequence([transform])
        frames.append(group)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    out = apply_modality_lut(np.full((2, 1, 1), 1000, dtype=np.uint16), ds)
    assert out.ravel().tolist() == [-24.0, 1000.0]
    assert rescale_parameters(ds, 1) == (1.0, 0.0)


def test_shared_functional_group_rescale() -> None:
    transform = Dataset()
    transform.RescaleSlope, transform.RescaleIntercept = 2, 5
    shared = Dataset()
    shared.PixelValueTransformationSequence = Sequence([transform])
    ds = Dataset()
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    assert rescale_parameters(ds, 3) == (2.0, 5.0)


@pytest.mark.filterwarnings("ignore:Invalid value for VR DS")
def test_non_numeric_rescale_is_an_invalid_instance() -> None:
    # As read from a file: pydicom keeps the bad text and only warns.
    ds = Dataset()
    ds.SOPInstanceUID = "1.2.3"
    ds.RescaleSlope = 1
    ds[0x00281052] = RawDataElement(Tag(0x00281052), "DS", 4, b"abc ", 0, False, True)
    with pytest.raises(InvalidInstanceError, match=r"1\.2\.3.*Rescale"):
        rescale_parameters(ds)


def test_linear_window_follows_ps3_3_c_11_2_1_2() -> None:
    # c = 40, w = 401: bottom edge c - 0.5 - (w-1)/2 = -160.5, top edge 239.5.
    x = np.array([-1000.0, -160.5, -160.0, 39.5, 239.5, 240.0, 3000.0])
    expected = [0.0, 0.0, 0.5 / 400, 0.5, 1.0, 1.0, 1.0]
    np.testing.assert_allclose(apply_voi(x, 40, 401), expected, atol=1e-6)


def test_linear_window_of_width_one_is_a_step() -> None:
    assert apply_voi([9.4, 9.5, 9.6], 10, 1).tolist() == [0.0, 0.0, 1.0]


def test_linear_exact_window() -> None:
    x = np.array([-200.0, -160.0, 40.0, 140.0, 240.0, 500.0])
    expected = [0.0, 0.0, 0.5, 0.75, 1.0, 1.0]
    out = apply_voi(x, 40, 400, function=VoiFunction.LINEAR_EXACT)
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_sigmoid_window() -> None:
    x = np.array([40.0, 140.0, -60.0])
    expected = 1.0 / (1.0 + np.exp(-4.0 * (x - 40.0) / 400.0))
    out = apply_voi(x, 40, 400, function="sigmoid")
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert out.dtype == np.float32


@pytest.mark.parametrize(
    ("function", "width"), [("LINEAR", 0.5), ("LINEAR_EXACT", 0), ("SIGMOID", -1)]
)
def test_window_width_too_small_is_refused(function: str, width: float) -> None:
    with pytest.raises(ValueError, match="Window Width"):
        apply_voi([0.0], 0, width, function=function)


def test_unknown_voi_function_lists_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="LINEAR, LINEAR_EXACT, SIGMOID"):
        apply_voi([0.0], 0, 10, function="gamma")


def test_voi_output_is_float32_in_unit_range() -> None:
    hu = np.random.default_rng(0).uniform(-3000, 3000, (8, 8)).astype(np.float32)
    for preset in VoiPreset:
        out = apply_voi(hu, *preset.window)
        assert out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0


def test_preset_values() -> None:
    windows = {preset.value: preset.window for preset in VoiPreset}
    assert windows == {
        "lung": (-600.0, 1500.0),
        "mediastinum": (40.0, 400.0),
        "soft_tissue": (40.0, 400.0),
        "bone": (400.0, 1800.0),
        "brain": (40.0, 80.0),
        "liver": (60.0, 160.0),
        "abdomen": (50.0, 350.0),
    }
    assert VoiPreset.LUNG.window_center == -600.0
    assert VoiPreset.LUNG.window_width == 1500.0


@pytest.mark.parametrize("text", ["lung", "LUNG", " Lung "])
def test_preset_parse_accepts_any_case(text: str) -> None:
    assert VoiPreset.parse(text) is VoiPreset.LUNG


def test_preset_parse_lists_the_presets() -> None:
    with pytest.raises(ValueError, match="lung, mediastinum, soft_tissue, bone"):
        VoiPreset.parse("kidney")


def test_window_from_dataset_takes_the_first_of_several() -> None:
    ds = Dataset()
    ds.WindowCenter = [40, -600]
    ds.WindowWidth = [400, 1500]
    ds.VOILUTFunction = "LINEAR_EXACT"
    assert window_from_dataset(ds) == Window(40.0, 400.0, VoiFunction.LINEAR_EXACT)


def test_window_from_dataset_absent_is_none() -> None:
    assert window_from_dataset(Dataset()) is None


def test_window_from_frame_voi_lut_sequence() -> None:
    voi = Dataset()
    voi.WindowCenter, voi.WindowWidth = 50, 350
    shared = Dataset()
    shared.FrameVOILUTSequence = Sequence([voi])
    ds = Dataset()
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    assert window_from_dataset(ds, 2) == Window(50.0, 350.0)


def test_bad_dataset_window_is_an_invalid_instance() -> None:
    ds = Dataset()
    ds.WindowCenter, ds.WindowWidth = 40, 0
    with pytest.raises(InvalidInstanceError, match="Window Width"):
        window_from_dataset(ds)


def test_apply_dataset_voi_uses_the_stated_window() -> None:
    ds = Dataset()
    ds.WindowCenter, ds.WindowWidth = 40, 401
    x = np.array([[-1000.0, 39.5, 1000.0]])
    assert apply_dataset_voi(x, ds).tolist() == [[0.0, 0.5, 1.0]]


def test_apply_dataset_voi_without_a_window_uses_the_full_range() -> None:
    x = np.array([[[10.0, 20.0, 30.0]], [[5.0, 5.0, 5.0]]])  # a flat second frame
    assert apply_dataset_voi(x, Dataset()).tolist() == [[[0.0, 0.5, 1.0]], [[0.0, 0.0, 0.0]]]


def test_apply_dataset_voi_with_a_voi_lut_sequence() -> None:
    item = Dataset()
    item.LUTDescriptor = [3, 0, 8]
    item.LUTData = [0, 51, 255]
    item["LUTData"].VR = "US"
    ds = Dataset()
    ds.VOILUTSequence = Sequence([item])
    ds.BitsStored, ds.PixelRepresentation = 8, 0
    out = apply_dataset_voi(np.array([[0.0, 1.0, 2.0, 9.0]]), ds)
    np.testing.assert_allclose(out, [[0.0, 0.2, 1.0, 1.0]], atol=1e-6)


def test_monochrome1_is_inverted_and_monochrome2_is_not() -> None:
    values = np.array([0.0, 0.25, 1.0], dtype=np.float32)
    assert invert_monochrome1(values, "MONOCHROME1").tolist() == [1.0, 0.75, 0.0]
    assert invert_monochrome1(values, "MONOCHROME2").tolist() == [0.0, 0.25, 1.0]
    assert values.tolist() == [0.0, 0.25, 1.0]


def test_bundled_ct_in_hounsfield_units() -> None:
    # CT_small.dcm: Rescale Slope 1, Intercept -1024; air in the corners.
    from streamgale.dicom.pixels import decode_frames

    ds = bundled("CT_small.dcm")
    hu = apply_modality_lut(decode_frames(ds), ds)
    slope, intercept = rescale_parameters(ds)
    assert (slope, intercept) == (float(ds.RescaleSlope), float(ds.RescaleIntercept))
    assert float(hu.max()) == float(decode_frames(ds).max()) * slope + intercept
