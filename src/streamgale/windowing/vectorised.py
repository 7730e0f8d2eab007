"""Vectorised accumulators: the built-in aggregations over numpy columns.

A :class:`KeyedState` holds, for one window (or for a running aggregate),
one numpy array per accumulator, indexed by key id (see
:mod:`streamgale.windowing.keyindex`). Values are folded with unbuffered
``ufunc.at`` in row order, so each key's accumulator sees exactly the
sequence of additions the per-record path does and float results match it
to the last bit, whatever the batch boundaries.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from streamgale.errors import ConfigError
from streamgale.windowing.aggregations import (
    Aggregation,
    Count,
    First,
    Last,
    Max,
    Mean,
    Min,
    Sum,
)

__all__ = ["KeyedState", "vectorisable"]

Array: TypeAlias = npt.NDArray[Any]
Ids: TypeAlias = npt.NDArray[np.int64]

_NUMERIC = "biuf"


class _Accumulator(ABC):
    """One aggregation's state for all key ids of a window."""

    kinds = _NUMERIC  # numpy dtype kinds of the values it can fold

    def __init__(self) -> None:
        self.data: Array = np.zeros(0, np.int64)

    def grow(self, capacity: int, count: Ids) -> None:
        grown = np.empty(capacity, self.data.dtype)
        grown[: len(self.data)] = self.data
        grown[len(self.data) :] = self.fill(self.data.dtype)
        self.data = grown

    def fill(self, dtype: np.dtype[Any]) -> Any:
        """Value of a key id nothing was added to yet."""
        return 0

    def widen(self, dtype: np.dtype[Any], count: Ids) -> None:
        """Make ``data`` able to hold values of ``dtype`` (first batch, or int then float)."""
        if dtype == self.data.dtype:
            return
        wanted = np.result_type(self.data.dtype, dtype) if count.any() else dtype
        if wanted != self.data.dtype:
            data = self.data.astype(wanted)
            data[count == 0] = self.fill(wanted)
            self.data = data

    @abstractmethod
    def update(self, ids: Ids, values: Array, count: Ids) -> None:
        """Fold ``values`` (row order) into keys ``ids``; ``count`` is before this update."""

    def result(self, ids: Ids, count: Ids) -> Array:
        return self.data[ids]


class _Count(_Accumulator):
    def update(self, ids: Ids, values: Array, count: Ids) -> None:
        pass  # the shared count array is the result

    def result(self, ids: Ids, count: Ids) -> Array:
        return count[ids]


class _Sum(_Accumulator):
    def update(self, ids: Ids, values: Array, count: Ids) -> None:
        self.widen(_sum_dtype(values.dtype), count)
        np.add.at(self.data, ids, values)


def _sum_dtype(values: np.dtype[Any]) -> np.dtype[Any]:
    """Like Python's sum as far as 64 bits go: bools and ints add as int64 (uint64 stays)."""
    if values.kind == "f":
        return np.dtype(np.float64)
    return np.dtype(np.uint64 if values == np.uint64 else np.int64)


class _Mean(_Sum):
    def update(self, ids: Ids, values: Array, count: Ids) -> None:
        self.widen(np.dtype(np.float64), count)
        np.add.at(self.data, ids, values.astype(np.float64, copy=False))

    def result(self, ids: Ids, count: Ids) -> Array:
        means: Array = self.data[ids] / count[ids]
        return means


class _Extreme(_Accumulator):
    _ufunc: np.ufunc
    _sign: int

    def fill(self, dtype: np.dtype[Any]) -> Any:
        if dtype.kind == "f":
            return self._sign * np.inf
        info = np.iinfo(dtype)
        return info.max if self._sign > 0 else info.min

    def update(self, ids: Ids, values: Array, count: Ids) -> None:
        self.widen(np.dtype(np.int64) if values.dtype.kind == "b" else values.dtype, count)
        self._ufunc.at(self.data, ids, values)


