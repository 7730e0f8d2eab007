"""The canned reports against small lakes whose answers are worked out by hand."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from streamgale.errors import ConfigError
from streamgale.sql import REPORTS, SqlEngine
from tests.sql.lakes import T0, at, inference, telemetry, write_rows


def _linear(sorted_values: list[float], q: float) -> float:
    """The q-quantile by linear interpolation between closest ranks, written out by hand."""
    h = (len(sorted_values) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def _rows(engine: SqlEngine, name: str, **params: Any) -> list[dict[str, Any]]:
    return engine.report(name, **params).to_dicts()


def test_stage_latency_percentiles_match_the_hand_computed_ones(tmp_path: Path) -> None:
    durations = [7.0, 3.0, 10.0, 1.0, 5.0, 9.0, 2.0, 8.0, 4.0, 6.0]  # 1..10, shuffled
    rows = [
        telemetry(at(i), "inferred", duration_ms=d, since_received_ms=d * 100)
        for i, d in enumerate(durations)
    ]
    # Not 'ok': left out of the percentiles even though they are far slower.
    rows.append(telemetry(at(20), "inferred", duration_ms=1e6, outcome="failed", reason="x"))
    rows.append(telemetry(at(21), "inferred", route="mri", duration_ms=40.0))
    write_rows(tmp_path, "telemetry", rows)

    with SqlEngine(tmp_path) as engine:
        got = {r["route"]: r for r in _rows(engine, "stage-latency")}

    ct = got["ct-chest"]
    assert ct["stage"] == "inferred" and ct["count"] == 10
    # (n - 1) q = 4.5 -> 5 + 0.5 (6 - 5); 8.55 -> 9 + 0.55 (10 - 9); 8.91 -> 9 + 0.91 (10 - 9)
    assert ct["duration_p50_ms"] == 5.5
    assert ct["duration_p95_ms"] == pytest.approx(9.55)
    assert ct["duration_p99_ms"] == pytest.approx(9.91)
    ordered = sorted(durations)
    for q, column in ((0.5, "duration_p50_ms"), (0.95, "duration_p95_ms")):
        assert ct[column] == pytest.approx(_linear(ordered, q))
    assert ct["since_received_p95_ms"] == pytest.approx(955.0)
    assert got["mri"]["count"] == 1 and got["mri"]["duration_p99_ms"] == 40.0


def test_stage_latency_sorts_stages_in_pipeline_order_and_windows_by_minutes(
    tmp_path: Path,
) -> None:
    write_rows(
        tmp_path,
        "telemetry",
        [
            telemetry(at(0), "finalized", duration_ms=1.0),
            telemetry(at(1), "received", duration_ms=1.0),
            telemetry(at(600), "inferred", duration_ms=2.0),
        ],
    )
    with SqlEngine(tmp_path) as engine:
        all_rows = _rows(engine, "stage-latency")
        last_minute = _rows(engine, "stage-latency", minutes=1)
    assert [r["stage"] for r in all_rows] == ["received", "inferred", "finalized"]
    assert [r["stage"] for r in last_minute] == ["inferred"]


def test_throughput_counts_rows_per_minute_bucket(tmp_path: Path) -> None:
    seconds = {"received": [10, 50, 65, 180, 181], "inferred": [70, 185]}
    write_rows(
        tmp_path,
        "telemetry",
        [telemetry(at(s), stage) for stage, ss in seconds.items() for s in ss],
    )
    with SqlEngine(tmp_path) as engine:
        default = _rows(engine, "throughput")
        two = _rows(engine, "throughput", minutes="2")
        everything = _rows(engine, "throughput", minutes="")

    buckets = [
        (int((r["minute"] - T0).total_seconds() // 60), r["stage"], r["rows"]) for r in default
    ]
    assert buckets == [
        (0, "received", 2),
        (1, "received", 1),
        (1, "inferred", 1),
        (3, "received", 2),
        (3, "inferred", 1),
    ]
    assert all(r["minute"].second == 0 and r["pipeline"] == "radiology" for r in default)
    # The last 2 minutes of data end at the newest row (minute 3): minutes 2 and 3.
    assert [(r["stage"], r["rows"]) for r in two] == [("received", 2), ("inferred", 1)]
    assert everything == default


def test_errors_give_counts_rates_and_top_reasons(tmp_path: Path) -> None:
    rows = [telemetry(at(i), "received") for i in range(8)]
    rows += [telemetry(at(9), "received", outcome="refused", reason="not an allowed AE")] * 2
    rows += [telemetry(at(10 + i), "validated") for i in range(6)]
    rows += [telemetry(at(20), "validated", outcome="quarantined", reason="no pixel data")] * 3
    rows += [telemetry(at(21), "validated", outcome="quarantined", reason="bad UID")]
    rows += [telemetry(at(22), "validated", outcome="failed", reason=None)]
    write_rows(tmp_path, "telemetry", rows)

    with SqlEngine(tmp_path) as engine:
        got = {r["stage"]: r for r in _rows(engine, "errors")}

    received, validated = got["received"], got["validated"]
    assert (received["rows"], received["refused"], received["failed"]) == (10, 2, 0)
    assert received["refused_rate"] == pytest.approx(0.2)
    assert received["top_reasons"] == "not an allowed AE (2)"
    assert (validated["rows"], validated["quarantined"], validated["failed"]) == (11, 4, 1)
    assert validated["quarantined_rate"] == pytest.approx(4 / 11)
    assert validated["failed_rate"] == pytest.approx(1 / 11)
    # 10 rows were 'received' in the pipeline; 5 ended badly at 'validated'.
    assert validated["not_ok_per_received"] == pytest.approx(0.5)
    assert validated["top_reasons"] == "no pixel data (3); (no reason) (1); bad UID (1)"
    assert list(got) == ["received", "validated"]


def test_ab_compares_arms_and_their_agreement(tmp_path: Path) -> None:
    answers = {  # instance: (a's probability, b's probability); present means >= 0.5
        "i1": (0.9, 0.8),
        "i2": (0.6, 0.2),
        "i3": (0.1, 0.3),
        "i4": (0.7, 0.9),
    }
    rows = []
    for n, (instance, (pa, pb)) in enumerate(answers.items()):
        rows.append(inference(at(n), instance, "a", probability=pa, present=pa >= 0.5))
        rows.append(
            inference(at(n), instance, "b", probability=pb, present=pb >= 0.5, infer_ms=30.0)
        )
    # Only arm a answered i5: counted in a's outputs, not in the agreement.
    rows.append(inference(at(9), "i5", "a", probability=0.95, present=True, queue_ms=5.0))
    # An earlier answer of a for i2, replaced by the later one above.
    rows.append(inference(T0.replace(year=2023), "i2", "a", probability=0.1, present=False))
    write_rows(tmp_path, "inferences", rows)

    with SqlEngine(tmp_path) as engine:
        got = {r["variant"]: r for r in _rows(engine, "ab")}

    a, b = got["a"], got["b"]
    assert (a["instances"], b["instances"]) == (6, 4)
    assert a["positive_rate"] == pytest.approx(4 / 6)  # i1, i2, i4, i5 (old i2 was not)
    assert b["mean_probability"] == pytest.approx((0.8 + 0.2 + 0.3 + 0.9) / 4)
    assert b["latency_p50_ms"] == 30.0 and b["delivered"] is False and a["delivered"] is True
    assert a["latency_p95_ms"] == pytest.approx(_linear([10.0] * 5 + [15.0], 0.95))
    # i1 agree, i2 disagree, i3 agree, i4 agree.
    for arm in (a, b):
        assert arm["paired"] == 4
        assert arm["agreement"] == pytest.approx(0.75)
        assert arm["mean_abs_probability_diff"] == pytest.approx((0.1 + 0.4 + 0.2 + 0.2) / 4)


def test_ab_without_variants_has_no_agreement(tmp_path: Path) -> None:
    write_rows(tmp_path, "inferences", [inference(at(0), "i1", None)])
    with SqlEngine(tmp_path) as engine:
        (row,) = _rows(engine, "ab")
    assert row["variant"] is None and row["paired"] == 0 and row["agreement"] is None


def test_study_is_one_studys_rows_in_time_order(tmp_path: Path) -> None:
    write_rows(
        tmp_path,
        "telemetry",
        [
            telemetry(at(5), "inferred", study_uid="1.2.3"),
            telemetry(at(1), "received", study_uid="1.2.3"),
            telemetry(at(5), "preprocessed", study_uid="1.2.3"),
            telemetry(at(2), "received", study_uid="9.9.9"),
        ],
    )
    with SqlEngine(tmp_path) as engine:
        rows = _rows(engine, "study", study_uid="1.2.3")
    assert [r["stage"] for r in rows] == ["received", "preprocessed", "inferred"]
    assert {r["study_uid"] for r in rows} == {"1.2.3"}


def test_results_are_newest_first_and_limited(tmp_path: Path) -> None:
    write_rows(
        tmp_path,
        "results",
        [
            {"ts": at(i), "pipeline": "radiology", "study_uid": f"s{i}", "result_id": f"r{i}"}
            for i in range(5)
        ],
    )
    with SqlEngine(tmp_path) as engine:
        rows = _rows(engine, "results", limit="2")
    assert [r["study_uid"] for r in rows] == ["s4", "s3"]


@pytest.mark.parametrize("name", list(REPORTS))
def test_every_report_gives_zero_rows_on_an_empty_lake(tmp_path: Path, name: str) -> None:
    params = {"study_uid": "1.2.3"} if name == "study" else {}
    with SqlEngine(tmp_path / "no-lake-yet") as engine:
        result = engine.report(name, **params)
    assert result.rows == [] and len(result.columns) >= 4


def test_report_errors_name_what_is_accepted(tmp_path: Path) -> None:
    with SqlEngine(tmp_path) as engine:
        with pytest.raises(ConfigError, match="stage-latency, throughput, errors, ab"):
            engine.report("latency")
        with pytest.raises(ConfigError, match="has no parameter hours; it takes: minutes"):
            engine.report("stage-latency", hours=1)
        with pytest.raises(ConfigError, match="needs study_uid"):
            engine.report("study")
