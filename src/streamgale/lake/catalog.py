"""The catalog file, ``<lake root>/_catalog.json``: what the lake holds, for any reader.

It describes every table of :data:`~streamgale.lake.schemas.TABLES` (name,
description, columns with type, meaning and nullability, partition keys,
where its files are) and when each table was first written. Paths in it are
relative to the lake root, so a lake copied elsewhere (a laptop directory
synced to a bucket) keeps a true catalog. Entries the lake does not know,
such as tables a user added with other tools, are kept as they are: the lake
is the user's, and StreamGale only maintains its own tables.

>>> doc = merge_catalog(None)
>>> doc["tables"]["telemetry"]["partition_by"], doc["tables"]["telemetry"]["glob"]
(['date', 'pipeline'], 'telemetry/**/*.parquet')
>>> merge_catalog({"tables": {"mine": {"description": "a user's"}}})["tables"]["mine"]
{'description': "a user's"}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from streamgale.errors import StreamGaleError
from streamgale.lake.layout import LAYOUT, table_glob
from streamgale.lake.schemas import TABLES, TableSpec

__all__ = ["CATALOG_FORMAT", "merge_catalog", "parse_catalog", "render_catalog"]

CATALOG_FORMAT = "streamgale-lake/1"


def _describe(spec: TableSpec, first_written: str | None) -> dict[str, Any]:
    return {
        "name": spec.name,
        "description": spec.description,
        "columns": [
            {
                "name": c.name,
                "type": c.type,
                "description": c.description,
                "nullable": c.nullable,
            }
            for c in spec.columns
        ],
        "partition_by": list(spec.partition_by),
        "path": spec.name,
        "glob": table_glob(spec.name),
        "first_written": first_written,
    }


def merge_catalog(existing: Mapping[str, Any] | None) -> dict[str, Any]:
    """The catalog: today's schemas of the known tables, the rest of ``existing`` kept."""
    existing = dict(existing or {})
    old_tables = dict(existing.get("tables") or {})
    tables: dict[str, Any] = dict(old_tables)
    for name, spec in TABLES.items():
        old = old_tables.get(name)
        first = old.get("first_written") if isinstance(old, Mapping) else None
        tables[name] = _describe(spec, first)
    return {**existing, "format": CATALOG_FORMAT, "layout": LAYOUT, "tables": tables}


def parse_catalog(data: bytes | None, where: str) -> dict[str, Any] | None:
    """The catalog document in ``data``; None when there is no file yet."""
    if data is None:
        return None
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise StreamGaleError(
            f"the lake catalog {where} is not valid JSON ({exc}); move it away and the "
            "lake writes a fresh one on its next write"
        ) from exc
    if not isinstance(document, dict):
        raise StreamGaleError(
            f"the lake catalog {where} holds a {type(document).__name__}, not an object; "
            "move it away and the lake writes a fresh one on its next write"
        )
    return document


def render_catalog(document: Mapping[str, Any]) -> bytes:
    """The bytes of the catalog file: indented, stable key order, UTF-8."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()
