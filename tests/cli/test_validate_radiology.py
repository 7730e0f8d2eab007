"""``validate`` and ``run`` read radiology files through the one loader pipeline files use."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.cli import EXAMPLES, streamgale


def test_validate_accepts_the_example_radiology_file(tmp_path: Path) -> None:
    done = streamgale("validate", EXAMPLES / "radiology.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "is a valid radiology pipeline with 1 route(s)" in done.stdout
    assert "chest-ct" in done.stdout


def test_validate_reports_a_radiology_error_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("radiology:\n  name: x\n  listeners:\n    dicom: {port: 104}\n")
    done = streamgale("validate", bad, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        f"error: {bad}:4, key 'radiology.listeners.dicom': unknown key 'dicom'; "
        "allowed: dimse, stow\n"
    )


def test_a_missing_radiology_file_is_reported_like_a_pipeline_file(tmp_path: Path) -> None:
    done = streamgale("run", tmp_path / "nope.yaml", "--dicom-port", "0", cwd=tmp_path)
    assert done.returncode == 2
    assert "nope.yaml: cannot read the pipeline file: No such file or directory" in done.stderr


def test_runtime_options_are_honoured_for_radiology_files(tmp_path: Path) -> None:
    file = tmp_path / "r.yaml"
    file.write_text("radiology:\n  metrics_port: 9999\n")
    done = streamgale(
        "validate",
        file,
        "--json",
        "--checkpoint-interval",
        "250ms",
        "--stop-after",
        "3s",
        "--metrics-port",
        "0",
        "--state-dir",
        tmp_path / "state",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    runtime = json.loads(done.stdout)["runtime"]
    assert runtime == {
        "state_dir": str(tmp_path / "state"),
        "checkpoint_interval": 0.25,
        "metrics_port": 0,  # 0 (a free port) beats the file's 9999, it is not "not given"
        "max_run_seconds": 3.0,
        "telemetry": True,
    }


def test_a_bad_runtime_value_in_a_radiology_file_names_its_line(tmp_path: Path) -> None:
    file = tmp_path / "r.yaml"
    file.write_text("radiology:\n  name: r\n  checkpoint_interval: soon\n")
    done = streamgale("validate", file, cwd=tmp_path)
    assert done.returncode == 2
    assert f"{file}:3, key 'radiology.checkpoint_interval': " in done.stderr


def test_the_removed_ingest_journal_setting_is_refused_not_ignored(tmp_path: Path) -> None:
    file = tmp_path / "r.yaml"
    file.write_text("radiology:\n  name: r\n  ingest_journal: true\n")
    done = streamgale("validate", file, cwd=tmp_path)
    assert done.returncode == 2
    assert f"{file}:3, key 'radiology.ingest_journal': unknown key 'ingest_journal'" in done.stderr


def test_listener_options_are_refused_for_plain_pipelines(tmp_path: Path) -> None:
    done = streamgale("run", EXAMPLES / "sensors.yaml", "--dicom-port", "11112", cwd=tmp_path)
    assert done.returncode == 2
    assert "listener setting(s) port apply only to radiology files" in done.stderr


def test_piped_output_keeps_long_lines_whole(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*(["a-rather-long-folder-name"] * 12))  # > 300 characters
    done = streamgale("validate", EXAMPLES / "radiology.yaml", "--state-dir", deep, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [runtime] = [line for line in done.stdout.splitlines() if line.startswith("runtime:")]
    assert f"state_dir={deep}," in runtime  # one line, the path not cut or wrapped
