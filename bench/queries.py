"""The streaming-core benchmark queries, defined exactly, and the contract for implementations.

Every implementation (pure Python, numpy, polars, Bytewax, StreamGale) must compute exactly
what is written here; ``check.py`` compares their results and the harness fails if they differ.

Input
=====
Events from :mod:`events`, in arrival order: ``(key: int, ts: float seconds, value: float)``.

Watermark and lateness (B and C)
================================
The watermark is ``max event time seen so far - 2 s`` (``ALLOWED_DISORDER_S``); it only moves
forward. An event is *late* when its event time is below the watermark at the moment it arrives;
late events are dropped from every window and counted. A window ``[start, end)`` closes, and is
emitted, once the watermark reaches ``end``; at end of input every open window closes. The
generator's disorder is strictly below 2 s, so no event is late and the results are complete:
the late count must be 0 everywhere (it is compared like any other output). Implementations may
keep one watermark for the whole stream or one per key (Bytewax does): the results are the same.

Query A: map + filter (stateless)
=================================
For each event: ``value2 = value * 1.8 + 32.0`` (exactly this float expression, multiply then
add). Keep the event when ``value2 > 100.0``. Output one row ``(key, ts, value2)`` per kept event.
Compared exactly (same IEEE-754 operations everywhere), as a multiset of rows.

Query B: keyed 10 s tumbling event-time window
==============================================
Windows ``[10 k, 10 (k + 1))`` seconds, aligned to the Unix epoch. Per ``(key, window)`` holding
at least one event: count, sum and max of ``value``. Output rows
``(key, window_start, count, sum, max)``, ``window_start`` an integer number of seconds.
``key``, ``window_start``, ``count`` and ``max`` are compared exactly. ``sum`` is compared with a
relative tolerance of ``SUM_RTOL`` (1e-9): the order of floating-point additions legitimately
differs (per-batch partial sums, parallel group-by, timestamp-ordered folds), and forcing one
order would forbid the vectorised plans the benchmark exists to measure. The largest difference
seen is reported.

Query C: sliding window, hottest key (Nexmark q5 style)
=======================================================
Windows of length 10 s starting every 2 s, aligned to the Unix epoch: ``[2 j, 2 j + 10)``. Each
event belongs to the five windows whose start is in ``(ts - 10, ts]``. Per window holding at least
one event: count events per key, and output one row ``(window_start, key, count)`` for the key with
the most events; ties go to the smallest key. ``window_start`` is an integer number of seconds.
Compared exactly.

Contract for an implementation
==============================
An implementation is an :class:`Implementation`: an untimed ``prepare`` that turns the generated
:class:`events.EventColumns` into whatever this implementation consumes (Python tuples, column
batches...), and one timed function per query taking that prepared input and returning a
:class:`QueryOutput`. Adding an implementation means writing those functions and naming it in
``worker.IMPLEMENTATIONS`` (and ``run_core.DEFAULT_IMPLEMENTATIONS``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

QUERY_NAMES = ("A", "B", "C")

ALLOWED_DISORDER_S = 2
"""The watermark trails the largest event time seen by this many seconds."""

# Query A
A_SCALE = 1.8
A_OFFSET = 32.0
A_THRESHOLD = 100.0
# Query B
TUMBLING_LENGTH_S = 10
# Query C
SLIDING_LENGTH_S = 10
SLIDING_EVERY_S = 2
WINDOWS_PER_EVENT = SLIDING_LENGTH_S // SLIDING_EVERY_S

SUM_RTOL = 1e-9

COLUMNS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "A": (("key", "int64"), ("ts", "float64"), ("value2", "float64")),
    "B": (
        ("key", "int64"),
        ("window_start", "int64"),
        ("count", "int64"),
        ("sum", "float64"),
        ("max", "float64"),
    ),
    "C": (("window_start", "int64"), ("key", "int64"), ("count", "int64")),
}
"""Output columns of each query, in row order, with their canonical dtypes."""

Rows = Sequence[tuple[Any, ...]]
Columns = Mapping[str, npt.NDArray[Any]]


@dataclass
class QueryOutput:
    """What a timed query function returns.

    ``rows`` is either a sequence of tuples in the column order of :data:`COLUMNS`, or a mapping
    from those column names to equal-length arrays. ``late`` counts dropped late events (0 for A).
    """

    rows: Rows | Columns
    late: int = 0


@dataclass(frozen=True)
class Implementation:
    """One way of running the queries.

    ``prepare`` runs before the timer (it builds the input form this implementation consumes
    from the generated columns); each function in ``queries`` is what is timed.
    ``libraries`` names the distributions whose versions are reported with the results.
    """

    name: str
    prepare: Callable[[Any], Any]
    queries: Mapping[str, Callable[[Any], QueryOutput]]
    libraries: tuple[str, ...] = field(default=())


def window_start_tumbling(ts: float) -> int:
    """Return the start (whole seconds) of the query-B window holding event time ``ts``.

    >>> window_start_tumbling(1_700_000_009.999999), window_start_tumbling(1_700_000_010.0)
    (1700000000, 1700000010)
    """
    return int(ts // TUMBLING_LENGTH_S) * TUMBLING_LENGTH_S


def sliding_window_starts(ts: float) -> range:
    """Return the starts (whole seconds) of the five query-C windows holding event time ``ts``.

    >>> list(sliding_window_starts(21.5))
    [12, 14, 16, 18, 20]
    """
    newest = int(ts // SLIDING_EVERY_S)
    first = newest - WINDOWS_PER_EVENT + 1
    return range(first * SLIDING_EVERY_S, (newest + 1) * SLIDING_EVERY_S, SLIDING_EVERY_S)


def empty_columns(query: str) -> dict[str, npt.NDArray[Any]]:
    """Return zero-length canonical columns for ``query``."""
    return {name: np.empty(0, dtype=dtype) for name, dtype in COLUMNS[query]}
