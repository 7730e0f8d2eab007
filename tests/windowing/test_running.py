"""RunningAggregateConfig: keyed aggregates over the whole stream."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamgale.batch import ColumnBatch
from streamgale.errors import ConfigError
from streamgale.runtime.logic import ManualClock
from streamgale.windowing import Count, Last, Max, Mean, Min, Reduce, RunningAggregateConfig, Sum

from .helpers import columns, rows_of, split

AGGS = {
    "n": Count(),
    "sum": Sum("v"),
    "min": Min("v"),
    "max": Max("v"),
    "mean": Mean("v"),
    "last": Last("v"),
}


def test_emits_one_updated_row_per_key_touched_by_the_batch() -> None:
    logic = RunningAggregateConfig("k", {"n": Count(), "sum": Sum("v")}).build(None, ManualClock())
    first = logic.on_batch(0, [{"k": "b", "v": 1}, {"k": "a", "v": 2}, {"k": "b", "v": 3}])
    assert first == [(0, [{"key": "a", "n": 1, "sum": 2}, {"key": "b", "n": 2, "sum": 4}])]
    assert logic.on_batch(0, [{"k": "b", "v": 10}]) == [(0, [{"key": "b", "n": 3, "sum": 14}])]
    assert logic.on_batch(0, []) == []


def test_columnar_input_gives_columnar_rows() -> None:
    logic = RunningAggregateConfig("k", AGGS).build(None, ManualClock())
    out = logic.on_batch(0, columns([{"k": 2, "v": 1.0}, {"k": 1, "v": 4.0}, {"k": 2, "v": 3.0}]))
    batch = out[0][1]
    assert isinstance(batch, ColumnBatch) and batch.names == ("key", *AGGS)
    assert batch.to_rows() == [
        {"key": 1, "n": 1, "sum": 4.0, "min": 4.0, "max": 4.0, "mean": 4.0, "last": 4.0},
        {"key": 2, "n": 2, "sum": 4.0, "min": 1.0, "max": 3.0, "mean": 2.0, "last": 3.0},
    ]


def test_reduce_runs_per_record_for_any_input() -> None:
    config = RunningAggregateConfig(lambda r: r["k"], {"all": Reduce(lambda a, b: a + b, of="v")})
    logic = config.build(None, ManualClock())
    assert rows_of(logic.on_batch(0, columns([{"k": "x", "v": 1}, {"k": "x", "v": 2}]))[0][1]) == [
        {"key": "x", "all": 3}
    ]


def _run(
    config: RunningAggregateConfig,
    records: list[dict[str, Any]],
    cut: list[int],
    columnar: bool,
    at: int | None = None,
) -> list[Any]:
    logic = config.build(None, ManualClock())
    rows: list[Any] = []
    for i, batch in enumerate(split(records, cut)):
        for _, out in logic.on_batch(0, columns(batch) if columnar else batch):
            rows.extend(rows_of(out))
        if i == at:
            logic = config.build(pickle.loads(pickle.dumps(logic.snapshot())), ManualClock())
    return rows


@settings(max_examples=40, deadline=None)
@given(
    spec=st.lists(
        st.tuples(st.integers(0, 5), st.floats(-1e3, 1e3, allow_nan=False)), min_size=1, max_size=40
    ),
    cut=st.lists(st.integers(1, 39), max_size=5),
    at=st.integers(0, 5),
)
def test_columnar_per_record_and_restored_runs_agree(
    spec: list[tuple[int, float]], cut: list[int], at: int
) -> None:
    records = [{"k": k, "v": v} for k, v in spec]
    config = RunningAggregateConfig("k", AGGS)
    expected = _run(RunningAggregateConfig(lambda r: r["k"], AGGS), records, cut, columnar=False)
    assert _run(config, records, cut, columnar=True) == expected
    assert _run(config, records, cut, columnar=False, at=at) == expected
    assert _run(config, records, cut, columnar=True, at=at) == expected
    # the last row of each key is the aggregate of all its values
    final = {row["key"]: row for row in expected}
    for key, row in final.items():
        values = [v for k, v in spec if k == key]
        assert row["n"] == len(values) and row["max"] == max(values) and row["last"] == values[-1]


def test_bad_config() -> None:
    with pytest.raises(ConfigError, match="key"):
        RunningAggregateConfig(None, {"n": Count()})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not allowed"):
        RunningAggregateConfig("k", {"key": Count()})
    # window fields are fine names for a running aggregate
    assert RunningAggregateConfig("k", {"window_end": Max("t")}).aggregations


def test_string_keys_in_columns_are_sorted() -> None:
    logic = RunningAggregateConfig("k", {"n": Count()}).build(None, ManualClock())
    batch = ColumnBatch({"k": np.array(["zed", "amy", "zed"])})
    assert logic.on_batch(0, batch)[0][1].to_rows() == [
        {"key": "amy", "n": 1},
        {"key": "zed", "n": 2},
    ]
