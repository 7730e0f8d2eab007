"""DIMSE ingest benchmark: StreamGale's C-STORE SCP beside dcmtk's storescp, same run.

Synthetic 512x512 16-bit CT instances (``streamgale.dicom.synthetic``) are
sent by dcmtk's ``storescu`` (with ``TCP_NODELAY=1``, one association) to:

* ``storescp``: dcmtk's own SCP writing files (``-od``), the peer; it never
  flushes them;
* ``pynetdicom``: stock pynetdicom 3 (an ``AE`` with an ``EVT_C_STORE``
  handler) writing each dataset to a file and fsyncing it before answering:
  the measured reason StreamGale runs its own P-DATA loop;
* ``streamgale``: the radiology app's default ingest, durable: each instance
  is written to its SHA-256-named file, file and directory fsynced, indexed,
  and its event appended to a log with ``FsyncPolicy.ALWAYS`` before the
  C-STORE-RSP (exactly what ``RadiologyApp`` builds);
* ``streamgale-nofsync``: no flush at all, durable against a process crash
  but not against power loss (storescp's own guarantee).

Rounds alternate the SCPs, and the ratio to storescp is taken per round.
Each SCP's CPU time per instance (user + system, from ``/proc``) is reported
too: on a shared machine it moves far less than the rates do.
Before each send the page cache is flushed (``os.sync``), so no SCP pays for
the writeback of the previous one's files. Target (issue 8): the app's
default path >= 0.5x storescp.

    .venv/bin/python bench/dicom_ingest.py --rounds 3
    .venv/bin/python bench/dicom_ingest.py --rounds 3 --scps storescp,streamgale
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

_STREAMGALE = """
import sys, signal, time
from pathlib import Path
from streamgale.dicom.ingest import InstanceStore
from streamgale.dicom.ingest.scp import ScpConfig, StorageSCP
from streamgale.log import FsyncPolicy, SegmentLog
port, root, mode = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
policy = FsyncPolicy.ALWAYS if mode == "streamgale" else FsyncPolicy.INTERVAL
log = SegmentLog(root / "log", fsync=policy)
store = InstanceStore(root / "store", log, fsync=mode == "streamgale")
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

_PYNETDICOM = """
import os, signal, sys, uuid
from pathlib import Path
from pynetdicom import AE, AllStoragePresentationContexts, evt
port, root = int(sys.argv[1]), Path(sys.argv[2])
root.mkdir(parents=True, exist_ok=True)
directory = os.open(root, os.O_RDONLY)

def on_store(event):
    # The stock way: the Part-10 file (preamble, file meta, dataset) straight from
    # the received bytes, made durable with the file and its directory entry.
    path = root / f"{uuid.uuid4().hex}.dcm"
    with path.open("wb") as f:
        f.write(event.encoded_dataset(include_meta=True))
        f.flush()
        os.fsync(f.fileno())
    os.fsync(directory)
    return 0x0000

ae = AE(ae_title="STREAMGALE")
ae.supported_contexts = AllStoragePresentationContexts
handlers = [(evt.EVT_C_STORE, on_store)]
server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=handlers)
print("ready", flush=True)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
signal.pause()
"""

SCPS = ("storescp", "pynetdicom", "streamgale", "streamgale-nofsync")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) the process used so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _send(port: int, folder: Path, pid: int) -> tuple[float, float]:
    """Send the folder; return the wall seconds and the SCP's CPU seconds it took."""
    env = {**os.environ, "TCP_NODELAY": "1"}
    # Each SCP starts without the previous one's dirty pages still queued for the
    # disk, which would otherwise slow whichever SCP flushes next.
    os.sync()
    cpu = _cpu(pid)
    start = time.perf_counter()
    subprocess.run(
        ["storescu", "-aec", "STREAMGALE", "+sd", "127.0.0.1", str(port), str(folder)],
        check=True,
        env=env,
        capture_output=True,
    )
    return time.perf_counter() - start, _cpu(pid) - cpu


def _storescp(folder: Path, work: Path) -> tuple[float, float]:
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
        return _send(port, folder, peer.pid)
    finally:
        peer.terminate()
        peer.wait()


def _python_scp(script: str, folder: Path, work: Path, mode: str) -> tuple[float, float]:
    port = _port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    scp = subprocess.Popen(
        [sys.executable, "-c", script, str(port), str(work / mode), mode],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert scp.stdout is not None and scp.stdout.readline().strip() == "ready"
    try:
        return _send(port, folder, scp.pid)
    finally:
        scp.terminate()
        scp.wait()


def _rate(scp: str, folder: Path, work: Path, instances: int) -> tuple[float, float]:
    """Instances per second, and CPU milliseconds of the SCP per instance."""
    if scp == "storescp":
        seconds, cpu = _storescp(folder, work)
    elif scp == "pynetdicom":
        seconds, cpu = _python_scp(_PYNETDICOM, folder, work, scp)
    else:
        seconds, cpu = _python_scp(_STREAMGALE, folder, work, scp)
    return instances / seconds, cpu * 1000 / instances


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument(
        "--scps", default=",".join(SCPS), help=f"comma-separated, from {', '.join(SCPS)}"
    )
    args = parser.parse_args()
    scps = [s for s in args.scps.split(",") if s]
    if "storescp" not in scps or set(scps) - set(SCPS):
        sys.exit(f"--scps must include storescp (the peer) and name only {', '.join(SCPS)}")
    if shutil.which("storescu") is None:
        sys.exit("dcmtk is missing: apt-get install dcmtk (make test installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "ct"
        write_instances(ct_series(slices=args.instances, size=512, seed=1), folder)
        ratios: dict[str, list[float]] = {s: [] for s in scps if s != "storescp"}
        cpus: dict[str, list[float]] = {}
        for r in range(args.rounds):
            work = root / f"round{r}"
            work.mkdir()
            measured = {s: _rate(s, folder, work, args.instances) for s in scps}
            peer, peer_cpu = measured["storescp"]
            cells = [f"storescp {peer:.0f}/s, {peer_cpu:.2f} ms CPU"]
            for name, values in ratios.items():
                rate, cpu = measured[name]
                values.append(rate / peer)
                cpus.setdefault(name, []).append(cpu)
                cells.append(f"{name} {rate:.0f}/s ({rate / peer:.2f}x), {cpu:.2f} ms CPU")
            cpus.setdefault("storescp", []).append(peer_cpu)
            print(f"round {r + 1}: " + " | ".join(cells), flush=True)
        for name, values in ratios.items():
            print(
                f"{name}: median {statistics.median(values):.2f}x storescp, "
                f"{statistics.median(cpus[name]):.2f} ms CPU per instance "
                f"(storescp {statistics.median(cpus['storescp']):.2f} ms)"
            )


if __name__ == "__main__":
    main()
