"""DA/DT shifting and dummy replacement (PS3.5 6.2)."""

from __future__ import annotations

import pytest

from streamgale.dicom.deid.dates import replace_date_keep_time, shift_da, shift_dt, shift_value


@pytest.mark.parametrize(
    ("value", "days", "expected"),
    [
        ("20240101", -1, "20231231"),
        ("20240228", 1, "20240229"),  # leap year
        ("20230228", 1, "20230301"),
        ("2024.03.01", 0, "20240301"),  # ACR-NEMA form, normalised
        ("", 5, ""),
        ("20241301", 1, "19000101"),  # not a date: dummy, never leaked
        ("2024", 1, "19000101"),
    ],
)
def test_shift_da(value: str, days: int, expected: str) -> None:
    assert shift_da(value, days) == expected


@pytest.mark.parametrize(
    ("value", "days", "expected"),
    [
        ("20240101083015.123456", 10, "20240111083015.123456"),
        ("20241231235959+0100", 1, "20250101235959+0100"),
        ("2024123123", 1, "2025010123"),
        ("20240115", -15, "20231231"),
        ("202401", -1, "202312"),  # month precision kept
        ("2024", 400, "2025"),  # year precision kept
        ("20240101XYZ", 1, "19000101000000"),
        ("", 1, ""),
    ],
)
def test_shift_dt_keeps_precision_and_time(value: str, days: int, expected: str) -> None:
    assert shift_dt(value, days) == expected


def test_shift_value_leaves_times_alone() -> None:
    assert shift_value("TM", "083000", 3) == "083000"
    assert shift_value("DA", "20240101", 3) == "20240104"


@pytest.mark.parametrize(
    ("vr", "value", "expected"),
    [
        ("DA", "20240101", "19000101"),
        ("DT", "20240101083015.5+0100", "19000101083015.5+0100"),
        ("DT", "2024", "19000101"),
        ("DT", "", ""),
    ],
)
def test_replace_date_keep_time(vr: str, value: str, expected: str) -> None:
    assert replace_date_keep_time(vr, value) == expected
