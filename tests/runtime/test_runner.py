"""The local runtime: operators end to end, dead letters, retries, stop and resume."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from streamgale import Pipeline, RuntimeConfig
from streamgale.batch import Batch
from streamgale.connectors.base import BuildContext, Sink, SinkPartition
from streamgale.deadletter import DeadLetterStatus, DeadLetterStore
from streamgale.errors import StepError
from streamgale.runtime.runner import Runtime
from streamgale.testing import TestingAbortError, TestingSink, TestingSource


def _cfg(tmp_path: Path, **kw: Any) -> RuntimeConfig:
    return RuntimeConfig(state_dir=tmp_path / "state", checkpoint_interval=0.05, **kw)


def _fails_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three is not allowed")
    return x * 10


def test_operators_chain_end_to_end() -> None:
    out: list[Any] = []
    p = Pipeline("chain")
    (
        p.source("in", TestingSource(list(range(10)), batch_size=3))
        .map("double", lambda x: x * 2)
        .filter("big", lambda x: x > 5)
        .flat_map("twice", lambda x: [x, x])
        .sink("out", TestingSink(out))
    )
    p.run()
    assert out == [x for v in range(10) if v * 2 > 5 for x in (v * 2, v * 2)]


def test_failing_record_goes_to_dead_letters_and_the_rest_flows(tmp_path: Path) -> None:
    out: list[int] = []
    p = Pipeline("dlq")
    p.source("in", TestingSource([1, 2, 3, 4])).map("tenfold", _fails_on_three).sink(
        "out", TestingSink(out)
    )
    p.run(_cfg(tmp_path))
    assert out == [10, 20, 40]
    store = DeadLetterStore(tmp_path / "state" / "deadletters.sqlite")
    [letter] = store.list()
    assert letter.step_id == "tenfold"
    assert letter.pipeline == "dlq"
    assert letter.error_type == "ValueError"
    assert "three is not allowed" in letter.error
    assert "_fails_on_three" in letter.traceback
    assert letter.payload == 3
    assert letter.status is DeadLetterStatus.NEW


class _FlakySink(Sink[Any]):
    def __init__(self, failures: int, out: list[Any]) -> None:
        self.failures = failures
        self.out = out
        self.attempts = 0

    def build_part(self, ctx: BuildContext, part: str, resume_state: Any) -> SinkPartition[Any]:
        sink = self

        class Part(SinkPartition[Any]):
            def write_batch(self, batch: Batch) -> None:
                sink.attempts += 1
                if sink.attempts <= sink.failures:
                    raise ConnectionError(f"destination down (attempt {sink.attempts})")
                sink.out.extend(batch)

        return Part()


def test_sink_retries_with_backoff_then_succeeds(tmp_path: Path) -> None:
    out: list[int] = []
    sink = _FlakySink(failures=2, out=out)
    p = Pipeline("retry")
    p.source("in", TestingSource([1, 2, 3])).sink("out", sink)
    started = time.monotonic()
    p.run(_cfg(tmp_path, sink_retries=3, sink_backoff=0.05))
    assert out == [1, 2, 3]
    assert sink.attempts == 3
    # Two backoffs: 0.05 s then 0.1 s.
    assert time.monotonic() - started >= 0.15
    assert DeadLetterStore(tmp_path / "state" / "deadletters.sqlite").count() == 0


def test_sink_that_never_recovers_sends_batch_to_dead_letters(tmp_path: Path) -> None:
    out: list[int] = []
    p = Pipeline("down")
    p.source("in", TestingSource([1, 2])).sink("out", _FlakySink(failures=100, out=out))
    p.run(_cfg(tmp_path, sink_retries=2, sink_backoff=0.01))
    assert out == []
    [letter] = DeadLetterStore(tmp_path / "state" / "deadletters.sqlite").list()
    assert letter.is_batch and letter.payload == [1, 2]
    assert letter.error_type == "SinkError"
    assert "failed 3 times" in letter.error


def test_dead_letter_replay_feeds_the_failed_record_back(tmp_path: Path) -> None:
    flag = tmp_path / "fixed"

    def parse(x: int) -> int:
        if x == 2 and not flag.exists():
            raise ValueError("bug")
        return x

    out: list[int] = []
    p = Pipeline("replay")
    p.source("in", TestingSource([1, 2, 3])).map("parse", parse).sink("out", TestingSink(out))
    p.run(_cfg(tmp_path))
    assert out == [1, 3]
    store = DeadLetterStore(tmp_path / "state" / "deadletters.sqlite")
    [letter] = store.list()
    flag.touch()  # the "bug" is fixed
    assert store.request_replay([letter.id]) == 1
    store.close()
    p.run(_cfg(tmp_path))
    assert out == [1, 3, 2]
    assert DeadLetterStore(tmp_path / "state" / "deadletters.sqlite").get(letter.id).status is (
        DeadLetterStatus.REPLAYED
    )


def test_abort_then_resume_neither_loses_nor_repeats(tmp_path: Path) -> None:
    from streamgale.connectors import JsonLinesSink

    items: list[Any] = [{"i": i} for i in range(50)]
    items.insert(30, TestingSource.ABORT)
    out_file = tmp_path / "out.jsonl"

    def build() -> Pipeline:
        p = Pipeline("resume")
        p.source("in", TestingSource(items, batch_size=4)).sink("out", JsonLinesSink(out_file))
        return p

    with pytest.raises(StepError) as info:
        build().run(_cfg(tmp_path))
    assert isinstance(info.value.cause, TestingAbortError)
    build().run(_cfg(tmp_path))
    import json

    lines = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert lines == [{"i": i} for i in range(50)]


def test_stop_from_another_thread_drains_and_commits(tmp_path: Path) -> None:
    class Endless(TestingSource[int]):
        pass

    out: list[int] = []
    p = Pipeline("endless")
    p.source("in", Endless(list(range(10_000_000)), batch_size=100)).sink("out", TestingSink(out))
    runtime = Runtime(p, _cfg(tmp_path))
    threading.Timer(0.3, runtime.stop).start()
    runtime.run()
    assert runtime.epoch >= 1
    assert out and out == list(range(len(out)))
    # The committed snapshot holds exactly the position of what was written.
    from streamgale.state.file import FileStateStore

    snapshot = FileStateStore(tmp_path / "state" / "snapshots").load()
    assert snapshot is not None
    assert snapshot.sources["in/0"] == len(out)


def test_batch_groups_by_size_and_wait() -> None:
    out: list[Any] = []
    p = Pipeline("batches")
    p.source("in", TestingSource(list(range(5)))).batch("b", max_size=2, max_wait=10).sink(
        "out", TestingSink(out)
    )
    p.run()
    assert out == [[0, 1], [2, 3], [4]]


def test_branch_and_merge() -> None:
    trues: list[int] = []
    merged: list[int] = []
    p = Pipeline("bm")
    src = p.source("in", TestingSource(list(range(6))))
    parts = src.branch("even", lambda x: x % 2 == 0)
    parts.trues.sink("evens", TestingSink(trues))
    parts.trues.map("neg", lambda x: -x).merge("all", parts.falses).sink(
        "merged", TestingSink(merged)
    )
    p.run()
    assert trues == [0, 2, 4]
    assert sorted(merged) == [-4, -2, 0, 1, 3, 5]


def test_watermarks_travel_behind_the_batches_they_follow() -> None:
    """Regression: an upstream step that ends must not let +inf overtake its batches."""
    from streamgale.windowing import Count, EventClock, TumblingWindow

    events = [{"k": "a", "t": float(t)} for t in range(25)]
    out: list[Any] = []
    late: list[Any] = []
    p = Pipeline("wm")
    windows = (
        p.source("in", TestingSource(events, batch_size=5))
        .map("copy", dict)
        .key_by("k", "k")
        .window(TumblingWindow(10.0), EventClock("t"))
        .aggregate("n", n=Count())
    )
    windows.results.sink("out", TestingSink(out))
    windows.late.sink("late", TestingSink(late))
    p.run()
    assert late == []
    assert [(r["window_start"], r["n"]) for r in out] == [(0.0, 10), (10.0, 10), (20.0, 5)]


def test_unread_late_output_is_kept_as_dead_letters(tmp_path: Path) -> None:
    """A late record with no step reading `.late` must not vanish."""
    from streamgale.windowing import Count, EventClock, TumblingWindow

    events = [{"k": "a", "t": 30.0}, {"k": "a", "t": 1.0}]  # the second is late
    out: list[Any] = []
    p = Pipeline("late")
    (
        p.source("in", TestingSource(events))
        .key_by("k", "k")
        .window(TumblingWindow(10.0), EventClock("t"))
        .aggregate("n", n=Count())
        .results.sink("out", TestingSink(out))
    )
    p.run(_cfg(tmp_path))
    assert [r["n"] for r in out] == [1]
    [letter] = DeadLetterStore(tmp_path / "state" / "deadletters.sqlite").list()
    assert letter.step_id == "n"
    assert letter.error_type == "UnreadSideOutputError"
    assert "'late' output, which no step reads" in letter.error
    assert letter.payload == [{"k": "a", "t": 1.0}]
