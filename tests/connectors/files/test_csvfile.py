"""CsvSource: typed columns, quoting across lines, resume, bad rows."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from streamgale.connectors.base import BadRecord, BuildContext
from streamgale.connectors.files import CsvFormat, CsvSource
from streamgale.connectors.files.csvfile import parse_bool
from streamgale.errors import ConfigError
from tests.connectors.helpers import drain


def read_all(source: CsvSource, ctx: BuildContext, state: object = None) -> list[object]:
    part = source.build_part(ctx, source.list_parts()[0], state)
    return [r for batch in drain(part) for r in batch]


def test_rows_become_typed_dicts(tmp_path: Path, ctx: BuildContext) -> None:
    (tmp_path / "a.csv").write_text("name,age,ok,score\nada,36,yes,1.5\nbob,,no,\n")
    source = CsvSource(tmp_path / "a.csv", types={"age": int, "ok": bool, "score": float})
    assert read_all(source, ctx) == [
        {"name": "ada", "age": 36, "ok": True, "score": 1.5},
        {"name": "bob", "age": None, "ok": False, "score": None},
    ]


def test_dialect_options_and_fieldnames_without_header(tmp_path: Path, ctx: BuildContext) -> None:
    (tmp_path / "a.csv").write_text("1;'x;y'\n2;z\n")
    source = CsvSource(
        tmp_path / "a.csv", delimiter=";", quotechar="'", header=False, fieldnames=["n", "s"]
    )
    assert read_all(source, ctx) == [{"n": "1", "s": "x;y"}, {"n": "2", "s": "z"}]


def test_headerless_file_needs_fieldnames_and_unknown_option_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fieldnames"):
        CsvSource(tmp_path / "a.csv", header=False)
    with pytest.raises(ConfigError, match="unknown CSV option"):
        CsvSource(tmp_path / "a.csv", delimeter=";")


@pytest.mark.parametrize("batches_before_crash", [0, 1, 2])
def test_resume_mid_file_with_multiline_fields(
    tmp_path: Path, ctx: BuildContext, batches_before_crash: int
) -> None:
    rows = "".join(f'{i},"line one\nline two {i}"\n' for i in range(5))
    (tmp_path / "a.csv").write_text("id,text\n" + rows)
    source = CsvSource(tmp_path / "a.csv", batch_size=2, types={"id": int})
    part = source.build_part(ctx, str(tmp_path / "a.csv"), None)
    seen = [r for _ in range(batches_before_crash) for r in part.next_batch()]
    state = part.snapshot()
    part.close()
    rest = read_all(source, ctx, state)
    assert [r["id"] for r in seen + rest] == [0, 1, 2, 3, 4]  # type: ignore[index]
    assert rest[-1] == {"id": 4, "text": "line one\nline two 4"}
    # the line number counts physical lines: header + 2 per row
    assert state[1] == 1 + 2 * 2 * batches_before_crash  # type: ignore[index]


def test_bad_rows_become_bad_records_and_reading_goes_on(tmp_path: Path, ctx: BuildContext) -> None:
    (tmp_path / "a.csv").write_bytes(b'a,b\n1,2\n3\n4,"x"y\n5,\xff\n\n6,oops\n7,8\n')
    source = CsvSource(tmp_path / "a.csv", types={"b": int})
    records = read_all(source, ctx)
    assert records[0] == {"a": "1", "b": 2}
    assert records[-1] == {"a": "7", "b": 8}
    bad = records[1:-1]
    assert all(isinstance(b, BadRecord) for b in bad)
    assert [b.location for b in bad] == ["line 3", "line 4", "line 5", "line 7"]  # type: ignore[union-attr]
    assert "expected 2 fields" in bad[0].reason  # type: ignore[union-attr]
    assert "not valid CSV" in bad[1].reason  # type: ignore[union-attr]
    assert bad[2].reason == "not valid utf-8 text" and bad[2].raw == "5,\\xff"  # type: ignore[union-attr]
    assert bad[3].reason.startswith("column 'b':") and bad[3].raw == "6,oops"  # type: ignore[union-attr]


def test_duplicate_header_names_make_every_row_bad(tmp_path: Path, ctx: BuildContext) -> None:
    (tmp_path / "a.csv").write_text("a,a\n1,2\n")
    (record,) = read_all(CsvSource(tmp_path / "a.csv"), ctx)
    assert isinstance(record, BadRecord) and "repeats the column names ['a']" in record.reason


def test_empty_file_ends_at_once(tmp_path: Path, ctx: BuildContext) -> None:
    (tmp_path / "a.csv").write_text("")
    assert read_all(CsvSource(tmp_path / "a.csv"), ctx) == []


def test_parse_bool() -> None:
    assert [parse_bool(x) for x in ("TRUE", "f", "1", "No")] == [True, False, True, False]
    with pytest.raises(ValueError, match="expected true/false"):
        parse_bool("maybe")


def test_builder_and_format_are_picklable(tmp_path: Path) -> None:
    source = CsvSource(tmp_path / "a.csv", types={"n": int}, delimiter="|")
    copy = pickle.loads(pickle.dumps(source))
    assert copy.format == source.format == CsvFormat(delimiter="|", types={"n": int})
