"""Loading pipeline files: the graph they build, running it, and runtime overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streamgale import Pipeline, RuntimeConfig
from streamgale.config import LoadedPipeline, load_pipeline, load_pipeline_text
from streamgale.connectors import JsonLinesSource
from streamgale.dataflow.pipeline import describe
from streamgale.dataflow.steps import OperatorStep, SourceStep
from streamgale.deadletter import DeadLetterStore
from streamgale.errors import ConfigError
from streamgale.testing import TestingSource
from streamgale.windowing import Count, EventClock, Max, Mean, TumblingWindow

READINGS = [
    {"sensor": "a", "ts": 1.0, "value": 10},
    {"sensor": "a", "ts": 2.0, "value": 60},
    {"sensor": "b", "ts": 3.0, "value": 5},
    {"sensor": "b", "ts": 4.0, "value": "oops"},  # parse raises: a dead letter
    {"sensor": "a", "ts": 12.0, "value": 1},
    {"sensor": "b", "ts": 25.0, "value": 99},
    {"sensor": "a", "ts": 4.0, "value": 70},  # its window closed long ago: late
]

SENSORS_YAML = """\
pipeline: sensors
runtime:
  checkpoint_interval: 200ms
sources:
  readings: {{type: jsonl, path: data/readings.jsonl}}
steps:
  - id: parse
    map: {rules}:parse
  - id: by_sensor
    key_by: sensor
  - id: stats
    window: {{tumbling: 10s, time: ts, max_delay: 0s, allowed_lateness: 0s}}
    aggregate: {{n: count, mean: mean(value), peak: max(value)}}
  - id: hot
    filter: {rules}:is_hot
    from: stats
sinks:
  out: {{type: jsonl, path: out/hot.jsonl, from: hot}}
  late: {{type: jsonl, path: out/late.jsonl, from: stats.late}}
"""


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _sensors(tmp_path: Path, rules: str) -> Path:
    _write_jsonl(tmp_path / "data" / "readings.jsonl", READINGS)
    path = tmp_path / "sensors.yaml"
    path.write_text(SENSORS_YAML.format(rules=rules))
    return path


def test_yaml_pipeline_runs_end_to_end(
    tmp_path: Path, rules: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _sensors(tmp_path, rules)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # paths in the file are relative to the file, not the cwd

    loaded = load_pipeline(path, overrides={"state_dir": tmp_path / "state"})
    loaded.run()

    hot = sorted(_read_jsonl(tmp_path / "out" / "hot.jsonl"), key=lambda r: r["key"])
    assert hot == [
        {"key": "a", "window_start": 0.0, "window_end": 10.0, "n": 2, "mean": 35.0, "peak": 60.0},
        {"key": "b", "window_start": 20.0, "window_end": 30.0, "n": 1, "mean": 99.0, "peak": 99.0},
    ]
    assert _read_jsonl(tmp_path / "out" / "late.jsonl") == [
        {"sensor": "a", "ts": 4.0, "value": 70.0}
    ]
    store = DeadLetterStore(tmp_path / "state" / "deadletters.sqlite")
    try:
        (letter,) = store.list()
    finally:
        store.close()
    assert (letter.pipeline, letter.step_id, letter.error_type) == (
        "sensors",
        "parse",
        "ValueError",
    )
    assert letter.payload == {"sensor": "b", "ts": 4.0, "value": "oops"}


def test_yaml_builds_the_same_graph_as_the_python_api(tmp_path: Path, rules: str) -> None:
    loaded = load_pipeline(_sensors(tmp_path, rules))

    p = Pipeline("sensors")
    stats = (
        p.source("readings", TestingSource([]))
        .map("parse", lambda r: r)
        .key_by("by_sensor", "sensor")
        .window(TumblingWindow(10.0), EventClock("ts"))
        .aggregate("stats", n=Count(), mean=Mean("value"), peak=Max("value"))
    )
    stats.results.filter("hot", lambda r: True).sink("out", _sink())
    stats.late.sink("late", _sink())

    assert [describe(s) for s in loaded.pipeline] == [describe(s) for s in p]
    assert loaded.pipeline.name == "sensors"
    assert loaded.runtime == RuntimeConfig(checkpoint_interval=0.2)
    assert isinstance(loaded, LoadedPipeline) and loaded.source == str(tmp_path / "sensors.yaml")


def _sink() -> Any:
    from streamgale.testing import TestingSink

    return TestingSink([])


OPERATORS_YAML = """\
pipeline: ops
sources:
  lines: {{type: jsonl, path: lines.jsonl}}
  more: {{type: jsonl, path: more.jsonl}}
