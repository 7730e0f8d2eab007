"""A full disk skips checkpoints instead of stopping the run; they resume with space."""

from __future__ import annotations

import errno
import time
from pathlib import Path
from typing import Any

import pytest

from streamgale import Pipeline
from streamgale.batch import Batch
from streamgale.connectors.base import BuildContext, Sink, SinkPartition
from streamgale.runtime.config import RuntimeConfig
from streamgale.runtime.runner import Runtime
from streamgale.testing import TestingSource


class FullDiskSink(Sink[Any]):
    """Keeps records; its first ``full_flushes`` flushes fail as on a full disk."""

    def __init__(self, full_flushes: int, error: OSError) -> None:
        self.out: list[Any] = []
        self.flushes = {"failed": 0, "ok": 0}
        self.full_flushes = full_flushes
        self.error = error

    def build_part(self, ctx: BuildContext, part: str, resume_state: Any | None) -> Any:
        return _Part(self)


class _Part(SinkPartition[Any]):
    def __init__(self, sink: FullDiskSink) -> None:
        self.sink = sink

    def write_batch(self, batch: Batch) -> None:
        self.sink.out.extend(batch)

    def flush(self) -> None:
        if self.sink.flushes["failed"] < self.sink.full_flushes:
            self.sink.flushes["failed"] += 1
            raise self.sink.error
        self.sink.flushes["ok"] += 1


def _slow(x: int) -> int:
    time.sleep(0.005)
    return x


def _run(tmp_path: Path, sink: FullDiskSink) -> Runtime:
    p = Pipeline("full")
    p.source("in", TestingSource(list(range(100)), batch_size=1)).map("slow", _slow).sink(
        "out", sink
    )
    runtime = Runtime(p, RuntimeConfig(state_dir=tmp_path / "state", checkpoint_interval=0.02))
    runtime.run()
    return runtime


def test_checkpoints_are_skipped_while_the_disk_is_full(tmp_path: Path) -> None:
    sink = FullDiskSink(3, OSError(errno.ENOSPC, "No space left on device"))
    runtime = _run(tmp_path, sink)
    assert sink.out == list(range(100))
    assert sink.flushes["failed"] == 3 and sink.flushes["ok"] >= 1
    assert runtime.epoch >= 1


def test_other_errors_still_stop_the_run(tmp_path: Path) -> None:
    sink = FullDiskSink(1, OSError(errno.EACCES, "Permission denied"))
    with pytest.raises(OSError, match="Permission denied"):
        _run(tmp_path, sink)
