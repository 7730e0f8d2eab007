"""Telemetry overhead (issue 4): radiology pipeline throughput with telemetry and the
lake on, divided by the same pipeline with them off (target >= 0.9).

The same synthetic CT studies (demo model on CPU) go through a fresh
:class:`RadiologyService` per run; instances are stored through the ingest store
as fast as it takes them (no network, so the pipeline is the bottleneck) and
each study is closed with an explicit completion signal. Throughput is
instances per second from the first store to the last study result, and
instances per CPU-second of the whole process over the same span (all
threads: on a shared machine the CPU figure is the steadier one). Runs
alternate off/on so machine noise hits both alike; the report gives each
pair's ratios and their medians, and the number of telemetry rows landed.

    .venv/bin/python bench/telemetry_overhead.py [--studies 6 --slices 40 --rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import pyarrow.dataset as pads

from streamgale.dicom.radiology import RadiologySettings
from streamgale.dicom.routing import Route
from streamgale.dicom.synthetic import ct_series, write_instances
from streamgale.inference import load_model_config
from streamgale.models import demo_model_config_path
from streamgale.service import RadiologyService


def _studies(root: Path, studies: int, slices: int, size: int) -> list[list[bytes]]:
    out = []
    for s in range(studies):
        series = ct_series(slices=slices, size=size, lesion=s % 2 == 0, seed=s)
        files = write_instances(series, root / f"{s:03d}")
        out.append([f.read_bytes() for f in files])
    return out


def run(studies: list[list[bytes]], *, telemetry: bool) -> tuple[float, float, int]:
    """Instances per second, instances per CPU-second, and telemetry rows landed."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = RadiologySettings(
            state_dir=Path(tmp) / "state",
            models=(load_model_config(demo_model_config_path()),),
            routes=(Route("ct", modalities=frozenset({"CT"}), models=("demo-lesion",)),),
            dimse=None,
            stow=None,
            quiet_seconds=30.0,  # completion comes from the explicit signal
            telemetry=telemetry,
        )
        app = RadiologyService(settings)
        thread = threading.Thread(target=app.run, daemon=True)
        thread.start()
        if not app.ready.wait(60):
            raise SystemExit("the pipeline did not start within 60 s")
        start, cpu = time.perf_counter(), time.process_time()
        for study in studies:
            uids = [app.store.put(data, source="dimse").sop_instance_uid for data in study]
            app.store.signal_complete("association", "BENCH", uids)
        while len(app.summaries) < len(studies):
            time.sleep(0.005)
        elapsed = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu
        app.stop()
        thread.join(60)
        lake = Path(tmp) / "state" / "lake" / "telemetry"
        files = [str(p) for p in lake.rglob("*.parquet")] if lake.exists() else []
        rows = pads.dataset(files).count_rows() if files else 0
    instances = sum(map(len, studies))
    return instances / elapsed, instances / cpu_seconds, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=6)
    parser.add_argument("--slices", type=int, default=40)
    parser.add_argument("--size", type=int, default=512, help="image rows and columns")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        studies = _studies(Path(tmp), args.studies, args.slices, args.size)
    run(studies[:1], telemetry=True)  # warm caches (model load, highdicom) outside timing
    pairs, landed = [], 0
    for _ in range(args.rounds):
        off = run(studies, telemetry=False)
        on = run(studies, telemetry=True)
        landed = on[2]
        pairs.append((off, on))
    total = args.studies * args.slices
    print(f"{args.studies} studies x {args.slices} slices ({total} instances, {args.size}px)")
    headers = ["round", "off inst/s", "on inst/s", "wall ratio"]
    headers += ["off inst/CPU-s", "on inst/CPU-s", "CPU ratio"]
    print("| " + " | ".join(headers) + " |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for i, (off, on) in enumerate(pairs, 1):
        print(
            f"| {i} | {off[0]:.1f} | {on[0]:.1f} | {on[0] / off[0]:.3f} "
            f"| {off[1]:.1f} | {on[1]:.1f} | {on[1] / off[1]:.3f} |"
        )
    wall = statistics.median(on[0] / off[0] for off, on in pairs)
    cpu = statistics.median(on[1] / off[1] for off, on in pairs)
    print(f"median wall ratio: {wall:.3f}; median CPU ratio: {cpu:.3f} (target >= 0.9)")
    print(f"telemetry rows landed per run: {landed}")


if __name__ == "__main__":
    main()
