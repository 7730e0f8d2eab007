"""The ``window:`` and ``aggregate:`` keys become windowing objects."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamgale.config.document import parse_document
from streamgale.config.windows import read_aggregations, read_window
from streamgale.errors import ConfigError
from streamgale.windowing import (
    Count,
    EventClock,
    First,
    Last,
    Max,
    Mean,
    Min,
    SessionWindow,
    SlidingWindow,
    Sum,
    TumblingWindow,
)


@pytest.mark.parametrize(
    ("text", "windower"),
    [
        ("{tumbling: 10s, time: ts}", TumblingWindow(10.0)),
        ("{tumbling: {length: 2m}, time: ts}", TumblingWindow(120.0)),
        ("{sliding: {length: 10s, every: 5s}, time: ts}", SlidingWindow(10.0, 5.0)),
        ("{session: 30s, time: ts}", SessionWindow(30.0)),
        ("{session: {gap: 1m}, time: ts}", SessionWindow(60.0)),
    ],
)
def test_window_kinds(text: str, windower: object) -> None:
    spec = read_window(parse_document(text, "w.yaml"), Path("."))
    assert spec.windower == windower
    assert spec.clock == EventClock("ts")
    assert spec.allowed_lateness == 0.0


def test_clock_options_and_lateness() -> None:
    text = "{tumbling: 1s, time: at, max_delay: 500ms, idle_timeout: 1m, allowed_lateness: 2s}"
    spec = read_window(parse_document(text, "w.yaml"), Path("."))
    assert spec.clock == EventClock("at", max_delay=0.5, idle_timeout=60.0)
    assert spec.allowed_lateness == 2.0


def test_time_may_be_a_function() -> None:
    spec = read_window(
        parse_document("{tumbling: 1s, time: 'operator:itemgetter'}", "w"), Path(".")
    )
    import operator

    assert spec.clock.time is operator.itemgetter


def test_two_kinds_are_refused() -> None:
    node = parse_document("{tumbling: 1s, session: 1s, time: ts}", "w.yaml")
    with pytest.raises(ConfigError, match="a window has one kind; found tumbling and session"):
        read_window(node, Path("."))


def test_missing_kind_lists_the_kinds() -> None:
    node = parse_document("{time: ts}", "w.yaml")
    with pytest.raises(ConfigError, match="missing the window kind; add one of: tumbling, sliding"):
        read_window(node, Path("."))


def test_every_aggregation() -> None:
    text = (
        "{n: count, n2: count(), s: sum(v), lo: min(v), hi: max(v), avg: mean( v ),"
        " a: first(v), z: last(v)}"
    )
    aggregations = read_aggregations(parse_document(text, "a.yaml"), Path("."))
    assert aggregations == {
        "n": Count(),
        "n2": Count(),
        "s": Sum("v"),
        "lo": Min("v"),
        "hi": Max("v"),
        "avg": Mean("v"),
        "a": First("v"),
        "z": Last("v"),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{}", "needs at least one aggregation"),
        ("{n: count(v)}", "count takes no field"),
        ("{n: sum}", "sum needs a field to aggregate, for example sum(value)"),
        ("{n: 'sum(v'}", "cannot read aggregation 'sum(v'"),
        ("{n: 3}", "expected a non-empty string"),
    ],
)
def test_bad_aggregations(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_aggregations(parse_document(text, "a.yaml"), Path("."))
