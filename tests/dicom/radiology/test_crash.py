"""kill -9 the radiology process mid-ingest: every acknowledged instance gets exactly one result.

A study is being sent with dcmtk's storescu when the process is SIGKILLed.
After a restart on the same state directory, the sender resends the whole
study, as a modality does after a failed association. In the end the study's
latest result covers every instance exactly once (the SR's evidence lists the
instances a result covers), earlier versions form an unbroken supersedes
chain, and no result is duplicated.
"""

from __future__ import annotations

import itertools
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pydicom
import pytest

from streamgale.dicom.results.store import ResultStore
from streamgale.dicom.synthetic import ct_series, write_instances
from streamgale.state.file import FileStateStore
from tests.inference.onnx_models import segmenter

from .helpers import storescu

APP = Path(__file__).with_name("crash_app.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(state: Path, model: Path, port: int, *timing: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, str(APP), str(state), str(model), str(port), *map(str, timing)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], 60)
    assert ready and child.stdout.readline().strip() == "ready"
    return child


def _storescu_cmd(port: int, files: list[Path]) -> list[str]:
    return [storescu(), "-v", "-aec", "STREAMGALE", "127.0.0.1", str(port), *map(str, files)]


def _evidence(sr_path: Path) -> set[str]:
    sr = pydicom.dcmread(sr_path)
    return {
        str(item.ReferencedSOPInstanceUID)
        for evidence in sr.CurrentRequestedProcedureEvidenceSequence
        for series in evidence.ReferencedSeriesSequence
        for item in series.ReferencedSOPSequence
        if str(item.ReferencedSOPClassUID) == "1.2.840.10008.5.1.4.1.1.2"  # the CT images
    }


@pytest.mark.crash
@pytest.mark.slow
def test_kill_9_mid_ingest_then_resend_gives_each_instance_exactly_one_result(
    tmp_path: Path,
) -> None:
    model = segmenter(tmp_path, size=32, preprocessing={"voi": "lung", "size": [32, 32]})
    state, port = tmp_path / "state", _free_port()
    series = ct_series(slices=40, size=256, seed=9)
    files = write_instances(series, tmp_path / "study")

    child = _start(state, model, port)
    sender = subprocess.Popen(
        _storescu_cmd(port, files), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    time.sleep(0.4)  # mid-study
    child.send_signal(signal.SIGKILL)
    child.wait()
    log, _ = sender.communicate(timeout=60)
    acknowledged = log.count("Received Store Response (Success)")
    assert 0 < acknowledged < len(files), f"the kill must land mid-study ({acknowledged} acked)"

    child = _start(state, model, port)  # restart on the same state directory
    resend = subprocess.run(_storescu_cmd(port, files), capture_output=True, text=True, check=False)
    assert resend.returncode == 0, resend.stdout + resend.stderr
    sops = sorted(str(ds.SOPInstanceUID) for ds in series)
    deadline = time.monotonic() + 60
    covered: list[str] = []
    while time.monotonic() < deadline:
        store = ResultStore(state / "results")
        rows = store.list(study_instance_uid=str(series[0].StudyInstanceUID))
        store.close()
        latest = max(rows, key=lambda r: r.version) if rows else None
        covered = sorted(_evidence(latest.sr_path)) if latest and latest.sr_path else []
        if covered == sops:
            break
        time.sleep(0.2)
    child.send_signal(signal.SIGTERM)
    child.wait(30)
    assert covered == sops, "the latest result must cover each instance exactly once"
    records = sorted((r.load() for r in rows), key=lambda r: r.version)
    assert [r.version for r in records] == list(range(1, len(records) + 1))
    for earlier, later in itertools.pairwise(records):
        assert later.supersedes == earlier.result_id


def _assembled(state: Path, study_uid: str) -> int:
    """Instances of a study that the assembly step holds in the last durable snapshot."""
    snapshot = FileStateStore(state / "runtime" / "snapshots", read_only=True).load()
    saved = snapshot.steps.get("assembly") if snapshot else None
    studies = (saved or {}).get("studies", saved) or {}
    study = studies.get(study_uid)
    return sum(len(s.instances) for s in study.series.values()) if study else 0


def _results_of(state: Path, study_uid: str) -> list[Any]:
    store = ResultStore(state / "results")
    rows = store.list(study_instance_uid=study_uid)
    store.close()
    return sorted((r for r in rows), key=lambda r: r.version)


def _kill_mid_study(state: Path, model: Path, port: int, files: list[Path], uid: str) -> int:
    """Kill -9 while a study arrives; the instances acknowledged, or 0 if the last
    snapshot did not land strictly inside the study (then the kill proved nothing)."""
    child = _start(state, model, port)
    sender = subprocess.Popen(
        _storescu_cmd(port, files), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    while _assembled(state, uid) == 0 and sender.poll() is None:
        time.sleep(0.01)
    time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait()
    log, _ = sender.communicate(timeout=60)
    acknowledged = log.count("Received Store Response (Success)")
    return acknowledged if 0 < _assembled(state, uid) < acknowledged < len(files) else 0


@pytest.mark.crash
@pytest.mark.slow
def test_a_study_restored_after_kill_9_is_cut_once(tmp_path: Path) -> None:
    """Regression: a restart fired quiet timers before re-reading the log, so a restored
    study completed with the instances of its snapshot (version 1), and the instances
    logged after the snapshot made version 2, with nothing new sent in between."""
    model = segmenter(tmp_path, size=32, preprocessing={"voi": "lung", "size": [32, 32]})
    series = ct_series(slices=40, size=256, seed=5)
    files = write_instances(series, tmp_path / "study")
    uid = str(series[0].StudyInstanceUID)
    for attempt in range(3):
        state, port = tmp_path / f"state-{attempt}", _free_port()
        acknowledged = _kill_mid_study(state, model, port, files, uid)
        if acknowledged:
            break
    assert acknowledged, "no kill landed between a snapshot inside the study and its end"
    assert _results_of(state, uid) == [], "no result may exist before the restart"

    child = _start(state, model, port)
    deadline = time.monotonic() + 60
    while not _results_of(state, uid) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # the quiet time is 1 s: long enough for a second cut to show
    child.send_signal(signal.SIGTERM)
    child.wait(30)
    results = _results_of(state, uid)
    assert [r.version for r in results] == [1]
    assert len(_evidence(results[0].sr_path)) >= acknowledged
