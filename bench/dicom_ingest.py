"""DIMSE ingest benchmark: StreamGale's C-STORE SCP beside dcmtk's storescp, same run.

300 synthetic 512x512 16-bit CT instances (``streamgale.dicom.synthetic``) are
sent by dcmtk's ``storescu`` (with ``TCP_NODELAY=1``) to:

* ``storescp``: dcmtk's own SCP writing files (``-od``), the peer;
* ``streamgale``: ``StorageSCP`` + ``InstanceStore`` with durable storage:
  each instance is flushed to the ingest journal before its acknowledgement
  (one ``fdatasync``, shared by concurrent associations); its file, log event
  and index row are written behind, and background checkpoints flush files
  and log in batches (so the log itself runs with ``FsyncPolicy.NEVER``);
* ``streamgale-nofsync``: the same without the journal, durable against a
  process crash but not against power loss (storescp's own guarantee).

Rounds alternate the three, and the ratio to storescp is taken per round.
Before each send the page cache is flushed (``os.sync``), so no SCP pays for
the writeback of the previous one's files. Target (issue 3): >= 0.5x storescp
with durable storage.

    .venv/bin/python bench/dicom_ingest.py --rounds 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from streamgale.dicom.synthetic import ct_series, write_instances

_SCP = """
import sys, signal, time
from pathlib import Path
from streamgale.dicom.ingest import InstanceStore
from streamgale.dicom.ingest.scp import ScpConfig, StorageSCP
from streamgale.log import FsyncPolicy, SegmentLog
port, root, fsync = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "fsync"
# With fsync the store flushes what it must itself (the journal per instance, the
# log at each checkpoint), so the log needs no flush of its own: NEVER. Without,
# the log flushes every 5 ms in the background, as before.
policy = FsyncPolicy.NEVER if fsync else FsyncPolicy.INTERVAL
log = SegmentLog(root / "log", fsync=policy)
store = InstanceStore(root / "store", log, fsync=fsync)
scp = StorageSCP(ScpConfig(port=port), store)
scp.start()
print("ready", flush=True)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
try:
    while True:
        time.sleep(1)
finally:
    scp.stop(); store.close(); log.close()
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _send(port: int, folder: Path) -> float:
    env = {**os.environ, "TCP_NODELAY": "1"}
    # Each SCP starts without the previous one's dirty pages still queued for the
    # disk, which would otherwise slow whichever SCP flushes next.
    os.sync()
    start = time.perf_counter()
    subprocess.run(
        ["storescu", "-aec", "STREAMGALE", "+sd", "127.0.0.1", str(port), str(folder)],
        check=True,
        env=env,
        capture_output=True,
    )
    return time.perf_counter() - start


def _storescp(folder: Path, work: Path) -> float:
    out = work / "storescp"
    out.mkdir()
    port = _port()
    # dcmtk reads TCP_NODELAY on both ends; without it Nagle's algorithm caps storescp
    # near 25 instances/s, which would flatter every comparison.
    peer = subprocess.Popen(
        ["storescp", "-od", str(out), str(port)], env={**os.environ, "TCP_NODELAY": "1"}
    )
    time.sleep(0.5)
    try:
        return _send(port, folder)
    finally:
        peer.terminate()
        peer.wait()


def _streamgale(folder: Path, work: Path, mode: str) -> float:
    port = _port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    scp = subprocess.Popen(
        [sys.executable, "-c", _SCP, str(port), str(work / mode), mode],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert scp.stdout is not None and scp.stdout.readline().strip() == "ready"
    try:
        return _send(port, folder)
    finally:
        scp.terminate()
        scp.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instances", type=int, default=300)
    args = parser.parse_args()
    if shutil.which("storescu") is None:
        sys.exit("dcmtk is missing: apt-get install dcmtk (make test installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "ct"
        write_instances(ct_series(slices=args.instances, size=512, seed=1), folder)
        ratios: dict[str, list[float]] = {"streamgale": [], "streamgale-nofsync": []}
        for r in range(args.rounds):
            work = root / f"round{r}"
            work.mkdir()
            peer = args.instances / _storescp(folder, work)
            durable = args.instances / _streamgale(folder, work, "fsync")
            fast = args.instances / _streamgale(folder, work, "nofsync")
            ratios["streamgale"].append(durable / peer)
            ratios["streamgale-nofsync"].append(fast / peer)
            print(
                f"round {r + 1}: storescp {peer:.0f}/s | streamgale (fsync) {durable:.0f}/s "
                f"({durable / peer:.2f}x) | streamgale (no fsync) {fast:.0f}/s ({fast / peer:.2f}x)"
            )
        for name, values in ratios.items():
            print(f"{name}: median {statistics.median(values):.2f}x storescp")


if __name__ == "__main__":
    main()
