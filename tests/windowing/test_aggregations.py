"""Per-record aggregation semantics and configuration checks."""

from __future__ import annotations

from typing import Any

import pytest

from streamgale.errors import ConfigError
from streamgale.windowing import Count, First, Last, Max, Mean, Min, Reduce, Sum
from streamgale.windowing.aggregations import Aggregation, check_aggregations


def fold_all(agg: Aggregation, values: list[Any]) -> Any:
    acc = agg.initial(values[0], 0)
    for seq, value in enumerate(values[1:], start=1):
        acc = agg.fold(acc, value, seq)
    return agg.finish(acc)


@pytest.mark.parametrize(
    ("agg", "expected"),
    [
        (Count(), 4),
        (Sum("v"), 9),
        (Min("v"), 1),
        (Max("v"), 4),
        (Mean("v"), 2.25),
        (First("v"), 3),
        (Last("v"), 4),
        (Reduce(lambda a, b: a * 10 + b), 3114),
    ],
)
def test_fold_in_arrival_order(agg: Aggregation, expected: Any) -> None:
    assert fold_all(agg, [3, 1, 1, 4]) == expected


def test_sum_starts_from_zero_like_the_vectorised_path() -> None:
    agg = Sum("v")
    assert agg.finish(agg.initial(True, 0)) == 1 and type(agg.initial(True, 0)) is int


@pytest.mark.parametrize(
    ("agg", "a", "b", "expected"),
    [
        (Count(), [1, 1], [1], 3),
        (Sum("v"), [1, 2], [3], 6),
        (Min("v"), [5, 2], [3], 2),
        (Max("v"), [5, 2], [9], 9),
        (Mean("v"), [1, 2], [6], 3.0),
        (Reduce(lambda x, y: x + y), [1, 2], [3], 6),
    ],
)
def test_combine_two_accumulators(
    agg: Aggregation, a: list[int], b: list[int], expected: Any
) -> None:
    def acc_of(values: list[int]) -> Any:
        acc = agg.initial(values[0], 0)
        for v in values[1:]:
            acc = agg.fold(acc, v, 0)
        return acc

    assert agg.finish(agg.combine(acc_of(a), acc_of(b))) == expected


def test_first_and_last_combine_by_arrival_not_by_session_order() -> None:
    early, late = First("v").initial("early", 1), First("v").initial("late", 7)
    assert First("v").finish(First("v").combine(late, early)) == "early"
    early, late = Last("v").initial("early", 1), Last("v").initial("late", 7)
    assert Last("v").finish(Last("v").combine(late, early)) == "late"


def test_reading_values() -> None:
    assert Sum("v").read({"v": 3}) == 3
    assert Sum(lambda r: r[1]).read(("a", 5)) == 5
    assert Reduce(lambda a, b: a).read({"x": 1}) == {"x": 1}
    assert Count().read({"anything": 1}) is None
    with pytest.raises(ConfigError, match="cannot read field 'v'"):
        Sum("v").read({"w": 1})


def test_bad_aggregation_arguments() -> None:
    with pytest.raises(ConfigError, match="field/column name"):
        Sum(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="must be a function"):
        Reduce("not callable")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("aggregations", "message"),
    [
        ({}, "non-empty mapping"),
        ([Count()], "non-empty mapping"),
        ({"n": "count"}, r"not an aggregation; allowed: Count\(\), Sum\(of\)"),
        ({"key": Count()}, "not allowed"),
        ({"window_end": Count()}, "not allowed"),
        ({3: Count()}, "not allowed"),
    ],
)
def test_check_aggregations(aggregations: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_aggregations(aggregations)
