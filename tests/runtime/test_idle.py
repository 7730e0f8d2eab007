"""An idle pipeline rests: no snapshot written while nothing runs, and a log
appended in this process wakes the runtime instead of being polled every 5 ms."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from streamgale import Pipeline, RuntimeConfig
from streamgale.connectors import LogSource
from streamgale.log import FsyncPolicy, SegmentLog
from streamgale.runtime.runner import Runtime
from streamgale.testing import TestingSink


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert condition()


def test_an_idle_run_writes_no_snapshot_and_wakes_on_append(tmp_path: Path) -> None:
    log = SegmentLog(tmp_path / "log", fsync=FsyncPolicy.NEVER)
    log.create_topic("events", 1)
    out: list[Any] = []
    p = Pipeline("idle")
    p.source("events", LogSource(log, "events")).sink("out", TestingSink(out))
    runtime = Runtime(p, RuntimeConfig(state_dir=tmp_path / "state", checkpoint_interval=0.05))
    thread = threading.Thread(target=runtime.run)
    thread.start()
    try:
        log.append("events", 0, [json.dumps({"n": 1}).encode()])
        _wait_for(lambda: len(out) == 1 and runtime.epoch >= 1)
        settled = runtime.epoch
        time.sleep(0.5)  # ten checkpoint intervals with nothing to do
        assert runtime.epoch <= settled + 1, "an idle run must not keep writing snapshots"
        idle_epoch = runtime.epoch
        log.append("events", 0, [json.dumps({"n": 2}).encode()])
        _wait_for(lambda: len(out) == 2 and runtime.epoch > idle_epoch)
    finally:
        runtime.stop()
        thread.join(10)
        log.close()


def test_a_segment_log_wakes_its_watchers(tmp_path: Path) -> None:
    log = SegmentLog(tmp_path / "log", fsync=FsyncPolicy.NEVER)
    log.create_topic("a", 1)
    log.create_topic("b", 1)
    woken = threading.Event()
    assert log.watch("a", woken)
    log.append("b", 0, [b"{}"])
    assert not woken.is_set()
    log.append("a", 0, [b"{}"])
    assert woken.is_set()
    log.close()
