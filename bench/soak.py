"""Soak: the radiology service under a steady load for N minutes, as a hospital runs it.

A paced C-STORE sender in another process offers ``--rate`` images/s, one
association per study of ``--slices`` instances (new UIDs for every study, the
pixels of a few synthetic CT series reused). The service runs in this process
with telemetry on, so RSS and CPU are the service's own. Per minute it reports:

* ``rate``: instances whose result was finalized, per second;
* ``RSS``: resident memory of the service at the end of the minute;
* ``p50``/``p95``: C-STORE arrival to the model's output, per instance finalized;
* ``ckpt``: mean and max checkpoint time, and the size of the latest snapshot;
* ``CPU``: the service's CPU, in % of one core;
* ``disk``: what the state directory holds.

After the load, it waits for the last results, then measures the CPU of the
idle service for ``--idle`` seconds. It ends with the targets of issue 8: RSS
slope after the first minute < 1 MiB/min, p95 of the last minute within 1.2x
the second minute, checkpoint time flat, idle CPU < 2 % of a core.

    .venv/bin/python bench/soak.py --minutes 15 --rate 40     # the full soak (quiet machine)
    .venv/bin/python bench/soak.py --minutes 2 --rate 20      # a short check
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ct_service import ct_settings
from streamgale import service as service_module
from streamgale.dicom.synthetic import ct_series, write_instances
from streamgale.service import RadiologyService

_SENDER = """
import sys, time
from pathlib import Path
from pydicom import dcmread
from pydicom.uid import generate_uid
from pynetdicom import AE
port, per_study = int(sys.argv[1]), int(sys.argv[4])
rate, seconds = float(sys.argv[2]), float(sys.argv[3])
folders = sorted(Path(sys.argv[5]).iterdir())
templates = [[dcmread(f) for f in sorted(d.glob("*.dcm"))] for d in folders]
ae = AE(ae_title="SOAK")
ae.add_requested_context("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1")
start, sent, failed, study = time.perf_counter(), 0, 0, 0
while time.perf_counter() - start < seconds:
    series = templates[study % len(templates)][:per_study]
    study_uid, series_uid = generate_uid(), generate_uid()
    assoc = ae.associate("127.0.0.1", port, ae_title="STREAMGALE")
    for ds in series:
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        deadline = start + (sent + failed) / rate
        while time.perf_counter() < deadline:
            time.sleep(0.0005)
        status = assoc.send_c_store(ds) if assoc.is_established else None
        if status and status.Status == 0:
            sent += 1
        else:
            failed += 1
            print("failed", ds.SOPInstanceUID, status, file=sys.stderr, flush=True)
    if assoc.is_established:
        assoc.release()
    study += 1
