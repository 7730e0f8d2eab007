"""Resizing and resampling: shapes, hand-computed values, and agreement with Pillow."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from streamgale.dicom.pixels import (
    Interpolation,
    crop_or_pad,
    resample_spacing,
    resize,
    resize_axis,
    spacing_shape,
)

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("method", list(Interpolation))
@pytest.mark.parametrize(
    ("shape", "size"),
    [
        ((512, 512), (128, 128)),
        ((100, 60), (37, 81)),
        ((3, 64, 48), (64, 48)),
        ((2, 1, 5, 7), (9, 2)),
    ],
)
def test_resize_shapes_and_dtype(
    method: Interpolation, shape: tuple[int, ...], size: tuple[int, int]
) -> None:
    arr = RNG.random(shape).astype(np.float64)
    out = resize(arr, size, method=method)
    assert out.shape == (*shape[:-2], *size)
    assert out.dtype == np.float32
    assert out.flags.c_contiguous


@pytest.mark.parametrize(
    ("method", "pillow"), [("bilinear", Image.Resampling.BILINEAR), ("area", Image.Resampling.BOX)]
)
@pytest.mark.parametrize(("shape", "size"), [((512, 512), (128, 128)), ((90, 70), (128, 33))])
def test_resize_matches_pillow(
    method: str, pillow: int, shape: tuple[int, int], size: tuple[int, int]
) -> None:
    image = (RNG.random(shape) * 4000 - 1000).astype(np.float32)
    expected = np.asarray(Image.fromarray(image, mode="F").resize(size[::-1], pillow))
    np.testing.assert_allclose(resize(image, size, method=method), expected, rtol=0, atol=1e-2)


def test_area_averages_blocks() -> None:
    image = np.arange(36, dtype=np.float32).reshape(6, 6)
    expected = image.reshape(2, 3, 2, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(resize(image, (2, 2), method="area"), expected)


def test_bilinear_upsampling_interpolates_between_centres() -> None:
    # Pixel centres at 0.5 and 1.5 (in input pixels); outputs at 0.25, 0.75, 1.25, 1.75.
    out = resize(np.array([[0.0, 4.0]]), (1, 4))
    assert out.tolist() == [[0.0, 1.0, 3.0, 4.0]]


def test_nearest_picks_source_pixels() -> None:
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert resize(image, (2, 2), method="nearest").tolist() == [[5.0, 7.0], [13.0, 15.0]]
    up = resize(image[:2, :2], (4, 4), method="nearest")
    assert up.tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [4, 4, 5, 5], [4, 4, 5, 5]]


def test_constant_image_stays_constant() -> None:
    for method in Interpolation:
        out = resize(np.full((50, 70), 7.0), (13, 29), method=method)
        np.testing.assert_allclose(out, 7.0, rtol=1e-6)


def test_same_size_is_a_copy() -> None:
    image = RNG.random((8, 8)).astype(np.float32)
    out = resize(image, (8, 8))
    np.testing.assert_array_equal(out, image)
    out[0, 0] = -1
    assert image[0, 0] != -1


def test_resize_axis_resamples_slices() -> None:
    volume = np.stack([np.full((2, 2), float(k)) for k in range(4)])
    out = resize_axis(volume, 2, axis=0, method="area")
    assert out.shape == (2, 2, 2)
    assert out[:, 0, 0].tolist() == [0.5, 2.5]


@pytest.mark.parametrize("size", [(0, 4), (4,), (4, 4, 4), (2.5, 4), (True, 4)])
def test_bad_sizes_are_refused(size: tuple[object, ...]) -> None:
    with pytest.raises(ValueError, match="positive whole number"):
        resize(np.zeros((4, 4)), size)  # type: ignore[arg-type]


def test_one_dimensional_input_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\(\.\.\., rows, columns\)"):
        resize(np.zeros(4), (2, 2))


def test_spacing_shape_keeps_the_field_of_view() -> None:
    # 512 px at 0.7 mm = 358.4 mm -> 358 px of 1 mm.
    assert spacing_shape((512, 512), (0.7, 0.7), 1.0) == (358, 358)
    # Rows 0.5 mm apart, columns 0.25 mm apart (Pixel Spacing order: row, column).
    assert spacing_shape((100, 200), (0.5, 0.25), (1.0, 0.5)) == (50, 100)


def test_resample_spacing_halves_a_half_millimetre_image() -> None:
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    out = resample_spacing(image, (0.5, 0.5), 1.0, method="area")
    assert out.tolist() == [[2.5, 4.5], [10.5, 12.5]]


@pytest.mark.parametrize("spacing", [0, -1, (1.0,), (1.0, float("nan"))])
def test_bad_spacing_is_refused(spacing: object) -> None:
    with pytest.raises(ValueError, match="positive numbers of mm"):
        resample_spacing(np.zeros((4, 4)), (1.0, 1.0), spacing)  # type: ignore[arg-type]


def test_crop_or_pad_centres() -> None:
    image = np.arange(1, 17, dtype=np.float32).reshape(4, 4)
    assert crop_or_pad(image, (2, 2)).tolist() == [[6.0, 7.0], [10.0, 11.0]]
    padded = crop_or_pad(image[:2, :2], (4, 4), fill=-1.0)
    assert padded.tolist() == [
        [-1, -1, -1, -1],
        [-1, 1, 2, -1],
        [-1, 5, 6, -1],
        [-1, -1, -1, -1],
    ]


def test_unknown_interpolation_lists_the_methods() -> None:
    with pytest.raises(ValueError, match="nearest, bilinear, area"):
        resize(np.zeros((4, 4)), (2, 2), method="bicubic")


@pytest.mark.parametrize("method", ["bilinear", "area"])
@pytest.mark.parametrize(
    ("shape", "size"),
    [
        ((512, 512), (128, 128)),
        ((512, 512), (358, 358)),
        ((256, 256), (512, 512)),
        ((3, 100, 60), (37, 81)),
        ((2, 1, 5, 7), (9, 2)),
    ],
)
def test_pillow_and_the_numpy_kernels_agree(
    method: str, shape: tuple[int, ...], size: tuple[int, int]
) -> None:
    # resize() takes Pillow where it is faster; the numpy kernels are the reference.
    from streamgale.dicom.pixels.resample import _separable_resize

    image = (RNG.random(shape) * 4000 - 1000).astype(np.float32)
    reference = _separable_resize(image, *size, Interpolation(method))
    np.testing.assert_allclose(resize(image, size, method=method), reference, rtol=0, atol=1e-3)
