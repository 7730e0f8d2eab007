"""The dashboard's SQL console and study timelines, over the Parquet lake.

:class:`LakeConsole` opens a :class:`streamgale.sql.SqlEngine` on first use
(DuckDB loads only when someone queries) and shapes its answers for the
browser: JSON values, at most ``max_rows`` rows. :func:`timeline_from_rows`
turns one study's telemetry rows into the bars of its timeline.

>>> rows = [
...     {"stage": "received", "end_ms": 1000.0, "duration_ms": None, "since_received_ms": 0.0},
...     {"stage": "inferred", "end_ms": 1030.0, "duration_ms": 10.0, "since_received_ms": 30.0},
... ]
>>> [(s["stage"], s["start_ms"], s["end_ms"]) for s in timeline_from_rows(rows)]
[('received', 0.0, 0.0), ('inferred', 20.0, 30.0)]
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from streamgale.dashboard.backend import JsonObject
from streamgale.errors import ConfigError, MissingExtraError

__all__ = ["LakeConsole", "timeline_from_rows"]

_TIMELINE_SQL = """
SELECT stage, step, level, instance_uid, outcome, reason,
       epoch_ms(ts) AS end_ms, duration_ms, since_received_ms
FROM telemetry
WHERE study_uid = ?
ORDER BY ts
"""
"""One study's telemetry rows; the columns are the lake contract's, not a report's."""


class LakeConsole:
    """Read-only SQL over the lake at ``lake_root`` for the dashboard; thread-safe."""

    def __init__(
        self,
        lake_root: str | os.PathLike[str],
        *,
        storage_options: Mapping[str, Any] | None = None,
        max_rows: int = 1000,
    ) -> None:
        self.lake_root = lake_root
        self.storage_options = storage_options
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._engine: Any = None

    def sql(self, query: str) -> JsonObject:
        """Run one read-only query; the console's JSON (see ``DashboardBackend.sql``)."""
        if not query.strip():
            raise ConfigError("the query is empty; type a SELECT, e.g. SELECT 42")
        return self._shape(self._open().execute(query))

    def reports(self) -> JsonObject:
        """The canned reports, each with its parameters."""
        reports = _reports_module().REPORTS
        return {
            "reports": [
                {
                    "name": r.name,
                    "title": r.title,
                    "description": r.description,
                    "params": [
                        {"name": p.name, "required": p.required, "help": p.help} for p in r.params
                    ],
                }
                for r in reports.values()
            ]
        }

    def report(self, name: str, params: Mapping[str, Any]) -> JsonObject:
        """Run the canned report ``name``; KeyError when there is none."""
        if name not in _reports_module().REPORTS:
            raise KeyError(f"no report named {name!r}")
        return self._shape(self._open().report(name, **dict(params)))

    def study_rows(self, study_uid: str) -> list[dict[str, Any]]:
        """Every telemetry row of one study, oldest first ([] without rows or without SQL)."""
        try:
            answer = self._open().execute(_TIMELINE_SQL, [study_uid])
        except MissingExtraError:
            return []
        return [dict(row) for row in answer.to_dicts()]

    def close(self) -> None:
        """Close the engine, if it was opened."""
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None

    def _open(self) -> Any:
        with self._lock:
            if self._engine is None:
                self._engine = _reports_module().SqlEngine(
                    self.lake_root, storage_options=self.storage_options
                )
            return self._engine

    def _shape(self, answer: Any) -> JsonObject:
        from streamgale.sql.result import plain_value

        rows = answer.rows[: self.max_rows]
        return {
            "columns": list(answer.columns),
            "rows": [[plain_value(value) for value in row] for row in rows],
            "row_count": len(answer.rows),
            "truncated": len(answer.rows) > self.max_rows,
            "elapsed_ms": round(float(answer.elapsed_ms), 3),
        }


def timeline_from_rows(rows: Sequence[Mapping[str, Any]]) -> list[JsonObject]:
    """Bars per stage, in ms since the study's first arrival, in order of start.

    Each row's stage ended at ``end_ms`` (epoch ms) after ``duration_ms``;
    the origin is the earliest arrival, ``end_ms - since_received_ms``.
    """
    timed = [r for r in rows if r.get("end_ms") is not None]
    if not timed:
        return []
    origin = min(float(r["end_ms"]) - float(r.get("since_received_ms") or 0.0) for r in timed)
    bars: dict[str, JsonObject] = {}
    for row in timed:
        end = float(row["end_ms"]) - origin
        start = end - float(row.get("duration_ms") or 0.0)
        bar = bars.setdefault(
            str(row["stage"]),
            {"stage": str(row["stage"]), "start_ms": start, "end_ms": end, "count": 0},
        )
        bar["start_ms"] = min(bar["start_ms"], start)
        bar["end_ms"] = max(bar["end_ms"], end)
        bar["count"] += 1
    ordered = sorted(bars.values(), key=lambda b: (b["start_ms"], b["end_ms"]))
    for bar in ordered:
        bar["start_ms"], bar["end_ms"] = round(bar["start_ms"], 3), round(bar["end_ms"], 3)
    return ordered


def _reports_module() -> Any:
    """:mod:`streamgale.sql`, or MissingExtraError naming the ``sql`` extra."""
    try:
        from streamgale import sql
    except ImportError as exc:
        raise MissingExtraError("the dashboard's SQL console", "sql", "duckdb") from exc
    return sql
