"""Rows into Arrow tables of a lake table's schema, and tables into partitions.

Rows are dicts keyed by column name (a ``"table"`` key naming the table is
allowed and dropped). A missing nullable column is null; a missing required
column, or a key the table does not have, is refused with a message naming
the table's columns. ``ts`` may be a unix time in seconds, a datetime (naive
means UTC) or an ISO 8601 string; it is stored as a UTC timestamp.

>>> t = rows_to_arrow("results", [{"ts": 0, "pipeline": "p", "result_id": "r1"}])
>>> t.column("ts")[0].as_py().isoformat(), t.column("label")[0].as_py()
('1970-01-01T00:00:00+00:00', None)
>>> [(day, pipeline, part.num_rows) for day, pipeline, part in split_partitions(t)]
[('1970-01-01', 'p', 1)]
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from streamgale.errors import ConfigError, StreamGaleError
from streamgale.lake.schemas import TABLES, TableSpec, arrow_schema
from streamgale.lake.storage import pyarrow_modules

__all__ = ["check_table", "rows_to_arrow", "split_partitions", "table_to_arrow", "ts_micros"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_TABLE_KEY = "table"
"""Rows in a stream name their table under this key; it is not a column."""


def check_table(table: str) -> TableSpec:
    """The spec of ``table``, or a ConfigError naming the known tables."""
    spec = TABLES.get(table)
    if spec is None:
        raise ConfigError(
            f"unknown lake table {table!r}; the lake has the tables {sorted(TABLES)} "
            "(add a table to streamgale.lake.schemas.TABLES to store another kind of row)",
            key="table",
        )
    return spec


def _check_columns(spec: TableSpec, names: Iterable[str]) -> None:
    unknown = sorted(set(names) - set(spec.column_names()) - {_TABLE_KEY})
    if unknown:
        raise ConfigError(
            f"table '{spec.name}' has no column(s) {unknown}; its columns are "
            f"{list(spec.column_names())}; drop those keys, or add the columns to "
            "streamgale.lake.schemas",
            key=unknown[0],
        )


def ts_micros(value: Any) -> int:
    """Microseconds since the epoch (UTC) of a unix time, datetime or ISO string.

    >>> ts_micros(1.5), ts_micros("1970-01-01T01:00:00+01:00"), ts_micros(datetime(1970, 1, 2))
    (1500000, 0, 86400000000)
    """
    if isinstance(value, bool):
        raise TypeError("a bool is not a time")
    if isinstance(value, numbers.Real):
        return round(float(value) * 1_000_000)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # naive times are taken as UTC
        micros: int = (value - _EPOCH) // _MICRO
        return micros
    raise TypeError(f"a {type(value).__name__} is not a time")


def _ts_column(rows: Sequence[Mapping[str, Any]], table: str) -> list[int]:
    micros = []
    for index, row in enumerate(rows):
        value = row.get("ts")
        try:
            if value is None:
                raise TypeError("it is missing")
            micros.append(ts_micros(value))
        except (TypeError, ValueError, OverflowError) as exc:
            raise StreamGaleError(
                f"row {index} for table '{table}' has ts={value!r}, which is not a time "
                f"({exc}); give ts as unix seconds, a datetime or an ISO 8601 string"
            ) from exc
    return micros


def rows_to_arrow(table: str, rows: Sequence[Mapping[str, Any]]) -> Any:
    """An Arrow table with ``table``'s schema holding ``rows``."""
    pa, _ = pyarrow_modules()
    spec = check_table(table)
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise StreamGaleError(
                f"row {index} for table '{table}' is a {type(row).__name__}, not a dict; "
                "the lake stores rows as dicts of column values"
            )
        _check_columns(spec, row)
        named = row.get(_TABLE_KEY, table)
        if named != table:
            raise StreamGaleError(
                f"row {index} names table {named!r} but is being written to '{table}'; "
                "write rows of each table separately"
            )
    schema = arrow_schema(table)
    arrays = []
    for field in schema:
        if field.name == "ts":
            values: list[Any] = _ts_column(rows, table)
        else:
            values = [row.get(field.name) for row in rows]
        try:
            arrays.append(pa.array(values, type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise StreamGaleError(
                f"column '{field.name}' of table '{table}' must hold {field.type} values: {exc}"
            ) from exc
    return _checked(pa.Table.from_arrays(arrays, schema=schema), spec)


def table_to_arrow(table: str, data: Any) -> Any:
    """``data`` (an Arrow table) cast to ``table``'s schema, with null for missing columns."""
    pa, _ = pyarrow_modules()
    spec = check_table(table)
    _check_columns(spec, data.column_names)
    schema = arrow_schema(table)
    arrays = []
    for field in schema:
        if field.name not in data.column_names:
            arrays.append(pa.nulls(data.num_rows, type=field.type))
            continue
        column = data.column(field.name)
        try:
            if field.name == "ts":
                column = _arrow_ts(column)
            elif column.type != field.type:  # casting to the same type still copies
                column = column.cast(field.type)
            arrays.append(column)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise StreamGaleError(
                f"column '{field.name}' of table '{table}' is {column.type}, which cannot be "
                f"cast to {field.type}: {exc}"
            ) from exc
    return _checked(pa.Table.from_arrays(arrays, schema=schema), spec)


def _arrow_ts(column: Any) -> Any:
    """A ts column as UTC microseconds: timestamps are cast, numbers are unix seconds."""
    pa, _ = pyarrow_modules()
    import pyarrow.compute as pc

    target = pa.timestamp("us", tz="UTC")
    if pa.types.is_timestamp(column.type):
        return column.cast(target)  # a naive timestamp is taken as UTC
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        if column.null_count == 0:  # numpy does this in one pass, which matters at 10M rows
            seconds = column.to_numpy().astype(np.float64, copy=False)
            return pa.array(np.rint(seconds * 1_000_000).astype(np.int64), type=target)
        micros = pc.round(pc.multiply(column.cast(pa.float64()), 1_000_000))
        return micros.cast(pa.int64()).cast(target)
    values = [None if v is None else ts_micros(v) for v in column.to_pylist()]
    return pa.array(values, type=target)


def _checked(data: Any, spec: TableSpec) -> Any:
    """``data``, once every required column is known to hold no null."""
    for column in spec.columns:
        if not column.nullable and data.column(column.name).null_count:
            nulls = data.column(column.name).is_null().to_pylist()
            raise StreamGaleError(
                f"row {nulls.index(True)} for table '{spec.name}' has no value for the "
                f"required column '{column.name}' ({column.description})"
            )
    return data


def split_partitions(data: Any) -> list[tuple[str, str, Any]]:
    """``(UTC date, pipeline, rows)`` for each partition the rows of ``data`` fall in."""
    pa, _ = pyarrow_modules()
    import pyarrow.compute as pc

    if data.num_rows == 0:
        return []
    days = data.column("ts").cast(pa.date32())
    keys = pa.table({"day": days, "pipeline": data.column("pipeline")})
    groups = keys.group_by(["day", "pipeline"], use_threads=False).aggregate([]).to_pylist()
    if len(groups) == 1:  # the common case: no filtering, no copy
        return [(groups[0]["day"].isoformat(), groups[0]["pipeline"], data)]
    parts = []
    for group in sorted(groups, key=lambda g: (g["day"], g["pipeline"])):
        mask = pc.and_(
            pc.equal(days, pa.scalar(group["day"], pa.date32())),
            pc.equal(data.column("pipeline"), group["pipeline"]),
        )
        parts.append((group["day"].isoformat(), group["pipeline"], data.filter(mask)))
    return parts
