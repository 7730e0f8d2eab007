"""StreamGale implementations of the benchmark queries.

Each query is one StreamGale pipeline fed with ``ColumnBatch`` micro-batches of
``MICRO_BATCH_ROWS`` rows (cut from the generated columns in :func:`prepare`, untimed) and
collected columnar with ``TestingSink(as_batches=True)``.

Two implementations share the pipelines:

* ``streamgale``: in memory, no state directory; the timed part builds and runs the pipeline.
* ``streamgale-durable``: the timed part first appends every micro-batch to the durable
  segment log (fsync batched, every 5 ms), then runs the pipeline from the log with
  checkpoints on (file snapshots, consumer offsets committed). Ingest is inside the timer.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from events import EventColumns
from queries import (
    A_OFFSET,
    A_SCALE,
    A_THRESHOLD,
    ALLOWED_DISORDER_S,
    SLIDING_EVERY_S,
    SLIDING_LENGTH_S,
    TUMBLING_LENGTH_S,
    Implementation,
    QueryOutput,
)
from streamgale import ColumnBatch, Pipeline, RuntimeConfig, Stream
from streamgale.connectors import LogSource
from streamgale.log import FsyncPolicy, SegmentLog
from streamgale.testing import TestingSink, TestingSource
from streamgale.windowing import Count, EventClock, Max, SlidingWindow, Sum, TumblingWindow

MICRO_BATCH_ROWS = 65_536

_CONFIG = RuntimeConfig(handle_signals=False)

Feed = Callable[[Pipeline], "tuple[Stream[Any], RuntimeConfig]"]
"""Adds the source to a pipeline; returns the event stream and how to run it."""


def in_memory(batches: list[ColumnBatch]) -> Feed:
    def feed(p: Pipeline) -> tuple[Stream[Any], RuntimeConfig]:
        return p.source("events", TestingSource(batches, batches=True)), _CONFIG

    return feed


def through_durable_log(batches: list[ColumnBatch]) -> Feed:
    """Append the batches to a fresh segment log (timed), then read them from it."""
    root = Path(tempfile.mkdtemp(prefix="sg-bench-"))
    log = SegmentLog(root / "log", fsync=FsyncPolicy.INTERVAL, fsync_interval_ms=5.0)
    log.create_topic("events", 1)
    for batch in batches:
        log.append("events", 0, [batch.to_bytes()])
    log.sync()

    def feed(p: Pipeline) -> tuple[Stream[Any], RuntimeConfig]:
        source = LogSource(log, "events", until_end=True, max_records=1)
        config = RuntimeConfig(state_dir=root / "state", handle_signals=False)
        return p.source("events", source), config

    return feed


def prepare(columns: EventColumns) -> list[ColumnBatch]:
    """Cut the columns into ``MICRO_BATCH_ROWS``-row micro-batches (views, not copies)."""
    cols = columns.as_mapping()
    return [
        ColumnBatch({name: col[start : start + MICRO_BATCH_ROWS] for name, col in cols.items()})
        for start in range(0, len(columns), MICRO_BATCH_ROWS)
    ]


def _fahrenheit_over_threshold(batch: ColumnBatch) -> ColumnBatch:
    value2 = batch["value"] * A_SCALE + A_OFFSET
    keep = value2 > A_THRESHOLD
    return ColumnBatch({"key": batch["key"][keep], "ts": batch["ts"][keep], "value2": value2[keep]})


def query_a(feed: Feed) -> QueryOutput:
    """Map + filter as one vectorised step."""
    out: list[ColumnBatch] = []
    p = Pipeline("bench_a")
    events, config = feed(p)
    events.map_batches("to_f_and_filter", _fahrenheit_over_threshold).sink(
        "out", TestingSink(out, as_batches=True)
    )
    p.run(config)
    return QueryOutput(_columns(out, ("key", "ts", "value2")))


def query_b(feed: Feed) -> QueryOutput:
    """Keyed 10 s tumbling event-time window: count, sum, max."""
    out: list[ColumnBatch] = []
    late: list[ColumnBatch] = []
    p = Pipeline("bench_b")
    events, config = feed(p)
    windows = (
        events.key_by("by_key", "key")
        .window(TumblingWindow(float(TUMBLING_LENGTH_S)), _clock())
        .aggregate("stats", count=Count(), sum=Sum("value"), max=Max("value"))
    )
    windows.results.sink("out", TestingSink(out, as_batches=True))
    windows.late.sink("late", TestingSink(late, as_batches=True))
    p.run(config)
    rows = _columns(out, ("key", "window_start", "count", "sum", "max"))
    rows["window_start"] = rows["window_start"].astype(np.int64)
    return QueryOutput(rows, sum(len(b) for b in late))


def hottest_per_window(batch: ColumnBatch) -> ColumnBatch:
    """The key with the most events in each window of the batch (ties: smallest key).

    Relies on the window step emitting all keys of a window in one batch.
    """
    order = np.lexsort((batch["key"], -batch["count"], batch["window_start"]))
    starts = batch["window_start"][order]
    first = np.flatnonzero(np.r_[True, starts[1:] != starts[:-1]])
    pick = order[first]
    return ColumnBatch(
        {
            "window_start": batch["window_start"][pick],
            "key": batch["key"][pick],
            "count": batch["count"][pick],
        }
    )


def query_c(feed: Feed) -> QueryOutput:
    """Sliding 10 s / 2 s window counts per key, then the hottest key per window."""
    out: list[ColumnBatch] = []
    late: list[ColumnBatch] = []
    p = Pipeline("bench_c")
    events, config = feed(p)
    windows = (
        events.key_by("by_key", "key")
        .window(SlidingWindow(float(SLIDING_LENGTH_S), float(SLIDING_EVERY_S)), _clock())
        .aggregate("counts", count=Count())
    )
    windows.results.map_batches("hottest", hottest_per_window).sink(
        "out", TestingSink(out, as_batches=True)
    )
    windows.late.sink("late", TestingSink(late, as_batches=True))
    p.run(config)
    rows = _columns(out, ("window_start", "key", "count"))
    rows["window_start"] = rows["window_start"].astype(np.int64)
    return QueryOutput(rows, sum(len(b) for b in late))


def _clock() -> EventClock:
    return EventClock("ts", max_delay=float(ALLOWED_DISORDER_S))


def _columns(batches: list[ColumnBatch], names: tuple[str, ...]) -> dict[str, Any]:
    merged = ColumnBatch.concat(batches) if batches else ColumnBatch({n: [] for n in names})
    return {name: np.asarray(merged[name]) for name in names}


def _queries(make_feed: Callable[[list[ColumnBatch]], Feed]) -> dict[str, Any]:
    return {
        name: (lambda batches, q=query: q(make_feed(batches)))
        for name, query in (("A", query_a), ("B", query_b), ("C", query_c))
    }


IMPLEMENTATION = Implementation(
    name="streamgale", prepare=prepare, queries=_queries(in_memory), libraries=("numpy",)
)

DURABLE = Implementation(
    name="streamgale-durable",
    prepare=prepare,
    queries=_queries(through_durable_log),
    libraries=("numpy",),
)
