"""``streamgale sql`` and ``streamgale report`` (src/streamgale/cli/sql.py) through click.

The commands run inside a group of the same class as ``streamgale``'s, so errors
are handled exactly as the real command line handles them.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from streamgale.cli.main import main
from streamgale.cli.sql import report, sql
from streamgale.sql import REPORTS
from tests.sql.lakes import at, telemetry, write_rows


def _cli() -> click.Group:
    return type(main)("streamgale", commands=[sql, report])


def _run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(_cli(), list(args), env=env)


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """Durations 1..10 ms for 'inferred', one quarantine, two studies."""
    root = tmp_path / "lake"
    rows = [
        telemetry(at(i), "inferred", duration_ms=float(i), study_uid="1.2.3") for i in range(1, 11)
    ]
    rows.append(
        telemetry(
            at(30),
            "quarantined",
            outcome="quarantined",
            reason="[red]no pixel data[/red]",
            study_uid="4.5.6",
        )
    )
    write_rows(root, "telemetry", rows)
    return root


def test_sql_prints_a_table(lake: Path) -> None:
    result = _run(
        "sql",
        "SELECT stage, count(*) AS n FROM telemetry GROUP BY 1 ORDER BY 1",
        "--lake",
        str(lake),
    )
    assert result.exit_code == 0, result.output
    assert "inferred" in result.output and "quarantined" in result.output
    assert "2 rows in" in result.output


def test_sql_prints_csv_and_json(lake: Path) -> None:
    query = "SELECT ts, duration_ms FROM telemetry WHERE stage = 'inferred' ORDER BY ts LIMIT 2"
    as_csv = _run("sql", query, "--lake", str(lake), "--format", "csv")
    assert list(csv.reader(io.StringIO(as_csv.output))) == [
        ["ts", "duration_ms"],
        ["2024-05-01T12:00:01+00:00", "1.0"],
        ["2024-05-01T12:00:02+00:00", "2.0"],
    ]
    as_json = _run("sql", query, "--lake", str(lake), "--format", "json")
    assert json.loads(as_json.output)[1] == {"ts": "2024-05-01T12:00:02+00:00", "duration_ms": 2.0}


def test_lake_comes_from_the_environment(lake: Path) -> None:
    result = _run(
        "sql",
        "SELECT count(*) AS n FROM telemetry",
        "--format",
        "json",
        env={"STREAMGALE_LAKE": str(lake)},
    )
    assert json.loads(result.output) == [{"n": 11}]


def test_report_prints_the_hand_checked_percentiles(lake: Path) -> None:
    result = _run("report", "stage-latency", "--lake", str(lake), "--format", "json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["duration_p50_ms"] == 5.5
    assert row["duration_p95_ms"] == pytest.approx(9 + 0.55 * (10 - 9))
    table = _run("report", "stage-latency", "--lake", str(lake))
    assert "Latency per stage and route" in table.output and "9.550" in table.output


def test_report_takes_params(lake: Path) -> None:
    result = _run(
        "report", "study", "--param", "study_uid=4.5.6", "--lake", str(lake), "--format", "csv"
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2 and "quarantined" in lines[1]


def test_table_cells_are_not_rich_markup(lake: Path) -> None:
    result = _run("report", "errors", "--lake", str(lake))
    assert "[red]no pixel data[/red] (1)" in result.output


def test_report_list_names_every_report() -> None:
    result = _run("report", "--list")
    assert result.exit_code == 0
    for name in ("stage-latency", "throughput", "errors", "ab", "study", "results"):
        assert name in result.output
    assert "study_uid (required)" in result.output
    listed = json.loads(_run("report", "--list", "--format", "json").output)
    assert [r["name"] for r in listed] == list(REPORTS)
    assert listed[1]["parameters"] == "minutes=60"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["sql", "DROP VIEW telemetry"], 1, "error: refused: DROP statements cannot run here"),
        (["sql", "SELECT nope FROM telemetry"], 1, "streamgale lake tables"),
        (
            ["report", "latency"],
            2,
            "error: no report named 'latency'; the reports are: stage-latency",
        ),
        (["report", "study"], 2, "needs study_uid; pass it with --param study_uid=VALUE"),
        (["report", "ab", "--param", "minutes"], 2, "--param takes KEY=VALUE, got 'minutes'"),
        (["report"], 2, "name a report (see: streamgale report --list)"),
    ],
)
def test_errors_are_one_line_and_a_non_zero_exit(
    lake: Path, args: list[str], code: int, message: str
) -> None:
    result = _run(*args, "--lake", str(lake))
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_missing_lake_is_an_error_not_an_empty_report(tmp_path: Path) -> None:
    result = _run("report", "throughput", "--lake", str(tmp_path / "nowhere"), "--format", "json")
    assert result.exit_code == 2
    assert f"error: no lake at {tmp_path / 'nowhere'}; run a radiology pipeline" in result.stderr
    assert result.stdout == ""


def test_storage_options_parse_booleans_and_objects_only() -> None:
    from streamgale.cli.sql import _pairs

    parsed = _pairs(
        ["anon=true", "key=12345", 'client_kwargs={"region_name": "eu-west-1"}', "x=a=b"],
        "--storage-option",
    )
    assert parsed == {
        "anon": True,
        "key": "12345",
        "client_kwargs": {"region_name": "eu-west-1"},
        "x": "a=b",
    }
