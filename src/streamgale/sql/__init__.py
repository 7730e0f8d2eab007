"""SQL over the Parquet lake with DuckDB: the ``streamgale sql`` and ``report`` commands' engine.

:class:`SqlEngine` opens an in-process DuckDB connection on a lake root
(local directory or ``s3://…``) where each lake table (``telemetry``,
``inferences``, ``results``) is a view, and runs read-only queries on it.
:data:`REPORTS` holds the canned reports: ``stage-latency``, ``throughput``,
``errors``, ``ab``, ``study`` and ``results``.

Needs the ``sql`` extra (``pip install 'streamgale[sql]'``).
"""

from streamgale.sql.engine import SqlEngine
from streamgale.sql.guard import check_read_only
from streamgale.sql.reports import REPORTS, Param, Report
from streamgale.sql.result import QueryResult, plain_value

__all__ = [
    "REPORTS",
    "Param",
    "QueryResult",
    "Report",
    "SqlEngine",
    "check_read_only",
    "plain_value",
]
