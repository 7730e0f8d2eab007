"""Bytewax 0.21.1 dataflows for the benchmark queries (runs only in the bench venv).

Bytewax pins its own dependencies, so it lives in ``.bench-venv`` and ``run_core.py`` runs this
module's queries in a child process with that interpreter. Each query builds a dataflow over a
``TestingSource`` of ``(key, ts, value)`` tuples, runs it on one worker with ``run_main`` and
collects the output with ``TestingSink``. Choices, each made to give Bytewax its best fair shot:

* Input batches of ``BATCH_SIZE`` items (the ``TestingSource`` default of 1 is far slower).
* The ``EventClock`` gets a frozen ``now_getter`` and a ``to_system_utc`` that returns ``None``,
  so its watermark is exactly "max event time - 2 s", driven by events alone, as the queries
  define it. With the default system clock the watermark would also creep forward with wall time
  and could drop events as late depending on machine speed.
* Window folds use ``ordered=False``: the aggregates do not depend on order, and ordering costs
  Bytewax a sort per batch.
* Event times are converted to ``datetime`` inside ``ts_getter``, as a real pipeline must.
* Query B is keyed by event key (idiomatic). Bytewax keeps one clock per key, so a window closes
  when that key sees a later event (or at end of input); the results are the same.
* Query C keys the whole stream on one key: with per-key clocks, a second keyed stage could not
  know when every key has reported a window until end of input. One key gives one global
  watermark, so each window's counts (a dict per window) are complete when it closes, and the
  hottest key is picked as it is emitted.
* Late items (there must be none) are collected from the ``late`` stream and counted.

The output is flattened into the query's row tuples inside the timed section (negligible next
to the dataflow itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.operators.windowing import (
    EventClock,
    SlidingWindower,
    TumblingWindower,
    fold_window,
)
from bytewax.testing import TestingSink, TestingSource, run_main

from events import EventColumns, iter_tuples
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

BATCH_SIZE = 65_536
"""Items per input batch: StreamGale's micro-batch size; the fastest of 1k, 10k, 64k for B."""

Event = tuple[int, float, float]

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FROM_TS = datetime.fromtimestamp


def prepare(columns: EventColumns) -> list[Event]:
    """Materialise the events as ``(key, ts, value)`` tuples (untimed)."""
    return list(iter_tuples(columns))


def _event_time(event: Event) -> datetime:
    return _FROM_TS(event[1], UTC)


def _frozen_now() -> datetime:
    return _UNIX_EPOCH


def _never(_at: datetime) -> None:
    return None


def _clock() -> EventClock[Event]:
    return EventClock(
        ts_getter=_event_time,
        wait_for_system_duration=timedelta(seconds=ALLOWED_DISORDER_S),
        now_getter=_frozen_now,
        to_system_utc=_never,
    )


def query_a(events: Sequence[Event]) -> QueryOutput:
    """Map + filter."""
    flow = Dataflow("bench_a")
    source = op.input("events", flow, TestingSource(events, BATCH_SIZE))
    mapped = op.map("to_f", source, lambda e: (e[0], e[1], e[2] * A_SCALE + A_OFFSET))
    kept = op.filter("hot", mapped, lambda e: e[2] > A_THRESHOLD)
    rows: list[Event] = []
    op.output("out", kept, TestingSink(rows))
    run_main(flow)
    return QueryOutput(rows)


def _new_stats() -> list[float]:
    return [0, 0.0, -float("inf")]


def _add_to_stats(stats: list[float], event: Event) -> list[float]:
    value = event[2]
    stats[0] += 1
    stats[1] += value
    if value > stats[2]:
        stats[2] = value
    return stats


def _merge_stats(a: list[float], b: list[float]) -> list[float]:
    return [a[0] + b[0], a[1] + b[1], max(a[2], b[2])]


def query_b(events: Sequence[Event]) -> QueryOutput:
    """Keyed 10 s tumbling windows: count, sum, max per key."""
    flow = Dataflow("bench_b")
    source = op.input("events", flow, TestingSource(events, BATCH_SIZE))
    keyed = op.key_on("by_key", source, lambda e: str(e[0]))
    windower = TumblingWindower(length=timedelta(seconds=TUMBLING_LENGTH_S), align_to=_UNIX_EPOCH)
    stats = fold_window(
        "stats", keyed, _clock(), windower, _new_stats, _add_to_stats, _merge_stats, ordered=False
    )
    raw: list[tuple[str, tuple[int, list[float]]]] = []
    late: list[Any] = []
    op.output("out", stats.down, TestingSink(raw))
    op.output("late", stats.late, TestingSink(late))
    run_main(flow)
    # Window ids count windows since the Unix epoch, so id * length is the window start.
    rows = [(int(key), wid * TUMBLING_LENGTH_S, int(s[0]), s[1], s[2]) for key, (wid, s) in raw]
    return QueryOutput(rows, len(late))


def _new_counts() -> dict[int, int]:
    return {}


def _count_key(counts: dict[int, int], event: Event) -> dict[int, int]:
    key = event[0]
    counts[key] = counts.get(key, 0) + 1
    return counts


def _merge_counts(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    for key, n in b.items():
        a[key] = a.get(key, 0) + n
    return a


def _hottest(item: tuple[str, tuple[int, dict[int, int]]]) -> tuple[int, int, int]:
    _all, (window_id, counts) = item
    best_key, best_count = -1, 0
    for key, count in counts.items():
        if count > best_count or (count == best_count and key < best_key):
            best_key, best_count = key, count
    return (window_id * SLIDING_EVERY_S, best_key, best_count)


def query_c(events: Sequence[Event]) -> QueryOutput:
    """10 s windows every 2 s: the key with most events per window (ties: smallest key)."""
    flow = Dataflow("bench_c")
    source = op.input("events", flow, TestingSource(events, BATCH_SIZE))
    one_key = op.key_on("all", source, lambda _e: "all")
    windower = SlidingWindower(
        length=timedelta(seconds=SLIDING_LENGTH_S),
        offset=timedelta(seconds=SLIDING_EVERY_S),
        align_to=_UNIX_EPOCH,
    )
    counts = fold_window(
        "counts", one_key, _clock(), windower, _new_counts, _count_key, _merge_counts, ordered=False
    )
    hottest = op.map("hottest", counts.down, _hottest)
    rows: list[tuple[int, int, int]] = []
    late: list[Any] = []
    op.output("out", hottest, TestingSink(rows))
    op.output("late", counts.late, TestingSink(late))
    run_main(flow)
    # A late event shows up once per window it would have joined; count events, not entries.
    return QueryOutput(rows, len({id(event) for _all, (_wid, event) in late}))


IMPLEMENTATION = Implementation(
    name="bytewax",
    prepare=prepare,
    queries={"A": query_a, "B": query_b, "C": query_c},
    libraries=("bytewax", "numpy"),
)
