"""Build small lakes for the SQL tests, straight with pyarrow, in the documented hive layout.

``<root>/<table>/date=YYYY-MM-DD/pipeline=<name>/part-<n>.parquet``; columns a row
leaves out are NULL. No dependency on the lake writer, so these tests pin the layout.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq

from streamgale.lake.schemas import TABLES, arrow_schema

T0 = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
"""A fixed instant the tests count from."""

_parts = itertools.count()


def at(seconds: float) -> dt.datetime:
    """``T0`` plus ``seconds``."""
    return T0 + dt.timedelta(seconds=seconds)


def write_rows(root: Path, table: str, rows: list[dict[str, Any]]) -> list[Path]:
    """Write ``rows`` of ``table`` as one Parquet file per (date, pipeline) partition."""
    partitions: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        partitions[(row["ts"].date().isoformat(), row["pipeline"])].append(row)
    schema = arrow_schema(table)
    written = []
    for (date, pipeline), part in partitions.items():
        folder = root / table / f"date={date}" / f"pipeline={quote(pipeline, safe='')}"
        folder.mkdir(parents=True, exist_ok=True)
        columns = {c: [r.get(c) for r in part] for c in TABLES[table].column_names()}
        path = folder / f"part-{next(_parts):06d}.parquet"
        pq.write_table(pa.table(columns, schema=schema), path)
        written.append(path)
    return written


def telemetry(ts: dt.datetime, stage: str, **fields: Any) -> dict[str, Any]:
    """A telemetry row with sensible defaults for the required columns."""
    row: dict[str, Any] = {
        "ts": ts,
        "pipeline": "radiology",
        "route": "ct-chest",
        "step": "prepare",
        "stage": stage,
        "level": "instance",
        "outcome": "ok",
    }
    row.update(fields)
    return row


def inference(ts: dt.datetime, instance: str, variant: str | None, **fields: Any) -> dict[str, Any]:
    """An inferences row: one model answer for one instance."""
    row: dict[str, Any] = {
        "ts": ts,
        "pipeline": "radiology",
        "route": "ct-chest",
        "study_uid": "1.2.3",
        "instance_uid": instance,
        "model": "lesion",
        "model_version": "1",
        "variant": variant,
        "label": "lesion",
        "probability": 0.5,
        "present": True,
        "queue_ms": 0.0,
        "infer_ms": 10.0,
        "delivered": variant != "b",
    }
    row.update(fields)
    return row
