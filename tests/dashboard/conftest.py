"""A real radiology pipeline (demo model, DIMSE on a free port) for the dashboard tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Running:
    """A started app and how to feed it."""

    app: Any
    state_dir: Path

    def send(self, *, seed: int, lesion: bool, slices: int = 6, broken: bool = False) -> str:
        """Send one synthetic CT study over DIMSE; returns its Study Instance UID.

        ``broken``: the second instance loses its Pixel Data, so validation
        quarantines it while the rest of the study is processed.
        """
        from streamgale.dicom.delivery import DimseDestination
        from streamgale.dicom.delivery.cstore import c_store
        from streamgale.dicom.synthetic import ct_series

        series = ct_series(slices=slices, size=128, lesion=lesion, seed=seed)
        if broken:
            del series[1].PixelData
        door = DimseDestination(
            "streamgale", "127.0.0.1", self.app.scp.port, "STREAMGALE", calling_ae="TEST_CT"
        )
        c_store(door, series)
        return str(series[0].StudyInstanceUID)

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"gave up after {timeout} s waiting for {what}")
            time.sleep(0.05)


def _closed_port() -> int:
    """A port nothing listens on: a destination there stays down, with retries."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def radiology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    from streamgale.dicom.delivery import DimseDestination
    from streamgale.dicom.ingest.scp import ScpConfig
    from streamgale.dicom.radiology import RadiologySettings
    from streamgale.dicom.routing import Route
    from streamgale.inference import load_model_config
    from streamgale.models import demo_model_config_path
    from streamgale.service import RadiologyService

    state = tmp_path_factory.mktemp("radiology")
    settings = RadiologySettings(
        state_dir=state,
        models=(load_model_config(demo_model_config_path()),),
        routes=(
            Route(
                "chest-ct",
                modalities=frozenset({"CT"}),
                models=("demo-lesion",),
                destinations=("pacs",),
            ),
        ),
        destinations=(DimseDestination("pacs", "127.0.0.1", _closed_port(), "PACS", timeout=2.0),),
        dimse=ScpConfig(port=0),
        stow=None,
        quiet_seconds=0.3,
        checkpoint_interval=0.2,
    )
    app = RadiologyService(settings)
    thread = threading.Thread(target=app.run, name="radiology", daemon=True)
    thread.start()
    assert app.ready.wait(60), "the radiology app did not start within 60 s"
    try:
        yield Running(app, state)
    finally:
        app.stop()
        thread.join(60)
