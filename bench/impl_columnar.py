"""Columnar numpy implementation: the practical ceiling for one machine.

These see the whole input as arrays at once, so they are batch jobs, not streams; they show how
fast the same arithmetic can go with no per-event Python at all. Lateness follows the same rule
as the streaming implementations (event time below the running max minus 2 s is dropped), via a
running maximum, so the results are comparable.

The plan uses the fact that keys are dense integers in ``[0, NUM_KEYS)``: each
``(window, key)`` pair maps to a slot in a dense array, so group-by becomes ``np.bincount``.
``impl_polars`` is the generic (hash group-by) counterpart.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from events import NUM_KEYS, EventColumns
from queries import (
    A_OFFSET,
    A_SCALE,
    A_THRESHOLD,
    ALLOWED_DISORDER_S,
    SLIDING_EVERY_S,
    TUMBLING_LENGTH_S,
    WINDOWS_PER_EVENT,
    Implementation,
    QueryOutput,
)

_US = 1_000_000


def _on_time(ts: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Mask of events not late: event time >= (max event time before it) - 2 s."""
    if len(ts) == 0:
        return np.ones(0, dtype=bool)
    seen = np.maximum.accumulate(ts)
    watermark = np.concatenate(([-np.inf], seen[:-1] - ALLOWED_DISORDER_S))
    return ts >= watermark


# numpy ---------------------------------------------------------------------------------------


def numpy_query_a(cols: EventColumns) -> QueryOutput:
    """Map + filter with two vectorised expressions and a boolean mask."""
    value2 = cols.value * A_SCALE + A_OFFSET
    keep = value2 > A_THRESHOLD
    return QueryOutput({"key": cols.key[keep], "ts": cols.ts[keep], "value2": value2[keep]})


def numpy_query_b(cols: EventColumns) -> QueryOutput:
    """Tumbling count/sum/max via dense ``(window, key)`` slots and ``np.bincount``."""
    on_time = _on_time(cols.ts)
    key, ts, value = cols.key[on_time], cols.ts[on_time], cols.value[on_time]
    if len(key) == 0:
        return QueryOutput(_empty_b(), int(len(on_time) - on_time.sum()))
    window = np.floor_divide(ts, TUMBLING_LENGTH_S).astype(np.int64)
    first = int(window.min())
    slot = (window - first) * NUM_KEYS + key
    size = (int(window.max()) - first + 1) * NUM_KEYS
    count = np.bincount(slot, minlength=size)
    total = np.bincount(slot, weights=value, minlength=size)
    largest = np.full(size, -np.inf)
    np.maximum.at(largest, slot, value)
    used = np.flatnonzero(count)
    rows = {
        "key": used % NUM_KEYS,
        "window_start": (used // NUM_KEYS + first) * TUMBLING_LENGTH_S,
        "count": count[used],
        "sum": total[used],
        "max": largest[used],
    }
    return QueryOutput(rows, int(len(on_time) - on_time.sum()))


def _empty_b() -> dict[str, npt.NDArray[Any]]:
    return {
        "key": np.empty(0, np.int64),
        "window_start": np.empty(0, np.int64),
        "count": np.empty(0, np.int64),
        "sum": np.empty(0),
        "max": np.empty(0),
    }


def numpy_query_c(cols: EventColumns) -> QueryOutput:
    """Hottest key per sliding window: per-2 s pane counts, summed five panes at a time."""
    on_time = _on_time(cols.ts)
    late = int(len(on_time) - on_time.sum())
    key, ts = cols.key[on_time], cols.ts[on_time]
    if len(key) == 0:
        return QueryOutput({"window_start": [], "key": [], "count": []}, late)
    pane = np.floor_divide(ts, SLIDING_EVERY_S).astype(np.int64)
    first, panes = int(pane.min()), int(pane.max() - pane.min()) + 1
    per_pane = np.bincount((pane - first) * NUM_KEYS + key, minlength=panes * NUM_KEYS)
    per_pane = per_pane.reshape(panes, NUM_KEYS)
    # Window j covers panes j .. j+4; pad so windows reaching before/after the data exist too.
    back = WINDOWS_PER_EVENT - 1
    padded = np.zeros((panes + 2 * back + 1, NUM_KEYS), dtype=np.int64)
    np.cumsum(per_pane, axis=0, out=padded[back + 1 : back + 1 + panes])
    padded[back + 1 + panes :] = padded[back + panes]
    per_window = padded[WINDOWS_PER_EVENT:] - padded[:-WINDOWS_PER_EVENT]
    hottest = per_window.argmax(axis=1)  # first maximum, i.e. the smallest key among ties
    count = per_window[np.arange(len(per_window)), hottest]
    used = np.flatnonzero(count)
    rows = {
        "window_start": (used + first - back) * SLIDING_EVERY_S,
        "key": hottest[used],
        "count": count[used],
    }
    return QueryOutput(rows, late)


NUMPY = Implementation(
    name="numpy",
    prepare=lambda cols: cols,
    queries={"A": numpy_query_a, "B": numpy_query_b, "C": numpy_query_c},
    libraries=("numpy",),
)
