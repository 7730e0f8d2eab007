"""LakeSink: buffering, flushing, checkpoints, and exactly once across a crash."""

from __future__ import annotations

import pickle
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from streamgale import Pipeline
from streamgale.batch import ColumnBatch
from streamgale.connectors.base import BuildContext
from streamgale.errors import ConfigError, StepError, StreamGaleError
from streamgale.lake import Lake, LakeSink
from streamgale.runtime.config import RuntimeConfig
from streamgale.testing import TestingAbortError, TestingSource
from tests.lake.conftest import LakeTarget
from tests.lake.test_lake import read_table


def event(i: int, table: str = "telemetry") -> dict[str, Any]:
    if table == "results":
        return {"table": "results", "ts": 1_714_557_600 + i, "pipeline": "p", "result_id": str(i)}
    return {
        "table": "telemetry",
        "ts": 1_714_557_600 + i,
        "pipeline": "radiology",
        "step": "prepare",
        "stage": "received",
        "level": "instance",
        "instance_uid": str(i),
        "outcome": "ok",
    }


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def build(sink: LakeSink, state: Path, part: str = "0", resume: Any = None) -> Any:
    return sink.build_part(BuildContext("lake", state, threading.Event()), part, resume)


def test_rows_are_written_at_flush_rows(tmp_path: Path) -> None:
    out = build(LakeSink(tmp_path / "lake", flush_rows=3), tmp_path / "state")
    out.write_batch([event(0), event(1)])
    assert Lake(tmp_path / "lake").files("telemetry") == []
    out.write_batch([event(2), event(3, "results")])
    lake = Lake(tmp_path / "lake")
    assert len(lake.files("telemetry")) == 1 and len(lake.files("results")) == 1


def test_rows_are_written_after_flush_seconds(tmp_path: Path) -> None:
    clock = FakeClock()
    out = build(LakeSink(tmp_path / "lake", flush_seconds=2.0, clock=clock), tmp_path / "state")
    out.write_batch([event(0)])
    clock.now += 1.9
    out.write_batch([event(1)])
    assert Lake(tmp_path / "lake").files("telemetry") == []
    clock.now += 0.2  # the first row has now waited 2.1 s
    out.write_batch([event(2)])
    (path,) = Lake(tmp_path / "lake").files("telemetry")
    assert ds.dataset(path).count_rows() == 3


def test_flush_writes_everything_so_a_checkpoint_covers_it(
    target: LakeTarget, tmp_path: Path
) -> None:
    sink = LakeSink(target.root, storage_options=target.storage_options)
    out = build(sink, tmp_path / "state")
    out.write_batch(ColumnBatch.from_rows([event(i) for i in range(4)]))
    assert target.lake().files("telemetry") == []
    out.flush()
    assert out.snapshot() == 1
    assert read_table(target, "telemetry").num_rows == 4
    out.close()


def test_a_batch_with_a_bad_record_buffers_nothing(tmp_path: Path) -> None:
    out = build(LakeSink(tmp_path / "lake"), tmp_path / "state")
    with pytest.raises(StreamGaleError, match="'table' key"):
        out.write_batch([event(0), {"ts": 0}])
    with pytest.raises(ConfigError, match="unknown lake table"):
        out.write_batch([event(1), {**event(2), "table": "nope"}])
    with pytest.raises(StreamGaleError, match="cannot go to the lake"):
        out.write_batch([event(3), "text"])
    out.write_batch([event(4)])
    out.flush()
    got = ds.dataset(tmp_path / "lake" / "telemetry", partitioning="hive").to_table()
    assert got.column("instance_uid").to_pylist() == ["4"]


def test_a_failed_write_keeps_rows_buffered_until_it_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = build(LakeSink(tmp_path / "lake", flush_rows=1), tmp_path / "state")
    real = Lake.write_arrow
    broken = True

    def flaky(self: Lake, table: str, data: Any, **kwargs: Any) -> list[str]:
        if broken:
            raise OSError("bucket unreachable")
        return real(self, table, data, **kwargs)

    monkeypatch.setattr(Lake, "write_arrow", flaky)
    out.write_batch([event(0)])  # due, fails, stays buffered: no error for the runtime
    with pytest.raises(OSError, match="unreachable"):
        out.flush()  # but a checkpoint must not acknowledge it
    broken = False
    out.flush()
    got = ds.dataset(tmp_path / "lake" / "telemetry", partitioning="hive").to_table()
    assert got.column("instance_uid").to_pylist() == ["0"]


