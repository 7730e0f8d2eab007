"""kill -9 the radiology app several times mid-run: the lake still counts each row once.

Studies are sent with dcmtk's storescu while the process is SIGKILLed a few
times; after the last restart the sender resends everything, as a modality
does after failed associations. Then the lake, queried with the SQL engine,
must hold exactly one ``results`` row per stored result version, one
``inferences`` row per instance and model, and no telemetry event twice.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streamgale.dicom.results.store import ResultStore
from streamgale.dicom.synthetic import ct_series, write_instances
from streamgale.sql import SqlEngine
from tests.cli.cli import STREAMGALE
from tests.dicom.radiology.test_crash import APP, _free_port, _storescu_cmd
from tests.inference.onnx_models import segmenter

KILLS = 3


def _start(state: Path, model: Path, port: int) -> subprocess.Popen[str]:
    """The app, once it says "ready" (a result replayed at start may come first)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, str(APP), str(state), str(model), str(port)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([child.stdout], [], [], 0.2)
        line = child.stdout.readline() if ready else None
        if line == "ready\n":
            return child
        if line == "":
            pytest.fail(f"the app exited at start with {child.wait()}")
    child.kill()
    pytest.fail("the app did not say ready within 60 s")


def _stored_results(state: Path) -> list[tuple[str, int, str]]:
    store = ResultStore(state / "results")
    try:
        return [(r.result_id, r.version, r.study_instance_uid) for r in store.list()]
    finally:
        store.close()


def _wait_for_studies(state: Path, studies: set[str], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if {study for _, _, study in _stored_results(state)} >= studies:
            return
        time.sleep(0.2)
    pytest.fail(f"not every study got a result within {timeout} s")


def _wait_for_a_result(child: subprocess.Popen[str], timeout: float = 30.0) -> None:
    """Wait until the child reports a stored result (crash_app prints "result <id>")."""
    assert child.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([child.stdout], [], [], 0.2)
        if ready and child.stdout.readline().startswith("result"):
            return
    pytest.fail(f"no result within {timeout} s")


@pytest.mark.crash
@pytest.mark.slow
def test_kill_9_several_times_lands_each_row_once(tmp_path: Path) -> None:
    model = segmenter(tmp_path, size=32, preprocessing={"voi": "lung", "size": [32, 32]})
    state, port = tmp_path / "state", _free_port()
    series = [ct_series(slices=8, size=64, seed=seed) for seed in range(4)]
    files = [f for i, s in enumerate(series) for f in write_instances(s, tmp_path / f"s{i}")]
    sops = {str(ds.SOPInstanceUID) for s in series for ds in s}
    studies = {str(s[0].StudyInstanceUID) for s in series}
    assert len(studies) == len(series)

    for kill in range(KILLS):
        child = _start(state, model, port)
        sender = subprocess.Popen(
            _storescu_cmd(port, files), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if kill == 0:
            time.sleep(0.8)  # mid-ingest
        else:  # just after a result, before the landing's next checkpoint
            _wait_for_a_result(child)
            time.sleep(0.1 * kill)
        child.send_signal(signal.SIGKILL)
        child.wait()
        sender.wait(60)

    child = _start(state, model, port)
    resend = subprocess.run(_storescu_cmd(port, files), capture_output=True, text=True, check=False)
    assert resend.returncode == 0, resend.stdout + resend.stderr
    _wait_for_studies(state, studies)
    time.sleep(2.0)  # late versions of a study, if any, are stored too
    child.send_signal(signal.SIGTERM)  # a clean stop lands every row recorded
    assert child.wait(60) == 0

    stored = _stored_results(state)
    with SqlEngine(state / "lake") as sql:
        results = sql.execute("SELECT result_id, version FROM results").rows
        inferences = sql.execute("SELECT instance_uid, model FROM inferences").rows
        events = sql.execute(
            "SELECT count(*), count(DISTINCT event_id), "
            "count(*) FILTER (stage = 'finalized') FROM telemetry"
        ).rows[0]
    assert sorted(results) == sorted((rid, version) for rid, version, _ in stored)
    assert sorted(inferences) == sorted((sop, "organs") for sop in sops)
    total, distinct, finalized = events
    assert total == distinct, f"{total - distinct} telemetry events landed twice"
    assert finalized == len(stored)
    # ... and what a user types says the same
    query = "SELECT count(*) AS n FROM results"
    typed = subprocess.run(
        [STREAMGALE, "sql", query, "--state-dir", str(state), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(typed.stdout) == [{"n": len(stored)}]
