"""A storage SCP in its own process, for the kill -9 tests: prints its port, serves until killed.

Usage: python scp_child.py DIRECTORY
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from streamgale.dicom.ingest import InstanceStore
from streamgale.dicom.ingest.scp import ScpConfig, StorageSCP
from streamgale.log import FsyncPolicy, SegmentLog


def main(directory: Path) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with SegmentLog(directory / "log", fsync=FsyncPolicy.ALWAYS) as log:
        store = InstanceStore(directory / "store", log)
        with StorageSCP(ScpConfig(port=0), store) as scp:
            print(scp.port, flush=True)
            stop.wait()
        store.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
