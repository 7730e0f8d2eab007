"""The JSON result record: round trip, schema, validation, versioning."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from streamgale.dicom.results import SCHEMA_VERSION, Finding, Measurement, StudyResult
from streamgale.errors import DicomError

from .conftest import CREATED


def test_json_round_trip_is_exact(result: StudyResult) -> None:
    text = result.to_json()
    back = StudyResult.from_json(text)
    assert back == result
    assert back.to_json() == text  # byte-stable
    assert back.findings[0].measurements["area"] == result.findings[0].measurements["area"]
    assert back.timings == {"decode": 2.5, "infer": 11.0, "sr": 40.0}
    assert back.created_at == CREATED


def test_json_shape_follows_the_documented_schema(result: StudyResult) -> None:
    data = json.loads(result.to_json())
    assert data["schema_version"] == SCHEMA_VERSION == 1
    assert set(data) == {
        "schema_version",
        "result_id",
        "version",
        "supersedes",
        "study_instance_uid",
        "series_instance_uids",
        "model",
        "created_at",
        "timings_ms",
        "findings",
    }
    assert data["model"] == {"name": "demo-lesion", "version": "0.3.1"}
    assert data["created_at"] == "2026-01-02T09:15:30+00:00"
    lesion = data["findings"][0]
    assert lesion["label"] == "lesion" and lesion["present"] is True
    assert lesion["measurements"]["area"]["unit"] == "mm2"
    assert lesion["source_sop_instance_uids"] == list(result.findings[0].source_sop_instance_uids)
    assert data["supersedes"] is None and data["version"] == 1


def test_versioned_update_round_trips(result: StudyResult) -> None:
    update = dataclasses.replace(result, result_id="res-0002", version=2, supersedes="res-0001")
    back = StudyResult.from_json(update.to_json())
    assert back.version == 2 and back.supersedes == "res-0001" and back.is_update
    assert not result.is_update


def test_records_are_immutable(result: StudyResult) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.version = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.findings[0].measurements["area"] = Measurement(1, "mm2", "Area")  # type: ignore[index]
    with pytest.raises(TypeError):
        result.timings["x"] = 1.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"version": 2}, "supersedes"),
        ({"supersedes": "res-0000"}, "supersedes"),
        ({"version": 0}, "version"),
        ({"created_at": dt.datetime(2026, 1, 1)}, "timezone-aware"),
        ({"study_instance_uid": ""}, "study_instance_uid"),
    ],
)
def test_invalid_records_are_refused(result: StudyResult, change: dict, needle: str) -> None:
    with pytest.raises(DicomError, match=needle):
        dataclasses.replace(result, **change)


def test_invalid_findings_and_measurements_are_refused() -> None:
    with pytest.raises(DicomError, match="probability"):
        Finding("lesion", 1.5, True)
    with pytest.raises(DicomError, match="label"):
        Finding("", 0.5, True)
    with pytest.raises(DicomError, match="finite"):
        Measurement(float("nan"), "mm", "Diameter")
    with pytest.raises(DicomError, match="UCUM"):
        Measurement(1.0, "", "Diameter")


def test_unknown_schema_and_garbage_are_refused(result: StudyResult) -> None:
    data = json.loads(result.to_json())
    data["schema_version"] = 99
    with pytest.raises(DicomError, match="schema_version"):
        StudyResult.from_json(json.dumps(data))
    with pytest.raises(DicomError, match="not JSON"):
        StudyResult.from_json("{not json")
    del data["findings"]
    data["schema_version"] = 1
    with pytest.raises(DicomError, match="malformed"):
        StudyResult.from_json(json.dumps(data))
