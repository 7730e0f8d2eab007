"""The lake: Parquet files of telemetry and results, in the user's directory or bucket.

:class:`Lake` writes rows of the tables in :data:`~streamgale.lake.schemas.TABLES`
as Hive-partitioned Parquet (see :mod:`streamgale.lake.layout`), keeps the
catalog file up to date, compacts small files and applies retention. The
files are plain Parquet and the catalog plain JSON, so any engine (DuckDB,
Spark, pandas) reads the lake without StreamGale.

>>> import tempfile
>>> lake = Lake(tempfile.mkdtemp())
>>> paths = lake.write("results", [{"ts": 86400.0, "pipeline": "radiology", "result_id": "r1"}])
>>> [p[len(lake.root) + 1 :][:48] for p in paths]
['results/date=1970-01-02/pipeline=radiology/part-']
>>> lake.catalog()["tables"]["results"]["first_written"] is not None
True
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from streamgale.errors import ConfigError
from streamgale.lake.catalog import merge_catalog, parse_catalog, render_catalog
from streamgale.lake.layout import (
    CATALOG_FILE,
    is_data_file,
    part_name,
    partition_dir,
    table_glob,
)
from streamgale.lake.maintenance import compact_table, expire_table
from streamgale.lake.rows import check_table, rows_to_arrow, split_partitions, table_to_arrow
from streamgale.lake.schemas import TABLES
from streamgale.lake.storage import LakeStorage, open_storage

__all__ = ["Lake"]

DEFAULT_SMALL_BYTES = 32 * 1024 * 1024
"""Files under this size are merged by compaction; larger ones are already efficient."""
DEFAULT_MIN_AGE_SECONDS = 60.0
"""Compaction leaves files this young alone (a restarting sink may still remove them)."""


class Lake:
    """A Parquet lake at ``root``: a local directory or an fsspec URL.

    ``storage_options`` go to fsspec for URLs, e.g. for an S3-compatible
    server ``{"endpoint_url": "http://127.0.0.1:9000", "key": ..., "secret": ...}``.
    Writes are atomic per file; a :meth:`write` that fails part way removes
    the files it already wrote, so a retry stores each row once.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.storage: LakeStorage = open_storage(root, storage_options)
        self._cataloged: set[str] = set()

    @property
    def root(self) -> str:
        """The root as given: a directory or a URL."""
        return self.storage.root

    def __repr__(self) -> str:
        return f"Lake({self.root!r})"

    # Writing ---------------------------------------------------------------
    def write(self, table: str, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Store ``rows`` (dicts of column values) in ``table``; the paths written.

        Rows are split by the UTC date of ``ts`` and by ``pipeline``, one file
        per partition. See :mod:`streamgale.lake.rows` for what a row may hold.
        """
        return self.write_arrow(table, rows_to_arrow(table, rows))

    def write_arrow(
        self,
        table: str,
        data: Any,
        *,
        before_write: Callable[[list[str]], None] | None = None,
    ) -> list[str]:
        """Store an Arrow table's rows in ``table``; the paths written.

        Missing nullable columns are null; ``ts`` may be a timestamp column or
        unix seconds. ``before_write``, if given, is called with the paths
        (relative to the root) before any file is written: the lake sink
        journals them so a restart can remove what its last checkpoint did
        not cover.
        """
        check_table(table)
        parts = split_partitions(table_to_arrow(table, data))
        if not parts:
            return []
        now = datetime.now(UTC)
        planned = [
            (f"{partition_dir(table, day, pipe)}/{part_name(now)}", rows)
            for day, pipe, rows in parts
        ]
        if before_write is not None:
            before_write([path for path, _ in planned])
        written: list[str] = []
        try:
            for path, rows in planned:
                self.storage.write_parquet(path, rows)
                written.append(path)
        except BaseException:
            # All or nothing, so that a retry stores each row once. Best effort:
            # the store may be what failed, and the first error is the one to see.
            for path in written:
                with contextlib.suppress(Exception):
                    self.storage.delete(path)
            raise
        self._note_written(table, now)
        return [self.storage.url(path) for path in written]

    # The catalog -------------------------------------------------------------
    def catalog(self) -> dict[str, Any]:
        """The catalog: the stored ``_catalog.json`` brought up to date with the schemas."""
        stored = parse_catalog(
            self.storage.read_bytes(CATALOG_FILE), self.storage.url(CATALOG_FILE)
        )
        return merge_catalog(stored)

    def _note_written(self, table: str, now: datetime) -> None:
        """Record the table in the catalog file the first time this lake writes it."""
        if table in self._cataloged:
            return
        stored = parse_catalog(
            self.storage.read_bytes(CATALOG_FILE), self.storage.url(CATALOG_FILE)
        )
        document = merge_catalog(stored)
        entry = document["tables"][table]
        if entry["first_written"] is None:
            entry["first_written"] = now.isoformat()
        if document != stored:
            self.storage.write_bytes(CATALOG_FILE, render_catalog(document))
        self._cataloged.add(table)

    # Reading helpers ---------------------------------------------------------
    def files(self, table: str) -> list[str]:
        """Paths (or URLs) of every data file of ``table``, sorted."""
        check_table(table)
        return [
            self.storage.url(f.path)
            for f in self.storage.list_files(table)
            if is_data_file(f.path.rpartition("/")[2])
        ]

    def usage(self, table: str) -> dict[str, int]:
        """``{"files": n, "bytes": total}`` of ``table``'s data files."""
        check_table(table)
        sizes = [
            f.size
            for f in self.storage.list_files(table)
            if is_data_file(f.path.rpartition("/")[2])
        ]
        return {"files": len(sizes), "bytes": sum(sizes)}

    def url_for(self, table: str) -> str:
        """The directory (or URL prefix) holding ``table``'s partitions."""
        check_table(table)
        return self.storage.url(table)

    def glob_for(self, table: str) -> str:
        """The glob a query engine reads, e.g. ``<root>/telemetry/**/*.parquet``."""
        check_table(table)
        return self.storage.url(table_glob(table))

    # Maintenance -------------------------------------------------------------
    def compact(
        self,
        table: str | None = None,
        *,
        min_files: int = 8,
        small_bytes: int = DEFAULT_SMALL_BYTES,
        min_age_seconds: float = DEFAULT_MIN_AGE_SECONDS,
        now: datetime | None = None,
    ) -> int:
        """Merge small files in every partition with ``min_files`` of them.

        Works on ``table`` or on every table. Returns the number of files
        removed. See :mod:`streamgale.lake.maintenance` for why a crash loses
        no row and leaves no lasting duplicate.
        """
        if min_files < 2:
            raise ConfigError(f"must be 2 or more; got {min_files}", key="min_files")
        if min_age_seconds < 0:
            raise ConfigError(f"must be >= 0; got {min_age_seconds}", key="min_age_seconds")
        tables = [check_table(table).name] if table is not None else sorted(TABLES)
        when = _utc(now)
        return sum(
            compact_table(
                self.storage,
                name,
                min_files=min_files,
                small_bytes=small_bytes,
                min_age_seconds=min_age_seconds,
                now=when,
            )
            for name in tables
        )

    def apply_retention(
        self, days: float, *, now: datetime | None = None, table: str | None = None
    ) -> int:
        """Delete date partitions whose day ended more than ``days`` ago; how many.

        Works on ``table`` or on every table of the lake.
        """
        if not days > 0:
            raise ConfigError(f"must be a number of days > 0; got {days!r}", key="days")
        tables = [check_table(table).name] if table is not None else sorted(TABLES)
        when = _utc(now)
        return sum(expire_table(self.storage, name, days=days, now=when) for name in tables)


def _utc(now: datetime | None) -> datetime:
    """``now`` (naive means UTC), or the current time."""
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)
