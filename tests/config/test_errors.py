"""Every kind of mistake in a pipeline file names the file, the line and the key.

Each case marks the line the error must point at with ``# <-``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from streamgale.config import load_pipeline
from streamgale.errors import ConfigError

HEAD = """\
pipeline: p
sources:
  readings: {type: jsonl, path: in.jsonl}
"""
SINK = """\
sinks:
  out: {type: stdout}
"""

# (case id, YAML, key the error names, fragments the message must contain)
CASES: list[tuple[str, str, str | None, tuple[str, ...]]] = [
    (
        "unknown window kind",
        HEAD
        + """\
steps:
  - {id: k, key_by: sensor}
  - id: stats
    window:
      tumble: 10s   # <-
      time: ts
    aggregate: {n: count}
"""
        + SINK,
        "steps[1].window",
        ("unknown window kind 'tumble'", "allowed: tumbling, sliding, session"),
    ),
    (
        "bad duration",
        HEAD
        + """\
steps:
  - {id: k, key_by: sensor}
  - id: stats
    window:
      tumbling: 10 sec   # <-
      time: ts
    aggregate: {n: count}
"""
        + SINK,
        "steps[1].window.tumbling",
        ("bad duration '10 sec'", "500ms, 10s, 1.5m, 1h"),
    ),
    (
        "duration the API refuses",
        HEAD
        + """\
steps:
  - {id: k, key_by: sensor}
  - id: stats
    window:
      tumbling: 0s   # <-
      time: ts
    aggregate: {n: count}
"""
        + SINK,
        "steps[1].window.tumbling",
        ("TumblingWindow.length must be", "> 0"),
    ),
    (
        "unknown top-level key",
        HEAD + "sinkz:   # <-\n  out: {type: stdout}\n",
        "sinkz",
        ("unknown key 'sinkz'", "allowed: pipeline, description, runtime, sources, steps, sinks"),
    ),
    (
        "missing top-level key",
        "pipeline: p   # <-\nsources:\n  readings: {type: jsonl, path: in.jsonl}\n",
        None,
        ("missing required key 'sinks'",),
    ),
    (
        "unknown step key",
        HEAD
        + """\
steps:
  - id: m
    mapp: os:getcwd   # <-
"""
        + SINK,
        "steps[0].mapp",
        ("unknown key 'mapp'", "allowed: id, from, map, filter, flat_map, map_batches"),
    ),
    (
        "step without id",
        HEAD + "steps:\n  - map: os:getcwd   # <-\n" + SINK,
        "steps[0]",
        ("missing required key 'id'",),
    ),
    (
        "step without operator",
        HEAD + "steps:\n  - id: nothing   # <-\n" + SINK,
        "steps[0]",
        ("a step needs an operator", "use one of: map, filter"),
    ),
    (
        "two operators in one step",
        HEAD + "steps:\n  - {id: two, map: os:getcwd, filter: os:getcwd}   # <-\n" + SINK,
        "steps[0]",
        ("found map and filter",),
    ),
    (
        "window without aggregate",
        HEAD
        + "steps:\n  - {id: k, key_by: s}\n  - {id: w, window: {tumbling: 1s, time: t}}   # <-\n"
        + SINK,
        "steps[1]",
        ("needs 'aggregate'",),
    ),
    (
        "window on a stream without key",
        HEAD + "steps:\n  - id: w\n    window: {tumbling: 1s, time: t}   # <-\n"
        "    aggregate: {n: count}\n" + SINK,
        "steps[0].window",
        ("needs a keyed stream", "add a key_by step"),
    ),
    (
        "window kind missing a key",
        HEAD
        + """\
steps:
  - {id: k, key_by: sensor}
  - id: w
    window:
      sliding: {length: 10s}   # <-
      time: ts
    aggregate: {n: count}
"""
        + SINK,
        "steps[1].window.sliding",
        ("missing required key 'every'",),
    ),
    (
        "window without time",
        HEAD + "steps:\n  - {id: k, key_by: s}\n  - id: w\n    window: {tumbling: 1s}   # <-\n"
        "    aggregate: {n: count}\n" + SINK,
        "steps[1].window",
        ("missing required key 'time'",),
    ),
    (
        "unknown aggregation",
        HEAD
        + """\
