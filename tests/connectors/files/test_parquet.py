"""ParquetSink -> ParquetSource round trips, resume and crash clean-up."""

from __future__ import annotations

import builtins
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamgale.batch import ColumnBatch
from streamgale.connectors.base import BuildContext
from streamgale.connectors.files import ParquetSink, ParquetSource
from streamgale.errors import MissingExtraError, StreamGaleError
from tests.connectors.helpers import drain


def read_column(directory: Path, ctx: BuildContext, name: str) -> list[Any]:
    source = ParquetSource(directory / "*.parquet")
    values: list[Any] = []
    for part in source.list_parts():
        for batch in drain(source.build_part(ctx, part, None)):
            values.extend(row[name] for row in batch)
    return values


def test_round_trip_column_batches_and_dict_records(tmp_path: Path, ctx: BuildContext) -> None:
    out = ParquetSink(tmp_path / "out").build_part(ctx, "0", None)
    out.write_batch(ColumnBatch({"x": np.arange(3), "s": np.array(["a", "b", "c"])}))
    out.write_batch([{"x": 3, "s": "d"}])
    out.flush()
    out.write_batch([{"x": 4, "s": "e"}])
    out.flush()
    out.flush()  # nothing buffered: no empty file
    out.close()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "part-00000000-0.parquet",
        "part-00000001-0.parquet",
    ]
    assert read_column(tmp_path / "out", ctx, "x") == [0, 1, 2, 3, 4]
    assert read_column(tmp_path / "out", ctx, "s") == ["a", "b", "c", "d", "e"]


def test_source_yields_column_batches_and_resumes_inside_row_groups(
    tmp_path: Path, ctx: BuildContext
) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"v": np.arange(25)}), path, row_group_size=10)
    source = ParquetSource(path, batch_size=4)
    part = source.build_part(ctx, str(path), None)
    first = part.next_batch()
    assert isinstance(first, ColumnBatch) and first["v"].tolist() == [0, 1, 2, 3]
    for _ in range(3):
        part.next_batch()  # 4..7, 8..9 (end of group 0), 10..13
    state = part.snapshot()
    assert state == (1, 4)
    part.close()
    rest = drain(source.build_part(ctx, str(path), pickle.loads(pickle.dumps(state))))
    assert [r["v"] for b in rest for r in b] == list(range(14, 25))


def test_resume_deletes_parts_written_after_the_checkpoint(
    tmp_path: Path, ctx: BuildContext
) -> None:
    sink = ParquetSink(tmp_path / "out")
    out = sink.build_part(ctx, "0", None)
    out.write_batch([{"x": 1}])
    out.flush()
    state = out.snapshot()
    out.write_batch([{"x": 2}])
    out.flush()  # written, but its checkpoint never saved
    (tmp_path / "out" / ".part-00000002-0.parquet.tmp").write_bytes(b"half")
    other = tmp_path / "out" / "part-00000005-1.parquet"  # another writer's file
    pq.write_table(pa.table({"x": [9]}), other)
    out.close()
    again = sink.build_part(ctx, "0", state)
    again.write_batch([{"x": 2}])
    again.flush()
    again.close()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "part-00000000-0.parquet",
        "part-00000001-0.parquet",
        "part-00000005-1.parquet",
    ]
    assert sorted(read_column(tmp_path / "out", ctx, "x")) == [1, 2, 9]


def test_schemas_merge_permissively_or_the_batch_is_refused(
    tmp_path: Path, ctx: BuildContext
) -> None:
    out = ParquetSink(tmp_path / "out").build_part(ctx, "0", None)
    out.write_batch([{"x": 1}])
    out.write_batch([{"x": 1.5, "y": "new"}])
    with pytest.raises(StreamGaleError, match="do not match earlier batches"):
        out.write_batch([{"x": "text"}])
    out.flush()
    out.close()
    assert read_column(tmp_path / "out", ctx, "x") == [1.0, 1.5]


def test_missing_pyarrow_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(MissingExtraError, match=r"pip install 'streamgale\[parquet\]'"):
        ParquetSource("x.parquet")
    with pytest.raises(MissingExtraError, match="parquet"):
        ParquetSink("out")
