"""The radiology app as a child process the crash test can SIGKILL.

Usage: python crash_app.py STATE_DIR MODEL_YAML PORT [QUIET_SECONDS [CHECKPOINT_INTERVAL]]
Prints "ready" once the DIMSE port listens.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from streamgale.dicom.ingest.scp import ScpConfig
from streamgale.dicom.radiology import RadiologySettings
from streamgale.dicom.routing import Route
from streamgale.inference import load_model_config
from streamgale.service import RadiologyService

if __name__ == "__main__":
    state, model, port = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    quiet, interval = (float(a) for a in [*sys.argv[4:6], "1.0", "0.2"][:2])
    settings = RadiologySettings(
        state_dir=state,
        models=(load_model_config(model),),
        routes=(Route("ct", modalities=frozenset({"CT"}), models=("organs",)),),
        dimse=ScpConfig(port=port),
        stow=None,
        quiet_seconds=quiet,
        checkpoint_interval=interval,
    )
    app = RadiologyService(settings, on_result=lambda s: print("result", s.result_id, flush=True))

    def say_ready() -> None:
        app.ready.wait()
        print("ready", flush=True)

    threading.Thread(target=say_ready, daemon=True).start()
    app.run()
