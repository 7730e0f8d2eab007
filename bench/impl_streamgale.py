"""StreamGale implementations of the benchmark queries (to be wired once the dataflow API lands).

Each query will be one StreamGale pipeline fed with ``ColumnBatch`` micro-batches of
``MICRO_BATCH_ROWS`` rows, built from the generated columns in :func:`prepare` (untimed), and
collected with ``streamgale.testing.TestingSink``. The intended API::

    from streamgale import ColumnBatch, Pipeline
    from streamgale.testing import TestingSink, TestingSource
    from streamgale.windowing import Count, EventClock, Max, SlidingWindow, Sum, TumblingWindow

Wiring a query means replacing its function below with one that builds and runs the pipeline
and returns ``QueryOutput(rows, late)``, rows in the column order of ``queries.COLUMNS`` (or a
mapping of those column names to arrays). The harness (``run_core.py``) already runs
``streamgale`` in its own process with ``src/`` on ``PYTHONPATH``, checks its results against
the other implementations, and shows "pending" while these raise ``NotImplementedError``.
"""

from __future__ import annotations

from typing import Any

from events import EventColumns
from queries import Implementation, QueryOutput

MICRO_BATCH_ROWS = 65_536

_PENDING = "wired once streamgale.dataflow lands"


def prepare(columns: EventColumns) -> list[dict[str, Any]]:
    """Cut the columns into micro-batch column mappings of ``MICRO_BATCH_ROWS`` rows (untimed).

    These are views, not copies; the wired version will wrap each in a ``ColumnBatch``.
    """
    cols = columns.as_mapping()
    return [
        {name: col[start : start + MICRO_BATCH_ROWS] for name, col in cols.items()}
        for start in range(0, len(columns), MICRO_BATCH_ROWS)
    ]


def query_a(batches: list[dict[str, Any]]) -> QueryOutput:
    """Map + filter (query A) as a StreamGale pipeline."""
    raise NotImplementedError(_PENDING)


def query_b(batches: list[dict[str, Any]]) -> QueryOutput:
    """Keyed 10 s tumbling count/sum/max (query B) as a StreamGale pipeline."""
    raise NotImplementedError(_PENDING)


def query_c(batches: list[dict[str, Any]]) -> QueryOutput:
    """Sliding-window hottest key (query C) as a StreamGale pipeline."""
    raise NotImplementedError(_PENDING)


IMPLEMENTATION = Implementation(
    name="streamgale",
    prepare=prepare,
    queries={"A": query_a, "B": query_b, "C": query_c},
    libraries=("numpy",),
)
