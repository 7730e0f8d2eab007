"""The radiology service as a child process for the full-disk test.

Usage: python disk_app.py STATE_DIR MODEL_YAML DIMSE_PORT STOW_PORT
Prints "ready" once the doors listen, and "result <id>" for each result.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from streamgale.dicom.ingest.scp import ScpConfig
from streamgale.dicom.radiology import RadiologySettings
from streamgale.dicom.radiology.pipeline import StowSettings
from streamgale.dicom.routing import Route
from streamgale.fsutil import wait_for_space
from streamgale.inference import load_model_config
from streamgale.service import RadiologyService

if __name__ == "__main__":
    state, model = Path(sys.argv[1]), Path(sys.argv[2])
    dimse_port, stow_port = int(sys.argv[3]), int(sys.argv[4])
    settings = RadiologySettings(
        state_dir=state,
        models=(load_model_config(model),),
        routes=(Route("ct", modalities=frozenset({"CT"}), models=("organs",)),),
        dimse=ScpConfig(port=dimse_port),
        stow=StowSettings(port=stow_port),
        quiet_seconds=1.0,
        checkpoint_interval=0.2,
    )
    wait_for_space(state)  # as `streamgale run` does: a start on a full disk waits
    service = RadiologyService(
        settings, on_result=lambda s: print("result", s.result_id, flush=True)
    )

    def say_ready() -> None:
        service.ready.wait()
        print("ready", flush=True)

    threading.Thread(target=say_ready, daemon=True).start()
    service.run()
