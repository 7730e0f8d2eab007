"""SR and SEG from sources with values real scanners send but the standard does not allow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from streamgale.dicom.results import build_seg, build_sr, dciodvfy_problems, to_part10_bytes
from streamgale.dicom.results._header import conformant_header
from streamgale.dicom.synthetic import ct_series

from .conftest import make_result, require_tool


def _legacy_time(ds: Any) -> None:
    ds.StudyTime = "14:04:38"


def _legacy_date(ds: Any) -> None:
    ds.StudyDate = "2024.01.02"


def _identity_removed_without_method(ds: Any) -> None:
    ds.PatientIdentityRemoved = "YES"


def _identity_removed_not_enumerated(ds: Any) -> None:
    ds.PatientIdentityRemoved = "Y"


def _free_text_sex(ds: Any) -> None:
    ds.PatientSex = "male"


def _age_without_unit(ds: Any) -> None:
    ds.PatientAge = "45"


def _no_type_2(ds: Any) -> None:
    del ds.PatientBirthDate, ds.AccessionNumber


def _acquisition_date_time_with_separators(ds: Any) -> None:
    ds.AcquisitionDateTime = "2024-01-02 10:00"


def _two_institution_names(ds: Any) -> None:
    ds.InstitutionName = "Hospital\\Second"


NONCONFORMANT = [
    _legacy_time,
    _legacy_date,
    _identity_removed_without_method,
    _identity_removed_not_enumerated,
    _free_text_sex,
    _age_without_unit,
    _no_type_2,
    _acquisition_date_time_with_separators,
    _two_institution_names,
]


def _sources(change: Callable[[Any], None]) -> list[Any]:
    series = ct_series(slices=8, size=64, lesion=True, seed=7)
    for ds in series:
        change(ds)
    return series


@pytest.mark.parametrize("change", NONCONFORMANT, ids=lambda f: f.__name__.strip("_"))
def test_sr_and_seg_from_a_nonconformant_source_pass_dciodvfy(
    change: Callable[[Any], None], mask: np.ndarray
) -> None:
    require_tool("dciodvfy")
    series = _sources(change)
    seg = build_seg(series, mask, algorithm_name="demo-lesion", algorithm_version="0.3.1")
    sr = build_sr(make_result(series, mask), series, segmentation=seg)
    assert dciodvfy_problems(to_part10_bytes(seg)) == []
    assert dciodvfy_problems(to_part10_bytes(sr)) == []


def test_legacy_date_and_time_are_repaired_not_dropped(mask: np.ndarray) -> None:
    series = _sources(lambda ds: (_legacy_time(ds), _legacy_date(ds)))
    sr = build_sr(make_result(series, mask), series)
    assert (sr.StudyDate, sr.StudyTime) == ("20240102", "140438")
    assert series[0].StudyTime == "14:04:38"  # the source is left as it is


def test_a_conformant_identity_removal_is_kept() -> None:
    [ds] = ct_series(slices=1, size=8, seed=1)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "PS3.15 Basic Application Level Confidentiality Profile"
    header = conformant_header(ds)
    assert header.PatientIdentityRemoved == "YES"
    assert header.DeidentificationMethod == ds.DeidentificationMethod
    assert header.PatientName == ds.PatientName and header.PatientID == ds.PatientID
