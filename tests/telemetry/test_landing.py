"""Telemetry rows travel the durable log into the lake: each row exactly once."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow.dataset as pads
import pytest

from streamgale.errors import ConfigError
from streamgale.lake import Lake
from streamgale.log import FsyncPolicy, MemoryLog, SegmentLog
from streamgale.telemetry import Landing, Telemetry


def _landed(root: Path, table: str = "telemetry") -> list[dict[str, object]]:
    files = Lake(str(root)).files(table)
    return pads.dataset(files, partitioning="hive").to_table().to_pylist() if files else []


def test_rows_are_checked_against_the_lake_schema() -> None:
    telemetry = Telemetry(MemoryLog(), "p")
    with pytest.raises(ConfigError, match="unknown telemetry stage 'ingested'"):
        telemetry.stage("ingested", step="s", level="instance")
    with pytest.raises(ConfigError, match="no column"):
        telemetry.row("results", result_id="r", colour="blue")
    with pytest.raises(ConfigError, match="level must be one of"):
        telemetry.stage("received", step="s", level="patient")


def test_disabled_telemetry_records_nothing() -> None:
    telemetry = Telemetry(MemoryLog(), "p", enabled=False)
    telemetry.stage("received", step="s", level="instance")
    assert telemetry.read_all() == []


def test_landing_follows_the_log_then_drains_what_came_after_it_stopped(tmp_path: Path) -> None:
    log = SegmentLog(tmp_path / "log", fsync=FsyncPolicy.NEVER)
    telemetry = Telemetry(log, "p")
    lake = tmp_path / "lake"
    landing = Landing(log, str(lake), tmp_path / "landing", checkpoint_interval=0.1)
    landing.start()
    for i in range(5):
        telemetry.stage("received", step="door", level="instance", instance_uid=str(i))
    deadline = time.monotonic() + 30
    while len(_landed(lake)) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_landed(lake)) == 5, "rows land while the pipeline runs"
    landing.stop()
    for i in range(5, 8):  # after the landing stopped: the shutdown drain carries them
        telemetry.stage("finalized", step="finalize", level="study", study_uid=str(i))
    landing.drain()
    landing.drain()  # a second drain finds nothing new: no row twice
    rows = _landed(lake)
    assert sorted(str(r["instance_uid"] or r["study_uid"]) for r in rows) == [
        str(i) for i in range(8)
    ]
    log.close()
