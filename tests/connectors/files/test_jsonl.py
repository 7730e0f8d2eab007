"""JsonLinesSource and JsonLinesSink: batches, resume, bad lines, transactional output."""

from __future__ import annotations

import contextlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from streamgale.batch import ColumnBatch
from streamgale.connectors.base import BadRecord, BuildContext
from streamgale.connectors.files import JsonLinesSink, JsonLinesSource
from streamgale.errors import ConfigError, StreamGaleError
from tests.connectors.helpers import drain


def write_lines(path: Path, records: list[object]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_reads_in_batches_of_batch_size(tmp_path: Path, ctx: BuildContext) -> None:
    write_lines(tmp_path / "a.jsonl", [{"i": i} for i in range(10)])
    source = JsonLinesSource(tmp_path / "a.jsonl", batch_size=4)
    part = source.build_part(ctx, source.list_parts()[0], None)
    assert drain(part) == [
        [{"i": 0}, {"i": 1}, {"i": 2}, {"i": 3}],
        [{"i": 4}, {"i": 5}, {"i": 6}, {"i": 7}],
        [{"i": 8}, {"i": 9}],
    ]


def test_glob_gives_one_partition_per_file_in_name_order(tmp_path: Path) -> None:
    for name in ("b.jsonl", "a.jsonl", "c.txt"):
        write_lines(tmp_path / name, [{"f": name}])
    assert JsonLinesSource(tmp_path / "*.jsonl").list_parts() == [
        str(tmp_path / "a.jsonl"),
        str(tmp_path / "b.jsonl"),
    ]


def test_missing_file_or_empty_glob_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an existing file"):
        JsonLinesSource(tmp_path / "nope.jsonl").list_parts()
    with pytest.raises(ConfigError, match="matches no file"):
        JsonLinesSource(tmp_path / "*.jsonl").list_parts()
    with pytest.raises(ConfigError, match="batch_size"):
        JsonLinesSource(tmp_path / "x.jsonl", batch_size=0)


@pytest.mark.parametrize("stop_after", [0, 1, 2, 3])
def test_resume_from_snapshot_gives_exactly_the_remaining_records(
    tmp_path: Path, ctx: BuildContext, stop_after: int
) -> None:
    write_lines(tmp_path / "a.jsonl", [{"i": i} for i in range(7)])
    source = JsonLinesSource(tmp_path / "a.jsonl", batch_size=3)
    part = source.build_part(ctx, str(tmp_path / "a.jsonl"), None)
    seen = []
    for _ in range(stop_after):
        seen.extend(part.next_batch())
    state = pickle.loads(pickle.dumps(part.snapshot()))
    with contextlib.suppress(StopIteration):
        part.next_batch()  # read past the snapshot, then "crash"
    part.close()
    resumed = source.build_part(ctx, str(tmp_path / "a.jsonl"), state)
    rest = [r for batch in drain(resumed) for r in batch]
    assert seen + rest == [{"i": i} for i in range(7)]


def test_malformed_lines_become_bad_records_in_place(tmp_path: Path, ctx: BuildContext) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"ok": 1}\n{"broken": \n\n[1, 2]\n\xff\xfe\n{"ok": 2}')
    part = JsonLinesSource(path).build_part(ctx, str(path), None)
    (batch,) = drain(part)
    assert batch[0] == {"ok": 1}
    assert batch[-1] == {"ok": 2}  # last line without a newline is still read
    bad = batch[1:-1]
    assert all(isinstance(b, BadRecord) for b in bad)
    assert [b.location for b in bad] == ["line 2", "line 4", "line 5"]
    assert bad[0].raw == '{"broken": ' and "not valid JSON" in bad[0].reason
    assert bad[1].reason == "expected a JSON object, got a JSON list"
    assert bad[2].raw == "\\xff\\xfe"
    assert all(b.source == str(path) for b in bad)


def test_sink_writes_lines_and_column_batches_with_numpy_values(
    tmp_path: Path, ctx: BuildContext
) -> None:
    out = JsonLinesSink(tmp_path / "out.jsonl").build_part(ctx, "0", None)
    out.write_batch([{"a": 1}])
    out.write_batch(ColumnBatch({"x": np.array([1, 2]), "y": np.array([0.5, 1.5])}))
    out.flush()
    out.close()
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == [{"a": 1}, {"x": 1, "y": 0.5}, {"x": 2, "y": 1.5}]


def test_sink_resume_truncates_to_the_checkpointed_length(
    tmp_path: Path, ctx: BuildContext
) -> None:
    path = tmp_path / "out.jsonl"
    sink = JsonLinesSink(path)
    out = sink.build_part(ctx, "0", None)
    out.write_batch([{"n": 1}, {"n": 2}])
    out.flush()
    checkpoint = out.snapshot()
    out.write_batch([{"n": 3}])
    out.flush()  # durable, but the runtime crashed before saving this checkpoint
    out.write_batch([{"n": 4}])
    assert out.snapshot() > checkpoint
    out.close()
    resumed = sink.build_part(ctx, "0", checkpoint)
    assert path.read_text() == '{"n":1}\n{"n":2}\n'
    resumed.write_batch([{"n": 3}])  # the runtime replays the batch
    resumed.flush()
    resumed.close()
    assert [json.loads(x)["n"] for x in path.read_text().splitlines()] == [1, 2, 3]


def test_sink_without_resume_state_starts_the_file_empty(tmp_path: Path, ctx: BuildContext) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text("old\n")
    out = JsonLinesSink(path).build_part(ctx, "0", None)
    assert path.read_text() == ""
    assert out.snapshot() == 0
    out.close()


def test_sink_refuses_checkpoint_longer_than_file(tmp_path: Path, ctx: BuildContext) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text("short\n")
    with pytest.raises(ConfigError, match="truncated or replaced"):
        JsonLinesSink(path).build_part(ctx, "0", 1000)


def test_unencodable_record_writes_nothing_from_its_batch(
    tmp_path: Path, ctx: BuildContext
) -> None:
    out = JsonLinesSink(tmp_path / "out.jsonl").build_part(ctx, "0", None)
    with pytest.raises(StreamGaleError, match="type object"):
        out.write_batch([{"ok": 1}, {"bad": object()}])
    out.flush()
    out.close()
    assert (tmp_path / "out.jsonl").read_text() == ""


def test_builders_are_picklable(tmp_path: Path) -> None:
    for builder in (JsonLinesSource(tmp_path / "a.jsonl", 7), JsonLinesSink(tmp_path / "o")):
        copy = pickle.loads(pickle.dumps(builder))
        assert vars(copy) == vars(builder)
