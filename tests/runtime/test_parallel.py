"""CPU-heavy steps with parallelism N run in worker processes, in order, losing nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from streamgale import ColumnBatch, Pipeline, RuntimeConfig
from streamgale.deadletter import DeadLetterStore
from streamgale.testing import TestingSink, TestingSource

from .parallel_functions import normalise, square_or_fail, worker_pid


def test_parallel_map_keeps_order_and_dead_letters_failures(tmp_path: Path) -> None:
    out: list[int] = []
    p = Pipeline("par")
    p.source("in", TestingSource(list(range(200)), batch_size=7)).map(
        "square", square_or_fail, parallelism=2
    ).sink("out", TestingSink(out))
    p.run(RuntimeConfig(state_dir=tmp_path, handle_signals=False))
    assert out == [x * x for x in range(200) if x != 13]
    [letter] = DeadLetterStore(tmp_path / "deadletters.sqlite").list()
    assert letter.step_id == "square"
    assert letter.payload == 13
    assert "unlucky" in letter.error
    assert "square_or_fail" in letter.traceback  # the worker's own traceback


def test_parallel_map_really_uses_other_processes() -> None:
    import os

    out: list[int] = []
    p = Pipeline("pids")
    p.source("in", TestingSource(list(range(64)), batch_size=4)).map(
        "pid", worker_pid, parallelism=2
    ).sink("out", TestingSink(out))
    p.run(RuntimeConfig(handle_signals=False))
    assert len(out) == 64
    assert os.getpid() not in out


def test_parallel_map_batches_on_large_numpy_batches() -> None:
    rng = np.random.default_rng(0)
    batches = [ColumnBatch({"v": rng.normal(5, 2, 1_000_000)}) for _ in range(6)]
    out: list[Any] = []
    p = Pipeline("np")
    p.source("in", TestingSource(batches, batches=True)).map_batches(
        "normalise", normalise, parallelism=2
    ).sink("out", TestingSink(out, as_batches=True))
    p.run(RuntimeConfig(handle_signals=False))
    assert len(out) == 6
    for got, sent in zip(out, batches, strict=True):
        np.testing.assert_allclose(got["v"], (sent["v"] - sent["v"].mean()) / sent["v"].std())
        assert got["shared"].sum() == 1_000_000


def test_thread_executor_runs_unpicklable_functions_in_order(tmp_path: Path) -> None:
    import threading

    names: set[str] = set()
    lock = threading.Lock()  # unpicklable: a process pool could not take this closure

    def tag(x: int) -> int:
        with lock:
            names.add(threading.current_thread().name)
        if x == 7:
            raise ValueError("seven")
        return x + 100

    out: list[int] = []
    p = Pipeline("threads")
    p.source("in", TestingSource(list(range(50)), batch_size=3)).map(
        "tag", tag, executor="thread"
    ).sink("out", TestingSink(out))
    p.run(RuntimeConfig(state_dir=tmp_path, handle_signals=False))
    assert out == [x + 100 for x in range(50) if x != 7]
    assert names and all(n.startswith("step-tag") for n in names)  # never the driver
    [letter] = DeadLetterStore(tmp_path / "deadletters.sqlite").list()
    assert letter.payload == 7 and "seven" in letter.error
