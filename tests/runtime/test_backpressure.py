"""Backpressure: a slow sink keeps memory bounded all the way back to the source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("backpressure_pipeline.py")


def test_slow_sink_bounds_memory_and_source_reads() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "2.0"], capture_output=True, text=True, env=env, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # The sink takes 20 ms a batch, so about 100 batches in 2 s; an unbounded
    # source would have made thousands of 4 MiB batches (many GiB).
    assert result["consumed"] == result["produced"]
    # In flight at most: two channels of 4 batches, plus one in each step.
    assert result["max_gap"] <= 2 * 4 + 3, result
    growth_mib = (result["rss_peak_kib"] - result["rss_before_kib"]) / 1024
    assert growth_mib < 80, f"peak RSS grew by {growth_mib:.0f} MiB: {result}"
