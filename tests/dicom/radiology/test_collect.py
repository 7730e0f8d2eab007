"""The study collector: any arrival order, quarantined instances, versions, nothing stranded."""

from __future__ import annotations

from typing import Any

import numpy as np

from streamgale.dicom.radiology.collect import StudyCollector, StudyWork
from streamgale.dicom.radiology.prepare import Expectation
from streamgale.inference import InferenceResult


def expect(
    sop: str, *, models: tuple[str, ...] = ("m",), quarantined: str | None = None
) -> Expectation:
    return Expectation(sop, "ST", "SE", () if quarantined else models, ("r",), quarantined)


def result(sop: str, model: str = "m") -> InferenceResult:
    meta = {"sop_instance_uid": sop, "study_instance_uid": "ST", "model": model}
    return InferenceResult(sop, {"p": np.zeros((1, 1))}, meta, model, "1", 1, 0.0, 0.0)


def study(*sops: str, version: int = 1, new: tuple[str, ...] | None = None) -> dict[str, Any]:
    event = {
        "level": "study",
        "study_instance_uid": "ST",
        "version": version,
        "series": [{"series_instance_uid": "SE", "sop_instance_uids": list(sops)}],
    }
    return event if new is None else {**event, "new_sop_instance_uids": list(new)}


def work_of(emit: list[tuple[int, Any]]) -> list[StudyWork]:
    return [w for _, batch in emit for w in batch]


def test_waits_for_every_outcome_whatever_the_order() -> None:
    c = StudyCollector()
    assert c.on_batch(1, [study("a", "b")]) == []
    assert c.on_batch(0, [result("a"), expect("a")]) == []
    assert c.on_batch(0, [expect("b")]) == []
    [work] = work_of(c.on_batch(0, [result("b")]))
    assert {str(r.meta["sop_instance_uid"]) for r in work.results} == {"a", "b"}
    assert work.model == "m" and work.quarantined == ()


def test_quarantined_instances_count_as_done() -> None:
    c = StudyCollector()
    c.on_batch(0, [expect("a"), result("a"), expect("b", quarantined="bad pixels")])
    [work] = work_of(c.on_batch(1, [study("a", "b")]))
    assert [e.sop_instance_uid for e in work.quarantined] == ["b"]


def test_one_work_per_model() -> None:
    c = StudyCollector()
    c.on_batch(0, [expect("a", models=("m", "n")), result("a", "m"), result("a", "n")])
    works = work_of(c.on_batch(1, [study("a")]))
    assert sorted(w.model for w in works) == ["m", "n"]


def test_instances_in_flight_survive_into_the_next_version() -> None:
    """Regression: emitting version 1 must not forget what already arrived for version 2."""
    c = StudyCollector()
    c.on_batch(0, [expect("a"), result("a"), expect("late")])  # "late" is not in version 1
    [first] = work_of(c.on_batch(1, [study("a")]))
    assert [str(r.meta["sop_instance_uid"]) for r in first.results] == ["a"]
    c.on_batch(0, [result("late")])
    [second] = work_of(c.on_batch(1, [study("a", "late", version=2, new=("late",))]))
    assert [str(r.meta["sop_instance_uid"]) for r in second.results] == ["late"]
    assert second.version == 2


def test_state_survives_a_snapshot() -> None:
    c = StudyCollector()
    c.on_batch(0, [expect("a")])
    restored = StudyCollector(c.snapshot())
    restored.on_batch(0, [result("a")])
    assert len(work_of(restored.on_batch(1, [study("a")]))) == 1


def test_a_version_replacing_an_unfinished_one_owes_both() -> None:
    """Version 2 arrives before version 1's outcomes: the work covers both versions' instances."""
    c = StudyCollector()
    c.on_batch(1, [study("a")])
    c.on_batch(1, [study("a", "b", version=2, new=("b",))])
    [work] = work_of(c.on_batch(0, [expect("a"), result("a"), expect("b"), result("b")]))
    assert sorted(str(r.meta["sop_instance_uid"]) for r in work.results) == ["a", "b"]
    assert work.version == 2


def test_state_holds_no_finished_study() -> None:
    c = StudyCollector()
    c.on_batch(0, [expect("a"), result("a")])
    assert len(work_of(c.on_batch(1, [study("a")]))) == 1
    assert c.snapshot() == {}
