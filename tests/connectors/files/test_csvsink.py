"""CsvSink: header, cells, transactional truncation on resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamgale.batch import ColumnBatch
from streamgale.connectors.base import BuildContext
from streamgale.connectors.files import CsvSink, CsvSource
from streamgale.errors import StreamGaleError
from tests.connectors.helpers import drain


def test_round_trip_through_csv_source(tmp_path: Path, ctx: BuildContext) -> None:
    out = CsvSink(tmp_path / "o.csv").build_part(ctx, "0", None)
    out.write_batch([{"n": 1, "tags": ["a", "b"], "x": None}])
    out.write_batch(ColumnBatch({"n": np.array([2]), "tags": np.array(["c"]), "x": [0.5]}))
    out.flush()
    out.close()
    source = CsvSource(tmp_path / "o.csv", types={"n": int, "x": float})
    (rows,) = drain(source.build_part(ctx, str(tmp_path / "o.csv"), None))
    assert rows == [
        {"n": 1, "tags": '["a","b"]', "x": None},
        {"n": 2, "tags": "c", "x": 0.5},
    ]


def test_resume_truncates_and_keeps_the_columns(tmp_path: Path, ctx: BuildContext) -> None:
    path = tmp_path / "o.csv"
    sink = CsvSink(path)
    out = sink.build_part(ctx, "0", None)
    out.write_batch([{"a": 1, "b": 2}])
    out.flush()
    state = out.snapshot()
    out.write_batch([{"a": 3, "b": 4}])
    out.flush()
    out.close()
    again = sink.build_part(ctx, "0", state)
    assert path.read_text() == "a,b\n1,2\n"
    again.write_batch([{"b": 6, "a": 5}])  # columns stay in the checkpointed order
    again.flush()
    again.close()
    assert path.read_text() == "a,b\n1,2\n5,6\n"


def test_header_is_rewritten_when_resuming_at_length_zero(
    tmp_path: Path, ctx: BuildContext
) -> None:
    path = tmp_path / "o.csv"
    out = CsvSink(path, fieldnames=["a"]).build_part(ctx, "0", None)
    state = out.snapshot()
    out.write_batch([{"a": 1}])
    out.close()
    again = CsvSink(path, fieldnames=["a"]).build_part(ctx, "0", state)
    again.write_batch([{"a": 1}])
    again.flush()
    assert path.read_text() == "a\n1\n"


def test_unknown_field_or_non_dict_is_refused_and_writes_nothing(
    tmp_path: Path, ctx: BuildContext
) -> None:
    out = CsvSink(tmp_path / "o.csv", fieldnames=["a"]).build_part(ctx, "0", None)
    with pytest.raises(StreamGaleError, match=r"fields \['z'\] that are not CSV columns"):
        out.write_batch([{"a": 1}, {"a": 2, "z": 3}])
    with pytest.raises(StreamGaleError, match="writes dict records"):
        out.write_batch([5])
    out.flush()
    assert (tmp_path / "o.csv").read_text() == ""
