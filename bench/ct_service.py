"""The radiology service that ``dicom_latency.py`` and ``soak.py`` measure.

One CT route to the demo model, the DIMSE listener on a free port, no
STOW-RS. Both benches release the association after each study, so a study
completes on the release: the 30 s quiet period never decides when.
"""

from __future__ import annotations

from pathlib import Path

from streamgale.dicom.ingest.scp import ScpConfig
from streamgale.dicom.radiology import RadiologySettings
from streamgale.dicom.routing import Route
from streamgale.inference import load_model_config
from streamgale.models import demo_model_config_path


def ct_settings(root: Path, *, telemetry: bool = True) -> RadiologySettings:
    """Settings with state under ``root/state`` and a checkpoint every second."""
    return RadiologySettings(
        state_dir=root / "state",
        models=(load_model_config(demo_model_config_path()),),
        routes=(Route("ct", modalities=frozenset({"CT"}), models=("demo-lesion",)),),
        dimse=ScpConfig(port=0),
        stow=None,
        quiet_seconds=30.0,  # completion comes from the association release
        checkpoint_interval=1.0,
        telemetry=telemetry,
    )
