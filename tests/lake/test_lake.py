"""Lake writes: round trips, partitioning, ts normalisation, errors, atomicity, the catalog."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from streamgale.errors import ConfigError, MissingExtraError, StreamGaleError
from streamgale.lake import TABLES, Lake, arrow_schema
from tests.lake.conftest import LakeTarget


def telemetry_row(ts: Any, pipeline: str = "radiology", **extra: Any) -> dict[str, Any]:
    return {
        "ts": ts,
        "pipeline": pipeline,
        "step": "prepare",
        "stage": "received",
        "level": "instance",
        "outcome": "ok",
        **extra,
    }


def read_table(target: LakeTarget, table: str) -> pa.Table:
    """Everything in ``table``, read with pyarrow's own Hive partitioning."""
    fs, path = target.filesystem()
    dataset = ds.dataset(f"{path}/{table}", filesystem=fs, format="parquet", partitioning="hive")
    return dataset.to_table()


def test_rows_round_trip_with_hive_partitioning(target: LakeTarget) -> None:
    lake = target.lake()
    rows = [
        telemetry_row(1_714_557_600.0 + i, instance_uid=f"1.2.{i}", duration_ms=float(i))
        for i in range(5)
    ]
    lake.write("telemetry", rows)
    got = read_table(target, "telemetry").sort_by("instance_uid").to_pylist()
    assert [r["instance_uid"] for r in got] == [f"1.2.{i}" for i in range(5)]
    assert [r["duration_ms"] for r in got] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert {r["date"] for r in got} == {"2024-05-01"}
    assert got[0]["route"] is None and got[0]["size_bytes"] is None
    assert got[0]["ts"] == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_files_keep_the_table_schema(target: LakeTarget) -> None:
    lake = target.lake()
    (path,) = lake.write("inferences", [{"ts": 0, "pipeline": "p", "probability": 0.5}])
    fs, _ = target.filesystem()
    with fs.open(path, "rb") as file:
        assert pq.read_schema(file).remove_metadata() == arrow_schema("inferences")


def test_rows_split_by_utc_date_and_pipeline(target: LakeTarget) -> None:
    lake = target.lake()
    day = datetime(2024, 5, 1, 23, 30, tzinfo=UTC)
    paths = lake.write(
        "telemetry",
        [
            telemetry_row(day, "radiology"),
            telemetry_row(day + timedelta(hours=1), "radiology"),  # the next UTC day
            telemetry_row(day, "cardio west"),
            telemetry_row(day, "radiology"),
        ],
    )
    tails = sorted(p.rsplit("/telemetry/", 1)[1].rsplit("/", 1)[0] for p in paths)
    assert tails == [
        "date=2024-05-01/pipeline=cardio%20west",
        "date=2024-05-01/pipeline=radiology",
        "date=2024-05-02/pipeline=radiology",
    ]
    assert all(p.rsplit("/", 1)[1].startswith("part-") for p in paths)
    got = read_table(target, "telemetry").to_pylist()
    counts = {(r["date"], r["pipeline"]): 0 for r in got}
    for r in got:
        counts[(r["date"], r["pipeline"])] += 1
    assert counts == {
        ("2024-05-01", "radiology"): 2,
        ("2024-05-02", "radiology"): 1,
        ("2024-05-01", "cardio west"): 1,
    }
    assert sorted(lake.files("telemetry")) == sorted(paths)


@pytest.mark.parametrize(
    "ts",
    [
        1_714_563_000.25,
        datetime(2024, 5, 1, 11, 30, 0, 250_000, tzinfo=UTC),
        datetime(2024, 5, 1, 11, 30, 0, 250_000),  # naive: taken as UTC
        datetime(2024, 5, 1, 13, 30, 0, 250_000, tzinfo=timezone(timedelta(hours=2))),
        "2024-05-01T11:30:00.250Z",
        "2024-05-01T13:30:00.250+02:00",
    ],
)
def test_ts_is_normalised_to_utc(tmp_path: Path, ts: Any) -> None:
    lake = Lake(tmp_path)
    (path,) = lake.write("results", [{"ts": ts, "pipeline": "p", "result_id": "r"}])
    assert "/date=2024-05-01/" in path
    value = pq.read_table(path).column("ts")[0].as_py()
    assert value == datetime(2024, 5, 1, 11, 30, 0, 250_000, tzinfo=UTC)


def test_arrow_input_with_unix_seconds_and_missing_columns(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    data = pa.table(
        {
            "ts": pa.array([0.5, 86_400.0]),
            "pipeline": ["p", "p"],
            "result_id": ["a", "b"],
            "table": ["results", "results"],  # allowed: records name their table
        }
    )
    paths = lake.write_arrow("results", data)
    assert len(paths) == 2
    got = ds.dataset(tmp_path / "results", partitioning="hive").to_table().sort_by("result_id")
    assert got.column("ts").to_pylist() == [
        datetime(1970, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC),
        datetime(1970, 1, 2, tzinfo=UTC),
    ]
    assert got.column("sr_path").null_count == 2


def test_unknown_table_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown lake table 'telemtry'.*'telemetry'"):
        Lake(tmp_path).write("telemtry", [telemetry_row(0)])
    assert not list(tmp_path.rglob("*.parquet"))


def test_unknown_column_is_refused_with_the_table_columns(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no column\(s\) \['colour'\].*'stage'"):
        Lake(tmp_path).write("telemetry", [telemetry_row(0), telemetry_row(0, colour="red")])
    assert not list(tmp_path.rglob("*.parquet"))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"pipeline": "p", "result_id": "r"}, "ts=None"),
        ({"ts": "yesterday", "pipeline": "p", "result_id": "r"}, "ts='yesterday'"),
        ({"ts": True, "pipeline": "p", "result_id": "r"}, "ts=True"),
        ({"ts": 0, "result_id": "r"}, "required column 'pipeline'"),
        ({"ts": 0, "pipeline": "p"}, "required column 'result_id'"),
        ({"ts": 0, "pipeline": "p", "result_id": "r", "version": "two"}, "column 'version'"),
        ({"ts": 0, "pipeline": "p", "result_id": "r", "table": "telemetry"}, "names table"),
    ],
)
def test_bad_rows_are_refused_and_nothing_is_written(
    tmp_path: Path, row: dict[str, Any], message: str
) -> None:
    with pytest.raises(StreamGaleError, match=message):
        Lake(tmp_path).write("results", [row])
    assert not list(tmp_path.rglob("*.parquet"))


