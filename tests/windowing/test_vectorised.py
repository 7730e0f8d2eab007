"""Vectorised accumulators give exactly the per-record results."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from streamgale.errors import ConfigError
from streamgale.windowing import Count, First, Last, Max, Mean, Min, Reduce, Sum
from streamgale.windowing.aggregations import Aggregation
from streamgale.windowing.vectorised import KeyedState, vectorisable

AGGS: list[Aggregation] = [Count(), Sum("v"), Min("v"), Max("v"), Mean("v"), First("v"), Last("v")]


def per_record(ids: list[int], values: list[Any]) -> dict[int, list[Any]]:
    accs: dict[int, list[Any]] = {}
    for i, v in zip(ids, values, strict=True):
        if i in accs:
            accs[i] = [a.fold(acc, v, 0) for a, acc in zip(AGGS, accs[i], strict=True)]
        else:
            accs[i] = [a.initial(v, 0) for a in AGGS]
    return {i: [a.finish(acc) for a, acc in zip(AGGS, accs[i], strict=True)] for i in accs}


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32, np.uint64, np.bool_])
def test_matches_per_record_fold_over_several_updates(dtype: Any) -> None:
    rng = np.random.default_rng(1)
    state = KeyedState(AGGS)
    all_ids: list[int] = []
    all_values: list[Any] = []
    for size in (5, 200, 1, 77):
        ids = rng.integers(0, 40, size)
        values = np.abs(rng.normal(size=size) * 100).astype(dtype)
        state.update(ids, {"v": values}, size=40)
        all_ids += ids.tolist()
        all_values += values.tolist()
    touched = state.touched()
    expected = per_record(all_ids, all_values)
    assert sorted(expected) == touched.tolist()
    results = [column.tolist() for column in state.results(touched)]
    for row, key in enumerate(touched.tolist()):
        assert [column[row] for column in results] == expected[key]


def test_int_then_float_values_widen_without_losing_state() -> None:
    state = KeyedState([Sum("v"), Min("v"), Max("v"), First("v")])
    state.update(np.array([0, 0]), {"v": np.array([5, 7])}, size=2)
    state.update(np.array([0, 1]), {"v": np.array([0.5, 1e30])}, size=2)
    sums, mins, maxes, firsts = (c.tolist() for c in state.results(np.array([0, 1])))
    assert sums == [12.5, 1e30] and mins == [0.5, 1e30] and maxes == [7.0, 1e30]
    assert firsts == [5.0, 1e30]


def test_first_and_last_strings_widen() -> None:
    state = KeyedState([First("s"), Last("s")])
    state.update(np.array([0, 1]), {"s": np.array(["a", "b"])}, size=2)
    state.update(np.array([1, 0]), {"s": np.array(["long text", "x"])}, size=2)
    first, last = (c.tolist() for c in state.results(np.array([0, 1])))
    assert first == ["a", "b"] and last == ["x", "long text"]


def test_snapshot_restore() -> None:
    state = KeyedState(AGGS)
    state.update(np.array([0, 2, 0]), {"v": np.array([1.0, 2.0, 3.0])}, size=3)
    restored = KeyedState(AGGS)
    restored.restore(state.snapshot())
    for s in (state, restored):
        s.update(np.array([1, 0]), {"v": np.array([4.0, 5.0])}, size=3)
    assert [c.tolist() for c in restored.results(np.arange(3))] == [
        c.tolist() for c in state.results(np.arange(3))
    ]


def test_vectorisable_needs_built_ins_over_named_numeric_columns() -> None:
    columns = {"v": np.zeros(2), "s": np.array(["a", "b"])}
    assert vectorisable([Count(), Sum("v"), First("s")], columns)
    assert not vectorisable([Sum("s")], columns)
    assert not vectorisable([Sum("missing")], columns)
    assert not vectorisable([Sum(lambda r: r["v"])], columns)
    assert not vectorisable([Reduce(max, "v")], columns)


def test_a_column_changing_to_text_is_a_config_error() -> None:
    state = KeyedState([Sum("v")])
    state.update(np.array([0]), {"v": np.array([1.0])}, size=1)
    with pytest.raises(ConfigError, match="column 'v' has dtype <U1"):
        state.update(np.array([0]), {"v": np.array(["x"])}, size=1)
