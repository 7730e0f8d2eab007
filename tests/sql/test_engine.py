"""SqlEngine: the views over the lake's files, their life as files come and go, and lock-down."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamgale.errors import StreamGaleError
from streamgale.lake.schemas import TABLES
from streamgale.sql import SqlEngine
from tests.sql.lakes import at, telemetry, write_rows

_TYPES = {
    "string": "VARCHAR",
    "double": "DOUBLE",
    "int64": "BIGINT",
    "bool": "BOOLEAN",
    "timestamp[us, UTC]": "TIMESTAMP WITH TIME ZONE",
}


def _described(engine: SqlEngine, table: str) -> dict[str, str]:
    return {row[0]: row[1] for row in engine.execute(f"DESCRIBE {table}").rows}


@pytest.mark.parametrize("with_files", [False, True], ids=["empty", "with-files"])
def test_views_have_the_catalog_columns_and_types(tmp_path: Path, with_files: bool) -> None:
    if with_files:
        write_rows(tmp_path, "telemetry", [telemetry(at(0), "received")])
    with SqlEngine(tmp_path) as engine:
        described = _described(engine, "telemetry")
        assert engine.empty_tables == ({"inferences", "results"} if with_files else set(TABLES))
    expected = {c.name: _TYPES[c.type] for c in TABLES["telemetry"].columns}
    assert described == {**expected, "date": "DATE"}


def test_partition_values_come_back_as_written(tmp_path: Path) -> None:
    write_rows(
        tmp_path,
        "telemetry",
        [telemetry(at(0), "received", pipeline=name) for name in ("007", "a/b c")],
    )
    assert (tmp_path / "telemetry/date=2024-05-01/pipeline=a%2Fb%20c").is_dir()
    with SqlEngine(tmp_path) as engine:
        rows = engine.execute("SELECT pipeline, date FROM telemetry ORDER BY pipeline").rows
    assert [(p, d.isoformat()) for p, d in rows] == [("007", "2024-05-01"), ("a/b c", "2024-05-01")]


def test_a_file_without_a_newer_column_reads_it_as_null(tmp_path: Path) -> None:
    write_rows(tmp_path, "telemetry", [telemetry(at(0), "received", reason="new")])
    old = tmp_path / "telemetry/date=2024-05-01/pipeline=radiology/part-old.parquet"
    full = pq.read_table(next(old.parent.glob("*.parquet")))
    pq.write_table(full.drop_columns(["reason"]), old)
    with SqlEngine(tmp_path) as engine:
        reasons = sorted(engine.execute("SELECT reason FROM telemetry").rows, key=str)
    assert reasons == [("new",), (None,)]


def test_new_files_show_without_reopening(tmp_path: Path) -> None:
    with SqlEngine(tmp_path) as engine:
        count = "SELECT count(*) FROM telemetry"
        assert engine.execute(count).rows == [(0,)]
        write_rows(tmp_path, "telemetry", [telemetry(at(0), "received")])
        assert engine.execute(count).rows == [(1,)]  # the empty view was re-checked
        write_rows(tmp_path, "telemetry", [telemetry(at(1), "received")] * 2)
        assert engine.execute(count).rows == [(3,)]  # the view globs at every query
        shutil.rmtree(tmp_path / "telemetry")
        assert engine.execute(count).rows == [(0,)]  # gone: back to the empty view
        assert "telemetry" in engine.empty_tables


def test_refresh_recreates_the_views(tmp_path: Path) -> None:
    with SqlEngine(tmp_path) as engine:
        write_rows(tmp_path, "results", [{"ts": at(0), "pipeline": "p", "result_id": "r"}])
        engine.refresh()
        assert engine.empty_tables == {"telemetry", "inferences"}
        assert engine.execute("SELECT result_id FROM results").rows == [("r",)]


def test_parameters_are_bound_not_pasted(tmp_path: Path) -> None:
    write_rows(tmp_path, "telemetry", [telemetry(at(0), "received", study_uid="1'2")])
    with SqlEngine(tmp_path) as engine:
        by_position = engine.execute("SELECT count(*) FROM telemetry WHERE study_uid = ?", ["1'2"])
        by_name = engine.execute("SELECT $n + 1 AS m", {"n": 41})
    assert by_position.rows == [(1,)] and by_name.to_dicts() == [{"m": 42}]
    assert by_position.elapsed_ms > 0


def test_a_failing_query_says_what_duckdb_said_and_names_the_tables(tmp_path: Path) -> None:
    with SqlEngine(tmp_path) as engine, pytest.raises(StreamGaleError) as caught:
        engine.execute("SELECT nope FROM telemetry")
    message = str(caught.value)
    assert 'Referenced column "nope" not found' in message
    assert "telemetry, inferences, results" in message and "streamgale lake tables" in message


def test_files_outside_the_lake_cannot_be_read(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_rows(lake, "telemetry", [telemetry(at(0), "received")])
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    with SqlEngine(lake) as engine:
        for sql in (
            f"SELECT * FROM read_csv('{secret}')",
            f"SELECT * FROM read_csv('{lake}/../secret.csv')",
            f"SELECT * FROM '{secret}'",
            "SELECT * FROM glob('/etc/*')",
        ):
            with pytest.raises(StreamGaleError, match=r"reads only the lake at .*Permission Error"):
                engine.execute(sql)
        # ...while the lake itself still reads, through the views and directly.
        direct = engine.execute(
            f"SELECT count(*) FROM read_parquet('{lake}/telemetry/**/*.parquet')"
        )
        assert direct.rows == [(1,)]


def test_settings_cannot_be_changed_through_the_console(tmp_path: Path) -> None:
    with SqlEngine(tmp_path) as engine:
        with pytest.raises(StreamGaleError, match="refused: SET statements"):
            engine.execute("SET enable_external_access = true")
        setting = "SELECT value FROM duckdb_settings() WHERE name = 'lock_configuration'"
        assert engine.execute(setting).rows == [("true",)]


def test_threads_can_share_one_engine(tmp_path: Path) -> None:
    write_rows(tmp_path, "telemetry", [telemetry(at(i), "received") for i in range(50)])
    counts: list[int] = []
    with SqlEngine(tmp_path) as engine:

        def query() -> None:
            for _ in range(5):
                counts.append(engine.execute("SELECT count(*) FROM telemetry").rows[0][0])

        threads = [threading.Thread(target=query) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert counts == [50] * 20


def test_files_missing_columns_still_give_every_catalog_column(tmp_path: Path) -> None:
    # A file from an older writer, with three columns only, written by plain pyarrow calls.
    folder = tmp_path / "telemetry/date=2024-05-01/pipeline=radiology"
    folder.mkdir(parents=True)
    table = pa.table(
        {"ts": [at(0)], "stage": ["received"], "outcome": ["ok"]},
        schema=pa.schema(
            [("ts", pa.timestamp("us", tz="UTC")), ("stage", pa.string()), ("outcome", pa.string())]
        ),
    )
    pq.write_table(table, folder / "part-1.parquet")
    with SqlEngine(tmp_path) as engine:
        rows = engine.execute("SELECT pipeline, stage, duration_ms FROM telemetry").rows
        described = _described(engine, "telemetry")
        (latency,) = engine.report("stage-latency").to_dicts()
    assert rows == [("radiology", "received", None)]
    assert set(described) == {*TABLES["telemetry"].column_names(), "date"}
    assert described["duration_ms"] == "DOUBLE" and latency["count"] == 1


def test_a_closed_engine_says_so(tmp_path: Path) -> None:
    engine = SqlEngine(tmp_path)
    engine.close()
    with pytest.raises(StreamGaleError, match="the SQL engine is closed"):
        engine.execute("SELECT 1")
