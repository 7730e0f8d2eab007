"""Fixtures for the DICOMweb tests: a real instance store and a running STOW-RS server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streamgale.dicom.ingest import InstanceStore
from streamgale.dicom.web import StowClient, StowServer
from streamgale.log import MemoryLog


@pytest.fixture
def log() -> MemoryLog:
    return MemoryLog()


@pytest.fixture
def store(tmp_path: Path, log: MemoryLog) -> Iterator[InstanceStore]:
    instance_store = InstanceStore(tmp_path / "store", log)
    yield instance_store
    instance_store.close()


@pytest.fixture
def server(store: InstanceStore) -> Iterator[StowServer]:
    with StowServer(store) as running:
        yield running


@pytest.fixture
def client(server: StowServer) -> StowClient:
    return StowClient(server.url, timeout=10)