steps:
  - {id: k, key_by: sensor}
  - id: stats
    window: {tumbling: 10s, time: ts}
    aggregate:
      n: count
      avg: average(value)   # <-
"""
        + SINK,
        "steps[1].aggregate.avg",
        ("unknown aggregation 'average'", "mean(field)", "max(field)"),
    ),
    (
        "module that cannot be imported",
        HEAD + "steps:\n  - id: m\n    map: no_such_module_4711:parse   # <-\n" + SINK,
        "steps[0].map",
        ("cannot import module 'no_such_module_4711'", "No module named 'no_such_module_4711'"),
    ),
    (
        "attribute missing from the module",
        HEAD + "steps:\n  - id: m\n    filter: os.path:no_such_function   # <-\n" + SINK,
        "steps[0].filter",
        ("cannot find 'no_such_function' in module 'os.path'", "it defines:"),
    ),
    (
        "attribute that is not a function",
        HEAD + "steps:\n  - id: m\n    map: os:sep   # <-\n" + SINK,
        "steps[0].map",
        ("'os:sep' is a str, not a function",),
    ),
    (
        "reference without a colon",
        HEAD + "steps:\n  - id: m\n    map: os.getcwd   # <-\n" + SINK,
        "steps[0].map",
        ("is not a function reference", "package.module:function"),
    ),
    (
        "from an unknown step",
        HEAD
        + """\
steps:
  - {id: parse, map: os:getcwd}
  - id: hot
    filter: os:getcwd
    from: stats   # <-
