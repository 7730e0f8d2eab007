"""Pixel Data: untouched by default; Clean Pixel Data blanks regions in every frame."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian

from streamgale.dicom.deid import Option, deidentify
from streamgale.errors import DeidentificationError
from tests.dicom.deid.conftest import config, rich_series

CLEAN = Option.CLEAN_PIXEL_DATA


def _read(name: str) -> Any:
    return pydicom.dcmread(get_testdata_file(name))


def _blanked(regions: list[tuple[int, int, int, int]], shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for r0, c0, r1, c1 in regions:
        mask[r0:r1, c0:c1] = True
    return mask


@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "MR_small_bigendian.dcm", "examples_rgb_color.dcm", "MR_small_RLE.dcm"]
)
def test_pixel_bytes_are_unchanged_without_the_option(name: str) -> None:
    ds = _read(name)
    assert deidentify(ds, config()).PixelData == ds.PixelData


def test_regions_are_blanked_and_the_rest_is_identical() -> None:
    ds = rich_series()[0]
    regions = [(0, 0, 4, 8), (28, 30, 40, 40)]  # the second is clipped to the 32x32 image
    out = deidentify(ds, config(CLEAN, clean_pixel_regions=regions))
    before, after = ds.pixel_array, out.pixel_array
    mask = _blanked(regions, before.shape)
    assert (after[mask] == 0).all()
    assert (after[~mask] == before[~mask]).all()
    assert len(out.PixelData) == len(ds.PixelData)
    assert before[mask].any(), "the test image must have something to blank"


def test_every_frame_of_a_multiframe_instance_is_cleaned() -> None:
    ds = copy.deepcopy(rich_series()[0])
    frames = np.stack([ds.pixel_array + k for k in range(3)])
    ds.NumberOfFrames = 3
    ds.PixelData = frames.astype(np.uint16).tobytes()
    out = deidentify(ds, config(CLEAN, clean_pixel_regions=[(2, 2, 6, 10)]))
    after = out.pixel_array
    mask = _blanked([(2, 2, 6, 10)], frames.shape[1:])
    for k in range(3):
        assert (after[k][mask] == 0).all()
        assert (after[k][~mask] == frames[k][~mask]).all()


def test_colour_by_pixel_blanks_all_samples_and_keeps_the_padding_byte() -> None:
    ds = _read("examples_rgb_color.dcm")
    out = deidentify(ds, config(CLEAN, clean_pixel_regions=[(10, 20, 50, 100)]))
    before, after = ds.pixel_array, out.pixel_array
    mask = _blanked([(10, 20, 50, 100)], before.shape[:2])
    assert (after[mask] == 0).all() and (after[~mask] == before[~mask]).all()
    odd = _read("SC_rgb_small_odd.dcm")  # 27 bytes of pixels + 1 padding byte
    cleaned = deidentify(odd, config(CLEAN, clean_pixel_regions=[(0, 0, 1, 1)]))
    assert len(cleaned.PixelData) == len(odd.PixelData) == 28
    assert (cleaned.pixel_array[0, 0] == 0).all()
    assert (cleaned.pixel_array[1:] == odd.pixel_array[1:]).all()


def test_colour_by_plane_is_cleaned_in_every_plane() -> None:
    ds = copy.deepcopy(_read("examples_rgb_color.dcm"))
    rgb = ds.pixel_array
    ds.PlanarConfiguration = 1
    ds.PixelData = np.ascontiguousarray(rgb.transpose(2, 0, 1)).tobytes()
    out = deidentify(ds, config(CLEAN, clean_pixel_regions=[(0, 0, 5, 5)]))
    after = out.pixel_array  # pydicom returns (rows, columns, samples) either way
    assert (after[:5, :5] == 0).all()
    assert (after[5:] == rgb[5:]).all()


def test_big_endian_pixel_data_is_cleaned_in_its_own_byte_order() -> None:
    ds = _read("MR_small_bigendian.dcm")
    out = deidentify(ds, config(CLEAN, clean_pixel_regions=[(0, 0, 8, 64)]))
    assert (out.pixel_array[:8] == 0).all()
    assert (out.pixel_array[8:] == ds.pixel_array[8:]).all()


def test_compressed_pixel_data_must_be_decoded_first() -> None:
    ds = _read("MR_small_RLE.dcm")
    options = config(CLEAN, clean_pixel_regions=[(0, 0, 8, 8)])
    with pytest.raises(DeidentificationError, match="decode it first"):
        deidentify(ds, options)
    ds.decompress()
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert (deidentify(ds, options).pixel_array[:8, :8] == 0).all()


@pytest.mark.parametrize("name", ["liver_1frame.dcm", "SC_ybr_full_422_uncompressed.dcm"])
def test_unsupported_pixel_layouts_are_refused_with_a_reason(name: str) -> None:
    with pytest.raises(DeidentificationError, match="cannot clean pixel data"):
        deidentify(_read(name), config(CLEAN, clean_pixel_regions=[(0, 0, 8, 8)]))