def test_the_builder_pickles_and_checks_its_options(tmp_path: Path) -> None:
    sink = LakeSink(tmp_path, storage_options=None, flush_rows=10, flush_seconds=0.5)
    copy = pickle.loads(pickle.dumps(sink))
    assert (copy.lake_root, copy.flush_rows, copy.flush_seconds) == (str(tmp_path), 10, 0.5)
    with pytest.raises(ConfigError, match="flush_rows"):
        LakeSink(tmp_path, flush_rows=0)
    with pytest.raises(ConfigError, match="flush_seconds"):
        LakeSink(tmp_path, flush_seconds=0)


def test_a_pipeline_lands_every_row_in_the_lake(target: LakeTarget, tmp_path: Path) -> None:
    items = [event(i, "telemetry" if i % 3 else "results") for i in range(200)]
    p = Pipeline("landing")
    p.source("in", TestingSource(items, batch_size=16)).sink(
        "lake", LakeSink(target.root, storage_options=target.storage_options, flush_rows=50)
    )
    p.run(RuntimeConfig(state_dir=tmp_path / "state", checkpoint_interval=0.05))
    telemetry = read_table(target, "telemetry").column("instance_uid").to_pylist()
    results = read_table(target, "results").column("result_id").to_pylist()
    assert sorted(telemetry, key=int) == [str(i) for i in range(200) if i % 3]
    assert sorted(results, key=int) == [str(i) for i in range(200) if i % 3 == 0]


def _crash_pipeline(items: list[Any], lake_root: Path) -> Pipeline:
    p = Pipeline("crash")
    p.source("in", TestingSource(items, batch_size=4)).sink(
        "lake", LakeSink(lake_root, flush_rows=4)
    )
    return p


def _ids(lake_root: Path) -> Counter[str]:
    table = ds.dataset(lake_root / "telemetry", partitioning="hive").to_table()
    return Counter(table.column("instance_uid").to_pylist())


def test_a_crash_neither_loses_nor_repeats_rows(tmp_path: Path) -> None:
    # Run 1 ends at EOF with a final checkpoint. Run 2 writes two files, then
    # crashes before any checkpoint. Run 3 must remove run 2's files and replay.
    items: list[Any] = [event(i) for i in range(20)]
    items.insert(13, TestingSource.ABORT)
    items.insert(5, TestingSource.EOF)
    config = RuntimeConfig(state_dir=tmp_path / "state", checkpoint_interval=60)
    lake_root = tmp_path / "lake"
    _crash_pipeline(items, lake_root).run(config)
    assert _ids(lake_root) == Counter(str(i) for i in range(5))
    with pytest.raises(StepError) as info:
        _crash_pipeline(items, lake_root).run(config)
    assert isinstance(info.value.cause, TestingAbortError)
    assert _ids(lake_root) == Counter(str(i) for i in range(13))  # 5..12 not acknowledged
    _crash_pipeline(items, lake_root).run(config)
    assert _ids(lake_root) == Counter(str(i) for i in range(20))


def test_a_crash_before_the_first_checkpoint_starts_clean(tmp_path: Path) -> None:
    items: list[Any] = [event(i) for i in range(12)]
    items.insert(9, TestingSource.ABORT)
    config = RuntimeConfig(state_dir=tmp_path / "state", checkpoint_interval=60)
    lake_root = tmp_path / "lake"
    with pytest.raises(StepError):
        _crash_pipeline(items, lake_root).run(config)
    assert Lake(lake_root).files("telemetry")  # written, never acknowledged
    _crash_pipeline(items, lake_root).run(config)
    assert _ids(lake_root) == Counter(str(i) for i in range(12))
