"""Columnar polars implementation: a generic hash group-by plan, the other practical ceiling.

Like ``impl_columnar`` (numpy) it sees the whole input at once, so it is a batch job, not a
stream; unlike it, it makes no use of keys being dense small integers. Lateness follows the
streaming rule (event time below the running max minus 2 s is dropped). Event times are turned
into integer microseconds before window arithmetic so that window assignment is exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from events import EventColumns
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


def polars_prepare(cols: EventColumns) -> Any:
    """Wrap the columns in a polars DataFrame (untimed; no copy for numeric columns)."""
    return pl.DataFrame(cols.as_mapping())


def _polars_on_time(frame: Any) -> Any:
    """Lazy frame of on-time events with their event time in integer microseconds."""
    watermark = pl.col("ts").cum_max().shift(1).fill_null(-np.inf) - ALLOWED_DISORDER_S
    return (
        frame.lazy()
        .with_columns(on_time=pl.col("ts") >= watermark)
        .with_columns(ts_us=(pl.col("ts") * _US).round().cast(pl.Int64))
    )


def polars_query_a(frame: Any) -> QueryOutput:
    """Map + filter as one lazy polars expression."""
    out = (
        frame.lazy()
        .select("key", "ts", value2=pl.col("value") * A_SCALE + A_OFFSET)
        .filter(pl.col("value2") > A_THRESHOLD)
        .collect()
    )
    return QueryOutput(_np_columns(out))


def polars_query_b(frame: Any) -> QueryOutput:
    """Tumbling count/sum/max as a hash group-by on ``(key, window)``."""
    events = _polars_on_time(frame).collect()
    length_us = TUMBLING_LENGTH_S * _US
    out = (
        events.lazy()
        .filter(pl.col("on_time"))
        .group_by("key", window_start=(pl.col("ts_us") // length_us) * TUMBLING_LENGTH_S)
        .agg(count=pl.len().cast(pl.Int64), sum=pl.col("value").sum(), max=pl.col("value").max())
        .collect()
    )
    return QueryOutput(_np_columns(out), _late(events))


def polars_query_c(frame: Any) -> QueryOutput:
    """Hottest key per sliding window: pane counts, spread to five windows, summed, filtered.

    A pane is one 2 s slide; a window is ``WINDOWS_PER_EVENT`` consecutive panes, which holds
    because the window length is a whole number of slides.
    """
    events = _polars_on_time(frame).collect()
    pane_us = SLIDING_EVERY_S * _US
    panes = (
        events.lazy()
        .filter(pl.col("on_time"))
        .group_by("key", pane=pl.col("ts_us") // pane_us)
        .agg(n=pl.len().cast(pl.Int64))
    )
    spread = pl.concat(
        [panes.with_columns(window=pl.col("pane") - back) for back in range(WINDOWS_PER_EVENT)]
    )
    counts = spread.group_by("window", "key").agg(count=pl.col("n").sum())
    out = (
        counts.filter(pl.col("count") == pl.col("count").max().over("window"))
        .group_by("window")
        .agg(pl.col("key").min(), pl.col("count").first())  # ties: smallest key
        .select(window_start=pl.col("window") * SLIDING_EVERY_S, key="key", count="count")
        .collect()
    )
    return QueryOutput(_np_columns(out), _late(events))


def _np_columns(frame: Any) -> dict[str, npt.NDArray[Any]]:
    return {name: frame[name].to_numpy() for name in frame.columns}


def _late(frame: Any) -> int:
    return int(frame.height - frame["on_time"].sum())


POLARS = Implementation(
    name="polars",
    prepare=polars_prepare,
    queries={"A": polars_query_a, "B": polars_query_b, "C": polars_query_c},
    libraries=("numpy", "polars"),
)
