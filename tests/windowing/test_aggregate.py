"""WindowAggregateConfig over tumbling and sliding windows, driven by hand."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from streamgale.batch import ColumnBatch
from streamgale.errors import ConfigError
from streamgale.runtime.logic import ManualClock
from streamgale.windowing import (
    Count,
    EventClock,
    First,
    Max,
    Mean,
    Reduce,
    SlidingWindow,
    Sum,
    TumblingWindow,
    WindowAggregateConfig,
)
from streamgale.windowing.aggregate import WindowAggregateLogic

from .helpers import columns, events, rows_of, run

NEVER_IDLE = math.inf


def tumbling(
    length: float = 10.0,
    *,
    delay: float = 0.0,
    lateness: float = 0.0,
    idle: float = NEVER_IDLE,
    aggregations: dict[str, Any] | None = None,
) -> WindowAggregateConfig:
    return WindowAggregateConfig(
        TumblingWindow(length),
        EventClock("t", max_delay=delay, idle_timeout=idle),
        key="k",
        aggregations=aggregations or {"n": Count(), "total": Sum("v")},
        allowed_lateness=lateness,
    )


def row(key: Any, start: float, end: float, **fields: Any) -> dict[str, Any]:
    return {"key": key, "window_start": start, "window_end": end, **fields}


def test_in_order_events_close_when_the_watermark_passes_the_end() -> None:
    logic = tumbling().build(None, ManualClock())
    assert logic.on_batch(0, events((1, "a", 1), (2, "b", 2), (9, "a", 3))) == []
    out = logic.on_batch(0, events((10, "a", 4)))
    assert out == [(0, [row("a", 0.0, 10.0, n=2, total=4), row("b", 0.0, 10.0, n=1, total=2)])]
    assert logic.on_eof() == [(0, [row("a", 10.0, 20.0, n=1, total=4)])]
    assert logic.on_eof() == []


def test_out_of_order_within_max_delay_counts() -> None:
    logic = tumbling(delay=5.0).build(None, ManualClock())
    assert logic.on_batch(0, events((12, "a", 1), (8, "a", 2), (3, "b", 5))) == []
    assert logic.on_batch(0, events((15, "a", 1))) == [
        (0, [row("a", 0.0, 10.0, n=1, total=2), row("b", 0.0, 10.0, n=1, total=5)])
    ]


def test_late_records_go_to_port_1_unchanged_even_inside_one_batch() -> None:
    records = events((20, "a", 1), (5, "a", 2), (25, "a", 3))
    records[1]["extra"] = "kept"
    out = run(tumbling().build(None, ManualClock()), [records])
    assert out.late == [records[1]]
    assert out.results == [row("a", 20.0, 30.0, n=2, total=4)]


def test_allowed_lateness_keeps_a_window_open_longer() -> None:
    logic = tumbling(lateness=3.0).build(None, ManualClock())
    assert logic.on_batch(0, events((5, "a", 1), (12, "a", 1))) == []
    assert logic.on_batch(0, events((4, "a", 10))) == []  # late by 2 s: still counts
    assert logic.on_batch(0, events((13, "a", 1))) == [(0, [row("a", 0.0, 10.0, n=2, total=11)])]
    late = logic.on_batch(0, events((6, "a", 100)))
    assert late == [(1, events((6, "a", 100)))]


def test_idle_advancement_closes_a_window_without_new_events() -> None:
    clock = ManualClock(100.0)
    logic = tumbling(delay=1.0, idle=2.0).build(None, clock)
    logic.on_batch(0, events((7, "a", 1)))
    assert logic.watermark() == 6.0
    # watermark 6 + (now - 100) reaches the end 10 at now = 104
    assert logic.next_awake() == 104.0
    clock.set(103.0)
    assert logic.on_tick(103.0) == []
    clock.set(104.0)
    assert logic.on_tick(104.0) == [(0, [row("a", 0.0, 10.0, n=1, total=1)])]
    assert logic.next_awake() is None


def test_next_awake_waits_at_least_the_idle_timeout() -> None:
    clock = ManualClock(0.0)
    logic = tumbling(idle=5.0).build(None, clock)
    logic.on_batch(0, events((9.5, "a", 1)))
    assert logic.next_awake() == 5.0
    clock.set(5.0)
    assert logic.on_tick(5.0)[0][1][0]["n"] == 1


def test_an_empty_batch_also_lets_idleness_close_windows() -> None:
    clock = ManualClock(0.0)
    logic = tumbling(idle=1.0).build(None, clock)
    logic.on_batch(0, events((9, "a", 1)))
    clock.set(2.0)
    assert logic.on_batch(0, []) == [(0, [row("a", 0.0, 10.0, n=1, total=1)])]


def test_upstream_watermark_closes_windows_and_makes_records_late() -> None:
    logic = tumbling().build(None, ManualClock())
    logic.on_batch(0, events((3, "a", 1)))
    assert logic.on_watermark(10.0) == [(0, [row("a", 0.0, 10.0, n=1, total=1)])]
    assert logic.on_batch(0, events((8, "a", 1))) == [(1, events((8, "a", 1)))]
    assert logic.watermark() == 10.0


def test_all_windows_closing_together_form_one_batch_ordered_by_end_then_key() -> None:
    logic = tumbling(5.0, delay=10.0).build(None, ManualClock())
    logic.on_batch(0, events((7, "z", 1), (1, "b", 1), (2, "a", 1), (8, "a", 1)))
    out = logic.on_watermark(100.0)
    assert len(out) == 1
    assert [(r["window_end"], r["key"]) for r in out[0][1]] == [
        (5.0, "a"),
        (5.0, "b"),
        (10.0, "a"),
        (10.0, "z"),
    ]


def test_columnar_input_gives_columnar_results_and_late_rows() -> None:
    config = tumbling(aggregations={"n": Count(), "top": Max("v"), "avg": Mean("v")})
    logic = config.build(None, ManualClock())
    batch = columns(events((1, 2, 1.5), (4, 1, 2.0), (12, 1, 1.0), (3, 2, 9.0), (2, 1, 4.0)))
    out = logic.on_batch(0, batch)
    assert [port for port, _ in out] == [0, 1]
    results, late = out[0][1], out[1][1]
    assert isinstance(results, ColumnBatch) and isinstance(late, ColumnBatch)
    assert results.names == ("key", "window_start", "window_end", "n", "top", "avg")
    assert results["key"].dtype == np.int64 and results["n"].dtype == np.int64
    assert results.to_rows() == [
        row(1, 0.0, 10.0, n=1, top=2.0, avg=2.0),
        row(2, 0.0, 10.0, n=1, top=1.5, avg=1.5),
    ]
    assert late == batch.filter(np.array([False, False, False, True, True]))
    assert isinstance(logic, WindowAggregateLogic) and logic._engine_name == "columns"


def test_string_keys_in_columns() -> None:
    logic = tumbling().build(None, ManualClock())
    batch = columns(events((1, "bob", 1), (2, "al", 2), (3, "bob", 3)))
    out = run(logic, [batch])
    assert out.results == [row("al", 0.0, 10.0, n=1, total=2), row("bob", 0.0, 10.0, n=2, total=4)]


def test_sliding_record_counts_in_every_window_that_is_still_open() -> None:
    config = WindowAggregateConfig(
        SlidingWindow(10.0, 5.0), EventClock("t", idle_timeout=NEVER_IDLE), "k", {"n": Count()}
    )
    for shape in (list, columns):
        logic = config.build(None, ManualClock())
        # t=7 is in [0,10) and [5,15); after t=12 the first closed, so only [5,15) counts
        out = run(logic, [shape(events((12, "a", 0), (7, "a", 0)))])  # type: ignore[operator]
        assert out.results == [row("a", 5.0, 15.0, n=2), row("a", 10.0, 20.0, n=1)]
        assert out.late == []
        logic = config.build(None, ManualClock())
        out = run(logic, [shape(events((16, "a", 0), (7, "a", 0)))])  # type: ignore[operator]
        assert out.late == events((7, "a", 0))


def test_callable_key_and_reduce_run_per_record_but_keep_columnar_output() -> None:
    config = WindowAggregateConfig(
        TumblingWindow(10.0),
        EventClock("t"),
        key=lambda r: r["k"] % 2,
        aggregations={"joined": Reduce(lambda a, b: a + b, of=lambda r: str(r["v"]))},
    )
    logic = config.build(None, ManualClock())
    out = run(logic, [columns(events((1, 1, 7), (2, 2, 8), (3, 3, 9)))])
    assert isinstance(out.batches[0][1], ColumnBatch)
    assert out.results == [row(0, 0.0, 10.0, joined="8"), row(1, 0.0, 10.0, joined="79")]


def test_list_after_columns_and_columns_after_list() -> None:
    config = tumbling(aggregations={"n": Count(), "first": First("v")})
    for first_shape, second_shape in ((columns, list), (list, columns)):
        logic = config.build(None, ManualClock())
        logic.on_batch(0, first_shape(events((1, 1, 5.0))))  # type: ignore[operator]
        out = run(logic, [second_shape(events((2, 1, 6.0), (3, 2, 7.0)))])  # type: ignore[operator]
        assert out.results == [row(1, 0.0, 10.0, n=2, first=5.0), row(2, 0.0, 10.0, n=1, first=7.0)]
        shape = ColumnBatch if second_shape is columns else list
        assert isinstance(out.batches[0][1], shape)


def test_datetime_times_through_a_function() -> None:
    from datetime import UTC, datetime

    config = WindowAggregateConfig(
        TumblingWindow(60.0),
        EventClock(lambda r: datetime.fromtimestamp(r["t"], UTC)),
        "k",
        {"n": Count()},
    )
    out = run(config.build(None, ManualClock()), [events((61, "a", 0), (100, "a", 0))])
    assert out.results == [row("a", 60.0, 120.0, n=2)]


def test_missing_column_is_a_config_error() -> None:
    logic = tumbling().build(None, ManualClock())
    logic.on_batch(0, columns(events((1, 1, 1.0))))
    with pytest.raises(ConfigError, match="'v'"):
        logic.on_batch(0, ColumnBatch({"t": np.array([2.0]), "k": np.array([1])}))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"windower": 10.0}, "windower"),
        ({"clock": "t"}, "clock"),
        ({"key": 3}, "key"),
        ({"aggregations": {}}, "aggregations"),
        ({"aggregations": {"n": max}}, "aggregations.n"),
        ({"allowed_lateness": -1.0}, "allowed_lateness"),
    ],
)
def test_bad_config_raises_config_error(kwargs: dict[str, Any], field: str) -> None:
    settings: dict[str, Any] = {
        "windower": TumblingWindow(10.0),
        "clock": EventClock("t"),
        "key": "k",
        "aggregations": {"n": Count()},
    }
    with pytest.raises(ConfigError) as info:
        WindowAggregateConfig(**{**settings, **kwargs})
    assert info.value.key == field


def test_nothing_open_means_no_awake_and_eof_is_empty() -> None:
    logic = tumbling().build(None, ManualClock())
    assert logic.next_awake() is None
    assert logic.on_eof() == []
    assert logic.watermark() == math.inf


def test_results_are_the_same_rows_for_list_and_columns() -> None:
    records = events((1, 3, 1.0), (14, 1, 2.0), (2, 3, 4.0), (11, 2, 8.0), (25, 1, 1.0))
    as_rows = run(tumbling(delay=2.0).build(None, ManualClock()), [records])
    as_columns = run(tumbling(delay=2.0).build(None, ManualClock()), [columns(records)])
    assert as_rows.results == as_columns.results and as_rows.late == as_columns.late
    assert rows_of(as_columns.batches[0][1]) == as_columns.results[: len(as_columns.batches[0][1])]


def test_a_batch_spanning_many_windows_gives_the_same_rows_in_both_engines() -> None:
    rng = np.random.default_rng(3)
    times = np.sort(rng.uniform(0, 1000, 500)) - rng.uniform(0, 30, 500)
    records = [
        {"t": t, "k": int(k), "v": float(v)}
        for t, k, v in zip(
            times.tolist(),
            rng.integers(0, 3, 500).tolist(),
            rng.normal(size=500).tolist(),
            strict=True,
        )
    ]
    for windower in (TumblingWindow(2.0), SlidingWindow(6.0, 2.0)):
        config = WindowAggregateConfig(
            windower, EventClock("t", max_delay=10.0), "k", {"n": Count(), "s": Sum("v")}
        )
        as_rows = run(config.build(None, ManualClock()), [records])
        as_columns = run(config.build(None, ManualClock()), [columns(records)])
        assert as_columns.results == as_rows.results and as_columns.late == as_rows.late
        assert len(as_rows.late) > 0 and len(as_rows.results) > 300
