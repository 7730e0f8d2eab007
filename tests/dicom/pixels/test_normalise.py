"""Normalisation: per-image statistics, fixed statistics, constant images."""

from __future__ import annotations

import numpy as np
import pytest

from streamgale.dicom.pixels import minmax, standardise, zscore


def test_minmax_is_per_image() -> None:
    stack = np.array([[[0.0, 5.0], [10.0, 10.0]], [[100.0, 150.0], [200.0, 200.0]]])
    out = minmax(stack)
    assert out.dtype == np.float32
    assert out.tolist() == [[[0.0, 0.5], [1.0, 1.0]], [[0.0, 0.5], [1.0, 1.0]]]


def test_minmax_over_the_whole_array() -> None:
    stack = np.array([[[0.0, 1.0]], [[2.0, 4.0]]])
    assert minmax(stack, axes=None).ravel().tolist() == [0.0, 0.25, 0.5, 1.0]


def test_zscore_per_image() -> None:
    image = np.array([[2.0, 4.0], [4.0, 6.0]])
    out = zscore(image)
    std = np.std([2.0, 4.0, 4.0, 6.0])
    np.testing.assert_allclose(out, (image - 4.0) / std, rtol=1e-6)
    assert abs(float(out.mean())) < 1e-6
    assert float(out.std()) == pytest.approx(1.0, rel=1e-6)


def test_constant_images_map_to_zero() -> None:
    flat = np.full((2, 3, 3), 7.0)
    assert not minmax(flat).any()
    assert not zscore(flat).any()


def test_standardise_with_model_statistics() -> None:
    out = standardise(np.array([0.485, 0.714]), mean=0.485, std=0.229)
    np.testing.assert_allclose(out, [0.0, 1.0], atol=1e-6)
    assert out.dtype == np.float32


@pytest.mark.parametrize("std", [0.0, -1.0, float("nan")])
def test_standardise_needs_a_positive_std(std: float) -> None:
    with pytest.raises(ValueError, match="std must be > 0"):
        standardise([1.0], mean=0.0, std=std)


def test_empty_array_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        minmax(np.zeros((0, 4)))
