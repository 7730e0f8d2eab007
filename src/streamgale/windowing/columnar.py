"""Vectorised engine for tumbling and sliding windows over :class:`ColumnBatch` input.

For one batch:

1. the watermark just before every row (a running maximum,
   :meth:`WatermarkTracker.observe`) and the dense id of every key
   (:class:`~streamgale.windowing.keyindex.KeyIndex`);
2. the ``(row, window)`` pairs that count: window ``k`` of a row counts when
   ``end(k) + lateness > watermark before the row``; a row with no counting
   window is late;
3. pairs grouped by window with a stable sort (row order kept inside each
   group), then folded into that window's :class:`KeyedState` arrays.

Results and late rows are exactly those of the per-record engine
(:mod:`streamgale.windowing.records`), which the tests check.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from streamgale.batch import ColumnBatch
from streamgale.errors import ConfigError, StreamGaleError
from streamgale.windowing.clock import WatermarkTracker, column_seconds
from streamgale.windowing.keyindex import KeyIndex
from streamgale.windowing.results import key_order
from streamgale.windowing.spec import AggregateSpec
from streamgale.windowing.vectorised import KeyedState
from streamgale.windowing.windows import Grid

__all__ = ["ColumnWindows"]

Array: TypeAlias = npt.NDArray[Any]
Rows: TypeAlias = npt.NDArray[np.intp]
FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]

_MASKED_WINDOWS = 64  # beyond this many windows in one batch, group by sorting


class ColumnWindows:
    """Open grid windows, each a :class:`KeyedState` indexed by key id."""

    def __init__(self, spec: AggregateSpec) -> None:
        if (
            spec.grid is None
            or not isinstance(spec.key, str)
            or not isinstance(spec.clock.time, str)
        ):
            raise StreamGaleError("ColumnWindows needs a grid and named key/time columns")
        self._spec = spec
        self._grid: Grid = spec.grid
        self._time = spec.clock.time
        self._key = spec.key
        self._sources = sorted(set(spec.column_names()[2:]))
        self._keys = KeyIndex()
        self._windows: dict[int, KeyedState] = {}
        self._order: list[int] = []  # heap of open window indexes

    def add(
        self, batch: ColumnBatch, tracker: WatermarkTracker, now: float
    ) -> npt.NDArray[np.bool_]:
        """Fold a batch arriving at ``now``; returns the mask of late rows."""
        self._check_columns(batch)
        times = column_seconds(self._time, batch[self._time])
        before = tracker.observe(times, now)
        ids = self._keys.ids(batch[self._key])
        first, last = self._grid.index_ranges(times)
        late: npt.NDArray[np.bool_] = self._grid.ends(last) + self._spec.lateness <= before
        for k, rows in self._pairs(first, last, before):
            columns = {name: batch[name] for name in self._sources}
            if rows is not None:
                columns = {name: column[rows] for name, column in columns.items()}
            self._window(k).update(ids if rows is None else ids[rows], columns, len(self._keys))
        return late

    def _check_columns(self, batch: ColumnBatch) -> None:
        needed = [self._time, self._key, *self._sources]
        missing = [name for name in needed if name not in batch]
        if missing:
            raise ConfigError(
                f"batch has no column {missing}; it has {list(batch.names)}, and the step "
                f"reads time '{self._time}', key '{self._key}' and values {self._sources}",
                key=missing[0],
            )

    def _pairs(
        self, first: IntArray, last: IntArray, before: FloatArray
    ) -> Iterator[tuple[int, Rows | None]]:
        """``(window, rows)`` groups that count, rows in arrival order; ``None`` = every row."""
        low, high = int(first.min()), int(last.max())
        if high - low >= _MASKED_WINDOWS:
            return self._sorted_pairs(first, last, before)
        return self._masked_pairs(first, last, before, low, high)

    def _masked_pairs(
        self, first: IntArray, last: IntArray, before: FloatArray, low: int, high: int
    ) -> Iterator[tuple[int, Rows | None]]:
        """A few windows: select each one's rows with a mask over the batch.

        ``before`` never decreases along the batch, so the rows for which
        window ``k`` is not too late are a prefix, found by binary search.
        """
        n, tumbling = len(last), self._grid.offset == self._grid.length
        for k in range(low, high + 1):
            cut = int(np.searchsorted(before, self._grid.end(k) + self._spec.lateness, "left"))
            if tumbling and low == high and cut == n:
                yield k, None
                continue
            head = last[:cut]
            mask = head == k if tumbling else (first[:cut] <= k) & (head >= k)
            rows = np.flatnonzero(mask)
            if len(rows):
                yield k, rows

    def _sorted_pairs(
        self, first: IntArray, last: IntArray, before: FloatArray
    ) -> Iterator[tuple[int, Rows | None]]:
        """Many windows (sparse times): list every counting (row, window), group by sort."""
        width = int((last - first).max()) + 1
        windows = last[:, None] - np.arange(width)[None, :]
        ends = self._grid.ends(windows) + self._spec.lateness
        counts = (windows >= first[:, None]) & (ends > before[:, None])
        rows, cols = np.nonzero(counts)  # row-major: rows ascend
        return _by_window(windows[rows, cols], rows)

    def _window(self, k: int) -> KeyedState:
        state = self._windows.get(k)
        if state is None:
            state = self._windows[k] = KeyedState(self._spec.aggregations)
            heapq.heappush(self._order, k)
        return state

    def close(self, watermark: float) -> ColumnBatch | None:
        """Results of every window whose end + lateness <= ``watermark``, as one batch."""
        closing = []
        while self._order and self._grid.end(self._order[0]) + self._spec.lateness <= watermark:
            closing.append(heapq.heappop(self._order))
        return self._emit(closing)

    def close_all(self) -> ColumnBatch | None:
        """Results of every open window."""
        closing = [heapq.heappop(self._order) for _ in range(len(self._order))]
        return self._emit(closing)

    def _emit(self, closing: list[int]) -> ColumnBatch | None:
        parts = [self._results(k, self._windows.pop(k)) for k in closing]
        parts = [p for p in parts if len(p["key"])]
        if not parts:
            return None
        return ColumnBatch({name: np.concatenate([p[name] for p in parts]) for name in parts[0]})

    def _results(self, k: int, state: KeyedState) -> dict[str, Array]:
        touched = self._touched_in_key_order(state)
        n = len(touched)
        columns: dict[str, Array] = {
            "key": self._keys.values(touched),
            "window_start": np.full(n, self._grid.start(k)),
            "window_end": np.full(n, self._grid.end(k)),
        }
        columns.update(zip(self._spec.names, state.results(touched), strict=True))
        return columns

    def _touched_in_key_order(self, state: KeyedState) -> IntArray:
        touched = state.touched()
        if len(touched) * 16 < len(self._keys):  # few keys: sorting them is cheaper
            return touched[key_order(self._keys.values(touched))]
        # Filter the cached order of all keys instead of sorting again.
        ranked = self._keys.sorted_ids()
        ranked = ranked[ranked < len(state.count)]
        return ranked[state.count[ranked] > 0]

    def earliest_close(self) -> float | None:
        """Watermark at which the next window closes; ``None`` when none is open."""
        if not self._order:
            return None
        return self._grid.end(self._order[0]) + self._spec.lateness

    def snapshot(self) -> dict[str, Any]:
        """Picklable state: key values and per-window arrays."""
        return {
            "keys": self._keys.snapshot(),
            "windows": {k: state.snapshot() for k, state in self._windows.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Load :meth:`snapshot` output."""
        self._keys = KeyIndex.restore(state["keys"])
        for k, saved in state["windows"].items():
            self._window(k).restore(saved)


def _by_window(windows: IntArray, rows: Rows) -> Iterator[tuple[int, Rows | None]]:
    """Split rows by window index with a stable sort, so each group keeps arrival order."""
    if len(windows) == 0:
        return
    low, high = int(windows.min()), int(windows.max())
    # A small range sorts as int16, for which numpy's stable sort is a radix sort.
    relative = (windows - low).astype(np.int16 if high - low < 2**15 else np.int64)
    order = np.argsort(relative, kind="stable")
    ordered = relative[order]
    cuts = [0, *(np.flatnonzero(np.diff(ordered)) + 1).tolist(), len(ordered)]
    for a, b in itertools.pairwise(cuts):
        yield low + int(ordered[a]), rows[order[a:b]]
