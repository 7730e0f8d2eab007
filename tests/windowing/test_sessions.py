"""Session windows: growing, merging, closing and lateness."""

from __future__ import annotations

import math
import pickle
from typing import Any

from streamgale.batch import ColumnBatch
from streamgale.runtime.logic import ManualClock
from streamgale.windowing import (
    Count,
    EventClock,
    First,
    Last,
    SessionWindow,
    Sum,
    WindowAggregateConfig,
)

from .helpers import columns, events, run


def sessions(
    gap: float = 10.0, *, delay: float = 0.0, lateness: float = 0.0, idle: float = math.inf
) -> WindowAggregateConfig:
    return WindowAggregateConfig(
        SessionWindow(gap),
        EventClock("t", max_delay=delay, idle_timeout=idle),
        key="k",
        aggregations={"n": Count(), "total": Sum("v"), "first": First("v"), "last": Last("v")},
        allowed_lateness=lateness,
    )


def session(
    key: Any, start: float, end: float, n: int, total: Any, first: Any, last: Any
) -> dict[str, Any]:
    return {
        "key": key,
        "window_start": start,
        "window_end": end,
        "n": n,
        "total": total,
        "first": first,
        "last": last,
    }


def test_events_within_the_gap_extend_a_session() -> None:
    out = run(
        sessions().build(None, ManualClock()),
        [events((0, "a", 1), (5, "a", 2), (14, "a", 3), (30, "a", 4))],
    )
    assert out.results == [
        session("a", 0.0, 24.0, 3, 6, 1, 3),
        session("a", 30.0, 40.0, 1, 4, 4, 4),
    ]


def test_a_session_closes_when_the_watermark_reaches_last_event_plus_gap() -> None:
    logic = sessions().build(None, ManualClock())
    assert logic.on_batch(0, events((0, "a", 1), (9.5, "b", 1))) == []
    assert logic.on_batch(0, events((10, "c", 1))) == [(0, [session("a", 0.0, 10.0, 1, 1, 1, 1)])]
    assert logic.next_awake() is None  # idle advancement is off


def test_an_event_between_two_sessions_merges_them() -> None:
    logic = sessions(delay=100.0).build(None, ManualClock())
    logic.on_batch(0, events((0, "a", 1), (15, "a", 2)))  # [0, 10) and [15, 25)
    logic.on_batch(0, events((8, "a", 3)))  # [8, 18) overlaps both
    out = logic.on_eof()
    # first/last follow arrival order, not event time
    assert out == [(0, [session("a", 0.0, 25.0, 3, 6, 1, 3)])]


def test_an_early_event_extends_the_start() -> None:
    out = run(sessions(delay=50.0).build(None, ManualClock()), [events((20, "a", 1), (12, "a", 2))])
    assert out.results == [session("a", 12.0, 30.0, 2, 3, 1, 2)]


def test_late_events_and_allowed_lateness() -> None:
    logic = sessions().build(None, ManualClock())
    logic.on_batch(0, events((0, "a", 1), (25, "b", 1)))  # a's session [0, 10) closed
    out = logic.on_batch(0, events((3, "a", 7)))
    assert out == [(1, events((3, "a", 7)))]
    lenient = sessions(lateness=20.0).build(None, ManualClock())
    lenient.on_batch(0, events((0, "a", 1), (25, "b", 1)))
    assert lenient.on_batch(0, events((3, "a", 7))) == []  # [0, 13) + 20 > 25: still open
    assert lenient.on_eof()[0][1][0] == session("a", 0.0, 13.0, 2, 8, 1, 7)


def test_an_event_joins_an_open_session_even_if_its_own_gap_is_over() -> None:
    logic = sessions(delay=0.0).build(None, ManualClock())
    # a's session [0, 19) is open at watermark 15; t=1 alone would end at 11 <= 15
    out = run(logic, [events((0, "a", 1), (9, "a", 1), (15, "b", 0), (1, "a", 5))])
    assert out.late == []
    assert out.results[0] == session("a", 0.0, 19.0, 3, 7, 1, 5)


def test_a_closed_session_is_final() -> None:
    logic = sessions().build(None, ManualClock())
    out = run(logic, [events((0, "a", 1), (10, "b", 0), (9, "a", 2))])
    # t=9 is inside a's closed session [0, 10), but its own [9, 19) is open: a new session
    assert out.results == [
        session("a", 0.0, 10.0, 1, 1, 1, 1),
        session("a", 9.0, 19.0, 1, 2, 2, 2),
        session("b", 10.0, 20.0, 1, 0, 0, 0),
    ]


def test_sessions_closing_together_are_ordered_by_end_then_key() -> None:
    logic = sessions(delay=100.0).build(None, ManualClock())
    logic.on_batch(0, events((5, "z", 0), (0, "b", 0), (5, "a", 0)))
    out = logic.on_watermark(1000.0)
    assert len(out) == 1
    assert [(r["window_end"], r["key"]) for r in out[0][1]] == [
        (10.0, "b"),
        (15.0, "a"),
        (15.0, "z"),
    ]


def test_idle_advancement_closes_sessions() -> None:
    clock = ManualClock(0.0)
    logic = sessions(idle=1.0).build(None, clock)
    logic.on_batch(0, events((100, "a", 1)))
    assert logic.next_awake() == 10.0
    clock.set(10.0)
    assert logic.on_tick(10.0) == [(0, [session("a", 100.0, 110.0, 1, 1, 1, 1)])]


def test_columnar_input_gives_columnar_session_results() -> None:
    logic = sessions().build(None, ManualClock())
    batch = columns(events((0, 1, 1.5), (3, 2, 2.0), (4, 1, 1.0), (30, 1, 0.0)))
    out = run(logic, [batch])
    assert all(isinstance(b, ColumnBatch) for _, b in out.batches)
    assert out.results[:2] == [
        session(2, 3.0, 13.0, 1, 2.0, 2.0, 2.0),
        session(1, 0.0, 14.0, 2, 2.5, 1.5, 1.0),
    ]


def test_snapshot_restore_mid_session() -> None:
    records = events(
        (0, "a", 1), (5, "b", 2), (8, "a", 3), (30, "a", 4), (16, "a", 5), (45, "b", 6)
    )
    whole = run(sessions(delay=10.0).build(None, ManualClock()), [records[:3], records[3:]])
    first = sessions(delay=10.0).build(None, ManualClock())
    head = run(first, [records[:3]], eof=False)
    state = pickle.loads(pickle.dumps(first.snapshot()))
    tail = run(sessions(delay=10.0).build(state, ManualClock()), [records[3:]])
    assert head.results + tail.results == whole.results
    assert head.late + tail.late == whole.late