class _Min(_Extreme):
    _ufunc = np.minimum
    _sign = 1


class _Max(_Extreme):
    _ufunc = np.maximum
    _sign = -1


class _First(_Accumulator):
    kinds = _NUMERIC + "USM"

    def fill(self, dtype: np.dtype[Any]) -> Any:
        return np.zeros((), dtype)[()]

    def update(self, ids: Ids, values: Array, count: Ids) -> None:
        self.widen(values.dtype, count)
        n = len(ids)
        first = np.full(len(count), n, np.int64)
        np.minimum.at(first, ids, np.arange(n))
        fresh = np.flatnonzero((first < n) & (count == 0))
        self.data[fresh] = values[first[fresh]]


class _Last(_First):
    def update(self, ids: Ids, values: Array, count: Ids) -> None:
        self.widen(values.dtype, count)
        last = np.full(len(count), -1, np.int64)
        np.maximum.at(last, ids, np.arange(len(ids)))
        seen = np.flatnonzero(last >= 0)
        self.data[seen] = values[last[seen]]


_ACCUMULATORS: Mapping[type[Aggregation], type[_Accumulator]] = {
    Count: _Count,
    Sum: _Sum,
    Mean: _Mean,
    Min: _Min,
    Max: _Max,
    First: _First,
    Last: _Last,
}


def vectorisable(aggregations: Sequence[Aggregation], columns: Mapping[str, Array]) -> bool:
    """Whether every aggregation has a vectorised form for these columns."""
    for agg in aggregations:
        accumulator = _ACCUMULATORS.get(type(agg))
        if accumulator is None:
            return False
        source = agg.source
        if isinstance(agg, Count):
            continue
        if not isinstance(source, str) or source not in columns:
            return False
        if columns[source].dtype.kind not in accumulator.kinds:
            return False
    return True


class KeyedState:
    """Accumulators of several aggregations for every key id, plus a count per key."""

    def __init__(self, aggregations: Sequence[Aggregation]) -> None:
        self._sources = [agg.source if not isinstance(agg, Count) else None for agg in aggregations]
        self._accumulators = [_ACCUMULATORS[type(agg)]() for agg in aggregations]
        self.count: Ids = np.zeros(0, np.int64)

    def update(self, ids: Ids, columns: Mapping[str, Array], size: int) -> None:
        """Fold rows (``ids[i]`` with ``columns[name][i]``) in row order; ``size`` = key count."""
        if size > len(self.count):
            self._grow(max(size, 2 * len(self.count), 64))
        for source, acc in zip(self._sources, self._accumulators, strict=True):
            if source is None:
                continue
            values = columns[str(source)]
            if values.dtype.kind not in acc.kinds:
                raise ConfigError(
                    f"column '{source}' has dtype {values.dtype} in this batch, which the "
                    f"aggregation cannot fold (dtype kinds '{acc.kinds}'); keep one column type",
                    key="of",
                )
            acc.update(ids, values, self.count)
        np.add.at(self.count, ids, 1)

    def touched(self) -> Ids:
        """Key ids with at least one row."""
        return np.flatnonzero(self.count)

    def results(self, ids: Ids) -> list[Array]:
        """One result array per aggregation, for key ``ids``."""
        return [acc.result(ids, self.count) for acc in self._accumulators]

    def _grow(self, capacity: int) -> None:
        count = np.zeros(capacity, np.int64)
        count[: len(self.count)] = self.count
        for acc in self._accumulators:
            acc.grow(capacity, count)
        self.count = count

    def snapshot(self) -> dict[str, Any]:
        """Picklable arrays."""
        return {"count": self.count.copy(), "data": [acc.data.copy() for acc in self._accumulators]}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Load :meth:`snapshot` output."""
        self.count = state["count"].copy()
        for acc, data in zip(self._accumulators, state["data"], strict=True):
            acc.data = data.copy()
