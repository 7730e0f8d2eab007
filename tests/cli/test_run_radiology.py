"""``streamgale run examples/radiology.yaml`` as a user runs it, with the commands after it.

The installed command runs in a subprocess with its ports overridden (0: free
ports, read back from what it prints), dcmtk ``storescu`` sends a study, and
the commands the README shows read the result; one SIGINT (Ctrl-C) stops it
cleanly with exit code 0.
"""

from __future__ import annotations

import json
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from streamgale.dicom.synthetic import ct_series, write_instances
from tests.cli.cli import EXAMPLES, STREAMGALE, streamgale


@dataclass
class Lines:
    """The lines a stream printed, read on a thread so the process never blocks on a pipe."""

    stream: IO[str]
    seen: list[str] = field(default_factory=list)
    _new: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.stream:
            self._new.put(line.rstrip("\n"))
        self._new.put(None)  # the process closed it: nothing more will come

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first line (seen or to come) matching ``pattern``; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.seen:
                if found := re.search(pattern, line):
                    return found
            try:
                line = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                pytest.fail(f"no line matching {pattern!r} (within {timeout} s): {self.seen}")
            self.seen.append(line)


@dataclass
class Service:
    process: subprocess.Popen[str]
    out: Lines
    err: Lines
    state: Path
    dimse_port: int


def _test_copy_of_the_example(folder: Path) -> Path:
    """The example as shipped, with the quiet time shortened so a study completes quickly."""
    text = (EXAMPLES / "radiology.yaml").read_text()
    assert text.count("quiet: 5s") == 2
    copy = folder / "radiology.yaml"
    copy.write_text(text.replace("quiet: 5s", "quiet: 300ms"))
    return copy


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    state = tmp_path / "state"
    command = [STREAMGALE, "run", str(_test_copy_of_the_example(tmp_path)), "--state-dir", state]
    ports = [
        "--dicom-port",
        "0",
        "--stow-port",
        "0",
        "--dashboard-port",
        "0",
        "--metrics-port",
        "0",
    ]
    process = subprocess.Popen(
        [*map(str, command), *ports],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    err = Lines(process.stderr)
    try:
        port = int(err.wait_for(r"^DIMSE: AE STREAMGALE on 127\.0\.0\.1:(\d+)$")[1])
        yield Service(process, Lines(process.stdout), err, state, port)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _send(port: int, files: list[Path]) -> None:
    storescu = shutil.which("storescu")
    if storescu is None:
        pytest.fail("storescu is missing: install dcmtk (make test does: apt-get install dcmtk)")
    done = subprocess.run(
        [storescu, "-aet", "CT_SCANNER", "-aec", "STREAMGALE", "127.0.0.1", str(port)]
        + [str(f) for f in files],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _until(check: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not callable(check) or not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.2)


def test_the_example_runs_takes_a_study_and_the_documented_commands_read_it(
    service: Service, tmp_path: Path
) -> None:
    # The dashboard token comes once everything listens, never before the doors.
    err = service.err
    err.wait_for(r"^Dashboard: http://127\.0\.0\.1:\d+/$")
    token_line = err.wait_for(r"^Dashboard admin token \(shown once, keep it\): (\S+)$")
    assert err.seen.index(token_line.string) > err.seen.index(err.wait_for(r"^DIMSE: ").string)

    series = ct_series(slices=4, size=64, lesion=True, seed=3)
    study = series[0].StudyInstanceUID
    _send(service.dimse_port, write_instances(series, tmp_path / "study"))
    service.out.wait_for(rf"^{re.escape(study)}: demo-lesion v1: ")

    # --metrics-port is honoured for radiology files: Prometheus text, with the stores' gauges.
    metrics_url = err.wait_for(r"^Metrics: (http://127\.0\.0\.1:\d+\S*)$")[1]
    with urllib.request.urlopen(metrics_url, timeout=10) as reply:
        assert "streamgale_" in reply.read().decode()

    state = service.state
    listed = streamgale("results", "list", "--state-dir", state, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split("\t")[:2] == ["result", "study"]
    [row] = rows
    result_id, listed_study = row.split("\t")[:2]
    assert listed_study == study  # whole, not cut to the width of a terminal

    shown = streamgale("results", "show", result_id, "--json", "--state-dir", state, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    stored = json.loads(shown.stdout)
    assert Path(stored["sr"]).is_file()  # SR (and SEG for a finding) made for the study
    assert stored["seg"] is None or Path(stored["seg"]).is_file()

    quarantined = streamgale("quarantine", "list", "--state-dir", state, cwd=tmp_path)
    assert quarantined.returncode == 0, quarantined.stderr
    assert "no quarantined inputs match" in quarantined.stdout

    def landed() -> bool:
        done = streamgale(
            "sql",
            "SELECT count(*) AS n FROM results",
            "--format",
            "json",
            "--state-dir",
            state,
            cwd=tmp_path,
        )
        return done.returncode == 0 and json.loads(done.stdout) == [{"n": 1}]

    _until(landed, "the result landing in the lake under --state-dir")
    report = streamgale("report", "stage-latency", "--state-dir", state, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "inferred" in report.stdout

    service.process.send_signal(signal.SIGINT)
    assert service.process.wait(30) == 0
    err.wait_for(r"^radiology pipeline 'radiology' stopped$", timeout=5)
