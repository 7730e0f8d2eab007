"""The result store keeps every version with its files, and lists them per study."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from streamgale.cli import main
from streamgale.dicom.results import Finding, Measurement, StudyResult
from streamgale.dicom.results.store import ResultStore
from streamgale.errors import DicomError

STUDY = "1.2.826.0.1.3680043.8.498.77"


def _result(version: int, *, present: bool) -> StudyResult:
    return StudyResult(
        result_id=f"r-{version}",
        study_instance_uid=STUDY,
        series_instance_uids=(f"{STUDY}.1",),
        model_name="demo-lesion",
        model_version="1.0.0",
        created_at=dt.datetime(2026, 1, 1, 8, version, tzinfo=dt.UTC),
        findings=(
            Finding(
                "lesion",
                0.9 if present else 0.1,
                present,
                {"area": Measurement(12.5, "mm2", "Area")},
            ),
        ),
        version=version,
        supersedes=None if version == 1 else f"r-{version - 1}",
        timings={"infer": 4.0},
    )


def test_put_list_get_and_versions(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results")
    first = store.put(_result(1, present=False), sr=b"SR1", seg=None)
    second = store.put(_result(2, present=True), sr=b"SR2", seg=b"SEG2")
    assert first.sr_path is not None and first.sr_path.read_bytes() == b"SR1"
    assert first.seg_path is None
    assert second.seg_path is not None and second.seg_path.read_bytes() == b"SEG2"
    assert STUDY not in str(second.json_path)  # files are never named from DICOM values
    assert [r.version for r in store.list(study_instance_uid=STUDY)] == [2, 1]
    latest = store.latest(STUDY, "demo-lesion")
    assert latest is not None and latest.result_id == "r-2" and latest.present == "lesion"
    assert store.get("r-1").load() == _result(1, present=False)
    store.put(_result(2, present=True), sr=b"SR2", seg=b"SEG2")  # idempotent per result id
    assert len(store.list()) == 2
    with pytest.raises(DicomError, match="no result with id 'r-9'"):
        store.get("r-9")
    store.close()
    assert len(ResultStore(tmp_path / "results").list()) == 2  # durable across reopen


def test_cli_lists_and_shows_results(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results")
    store.put(_result(1, present=True), sr=b"SR", seg=None)
    store.close()
    runner = CliRunner()
    listed = runner.invoke(main, ["results", "list", "--state-dir", str(tmp_path), "--json"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)
    assert row["result_id"] == "r-1" and row["present"] == ["lesion"]
    shown = runner.invoke(main, ["results", "show", "r-1", "--state-dir", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert "lesion: PRESENT (p=0.900)" in shown.output
    assert "Area: 12.5 mm2" in shown.output
    table = runner.invoke(main, ["results", "list", "--state-dir", str(tmp_path)])
    assert "demo-lesion 1.0.0" in table.output


def test_cli_says_where_it_looked(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["results", "list", "--state-dir", str(tmp_path)])
    assert result.exit_code != 0
    assert f"no results at {tmp_path / 'results'}" in result.output
