"""A storage SCP in its own process, for the kill -9 tests: prints its port, serves until killed.

Usage: python scp_child.py DIRECTORY [--stall-announcements]

``--stall-announcements`` holds back everything written behind the
acknowledgement (files, log events, index rows) forever, so acknowledged
instances exist only in the ingest journal when the process is killed.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from streamgale.dicom.ingest import InstanceStore
from streamgale.dicom.ingest.objects import ObjectFiles
from streamgale.dicom.ingest.scp import ScpConfig, StorageSCP
from streamgale.log import FsyncPolicy, SegmentLog


def main(directory: Path, *, stall: bool) -> None:
    if stall:
        never = threading.Event()
        ObjectFiles.materialize = lambda *args, **kwargs: never.wait()  # type: ignore[assignment,method-assign]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with SegmentLog(directory / "log", fsync=FsyncPolicy.ALWAYS) as log:
        store = InstanceStore(directory / "store", log)
        with StorageSCP(ScpConfig(port=0), store) as scp:
            print(scp.port, flush=True)
            stop.wait()
        store.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), stall="--stall-announcements" in sys.argv[2:])
