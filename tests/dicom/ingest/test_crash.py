"""kill -9 the SCP mid-ingest: every acknowledged instance survives, announced exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pydicom
import pytest

from streamgale.dicom.ingest import InstanceStore
from streamgale.log import FsyncPolicy, SegmentLog

from .helpers import ct_files, dcmtk, instance_events, write_files

CHILD = Path(__file__).with_name("scp_child.py")
ENV = {**os.environ, "TCP_NODELAY": "1"}
KILL_AFTER = 25


@pytest.fixture(autouse=True)
def no_child_outlives_its_test() -> Iterator[None]:
    yield
    while STARTED:
        child = STARTED.pop()
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)


STARTED: list[subprocess.Popen[str]] = []


def start_child(directory: Path, *flags: str) -> tuple[subprocess.Popen[str], int]:
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(directory), *flags], stdout=subprocess.PIPE, text=True
    )
    STARTED.append(child)
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.strip().isdigit(), f"the SCP child did not start (said {line!r})"
    return child, int(line)


def send_until_killed(
    port: int, paths: list[Path], child: subprocess.Popen[str], kill_after: int = KILL_AFTER
) -> set[Path]:
    """Send with storescu; SIGKILL the SCP once ``kill_after`` stores were acknowledged.

    Returns the files storescu got a success status for.
    """
    command = [
        dcmtk("storescu"),
        "-v",
        "-aec",
        "STREAMGALE",
        "127.0.0.1",
        str(port),
        *map(str, paths),
    ]
    sender = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=ENV)
    assert sender.stderr is not None
    acknowledged: set[Path] = set()
    current: Path | None = None
    for line in sender.stderr:
        if line.startswith("I: Sending file: "):
            current = Path(line.removeprefix("I: Sending file: ").strip())
        elif "Received Store Response (Success)" in line and current is not None:
            acknowledged.add(current)
            if len(acknowledged) == kill_after:
                os.kill(child.pid, signal.SIGKILL)
    sender.wait(timeout=60)
    child.wait(timeout=10)
    return acknowledged


def restart_and_stop(directory: Path) -> None:
    """Start the SCP on ``directory`` (recovery runs on opening) and stop it cleanly."""
    child, _ = start_child(directory)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 0


def published_uids(directory: Path) -> list[str]:
    with SegmentLog(directory / "log", fsync=FsyncPolicy.ALWAYS) as log:
        return [e.sop_instance_uid for e in instance_events(log)]


@pytest.mark.crash
def test_every_acknowledged_instance_survives_kill_9(tmp_path: Path) -> None:
    blobs = ct_files(150, size=64, seed=7)
    paths = write_files(blobs, tmp_path / "in")
    uid_of = {
        p: pydicom.dcmread(BytesIO(b)).SOPInstanceUID for p, b in zip(paths, blobs, strict=True)
    }
    directory = tmp_path / "scp"
    child, port = start_child(directory)
    acknowledged = send_until_killed(port, paths, child)
    assert child.returncode == -signal.SIGKILL
    assert KILL_AFTER <= len(acknowledged) < len(paths), "the kill did not land mid-ingest"

    restart_and_stop(directory)
    with SegmentLog(directory / "log", fsync=FsyncPolicy.ALWAYS) as log:
        store = InstanceStore(directory / "store", log)
        for path in acknowledged:
            stored = pydicom.dcmread(store.path_of(uid_of[path]))
            assert stored.PixelData == pydicom.dcmread(path).PixelData
        store.close()
    published = published_uids(directory)
    assert len(published) == len(set(published)), "an instance was announced twice"
    assert {uid_of[p] for p in acknowledged} <= set(published)

    # The sender resends everything, as it would after the failure: nothing is announced twice.
    child, port = start_child(directory)
    resent = subprocess.run(
        [dcmtk("storescu"), "-aec", "STREAMGALE", "127.0.0.1", str(port), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
        check=False,
    )
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 0
    assert resent.returncode == 0, resent.stderr
    published = published_uids(directory)
    assert len(published) == len(set(published)) == len(paths)
