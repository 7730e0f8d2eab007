"""Study and series assembly: signals, counts, quiet timers and versioned late arrivals."""

from __future__ import annotations

import pickle
from pathlib import Path
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


def test_complete_studies_leave_the_state_for_the_index(clock: ManualClock) -> None:
    logic = AssemblyConfig(quiet_seconds=1).build(None, clock)
    logic.on_batch(0, [inst("1", received_at=1000.0)])
    logic.on_batch(0, [signal(["S1"], ["ST1"])])
    assert logic.snapshot()["studies"] == {}
    assert logic.finished.get("ST1") is not None


def test_complete_studies_are_forgotten_after_retention(clock: ManualClock) -> None:
    """Retention counts on the arrival times the log carries, not on a process clock."""
    logic = AssemblyConfig(quiet_seconds=1, retain_seconds=10).build(None, clock)
    logic.on_batch(0, [inst("1", received_at=1000.0), signal(["S1"], ["ST1"])])
    logic.snapshot()
    logic.on_batch(0, [inst("2", study="ST2", received_at=1011.0), signal(["S1"], ["ST2"])])
    logic.snapshot()
    assert logic.finished.get("ST1") is None
    assert logic.finished.get("ST2") is not None
    logic.on_batch(0, [inst("3", received_at=1012.0)])  # ST1 is new again
    clock.advance(2)
    study = logic.on_tick(clock.now())[0][1][-1]
    assert (study["version"], study["reason"]) == (1, "quiet")


def test_late_series_after_restart_from_the_index(tmp_path: Path, clock: ManualClock) -> None:
    config = AssemblyConfig(quiet_seconds=1, index=tmp_path / "finished.sqlite")
    logic = config.build(None, clock)
    logic.on_batch(0, [inst("1", sha256="a", received_at=1.0), signal(["S1"], ["ST1"])])
    state = pickle.loads(pickle.dumps(logic.snapshot()))
    logic.close()
    restored = config.build(state, clock)
    restored.on_batch(0, [inst("9", series="S2", sha256="b", received_at=2.0)])
    clock.advance(2)
    study = restored.on_tick(clock.now())[0][1][-1]
    assert (study["version"], study["reason"]) == (2, "late-series")
    assert study["new_sop_instance_uids"] == ["9"]
    assert [s["series_instance_uid"] for s in study["series"]] == ["S1", "S2"]


def test_a_restart_forgets_completions_after_its_snapshot(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Regression: completions the restart replays must not look like duplicates of themselves."""
    config = AssemblyConfig(quiet_seconds=1, index=tmp_path / "finished.sqlite")
    logic = config.build(None, clock)
    state = pickle.loads(pickle.dumps(logic.snapshot()))
    record = inst("1", sha256="a", received_at=1.0)
    logic.on_batch(0, [record, signal(["S1"], ["ST1"])])
    logic.snapshot()  # written to the index, but say this snapshot never became durable
    logic.close()
    restored = config.build(state, clock)
    out = restored.on_batch(0, [record, signal(["S1"], ["ST1"])])
    assert levels(out) == [("series", "S1", 1), ("study", "ST1", 1)]


def test_an_instance_released_twice_is_new_each_time(clock: ManualClock) -> None:
    logic = AssemblyConfig(quiet_seconds=1).build(None, clock)
    logic.on_batch(0, [inst("1", sha256="a", received_at=1.0), signal(["S1"], ["ST1"])])
    for version in (2, 3):
        logic.on_batch(0, [inst("1", sha256="a", received_at=1.0, source="release")])
        clock.advance(2)
        study = logic.on_tick(clock.now())[0][1][-1]
        assert (study["version"], study["new_sop_instance_uids"]) == (version, ["1"])


def test_a_new_copy_of_an_instance_makes_a_new_version(clock: ManualClock) -> None:
    logic = AssemblyConfig(quiet_seconds=1).build(None, clock)
    logic.on_batch(0, [inst("1", sha256="a", received_at=1.0), signal(["S1"], ["ST1"])])
    logic.on_batch(0, [inst("1", sha256="a", received_at=5.0, source="release")])
    clock.advance(2)
    study = logic.on_tick(clock.now())[0][1][-1]
    assert (study["version"], study["new_sop_instance_uids"]) == (2, ["1"])
    assert study["series"][0]["sop_instance_uids"] == ["1"]


def test_restored_studies_wait_a_full_quiet_period(clock: ManualClock) -> None:
    """Regression: a restart must not cut a restored study before replay re-reads the log."""
    logic = AssemblyConfig(quiet_seconds=5).build(None, clock)
    logic.on_batch(0, [inst("1")])
    state = pickle.loads(pickle.dumps(logic.snapshot()))
    clock.advance(60)  # the restart took longer than the quiet time
    restored = AssemblyConfig(quiet_seconds=5).build(state, clock)
    assert restored.next_awake() == clock.now() + 5
    assert restored.on_tick(clock.now()) == []


@pytest.mark.parametrize("key", ["quiet_seconds", "retain_seconds"])
def test_config_is_validated(key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        AssemblyConfig(**{key: 0})