print("sent", sent, study, failed, flush=True)
"""


@dataclass
class Minute:
    """What one minute of the soak measured."""

    instances: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    checkpoints_s: list[float] = field(default_factory=list)
    rss_mib: float = 0.0
    cpu_pct: float = 0.0
    snapshot_kib: float = 0.0
    disk_mib: float = 0.0


class Recorder:
    """Collects results and checkpoint times into the minute they happened in."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.minutes: list[Minute] = [Minute()]
        self.results = 0
        self._lock = threading.Lock()

    def minute(self, index: int) -> Minute:
        while len(self.minutes) <= index:
            self.minutes.append(Minute())
        return self.minutes[index]

    def now(self) -> Minute:
        return self.minute(int((time.monotonic() - self.started) // 60))

    def result(self, summary: Any) -> None:
        with self._lock:
            minute = self.now()
            minute.instances += summary.instances
            minute.latencies_ms.extend(summary.instance_ms)
            self.results += 1

    def checkpoint(self, seconds: float) -> None:
        with self._lock:
            self.now().checkpoints_s.append(seconds)


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _disk_mib(root: Path) -> float:
    total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            # A file may go while walking (a log segment, a temporary file).
            with contextlib.suppress(OSError):
                total += (Path(folder) / name).stat().st_size
    return total / 2**20


def _snapshot_kib(state: Path) -> float:
    files = sorted((state / "runtime" / "snapshots").glob("snapshot-*.pkl"))
    return files[-1].stat().st_size / 1024 if files else 0.0


def _templates(root: Path, slices: int, size: int, count: int = 4) -> Path:
    for s in range(count):
        series = ct_series(slices=slices, size=size, lesion=s % 2 == 0, seed=s)
        write_instances(series, root / "templates" / f"{s:02d}")
    return root / "templates"


def _compact_every(seconds: float) -> None:
    """Run the service's lake maintenance every ``seconds`` (600 s in the
    service), so that a short soak shows what compaction does to RSS."""
    landing = service_module._landing

    def shortened(app: Any) -> Any:
        made = landing(app)
        made._maintain_every = seconds
        return made

    service_module._landing = shortened


def soak(minutes: float, rate: float, slices: int, size: int, idle: float) -> list[Minute]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        templates = _templates(root, slices, size)
        recorder = Recorder()
        app = RadiologyService(ct_settings(root), on_result=recorder.result)
        checkpoint = app.runtime.metrics.checkpoint

        def timed_checkpoint(epoch: int, seconds: float) -> None:
            recorder.checkpoint(seconds)
            checkpoint(epoch, seconds)

        app.runtime.metrics.checkpoint = timed_checkpoint  # type: ignore[method-assign]
        thread = threading.Thread(target=app.run, daemon=True)
        thread.start()
        assert app.ready.wait(120) and app.scp is not None
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        args = [str(app.scp.port), str(rate), str(minutes * 60), str(slices), str(templates)]
        recorder.started = time.monotonic()
        recorder.minutes = [Minute()]
        sender = subprocess.Popen(
            [sys.executable, "-c", _SENDER, *args], env=env, stdout=subprocess.PIPE, text=True
        )
        try:
            _sample_each_minute(recorder, root / "state", lambda: sender.poll() is not None)
            out, _ = sender.communicate()
            if sender.returncode != 0:
                sys.exit("the C-STORE sender failed")
            sent, studies, failed = (int(n) for n in out.split()[-3:])
            print(f"sent {sent} instances in {studies} studies, {failed} refused or failed")
            deadline = time.monotonic() + 120
            while recorder.results < studies and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(3)  # the last checkpoint and landing
            idle_cpu = _cpu_over(idle)
        finally:
            app.stop()
            thread.join(120)
    print(_table(recorder.minutes[: int(np.ceil(minutes))]))
    print()
    print(_verdict(recorder.minutes[: int(np.ceil(minutes))], idle_cpu, idle))
    return recorder.minutes


def _sample_each_minute(recorder: Recorder, state: Path, done: Callable[[], bool]) -> None:
    """At the end of each minute (while the sender runs), sample RSS, CPU and disk."""
    cpu, index = time.process_time(), 0
    while not done():
        end = recorder.started + 60 * (index + 1)
        while time.monotonic() < end and not done():
            time.sleep(0.2)
        if time.monotonic() < end:
            return  # the sender ended mid-minute: that minute is not a full one
        minute = recorder.minute(index)
        used = time.process_time()
        minute.cpu_pct = 100 * (used - cpu) / 60
        minute.rss_mib = _rss_mib()
        _trace_growth(index)
        minute.snapshot_kib = _snapshot_kib(state)
        minute.disk_mib = _disk_mib(state)
        cpu, index = used, index + 1


_first_snapshot: list[tracemalloc.Snapshot] = []


def _trace_growth(index: int) -> None:
    """With ``--tracemalloc``: the Python allocations that grew since minute 1."""
    if not tracemalloc.is_tracing():
        return
    snapshot = tracemalloc.take_snapshot()
    if not _first_snapshot:
        _first_snapshot.append(snapshot)
        return
    print(f"minute {index + 1}: Python allocations grown since minute 1")
    for stat in snapshot.compare_to(_first_snapshot[0], "lineno")[:8]:
        print(f"  {stat}")


def _cpu_over(seconds: float) -> float:
    used, start = time.process_time(), time.monotonic()
    time.sleep(seconds)
    return 100 * (time.process_time() - used) / (time.monotonic() - start)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _table(minutes: list[Minute]) -> str:
    rows = [
        "| minute | images/s | RSS MiB | p50 ms | p95 ms | ckpt mean/max ms | snapshot KiB "
        "| CPU % | disk MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, m in enumerate(minutes, start=1):
        ckpt = m.checkpoints_s or [float("nan")]
        rows.append(
            f"| {i} | {m.instances / 60:.1f} | {m.rss_mib:.0f} | {_pct(m.latencies_ms, 50):.0f} "
            f"| {_pct(m.latencies_ms, 95):.0f} | {1000 * np.mean(ckpt):.0f}/{1000 * max(ckpt):.0f} "
            f"| {m.snapshot_kib:.0f} | {m.cpu_pct:.0f} | {m.disk_mib:.0f} |"
        )
    return "\n".join(rows)


def _verdict(minutes: list[Minute], idle_cpu: float, idle: float) -> str:
    full = [m for m in minutes if m.rss_mib > 0]
    lines = [f"- idle CPU over {idle:.0f} s after the load: {idle_cpu:.1f} % of a core (< 2 %)"]
    if len(full) >= 3:
        x = np.arange(1, len(full))
        slope = float(np.polyfit(x, [m.rss_mib for m in full[1:]], 1)[0])
        lines.append(f"- RSS slope after the first minute: {slope:.2f} MiB/min (< 1)")
    if len(full) >= 2:
        second, last = _pct(full[1].latencies_ms, 95), _pct(full[-1].latencies_ms, 95)
        lines.append(f"- p95 last minute / second minute: {last / second:.2f} (<= 1.2)")
        first_ckpt = np.mean(full[1].checkpoints_s or [np.nan])
        last_ckpt = np.mean(full[-1].checkpoints_s or [np.nan])
        lines.append(
            f"- checkpoint mean, second -> last minute: {1000 * first_ckpt:.0f} -> "
            f"{1000 * last_ckpt:.0f} ms (flat)"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=40.0, help="offered images/s")
    parser.add_argument("--slices", type=int, default=50, help="instances per study")
    parser.add_argument("--size", type=int, default=256, help="image rows and columns")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU to measure")
    parser.add_argument(
        "--compact-every", type=float, default=None, help="seconds between lake compactions"
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="print Python allocations that grow"
    )
    args = parser.parse_args()
    if args.tracemalloc:
        tracemalloc.start()  # one frame: deeper tracebacks make each snapshot take minutes
    if args.compact_every is not None:
        _compact_every(args.compact_every)
    print(
        f"soak: {args.minutes:g} min at {args.rate:g} images/s, {args.slices}-slice studies "
        f"of {args.size}x{args.size} CT, telemetry on"
    )
    soak(args.minutes, args.rate, args.slices, args.size, args.idle)


if __name__ == "__main__":
    main()
