"""Thumbnails: the windowed image, scaled down, with the SEG's outline on it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from streamgale.dashboard.thumbnail import render_thumbnail, seg_mask
from streamgale.dicom.results import build_seg, to_part10_bytes
from streamgale.dicom.synthetic import ct_series


def decode(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.format == "PNG"
        return np.asarray(picture.convert("RGB"))


def test_a_large_image_becomes_a_small_windowed_png() -> None:
    [ds] = ct_series(slices=1, size=512, seed=1)
    pixels = decode(render_thumbnail(ds))
    assert pixels.shape == (256, 256, 3)
    grey = pixels[..., 0]
    assert (pixels[..., 0] == pixels[..., 1]).all()  # no outline without a mask
    # The lung window shows air dark and the body bright: the image is not flat.
    assert grey.min() < 80 and grey.max() > 200


def test_the_mask_is_outlined_in_red_where_it_is() -> None:
    [ds] = ct_series(slices=1, size=128, seed=2)
    mask = np.zeros((128, 128), dtype=bool)
    mask[40:80, 50:90] = True
    pixels = decode(render_thumbnail(ds, mask=mask, max_size=128))
    red = (pixels[..., 0] == 255) & (pixels[..., 1] == 64) & (pixels[..., 2] == 64)
    rows, cols = np.nonzero(red)
    assert red.any()
    assert rows.min() == 40 and rows.max() == 79 and cols.min() == 50 and cols.max() == 89
    assert not red[60, 70]  # the inside is left as it was: an outline, not a fill


def test_seg_mask_finds_the_frames_of_one_source_image(tmp_path: Path) -> None:
    series = ct_series(slices=3, size=64, seed=3)
    mask = np.zeros((3, 64, 64), dtype=bool)
    mask[1, 10:20, 30:40] = True
    seg = build_seg(series, mask, algorithm_name="demo", algorithm_version="1")
    path = tmp_path / "seg.dcm"
    path.write_bytes(to_part10_bytes(seg))
    found = seg_mask(path, str(series[1].SOPInstanceUID))
    assert found is not None and found.shape == (64, 64)
    assert found.sum() == 100 and found[15, 35]
    assert seg_mask(path, str(series[0].SOPInstanceUID)) is None
