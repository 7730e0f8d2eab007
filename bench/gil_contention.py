"""How long one instance's preparation waits for the GIL while a study is finalized.

The hot path of ``bench/dicom_latency.py`` in isolation: one thread validates and
preprocesses a stored 512x512 CT instance every 10 ms (100 images/s), as the runtime's
driver does; beside it, another thread builds and writes the SR and SEG of a 30-slice
study in a loop, as the finalizing thread does. The preparation's wall time minus its
own CPU time is what it waited, mostly for the GIL. Python's switch interval (how long a
thread may keep the GIL while another waits for it) is varied, in one run, alternating:

    .venv/bin/python bench/gil_contention.py --rounds 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from streamgale.dicom.pixels import PreprocessConfig, preprocess_instance
from streamgale.dicom.quality import ValidationLimits, validate_bytes
from streamgale.dicom.results import build_seg, build_sr, to_part10_bytes
from streamgale.dicom.results._warm import warm_up
from streamgale.dicom.results.finding import Finding, StudyResult
from streamgale.dicom.synthetic import ct_series, write_instances

PREPROCESS = {"voi": "lung", "size": [128, 128], "normalise": "none"}  # the demo model's


def _study() -> tuple[list[Any], Any, StudyResult]:
    """A 30-slice study's headers, a lesion mask over 10 slices, and its finding."""
    images = ct_series(slices=30, size=512, seed=0, lesion=True)
    for image in images:
        del image.PixelData
    mask = np.zeros((30, 512, 512), dtype=bool)
    mask[10:20, 200:240, 200:240] = True
    lesion = tuple(str(i.SOPInstanceUID) for i in images[10:20])
    result = StudyResult(
        result_id="bench",
        study_instance_uid=str(images[0].StudyInstanceUID),
        series_instance_uids=(str(images[0].SeriesInstanceUID),),
        model_name="bench",
        model_version="0",
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        findings=(Finding("Lesion", 1.0, True, {}, lesion),),
    )
    return images, mask, result


def _finalize_loop(
    study: tuple[list[Any], Any, StudyResult], stop: threading.Event, built: list[float]
) -> None:
    """Build and write the study's SEG and SR until stopped (CPU per build kept)."""
    images, mask, result = study
    while not stop.is_set():
        started = time.thread_time()
        seg = build_seg(images, mask, algorithm_name="bench", algorithm_version="0")
        to_part10_bytes(seg)
        to_part10_bytes(build_sr(result, images, segmentation=seg))
        built.append(time.thread_time() - started)


def _one(
    blobs: list[bytes], study: tuple[list[Any], Any, StudyResult], interval: float, finalizing: bool
) -> dict[str, float]:
    sys.setswitchinterval(interval)
    config, limits = PreprocessConfig.from_mapping(PREPROCESS), ValidationLimits()
    stop, built = threading.Event(), list[float]()
    other = (
        threading.Thread(target=_finalize_loop, args=(study, stop, built)) if finalizing else None
    )
    if other is not None:
        other.start()
        time.sleep(0.2)
    walls, cpus = [], []
    started = time.perf_counter()
    for i in range(200):
        w, c = time.perf_counter(), time.thread_time()
        preprocess_instance(validate_bytes(blobs[i % len(blobs)], limits), config)
        walls.append((time.perf_counter() - w) * 1000)
        cpus.append((time.thread_time() - c) * 1000)
        time.sleep(max(0.0, started + (i + 1) * 0.01 - time.perf_counter()))
    stop.set()
    if other is not None:
        other.join()
    wall, waited = np.array(walls), np.array(walls) - np.array(cpus)
    return {
        "p50": float(np.percentile(wall, 50)),
        "p95": float(np.percentile(wall, 95)),
        "cpu": float(np.median(cpus)),
        "waited95": float(np.percentile(waited, 95)),
        "studies": len(built),
        "study_cpu": float(np.median(built) * 1000) if built else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--intervals", default="5,1,0.5", help="switch intervals, ms")
    args = parser.parse_args()
    warm_up()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_instances(ct_series(slices=20, size=512, lesion=True, seed=1), Path(tmp))
        blobs = [p.read_bytes() for p in paths]
    study = _study()
    cases = [(5.0, False)] + [(float(ms), True) for ms in args.intervals.split(",")]
    default = sys.getswitchinterval()
    try:
        for n in range(args.rounds):
            for ms, finalizing in cases:
                r = _one(blobs, study, ms / 1000, finalizing)
                beside = (
                    f"beside finalizing ({r['studies']} studies, {r['study_cpu']:.0f} ms CPU each)"
                    if finalizing
                    else "alone"
                )
                print(
                    f"round {n + 1}, switch interval {ms:g} ms, {beside}: prepare wall p50 "
                    f"{r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, CPU {r['cpu']:.1f} ms, "
                    f"waited p95 {r['waited95']:.1f} ms",
                    flush=True,
                )
    finally:
        sys.setswitchinterval(default)


if __name__ == "__main__":
    main()
