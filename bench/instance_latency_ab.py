"""Per-instance latency at 100 images/s beside another version, with where it went.

Runs ``instance_latency`` of ``bench/dicom_latency.py`` (telemetry on, demo model,
30-slice studies from a paced C-STORE sender) for this tree and, with ``--baseline DIR``
(``git archive <commit> src bench | tar -x -C DIR``), for that one, alternating, each
run in its own process. Wall-clock latency moves with whatever else the machine runs,
so each run also reports what does not: the CPU time per instance of each thread of
the service (from /proc, over the sending window), and each instance's latency cut
into its parts (arrival to prepared, of which preparing; waiting in the batcher;
the model run)::

    .venv/bin/python bench/instance_latency_ab.py --pairs 3 --baseline /tmp/old
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_GROUPS = ("scp-assoc", "sg-objects-fsync", "streamgale-fsync", "Thread-")
_LABELS = {"Thread-": "driver", "python": "native"}  # the bench's app.run thread; ORT's pool


def _cpu_by_thread() -> dict[tuple[str, str], float]:
    """CPU seconds of each live thread of this process, by (tid, Python name)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            comm = Path(f"/proc/self/task/{tid}/comm").read_text().strip()
        except OSError:
            continue  # ended meanwhile
        name = names.get(int(tid)) or comm
        group = next((g for g in _GROUPS if name.startswith(g)), name)
        out[(tid, _LABELS.get(group, group))] = (int(stat[11]) + int(stat[12])) / ticks
    return out


def one_run(studies: int) -> dict[str, Any]:
    """One run in this process, with the ``streamgale`` and bench of PYTHONPATH."""
    import numpy as np

    import dicom_latency as bench
    import streamgale.dicom.radiology.finalize as finalize

    parts: list[tuple[float, ...]] = []
    instance_ms = finalize._instance_ms

    def kept(result: Any) -> float:
        ms = instance_ms(result)
        meta = result.meta
        to_prepared = (float(meta["prepared_at"]) - float(meta["received_at"])) * 1000
        parts.append((to_prepared, float(meta["prepared_ms"]), result.queued_ms, result.infer_ms))
        return ms

    finalize._instance_ms = kept
    window: dict[str, Any] = {}
    send, wait = bench._send, bench._wait

    def sending(*args: Any) -> None:
        window["cpu"], window["process"] = _cpu_by_thread(), time.process_time()
        send(*args)

    def waiting(*args: Any) -> None:
        wait(*args)
        window["cpu"] = {k: v - window["cpu"].get(k, 0.0) for k, v in _cpu_by_thread().items()}
        window["process"] = time.process_time() - window["process"]

    bench._send, bench._wait = sending, waiting
    r = bench.instance_latency(100.0, studies, 30)
    n = r["instances"]
    threads: dict[str, float] = {}
    for (_, name), seconds in window["cpu"].items():
        threads[name] = threads.get(name, 0.0) + seconds * 1000 / n
    p = np.array(parts)
    return {
        **{k: float(r[k]) for k in ("p50", "p95", "p99", "instances")},
        "cpu_ms": window["process"] * 1000 / n,
        "threads": {k: round(v, 2) for k, v in sorted(threads.items(), key=lambda x: -x[1])},
        "parts_p50": [round(float(v), 1) for v in np.percentile(p, 50, axis=0)],
        "parts_p95": [round(float(v), 1) for v in np.percentile(p, 95, axis=0)],
    }


def _in_process(tree: Path, studies: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    args = [sys.executable, str(Path(__file__).resolve()), "--one", "--studies", str(studies)]
    done = subprocess.run(
        args, env=env, cwd=tree / "bench", capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"the run of {tree} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--studies", type=int, default=10)
    parser.add_argument("--baseline", type=Path, help="a tree with src/ and bench/ to compare")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        sys.path.insert(0, str(Path.cwd()))
        print(json.dumps(one_run(args.studies)))
        return
    trees = [("this", ROOT)] + ([("baseline", args.baseline)] if args.baseline else [])
    for n in range(args.pairs):
        for label, tree in trees if n % 2 == 0 else trees[::-1]:
            load = os.getloadavg()[0]
            r = _in_process(tree, args.studies)
            a, b = r["parts_p50"], r["parts_p95"]
            print(
                f"{label:8} (load {load:.1f}): p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, "
                f"p99 {r['p99']:.1f} ms; CPU {r['cpu_ms']:.2f} ms/instance "
                f"{json.dumps(r['threads'])}\n"
                f"         p50/p95 parts: to prepared {a[0]}/{b[0]} (preparing {a[1]}/{b[1]}), "
                f"batcher {a[2]}/{b[2]}, model {a[3]}/{b[3]} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
