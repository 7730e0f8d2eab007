"""DICOM latency benchmarks (issue 3, targets 2 and 3), with the demo model on CPU.

* ``instance``: synthetic 512x512 CT instances are offered at a steady rate (50 and 100
  images/s) by a paced C-STORE sender in another process, 30-slice studies, one
  association each. Per instance: C-STORE arrival (when the store made it durable) to the
  model's output for that instance. Results are persisted per study, so this measures
  "inference result computed", not a per-instance object persisted.
* ``study``: one 300-slice study sent as fast as the SCU can; from its last instance's
  arrival to its SR/SEG stored, with the association release as the explicit completion
  signal.

    .venv/bin/python bench/dicom_latency.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from ct_service import ct_settings
from streamgale.dicom.synthetic import ct_series, write_instances
from streamgale.service import RadiologyService

_SENDER = """
import sys, time
from pathlib import Path
from pydicom import dcmread
from pynetdicom import AE
port, rate, per_study = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
files = sorted(Path(sys.argv[4]).rglob("*.dcm"))
datasets = [dcmread(f) for f in files]
ae = AE(ae_title="BENCH")
ae.add_requested_context("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1")
start = time.perf_counter()
for first in range(0, len(datasets), per_study):
    assoc = ae.associate("127.0.0.1", port, ae_title="STREAMGALE")
    for i, ds in enumerate(datasets[first:first + per_study], start=first):
        if rate > 0:
            deadline = start + i / rate
            while time.perf_counter() < deadline:
                time.sleep(0.0005)
        status = assoc.send_c_store(ds)
        assert status and status.Status == 0, status
    assoc.release()
print("sent", flush=True)
"""


OPTIONS = {"telemetry": True}


def _app(root: Path) -> tuple[RadiologyService, threading.Thread]:
    app = RadiologyService(ct_settings(root, telemetry=OPTIONS["telemetry"]))
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    assert app.ready.wait(60)
    return app, thread


def _send(app: RadiologyService, folder: Path, rate: float, per_study: int) -> None:
    assert app.scp is not None
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [sys.executable, "-c", _SENDER, str(app.scp.port), str(rate), str(per_study)]
    done = subprocess.run(
        [*args, str(folder)], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"the C-STORE sender failed:\n{done.stderr[-2000:]}")


def _wait(app: RadiologyService, studies: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while len(app.summaries) < studies and time.monotonic() < deadline:
        time.sleep(0.05)


def instance_latency(rate: float, studies: int, slices: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for s in range(studies):
            series = ct_series(
                slices=slices, size=512, lesion=s % 2 == 0, seed=s, patient_id=f"BENCH-{s:03d}"
            )
            write_instances(series, root / "send" / f"{s:03d}")
        app, thread = _app(root)
        try:
            _send(app, root / "send", rate, slices)
            _wait(app, studies)
            ms = np.array([v for s in app.summaries for v in s.instance_ms])
        finally:
            app.stop()
            thread.join(60)
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"rate": rate, "instances": len(ms), "p50": p50, "p95": p95, "p99": p99}


def study_latency(slices: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_instances(ct_series(slices=slices, size=512, lesion=True, seed=7), root / "send")
        app, thread = _app(root)
        try:
            _send(app, root / "send", 0, slices)
            _wait(app, 1)
            [summary] = app.summaries
        finally:
            app.stop()
            thread.join(60)
    return {"slices": slices, **{k: summary.timings_ms[k] for k in sorted(summary.timings_ms)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=10)
    parser.add_argument("--slices", type=int, default=30)
    parser.add_argument(
        "--no-telemetry", action="store_true", help="run without telemetry and the lake"
    )
    parser.add_argument("--rates", default="50,100", help="offered loads, images/s")
    parser.add_argument("--no-study", action="store_true", help="skip the 300-slice study")
    args = parser.parse_args()
    OPTIONS["telemetry"] = not args.no_telemetry
    for rate in (float(r) for r in args.rates.split(",")):
        r = instance_latency(rate, args.studies, args.slices)
        print(
            f"offered {r['rate']:.0f} images/s, {r['instances']:.0f} instances: arrival -> "
            f"inference p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, p99 {r['p99']:.1f} ms"
        )
    if args.no_study:
        return
    s = study_latency(300)
    print(f"300-slice study, last instance -> SR/SEG stored: {s['last_instance_to_result']:.0f} ms")
    print(f"  per-stage means (ms): { {k: round(v, 1) for k, v in s.items() if k != 'slices'} }")


if __name__ == "__main__":
    main()
