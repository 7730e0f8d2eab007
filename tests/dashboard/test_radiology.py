"""RadiologyBackend over a running radiology pipeline: the JSON the pages read."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest

from streamgale.dashboard import RadiologyBackend
from tests.dashboard.conftest import Running


@pytest.fixture(scope="module")
def backend(radiology: Running) -> Iterator[RadiologyBackend]:
    backend = RadiologyBackend(radiology.app, window_s=30.0)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def studied(radiology: Running, backend: RadiologyBackend) -> list[str]:
    """Two studies processed, one with a lesion; the backend saw the counters before."""
    backend.steps()
    studies = [radiology.send(seed=1, lesion=True), radiology.send(seed=2, lesion=False)]
    radiology.wait(lambda: len(radiology.app.summaries) >= 2, "two results")
    return studies


def test_the_graph_is_the_pipeline_in_order(backend: RadiologyBackend) -> None:
    graph = backend.graph()
    ids = [s["id"] for s in graph["steps"]]
    assert ids[0] == "instances" and ids[-1] == "results"
    kinds = {s["id"]: s["kind"] for s in graph["steps"]}
    assert kinds["instances"] == "source" and kinds["results"] == "sink"
    assert {"from": "instances", "to": "assembly"} in graph["edges"]
    for edge in graph["edges"]:  # every step comes after its inputs
        assert ids.index(edge["from"]) < ids.index(edge["to"])


def test_step_numbers_count_what_flowed(backend: RadiologyBackend, studied: list[str]) -> None:
    live = backend.steps()
    steps = {s["id"]: s for s in live["steps"]}
    assert steps["instances"]["records_out"] >= 12
    assert steps["instances"]["rate_out"] > 0  # within the 30 s window
    assert steps["infer-demo-lesion"]["records_in"] >= 12
    assert steps["infer-demo-lesion"]["latency_ms"]["p50"] > 0
    assert steps["results"]["records_in"] >= 2
    assert live["totals"]["results"] >= 2 and live["totals"]["instances"] >= 12
    assert all(c["depth"] >= 0 for c in live["channels"])


def test_results_have_findings_thumbnails_and_timelines(
    backend: RadiologyBackend, studied: list[str]
) -> None:
    from PIL import Image

    listed = backend.results(10)["results"]
    by_study = {r["study_instance_uid"]: r for r in listed}
    lesion, clear = by_study[studied[0]], by_study[studied[1]]
    assert lesion["present"] and lesion["label"] == "lesion" and not clear["present"]
    detail = backend.result(lesion["result_id"])
    assert detail["instances"]["count"] == 6 and detail["seg"] and detail["sr"]
    assert detail["findings"][0]["present"]
    stages = [s["stage"] for s in detail["timeline"]["stages"]]
    assert len(stages) >= 3
    assert all(s["end_ms"] >= s["start_ms"] >= 0 for s in detail["timeline"]["stages"])
    with Image.open(io.BytesIO(backend.thumbnail(lesion["result_id"]))) as picture:
        assert picture.format == "PNG" and max(picture.size) <= 256
        pixels = np.asarray(picture.convert("RGB"))
    red = (pixels == (255, 64, 64)).all(axis=2)
    assert red.any(), "the lesion's SEG outline is drawn on the thumbnail"
    with pytest.raises(KeyError):
        backend.result("r-nope")


def test_a_broken_input_is_listed_and_can_be_released(
    radiology: Running, backend: RadiologyBackend, studied: list[str]
) -> None:
    radiology.send(seed=3, lesion=False, slices=3, broken=True)
    radiology.wait(lambda: backend.quarantine(None, 50)["entries"], "a quarantined input")
    [entry] = backend.quarantine(None, 50)["entries"]
    assert entry["stage"] == "validation" and entry["reason"]
    assert backend.release([entry["id"]]) == {"requested": 1}
    radiology.wait(
        lambda: radiology.app.quarantine.get(entry["id"]).status == "released",
        "the release to be taken by the pipeline",
    )
    released = backend.quarantine("released", 50)["entries"]
    assert [e["id"] for e in released] == [entry["id"]]


def test_destinations_show_backlog_and_retries(
    radiology: Running, backend: RadiologyBackend, studied: list[str]
) -> None:
    radiology.wait(
        lambda: backend.destinations()["destinations"][0]["attempts"] > 0, "a failed delivery"
    )
    [pacs] = backend.destinations()["destinations"]
    assert pacs["destination"] == "pacs" and pacs["pending"] >= 2
    assert pacs["last_error"]


def test_sql_and_metrics(backend: RadiologyBackend, studied: list[str]) -> None:
    assert backend.sql("SELECT 42 AS answer")["rows"] == [[42]]
    assert "stage-latency" in [r["name"] for r in backend.reports()["reports"]]
    assert backend.report("stage-latency", {})["columns"][:3] == ["pipeline", "route", "stage"]
    assert b"streamgale_step_records_in_total" in backend.metrics()
