"""A fast source of 4 MiB batches into a slow sink; prints peak RSS and counts.

Run as a script by tests/runtime/test_backpressure.py in its own process, so
that its peak RSS measures this pipeline alone.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any

import numpy as np

from streamgale import (
    BuildContext,
    ColumnBatch,
    Pipeline,
    RuntimeConfig,
    Sink,
    SinkPartition,
    Source,
    SourcePartition,
)

BATCH_BYTES = 4 * 1024 * 1024
counts = {"produced": 0, "consumed": 0, "max_gap": 0}


class Firehose(Source[Any]):
    """Produces a fresh 4 MiB batch every time it is polled, for ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def list_parts(self) -> list[str]:
        return ["0"]

    def build_part(self, ctx: BuildContext, part: str, resume_state: Any) -> SourcePartition[Any]:
        deadline = time.monotonic() + self.seconds

        class Part(SourcePartition[Any]):
            def next_batch(self) -> ColumnBatch:
                if time.monotonic() > deadline:
                    raise StopIteration
                counts["produced"] += 1
                gap = counts["produced"] - counts["consumed"]
                counts["max_gap"] = max(counts["max_gap"], gap)
                return ColumnBatch({"v": np.ones(BATCH_BYTES // 8)})

            def snapshot(self) -> None:
                return None

        return Part()


class SlowSink(Sink[Any]):
    def build_part(self, ctx: BuildContext, part: str, resume_state: Any) -> SinkPartition[Any]:
        class Part(SinkPartition[Any]):
            def write_batch(self, batch: Any) -> None:
                time.sleep(0.02)
                counts["consumed"] += 1

        return Part()


if __name__ == "__main__":
    seconds = float(sys.argv[1])
    p = Pipeline("backpressure")
    p.source("fast", Firehose(seconds)).map_batches(
        "double", lambda b: b.with_columns(v=b["v"] * 2)
    ).sink("slow", SlowSink())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    p.run(RuntimeConfig(channel_capacity=4, handle_signals=False))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({**counts, "rss_before_kib": before, "rss_peak_kib": peak}))
