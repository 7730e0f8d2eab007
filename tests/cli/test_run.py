"""``streamgale run`` and ``validate``: running a file, the step graph, option precedence."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from streamgale.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SRC = Path(__file__).resolve().parents[2] / "src"

PIPELINE = """\
pipeline: numbers
runtime:
  state_dir: from-file
  checkpoint_interval: 3s
  metrics_port: 9000
sources:
  readings: {type: jsonl, path: in.jsonl}
steps:
  - {id: k, key_by: sensor}
  - id: stats
    window: {tumbling: 10s, time: ts}
    aggregate: {n: count, total: sum(value)}
  - {id: big, filter: "operator:truth"}
sinks:
  out: {type: jsonl, path: out.jsonl}
  late: {type: stdout, from: stats.late}
"""


@pytest.fixture
def pipeline_file(tmp_path: Path) -> Path:
    rows = [{"sensor": "a", "ts": 1.0, "value": 2}, {"sensor": "a", "ts": 3.0, "value": 5}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = tmp_path / "numbers.yaml"
    path.write_text(PIPELINE)
    return path


def _validate_json(path: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["validate", str(path), "--json", *args], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_validate_prints_the_step_graph(pipeline_file: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(pipeline_file)])

    assert result.exit_code == 0, result.output
    header, *lines = result.stdout.splitlines()
    assert header.split("\t") == ["step", "kind", "reads", "outputs"]
    rows = {line.split("\t")[0]: line for line in lines if "\t" in line}
    assert list(rows) == ["readings", "k", "stats", "big", "out", "late"]
    assert "source (JsonLinesSource)" in rows["readings"]
    assert "window" in rows["stats"] and "stats, stats.late" in rows["stats"]
    assert "sink (StdOutSink)" in rows["late"] and "stats.late" in rows["late"]
    assert f"OK: {pipeline_file} is a valid pipeline with 6 steps" in result.stdout


def test_validate_json(pipeline_file: Path) -> None:
    document = _validate_json(pipeline_file)

    assert document["pipeline"] == "numbers"
    assert document["steps"][2] == {
        "id": "stats",
        "kind": "window",
        "inputs": ["k"],
        "outputs": ["stats", "stats.late"],
    }
    assert document["steps"][-1]["inputs"] == ["stats.late"]
    assert document["runtime"]["state_dir"] == str(pipeline_file.parent / "from-file")


def test_precedence_option_over_env_over_file(pipeline_file: Path, tmp_path: Path) -> None:
    file_only = _validate_json(pipeline_file)["runtime"]
    assert (file_only["checkpoint_interval"], file_only["metrics_port"]) == (3.0, 9000)

    env = {
        "STREAMGALE_STATE_DIR": str(tmp_path / "from-env"),
        "STREAMGALE_CHECKPOINT_INTERVAL": "500ms",
        "STREAMGALE_METRICS_PORT": "9100",
        "STREAMGALE_STOP_AFTER": "1m",
    }
    from_env = _validate_json(pipeline_file, env=env)["runtime"]
    assert from_env["state_dir"] == str(tmp_path / "from-env")
    assert (from_env["checkpoint_interval"], from_env["metrics_port"]) == (0.5, 9100)
    assert from_env["max_run_seconds"] == 60.0

    options = ["--state-dir", str(tmp_path / "from-option"), "--checkpoint-interval", "2"]
    from_option = _validate_json(pipeline_file, *options, env=env)["runtime"]
    assert from_option["state_dir"] == str(tmp_path / "from-option")
    assert from_option["checkpoint_interval"] == 2.0
    assert from_option["metrics_port"] == 9100  # not given as an option: the env var stays


def test_a_bad_env_value_is_a_usage_error(pipeline_file: Path) -> None:
    result = CliRunner().invoke(
        main, ["validate", str(pipeline_file)], env={"STREAMGALE_METRICS_PORT": "lots"}
    )
    assert result.exit_code == 2
    assert "STREAMGALE_METRICS_PORT" in result.stderr or "metrics-port" in result.stderr


def test_run_runs_until_the_source_ends(pipeline_file: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    args = ["run", str(pipeline_file), "--state-dir", str(state), "--metrics-port", "0"]
    result = CliRunner().invoke(main, args)

    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert out == [{"key": "a", "window_start": 0.0, "window_end": 10.0, "n": 2, "total": 7}]
    assert f"running pipeline 'numbers' from {pipeline_file} (state in {state})" in result.stderr
    assert "pipeline 'numbers' stopped after" in result.stderr
    assert (state / "deadletters.sqlite").is_file()


@pytest.fixture
def example_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The examples folder copied, so a run writes nowhere in the repository."""
    folder = tmp_path / "examples"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns(".streamgale", "__pycache__"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield folder
    sys.modules.pop("sensor_rules", None)


def test_the_sensors_example_validates(example_copy: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(example_copy / "sensors.yaml")])
    assert result.exit_code == 0, result.output
    assert "is a valid pipeline with 8 steps" in result.stdout


def test_the_sensors_example_runs(example_copy: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(example_copy / "sensors.yaml")])

    assert result.exit_code == 0, result.output
    out = example_copy / ".streamgale" / "sensors" / "out"
    windows = [json.loads(line) for line in (out / "windows.jsonl").read_text().splitlines()]
    hot = [json.loads(line) for line in (out / "hot.jsonl").read_text().splitlines()]
    assert len(windows) > len(hot) > 0
    assert all(w["peak"] >= 30.0 for w in hot)
    assert sum(w["n"] for w in windows) == 36  # 38 readings: one dead letter, one late
    late = [json.loads(line) for line in result.stdout.splitlines()]
    assert late == [{"sensor": "s1", "ts": 1700000003.0, "celsius": 20.83}]
    assert "1 dead letter(s) wait for a look: streamgale dlq list --state-dir" in result.stderr


FOREVER = """\
pipeline: forever
sources:
  inbox: {type: directory, directory: inbox, poll_interval: 50ms}
sinks:
  out: {type: jsonl, path: out.jsonl}
"""


def test_stop_after_ends_a_run_whose_source_never_ends(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    path = tmp_path / "forever.yaml"
    path.write_text(FOREVER)

    args = ["run", str(path), "--stop-after", "300ms", "--state-dir", str(tmp_path / "state")]
    result = CliRunner().invoke(main, args)

    assert result.exit_code == 0, result.output
    assert "pipeline 'forever' stopped after" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_drains_commits_and_exits_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "a.jsonl").write_text('{"n": 1}\n{"n": 2}\n')
    path = tmp_path / "forever.yaml"
    path.write_text(FOREVER)
    env = {**os.environ, "PYTHONPATH": str(SRC), "STREAMGALE_STATE_DIR": str(tmp_path / "state")}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamgale.cli", "run", str(path)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    first = process.stderr.readline()
    assert first.startswith("running pipeline 'forever'"), first
    deadline = time.monotonic() + 20
    while not (tmp_path / "out.jsonl").is_file() or not (tmp_path / "out.jsonl").read_text():
        assert time.monotonic() < deadline, "the pipeline wrote nothing"
        time.sleep(0.05)

    process.send_signal(sig)
    _, rest = process.communicate(timeout=20)

    assert process.returncode == 0, rest
    assert "pipeline 'forever' stopped after" in rest
    assert "Traceback" not in rest
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert out == [{"n": 1}, {"n": 2}]
