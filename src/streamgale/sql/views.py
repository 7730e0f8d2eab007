"""Where the lake lives and the DuckDB view each lake table becomes.

A table with files is a view over ``read_parquet`` of every Parquet file
under ``<root>/<table>/`` (hive partitions ``date=…/pipeline=…`` become
columns), unioned by name with an empty relation of the catalog's columns
and types. A table with no files yet is that empty relation alone, so
queries bind and return no rows instead of failing on an empty glob.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamgale.errors import require
from streamgale.lake.schemas import TABLES

__all__ = ["LakeLocation", "create_view_sql", "empty_view_sql"]

_DUCKDB_TYPES = {
    "string": "VARCHAR",
    "double": "DOUBLE",
    "int64": "BIGINT",
    "bool": "BOOLEAN",
    "timestamp[us, UTC]": "TIMESTAMPTZ",
}
"""Catalog (Arrow) type names to the DuckDB types ``read_parquet`` gives them."""

_HIVE_TYPES = "{'date': DATE, 'pipeline': VARCHAR}"
"""Fixed partition types: without them DuckDB guesses, and a pipeline named ``007`` is a number."""


@dataclass(frozen=True)
class LakeLocation:
    """A lake root: a local directory or an fsspec URL such as ``s3://bucket/prefix``.

    >>> LakeLocation.parse("/tmp/lake").is_local
    True
    >>> loc = LakeLocation.parse("s3://bucket/lake/")
    >>> (loc.protocol, loc.root, loc.table_glob("telemetry"))
    ('s3', 's3://bucket/lake', 's3://bucket/lake/telemetry/**/*.parquet')
    """

    root: str
    protocol: str | None = None
    storage_options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(
        cls, root: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None
    ) -> LakeLocation:
        """Split ``root`` into protocol and path; ``file://`` and plain paths are local."""
        text = os.fspath(root)
        protocol, sep, rest = text.partition("://")
        if not sep or protocol == "file":
            local = Path(rest if sep else text).expanduser().absolute()
            return cls(local.as_posix(), None, dict(storage_options or {}))
        return cls(f"{protocol}://{rest.rstrip('/')}", protocol, dict(storage_options or {}))

    @property
    def is_local(self) -> bool:
        """True for a directory on this machine."""
        return self.protocol is None

    def table_glob(self, table: str) -> str:
        """The glob that matches every data file of ``table``."""
        return f"{self.root}/{table}/**/*.parquet"

    def filesystem(self) -> Any:
        """The fsspec filesystem of a remote root (needs the ``lake`` extra)."""
        fsspec: Any = require("fsspec", feature="a remote lake", extra="lake")
        return fsspec.filesystem(self.protocol, **self.storage_options)

    def has_files(self, table: str, fs: Any = None) -> bool:
        """Whether ``table`` has at least one data file yet."""
        if self.is_local:
            folder = Path(self.root, table)
            return folder.is_dir() and next(folder.glob("**/*.parquet"), None) is not None
        found: Any = (fs or self.filesystem()).glob(self.table_glob(table))
        return bool(found)


def _quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def create_view_sql(table: str, location: LakeLocation) -> str:
    """``CREATE OR REPLACE VIEW`` over the files of ``table``.

    The files are unioned by name with the typed empty relation, so the view has
    every catalog column even when no file has it yet (files from an older writer),
    and keeps any column newer files add. DuckDB still prunes partitions and
    columns through the union.

    >>> sql = create_view_sql("results", LakeLocation.parse("/lake"))
    >>> sql[:63]
    'CREATE OR REPLACE VIEW "results" AS SELECT * FROM read_parquet('
    >>> "'/lake/results/**/*.parquet'" in sql, "UNION ALL BY NAME SELECT" in sql
    (True, True)
    """
    source = (
        f"read_parquet({_quote(location.table_glob(table))}, hive_partitioning = true, "
        f"union_by_name = true, hive_types = {_HIVE_TYPES})"
    )
    return (
        f'CREATE OR REPLACE VIEW "{table}" AS SELECT * FROM {source} '
        f"UNION ALL BY NAME {_typed_empty(table)}"
    )


def empty_view_sql(table: str) -> str:
    """``CREATE OR REPLACE VIEW`` of ``table`` with its columns and no rows.

    >>> print(empty_view_sql("results")[:80])
    CREATE OR REPLACE VIEW "results" AS SELECT CAST(NULL AS TIMESTAMPTZ) AS "ts", CA
    """
    return f'CREATE OR REPLACE VIEW "{table}" AS {_typed_empty(table)}'


def _typed_empty(table: str) -> str:
    """A SELECT of no rows with ``table``'s catalog columns and the ``date`` partition."""
    columns = [
        f'CAST(NULL AS {_DUCKDB_TYPES[c.type]}) AS "{c.name}"' for c in TABLES[table].columns
    ]
    columns.append('CAST(NULL AS DATE) AS "date"')
    return f"SELECT {', '.join(columns)} WHERE false"
