"""Running (non-windowed) keyed aggregation.

For every input batch the step folds each record into its key's
accumulators (arrival order) and emits one row per key touched by that
batch: ``key`` then one field per aggregation, keys sorted. Rows are dicts
for list input and one ColumnBatch for ColumnBatch input. ColumnBatch input
with a named key column and built-in aggregations over numeric columns runs
vectorised (:mod:`streamgale.windowing.vectorised`); anything else runs per
record. State holds every key ever seen.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamgale.batch import Batch, ColumnBatch
from streamgale.runtime.logic import Clock, Emit, StepLogic
from streamgale.windowing.aggregations import Aggregation, Count, check_aggregations
from streamgale.windowing.keyindex import KeyIndex
from streamgale.windowing.results import (
    KeyGetter,
    check_key,
    check_port,
    columns_of,
    key_order,
    read_key,
    rows_as,
    sort_keys,
)
from streamgale.windowing.vectorised import KeyedState, vectorisable

__all__ = ["RunningAggregateConfig", "RunningAggregateLogic"]


@dataclass(frozen=True)
class RunningAggregateConfig:
    """Keep aggregates per key over the whole stream; emit the keys each batch updates.

    >>> from streamgale.runtime.logic import ManualClock
    >>> from streamgale.windowing import Count, Max
    >>> config = RunningAggregateConfig("user", {"n": Count(), "top": Max("score")})
    >>> logic = config.build(None, ManualClock())
    >>> logic.on_batch(0, [{"user": "b", "score": 3}, {"user": "a", "score": 1}])
    [(0, [{'key': 'a', 'n': 1, 'top': 1}, {'key': 'b', 'n': 1, 'top': 3}])]
    >>> logic.on_batch(0, [{"user": "b", "score": 2}])
    [(0, [{'key': 'b', 'n': 2, 'top': 3}])]
    """

    key: KeyGetter
    aggregations: Mapping[str, Aggregation]

    def __post_init__(self) -> None:
        check_key("RunningAggregateConfig", self.key)
        check_aggregations(self.aggregations, reserved=("key",))
        object.__setattr__(self, "aggregations", dict(self.aggregations))

    def build(self, resume_state: Any | None, clock: Clock) -> StepLogic:
        """The step logic, resumed from ``resume_state``; ``clock`` is not needed."""
        return RunningAggregateLogic(self, resume_state)


class RunningAggregateLogic(StepLogic):
    """Runtime logic of :class:`RunningAggregateConfig`."""

    def __init__(self, config: RunningAggregateConfig, resume_state: Any | None) -> None:
        self._key = config.key
        self._names = tuple(config.aggregations)
        self._aggs = tuple(config.aggregations.values())
        self._engine = ""  # "records" or "columns", fixed by the first non-empty batch
        self._records: dict[Hashable, list[Any]] = {}
        self._keys = KeyIndex()
        self._state: KeyedState | None = None  # built with the vectorised engine only
        if resume_state is not None:
            self._restore(resume_state)

    def on_batch(self, port: int, batch: Batch) -> Emit:
        check_port("a running aggregate", port)
        if not len(batch):
            return []
        if not self._engine:
            self._engine = "columns" if self._vector_ready(batch) else "records"
        if self._engine == "columns":
            if isinstance(batch, ColumnBatch):
                return [(0, self._add_columns(batch))]
            return [(0, self._add_columns(columns_of(batch, self._column_names())).to_rows())]
        if isinstance(batch, ColumnBatch):
            return [(0, rows_as(self._add_records(batch.to_rows()), columnar=True))]
        return [(0, self._add_records(batch))]

    def _vector_ready(self, batch: Batch) -> bool:
        return (
            isinstance(batch, ColumnBatch)
            and isinstance(self._key, str)
            and self._key in batch
            and vectorisable(self._aggs, batch)
        )

    def _column_names(self) -> list[str]:
        sources = [a.source for a in self._aggs if not isinstance(a, Count)]
        return [str(self._key), *(s for s in sources if isinstance(s, str))]

    def _add_columns(self, batch: ColumnBatch) -> ColumnBatch:
        state = self._state or KeyedState(self._aggs)
        self._state = state
        ids = self._keys.ids(batch[str(self._key)])
        state.update(ids, batch, len(self._keys))
        touched = np.flatnonzero(np.bincount(ids))
        keys = self._keys.values(touched)
        order = key_order(keys)
        columns = {"key": keys[order]}
        columns.update(zip(self._names, state.results(touched[order]), strict=True))
        return ColumnBatch(columns)

    def _add_records(self, records: list[Any]) -> list[dict[str, Any]]:
        touched: dict[Hashable, None] = {}
        for record in records:
            key = read_key(self._key, record)
            values = [agg.read(record) for agg in self._aggs]
            accs = self._records.get(key)
            if accs is None:
                accs = [a.initial(v, 0) for a, v in zip(self._aggs, values, strict=True)]
            else:
                accs = [
                    a.fold(acc, v, 0) for a, acc, v in zip(self._aggs, accs, values, strict=True)
                ]
            self._records[key] = accs
            touched[key] = None
        return [self._row(key) for key in sort_keys(list(touched))]

    def _row(self, key: Hashable) -> dict[str, Any]:
        row: dict[str, Any] = {"key": key}
        for name, agg, acc in zip(self._names, self._aggs, self._records[key], strict=True):
            row[name] = agg.finish(acc)
        return row

    def snapshot(self) -> Any:
        if self._state is not None:
            state: Any = {"keys": self._keys.snapshot(), "arrays": self._state.snapshot()}
        else:
            state = copy.deepcopy(self._records)
        return {"engine": self._engine, "state": state}

    def _restore(self, saved: Any) -> None:
        self._engine = saved["engine"]
        if self._engine == "columns":
            self._keys = KeyIndex.restore(saved["state"]["keys"])
            self._state = KeyedState(self._aggs)
            self._state.restore(saved["state"]["arrays"])
        elif self._engine == "records":
            self._records = copy.deepcopy(saved["state"])
