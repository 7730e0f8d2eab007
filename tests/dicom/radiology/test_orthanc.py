"""Orthanc as a real PACS on loopback: it sends a study to StreamGale with C-STORE
(as the README tells users to set it up), and gets the AI's SR and SEG back into
that study through a StreamGale destination."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamgale.dicom.delivery import DimseDestination
from streamgale.dicom.ingest.scp import ScpConfig
from streamgale.dicom.radiology.pipeline import RadiologySettings
from streamgale.dicom.routing import Route
from streamgale.dicom.synthetic import ct_series, write_instances
from streamgale.inference import load_model_config
from streamgale.service import RadiologyService
from tests.dicom.radiology.helpers import running, wait_for_results
from tests.inference.onnx_models import segmenter


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Orthanc:
    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, method: str, path: str, body: bytes | None = None) -> Any:
        request = urllib.request.Request(self.url + path, data=body, method=method)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"null")


@pytest.fixture
def orthanc_ports() -> tuple[int, int]:
    return _free_port(), _free_port()


def _start_orthanc(tmp_path: Path, http: int, dicom: int, streamgale: int) -> subprocess.Popen[str]:
    binary = shutil.which("Orthanc")
    if binary is None:
        pytest.fail("Orthanc is missing: install it (make test does: apt-get install orthanc)")
    config = {
        "Name": "streamgale-test",
        "StorageDirectory": str(tmp_path / "orthanc-db"),
        "IndexDirectory": str(tmp_path / "orthanc-db"),
        "HttpPort": http,
        "DicomPort": dicom,
        "DicomAet": "ORTHANC",
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomModalities": {"streamgale": ["STREAMGALE", "127.0.0.1", streamgale]},
        "Plugins": [],
    }
    path = tmp_path / "orthanc.json"
    path.write_text(json.dumps(config))
    return subprocess.Popen(
        [binary, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture
def pacs(
    tmp_path: Path, orthanc_ports: tuple[int, int]
) -> Iterator[tuple[RadiologyService, Orthanc]]:
    http, dicom = orthanc_ports
    model = load_model_config(
        segmenter(tmp_path, size=32, preprocessing={"voi": "lung", "size": [32, 32]})
    )
    settings = RadiologySettings(
        state_dir=tmp_path / "state",
        models=(model,),
        routes=(Route("ct", modalities={"CT"}, models=("organs",), destinations=("pacs",)),),
        destinations=(DimseDestination("pacs", "127.0.0.1", dicom, "ORTHANC"),),
        dimse=ScpConfig(port=0),
        stow=None,
        quiet_seconds=30.0,  # completion comes from Orthanc's association release
        checkpoint_interval=0.2,
    )
    with running(settings) as app:
        assert app.scp is not None
        process = _start_orthanc(tmp_path, http, dicom, app.scp.port)
        orthanc = Orthanc(f"http://127.0.0.1:{http}")
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    orthanc.call("GET", "/system")
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        _, err = process.communicate(timeout=5)
                        pytest.fail(f"Orthanc did not start: {err[-2000:]}")
                    time.sleep(0.1)
            yield app, orthanc
        finally:
            process.terminate()
            process.wait(30)


def test_orthanc_sends_a_study_and_gets_sr_and_seg_back_into_it(
    pacs: tuple[RadiologyService, Orthanc], tmp_path: Path
) -> None:
    app, orthanc = pacs
    series = ct_series(slices=4, size=64, lesion=True, seed=31)
    for path in write_instances(series, tmp_path / "send"):
        orthanc.call("POST", "/instances", path.read_bytes())
    [study] = orthanc.call("GET", "/studies")
    before = orthanc.call("GET", f"/studies/{study}")["Series"]
    # As the README says: Orthanc's REST API sends the study to the 'streamgale' modality.
    orthanc.call("POST", "/modalities/streamgale/store", study.encode())
    wait_for_results(app, 1)
    assert app.summaries[0].instances == 4 and app.summaries[0].present
    deadline = time.monotonic() + 60
    added: list[str] = []
    while time.monotonic() < deadline:
        added = [s for s in orthanc.call("GET", f"/studies/{study}")["Series"] if s not in before]
        if len(added) >= 2:
            break
        time.sleep(0.2)
    modalities = sorted(
        orthanc.call("GET", f"/series/{s}")["MainDicomTags"]["Modality"] for s in added
    )
    # Orthanc files them under the same study: same Study Instance UID, new series.
    assert modalities == ["SEG", "SR"]
