"""Study and series assembly: signals, counts, quiet timers and versioned late arrivals."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from streamgale.dicom.assembly import AssemblyConfig, AssemblyLogic
from streamgale.errors import ConfigError
from streamgale.runtime.logic import ManualClock


def inst(sop: str, series: str = "S1", study: str = "ST1", **extra: Any) -> dict[str, Any]:
    return {
        "kind": "instance",
        "sop_instance_uid": sop,
        "series_instance_uid": series,
        "study_instance_uid": study,
        **extra,
    }


def signal(series: list[str], studies: list[str]) -> dict[str, Any]:
    return {
        "kind": "complete",
        "scope": "association",
        "series_instance_uids": series,
        "study_instance_uids": studies,
    }


def levels(emit: list[tuple[int, Any]]) -> list[tuple[str, str, int]]:
    return [
        (e["level"], e.get("series_instance_uid") or e["study_instance_uid"], e.get("version", 0))
        for _, batch in emit
        for e in batch
        if e["level"] != "instance"
    ]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(100.0)


def test_every_instance_is_emitted_at_once(clock: ManualClock) -> None:
    logic = AssemblyConfig().build(None, clock)
    out = logic.on_batch(0, [inst("1"), inst("2")])
    assert [e["sop_instance_uid"] for _, b in out for e in b] == ["1", "2"]
    assert all(e["level"] == "instance" for _, b in out for e in b)


def test_explicit_signal_completes_series_and_study(clock: ManualClock) -> None:
    logic = AssemblyConfig(quiet_seconds=60).build(None, clock)
    logic.on_batch(0, [inst("1"), inst("2", series="S2")])
    out = logic.on_batch(0, [signal(["S1", "S2"], ["ST1"])])
    assert levels(out) == [("series", "S1", 1), ("series", "S2", 1), ("study", "ST1", 1)]
    study = next(e for _, b in out for e in b if e["level"] == "study")
    assert study["reason"] == "signal"
    assert {s["series_instance_uid"] for s in study["series"]} == {"S1", "S2"}


def test_expected_count_completes_without_waiting(clock: ManualClock) -> None:
    logic = AssemblyConfig(quiet_seconds=60).build(None, clock)
    assert levels(logic.on_batch(0, [inst("1", expected_instances=2)])) == []
    out = logic.on_batch(0, [inst("2", expected_instances=2)])
    assert levels(out) == [("series", "S1", 1), ("study", "ST1", 1)]


def test_quiet_timer_closes_an_idle_study(clock: ManualClock) -> None:
    logic = AssemblyConfig(quiet_seconds=5).build(None, clock)
    logic.on_batch(0, [inst("1")])
    assert logic.next_awake() == 105.0
    clock.advance(4)
    logic.on_batch(0, [inst("2")])  # activity restarts the timer
    assert logic.on_tick(clock.now()) == []
    clock.advance(5)
    out = logic.on_tick(clock.now())
    assert levels(out) == [("series", "S1", 1), ("study", "ST1", 1)]
    assert out[0][1][0]["sop_instance_uids"] == ["1", "2"]
    assert logic.next_awake() is None


def test_quiet_time_per_route(clock: ManualClock) -> None:
    config = AssemblyConfig(
        quiet_seconds=60, quiet_for=lambda e: 1.0 if e.get("modality") == "CR" else None
    )
    logic = config.build(None, clock)
    logic.on_batch(0, [inst("1", study="CT", modality="CT"), inst("2", study="CR", modality="CR")])
    clock.advance(2)
    assert [s for lvl, s, _ in levels(logic.on_tick(clock.now())) if lvl == "study"] == ["CR"]


def test_late_series_makes_a_new_study_version(clock: ManualClock) -> None:
    logic = AssemblyConfig(quiet_seconds=5).build(None, clock)
    logic.on_batch(0, [inst("1")])
    logic.on_batch(0, [signal(["S1"], ["ST1"])])
    clock.advance(1)
    logic.on_batch(0, [inst("9", series="S2")])
    clock.advance(5)
    out = logic.on_tick(clock.now())
    assert levels(out) == [("series", "S2", 1), ("study", "ST1", 2)]
    study = out[0][1][-1]
    assert study["reason"] == "late-series"
    assert [s["series_instance_uid"] for s in study["series"]] == ["S1", "S2"]


def test_late_instance_reopens_its_series(clock: ManualClock) -> None:
    logic = AssemblyConfig(quiet_seconds=5).build(None, clock)
    logic.on_batch(0, [inst("1")])
    logic.on_batch(0, [signal(["S1"], ["ST1"])])
    logic.on_batch(0, [inst("2")])
    clock.advance(6)
    out = logic.on_tick(clock.now())
    assert levels(out) == [("series", "S1", 2), ("study", "ST1", 2)]
    assert out[0][1][-1]["reason"] == "late-instance"


def test_end_of_input_completes_everything(clock: ManualClock) -> None:
    logic = AssemblyConfig(quiet_seconds=60).build(None, clock)
    logic.on_batch(0, [inst("1"), inst("2", study="ST2", series="X")])
    out = logic.on_eof()
    assert {s for lvl, s, _ in levels(out) if lvl == "study"} == {"ST1", "ST2"}
    assert all(e["reason"] == "end-of-input" for _, b in out for e in b)


def test_snapshot_restores_open_studies(clock: ManualClock) -> None:
    logic = AssemblyConfig(quiet_seconds=5).build(None, clock)
    logic.on_batch(0, [inst("1")])
    state = pickle.loads(pickle.dumps(logic.snapshot()))
    restored = AssemblyLogic(AssemblyConfig(quiet_seconds=5), clock, state)
    restored.on_batch(0, [inst("2")])
    clock.advance(6)
    out = restored.on_tick(clock.now())
    assert out[0][1][0]["sop_instance_uids"] == ["1", "2"]


def test_complete_studies_are_forgotten_after_retention(clock: ManualClock) -> None:
    logic = AssemblyConfig(quiet_seconds=1, retain_seconds=10).build(None, clock)
    logic.on_batch(0, [inst("1")])
    logic.on_batch(0, [signal(["S1"], ["ST1"])])
    clock.advance(11)
    logic.on_tick(clock.now())
    assert logic.snapshot() == {}


@pytest.mark.parametrize("key", ["quiet_seconds", "retain_seconds"])
def test_config_is_validated(key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        AssemblyConfig(**{key: 0})
