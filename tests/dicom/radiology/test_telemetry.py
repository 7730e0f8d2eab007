"""A known run leaves the expected telemetry, inferences and results in the lake.

One 3-slice study, one slice of which is invalid, goes through a route that
runs a model A against a shadow model B: the lake must hold every lifecycle
stage of every instance, B's outputs marked undelivered, and one result per
model.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pytest

from streamgale.dicom.routing import ABMode, ABTest, Route
from streamgale.dicom.synthetic import ct_series, write_instances
from streamgale.inference import ModelConfig
from streamgale.service import RadiologyService
from tests.dicom.radiology.helpers import fast_settings, organs_model, running, wait_for_results


def _models(tmp_path: Path) -> tuple[ModelConfig, ModelConfig]:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = organs_model(tmp_path / "a")
    b = organs_model(tmp_path / "b", name="organs-b", thresholds={"organ": 0.9})
    return a, b


def _rows(lake: Path, table: str) -> list[dict[str, Any]]:
    files = sorted(str(p) for p in (lake / table).rglob("*.parquet"))
    if not files:
        return []
    return pads.dataset(files, format="parquet", partitioning="hive").to_table().to_pylist()


@pytest.fixture
def finished_run(tmp_path: Path) -> Path:
    a, b = _models(tmp_path)
    settings = fast_settings(
        tmp_path,
        models=(a, b),
        routes=(Route("ct", modalities={"CT"}, ab=ABTest("organs", "organs-b")),),
    )
    with running(settings) as app:
        _send_known_study(app, tmp_path)
    return tmp_path / "state" / "lake"


def _send_known_study(app: RadiologyService, tmp_path: Path) -> None:
    series = ct_series(slices=3, size=64, lesion=True, seed=21)
    series[1].Rows = 3  # pixel data no longer matches: quarantined at validation
    write_instances(series, tmp_path / "inbox")
    (tmp_path / "inbox" / "junk.dcm").write_bytes(b"not DICOM at all")  # refused at the door
    wait_for_results(app, 2)  # both arms of the A/B test give a result
    assert len(app.summaries) == 2


def test_the_lake_holds_every_stage_of_a_known_run(finished_run: Path) -> None:
    rows = _rows(finished_run, "telemetry")
    [refused] = [r for r in rows if r["outcome"] == "refused"]
    assert (refused["stage"], refused["step"], refused["size_bytes"]) == (
        "received",
        "door-folder",
        16,
    )
    assert refused["reason"]
    rows.remove(refused)
    instance = Counter(r["stage"] for r in rows if r["level"] == "instance")
    assert instance == {
        "received": 3,
        "validated": 2,
        "preprocessed": 2,
        "quarantined": 1,
        "inferred": 4,  # two valid instances, two models
    }
    [quarantined] = [r for r in rows if r["stage"] == "quarantined"]
    assert quarantined["outcome"] == "quarantined" and "Rows" in quarantined["reason"]
    assert Counter((r["level"], r["stage"]) for r in rows if r["level"] != "instance") == {
        ("series", "received"): 1,
        ("study", "received"): 1,
        ("study", "finalized"): 2,
    }
    for row in rows:
        assert row["pipeline"] == "radiology" and row["date"] and row["ts"] is not None
        if row["stage"] in ("inferred", "finalized"):
            assert row["route"] == "ct" and row["variant"] in ("a", "b")
            assert row["since_received_ms"] > 0 and row["duration_ms"] >= 0


def test_both_arms_land_and_only_a_is_delivered(finished_run: Path) -> None:
    inferences = _rows(finished_run, "inferences")
    assert sorted((r["model"], r["variant"], r["delivered"]) for r in inferences) == [
        ("organs", "a", True),
        ("organs", "a", True),
        ("organs-b", "b", False),
        ("organs-b", "b", False),
    ]
    by_instance: dict[str, dict[str, float]] = {}
    for r in inferences:
        by_instance.setdefault(r["instance_uid"], {})[r["variant"]] = r["probability"]
    # The same network: both arms see the same probability; only thresholds differ.
    assert all(v["a"] == pytest.approx(v["b"]) for v in by_instance.values())
    results = _rows(finished_run, "results")
    assert sorted((r["model"], r["variant"], r["delivered"]) for r in results) == [
        ("organs", "a", True),
        ("organs-b", "b", False),
    ]
    assert all(r["instances"] == 2 and r["quarantined"] == 1 for r in results)


def test_split_mode_sends_each_study_to_one_arm() -> None:
    test = ABTest("organs", "organs-b", mode=ABMode.SPLIT, share=0.25)
    arms = Counter(test.models_for(f"1.2.840.{i}")[0] for i in range(2000))
    assert set(arms) == {"organs", "organs-b"}
    assert 0.2 < arms["organs-b"] / 2000 < 0.3
    assert all(test.models_for("1.2.3") == test.models_for("1.2.3") for _ in range(3))
