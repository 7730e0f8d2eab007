"""A query's answer: column names, rows, time taken, and its CSV and JSON forms.

DuckDB hands back timestamps, dates, decimals, intervals, lists and structs;
CSV and JSON get them as plain text and numbers (timestamps in ISO 8601),
so a browser or a spreadsheet reads them without knowing DuckDB.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["QueryResult", "plain_value"]


@dataclass(frozen=True)
class QueryResult:
    """Rows of one query, in order, with the milliseconds the query took.

    >>> r = QueryResult(("stage", "p50"), [("inferred", 5.5)], elapsed_ms=1.0)
    >>> r.to_dicts()
    [{'stage': 'inferred', 'p50': 5.5}]
    >>> print(r.to_csv(), end="")
    stage,p50
    inferred,5.5
    >>> r.to_json()
    '[{"stage": "inferred", "p50": 5.5}]'
    """

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    elapsed_ms: float

    def to_dicts(self) -> list[dict[str, Any]]:
        """One dict per row, keyed by column name (Python values as DuckDB gave them)."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_csv(self) -> str:
        """RFC 4180 CSV with a header row; NULL is an empty field, lists and structs are JSON."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow(_csv_field(value) for value in row)
        return out.getvalue()

    def to_json(self) -> str:
        """A JSON array of objects; timestamps are ISO 8601, NaN and infinity are null."""
        rows = [{c: plain_value(v) for c, v in zip(self.columns, row, strict=True)} for row in self]
        return json.dumps(rows, allow_nan=False)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def plain_value(value: Any) -> Any:
    """``value`` as JSON-ready Python: str, int, float, bool, None, list or dict.

    >>> import datetime as dt
    >>> plain_value(dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc))
    '2024-05-01T12:30:00+00:00'
    >>> plain_value([float("nan"), {"k": dt.date(2024, 5, 1)}])
    [None, {'k': '2024-05-01'}]
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_value(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _csv_field(value: Any) -> Any:
    plain = plain_value(value)
    if isinstance(plain, list | dict):
        return json.dumps(plain)
    return "" if plain is None else plain
