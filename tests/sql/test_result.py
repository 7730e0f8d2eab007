"""QueryResult: rows as dicts, CSV and JSON that other programs read back."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

from streamgale.sql import QueryResult

_WHEN = dt.datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=dt.UTC)


def _result() -> QueryResult:
    return QueryResult(
        ("ts", "stage", "p95", "reasons", "day", "n", "ok"),
        [
            (_WHEN, "inferred", 9.55, ["a", "b, c"], dt.date(2024, 5, 1), Decimal("1.50"), True),
            (None, 'say "hi"', float("nan"), None, None, None, None),
        ],
        elapsed_ms=3.5,
    )


def test_json_is_an_array_of_objects_with_iso_timestamps() -> None:
    rows = json.loads(_result().to_json())
    assert rows[0] == {
        "ts": "2024-05-01T12:30:15.250000+00:00",
        "stage": "inferred",
        "p95": 9.55,
        "reasons": ["a", "b, c"],
        "day": "2024-05-01",
        "n": 1.5,
        "ok": True,
    }
    assert rows[1]["p95"] is None and rows[1]["stage"] == 'say "hi"'


def test_csv_reads_back_with_a_header() -> None:
    text = _result().to_csv()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["ts", "stage", "p95", "reasons", "day", "n", "ok"]
    assert rows[1] == [
        "2024-05-01T12:30:15.250000+00:00",
        "inferred",
        "9.55",
        '["a", "b, c"]',
        "2024-05-01",
        "1.5",
        "True",
    ]
    assert rows[2] == ["", 'say "hi"', "", "", "", "", ""]


def test_dicts_keep_python_values() -> None:
    first = _result().to_dicts()[0]
    assert first["ts"] == _WHEN and first["n"] == Decimal("1.50")


def test_an_empty_result_still_has_its_header() -> None:
    empty = QueryResult(("a", "b"), [], elapsed_ms=0.1)
    assert empty.to_csv() == "a,b\n" and empty.to_json() == "[]" and len(empty) == 0
