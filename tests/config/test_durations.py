"""Durations: numbers are seconds, strings carry a unit."""

from __future__ import annotations

import pytest

from streamgale.config import parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (2, 2.0),
        (0.25, 0.25),
        ("3", 3.0),
        ("500ms", 0.5),
        ("10s", 10.0),
        ("1.5m", 90.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        (" 2 s ", 2.0),
        (".5s", 0.5),
    ],
)
def test_accepted_formats(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value", ["10 sec", "s", "1h30m", "-1s", "", True, None, [1], "nan", "1e3s"]
)
def test_refused_values_name_the_formats(value: object) -> None:
    with pytest.raises(ValueError, match="bad duration") as caught:
        parse_duration(value)
    if value != "-1s":
        assert "500ms, 10s, 1.5m, 1h" in str(caught.value)


@pytest.mark.parametrize("value", [-1, -0.5, float("inf"), float("nan")])
def test_negative_and_infinite_numbers_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="finite and >= 0"):
        parse_duration(value)
