"""A research PACS fed by ``streamgale run``: a de-identifying export route, as a user writes it.

The YAML names no model: the route de-identifies and exports the instances
to a research PACS (dcmtk storescp). dcmtk storescu sends a CT series and an
SR with planted identifiers; the PACS receives all of them de-identified,
and one SIGINT stops the service with exit code 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from streamgale.dicom.synthetic import ct_series, write_instances
from tests.cli.cli import STREAMGALE
from tests.cli.test_run_radiology import Lines, _send
from tests.dicom.delivery.conftest import free_port, start_storescp

IDENTIFYING = ("Moriarty", "MRN-77001", "Adler", "Irene")

CONFIG = """\
radiology:
  listeners:
    dimse: {{ae_title: STREAMGALE, port: 0}}
  deidentify:
    secret_env: SG_RESEARCH_SECRET
    options: [CLEAN_DESCRIPTORS]
  routes:
    - name: research
      deidentify: true
      export: [research-pacs]
      quiet: 300ms
  destinations:
    research-pacs: {{dimse: {{host: 127.0.0.1, port: {port}, ae_title: RESEARCH}}}}
"""


def _study(folder: Path) -> list[Path]:
    series = ct_series(slices=3, size=32, seed=9)
    report = pydicom.dcmread(get_testdata_file("test-SR.dcm"))
    report.StudyInstanceUID = series[0].StudyInstanceUID
    for ds in [*series, report]:
        ds.PatientName, ds.PatientID = "Moriarty^James", "MRN-77001"
        ds.StudyDescription = "CT chest for Irene Adler"
        ds.PatientComments = "wife Irene Adler"
    return write_instances([*series, report], folder)


def test_streamgale_run_exports_deidentified_instances_to_a_research_pacs(
    tmp_path: Path,
) -> None:
    pacs = start_storescp(tmp_path / "pacs", free_port(), ae_title="RESEARCH")
    config = tmp_path / "research.yaml"
    config.write_text(CONFIG.format(port=pacs.port))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGALE_")}
    env["SG_RESEARCH_SECRET"] = "0123456789abcdef0123456789abcdef"
    process = subprocess.Popen(
        [STREAMGALE, "run", str(config), "--state-dir", str(tmp_path / "state")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    err = Lines(process.stderr)
    Lines(process.stdout)
    try:
        port = int(err.wait_for(r"^DIMSE: AE STREAMGALE on 127\.0\.0\.1:(\d+)$")[1])
        files = _study(tmp_path / "study")
        _send(port, files)
        deadline = time.monotonic() + 60
        while len(list(pacs.directory.iterdir())) < len(files):
            if time.monotonic() > deadline:
                pytest.fail(f"the research PACS got {list(pacs.directory.iterdir())}")
            time.sleep(0.2)
        time.sleep(0.3)  # storescp finishes writing before it answers the last C-STORE
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0, err.seen
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        pacs.stop()
    received = list(pacs.directory.iterdir())
    assert len(received) == len(files)
    for path in received:
        raw = path.read_bytes()
        for text in IDENTIFYING:
            assert text.encode() not in raw, f"{text!r} reached the research PACS"
        assert pydicom.dcmread(path).PatientIdentityRemoved == "YES"
