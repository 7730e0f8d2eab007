"""Crash safety: SIGKILL the runtime at many points; the output must not change.

The runtime computes keyed tumbling windows from a durable log into a
transactional JSON Lines file. It is killed with SIGKILL at random moments,
each time restarted from its state directory, until kills have landed at 20
different committed positions; then it is left to finish. The final file must
equal, byte for byte, the output of one uninterrupted run: nothing lost,
nothing counted twice.
"""

from __future__ import annotations

import random
import select
import signal
from pathlib import Path

import numpy as np
import pytest

from streamgale import ColumnBatch, RuntimeConfig
from streamgale.log import FsyncPolicy, SegmentLog
from streamgale.state.file import FileStateStore

from .children import start_pipeline, wait_for_processing
from .crash_pipeline import build

SCRIPT = Path(__file__).with_name("crash_pipeline.py")
DISTINCT_POINTS = 20
MAX_KILLS = 60
LOG_RECORDS = 800
EVENTS_PER_RECORD = 250


def _write_events(log_dir: Path) -> None:
    rng = np.random.default_rng(7)
    log = SegmentLog(log_dir, fsync=FsyncPolicy.NEVER)
    log.create_topic("events", 1)
    n = LOG_RECORDS * EVENTS_PER_RECORD
    ts = 1_700_000_000.0 + np.arange(n) / 1000.0 - rng.uniform(0, 2, n)
    keys = rng.integers(0, 300, n)
    values = rng.normal(20, 5, n).round(3)
    for i in range(LOG_RECORDS):
        sl = slice(i * EVENTS_PER_RECORD, (i + 1) * EVENTS_PER_RECORD)
        batch = ColumnBatch({"key": keys[sl], "ts": ts[sl], "value": values[sl]})
        log.append("events", 0, [batch.to_bytes()])
    log.close()


@pytest.mark.crash
@pytest.mark.slow
def test_sigkill_at_many_points_neither_loses_nor_double_counts(tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    _write_events(log_dir)

    reference = tmp_path / "reference.jsonl"
    build(log_dir, reference, slow=False, group="reference").run(
        RuntimeConfig(state_dir=tmp_path / "ref-state", handle_signals=False)
    )
    assert reference.stat().st_size > 0

    out, state = tmp_path / "out.jsonl", tmp_path / "state"
    rng = random.Random(11)
    positions: list[int] = []
    while len(set(positions)) < DISTINCT_POINTS and len(positions) < MAX_KILLS:
        child = start_pipeline(SCRIPT, log_dir, out, state)
        assert wait_for_processing(child), "the pipeline never started processing"
        select.select([], [], [], rng.uniform(0.05, 0.2))
        still_running = child.poll() is None
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert still_running, "the run finished before the kill; make the input larger"
        snapshot = FileStateStore(state / "snapshots").load()
        positions.append(snapshot.sources["events/0"] if snapshot else 0)

    final = start_pipeline(SCRIPT, log_dir, out, state)
    wait_for_processing(final)
    assert final.wait(timeout=120) == 0

    # Kills landed at many different committed positions, all mid-run.
    assert len(set(positions)) >= DISTINCT_POINTS, positions
    assert max(positions) < LOG_RECORDS
    assert out.read_bytes() == reference.read_bytes()
