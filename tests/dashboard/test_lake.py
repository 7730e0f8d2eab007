"""The SQL console over a real (empty or small) lake, and study timelines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streamgale.dashboard.lake import LakeConsole, timeline_from_rows
from streamgale.errors import StreamGaleError


@pytest.fixture
def console(tmp_path: Path) -> Iterator[LakeConsole]:
    lake = LakeConsole(tmp_path / "lake", max_rows=3)
    yield lake
    lake.close()


def test_a_query_answers_with_columns_and_json_rows(console: LakeConsole) -> None:
    answer = console.sql("SELECT 42 AS answer, TIMESTAMPTZ '2024-05-01 12:00:00+00' AS at")
    assert answer["columns"] == ["answer", "at"]
    assert answer["rows"] == [[42, "2024-05-01T12:00:00+00:00"]]
    assert answer["row_count"] == 1 and answer["truncated"] is False
    assert answer["elapsed_ms"] >= 0


def test_long_answers_are_cut_and_say_so(console: LakeConsole) -> None:
    answer = console.sql("SELECT * FROM range(10)")
    assert len(answer["rows"]) == 3 and answer["row_count"] == 10 and answer["truncated"]


def test_the_console_only_reads(console: LakeConsole) -> None:
    with pytest.raises(StreamGaleError, match="refused"):
        console.sql("DROP VIEW telemetry")
    with pytest.raises(StreamGaleError, match="empty"):
        console.sql("   ")


def test_reports_run_on_an_empty_lake(console: LakeConsole) -> None:
    names = [r["name"] for r in console.reports()["reports"]]
    assert {"stage-latency", "throughput", "errors", "ab", "study", "results"} <= set(names)
    study = next(r for r in console.reports()["reports"] if r["name"] == "study")
    assert study["params"][0]["name"] == "study_uid" and study["params"][0]["required"]
    assert console.report("stage-latency", {})["rows"] == []
    assert console.study_rows("1.2.3") == []
    with pytest.raises(KeyError):
        console.report("no-such-report", {})


def test_a_timeline_has_one_bar_per_stage_from_the_first_arrival() -> None:
    rows = [  # two instances arriving 100 ms apart, each validated then inferred
        {"stage": "received", "end_ms": 10_000.0, "duration_ms": None, "since_received_ms": 0.0},
        {"stage": "received", "end_ms": 10_100.0, "duration_ms": None, "since_received_ms": 0.0},
        {"stage": "validated", "end_ms": 10_005.0, "duration_ms": 5.0, "since_received_ms": 5.0},
        {"stage": "validated", "end_ms": 10_104.0, "duration_ms": 4.0, "since_received_ms": 4.0},
        {"stage": "inferred", "end_ms": 10_130.0, "duration_ms": 20.0, "since_received_ms": 30.0},
        {"stage": "finalized", "end_ms": None, "duration_ms": 1.0, "since_received_ms": None},
    ]
    bars = timeline_from_rows(rows)
    assert [(b["stage"], b["start_ms"], b["end_ms"], b["count"]) for b in bars] == [
        ("received", 0.0, 100.0, 2),
        ("validated", 0.0, 104.0, 2),
        ("inferred", 110.0, 130.0, 1),
    ]
    assert timeline_from_rows([]) == []
