"""A full disk never takes the doors down: the radiology service, as a process, on a small tmpfs.

The disk holding the state directory is filled while the service runs:
dcmtk's storescu gets C-STORE status 0xA700 (Out of Resources) and a
STOW-RS request HTTP 507, the process stays up (C-ECHO and ``/healthz``
answer), and once space is freed the next storescu succeeds and the study
gets its result, with no restart. A service started on a full disk does not
exit either, nor does ``streamgale run``: it waits for space, then serves.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from streamgale.dicom.ingest.store import RESERVE_BYTES
from streamgale.dicom.synthetic import ct_series, write_instances
from streamgale.dicom.web.multipart import build_related
from tests.cli.cli import STREAMGALE
from tests.cli.test_run_radiology import Lines, _test_copy_of_the_example
from tests.dicom.web.helpers import post
from tests.inference.onnx_models import segmenter
from tests.tmpfs import fill, small_tmpfs

APP = Path(__file__).with_name("disk_app.py")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: install dcmtk (make test does: apt-get install dcmtk)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """The service process and its two doors."""

    def __init__(self, state: Path, model: Path) -> None:
        self.dimse, self.stow = _free_port(), _free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        command = [sys.executable, str(APP), str(state), str(model)]
        self.process = subprocess.Popen(
            [*command, str(self.dimse), str(self.stow)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def wait_for(self, word: str, timeout: float) -> bool:
        """Whether the process printed a line starting with ``word`` within ``timeout``."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.2)
            if ready and self.process.stdout.readline().startswith(word):
                return True
        return False

    def storescu(self, files: list[Path]) -> subprocess.CompletedProcess[str]:
        command = [_tool("storescu"), "-v", "-aec", "STREAMGALE", "127.0.0.1", str(self.dimse)]
        argv = [*command, *map(str, files)]
        return subprocess.run(argv, capture_output=True, text=True, check=False)

    def send(self, files: list[Path]) -> None:
        """Send ``files``; the test fails unless every one was accepted."""
        sent = self.storescu(files)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert "Refused" not in sent.stdout + sent.stderr

    def refused(self, files: list[Path]) -> bool:
        """Whether the doors refused ``files`` for want of space (C-STORE status 0xA700)."""
        sent = self.storescu(files)
        return "Refused: OutOfResources" in sent.stdout + sent.stderr

    def echo(self) -> int:
        command = [_tool("echoscu"), "-aec", "STREAMGALE", "127.0.0.1", str(self.dimse)]
        return subprocess.run(command, capture_output=True, check=False).returncode

    def healthz(self) -> int:
        url = f"http://127.0.0.1:{self.stow}/dicomweb/healthz"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def serving(state: Path, model: Path) -> Iterator[Service]:
    """A service process that has opened its doors, stopped on exit."""
    service = Service(state, model)
    try:
        assert service.wait_for("ready", 60), "the service did not start"
        yield service
    finally:
        service.stop()


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return segmenter(tmp_path, size=32, preprocessing={"voi": "lung", "size": [32, 32]})


def test_a_full_disk_refuses_at_the_doors_and_recovers_by_itself(
    tmp_path: Path, model: Path
) -> None:
    first = write_instances(ct_series(slices=3, size=64, seed=1), tmp_path / "first")
    second = write_instances(ct_series(slices=3, size=64, seed=2), tmp_path / "second")
    with (
        small_tmpfs(tmp_path / "disk", size="48m") as disk,
        serving(disk / "state", model) as service,
    ):
        service.send(first)
        assert service.wait_for("result", 60), "the first study got no result"

        filler = fill(disk)
        assert service.refused(second)
        header, body = build_related([second[0].read_bytes()])
        status, _, _ = post(
            f"http://127.0.0.1:{service.stow}/dicomweb/studies", body, {"Content-Type": header}
        )
        assert status == 507
        time.sleep(1.0)  # checkpoints (every 0.2 s) fail meanwhile
        assert service.process.poll() is None, "the service exited on a full disk"
        assert service.echo() == 0 and service.healthz() == 200

        filler.unlink()
        service.send(second)
        assert service.wait_for("result", 60), "the study sent after space returned got no result"


def test_a_start_on_a_full_disk_waits_for_space_instead_of_exiting(
    tmp_path: Path, model: Path
) -> None:
    study = write_instances(ct_series(slices=3, size=64, seed=3), tmp_path / "study")
    with small_tmpfs(tmp_path / "disk", size="48m") as disk:
        service = Service(disk / "state", model)  # a first run leaves its state
        assert service.wait_for("ready", 60), "the service did not start"
        service.stop()
        filler = fill(disk)
        service = Service(disk / "state", model)
        try:
            assert not service.wait_for("ready", 3.0), "it started with no space to write in"
            assert service.process.poll() is None, "the service exited at start on a full disk"
            filler.unlink()
            assert service.wait_for("ready", 60), "the service did not start once space returned"
            service.send(study)
            assert service.wait_for("result", 60), "the study got no result"
        finally:
            service.stop()


def test_streamgale_run_on_a_full_disk_waits_then_serves(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", size="48m") as disk:
        filler = fill(disk)
        command = [STREAMGALE, "run", str(_test_copy_of_the_example(tmp_path))]
        ports = ["--dicom-port", "0", "--stow-port", "0", "--dashboard-port", "0"]
        process = subprocess.Popen(
            [*map(str, command), "--state-dir", str(disk / "state"), *ports],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stderr is not None
        err = Lines(process.stderr)
        try:
            err.wait_for(r"is full .* waiting for space")
            time.sleep(1.0)
            assert process.poll() is None, "streamgale run exited on a full disk"
            filler.unlink()
            err.wait_for(r"^DIMSE: AE STREAMGALE on 127\.0\.0\.1:\d+$")
            err.wait_for(r"^Dashboard: ")
            time.sleep(1.0)  # the runtime takes over SIGINT just after the doors open
            process.send_signal(signal.SIGINT)
            assert process.wait(60) == 0, err.seen
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def test_the_doors_refuse_at_the_reserve_so_accepted_work_still_completes(
    tmp_path: Path, model: Path
) -> None:
    study = write_instances(ct_series(slices=3, size=64, seed=4), tmp_path / "study")
    late = write_instances(ct_series(slices=3, size=64, seed=5), tmp_path / "late")
    with (
        small_tmpfs(tmp_path / "disk", size="64m") as disk,
        serving(disk / "state", model) as service,
    ):
        service.send(study)
        fill(disk, leave=RESERVE_BYTES // 2)  # instances filled it up to the reserve
        assert service.refused(late)
        # The study accepted before is built, stored and checkpointed in the reserve.
        assert service.wait_for("result", 60), "the accepted study got no result"
        assert service.process.poll() is None


def test_a_study_in_progress_when_the_disk_fills_gets_its_result_once_space_returns(
    tmp_path: Path, model: Path
) -> None:
    study = write_instances(ct_series(slices=3, size=64, seed=6), tmp_path / "study")
    with small_tmpfs(tmp_path / "disk", size="48m") as disk:
        service = Service(disk / "state", model)
        try:
            assert service.wait_for("ready", 60), "the service did not start"
            assert service.storescu(study).returncode == 0
            filler = fill(disk)  # before the study's quiet second ends: its results wait
            assert not service.wait_for("result", 3.0), "results were stored on a full disk"
            assert service.process.poll() is None
            filler.unlink()
            assert service.wait_for("result", 60), "the study got no result once space returned"
            quarantined = disk / "state" / "quarantine" / "objects"
            assert not list(quarantined.rglob("*.dcm")), "a full disk is no reason to quarantine"
        finally:
            service.stop()
