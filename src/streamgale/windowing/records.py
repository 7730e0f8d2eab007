"""Per-record engine for tumbling and sliding windows.

Handles any record type, any key and any aggregation (including
:class:`~streamgale.windowing.aggregations.Reduce` and functions as ``of``).
State: for every open window index, a dict ``key -> accumulators``.
"""

from __future__ import annotations

import copy
import heapq
from collections.abc import Hashable
from typing import Any

import numpy as np
import numpy.typing as npt

from streamgale.errors import StreamGaleError
from streamgale.windowing.clock import WatermarkTracker
from streamgale.windowing.results import sort_keys
from streamgale.windowing.spec import AggregateSpec
from streamgale.windowing.windows import Grid

__all__ = ["RecordWindows"]


class RecordWindows:
    """Open grid windows folded record by record."""

    def __init__(self, spec: AggregateSpec) -> None:
        if spec.grid is None:
            raise StreamGaleError("RecordWindows needs a grid (tumbling or sliding windows)")
        self._spec = spec
        self._grid: Grid = spec.grid
        self._windows: dict[int, dict[Hashable, list[Any]]] = {}
        self._order: list[int] = []  # heap of open window indexes

    def add(
        self, records: list[Any], tracker: WatermarkTracker, now: float
    ) -> npt.NDArray[np.bool_]:
        """Fold a batch arriving at ``now``; returns the mask of late records."""
        times = self._spec.clock.times_of(records)
        before = tracker.observe(times, now).tolist()
        late = np.zeros(len(records), np.bool_)
        for i, (record, t) in enumerate(zip(records, times.tolist(), strict=True)):
            late[i] = not self._fold(record, t, before[i])
        return late

    def _fold(self, record: Any, t: float, watermark: float) -> bool:
        grid, lateness = self._grid, self._spec.lateness
        first, last = grid.index_range(t)
        if first == last:
            counted = [last] if grid.end(last) + lateness > watermark else []
        else:
            counted = [k for k in range(first, last + 1) if grid.end(k) + lateness > watermark]
        if not counted:
            return False
        key = self._spec.key_of(record)
        values = self._spec.values_of(record)
        aggs = self._spec.aggregations
        for k in counted:
            window = self._windows.get(k)
            if window is None:
                window = self._windows[k] = {}
                heapq.heappush(self._order, k)
            accs = window.get(key)
            if accs is None:
                window[key] = [agg.initial(v, 0) for agg, v in zip(aggs, values, strict=True)]
            else:
                window[key] = [
                    agg.fold(acc, v, 0) for agg, acc, v in zip(aggs, accs, values, strict=True)
                ]
        return True

    def close(self, watermark: float) -> list[dict[str, Any]]:
        """Result rows of every window whose end + lateness <= ``watermark``."""
        rows: list[dict[str, Any]] = []
        lateness = self._spec.lateness
        while self._order and self._grid.end(self._order[0]) + lateness <= watermark:
            rows.extend(self._emit(heapq.heappop(self._order)))
        return rows

    def close_all(self) -> list[dict[str, Any]]:
        """Result rows of every open window."""
        rows: list[dict[str, Any]] = []
        while self._order:
            rows.extend(self._emit(heapq.heappop(self._order)))
        return rows

    def _emit(self, k: int) -> list[dict[str, Any]]:
        window = self._windows.pop(k)
        start, end = self._grid.start(k), self._grid.end(k)
        return [
            self._spec.result_row(key, start, end, window[key]) for key in sort_keys(list(window))
        ]

    def earliest_close(self) -> float | None:
        """Watermark at which the next window closes; ``None`` when none is open."""
        if not self._order:
            return None
        return self._grid.end(self._order[0]) + self._spec.lateness

    def snapshot(self) -> dict[int, dict[Hashable, list[Any]]]:
        """Picklable state (accumulators must be picklable); a deep copy."""
        return copy.deepcopy(self._windows)

    def restore(self, state: dict[int, dict[Hashable, list[Any]]]) -> None:
        """Load :meth:`snapshot` output."""
        self._windows = copy.deepcopy(state)
        self._order = sorted(self._windows)
