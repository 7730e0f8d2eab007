"""EventClock and WatermarkTracker: reading time, bounded delay, idleness, upstream."""

from __future__ import annotations

import math
import pickle
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from streamgale.errors import ConfigError
from streamgale.runtime.logic import NO_WATERMARK
from streamgale.windowing import EventClock
from streamgale.windowing.clock import WatermarkTracker, column_seconds


def test_time_from_field_function_and_aware_datetime() -> None:
    assert EventClock("ts").time_of({"ts": 5}) == 5.0
    assert EventClock(lambda r: r[0]).time_of((7.5, "x")) == 7.5
    plus_two = timezone(timedelta(hours=2))
    when = datetime(2024, 1, 1, 12, 0, tzinfo=plus_two)
    assert (
        EventClock("at").time_of({"at": when}) == datetime(2024, 1, 1, 10, tzinfo=UTC).timestamp()
    )


def test_naive_datetime_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"naive datetime.*tzinfo=timezone\.utc"):
        EventClock("at").time_of({"at": datetime(2024, 1, 1)})


@pytest.mark.parametrize("bad", ["12", None, math.nan, True])
def test_unusable_time_values_are_rejected(bad: object) -> None:
    with pytest.raises(ConfigError, match="expected float seconds"):
        EventClock("t").time_of({"t": bad})


def test_missing_time_field_names_the_field() -> None:
    with pytest.raises(ConfigError, match="cannot read event time field 'ts'"):
        EventClock("ts").time_of({"t": 1.0})


def test_time_columns() -> None:
    assert column_seconds("t", np.array([1, 2])).dtype == np.float64
    with pytest.raises(ConfigError, match="convert datetime64 first"):
        column_seconds("t", np.array(["2024-01-01"], "datetime64[s]"))
    with pytest.raises(ConfigError, match="NaN"):
        column_seconds("t", np.array([1.0, math.nan]))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"time": 3}, "time"),
        ({"time": "t", "max_delay": -1.0}, "max_delay"),
        ({"time": "t", "max_delay": math.inf}, "max_delay"),
        ({"time": "t", "idle_timeout": -0.5}, "idle_timeout"),
        ({"time": "t", "idle_timeout": "1"}, "idle_timeout"),
    ],
)
def test_bad_clock_settings(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        EventClock(**kwargs)  # type: ignore[arg-type]
    assert info.value.key == field


def test_watermark_is_max_seen_minus_delay_per_record() -> None:
    tracker = WatermarkTracker(EventClock("t", max_delay=2.0, idle_timeout=math.inf))
    before = tracker.observe(np.array([10.0, 5.0, 14.0, 12.0]), now=0.0)
    assert before.tolist() == [NO_WATERMARK, 8.0, 8.0, 12.0]
    assert tracker.current(0.0) == 12.0
    # never backwards, whatever arrives next
    assert tracker.observe(np.array([1.0]), now=0.0).tolist() == [12.0]
    assert tracker.current(100.0) == 12.0  # idle advancement is off


def test_split_batches_at_one_instant_give_the_same_watermarks() -> None:
    times = np.array([3.0, 9.0, 1.0, 20.0, 4.0])
    whole = WatermarkTracker(EventClock("t", max_delay=1.0)).observe(times, now=5.0)
    parts = WatermarkTracker(EventClock("t", max_delay=1.0))
    cut = np.concatenate([parts.observe(times[:2], 5.0), parts.observe(times[2:], 5.0)])
    assert whole.tolist() == cut.tolist()


def test_idle_advancement_follows_processing_time() -> None:
    tracker = WatermarkTracker(EventClock("t", max_delay=1.0, idle_timeout=2.0))
    tracker.observe(np.array([100.0]), now=10.0)
    assert tracker.current(11.5) == 99.0  # not idle long enough yet
    assert tracker.current(12.0) == 101.0  # idle for 2 s: + 2
    assert tracker.current(15.0) == 104.0
    # a new record stops the advancement, but the watermark never goes back
    assert tracker.observe(np.array([100.5]), now=15.0).tolist() == [104.0]
    assert tracker.current(16.0) == 104.0


def test_time_reaching_a_target_through_idleness() -> None:
    tracker = WatermarkTracker(EventClock("t", max_delay=0.0, idle_timeout=1.0))
    assert tracker.time_reaching(10.0, now=0.0) is None  # no record yet
    tracker.observe(np.array([5.0]), now=0.0)
    assert tracker.time_reaching(10.0, now=0.0) == 5.0  # 5 + (now - 0) >= 10
    assert tracker.time_reaching(5.5, now=0.0) == 1.0  # idle timeout comes first
    when = tracker.time_reaching(10.0, now=0.0)
    assert when is not None and tracker.current(when) >= 10.0
    never = WatermarkTracker(EventClock("t", idle_timeout=math.inf))
    never.observe(np.array([5.0]), now=0.0)
    assert never.time_reaching(10.0, now=0.0) is None


def test_time_reaching_survives_rounding_at_epoch_scale() -> None:
    tracker = WatermarkTracker(EventClock("t", max_delay=0.3, idle_timeout=0.1))
    tracker.observe(np.array([1.7e9 + 0.1]), now=12345.678)
    target = 1.7e9 + 10.0
    when = tracker.time_reaching(target, now=12345.678)
    assert when is not None
    assert tracker.peek(when) >= target
    assert when - 12345.678 < 10.3 + 1e-3


def test_upstream_watermark_is_a_floor() -> None:
    tracker = WatermarkTracker(EventClock("t", idle_timeout=math.inf))
    tracker.advance_upstream(50.0)
    assert tracker.observe(np.array([10.0, 20.0]), now=0.0).tolist() == [50.0, 50.0]
    tracker.advance_upstream(40.0)  # upstream going back changes nothing
    assert tracker.current(0.0) == 50.0
    tracker.finish()
    assert tracker.current(0.0) == math.inf


def test_snapshot_keeps_idle_time_relative_to_the_clock() -> None:
    tracker = WatermarkTracker(EventClock("t", idle_timeout=1.0))
    tracker.observe(np.array([5.0]), now=100.0)
    state = pickle.loads(pickle.dumps(tracker.snapshot(now=100.5)))
    restored = WatermarkTracker(EventClock("t", idle_timeout=1.0))
    restored.restore(state, now=7.0)  # a new process: processing time restarted
    assert restored.current(7.4) == 5.0  # idle 0.9 s
    assert restored.current(8.0) == 5.0 + 1.5  # idle 1.5 s
