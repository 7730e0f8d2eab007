"""Telemetry on a full disk: recording never fails the pipeline, landing never stops for good."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from streamgale.lake import LakeSink
from streamgale.log import FsyncPolicy, SegmentLog
from streamgale.telemetry import Landing, Telemetry
from tests.telemetry.test_landing import _landed
from tests.tmpfs import fill, small_tmpfs


def _record(telemetry: Telemetry, instance: str) -> None:
    telemetry.stage("received", step="door", level="instance", instance_uid=instance)


def test_rows_recorded_on_a_full_disk_are_held_then_appended_in_order(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", size="2m") as disk:
        log = SegmentLog(disk / "log", fsync=FsyncPolicy.NEVER, segment_bytes=64 * 1024)
        telemetry = Telemetry(log, "p")
        _record(telemetry, "1")
        filler = fill(disk)
        for n in range(2, 200):  # over a segment's worth: the log must roll, and cannot
            _record(telemetry, str(n))
        filler.unlink()
        time.sleep(1.1)  # held records are tried again at most every second
        _record(telemetry, "200")
        got = [row["instance_uid"] for row in telemetry.read_all()]
        assert got == [str(n) for n in range(1, 201)] and telemetry.dropped == 0
        log.close()


def test_a_drain_on_a_full_disk_leaves_the_rows_for_the_next_one(tmp_path: Path) -> None:
    log = SegmentLog(tmp_path / "log", fsync=FsyncPolicy.NEVER)
    telemetry = Telemetry(log, "p")
    _record(telemetry, "1")
    with small_tmpfs(tmp_path / "disk", size="4m") as disk:
        landing = Landing(log, str(disk / "lake"), disk / "landing")
        filler = fill(disk)
        landing.drain()  # no error: a shutdown on a full disk goes on
        assert _landed(disk / "lake") == []
        filler.unlink()
        landing.drain()
        assert [row["instance_uid"] for row in _landed(disk / "lake")] == ["1"]
    log.close()


def test_a_landing_that_fails_starts_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = SegmentLog(tmp_path / "log", fsync=FsyncPolicy.NEVER)
    telemetry = Telemetry(log, "p")
    _record(telemetry, "1")
    real = LakeSink.build_part
    failures = [OSError("the lake's bucket is unreachable")]

    def flaky(self: LakeSink, *args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(LakeSink, "build_part", flaky)
    landing = Landing(log, str(tmp_path / "lake"), tmp_path / "landing", restart_after=0.1)
    landing.start()
    deadline = time.monotonic() + 10
    while not _landed(tmp_path / "lake") and time.monotonic() < deadline:
        time.sleep(0.1)
    landing.stop()
    assert not failures, "the failure did not happen"
    assert [row["instance_uid"] for row in _landed(tmp_path / "lake")] == ["1"]
    log.close()
