"""StdOutSink prints one line per record."""

from __future__ import annotations

import numpy as np
import pytest

from streamgale.batch import ColumnBatch
from streamgale.connectors.base import BuildContext
from streamgale.connectors.stdout import StdOutSink
from streamgale.errors import ConfigError, StreamGaleError


def test_json_lines_for_records_and_column_rows(
    ctx: BuildContext, capsys: pytest.CaptureFixture[str]
) -> None:
    out = StdOutSink().build_part(ctx, "0", None)
    out.write_batch([{"a": 1}, [1, 2], "s"])
    out.write_batch(ColumnBatch({"k": np.array([1, 2]), "v": np.array([0.5, 2.0])}))
    out.write_batch([])
    out.flush()
    assert capsys.readouterr().out == ('{"a":1}\n[1,2]\n"s"\n{"k":1,"v":0.5}\n{"k":2,"v":2.0}\n')


def test_repr_format(ctx: BuildContext, capsys: pytest.CaptureFixture[str]) -> None:
    out = StdOutSink("repr").build_part(ctx, "0", None)
    out.write_batch([{"a": 1}, ("t", None)])
    assert capsys.readouterr().out == "{'a': 1}\n('t', None)\n"


def test_unprintable_batch_prints_nothing(
    ctx: BuildContext, capsys: pytest.CaptureFixture[str]
) -> None:
    out = StdOutSink().build_part(ctx, "0", None)
    with pytest.raises(StreamGaleError, match="bytes"):
        out.write_batch([{"ok": 1}, {"raw": b"\x00"}])
    assert capsys.readouterr().out == ""


def test_unknown_format() -> None:
    with pytest.raises(ConfigError, match="'json' or 'repr'"):
        StdOutSink("xml")  # type: ignore[arg-type]
