"""Shared data for the results tests: a small synthetic lesion series, its mask, a result."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from streamgale.dicom.results import Finding, StudyResult, mask_measurements
from streamgale.dicom.synthetic import ct_series

CREATED = dt.datetime(2026, 1, 2, 9, 15, 30, tzinfo=dt.UTC)


def require_tool(tool: str) -> None:
    """Fail (never skip) when an external validator is missing, saying how to install it."""
    package = "dicom3tools" if tool == "dciodvfy" else "dcmtk"
    if shutil.which(tool) is None:
        pytest.fail(f"install {package} (make test does: apt-get install {package})")


@pytest.fixture(scope="session")
def series() -> list[Any]:
    """8 slices of 64x64 CT with lesions in the middle third."""
    return ct_series(slices=8, size=64, lesion=True, seed=7)


def lesion_mask(datasets: list[Any]) -> np.ndarray:
    """Lesion pixels by threshold: soft-tissue density inside the lung ellipses.

    The phantom's lungs are -850 HU; its lesions are discs of 20..80 HU painted
    over them (see streamgale.dicom.synthetic.phantom_slice).
    """
    size = int(datasets[0].Rows)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    lungs = np.zeros((size, size), dtype=bool)
    for cx in (0.33, 0.67):
        lungs |= ((xx - cx) / 0.13) ** 2 + ((yy - 0.47) / 0.2) ** 2 <= 1.0
    frames = []
    for ds in datasets:
        hu = ds.pixel_array.astype(np.int32) + int(ds.RescaleIntercept)
        frames.append(lungs & (hu > -400))
    return np.stack(frames)


@pytest.fixture(scope="session")
def mask(series: list[Any]) -> np.ndarray:
    out = lesion_mask(series)
    assert out.any(), "the synthetic series should contain a lesion"
    return out


@pytest.fixture(scope="session")
def lesion_uids(series: list[Any], mask: np.ndarray) -> tuple[str, ...]:
    return tuple(str(series[i].SOPInstanceUID) for i in np.flatnonzero(mask.any(axis=(1, 2))))


def make_result(
    series: list[Any],
    mask: np.ndarray,
    *,
    result_id: str = "res-0001",
    version: int = 1,
    supersedes: str | None = None,
    extra_findings: tuple[Finding, ...] = (),
) -> StudyResult:
    lesion_uids = tuple(
        str(series[i].SOPInstanceUID) for i in np.flatnonzero(mask.any(axis=(1, 2)))
    )
    measurements = mask_measurements(
        mask, [float(v) for v in series[0].PixelSpacing], slice_thickness=2.5
    )
    return StudyResult(
        result_id=result_id,
        study_instance_uid=str(series[0].StudyInstanceUID),
        series_instance_uids=(str(series[0].SeriesInstanceUID),),
        model_name="demo-lesion",
        model_version="0.3.1",
        findings=(
            Finding("lesion", 0.93, True, measurements, lesion_uids),
            Finding("nodule", 0.04, False),
            *extra_findings,
        ),
        created_at=CREATED,
        version=version,
        supersedes=supersedes,
        timings={"decode": 2.5, "infer": 11.0, "sr": 40.0},
    )


@pytest.fixture(scope="session")
def result(series: list[Any], mask: np.ndarray) -> StudyResult:
    return make_result(series, mask)


def content_items(node: Any, value: str | None = None, scheme: str | None = None) -> Iterator[Any]:
    """Every SR content item under ``node`` (depth first) whose concept name matches."""
    for item in node.get("ContentSequence", []):
        name = item.get("ConceptNameCodeSequence")
        if _matches(name, value, scheme):
            yield item
        yield from content_items(item, value, scheme)


def _matches(name: Any, value: str | None, scheme: str | None) -> bool:
    if name is None:
        return False
    if value is not None and name[0].CodeValue != value:
        return False
    return scheme is None or name[0].CodingSchemeDesignator == scheme


def code_of(item: Any) -> tuple[str, str]:
    """(CodeValue, CodingSchemeDesignator) of a CODE content item's value."""
    code = item.ConceptCodeSequence[0]
    return str(code.CodeValue), str(code.CodingSchemeDesignator)
