"""Fixtures for the ingest tests: a store on a memory log, and a running storage SCP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streamgale.dicom.ingest import InstanceStore
from streamgale.dicom.ingest.scp import ScpConfig, StorageSCP
from streamgale.log import MemoryLog


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog()


@pytest.fixture
def store(tmp_path: Path, log: MemoryLog) -> Iterator[InstanceStore]:
    opened = InstanceStore(tmp_path / "store", log, clock=lambda: 1234.5)
    yield opened
    opened.close()


@pytest.fixture
def scp(store: InstanceStore) -> Iterator[StorageSCP]:
    server = StorageSCP(ScpConfig(port=0, network_timeout=10.0), store)
    server.start()
    yield server
    server.stop()
