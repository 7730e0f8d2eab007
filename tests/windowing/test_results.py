"""Result helpers: key order, shapes of result batches, late-row selection."""

from __future__ import annotations

import numpy as np
import pytest

from streamgale.batch import ColumnBatch
from streamgale.errors import ConfigError
from streamgale.runtime.logic import ManualClock
from streamgale.windowing import (
    Count,
    EventClock,
    RunningAggregateConfig,
    TumblingWindow,
    WindowAggregateConfig,
)
from streamgale.windowing.results import columns_of, key_order, read_key, rows_as, select, sort_keys


def test_keys_sort_naturally_or_by_type_then_repr() -> None:
    assert sort_keys([3, 1, 2]) == [1, 2, 3]
    assert sort_keys(["b", 2, None, "a", 1]) == [None, 1, 2, "a", "b"]
    keys = np.array(["b", 2, None, "a"], object)
    assert keys[key_order(keys)].tolist() == [None, 2, "a", "b"]
    assert key_order(np.array(["b", "a", "c"])).tolist() == [1, 0, 2]


def test_rows_as_list_or_columns() -> None:
    rows = [{"key": (1, 2), "n": 1}, {"key": (3,), "n": 2}]
    assert rows_as(rows, columnar=False) is rows
    batch = rows_as(rows, columnar=True)
    assert isinstance(batch, ColumnBatch) and batch["key"].dtype == object
    assert batch.to_rows() == rows


def test_select_keeps_the_batch_type() -> None:
    mask = np.array([True, False, True])
    assert select(["a", "b", "c"], mask) == ["a", "c"]
    batch = ColumnBatch({"x": np.arange(3)})
    assert select(batch, mask) == ColumnBatch({"x": np.array([0, 2])})


def test_columns_of_and_key_errors_name_the_field() -> None:
    batch = columns_of([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], ["a", "b", "a"])
    assert batch.names == ("a", "b") and batch["a"].tolist() == [1, 2]
    with pytest.raises(ConfigError, match="no field 'c'"):
        columns_of([{"a": 1}], ["c"])
    with pytest.raises(ConfigError, match="cannot read key field 'user'"):
        read_key("user", {"id": 1})
    assert read_key(len, "abc") == 3


def test_steps_with_one_input_refuse_other_ports() -> None:
    config = WindowAggregateConfig(TumblingWindow(1.0), EventClock("t"), "k", {"n": Count()})
    with pytest.raises(ConfigError, match="input port 0; got port 1"):
        config.build(None, ManualClock()).on_batch(1, [])
    with pytest.raises(ConfigError, match="input port 0; got port 3"):
        RunningAggregateConfig("k", {"n": Count()}).build(None, ManualClock()).on_batch(3, [])
