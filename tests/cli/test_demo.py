"""``streamgale demo``: calls the demo module's ``main`` with the options given."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from streamgale.cli import main
from streamgale.cli.demo import DEFAULT_DEMO
from tests.cli.cli import STREAMGALE, streamgale


def _fake_demo(monkeypatch: pytest.MonkeyPatch, *, with_keep: bool = True) -> list[dict[str, Any]]:
    """Install a stand-in for ``streamgale.demo.sensors`` that records its calls."""
    calls: list[dict[str, Any]] = []
    module = types.ModuleType("streamgale.demo.sensors")

    if with_keep:

        def demo_main(events: int = 1, state_dir: Path | None = None, keep: bool = False) -> int:
            calls.append({"events": events, "state_dir": state_dir, "keep": keep})
            return 0

    else:

        def demo_main(events: int = 1, state_dir: Path | None = None) -> int:  # type: ignore[misc]
            calls.append({"events": events, "state_dir": state_dir})
            return 3

    module.main = demo_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "streamgale.demo.sensors", module)
    return calls


def _fake_radiology(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Install a stand-in for ``streamgale.demo.radiology`` that records its calls."""
    calls: list[dict[str, Any]] = []
    module = types.ModuleType("streamgale.demo.radiology")

    def demo_main(studies: int = 1, slices: int = 1, state_dir: Path | None = None) -> int:
        calls.append({"studies": studies, "slices": slices, "state_dir": state_dir})
        return 0

    module.main = demo_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "streamgale.demo.radiology", module)
    return calls


def test_bare_demo_runs_the_radiology_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_radiology(monkeypatch)
    result = CliRunner().invoke(main, ["demo"])
    assert DEFAULT_DEMO == "radiology"
    assert result.exit_code == 0, result.output
    assert calls == [{"studies": 4, "slices": 24, "state_dir": None}]


def test_radiology_demo_passes_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_radiology(monkeypatch)
    result = CliRunner().invoke(main, ["demo", "radiology", "--studies", "2", "--slices", "5"])
    assert result.exit_code == 0, result.output
    assert calls == [{"studies": 2, "slices": 5, "state_dir": None}]


def test_sensors_demo_passes_its_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls = _fake_demo(monkeypatch)
    args = ["demo", "sensors", "--events", "500", "--state-dir", str(tmp_path), "--keep"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert calls == [{"events": 500, "state_dir": tmp_path, "keep": True}]


def test_demo_exit_code_is_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_demo(monkeypatch, with_keep=False)
    result = CliRunner().invoke(main, ["demo", "sensors", "--events", "5"])
    assert result.exit_code == 3
    assert calls == [{"events": 5, "state_dir": None}]


def test_an_option_the_demo_does_not_take_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_demo(monkeypatch, with_keep=False)
    result = CliRunner().invoke(main, ["demo", "sensors", "--keep"])
    assert result.exit_code == 1
    assert result.stderr == "error: the sensors demo does not support --keep yet\n"
    assert calls == []


def test_a_missing_demo_module_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "streamgale.demo.sensors", None)
    result = CliRunner().invoke(main, ["demo", "sensors"])
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: the sensors demo is not available in this installation "
        "(cannot import streamgale.demo.sensors:"
    )


def test_bare_demo_takes_the_documented_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[dict[str, Any]] = []
    module = types.ModuleType("streamgale.demo.radiology")

    def demo_main(
        studies: int = 1, slices: int = 1, state_dir: Path | None = None, serve: bool | None = None
    ) -> int:
        calls.append({"studies": studies, "state_dir": state_dir, "serve": serve})
        return 0

    module.main = demo_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "streamgale.demo.radiology", module)
    args = ["demo", "--no-serve", "--state-dir", str(tmp_path), "--studies", "2"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert calls == [{"studies": 2, "state_dir": tmp_path, "serve": False}]
    # Given to the group with a demo named, they would be silently lost: refused.
    refused = CliRunner().invoke(main, ["demo", "--studies", "2", "sensors"])
    assert refused.exit_code == 2
    assert "give the demo's options after its name" in refused.output


def test_the_sensors_demo_keeps_its_temporary_folder_when_asked(tmp_path: Path) -> None:
    kept = streamgale("demo", "sensors", "--events", "2000", "--keep", cwd=tmp_path, timeout=60)
    assert kept.returncode == 0, kept.stderr
    [log] = re.findall(r"^Log: (\S+)$", kept.stdout, re.M)
    folder = Path(log).parent
    try:
        assert (folder / "results" / "windows.jsonl").is_file()
        assert "Removed" not in kept.stdout
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_one_ctrl_c_stops_the_sensors_demo_within_2_s(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [STREAMGALE, "demo", "sensors", "--events", "1000000"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        first = process.stdout.readline()
        assert first.startswith("StreamGale sensors demo"), first
        time.sleep(0.5)  # ingest under way
        process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = process.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert took < 2.0, f"Ctrl-C took {took:.1f} s"
    [gone] = re.findall(r"^Removed (\S+) \(--keep keeps the demo's files\)\.$", out, re.M)
    assert not Path(gone).exists()  # without --keep the temporary folder goes


@pytest.mark.slow
def test_the_radiology_demo_runs_again_in_the_same_state_dir(tmp_path: Path) -> None:
    args = ("demo", "radiology", "--studies", "1", "--slices", "2", "--no-serve")
    for run in (1, 2):  # the second run's studies are new, not resends of the first's
        done = streamgale(*args, "--state-dir", tmp_path / "state", cwd=tmp_path, timeout=60)
        assert done.returncode == 0, f"run {run}: {done.stderr}"
    listed = streamgale(
        "results", "list", "--json", "--state-dir", tmp_path / "state", cwd=tmp_path
    )
    studies = {r["study_instance_uid"] for r in json.loads(listed.stdout)}
    assert len(studies) == 2
