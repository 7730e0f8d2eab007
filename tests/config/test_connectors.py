"""Connector sections: the ``type`` picks the class, the other keys are its options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamgale.config import load_pipeline
from streamgale.connectors import (
    CsvSink,
    CsvSource,
    DirectorySource,
    HttpSource,
    JsonLinesSink,
    JsonLinesSource,
    LogSink,
    LogSource,
    ParquetSink,
    StdOutSink,
)
from streamgale.dataflow.steps import SinkStep, SourceStep
from streamgale.errors import ConfigError
from streamgale.log.base import FsyncPolicy


def _load(tmp_path: Path, sources: str, sinks: str = "out: {type: stdout}") -> dict[str, Any]:
    path = tmp_path / "pipeline.yaml"
    path.write_text(f"pipeline: p\nsources:\n  {sources}\nsinks:\n  {sinks}\n")
    built: dict[str, Any] = {}
    for step_id, step in load_pipeline(path).pipeline.steps.items():
        if isinstance(step, SourceStep):
            built[step_id] = step.source
        elif isinstance(step, SinkStep):
            built[step_id] = step.sink
    return built


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    built = _load(
        tmp_path,
        "in: {type: jsonl, path: data/in.jsonl, batch_size: 7}",
        "out: {type: jsonl, path: out/o.jsonl}",
    )

    source, sink = built["in"], built["out"]
    assert isinstance(source, JsonLinesSource) and isinstance(sink, JsonLinesSink)
    assert Path(source.path) == tmp_path / "data" / "in.jsonl"
    assert source.batch_size == 7
    assert Path(sink.path) == tmp_path / "out" / "o.jsonl"


def test_absolute_paths_stay(tmp_path: Path) -> None:
    built = _load(tmp_path, "in: {type: jsonl, path: /srv/in.jsonl}")
    assert Path(built["in"].path) == Path("/srv/in.jsonl")


def test_csv_options_and_column_types(tmp_path: Path) -> None:
    built = _load(
        tmp_path,
        "in: {type: csv, path: in.csv, delimiter: ';', types: {value: float, n: int}}",
        "out: {type: csv, path: out.csv, fieldnames: [a, b]}",
    )
    source, sink = built["in"], built["out"]
    assert isinstance(source, CsvSource) and isinstance(sink, CsvSink)
    assert source.format.delimiter == ";"
    assert source.format.types == {"value": float, "n": int}
    assert sink.fieldnames == ("a", "b")


def test_csv_column_type_must_be_known(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"pipeline.yaml:3, key 'sources.in.types.v': unknown column type 'decimal'",
    ):
        _load(tmp_path, "in: {type: csv, path: in.csv, types: {v: decimal}}")


def test_directory_source_reads_durations_and_checks_choices(tmp_path: Path) -> None:
    built = _load(
        tmp_path,
        "in: {type: directory, directory: inbox, pattern: '*.csv', format: csv,"
        " poll_interval: 250ms}",
    )
    source = built["in"]
    assert isinstance(source, DirectorySource)
    assert Path(source.directory) == tmp_path / "inbox"
    assert (source.pattern, source.format, source.poll_interval) == ("*.csv", "csv", 0.25)

    with pytest.raises(ConfigError, match=r"unknown value 'xml'; allowed: jsonl, csv, parquet"):
        _load(tmp_path, "in: {type: directory, directory: inbox, format: xml}")


def test_http_source_path_is_a_url_path_not_a_file(tmp_path: Path) -> None:
    built = _load(tmp_path, "in: {type: http, port: 0, path: /readings, request_timeout_s: 2s}")
    source = built["in"]
    assert isinstance(source, HttpSource)
    assert (source.port, source.path, source.request_timeout_s) == (0, "/readings", 2.0)


def test_log_connectors_take_enum_values_by_value_or_name(tmp_path: Path) -> None:
    built = _load(
        tmp_path,
        "in: {type: log, log: logs, topic: readings, until_end: true}",
        "out: {type: log, log: logs, topic: results, fsync: ALWAYS}",
    )
    source, sink = built["in"], built["out"]
    assert isinstance(source, LogSource) and isinstance(sink, LogSink)
    assert source.log == tmp_path / "logs" and source.until_end is True
    assert sink.fsync is FsyncPolicy.ALWAYS


def test_parquet_sink_and_stdout_format(tmp_path: Path) -> None:
    built = _load(
        tmp_path,
        "in: {type: jsonl, path: in.jsonl}",
        "out: {type: parquet, directory: lake}\n  show: {type: stdout, format: repr}",
    )
    assert isinstance(built["out"], ParquetSink)
    assert Path(built["out"].directory) == tmp_path / "lake"
    assert isinstance(built["show"], StdOutSink) and built["show"].format == "repr"
