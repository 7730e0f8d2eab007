"""The pipeline the crash-loop test kills every 1.5 s: two slow steps behind a log.

Run as a script by tests/runtime/test_crash_loop.py. Each slow step takes
0.1 s a batch and the log has several partitions, so the channels fill (8
batches each) and draining them all before a checkpoint would take longer
than the process lives. It prints "processing" once the first batch flows.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from streamgale import Pipeline, RuntimeConfig
from streamgale.connectors import JsonLinesSink, LogSource

_announced = False


def slow(batch: list[Any]) -> list[Any]:
    global _announced  # noqa: PLW0603 - once per process
    if not _announced:
        print("processing", flush=True)
        _announced = True
    time.sleep(0.1)
    return batch


def build(log_dir: Path, out_file: Path) -> Pipeline:
    p = Pipeline("loop")
    source = LogSource(log_dir, "numbers", group="loop", until_end=True, max_records=1)
    stream = p.source("numbers", source).map_batches("first", slow).map_batches("second", slow)
    stream.sink("out", JsonLinesSink(out_file))
    return p


if __name__ == "__main__":
    log_dir, out_file, state_dir = (Path(a) for a in sys.argv[1:4])
    config = RuntimeConfig(state_dir=state_dir, checkpoint_interval=0.2, handle_signals=False)
    build(log_dir, out_file).run(config)
