"""A crash loop makes progress: killed every ~1.5 s, the runtime still commits work.

Regression: a checkpoint waited for every channel to drain. Behind a slow
step that took longer than the process lived, so a process killed every
few seconds never committed and redid the same work forever. Checkpoints
now drain for a bounded time and save what is still queued.
"""

from __future__ import annotations

import itertools
import json
import signal
import time
from pathlib import Path

import pytest

from streamgale.log import FsyncPolicy, SegmentLog
from streamgale.state.file import FileStateStore

from .children import start_pipeline, wait_for_processing

SCRIPT = Path(__file__).with_name("crash_loop_pipeline.py")
RECORDS = 48
PARTITIONS = 4
"""Each turn polls every partition: the slow steps fall behind and channels fill."""
KILLS = 4
LIFETIME = 1.5
"""Seconds each process runs once it processes; a full drain would take longer."""


def _committed(state: Path) -> int:
    snapshot = FileStateStore(state / "snapshots", read_only=True).load()
    return sum(int(snapshot.sources[f"numbers/{p}"]) for p in range(PARTITIONS)) if snapshot else 0


@pytest.mark.crash
def test_a_process_killed_every_few_seconds_still_makes_progress(tmp_path: Path) -> None:
    log_dir, out, state = tmp_path / "log", tmp_path / "out.jsonl", tmp_path / "state"
    log = SegmentLog(log_dir, fsync=FsyncPolicy.NEVER)
    log.create_topic("numbers", PARTITIONS)
    for i in range(RECORDS):
        log.append("numbers", i % PARTITIONS, [json.dumps({"n": i}).encode()])
    log.close()

    committed = [0]
    for _ in range(KILLS):
        child = start_pipeline(SCRIPT, log_dir, out, state)
        assert wait_for_processing(child), "the pipeline never started processing"
        time.sleep(LIFETIME)
        assert child.poll() is None, "the run ended before the kill; make the input larger"
        child.send_signal(signal.SIGKILL)
        child.wait()
        committed.append(_committed(state))
    assert all(b > a for a, b in itertools.pairwise(committed)), committed

    final = start_pipeline(SCRIPT, log_dir, out, state)
    assert final.wait(timeout=60) == 0
    numbers = [json.loads(line)["n"] for line in out.read_text().splitlines()]
    assert sorted(numbers) == list(range(RECORDS)), "each record exactly once"