def test_failed_write_leaves_no_visible_or_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(tmp_path)
    real = pq.write_table
    calls: list[str] = []

    def crash_on_second(table: Any, where: Any, **kwargs: Any) -> None:
        calls.append(str(where))
        if len(calls) == 2:
            Path(where).write_bytes(b"PAR1 half a file")  # a torn write, then the crash
            raise OSError("disk full")
        real(table, where, **kwargs)

    monkeypatch.setattr(pq, "write_table", crash_on_second)
    rows = [telemetry_row(0, "a"), telemetry_row(0, "b")]  # two partitions, two files
    with pytest.raises(OSError, match="disk full"):
        lake.write("telemetry", rows)
    # Temporary names are hidden, so a reader's *.parquet glob never saw them...
    assert all(Path(c).name.startswith(".") and c.endswith(".tmp") for c in calls)
    # ...and the failed write removed what it had already stored: all or nothing.
    assert [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "_catalog.json"] == []
    monkeypatch.setattr(pq, "write_table", real)
    lake.write("telemetry", rows)
    assert ds.dataset(tmp_path / "telemetry", partitioning="hive").count_rows() == 2


def test_catalog_describes_every_table(target: LakeTarget) -> None:
    lake = target.lake()
    assert lake.catalog()["tables"]["telemetry"]["first_written"] is None
    lake.write("telemetry", [telemetry_row(0)])
    fs, path = target.filesystem()
    stored = json.loads(fs.cat_file(f"{path}/_catalog.json"))
    assert stored == lake.catalog()
    assert stored["format"] == "streamgale-lake/1"
    assert set(stored["tables"]) == set(TABLES)
    telemetry = stored["tables"]["telemetry"]
    assert telemetry["partition_by"] == ["date", "pipeline"]
    assert telemetry["glob"] == "telemetry/**/*.parquet"
    assert telemetry["first_written"] is not None
    assert stored["tables"]["results"]["first_written"] is None
    columns = {c["name"]: c for c in telemetry["columns"]}
    assert list(columns) == list(TABLES["telemetry"].column_names())
    assert columns["ts"] == {
        "name": "ts",
        "type": "timestamp[us, UTC]",
        "description": "when the stage or result ended",
        "nullable": False,
    }
    assert columns["route"]["nullable"] is True


def test_catalog_keeps_what_a_user_added(tmp_path: Path) -> None:
    (tmp_path / "_catalog.json").write_text(
        json.dumps({"owner": "ward 7", "tables": {"mine": {"description": "my own table"}}})
    )
    lake = Lake(tmp_path)
    lake.write("results", [{"ts": 0, "pipeline": "p", "result_id": "r"}])
    stored = json.loads((tmp_path / "_catalog.json").read_text())
    assert stored["owner"] == "ward 7"
    assert stored["tables"]["mine"] == {"description": "my own table"}
    assert stored["tables"]["results"]["first_written"] is not None


def test_a_damaged_catalog_is_reported(tmp_path: Path) -> None:
    (tmp_path / "_catalog.json").write_text("{not json")
    with pytest.raises(StreamGaleError, match=r"not valid JSON.*move it away"):
        Lake(tmp_path).catalog()


def test_globs_for_query_engines(tmp_path: Path, s3_target: LakeTarget) -> None:
    assert Lake(tmp_path).glob_for("telemetry") == f"{tmp_path}/telemetry/**/*.parquet"
    assert Lake(tmp_path).url_for("results") == f"{tmp_path}/results"
    root = s3_target.root
    assert s3_target.lake().glob_for("inferences") == f"{root}/inferences/**/*.parquet"
    with pytest.raises(ConfigError, match="unknown lake table"):
        Lake(tmp_path).glob_for("nope")


def test_storage_options_for_a_local_lake_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"storage options.*local lake"):
        Lake(tmp_path, storage_options={"endpoint_url": "http://x"})


def test_temporary_and_bookkeeping_files_are_not_data(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    (path,) = lake.write("results", [{"ts": 0, "pipeline": "p", "result_id": "r"}])
    folder = Path(path).parent
    (folder / ".part-x.parquet.tmp").write_bytes(b"partial")
    (folder / "_compact-1.json").write_text("{}")
    assert lake.files("results") == [path]
    assert lake.usage("results") == {"files": 1, "bytes": Path(path).stat().st_size}


def test_writing_no_rows_writes_nothing(tmp_path: Path) -> None:
    assert Lake(tmp_path).write("telemetry", []) == []
    assert list(tmp_path.iterdir()) == []


def test_without_the_extra_the_error_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamgale.lake.storage as storage

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingExtraError, match=r"streamgale\[lake\]"):
        Lake(tmp_path).write("telemetry", [telemetry_row(0)])
    monkeypatch.setitem(sys.modules, "s3fs", None)
    with pytest.raises(MissingExtraError, match=r"streamgale\[lake\]"):
        storage.open_storage("s3://bucket/lake")
