"""The 300-slice study, last instance to SR/SEG stored, beside another version of StreamGale.

Runs ``study_latency(300)`` of ``bench/dicom_latency.py`` (one synthetic 300-slice
512x512 CT study with lesions, sent as fast as the SCU can, the demo model) and
measures from outside ``Finalizer._build``: the newest arrival to the result stored,
and the CPU time of the finalizing thread (what the study costs, whatever else the
machine runs). With ``--baseline DIR`` (a tree with ``src/`` and ``bench/`` of another
version, e.g. ``git archive <commit> src bench | tar -x -C DIR``) the two alternate,
each run in its own process::

    .venv/bin/python bench/study_finalize.py --pairs 3 --baseline /tmp/old
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def one_run() -> dict[str, float]:
    """One study in this process, with the ``streamgale`` and bench of PYTHONPATH."""
    if Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        del sys.path[0]  # this script's folder: the bench to import is PYTHONPATH's
    import dicom_latency
    from streamgale.dicom.radiology import finalize

    build = finalize.Finalizer._build
    measured: dict[str, float] = {}

    def timed(self: Any, work: Any, *args: Any, **kwargs: Any) -> Any:
        cpu, wall = time.thread_time(), time.perf_counter()
        try:
            return build(self, work, *args, **kwargs)
        finally:
            if len(work.results) > 100:  # the study, not the warm-up
                newest = max(float(r.meta["received_at"]) for r in work.results)
                measured["stored_ms"] = (time.time() - newest) * 1000
                measured["cpu_ms"] = (time.thread_time() - cpu) * 1000
                measured["wall_ms"] = (time.perf_counter() - wall) * 1000

    finalize.Finalizer._build = timed  # type: ignore[method-assign]
    dicom_latency.study_latency(300)
    return {**measured, "streamgale": finalize.__file__}  # type: ignore[dict-item]


def _run(tree: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree / "src"), str(tree / "bench")])}
    done = subprocess.run(
        [sys.executable, "-W", "ignore", str(Path(__file__).resolve()), "--one"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        return {"error": float("nan")}
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if not str(result.pop("streamgale")).startswith(str(tree)):
        sys.exit(f"{tree}: the run imported another streamgale; is it installed there?")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="a tree with src/ and bench/ to compare")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run()))
        return
    trees = [("this", ROOT)] + ([("baseline", args.baseline)] if args.baseline else [])
    print("| version | last instance to SR/SEG stored | CPU of finalizing | wall of finalizing |")
    print("|---|---:|---:|---:|")
    for _ in range(args.pairs):
        for name, tree in trees:
            r = _run(tree)
            if "error" in r:
                print(f"| {name} | failed | | |")
                continue
            print(
                f"| {name} | {r['stored_ms']:,.0f} ms | {r['cpu_ms']:,.0f} ms "
                f"| {r['wall_ms']:,.0f} ms |",
                flush=True,
            )


if __name__ == "__main__":
    main()