"""
        + SINK,
        "steps[1].from",
        ("unknown step or source 'stats'", "known so far: readings, parse"),
    ),
    (
        "sink from an unknown side output",
        HEAD + "sinks:\n  out: {type: stdout, from: readings.late}   # <-\n",
        "sinks.out.from",
        ("unknown step or source 'readings.late'", "known so far: readings"),
    ),
    (
        "no default input after a branch",
        HEAD
        + "steps:\n  - {id: b, branch: os:getcwd}\n  - {id: m, map: os:getcwd}   # <-\n"
        + SINK,
        "steps[1]",
        ("missing 'from'", "b.true or b.false"),
    ),
    (
        "no default input with two sources",
        "pipeline: p\nsources:\n  a: {type: jsonl, path: a.jsonl}\n"
        "  b: {type: jsonl, path: b.jsonl}\n"
        "steps:\n  - {id: m, map: os:getcwd}   # <-\n" + SINK,
        "steps[0]",
        ("missing 'from'", "2 sources (a, b)"),
    ),
    (
        "unknown source type",
        "pipeline: p\nsources:\n  readings: {type: kafka, topic: t}   # <-\n" + SINK,
        "sources.readings.type",
        ("unknown source type 'kafka'", "allowed: jsonl, csv, parquet, directory, http, log"),
    ),
    (
        "unknown sink type",
        HEAD + "sinks:\n  out: {type: console}   # <-\n",
        "sinks.out.type",
        ("unknown sink type 'console'", "allowed: jsonl, csv, parquet, stdout, log"),
    ),
    (
        "source missing its path",
        "pipeline: p\nsources:\n  readings: {type: jsonl}   # <-\n" + SINK,
        "sources.readings",
        ("missing required key 'path' for a jsonl source", "path, batch_size"),
    ),
    (
        "unknown connector option",
        "pipeline: p\nsources:\n  readings: {type: jsonl, path: a.jsonl, size: 3}   # <-\n" + SINK,
        "sources.readings.size",
        ("unknown key 'size'", "allowed: type, path, batch_size"),
    ),
    (
        "connector option the connector refuses",
        "pipeline: p\nsources:\n  readings:\n    type: jsonl\n    path: a.jsonl\n"
        "    batch_size: 0   # <-\n" + SINK,
        "sources.readings.batch_size",
        ("batch_size must be a positive integer",),
    ),
    (
        "connector option outside its choices",
        HEAD + "sinks:\n  out:\n    type: stdout\n    format: xml   # <-\n",
        "sinks.out.format",
        ("unknown value 'xml'", "allowed: json, repr"),
    ),
    (
        "duplicate id across sections",
        HEAD + "steps:\n  - id: readings   # <-\n    map: os:getcwd\n" + SINK,
        "steps[0].id",
        ("id 'readings' is already used at line 3",),
    ),
    (
        "invalid step id",
        HEAD + "steps:\n  - id: two words   # <-\n    map: os:getcwd\n" + SINK,
        "steps[0].id",
        ("step id 'two words' is not valid",),
    ),
    (
        "duplicate YAML key",
        HEAD + "steps:\n  - id: m\n    map: os:getcwd\n    map: os:getpid   # <-\n" + SINK,
        "steps[0].map",
        ("duplicate key 'map' (first at line 6)",),
    ),
    (
        "unknown runtime key",
        "pipeline: p\nruntime:\n  checkpoint: 1s   # <-\n"
        + "sources:\n  readings: {type: jsonl, path: in.jsonl}\n"
        + SINK,
        "runtime.checkpoint",
        ("unknown key 'checkpoint'", "allowed: state_dir, checkpoint_interval, metrics_port"),
    ),
    (
        "runtime value the runtime refuses",
        "pipeline: p\nruntime:\n  checkpoint_interval: 0s   # <-\n"
        + "sources:\n  readings: {type: jsonl, path: in.jsonl}\n"
        + SINK,
        "runtime.checkpoint_interval",
        ("must be > 0 seconds",),
    ),
    (
        "runtime value of the wrong type",
        "pipeline: p\nruntime:\n  metrics_port: lots   # <-\n"
        + "sources:\n  readings: {type: jsonl, path: in.jsonl}\n"
        + SINK,
        "runtime.metrics_port",
        ("expected a whole number", "'lots'"),
    ),
    (
        "batch the API refuses",
        HEAD + "steps:\n  - id: b\n    batch: {max_size: 10, max_wait: 0s}   # <-\n" + SINK,
        "steps[0].batch",
        ("max_wait must be > 0",),
    ),
    (
        "parallelism on a filter",
        HEAD + "steps:\n  - id: f\n    filter: os:getcwd\n    parallelism: 2   # <-\n" + SINK,
        "steps[0].parallelism",
        ("parallelism applies to map and map_batches steps only",),
    ),
    (
        "merge without 'with'",
        HEAD + "steps:\n  - id: m\n    merge: {others: [readings]}   # <-\n" + SINK,
        "steps[0].merge.others",
        ("unknown key 'others'", "allowed: with"),
    ),
    (
        "YAML syntax error",
        HEAD + "steps:\n  - {id: m, map: os:getcwd\n" + "sinks:   # <-\n  out: {type: stdout}\n",
        None,
        ("not valid YAML",),
    ),
    (
        "a list where a mapping belongs",
        "pipeline: p\nsources:\n  - readings   # <-\n" + SINK,
        "sources",
        ("expected a mapping", "got a list"),
    ),
]


@pytest.mark.parametrize(
    ("text", "key", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_error_names_file_line_and_key(
    tmp_path: Path, text: str, key: str | None, fragments: tuple[str, ...]
) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "# <-" in row)

    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)

    error = caught.value
    assert (error.source, error.line, error.key) == (str(path), line, key)
    where = f"{path}:{line}, key '{key}': " if key else f"{path}:{line}: "
    assert str(error).startswith(where), str(error)
    for fragment in fragments:
        assert fragment in str(error)


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"nope\.yaml: cannot read the pipeline file: No such file"
    ):
        load_pipeline(tmp_path / "nope.yaml")


def test_empty_file_says_what_a_pipeline_needs(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    with pytest.raises(ConfigError, match="the file is empty; a pipeline needs at least"):
        load_pipeline(path)


def test_import_error_inside_the_user_module_is_reported(tmp_path: Path, rules: str) -> None:
    (tmp_path / f"{rules}_broken.py").write_text("import no_such_dependency_4711\n")
    path = tmp_path / "pipeline.yaml"
    path.write_text(HEAD + f"steps:\n  - id: m\n    map: {rules}_broken:parse\n" + SINK)

    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)

    assert caught.value.line == 6
    assert f"cannot import module '{rules}_broken'" in str(caught.value)
    assert "No module named 'no_such_dependency_4711'" in str(caught.value)
