"""Bounded checkpoint drains save queued batches, unless they cannot be pickled.

(Saving and restoring queued batches is proven by tests/runtime/test_crash.py, whose
pipeline runs with no drain at all, and by tests/runtime/test_crash_loop.py.)
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from streamgale import Pipeline, RuntimeConfig
from streamgale.testing import TestingSink, TestingSource


class _Handle:
    """Something a step may pass on that no snapshot can hold (it has a lock)."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.lock = threading.Lock()


def _slow(batch: list[Any]) -> list[Any]:
    time.sleep(0.002)
    return batch


def test_unpicklable_records_between_steps_are_drained_not_saved(tmp_path: Path) -> None:
    """Regression: with a bounded drain, a checkpoint pickled what was queued, so a
    pipeline passing open handles between steps failed at its first checkpoint."""
    out: list[int] = []
    p = Pipeline("handles")
    (
        p.source("in", TestingSource(list(range(200)), batch_size=5))
        .map("open", _Handle)
        .map_batches("slow", _slow)
        .map("close", lambda h: h.value)
        .sink("out", TestingSink(out))
    )
    config = RuntimeConfig(state_dir=tmp_path, checkpoint_interval=0.005, checkpoint_drain=0.0)
    p.run(config)
    assert sorted(out) == list(range(200))
