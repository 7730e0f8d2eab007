"""Every file pydicom ships for its tests goes through the whole radiology pipeline.

Real vendor CT, MR, US and NM, compressed variants, DICOMDIRs, malformed and
non-DICOM files are each sent in their own STOW-RS request. Each must end in
exactly one state: refused at the door (with a reason), quarantined (with a
reason, bytes kept), or processed into a result. Nothing may be lost and
nothing may crash the pipeline.
"""

from __future__ import annotations

import threading
import time
import warnings
from pathlib import Path

import pytest

from streamgale.dicom.quality import QuarantineStatus
from streamgale.dicom.radiology.pipeline import RadiologySettings, StowSettings
from streamgale.dicom.routing import Route
from streamgale.dicom.web import StowClient
from streamgale.errors import DeliveryError
from streamgale.inference import load_model_config
from streamgale.models import demo_model_config_path
from streamgale.service import RadiologyService
from tests.dicom.quality.helpers import bundled_files

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns on odd files


def test_every_bundled_file_ends_processed_quarantined_or_refused(tmp_path: Path) -> None:
    settings = RadiologySettings(
        state_dir=tmp_path / "state",
        models=(load_model_config(demo_model_config_path()),),
        routes=(Route("everything", models=("demo-lesion",)),),
        dimse=None,
        stow=StowSettings(port=0),
        quiet_seconds=0.5,
        checkpoint_interval=0.2,
    )
    app = RadiologyService(settings)
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    assert app.ready.wait(60)
    assert app.stow is not None
    client = StowClient(app.stow.url)
    refused: dict[str, str] = {}
    stored: set[str] = set()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for path in bundled_files():
                try:
                    result = client.store([path.read_bytes()])
                except DeliveryError as exc:
                    refused[path.name] = str(exc)
                    continue
                stored.update(result.stored_uids)
                for failure in result.failed:
                    refused[path.name] = f"{failure.reason:#06x} {failure.text}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            processed = {sop for s in app.summaries for sop in s.sop_instance_uids}
            # A released entry is no end state: a later copy of the instance (pydicom
            # bundles some images in several transfer syntaxes) was processed anew.
            quarantined = {
                e.sop_instance_uid
                for e in app.quarantine.list(limit=10_000)
                if e.status is not QuarantineStatus.RELEASED
            }
            if stored <= processed | quarantined:
                break
            time.sleep(0.2)
    finally:
        app.stop()
        thread.join(60)
    assert len(bundled_files()) >= 170
    assert stored, "nothing was stored"
    assert refused, "the malformed files must be refused"
    lost = stored - processed - quarantined
    assert not lost, f"{len(lost)} stored instances ended nowhere: {sorted(lost)[:5]}"
    assert not (processed & quarantined), "an instance ended in two states"
    assert all(reason for reason in refused.values())
    assert processed and quarantined  # real images are processed, non-images quarantined
