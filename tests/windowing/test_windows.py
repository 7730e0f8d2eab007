"""Window specifications: validation and which windows hold a time."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamgale.errors import ConfigError
from streamgale.windowing import SessionWindow, SlidingWindow, TumblingWindow, Window


def test_tumbling_windows_for_a_time() -> None:
    assert TumblingWindow(10.0).windows_for(0.0) == [Window(0.0, 10.0)]
    assert TumblingWindow(10.0).windows_for(9.999) == [Window(0.0, 10.0)]
    assert TumblingWindow(10.0).windows_for(10.0) == [Window(10.0, 20.0)]
    assert TumblingWindow(10.0).windows_for(-0.5) == [Window(-10.0, 0.0)]
    assert TumblingWindow(10.0, align_to=3.0).windows_for(2.0) == [Window(-7.0, 3.0)]


def test_sliding_windows_for_a_time() -> None:
    assert SlidingWindow(10.0, 2.0).windows_for(11.0) == [
        Window(2.0, 12.0),
        Window(4.0, 14.0),
        Window(6.0, 16.0),
        Window(8.0, 18.0),
        Window(10.0, 20.0),
    ]
    # length not a multiple of offset: 10 / 4 -> 2 or 3 windows
    assert SlidingWindow(10.0, 4.0).windows_for(9.0) == [
        Window(0.0, 10.0),
        Window(4.0, 14.0),
        Window(8.0, 18.0),
    ]
    assert SlidingWindow(10.0, 4.0).windows_for(11.0) == [Window(4.0, 14.0), Window(8.0, 18.0)]


@given(
    t=st.floats(-1e6, 1e6, allow_nan=False),
    length=st.sampled_from([1.0, 2.5, 10.0, 7.0]),
    ratio=st.sampled_from([1, 2, 3, 0.7]),
    align=st.sampled_from([0.0, 1.5, -4.0]),
)
def test_grid_scalar_and_vector_agree_and_hold_t(
    t: float, length: float, ratio: float, align: float
) -> None:
    offset = length / ratio if ratio >= 1 else length * ratio
    spec = SlidingWindow(length, offset, align) if ratio != 1 else TumblingWindow(length, align)
    grid = spec.grid
    first, last = grid.index_range(t)
    firsts, lasts = grid.index_ranges(np.array([t]))
    assert (first, last) == (int(firsts[0]), int(lasts[0]))
    assert grid.end(last) == grid.ends(np.array([last]))[0]
    windows = spec.windows_for(t)
    assert windows and len(windows) == last - first + 1
    # up to floating-point rounding at the edges, every window holds t
    for w in windows:
        assert w.start <= t + 1e-6 * max(1.0, abs(t)) and t < w.end + 1e-6 * max(1.0, abs(t))


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: TumblingWindow(0.0), "length"),
        (lambda: TumblingWindow(-5.0), "length"),
        (lambda: TumblingWindow(math.inf), "length"),
        (lambda: TumblingWindow(math.nan), "length"),
        (lambda: TumblingWindow("10"), "length"),  # type: ignore[arg-type]
        (lambda: TumblingWindow(10.0, align_to=math.nan), "align_to"),
        (lambda: SlidingWindow(10.0, 0.0), "offset"),
        (lambda: SlidingWindow(10.0, 20.0), "offset"),
        (lambda: SlidingWindow(-1.0, 1.0), "length"),
        (lambda: SessionWindow(0.0), "gap"),
        (lambda: SessionWindow(True), "gap"),  # type: ignore[arg-type]
        (lambda: Window(5.0, 5.0), "end"),
    ],
)
def test_bad_window_specs_raise_config_error_naming_the_field(make: object, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        make()  # type: ignore[operator]
    assert info.value.key == field
    assert field in str(info.value)


def test_config_error_says_what_is_allowed() -> None:
    with pytest.raises(ConfigError, match=r"must be a finite number > 0 \(seconds\); got -5"):
        TumblingWindow(-5)
    with pytest.raises(ConfigError, match="use TumblingWindow"):
        SlidingWindow(5.0, 10.0)


def test_specs_are_frozen_and_hashable() -> None:
    spec = TumblingWindow(10.0)
    with pytest.raises(AttributeError):
        spec.length = 5.0  # type: ignore[misc]
    assert {spec, TumblingWindow(10.0)} == {spec}
