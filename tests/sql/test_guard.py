"""The read-only gate: one query that reads, nothing else, whatever the spelling."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from streamgale.errors import StreamGaleError
from streamgale.sql import check_read_only


@pytest.fixture(scope="module")
def con() -> Any:
    connection = duckdb.connect()
    yield connection
    connection.close()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "  select stage, count(*) from telemetry group by stage;",
        "WITH t AS (SELECT 1 AS x) SELECT * FROM t",
        "FROM telemetry",
        "DESCRIBE telemetry",
        "SHOW TABLES",
        "SUMMARIZE telemetry",
        "EXPLAIN SELECT 1",
        "explain analyze select 1",
        "-- a comment\nEXPLAIN SELECT 1",
        "SELECT 'DROP TABLE x; DELETE FROM y'",
        "(SELECT 1) UNION ALL (SELECT 2)",
    ],
)
def test_queries_that_read_pass(con: Any, sql: str) -> None:
    check_read_only(con, sql)


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("DROP VIEW telemetry", "DROP"),
        ("CREATE TABLE x AS SELECT 1", "CREATE"),
        ("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY"),
        ("INSERT INTO t VALUES (1)", "INSERT"),
        ("SET enable_external_access = true", "SET"),
        ("ATTACH '/tmp/other.db'", "ATTACH"),
        ("INSTALL httpfs", "LOAD"),
        ("PRAGMA version", "PRAGMA"),
        ("CALL pragma_version()", "CALL"),
        ("EXPLAIN ANALYZE CREATE TABLE x AS SELECT 1", "CREATE"),
        ("/* hidden */ EXPLAIN ANALYZE DELETE FROM t", "DELETE"),
    ],
)
def test_anything_else_is_refused_and_named(con: Any, sql: str, kind: str) -> None:
    with pytest.raises(StreamGaleError, match=f"refused: {kind} statements cannot run here"):
        check_read_only(con, sql)


def test_more_than_one_statement_is_refused(con: Any) -> None:
    with pytest.raises(StreamGaleError, match="got 2 statements"):
        check_read_only(con, "SELECT 1; DROP VIEW telemetry")
    with pytest.raises(StreamGaleError, match="got 0 statements"):
        check_read_only(con, "  -- nothing\n")


def test_text_that_does_not_parse_says_so(con: Any) -> None:
    with pytest.raises(StreamGaleError, match="does not parse: Parser Error"):
        check_read_only(con, "SELEC 1")
