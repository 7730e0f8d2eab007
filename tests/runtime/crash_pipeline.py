"""The pipeline the crash test kills: keyed 10 s windows over a durable log.

Run as a script by tests/runtime/test_crash.py; it prints "processing" once
the first batch flows so the test knows when a kill lands mid-computation.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from streamgale import ColumnBatch, Pipeline, RuntimeConfig
from streamgale.connectors import JsonLinesSink, LogSource
from streamgale.windowing import Count, EventClock, Max, Sum, TumblingWindow

_announced = False


def slow_identity(batch: ColumnBatch) -> ColumnBatch:
    """Stretch the run so kills land at many different points."""
    global _announced  # noqa: PLW0603 - once per process
    if not _announced:
        print("processing", flush=True)
        _announced = True
    time.sleep(0.005)
    return batch


def build(log_dir: Path, out_file: Path, *, slow: bool, group: str = "crash") -> Pipeline:
    p = Pipeline("crash")
    source = LogSource(log_dir, "events", group=group, until_end=True, max_records=1)
    stream = p.source("events", source)
    if slow:
        stream = stream.map_batches("slow", slow_identity)
    windows = (
        stream.key_by("by_key", "key")
        .window(TumblingWindow(10.0), EventClock("ts", max_delay=2.0))
        .aggregate("stats", n=Count(), total=Sum("value"), peak=Max("value"))
    )
    windows.results.sink("out", JsonLinesSink(out_file))
    return p


if __name__ == "__main__":
    log_dir, out_file, state_dir = (Path(a) for a in sys.argv[1:4])
    # No drain at all: every checkpoint saves what is queued, so kills test that path.
    config = RuntimeConfig(
        state_dir=state_dir, checkpoint_interval=0.03, checkpoint_drain=0.0, handle_signals=False
    )
    build(log_dir, out_file, slow=True).run(config)
