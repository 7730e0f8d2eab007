"""Real peers for the delivery tests: dcmtk's storescp, started per test on a free port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest

INSTALL_HINT = "install dcmtk (make test does: apt-get install dcmtk)"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class StoreSCP:
    """A running storescp: where it listens and where it writes what it receives."""

    port: int
    ae_title: str
    directory: Path
    process: subprocess.Popen[bytes]

    def received(self) -> dict[str, pydicom.Dataset]:
        """The received instances by SOP Instance UID."""
        out: dict[str, pydicom.Dataset] = {}
        for path in sorted(self.directory.iterdir()):
            ds = pydicom.dcmread(path)
            out[str(ds.SOPInstanceUID)] = ds
        return out

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def start_storescp(directory: Path, port: int, ae_title: str = "PACS") -> StoreSCP:
    """Start storescp on ``port`` and wait until it accepts connections."""
    if shutil.which("storescp") is None:
        pytest.fail(f"storescp not found; {INSTALL_HINT}")
    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        ["storescp", "--aetitle", ae_title, "--output-directory", str(directory), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"storescp exited with {process.returncode} (port {port} in use?)")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return StoreSCP(port, ae_title, directory, process)
        except OSError:
            time.sleep(0.05)
    process.terminate()
    pytest.fail(f"storescp did not listen on port {port} within 10 s")


@pytest.fixture
def storescp_factory(tmp_path: Path) -> Iterator[Callable[..., StoreSCP]]:
    """Starts storescp peers (``factory(port=None, name=...)``); all stop after the test."""
    started: list[StoreSCP] = []

    def factory(port: int | None = None, name: str = "scp") -> StoreSCP:
        scp = start_storescp(tmp_path / name, port or free_port())
        started.append(scp)
        return scp

    yield factory
    for scp in started:
        scp.stop()


@pytest.fixture
def storescp(storescp_factory: Callable[..., StoreSCP]) -> StoreSCP:
    return storescp_factory()
