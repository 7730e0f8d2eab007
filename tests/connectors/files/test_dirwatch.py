"""DirectorySource: readiness rules, name order, restart without re-reading."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamgale.batch import iter_rows
from streamgale.connectors.base import BuildContext, SourcePartition
from streamgale.connectors.files import CsvFormat, DirectorySource
from streamgale.errors import ConfigError
from streamgale.runtime.logic import ManualClock


def lines(*values: int) -> str:
    return "".join(f'{{"n": {v}}}\n' for v in values)


def poll(part: SourcePartition[Any], clock: ManualClock, rounds: int = 1) -> list[Any]:
    """Advance the clock to each next poll and collect what comes out."""
    out: list[Any] = []
    for _ in range(rounds):
        clock.set(max(clock.now(), part.next_awake() or 0.0))
        while batch := part.next_batch():
            out.extend(r["n"] for r in iter_rows(batch))
    return out


@pytest.fixture
def watched(tmp_path: Path) -> Path:
    directory = tmp_path / "in"
    directory.mkdir()
    return directory


def test_stable_mode_waits_for_a_file_to_stop_growing(watched: Path, ctx: BuildContext) -> None:
    clock = ManualClock()
    part = DirectorySource(watched, clock=clock).build_part(ctx, "0", None)
    (watched / "a.jsonl").write_text(lines(1))
    assert poll(part, clock) == []  # first sight
    with open(watched / "a.jsonl", "a") as f:
        f.write(lines(2))
    assert poll(part, clock) == []  # grew since the last poll
    assert part.next_awake() == pytest.approx(clock.now() + 0.5)
    assert poll(part, clock) == [1, 2]  # unchanged over two polls


def test_renamed_mode_reads_at_first_sight_in_name_order(watched: Path, ctx: BuildContext) -> None:
    clock = ManualClock()
    part = DirectorySource(watched, ready="renamed", clock=clock).build_part(ctx, "0", None)
    for name, value in (("b.jsonl", 2), ("c.jsonl", 3), ("a.jsonl", 1)):
        (watched / f".{name}.tmp").write_text(lines(value))
        os.replace(watched / f".{name}.tmp", watched / name)
    (watched / ".hidden.jsonl").write_text(lines(99))
    (watched / "other.txt").write_text(lines(98))
    assert poll(part, clock) == [1, 2, 3]
    assert poll(part, clock, rounds=3) == []  # each file read once


def test_restart_resumes_mid_file_without_rereading(watched: Path, ctx: BuildContext) -> None:
    (watched / "a.jsonl").write_text(lines(1, 2))
    (watched / "b.jsonl").write_text(lines(3, 4, 5, 6))
    (watched / "c.jsonl").write_text(lines(7))
    source = DirectorySource(watched, ready="renamed", batch_size=2, clock=ManualClock())
    part = source.build_part(ctx, "0", None)
    first = [r["n"] for b in (part.next_batch(), part.next_batch()) for r in iter_rows(b)]
    assert first == [1, 2, 3, 4]
    state = pickle.loads(pickle.dumps(part.snapshot()))
    assert state["done"] == ["a.jsonl"] and state["current"] == "b.jsonl"
    part.next_batch()  # read past the snapshot, then crash
    part.close()
    clock = ManualClock()
    source.clock = clock
    resumed = source.build_part(ctx, "0", state)
    assert poll(resumed, clock, rounds=2) == [5, 6, 7]


def test_deleted_files_are_forgotten_so_a_new_one_with_that_name_is_read(
    watched: Path, ctx: BuildContext
) -> None:
    clock = ManualClock()
    part = DirectorySource(watched, ready="renamed", clock=clock).build_part(ctx, "0", None)
    (watched / "a.jsonl").write_text(lines(1))
    assert poll(part, clock) == [1]
    (watched / "a.jsonl").unlink()
    assert poll(part, clock) == []
    assert part.snapshot()["done"] == []
    (watched / "a.jsonl").write_text(lines(2))
    assert poll(part, clock) == [2]


def test_csv_and_parquet_formats(watched: Path, ctx: BuildContext) -> None:
    (watched / "a.csv").write_text("n;x\n1;a\n")
    csv_source = DirectorySource(
        watched,
        "*.csv",
        "csv",
        ready="renamed",
        csv=CsvFormat(delimiter=";", types={"n": int}),
        clock=ManualClock(),
    )
    csv_part = csv_source.build_part(ctx, "0", None)
    assert csv_part.next_batch() == [{"n": 1, "x": "a"}]
    pq.write_table(pa.table({"n": [5, 6]}), watched / "b.parquet")
    pq_source = DirectorySource(watched, "*.parquet", "parquet", ready="renamed")
    pq_part = pq_source.build_part(ctx, "0", None)
    assert pq_part.next_batch()["n"].tolist() == [5, 6]  # type: ignore[call-overload]


def test_configuration_errors(tmp_path: Path, ctx: BuildContext) -> None:
    with pytest.raises(ConfigError, match="unknown file format"):
        DirectorySource(tmp_path, format="xml")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="poll_interval"):
        DirectorySource(tmp_path, poll_interval=0)
    with pytest.raises(ConfigError, match="readiness"):
        DirectorySource(tmp_path, ready="soon")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not an existing directory"):
        DirectorySource(tmp_path / "missing").build_part(ctx, "0", None)
