"""Result encoding at CT scale: 300 slices of 512x512 must fit the 1 s study budget.

highdicom reads only the metadata of the source images, so the 512x512
sources here carry no pixel data (generating 300 real slices would take the
test seconds and measure nothing more). The timings are printed (run with -s)
and bounded loosely; BENCHMARKS.md holds the careful numbers.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import numpy as np
import pytest

from streamgale.dicom.results import (
    Finding,
    StudyResult,
    build_seg,
    build_sr,
    check_result_object,
    mask_measurements,
    to_part10_bytes,
    warm_up,
)
from streamgale.dicom.synthetic import ct_series

SLICES, SIZE = 300, 512
LESION = slice(140, 150)  # 10 slices with a lesion


@pytest.fixture(scope="module")
def ct_512() -> list[Any]:
    series = ct_series(slices=SLICES, size=8, seed=11)
    for ds in series:
        ds.Rows = ds.Columns = SIZE
        del ds.PixelData
    return series


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0


def test_seg_and_sr_for_300_slices_fit_the_budget(ct_512: list[Any]) -> None:
    warm_up()
    mask = np.zeros((SLICES, SIZE, SIZE), dtype=bool)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    mask[LESION] = (yy - 230) ** 2 + (xx - 170) ** 2 <= 18**2

    started = time.perf_counter()
    seg = build_seg(ct_512, mask, algorithm_name="demo", algorithm_version="1", uid_seed="r/1")
    seg_ms = _ms(started)
    started = time.perf_counter()
    seg_bytes = to_part10_bytes(seg)
    write_ms = _ms(started)

    lesion_uids = tuple(str(ds.SOPInstanceUID) for ds in ct_512[LESION])
    result = StudyResult(
        result_id="r",
        study_instance_uid=str(ct_512[0].StudyInstanceUID),
        series_instance_uids=(str(ct_512[0].SeriesInstanceUID),),
        model_name="demo",
        model_version="1",
        findings=(Finding("Lesion", 0.9, True, mask_measurements(mask, (0.7, 0.7)), lesion_uids),),
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    started = time.perf_counter()
    sr = build_sr(result, ct_512, segmentation=seg)
    sr_ms = _ms(started)

    print(
        f"\n300x512x512, 10 lesion slices: SEG build {seg_ms:.0f} ms, SEG write {write_ms:.0f} ms "
        f"({len(seg_bytes) / 1e6:.2f} MB, {seg.NumberOfFrames} frames), SR build {sr_ms:.0f} ms"
    )
    assert seg.NumberOfFrames == 10
    assert len(seg_bytes) < 500_000  # 10 bit-packed frames, not 300
    assert check_result_object(seg, ct_512) == []
    assert check_result_object(sr, ct_512, related=[seg]) == []
    # Build times are printed, not asserted: speed lives in bench/, where it is
    # measured beside its peer; here only the size and validity are checked.
