"""SQL over the lake: one in-process DuckDB connection with a view per lake table.

The views glob the lake's files at every query, so a file the pipeline
lands is in the next answer without reopening anything; only a table that
had no files at all is re-checked (its view is a typed empty relation until
then). After the views exist the connection is locked down: file access is
limited to the lake (``allowed_directories`` + ``enable_external_access =
false``), extensions cannot be installed, and the configuration is locked,
so the dashboard can hand user SQL to :meth:`SqlEngine.execute`, which also
admits only a single read-only query (:mod:`streamgale.sql.guard`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, cast

from streamgale.errors import ConfigError, QueryError, StreamGaleError, require
from streamgale.lake.schemas import TABLES
from streamgale.sql.guard import check_read_only
from streamgale.sql.reports import REPORTS
from streamgale.sql.result import QueryResult
from streamgale.sql.views import LakeLocation, create_view_sql, empty_view_sql

__all__ = ["SqlEngine"]

_HINT = (
    "the lake's tables are {tables} (list their columns with `streamgale lake tables` "
    "or DESCRIBE <table>)"
)


class SqlEngine:
    """Read-only SQL over a lake at ``lake_root`` (a directory or ``s3://bucket/prefix``).

    ``storage_options`` go to the fsspec filesystem of a remote root (for S3:
    ``key``, ``secret``, ``endpoint_url``…). Calls are serialised with a lock,
    so one engine can serve a threaded web server.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as lake, SqlEngine(lake) as sql:
    ...     empty = sql.report("stage-latency")
    ...     one = sql.execute("SELECT count(*) AS n FROM telemetry")
    >>> (len(empty.rows), empty.columns[:3], one.rows)
    (0, ('pipeline', 'route', 'stage'), [(0,)])
    """

    def __init__(
        self,
        lake_root: str | os.PathLike[str],
        *,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.location = LakeLocation.parse(lake_root, storage_options)
        self._duckdb: Any = cast(Any, require("duckdb", feature="SQL over the lake", extra="sql"))
        self._lock = threading.Lock()
        self._fs: Any = None if self.location.is_local else self.location.filesystem()
        self._empty: set[str] = set(TABLES)
        self._closed = False
        self._con: Any = self._duckdb.connect(":memory:")
        try:
            self._configure()
            self._create_views(set(TABLES))
            self._lock_down()
        except BaseException:
            self._con.close()
            raise

    def __enter__(self) -> SqlEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def tables(self) -> tuple[str, ...]:
        """The lake tables, each a view of the same name."""
        return tuple(TABLES)

    @property
    def empty_tables(self) -> frozenset[str]:
        """Tables with no files at the last check (their views return no rows)."""
        return frozenset(self._empty)

    def close(self) -> None:
        """Close the connection; the engine cannot be used afterwards."""
        with self._lock:
            self._closed = True
            self._con.close()

    def refresh(self) -> None:
        """Recreate every view (for a table whose files all went, or came, since the last look).

        :meth:`execute` already re-checks empty tables and recovers from vanished files,
        so this is for callers that want the views rebuilt at a moment of their choosing.
        """
        with self._lock:
            if self._closed:
                raise QueryError("the SQL engine is closed; open a new SqlEngine")
            self._create_views(set(TABLES))

    def execute(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> QueryResult:
        """Run one read-only query; ``params`` fill ``?`` (a sequence) or ``$name`` (a mapping).

        A refused statement or a failing query raises
        :class:`~streamgale.errors.QueryError` with DuckDB's message.
        """
        with self._lock:
            if self._closed:
                raise QueryError("the SQL engine is closed; open a new SqlEngine")
            check_read_only(self._con, sql)
            start = time.perf_counter()
            if self._fs is not None:
                self._fs.invalidate_cache()  # s3fs caches listings; the views glob anew
            if self._empty:
                self._create_views(set(self._empty))
            table = self._run_retrying(sql, params)
            columns = tuple(str(name) for name in table.column_names)
            rows = list(zip(*(column.to_pylist() for column in table.columns), strict=True))
            elapsed_ms = (time.perf_counter() - start) * 1000.0
        return QueryResult(columns, rows, elapsed_ms)

    def report(self, name: str, **params: Any) -> QueryResult:
        """Run the canned report ``name`` (see :data:`~streamgale.sql.REPORTS`) with ``params``."""
        found = REPORTS.get(name)
        if found is None:
            known = ", ".join(REPORTS)
            raise ConfigError(f"no report named '{name}'; the reports are: {known}")
        return self.execute(found.sql, found.bind(**params))

    def _configure(self) -> None:
        # UTC so date_trunc('minute', ts) and the ISO output agree with the lake's partitions;
        # no extension downloads (offline machines would hang on them); the metadata cache
        # spares re-reading every file footer on a dashboard that polls.
        for statement in (
            "SET TimeZone = 'UTC'",
            "SET autoinstall_known_extensions = false",
            "SET parquet_metadata_cache = true",
        ):
            self._con.execute(statement)
        if self._fs is not None:
            self._con.register_filesystem(self._fs)

    def _lock_down(self) -> None:
        root = self.location.root.rstrip("/") + "/"
        self._con.execute("SET allowed_directories = [$root]", {"root": root})
        self._con.execute("SET enable_external_access = false")
        self._con.execute("SET lock_configuration = true")

    def _create_views(self, tables: set[str]) -> None:
        if self._fs is not None:
            self._fs.invalidate_cache()  # s3fs caches listings; new files must show
        for table in sorted(tables):
            if self.location.has_files(table, self._fs):
                self._con.execute(create_view_sql(table, self.location))
                self._empty.discard(table)
            else:
                self._con.execute(empty_view_sql(table))
                self._empty.add(table)

    def _run_retrying(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None) -> Any:
        """The query's Arrow table; retried once when files changed under it.

        Compaction and retention delete files: a query that globbed a file just
        before it went fails with an IO error, and the second try sees the new set.
        """
        try:
            return self._run(sql, params)
        except self._duckdb.IOException:
            self._create_views(set(TABLES))
        try:
            return self._run(sql, params)
        except self._duckdb.Error as exc:
            raise self._query_error(exc) from exc

    def _run(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None) -> Any:
        try:
            relation = self._con.sql(sql, params=params)
            # duckdb 2 names it to_arrow_table; 1.x has fetch_arrow_table only
            fetch = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
            return fetch()
        except self._duckdb.IOException:
            raise
        except self._duckdb.Error as exc:
            raise self._query_error(exc) from exc

    def _query_error(self, exc: BaseException) -> StreamGaleError:
        text = " ".join(str(exc).split())
        if isinstance(exc, self._duckdb.PermissionException):
            return QueryError(
                f"refused: the SQL console reads only the lake at {self.location.root} "
                f"(DuckDB said: {text})"
            )
        hint = _HINT.format(tables=", ".join(TABLES))
        return QueryError(f"the query failed: {text}; {hint}")
