"""The lake's tables: their columns, types and meaning, in one place.

Everything that writes or reads the lake (the telemetry landing step, the
SQL views, the catalog file, the dashboard) takes its schema from
:data:`TABLES`, so a column is added here once. Types are named with Arrow's
vocabulary but kept as strings, so importing this module needs no pyarrow.

>>> [c.name for c in TABLES["telemetry"].columns][:4]
['ts', 'pipeline', 'route', 'step']
>>> TABLES["results"].partition_by, TABLES["results"].key
(('date', 'pipeline'), ('result_id', 'version'))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["STAGES", "TABLES", "Column", "TableSpec", "arrow_schema"]


@dataclass(frozen=True)
class Column:
    """One column: its name, Arrow type name and what it means."""

    name: str
    type: str
    description: str
    nullable: bool = True


@dataclass(frozen=True)
class TableSpec:
    """One lake table: rows partitioned by the UTC date of ``ts`` and the pipeline.

    ``key`` names the columns that identify a row: the lake sink lands a row
    whose key it already landed only once (producers record at least once,
    so a replay after a crash records the same row again).
    """

    name: str
    description: str
    columns: tuple[Column, ...]
    partition_by: tuple[str, ...] = ("date", "pipeline")
    key: tuple[str, ...] = ()

    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


STAGES = (
    "received",
    "validated",
    "deidentified",
    "preprocessed",
    "inferred",
    "finalized",
    "delivered",
    "failed",
    "quarantined",
)
"""Lifecycle stages a record passes through, in pipeline order (the last two end it)."""

_TS = Column("ts", "timestamp[us, UTC]", "when the stage or result ended", nullable=False)
_PIPELINE = Column("pipeline", "string", "pipeline name", nullable=False)
_ROUTE = Column("route", "string", "route that sent the record here")
_STUDY = Column("study_uid", "string", "Study Instance UID")
_SERIES = Column("series_uid", "string", "Series Instance UID")
_INSTANCE = Column("instance_uid", "string", "SOP Instance UID (the record id elsewhere)")
_MODEL = Column("model", "string", "model name")
_MODEL_VERSION = Column("model_version", "string", "model version")
_VARIANT = Column("variant", "string", "A/B arm ('a' or 'b'); null without A/B testing")
_LABEL = Column("label", "string", "finding label")
_PROBABILITY = Column("probability", "double", "model output for the label")
_PRESENT = Column("present", "bool", "probability at or over the model's threshold")
_DELIVERED = Column("delivered", "bool", "sent to destinations (false for a shadow arm)")

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "telemetry",
            "one row per lifecycle stage of each instance, series and study",
            (
                _TS,
                _PIPELINE,
                _ROUTE,
                Column("step", "string", "dataflow step id", nullable=False),
                Column("stage", "string", "lifecycle stage: " + ", ".join(STAGES), False),
                Column("level", "string", "instance, series or study", nullable=False),
                _STUDY,
                _SERIES,
                _INSTANCE,
                _MODEL,
                _MODEL_VERSION,
                _VARIANT,
                Column("duration_ms", "double", "time spent in this stage"),
                Column("since_received_ms", "double", "arrival at the door to this stage's end"),
                Column("size_bytes", "int64", "bytes of the record at this stage"),
                Column("outcome", "string", "ok, failed, quarantined or refused", False),
                Column("reason", "string", "why it failed, was quarantined or refused"),
                Column("event_id", "string", "id of the event, the same when it is recorded again"),
            ),
            key=("event_id",),
        ),
        TableSpec(
            "inferences",
            "one row per instance per model: what the model said and how fast",
            (
                _TS,
                _PIPELINE,
                _ROUTE,
                _STUDY,
                _SERIES,
                _INSTANCE,
                _MODEL,
                _MODEL_VERSION,
                _VARIANT,
                _LABEL,
                _PROBABILITY,
                _PRESENT,
                Column("queue_ms", "double", "wait in the dynamic batcher"),
                Column("infer_ms", "double", "model run time, per instance share of the batch"),
                _DELIVERED,
            ),
            key=("instance_uid", "model", "model_version"),
        ),
        TableSpec(
            "results",
            "one row per study result (JSON, SR and SEG) a model produced",
            (
                _TS,
                _PIPELINE,
                _ROUTE,
                _STUDY,
                Column("result_id", "string", "stable id of this result", nullable=False),
                _MODEL,
                _MODEL_VERSION,
                _VARIANT,
                Column("version", "int64", "1, then +1 for each update (a late series)"),
                _LABEL,
                _PROBABILITY,
                _PRESENT,
                Column("instances", "int64", "instances the result covers"),
                Column("quarantined", "int64", "instances of the study that were quarantined"),
                Column("last_instance_to_result_ms", "double", "last arrival to result stored"),
                Column("total_ms", "double", "first arrival to result stored"),
                Column("sr_path", "string", "where the Structured Report was kept"),
                Column("seg_path", "string", "where the Segmentation was kept"),
                _DELIVERED,
            ),
            key=("result_id", "version"),
        ),
    )
}


def arrow_schema(table: str) -> Any:
    """The pyarrow schema of ``table`` (needs the ``lake`` extra).

    >>> arrow_schema("telemetry").field("ts").type
    TimestampType(timestamp[us, tz=UTC])
    """
    from streamgale.errors import require

    pa: Any = require("pyarrow", feature="the Parquet lake", extra="lake")
    types = {
        "string": pa.string(),
        "double": pa.float64(),
        "int64": pa.int64(),
        "bool": pa.bool_(),
        "timestamp[us, UTC]": pa.timestamp("us", tz="UTC"),
    }
    spec = TABLES[table]
    return pa.schema([pa.field(c.name, types[c.type], nullable=c.nullable) for c in spec.columns])