steps:
  - {{id: both, merge: {{with: [more]}}, from: lines}}
  - {{id: words, flat_map: {rules}:words_of}}
  - {{id: lengths, map: {rules}:length, parallelism: 1}}
  - {{id: parity, branch: {rules}:is_even}}
  - {{id: groups, batch: {{max_size: 2, max_wait: 50ms}}, from: parity.true}}
  - {{id: by_mod, key_by: {rules}:mod3, from: parity.false}}
  - {{id: totals, aggregate: {{n: count, sum: sum(value)}}}}
  - {{id: vector, map_batches: {rules}:same_batch, from: totals}}
sinks:
  evens: {{type: jsonl, path: out/evens.jsonl, from: groups}}
  odds: {{type: jsonl, path: out/odds.jsonl}}
"""

OPERATOR_RULES = """
def words_of(record):
    return [{"word": w} for w in record["text"].split()]

def length(record):
    return {"value": len(record["word"])}

def is_even(record):
    return record["value"] % 2 == 0

def mod3(record):
    return record["value"] % 3

def same_batch(batch):
    return batch
"""


def test_every_operator_builds_and_runs(tmp_path: Path, rules: str) -> None:
    (tmp_path / f"{rules}.py").write_text(OPERATOR_RULES)
    _write_jsonl(tmp_path / "lines.jsonl", [{"text": "a bb ccc"}, {"text": "dddd"}])
    _write_jsonl(tmp_path / "more.jsonl", [{"text": "eeeee ffffff"}])
    path = tmp_path / "ops.yaml"
    path.write_text(OPERATORS_YAML.format(rules=rules))

    loaded = load_pipeline(path)

    kinds = {s.step_id: s.op for s in loaded.pipeline if isinstance(s, OperatorStep)}
    assert kinds == {
        "both": "merge",
        "words": "flat_map",
        "lengths": "map",
        "parity": "branch",
        "groups": "batch",
        "by_mod": "key_by",
        "totals": "aggregate",
        "vector": "map_batches",
    }
    inputs = {s["id"]: s["inputs"] for s in map(describe, loaded.pipeline)}
    assert inputs["both"] == ["lines", "more"]
    assert inputs["groups"] == ["parity"] and inputs["odds"] == ["vector"]

    loaded.run()

    evens = _read_jsonl_lists(tmp_path / "out" / "evens.jsonl")
    assert sorted(v["value"] for batch in evens for v in batch) == [2, 4, 6]
    odds = _read_jsonl(tmp_path / "out" / "odds.jsonl")
    # keys are value % 3 of the odd lengths 1, 3, 5: running count and sum per key
    final = {row["key"]: (row["n"], row["sum"]) for row in odds}
    assert final == {1: (1, 1), 0: (1, 3), 2: (1, 5)}


def _read_jsonl_lists(path: Path) -> list[list[dict[str, Any]]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


RUNTIME_YAML = """\
pipeline: r
runtime:
  state_dir: state
  checkpoint_interval: 2s
  metrics_port: 9464
  sink_retries: 3
sources: {in: {type: jsonl, path: in.jsonl}}
sinks: {out: {type: stdout}}
"""


def test_runtime_section_is_read(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(RUNTIME_YAML)
    runtime = load_pipeline(path).runtime
    assert runtime == RuntimeConfig(
        state_dir=tmp_path / "state", checkpoint_interval=2.0, metrics_port=9464, sink_retries=3
    )


def test_overrides_beat_the_file_and_none_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(RUNTIME_YAML)
    overrides = {
        "state_dir": "elsewhere",
        "checkpoint_interval": "250ms",
        "metrics_port": None,
        "max_run_seconds": 5,
    }
    runtime = load_pipeline(path, overrides=overrides).runtime
    # An override path comes from the command line: relative to the cwd, not the file.
    assert runtime.state_dir == Path("elsewhere")
    assert runtime.checkpoint_interval == 0.25
    assert runtime.metrics_port == 9464
    assert runtime.max_run_seconds == 5


def test_unknown_override_lists_the_settings(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(RUNTIME_YAML)
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path, overrides={"statedir": "x"})
    assert str(caught.value).startswith("runtime override, key 'statedir': unknown runtime setting")
    assert "state_dir, checkpoint_interval, metrics_port" in str(caught.value)


def test_bad_override_value_blames_the_override(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(RUNTIME_YAML)
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path, overrides={"checkpoint_interval": 0})
    assert str(caught.value) == (
        "runtime override, key 'checkpoint_interval': must be > 0 seconds; got 0"
    )
    with pytest.raises(
        ConfigError, match="runtime override, key 'checkpoint_interval': bad duration"
    ):
        load_pipeline(path, overrides={"checkpoint_interval": "soon"})


def test_text_paths_default_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    loaded = load_pipeline_text(
        "pipeline: t\nsources: {in: {type: jsonl, path: in.jsonl}}\nsinks: {out: {type: stdout}}\n"
    )
    step = loaded.pipeline.steps["in"]
    assert isinstance(step, SourceStep) and isinstance(step.source, JsonLinesSource)
    assert Path(step.source.path) == tmp_path / "in.jsonl"
