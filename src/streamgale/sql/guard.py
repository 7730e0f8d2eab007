"""The read-only gate: which SQL the engine agrees to run.

The dashboard's SQL console hands user text to :meth:`SqlEngine.execute`, so
the text must be exactly one query: ``SELECT`` (``WITH``, ``FROM …``,
``VALUES`` and ``TABLE`` are parsed as selects), ``DESCRIBE``, ``SHOW``,
``SUMMARIZE``, or ``EXPLAIN`` of one of those. DuckDB's own parser decides,
so a keyword in a comment or a string cannot fool it. ``EXPLAIN ANALYZE``
runs the statement it explains, which is why what follows ``EXPLAIN`` is
checked too.
"""

from __future__ import annotations

import re
from typing import Any

from streamgale.errors import QueryError

__all__ = ["ALLOWED", "check_read_only"]

ALLOWED = "a single SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN query"
"""What the gate lets through, in words (error messages quote it)."""

_EXPLAIN = re.compile(r"^\s*explain(\s+analy[sz]e)?\b", re.IGNORECASE)


def check_read_only(con: Any, sql: str) -> None:
    """Raise :class:`~streamgale.errors.QueryError` unless ``sql`` is one read-only query.

    ``con`` is a DuckDB connection, used only for its parser.

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> check_read_only(con, "SELECT 1")
    >>> check_read_only(con, "DROP TABLE telemetry")
    Traceback (most recent call last):
    ...
    streamgale.errors.QueryError: refused: DROP statements cannot run here; the SQL console \
runs a single SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN query
    """
    kind = _statement_kind(con, sql)
    if kind == "EXPLAIN":
        inner = _EXPLAIN.sub("", _strip_comments(sql), count=1)
        kind = _statement_kind(con, inner) if inner.strip() else "EXPLAIN"
    if kind != "SELECT":
        raise QueryError(
            f"refused: {kind} statements cannot run here; the SQL console runs {ALLOWED}"
        )


def _statement_kind(con: Any, sql: str) -> str:
    """The one statement's type name (``SELECT``, ``INSERT``…), or an error for zero or many."""
    try:
        statements = con.extract_statements(sql)
    except Exception as exc:  # duckdb.ParserException and friends; duckdb is imported lazily
        raise QueryError(f"the SQL does not parse: {exc}") from exc
    if len(statements) != 1:
        raise QueryError(
            f"refused: the SQL console runs {ALLOWED}; got {len(statements)} statements"
        )
    return str(statements[0].type).rsplit(".", maxsplit=1)[-1]


def _strip_comments(sql: str) -> str:
    """``sql`` without leading ``--`` and ``/* */`` comments, so ``EXPLAIN`` is at the start."""
    text = sql.lstrip()
    while text.startswith(("--", "/*")):
        end = text.find("\n") if text.startswith("--") else text.find("*/") + 1
        text = text[end + 1 :].lstrip() if end > 0 else ""
    return text
