"""The lake holds no original identifier of work on a de-identifying route.

One study goes through a de-identifying route, another through a plain one.
Every row of every lake table (telemetry, inferences, results) names the
first study, its series and instances only by the pseudonyms its
de-identified results carry; the plain study keeps its own UIDs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.dataset as pads

from streamgale.dicom.deid import DeidConfig
from streamgale.dicom.deid.pseudonyms import Pseudonymizer
from streamgale.dicom.routing import Route
from streamgale.dicom.synthetic import ct_series, write_instances
from tests.dicom.radiology.helpers import fast_settings, organs_model, running, wait_for_results

SECRET = b"0123456789abcdef-lake-secret"


def _lake_values(lake: Path) -> list[str]:
    """Every string value of every row of every table in the lake."""
    values: list[str] = []
    for table in sorted(p for p in lake.iterdir() if p.is_dir()):
        files = sorted(str(p) for p in table.rglob("*.parquet"))
        if not files:
            continue
        rows = pads.dataset(files, format="parquet", partitioning="hive").to_table().to_pylist()
        values.extend(str(v) for row in rows for v in row.values() if isinstance(v, str))
    return values


def _uids(series: list[Any]) -> set[str]:
    found = {str(series[0].StudyInstanceUID), str(series[0].SeriesInstanceUID)}
    return found | {str(ds.SOPInstanceUID) for ds in series}


def test_the_lake_names_deidentified_work_only_by_pseudonyms(tmp_path: Path) -> None:
    research = ct_series(slices=3, size=64, lesion=True, seed=31)
    clinical = ct_series(slices=2, size=64, lesion=True, seed=32)
    for ds in research:
        ds.BodyPartExamined = "CHEST"
    for ds in clinical:
        ds.BodyPartExamined = "HEAD"
    settings = fast_settings(
        tmp_path,
        models=(organs_model(tmp_path),),
        routes=(
            Route("research", body_parts={"CHEST"}, models=("organs",), deidentify=True),
            Route("clinical", body_parts={"HEAD"}, models=("organs",)),
        ),
        deid=DeidConfig(secret=SECRET),
    )
    with running(settings) as app:
        write_instances(research + clinical, tmp_path / "inbox")
        wait_for_results(app, 2)
    values = _lake_values(tmp_path / "state" / "lake")
    text = "\n".join(values)
    for uid in _uids(research):
        assert uid not in text, f"original UID {uid} of the de-identified study is in the lake"
    pseudonyms = Pseudonymizer(SECRET)
    assert {pseudonyms.uid(uid) for uid in _uids(research)} <= set(values)
    assert _uids(clinical) <= set(values)  # the plain route keeps its own UIDs
