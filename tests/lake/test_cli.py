"""``streamgale lake``: tables, compact and retention against real lakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from streamgale.cli.lake import lake, parse_storage_options
from streamgale.lake import Lake
from tests.lake.conftest import LakeTarget


def _options(target: LakeTarget) -> list[str]:
    args = ["--lake", target.root]
    for key, value in target.storage_options.items():
        args += ["--storage-option", f"{key}={value}"]
    return args


def _fill(target: LakeTarget) -> Lake:
    store = target.lake()
    old = datetime.now(UTC) - timedelta(days=40)
    for i in range(3):
        store.write("results", [{"ts": old, "pipeline": "p", "result_id": f"old-{i}"}])
        store.write("results", [{"ts": datetime.now(UTC), "pipeline": "p", "result_id": str(i)}])
    return store


def test_tables_lists_the_catalog(target: LakeTarget) -> None:
    _fill(target)
    result = CliRunner().invoke(lake, ["tables", *_options(target)])
    assert result.exit_code == 0, result.output
    # Not a terminal: plain tab-separated rows (table, description, columns, first, files, size)
    rows = {row[0]: row for row in (line.split("\t") for line in result.stdout.splitlines())}
    assert set(rows) >= {"telemetry", "inferences", "results"}
    assert rows["telemetry"][3] == "never"
    assert rows["results"][4] == "6"  # six files


def test_tables_json_is_the_catalog(target: LakeTarget) -> None:
    _fill(target)
    result = CliRunner().invoke(lake, ["tables", "--json", *_options(target)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == target.lake().catalog()


def test_compact_then_retention(target: LakeTarget) -> None:
    store = _fill(target)
    args = ["compact", "--table", "results", "--min-files", "3", "--min-age", "0", "--json"]
    result = CliRunner().invoke(lake, [*args, *_options(target)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["files_removed"] == 6
    assert len(store.files("results")) == 2
    result = CliRunner().invoke(lake, ["retention", "--days", "30", *_options(target)])
    assert result.exit_code == 0, result.output
    assert "1 date partitions older than 30 days removed" in result.output
    assert len(store.files("results")) == 1


def test_retention_needs_positive_days(tmp_path: Path) -> None:
    result = CliRunner().invoke(lake, ["retention", "--days", "0", "--lake", str(tmp_path)])
    assert result.exit_code == 2
    assert "--days" in result.output


def test_storage_options_parse() -> None:
    assert parse_storage_options(["a=1", "b=false", 'c={"x": 1}', "d=x=y"]) == {
        "a": "1",
        "b": False,
        "c": {"x": 1},
        "d": "x=y",
    }
    result = CliRunner().invoke(lake, ["tables", "--storage-option", "novalue"])
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.output


def test_default_lake_is_the_one_default_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STREAMGALE_LAKE", raising=False)
    monkeypatch.delenv("STREAMGALE_STATE_DIR", raising=False)
    Lake(tmp_path / ".streamgale" / "lake").write(
        "results", [{"ts": 0, "pipeline": "p", "result_id": "r"}]
    )
    result = CliRunner().invoke(lake, ["tables", "--json"])
    assert json.loads(result.output)["tables"]["results"]["first_written"] is not None


def test_state_dir_moves_the_lake_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMGALE_LAKE", raising=False)
    Lake(tmp_path / "elsewhere" / "lake").write(
        "results", [{"ts": 0, "pipeline": "p", "result_id": "r"}]
    )
    result = CliRunner().invoke(lake, ["tables", "--json", "--state-dir", tmp_path / "elsewhere"])
    assert json.loads(result.output)["tables"]["results"]["first_written"] is not None
