"""Warm highdicom up before the first study arrives.

highdicom reads its tables of the standard (IODs, modules, attributes) on
first use: the first SR or SEG of a process takes about one second longer than
the next. A pipeline calls :func:`warm_up` at start so that cost is not paid
inside a study's latency budget.
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np

__all__ = ["warm_up"]


def warm_up() -> float:
    """Build and discard one tiny SR and SEG; returns the seconds it took."""
    from streamgale.dicom.results.finding import Finding, StudyResult
    from streamgale.dicom.results.seg import build_seg
    from streamgale.dicom.results.sr import build_sr
    from streamgale.dicom.synthetic import ct_series

    started = time.perf_counter()
    images = ct_series(slices=2, size=8, seed=0, patient_id="SG-WARMUP")
    mask = np.zeros((2, 8, 8), dtype=bool)
    mask[0, 2:4, 2:4] = True
    seg = build_seg(images, mask, algorithm_name="warm-up", algorithm_version="0")
    result = StudyResult(
        result_id="warm-up",
        study_instance_uid=str(images[0].StudyInstanceUID),
        series_instance_uids=(str(images[0].SeriesInstanceUID),),
        model_name="warm-up",
        model_version="0",
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        findings=(Finding("Lesion", 1.0, True, {}, (str(images[0].SOPInstanceUID),)),),
    )
    build_sr(result, images, segmentation=seg)
    return time.perf_counter() - started
